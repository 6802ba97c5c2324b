//! `bitlab bench kernels`: matrix-vector and matrix-matrix timings of the low-bit kernels
//! against libtorch fp32 on the same shapes, in the same run.
//!
//! For each weight shape `rows x cols` (`[out, in]`), token count `n` and thread count, every
//! scheme computes `y = x W^T` for `n` random f32 tokens through the same [`LinearKernel`] the
//! packed classifier runs (each [`BenchedScheme`] a registered quantizer's packed random weight,
//! loaded as inference loads it): fp32, bf16 and fp16 through libtorch in their own
//! dtype, int8 through libtorch's `_weight_int8pack_mm` and int4 (groups of 32) through
//! `_weight_int4pack_mm_for_cpu`, both with bf16 activations, ternary (BitNet b1.58, Ma et al.
//! 2024) through [`Ternary2Bit`](crate::kernels::Ternary2Bit) (2 bits per weight) and
//! [`Ternary1p6`](crate::kernels::Ternary1p6) (base 3, 1.6 bits per weight). Times include
//! converting the activations to the kernel's input (bf16, or int8 per token for ternary).
//! Reported: median and p95 milliseconds, GFLOP/s (`2 rows cols n / time`), effective weight
//! GB/s (bytes of the weight matrix / time) and the ratio of fp32's median to this one.
//!
//! Cache honesty: each scheme cycles through enough copies of its weight matrix that their
//! total exceeds `rotate_bytes` (default 64 MiB, twice this machine class's 32 MiB L3), so a
//! repeat does not find the previous repeat's weights in the cache; each result says whether
//! its working set exceeds the last-level cache (`dram`) or not (`cache`).
use super::record::{record, stored_config};
use super::scheme::{random_packed, BenchedScheme};
use super::timing::{baseline_first, thread_pool, time_calls, TimingBudget};
use super::{Benchmark, PointTiming};
use crate::kernels::{Backend, KernelContext, LinearKernel};
use crate::measure::{median, percentile};
use crate::store::{ExperimentKind, KernelBenchTrialConfig, MeasurementKind, MetricKey, Store};
use crate::Result;
use serde::Serialize;
use tch::{Device, Kind, Tensor};

/// What to run.
#[derive(Debug, Clone, PartialEq)]
pub struct BenchConfig {
    /// Weight shapes `(rows, cols)` = `[out, in]`.
    pub shapes: Vec<(usize, usize)>,
    /// Tokens per call (1 = matrix-vector).
    pub tokens: Vec<usize>,
    /// Thread counts (libtorch intra-op threads and the rayon pool alike).
    pub threads: Vec<usize>,
    /// Schemes to run (fp32 always runs first, as the ratio's baseline).
    pub schemes: Vec<BenchedScheme>,
    /// Untimed calls before timing.
    pub warmup: usize,
    /// Timed calls (fewer when one call takes longer than `max_seconds / repeats`).
    pub repeats: usize,
    /// Time budget per (scheme, shape, tokens, threads) point, in seconds.
    pub max_seconds: f64,
    /// Minimum total bytes of rotated weight copies (see the module docs).
    pub rotate_bytes: usize,
    /// Largest working set that still counts as cache-resident (the last-level cache).
    pub cache_bytes: usize,
    /// Backend of the ternary kernel.
    pub backend: Backend,
}

impl BenchConfig {
    /// The shapes, n = 1, 8, 128, 512, 1 and 2 threads, every scheme.
    pub fn full() -> Self {
        Self {
            shapes: vec![
                (2048, 2048),
                (4096, 4096),
                (4096, 11008),
                (11008, 4096),
                (4096, 14336),
            ],
            tokens: vec![1, 8, 128, 512],
            threads: vec![1, 2],
            schemes: BenchedScheme::ALL.to_vec(),
            warmup: 2,
            repeats: 20,
            max_seconds: 3.0,
            rotate_bytes: 64 << 20,
            cache_bytes: last_level_cache_bytes().unwrap_or(32 << 20),
            backend: Backend::detect(),
        }
    }

