//! `bitlab bench model`: where 1.58 bits pay off as models grow (issue 6, item 7).
//!
//! For each model size (width, feed-forward width, blocks, heads) and each scheme, a stack of
//! the classifier's transformer blocks is built with random weights in that scheme's inference
//! kernel ([`PackedBlockStack`]; the values do not change the speed) and timed on one sequence
//! of `tokens` tokens: `tokens = 1` is the matrix-vector path of decoding one token, larger
//! counts the matrix-matrix path of a prefill. Reported per point: median and p95 ms per call,
//! ms per token, the bytes of weights the kernels keep resident, and the growth of the
//! process's resident set while the stack was built (measured, so allocator and libtorch
//! overheads show). Embeddings and the classifier head are left out: they do not grow with
//! depth and are not quantized.
use std::collections::hash_map::{Entry, HashMap};

use super::record::{record, stored_config};
use super::scheme::{random_packed, BenchedScheme};
use super::timing::{baseline_first, thread_pool, time_calls, TimingBudget};
use super::{Benchmark, PointTiming};
use crate::kernels::energy::matmul_energy_pj_per_token;
use crate::kernels::{Backend, KernelContext};
use crate::measure::current_rss;
use crate::measure::{median, percentile};
use crate::model::{PackedBlockStack, StackShape};
use crate::store::{ExperimentKind, MeasurementKind, MetricKey, ScalingTrialConfig, Store};
use crate::Result;
use serde::Serialize;
use tch::{Device, Kind, Tensor};

/// What to run.
#[derive(Debug, Clone, PartialEq)]
pub struct ScalingConfig {
    /// Model sizes, smallest first.
    pub sizes: Vec<StackShape>,
    /// Schemes (fp32 always runs first, as the ratios' baseline).
    pub schemes: Vec<BenchedScheme>,
    /// Tokens per call (1 = decoding one token).
    pub tokens: Vec<usize>,
    /// Threads (libtorch intra-op and the rayon pool alike).
    pub threads: usize,
    /// Untimed calls before timing.
    pub warmup: usize,
    /// Timed calls (fewer when one call takes longer than `max_seconds / repeats`).
    pub repeats: usize,
    /// Time budget per point, in seconds.
    pub max_seconds: f64,
    /// Instruction set of bitlab's kernels.
    pub backend: Backend,
}

/// `d_model x layers` with the classifier's proportions: `d_ff = 4 d_model`, 64-wide heads.
pub fn shape_of(d_model: usize, layers: usize) -> StackShape {
    StackShape {
        d_model,
        d_ff: 4 * d_model,
        layers,
        heads: (d_model / 64).max(1),
    }
}

impl ScalingConfig {
    /// Widths 512, 1024 and 2048 at 6, 12 and 24 blocks (the largest 1.2 billion weights),
    /// one token and a 128-token prefill, 2 threads, every scheme.
    pub fn full() -> Self {
        Self {
            sizes: vec![shape_of(512, 6), shape_of(1024, 12), shape_of(2048, 24)],
            schemes: BenchedScheme::ALL.to_vec(),
            tokens: vec![1, 128],
            threads: 2,
            warmup: 1,
            repeats: 5,
            max_seconds: 20.0,
            backend: Backend::detect(),
        }
    }

    /// Two tiny sizes for tests (well under a second per scheme).
    pub fn quick() -> Self {
        Self {
            sizes: vec![shape_of(64, 1), shape_of(128, 2)],
            tokens: vec![1, 4],
            threads: 1,
            repeats: 2,
            max_seconds: 0.5,
            ..Self::full()
        }
    }
}

/// One timed point.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ScalingPoint {
    /// Scheme name.
    pub scheme: &'static str,
    /// Kernel of the linear layers.
    pub kernel: String,
    /// Model width.
    pub d_model: usize,
    /// Feed-forward width.
    pub d_ff: usize,
    /// Blocks.
    pub layers: usize,
    /// Weights in the linear layers.
    pub parameters: usize,
    /// Tokens per call.
    pub tokens: usize,
    /// Threads.
    pub threads: usize,
    /// Median ms per call.
    pub median_ms: f64,
    /// 95th-percentile ms per call.
    pub p95_ms: f64,
    /// Timed calls.
    pub repeats: usize,
    /// Median ms per call / tokens.
    pub ms_per_token: f64,
    /// fp32's median / this median on the same point.
    pub speedup_vs_fp32: Option<f64>,
    /// Bytes of weights the kernels keep resident.
    pub resident_weight_bytes: usize,
    /// fp32's resident bytes / this scheme's at the same size.
    pub memory_ratio_vs_fp32: Option<f64>,
    /// Growth of the process's resident set while building the stack (`None` without /proc).
    pub rss_growth_bytes: Option<u64>,
    /// Estimated picojoules per token of the linear layers' arithmetic
    /// ([`crate::kernels::energy`]).
    pub energy_estimate_pj_per_token: f64,
}

