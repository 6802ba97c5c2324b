//! `bitlab bench kernels`: matrix-vector and matrix-matrix timings of the low-bit kernels
//! against libtorch fp32 on the same shapes, in the same run.
//!
//! For each weight shape `rows x cols` (`[out, in]`), token count `n` and thread count, every
//! scheme computes `y = x W^T` for `n` random f32 tokens through the same [`LinearKernel`] the
//! packed classifier runs: fp32, bf16 and fp16 through libtorch in their own dtype, int8
//! through libtorch's `_weight_int8pack_mm` and int4 (groups of 32) through
//! `_weight_int4pack_mm_for_cpu`, both with bf16 activations, ternary through [`Ternary2Bit`]
//! (2 bits per weight) and [`Ternary1p6`] (base 3, 1.6 bits per weight). Times include
//! converting the activations to the kernel's input (bf16, or int8 per token for ternary).
//! Reported: median and p95 milliseconds, GFLOP/s (`2 rows cols n / time`), effective weight
//! GB/s (bytes of the weight matrix / time) and the ratio of fp32's median to this one.
//!
//! Cache honesty: each scheme cycles through enough copies of its weight matrix that their
//! total exceeds `rotate_bytes` (default 64 MiB, twice this machine class's 32 MiB L3), so a
//! repeat does not find the previous repeat's weights in the cache; each result says whether
//! its working set exceeds the last-level cache (`dram`) or not (`cache`).
use super::{
    Backend, KernelContext, LinearKernel, Ternary1p6, Ternary2Bit, TorchDense, TorchInt4Pack,
    TorchInt8Pack,
};
use crate::measure::bench_record::{record_bench_run, timing, BenchTrial};
use crate::measure::{median, percentile};
use crate::store::{ExperimentKind, KernelBenchTrialConfig, MeasurementKind, MetricKey, Store};
use crate::{Error, Result};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::Serialize;
use std::time::Instant;
use tch::{Device, Kind, Tensor};

/// A matmul implementation under test.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum BenchScheme {
    /// libtorch fp32 `linear` (the baseline).
    Fp32,
    /// libtorch bf16 matmul, bf16 activations.
    Bf16,
    /// libtorch fp16 matmul, fp16 activations.
    Fp16,
    /// libtorch `_weight_int8pack_mm`: int8 weights, per-row bf16 scales, bf16 activations.
    Int8,
    /// libtorch `_weight_int4pack_mm_for_cpu`: int4 weights in groups of [`INT4_GROUP`],
    /// bf16 activations.
    Int4,
    /// bitlab's 2-bit ternary kernel, int8 per-token activations.
    Ternary2Bit,
    /// bitlab's 1.6-bit base-3 ternary kernel (ggml TQ1_0's trit encoding), int8 per-token
    /// activations.
    Ternary1p6,
}

impl BenchScheme {
    /// Every scheme, baseline first.
    pub const ALL: [BenchScheme; 7] = [
        Self::Fp32,
        Self::Bf16,
        Self::Fp16,
        Self::Int8,
        Self::Int4,
        Self::Ternary2Bit,
        Self::Ternary1p6,
    ];

