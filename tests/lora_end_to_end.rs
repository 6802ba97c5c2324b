//! End to end: fine-tuning the pretrained all-MiniLM-L6-v2 with LoRA on a 1.58-bit base with
//! quantization warm-up, through `bitlab sweep`, on a few real Rotten Tomatoes sentences; and a
//! full-precision LoRA trial whose adapters are merged at export.
//!
//! Needs the datasets and the checkpoint fetched (`just test` runs `just setup`).
mod common;
use common::bitlab;
use std::path::Path;

const EXPERIMENT: &str = r#"
seed = 1
[experiment]
name = "lora-e2e"
description = "LoRA on a pretrained ternary base, end to end"
[dataset]
name = "rotten_tomatoes"
subset = 48
eval_subset = 32
max_len = 24
[dataset.tokenizer]
kind = "pretrained"
[model]
pretrained = "all-minilm-l6-v2"
[quant]
scheme = "ternary"
warmup = "linear"
warmup_steps = 2
[lora]
rank = 4
alpha = 8
targets = ["query", "value"]
[train]
epochs = 1
batch_size = 16
lr = 1e-3
[measure]
seq_lens = [16]
batch_sizes = [1]
warmup = 0
repeats = 1
memory = false
[[sweep.zip]]
quantizer = ["ternary", "fp32"]
"quant.warmup" = ["linear", "none"]
"quant.warmup_steps" = [2, 0]
"#;

/// The value of `column` in every row of `bitlab runs --format csv`.
fn column(tmp: &Path, column: &str) -> Vec<String> {
    let out = bitlab(
        &["runs", "--format", "csv", "--experiment", "lora-e2e"],
        tmp,
    );
    assert!(out.status.success());
    let mut reader = csv::Reader::from_reader(out.stdout.as_slice());
    let index = reader
        .headers()
        .unwrap()
        .iter()
        .position(|h| h == column)
        .unwrap_or_else(|| panic!("no column {column}"));
    reader
        .records()
        .map(|r| r.unwrap()[index].to_string())
        .collect()
}

#[test]
fn lora_fine_tuning_of_the_pretrained_model_runs_end_to_end() {
    let tmp = tempfile::tempdir().unwrap();
    let file = tmp.path().join("lora.toml");
    std::fs::write(&file, EXPERIMENT).unwrap();
    let out = bitlab(
        &[
            "sweep",
            file.to_str().unwrap(),
            "--artifacts",
            tmp.path().join("artifacts").to_str().unwrap(),
            "--reports",
            tmp.path().join("reports").to_str().unwrap(),
        ],
        tmp.path(),
    );
    assert!(
        out.status.success(),
        "sweep failed: {}",
        String::from_utf8_lossy(&out.stdout)
    );
    assert_eq!(column(tmp.path(), "status"), ["done", "done"]);
    let numbers = |name: &str| -> Vec<f64> {
        column(tmp.path(), name)
            .iter()
            .map(|v| v.parse().unwrap())
            .collect()
    };
    // Adapters on query and value of 6 layers (rank 4, 384 -> 384) and the 2-class head train.
    let adapters = 6.0 * 2.0 * 4.0 * (384.0 + 384.0);
    for trainable in numbers("params_trainable") {
        assert_eq!(trainable, adapters + 384.0 * 2.0 + 2.0);
    }
    let total = numbers("params_total");
    assert!(total.iter().all(|&t| t > 22e6), "{total:?}");
    // The ternary base keeps its adapters beside it (fp16); the fp32 base merges them.
    let adapter_bytes = numbers("storage_adapter_bytes");
    assert_eq!(adapter_bytes, [adapters * 2.0, 0.0]);
    let accuracy = numbers("test_accuracy");
    assert!(
        accuracy.iter().all(|a| (0.0..=1.0).contains(a)),
        "{accuracy:?}"
    );
    let report = tmp.path().join("reports/lora-e2e");
    assert!(report.join("lora_rank.svg").exists());
    // A pretrained model runs packed like every family: the ternary base on bitlab's kernel,
    // the adapters (query and value of 6 layers) beside it in fp32, and the report names both.
    let html = std::fs::read_to_string(report.join("index.html")).unwrap();
    assert!(html.contains("bitlab-ternary-2bit"), "kernel not named");
    assert!(
        html.contains("libtorch-fp32 LoRA (12 layers)"),
        "adapters not named"
    );
    // The packed model that is measured predicts what the evaluated reference predicts.
    let agreement = numbers("packed_agreement");
    assert!(agreement.iter().all(|&a| a >= 0.9), "{agreement:?}");
    assert!(
        html.contains("ternary · LoRA r4 · warm-up 2"),
        "variant not named"
    );
}

#[test]
fn a_pretrained_model_with_a_shape_key_is_refused_with_the_fix() {
    let tmp = tempfile::tempdir().unwrap();
    let file = tmp.path().join("bad.toml");
    std::fs::write(
        &file,
        EXPERIMENT.replace("[model]\n", "[model]\nlayers = 2\n"),
    )
    .unwrap();
    let out = bitlab(&["sweep", file.to_str().unwrap(), "--dry-run"], tmp.path());
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("model.layers") && err.contains("remove model.layers"),
        "{err}"
    );
}