/// Runs every point of `cfg`, one scheme's stack resident at a time; `progress` sees each
/// result as it is measured.
pub fn run_scaling_bench(
    cfg: &ScalingConfig,
    mut progress: impl FnMut(&ScalingPoint),
) -> Result<Vec<ScalingPoint>> {
    let schemes = baseline_first(&cfg.schemes);
    let pool = thread_pool(cfg.threads)?;
    let ctx = KernelContext {
        backend: cfg.backend,
        pool: &pool,
    };
    let mut results: Vec<ScalingPoint> = Vec::new();
    for &shape in &cfg.sizes {
        for &scheme in &schemes {
            let (d, ff) = (shape.d_model, shape.d_ff);
            let supported = [(3 * d, d), (d, d), (ff, d), (d, ff)]
                .iter()
                .all(|&(rows, cols)| scheme.supports(rows, cols));
            if !supported {
                continue;
            }
            let quantizer = scheme.quantizer()?;
            let rss_before = current_rss();
            // One packed random weight per layer shape; each layer loads its own resident copy.
            let mut packed_by_shape = HashMap::new();
            let stack = PackedBlockStack::random(shape, quantizer.clone(), |rows, cols| {
                let packed = match packed_by_shape.entry((rows, cols)) {
                    Entry::Occupied(entry) => entry.into_mut(),
                    Entry::Vacant(entry) => {
                        entry.insert(random_packed(quantizer.as_ref(), rows, cols)?)
                    }
                };
                scheme.load(quantizer.as_ref(), packed)
            })?;
            drop(packed_by_shape);
            let rss_growth_bytes = rss_before
                .zip(current_rss())
                .map(|(before, after)| after.saturating_sub(before));
            let resident_weight_bytes = stack.resident_bytes();
            let is_baseline = scheme == BenchedScheme::FP32;
            for &tokens in &cfg.tokens {
                let times = time_stack(cfg, &stack, shape.d_model, tokens, &ctx)?;
                let median_ms = median(&times);
                let baseline = results.iter().find(|p| {
                    p.scheme == BenchedScheme::FP32.label()
                        && (p.d_model, p.layers, p.tokens) == (shape.d_model, shape.layers, tokens)
                });
                let point = ScalingPoint {
                    scheme: scheme.label(),
                    kernel: stack.kernel_name(cfg.backend),
                    d_model: shape.d_model,
                    d_ff: shape.d_ff,
                    layers: shape.layers,
                    parameters: stack.parameters(),
                    tokens,
                    threads: cfg.threads,
                    median_ms,
                    p95_ms: percentile(&times, 0.95),
                    repeats: times.len(),
                    ms_per_token: median_ms / tokens as f64,
                    speedup_vs_fp32: baseline.map_or(is_baseline.then_some(1.0), |b| {
                        Some(b.median_ms / median_ms)
                    }),
                    resident_weight_bytes,
                    memory_ratio_vs_fp32: baseline.map_or(is_baseline.then_some(1.0), |b| {
                        Some(b.resident_weight_bytes as f64 / resident_weight_bytes as f64)
                    }),
                    rss_growth_bytes,
                    energy_estimate_pj_per_token: matmul_energy_pj_per_token(stack.kernels()),
                };
                progress(&point);
                results.push(point);
            }
        }
    }
    Ok(results)
}

/// Warm-up calls, then timed calls on one random sequence of `tokens` tokens, at least two
/// before the time budget can stop them.
fn time_stack(
    cfg: &ScalingConfig,
    stack: &PackedBlockStack,
    d_model: usize,
    tokens: usize,
    ctx: &KernelContext,
) -> Result<Vec<f64>> {
    let x = Tensor::randn(
        [1, tokens as i64, d_model as i64],
        (Kind::Float, Device::Cpu),
    );
    let budget = TimingBudget {
        warmup: cfg.warmup,
        repeats: cfg.repeats,
        max_seconds: cfg.max_seconds,
        min_repeats: 2,
    };
    time_calls(budget, |_| {
        drop(std::hint::black_box(stack.forward(&x, ctx)?));
        Ok(())
    })
}

/// Name of the experiment `bitlab bench model` records into.
pub const EXPERIMENT: &str = "model-scaling";

/// Stored as experiment [`EXPERIMENT`]: one trial per (scheme, size, threads) with a
/// [`ScalingTrialConfig`] (replaced on every run), one measurement of kind `stack_time` per
/// token count (`seq_len` = tokens, ms per call), and metrics `ms_per_token`,
/// `speedup_vs_fp32` and `memory_ratio_vs_fp32` with the token count as step.
impl Benchmark for ScalingConfig {
    type Point = ScalingPoint;
    const EXPERIMENT: &'static str = EXPERIMENT;
    const DESCRIPTION: &'static str = "model-size scaling: transformer block stacks of growing \
        size with random weights in each scheme's inference kernel (bitlab bench model)";
    const KIND: ExperimentKind = ExperimentKind::ModelScaling;
    const TIMING: MeasurementKind = MeasurementKind::StackTime;

