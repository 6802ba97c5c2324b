//! `bitlab infer`: classify texts with a trained artifact. The text goes through the trial's own
//! pipeline (normalizer and tokenizer: the cached tokenizer the trial trained, or the pretrained
//! checkpoint's), then through the model [`crate::model::load_inference`] loads on the CPU
//! (packed weights resident, bitlab's kernels, for every model family); the result names the
//! kernels that ran, as every measurement does.
use super::artifact_dataset::read_dataset_settings;
use super::prepared_data::SUBSET_SEED;
use crate::data::{Dataset, Example, TextEncoder};
use crate::experiment::TokenizerKind;
use crate::model::{load_inference, InferenceOptions, ModelDescription};
use crate::{Error, Result};
use std::path::Path;
use tch::Kind;

/// The class a model gives one text.
#[derive(Debug, Clone, PartialEq)]
pub struct Prediction {
    /// The input text.
    pub text: String,
    /// Predicted class index.
    pub label: usize,
    /// Its name in the dataset (e.g. `positive`).
    pub label_name: String,
    /// Softmax probability of every class.
    pub probabilities: Vec<f64>,
}

/// Predictions for a batch of texts, with the kernels that computed them.
#[derive(Debug, Clone, PartialEq)]
pub struct Classification {
    /// One per input text, in order.
    pub predictions: Vec<Prediction>,
    /// Name of the kernels that ran (as in latency measurements).
    pub kernel: String,
}

/// Classifies `texts` with the model of `artifact`, whose dataset (for the tokenizer and label
/// names) lives under `datasets_dir`, on `threads` CPU threads.
pub fn classify(
    artifact: &Path,
    datasets_dir: &Path,
    texts: &[String],
    threads: usize,
) -> Result<Classification> {
    if texts.is_empty() {
        return Err(Error::Invalid(
            "no text to classify\n  fix: pass texts as arguments or one per line on stdin".into(),
        ));
    }
    tch::set_num_threads(threads as i32);
    let header = ModelDescription::read(artifact)?;
    let settings = read_dataset_settings(artifact)?;
    let mut dataset = Dataset::load(datasets_dir, &settings.name)?;
    let encoder = match (settings.tokenizer.kind, &header.model.pretrained) {
        (TokenizerKind::Pretrained, Some(model)) => {
            TextEncoder::pretrained(datasets_dir, model, &dataset.name, settings.lowercase)?
        }
        _ => {
            if let Some(n) = settings.subset {
                dataset.subset_train(n, SUBSET_SEED);
            }
            TextEncoder::for_dataset(datasets_dir, &dataset, &settings)?
        }
    };
    if encoder.vocab_size() != header.dims.vocab_size {
        return Err(Error::Artifact {
            path: artifact.to_path_buf(),
            message: format!(
                "the tokenizer rebuilt from datasets/{} has {} tokens, the model {}; the \
                 dataset changed since training, so re-run the trial",
                settings.name,
                encoder.vocab_size(),
                header.dims.vocab_size
            ),
        });
    }
    let examples: Vec<Example> = texts
        .iter()
        .map(|text| Example {
            text: text.clone(),
            label: 0,
        })
        .collect();
    let encoded = encoder.encode(&examples, settings.max_len)?;
    let batch = encoded.batches(examples.len(), None).remove(0);
    let model = load_inference(artifact, &InferenceOptions::cpu(threads))?;
    let logits = model.forward(&batch.ids, &batch.mask)?;
    let kernel = model.kernel_name();
    let probabilities = logits.softmax(-1, Kind::Double);
    let rows: Vec<Vec<f64>> = Vec::<Vec<f64>>::try_from(&probabilities)
        .map_err(|e| Error::torch("reading the predicted probabilities", e))?;
    let predictions = texts
        .iter()
        .zip(rows)
        .map(|(text, probabilities)| {
            let label = probabilities
                .iter()
                .enumerate()
                .max_by(|a, b| a.1.total_cmp(b.1))
                .map_or(0, |(i, _)| i);
            Prediction {
                text: text.clone(),
                label,
                label_name: dataset
                    .label_names
                    .get(label)
                    .cloned()
                    .unwrap_or_else(|| label.to_string()),
                probabilities,
            }
        })
        .collect();
    Ok(Classification {
        predictions,
        kernel,
    })
}
