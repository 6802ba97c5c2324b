//! Export of a trained classifier to its packed artifact (the storage figure) and loading it
//! back for inference. Each variable is stored by its [`VariableRole`]: quantized linear
//! weights packed by the trial's quantizer; the token embedding table by `quant.embeddings`
//! when set; everything else (norms, biases, position tables, head, LoRA adapters) in high
//! precision, as in BitNet b1.58: the scheme's [`Quantizer::high_precision_storage`] (fp32 for
//! the fp32 baseline, 16-bit otherwise).
//!
//! LoRA adapters are merged into their base weight where that is lossless (a full-precision
//! base: `W + B A alpha / r` is again an fp32 matrix) and kept beside the quantized base
//! otherwise (merging would move the weights off the quantizer's grid); the header records which.
use super::{
    build_model, embedding_quantizer, variable_role, LoraConfig, ModelDescription,
    SequenceClassifier, VariableRole, WeightSource,
};
use crate::artifact::{Artifact, ArtifactSummary, ArtifactTensor};
use crate::quant::{registry, QuantConfig, Quantizer};
use crate::{Error, Result};
use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;
use tch::{nn, Device, Tensor};

/// Unpacks `tensor` into the variable of the same name (removed from `variables`), on
/// `device`; fails if the model has no such variable or another shape.
pub(crate) fn load_tensor(
    variables: &mut HashMap<String, Tensor>,
    tensor: &ArtifactTensor,
    path: &Path,
    device: Device,
) -> Result<()> {
    let bad = |message: String| Error::Artifact {
        path: path.to_path_buf(),
        message,
    };
    let mut target = variables.remove(&tensor.name).ok_or_else(|| {
        bad(format!(
            "tensor `{}` does not belong to this model",
            tensor.name
        ))
    })?;
    let values = registry::resolve_packed(&tensor.packed.scheme)?.unpack(&tensor.packed)?;
    if values.size() != target.size() {
        return Err(bad(format!(
            "tensor `{}` has shape {:?}, the model expects {:?}",
            tensor.name,
            values.size(),
            target.size()
        )));
    }
    tch::no_grad(|| target.f_copy_(&values.to_device(device)))
        .map_err(|e| Error::torch(format!("loading `{}`", tensor.name), e))?;
    Ok(())
}

/// Fails if a variable of the model received no tensor from the artifact at `path`.
pub(crate) fn require_all_loaded(variables: &HashMap<String, Tensor>, path: &Path) -> Result<()> {
    match variables.keys().next() {
        Some(missing) => Err(Error::Artifact {
            path: path.to_path_buf(),
            message: format!("tensor `{missing}` is missing from the artifact"),
        }),
        None => Ok(()),
    }
}

/// What an export wrote: the file's size and checksum, and the share of it that holds the
/// quantized weights (so reports can give bits per quantized weight).
#[derive(Debug, Clone, PartialEq)]
pub struct ExportSummary {
    /// The artifact file's size and sha256.
    pub file: ArtifactSummary,
    /// Bytes of packed quantized weights (codes and scales).
    pub quantized_bytes: u64,
    /// Number of quantized weights.
    pub quantized_weights: u64,
    /// Bytes of LoRA adapter tensors kept beside the base (0 when merged or absent).
    pub adapter_bytes: u64,
}

/// A model rebuilt from an artifact, with its weights on the quantizer's grid.
pub struct LoadedModel {
    /// Owns the parameters.
    pub vs: nn::VarStore,
    /// The classifier (run it with [`super::QuantMode::WeightsOnGrid`]).
    pub model: Box<dyn SequenceClassifier>,
    /// The model description the artifact's header stores.
    pub config: ModelDescription,
    /// The trial's quantizer.
    pub quantizer: Arc<dyn Quantizer>,
}

