//! The persisted engine registry: which symbols should be running, so a restarted backend
//! resumes the same engines.

use std::collections::BTreeMap;
use std::io;
use std::path::{Path, PathBuf};

use levibot_core::Symbol;
use serde::{Deserialize, Serialize};

/// What an operator last asked of one engine.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Desired {
    /// Keep it running (restart it after crashes).
    Running,
    /// Keep it stopped.
    Stopped,
}

#[derive(Debug, Default, Serialize, Deserialize)]
struct RegistryFile {
    engines: BTreeMap<String, Desired>,
}

/// The registry file: `{"engines": {"BTCUSDT": "running", ...}}`, rewritten atomically
/// (temporary file, fsync, rename) on every change.
#[derive(Debug, Clone)]
pub struct EngineRegistry {
    path: PathBuf,
}

impl EngineRegistry {
    /// The registry stored at `path`.
    #[must_use]
    pub fn at(path: &Path) -> Self {
        Self {
            path: path.to_path_buf(),
        }
    }

    /// Where it is stored.
    #[must_use]
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The stored entries, or `None` when no registry has been written yet.
    ///
    /// # Errors
    ///
    /// When the file exists but cannot be read or parsed, or names an invalid symbol: the
    /// backend refuses to guess which engines to run.
    pub fn load(&self) -> io::Result<Option<BTreeMap<Symbol, Desired>>> {
        let text = match std::fs::read_to_string(&self.path) {
            Ok(text) => text,
            Err(err) if err.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(err) => return Err(err),
        };
        let file: RegistryFile = serde_json::from_str(&text).map_err(|e| {
            io::Error::new(
                io::ErrorKind::InvalidData,
                format!("engine registry {}: {e}", self.path.display()),
            )
        })?;
        let mut entries = BTreeMap::new();
        for (name, desired) in file.engines {
            let symbol = Symbol::new(&name).map_err(|e| {
                io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!("engine registry {}: {e}", self.path.display()),
                )
            })?;
            entries.insert(symbol, desired);
        }
        Ok(Some(entries))
    }

    /// Replaces the stored entries.
    ///
    /// # Errors
    ///
    /// When the file cannot be written.
    pub fn save(&self, entries: &BTreeMap<Symbol, Desired>) -> io::Result<()> {
        let file = RegistryFile {
            engines: entries
                .iter()
                .map(|(symbol, desired)| (symbol.to_string(), *desired))
                .collect(),
        };
        let json = serde_json::to_vec_pretty(&file).map_err(io::Error::other)?;
        if let Some(dir) = self.path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        let tmp = self.path.with_extension("json.tmp");
        {
            use std::io::Write;
            let mut out = std::fs::File::create(&tmp)?;
            out.write_all(&json)?;
            out.sync_all()?;
        }
        std::fs::rename(&tmp, &self.path)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_reports_a_broken_file() {
        let dir = tempfile::tempdir().unwrap();
        let registry = EngineRegistry::at(&dir.path().join("state/engines.json"));
        assert_eq!(registry.load().unwrap(), None);
        let mut entries = BTreeMap::new();
        entries.insert(Symbol::new("BTCUSDT").unwrap(), Desired::Running);
        entries.insert(Symbol::new("ETHUSDT").unwrap(), Desired::Stopped);
        registry.save(&entries).unwrap();
        assert_eq!(registry.load().unwrap(), Some(entries));
        std::fs::write(registry.path(), "{not json").unwrap();
        let err = registry.load().unwrap_err();
        assert!(err.to_string().contains("engine registry"), "{err}");
    }
}
