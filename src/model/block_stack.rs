//! A stack of transformer blocks of the classifier's shape with random weights in one kernel,
//! for the model-size benchmark (`bitlab bench model`; weight values do not change the speed):
//! the same [`Block`] code, kernels and activation quantization as the packed classifier
//! (BitNet b1.58, Ma et al., 2024), at shapes far larger than a trained classifier.
use super::block::BlockShape;
use super::linear::Pass;
use super::packed_linear::resident_bytes;
use super::{Block, PackedLinear};
use crate::attention::AttentionKind;
use crate::kernels::{Backend, KernelContext, LinearKernel};
use crate::quant::Quantizer;
use crate::{Error, Result};
use std::sync::Arc;
use tch::{nn, Device, Kind, Tensor};

/// The shape of a [`PackedBlockStack`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StackShape {
    /// Model width.
    pub d_model: usize,
    /// Feed-forward width.
    pub d_ff: usize,
    /// Blocks.
    pub layers: usize,
    /// Attention heads (must divide `d_model`).
    pub heads: usize,
}

/// `layers` [`Block`]s with [`PackedLinear`] layers of random weights.
pub struct PackedBlockStack {
    /// Owns the RMSNorm gains.
    _vs: nn::VarStore,
    blocks: Vec<Block<PackedLinear>>,
    attention: AttentionKind,
}

impl PackedBlockStack {
    /// `layers` blocks of width `d_model`, feed-forward width `d_ff` and `heads` heads, each
    /// linear layer made by `kernel(rows, cols)` (in block order: qkv, attn_out, ffn_up,
    /// ffn_down) and run after `quantizer`'s activation quantization (unless
    /// the kernel quantizes its input itself).
    pub fn random(
        shape: StackShape,
        quantizer: Arc<dyn Quantizer>,
        mut kernel: impl FnMut(usize, usize) -> Result<Box<dyn LinearKernel>>,
    ) -> Result<Self> {
        let StackShape {
            d_model,
            d_ff,
            layers,
            heads,
        } = shape;
        if heads == 0 || d_model % heads != 0 {
            return Err(Error::Invalid(format!(
                "{heads} heads do not divide d_model {d_model}"
            )));
        }
        let block_shape = BlockShape {
            d_model,
            d_ff,
            heads,
            dropout: 0.0,
        };
        let vs = nn::VarStore::new(Device::Cpu);
        let root = vs.root();
        let mut linear = |_: &nn::Path, cols: usize, rows: usize, _bias: bool| {
            kernel(rows, cols).map(|k| PackedLinear::new(k, quantizer.clone()))
        };
        let blocks = (0..layers)
            .map(|i| Block::build(&(&root / "blocks" / i), block_shape, &mut linear))
            .collect::<Result<Vec<_>>>()?;
        Ok(Self {
            _vs: vs,
            blocks,
            attention: AttentionKind::Flash,
        })
    }

    /// Runs every block on `x` (`[batch, len, d_model]`, f32, no padding).
    pub fn forward(&self, x: &Tensor, ctx: &KernelContext) -> Result<Tensor> {
        let (b, l, _) = x
            .size3()
            .map_err(|e| Error::torch("a block-stack input must be [batch, len, d_model]", e))?;
        let mask = Tensor::ones([b, l], (Kind::Int64, Device::Cpu));
        let pass = Pass::packed(*ctx);
        tch::no_grad(|| {
            let mut x = x.shallow_clone();
            for block in &self.blocks {
                x = block.forward(&x, &mask, self.attention, &pass)?;
            }
            Ok(x)
        })
    }

    fn linears(&self) -> impl Iterator<Item = &PackedLinear> {
        self.blocks.iter().flat_map(|b| b.linears())
    }

    /// Weights in the linear layers.
    pub fn parameters(&self) -> usize {
        self.linears()
            .map(|l| (l.shape()[0] * l.shape()[1]) as usize)
            .sum()
    }

    /// Bytes the linear layers keep resident.
    pub fn resident_bytes(&self) -> usize {
        resident_bytes(self.linears())
    }

    /// The kernels of the linear layers, in order (what the energy estimate charges).
    pub fn kernels(&self) -> impl Iterator<Item = &dyn LinearKernel> {
        self.linears().map(PackedLinear::kernel)
    }

    /// The matmul kernel of the first layer, e.g. `bitlab-ternary-2bit-avx2`.
    pub fn kernel_name(&self, backend: Backend) -> String {
        self.linears()
            .next()
            .map_or_else(|| "no layers".into(), |l| l.kernel_name(backend))
    }
}
