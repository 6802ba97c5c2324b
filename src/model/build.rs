//! Building a trial's model: which family, which weights it starts from, which layers get LoRA
//! adapters and which parameters train, and the role each variable plays in the artifact.
use super::bert::BertShape;
use super::linear::Linear;
use super::pretrained::{self, BertConfig};
use super::{
    BertClassifier, Classifier, ModelConfig, ModelDescription, QuantLinear, SequenceClassifier,
};
use crate::quant::{registry, QuantConfig, Quantizer};
use crate::{Error, Result};
use std::path::Path;
use std::sync::Arc;
use tch::nn;

/// Where a freshly built model's weights come from.
#[derive(Debug, Clone, Copy)]
pub enum WeightSource<'a> {
    /// Training: random initialization, or the pretrained checkpoint found under this datasets
    /// folder; LoRA adapters are attached and the base frozen when `lora.rank` > 0.
    Training {
        /// The `datasets/` folder (pretrained checkpoints live in its `.cache/`).
        datasets_dir: &'a Path,
    },
    /// An artifact's tensors will be copied in afterwards; adapters are attached when the
    /// artifact keeps them beside the base.
    Artifact,
}

/// How an artifact stores a variable.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VariableRole {
    /// A quantized linear weight: packed by the trial's quantizer.
    Quantized,
    /// The token embedding table: packed by `quant.embeddings` when set.
    Embedding,
    /// A LoRA adapter matrix: high precision.
    Adapter,
    /// Everything else (norms, biases, position tables, head): high precision.
    HighPrecision,
}

/// True when the variable `name` belongs to a LoRA adapter.
pub fn is_adapter_variable(name: &str) -> bool {
    name.ends_with(super::lora::LORA_A) || name.ends_with(super::lora::LORA_B)
}

/// The role of variable `name` in a model of `model`'s family.
pub fn variable_role(model: &ModelConfig, name: &str) -> VariableRole {
    let pretrained = model.pretrained.is_some();
    if is_adapter_variable(name) {
        VariableRole::Adapter
    } else if (pretrained && BertClassifier::is_quantized_weight(name))
        || (!pretrained && Classifier::is_quantized_weight(name))
    {
        VariableRole::Quantized
    } else if (pretrained && BertClassifier::is_word_embedding(name))
        || (!pretrained && name == "token_embedding.weight")
    {
        VariableRole::Embedding
    } else {
        VariableRole::HighPrecision
    }
}

/// The quantizer that stores the token embedding table, if `quant.embeddings` names one.
pub fn embedding_quantizer(quant: &QuantConfig) -> Result<Option<Arc<dyn Quantizer>>> {
    quant
        .embeddings
        .as_ref()
        .map(|scheme| {
            registry::resolve(&QuantConfig {
                scheme: scheme.clone(),
                group_size: quant.group_size,
                uniform: quant.embeddings_uniform.clone(),
                ..QuantConfig::default()
            })
        })
        .transpose()
}

/// Reads the pretrained checkpoint's `config.json` for `model` (None when it trains from
/// scratch), checking the checkpoint's files first.
pub fn pretrained_config(model: &ModelConfig, datasets_dir: &Path) -> Result<Option<BertConfig>> {
    let Some(name) = &model.pretrained else {
        return Ok(None);
    };
    let model = pretrained::require(name)?;
    let files = pretrained::locate(datasets_dir, model)?;
    BertConfig::load(&files.config, name).map(Some)
}

