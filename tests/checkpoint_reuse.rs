//! Trials that differ only in attention kernel share one trained checkpoint: a two-trial sweep
//! (flash, chunked) on real Rotten Tomatoes data trains once, records `reused_checkpoint`, gives
//! each trial its own artifact with its own kernel in the header, and measures training steps.
//!
//! Needs the datasets fetched (`just test` runs `just setup` first, which does it).
use bitlab::store::{MeasurementKind, MetricKey, Store};
use std::path::PathBuf;
use std::process::Command;

const EXPERIMENT: &str = r#"
seed = 3
[experiment]
name = "reuse"
description = "two kernels, one training"
[dataset]
name = "rotten_tomatoes"
subset = 120
max_len = 24
[dataset.tokenizer]
kind = "wordpiece"
vocab_size = 400
[model]
layers = 1
d_model = 16
heads = 2
d_ff = 32
max_positions = 32
[quant]
scheme = "ternary"
[train]
epochs = 1
batch_size = 32
lr = 2e-3
[measure]
seq_lens = [16, 32]
batch_sizes = [1]
warmup = 0
repeats = 1
threads = 1
memory = true
training = true
[sweep]
attention = ["flash", "chunked"]
"#;

#[test]
fn a_trial_differing_only_in_attention_reuses_the_checkpoint() {
    let tmp = tempfile::tempdir().unwrap();
    let file = tmp.path().join("reuse.toml");
    std::fs::write(&file, EXPERIMENT).unwrap();
    let db = tmp.path().join("results.db");
    let artifacts = tmp.path().join("artifacts");
    let out = Command::new(env!("CARGO_BIN_EXE_bitlab"))
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .arg("sweep")
        .arg(&file)
        .arg("--db")
        .arg(&db)
        .arg("--artifacts")
        .arg(&artifacts)
        .arg("--no-report")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "sweep failed: {stderr}");

    let trials = Store::open(&db).unwrap().trials("reuse").unwrap();
    assert_eq!(trials.len(), 2);
    assert!(trials.iter().all(|t| t.status == "done"), "{stderr}");
    let (first, second) = (&trials[0], &trials[1]);
    assert_eq!(first.final_metric(MetricKey::ReusedCheckpoint), Some(0.0));
    assert_eq!(second.final_metric(MetricKey::ReusedCheckpoint), Some(1.0));
    assert!(
        stderr.contains("reusing checkpoint") && stderr.contains(&first.hash),
        "the reuse is announced with the trial that trained: {stderr}"
    );
    // The reused trial reports the checkpoint's training, and its own test evaluation.
    let curve = |t: &bitlab::store::TrialRecord| {
        t.metrics
            .iter()
            .filter(|m| m.key == MetricKey::TrainLoss)
            .map(|m| m.value)
            .collect::<Vec<_>>()
    };
    assert!(!curve(first).is_empty());
    // Equal up to the last bit that serde_json's default float parsing can lose.
    let (a, b) = (curve(first), curve(second));
    assert_eq!(a.len(), b.len());
    assert!(
        a.iter()
            .zip(&b)
            .all(|(x, y)| (x - y).abs() <= 1e-12 * x.abs()),
        "{a:?} vs {b:?}"
    );
    assert_eq!(
        first.final_metric(MetricKey::TrainSteps),
        second.final_metric(MetricKey::TrainSteps)
    );
    let accuracy =
        |t: &bitlab::store::TrialRecord| t.final_metric(MetricKey::TestAccuracy).unwrap();
    assert!((accuracy(first) - accuracy(second)).abs() <= 0.02);

    // Each trial has its own artifact, whose model description names its own kernel.
    let attention_in_header = |t: &bitlab::store::TrialRecord| {
        let path = PathBuf::from(&t.artifact.as_ref().unwrap().path);
        let artifact = bitlab::artifact::Artifact::read(&path).unwrap();
        let header: serde_json::Value = serde_json::from_str(&artifact.config_json).unwrap();
        header["model"]["attention"].as_str().unwrap().to_string()
    };
    assert_eq!(attention_in_header(first), "flash");
    assert_eq!(attention_in_header(second), "chunked");
    let checkpoints: Vec<_> = std::fs::read_dir(artifacts.join("checkpoints"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|name| name.ends_with(".bitlab"))
        .collect();
    assert_eq!(checkpoints.len(), 1, "one checkpoint: {checkpoints:?}");

    // Training steps are measured per length, with the kernel that ran.
    for (trial, kernel) in [(first, "flash-cpu"), (second, "chunked")] {
        for kind in [
            MeasurementKind::TrainStep,
            MeasurementKind::TrainMemory,
            MeasurementKind::TrainMemoryDelta,
        ] {
            let points: Vec<_> = trial
                .measurements
                .iter()
                .filter(|m| m.kind == kind)
                .collect();
            assert_eq!(points.len(), 2, "{kind}: one point per length");
            assert!(points
                .iter()
                .all(|m| m.kernel.attention.as_deref() == Some(kernel)));
            if kind != MeasurementKind::TrainMemoryDelta {
                assert!(points.iter().all(|m| m.median > 0.0), "{kind}: {points:?}");
            }
        }
    }
}
