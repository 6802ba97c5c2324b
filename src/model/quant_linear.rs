//! BitLinear: a bias-free linear layer whose weights and activations are fake-quantized in the
//! forward pass, with the straight-through estimator in the backward pass (BitNet b1.58,
//! Ma et al., 2024; "Training Tips, Code and FAQ": `x + (q(x) - x).detach()`).
use crate::quant::{ste, Quantizer};
use std::sync::Arc;
use tch::{nn, Tensor};

/// How a [`QuantLinear`] treats its weights on a forward pass.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum QuantMode {
    /// Quantization-aware training: quantize weights and activations with the STE, mixed in
    /// with weight `lambda` in [0, 1] (1 = fully quantized; below 1 = warm-up).
    Train {
        /// Share of the quantization error applied: x + lambda * (q(x) - x).detach().
        lambda: f64,
    },
    /// Inference on weights that already lie on the quantizer's grid (loaded from an artifact):
    /// weights are used as they are (q(q(w)) = q(w)), activations are still quantized.
    WeightsOnGrid,
}

/// A linear layer `y = q_a(x) q_w(W)^T` with pluggable quantizer.
#[derive(Debug)]
pub struct QuantLinear {
    /// Latent full-precision weight `[out, in]` (what the optimizer updates).
    pub weight: Tensor,
    quantizer: Arc<dyn Quantizer>,
}

impl QuantLinear {
    /// Creates a Kaiming-uniform-initialized `[out_dim, in_dim]` weight named `weight` under `vs`.
    pub fn new(
        vs: &nn::Path,
        in_dim: usize,
        out_dim: usize,
        quantizer: Arc<dyn Quantizer>,
    ) -> Self {
        let config = nn::LinearConfig {
            bias: false,
            ..Default::default()
        };
        let linear = nn::linear(vs, in_dim as i64, out_dim as i64, config);
        Self {
            weight: linear.ws,
            quantizer,
        }
    }

    /// Applies the layer to `x` (`[..., in]`).
    pub fn forward(&self, x: &Tensor, mode: QuantMode) -> Tensor {
        if self.quantizer.is_full_precision() {
            return x.matmul(&self.weight.tr());
        }
        let (x, w) = match mode {
            QuantMode::Train { lambda } => {
                let qx = ste(x, &self.quantizer.quantize_activation(x), lambda);
                let qw = ste(
                    &self.weight,
                    &self.quantizer.quantize_weight(&self.weight),
                    lambda,
                );
                (qx, qw)
            }
            QuantMode::WeightsOnGrid => (
                self.quantizer.quantize_activation(x),
                self.weight.shallow_clone(),
            ),
        };
        x.matmul(&w.tr())
    }

    /// The quantizer this layer uses.
    pub fn quantizer(&self) -> &Arc<dyn Quantizer> {
        &self.quantizer
    }
}