/// Builds the family of model `header` describes (the BitNet encoder, or BERT when the trial
/// fine-tunes a pretrained checkpoint) under `vs`, its linear layers made by
/// `linear(path, in_dim, out_dim, bias)`: the one place a family is chosen, for training
/// ([`QuantLinear`]) and packed inference ([`super::PackedLinear`]) alike.
pub(crate) fn build_family<L: Linear + 'static>(
    vs: &nn::Path,
    header: &ModelDescription,
    linear: &mut impl FnMut(&nn::Path, usize, usize, bool) -> Result<L>,
) -> Result<Box<dyn SequenceClassifier<L>>> {
    let embeddings = embedding_quantizer(&header.quant)?;
    Ok(match (&header.model.pretrained, &header.bert) {
        (None, _) => Box::new(Classifier::build(
            vs,
            &header.model,
            header.dims,
            embeddings,
            linear,
        )?),
        (Some(_), Some(bert)) => {
            let shape = BertShape {
                num_labels: header.dims.num_labels,
                dropout: header.model.dropout,
                attention: header.model.attention,
            };
            Box::new(BertClassifier::build(vs, bert, shape, embeddings, linear)?)
        }
        (Some(name), None) => {
            return Err(Error::Pretrained {
                name: name.clone(),
                message: "the model header carries no BERT configuration".into(),
                fix: "re-run the trial to export the model again".into(),
            })
        }
    })
}

/// Builds the model `header` describes in `vs`.
pub fn build_model(
    vs: &mut nn::VarStore,
    header: &ModelDescription,
    quantizer: &Arc<dyn Quantizer>,
    source: WeightSource,
) -> Result<Box<dyn SequenceClassifier>> {
    let mut model = build_family(&vs.root(), header, &mut |path, i, o, bias| {
        Ok(QuantLinear::new(path, i, o, bias, quantizer.clone()))
    })?;
    if let (WeightSource::Training { datasets_dir }, Some(name)) =
        (source, &header.model.pretrained)
    {
        let files = pretrained::locate(datasets_dir, pretrained::require(name)?)?;
        pretrained::load_weights(
            vs,
            &files.weights,
            name,
            BertClassifier::is_pretrained_variable,
        )?;
    }
    let lora = &header.lora;
    let wants_adapters = match source {
        WeightSource::Training { .. } => lora.rank > 0,
        WeightSource::Artifact => lora.rank > 0 && !header.merged_lora,
    };
    if wants_adapters {
        // PEFT: the base is frozen, adapters and the classification head train.
        vs.freeze();
        let root = vs.root();
        let attached = model
            .linears_mut()
            .into_iter()
            .map(|linear| linear.attach_lora(&root, lora))
            .filter(|&attached| attached)
            .count();
        if attached == 0 {
            let names: Vec<String> = model
                .linears()
                .iter()
                .map(|l| l.name().to_string())
                .collect();
            return Err(Error::Invalid(format!(
                "lora.targets = {:?} matches none of the model's linear layers ({})\n  fix: use \
                 patterns that occur in those names, or [\"all-linear\"]",
                lora.targets,
                names.join(", ")
            )));
        }
        for (name, tensor) in vs.variables() {
            if name.starts_with("head.") {
                let _ = tensor.set_requires_grad(true);
            }
        }
    }
    Ok(model)
}