/// The variables of `vs` as the artifact stores them: adapters merged into their base weight
/// (scaled by `lora`'s alpha / rank) when `merge` is set (and then left out), sorted by name.
fn export_variables(vs: &nn::VarStore, lora: &LoraConfig, merge: bool) -> Vec<(String, Tensor)> {
    let mut variables: HashMap<String, Tensor> = vs
        .variables()
        .into_iter()
        .map(|(name, t)| (name, t.detach().to_device(Device::Cpu)))
        .collect();
    if merge {
        let scaling = lora.alpha / lora.rank.max(1) as f64;
        let layers: Vec<String> = variables
            .keys()
            .filter_map(|n| n.strip_suffix(&format!(".{}", super::lora::LORA_A)))
            .map(str::to_string)
            .collect();
        for layer in layers {
            let a = variables.remove(&format!("{layer}.{}", super::lora::LORA_A));
            let b = variables.remove(&format!("{layer}.{}", super::lora::LORA_B));
            if let (Some(a), Some(b), Some(w)) =
                (a, b, variables.get_mut(&format!("{layer}.weight")))
            {
                *w = &*w + b.matmul(&a) * scaling;
            }
        }
    }
    let mut sorted: Vec<_> = variables.into_iter().collect();
    sorted.sort_by(|a, b| a.0.cmp(&b.0));
    sorted
}

/// Packs every variable of `vs` and writes the artifact to `path`.
pub fn export_artifact(
    vs: &nn::VarStore,
    quantizer: &Arc<dyn Quantizer>,
    config: &ModelDescription,
    path: &Path,
) -> Result<ExportSummary> {
    let high_precision = registry::resolve(&QuantConfig {
        scheme: quantizer.high_precision_storage().to_string(),
        group_size: config.quant.group_size,
        ..QuantConfig::default()
    })?;
    let embeddings = embedding_quantizer(&config.quant)?.unwrap_or_else(|| high_precision.clone());
    let merge = config.lora.rank > 0 && quantizer.is_full_precision();
    let mut header = config.clone();
    header.merged_lora = merge;
    let mut tensors = Vec::new();
    let (mut quantized_bytes, mut quantized_weights, mut adapter_bytes) = (0u64, 0u64, 0u64);
    for (name, tensor) in export_variables(vs, &config.lora, merge) {
        let packed = match variable_role(&config.model, &name) {
            VariableRole::Quantized => {
                let packed = quantizer.pack(&tensor)?;
                quantized_bytes += packed.data.len() as u64;
                quantized_weights += tensor.numel() as u64;
                packed
            }
            VariableRole::Embedding => embeddings.pack(&tensor)?,
            VariableRole::Adapter => {
                let packed = high_precision.pack(&tensor)?;
                adapter_bytes += packed.data.len() as u64;
                packed
            }
            VariableRole::HighPrecision => high_precision.pack(&tensor)?,
        };
        tensors.push(ArtifactTensor { packed, name });
    }
    let artifact = Artifact {
        scheme: quantizer.name().to_string(),
        bitlab_version: env!("CARGO_PKG_VERSION").to_string(),
        config_json: header.to_json(),
        tensors,
    };
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
    }
    let file = artifact.write(path)?;
    Ok(ExportSummary {
        file,
        quantized_bytes,
        quantized_weights,
        adapter_bytes,
    })
}

/// Reads an artifact and rebuilds its classifier on `device`, weights unpacked onto the grid
/// (the training family reloaded: the dequantized reference, and what training-step
/// measurements train; inference goes through [`super::load_inference`]).
pub fn load_artifact(path: &Path, device: Device) -> Result<LoadedModel> {
    load_reference(&Artifact::read(path)?, path, device)
}