    fn run(&self, progress: &mut dyn FnMut(&ScalingPoint)) -> Result<Vec<ScalingPoint>> {
        run_scaling_bench(self, progress)
    }

    fn trial_of(p: &ScalingPoint) -> (String, String) {
        let (scheme, d_model, layers, threads) = (p.scheme, p.d_model, p.layers, p.threads);
        (
            format!("stack-{scheme}-d{d_model}-l{layers}-t{threads}"),
            format!("{scheme} d{d_model}x{layers} {threads} thr"),
        )
    }

    fn trial_config(p: &ScalingPoint) -> Result<serde_json::Value> {
        stored_config(&ScalingTrialConfig {
            scheme: Some(p.scheme.into()),
            kernel: Some(p.kernel.clone()),
            d_model: Some(p.d_model as u64),
            d_ff: Some(p.d_ff as u64),
            layers: Some(p.layers as u64),
            threads: Some(p.threads as u64),
            parameters: Some(p.parameters as u64),
            resident_weight_bytes: Some(p.resident_weight_bytes as u64),
            rss_growth_bytes: p.rss_growth_bytes,
            energy_estimate_pj_per_token: Some(p.energy_estimate_pj_per_token),
        })
    }

    fn timing_of(p: &ScalingPoint) -> PointTiming<'_> {
        PointTiming {
            kernel: &p.kernel,
            tokens: p.tokens,
            median_ms: p.median_ms,
            p95_ms: p.p95_ms,
            repeats: p.repeats,
        }
    }

    fn metrics_of(p: &ScalingPoint) -> Vec<(MetricKey, Option<f64>)> {
        vec![
            (MetricKey::MsPerToken, Some(p.ms_per_token)),
            (MetricKey::SpeedupVsFp32, p.speedup_vs_fp32),
            (MetricKey::MemoryRatioVsFp32, p.memory_ratio_vs_fp32),
        ]
    }

    fn threads_of(p: &ScalingPoint) -> usize {
        p.threads
    }
}

/// Records `points` in `store` as experiment [`EXPERIMENT`] (see [`ScalingConfig`]'s
/// [`Benchmark`] implementation for what is stored).
pub fn record_scaling_results(store: &Store, points: &[ScalingPoint]) -> Result<()> {
    record::<ScalingConfig>(store, points)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quick_scaling_runs_every_scheme_and_relates_time_and_memory_to_fp32() {
        let cfg = ScalingConfig::quick();
        let points = run_scaling_bench(&cfg, |_| {}).unwrap();
        assert_eq!(
            points.len(),
            cfg.sizes.len() * BenchedScheme::ALL.len() * cfg.tokens.len()
        );
        for p in &points {
            assert!(p.median_ms > 0.0 && p.p95_ms >= p.median_ms, "{p:?}");
            assert_eq!(p.ms_per_token, p.median_ms / p.tokens as f64);
            // Four linear layers per block: 3d^2 + d^2 + 2 d d_ff weights.
            assert_eq!(
                p.parameters,
                p.layers * (4 * p.d_model * p.d_model + 2 * p.d_model * p.d_ff)
            );
            assert!(p.speedup_vs_fp32.is_some() && p.memory_ratio_vs_fp32.is_some());
        }
        let at = |scheme: &str| {
            points
                .iter()
                .find(|p| p.scheme == scheme && p.d_model == 128 && p.tokens == 1)
                .unwrap()
        };
        assert_eq!(at("fp32").resident_weight_bytes, 4 * at("fp32").parameters);
        assert_eq!(at("bf16").resident_weight_bytes, 2 * at("bf16").parameters);
        // 2 bits per weight plus one f32 scale per matrix (widths are whole 128-weight blocks).
        let ternary = at("ternary");
        assert_eq!(
            ternary.resident_weight_bytes,
            ternary.parameters / 4 + 4 * 4 * ternary.layers
        );
        assert!(ternary.memory_ratio_vs_fp32.unwrap() > 15.0);
        // Energy: fp32 MACs at 1.69 pJ, ternary int8 adds at 0.007 pJ per weight and token.
        let pj = |p: &ScalingPoint| p.energy_estimate_pj_per_token / p.parameters as f64;
        assert!((pj(at("fp32")) - 1.69).abs() < 1e-9, "{:?}", at("fp32"));
        assert!((pj(ternary) - 0.007).abs() < 1e-12, "{ternary:?}");
        assert!(ternary.kernel.starts_with("bitlab-ternary-2bit-"));
        assert!(at("int4").kernel.starts_with("libtorch-int4pack"));
        assert!(at("int8").kernel.starts_with("libtorch-int8pack"));
    }

    #[test]
    fn heads_must_divide_the_width() {
        let cfg = ScalingConfig {
            sizes: vec![StackShape {
                d_model: 64,
                d_ff: 128,
                layers: 1,
                heads: 3,
            }],
            ..ScalingConfig::quick()
        };
        let err = run_scaling_bench(&cfg, |_| {}).unwrap_err();
        assert!(err.to_string().contains("3 heads"), "{err}");
    }
}