    /// Small shapes for tests and smoke runs (seconds in total); K = 320 is not a whole number
    /// of the ternary kernel's 128-weight blocks, so the remainder path runs too.
    pub fn quick() -> Self {
        Self {
            shapes: vec![(256, 320)],
            tokens: vec![1, 8],
            threads: vec![1],
            warmup: 1,
            repeats: 3,
            max_seconds: 0.5,
            rotate_bytes: 1 << 20,
            ..Self::full()
        }
    }
}

/// One timed point.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct KernelTiming {
    /// Scheme name.
    pub scheme: &'static str,
    /// Kernel that ran.
    pub kernel: String,
    /// Output features.
    pub rows: usize,
    /// Input features.
    pub cols: usize,
    /// Tokens per call.
    pub tokens: usize,
    /// Threads.
    pub threads: usize,
    /// Median milliseconds per call.
    pub median_ms: f64,
    /// 95th-percentile milliseconds.
    pub p95_ms: f64,
    /// Timed calls.
    pub repeats: usize,
    /// `2 rows cols tokens / median`, in GFLOP/s.
    pub gflops: f64,
    /// Bytes of one weight matrix / median, in GB/s.
    pub weight_gbps: f64,
    /// fp32's median / this median on the same point (`None` when fp32 did not run).
    pub speedup_vs_fp32: Option<f64>,
    /// Weight copies cycled through.
    pub copies: usize,
    /// `dram` when the copies exceed the last-level cache, else `cache`.
    pub residency: &'static str,
}

/// Runs every point of `cfg`; `progress` sees each result as it is measured.
pub fn run_kernel_bench(
    cfg: &BenchConfig,
    mut progress: impl FnMut(&KernelTiming),
) -> Result<Vec<KernelTiming>> {
    let schemes = baseline_first(&cfg.schemes);
    let mut results = Vec::new();
    for &(rows, cols) in &cfg.shapes {
        for &scheme in schemes.iter().filter(|s| s.supports(rows, cols)) {
            // One random weight, packed once; each copy loads it into its own resident memory.
            let quantizer = scheme.quantizer()?;
            let packed = random_packed(quantizer.as_ref(), rows, cols)?;
            let first = scheme.load(quantizer.as_ref(), &packed)?;
            let bytes = first.resident_bytes();
            let copies = cfg.rotate_bytes.div_ceil(bytes).clamp(1, 64);
            let mut weights = vec![first];
            for _ in 1..copies {
                weights.push(scheme.load(quantizer.as_ref(), &packed)?);
            }
            let residency = if copies * bytes > cfg.cache_bytes {
                "dram"
            } else {
                "cache"
            };
            for &threads in &cfg.threads {
                let pool = thread_pool(threads)?;
                for &n in &cfg.tokens {
                    let ctx = KernelContext {
                        backend: cfg.backend,
                        pool: &pool,
                    };
                    let times = time_point(cfg, &weights, cols, n, &ctx)?;
                    let median_ms = median(&times);
                    let baseline = results.iter().find(|t: &&KernelTiming| {
                        t.scheme == "fp32"
                            && (t.rows, t.cols, t.tokens, t.threads) == (rows, cols, n, threads)
                    });
                    let timing = KernelTiming {
                        scheme: scheme.label(),
                        kernel: weights[0].kernel_name(cfg.backend),
                        rows,
                        cols,
                        tokens: n,
                        threads,
                        median_ms,
                        p95_ms: percentile(&times, 0.95),
                        repeats: times.len(),
                        gflops: 2.0 * (rows * cols * n) as f64 / (median_ms * 1e6),
                        weight_gbps: bytes as f64 / (median_ms * 1e6),
                        speedup_vs_fp32: if scheme == BenchedScheme::FP32 {
                            Some(1.0)
                        } else {
                            baseline.map(|b| b.median_ms / median_ms)
                        },
                        copies,
                        residency,
                    };
                    progress(&timing);
                    results.push(timing);
                }
            }
        }
    }
    Ok(results)
}

