use std::io;

use crate::Topic;

/// What went wrong on the bus.
#[derive(Debug, thiserror::Error)]
pub enum BusError {
    /// Redis could not be reached or did not answer in time: retry later.
    #[error("redis unavailable: {0}")]
    Unavailable(String),
    /// The disk buffer failed.
    #[error("disk buffer: {0}")]
    Buffer(#[from] io::Error),
    /// The bus was closed.
    #[error("the bus is closed")]
    Closed,
    /// An envelope was published to a topic that does not carry its type.
    #[error("{topic} carries {expected}, not {found}")]
    WrongType {
        /// The topic.
        topic: Topic,
        /// What it carries.
        expected: &'static str,
        /// What was published.
        found: String,
    },
    /// A consumer group or consumer name that cannot be used.
    #[error("invalid name {0:?}: use 1 to 64 characters of [A-Za-z0-9._:-]")]
    InvalidName(String),
    /// Redis answered something unexpected.
    #[error("redis: {0}")]
    Redis(String),
}

impl BusError {
    /// Whether retrying later may succeed.
    pub fn is_transient(&self) -> bool {
        matches!(self, BusError::Unavailable(_))
    }
}

pub(crate) fn check_name(name: &str) -> Result<(), BusError> {
    let ok = !name.is_empty()
        && name.len() <= 64
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"._:-".contains(&b));
    if ok {
        Ok(())
    } else {
        Err(BusError::InvalidName(name.to_owned()))
    }
}
