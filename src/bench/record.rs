//! Recording a benchmark run (`bitlab bench kernels`, `bitlab bench model`) in the results
//! database, where the reports read it like any sweep: one sweep per run, one done trial per
//! timed configuration, each with its metrics and measurements ([`record`] for any
//! [`Benchmark`]).
use super::{Benchmark, PointTiming};
use crate::measure::capture_environment;
use crate::store::{
    ExperimentKind, KernelId, Measurement, MeasurementKind, Metric, MetricKey, Store, TrialResults,
};
use crate::{Error, Result};
use serde::Serialize;
use tch::Device;

/// One timed configuration of a benchmark run.
#[derive(Debug, Clone, PartialEq)]
pub struct BenchTrial {
    /// Names what was timed (scheme, shape, threads); the same configuration in a later run
    /// replaces this one's results.
    pub hash: String,
    /// Human-readable label.
    pub label: String,
    /// What was timed and facts of this run (kernel, residency): the JSON of the benchmark's
    /// typed trial configuration ([`crate::store::KernelBenchTrialConfig`], ...); replaced on
    /// every run.
    pub config: serde_json::Value,
    /// Metrics (the token count as the step where they depend on it).
    pub metrics: Vec<Metric>,
    /// Timings.
    pub measurements: Vec<Measurement>,
}

impl BenchTrial {
    /// A trial with no points yet, whose stored configuration is the JSON `config`.
    pub fn new(hash: String, label: String, config: serde_json::Value) -> Self {
        Self {
            hash,
            label,
            config,
            metrics: Vec::new(),
            measurements: Vec::new(),
        }
    }

    /// Adds one timed point: its `timing` and, with the timing's token count as their step,
    /// the `metrics` that have a value.
    pub fn add_point(&mut self, timing: Measurement, metrics: &[(MetricKey, Option<f64>)]) {
        for (key, value) in metrics {
            self.metrics.extend(value.map(|value| Metric {
                key: key.clone(),
                step: Some(timing.seq_len),
                value,
            }));
        }
        self.measurements.push(timing);
    }
}

/// A timing of `kind` (a kind in ms) at `tokens` tokens per call (`seq_len` = tokens, batch
/// 1), by the kernel recorded as `kernel`.
pub fn timing(
    kind: MeasurementKind,
    kernel: &str,
    tokens: usize,
    median_ms: f64,
    p95_ms: f64,
    repeats: usize,
) -> Measurement {
    Measurement {
        kind,
        kernel: KernelId::from_recorded_name(kernel),
        seq_len: tokens as i64,
        batch: 1,
        median: median_ms,
        p95: p95_ms,
        repeats: repeats as i64,
    }
}

/// Records `trials` as one sweep of experiment `experiment` of kind `kind` (created with
/// `description` if new), with the environment at `threads` threads; each trial is done when
/// this returns.
pub fn record_bench_run(
    store: &Store,
    experiment: &str,
    kind: ExperimentKind,
    description: &str,
    threads: usize,
    trials: &[BenchTrial],
) -> Result<()> {
    let experiment = store.upsert_experiment(experiment, kind, description, "")?;
    let sweep = store.begin_sweep(experiment, &capture_environment(Device::Cpu, threads))?;
    for trial in trials {
        let row = store.upsert_trial(
            experiment,
            &trial.hash,
            &trial.config.to_string(),
            &trial.label,
        )?;
        store.mark_running(row.id, sweep)?;
        let duration_s = trial
            .measurements
            .iter()
            .map(|m| m.median * m.repeats as f64 / 1e3)
            .sum();
        store.finish_trial(
            row.id,
            &TrialResults {
                metrics: trial.metrics.clone(),
                measurements: trial.measurements.clone(),
                artifact: None,
                duration_s,
            },
        )?;
    }
    store.end_sweep(sweep, "done")
}

/// `config` (a benchmark's typed trial configuration) as the JSON stored with its trial.
pub fn stored_config(config: &impl Serialize) -> Result<serde_json::Value> {
    serde_json::to_value(config).map_err(|e| {
        Error::Invalid(format!(
            "a benchmark trial configuration is not storable: {e}"
        ))
    })
}

/// Records `points` of benchmark `B` as one sweep of `B`'s experiment: one trial per
/// [`Benchmark::trial_of`] (in order of first appearance), with the configuration of its first
/// point, one timing per point and the points' metrics.
pub fn record<B: Benchmark>(store: &Store, points: &[B::Point]) -> Result<()> {
    let mut hashes: Vec<String> = points.iter().map(|p| B::trial_of(p).0).collect();
    hashes.dedup();
    let trials: Vec<BenchTrial> = hashes
        .into_iter()
        .map(|hash| {
            let here: Vec<&B::Point> = points.iter().filter(|p| B::trial_of(p).0 == hash).collect();
            let (hash, label) = B::trial_of(here[0]);
            let mut trial = BenchTrial::new(hash, label, B::trial_config(here[0])?);
            for p in here {
                let PointTiming {
                    kernel,
                    tokens,
                    median_ms,
                    p95_ms,
                    repeats,
                } = B::timing_of(p);
                trial.add_point(
                    timing(B::TIMING, kernel, tokens, median_ms, p95_ms, repeats),
                    &B::metrics_of(p),
                );
            }
            Ok(trial)
        })
        .collect::<Result<_>>()?;
    let threads = points.iter().map(B::threads_of).max().unwrap_or(1);
    record_bench_run(
        store,
        B::EXPERIMENT,
        B::KIND,
        B::DESCRIPTION,
        threads,
        &trials,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn trial(kernel: &str, median: f64) -> BenchTrial {
        let mut trial = BenchTrial::new(
            "kernel-x".into(),
            format!("x with {kernel}"),
            serde_json::json!({ "kernel": kernel }),
        );
        trial.add_point(
            timing(
                MeasurementKind::KernelTime,
                kernel,
                8,
                median,
                median * 1.5,
                3,
            ),
            &[
                (MetricKey::Gflops, Some(2.0 / median)),
                (MetricKey::SpeedupVsFp32, None),
            ],
        );
        trial
    }

    #[test]
    fn a_later_run_replaces_results_and_config_of_the_same_configuration() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("r.db")).unwrap();
        let kind = ExperimentKind::KernelBench;
        record_bench_run(&store, "kernels", kind, "d", 1, &[trial("old-kernel", 4.0)]).unwrap();
        record_bench_run(&store, "kernels", kind, "d", 2, &[trial("new-kernel", 2.0)]).unwrap();
        let trials = store.trials("kernels").unwrap();
        assert_eq!(trials.len(), 1);
        let t = &trials[0];
        assert_eq!(t.status, "done");
        assert_eq!(t.config["kernel"], "new-kernel");
        assert_eq!(t.label, "x with new-kernel");
        assert_eq!(t.measurements.len(), 1);
        assert_eq!(t.measurements[0].kernel.to_string(), "new-kernel");
        assert_eq!(t.measurements[0].median, 2.0);
        let gflops = Metric {
            key: MetricKey::Gflops,
            step: Some(8),
            value: 1.0,
        };
        assert_eq!(
            t.metrics,
            vec![gflops],
            "a metric without a value is left out"
        );
        assert!((t.duration_s.unwrap() - 0.006).abs() < 1e-12);
    }
}
