//! Transformer encoder classifier: token + position embeddings, quantized pre-norm blocks,
//! final RMSNorm, pooling and a full-precision classification head (BitNet b1.58 keeps
//! embeddings and the output head in high precision: Ma et al., 2024).
use super::{Block, QuantEmbedding, QuantLinear, QuantMode, RmsNorm, SequenceClassifier};
use crate::attention::AttentionKind;
use crate::experiment::{ModelConfig, Pooling};
use crate::quant::Quantizer;
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
pub struct Classifier {
    token_embedding: QuantEmbedding,
    position_embedding: nn::Embedding,
    blocks: Vec<Block>,
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
        let d = cfg.d_model as i64;
        let embedding = nn::EmbeddingConfig {
            ws_init: nn::Init::Randn {
                mean: 0.0,
                stdev: 0.02,
            },
            ..Default::default()
        };
        let blocks_path = vs / BLOCKS;
        Self {
            token_embedding: QuantEmbedding::new(
                &(vs / "token_embedding"),
                dims.vocab_size,
                cfg.d_model,
                embedding_quantizer,
            ),
            position_embedding: nn::embedding(
                vs / "position_embedding",
                cfg.max_positions as i64,
                d,
                embedding,
            ),
            blocks: (0..cfg.layers)
                .map(|i| Block::new(&(&blocks_path / i), cfg, &quantizer))
                .collect(),
            final_norm: RmsNorm::new(&(vs / "final_norm"), cfg.d_model),
            head: nn::linear(vs / "head", d, dims.num_labels as i64, Default::default()),
            attention: cfg.attention,
            cfg: cfg.clone(),
        }
    }

    /// True when the variable named `name` (as in the var store) is a quantized linear weight.
    pub fn is_quantized_weight(name: &str) -> bool {
        name.starts_with(BLOCKS) && name.ends_with(".weight") && !name.contains("norm")
    }

    /// The model configuration.
    pub fn config(&self) -> &ModelConfig {
        &self.cfg
    }
}

impl SequenceClassifier for Classifier {
    fn forward(&self, ids: &Tensor, mask: &Tensor, mode: QuantMode, train: bool) -> Tensor {
        let len = ids.size()[1];
        let positions = Tensor::arange(len, (Kind::Int64, ids.device()));
        let mut x = self.token_embedding.forward(ids, mode)
            + positions.apply(&self.position_embedding).unsqueeze(0);
        x = x.dropout(self.cfg.dropout, train);
        for block in &self.blocks {
            x = block.forward(&x, mask, self.attention, mode, train);
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
        pooled.apply(&self.head)
    }

    fn quant_linears(&self) -> Vec<&QuantLinear> {
        self.blocks.iter().flat_map(|b| b.quant_linears()).collect()
    }

    fn quant_linears_mut(&mut self) -> Vec<&mut QuantLinear> {
        self.blocks
            .iter_mut()
            .flat_map(|b| b.quant_linears_mut())
            .collect()
    }

    fn set_attention(&mut self, attention: AttentionKind) {
        self.attention = attention;
    }
}
