//! What a report shows, derived from the results database alone: the trials, per-scheme
//! aggregates over seeds, and latency / memory series.
//!
//! Only `done` trials enter aggregates and series; [`ReportData::trials`] keeps every trial so
//! tables can list failed and pending ones with their status.
use std::collections::BTreeMap;

use super::stats::{mean, Summary};
use crate::store::{
    status, ExperimentKind, KernelId, MeasurementKind, MetricKey, Store, SweepRow, TrialRecord,
};
use crate::Result;

/// The scheme every ratio and accuracy gap is relative to.
pub const BASELINE_SCHEME: &str = "fp32";

/// Everything a report needs, read from the store.
#[derive(Debug, Clone)]
pub struct ReportData {
    /// Experiment name.
    pub experiment: String,
    /// Its description.
    pub description: String,
    /// What wrote it (which report template it gets).
    pub kind: ExperimentKind,
    /// The latest sweep (environment of the most recent run), if any.
    pub sweep: Option<SweepRow>,
    /// Every trial, any status, ordered by id.
    pub trials: Vec<TrialRecord>,
    /// Scheme names in order of first appearance among the trials (fixes chart colours).
    pub schemes: Vec<String>,
}

/// One point of a series: the mean over seeds of the medians and p95s at one sequence length.
#[derive(Debug, Clone, PartialEq)]
pub struct SeriesPoint {
    /// Sequence length in tokens.
    pub seq_len: i64,
    /// Mean over seeds of the median.
    pub median: f64,
    /// Mean over seeds of the p95.
    pub p95: f64,
    /// Number of trials averaged.
    pub n: usize,
}

/// A measurement curve of one scheme, attention kernel, kernel and batch size, averaged over
/// seeds.
#[derive(Debug, Clone, PartialEq)]
pub struct Series {
    /// Quantization scheme.
    pub scheme: String,
    /// Attention kernel of the trials (`config.model.attention`).
    pub attention: String,
    /// Kernels that ran.
    pub kernel: KernelId,
    /// Batch size.
    pub batch: i64,
    /// Points by increasing sequence length.
    pub points: Vec<SeriesPoint>,
}

/// One scheme's results aggregated over its done trials (seeds).
#[derive(Debug, Clone, PartialEq)]
pub struct SchemeSummary {
    /// Quantization scheme.
    pub scheme: String,
    /// Number of done trials.
    pub trials: usize,
    /// Test accuracy over seeds (fraction).
    pub accuracy: Option<Summary>,
    /// Test F1 over seeds (fraction).
    pub f1: Option<Summary>,
    /// Mean artifact size in bytes.
    pub storage_bytes: Option<f64>,
    /// Mean artifact size relative to the fp32 mean.
    pub storage_ratio: Option<f64>,
    /// Mean bits per quantized weight.
    pub bits_per_quantized_weight: Option<f64>,
    /// Mean accuracy minus fp32 mean accuracy, in percentage points.
    pub accuracy_gap_points: Option<f64>,
    /// Mean estimated matmul energy per token in picojoules (packed models only).
    pub energy_estimate_pj_per_token: Option<f64>,
    /// Latency kernels that ran, sorted by name.
    pub kernels: Vec<KernelId>,
}

impl ReportData {
    /// Reads experiment `experiment`'s trials and latest sweep from `store`.
    pub fn load(store: &Store, experiment: &str) -> Result<ReportData> {
        let trials = store.trials(experiment)?;
        let sweep = store.latest_sweep(experiment)?;
        let row = store
            .experiments()?
            .into_iter()
            .find(|e| e.name == experiment);
        let (description, kind) = row.map_or((String::new(), ExperimentKind::TrialSweep), |e| {
            (e.description, e.kind)
        });
        Ok(ReportData::new(experiment, &description, sweep, trials).with_kind(kind))
    }

