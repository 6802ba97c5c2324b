//! The results database: experiments, sweeps, trials and everything they produced, in SQLite.
//!
//! [`Store`] is a synchronous facade over an sqlx pool: it owns a tokio current-thread runtime
//! and blocks on each query, so the rest of bitlab stays synchronous. The schema lives in
//! `migrations/` and is embedded at compile time (`sqlx::migrate!`); opening a file applies any
//! migration it lacks. The database runs in WAL mode with a 10 s busy timeout and foreign keys on.
//! A trial's results and its `done` status are written in one transaction
//! ([`Store::finish_trial`]), so an interrupted run never leaves half a trial recorded as done.
//!
//! What is stored is a typed vocabulary that writers and readers share: [`MetricKey`],
//! [`MeasurementKind`] (with its [`Unit`]), [`KernelId`] (kernel columns), [`ExperimentKind`]
//! (on the experiment row) and typed views of the stored configuration
//! ([`SweepTrialSummary`], [`KernelBenchTrialConfig`], [`ScalingTrialConfig`]).
//!
//! Queries are built at run time (`sqlx::query(..).bind(..)`), so building bitlab needs no
//! database. The calls are split by table: [`experiments`](Store::upsert_experiment),
//! [`sweeps`](Store::begin_sweep) and [`trials`](Store::ensure_trial).
mod experiment_kind;
mod experiments;
mod kernel_id;
mod measurement_kind;
mod metric_key;
mod records;
mod stored_config;
mod sweeps;
mod trials;
#[cfg(test)]
mod upgrade_tests;
#[cfg(test)]
pub(crate) mod v1_fixture;

pub use experiment_kind::ExperimentKind;
pub use kernel_id::{KernelBackend, KernelId};
pub use measurement_kind::{MeasurementKind, Unit};
pub use metric_key::MetricKey;
pub use records::*;
pub use stored_config::{
    KernelBenchTrialConfig, LoraSummary, ModelSummary, QuantSummary, ScalingTrialConfig,
    SweepTrialSummary,
};

use std::future::Future;
use std::path::{Path, PathBuf};
use std::time::Duration;

use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions};

use crate::{Error, Result};

/// How long a write waits for another process's write lock before failing.
const BUSY_TIMEOUT: Duration = Duration::from_secs(10);

/// A handle on the results database; every call blocks until the database has answered.
pub struct Store {
    pool: SqlitePool,
    runtime: tokio::runtime::Runtime,
    path: PathBuf,
}

impl Store {
    /// Opens (creating it and its parent directories if missing) the database at `path` and
    /// applies pending migrations.
    pub fn open(path: &Path) -> Result<Store> {
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent).map_err(|e| Error::io(parent, e))?;
        }
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| Error::io(path, e))?;
        let options = SqliteConnectOptions::new()
            .filename(path)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .busy_timeout(BUSY_TIMEOUT)
            .foreign_keys(true);
        let context = if path.is_file() {
            format!(
                "opening {} (fix: if it is not a bitlab SQLite database or is corrupt, move it \
                 away or pass another --db; otherwise check its permissions)",
                path.display()
            )
        } else {
            format!(
                "creating {} (fix: check that its directory is writable, or pass another --db)",
                path.display()
            )
        };
        // One connection: bitlab is synchronous, and SQLite has one writer anyway.
        let pool = runtime
            .block_on(
                SqlitePoolOptions::new()
                    .max_connections(1)
                    .connect_with(options),
            )
            .map_err(|e| Error::store(context, e))?;
        runtime.block_on(sqlx::migrate!("./migrations").run(&pool))?;
        Ok(Store {
            pool,
            runtime,
            path: path.to_path_buf(),
        })
    }

    /// The database file this store was opened on.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Runs one database future to completion on the store's runtime.
    fn block_on<F: Future>(&self, future: F) -> F::Output {
        self.runtime.block_on(future)
    }
}

impl Drop for Store {
    fn drop(&mut self) {
        // Close inside the runtime so the connection (and its WAL) is shut down cleanly.
        self.runtime.block_on(self.pool.close());
    }
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store")
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

/// The current time as RFC 3339 text (UTC, milliseconds), the format of every stored timestamp.
fn now() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_file_that_is_not_a_database_is_refused_with_the_fix() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("results.db");
        std::fs::write(&path, "this is not a database, ".repeat(40)).unwrap();
        let Err(error) = Store::open(&path) else {
            panic!("a file that is not a database must be refused");
        };
        let message = error.to_string();
        assert!(
            message.contains("not a bitlab SQLite database") && message.contains("--db"),
            "{message}"
        );
        // The file is left as it was: nothing recorded is ever overwritten.
        assert!(std::fs::read_to_string(&path)
            .unwrap()
            .starts_with("this is not a database"));
    }

    #[test]
    fn open_creates_parent_directories_and_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a/b/results.sqlite");
        let store = Store::open(&path).unwrap();
        assert!(path.exists());
        assert_eq!(store.path(), path);
    }

    #[test]
    fn open_uses_wal_and_foreign_keys() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("r.sqlite")).unwrap();
        let (mode,): (String,) = store
            .block_on(sqlx::query_as("PRAGMA journal_mode").fetch_one(&store.pool))
            .unwrap();
        assert_eq!(mode.to_lowercase(), "wal");
        let (fk,): (i64,) = store
            .block_on(sqlx::query_as("PRAGMA foreign_keys").fetch_one(&store.pool))
            .unwrap();
        assert_eq!(fk, 1);
    }

    #[test]
    fn reopening_keeps_data_and_reapplies_no_migration() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("r.sqlite");
        let id = Store::open(&path)
            .unwrap()
            .upsert_experiment("e", ExperimentKind::TrialSweep, "d", "x = 1")
            .unwrap();
        let store = Store::open(&path).unwrap();
        let experiments = store.experiments().unwrap();
        assert_eq!(experiments.len(), 1);
        assert_eq!(experiments[0].id, id);
    }

    #[test]
    fn timestamps_are_rfc3339() {
        assert!(chrono::DateTime::parse_from_rfc3339(&now()).is_ok());
    }
}
