//! A token embedding table that may be stored at low precision (`quant.embeddings`). BitNet
//! b1.58 keeps embeddings in high precision (Ma et al., 2024); a pretrained BERT's word table is
//! over half its weights, so storing it with, say, int4 decides the artifact size. When a
//! scheme is set, training sees the quantized table through the straight-through estimator and
//! the artifact stores its codes, so evaluation and storage describe the same model.
use super::QuantMode;
use crate::quant::{ste, Quantizer};
use std::sync::Arc;
use tch::{nn, Tensor};

/// An embedding table with an optional weight quantizer.
#[derive(Debug)]
pub struct QuantEmbedding {
    /// `[rows, dim]` table (variable `weight`).
    pub weight: Tensor,
    quantizer: Option<Arc<dyn Quantizer>>,
}

impl QuantEmbedding {
    /// Creates a `N(0, 0.02)`-initialized `[rows, dim]` table named `weight` under `vs`.
    pub fn new(
        vs: &nn::Path,
        rows: usize,
        dim: usize,
        quantizer: Option<Arc<dyn Quantizer>>,
    ) -> Self {
        let weight = vs.var(
            "weight",
            &[rows as i64, dim as i64],
            nn::Init::Randn {
                mean: 0.0,
                stdev: 0.02,
            },
        );
        Self { weight, quantizer }
    }

    /// Rows of the table for `ids`.
    pub fn forward(&self, ids: &Tensor, mode: QuantMode) -> Tensor {
        let table = match (&self.quantizer, mode) {
            (Some(q), QuantMode::Train { lambda }) => {
                ste(&self.weight, &q.quantize_weight(&self.weight), lambda)
            }
            _ => self.weight.shallow_clone(),
        };
        Tensor::embedding(&table, ids, -1, false, false)
    }
}
