/// What [`upsert_bars`](super::TradeStore::upsert_bars) did with a batch.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct UpsertReport {
    /// Bars that were not stored before.
    pub inserted: u64,
    /// Bars already stored with other values (a corrected bar), now overwritten.
    pub updated: u64,
    /// Bars already stored with exactly these values (same decimals, same scale).
    pub unchanged: u64,
}

impl UpsertReport {
    /// Rows written: inserted plus updated.
    pub fn written(&self) -> u64 {
        self.inserted + self.updated
    }

    /// Adds `other`'s counts to this one.
    pub fn absorb(&mut self, other: Self) {
        self.inserted += other.inserted;
        self.updated += other.updated;
        self.unchanged += other.unchanged;
    }
}

/// What [`record_fills`](super::TradeStore::record_fills) did with a batch.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FillsReport {
    /// Fills not stored before.
    pub inserted: u64,
    /// Fills whose id was already stored (or repeated in the batch); left as they were.
    pub duplicates: u64,
}

/// What [`record_equity_snapshots`](super::TradeStore::record_equity_snapshots) did with a
/// batch.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SnapshotsReport {
    /// Snapshots of instants not stored before.
    pub inserted: u64,
    /// Snapshots of an instant already stored (or repeated in the batch); the first is kept.
    pub duplicates: u64,
}
