//! bus (being written)
