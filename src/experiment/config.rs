//! The resolved configuration of one trial: every field explicit, defaults filled in.
//!
//! An experiment file (see `experiments/*.toml`) is a base configuration plus sweep axes; each
//! grid point deserializes into one [`TrialConfig`]. Unknown keys are rejected
//! (`deny_unknown_fields`) so a typo never silently falls back to a default.
use serde::{Deserialize, Serialize};

pub use crate::attention::AttentionKind;
pub use crate::data::{DatasetConfig, TokenizerConfig, TokenizerKind};
pub use crate::model::{LoraConfig, ModelConfig, Pooling, ALL_LINEAR};
pub use crate::quant::{QuantConfig, QuantWarmup};

/// One trial, fully resolved: what to train, how, and what to measure.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrialConfig {
    /// Seed for weight init, data shuffling and dropout.
    #[serde(default)]
    pub seed: u64,
    /// Which data, and how to turn it into tokens.
    pub dataset: DatasetConfig,
    /// Transformer shape.
    pub model: ModelConfig,
    /// Quantization scheme applied to every linear layer inside the blocks.
    #[serde(default)]
    pub quant: QuantConfig,
    /// LoRA adapters (rank 0: none).
    #[serde(default)]
    pub lora: LoraConfig,
    /// Optimization.
    pub train: TrainConfig,
    /// Latency / memory measurement settings.
    #[serde(default)]
    pub measure: MeasureConfig,
}

/// Optimization settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrainConfig {
    /// Passes over the training split.
    #[serde(default = "default_epochs")]
    pub epochs: usize,
    /// Stop after this many optimizer steps in total, if set.
    #[serde(default)]
    pub max_steps: Option<usize>,
    /// Examples per batch.
    pub batch_size: usize,
    /// Peak learning rate.
    pub lr: f64,
    /// Linear warm-up steps before the schedule.
    #[serde(default)]
    pub warmup_steps: usize,
    /// Learning-rate schedule after warm-up.
    #[serde(default)]
    pub schedule: Schedule,
    /// Optimizer.
    #[serde(default)]
    pub optimizer: OptimizerKind,
    /// Weight decay (decoupled for AdamW, L2 for Adam).
    #[serde(default)]
    pub weight_decay: f64,
    /// Clip the global gradient norm to this value, if set.
    #[serde(default)]
    pub grad_clip: Option<f64>,
}

/// Learning-rate schedules.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Schedule {
    /// Constant after warm-up.
    Constant,
    /// Linear decay to zero.
    #[default]
    Linear,
    /// Cosine decay to zero.
    Cosine,
}

/// Optimizers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OptimizerKind {
    /// Adam (Kingma & Ba).
    Adam,
    /// AdamW (decoupled weight decay).
    #[default]
    Adamw,
}

/// What to measure after training.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MeasureConfig {
    /// Sequence lengths for latency and memory curves.
    #[serde(default = "default_seq_lens")]
    pub seq_lens: Vec<usize>,
    /// Batch sizes for latency curves.
    #[serde(default = "default_batch_sizes")]
    pub batch_sizes: Vec<usize>,
    /// Untimed runs before timing.
    #[serde(default = "default_warmup")]
    pub warmup: usize,
    /// Timed runs per point (median and p95 are recorded).
    #[serde(default = "default_repeats")]
    pub repeats: usize,
    /// libtorch intra-op threads during measurement.
    #[serde(default = "default_threads")]
    pub threads: usize,
    /// Measure peak memory per sequence length (one child process per point).
    #[serde(default = "yes")]
    pub memory: bool,
    /// Also measure a training step (forward, backward, optimizer step) per sequence length at
    /// the smallest batch size: its time, and its peak memory in a fresh child process per
    /// point. Left out of the stored configuration (and so of trial hashes) when false.
    #[serde(default, skip_serializing_if = "is_false")]
    pub training: bool,
}

impl Default for MeasureConfig {
    fn default() -> Self {
        Self {
            seq_lens: default_seq_lens(),
            batch_sizes: default_batch_sizes(),
            warmup: default_warmup(),
            repeats: default_repeats(),
            threads: default_threads(),
            memory: true,
            training: false,
        }
    }
}

fn yes() -> bool {
    true
}
fn is_false(value: &bool) -> bool {
    !value
}
fn default_epochs() -> usize {
    3
}
fn default_seq_lens() -> Vec<usize> {
    vec![32, 64, 128, 256, 512]
}
fn default_batch_sizes() -> Vec<usize> {
    vec![1, 16]
}
fn default_warmup() -> usize {
    3
}
fn default_repeats() -> usize {
    10
}
fn default_threads() -> usize {
    2
}
