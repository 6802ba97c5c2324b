//! Training-step measurements of one trial, when `measure.training` asks for them: the time of
//! one QAT step per sequence length, and its peak memory in a fresh child process per length
//! (kinds `train_step` in ms, `train_memory` and `train_memory_delta` in bytes), at the smallest
//! of `measure.batch_sizes`. Each records the attention kernel and matmul that ran.
use super::RunOptions;
use crate::experiment::TrialConfig;
use crate::measure::{measure_train_memory_in_child, measure_train_step, StepOptimizer};
use crate::store::{KernelId, Measurement, MeasurementKind};
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

/// The kernels a training step runs: QAT fake-quantizes onto the grid and multiplies in fp32,
/// whatever the scheme, so only the attention kernel varies.
pub fn training_kernel_name(cfg: &TrialConfig, device: Device) -> String {
    format!(
        "libtorch-fp32 QAT ({} fake-quantized) + {} attention",
        cfg.quant.scheme,
        cfg.model.attention.kernel_name(device)
    )
}

/// Measures training steps of the model in `artifact_path` as `cfg.measure` asks; nothing
/// unless `cfg.measure.training` is set.
pub fn measure_training(
    cfg: &TrialConfig,
    artifact_path: &Path,
    opts: &RunOptions,
) -> Result<Vec<Measurement>> {
    let m = &cfg.measure;
    if !m.training {
        return Ok(Vec::new());
    }
    let batch = m.batch_sizes.iter().copied().min().unwrap_or(1);
    let optimizer = StepOptimizer {
        lr: cfg.train.lr,
        weight_decay: cfg.train.weight_decay,
    };
    let kernel = training_kernel_name(cfg, opts.device);
    let kernel = KernelId::from_recorded_name(&kernel);
    let point = |kind: MeasurementKind, seq_len: usize, median: f64, p95: f64, repeats: usize| {
        Measurement {
            kind,
            kernel: kernel.clone(),
            seq_len: seq_len as i64,
            batch: batch as i64,
            median,
            p95,
            repeats: repeats as i64,
        }
    };
    let mut measurements = Vec::new();
    for &seq_len in &m.seq_lens {
        check_interrupted()?;
        let time = measure_train_step(
            artifact_path,
            optimizer,
            seq_len,
            batch,
            m.warmup,
            m.repeats,
            opts.device,
        )?;
        measurements.push(point(
            MeasurementKind::TrainStep,
            seq_len,
            time.median_ms,
            time.p95_ms,
            m.repeats.max(1),
        ));
        if m.memory {
            check_interrupted()?;
            let memory = measure_train_memory_in_child(
                &opts.exe,
                artifact_path,
                optimizer,
                seq_len,
                batch,
                m.threads,
                &device_arg(opts.device),
            )?;
            let peak = memory.peak_rss_bytes;
            let delta = peak.saturating_sub(memory.baseline_rss_bytes);
            measurements.push(point(
                MeasurementKind::TrainMemory,
                seq_len,
                peak as f64,
                peak as f64,
                1,
            ));
            measurements.push(point(
                MeasurementKind::TrainMemoryDelta,
                seq_len,
                delta as f64,
                delta as f64,
                1,
            ));
        }
    }
    Ok(measurements)
}
