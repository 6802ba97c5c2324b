//! Trained models keyed by the hash of their training-relevant configuration
//! ([`training_hash`]), so trials that differ only in attention kernel or measurement settings
//! train once and share the result.
//!
//! A checkpoint is two files under `<artifacts>/checkpoints/`: `<training hash>.bitlab`, the
//! packed artifact of the trained model, and `<training hash>.json`, a [`TrainingRecord`] with
//! what training produced (curves, steps, time) and the artifact's sha256. The record is written
//! after the artifact (both atomically), so an interrupted export leaves no record and the next
//! trial trains again.
//!
//! Before a checkpoint is reused, [`Checkpoints::lookup`] checks that the record names the same
//! training hash, that the artifact's bytes are the ones the record describes, that the
//! artifact's header still reads (its model description, docs/FORMAT.md), and that
//! the data-dependent sizes (vocabulary, classes, padding id) match today's tokenized data. Any
//! mismatch makes the trial train again, with the reason printed.
use crate::artifact::{Artifact, ArtifactSummary};
use crate::experiment::{training_hash, TrialConfig};
use crate::model::ModelDescription;
use crate::store::Metric;
use crate::{Error, Result};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};

/// What training a checkpoint produced, stored beside its artifact.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrainingRecord {
    /// [`training_hash`] of the configuration that was trained.
    pub training_hash: String,
    /// Canonical hash of the trial that trained it.
    pub trained_by: String,
    /// Hex sha256 of the checkpoint artifact file.
    pub artifact_sha256: String,
    /// Training curves (`train_loss` per step, `val_accuracy` and `val_loss` per epoch).
    pub curves: Vec<Metric>,
    /// Optimizer steps taken.
    pub steps: usize,
    /// Wall-clock seconds of training.
    pub seconds: f64,
    /// Best validation accuracy over epochs.
    pub best_val_accuracy: f64,
    /// All parameters of the model (adapters included).
    pub params_total: i64,
    /// Parameters that trained (all of them without LoRA; adapters and head with it).
    #[serde(default)]
    pub params_trainable: i64,
    /// Bytes of LoRA adapters stored beside the base (0 when merged or absent).
    #[serde(default)]
    pub adapter_bytes: u64,
    /// Bytes of packed quantized weights in the artifact.
    pub quantized_bytes: u64,
    /// Number of quantized weights.
    pub quantized_weights: u64,
}

/// The outcome of looking a training hash up.
#[derive(Debug)]
pub enum Lookup {
    /// A checkpoint that passed every check.
    Found(TrainingRecord),
    /// No checkpoint for this training hash.
    Missing,
    /// A checkpoint exists but cannot be used, for this reason.
    Unusable(String),
}

/// The checkpoint folder of a sweep's artifacts directory.
#[derive(Debug, Clone)]
pub struct Checkpoints {
    dir: PathBuf,
}

impl Checkpoints {
    /// Checkpoints kept under `<artifacts_dir>/checkpoints/`.
    pub fn new(artifacts_dir: &Path) -> Self {
        Self {
            dir: artifacts_dir.join("checkpoints"),
        }
    }

    /// Where the artifact of `training_hash` lives.
    pub fn artifact_path(&self, training_hash: &str) -> PathBuf {
        self.dir.join(format!("{training_hash}.bitlab"))
    }

    fn record_path(&self, training_hash: &str) -> PathBuf {
        self.dir.join(format!("{training_hash}.json"))
    }

    /// Finds a reusable checkpoint for `trial`, whose artifact header would be `header`.
    pub fn lookup(&self, trial: &TrialConfig, header: &ModelDescription) -> Lookup {
        let hash = training_hash(trial);
        let record_path = self.record_path(&hash);
        let text = match std::fs::read_to_string(&record_path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Lookup::Missing,
            Err(e) => return Lookup::Unusable(format!("{}: {e}", record_path.display())),
        };
        match self.check(&hash, &text, header) {
            Ok(record) => Lookup::Found(record),
            Err(reason) => Lookup::Unusable(reason),
        }
    }

    fn check(
        &self,
        hash: &str,
        record_text: &str,
        header: &ModelDescription,
    ) -> std::result::Result<TrainingRecord, String> {
        let record: TrainingRecord = serde_json::from_str(record_text)
            .map_err(|e| format!("its training record is unreadable ({e})"))?;
        if record.training_hash != hash {
            return Err(format!(
                "its record is for training hash {}",
                record.training_hash
            ));
        }
        let path = self.artifact_path(hash);
        let bytes = std::fs::read(&path).map_err(|e| format!("{}: {e}", path.display()))?;
        if hex::encode(Sha256::digest(&bytes)) != record.artifact_sha256 {
            return Err("the artifact's sha256 differs from its record's".into());
        }
        // The artifact is the one the record's training hash names, byte for byte (its sha256);
        // its header describes the model only, so the training configuration is the record's.
        let stored = ModelDescription::read(&path).map_err(|e| e.to_string())?;
        if stored.dims != header.dims || stored.pad_id != header.pad_id {
            return Err(format!(
                "it was trained on data with {:?} and padding id {}, today's data gives {:?} and {}",
                stored.dims, stored.pad_id, header.dims, header.pad_id
            ));
        }
        Ok(record)
    }

