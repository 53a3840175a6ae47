//! The disk buffer: an append-only segment log per class of topics.

mod segment_log;

pub use segment_log::{OpenReport, Position, Record, SegmentLog, SegmentLogOptions};
