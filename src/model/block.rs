//! One pre-norm transformer encoder block with BitNet's sub-layer norms: every quantized linear
//! layer sees an RMS-normalized input, as BitLinear requires (BitNet b1.58, Ma et al., 2024).
use super::{QuantLinear, QuantMode, RmsNorm};
use crate::attention::{AttentionInput, AttentionKind};
use crate::experiment::ModelConfig;
use crate::quant::Quantizer;
use std::sync::Arc;
use tch::{nn, Tensor};

/// Multi-head self-attention and a GELU feed-forward, each in a residual branch.
#[derive(Debug)]
pub struct Block {
    attn_norm: RmsNorm,
    qkv: QuantLinear,
    attn_out_norm: RmsNorm,
    attn_out: QuantLinear,
    ffn_norm: RmsNorm,
    ffn_up: QuantLinear,
    ffn_down_norm: RmsNorm,
    ffn_down: QuantLinear,
    heads: i64,
    dropout: f64,
}

impl Block {
    /// Creates the block's parameters under `vs`.
    pub fn new(vs: &nn::Path, cfg: &ModelConfig, quantizer: &Arc<dyn Quantizer>) -> Self {
        let (d, ff) = (cfg.d_model, cfg.d_ff);
        Self {
            attn_norm: RmsNorm::new(&(vs / "attn_norm"), d),
            qkv: QuantLinear::new(&(vs / "qkv"), d, 3 * d, false, quantizer.clone()),
            attn_out_norm: RmsNorm::new(&(vs / "attn_out_norm"), d),
            attn_out: QuantLinear::new(&(vs / "attn_out"), d, d, false, quantizer.clone()),
            ffn_norm: RmsNorm::new(&(vs / "ffn_norm"), d),
            ffn_up: QuantLinear::new(&(vs / "ffn_up"), d, ff, false, quantizer.clone()),
            ffn_down_norm: RmsNorm::new(&(vs / "ffn_down_norm"), ff),
            ffn_down: QuantLinear::new(&(vs / "ffn_down"), ff, d, false, quantizer.clone()),
            heads: cfg.heads as i64,
            dropout: cfg.dropout,
        }
    }

    /// Applies the block to `x` (`[batch, len, d_model]`) with key padding mask `mask` (`[batch, len]`).
    pub fn forward(
        &self,
        x: &Tensor,
        mask: &Tensor,
        attention: AttentionKind,
        mode: QuantMode,
        train: bool,
    ) -> Tensor {
        let (b, l, d) = x
            .size3()
            .expect("block input must be [batch, len, d_model]");
        let head_dim = d / self.heads;
        let qkv = self.qkv.forward(&self.attn_norm.forward(x), mode, train);
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
            .forward(&self.attn_out_norm.forward(&attended), mode, train);
        let x = x + attn.dropout(self.dropout, train);
        let hidden = self
            .ffn_up
            .forward(&self.ffn_norm.forward(&x), mode, train)
            .gelu("none");
        let ffn = self
            .ffn_down
            .forward(&self.ffn_down_norm.forward(&hidden), mode, train);
        x + ffn.dropout(self.dropout, train)
    }

    /// The block's quantized linear layers.
    pub fn quant_linears(&self) -> [&QuantLinear; 4] {
        [&self.qkv, &self.attn_out, &self.ffn_up, &self.ffn_down]
    }

    /// The block's quantized linear layers, mutably.
    pub fn quant_linears_mut(&mut self) -> [&mut QuantLinear; 4] {
        [
            &mut self.qkv,
            &mut self.attn_out,
            &mut self.ffn_up,
            &mut self.ffn_down,
        ]
    }
}
