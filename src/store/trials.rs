//! The `trials` table and the results hanging off it (`metrics`, `measurements`, `artifacts`).
//!
//! Status changes: `pending` -> `running` ([`Store::mark_running`]) -> `done`
//! ([`Store::finish_trial`]), `failed` ([`Store::mark_failed`]) or `interrupted`
//! ([`Store::mark_interrupted`], [`Store::recover_stale`]). A trial that is not `done` runs again
//! on the next sweep; its earlier results are replaced when it finishes.
use std::collections::HashMap;

use sqlx::sqlite::{SqliteArguments, SqliteRow};
use sqlx::{Row, Sqlite, Transaction};

use super::records::status;
use super::{
    now, ArtifactRecord, KernelId, Measurement, Metric, MetricKey, Store, TrialRecord,
    TrialResults, TrialRow,
};
use crate::{Error, Result};

impl Store {
    /// Inserts the trial as pending if its hash is new for this experiment; returns its row
    /// (existing status kept).
    pub fn ensure_trial(
        &self,
        experiment_id: i64,
        hash: &str,
        config_json: &str,
        label: &str,
    ) -> Result<TrialRow> {
        self.insert_trial(experiment_id, hash, config_json, label, "DO NOTHING")
    }

    /// As [`Store::ensure_trial`], but an existing trial takes the new `config_json` and
    /// `label`: for benchmark trials, whose hash names what was timed while the config also
    /// describes the latest run (kernel, residency, resident bytes), which must not go stale.
    pub fn upsert_trial(
        &self,
        experiment_id: i64,
        hash: &str,
        config_json: &str,
        label: &str,
    ) -> Result<TrialRow> {
        self.insert_trial(
            experiment_id,
            hash,
            config_json,
            label,
            "DO UPDATE SET config_json = excluded.config_json, label = excluded.label",
        )
    }

    fn insert_trial(
        &self,
        experiment_id: i64,
        hash: &str,
        config_json: &str,
        label: &str,
        on_conflict: &str,
    ) -> Result<TrialRow> {
        let context = || format!("recording trial {hash} ({label})");
        let sql = format!(
            "INSERT INTO trials (experiment_id, hash, label, config_json) VALUES (?, ?, ?, ?)
             ON CONFLICT (experiment_id, hash) {on_conflict}"
        );
        let insert = sqlx::query(&sql)
            .bind(experiment_id)
            .bind(hash)
            .bind(label)
            .bind(config_json);
        let select =
            sqlx::query("SELECT id, hash, status FROM trials WHERE experiment_id = ? AND hash = ?")
                .bind(experiment_id)
                .bind(hash);
        let row = self
            .block_on(async {
                insert.execute(&self.pool).await?;
                select.fetch_one(&self.pool).await
            })
            .map_err(|e| Error::store(context(), e))?;
        Ok(TrialRow {
            id: row.get(0),
            hash: row.get(1),
            status: row.get(2),
        })
    }

    /// Marks the trial running in sweep `sweep_id`, clearing the outcome of any earlier attempt.
    pub fn mark_running(&self, trial_id: i64, sweep_id: i64) -> Result<()> {
        let query = sqlx::query(
            "UPDATE trials SET status = ?, sweep_id = ?, started_at = ?, finished_at = NULL,
                               duration_s = NULL, error = NULL
             WHERE id = ?",
        )
        .bind(status::RUNNING)
        .bind(sweep_id)
        .bind(now())
        .bind(trial_id);
        self.update_trial(trial_id, "marking trial running", query)
    }

    /// One transaction: replaces the trial's metrics/measurements/artifacts with these, sets
    /// status done, finished_at, duration. On any error nothing changes.
    pub fn finish_trial(&self, trial_id: i64, results: &TrialResults) -> Result<()> {
        check_recordable(trial_id, results)?;
        let context = format!("recording the results of trial {trial_id}");
        let updated = self
            .block_on(async {
                let mut tx = self.pool.begin().await?;
                let updated = replace_results(&mut tx, trial_id, results).await?;
                tx.commit().await?;
                Ok::<_, sqlx::Error>(updated)
            })
            .map_err(|e| Error::store(context, e))?;
        if updated == 0 {
            return Err(unknown_trial(trial_id));
        }
        Ok(())
    }

