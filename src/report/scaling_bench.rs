//! The report of a model-size scaling benchmark (experiment `model-scaling`, written by
//! `bitlab bench model`; stored data described at [`crate::bench::model_scaling`]): its points
//! read back from the stored trials, the table and the report's sections.
use super::bench_report::{self, BenchReport};
use super::chart::RenderedChart;
use super::data::{ReportData, BASELINE_SCHEME};
use super::document::Section;
use super::format::{number, or_dash, ratio};
use super::tables::Table;
use crate::kernels::energy::estimate_note;
use crate::store::{ExperimentKind, KernelId, MeasurementKind, MetricKey, TrialRecord};

/// One timed point of a scaling benchmark.
#[derive(Debug, Clone, PartialEq)]
pub struct ScalingPoint {
    /// Scheme name.
    pub scheme: String,
    /// Kernel of the linear layers.
    pub kernel: KernelId,
    /// Model width.
    pub d_model: u64,
    /// Blocks.
    pub layers: u64,
    /// Weights in the linear layers.
    pub parameters: u64,
    /// Threads.
    pub threads: u64,
    /// Tokens per call.
    pub tokens: i64,
    /// Median ms per call.
    pub median_ms: f64,
    /// p95 ms per call.
    pub p95_ms: f64,
    /// fp32's median / this median, as stored.
    pub speedup_vs_fp32: Option<f64>,
    /// Bytes of weights the kernels keep resident.
    pub resident_weight_bytes: u64,
    /// fp32's resident bytes / this scheme's, as stored.
    pub memory_ratio_vs_fp32: Option<f64>,
    /// Measured growth of the resident set while the stack was built.
    pub rss_growth_bytes: Option<u64>,
    /// Estimated picojoules per token of the linear layers' arithmetic (runs before the
    /// estimate was recorded have none).
    pub energy_estimate_pj_per_token: Option<f64>,
}

impl ScalingPoint {
    /// Median ms per token.
    pub fn ms_per_token(&self) -> f64 {
        self.median_ms / self.tokens.max(1) as f64
    }
}

/// Every point of the done trials, by size, tokens and scheme (baseline first).
pub fn scaling_points(data: &ReportData) -> Vec<ScalingPoint> {
    let mut points: Vec<ScalingPoint> = data.done().flat_map(trial_points).collect();
    let schemes = scaling_schemes(&points);
    let position = |s: &str| schemes.iter().position(|x| x == s);
    points.sort_by_key(|p| (p.d_model, p.layers, p.tokens, position(&p.scheme)));
    points
}

/// Whether the data is a model-scaling benchmark's (then the report is a scaling report).
pub fn has_scaling_bench(data: &ReportData) -> bool {
    data.kind == ExperimentKind::ModelScaling
}

/// Scheme names, the baseline first, then in order of first appearance (fixes colours).
pub fn scaling_schemes(points: &[ScalingPoint]) -> Vec<String> {
    bench_report::baseline_first(points.iter().map(|p| p.scheme.as_str()))
}

fn trial_points(trial: &TrialRecord) -> Vec<ScalingPoint> {
    let c = trial.scaling_config();
    let (Some(scheme), Some(d_model), Some(layers), Some(parameters), Some(threads), Some(bytes)) = (
        &c.scheme,
        c.d_model,
        c.layers,
        c.parameters,
        c.threads,
        c.resident_weight_bytes,
    ) else {
        return Vec::new();
    };
    bench_report::points_by_tokens(trial, MeasurementKind::StackTime, |m| ScalingPoint {
        scheme: scheme.to_string(),
        kernel: m.kernel.clone(),
        d_model,
        layers,
        parameters,
        threads,
        tokens: m.seq_len,
        median_ms: m.median,
        p95_ms: m.p95,
        speedup_vs_fp32: trial.metric_at(MetricKey::SpeedupVsFp32, m.seq_len),
        resident_weight_bytes: bytes,
        memory_ratio_vs_fp32: trial.metric_at(MetricKey::MemoryRatioVsFp32, m.seq_len),
        rss_growth_bytes: c.rss_growth_bytes,
        energy_estimate_pj_per_token: c.energy_estimate_pj_per_token,
    })
}

/// `bytes` in MiB with one decimal.
fn mib(bytes: u64) -> String {
    format!("{:.1}", bytes as f64 / (1u64 << 20) as f64)
}

