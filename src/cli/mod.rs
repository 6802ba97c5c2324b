//! Command-line interface: clap types and one file per subcommand. The library never sees clap.
mod bench;
mod datasets;
mod infer;
mod measure_memory;
mod quantizers;
mod report;
mod runs;
mod sweep;

use clap::{Parser, Subcommand};
use std::path::PathBuf;
use std::process::ExitCode;

/// bitlab: sweep quantization schemes (fp32, fp16, bf16, int8, int4, 1.58-bit), train each
/// trial with QAT, record accuracy, latency, memory and storage in SQLite, render reports.
#[derive(Debug, Parser)]
#[command(name = "bitlab", version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

/// Options shared by commands that touch the results database.
#[derive(Debug, clap::Args)]
struct DbArgs {
    /// SQLite results database.
    #[arg(long, default_value = "results/bitlab.db")]
    db: PathBuf,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run (or resume) every trial of an experiment file, then render its report.
    Sweep(sweep::SweepArgs),
    /// Render reports/<experiment>/ from the database.
    Report(report::ReportArgs),
    /// List recorded trials as a table or CSV.
    Runs(runs::RunsArgs),
    /// Fetch or list datasets.
    #[command(subcommand)]
    Datasets(datasets::DatasetsCommand),
    /// Classify texts with a trained artifact (packed kernels where they support the model).
    Infer(infer::InferArgs),
    /// List the registered quantizers (and those an experiment file declares).
    Quantizers(quantizers::QuantizersArgs),
    /// Benchmark the matmul kernels and record the results.
    #[command(subcommand)]
    Bench(bench::BenchCommand),
    /// (internal) Measure peak memory of one forward pass in this fresh process.
    #[command(hide = true)]
    MeasureMemory(measure_memory::MemoryPointArgs),
    /// (internal) Measure peak memory of one training step in this fresh process.
    #[command(hide = true)]
    MeasureTrainStep(measure_memory::MemoryPointArgs),
}

/// Parses a device name: `cpu`, `cuda`, `cuda:N` or `auto` (CUDA when libtorch sees a GPU).
fn parse_device(name: &str) -> bitlab::Result<tch::Device> {
    let cuda_missing = || {
        bitlab::Error::Invalid(format!(
            "--device {name}: libtorch sees no CUDA device (CPU-only libtorch, or no GPU); use --device cpu"
        ))
    };
    match name {
        "cpu" => Ok(tch::Device::Cpu),
        "auto" => Ok(tch::Device::cuda_if_available()),
        "cuda" => tch::Cuda::is_available()
            .then_some(tch::Device::Cuda(0))
            .ok_or_else(cuda_missing),
        other => match other
            .strip_prefix("cuda:")
            .and_then(|i| i.parse::<usize>().ok())
        {
            Some(i) if (i as i64) < tch::Cuda::device_count() => Ok(tch::Device::Cuda(i)),
            Some(_) => Err(cuda_missing()),
            None => Err(bitlab::Error::Invalid(format!(
                "--device {other}: unknown device; use cpu, cuda, cuda:N or auto"
            ))),
        },
    }
}

/// Runs the command line and turns errors into a message and an exit code.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Sweep(args) => sweep::run(args),
        Command::Report(args) => report::run(args),
        Command::Runs(args) => runs::run(args),
        Command::Datasets(command) => datasets::run(command),
        Command::Infer(args) => infer::run(args),
        Command::Quantizers(args) => quantizers::run(args),
        Command::Bench(command) => bench::run(command),
        Command::MeasureMemory(args) => {
            measure_memory::run(measure_memory::Operation::Forward, args)
        }
        Command::MeasureTrainStep(args) => {
            measure_memory::run(measure_memory::Operation::TrainStep, args)
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(bitlab::Error::Interrupted) => {
            eprintln!("{}", bitlab::Error::Interrupted);
            ExitCode::from(130)
        }
        Err(error) => {
            // Every variant's message already includes its cause.
            eprintln!("error: {error}");
            ExitCode::FAILURE
        }
    }
}