/// Parameters that receive gradients (requires_grad), and all parameters, in `vs`.
pub fn count_parameters(vs: &nn::VarStore) -> (i64, i64) {
    vs.variables()
        .values()
        .fold((0, 0), |(trainable, total), t| {
            let n = t.numel() as i64;
            (trainable + if t.requires_grad() { n } else { 0 }, total + n)
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::LoraConfig;
    use crate::model::{export_artifact, load_artifact, smoke_trial, ModelDims, QuantMode};
    use tch::{Device, Kind, Tensor};

    fn header(scheme: &str, rank: usize) -> ModelDescription {
        let mut trial = smoke_trial(scheme);
        trial.lora = LoraConfig {
            rank,
            alpha: 4.0,
            ..Default::default()
        };
        ModelDescription {
            dims: ModelDims {
                vocab_size: 40,
                num_labels: 2,
            },
            ..trial
        }
    }

    fn training(header: &ModelDescription) -> (nn::VarStore, Box<dyn SequenceClassifier>) {
        let quantizer = registry::resolve(&header.quant).unwrap();
        let mut vs = nn::VarStore::new(Device::Cpu);
        let model = build_model(
            &mut vs,
            header,
            &quantizer,
            WeightSource::Training {
                datasets_dir: Path::new("datasets"),
            },
        )
        .unwrap();
        (vs, model)
    }

    fn batch() -> (Tensor, Tensor) {
        let ids = Tensor::randint_low(1, 40, [3, 7], (Kind::Int64, Device::Cpu));
        (ids, Tensor::ones([3, 7], (Kind::Int64, Device::Cpu)))
    }

    #[test]
    fn with_lora_gradients_reach_only_adapters_and_head() {
        let header = header("ternary", 4);
        let (vs, model) = training(&header);
        let (ids, mask) = batch();
        let loss = model
            .forward(&ids, &mask, QuantMode::Train { lambda: 1.0 }, true)
            .unwrap()
            .sum(Kind::Float);
        loss.backward();
        let mut adapters = 0;
        for (name, tensor) in vs.variables() {
            let has_grad = tensor.grad().defined();
            let should = is_adapter_variable(&name) || name.starts_with("head.");
            assert_eq!(has_grad, should, "{name}: gradient {has_grad}");
            adapters += usize::from(is_adapter_variable(&name));
        }
        assert_eq!(
            adapters,
            2 * 4,
            "lora_a and lora_b on the block's 4 linear layers"
        );
        let (trainable, total) = count_parameters(&vs);
        assert!(trainable > 0 && trainable < total, "{trainable} of {total}");
    }

    #[test]
    fn without_lora_every_parameter_trains() {
        let (vs, _model) = training(&header("ternary", 0));
        let (trainable, total) = count_parameters(&vs);
        assert_eq!(trainable, total);
    }

    #[test]
    fn targets_that_match_nothing_are_refused_with_the_layer_names() {
        let mut header = header("ternary", 2);
        header.lora.targets = vec!["query".into()];
        let quantizer = registry::resolve(&header.quant).unwrap();
        let mut vs = nn::VarStore::new(Device::Cpu);
        let err = build_model(
            &mut vs,
            &header,
            &quantizer,
            WeightSource::Training {
                datasets_dir: Path::new("datasets"),
            },
        )
        .err()
        .unwrap()
        .to_string();
        assert!(err.contains("blocks.0.qkv"), "{err}");
    }

    /// fp32 bases merge their adapters at export (no adapter tensors stored); quantized bases
    /// keep them beside the packed weights. Either way the reloaded model computes what the
    /// trained one computes.
    #[test]
    fn export_merges_full_precision_bases_and_keeps_adapters_beside_quantized_ones() {
        for (scheme, merged) in [("fp32", true), ("ternary", false)] {
            let header = header(scheme, 4);
            let (vs, model) = training(&header);
            tch::no_grad(|| {
                for (name, tensor) in vs.variables() {
                    if name.ends_with(super::super::lora::LORA_B) {
                        let _ = tensor.shallow_clone().normal_(0.0, 0.3);
                    }
                }
            });
            let (ids, mask) = batch();
            let expected = tch::no_grad(|| {
                model.forward(&ids, &mask, QuantMode::Train { lambda: 1.0 }, false)
            })
            .unwrap();
            let dir = tempfile::tempdir().unwrap();
            let path = dir.path().join("m.bitlab");
            let quantizer = registry::resolve(&header.quant).unwrap();
            let summary = export_artifact(&vs, &quantizer, &header, &path).unwrap();
            assert_eq!(summary.adapter_bytes == 0, merged, "{scheme}");
            let loaded = load_artifact(&path, Device::Cpu).unwrap();
            assert_eq!(loaded.config.merged_lora, merged, "{scheme}");
            let got = tch::no_grad(|| {
                loaded
                    .model
                    .forward(&ids, &mask, QuantMode::WeightsOnGrid, false)
            })
            .unwrap();
            // The ternary trial stores high-precision tensors in fp16, hence the tolerance.
            let diff = (&got - &expected).abs().max().double_value(&[]);
            assert!(diff < 2e-2, "{scheme}: reloaded logits differ by {diff}");
        }
    }
}
