//! The `experiments` table: one row per experiment name, with its [`ExperimentKind`].
use sqlx::Row;

use super::{now, ExperimentKind, ExperimentRow, Store};
use crate::{Error, Result};

impl Store {
    /// Records the experiment `name` of kind `kind` (or updates its description and TOML
    /// source) and returns its id; the id of an existing name never changes. An existing
    /// experiment of another kind is an error (its results would mix with these).
    pub fn upsert_experiment(
        &self,
        name: &str,
        kind: ExperimentKind,
        description: &str,
        source_toml: &str,
    ) -> Result<i64> {
        let query = sqlx::query(
            "INSERT INTO experiments (name, kind, description, source_toml, created_at)
             VALUES (?, ?, ?, ?, ?)
             ON CONFLICT (name) DO UPDATE
             SET description = excluded.description, source_toml = excluded.source_toml
             WHERE experiments.kind = excluded.kind
             RETURNING id",
        )
        .bind(name)
        .bind(kind.as_str())
        .bind(description)
        .bind(source_toml)
        .bind(now());
        let row = self
            .block_on(query.fetch_optional(&self.pool))
            .map_err(|e| Error::store(format!("recording experiment `{name}`"), e))?;
        match row {
            Some(row) => Ok(row.get(0)),
            None => {
                let recorded = self
                    .experiments()?
                    .into_iter()
                    .find(|e| e.name == name)
                    .map_or("another kind", |e| e.kind.description());
                Err(Error::Invalid(format!(
                    "experiment `{name}` in {} is recorded as a {recorded}, not a {}; nothing was \
                     recorded\n  fix: give this run another experiment name, or pass another --db",
                    self.path().display(),
                    kind.description()
                )))
            }
        }
    }

    /// Every recorded experiment with its trial counts, by name.
    pub fn experiments(&self) -> Result<Vec<ExperimentRow>> {
        let query = sqlx::query(
            "SELECT e.id, e.name, e.description, e.created_at,
                    COUNT(t.id), COALESCE(SUM(t.status = 'done'), 0), e.kind
             FROM experiments e LEFT JOIN trials t ON t.experiment_id = e.id
             GROUP BY e.id ORDER BY e.name",
        );
        let rows = self
            .block_on(query.fetch_all(&self.pool))
            .map_err(|e| Error::store("listing experiments", e))?;
        rows.iter()
            .map(|row| {
                let kind: String = row.get(6);
                Ok(ExperimentRow {
                    id: row.get(0),
                    name: row.get(1),
                    description: row.get(2),
                    kind: kind.parse()?,
                    created_at: row.get(3),
                    trials: row.get(4),
                    done: row.get(5),
                })
            })
            .collect()
    }

    /// The id of experiment `name`; an error listing the recorded names if there is none.
    pub fn experiment_id(&self, name: &str) -> Result<i64> {
        let query = sqlx::query("SELECT id FROM experiments WHERE name = ?").bind(name);
        let row = self
            .block_on(query.fetch_optional(&self.pool))
            .map_err(|e| Error::store(format!("looking up experiment `{name}`"), e))?;
        match row {
            Some(row) => Ok(row.get(0)),
            None => {
                let known: Vec<String> = self.experiments()?.into_iter().map(|e| e.name).collect();
                let known = if known.is_empty() {
                    "none".to_string()
                } else {
                    known.join(", ")
                };
                Err(Error::Invalid(format!(
                    "no experiment named `{name}` in {} (recorded: {known})\n  fix: run \
                     `bitlab sweep experiments/{name}.toml` first, or pass the --db it was run with",
                    self.path().display()
                )))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn store() -> (tempfile::TempDir, Store) {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("r.sqlite")).unwrap();
        (dir, store)
    }

    #[test]
    fn upsert_keeps_id_and_updates_text() {
        let (_dir, store) = store();
        let a = store
            .upsert_experiment("tiny", ExperimentKind::TrialSweep, "first", "a = 1")
            .unwrap();
        let b = store
            .upsert_experiment("other", ExperimentKind::TrialSweep, "", "")
            .unwrap();
        let again = store
            .upsert_experiment("tiny", ExperimentKind::TrialSweep, "second", "a = 2")
            .unwrap();
        assert_eq!(a, again);
        assert_ne!(a, b);
        let rows = store.experiments().unwrap();
        assert_eq!(
            rows.iter().map(|r| r.name.as_str()).collect::<Vec<_>>(),
            ["other", "tiny"]
        );
        assert_eq!(rows[1].description, "second");
        assert_eq!((rows[1].trials, rows[1].done), (0, 0));
    }

    #[test]
    fn experiments_count_trials_by_status() {
        let (_dir, store) = store();
        let id = store
            .upsert_experiment("tiny", ExperimentKind::TrialSweep, "", "")
            .unwrap();
        store.ensure_trial(id, "h1", "{}", "a").unwrap();
        let t = store.ensure_trial(id, "h2", "{}", "b").unwrap();
        store.finish_trial(t.id, &Default::default()).unwrap();
        let rows = store.experiments().unwrap();
        assert_eq!((rows[0].trials, rows[0].done), (2, 1));
    }

    #[test]
    fn an_experiment_keeps_its_kind_and_refuses_another() {
        let (_dir, store) = store();
        let id = store
            .upsert_experiment("kernels", ExperimentKind::KernelBench, "d", "")
            .unwrap();
        let again = store
            .upsert_experiment("kernels", ExperimentKind::KernelBench, "d2", "")
            .unwrap();
        assert_eq!(id, again);
        let err = store
            .upsert_experiment("kernels", ExperimentKind::TrialSweep, "", "x = 1")
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("recorded as a kernel benchmark, not a trial sweep"),
            "{err}"
        );
        let rows = store.experiments().unwrap();
        assert_eq!(
            (rows[0].kind, rows[0].description.as_str()),
            (ExperimentKind::KernelBench, "d2")
        );
    }

    #[test]
    fn unknown_experiment_names_the_recorded_ones() {
        let (_dir, store) = store();
        store
            .upsert_experiment("tiny", ExperimentKind::TrialSweep, "", "")
            .unwrap();
        let err = store.experiment_id("tyni").unwrap_err().to_string();
        assert!(
            err.contains("tyni") && err.contains("recorded: tiny"),
            "{err}"
        );
    }
}
