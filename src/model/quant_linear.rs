//! BitLinear: a linear layer whose weights and activations are fake-quantized in the forward
//! pass, with the straight-through estimator in the backward pass (BitNet b1.58, Ma et al., 2024;
//! "Training Tips, Code and FAQ": `x + (q(x) - x).detach()`), an optional bias (pretrained BERT
//! layers have one) and an optional full-precision LoRA adapter beside the quantized base.
use super::linear::{add_bias_and_adapter, Linear, Pass};
use super::lora::{is_target, LoraAdapter};
use super::LoraConfig;
use crate::quant::{ste, Quantizer};
use std::convert::Infallible;
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

/// A linear layer `y = q_a(x) q_w(W)^T + b (+ LoRA(x))` with pluggable quantizer.
#[derive(Debug)]
pub struct QuantLinear {
    /// Latent full-precision weight `[out, in]` (what the optimizer updates).
    pub weight: Tensor,
    /// Optional bias `[out]`, kept in high precision.
    pub bias: Option<Tensor>,
    /// Optional LoRA adapter.
    pub lora: Option<LoraAdapter>,
    name: String,
    quantizer: Arc<dyn Quantizer>,
}

impl QuantLinear {
    /// Creates a Kaiming-uniform-initialized `[out_dim, in_dim]` weight named `weight` under `vs`
    /// (and a `bias` when `bias` is true).
    pub fn new(
        vs: &nn::Path,
        in_dim: usize,
        out_dim: usize,
        bias: bool,
        quantizer: Arc<dyn Quantizer>,
    ) -> Self {
        let config = nn::LinearConfig {
            bias,
            ..Default::default()
        };
        let linear = nn::linear(vs, in_dim as i64, out_dim as i64, config);
        Self {
            weight: linear.ws,
            bias: linear.bs,
            lora: None,
            name: vs.components().collect::<Vec<_>>().join("."),
            quantizer,
        }
    }

    /// The layer's dotted var-store path (what `lora.targets` patterns match).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Adds a LoRA adapter under `root` (the var store's root) when this layer matches
    /// `cfg.targets`; returns whether it did.
    pub fn attach_lora(&mut self, root: &nn::Path, cfg: &LoraConfig) -> bool {
        if cfg.rank == 0 || !is_target(&self.name, &cfg.targets) {
            return false;
        }
        let path = self.name.split('.').fold(root.clone(), |p, c| p.sub(c));
        let (out_dim, in_dim) = (self.weight.size()[0], self.weight.size()[1]);
        self.lora = Some(LoraAdapter::new(
            &path,
            in_dim as usize,
            out_dim as usize,
            cfg,
        ));
        true
    }

    /// Applies the layer to `x` (`[..., in]`); `train` enables the adapter's dropout.
    pub fn forward(&self, x: &Tensor, mode: QuantMode, train: bool) -> Tensor {
        let base = if self.quantizer.is_full_precision() {
            x.matmul(&self.weight.tr())
        } else {
            let (qx, w) = match mode {
                QuantMode::Train { lambda } => (
                    ste(x, &self.quantizer.quantize_activation(x), lambda),
                    ste(
                        &self.weight,
                        &self.quantizer.quantize_weight(&self.weight),
                        lambda,
                    ),
                ),
                QuantMode::WeightsOnGrid => (
                    self.quantizer.quantize_activation(x),
                    self.weight.shallow_clone(),
                ),
            };
            qx.matmul(&w.tr())
        };
        add_bias_and_adapter(base, self.bias.as_ref(), self.lora.as_ref(), x, train)
    }

    /// The quantizer this layer uses.
    pub fn quantizer(&self) -> &Arc<dyn Quantizer> {
        &self.quantizer
    }
}

/// Makes the [`QuantLinear`] layers of a family's `build` (`linear(path, in, out, bias)`),
/// each quantized with `quantizer`; making them cannot fail.
pub(crate) fn quant_linear_maker(
    quantizer: &Arc<dyn Quantizer>,
) -> impl FnMut(&nn::Path, usize, usize, bool) -> Result<QuantLinear, Infallible> + '_ {
    move |path: &nn::Path, in_dim: usize, out_dim: usize, bias: bool| {
        Ok(QuantLinear::new(
            path,
            in_dim,
            out_dim,
            bias,
            quantizer.clone(),
        ))
    }
}

/// The value of a result that cannot be an error.
pub(crate) fn infallible<T>(result: Result<T, Infallible>) -> T {
    match result {
        Ok(value) => value,
        Err(never) => match never {},
    }
}

/// The training form of the linear operation: fake quantization with the STE; never fails.
impl Linear for QuantLinear {
    fn forward(&self, x: &Tensor, pass: &Pass) -> crate::Result<Tensor> {
        Ok(QuantLinear::forward(self, x, pass.mode, pass.train))
    }
}
