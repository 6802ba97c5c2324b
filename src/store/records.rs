//! The rows the results database stores and returns: plain data, no database handles.
//!
//! Writers build [`Environment`], [`Metric`], [`Measurement`], [`ArtifactRecord`] and
//! [`TrialResults`]; readers get [`ExperimentRow`], [`SweepRow`], [`TrialRow`] and
//! [`TrialRecord`] back. Units and key names are the conventions listed in [`crate::report`].
use serde::{Deserialize, Serialize};

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
    /// Metric name, e.g. `test_accuracy` or `train_loss`.
    pub key: String,
    /// `None` for a final value, `Some(step)` for a point on a curve (e.g. the epoch).
    pub step: Option<i64>,
    /// The value; must be finite.
    pub value: f64,
}

/// One latency or memory point of a trial: median and p95 over `repeats` runs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Measurement {
    /// What was measured: `latency`, `memory`, `memory_delta`, ...
    pub kind: String,
    /// Which kernel ran, e.g. `libtorch-fp32 (dequantized)`.
    pub kernel: String,
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
    /// Unit of `median` and `p95`: `ms` or `bytes`.
    pub unit: String,
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
    /// The resolved configuration (JSON of [`crate::experiment::TrialConfig`]).
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
    pub fn final_metric(&self, key: &str) -> Option<f64> {
        self.metrics
            .iter()
            .find(|m| m.key == key && m.step.is_none())
            .map(|m| m.value)
    }

    /// The value of metric `key` at `step` (an epoch, or a benchmark's token count), if
    /// recorded.
    pub fn metric_at(&self, key: &str, step: i64) -> Option<f64> {
        self.metrics
            .iter()
            .find(|m| m.key == key && m.step == Some(step))
            .map(|m| m.value)
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
