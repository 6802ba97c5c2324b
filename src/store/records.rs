//! The rows the results database stores and returns: plain data, no database handles.
//!
//! Writers build [`Environment`], [`Metric`], [`Measurement`], [`ArtifactRecord`] and
//! [`TrialResults`]; readers get [`ExperimentRow`], [`SweepRow`], [`TrialRow`] and
//! [`TrialRecord`] back. Keys, kinds, units and kernels are the typed vocabulary of this module
//! ([`MetricKey`], [`MeasurementKind`], [`KernelId`], [`ExperimentKind`]).
use serde::{Deserialize, Serialize};

use super::stored_config::read_lenient;
use super::{
    ExperimentKind, KernelBenchTrialConfig, KernelId, MeasurementKind, MetricKey,
    ScalingTrialConfig, SweepTrialSummary, Unit,
};

/// Where and with what a sweep ran; recorded once per sweep so reports can state it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Environment {
    /// `git rev-parse HEAD` of the working tree, if it is a git checkout.
    pub git_commit: Option<String>,
    /// Whether the working tree had uncommitted changes.
    pub git_dirty: bool,
    /// bitlab's crate version.
    pub bitlab_version: String,
    /// The libtorch version tch linked against.
    pub libtorch_version: String,
    /// CPU model name (e.g. from /proc/cpuinfo).
    pub cpu_model: String,
    /// Intra-op threads used for training and measurement.
    pub threads: i64,
    /// Host name.
    pub host: String,
    /// Compute device (e.g. `cpu`).
    pub device: String,
}

/// One scalar result of a trial.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Metric {
    /// Metric name, e.g. [`MetricKey::TestAccuracy`] or [`MetricKey::TrainLoss`].
    pub key: MetricKey,
    /// `None` for a final value, `Some(step)` for a point on a curve (e.g. the epoch).
    pub step: Option<i64>,
    /// The value; must be finite.
    pub value: f64,
}

/// One latency or memory point of a trial: median and p95 over `repeats` runs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Measurement {
    /// What was measured (its unit follows: [`Measurement::unit`]).
    pub kind: MeasurementKind,
    /// Which kernels ran.
    pub kernel: KernelId,
    /// Input sequence length in tokens.
    pub seq_len: i64,
    /// Batch size.
    pub batch: i64,
    /// Median over the repeats.
    pub median: f64,
    /// 95th percentile over the repeats.
    pub p95: f64,
    /// Number of timed repeats (1 for a single-shot memory point).
    pub repeats: i64,
}

impl Measurement {
    /// Unit of `median` and `p95` (fixed by the kind).
    pub fn unit(&self) -> Unit {
        self.kind.unit()
    }
}

/// The exported model file of a trial.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ArtifactRecord {
    /// Where the file was written.
    pub path: String,
    /// Its size in bytes (the storage figure of the report).
    pub bytes: i64,
    /// Hex sha256 of its contents.
    pub sha256: String,
}

/// Everything a finished trial produced, recorded in one transaction by
/// [`Store::finish_trial`](super::Store::finish_trial).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct TrialResults {
    /// Final metrics and curves.
    pub metrics: Vec<Metric>,
    /// Latency and memory points.
    pub measurements: Vec<Measurement>,
    /// The exported model file, if one was written.
    pub artifact: Option<ArtifactRecord>,
    /// Wall-clock seconds the trial took.
    pub duration_s: f64,
}

/// An experiment as listed by [`Store::experiments`](super::Store::experiments).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ExperimentRow {
    /// Database id.
    pub id: i64,
    /// Experiment name (unique).
    pub name: String,
    /// Free-text description from the experiment file.
    pub description: String,
    /// What wrote it (which report it gets).
    pub kind: ExperimentKind,
    /// When the experiment was first recorded (RFC 3339).
    pub created_at: String,
    /// Number of trials recorded, in any status.
    pub trials: i64,
    /// Number of trials with status `done`.
    pub done: i64,
}