/// Times one point: warm-up calls (at least one), then repeats cycling through the weight
/// copies, at least three before the time budget can stop them.
fn time_point(
    cfg: &BenchConfig,
    weights: &[Box<dyn LinearKernel>],
    cols: usize,
    n: usize,
    ctx: &KernelContext,
) -> Result<Vec<f64>> {
    let x = Tensor::randn([n as i64, cols as i64], (Kind::Float, Device::Cpu));
    let budget = TimingBudget {
        warmup: cfg.warmup.max(1),
        repeats: cfg.repeats,
        max_seconds: cfg.max_seconds,
        min_repeats: 3,
    };
    time_calls(budget, |i| {
        drop(std::hint::black_box(
            weights[i % weights.len()].forward(&x, ctx)?,
        ));
        Ok(())
    })
}

/// Size of the last-level cache from sysfs (Linux), if readable.
pub fn last_level_cache_bytes() -> Option<usize> {
    let dir = std::path::Path::new("/sys/devices/system/cpu/cpu0/cache");
    let mut best = None;
    for entry in std::fs::read_dir(dir).ok()? {
        let size = std::fs::read_to_string(entry.ok()?.path().join("size")).ok()?;
        let size = size.trim();
        let bytes = if let Some(k) = size.strip_suffix('K') {
            k.parse::<usize>().ok()? << 10
        } else if let Some(m) = size.strip_suffix('M') {
            m.parse::<usize>().ok()? << 20
        } else {
            size.parse().ok()?
        };
        best = best.max(Some(bytes));
    }
    best
}

/// Name of the experiment `bitlab bench kernels` records into.
pub const EXPERIMENT: &str = "kernels";

/// Stored as experiment [`EXPERIMENT`]: one trial per (scheme, shape, threads) with a
/// [`KernelBenchTrialConfig`] (replaced on every run), one `kernel_time` measurement per token
/// count (`seq_len` = tokens per call), and `gflops`, `weight_gbps` and `speedup_vs_fp32`
/// metrics with the token count as their step.
impl Benchmark for BenchConfig {
    type Point = KernelTiming;
    const EXPERIMENT: &'static str = EXPERIMENT;
    const DESCRIPTION: &'static str = "matmul kernel benchmark (bitlab bench kernels)";
    const KIND: ExperimentKind = ExperimentKind::KernelBench;
    const TIMING: MeasurementKind = MeasurementKind::KernelTime;

    fn run(&self, progress: &mut dyn FnMut(&KernelTiming)) -> Result<Vec<KernelTiming>> {
        run_kernel_bench(self, progress)
    }

    fn trial_of(p: &KernelTiming) -> (String, String) {
        let (scheme, rows, cols, threads) = (p.scheme, p.rows, p.cols, p.threads);
        (
            format!("kernel-{scheme}-{rows}x{cols}-t{threads}"),
            format!("{scheme} {rows}x{cols} {threads} thr"),
        )
    }

    fn trial_config(p: &KernelTiming) -> Result<serde_json::Value> {
        stored_config(&KernelBenchTrialConfig {
            scheme: Some(p.scheme.into()),
            rows: Some(p.rows as u64),
            cols: Some(p.cols as u64),
            threads: Some(p.threads as u64),
            kernel: Some(p.kernel.clone()),
            residency: Some(p.residency.into()),
            copies: Some(p.copies as u64),
        })
    }

    fn timing_of(p: &KernelTiming) -> PointTiming<'_> {
        PointTiming {
            kernel: &p.kernel,
            tokens: p.tokens,
            median_ms: p.median_ms,
            p95_ms: p.p95_ms,
            repeats: p.repeats,
        }
    }

    fn metrics_of(p: &KernelTiming) -> Vec<(MetricKey, Option<f64>)> {
        vec![
            (MetricKey::Gflops, Some(p.gflops)),
            (MetricKey::WeightGbps, Some(p.weight_gbps)),
            (MetricKey::SpeedupVsFp32, p.speedup_vs_fp32),
        ]
    }

    fn threads_of(p: &KernelTiming) -> usize {
        p.threads
    }
}

