//! `bitlab measure-train-step` (internal): the peak memory of one training step in a fresh
//! process, printed as JSON.
use std::path::PathBuf;

/// Arguments of `bitlab measure-train-step`.
#[derive(Debug, clap::Args)]
pub struct MeasureTrainStepArgs {
    /// Packed model artifact.
    #[arg(long)]
    artifact: PathBuf,
    /// Tokens per sequence.
    #[arg(long)]
    seq_len: usize,
    /// Sequences per batch.
    #[arg(long, default_value_t = 1)]
    batch: usize,
    /// Intra-op threads.
    #[arg(long, default_value_t = 1)]
    threads: usize,
    /// Device.
    #[arg(long, default_value = "cpu")]
    device: String,
}

/// Runs one training-step memory point and prints it as a JSON line.
pub fn run(args: MeasureTrainStepArgs) -> bitlab::Result<()> {
    let device = super::parse_device(&args.device)?;
    let point = bitlab::measure::train_memory_point(
        &args.artifact,
        args.seq_len,
        args.batch,
        args.threads,
        device,
    )?;
    println!(
        "{}",
        serde_json::to_string(&point).expect("memory point serializes")
    );
    Ok(())
}