    /// Builds the report data of a trial sweep from records already read (see
    /// [`ReportData::with_kind`] for a benchmark).
    pub fn new(
        experiment: &str,
        description: &str,
        sweep: Option<SweepRow>,
        trials: Vec<TrialRecord>,
    ) -> ReportData {
        let mut schemes: Vec<String> = Vec::new();
        for trial in &trials {
            let scheme = scheme_of(trial);
            if !schemes.contains(&scheme) {
                schemes.push(scheme);
            }
        }
        ReportData {
            experiment: experiment.to_string(),
            description: description.to_string(),
            kind: ExperimentKind::TrialSweep,
            sweep,
            trials,
            schemes,
        }
    }

    /// The same data, recorded as an experiment of kind `kind`.
    pub fn with_kind(mut self, kind: ExperimentKind) -> ReportData {
        self.kind = kind;
        self
    }

    /// The trials with status `done`.
    pub fn done(&self) -> impl Iterator<Item = &TrialRecord> {
        self.trials.iter().filter(|t| t.status == status::DONE)
    }

    /// Schemes with at least one done trial, in [`ReportData::schemes`] order.
    pub fn done_schemes(&self) -> Vec<&str> {
        self.schemes
            .iter()
            .filter(|s| self.done().any(|t| &scheme_of(t) == *s))
            .map(String::as_str)
            .collect()
    }

    /// Position of `scheme` in [`ReportData::schemes`] (its colour index).
    pub fn scheme_index(&self, scheme: &str) -> usize {
        self.schemes
            .iter()
            .position(|s| s == scheme)
            .unwrap_or(self.schemes.len())
    }

    /// Mean artifact size of the done fp32 trials, the denominator of every storage ratio.
    pub fn baseline_storage_bytes(&self) -> Option<f64> {
        let sizes: Vec<f64> = self
            .done()
            .filter(|t| scheme_of(t) == BASELINE_SCHEME)
            .filter_map(storage_bytes)
            .collect();
        mean(&sizes).filter(|b| *b > 0.0)
    }

    /// The trial's artifact size relative to the fp32 mean.
    pub fn storage_ratio(&self, trial: &TrialRecord) -> Option<f64> {
        Some(storage_bytes(trial)? / self.baseline_storage_bytes()?)
    }

    /// Per-scheme aggregates over the done trials, in scheme order.
    pub fn scheme_summaries(&self) -> Vec<SchemeSummary> {
        let baseline_storage = self.baseline_storage_bytes();
        let mut summaries: Vec<SchemeSummary> = self
            .done_schemes()
            .into_iter()
            .map(|scheme| {
                let trials: Vec<&TrialRecord> =
                    self.done().filter(|t| scheme_of(t) == scheme).collect();
                let final_values = |key: MetricKey| -> Vec<f64> {
                    trials
                        .iter()
                        .filter_map(|t| t.final_metric(key.clone()))
                        .collect()
                };
                let storage: Vec<f64> = trials.iter().filter_map(|t| storage_bytes(t)).collect();
                let storage_bytes = mean(&storage);
                let mut kernels: Vec<KernelId> = trials
                    .iter()
                    .flat_map(|t| kernels_of(t, MeasurementKind::Latency))
                    .collect();
                kernels.sort_by_cached_key(KernelId::to_string);
                kernels.dedup();
                SchemeSummary {
                    scheme: scheme.to_string(),
                    trials: trials.len(),
                    accuracy: Summary::of(&final_values(MetricKey::TestAccuracy)),
                    f1: Summary::of(&final_values(MetricKey::TestF1)),
                    storage_bytes,
                    storage_ratio: storage_bytes.zip(baseline_storage).map(|(s, b)| s / b),
                    bits_per_quantized_weight: mean(&final_values(
                        MetricKey::BitsPerQuantizedWeight,
                    )),
                    accuracy_gap_points: None,
                    energy_estimate_pj_per_token: mean(&final_values(
                        MetricKey::EnergyEstimatePjPerToken,
                    )),
                    kernels,
                }
            })
            .collect();
        let baseline_accuracy = summaries
            .iter()
            .find(|s| s.scheme == BASELINE_SCHEME)
            .and_then(|s| s.accuracy)
            .map(|a| a.mean);
        for summary in &mut summaries {
            summary.accuracy_gap_points = summary
                .accuracy
                .zip(baseline_accuracy)
                .map(|(a, base)| (a.mean - base) * 100.0);
        }
        summaries
    }

