//! The report's tables, as text cells: environment, per-scheme summary, one row per trial, and
//! the growth of every measurement with length.
//!
//! Tables list every trial with its status; aggregates use done trials only. Cells are plain
//! text; the Markdown and HTML renderers escape them.
use super::data::{
    kernels_of, lora_rank_of, measurement_at, scheme_of, seed_of, storage_bytes, ReportData,
    BASELINE_SCHEME,
};
use super::format::{byte_unit, bytes as format_bytes, number, or_dash, percent, ratio};
use super::series_style::series_growth;
use crate::store::{KernelId, MeasurementKind, MetricKey, Unit};

/// A table of text cells.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Table {
    /// Column headings.
    pub headers: Vec<String>,
    /// Rows, each with one cell per heading.
    pub rows: Vec<Vec<String>>,
}

/// The environment of the latest sweep, as `field | value` rows (empty if no sweep was recorded).
pub fn environment_table(data: &ReportData) -> Table {
    let Some(sweep) = &data.sweep else {
        return Table::default();
    };
    let env = &sweep.environment;
    let rows = [
        ("sweep", format!("#{} ({})", sweep.id, sweep.status)),
        ("started", sweep.started_at.clone()),
        (
            "ended",
            sweep.ended_at.clone().unwrap_or_else(|| "—".into()),
        ),
        (
            "git commit",
            env.git_commit
                .clone()
                .unwrap_or_else(|| "unknown (not a git checkout)".into()),
        ),
        (
            "uncommitted changes",
            if env.git_dirty { "yes" } else { "no" }.into(),
        ),
        ("bitlab version", env.bitlab_version.clone()),
        ("libtorch version", env.libtorch_version.clone()),
        ("CPU", env.cpu_model.clone()),
        ("threads", env.threads.to_string()),
        ("host", env.host.clone()),
        ("device", env.device.clone()),
    ];
    Table {
        headers: vec!["field".into(), "value".into()],
        rows: rows
            .into_iter()
            .map(|(k, v)| vec![k.to_string(), v])
            .collect(),
    }
}

/// One row per scheme over its done trials: accuracy mean ± std and range over seeds, gap to
/// fp32 in percentage points, storage, ratio to fp32, bits per quantized weight, estimated
/// matmul energy per token, kernels.
pub fn scheme_table(data: &ReportData) -> Table {
    let headers = [
        "scheme",
        "seeds",
        "accuracy % (mean ± std)",
        "accuracy % (min–max)",
        &format!("gap to {BASELINE_SCHEME} (points)"),
        "F1 % (mean)",
        "storage (bytes, mean)",
        &format!("ratio to {BASELINE_SCHEME}"),
        "bits / quantized weight",
        "matmul energy nJ / token (estimate)",
        "latency kernel",
    ];
    let rows = data
        .scheme_summaries()
        .into_iter()
        .map(|s| {
            vec![
                s.scheme.clone(),
                s.trials.to_string(),
                or_dash(s.accuracy, |a| {
                    format!("{} ± {}", percent(a.mean), percent(a.std))
                }),
                or_dash(s.accuracy, |a| {
                    format!("{}–{}", percent(a.min), percent(a.max))
                }),
                or_dash(s.accuracy_gap_points, |g| format!("{g:+.2}")),
                or_dash(s.f1, |f| percent(f.mean)),
                or_dash(s.storage_bytes, |b| format!("{b:.0}")),
                or_dash(s.storage_ratio, ratio),
                or_dash(s.bits_per_quantized_weight, number),
                or_dash(s.energy_estimate_pj_per_token, |pj| number(pj / 1e3)),
                if s.kernels.is_empty() {
                    "—".into()
                } else {
                    join_kernels(&s.kernels)
                },
            ]
        })
        .collect();
    Table {
        headers: headers.iter().map(|h| h.to_string()).collect(),
        rows,
    }
}