    /// Marks the trial failed with `error` (the message a reader needs to fix it).
    pub fn mark_failed(&self, trial_id: i64, error: &str) -> Result<()> {
        let query =
            sqlx::query("UPDATE trials SET status = ?, error = ?, finished_at = ? WHERE id = ?")
                .bind(status::FAILED)
                .bind(error)
                .bind(now())
                .bind(trial_id);
        self.update_trial(trial_id, "marking trial failed", query)
    }

    /// Marks the trial interrupted (Ctrl-C); it runs again on the next sweep.
    pub fn mark_interrupted(&self, trial_id: i64) -> Result<()> {
        let query =
            sqlx::query("UPDATE trials SET status = ?, error = ?, finished_at = ? WHERE id = ?")
                .bind(status::INTERRUPTED)
                .bind("interrupted by Ctrl-C")
                .bind(now())
                .bind(trial_id);
        self.update_trial(trial_id, "marking trial interrupted", query)
    }

    /// Trials left "running" by a crashed/killed process become "interrupted" (called at sweep
    /// start); returns how many there were.
    pub fn recover_stale(&self, experiment_id: i64) -> Result<u64> {
        let query = sqlx::query(
            "UPDATE trials SET status = ?, error = ? WHERE experiment_id = ? AND status = ?",
        )
        .bind(status::INTERRUPTED)
        .bind("the process running this trial ended before it finished")
        .bind(experiment_id)
        .bind(status::RUNNING);
        let done = self.block_on(query.execute(&self.pool)).map_err(|e| {
            Error::store(
                format!("recovering stale trials of experiment {experiment_id}"),
                e,
            )
        })?;
        Ok(done.rows_affected())
    }

    /// All trials of experiment `experiment` with their metrics, measurements and artifact,
    /// ordered by id.
    pub fn trials(&self, experiment: &str) -> Result<Vec<TrialRecord>> {
        let experiment_id = self.experiment_id(experiment)?;
        let context = format!("reading the trials of `{experiment}`");
        let (trials, metrics, measurements, artifacts) = self
            .block_on(async {
                let trials = sqlx::query(
                    "SELECT id, hash, label, status, error, config_json, started_at, finished_at,
                            duration_s
                     FROM trials WHERE experiment_id = ? ORDER BY id",
                )
                .bind(experiment_id)
                .fetch_all(&self.pool)
                .await?;
                let metrics = sqlx::query(
                    "SELECT m.trial_id, m.key, m.step, m.value
                     FROM metrics m JOIN trials t ON t.id = m.trial_id
                     WHERE t.experiment_id = ? ORDER BY m.rowid",
                )
                .bind(experiment_id)
                .fetch_all(&self.pool)
                .await?;
                let measurements = sqlx::query(
                    "SELECT m.trial_id, m.kind, m.kernel_matmul, m.kernel_backend,
                            m.kernel_dequantized, m.kernel_attention, m.seq_len, m.batch,
                            m.median, m.p95, m.repeats
                     FROM measurements m JOIN trials t ON t.id = m.trial_id
                     WHERE t.experiment_id = ? ORDER BY m.rowid",
                )
                .bind(experiment_id)
                .fetch_all(&self.pool)
                .await?;
                let artifacts = sqlx::query(
                    "SELECT a.trial_id, a.path, a.bytes, a.sha256
                     FROM artifacts a JOIN trials t ON t.id = a.trial_id WHERE t.experiment_id = ?",
                )
                .bind(experiment_id)
                .fetch_all(&self.pool)
                .await?;
                Ok::<_, sqlx::Error>((trials, metrics, measurements, artifacts))
            })
            .map_err(|e| Error::store(context, e))?;

        let mut metrics_by_trial: HashMap<i64, Vec<Metric>> = HashMap::new();
        for row in &metrics {
            let key: String = row.get(1);
            let metric = Metric {
                key: MetricKey::from_stored(&key),
                step: row.get(2),
                value: row.get(3),
            };
            metrics_by_trial.entry(row.get(0)).or_default().push(metric);
        }
        let mut measurements_by_trial: HashMap<i64, Vec<Measurement>> = HashMap::new();
        for row in &measurements {
            let measurement = measurement_from_row(row).map_err(|e| {
                Error::Invalid(format!(
                    "a measurement of trial {} of `{experiment}`: {e}",
                    row.get::<i64, _>(0)
                ))
            })?;
            measurements_by_trial
                .entry(row.get(0))
                .or_default()
                .push(measurement);
        }
        let mut artifact_by_trial: HashMap<i64, ArtifactRecord> = artifacts
            .iter()
            .map(|row| {
                (
                    row.get(0),
                    ArtifactRecord {
                        path: row.get(1),
                        bytes: row.get(2),
                        sha256: row.get(3),
                    },
                )
            })
            .collect();

        trials
            .iter()
            .map(|row| {
                let id: i64 = row.get(0);
                let config_json: String = row.get(5);
                let config = serde_json::from_str(&config_json).map_err(|e| {
                    Error::Invalid(format!(
                        "trial {id} of `{experiment}` has a malformed stored configuration ({e}); \
                         fix: delete the trial row or use a fresh --db"
                    ))
                })?;
                Ok(TrialRecord {
                    id,
                    hash: row.get(1),
                    label: row.get(2),
                    status: row.get(3),
                    error: row.get(4),
                    config,
                    started_at: row.get(6),
                    finished_at: row.get(7),
                    duration_s: row.get(8),
                    metrics: metrics_by_trial.remove(&id).unwrap_or_default(),
                    measurements: measurements_by_trial.remove(&id).unwrap_or_default(),
                    artifact: artifact_by_trial.remove(&id),
                })
            })
            .collect()
    }

