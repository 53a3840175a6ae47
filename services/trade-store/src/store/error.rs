use std::{io, path::PathBuf};

/// Why a store operation failed.
///
/// [`StoreError::is_transient`] tells what a caller may retry: the database being unreachable,
/// busy or timing out, as opposed to input it will never accept or data it cannot read.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// `store.database_url` is neither a PostgreSQL nor a SQLite URL, or does not parse.
    #[error("invalid database url {url}: {reason}")]
    InvalidUrl {
        /// The URL, password redacted.
        url: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The directory of the SQLite file could not be created.
    #[error("cannot create directory {path} for the sqlite database: {source}")]
    CreateDir {
        /// The directory.
        path: PathBuf,
        /// The OS error.
        source: io::Error,
    },
    /// The migrations could not be applied.
    #[error("cannot apply migrations: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    /// The database could not be reached, was busy, or did not answer in time. Retrying may
    /// succeed.
    #[error("database unavailable: {0}")]
    Unavailable(#[source] sqlx::Error),
    /// The database refused the operation for another reason.
    #[error("database error: {0}")]
    Database(#[source] sqlx::Error),
    /// The input breaks a rule of the store (duplicate key in one batch, probability outside
    /// 0..1, from after to, ...). Nothing was written.
    #[error("{0}")]
    InvalidInput(String),
    /// The input contradicts what is stored (a client order id reused for another order).
    /// Nothing was written.
    #[error("{0}")]
    Conflict(String),
    /// The write was based on an outdated view of the store: a compare-and-set found another
    /// latest policy version or ESS sequence number than the writer expected (another writer
    /// came first). Nothing was written; re-read, then decide again.
    #[error("{0}")]
    Stale(String),
    /// A task running a store operation panicked or was cancelled.
    #[error("store task failed: {0}")]
    Task(String),
    /// A stored row does not make a valid domain value.
    #[error("stored {table} row is corrupt: {reason}")]
    Corrupt {
        /// The table.
        table: &'static str,
        /// What is wrong with the row.
        reason: String,
    },
}

impl StoreError {
    /// Whether retrying the same operation later may succeed.
    pub fn is_transient(&self) -> bool {
        matches!(self, Self::Unavailable(_))
    }

    pub(crate) fn corrupt(table: &'static str, reason: impl std::fmt::Display) -> Self {
        Self::Corrupt {
            table,
            reason: reason.to_string(),
        }
    }
}

impl From<sqlx::Error> for StoreError {
    fn from(err: sqlx::Error) -> Self {
        if is_transient(&err) {
            Self::Unavailable(err)
        } else {
            Self::Database(err)
        }
    }
}

/// PostgreSQL SQLSTATEs worth a retry: serialization failure, deadlock, too many connections,
/// the server shutting down or not accepting connections yet, connection failure.
const PG_TRANSIENT_STATES: [&str; 7] = [
    "40001", "40P01", "53300", "57P01", "57P02", "57P03", "08006",
];

fn is_transient(err: &sqlx::Error) -> bool {
    match err {
        sqlx::Error::Io(_)
        | sqlx::Error::Tls(_)
        | sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::WorkerCrashed => true,
        sqlx::Error::Database(db) => {
            if let Some(pg) = db.try_downcast_ref::<sqlx::postgres::PgDatabaseError>() {
                PG_TRANSIENT_STATES.contains(&pg.code())
            } else if db.try_downcast_ref::<sqlx::sqlite::SqliteError>().is_some() {
                // SQLITE_BUSY (5) and SQLITE_LOCKED (6); extended codes keep the primary code
                // in their low byte (SQLITE_BUSY_SNAPSHOT is 517).
                db.code()
                    .and_then(|code| code.parse::<i64>().ok())
                    .is_some_and(|code| matches!(code & 0xff, 5 | 6))
            } else {
                false
            }
        }
        _ => false,
    }
}
