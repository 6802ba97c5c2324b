//! `bitlab measure-memory` and `bitlab measure-train-step` (internal): one peak-memory point
//! (a forward pass, or one training step) in a fresh process, printed as a JSON line for the
//! parent to read (see `bitlab::measure`).
use std::path::PathBuf;

/// Arguments of both memory-point commands.
#[derive(Debug, clap::Args)]
pub struct MemoryPointArgs {
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

/// What a memory point runs.
#[derive(Debug, Clone, Copy)]
pub enum Operation {
    /// One inference forward pass.
    Forward,
    /// One training step (forward, backward, optimizer step).
    TrainStep,
}

/// Runs one memory point and prints it as a JSON line.
pub fn run(operation: Operation, args: MemoryPointArgs) -> bitlab::Result<()> {
    let device = super::parse_device(&args.device)?;
    let measure = match operation {
        Operation::Forward => bitlab::measure::memory_point,
        Operation::TrainStep => bitlab::measure::train_memory_point,
    };
    let point = measure(
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