    /// Runs a single-trial UPDATE; an error if no trial has id `trial_id`.
    fn update_trial<'q>(
        &self,
        trial_id: i64,
        what: &str,
        query: sqlx::query::Query<'q, Sqlite, SqliteArguments<'q>>,
    ) -> Result<()> {
        let done = self
            .block_on(query.execute(&self.pool))
            .map_err(|e| Error::store(format!("{what} (trial {trial_id})"), e))?;
        if done.rows_affected() == 0 {
            return Err(unknown_trial(trial_id));
        }
        Ok(())
    }
}

/// Deletes the trial's previous results, inserts `results` and marks it done, inside `tx`.
/// Returns the number of trial rows updated (0 if the trial does not exist).
async fn replace_results(
    tx: &mut Transaction<'_, Sqlite>,
    trial_id: i64,
    results: &TrialResults,
) -> std::result::Result<u64, sqlx::Error> {
    for table in ["metrics", "measurements", "artifacts"] {
        sqlx::query(&format!("DELETE FROM {table} WHERE trial_id = ?"))
            .bind(trial_id)
            .execute(&mut **tx)
            .await?;
    }
    for metric in &results.metrics {
        sqlx::query("INSERT INTO metrics (trial_id, key, step, value) VALUES (?, ?, ?, ?)")
            .bind(trial_id)
            .bind(metric.key.as_str())
            .bind(metric.step)
            .bind(metric.value)
            .execute(&mut **tx)
            .await?;
    }
    for m in &results.measurements {
        sqlx::query(
            "INSERT INTO measurements (trial_id, kind, kernel_matmul, kernel_backend,
                                       kernel_dequantized, kernel_attention, seq_len, batch,
                                       median, p95, repeats, unit)
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        )
        .bind(trial_id)
        .bind(m.kind.as_str())
        .bind(&m.kernel.matmul)
        .bind(m.kernel.backend.map(|b| b.as_str()))
        .bind(m.kernel.dequantized)
        .bind(&m.kernel.attention)
        .bind(m.seq_len)
        .bind(m.batch)
        .bind(m.median)
        .bind(m.p95)
        .bind(m.repeats)
        .bind(m.unit().as_str())
        .execute(&mut **tx)
        .await?;
    }
    if let Some(artifact) = &results.artifact {
        sqlx::query("INSERT INTO artifacts (trial_id, path, bytes, sha256) VALUES (?, ?, ?, ?)")
            .bind(trial_id)
            .bind(&artifact.path)
            .bind(artifact.bytes)
            .bind(&artifact.sha256)
            .execute(&mut **tx)
            .await?;
    }
    let updated = sqlx::query(
        "UPDATE trials SET status = ?, finished_at = ?, duration_s = ?, error = NULL WHERE id = ?",
    )
    .bind(status::DONE)
    .bind(now())
    .bind(results.duration_s)
    .bind(trial_id)
    .execute(&mut **tx)
    .await?;
    Ok(updated.rows_affected())
}

