//! Reports rendered from the results database alone: charts (SVG + PNG), `index.html`,
//! `report.md` and `trials.csv` under `reports/<experiment>/`, plus the `bitlab runs` table.
//!
//! Nothing in a report is typed by hand: [`render`] reads the [`Store`], derives every number
//! ([`data`]), draws the charts ([`chart`]; one file per chart), and writes the documents.
//! Charts and aggregates use `done` trials only, averaged over seeds per scheme; the tables list
//! every trial with its status.
//!
//! # What the report reads
//!
//! The stored data is the store's typed vocabulary ([`crate::store`]); its meaning, in short:
//!
//! - Sweep trials are read through [`TrialRecord::sweep_summary`](crate::store::TrialRecord):
//!   scheme, seed, LoRA rank, warm-up, embedding scheme and attention kernel.
//! - Final metrics have `step = None` ([`MetricKey`](crate::store::MetricKey) documents each):
//!   test accuracy and F1 (fractions in [0, 1]), storage, bits per quantized weight, parameter
//!   counts, training time; for models the packed engine runs, packed agreement and the energy
//!   estimate ([`crate::kernels::energy`]). Curves have `step = Some(epoch)`: train loss,
//!   validation accuracy and loss.
//! - Measurements ([`MeasurementKind`](crate::store::MeasurementKind), unit fixed by the kind):
//!   latency per `seq_len` and `batch`; peak memory of a fresh child process and its growth
//!   above the baseline; with `measure.training`, one QAT training step's time and memory. Each
//!   names the kernels that ran as a [`KernelId`](crate::store::KernelId).
//! - `reused_checkpoint` is 1 when the trial did not train but reused the checkpoint of an
//!   earlier trial with the same training configuration (it then reports that checkpoint's
//!   `train_*` metrics and curves, and its own test evaluation), 0 when it trained.
//! - Series are per scheme, attention kernel, kernel and batch; when the done trials differ in
//!   attention kernel, charts colour lines by attention kernel. Every line's legend and the
//!   growth table give its fitted growth exponent ([`growth`]).
//! - Storage ratios and accuracy gaps are relative to the scheme named `fp32`
//!   ([`data::BASELINE_SCHEME`]). A kernel whose `dequantized` column is set multiplied weights
//!   dequantized to full precision: that scheme's latency is fp32 latency, and the report says
//!   so for each such scheme ([`notes`]).
//!
//! - The experiment's [`ExperimentKind`](crate::store::ExperimentKind) picks the template: a
//!   kernel benchmark (`bitlab bench kernels`; [`kernel_bench`]) gets `kernels.svg+png`
//!   ([`kernel_chart`]) and a table of time, GFLOP/s, weight GB/s, ratio to fp32 and weight
//!   residency per point; a model-scaling benchmark (`bitlab bench model`; [`scaling_bench`])
//!   its own chart and table.
//!
//! # Adding a chart
//!
//! Write one file with a type implementing [`chart::Chart`] and add one line to
//! [`chart::render_all`]; the HTML and Markdown reports pick it up.
pub mod accuracy_chart;
pub mod bench_report;
pub mod chart;
pub mod data;
pub mod document;
pub mod font;
pub mod format;
pub mod growth;
pub mod html;
pub mod kernel_bench;
pub mod kernel_chart;
pub mod latency_chart;
pub mod line_panel;
pub mod lora_chart;
pub mod markdown;
pub mod memory_chart;
pub mod notes;
pub mod readme;
pub mod runs;
pub mod scaling_bench;
pub mod scaling_chart;
pub mod series_style;
pub mod stats;
pub mod storage_chart;
pub mod tables;
pub mod training_chart;
#[cfg(test)]
mod upgrade_tests;

pub use chart::Chart;
pub use data::ReportData;
pub use readme::update_readme;
pub use runs::{runs_table, RunsTable};

use std::path::{Path, PathBuf};

use crate::store::Store;
use crate::{Error, Result};

/// Renders `reports/<experiment>/`: latency.svg+png, memory.svg+png, training.svg+png,
/// storage.svg+png, accuracy.svg+png (for a kernel benchmark: kernels.svg+png instead),
/// index.html, report.md, trials.csv. Returns the paths written.
///
/// `out_dir` is the experiment's report directory itself (created if missing).
pub fn render(store: &Store, experiment: &str, out_dir: &Path) -> Result<Vec<PathBuf>> {
    let data = ReportData::load(store, experiment)?;
    std::fs::create_dir_all(out_dir).map_err(|e| Error::io(out_dir, e))?;

    let charts = chart::render_all(&data, out_dir)?;
    let mut written: Vec<PathBuf> = charts
        .iter()
        .flat_map(|c| [c.svg.clone(), c.png.clone()])
        .collect();

    let doc = document::build(&data, &charts);
    let html_path = out_dir.join("index.html");
    write_file(&html_path, html::render(&doc).as_bytes())?;
    written.push(html_path);
    let markdown_path = out_dir.join("report.md");
    write_file(&markdown_path, markdown::render(&doc).as_bytes())?;
    written.push(markdown_path);

    let csv_path = out_dir.join("trials.csv");
    let mut csv = Vec::new();
    runs_table(store, Some(experiment))?.to_csv(&mut csv)?;
    write_file(&csv_path, &csv)?;
    written.push(csv_path);
    Ok(written)
}

