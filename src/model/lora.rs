//! LoRA adapters (Hu et al., 2021) with PEFT's semantics, as the 1.58-bit paper pairs them with
//! ternary bases: `y = base(x) + B(A(dropout(x))) * alpha / r`, `A` `[r, in]` Kaiming-uniform
//! (a = sqrt 5, so bound 1/sqrt(in)), `B` `[out, r]` zeros, so a fresh adapter changes nothing.
//! Adapters run in full precision beside a (possibly quantized) frozen base.
use super::LoraConfig;
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
        .any(|t| t == super::ALL_LINEAR || name.contains(t.as_str()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{QuantLinear, QuantMode};
    use crate::quant::registry;
    use crate::quant::QuantConfig;
    use tch::{Device, Kind};

    fn lora(rank: usize) -> LoraConfig {
        LoraConfig {
            rank,
            alpha: 8.0,
            ..Default::default()
        }
    }

    #[test]
    fn a_fresh_adapter_leaves_the_output_unchanged_for_every_scheme() {
        for scheme in ["fp32", "int8", "int4", "ternary"] {
            let quantizer = registry::resolve(&QuantConfig {
                scheme: scheme.into(),
                group_size: 8,
                ..Default::default()
            })
            .unwrap();
            let vs = nn::VarStore::new(Device::Cpu);
            let mut layer = QuantLinear::new(&(vs.root() / "layer"), 16, 24, true, quantizer);
            let x = Tensor::randn([3, 5, 16], (Kind::Float, Device::Cpu));
            let mode = QuantMode::Train { lambda: 1.0 };
            let before = layer.forward(&x, mode, false);
            assert!(layer.attach_lora(&vs.root(), &lora(4)));
            let after = layer.forward(&x, mode, false);
            let diff = (&after - &before).abs().max().double_value(&[]);
            assert_eq!(diff, 0.0, "{scheme}: zero-initialized B changed the output");
            assert_eq!(layer.lora.as_ref().unwrap().num_params(), 4 * (16 + 24));
        }
    }

    #[test]
    fn merging_equals_the_unmerged_forward() {
        let fp32 = registry::resolve(&QuantConfig::default()).unwrap();
        let vs = nn::VarStore::new(Device::Cpu);
        let mut layer = QuantLinear::new(&(vs.root() / "layer"), 12, 7, true, fp32.clone());
        layer.attach_lora(&vs.root(), &lora(3));
        let adapter = layer.lora.as_ref().unwrap();
        let _ = tch::no_grad(|| adapter.b.shallow_clone().normal_(0.0, 0.5));
        let x = Tensor::randn([4, 12], (Kind::Float, Device::Cpu));
        let unmerged = layer.forward(&x, QuantMode::WeightsOnGrid, false);
        let merged_weight = &layer.weight + adapter.delta_weight();
        let merged = x.matmul(&merged_weight.tr()) + layer.bias.as_ref().unwrap();
        let diff = (&merged - &unmerged).abs().max().double_value(&[]);
        assert!(diff < 1e-5, "merged and unmerged differ by {diff}");
        assert!(unmerged.abs().max().double_value(&[]) > 0.1);
    }

    #[test]
    fn targets_match_by_name_or_all_linear() {
        let targets = |t: &[&str]| t.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        let name = "encoder.layer.0.attention.self.query";
        assert!(is_target(name, &targets(&["query", "value"])));
        assert!(!is_target(name, &targets(&["intermediate"])));
        assert!(is_target(name, &targets(&["all-linear"])));
    }
}
