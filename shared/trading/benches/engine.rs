//! Engine step benchmark (being written).

fn main() {}
