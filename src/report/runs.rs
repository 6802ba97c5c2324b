//! `bitlab runs`: one row per trial with its status, every configuration parameter flattened to a
//! dotted key (`train.lr`, `quant.group_size`, ...), and its final metrics. Written as CSV
//! (`trials.csv` in every report, or `--csv`) or as an aligned plain-text table.
use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;
use std::ops::Range;

use super::data::{scheme_of, seed_of};
use super::format::number;
use crate::store::{MetricKey, Store, TrialRecord};
use crate::{Error, Result};

/// Final metrics shown first, in this order; any other final metric follows alphabetically.
const METRIC_ORDER: [MetricKey; 11] = [
    MetricKey::TestAccuracy,
    MetricKey::TestF1,
    MetricKey::TestLoss,
    MetricKey::BestValAccuracy,
    MetricKey::StorageBytes,
    MetricKey::StorageQuantizedBytes,
    MetricKey::BitsPerQuantizedWeight,
    MetricKey::ParamsTotal,
    MetricKey::ParamsQuantized,
    MetricKey::ParamsTrainable,
    MetricKey::TrainSeconds,
];

/// Config keys already shown in their own leading columns.
const SHOWN_SEPARATELY: [&str; 2] = ["seed", "quant.scheme"];

/// Widest cell of the plain-text rendering; longer cells are cut with an ellipsis.
const MAX_TEXT_CELL: usize = 60;

/// The trials table of `bitlab runs`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RunsTable {
    /// Column headings.
    pub headers: Vec<String>,
    /// One row per trial, one cell per heading (empty when a trial lacks the value).
    pub rows: Vec<Vec<String>>,
    /// Which columns hold configuration parameters (dotted keys).
    pub parameter_columns: Range<usize>,
}

/// The runs table of experiment `experiment`, or of every experiment (with an `experiment`
/// column first) when `None`.
pub fn runs_table(store: &Store, experiment: Option<&str>) -> Result<RunsTable> {
    let names: Vec<String> = match experiment {
        Some(name) => vec![name.to_string()],
        None => store.experiments()?.into_iter().map(|e| e.name).collect(),
    };
    let mut trials: Vec<(String, TrialRecord)> = Vec::new();
    for name in names {
        trials.extend(store.trials(&name)?.into_iter().map(|t| (name.clone(), t)));
    }
    Ok(build(&trials, experiment.is_none()))
}

/// Builds the table from (experiment, trial) pairs.
fn build(trials: &[(String, TrialRecord)], with_experiment: bool) -> RunsTable {
    let parameters: Vec<BTreeMap<String, String>> = trials
        .iter()
        .map(|(_, t)| flatten_config(&t.config))
        .collect();
    let parameter_keys: BTreeSet<&String> = parameters.iter().flat_map(|p| p.keys()).collect();
    let metric_keys = final_metric_keys(trials.iter().map(|(_, t)| t));

    let mut headers: Vec<String> = Vec::new();
    if with_experiment {
        headers.push("experiment".into());
    }
    headers.extend(["id", "label", "status", "scheme", "seed"].map(String::from));
    let first_parameter = headers.len();
    headers.extend(parameter_keys.iter().map(|k| k.to_string()));
    let parameter_columns = first_parameter..headers.len();
    headers.extend(metric_keys.iter().map(|k| k.as_str().to_string()));
    headers.extend(["duration_s", "error"].map(String::from));

    let rows = trials
        .iter()
        .zip(&parameters)
        .map(|((experiment, t), params)| {
            let mut row = Vec::with_capacity(headers.len());
            if with_experiment {
                row.push(experiment.clone());
            }
            row.extend([
                t.id.to_string(),
                t.label.clone(),
                t.status.clone(),
                scheme_of(t),
                seed_of(t),
            ]);
            row.extend(
                parameter_keys
                    .iter()
                    .map(|k| params.get(*k).cloned().unwrap_or_default()),
            );
            row.extend(
                metric_keys
                    .iter()
                    .map(|k| t.final_metric(k.clone()).map(number).unwrap_or_default()),
            );
            row.push(t.duration_s.map(|d| format!("{d:.1}")).unwrap_or_default());
            row.push(t.error.clone().unwrap_or_default());
            row
        })
        .collect();
    RunsTable {
        headers,
        rows,
        parameter_columns,
    }
}

/// Final-metric keys present in any trial: the known ones in [`METRIC_ORDER`], then the rest.
fn final_metric_keys<'a>(trials: impl Iterator<Item = &'a TrialRecord>) -> Vec<MetricKey> {
    let present: BTreeSet<&str> = trials
        .flat_map(|t| &t.metrics)
        .filter(|m| m.step.is_none())
        .map(|m| m.key.as_str())
        .collect();
    let mut keys: Vec<MetricKey> = METRIC_ORDER
        .iter()
        .filter(|k| present.contains(k.as_str()))
        .cloned()
        .collect();
    keys.extend(
        present
            .into_iter()
            .map(MetricKey::from_stored)
            .filter(|k| !METRIC_ORDER.contains(k)),
    );
    keys
}

