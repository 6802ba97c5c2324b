//! Inference measurements of one trial's exported model: latency against sequence length for
//! every batch size, and peak memory against input length in fresh child processes. Both run
//! the model [`crate::model::load_inference`] loads: on the CPU packed (quantized weights
//! resident in packed form, bitlab's own kernels where a scheme has one), on other devices the
//! dequantized reference. Each measurement records the kernels that ran.
//!
//! [`compare_packed_with_reference`] checks, on the test split, that the packed model computes
//! what the reference (whose accuracy the trial reports) computes.
use super::RunOptions;
use crate::data::EncodedSplit;
use crate::experiment::TrialConfig;
use crate::kernels::energy::matmul_energy_pj_per_token;
use crate::measure::{measure_latency, measure_memory_in_child, LatencyPoint};
use crate::model::{InferenceModel, LoadedModel, QuantMode};
use crate::store::{KernelId, Measurement, MeasurementKind, Metric, MetricKey};
use crate::train::check_interrupted;
use crate::{Error, Result};
use std::path::Path;
use tch::{Device, Kind};

fn device_arg(device: Device) -> String {
    match device {
        Device::Cuda(i) => format!("cuda:{i}"),
        _ => "cpu".to_string(),
    }
}

/// Measures `model` (loaded from `artifact_path` by [`crate::model::load_inference`]) as
/// `cfg.measure` asks; the model is dropped before the memory points, which run in children.
pub fn measure_inference(
    mut model: InferenceModel,
    cfg: &TrialConfig,
    artifact_path: &Path,
    opts: &RunOptions,
) -> Result<Vec<Measurement>> {
    let m = &cfg.measure;
    model.set_attention(cfg.model.attention);
    let kernel = KernelId::from_recorded_name(&model.kernel_name());
    let mut measurements = Vec::new();
    for &batch in &m.batch_sizes {
        for &seq_len in &m.seq_lens {
            check_interrupted()?;
            let point: LatencyPoint = measure_latency(&model, seq_len, batch, m.warmup, m.repeats)?;
            measurements.push(Measurement {
                kind: MeasurementKind::Latency,
                kernel: kernel.clone(),
                seq_len: seq_len as i64,
                batch: batch as i64,
                median: point.median_ms,
                p95: point.p95_ms,
                repeats: m.repeats as i64,
            });
        }
    }
    drop(model);
    if m.memory {
        let batch = m.batch_sizes.iter().copied().max().unwrap_or(1);
        for &seq_len in &m.seq_lens {
            check_interrupted()?;
            let point = measure_memory_in_child(
                &opts.exe,
                artifact_path,
                seq_len,
                batch,
                m.threads,
                &device_arg(opts.device),
            )?;
            for (kind, value) in [
                (MeasurementKind::Memory, point.peak_rss_bytes),
                (
                    MeasurementKind::MemoryDelta,
                    point
                        .peak_rss_bytes
                        .saturating_sub(point.baseline_rss_bytes),
                ),
            ] {
                measurements.push(Measurement {
                    kind,
                    kernel: kernel.clone(),
                    seq_len: seq_len as i64,
                    batch: batch as i64,
                    median: value as f64,
                    p95: value as f64,
                    repeats: 1,
                });
            }
        }
    }
    Ok(measurements)
}

/// How the packed model compares with its dequantized reference on a split.
// Until `run_trial` records these metrics (one call, see the module docs), only tests use them.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PackedAgreement {
    /// Share of examples where both predict the same class.
    pub agreement: f64,
    /// Share of examples the packed model classifies correctly (its test accuracy when the
    /// split is the test split).
    pub packed_accuracy: f64,
    /// Largest absolute logit difference over all examples and classes.
    pub max_logit_diff: f64,
    /// Bytes of quantized-layer weights the packed model keeps resident.
    pub resident_quantized_bytes: usize,
    /// Estimated picojoules per token of the packed model's quantized linear layers
    /// ([`crate::kernels::energy`]).
    pub energy_estimate_pj_per_token: f64,
}

impl PackedAgreement {
    /// As trial metrics: [`MetricKey::PackedAgreement`], [`MetricKey::PackedTestAccuracy`],
    /// [`MetricKey::PackedMaxLogitDiff`],
    /// [`MetricKey::PackedResidentQuantizedBytes`] and [`MetricKey::EnergyEstimatePjPerToken`].
    pub fn metrics(&self) -> Vec<Metric> {
        [
            (MetricKey::PackedAgreement, self.agreement),
            (MetricKey::PackedTestAccuracy, self.packed_accuracy),
            (MetricKey::PackedMaxLogitDiff, self.max_logit_diff),
            (
                MetricKey::PackedResidentQuantizedBytes,
                self.resident_quantized_bytes as f64,
            ),
            (
                MetricKey::EnergyEstimatePjPerToken,
                self.energy_estimate_pj_per_token,
            ),
        ]
        .into_iter()
        .map(|(key, value)| Metric {
            key,
            step: None,
            value,
        })
        .collect()
    }
}

