//! Inference measurements of one trial's exported model: latency against sequence length for
//! every batch size, and peak memory against input length in fresh child processes. Each
//! measurement records the kernel that ran.
use super::RunOptions;
use crate::experiment::TrialConfig;
use crate::measure::{kernel_name, measure_latency, measure_memory_in_child};
use crate::model::LoadedModel;
use crate::quant::Quantizer;
use crate::store::Measurement;
use crate::train::check_interrupted;
use crate::Result;
use std::path::Path;
use tch::Device;

fn device_arg(device: Device) -> String {
    match device {
        Device::Cuda(i) => format!("cuda:{i}"),
        _ => "cpu".to_string(),
    }
}

/// Measures `loaded` (the model reloaded from `artifact_path`) as `cfg.measure` asks.
pub fn measure_inference(
    loaded: &LoadedModel,
    quantizer: &dyn Quantizer,
    cfg: &TrialConfig,
    artifact_path: &Path,
    opts: &RunOptions,
) -> Result<Vec<Measurement>> {
    let m = &cfg.measure;
    let mut measurements = Vec::new();
    let kernel = kernel_name(quantizer, cfg.model.attention, opts.device);
    for &batch in &m.batch_sizes {
        for &seq_len in &m.seq_lens {
            check_interrupted()?;
            let point = measure_latency(
                &loaded.model,
                loaded.config.dims.vocab_size,
                seq_len,
                batch,
                m.warmup,
                m.repeats,
                opts.device,
            );
            measurements.push(Measurement {
                kind: "latency".into(),
                kernel: kernel.clone(),
                seq_len: seq_len as i64,
                batch: batch as i64,
                median: point.median_ms,
                p95: point.p95_ms,
                repeats: m.repeats as i64,
                unit: "ms".into(),
            });
        }
    }
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
                ("memory", point.peak_rss_bytes),
                (
                    "memory_delta",
                    point
                        .peak_rss_bytes
                        .saturating_sub(point.baseline_rss_bytes),
                ),
            ] {
                measurements.push(Measurement {
                    kind: kind.into(),
                    kernel: kernel.clone(),
                    seq_len: seq_len as i64,
                    batch: batch as i64,
                    median: value as f64,
                    p95: value as f64,
                    repeats: 1,
                    unit: "bytes".into(),
                });
            }
        }
    }
    Ok(measurements)
}