/// One row per trial (any status): label, status, scheme, seed, accuracy, F1, storage, ratio to
/// fp32, bits per quantized weight, LoRA rank, trainable parameters and adapter bytes (when any
/// trial has adapters), latency per length at the table batch size, peak memory per
/// length, kernel, and the error of failed or interrupted trials.
pub fn trial_table(data: &ReportData) -> Table {
    let batch = data.table_batch();
    let latency_lens = data.seq_lens(MeasurementKind::Latency);
    let memory_lens = data.seq_lens(MeasurementKind::Memory);
    let memory_max = data
        .trials
        .iter()
        .flat_map(|t| &t.measurements)
        .filter(|m| m.kind == MeasurementKind::Memory)
        .map(|m| m.median)
        .fold(0.0, f64::max);
    let (memory_scale, memory_unit) = byte_unit(memory_max);
    let with_errors = data.trials.iter().any(|t| t.error.is_some());
    let with_lora = data.trials.iter().any(|t| lora_rank_of(t) > 0);

    let mut headers: Vec<String> = [
        "id",
        "label",
        "status",
        "scheme",
        "seed",
        "accuracy %",
        "F1 %",
        "storage (bytes)",
        &format!("ratio to {BASELINE_SCHEME}"),
        "bits / quantized weight",
    ]
    .iter()
    .map(|h| h.to_string())
    .collect();
    if with_lora {
        headers.extend(["LoRA rank", "trainable params", "adapter bytes"].map(String::from));
    }
    let batch_text = batch.map(|b| format!(", batch {b}")).unwrap_or_default();
    headers.extend(
        latency_lens
            .iter()
            .map(|l| format!("latency ms @{l}{batch_text}")),
    );
    headers.extend(
        memory_lens
            .iter()
            .map(|l| format!("peak memory {memory_unit} @{l}")),
    );
    headers.push("kernel".into());
    if with_errors {
        headers.push("error".into());
    }

    let rows = data
        .trials
        .iter()
        .map(|t| {
            let mut row = vec![
                t.id.to_string(),
                t.label.clone(),
                t.status.clone(),
                scheme_of(t),
                seed_of(t),
                or_dash(t.final_metric(MetricKey::TestAccuracy), percent),
                or_dash(t.final_metric(MetricKey::TestF1), percent),
                or_dash(storage_bytes(t), |b| format!("{b:.0}")),
                or_dash(data.storage_ratio(t), ratio),
                or_dash(t.final_metric(MetricKey::BitsPerQuantizedWeight), number),
            ];
            if with_lora {
                row.extend([
                    lora_rank_of(t).to_string(),
                    or_dash(t.final_metric(MetricKey::ParamsTrainable), |p| {
                        format!("{p:.0}")
                    }),
                    or_dash(t.final_metric(MetricKey::StorageAdapterBytes), |b| {
                        format!("{b:.0}")
                    }),
                ]);
            }
            row.extend(latency_lens.iter().map(|&l| {
                or_dash(
                    measurement_at(t, MeasurementKind::Latency, l, batch),
                    |ms| format!("{ms:.3}"),
                )
            }));
            row.extend(memory_lens.iter().map(|&l| {
                or_dash(measurement_at(t, MeasurementKind::Memory, l, None), |b| {
                    format!("{:.1}", b / memory_scale)
                })
            }));
            let kernels = kernels_of(t, MeasurementKind::Latency);
            row.push(if kernels.is_empty() {
                "—".into()
            } else {
                join_kernels(&kernels)
            });
            if with_errors {
                row.push(t.error.clone().unwrap_or_default());
            }
            row
        })
        .collect();
    Table { headers, rows }
}

