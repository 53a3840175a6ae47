//! Bus benchmarks (being written).
fn main() {}
