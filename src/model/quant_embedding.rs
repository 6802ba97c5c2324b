//! A token embedding table that may be stored at low precision (`quant.embeddings`). BitNet
//! b1.58 keeps embeddings in high precision (Ma et al., 2024); a pretrained BERT's word table is
//! over half its weights, so storing it with, say, int4 decides the artifact size. When a
//! scheme is set, training sees the quantized table through the straight-through estimator and
//! the artifact stores its codes, so evaluation and storage describe the same model.
use super::QuantMode;
use crate::quant::{ste, Quantizer};
use std::cell::RefCell;
use std::sync::Arc;
use tch::{nn, Tensor};

/// An embedding table with an optional weight quantizer.
#[derive(Debug)]
pub struct QuantEmbedding {
    /// `[rows, dim]` table (variable `weight`).
    pub weight: Tensor,
    quantizer: Option<Arc<dyn Quantizer>>,
    /// q(weight) of a frozen table (LoRA fine-tuning), computed on first use: a frozen table
    /// never changes, and quantizing 30,000 x 384 values every step costs more than the step.
    frozen_quantized: RefCell<Option<Tensor>>,
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
        Self {
            weight,
            quantizer,
            frozen_quantized: RefCell::new(None),
        }
    }

    /// Rows of the table for `ids`.
    pub fn forward(&self, ids: &Tensor, mode: QuantMode) -> Tensor {
        let table = match (&self.quantizer, mode) {
            (Some(q), QuantMode::Train { lambda }) if self.weight.requires_grad() => {
                ste(&self.weight, &q.quantize_weight(&self.weight), lambda)
            }
            (Some(q), QuantMode::Train { lambda }) => {
                let mut cache = self.frozen_quantized.borrow_mut();
                let quantized =
                    cache.get_or_insert_with(|| tch::no_grad(|| q.quantize_weight(&self.weight)));
                ste(&self.weight, quantized, lambda)
            }
            _ => self.weight.shallow_clone(),
        };
        Tensor::embedding(&table, ids, -1, false, false)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::quant::registry;
    use crate::quant::QuantConfig;
    use tch::{Device, Kind};

    /// A frozen table reuses its quantized copy and gives exactly what a trainable one gives.
    #[test]
    fn frozen_and_trainable_tables_look_up_the_same_quantized_rows() {
        let int4 = registry::resolve(&QuantConfig {
            scheme: "int4".into(),
            group_size: 8,
            ..Default::default()
        })
        .unwrap();
        let mut vs = nn::VarStore::new(Device::Cpu);
        let table = QuantEmbedding::new(&(vs.root() / "emb"), 20, 16, Some(int4));
        let ids = Tensor::from_slice(&[1i64, 5, 19]).view([1, 3]);
        let mode = QuantMode::Train { lambda: 0.5 };
        let trainable = table.forward(&ids, mode);
        vs.freeze();
        let frozen = table.forward(&ids, mode);
        let again = table.forward(&ids, mode);
        assert!(table.frozen_quantized.borrow().is_some());
        let diff = (&frozen - &trainable).abs().max().double_value(&[]);
        assert_eq!(diff, 0.0);
        assert_eq!(
            (&again - &frozen).abs().sum(Kind::Float).double_value(&[]),
            0.0
        );
    }
}
