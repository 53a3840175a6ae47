//! Per-symbol JSONL logs: `engine-{SYMBOL}-{YYYYMMDD}.jsonl`, one event per line.

use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::{Mutex, PoisonError};

use levibot_core::{Symbol, TimestampMs};
use serde::Serialize;

/// Appends an engine's events to its day file, switching files at UTC midnight.
///
/// A failed write is returned to the caller (who counts it) and never stops the engine.
#[derive(Debug)]
pub struct EngineJournal {
    dir: PathBuf,
    symbol: Symbol,
    open: Mutex<Option<(String, File)>>,
}

#[derive(Serialize)]
struct Line<'a, E: Serialize> {
    ts: i64,
    symbol: &'a str,
    event: &'a str,
    #[serde(flatten)]
    detail: &'a E,
}

impl EngineJournal {
    /// A journal for `symbol` writing under `dir` (created on first write).
    #[must_use]
    pub fn new(dir: &Path, symbol: Symbol) -> Self {
        Self {
            dir: dir.to_path_buf(),
            symbol,
            open: Mutex::new(None),
        }
    }

    /// The file for the UTC day of `at`.
    #[must_use]
    pub fn path_for(&self, at: TimestampMs) -> PathBuf {
        self.dir
            .join(format!("engine-{}-{}.jsonl", self.symbol, yyyymmdd(at)))
    }

    /// Appends one event; `detail` must serialize to a JSON object (its fields are inlined).
    ///
    /// # Errors
    ///
    /// When the directory or file cannot be created or written.
    pub fn write<E: Serialize>(&self, at: TimestampMs, event: &str, detail: &E) -> io::Result<()> {
        let symbol = self.symbol.to_string();
        let mut line = serde_json::to_vec(&Line {
            ts: at.as_i64(),
            symbol: &symbol,
            event,
            detail,
        })
        .map_err(io::Error::other)?;
        line.push(b'\n');
        let day = yyyymmdd(at);
        let mut open = self.open.lock().unwrap_or_else(PoisonError::into_inner);
        if open.as_ref().is_none_or(|(current, _)| *current != day) {
            std::fs::create_dir_all(&self.dir)?;
            let file = OpenOptions::new()
                .create(true)
                .append(true)
                .open(self.path_for(at))?;
            *open = Some((day, file));
        }
        match open.as_mut() {
            Some((_, file)) => file.write_all(&line),
            None => Err(io::Error::other("journal file not open")),
        }
    }
}

/// `YYYYMMDD` of the UTC day of `at`.
fn yyyymmdd(at: TimestampMs) -> String {
    let (year, month, day) = at.utc_date();
    format!("{year:04}{month:02}{day:02}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_go_to_one_file_per_symbol_and_utc_day() {
        let dir = tempfile::tempdir().unwrap();
        let symbol = Symbol::new("BTCUSDT").unwrap();
        let journal = EngineJournal::new(dir.path(), symbol);
        // 2022-01-01T23:59:00Z and 2022-01-02T00:00:00Z
        let before = TimestampMs::new(1_641_081_540_000);
        let after = TimestampMs::new(1_641_081_600_000);
        journal
            .write(before, "bar", &serde_json::json!({"close": "47000.5"}))
            .unwrap();
        journal
            .write(after, "bar", &serde_json::json!({"close": "47001"}))
            .unwrap();
        let first =
            std::fs::read_to_string(dir.path().join("engine-BTCUSDT-20220101.jsonl")).unwrap();
        let second =
            std::fs::read_to_string(dir.path().join("engine-BTCUSDT-20220102.jsonl")).unwrap();
        let line: serde_json::Value = serde_json::from_str(first.trim()).unwrap();
        assert_eq!(line["event"], "bar");
        assert_eq!(line["symbol"], "BTCUSDT");
        assert_eq!(line["close"], "47000.5");
        assert_eq!(line["ts"], 1_641_081_540_000_i64);
        assert_eq!(second.lines().count(), 1);
    }
}