    /// Records `record` for its training hash; the artifact must already be in place.
    pub fn save(&self, record: &TrainingRecord) -> Result<()> {
        let path = self.record_path(&record.training_hash);
        let partial = path.with_extension("json.partial");
        let text = serde_json::to_string_pretty(record).expect("training record serializes");
        std::fs::write(&partial, text).map_err(|e| Error::io(&partial, e))?;
        std::fs::rename(&partial, &path).map_err(|e| Error::io(&path, e))
    }

    /// Writes the trial's own artifact to `path`: the checkpoint's packed tensors, byte for
    /// byte, under the trial's model description (its attention kernel), so everything that
    /// loads the trial's artifact runs the trial's model.
    pub fn write_trial_artifact(
        &self,
        trial: &TrialConfig,
        header: &ModelDescription,
        path: &Path,
    ) -> Result<ArtifactSummary> {
        let source = self.artifact_path(&training_hash(trial));
        let mut artifact = Artifact::read(&source)?;
        // Keep what export decided (merged adapters) and the checkpoint's own shape.
        let stored = ModelDescription::of(&artifact, &source)?;
        let trial_header = ModelDescription {
            model: header.model.clone(),
            quant: header.quant.clone(),
            lora: header.lora.clone(),
            ..stored
        };
        artifact.config_json = trial_header.to_json();
        artifact.write(path)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::experiment::{AttentionKind, Experiment};
    use crate::model::{export_artifact, Classifier, ModelDims};
    use crate::quant::registry;
    use tch::{nn, Device};

    /// A checkpoint of an untrained smoke-sized model, saved under `dir`, with the trial that
    /// trained it and its model description.
    fn saved_checkpoint(dir: &Path) -> (Checkpoints, TrialConfig, ModelDescription) {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("experiments/smoke.toml");
        let trial = Experiment::load(&path).unwrap().trials[0].config.clone();
        let header = description(&trial, 40);
        let quantizer = registry::resolve(&header.quant).unwrap();
        let vs = nn::VarStore::new(Device::Cpu);
        let _model = Classifier::new(
            &vs.root(),
            &header.model,
            header.dims,
            quantizer.clone(),
            None,
        );
        let checkpoints = Checkpoints::new(dir);
        let hash = training_hash(&trial);
        let exported =
            export_artifact(&vs, &quantizer, &header, &checkpoints.artifact_path(&hash)).unwrap();
        checkpoints
            .save(&TrainingRecord {
                training_hash: hash,
                trained_by: "t0".into(),
                artifact_sha256: exported.file.sha256,
                curves: vec![],
                steps: 3,
                seconds: 1.0,
                best_val_accuracy: 0.5,
                params_total: 10,
                params_trainable: 10,
                adapter_bytes: 0,
                quantized_bytes: exported.quantized_bytes,
                quantized_weights: exported.quantized_weights,
            })
            .unwrap();
        (checkpoints, trial, header)
    }

    /// The model description of `trial` on data with `vocab_size` tokens and two classes.
    fn description(trial: &TrialConfig, vocab_size: usize) -> ModelDescription {
        let dims = ModelDims {
            vocab_size,
            num_labels: 2,
        };
        ModelDescription::new(
            trial.model.clone(),
            trial.quant.clone(),
            trial.lora.clone(),
            dims,
            0,
            None,
        )
    }

    #[test]
    fn another_kernel_reuses_and_another_training_does_not() {
        let dir = tempfile::tempdir().unwrap();
        let (checkpoints, trial, _header) = saved_checkpoint(dir.path());
        let mut other_kernel = trial.clone();
        other_kernel.model.attention = AttentionKind::Chunked;
        other_kernel.measure.repeats += 1;
        let other_kernel_header = description(&other_kernel, 40);
        assert!(
            matches!(checkpoints.lookup(&other_kernel, &other_kernel_header), Lookup::Found(r) if r.steps == 3)
        );

        let out = dir.path().join("trial.bitlab");
        checkpoints
            .write_trial_artifact(&other_kernel, &other_kernel_header, &out)
            .unwrap();
        let loaded = crate::model::load_artifact(&out, Device::Cpu).unwrap();
        assert_eq!(loaded.config, other_kernel_header, "the trial's own header");

        let mut other_training = trial.clone();
        other_training.train.lr *= 2.0;
        assert!(matches!(
            checkpoints.lookup(&other_training, &description(&other_training, 40)),
            Lookup::Missing
        ));
    }

    #[test]
    fn changed_data_or_a_changed_file_is_not_reused() {
        let dir = tempfile::tempdir().unwrap();
        let (checkpoints, trial, header) = saved_checkpoint(dir.path());
        let other_vocabulary = description(&trial, 41);
        assert!(
            matches!(checkpoints.lookup(&trial, &other_vocabulary), Lookup::Unusable(r) if r.contains("today's data"))
        );

        let path = checkpoints.artifact_path(&training_hash(&trial));
        let mut bytes = std::fs::read(&path).unwrap();
        let last = bytes.len() - 1;
        bytes[last] ^= 1;
        std::fs::write(&path, bytes).unwrap();
        assert!(
            matches!(checkpoints.lookup(&trial, &header), Lookup::Unusable(r) if r.contains("sha256"))
        );
    }
}