/// SQLite stores NaN as NULL, so non-finite numbers are refused before anything is written;
/// so are metric keys outside the vocabulary ([`MetricKey::Other`] is for reading old rows).
fn check_recordable(trial_id: i64, results: &TrialResults) -> Result<()> {
    if let Some(m) = results.metrics.iter().find(|m| !m.key.is_known()) {
        return Err(Error::Invalid(format!(
            "trial {trial_id}: metric `{}` is not in bitlab's metric vocabulary; nothing was \
             recorded\n  fix: add it to MetricKey (src/store/metric_key.rs)",
            m.key
        )));
    }
    let bad_metric = results.metrics.iter().find(|m| !m.value.is_finite());
    if let Some(m) = bad_metric {
        return Err(Error::Invalid(format!(
            "trial {trial_id}: metric `{}` (step {:?}) is {}; nothing was recorded\n  fix: record \
             only finite values (a diverged run should be marked failed instead)",
            m.key, m.step, m.value
        )));
    }
    let bad_measurement = results
        .measurements
        .iter()
        .find(|m| !(m.median.is_finite() && m.p95.is_finite()));
    if let Some(m) = bad_measurement {
        return Err(Error::Invalid(format!(
            "trial {trial_id}: {} measurement at seq_len {} batch {} is not finite (median {}, p95 \
             {}); nothing was recorded\n  fix: record only finite measurements",
            m.kind, m.seq_len, m.batch, m.median, m.p95
        )));
    }
    if !results.duration_s.is_finite() {
        return Err(Error::Invalid(format!(
            "trial {trial_id}: duration {} s is not finite; nothing was recorded",
            results.duration_s
        )));
    }
    Ok(())
}

/// Decodes a row selected with the column order of [`Store::trials`]' measurement query; an
/// error for a kind or backend outside the vocabulary.
fn measurement_from_row(row: &SqliteRow) -> Result<Measurement> {
    let kind: String = row.get(1);
    let backend: Option<String> = row.get(3);
    Ok(Measurement {
        kind: kind.parse()?,
        kernel: KernelId {
            matmul: row.get(2),
            backend: backend.map(|b| b.parse()).transpose()?,
            dequantized: row.get(4),
            attention: row.get(5),
        },
        seq_len: row.get(6),
        batch: row.get(7),
        median: row.get(8),
        p95: row.get(9),
        repeats: row.get(10),
    })
}

