//! `bitlab bench kernels`: times the matmul kernels (see [`bitlab::bench::kernel_bench`]),
//! prints a table and records every point in the results database as experiment `kernels`.
//! `bitlab bench model`: times block stacks of growing size per scheme (see
//! [`bitlab::bench::model_scaling`]) and records them as experiment `model-scaling`.
use bitlab::bench::kernel_bench::{record_kernel_results, run_kernel_bench, BenchConfig};
use bitlab::store::Store;
use std::path::PathBuf;

/// What to benchmark.
#[derive(Debug, clap::Subcommand)]
pub enum BenchCommand {
    /// Matrix-vector and matrix-matrix kernels: fp32, bf16, fp16, int8, int4 (libtorch) and
    /// ternary at 2 and 1.6 bits per weight (bitlab).
    Kernels(KernelsArgs),
    /// Model-size scaling: ms per token and resident weight memory of transformer block stacks
    /// of growing size, per scheme.
    Model(ModelArgs),
}

/// Arguments of `bitlab bench model`.
#[derive(Debug, clap::Args)]
pub struct ModelArgs {
    /// Two tiny sizes only (seconds; for tests and smoke runs).
    #[arg(long)]
    quick: bool,
    /// Sizes as D_MODELxLAYERS, comma-separated (d_ff = 4 d_model, 64-wide heads); default
    /// 512x6,1024x12,2048x24.
    #[arg(long, value_delimiter = ',')]
    sizes: Vec<String>,
    /// Tokens per call, comma-separated (1 = decoding one token); default 1,128.
    #[arg(long, value_delimiter = ',')]
    tokens: Vec<usize>,
    /// Threads (default 2).
    #[arg(long)]
    threads: Option<usize>,
    /// Schemes, comma-separated (as for `bench kernels`; fp32 always runs as the baseline).
    #[arg(long, value_delimiter = ',')]
    schemes: Vec<String>,
    /// Timed calls per point.
    #[arg(long)]
    repeats: Option<usize>,
    /// Do not record the results in the database.
    #[arg(long)]
    no_store: bool,
    #[command(flatten)]
    db: super::DbArgs,
}

/// Arguments of `bitlab bench kernels`.
#[derive(Debug, clap::Args)]
pub struct KernelsArgs {
    /// Small shapes only (seconds; for tests and smoke runs).
    #[arg(long)]
    quick: bool,
    /// Weight shapes as ROWSxCOLS (`[out, in]`), comma-separated; default: the five.
    #[arg(long, value_delimiter = ',')]
    shapes: Vec<String>,
    /// Tokens per call, comma-separated (1 = matrix-vector).
    #[arg(long, value_delimiter = ',')]
    tokens: Vec<usize>,
    /// Thread counts, comma-separated.
    #[arg(long, value_delimiter = ',')]
    threads: Vec<usize>,
    /// Schemes, comma-separated: fp32, bf16, fp16, int8, int4, ternary (2-bit), ternary-1.6bit
    /// (fp32 always runs as the baseline).
    #[arg(long, value_delimiter = ',')]
    schemes: Vec<String>,
    /// Timed calls per point.
    #[arg(long)]
    repeats: Option<usize>,
    /// Minimum MiB of rotated weight copies per scheme (0: one copy, so small matrices are
    /// measured from the cache; default 64, twice a 32 MiB L3).
    #[arg(long)]
    rotate_mib: Option<usize>,
    /// Force the portable ternary kernels even where AVX2 is available.
    #[arg(long)]
    portable: bool,
    /// Do not record the results in the database.
    #[arg(long)]
    no_store: bool,
    #[command(flatten)]
    db: super::DbArgs,
}

/// Runs `bitlab bench ...`.
pub fn run(command: BenchCommand) -> bitlab::Result<()> {
    match command {
        BenchCommand::Kernels(args) => run_kernels(args),
        BenchCommand::Model(args) => run_model(args),
    }
}