/// Writes `bytes` to `path`, naming the path on failure.
fn write_file(path: &Path, bytes: &[u8]) -> Result<()> {
    std::fs::write(path, bytes).map_err(|e| Error::io(path, e))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::{
        ArtifactRecord, Environment, ExperimentKind, KernelId, Measurement, MeasurementKind,
        Metric, MetricKey, TrialResults,
    };

    /// 2 schemes x 2 seeds, done, plus one failed trial, recorded through the Store API.
    fn synthetic_store(dir: &Path) -> Store {
        let store = Store::open(&dir.join("results.sqlite")).unwrap();
        let exp = store
            .upsert_experiment(
                "tiny",
                ExperimentKind::TrialSweep,
                "Synthetic <test> experiment",
                "[base]",
            )
            .unwrap();
        let env = Environment {
            git_commit: Some("abc1234".into()),
            git_dirty: true,
            bitlab_version: "0.1.0".into(),
            libtorch_version: "2.13.0".into(),
            cpu_model: "AMD EPYC 7B13".into(),
            threads: 2,
            host: "lab-1".into(),
            device: "cpu".into(),
        };
        let sweep = store.begin_sweep(exp, &env).unwrap();
        let schemes = [
            ("fp32", 1_600_000i64, 32.0, "libtorch-fp32"),
            ("ternary", 500_000, 2.0, "libtorch-fp32 (dequantized)"),
        ];
        for (scheme, bytes, bits, kernel) in schemes {
            for seed in [0u64, 1] {
                let config = serde_json::json!({
                    "seed": seed,
                    "quant": {"scheme": scheme, "group_size": 32},
                    "lora": {"rank": 0},
                    "model": {"attention": "flash", "layers": 2},
                });
                let hash = format!("{scheme}-{seed}");
                let label = format!("quant.scheme={scheme} seed={seed}");
                let trial = store
                    .ensure_trial(exp, &hash, &config.to_string(), &label)
                    .unwrap();
                store.mark_running(trial.id, sweep).unwrap();
                let accuracy = if scheme == "fp32" {
                    0.84 + 0.01 * seed as f64
                } else {
                    0.80 + 0.02 * seed as f64
                };
                let mut measurements = Vec::new();
                for (i, seq_len) in [32i64, 64, 128].into_iter().enumerate() {
                    for batch in [1i64, 8] {
                        let ms = (1.0 + i as f64) * batch as f64 * (1.0 + 0.1 * seed as f64);
                        measurements.push(Measurement {
                            kind: MeasurementKind::Latency,
                            kernel: KernelId::from_recorded_name(kernel),
                            seq_len,
                            batch,
                            median: ms,
                            p95: ms * 1.3,
                            repeats: 10,
                        });
                    }
                    let rss = 200e6 + 1e6 * seq_len as f64;
                    measurements.push(Measurement {
                        kind: MeasurementKind::Memory,
                        kernel: KernelId::from_recorded_name(kernel),
                        seq_len,
                        batch: 1,
                        median: rss,
                        p95: rss,
                        repeats: 1,
                    });
                }
                let metric = |key: MetricKey, value: f64| Metric {
                    key,
                    step: None,
                    value,
                };
                let results = TrialResults {
                    metrics: vec![
                        metric(MetricKey::TestAccuracy, accuracy),
                        metric(MetricKey::TestF1, accuracy - 0.01),
                        metric(MetricKey::StorageBytes, bytes as f64),
                        metric(MetricKey::BitsPerQuantizedWeight, bits),
                        Metric {
                            key: MetricKey::TrainLoss,
                            step: Some(0),
                            value: 0.6,
                        },
                    ],
                    measurements,
                    artifact: Some(ArtifactRecord {
                        path: format!("{hash}.bitlab"),
                        bytes,
                        sha256: "00".repeat(32),
                    }),
                    duration_s: 10.0,
                };
                store.finish_trial(trial.id, &results).unwrap();
            }
        }
        let failed = store
            .ensure_trial(
                exp,
                "int8-0",
                r#"{"seed":0,"quant":{"scheme":"int8"}}"#,
                "int8",
            )
            .unwrap();
        store.mark_failed(failed.id, "diverged at step 3").unwrap();
        store.end_sweep(sweep, "done").unwrap();
        store
    }

    #[test]
    fn render_writes_every_file_from_the_database() {
        let dir = tempfile::tempdir().unwrap();
        let store = synthetic_store(dir.path());
        let out = dir.path().join("reports/tiny");
        let written = render(&store, "tiny", &out).unwrap();

        let names: Vec<String> = written
            .iter()
            .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
            .collect();
        for name in [
            "latency.svg",
            "latency.png",
            "memory.svg",
            "memory.png",
            "training.svg",
            "training.png",
            "storage.svg",
            "storage.png",
            "accuracy.svg",
            "accuracy.png",
            "index.html",
            "report.md",
            "trials.csv",
        ] {
            assert!(
                names.contains(&name.to_string()),
                "{name} missing from {names:?}"
            );
            assert!(out.join(name).is_file(), "{name} not written");
        }
        for chart in ["latency", "memory", "storage", "accuracy"] {
            let svg = std::fs::read_to_string(out.join(format!("{chart}.svg"))).unwrap();
            assert!(
                svg.trim_start().starts_with("<svg") && svg.contains("</svg>"),
                "{chart}.svg is not SVG"
            );
            let png = std::fs::read(out.join(format!("{chart}.png"))).unwrap();
            assert!(
                png.len() > 1000 && png.starts_with(b"\x89PNG\r\n\x1a\n"),
                "{chart}.png is not PNG"
            );
        }
        let latency = std::fs::read_to_string(out.join("latency.svg")).unwrap();
        assert!(
            latency.contains("kernel: libtorch-fp32 (dequantized)"),
            "legend names the kernel"
        );
        let storage = std::fs::read_to_string(out.join("storage.svg")).unwrap();
        assert!(
            storage.contains("0.31x fp32") && storage.contains("2 bits/weight"),
            "bars carry ratio and bits"
        );
        let accuracy = std::fs::read_to_string(out.join("accuracy.svg")).unwrap();
        assert!(accuracy.contains("(n=2)"), "bars show the number of seeds");

        let md = std::fs::read_to_string(out.join("report.md")).unwrap();
        for label in [
            "quant.scheme=fp32 seed=0",
            "quant.scheme=fp32 seed=1",
            "quant.scheme=ternary seed=0",
            "quant.scheme=ternary seed=1",
        ] {
            assert_eq!(
                md.matches(&format!("| {label} | done |")).count(),
                1,
                "one row for {label}"
            );
        }
        assert!(md.contains("| int8 | failed |"), "failed trials are listed");
        assert!(md.contains("| 0.31x |"), "storage ratio 500000/1600000");
        assert!(
            md.contains("abc1234") && md.contains("AMD EPYC 7B13"),
            "environment of the sweep"
        );
        assert!(
            md.contains("Synthetic &lt;test> experiment"),
            "markdown prose is escaped"
        );
        assert!(md.contains("is fp32 latency whenever the kernel says so"));
        assert!(md.contains("ternary: timed with kernel \"libtorch-fp32 (dequantized)\""));
        assert!(
            md.contains("| ternary | 2 | 81.00 ± 1.41 | 80.00–82.00 | -3.50 |"),
            "scheme summary: {md}"
        );

        let html = std::fs::read_to_string(out.join("index.html")).unwrap();
        assert!(html.contains("<img src=\"latency.svg\""));
        assert!(html.contains("Synthetic &lt;test&gt; experiment") && !html.contains("<test>"));

        let mut csv = csv::Reader::from_path(out.join("trials.csv")).unwrap();
        assert!(csv
            .headers()
            .unwrap()
            .iter()
            .any(|h| h == "model.attention"));
        assert_eq!(csv.records().count(), 5);
    }

    #[test]
    fn render_unknown_experiment_names_the_fix() {
        let dir = tempfile::tempdir().unwrap();
        let store = synthetic_store(dir.path());
        let err = render(&store, "nope", &dir.path().join("r"))
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("no experiment named `nope`") && err.contains("fix:"),
            "{err}"
        );
    }

    #[test]
    fn render_with_only_pending_trials_still_writes_every_chart() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("r.sqlite")).unwrap();
        let exp = store
            .upsert_experiment("empty", ExperimentKind::TrialSweep, "", "")
            .unwrap();
        store
            .ensure_trial(exp, "h", r#"{"seed":0,"quant":{"scheme":"fp32"}}"#, "a")
            .unwrap();
        let written = render(&store, "empty", &dir.path().join("out")).unwrap();
        assert_eq!(written.len(), 15);
        let svg = std::fs::read_to_string(dir.path().join("out/latency.svg")).unwrap();
        assert!(svg.contains("no done trial has latency measurements"));
    }
}
