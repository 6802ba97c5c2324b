//! Transformer encoder classifier: token + position embeddings, quantized pre-norm blocks,
//! final RMSNorm, pooling and a full-precision classification head (BitNet b1.58 keeps
//! embeddings and the output head in high precision: Ma et al., 2024). Generic over the
//! blocks' [`Linear`] operation: [`QuantLinear`] trains it, [`super::PackedLinear`] runs it on
//! packed kernels ([`super::load_inference`]).
use super::block::BlockShape;
use super::linear::{Linear, Pass};
use super::quant_linear::{infallible, quant_linear_maker};
use super::{Block, QuantEmbedding, QuantLinear, RmsNorm, SequenceClassifier};
use super::{ModelConfig, Pooling};
use crate::attention::AttentionKind;
use crate::quant::Quantizer;
use crate::Result;
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use tch::{nn, Kind, Tensor};

/// Sizes the model takes from the data rather than from the experiment file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ModelDims {
    /// Tokenizer vocabulary size (embedding rows).
    pub vocab_size: usize,
    /// Number of classes.
    pub num_labels: usize,
}

/// The sequence classifier.
#[derive(Debug)]
pub struct Classifier<L = QuantLinear> {
    token_embedding: QuantEmbedding,
    position_embedding: nn::Embedding,
    blocks: Vec<Block<L>>,
    final_norm: RmsNorm,
    head: nn::Linear,
    attention: AttentionKind,
    cfg: ModelConfig,
}

/// Variable-store prefix of the transformer blocks (their linear weights are the quantized ones).
const BLOCKS: &str = "blocks";

impl Classifier {
    /// Builds the model under `vs`, quantizing every block linear layer with `quantizer`.
    pub fn new(
        vs: &nn::Path,
        cfg: &ModelConfig,
        dims: ModelDims,
        quantizer: Arc<dyn Quantizer>,
        embedding_quantizer: Option<Arc<dyn Quantizer>>,
    ) -> Self {
        infallible(Self::build(
            vs,
            cfg,
            dims,
            embedding_quantizer,
            &mut quant_linear_maker(&quantizer),
        ))
    }

    /// True when the variable named `name` (as in the var store) is a quantized linear weight.
    pub fn is_quantized_weight(name: &str) -> bool {
        name.starts_with(BLOCKS) && name.ends_with(".weight") && !name.contains("norm")
    }
}

impl<L: Linear> Classifier<L> {
    /// Builds the model under `vs` with the block linear layers made by
    /// `linear(path, in_dim, out_dim, bias)` (see [`Block::build`]); embeddings, norms and head
    /// are variables of `vs`, created in the same order for every `L`.
    pub fn build<E>(
        vs: &nn::Path,
        cfg: &ModelConfig,
        dims: ModelDims,
        embedding_quantizer: Option<Arc<dyn Quantizer>>,
        linear: &mut impl FnMut(&nn::Path, usize, usize, bool) -> std::result::Result<L, E>,
    ) -> std::result::Result<Self, E> {
        let d = cfg.d_model as i64;
        let embedding = nn::EmbeddingConfig {
            ws_init: nn::Init::Randn {
                mean: 0.0,
                stdev: 0.02,
            },
            ..Default::default()
        };
        let blocks_path = vs / BLOCKS;
        let token_embedding = QuantEmbedding::new(
            &(vs / "token_embedding"),
            dims.vocab_size,
            cfg.d_model,
            embedding_quantizer,
        );
        let position_embedding = nn::embedding(
            vs / "position_embedding",
            cfg.max_positions as i64,
            d,
            embedding,
        );
        let blocks = (0..cfg.layers)
            .map(|i| Block::build(&(&blocks_path / i), BlockShape::of(cfg), &mut *linear))
            .collect::<std::result::Result<Vec<_>, E>>()?;
        Ok(Self {
            token_embedding,
            position_embedding,
            blocks,
            final_norm: RmsNorm::new(&(vs / "final_norm"), cfg.d_model),
            head: nn::linear(vs / "head", d, dims.num_labels as i64, Default::default()),
            attention: cfg.attention,
            cfg: cfg.clone(),
        })
    }

    /// The model configuration.
    pub fn config(&self) -> &ModelConfig {
        &self.cfg
    }
}

impl<L: Linear> SequenceClassifier<L> for Classifier<L> {
    fn logits(&self, ids: &Tensor, mask: &Tensor, pass: &Pass) -> Result<Tensor> {
        let len = ids.size()[1];
        let positions = Tensor::arange(len, (Kind::Int64, ids.device()));
        let mut x = self.token_embedding.forward(ids, pass.mode)
            + positions.apply(&self.position_embedding).unsqueeze(0);
        x = x.dropout(self.cfg.dropout, pass.train);
        for block in &self.blocks {
            x = block.forward(&x, mask, self.attention, pass)?;
        }
        let x = self.final_norm.forward(&x);
        let pooled = match self.cfg.pooling {
            Pooling::Cls => x.select(1, 0),
            Pooling::Mean => {
                let m = mask.to_kind(x.kind()).unsqueeze(-1);
                (&x * &m).sum_dim_intlist(1, false, x.kind())
                    / m.sum_dim_intlist(1, false, x.kind()).clamp_min(1.0)
            }
        };
        Ok(pooled.apply(&self.head))
    }

    fn linears(&self) -> Vec<&L> {
        self.blocks.iter().flat_map(|b| b.linears()).collect()
    }

    fn linears_mut(&mut self) -> Vec<&mut L> {
        self.blocks
            .iter_mut()
            .flat_map(|b| b.linears_mut())
            .collect()
    }

    fn set_attention(&mut self, attention: AttentionKind) {
        self.attention = attention;
    }
}
