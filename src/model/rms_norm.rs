//! Root-mean-square layer normalization (Zhang & Sennrich, 2019), used by BitNet b1.58 in place
//! of LayerNorm and placed before every quantized linear layer's activation quantization.
use tch::{nn, Tensor};

/// RMSNorm with a learned per-feature gain.
#[derive(Debug)]
pub struct RmsNorm {
    weight: Tensor,
    eps: f64,
}

impl RmsNorm {
    /// Creates the norm's gain (initialized to ones) under `vs`.
    pub fn new(vs: &nn::Path, dim: usize) -> Self {
        Self {
            weight: vs.ones("weight", &[dim as i64]),
            eps: 1e-6,
        }
    }

    /// Normalizes over the last dimension: `x / sqrt(mean(x^2) + eps) * weight`.
    pub fn forward(&self, x: &Tensor) -> Tensor {
        let rms = (x.pow_tensor_scalar(2).mean_dim(-1, true, x.kind()) + self.eps).rsqrt();
        x * rms * &self.weight
    }
}