/// The table: one row per point.
pub fn scaling_table(points: &[ScalingPoint]) -> Table {
    let headers = [
        "d_model x layers",
        "weights (M)",
        "tokens n",
        "scheme",
        "kernel",
        "threads",
        "median ms",
        "p95 ms",
        "ms per token",
        "speed-up vs fp32",
        "resident weights MiB",
        "memory ratio fp32 / this",
        "RSS growth MiB",
        "matmul energy estimate µJ / token",
    ];
    let rows = points
        .iter()
        .map(|p| {
            vec![
                format!("{}x{}", p.d_model, p.layers),
                format!("{:.1}", p.parameters as f64 / 1e6),
                p.tokens.to_string(),
                p.scheme.clone(),
                p.kernel.to_string(),
                p.threads.to_string(),
                format!("{:.2}", p.median_ms),
                format!("{:.2}", p.p95_ms),
                format!("{:.3}", p.ms_per_token()),
                or_dash(p.speedup_vs_fp32, ratio),
                mib(p.resident_weight_bytes),
                or_dash(p.memory_ratio_vs_fp32, |r| format!("{r:.1}")),
                or_dash(p.rss_growth_bytes, mib),
                or_dash(p.energy_estimate_pj_per_token, |pj| number(pj / 1e6)),
            ]
        })
        .collect();
    Table {
        headers: headers.iter().map(|h| h.to_string()).collect(),
        rows,
    }
}

/// The sections of a scaling report (after its title), in the benchmark template.
pub fn sections(data: &ReportData, charts: &[RenderedChart]) -> Vec<Section> {
    let points = scaling_points(data);
    let largest = points.iter().map(|p| (p.d_model, p.layers)).max();
    let baseline_energy = |p: &ScalingPoint| {
        points
            .iter()
            .find(|b| b.scheme == BASELINE_SCHEME && (b.d_model, b.layers) == (p.d_model, p.layers))
            .and_then(|b| b.energy_estimate_pj_per_token)
    };
    let bullets: Vec<String> = points
        .iter()
        .filter(|p| Some((p.d_model, p.layers)) == largest && p.scheme != BASELINE_SCHEME)
        .map(|p| {
            let energy = p.energy_estimate_pj_per_token.map_or(String::new(), |pj| {
                format!(
                    "; estimated matmul energy {:.2} µJ per token{}",
                    pj / 1e6,
                    baseline_energy(p).map_or(String::new(), |b| format!(
                        ", {:.1} times less than fp32",
                        b / pj
                    ))
                )
            });
            format!(
                "{}x{}, n={}: {} ({}) at {:.3} ms per token, {} fp32; weights {} MiB resident, \
                 {} times less than fp32{energy}",
                p.d_model,
                p.layers,
                p.tokens,
                p.scheme,
                p.kernel,
                p.ms_per_token(),
                or_dash(p.speedup_vs_fp32, ratio),
                mib(p.resident_weight_bytes),
                or_dash(p.memory_ratio_vs_fp32, |r| format!("{r:.1}")),
            )
        })
        .collect();
    let report = BenchReport {
        summary: format!(
            "{} timed points of `bitlab bench model`: for each model size, a stack of the \
             classifier's transformer blocks (RMSNorm before every linear layer, d_ff = 4 \
             d_model, 64-wide heads, flash attention) holds random weights in each scheme's \
             inference kernel and runs one sequence of n tokens (n = 1: decoding one token, the \
             matrix-vector path; larger n: a prefill). Embeddings and the classifier head are \
             left out. Every figure below is read from the results database.",
            points.len()
        ),
        bullets,
        environment_note: "Timings come from one machine and one run; compare schemes within \
             a run."
            .into(),
        charts_note: "Time per token against model width (the number of blocks grows with it; \
             see the table), one panel per token count, the bytes of weights each scheme keeps \
             resident, and the estimated matmul energy per token (see below). Markers are \
             medians, whiskers reach the p95."
            .into(),
        table_heading: "Timings and memory".into(),
        table_notes: vec![
            format!(
                "Speed-up = {BASELINE_SCHEME}'s median / this median at the same size and n in \
                 the same run. Resident weights = bytes the kernels hold (codes, scales, 16-bit \
                 copies); RSS growth = the process's resident set after building the stack \
                 minus before (measured, so libtorch's and the allocator's overheads show)."
            ),
            estimate_note(),
        ],
        table: scaling_table(&points),
    };
    bench_report::sections(data, charts, report)
}