    /// Short scheme name (`fp32`, `bf16`, `fp16`, `int8`, `int4`, `ternary`, `ternary-1.6bit`).
    pub fn name(self) -> &'static str {
        match self {
            Self::Fp32 => "fp32",
            Self::Bf16 => "bf16",
            Self::Fp16 => "fp16",
            Self::Int8 => "int8",
            Self::Int4 => "int4",
            Self::Ternary2Bit => "ternary",
            Self::Ternary1p6 => "ternary-1.6bit",
        }
    }

    /// The registered quantizer whose activation quantization runs before this kernel (the
    /// 1.6-bit layout holds the same `ternary` weights).
    pub fn quantizer_name(self) -> &'static str {
        match self {
            Self::Ternary2Bit | Self::Ternary1p6 => "ternary",
            other => other.name(),
        }
    }

    /// Whether this scheme's kernel runs a `[rows, cols]` weight (libtorch's int8 and int4
    /// kernels need K and N in whole tiles: [`TorchInt8Pack::supports`],
    /// [`TorchInt4Pack::supports`]).
    pub fn supports(self, rows: usize, cols: usize) -> bool {
        match self {
            Self::Int8 => TorchInt8Pack::supports(rows, cols),
            Self::Int4 => TorchInt4Pack::supports(rows, cols, INT4_GROUP),
            _ => true,
        }
    }

    /// A `rows x cols` weight of random values in this scheme's kernel (the values do not
    /// change the speed).
    pub fn random_kernel(
        self,
        rows: usize,
        cols: usize,
        seed: u64,
    ) -> Result<Box<dyn LinearKernel>> {
        let dense = |kind: Kind| -> Result<Box<dyn LinearKernel>> {
            let w = Tensor::randn([rows as i64, cols as i64], (Kind::Float, Device::Cpu)) * 0.02;
            Ok(Box::new(TorchDense::new(&w, kind)?))
        };
        Ok(match self {
            Self::Fp32 => dense(Kind::Float)?,
            Self::Bf16 => dense(Kind::BFloat16)?,
            Self::Fp16 => dense(Kind::Half)?,
            Self::Int8 => Box::new(TorchInt8Pack::random(rows, cols, seed)?),
            Self::Int4 => Box::new(TorchInt4Pack::random(rows, cols, INT4_GROUP, seed)?),
            Self::Ternary2Bit => Box::new(Ternary2Bit::random(rows, cols, seed)?),
            Self::Ternary1p6 => Box::new(Ternary1p6::random(rows, cols, seed)?),
        })
    }
}

