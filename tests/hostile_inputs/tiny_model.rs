//! A tiny classifier exported the way a trial exports it: the seeds of the artifact campaign
//! and the committed format fixture.
use std::path::Path;

use bitlab::experiment::{Experiment, QuantConfig, TrialConfig};
use bitlab::model::{export_artifact, Classifier, ModelDescription, ModelDims};
use bitlab::quant::registry;
use tch::{nn, Device};

/// Vocabulary of the tiny model (token ids `0..VOCAB`).
pub const VOCAB: usize = 24;

/// The first trial of `experiments/smoke.toml`, shrunk to one block of width 16, quantized
/// with `scheme` (group size 8).
pub fn tiny_trial(scheme: &str) -> TrialConfig {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("experiments/smoke.toml");
    let mut trial = Experiment::load(&path).expect("smoke.toml loads").trials[0]
        .config
        .clone();
    trial.quant = QuantConfig {
        scheme: scheme.into(),
        group_size: 8,
        ..QuantConfig::default()
    };
    trial.model.layers = 1;
    trial.model.d_model = 16;
    trial.model.heads = 2;
    trial.model.d_ff = 32;
    trial.model.max_positions = 16;
    trial.dataset.max_len = 16;
    trial.measure.seq_lens = vec![8, 16];
    trial
}

/// Builds the tiny model with weights drawn from `seed` and exports it to `path`.
pub fn export_tiny(scheme: &str, seed: i64, path: &Path) {
    tch::manual_seed(seed);
    let trial = tiny_trial(scheme);
    let quantizer = registry::resolve(&trial.quant).expect("a registered scheme");
    let dims = ModelDims {
        vocab_size: VOCAB,
        num_labels: 2,
    };
    let vs = nn::VarStore::new(Device::Cpu);
    let _model = Classifier::new(&vs.root(), &trial.model, dims, quantizer.clone(), None);
    let config = ModelDescription::new(trial.model, trial.quant, trial.lora, dims, 0, None);
    export_artifact(&vs, &quantizer, &config, path).expect("the tiny model exports");
}