    /// Attention kernels of the done trials, in order of first appearance.
    pub fn attentions(&self) -> Vec<String> {
        let mut attentions: Vec<String> = Vec::new();
        for trial in self.done() {
            let attention = attention_of(trial);
            if !attentions.contains(&attention) {
                attentions.push(attention);
            }
        }
        attentions
    }

    /// Whether the done trials differ in attention kernel (then charts draw a line per kernel
    /// and colour lines by kernel rather than by scheme).
    pub fn attention_varies(&self) -> bool {
        self.attentions().len() > 1
    }

    /// Measurements of `kind` from done trials, averaged over seeds per scheme, attention
    /// kernel, kernel and batch.
    pub fn series(&self, kind: MeasurementKind) -> Vec<Series> {
        // Kernels group and order by their recorded name.
        type Key = (usize, usize, String, i64);
        type Points = BTreeMap<i64, Vec<(f64, f64)>>;
        let attentions = self.attentions();
        let mut groups: BTreeMap<Key, (KernelId, Points)> = BTreeMap::new();
        for trial in self.done() {
            let scheme_index = self.scheme_index(&scheme_of(trial));
            let attention = attention_of(trial);
            let attention_index = attentions.iter().position(|a| *a == attention).unwrap_or(0);
            for m in trial.measurements.iter().filter(|m| m.kind == kind) {
                let key = (scheme_index, attention_index, m.kernel.to_string(), m.batch);
                groups
                    .entry(key)
                    .or_insert_with(|| (m.kernel.clone(), Points::new()))
                    .1
                    .entry(m.seq_len)
                    .or_default()
                    .push((m.median, m.p95));
            }
        }
        groups
            .into_iter()
            .map(
                |((scheme_index, attention_index, _, batch), (kernel, by_len))| Series {
                    scheme: self.schemes.get(scheme_index).cloned().unwrap_or_default(),
                    attention: attentions.get(attention_index).cloned().unwrap_or_default(),
                    kernel,
                    batch,
                    points: by_len
                        .into_iter()
                        .map(|(seq_len, values)| {
                            let n = values.len();
                            let median = values.iter().map(|v| v.0).sum::<f64>() / n as f64;
                            let p95 = values.iter().map(|v| v.1).sum::<f64>() / n as f64;
                            SeriesPoint {
                                seq_len,
                                median,
                                p95,
                                n,
                            }
                        })
                        .collect(),
                },
            )
            .collect()
    }

    /// Sequence lengths measured for `kind` in any trial, sorted.
    pub fn seq_lens(&self, kind: MeasurementKind) -> Vec<i64> {
        let mut lens: Vec<i64> = self
            .trials
            .iter()
            .flat_map(|t| &t.measurements)
            .filter(|m| m.kind == kind)
            .map(|m| m.seq_len)
            .collect();
        lens.sort_unstable();
        lens.dedup();
        lens
    }

    /// The batch size of the per-trial latency columns: 1 if measured, else the smallest.
    pub fn table_batch(&self) -> Option<i64> {
        let batches = self
            .trials
            .iter()
            .flat_map(|t| &t.measurements)
            .filter(|m| m.kind == MeasurementKind::Latency)
            .map(|m| m.batch);
        let smallest = batches.clone().min();
        if batches.clone().any(|b| b == 1) {
            Some(1)
        } else {
            smallest
        }
    }
}

/// The trial's variant, what charts and summaries group by (averaging over seeds): its
/// quantization scheme (`quant.scheme`, or `unknown`), followed by what else changes the
/// trained model when set: the LoRA rank (`· LoRA r8`), the quantization warm-up
/// (`· warm-up 20`) and the embedding storage scheme when it differs from the scheme
/// (`· emb int4`). Trials with none of those are named by their scheme alone (`ternary`).
pub fn scheme_of(trial: &TrialRecord) -> String {
    variant_of(trial, true)
}

