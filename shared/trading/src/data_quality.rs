//! The data-quality verdict a prediction carries about the inputs behind it.

use std::fmt;

use serde::{Deserialize, Serialize};

/// What the predictor says about the data it predicted from.
///
/// Only [`DataQuality::Ok`] may be traded on: the risk manager refuses every other verdict
/// (DESIGN.md: stale, missing or synthetic inputs are flagged and never traded on).
/// Serializes as its snake_case name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DataQuality {
    /// Fresh, complete, real inputs.
    Ok,
    /// The newest input is older than the predictor's freshness threshold.
    Stale,
    /// Some inputs were absent (a gap in the bars, a feature that could not be computed).
    Missing,
    /// The inputs did not move over the lookback (a frozen feed).
    Constant,
    /// Some inputs were filled in or generated rather than observed.
    Synthetic,
}

impl DataQuality {
    /// Every verdict, in declaration order.
    pub const ALL: [Self; 5] = [
        Self::Ok,
        Self::Stale,
        Self::Missing,
        Self::Constant,
        Self::Synthetic,
    ];

    /// The stable snake_case name, e.g. `"stale"`.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Ok => "ok",
            Self::Stale => "stale",
            Self::Missing => "missing",
            Self::Constant => "constant",
            Self::Synthetic => "synthetic",
        }
    }

    /// Whether a prediction with this verdict may be traded on.
    #[must_use]
    pub const fn is_tradable(self) -> bool {
        matches!(self, Self::Ok)
    }
}

impl fmt::Display for DataQuality {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_serde_agree() {
        for q in DataQuality::ALL {
            let json = serde_json::to_string(&q).unwrap();
            assert_eq!(json, format!("\"{}\"", q.as_str()));
            assert_eq!(serde_json::from_str::<DataQuality>(&json).unwrap(), q);
            assert_eq!(q.is_tradable(), q == DataQuality::Ok);
        }
    }
}
