//! LoRA adapters (Hu et al., 2021) with PEFT's semantics, as the 1.58-bit paper pairs them with
//! ternary bases: `y = base(x) + B(A(dropout(x))) * alpha / r`, `A` `[r, in]` Kaiming-uniform
//! (a = sqrt 5, so bound 1/sqrt(in)), `B` `[out, r]` zeros, so a fresh adapter changes nothing.
//! Adapters run in full precision beside a (possibly quantized) frozen base.
use crate::experiment::LoraConfig;
use tch::{nn, Tensor};

/// One low-rank adapter for a linear layer `[out, in]`.
#[derive(Debug)]
pub struct LoraAdapter {
    /// Down projection `[rank, in]` (variable `lora_a`).
    pub a: Tensor,
    /// Up projection `[out, rank]` (variable `lora_b`), zero at initialization.
    pub b: Tensor,
    scaling: f64,
    dropout: f64,
}

/// Variable names of an adapter under its layer's path.
pub const LORA_A: &str = "lora_a";
/// See [`LORA_A`].
pub const LORA_B: &str = "lora_b";

impl LoraAdapter {
    /// Creates trainable `lora_a` and `lora_b` under `vs` (the layer's path); `cfg.rank` > 0.
    pub fn new(vs: &nn::Path, in_dim: usize, out_dim: usize, cfg: &LoraConfig) -> Self {
        let rank = cfg.rank as i64;
        let bound = 1.0 / (in_dim as f64).sqrt();
        Self {
            a: vs.var(
                LORA_A,
                &[rank, in_dim as i64],
                nn::Init::Uniform {
                    lo: -bound,
                    up: bound,
                },
            ),
            b: vs.zeros(LORA_B, &[out_dim as i64, rank]),
            scaling: cfg.alpha / cfg.rank as f64,
            dropout: cfg.dropout,
        }
    }

    /// The adapter's contribution for input `x` (`[..., in]`).
    pub fn forward(&self, x: &Tensor, train: bool) -> Tensor {
        x.dropout(self.dropout, train)
            .matmul(&self.a.tr())
            .matmul(&self.b.tr())
            * self.scaling
    }

    /// `B A * alpha / r` (`[out, in]`): what merging adds to the base weight.
    pub fn delta_weight(&self) -> Tensor {
        self.b.matmul(&self.a) * self.scaling
    }

    /// Parameters the adapter trains.
    pub fn num_params(&self) -> i64 {
        (self.a.numel() + self.b.numel()) as i64
    }
}

/// True when a layer named `name` (dotted var-store path) is an adapter target: it contains one
/// of `targets`, or `targets` holds `"all-linear"`.
pub fn is_target(name: &str, targets: &[String]) -> bool {
    targets
        .iter()
        .any(|t| t == crate::experiment::ALL_LINEAR || name.contains(t.as_str()))
}
