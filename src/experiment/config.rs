//! The resolved configuration of one trial: every field explicit, defaults filled in.
//!
//! An experiment file (see `experiments/*.toml`) is a base configuration plus sweep axes; each
//! grid point deserializes into one [`TrialConfig`]. Unknown keys are rejected
//! (`deny_unknown_fields`) so a typo never silently falls back to a default.
use serde::{Deserialize, Serialize};

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

/// Dataset and text pipeline settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DatasetConfig {
    /// Dataset name: a folder `datasets/<name>/` with a `manifest.toml`.
    pub name: String,
    /// Sequences are truncated (and batches padded) to at most this many tokens.
    pub max_len: usize,
    /// Use only this many training examples (stratified prefix after shuffling); all if absent.
    #[serde(default)]
    pub subset: Option<usize>,
    /// Evaluate on only this many validation and this many test examples (stratified); all if
    /// absent. For quick checks: accuracies from few examples are noisy.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub eval_subset: Option<usize>,
    /// Lowercase text during normalization (after NFKC and HTML stripping).
    #[serde(default = "yes")]
    pub lowercase: bool,
    /// Tokenizer: trained on the training split, or loaded from a file.
    #[serde(default)]
    pub tokenizer: TokenizerConfig,
}

/// How text becomes token ids.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TokenizerConfig {
    /// `wordpiece` or `bpe` (trained on the training split and cached), or `file`.
    #[serde(default = "default_tokenizer_kind")]
    pub kind: TokenizerKind,
    /// Vocabulary size for trained tokenizers.
    #[serde(default = "default_vocab_size")]
    pub vocab_size: usize,
    /// Path to a `tokenizer.json` when `kind = "file"`.
    #[serde(default)]
    pub path: Option<String>,
}

impl Default for TokenizerConfig {
    fn default() -> Self {
        Self {
            kind: default_tokenizer_kind(),
            vocab_size: default_vocab_size(),
            path: None,
        }
    }
}

/// Tokenizer families bitlab can train or load.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TokenizerKind {
    /// WordPiece trained on the training split.
    Wordpiece,
    /// Byte-pair encoding trained on the training split.
    Bpe,
    /// A given `tokenizer.json`.
    File,
    /// The `tokenizer.json` of the pretrained model named by `model.pretrained`.
    Pretrained,
}

/// Transformer encoder shape (BitNet b1.58 keeps embeddings and the head in full precision).
///
/// Either a model trained from scratch (`layers`, `d_model`, `heads`, `d_ff` set) or a pretrained
/// checkpoint (`pretrained` set; its shape comes from the checkpoint's `config.json`, so the four
/// shape keys must be left out).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelConfig {
    /// A pretrained BERT-family checkpoint to fine-tune (`bitlab datasets fetch` obtains them;
    /// known: `all-minilm-l6-v2`); absent for
    /// a BitNet encoder trained from scratch.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pretrained: Option<String>,
    /// Number of transformer blocks (from scratch only).
    #[serde(default)]
    pub layers: usize,
    /// Hidden size (from scratch only).
    #[serde(default)]
    pub d_model: usize,
    /// Attention heads, must divide `d_model` (from scratch only).
    #[serde(default)]
    pub heads: usize,
    /// Feed-forward inner size (from scratch only).
    #[serde(default)]
    pub d_ff: usize,
    /// Dropout probability in blocks.
    #[serde(default)]
    pub dropout: f64,
    /// How token states become one vector: `mean` (masked mean) or `cls` (first token).
    #[serde(default)]
    pub pooling: Pooling,
    /// Attention kernel (see [`crate::attention`]).
    #[serde(default)]
    pub attention: AttentionKind,
    /// Largest sequence length the position table supports (measurement lengths must fit).
    #[serde(default = "default_max_positions")]
    pub max_positions: usize,
}

/// Pooling of token states into a sequence vector.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Pooling {
    /// Mean over non-padding tokens.
    #[default]
    Mean,
    /// The first token's state.
    Cls,
}

/// Attention kernels selectable in TOML.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AttentionKind {
    /// Explicit softmax(QK^T)V, materializing the L x L score matrix.
    Naive,
    /// libtorch's math scaled-dot-product attention.
    Math,
    /// libtorch's CPU flash attention (memory-efficient, has a backward).
    #[default]
    Flash,
    /// bitlab's own blocked attention with an online softmax, from tch operations
    /// (memory linear in length at inference; see `src/attention/chunked.rs`).
    Chunked,
}

/// LoRA adapter settings (PEFT semantics); rank 0 disables adapters.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LoraConfig {
    /// Adapter rank; 0 means no adapter.
    #[serde(default)]
    pub rank: usize,
    /// Scaling numerator: adapters are scaled by alpha / rank.
    #[serde(default = "default_lora_alpha")]
    pub alpha: f64,
    /// Dropout on the adapter input.
    #[serde(default)]
    pub dropout: f64,
    /// Which quantized linear layers get adapters, by name (PEFT's `target_modules`): a layer is
    /// a target when its name contains one of these strings; `"all-linear"` targets every one.
    /// Layer names: `qkv`, `attn_out`, `ffn_up`, `ffn_down` (from scratch); `query`, `key`,
    /// `value`, `attention.output`, `intermediate`, `layer.N.output` (pretrained BERT).
    #[serde(
        default = "default_lora_targets",
        skip_serializing_if = "is_all_linear"
    )]
    pub targets: Vec<String>,
}

impl Default for LoraConfig {
    fn default() -> Self {
        Self {
            rank: 0,
            alpha: default_lora_alpha(),
            dropout: 0.0,
            targets: default_lora_targets(),
        }
    }
}

/// The `lora.targets` value that selects every quantized linear layer.
pub const ALL_LINEAR: &str = "all-linear";

fn default_lora_targets() -> Vec<String> {
    vec![ALL_LINEAR.to_string()]
}
fn is_all_linear(targets: &[String]) -> bool {
    targets == [ALL_LINEAR]
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
fn default_tokenizer_kind() -> TokenizerKind {
    TokenizerKind::Wordpiece
}
fn default_vocab_size() -> usize {
    8000
}
fn default_max_positions() -> usize {
    512
}
fn default_lora_alpha() -> f64 {
    16.0
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
