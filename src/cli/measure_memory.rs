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
    /// The trial's learning rate (`train.lr`; `measure-train-step` only).
    #[arg(long)]
    lr: Option<f64>,
    /// The trial's weight decay (`train.weight_decay`; `measure-train-step` only).
    #[arg(long)]
    weight_decay: Option<f64>,
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
    let point = match operation {
        Operation::Forward => bitlab::measure::memory_point(
            &args.artifact,
            args.seq_len,
            args.batch,
            args.threads,
            device,
        )?,
        Operation::TrainStep => {
            let (Some(lr), Some(weight_decay)) = (args.lr, args.weight_decay) else {
                return Err(bitlab::Error::Invalid(
                    "measure-train-step needs the trial's optimizer settings\n  fix: pass --lr \
                     and --weight-decay (the runner passes train.lr and train.weight_decay)"
                        .into(),
                ));
            };
            bitlab::measure::train_memory_point(
                &args.artifact,
                bitlab::measure::StepOptimizer { lr, weight_decay },
                args.seq_len,
                args.batch,
                args.threads,
                device,
            )?
        }
    };
    println!(
        "{}",
        serde_json::to_string(&point).expect("memory point serializes")
    );
    Ok(())
}
