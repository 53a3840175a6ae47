//! exchange (being written)