/// [`load_artifact`] for an artifact already read from `path` (named in errors).
pub(crate) fn load_reference(
    artifact: &Artifact,
    path: &Path,
    device: Device,
) -> Result<LoadedModel> {
    let config = ModelDescription::of(artifact, path)?;
    let quantizer = registry::resolve(&config.quant)?;
    let mut vs = nn::VarStore::new(device);
    let model = build_model(&mut vs, &config, &quantizer, WeightSource::Artifact)?;
    vs.freeze();
    let mut variables = vs.variables();
    for tensor in &artifact.tensors {
        load_tensor(&mut variables, tensor, path, device)?;
    }
    require_all_loaded(&variables, path)?;
    Ok(LoadedModel {
        vs,
        model,
        config,
        quantizer,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::QuantMode;
    use crate::model::{random_classifier, smoke_trial, Classifier};
    use crate::quant::QuantConfig;
    use tch::{Kind, Tensor};

    /// The reloaded artifact computes what the trained QAT model computes, for every registered
    /// scheme and for a declared one (whose definition travels in the trial's `quant.uniform`).
    #[test]
    fn artifact_round_trip_preserves_logits_for_every_scheme() {
        let declared = QuantConfig {
            scheme: "int3_g16".into(),
            group_size: 8,
            uniform: Some(crate::quant::UniformSpec {
                bits: 3,
                granularity: crate::quant::UniformGranularity::Group,
                group_size: Some(16),
                symmetric: false,
                scale: crate::quant::ScaleRule::Mse,
            }),
            ..Default::default()
        };
        let registered = registry::names().into_iter().map(|name| QuantConfig {
            scheme: name.into(),
            group_size: 8,
            uniform: None,
            ..Default::default()
        });
        for quant in registered.chain([declared]) {
            tch::manual_seed(7);
            let scheme = quant.scheme.clone();
            let mut trial = smoke_trial(&scheme);
            trial.quant = quant;
            let (vs, model, config, quantizer) = random_classifier(trial, 50);
            // Round the high-precision tensors to their storage type first (fp16 for low-bit schemes).
            let storage = registry::resolve(&QuantConfig {
                scheme: quantizer.high_precision_storage().into(),
                group_size: 8,
                uniform: None,
                ..Default::default()
            })
            .unwrap();
            tch::no_grad(|| {
                for (name, mut var) in vs.variables() {
                    if !Classifier::is_quantized_weight(&name) {
                        var.copy_(&storage.quantize_weight(&var));
                    }
                }
            });
            let ids = Tensor::randint_low(1, 50, [3, 9], (Kind::Int64, Device::Cpu));
            let mask = Tensor::ones([3, 9], (Kind::Int64, Device::Cpu));
            let expected = tch::no_grad(|| {
                model.forward(&ids, &mask, QuantMode::Train { lambda: 1.0 }, false)
            })
            .unwrap();

            let dir = tempfile::tempdir().unwrap();
            let path = dir.path().join("model.bitlab");
            let summary = export_artifact(&vs, &quantizer, &config, &path).unwrap();
            assert_eq!(summary.file.bytes, std::fs::metadata(&path).unwrap().len());
            let loaded = load_artifact(&path, Device::Cpu).unwrap();
            let got = tch::no_grad(|| {
                loaded
                    .model
                    .forward(&ids, &mask, QuantMode::WeightsOnGrid, false)
            })
            .unwrap();
            // The expected logits come through the straight-through form `w + (q(w) - w)`, which
            // can differ from the stored `q(w)` in the last bit; a per-token 8-bit activation
            // code downstream can then round the other way (binary did, on AVX-512 machines),
            // moving logits by a fraction of one code step (1/127 of a token's range). Exact
            // agreement is the rule; the bound allows one such step, and predictions must agree.
            let diff = (&got - &expected).abs().max().double_value(&[]);
            let scale = expected.abs().max().double_value(&[]).max(1.0);
            assert!(
                diff < 1e-2 * scale,
                "{scheme}: reloaded logits differ by {diff} (logit scale {scale})"
            );
            assert!(
                got.argmax(-1, false).equal(&expected.argmax(-1, false)),
                "{scheme}: reloaded predictions differ"
            );
        }
    }

    #[test]
    fn ternary_artifact_stores_about_two_bits_per_quantized_weight() {
        let (vs, _model, config, quantizer) = random_classifier(smoke_trial("ternary"), 50);
        let dir = tempfile::tempdir().unwrap();
        let summary =
            export_artifact(&vs, &quantizer, &config, &dir.path().join("t.bitlab")).unwrap();
        let bits = 8.0 * summary.quantized_bytes as f64 / summary.quantized_weights as f64;
        assert!(bits > 2.0 && bits <= 2.1, "ternary bits per weight {bits}");
    }

    #[test]
    fn loading_an_artifact_of_another_model_fails_clearly() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("m.bitlab");
        std::fs::write(&path, b"not an artifact").unwrap();
        let err = load_artifact(&path, Device::Cpu)
            .err()
            .expect("garbage is refused");
        assert!(matches!(err, Error::Artifact { .. }), "{err}");
    }
}