/// A sweep: one run of an experiment, with its environment.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SweepRow {
    /// Database id.
    pub id: i64,
    /// The experiment it belongs to.
    pub experiment_id: i64,
    /// Where and with what it ran.
    pub environment: Environment,
    /// Start time (RFC 3339).
    pub started_at: String,
    /// End time (RFC 3339), if it ended.
    pub ended_at: Option<String>,
    /// `running`, `done`, `failed` or `interrupted`.
    pub status: String,
}

/// The identity and status of a trial, as returned by
/// [`Store::ensure_trial`](super::Store::ensure_trial).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TrialRow {
    /// Database id.
    pub id: i64,
    /// Hash of the resolved configuration.
    pub hash: String,
    /// `pending`, `running`, `done`, `failed` or `interrupted`.
    pub status: String,
}

/// A trial with everything recorded about it, as returned by
/// [`Store::trials`](super::Store::trials).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrialRecord {
    /// Database id.
    pub id: i64,
    /// Hash of the resolved configuration.
    pub hash: String,
    /// Human-readable label (the swept values).
    pub label: String,
    /// `pending`, `running`, `done`, `failed` or `interrupted`.
    pub status: String,
    /// Why the trial failed or was interrupted, if it did.
    pub error: Option<String>,
    /// The stored configuration verbatim (for listings of every field): the JSON of
    /// [`crate::experiment::TrialConfig`] for a sweep trial, of [`KernelBenchTrialConfig`] or
    /// [`ScalingTrialConfig`] for a benchmark trial. Reports read it through the typed views
    /// ([`TrialRecord::sweep_summary`], ...).
    pub config: serde_json::Value,
    /// When it last started (RFC 3339).
    pub started_at: Option<String>,
    /// When it last finished, failed or was interrupted (RFC 3339).
    pub finished_at: Option<String>,
    /// Wall-clock seconds of the finished run.
    pub duration_s: Option<f64>,
    /// Final metrics and curves, in insertion order.
    pub metrics: Vec<Metric>,
    /// Latency and memory points, in insertion order.
    pub measurements: Vec<Measurement>,
    /// The exported model file, if any.
    pub artifact: Option<ArtifactRecord>,
}

impl TrialRecord {
    /// The final value (step `None`) of metric `key`, if recorded.
    pub fn final_metric(&self, key: MetricKey) -> Option<f64> {
        self.metrics
            .iter()
            .find(|m| m.key == key && m.step.is_none())
            .map(|m| m.value)
    }

    /// The value of metric `key` at `step` (an epoch, or a benchmark's token count), if
    /// recorded.
    pub fn metric_at(&self, key: MetricKey, step: i64) -> Option<f64> {
        self.metrics
            .iter()
            .find(|m| m.key == key && m.step == Some(step))
            .map(|m| m.value)
    }

    /// What a report reads of a sweep trial's configuration (lenient: absent fields are
    /// `None`).
    pub fn sweep_summary(&self) -> SweepTrialSummary {
        read_lenient(&self.config)
    }

    /// A kernel-benchmark trial's configuration (lenient: absent fields are `None`).
    pub fn kernel_bench_config(&self) -> KernelBenchTrialConfig {
        read_lenient(&self.config)
    }

    /// A model-scaling trial's configuration (lenient: absent fields are `None`).
    pub fn scaling_config(&self) -> ScalingTrialConfig {
        read_lenient(&self.config)
    }
}

/// Trial statuses, as stored in `trials.status`.
pub mod status {
    /// Known but not started.
    pub const PENDING: &str = "pending";
    /// Started by a live (or crashed) process.
    pub const RUNNING: &str = "running";
    /// Finished; its results are recorded.
    pub const DONE: &str = "done";
    /// Ended with an error (see `error`).
    pub const FAILED: &str = "failed";
    /// Stopped by Ctrl-C or by a process that died.
    pub const INTERRUPTED: &str = "interrupted";
}
