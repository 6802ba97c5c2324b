//! The report of a kernel benchmark (experiment `kernels`, written by `bitlab bench kernels`):
//! its points read back from the stored trials, the timing table and the report's sections.
//!
//! # Stored data (see `src/cli/bench.rs`)
//!
//! An experiment of kind [`ExperimentKind::KernelBench`]: one trial per (scheme, shape, thread
//! count) with a [`KernelBenchTrialConfig`](crate::store::KernelBenchTrialConfig); one
//! measurement of kind [`MeasurementKind::KernelTime`] per token count (`seq_len` = tokens per
//! call, median and p95 in ms, the kernel that ran), and metrics [`MetricKey::Gflops`],
//! [`MetricKey::WeightGbps`] and [`MetricKey::SpeedupVsFp32`] with the token count as their
//! step. Everything here is derived from those records alone.
use std::collections::BTreeMap;

use super::bench_report::{self, BenchReport};
use super::chart::RenderedChart;
use super::data::{ReportData, BASELINE_SCHEME};
use super::document::Section;
use super::format::{or_dash, ratio};
use super::tables::Table;
use crate::store::{ExperimentKind, KernelId, MeasurementKind, MetricKey, TrialRecord};

/// One timed point of a kernel benchmark.
#[derive(Debug, Clone, PartialEq)]
pub struct KernelPoint {
    /// Scheme name (`fp32`, `ternary`, `ternary-1.6bit`, ...).
    pub scheme: String,
    /// The kernel that ran.
    pub kernel: KernelId,
    /// Output features of the weight.
    pub rows: u64,
    /// Input features of the weight.
    pub cols: u64,
    /// Threads.
    pub threads: u64,
    /// Tokens per call (1 = matrix-vector).
    pub tokens: i64,
    /// Median ms per call.
    pub median_ms: f64,
    /// p95 ms per call.
    pub p95_ms: f64,
    /// GFLOP/s (`2 rows cols tokens / median`), as stored, else computed from the median.
    pub gflops: f64,
    /// Weight bytes / median, in GB/s, as stored.
    pub weight_gbps: Option<f64>,
    /// fp32's median / this median, measured in the same run, as stored.
    pub speedup_vs_fp32: Option<f64>,
    /// `dram` or `cache`: whether the rotated weight copies exceeded the last-level cache.
    pub residency: String,
    /// Weight copies cycled through.
    pub copies: Option<u64>,
}

impl KernelPoint {
    /// `ROWSxCOLS`.
    pub fn shape(&self) -> String {
        format!("{}x{}", self.rows, self.cols)
    }
}

/// Every kernel-benchmark point of the done trials, ordered by shape (first appearance),
/// threads, tokens and scheme ([`kernel_schemes`] order).
pub fn kernel_points(data: &ReportData) -> Vec<KernelPoint> {
    let mut points: Vec<KernelPoint> = data.done().flat_map(trial_points).collect();
    let shapes = kernel_shapes_of(&points);
    let schemes = schemes_of(&points);
    let position = |list: &[String], item: &str| list.iter().position(|s| s == item);
    points.sort_by_key(|p| {
        (
            position(&shapes, &p.shape()),
            p.threads,
            p.tokens,
            position(&schemes, &p.scheme),
        )
    });
    points
}

/// Whether the data is a kernel benchmark's (then the report is a kernel report).
pub fn has_kernel_bench(data: &ReportData) -> bool {
    data.kind == ExperimentKind::KernelBench
}

/// Scheme names of `points`, the baseline first, then in order of first appearance (this
/// fixes chart colours).
pub fn kernel_schemes(points: &[KernelPoint]) -> Vec<String> {
    schemes_of(points)
}

/// Shapes (`ROWSxCOLS`) of `points` in order of first appearance among the trials.
pub fn kernel_shapes(points: &[KernelPoint]) -> Vec<String> {
    kernel_shapes_of(points)
}

fn schemes_of(points: &[KernelPoint]) -> Vec<String> {
    bench_report::baseline_first(points.iter().map(|p| p.scheme.as_str()))
}

fn kernel_shapes_of(points: &[KernelPoint]) -> Vec<String> {
    let mut shapes: Vec<String> = Vec::new();
    for p in points {
        if !shapes.contains(&p.shape()) {
            shapes.push(p.shape());
        }
    }
    shapes
}