fn run_model(args: ModelArgs) -> bitlab::Result<()> {
    use bitlab::bench::model_scaling::{
        record_scaling_results, run_scaling_bench, shape_of, ScalingConfig, EXPERIMENT,
    };
    let mut cfg = if args.quick {
        ScalingConfig::quick()
    } else {
        ScalingConfig::full()
    };
    if !args.sizes.is_empty() {
        cfg.sizes = args
            .sizes
            .iter()
            .map(|s| {
                parse_pair(s, "--sizes", "2048x24")
                    .map(|(d_model, layers)| shape_of(d_model, layers))
            })
            .collect::<bitlab::Result<_>>()?;
    }
    if !args.tokens.is_empty() {
        cfg.tokens = args.tokens.clone();
    }
    if let Some(threads) = args.threads {
        cfg.threads = threads;
    }
    if !args.schemes.is_empty() {
        cfg.schemes = parse_schemes(&args.schemes)?;
    }
    if let Some(repeats) = args.repeats {
        cfg.repeats = repeats;
    }
    println!(
        "{:<14} {:<28} {:>10} {:>13} {:>5} {:>11} {:>10} {:>8} {:>11} {:>8} {:>14}",
        "scheme",
        "kernel",
        "d x layers",
        "weights",
        "n",
        "median ms",
        "ms/token",
        "x fp32",
        "weight MiB",
        "mem x",
        "uJ/token (est)"
    );
    let results = run_scaling_bench(&cfg, |p| {
        println!(
            "{:<14} {:<28} {:>10} {:>13} {:>5} {:>11.2} {:>10.3} {:>8} {:>11.1} {:>8} {:>14.3}",
            p.scheme,
            p.kernel,
            format!("{}x{}", p.d_model, p.layers),
            p.parameters,
            p.tokens,
            p.median_ms,
            p.ms_per_token,
            p.speedup_vs_fp32
                .map_or_else(|| "-".into(), |r| format!("{r:.2}")),
            p.resident_weight_bytes as f64 / (1 << 20) as f64,
            p.memory_ratio_vs_fp32
                .map_or_else(|| "-".into(), |r| format!("{r:.1}")),
            p.energy_estimate_pj_per_token / 1e6,
        );
    })?;
    if !args.no_store {
        let store = open_store(&args.db.db)?;
        record_scaling_results(&store, &results)?;
        println!(
            "recorded in {} (experiment `{EXPERIMENT}`); render it with `bitlab report {EXPERIMENT}`",
            args.db.db.display()
        );
    }
    Ok(())
}

/// Parses `--schemes` names against the benchmark's schemes.
fn parse_schemes(names: &[String]) -> bitlab::Result<Vec<bitlab::bench::scheme::BenchedScheme>> {
    use bitlab::bench::scheme::BenchedScheme;
    names
        .iter()
        .map(|name| {
            BenchedScheme::from_label(name.trim()).ok_or_else(|| {
                let known: Vec<&str> = BenchedScheme::ALL.iter().map(|s| s.label()).collect();
                bitlab::Error::Invalid(format!(
                    "--schemes {name}: unknown; use one of {}",
                    known.join(", ")
                ))
            })
        })
        .collect()
}

/// Opens (creating its folder) the results database at `db`.
fn open_store(db: &std::path::Path) -> bitlab::Result<Store> {
    if let Some(dir) = db.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(|e| bitlab::Error::io(dir, e))?;
    }
    Store::open(&PathBuf::from(db))
}

fn run_kernels(args: KernelsArgs) -> bitlab::Result<()> {
    let mut cfg = if args.quick {
        BenchConfig::quick()
    } else {
        BenchConfig::full()
    };
    if !args.shapes.is_empty() {
        cfg.shapes = args
            .shapes
            .iter()
            .map(|s| parse_pair(s, "--shapes", "4096x14336"))
            .collect::<bitlab::Result<_>>()?;
    }
    if !args.tokens.is_empty() {
        cfg.tokens = args.tokens.clone();
    }
    if !args.threads.is_empty() {
        cfg.threads = args.threads.clone();
    }
    if !args.schemes.is_empty() {
        cfg.schemes = parse_schemes(&args.schemes)?;
    }
    if let Some(repeats) = args.repeats {
        cfg.repeats = repeats;
    }
    if let Some(mib) = args.rotate_mib {
        cfg.rotate_bytes = mib << 20;
    }
    if args.portable {
        cfg.backend = bitlab::kernels::Backend::Portable;
    }
    println!(
        "{:<14} {:<30} {:>12} {:>4} {:>3} {:>10} {:>10} {:>8} {:>8} {:>8} {:>9}",
        "scheme",
        "kernel",
        "shape",
        "n",
        "thr",
        "median ms",
        "p95 ms",
        "GFLOP/s",
        "GB/s",
        "x fp32",
        "weights"
    );
    let results = run_kernel_bench(&cfg, |t| {
        println!(
            "{:<14} {:<30} {:>12} {:>4} {:>3} {:>10.3} {:>10.3} {:>8.1} {:>8.2} {:>8} {:>5}x{:<3}",
            t.scheme,
            t.kernel,
            format!("{}x{}", t.rows, t.cols),
            t.tokens,
            t.threads,
            t.median_ms,
            t.p95_ms,
            t.gflops,
            t.weight_gbps,
            t.speedup_vs_fp32
                .map_or_else(|| "-".into(), |r| format!("{r:.2}")),
            t.residency,
            t.copies
        );
    })?;
    if !args.no_store {
        record_kernel_results(&open_store(&args.db.db)?, &results)?;
        println!(
            "recorded in {} (experiment `{}`)",
            args.db.db.display(),
            bitlab::bench::kernel_bench::EXPERIMENT
        );
    }
    Ok(())
}

/// Parses `AxB` with positive numbers, naming `flag` and an `example` on failure.
fn parse_pair(text: &str, flag: &str, example: &str) -> bitlab::Result<(usize, usize)> {
    let parsed = text
        .trim()
        .split_once('x')
        .and_then(|(r, c)| Some((r.parse().ok()?, c.parse().ok()?)))
        .filter(|&(r, c): &(usize, usize)| r > 0 && c > 0);
    parsed.ok_or_else(|| {
        bitlab::Error::Invalid(format!(
            "{flag} {text}: expected two positive numbers joined by `x`, e.g. {example}"
        ))
    })
}
