//! One trial, start to finish: obtain the trained model (train it with QAT and keep it as a
//! checkpoint keyed by the training hash, or reuse the checkpoint an earlier trial with the same
//! training configuration left; see [`super::checkpoint`]), write the trial's own artifact,
//! reload it, evaluate the reloaded model on the test split with the trial's attention kernel,
//! then measure latency and memory on it ([`super::measure_inference`]) and, if asked, training
//! steps ([`super::measure_training`]). Every figure comes from the artifact that is stored, so
//! accuracy, storage and speed describe one model.
use super::artifact_dataset::write_dataset_settings;
use super::checkpoint::{Checkpoints, Lookup, TrainingRecord};
use super::{measure_inference, measure_training};
use super::{DataCache, PlannedTrial, PreparedData, RunOptions};
use crate::experiment::{training_hash, Experiment};
use crate::model::{
    build_model, count_parameters, export_artifact, load_artifact, load_inference,
    pretrained_config, InferenceOptions, ModelDescription, QuantMode, WeightSource,
};
use crate::store::{ArtifactRecord, Metric, MetricKey, TrialResults};
use crate::train::{evaluate, train, TrialProgress};
use crate::Result;
use std::time::Instant;
use tch::nn;

fn metric(key: MetricKey, value: f64) -> Metric {
    Metric {
        key,
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
    let data = cache.get(
        &opts.datasets_dir,
        &cfg.dataset,
        cfg.model.pretrained.as_deref(),
    )?;
    let header = ModelDescription::new(
        cfg.model.clone(),
        cfg.quant.clone(),
        cfg.lora.clone(),
        crate::model::ModelDims {
            vocab_size: data.encoder.vocab_size(),
            num_labels: data.num_labels,
        },
        data.encoder.pad_id(),
        pretrained_config(&cfg.model, &opts.datasets_dir)?,
    );
    let checkpoints = Checkpoints::new(&opts.artifacts_dir);
    let (record, reused) = match checkpoints.lookup(cfg, &header) {
        Lookup::Found(record) => {
            progress.line(&format!(
                "reusing checkpoint {} (trained by trial {}): same training configuration",
                checkpoints.artifact_path(&record.training_hash).display(),
                record.trained_by
            ));
            (record, true)
        }
        Lookup::Missing => (
            train_checkpoint(trial, &header, &data, &checkpoints, opts, progress)?,
            false,
        ),
        Lookup::Unusable(reason) => {
            progress.line(&format!(
                "checkpoint {} cannot be reused ({reason}); training again",
                checkpoints.artifact_path(&training_hash(cfg)).display()
            ));
            (
                train_checkpoint(trial, &header, &data, &checkpoints, opts, progress)?,
                false,
            )
        }
    };

    let artifact_path = opts
        .artifacts_dir
        .join(&experiment.name)
        .join(format!("{}.bitlab", trial.hash));
    let file = checkpoints.write_trial_artifact(cfg, &header, &artifact_path)?;
    write_dataset_settings(&artifact_path, &cfg.dataset)?;
    let loaded = load_artifact(&artifact_path, opts.device)?;
    let test = evaluate(
        loaded.model.as_ref(),
        &data.test,
        QuantMode::WeightsOnGrid,
        256,
        data.num_labels,
        opts.device,
    )?;
    let bits_per_weight =
        8.0 * record.quantized_bytes as f64 / record.quantized_weights.max(1) as f64;
    progress.line(&format!(
        "test accuracy {:.4}, F1 {:.4}; artifact {} bytes ({bits_per_weight:.3} bits per quantized weight)",
        test.accuracy, test.f1, file.bytes,
    ));

    let mut metrics = record.curves.clone();
    metrics.extend([
        metric(MetricKey::TestAccuracy, test.accuracy),
        metric(MetricKey::TestF1, test.f1),
        metric(MetricKey::TestLoss, test.loss),
        metric(MetricKey::BestValAccuracy, record.best_val_accuracy),
        metric(MetricKey::TrainSeconds, record.seconds),
        metric(MetricKey::TrainSteps, record.steps as f64),
        metric(MetricKey::ReusedCheckpoint, if reused { 1.0 } else { 0.0 }),
        metric(MetricKey::ParamsTotal, record.params_total as f64),
        metric(MetricKey::ParamsTrainable, record.params_trainable as f64),
        metric(MetricKey::StorageAdapterBytes, record.adapter_bytes as f64),
        metric(MetricKey::ParamsQuantized, record.quantized_weights as f64),
        metric(MetricKey::StorageBytes, file.bytes as f64),
        metric(
            MetricKey::StorageQuantizedBytes,
            record.quantized_bytes as f64,
        ),
        metric(MetricKey::BitsPerQuantizedWeight, bits_per_weight),
    ]);

    // The inference model (what latency and memory are measured on): packed on the CPU, the
    // reference elsewhere, as the one loader decides.
    let inference = load_inference(
        &artifact_path,
        &InferenceOptions::on(opts.device, cfg.measure.threads),
    )?;
    if inference.is_packed() {
        // The packed model must predict what the reference predicts; record how closely.
        let agreement = super::measurements::compare_packed_with_reference(
            &loaded, &inference, &data.test, 256,
        )?;
        metrics.extend(agreement.metrics());
    }
    drop(loaded);
    let mut measurements = measure_inference(inference, cfg, &artifact_path, opts)?;
    measurements.extend(measure_training(cfg, &artifact_path, opts)?);
    Ok(TrialResults {
        metrics,
        measurements,
        artifact: Some(ArtifactRecord {
            path: artifact_path.display().to_string(),
            bytes: file.bytes as i64,
            sha256: file.sha256.clone(),
        }),
        duration_s: started.elapsed().as_secs_f64(),
    })
}

/// Trains the trial's model, exports it as the checkpoint of its training hash and records
/// what training produced.
fn train_checkpoint(
    trial: &PlannedTrial,
    header: &ModelDescription,
    data: &PreparedData,
    checkpoints: &Checkpoints,
    opts: &RunOptions,
    progress: &TrialProgress,
) -> Result<TrainingRecord> {
    let cfg = &trial.config;
    let quantizer = trial.quantizer.clone();
    let mut vs = nn::VarStore::new(opts.device);
    let model = build_model(
        &mut vs,
        header,
        &quantizer,
        WeightSource::Training {
            datasets_dir: &opts.datasets_dir,
        },
    )?;
    let (params_trainable, params_total) = count_parameters(&vs);
    progress.line(&format!(
        "{params_trainable} of {params_total} parameters train{}",
        if cfg.lora.rank > 0 {
            format!(" (LoRA rank {} adapters and the head)", cfg.lora.rank)
        } else {
            String::new()
        }
    ));
    let outcome = train(
        model.as_ref(),
        &vs,
        cfg,
        &data.train,
        &data.validation,
        data.num_labels,
        &trial.hash,
        progress,
    )?;
    let hash = training_hash(cfg);
    let exported = export_artifact(&vs, &quantizer, header, &checkpoints.artifact_path(&hash))?;
    let record = TrainingRecord {
        training_hash: hash,
        trained_by: trial.hash.clone(),
        artifact_sha256: exported.file.sha256,
        curves: outcome.curves,
        steps: outcome.steps,
        seconds: outcome.seconds,
        best_val_accuracy: outcome.best_val_accuracy,
        params_total,
        params_trainable,
        adapter_bytes: exported.adapter_bytes,
        quantized_bytes: exported.quantized_bytes,
        quantized_weights: exported.quantized_weights,
    };
    checkpoints.save(&record)?;
    Ok(record)
}
