//! Benchmarks: timed points of bitlab's kernels, recorded in the results database like a sweep
//! and rendered by `bitlab report` (issue 11, item 5).
//!
//! A benchmark implements [`Benchmark`]: what it times (its configuration runs the points),
//! the typed configuration of each stored trial, and which timing and metrics each point
//! records. [`record()`] is the one recorder: one sweep per run, one done trial per timed
//! configuration, in an experiment of the benchmark's [`ExperimentKind`].
//!
//! - [`kernel_bench`] (`bitlab bench kernels`): matrix-vector and matrix-matrix timings of
//!   every matmul kernel on the same shapes.
//! - [`scheme`]: the benchmarked schemes, quantizers of the one registry ([`crate::quant`])
//!   whose packed random weights load into the kernels inference runs.
//! - [`model_scaling`] (`bitlab bench model`): stacks of transformer blocks of growing size,
//!   per scheme.
pub mod kernel_bench;
pub mod model_scaling;
pub mod record;
pub mod scheme;
pub mod timing;

pub use record::record;

use crate::store::{ExperimentKind, MeasurementKind, MetricKey};
use crate::Result;

/// A benchmark: a configuration that times points, and how each point is stored.
pub trait Benchmark {
    /// One timed point.
    type Point;
    /// The experiment a run records into.
    const EXPERIMENT: &'static str;
    /// Its description (set when the experiment is first recorded).
    const DESCRIPTION: &'static str;
    /// Its kind (which report it gets).
    const KIND: ExperimentKind;
    /// The measurement kind of a point's timing (a kind in ms).
    const TIMING: MeasurementKind;

    /// Times every point; `progress` sees each as it is measured.
    fn run(&self, progress: &mut dyn FnMut(&Self::Point)) -> Result<Vec<Self::Point>>;

    /// The stored trial a point belongs to: its hash (what was timed; a later run replaces
    /// the trial's results) and label.
    fn trial_of(point: &Self::Point) -> (String, String);

    /// The stored configuration of the trial of `point` (its first point), as JSON of the
    /// benchmark's typed trial configuration.
    fn trial_config(point: &Self::Point) -> Result<serde_json::Value>;

    /// The timing of a point: the kernel's recorded name, tokens per call, median and p95 ms,
    /// and the number of timed calls.
    fn timing_of(point: &Self::Point) -> PointTiming<'_>;

    /// The metrics of a point, stored with its token count as their step (those without a
    /// value are left out).
    fn metrics_of(point: &Self::Point) -> Vec<(MetricKey, Option<f64>)>;

    /// The threads a point ran on.
    fn threads_of(point: &Self::Point) -> usize;
}

/// The timing of one point (see [`Benchmark::timing_of`]).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PointTiming<'a> {
    /// The kernel's recorded name.
    pub kernel: &'a str,
    /// Tokens per call.
    pub tokens: usize,
    /// Median ms per call.
    pub median_ms: f64,
    /// 95th-percentile ms per call.
    pub p95_ms: f64,
    /// Timed calls.
    pub repeats: usize,
}
