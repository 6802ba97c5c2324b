//! A trial's quantization settings (`[quant]` in an experiment file): which scheme, its group
//! size, a declared scheme's definition, the QAT warm-up and the embedding table's scheme.
//! The experiment loader fills them in; the [`super::registry`] builds the quantizer they name.
use serde::{Deserialize, Serialize};

use super::UniformSpec;

/// Quantization settings; `scheme` names a registered quantizer (see [`crate::quant`]).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct QuantConfig {
    /// Quantizer name: a registered one (`bitlab quantizers`: fp32, ternary alias 1.58bit, ...)
    /// or one declared in the experiment file's `[quantizers.NAME]` tables.
    #[serde(default = "default_scheme")]
    pub scheme: String,
    /// Group size for group-wise schemes (int4).
    #[serde(default = "default_group_size")]
    pub group_size: usize,
    /// Definition of a quantizer declared in the experiment file (`[quantizers.NAME]`), filled
    /// in by the loader when `scheme` names one, so the trial hash covers the definition and
    /// artifacts reload without the file. Absent (and not serialized) for built-in schemes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uniform: Option<UniformSpec>,
    /// How quantization is switched on during training: at once (`none`) or mixed in linearly
    /// over `warmup_steps` optimizer steps (`linear`: x + lambda (q(x) - x).detach() with
    /// lambda = min(step / warmup_steps, 1), Hugging Face's 1.58-bit fine-tuning study).
    #[serde(default, skip_serializing_if = "QuantWarmup::is_none")]
    pub warmup: QuantWarmup,
    /// Optimizer steps over which `warmup = "linear"` raises lambda from 0 to 1.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub warmup_steps: usize,
    /// Scheme that stores (and, in training, fake-quantizes) the token embedding table; absent:
    /// the scheme's high-precision storage (fp32 for fp32, fp16 otherwise), as BitNet b1.58 keeps
    /// embeddings in high precision.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub embeddings: Option<String>,
    /// Definition of the quantizer `embeddings` names when it is declared in the experiment
    /// file (`[quantizers.NAME]`), filled in by the loader like [`QuantConfig::uniform`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub embeddings_uniform: Option<UniformSpec>,
}

impl Default for QuantConfig {
    fn default() -> Self {
        Self {
            scheme: default_scheme(),
            group_size: default_group_size(),
            uniform: None,
            warmup: QuantWarmup::None,
            warmup_steps: 0,
            embeddings: None,
            embeddings_uniform: None,
        }
    }
}

/// Quantization warm-up schedules (see [`QuantConfig::warmup`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum QuantWarmup {
    /// Quantization fully on from the first step (lambda = 1).
    #[default]
    None,
    /// lambda rises linearly from 0 to 1 over `warmup_steps`.
    Linear,
}

impl QuantWarmup {
    fn is_none(&self) -> bool {
        *self == QuantWarmup::None
    }
}

fn default_scheme() -> String {
    "fp32".into()
}

fn default_group_size() -> usize {
    32
}

fn is_zero(value: &usize) -> bool {
    *value == 0
}