/// Records `results` in `store` as experiment [`EXPERIMENT`] (see [`BenchConfig`]'s
/// [`Benchmark`] implementation for what is stored).
pub fn record_kernel_results(store: &Store, results: &[KernelTiming]) -> Result<()> {
    record::<BenchConfig>(store, results)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quick_bench_runs_every_scheme_and_relates_to_fp32() {
        let results = run_kernel_bench(&BenchConfig::quick(), |_| {}).unwrap();
        assert_eq!(results.len(), BenchedScheme::ALL.len() * 2);
        for r in &results {
            assert!(
                r.median_ms > 0.0 && r.p95_ms >= r.median_ms && r.gflops > 0.0,
                "{r:?}"
            );
            assert!(r.speedup_vs_fp32.is_some());
            assert_eq!(r.residency, "cache");
        }
        for prefix in ["bitlab-ternary-2bit-", "bitlab-ternary-1.6bit-"] {
            assert!(results.iter().any(|r| r.kernel.starts_with(prefix)));
        }
    }

    /// A timed point of `scheme` at `tokens` tokens (shape 64x128, one thread).
    fn point(scheme: &'static str, kernel: &str, tokens: usize, median_ms: f64) -> KernelTiming {
        KernelTiming {
            scheme,
            kernel: kernel.into(),
            rows: 64,
            cols: 128,
            tokens,
            threads: 1,
            median_ms,
            p95_ms: median_ms * 1.5,
            repeats: 3,
            gflops: 1.0 / median_ms,
            weight_gbps: 2.0 / median_ms,
            speedup_vs_fp32: (scheme != "fp32").then_some(4.0),
            copies: 2,
            residency: "cache",
        }
    }

    #[test]
    fn points_are_recorded_as_one_trial_per_configuration_with_typed_records() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("r.db")).unwrap();
        let points = [
            point("fp32", "libtorch-fp32", 1, 2.0),
            point("fp32", "libtorch-fp32", 8, 4.0),
            point("ternary", "bitlab-ternary-2bit-avx2", 1, 0.5),
        ];
        record_kernel_results(&store, &points).unwrap();
        let experiments = store.experiments().unwrap();
        assert_eq!(
            (experiments[0].name.as_str(), experiments[0].kind),
            (EXPERIMENT, ExperimentKind::KernelBench)
        );
        let trials = store.trials(EXPERIMENT).unwrap();
        let hashes: Vec<&str> = trials.iter().map(|t| t.hash.as_str()).collect();
        assert_eq!(
            hashes,
            ["kernel-fp32-64x128-t1", "kernel-ternary-64x128-t1"]
        );
        let fp32 = &trials[0];
        let config = fp32.kernel_bench_config();
        assert_eq!(
            (config.scheme.as_deref(), config.rows, config.copies),
            (Some("fp32"), Some(64), Some(2))
        );
        let timings: Vec<(MeasurementKind, i64, f64)> = fp32
            .measurements
            .iter()
            .map(|m| (m.kind, m.seq_len, m.median))
            .collect();
        assert_eq!(
            timings,
            [
                (MeasurementKind::KernelTime, 1, 2.0),
                (MeasurementKind::KernelTime, 8, 4.0)
            ]
        );
        assert_eq!(fp32.metric_at(MetricKey::Gflops, 8), Some(0.25));
        assert_eq!(
            fp32.metric_at(MetricKey::SpeedupVsFp32, 1),
            None,
            "no value, no row"
        );
        let ternary = &trials[1];
        assert_eq!(ternary.metric_at(MetricKey::SpeedupVsFp32, 1), Some(4.0));
        assert_eq!(
            ternary.measurements[0].kernel.backend,
            Some(crate::store::KernelBackend::Avx2)
        );
    }
}
