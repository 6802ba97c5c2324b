//! The linear operation every model family is generic over (the way candle's `QMatMul` is a
//! `Module`): [`super::QuantLinear`] for training (fake quantization with the straight-through
//! estimator, BitNet b1.58, Ma et al., 2024) and [`super::PackedLinear`] for inference (the
//! scheme's packed kernel). Blocks, classifiers and BERT are written once over [`Linear`], so
//! the packed model is the same code as the trained one.
use super::{LoraAdapter, QuantMode};
use crate::kernels::KernelContext;
use crate::Result;
use tch::Tensor;

/// How one forward pass runs. Training reads `mode` and `train` (quantization warm-up, dropout);
/// packed inference reads `kernels` (the instruction set and thread pool of bitlab's kernels).
#[derive(Clone, Copy)]
pub struct Pass<'a> {
    /// How fake-quantized layers treat their weights.
    pub mode: QuantMode,
    /// True in a training step: dropout (blocks and LoRA adapters) is applied.
    pub train: bool,
    /// Where packed kernels run; `None` for a pass of libtorch layers only.
    pub kernels: Option<KernelContext<'a>>,
}

impl Pass<'static> {
    /// A pass of libtorch layers (training, or the dequantized reference with
    /// [`QuantMode::WeightsOnGrid`]).
    pub fn new(mode: QuantMode, train: bool) -> Self {
        Self {
            mode,
            train,
            kernels: None,
        }
    }

    /// The dequantized reference at inference: weights on the grid, no dropout.
    pub fn reference() -> Self {
        Self::new(QuantMode::WeightsOnGrid, false)
    }
}

impl<'a> Pass<'a> {
    /// Inference on packed kernels running in `kernels`: no dropout, weights as stored.
    pub fn packed(kernels: KernelContext<'a>) -> Self {
        Self {
            mode: QuantMode::WeightsOnGrid,
            train: false,
            kernels: Some(kernels),
        }
    }
}

/// A linear layer `y = x W^T (+ b) (+ LoRA(x))` in the form one engine runs it.
pub trait Linear: std::fmt::Debug {
    /// Applies the layer to `x` (`[..., in]`), giving `[..., out]`.
    fn forward(&self, x: &Tensor, pass: &Pass) -> Result<Tensor>;
}

/// `base + bias + adapter(x)`: the high-precision parts every linear layer adds to its
/// (quantized) product, in this order (LoRA with PEFT's semantics, Hu et al., 2021).
pub(crate) fn add_bias_and_adapter(
    base: Tensor,
    bias: Option<&Tensor>,
    lora: Option<&LoraAdapter>,
    x: &Tensor,
    train: bool,
) -> Tensor {
    let base = match bias {
        Some(bias) => base + bias,
        None => base,
    };
    match lora {
        Some(lora) => base + lora.forward(x, train),
        None => base,
    }
}