/// The configuration as dotted keys (`model.attention` -> `flash`), without the keys that have
/// their own columns; arrays are written as JSON (`[32,64]`).
pub fn flatten_config(config: &serde_json::Value) -> BTreeMap<String, String> {
    fn walk(value: &serde_json::Value, prefix: &str, out: &mut BTreeMap<String, String>) {
        match value {
            serde_json::Value::Object(map) => {
                for (key, child) in map {
                    let path = if prefix.is_empty() {
                        key.clone()
                    } else {
                        format!("{prefix}.{key}")
                    };
                    walk(child, &path, out);
                }
            }
            serde_json::Value::String(s) => {
                out.insert(prefix.to_string(), s.clone());
            }
            serde_json::Value::Null => {
                out.insert(prefix.to_string(), String::new());
            }
            other => {
                out.insert(prefix.to_string(), other.to_string());
            }
        }
    }
    let mut out = BTreeMap::new();
    walk(config, "", &mut out);
    for key in SHOWN_SEPARATELY {
        out.remove(key);
    }
    out
}

impl RunsTable {
    /// Writes the table as CSV with a header row.
    pub fn to_csv(&self, writer: impl Write) -> Result<()> {
        let failed = |e: csv::Error| Error::Report {
            message: format!("writing the runs table as CSV failed: {e}"),
        };
        let mut csv = csv::Writer::from_writer(writer);
        csv.write_record(&self.headers).map_err(failed)?;
        for row in &self.rows {
            csv.write_record(row).map_err(failed)?;
        }
        csv.flush().map_err(|e| failed(e.into()))
    }

    /// The table with only the parameters that differ between its rows (the swept ones).
    pub fn swept_only(&self) -> RunsTable {
        let keep: Vec<usize> = (0..self.headers.len())
            .filter(|&c| {
                !self.parameter_columns.contains(&c)
                    || self
                        .rows
                        .iter()
                        .any(|row| row.get(c) != self.rows.first().and_then(|first| first.get(c)))
            })
            .collect();
        let kept_parameters = keep
            .iter()
            .filter(|c| self.parameter_columns.contains(c))
            .count();
        let first_parameter = keep
            .iter()
            .position(|&c| c >= self.parameter_columns.start)
            .unwrap_or(keep.len());
        RunsTable {
            headers: keep.iter().map(|&c| self.headers[c].clone()).collect(),
            rows: self
                .rows
                .iter()
                .map(|row| keep.iter().map(|&c| row[c].clone()).collect())
                .collect(),
            parameter_columns: first_parameter..first_parameter + kept_parameters,
        }
    }

