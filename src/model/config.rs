//! A trial's model settings (`[model]` and `[lora]` in an experiment file): the encoder's shape,
//! its pooling and attention kernel, and its LoRA adapters. The experiment loader fills them in;
//! the model builders read them.
use serde::{Deserialize, Serialize};

use crate::attention::AttentionKind;

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
fn default_max_positions() -> usize {
    512
}
fn default_lora_alpha() -> f64 {
    16.0
}