/// Recorded kernel names, comma-separated.
fn join_kernels(kernels: &[KernelId]) -> String {
    kernels
        .iter()
        .map(KernelId::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}

/// Measurement kinds of the growth table: inference latency and memory, then the training
/// step's.
const GROWTH_KINDS: [MeasurementKind; 6] = [
    MeasurementKind::Latency,
    MeasurementKind::Memory,
    MeasurementKind::MemoryDelta,
    MeasurementKind::TrainStep,
    MeasurementKind::TrainMemory,
    MeasurementKind::TrainMemoryDelta,
];

/// One row per measurement series (kind, attention kernel, scheme, kernel, batch): the fitted
/// growth exponent of its medians against length (see [`super::growth`]), the lengths fitted,
/// and the values at the shortest and longest length measured.
pub fn growth_table(data: &ReportData) -> Table {
    let headers = [
        "measurement",
        "attention",
        "scheme",
        "batch",
        "growth exponent",
        "fitted over lengths",
        "at shortest length",
        "at longest length",
        "kernel",
    ];
    let mut rows = Vec::new();
    for kind in GROWTH_KINDS {
        for series in data.series(kind) {
            let (Some(first), Some(last)) = (series.points.first(), series.points.last()) else {
                continue;
            };
            let value = |v: f64| match kind.unit() {
                Unit::Bytes => format_bytes(v),
                Unit::Ms => format!("{} ms", number(v)),
            };
            let growth = series_growth(&series);
            rows.push(vec![
                kind.to_string(),
                or_dash(
                    Some(series.attention.as_str()).filter(|a| !a.is_empty()),
                    str::to_string,
                ),
                series.scheme.clone(),
                series.batch.to_string(),
                or_dash(growth, |g| format!("{:.2}", g.exponent)),
                or_dash(growth, |g| {
                    format!("{:.0}–{:.0} ({} points)", g.from_len, g.to_len, g.points)
                }),
                format!("{} @{}", value(first.median), first.seq_len),
                format!("{} @{}", value(last.median), last.seq_len),
                series.kernel.to_string(),
            ]);
        }
    }
    Table {
        headers: headers.iter().map(|h| h.to_string()).collect(),
        rows,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::data::tests::trial;

    fn data() -> ReportData {
        let mut failed = trial(3, "ternary", 1, "failed", 0.0, 0);
        failed.error = Some("diverged".into());
        failed.measurements.clear();
        failed.metrics.clear();
        failed.artifact = None;
        ReportData::new(
            "e",
            "",
            None,
            vec![
                trial(1, "fp32", 0, "done", 0.8, 1000),
                trial(2, "ternary", 0, "done", 0.75, 310),
                failed,
            ],
        )
    }

    #[test]
    fn trial_table_lists_every_trial_with_ratio_and_latency() {
        let table = trial_table(&data());
        assert_eq!(table.rows.len(), 3);
        assert!(
            table
                .headers
                .contains(&"latency ms @32, batch 1".to_string()),
            "{:?}",
            table.headers
        );
        let col = |name: &str| table.headers.iter().position(|h| h == name).unwrap();
        assert_eq!(table.rows[1][col("ratio to fp32")], "0.31x");
        assert_eq!(table.rows[1][col("accuracy %")], "75.00");
        assert_eq!(table.rows[1][col("latency ms @32, batch 1")], "1.000");
        assert_eq!(table.rows[1][col("kernel")], "libtorch-fp32 (dequantized)");
        assert_eq!(table.rows[2][col("status")], "failed");
        assert_eq!(table.rows[2][col("error")], "diverged");
        assert_eq!(table.rows[2][col("accuracy %")], "—");
        assert!(table.rows.iter().all(|r| r.len() == table.headers.len()));
    }

    #[test]
    fn scheme_table_has_gap_to_fp32_in_points() {
        let table = scheme_table(&data());
        assert_eq!(table.rows.len(), 2);
        assert_eq!(table.rows[1][0], "ternary");
        assert_eq!(table.rows[1][4], "-5.00");
        assert_eq!(table.rows[1][7], "0.31x");
        assert_eq!(table.rows[0][2], "80.00 ± 0.00");
    }

    #[test]
    fn environment_table_is_empty_without_a_sweep() {
        assert!(environment_table(&data()).rows.is_empty());
    }
}
