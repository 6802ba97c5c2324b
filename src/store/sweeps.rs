//! The `sweeps` table: one row per run of an experiment, with the environment it ran in.
use sqlx::sqlite::SqliteRow;
use sqlx::Row;

use super::{now, Environment, Store, SweepRow};
use crate::{Error, Result};

/// Statuses a sweep can end with.
const END_STATUSES: [&str; 3] = ["done", "failed", "interrupted"];

impl Store {
    /// Records the start of a sweep of experiment `experiment_id` in `env`; returns its id.
    pub fn begin_sweep(&self, experiment_id: i64, env: &Environment) -> Result<i64> {
        let query = sqlx::query(
            "INSERT INTO sweeps (experiment_id, git_commit, git_dirty, bitlab_version,
                                 libtorch_version, cpu_model, threads, host, device, started_at)
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id",
        )
        .bind(experiment_id)
        .bind(&env.git_commit)
        .bind(env.git_dirty)
        .bind(&env.bitlab_version)
        .bind(&env.libtorch_version)
        .bind(&env.cpu_model)
        .bind(env.threads)
        .bind(&env.host)
        .bind(&env.device)
        .bind(now());
        let row = self.block_on(query.fetch_one(&self.pool)).map_err(|e| {
            Error::store(format!("starting a sweep of experiment {experiment_id}"), e)
        })?;
        Ok(row.get(0))
    }

    /// Records the end of sweep `sweep_id` with `status`: `done`, `failed` or `interrupted`.
    pub fn end_sweep(&self, sweep_id: i64, status: &str) -> Result<()> {
        if !END_STATUSES.contains(&status) {
            return Err(Error::Invalid(format!(
                "a sweep cannot end with status `{status}`; use one of {}",
                END_STATUSES.join(", ")
            )));
        }
        let query = sqlx::query("UPDATE sweeps SET status = ?, ended_at = ? WHERE id = ?")
            .bind(status)
            .bind(now())
            .bind(sweep_id);
        let done = self
            .block_on(query.execute(&self.pool))
            .map_err(|e| Error::store(format!("ending sweep {sweep_id}"), e))?;
        if done.rows_affected() == 0 {
            return Err(Error::Invalid(format!(
                "no sweep with id {sweep_id}; end only a sweep begun with begin_sweep"
            )));
        }
        Ok(())
    }

    /// The most recently started sweep of experiment `experiment`, if it has any.
    pub fn latest_sweep(&self, experiment: &str) -> Result<Option<SweepRow>> {
        let experiment_id = self.experiment_id(experiment)?;
        let query = sqlx::query(
            "SELECT id, experiment_id, git_commit, git_dirty, bitlab_version, libtorch_version,
                    cpu_model, threads, host, device, started_at, ended_at, status
             FROM sweeps WHERE experiment_id = ? ORDER BY id DESC LIMIT 1",
        )
        .bind(experiment_id);
        let row = self
            .block_on(query.fetch_optional(&self.pool))
            .map_err(|e| Error::store(format!("reading the latest sweep of `{experiment}`"), e))?;
        Ok(row.as_ref().map(sweep_from_row))
    }
}

/// Decodes a row selected with the column order of [`Store::latest_sweep`].
fn sweep_from_row(row: &SqliteRow) -> SweepRow {
    SweepRow {
        id: row.get(0),
        experiment_id: row.get(1),
        environment: Environment {
            git_commit: row.get(2),
            git_dirty: row.get(3),
            bitlab_version: row.get(4),
            libtorch_version: row.get(5),
            cpu_model: row.get(6),
            threads: row.get(7),
            host: row.get(8),
            device: row.get(9),
        },
        started_at: row.get(10),
        ended_at: row.get(11),
        status: row.get(12),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::ExperimentKind;

    fn environment(commit: Option<&str>) -> Environment {
        Environment {
            git_commit: commit.map(str::to_string),
            git_dirty: true,
            bitlab_version: "0.1.0".into(),
            libtorch_version: "2.13.0".into(),
            cpu_model: "AMD EPYC".into(),
            threads: 2,
            host: "box".into(),
            device: "cpu".into(),
        }
    }

    #[test]
    fn begin_end_and_latest_round_trip() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("r.sqlite")).unwrap();
        let exp = store
            .upsert_experiment("tiny", ExperimentKind::TrialSweep, "", "")
            .unwrap();
        assert_eq!(store.latest_sweep("tiny").unwrap(), None);

        let first = store.begin_sweep(exp, &environment(None)).unwrap();
        store.end_sweep(first, "interrupted").unwrap();
        let second = store
            .begin_sweep(exp, &environment(Some("abc123")))
            .unwrap();

        let latest = store.latest_sweep("tiny").unwrap().unwrap();
        assert_eq!(latest.id, second);
        assert_eq!(latest.experiment_id, exp);
        assert_eq!(latest.environment, environment(Some("abc123")));
        assert_eq!((latest.status.as_str(), latest.ended_at), ("running", None));

        store.end_sweep(second, "done").unwrap();
        let latest = store.latest_sweep("tiny").unwrap().unwrap();
        assert_eq!(latest.status, "done");
        assert!(latest.ended_at.is_some());
    }

    #[test]
    fn end_sweep_rejects_unknown_status_and_id() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("r.sqlite")).unwrap();
        let exp = store
            .upsert_experiment("tiny", ExperimentKind::TrialSweep, "", "")
            .unwrap();
        let sweep = store.begin_sweep(exp, &environment(None)).unwrap();
        assert!(store.end_sweep(sweep, "finished").is_err());
        assert!(store.end_sweep(sweep + 100, "done").is_err());
    }

    #[test]
    fn begin_sweep_needs_an_existing_experiment() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("r.sqlite")).unwrap();
        assert!(store.begin_sweep(42, &environment(None)).is_err());
    }
}
