//! Export of a trained classifier to its packed artifact (the storage figure) and loading it
//! back for inference. Quantized block weights are packed by the trial's quantizer; embeddings,
//! norms and the head stay in high precision, as in BitNet b1.58: the scheme's
//! [`Quantizer::high_precision_storage`] (fp32 for the fp32 baseline, 16-bit otherwise).
use super::{Classifier, ModelDims};
use crate::artifact::{Artifact, ArtifactSummary, ArtifactTensor};
use crate::experiment::{QuantConfig, TrialConfig};
use crate::quant::{registry, Quantizer};
use crate::{Error, Result};
use serde::{Deserialize, Serialize};
use std::path::Path;
use std::sync::Arc;
use tch::{nn, Device};

/// Everything needed to rebuild the model from an artifact, stored in its header.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ArtifactConfig {
    /// The trial that produced the model.
    pub trial: TrialConfig,
    /// Data-dependent sizes.
    pub dims: ModelDims,
    /// Padding token id.
    pub pad_id: i64,
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
}

/// A model rebuilt from an artifact, with its weights on the quantizer's grid.
pub struct LoadedModel {
    /// Owns the parameters.
    pub vs: nn::VarStore,
    /// The classifier (run it with [`super::QuantMode::WeightsOnGrid`]).
    pub model: Classifier,
    /// The header configuration.
    pub config: ArtifactConfig,
    /// The trial's quantizer.
    pub quantizer: Arc<dyn Quantizer>,
}

/// Packs every variable of `vs` and writes the artifact to `path`.
pub fn export_artifact(
    vs: &nn::VarStore,
    quantizer: &Arc<dyn Quantizer>,
    config: &ArtifactConfig,
    path: &Path,
) -> Result<ExportSummary> {
    let high_precision = registry::resolve(&QuantConfig {
        scheme: quantizer.high_precision_storage().to_string(),
        group_size: config.trial.quant.group_size,
        uniform: None,
    })?;
    let mut variables: Vec<_> = vs.variables().into_iter().collect();
    variables.sort_by(|a, b| a.0.cmp(&b.0));
    let mut tensors = Vec::with_capacity(variables.len());
    let (mut quantized_bytes, mut quantized_weights) = (0u64, 0u64);
    for (name, tensor) in variables {
        let tensor = tensor.detach().to_device(Device::Cpu);
        let packed = if Classifier::is_quantized_weight(&name) {
            let packed = quantizer.pack(&tensor)?;
            quantized_bytes += packed.data.len() as u64;
            quantized_weights += tensor.numel() as u64;
            packed
        } else {
            high_precision.pack(&tensor)?
        };
        tensors.push(ArtifactTensor { packed, name });
    }
    let artifact = Artifact {
        scheme: quantizer.name().to_string(),
        bitlab_version: env!("CARGO_PKG_VERSION").to_string(),
        config_json: serde_json::to_string(config).expect("artifact config serializes"),
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
    })
}

/// Reads an artifact and rebuilds its classifier on `device`, weights unpacked onto the grid.
pub fn load_artifact(path: &Path, device: Device) -> Result<LoadedModel> {
    let artifact = Artifact::read(path)?;
    let bad = |message: String| Error::Artifact {
        path: path.to_path_buf(),
        message,
    };
    let config: ArtifactConfig = serde_json::from_str(&artifact.config_json)
        .map_err(|e| bad(format!("header configuration is not readable by this bitlab ({e}); re-run the trial to re-export")))?;
    let quantizer = registry::resolve(&config.trial.quant)?;
    let mut vs = nn::VarStore::new(device);
    let model = Classifier::new(
        &vs.root(),
        &config.trial.model,
        config.dims,
        quantizer.clone(),
    );
    vs.freeze();
    let mut variables = vs.variables();
    for tensor in &artifact.tensors {
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
    }
    if let Some(missing) = variables.keys().next() {
        return Err(bad(format!(
            "tensor `{missing}` is missing from the artifact"
        )));
    }
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
    use crate::experiment::QuantConfig;
    use crate::model::smoke_trial;
    use crate::model::QuantMode;
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
        };
        let registered = registry::names().into_iter().map(|name| QuantConfig {
            scheme: name.into(),
            group_size: 8,
            uniform: None,
        });
        for quant in registered.chain([declared]) {
            tch::manual_seed(7);
            let scheme = quant.scheme.clone();
            let mut trial = smoke_trial(&scheme);
            trial.quant = quant;
            let quantizer = registry::resolve(&trial.quant).unwrap();
            let dims = ModelDims {
                vocab_size: 50,
                num_labels: 2,
            };
            let vs = nn::VarStore::new(Device::Cpu);
            let model = Classifier::new(&vs.root(), &trial.model, dims, quantizer.clone());
            // Round the high-precision tensors to their storage type first (fp16 for low-bit schemes).
            let storage = registry::resolve(&QuantConfig {
                scheme: quantizer.high_precision_storage().into(),
                group_size: 8,
                uniform: None,
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
            });

            let dir = tempfile::tempdir().unwrap();
            let path = dir.path().join("model.bitlab");
            let config = ArtifactConfig {
                trial,
                dims,
                pad_id: 0,
            };
            let summary = export_artifact(&vs, &quantizer, &config, &path).unwrap();
            assert_eq!(summary.file.bytes, std::fs::metadata(&path).unwrap().len());
            let loaded = load_artifact(&path, Device::Cpu).unwrap();
            let got = tch::no_grad(|| {
                loaded
                    .model
                    .forward(&ids, &mask, QuantMode::WeightsOnGrid, false)
            });
            let diff = (&got - &expected).abs().max().double_value(&[]);
            assert!(diff < 1e-4, "{scheme}: reloaded logits differ by {diff}");
        }
    }

    #[test]
    fn ternary_artifact_stores_about_two_bits_per_quantized_weight() {
        let trial = smoke_trial("ternary");
        let quantizer = registry::resolve(&trial.quant).unwrap();
        let dims = ModelDims {
            vocab_size: 50,
            num_labels: 2,
        };
        let vs = nn::VarStore::new(Device::Cpu);
        let _model = Classifier::new(&vs.root(), &trial.model, dims, quantizer.clone());
        let dir = tempfile::tempdir().unwrap();
        let config = ArtifactConfig {
            trial,
            dims,
            pad_id: 0,
        };
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
