//! Counts by stable label (refusal reasons, block reasons), for metrics and the operator.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// Event counts keyed by a stable snake_case label.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct LabelCounts(BTreeMap<String, u64>);

impl LabelCounts {
    /// Adds one to `label`.
    pub fn record(&mut self, label: &str) {
        if let Some(n) = self.0.get_mut(label) {
            *n = n.saturating_add(1);
        } else {
            self.0.insert(label.to_owned(), 1);
        }
    }

    /// The count for `label` (0 if never seen).
    #[must_use]
    pub fn get(&self, label: &str) -> u64 {
        self.0.get(label).copied().unwrap_or(0)
    }

    /// All counts, in label order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, u64)> {
        self.0.iter().map(|(k, v)| (k.as_str(), *v))
    }

    /// The sum over all labels.
    #[must_use]
    pub fn total(&self) -> u64 {
        self.0.values().sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts() {
        let mut c = LabelCounts::default();
        c.record("throttled");
        c.record("throttled");
        c.record("no_edge");
        assert_eq!(c.get("throttled"), 2);
        assert_eq!(c.get("kill_switch"), 0);
        assert_eq!(c.total(), 3);
        assert_eq!(
            c.iter().collect::<Vec<_>>(),
            [("no_edge", 1), ("throttled", 2)]
        );
        assert_eq!(
            serde_json::to_string(&c).unwrap(),
            r#"{"no_edge":1,"throttled":2}"#
        );
    }
}