/// Weights per int4 group in the benchmark (ggml's q4_0 and ANCHORS.md's int4 figures use 32).
pub const INT4_GROUP: usize = 32;

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
    pub schemes: Vec<BenchScheme>,
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
            schemes: BenchScheme::ALL.to_vec(),
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
    let mut schemes = vec![BenchScheme::Fp32];
    schemes.extend(
        cfg.schemes
            .iter()
            .copied()
            .filter(|&s| s != BenchScheme::Fp32),
    );
    let mut results = Vec::new();
    for &(rows, cols) in &cfg.shapes {
        for &scheme in schemes.iter().filter(|s| s.supports(rows, cols)) {
            let first = scheme.random_kernel(rows, cols, 0)?;
            let bytes = first.resident_bytes();
            let copies = cfg.rotate_bytes.div_ceil(bytes).clamp(1, 64);
            let mut weights = vec![first];
            for i in 1..copies {
                weights.push(scheme.random_kernel(rows, cols, i as u64)?);
            }
            let residency = if copies * bytes > cfg.cache_bytes {
                "dram"
            } else {
                "cache"
            };
            for &threads in &cfg.threads {
                let pool = rayon::ThreadPoolBuilder::new()
                    .num_threads(threads.max(1))
                    .build()
                    .map_err(|e| Error::Invalid(format!("cannot start {threads} threads: {e}")))?;
                tch::set_num_threads(threads.max(1) as i32);
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
                        scheme: scheme.name(),
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
                        speedup_vs_fp32: if scheme == BenchScheme::Fp32 {
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

/// Times one point: warm-up calls, then repeats cycling through the weight copies.
fn time_point(
    cfg: &BenchConfig,
    weights: &[Box<dyn LinearKernel>],
    cols: usize,
    n: usize,
    ctx: &KernelContext,
) -> Result<Vec<f64>> {
    let x = Tensor::randn([n as i64, cols as i64], (Kind::Float, Device::Cpu));
    let call = |w: &dyn LinearKernel| -> Result<()> {
        drop(std::hint::black_box(w.forward(&x, ctx)?));
        Ok(())
    };
    for i in 0..cfg.warmup.max(1) {
        call(weights[i % weights.len()].as_ref())?;
    }
    let started = Instant::now();
    let mut times = Vec::with_capacity(cfg.repeats);
    for i in 0..cfg.repeats.max(1) {
        let start = Instant::now();
        call(weights[i % weights.len()].as_ref())?;
        times.push(start.elapsed().as_secs_f64() * 1e3);
        if i >= 2 && started.elapsed().as_secs_f64() > cfg.max_seconds {
            break;
        }
    }
    Ok(times)
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

impl Ternary2Bit {
    /// A `rows x cols` matrix of uniformly random codes (for benchmarks: the values do not
    /// change the speed), scale 1.
    pub fn random(rows: usize, cols: usize, seed: u64) -> Result<Self> {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let codes: Vec<i8> = (0..rows * cols)
            .map(|_| rng.random_range(-1i8..=1))
            .collect();
        Ternary2Bit::from_codes(&codes, rows, cols, 1.0)
    }
}

impl Ternary1p6 {
    /// A `rows x cols` matrix of uniformly random codes (for benchmarks: the values do not
    /// change the speed), scale 1.
    pub fn random(rows: usize, cols: usize, seed: u64) -> Result<Self> {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let codes: Vec<i8> = (0..rows * cols)
            .map(|_| rng.random_range(-1i8..=1))
            .collect();
        Ternary1p6::from_codes(&codes, rows, cols, 1.0)
    }
}

/// Name of the experiment `bitlab bench kernels` records into.
pub const EXPERIMENT: &str = "kernels";

/// Records `results` in `store` as experiment [`EXPERIMENT`]: one trial per (scheme, shape,
/// threads) with `config` = `{"scheme", "rows", "cols", "threads", "kernel", "residency",
/// "copies"}` (replaced on every run), one `kernel_time` measurement per token count (`seq_len`
/// = tokens per call), and `gflops`, `weight_gbps` and `speedup_vs_fp32` metrics with the token
/// count as their step.
pub fn record_kernel_results(store: &Store, results: &[KernelTiming]) -> Result<()> {
    let key = |r: &KernelTiming| (r.scheme, r.rows, r.cols, r.threads);
    let mut keys: Vec<_> = results.iter().map(key).collect();
    keys.dedup();
    let trials: Vec<BenchTrial> = keys
        .into_iter()
        .map(|k| {
            let points: Vec<&KernelTiming> = results.iter().filter(|r| key(r) == k).collect();
            let (scheme, rows, cols, threads) = k;
            let mut trial = BenchTrial::new(
                format!("kernel-{scheme}-{rows}x{cols}-t{threads}"),
                format!("{scheme} {rows}x{cols} {threads} thr"),
                KernelBenchTrialConfig {
                    scheme: Some(scheme.into()),
                    rows: Some(rows as u64),
                    cols: Some(cols as u64),
                    threads: Some(threads as u64),
                    kernel: Some(points[0].kernel.clone()),
                    residency: Some(points[0].residency.into()),
                    copies: Some(points[0].copies as u64),
                },
            )?;
            for p in &points {
                trial.add_point(
                    timing(
                        MeasurementKind::KernelTime,
                        &p.kernel,
                        p.tokens,
                        p.median_ms,
                        p.p95_ms,
                        p.repeats,
                    ),
                    &[
                        (MetricKey::Gflops, Some(p.gflops)),
                        (MetricKey::WeightGbps, Some(p.weight_gbps)),
                        (MetricKey::SpeedupVsFp32, p.speedup_vs_fp32),
                    ],
                );
            }
            Ok(trial)
        })
        .collect::<Result<_>>()?;
    let threads = results.iter().map(|r| r.threads).max().unwrap_or(1);
    record_bench_run(
        store,
        EXPERIMENT,
        ExperimentKind::KernelBench,
        "matmul kernel benchmark (bitlab bench kernels)",
        threads,
        &trials,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quick_bench_runs_every_scheme_and_relates_to_fp32() {
        let results = run_kernel_bench(&BenchConfig::quick(), |_| {}).unwrap();
        assert_eq!(results.len(), BenchScheme::ALL.len() * 2);
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
}
