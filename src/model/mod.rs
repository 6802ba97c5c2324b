//! The transformer encoder classifier whose linear layers are quantized (BitNet b1.58:
//! Ma et al., 2024, "The Era of 1-bit LLMs"), and its export to / import from a packed artifact.
//!
//! As in BitNet b1.58, every linear layer inside the blocks is a [`QuantLinear`]; token and
//! position embeddings, norms and the classification head stay in full precision.
//!
//! A second family, [`BertClassifier`], fine-tunes pretrained BERT checkpoints
//! ([`pretrained`]) with the same quantized layers and LoRA adapters ([`LoraAdapter`]). Both
//! implement [`SequenceClassifier`]; [`build_model`] makes either for a trial.
//!
//! Both families are generic over their [`Linear`] operation: [`QuantLinear`] trains them
//! (fake quantization, STE, LoRA) and [`PackedLinear`] runs them on packed kernels, so there
//! is one forward pass per family. [`load_inference`] loads any artifact for inference and is
//! the one place that decides between packed kernels and the dequantized reference.
mod bert;
mod block;
mod block_stack;
mod build;
mod classifier;
mod config;
mod description;
mod export;
mod inference;
mod linear;
mod lora;
mod packed_linear;
pub mod pretrained;
mod quant_embedding;
mod quant_linear;
mod rms_norm;
mod sequence_classifier;

pub use bert::{BertClassifier, BertShape};
pub use block::{Block, BlockShape};
pub use block_stack::{PackedBlockStack, StackShape};
pub use build::{
    build_model, count_parameters, embedding_quantizer, is_adapter_variable, pretrained_config,
    variable_role, VariableRole, WeightSource,
};
pub use classifier::{Classifier, ModelDims};
pub use config::{LoraConfig, ModelConfig, Pooling, ALL_LINEAR};
pub use description::{ModelDescription, DESCRIPTION_VERSION};
pub use export::{export_artifact, load_artifact, ExportSummary, LoadedModel};
pub use inference::{load_inference, reference_kernel_name, InferenceModel, InferenceOptions};
pub use linear::{Linear, Pass};
pub use lora::{is_target, LoraAdapter};
pub use packed_linear::PackedLinear;
pub use quant_embedding::QuantEmbedding;
pub use quant_linear::{QuantLinear, QuantMode};
pub use rms_norm::RmsNorm;
pub use sequence_classifier::SequenceClassifier;

/// The model of `experiments/smoke.toml` (its `[model]` table; no adapters) with quantizer
/// `scheme` (group size 8), on data of 50 tokens and two classes: a small model description
/// shared by this module's tests.
#[cfg(test)]
pub(crate) fn smoke_trial(scheme: &str) -> ModelDescription {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("experiments/smoke.toml");
    let file: toml::Table = toml::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let model: ModelConfig = file["model"].clone().try_into().unwrap();
    let quant = crate::quant::QuantConfig {
        scheme: scheme.into(),
        group_size: 8,
        uniform: None,
        ..Default::default()
    };
    let dims = ModelDims {
        vocab_size: 50,
        num_labels: 2,
    };
    ModelDescription::new(model, quant, LoraConfig::default(), dims, 0, None)
}

/// A random BitNet encoder classifier of `description` on a vocabulary of `vocab_size` (two
/// labels), with the artifact header that exports it: the fixture the model and runner tests
/// share. Returns the variables, the model, the header and the quantizer.
#[cfg(test)]
pub(crate) fn random_classifier(
    description: ModelDescription,
    vocab_size: usize,
) -> (
    tch::nn::VarStore,
    Classifier,
    ModelDescription,
    std::sync::Arc<dyn crate::quant::Quantizer>,
) {
    let quantizer = crate::quant::registry::resolve(&description.quant).unwrap();
    let dims = ModelDims {
        vocab_size,
        num_labels: 2,
    };
    let vs = tch::nn::VarStore::new(tch::Device::Cpu);
    let model = Classifier::new(
        &vs.root(),
        &description.model,
        dims,
        quantizer.clone(),
        None,
    );
    let header = ModelDescription {
        dims,
        ..description
    };
    (vs, model, header, quantizer)
}