/// Runs the packed model `packed` and the reference `loaded` (both from one artifact) over
/// `split` in batches of `batch_size` and compares logits and predictions. `loaded` must be on
/// the CPU and use the attention kernel of `packed`; `packed` must run packed kernels.
pub fn compare_packed_with_reference(
    loaded: &LoadedModel,
    packed: &InferenceModel,
    split: &EncodedSplit,
    batch_size: usize,
) -> Result<PackedAgreement> {
    let Some(resident_quantized_bytes) = packed.resident_quantized_bytes() else {
        return Err(Error::Invalid(format!(
            "comparing with the reference needs the packed model; this one runs {}",
            packed.kernel_name()
        )));
    };
    let (mut same, mut correct, mut total, mut max_diff) = (0usize, 0usize, 0usize, 0f64);
    for batch in split.batches(batch_size, None) {
        check_interrupted()?;
        let reference = tch::no_grad(|| {
            loaded
                .model
                .forward(&batch.ids, &batch.mask, QuantMode::WeightsOnGrid, false)
        })?;
        let got = packed.forward(&batch.ids, &batch.mask)?;
        let diff = (&got - &reference).abs().max().double_value(&[]);
        max_diff = max_diff.max(diff);
        let predicted = got.argmax(-1, false);
        let count = |hits: tch::Tensor| hits.to_kind(Kind::Int64).sum(Kind::Int64).int64_value(&[]);
        same += count(predicted.eq_tensor(&reference.argmax(-1, false))) as usize;
        correct += count(predicted.eq_tensor(&batch.labels)) as usize;
        total += batch.labels.size()[0] as usize;
    }
    Ok(PackedAgreement {
        agreement: same as f64 / total.max(1) as f64,
        packed_accuracy: correct as f64 / total.max(1) as f64,
        max_logit_diff: max_diff,
        resident_quantized_bytes,
        energy_estimate_pj_per_token: matmul_energy_pj_per_token(packed.kernels()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::experiment::Experiment;
    use crate::model::{
        export_artifact, load_artifact, load_inference, random_classifier, InferenceOptions,
    };
    use tch::Tensor;

    #[test]
    fn packed_ternary_model_agrees_with_its_reference_on_a_split() {
        tch::manual_seed(23);
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("experiments/smoke.toml");
        let mut trial = Experiment::load(&path).unwrap().trials[0].config.clone();
        trial.quant.scheme = "ternary".into();
        let description = crate::model::ModelDescription::new(
            trial.model,
            trial.quant,
            trial.lora,
            crate::model::ModelDims {
                vocab_size: 40,
                num_labels: 2,
            },
            0,
            None,
        );
        let (vs, _model, config, quantizer) = random_classifier(description, 40);
        let dir = tempfile::tempdir().unwrap();
        let artifact = dir.path().join("m.bitlab");
        export_artifact(&vs, &quantizer, &config, &artifact).unwrap();
        let loaded = load_artifact(&artifact, Device::Cpu).unwrap();
        let packed = load_inference(&artifact, &InferenceOptions::cpu(1)).unwrap();
        let rows = 50;
        let split = EncodedSplit {
            ids: Tensor::randint_low(1, 40, [rows, 9], (Kind::Int64, Device::Cpu)),
            mask: Tensor::ones([rows, 9], (Kind::Int64, Device::Cpu)),
            labels: Tensor::zeros([rows], (Kind::Int64, Device::Cpu)),
            lengths: vec![9; rows as usize],
        };
        let result = compare_packed_with_reference(&loaded, &packed, &split, 16).unwrap();
        // Bounds as in the packed engine's own test: int8 codes rounding the other way at a .5
        // boundary move logits by a few 1e-3 of their scale at most; a wrong kernel moves them
        // by the scale and leaves about half the predictions right.
        let scale = tch::no_grad(|| {
            loaded
                .model
                .forward(&split.ids, &split.mask, QuantMode::WeightsOnGrid, false)
        })
        .unwrap()
        .abs()
        .max()
        .double_value(&[]);
        assert!(result.agreement >= 0.98, "{result:?}");
        assert!(
            result.max_logit_diff < 1e-2 * scale,
            "{result:?} scale {scale}"
        );
        assert!(result.resident_quantized_bytes > 0);
        // Every label is 0: the packed accuracy is the share of packed predictions of class 0.
        let predicted_zero = packed
            .forward(&split.ids, &split.mask)
            .unwrap()
            .argmax(-1, false)
            .eq(0)
            .to_kind(Kind::Double)
            .mean(Kind::Double)
            .double_value(&[]);
        assert!(
            (result.packed_accuracy - predicted_zero).abs() < 1e-9,
            "{result:?} vs {predicted_zero}"
        );
        // Every quantized weight is one int8 add per token (0.007 pJ): 4 d^2 + 2 d d_ff each block.
        let m = &loaded.config.model;
        let weights = m.layers * (4 * m.d_model * m.d_model + 2 * m.d_model * m.d_ff);
        let expected = weights as f64 * crate::kernels::energy::INT8_7NM.add_pj;
        assert!(
            (result.energy_estimate_pj_per_token - expected).abs() < 1e-9 * expected,
            "{result:?} expected {expected} pJ"
        );
        let keys: Vec<MetricKey> = result.metrics().into_iter().map(|m| m.key).collect();
        assert_eq!(
            keys,
            [
                MetricKey::PackedAgreement,
                MetricKey::PackedTestAccuracy,
                MetricKey::PackedMaxLogitDiff,
                MetricKey::PackedResidentQuantizedBytes,
                MetricKey::EnergyEstimatePjPerToken
            ]
        );
    }
}
