//! Training-step measurements against sequence length: the time of one QAT training step
//! (forward with fake quantization, cross-entropy, backward, AdamW step) on a synthetic batch,
//! and its peak resident memory, each memory point in a fresh child process
//! (`bitlab measure-train-step`) because peaks are process-lifetime maxima.
//!
//! The model is a fresh load of the trial's packed artifact with its parameters made trainable,
//! so the weights start on the quantizer's grid; the step's cost does not depend on their values.
//! Token ids and labels are random; every token is real (no padding), so the whole length is
//! attended to. A memory point's baseline is taken after loading the model and building the
//! optimizer; the step's peak above it holds the activations kept for the backward pass (the
//! attention scores among them, for kernels that keep them), the gradients, and AdamW's two
//! moment buffers, which are allocated on the first step and do not grow with length.
use super::latency::LatencyPoint;
use super::peak_rss::{peak_rss, reset_peak_rss, run_memory_child, ChildPoint};
use super::{median, percentile, MemoryPoint};
use crate::model::{load_artifact, LoadedModel, QuantMode};
use crate::{Error, Result};
use std::path::Path;
use std::time::Instant;
use tch::nn::{self, OptimizerConfig};
use tch::{Device, Kind, Tensor};

/// The trial's optimizer settings (`train.lr`, `train.weight_decay`) a training step uses: the
/// artifact describes the model only, so the runner passes them (to a child process as
/// `--lr` and `--weight-decay`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct StepOptimizer {
    /// AdamW's learning rate.
    pub lr: f64,
    /// AdamW's weight decay.
    pub weight_decay: f64,
}

impl StepOptimizer {
    /// The command-line arguments that pass these settings to `bitlab measure-train-step`.
    fn child_args(&self) -> Vec<String> {
        vec![
            "--lr".into(),
            self.lr.to_string(),
            "--weight-decay".into(),
            self.weight_decay.to_string(),
        ]
    }
}

/// A reloaded model, its optimizer and one synthetic batch, ready to take training steps.
pub struct TrainStepBench {
    loaded: LoadedModel,
    optimizer: nn::Optimizer,
    ids: Tensor,
    mask: Tensor,
    labels: Tensor,
}

impl TrainStepBench {
    /// Loads `artifact` on `device`, makes its parameters trainable, builds AdamW with the
    /// trial's learning rate and weight decay (`optimizer`), and draws a batch of `batch` x
    /// `seq_len` tokens.
    pub fn new(
        artifact: &Path,
        optimizer: StepOptimizer,
        seq_len: usize,
        batch: usize,
        device: Device,
    ) -> Result<Self> {
        let mut loaded = load_artifact(artifact, device)?;
        let max_positions = loaded.config.model.max_positions;
        if seq_len == 0 || seq_len > max_positions || batch == 0 {
            return Err(Error::Invalid(format!(
                "--seq-len {seq_len} --batch {batch}: this model takes 1..={max_positions} tokens (model.max_positions) and a batch of at least 1"
            )));
        }
        loaded.vs.unfreeze();
        let optimizer = nn::AdamW {
            wd: optimizer.weight_decay,
            ..Default::default()
        }
        .build(&loaded.vs, optimizer.lr)
        .map_err(|e| Error::torch("building the optimizer", e))?;
        let (batch, seq_len) = (batch as i64, seq_len as i64);
        let vocab = loaded.config.dims.vocab_size as i64;
        let classes = loaded.config.dims.num_labels as i64;
        Ok(Self {
            ids: Tensor::randint_low(1, vocab, [batch, seq_len], (Kind::Int64, device)),
            mask: Tensor::ones([batch, seq_len], (Kind::Int64, device)),
            labels: Tensor::randint(classes, [batch], (Kind::Int64, device)),
            optimizer,
            loaded,
        })
    }

    /// One training step; returns the loss (reading it waits for the step to finish).
    pub fn step(&mut self) -> Result<f64> {
        let logits = self.loaded.model.forward(
            &self.ids,
            &self.mask,
            QuantMode::Train { lambda: 1.0 },
            true,
        )?;
        let loss = logits.cross_entropy_for_logits(&self.labels);
        self.optimizer.zero_grad();
        loss.backward();
        self.optimizer.step();
        Ok(loss.double_value(&[]))
    }
}

/// Times `repeats` training steps after `warmup` untimed ones; median and p95 in milliseconds.
pub fn measure_train_step(
    artifact: &Path,
    optimizer: StepOptimizer,
    seq_len: usize,
    batch: usize,
    warmup: usize,
    repeats: usize,
    device: Device,
) -> Result<LatencyPoint> {
    let mut bench = TrainStepBench::new(artifact, optimizer, seq_len, batch, device)?;
    for _ in 0..warmup {
        bench.step()?;
    }
    let times = (0..repeats.max(1))
        .map(|_| {
            let start = Instant::now();
            bench.step()?;
            Ok(start.elapsed().as_secs_f64() * 1e3)
        })
        .collect::<Result<Vec<f64>>>()?;
    Ok(LatencyPoint {
        median_ms: median(&times),
        p95_ms: percentile(&times, 0.95),
    })
}

/// Runs in the child: one training step of `batch` x `seq_len` tokens on `artifact`'s model,
/// with the peak RSS before (after loading) and after it.
pub fn train_memory_point(
    artifact: &Path,
    optimizer: StepOptimizer,
    seq_len: usize,
    batch: usize,
    threads: usize,
    device: Device,
) -> Result<MemoryPoint> {
    tch::set_num_threads(threads as i32);
    let mut bench = TrainStepBench::new(artifact, optimizer, seq_len, batch, device)?;
    let baseline_rss_bytes = reset_peak_rss();
    bench.step()?;
    Ok(MemoryPoint {
        peak_rss_bytes: peak_rss(),
        baseline_rss_bytes,
    })
}

/// Runs `exe measure-train-step` in a fresh process and returns the point it prints.
pub fn measure_train_memory_in_child(
    exe: &Path,
    artifact: &Path,
    optimizer: StepOptimizer,
    seq_len: usize,
    batch: usize,
    threads: usize,
    device: &str,
) -> Result<MemoryPoint> {
    let point = ChildPoint {
        artifact,
        seq_len,
        batch,
        threads,
        device,
        extra_args: optimizer.child_args(),
    };
    let what = format!("training memory at length {seq_len}, batch {batch}");
    run_memory_child(exe, "measure-train-step", &point, &what)
}