/// The points of one stored kernel trial (none when it is not one).
fn trial_points(trial: &TrialRecord) -> Vec<KernelPoint> {
    let config = trial.kernel_bench_config();
    let (Some(scheme), Some(rows), Some(cols), Some(threads)) =
        (&config.scheme, config.rows, config.cols, config.threads)
    else {
        return Vec::new();
    };
    bench_report::points_by_tokens(trial, MeasurementKind::KernelTime, |m| {
        let tokens = m.seq_len;
        let computed = 2.0 * (rows * cols) as f64 * tokens as f64 / (m.median * 1e6);
        KernelPoint {
            scheme: scheme.to_string(),
            kernel: m.kernel.clone(),
            rows,
            cols,
            threads,
            tokens,
            median_ms: m.median,
            p95_ms: m.p95,
            gflops: trial
                .metric_at(MetricKey::Gflops, tokens)
                .unwrap_or(computed),
            weight_gbps: trial.metric_at(MetricKey::WeightGbps, tokens),
            speedup_vs_fp32: trial.metric_at(MetricKey::SpeedupVsFp32, tokens),
            residency: config.residency.as_deref().unwrap_or("unknown").to_string(),
            copies: config.copies,
        }
    })
}

/// The timing table: one row per point.
pub fn kernel_table(points: &[KernelPoint]) -> Table {
    let headers = [
        "shape [out, in]",
        "tokens n",
        "scheme",
        "kernel",
        "threads",
        "median ms",
        "p95 ms",
        "GFLOP/s",
        "weight GB/s",
        "ratio to fp32 (speed-up)",
        "weights read from",
    ];
    let rows = points
        .iter()
        .map(|p| {
            let copies = p.copies.map_or_else(String::new, |c| {
                format!(" ({c} cop{})", if c == 1 { "y" } else { "ies" })
            });
            vec![
                p.shape(),
                p.tokens.to_string(),
                p.scheme.clone(),
                p.kernel.to_string(),
                p.threads.to_string(),
                format!("{:.3}", p.median_ms),
                format!("{:.3}", p.p95_ms),
                format!("{:.1}", p.gflops),
                or_dash(p.weight_gbps, |v| format!("{v:.2}")),
                or_dash(p.speedup_vs_fp32, ratio),
                format!("{}{copies}", residency_name(&p.residency)),
            ]
        })
        .collect();
    Table {
        headers: headers.iter().map(|h| h.to_string()).collect(),
        rows,
    }
}

/// `DRAM` / `cache` as the report writes them.
fn residency_name(residency: &str) -> &str {
    match residency {
        "dram" => "DRAM",
        other => other,
    }
}

/// The sections of a kernel report (after its title), in the benchmark template.
pub fn sections(data: &ReportData, charts: &[RenderedChart]) -> Vec<Section> {
    let points = kernel_points(data);
    let trials = data.done().filter(|t| !trial_points(t).is_empty()).count();
    let report = BenchReport {
        summary: format!(
            "{} timed points from {trials} done trials of `bitlab bench kernels`: for each \
             weight shape, token count n and thread count, every scheme computes y = x W^T for \
             n random tokens. Every figure and table below is read from the results database.",
            points.len()
        ),
        bullets: fastest_ternary_notes(&points),
        environment_note: "Timings come from one machine and one run; compare schemes side by \
             side within a run, not across runs (shared machines vary by tens of percent)."
            .into(),
        charts_note: "One panel per weight shape and thread count; markers are the median time \
             per call, whiskers reach the p95. The legend names the kernel that ran and the \
             thread count."
            .into(),
        table_heading: "Kernel timings".into(),
        table_notes: vec![format!(
            "GFLOP/s = 2 rows cols n / median; weight GB/s = bytes of one resident weight \
             matrix / median; ratio to {BASELINE_SCHEME} = {BASELINE_SCHEME}'s median / this \
             median on the same point of the same run. Weights are read from DRAM when the \
             rotated copies of the weight matrix exceed the last-level cache, else they may \
             be served from the cache; the column says which, with the number of copies."
        )],
        table: kernel_table(&points),
    };
    bench_report::sections(data, charts, report)
}