/// [`scheme_of`] without the LoRA rank: the line a trial belongs to in a chart over ranks.
pub fn scheme_without_rank(trial: &TrialRecord) -> String {
    variant_of(trial, false)
}

/// The trial's LoRA rank (`lora.rank`, 0 when absent).
pub fn lora_rank_of(trial: &TrialRecord) -> u64 {
    trial.sweep_summary().lora.rank.unwrap_or(0)
}

fn variant_of(trial: &TrialRecord, with_rank: bool) -> String {
    let summary = trial.sweep_summary();
    let quant = &summary.quant;
    let scheme = quant.scheme.as_deref().unwrap_or_default();
    let mut name = quant.scheme.as_deref().unwrap_or("unknown").to_string();
    let rank = summary.lora.rank.unwrap_or(0);
    if with_rank && rank > 0 {
        name.push_str(&format!(" · LoRA r{rank}"));
    }
    if quant.warmup.as_deref().is_some_and(|w| w != "none") {
        let steps = quant.warmup_steps.unwrap_or(0);
        name.push_str(&format!(" · warm-up {steps}"));
    }
    if let Some(embeddings) = quant.embeddings.as_deref().filter(|e| *e != scheme) {
        name.push_str(&format!(" · emb {embeddings}"));
    }
    name
}

/// The trial's attention kernel (`model.attention`), or empty when not recorded.
pub fn attention_of(trial: &TrialRecord) -> String {
    trial.sweep_summary().model.attention.unwrap_or_default()
}

/// The trial's seed as text, or empty.
pub fn seed_of(trial: &TrialRecord) -> String {
    trial
        .sweep_summary()
        .seed
        .map_or_else(String::new, |seed| seed.to_string())
}

/// The trial's artifact size: the `storage_bytes` metric, else the recorded artifact's bytes.
pub fn storage_bytes(trial: &TrialRecord) -> Option<f64> {
    trial
        .final_metric(MetricKey::StorageBytes)
        .or(trial.artifact.as_ref().map(|a| a.bytes as f64))
}

/// Distinct kernels of the trial's `kind` measurements, in order of appearance.
pub fn kernels_of(trial: &TrialRecord, kind: MeasurementKind) -> Vec<KernelId> {
    let mut kernels: Vec<KernelId> = Vec::new();
    for m in trial.measurements.iter().filter(|m| m.kind == kind) {
        if !kernels.contains(&m.kernel) {
            kernels.push(m.kernel.clone());
        }
    }
    kernels
}