/// The error for a trial id that is not in the database.
fn unknown_trial(trial_id: i64) -> Error {
    Error::Invalid(format!(
        "no trial with id {trial_id}; use the id returned by ensure_trial"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::{Environment, ExperimentKind, MeasurementKind};

    struct Fixture {
        _dir: tempfile::TempDir,
        store: Store,
        experiment: i64,
        sweep: i64,
    }

    fn fixture() -> Fixture {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("r.sqlite")).unwrap();
        let experiment = store
            .upsert_experiment("tiny", ExperimentKind::TrialSweep, "", "")
            .unwrap();
        let env = Environment {
            git_commit: None,
            git_dirty: false,
            bitlab_version: "0.1.0".into(),
            libtorch_version: "2.13.0".into(),
            cpu_model: "cpu".into(),
            threads: 2,
            host: "h".into(),
            device: "cpu".into(),
        };
        let sweep = store.begin_sweep(experiment, &env).unwrap();
        Fixture {
            _dir: dir,
            store,
            experiment,
            sweep,
        }
    }

    fn results(accuracy: f64) -> TrialResults {
        TrialResults {
            metrics: vec![
                Metric {
                    key: MetricKey::TestAccuracy,
                    step: None,
                    value: accuracy,
                },
                Metric {
                    key: MetricKey::TrainLoss,
                    step: Some(0),
                    value: 0.7,
                },
                Metric {
                    key: MetricKey::TrainLoss,
                    step: Some(1),
                    value: 0.5,
                },
            ],
            measurements: vec![Measurement {
                kind: MeasurementKind::Latency,
                kernel: KernelId::from_recorded_name(
                    "bitlab-ternary-2bit-avx2 + flash-cpu attention",
                ),
                seq_len: 64,
                batch: 1,
                median: 1.5,
                p95: 1.9,
                repeats: 10,
            }],
            artifact: Some(ArtifactRecord {
                path: "a.bin".into(),
                bytes: 1234,
                sha256: "ab".repeat(32),
            }),
            duration_s: 12.5,
        }
    }

    #[test]
    fn ensure_trial_inserts_once_and_keeps_status() {
        let f = fixture();
        let first = f
            .store
            .ensure_trial(f.experiment, "h1", r#"{"seed":1}"#, "seed=1")
            .unwrap();
        assert_eq!(
            (first.hash.as_str(), first.status.as_str()),
            ("h1", "pending")
        );
        f.store.mark_running(first.id, f.sweep).unwrap();
        let again = f
            .store
            .ensure_trial(f.experiment, "h1", r#"{"seed":1}"#, "seed=1")
            .unwrap();
        assert_eq!(
            again,
            TrialRow {
                id: first.id,
                hash: "h1".into(),
                status: "running".into()
            }
        );
        let other = f.store.ensure_trial(f.experiment, "h2", "{}", "b").unwrap();
        assert_ne!(other.id, first.id);
    }

    #[test]
    fn finished_trial_round_trips_every_field() {
        let f = fixture();
        let t = f
            .store
            .ensure_trial(
                f.experiment,
                "h1",
                r#"{"seed":7,"quant":{"scheme":"ternary"}}"#,
                "lbl",
            )
            .unwrap();
        f.store.mark_running(t.id, f.sweep).unwrap();
        f.store.finish_trial(t.id, &results(0.81)).unwrap();

        let trials = f.store.trials("tiny").unwrap();
        assert_eq!(trials.len(), 1);
        let record = &trials[0];
        assert_eq!(
            (record.id, record.hash.as_str(), record.label.as_str()),
            (t.id, "h1", "lbl")
        );
        assert_eq!(record.status, "done");
        assert_eq!(record.error, None);
        assert_eq!(record.config["quant"]["scheme"], "ternary");
        assert_eq!(record.config["seed"], 7);
        assert!(record.started_at.is_some() && record.finished_at.is_some());
        assert_eq!(record.duration_s, Some(12.5));
        let expected = results(0.81);
        assert_eq!(record.metrics, expected.metrics);
        assert_eq!(record.measurements, expected.measurements);
        assert_eq!(record.artifact, expected.artifact);
        assert_eq!(record.final_metric(MetricKey::TestAccuracy), Some(0.81));
        assert_eq!(record.final_metric(MetricKey::TrainLoss), None);
    }

    #[test]
    fn finishing_again_replaces_results() {
        let f = fixture();
        let t = f.store.ensure_trial(f.experiment, "h1", "{}", "a").unwrap();
        f.store.finish_trial(t.id, &results(0.5)).unwrap();
        let mut second = results(0.9);
        second.artifact = None;
        f.store.finish_trial(t.id, &second).unwrap();
        let record = &f.store.trials("tiny").unwrap()[0];
        assert_eq!(record.metrics.len(), 3);
        assert_eq!(record.final_metric(MetricKey::TestAccuracy), Some(0.9));
        assert_eq!(record.artifact, None);
    }

    #[test]
    fn finish_trial_is_atomic_when_an_insert_fails() {
        let f = fixture();
        let t = f.store.ensure_trial(f.experiment, "h1", "{}", "a").unwrap();
        f.store.finish_trial(t.id, &results(0.5)).unwrap();
        f.store.mark_running(t.id, f.sweep).unwrap();

        // The second metric violates the one-value-per-(key, step) index after the deletes and
        // the first insert already ran inside the transaction.
        let mut broken = results(0.9);
        broken.metrics.push(Metric {
            key: MetricKey::TestAccuracy,
            step: None,
            value: 0.1,
        });
        let err = f.store.finish_trial(t.id, &broken).unwrap_err();
        assert!(matches!(err, Error::Store { .. }), "{err}");

        let record = &f.store.trials("tiny").unwrap()[0];
        assert_eq!(record.status, "running");
        assert_eq!(record.final_metric(MetricKey::TestAccuracy), Some(0.5));
        assert_eq!(record.measurements.len(), 1);
        assert!(record.artifact.is_some());
    }

    #[test]
    fn finish_trial_refuses_a_key_outside_the_vocabulary() {
        let f = fixture();
        let t = f.store.ensure_trial(f.experiment, "h1", "{}", "a").unwrap();
        let mut results = results(0.5);
        results.metrics.push(Metric {
            key: MetricKey::Other("zeta".into()),
            step: None,
            value: 1.0,
        });
        let err = f
            .store
            .finish_trial(t.id, &results)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("`zeta` is not in bitlab's metric vocabulary"),
            "{err}"
        );
        assert!(f.store.trials("tiny").unwrap()[0].metrics.is_empty());
    }

    #[test]
    fn finish_trial_refuses_nan_and_changes_nothing() {
        let f = fixture();
        let t = f.store.ensure_trial(f.experiment, "h1", "{}", "a").unwrap();
        f.store.mark_running(t.id, f.sweep).unwrap();
        let err = f
            .store
            .finish_trial(t.id, &results(f64::NAN))
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("test_accuracy") && err.contains("NaN"),
            "{err}"
        );
        let record = &f.store.trials("tiny").unwrap()[0];
        assert_eq!(record.status, "running");
        assert!(record.metrics.is_empty());
    }

    #[test]
    fn failed_and_interrupted_keep_their_reason_until_rerun() {
        let f = fixture();
        let a = f.store.ensure_trial(f.experiment, "a", "{}", "a").unwrap();
        let b = f.store.ensure_trial(f.experiment, "b", "{}", "b").unwrap();
        f.store.mark_running(a.id, f.sweep).unwrap();
        f.store.mark_failed(a.id, "diverged at step 3").unwrap();
        f.store.mark_running(b.id, f.sweep).unwrap();
        f.store.mark_interrupted(b.id).unwrap();

        let trials = f.store.trials("tiny").unwrap();
        assert_eq!(trials[0].status, "failed");
        assert_eq!(trials[0].error.as_deref(), Some("diverged at step 3"));
        assert!(trials[0].finished_at.is_some());
        assert_eq!(trials[1].status, "interrupted");

        f.store.mark_running(a.id, f.sweep).unwrap();
        let rerun = &f.store.trials("tiny").unwrap()[0];
        assert_eq!(
            (
                rerun.status.as_str(),
                rerun.error.as_deref(),
                rerun.finished_at.as_deref()
            ),
            ("running", None, None)
        );
    }

    #[test]
    fn recover_stale_interrupts_only_running_trials_of_that_experiment() {
        let f = fixture();
        let running = f.store.ensure_trial(f.experiment, "r", "{}", "r").unwrap();
        let done = f.store.ensure_trial(f.experiment, "d", "{}", "d").unwrap();
        f.store.ensure_trial(f.experiment, "p", "{}", "p").unwrap();
        f.store.mark_running(running.id, f.sweep).unwrap();
        f.store.finish_trial(done.id, &results(0.5)).unwrap();
        let other = f
            .store
            .upsert_experiment("other", ExperimentKind::TrialSweep, "", "")
            .unwrap();
        let elsewhere = f.store.ensure_trial(other, "x", "{}", "x").unwrap();
        f.store.mark_running(elsewhere.id, f.sweep).unwrap();

        assert_eq!(f.store.recover_stale(f.experiment).unwrap(), 1);
        let statuses: Vec<String> = f
            .store
            .trials("tiny")
            .unwrap()
            .into_iter()
            .map(|t| t.status)
            .collect();
        assert_eq!(statuses, ["interrupted", "done", "pending"]);
        assert_eq!(f.store.trials("other").unwrap()[0].status, "running");
        assert_eq!(f.store.recover_stale(f.experiment).unwrap(), 0);
    }

    #[test]
    fn status_calls_on_unknown_trials_fail() {
        let f = fixture();
        assert!(f.store.mark_running(99, f.sweep).is_err());
        assert!(f.store.mark_failed(99, "x").is_err());
        assert!(f.store.mark_interrupted(99).is_err());
        assert!(f.store.finish_trial(99, &TrialResults::default()).is_err());
    }

    #[test]
    fn trials_are_listed_by_id_with_their_own_results() {
        let f = fixture();
        let a = f.store.ensure_trial(f.experiment, "a", "{}", "a").unwrap();
        let b = f.store.ensure_trial(f.experiment, "b", "{}", "b").unwrap();
        f.store.finish_trial(b.id, &results(0.7)).unwrap();
        let trials = f.store.trials("tiny").unwrap();
        assert_eq!(
            trials.iter().map(|t| t.id).collect::<Vec<_>>(),
            [a.id, b.id]
        );
        assert!(trials[0].metrics.is_empty() && trials[0].artifact.is_none());
        assert_eq!(trials[1].final_metric(MetricKey::TestAccuracy), Some(0.7));
    }

    #[test]
    fn data_survives_reopening_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("r.sqlite");
        {
            let store = Store::open(&path).unwrap();
            let exp = store
                .upsert_experiment("tiny", ExperimentKind::TrialSweep, "", "")
                .unwrap();
            let t = store.ensure_trial(exp, "h", "{}", "a").unwrap();
            store.finish_trial(t.id, &results(0.6)).unwrap();
        }
        let store = Store::open(&path).unwrap();
        assert_eq!(
            store.trials("tiny").unwrap()[0].final_metric(MetricKey::TestAccuracy),
            Some(0.6)
        );
    }
}