/// One line per (shape, n, threads) point with a ternary scheme: the fastest ternary kernel
/// and its ratio to fp32, for the overview.
fn fastest_ternary_notes(points: &[KernelPoint]) -> Vec<String> {
    let mut best: BTreeMap<(String, u64, i64), &KernelPoint> = BTreeMap::new();
    for p in points.iter().filter(|p| p.scheme.starts_with("ternary")) {
        let key = (p.shape(), p.threads, p.tokens);
        if best.get(&key).is_none_or(|b| p.median_ms < b.median_ms) {
            best.insert(key, p);
        }
    }
    let shapes = kernel_shapes_of(points);
    let mut notes: Vec<(usize, String)> = best
        .into_values()
        .map(|p| {
            let position = shapes.iter().position(|s| *s == p.shape()).unwrap_or(0);
            (
                position,
                format!(
                    "{} n={} {} thr: fastest ternary kernel {} at {:.3} ms{}",
                    p.shape(),
                    p.tokens,
                    p.threads,
                    p.kernel,
                    p.median_ms,
                    p.speedup_vs_fp32
                        .map(|s| format!(", {} fp32", ratio(s)))
                        .unwrap_or_default()
                ),
            )
        })
        .collect();
    notes.sort_by_key(|(position, _)| *position);
    notes.into_iter().map(|(_, note)| note).collect()
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::store::{Measurement, Metric};

    /// A stored kernel trial as `bitlab bench kernels` records it: (tokens, median ms) points.
    pub(crate) fn kernel_trial(
        id: i64,
        scheme: &str,
        kernel: &str,
        (rows, cols, threads): (u64, u64, u64),
        points: &[(i64, f64)],
    ) -> TrialRecord {
        let mut metrics = Vec::new();
        let mut measurements = Vec::new();
        for &(tokens, median) in points {
            let metric = |key: MetricKey, value: f64| Metric {
                key,
                step: Some(tokens),
                value,
            };
            metrics.push(metric(
                MetricKey::Gflops,
                2.0 * (rows * cols) as f64 * tokens as f64 / (median * 1e6),
            ));
            metrics.push(metric(MetricKey::WeightGbps, 1.0 / median));
            metrics.push(metric(MetricKey::SpeedupVsFp32, 10.0 / median));
            measurements.push(Measurement {
                kind: MeasurementKind::KernelTime,
                kernel: KernelId::from_recorded_name(kernel),
                seq_len: tokens,
                batch: 1,
                median,
                p95: median * 1.1,
                repeats: 5,
            });
        }
        TrialRecord {
            id,
            hash: format!("kernel-{scheme}-{rows}x{cols}-t{threads}"),
            label: format!("{scheme} {rows}x{cols} {threads} thr"),
            status: "done".into(),
            error: None,
            config: serde_json::json!({
                "scheme": scheme, "rows": rows, "cols": cols, "threads": threads,
                "kernel": kernel, "residency": "dram", "copies": 3,
            }),
            started_at: None,
            finished_at: None,
            duration_s: Some(1.0),
            metrics,
            measurements,
            artifact: None,
        }
    }

    pub(crate) fn bench_data() -> ReportData {
        ReportData::new(
            "kernels",
            "",
            None,
            vec![
                kernel_trial(
                    1,
                    "ternary",
                    "bitlab-ternary-2bit-avx2",
                    (64, 128, 2),
                    &[(8, 0.5), (1, 0.2)],
                ),
                kernel_trial(
                    2,
                    "fp32",
                    "libtorch-fp32",
                    (64, 128, 2),
                    &[(1, 2.0), (8, 4.0)],
                ),
                kernel_trial(3, "fp32", "libtorch-fp32", (32, 32, 1), &[(1, 1.0)]),
            ],
        )
        .with_kind(ExperimentKind::KernelBench)
    }

    #[test]
    fn points_are_read_back_in_shape_thread_token_scheme_order() {
        let data = bench_data();
        assert!(has_kernel_bench(&data));
        let points = kernel_points(&data);
        let keys: Vec<(String, i64, &str)> = points
            .iter()
            .map(|p| (p.shape(), p.tokens, p.scheme.as_str()))
            .collect();
        assert_eq!(
            keys,
            [
                ("64x128".to_string(), 1, "fp32"),
                ("64x128".to_string(), 1, "ternary"),
                ("64x128".to_string(), 8, "fp32"),
                ("64x128".to_string(), 8, "ternary"),
                ("32x32".to_string(), 1, "fp32"),
            ]
        );
        assert_eq!(kernel_schemes(&points), ["fp32", "ternary"]);
        let p = &points[1];
        assert_eq!((p.median_ms, p.speedup_vs_fp32), (0.2, Some(50.0)));
        assert!((p.gflops - 2.0 * 64.0 * 128.0 / 0.2e6).abs() < 1e-12);
    }

    #[test]
    fn the_table_has_time_throughput_ratio_and_residency() {
        let table = kernel_table(&kernel_points(&bench_data()));
        assert_eq!(table.headers.len(), 11);
        assert_eq!(
            table.rows[1],
            [
                "64x128",
                "1",
                "ternary",
                "bitlab-ternary-2bit-avx2",
                "2",
                "0.200",
                "0.220",
                "0.1",
                "5.00",
                "50.00x",
                "DRAM (3 copies)"
            ]
        );
    }

    #[test]
    fn model_trials_are_not_a_kernel_bench() {
        let data = ReportData::new(
            "e",
            "",
            None,
            vec![crate::report::data::tests::trial(
                1, "fp32", 0, "done", 0.8, 100,
            )],
        );
        assert!(!has_kernel_bench(&data));
        assert!(kernel_points(&data).is_empty());
    }
}