/// The median of the trial's `kind` measurement at `seq_len` and `batch`, if recorded.
pub fn measurement_at(
    trial: &TrialRecord,
    kind: MeasurementKind,
    seq_len: i64,
    batch: Option<i64>,
) -> Option<f64> {
    trial
        .measurements
        .iter()
        .find(|m| m.kind == kind && m.seq_len == seq_len && batch.is_none_or(|b| m.batch == b))
        .map(|m| m.median)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::store::{ArtifactRecord, Measurement, Metric};

    /// A kernel id from its recorded name.
    pub(crate) fn kernel(name: &str) -> KernelId {
        KernelId::from_recorded_name(name)
    }

    /// A synthetic trial record (no database) for report tests.
    pub(crate) fn trial(
        id: i64,
        scheme: &str,
        seed: u64,
        status: &str,
        accuracy: f64,
        bytes: i64,
    ) -> TrialRecord {
        let kernel_name = if scheme == "fp32" {
            "libtorch-fp32"
        } else {
            "libtorch-fp32 (dequantized)"
        };
        let latency = |seq_len: i64, batch: i64, median: f64| Measurement {
            kind: MeasurementKind::Latency,
            kernel: kernel(kernel_name),
            seq_len,
            batch,
            median,
            p95: median * 1.2,
            repeats: 10,
        };
        TrialRecord {
            id,
            hash: format!("h{id}"),
            label: format!("scheme={scheme} seed={seed}"),
            status: status.into(),
            error: None,
            config: serde_json::json!({"seed": seed, "quant": {"scheme": scheme, "group_size": 32}}),
            started_at: None,
            finished_at: None,
            duration_s: Some(1.0),
            metrics: vec![
                Metric {
                    key: MetricKey::TestAccuracy,
                    step: None,
                    value: accuracy,
                },
                Metric {
                    key: MetricKey::BitsPerQuantizedWeight,
                    step: None,
                    value: 2.0,
                },
            ],
            measurements: vec![
                latency(32, 1, 1.0 + seed as f64),
                latency(64, 1, 2.0),
                latency(32, 4, 3.0),
            ],
            artifact: Some(ArtifactRecord {
                path: "a".into(),
                bytes,
                sha256: String::new(),
            }),
        }
    }

    fn data() -> ReportData {
        let trials = vec![
            trial(1, "fp32", 0, "done", 0.80, 1000),
            trial(2, "fp32", 1, "done", 0.90, 1000),
            trial(3, "ternary", 0, "done", 0.70, 250),
            trial(4, "ternary", 1, "failed", 0.0, 999),
            trial(5, "int8", 0, "pending", 0.0, 0),
        ];
        ReportData::new("tiny", "", None, trials)
    }

    #[test]
    fn schemes_keep_first_appearance_order_and_done_filters() {
        let data = data();
        assert_eq!(data.schemes, ["fp32", "ternary", "int8"]);
        assert_eq!(data.done_schemes(), ["fp32", "ternary"]);
        assert_eq!(data.done().count(), 3);
    }

    #[test]
    fn summaries_aggregate_done_trials_over_seeds() {
        let summaries = data().scheme_summaries();
        assert_eq!(summaries.len(), 2);
        let fp32 = &summaries[0];
        assert_eq!(fp32.trials, 2);
        assert!((fp32.accuracy.unwrap().mean - 0.85).abs() < 1e-12);
        assert_eq!(fp32.storage_ratio, Some(1.0));
        assert_eq!(fp32.accuracy_gap_points, Some(0.0));
        let ternary = &summaries[1];
        assert_eq!(ternary.trials, 1, "the failed seed is left out");
        assert_eq!(ternary.storage_ratio, Some(0.25));
        assert!((ternary.accuracy_gap_points.unwrap() + 15.0).abs() < 1e-9);
        assert_eq!(ternary.kernels, [kernel("libtorch-fp32 (dequantized)")]);
    }

    #[test]
    fn series_average_over_seeds_per_batch() {
        let series = data().series(MeasurementKind::Latency);
        let fp32_b1 = series
            .iter()
            .find(|s| s.scheme == "fp32" && s.batch == 1)
            .unwrap();
        assert_eq!(fp32_b1.points.len(), 2);
        assert_eq!(
            (
                fp32_b1.points[0].seq_len,
                fp32_b1.points[0].median,
                fp32_b1.points[0].n
            ),
            (32, 1.5, 2)
        );
        assert!((fp32_b1.points[0].p95 - 1.8).abs() < 1e-12);
        assert_eq!(series.len(), 4, "fp32 and ternary, batches 1 and 4");
    }

    #[test]
    fn lookups() {
        let data = data();
        assert_eq!(data.seq_lens(MeasurementKind::Latency), [32, 64]);
        assert_eq!(data.table_batch(), Some(1));
        let t = &data.trials[2];
        assert_eq!(
            (scheme_of(t), seed_of(t)),
            ("ternary".to_string(), "0".to_string())
        );
        assert_eq!(data.storage_ratio(t), Some(0.25));
        assert_eq!(
            measurement_at(t, MeasurementKind::Latency, 32, Some(4)),
            Some(3.0)
        );
        assert_eq!(measurement_at(t, MeasurementKind::Memory, 32, None), None);
    }
}
