//! One pre-norm transformer encoder block with BitNet's sub-layer norms: every quantized linear
//! layer sees an RMS-normalized input, as BitLinear requires (BitNet b1.58, Ma et al., 2024).
//! Generic over its [`Linear`] operation: the same block trains with [`QuantLinear`] and runs
//! packed kernels with [`super::PackedLinear`].
use super::linear::{Linear, Pass};
use super::ModelConfig;
use super::{QuantLinear, RmsNorm};
use crate::attention::{AttentionInput, AttentionKind};
use crate::{Error, Result};
use tch::{nn, Tensor};

/// The sizes of one block.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BlockShape {
    /// Model width.
    pub d_model: usize,
    /// Feed-forward width.
    pub d_ff: usize,
    /// Attention heads (divide `d_model`).
    pub heads: usize,
    /// Dropout probability of the residual branches (training only).
    pub dropout: f64,
}

impl BlockShape {
    /// The block shape of a model trained from scratch.
    pub fn of(cfg: &ModelConfig) -> Self {
        Self {
            d_model: cfg.d_model,
            d_ff: cfg.d_ff,
            heads: cfg.heads,
            dropout: cfg.dropout,
        }
    }
}

/// Multi-head self-attention and a GELU feed-forward, each in a residual branch.
#[derive(Debug)]
pub struct Block<L = QuantLinear> {
    attn_norm: RmsNorm,
    qkv: L,
    attn_out_norm: RmsNorm,
    attn_out: L,
    ffn_norm: RmsNorm,
    ffn_up: L,
    ffn_down_norm: RmsNorm,
    ffn_down: L,
    heads: i64,
    dropout: f64,
}

impl<L: Linear> Block<L> {
    /// Creates the block's norms under `vs` and its linear layers with
    /// `linear(path, in_dim, out_dim, bias)`, in the order qkv, attn_out, ffn_up, ffn_down.
    pub fn build<E>(
        vs: &nn::Path,
        shape: BlockShape,
        linear: &mut impl FnMut(&nn::Path, usize, usize, bool) -> std::result::Result<L, E>,
    ) -> std::result::Result<Self, E> {
        let (d, ff) = (shape.d_model, shape.d_ff);
        Ok(Self {
            attn_norm: RmsNorm::new(&(vs / "attn_norm"), d),
            qkv: linear(&(vs / "qkv"), d, 3 * d, false)?,
            attn_out_norm: RmsNorm::new(&(vs / "attn_out_norm"), d),
            attn_out: linear(&(vs / "attn_out"), d, d, false)?,
            ffn_norm: RmsNorm::new(&(vs / "ffn_norm"), d),
            ffn_up: linear(&(vs / "ffn_up"), d, ff, false)?,
            ffn_down_norm: RmsNorm::new(&(vs / "ffn_down_norm"), ff),
            ffn_down: linear(&(vs / "ffn_down"), ff, d, false)?,
            heads: shape.heads as i64,
            dropout: shape.dropout,
        })
    }

    /// Applies the block to `x` (`[batch, len, d_model]`) with key padding mask `mask` (`[batch, len]`).
    pub fn forward(
        &self,
        x: &Tensor,
        mask: &Tensor,
        attention: AttentionKind,
        pass: &Pass,
    ) -> Result<Tensor> {
        let (b, l, d) = x
            .size3()
            .map_err(|e| Error::torch("a block input must be [batch, len, d_model]", e))?;
        let head_dim = d / self.heads;
        let qkv = self.qkv.forward(&self.attn_norm.forward(x), pass)?;
        let qkv = qkv
            .view([b, l, 3, self.heads, head_dim])
            .permute([2, 0, 3, 1, 4]);
        let (q, k, v) = (qkv.get(0), qkv.get(1), qkv.get(2));
        let input = AttentionInput {
            q: &q,
            k: &k,
            v: &v,
            key_mask: mask,
        };
        let attended = attention.attend(&input).transpose(1, 2).reshape([b, l, d]);
        let attn = self
            .attn_out
            .forward(&self.attn_out_norm.forward(&attended), pass)?;
        let x = x + attn.dropout(self.dropout, pass.train);
        let hidden = self
            .ffn_up
            .forward(&self.ffn_norm.forward(&x), pass)?
            .gelu("none");
        let ffn = self
            .ffn_down
            .forward(&self.ffn_down_norm.forward(&hidden), pass)?;
        Ok(x + ffn.dropout(self.dropout, pass.train))
    }

    /// The block's linear layers.
    pub fn linears(&self) -> [&L; 4] {
        [&self.qkv, &self.attn_out, &self.ffn_up, &self.ffn_down]
    }

    /// The block's linear layers, mutably.
    pub fn linears_mut(&mut self) -> [&mut L; 4] {
        [
            &mut self.qkv,
            &mut self.attn_out,
            &mut self.ffn_up,
            &mut self.ffn_down,
        ]
    }
}
