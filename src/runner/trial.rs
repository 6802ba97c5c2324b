//! One trial, start to finish: train with QAT, export the packed artifact, reload it, evaluate
//! the reloaded model on the test split, then measure latency and memory on it
//! ([`super::measure_inference`]). Every figure
//! comes from the artifact that is stored, so accuracy, storage and speed describe one model.
use super::measure_inference;
use super::{DataCache, PlannedTrial, RunOptions};
use crate::experiment::Experiment;
use crate::model::{
    export_artifact, load_artifact, ArtifactConfig, Classifier, ModelDims, QuantMode,
};
use crate::quant::registry;
use crate::store::{ArtifactRecord, Metric, TrialResults};
use crate::train::{evaluate, train, TrialProgress};
use crate::Result;
use std::time::Instant;
use tch::nn;

fn metric(key: &str, value: f64) -> Metric {
    Metric {
        key: key.to_string(),
        step: None,
        value,
    }
}

/// Runs `trial` and returns everything to record.
pub fn run_trial(
    experiment: &Experiment,
    trial: &PlannedTrial,
    opts: &RunOptions,
    cache: &mut DataCache,
    progress: &TrialProgress,
) -> Result<TrialResults> {
    let started = Instant::now();
    let cfg = &trial.config;
    tch::manual_seed(cfg.seed as i64);
    tch::set_num_threads(cfg.measure.threads as i32);
    let data = cache.get(&opts.datasets_dir, &cfg.dataset)?;
    let quantizer = registry::resolve(&cfg.quant)?;
    let dims = ModelDims {
        vocab_size: data.encoder.vocab_size(),
        num_labels: data.num_labels,
    };

    let vs = nn::VarStore::new(opts.device);
    let model = Classifier::new(&vs.root(), &cfg.model, dims, quantizer.clone());
    let outcome = train(
        &model,
        &vs,
        cfg,
        &data.train,
        &data.validation,
        data.num_labels,
        &trial.hash,
        progress,
    )?;
    let total_params: i64 = vs
        .trainable_variables()
        .iter()
        .map(|t| t.numel() as i64)
        .sum();

    let artifact_path = opts
        .artifacts_dir
        .join(&experiment.name)
        .join(format!("{}.bitlab", trial.hash));
    let header = ArtifactConfig {
        trial: cfg.clone(),
        dims,
        pad_id: data.encoder.pad_id(),
    };
    let exported = export_artifact(&vs, &quantizer, &header, &artifact_path)?;
    drop(model);
    drop(vs);

    let mut loaded = load_artifact(&artifact_path, opts.device)?;
    let test = evaluate(
        &loaded.model,
        &data.test,
        QuantMode::WeightsOnGrid,
        256,
        data.num_labels,
        opts.device,
    );
    progress.line(&format!(
        "test accuracy {:.4}, F1 {:.4}; artifact {} bytes ({:.3} bits per quantized weight)",
        test.accuracy,
        test.f1,
        exported.file.bytes,
        8.0 * exported.quantized_bytes as f64 / exported.quantized_weights.max(1) as f64
    ));

    let mut metrics = outcome.curves;
    metrics.extend([
        metric("test_accuracy", test.accuracy),
        metric("test_f1", test.f1),
        metric("test_loss", test.loss),
        metric("best_val_accuracy", outcome.best_val_accuracy),
        metric("train_seconds", outcome.seconds),
        metric("train_steps", outcome.steps as f64),
        metric("params_total", total_params as f64),
        metric("params_trainable", total_params as f64),
        metric("params_quantized", exported.quantized_weights as f64),
        metric("storage_bytes", exported.file.bytes as f64),
        metric("storage_quantized_bytes", exported.quantized_bytes as f64),
        metric(
            "bits_per_quantized_weight",
            8.0 * exported.quantized_bytes as f64 / exported.quantized_weights.max(1) as f64,
        ),
    ]);

    loaded.model.set_attention(cfg.model.attention);
    let measurements = measure_inference(&loaded, quantizer.as_ref(), cfg, &artifact_path, opts)?;
    Ok(TrialResults {
        metrics,
        measurements,
        artifact: Some(ArtifactRecord {
            path: artifact_path.display().to_string(),
            bytes: exported.file.bytes as i64,
            sha256: exported.file.sha256.clone(),
        }),
        duration_s: started.elapsed().as_secs_f64(),
    })
}