    /// An aligned plain-text rendering: header, dashes, one line per row; long cells are cut.
    pub fn to_text(&self) -> String {
        let cut = |cell: &str| -> String {
            let flat = cell.replace(['\r', '\n'], " ");
            if flat.chars().count() > MAX_TEXT_CELL {
                format!(
                    "{}…",
                    flat.chars().take(MAX_TEXT_CELL - 1).collect::<String>()
                )
            } else {
                flat
            }
        };
        let header: Vec<String> = self.headers.iter().map(|h| cut(h)).collect();
        let rows: Vec<Vec<String>> = self
            .rows
            .iter()
            .map(|r| r.iter().map(|c| cut(c)).collect())
            .collect();
        let widths: Vec<usize> = (0..header.len())
            .map(|c| {
                std::iter::once(&header)
                    .chain(&rows)
                    .map(|r| r.get(c).map_or(0, |cell| cell.chars().count()))
                    .max()
                    .unwrap_or(0)
            })
            .collect();
        let line = |cells: &[String]| -> String {
            let padded: Vec<String> = cells
                .iter()
                .zip(&widths)
                .map(|(cell, w)| format!("{cell}{}", " ".repeat(w - cell.chars().count())))
                .collect();
            format!("{}\n", padded.join("  ").trim_end())
        };
        let mut out = line(&header);
        out.push_str(&line(
            &widths.iter().map(|w| "-".repeat(*w)).collect::<Vec<_>>(),
        ));
        for row in &rows {
            out.push_str(&line(row));
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::{ExperimentKind, Metric, TrialResults};

    fn config(scheme: &str, seed: u64, lr: f64) -> serde_json::Value {
        serde_json::json!({
            "seed": seed,
            "quant": {"scheme": scheme, "group_size": 32},
            "train": {"lr": lr, "grad_clip": null},
            "measure": {"seq_lens": [32, 64]},
        })
    }

    fn store_with_trials() -> (tempfile::TempDir, Store) {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("r.sqlite")).unwrap();
        let exp = store
            .upsert_experiment("tiny", ExperimentKind::TrialSweep, "", "")
            .unwrap();
        for (i, (scheme, seed)) in [("fp32", 0), ("ternary", 0)].into_iter().enumerate() {
            let t = store
                .ensure_trial(
                    exp,
                    &format!("h{i}"),
                    &config(scheme, seed, 1e-3).to_string(),
                    &format!("scheme={scheme}"),
                )
                .unwrap();
            if scheme == "fp32" {
                let results = TrialResults {
                    metrics: vec![
                        Metric {
                            key: MetricKey::TestAccuracy,
                            step: None,
                            value: 0.8125,
                        },
                        Metric {
                            key: MetricKey::ReusedCheckpoint,
                            step: None,
                            value: 1.0,
                        },
                        Metric {
                            key: MetricKey::TrainLoss,
                            step: Some(0),
                            value: 0.5,
                        },
                    ],
                    duration_s: 3.0,
                    ..Default::default()
                };
                store.finish_trial(t.id, &results).unwrap();
            } else {
                store.mark_failed(t.id, "diverged\nat step 3").unwrap();
            }
        }
        let other = store
            .upsert_experiment("other", ExperimentKind::TrialSweep, "", "")
            .unwrap();
        store
            .ensure_trial(other, "x", &config("int8", 1, 2e-3).to_string(), "x")
            .unwrap();
        (dir, store)
    }

    #[test]
    fn one_row_per_trial_with_flattened_parameters_and_final_metrics() {
        let (_dir, store) = store_with_trials();
        let table = runs_table(&store, Some("tiny")).unwrap();
        assert_eq!(
            table.headers,
            [
                "id",
                "label",
                "status",
                "scheme",
                "seed",
                "measure.seq_lens",
                "quant.group_size",
                "train.grad_clip",
                "train.lr",
                "test_accuracy",
                "reused_checkpoint",
                "duration_s",
                "error"
            ]
        );
        assert_eq!(table.parameter_columns, 5..9);
        assert_eq!(table.rows.len(), 2);
        assert_eq!(table.rows[0][1..5], ["scheme=fp32", "done", "fp32", "0"]);
        assert_eq!(table.rows[0][5..9], ["[32,64]", "32", "", "0.001"]);
        assert_eq!(table.rows[0][9..], ["0.8125", "1", "3.0", ""]);
        assert_eq!(table.rows[1][2], "failed");
        assert_eq!(table.rows[1][9], "");
    }

    #[test]
    fn all_experiments_get_an_experiment_column() {
        let (_dir, store) = store_with_trials();
        let table = runs_table(&store, None).unwrap();
        assert_eq!(table.headers[0], "experiment");
        let experiments: Vec<&str> = table.rows.iter().map(|r| r[0].as_str()).collect();
        assert_eq!(experiments, ["other", "tiny", "tiny"]);
        assert!(runs_table(&store, Some("missing")).is_err());
    }

    #[test]
    fn csv_has_header_and_one_record_per_trial() {
        let (_dir, store) = store_with_trials();
        let table = runs_table(&store, Some("tiny")).unwrap();
        let mut bytes = Vec::new();
        table.to_csv(&mut bytes).unwrap();
        let mut reader = csv::Reader::from_reader(bytes.as_slice());
        let headers: Vec<String> = reader.headers().unwrap().iter().map(String::from).collect();
        assert_eq!(headers, table.headers);
        let records: Vec<csv::StringRecord> = reader.records().map(Result::unwrap).collect();
        assert_eq!(records.len(), 2);
        assert_eq!(
            &records[1][12], "diverged\nat step 3",
            "multi-line cells are quoted, not split"
        );
    }

    #[test]
    fn swept_only_keeps_differing_parameters() {
        let (_dir, store) = store_with_trials();
        let table = runs_table(&store, None).unwrap().swept_only();
        assert!(table.headers.contains(&"train.lr".to_string()));
        assert!(!table.headers.contains(&"quant.group_size".to_string()));
        assert_eq!(table.parameter_columns.len(), 1);
        assert_eq!(table.headers[table.parameter_columns.start], "train.lr");
        assert!(table.rows.iter().all(|r| r.len() == table.headers.len()));
    }

    #[test]
    fn text_is_aligned_and_single_line_per_row() {
        let (_dir, store) = store_with_trials();
        let text = runs_table(&store, Some("tiny")).unwrap().to_text();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 4);
        assert!(lines[0].starts_with("id  label"));
        assert!(lines[1].starts_with("--  ---"));
        let status_at = lines[0].find("status").unwrap();
        assert_eq!(&lines[3][status_at..status_at + 6], "failed");
        assert!(lines[3].ends_with("diverged at step 3"));
    }
}
