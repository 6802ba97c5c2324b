//! Peak resident memory against input length. Peaks are process-lifetime maxima, so each point
//! runs in a fresh child process (`bitlab measure-memory`), which loads the packed artifact (on
//! the CPU as a [`PackedClassifier`], quantized weights resident in packed form; on CUDA as the
//! dequantized reference, the same choice the latency measurement makes, so both record the
//! same kernel name), resets the kernel's peak-RSS counter (`/proc/self/clear_refs`, Linux 4.0+), runs one forward
//! pass and reports the peak. The difference is the memory the forward pass itself needed
//! (activations, attention scores), which is what grows with input length; the absolute peak
//! also holds libtorch's code and the weights. Where the counter cannot be reset the baseline is
//! the peak so far (`getrusage`), which can hide a forward pass smaller than loading.
use crate::kernels::Backend;
use crate::model::{load_artifact, PackedClassifier, QuantMode};
use crate::{Error, Result};
use serde::{Deserialize, Serialize};
use std::path::Path;
use std::process::Command;
use tch::{Device, Kind, Tensor};

/// One memory point, in bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct MemoryPoint {
    /// Peak resident set size of the process after the forward pass.
    pub peak_rss_bytes: u64,
    /// Peak resident set size after loading the model, before the forward pass.
    pub baseline_rss_bytes: u64,
}

fn max_rss_bytes() -> u64 {
    // SAFETY: getrusage only writes into the struct we pass.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut usage) };
    usage.ru_maxrss as u64 * 1024 // Linux reports kilobytes
}

/// Resets the peak-RSS counter to the current RSS; returns that RSS (or None where unsupported).
fn reset_peak_rss() -> Option<u64> {
    std::fs::write("/proc/self/clear_refs", "5").ok()?;
    status_field_bytes("VmHWM:")
}

/// A `kB` field of /proc/self/status, in bytes.
fn status_field_bytes(field: &str) -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with(field))?;
    let kb: u64 = line[field.len()..]
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .ok()?;
    Some(kb * 1024)
}

/// The model a memory point runs.
enum ForwardModel {
    /// Packed weights (CPU).
    Packed(Box<PackedClassifier>),
    /// Dequantized reference (devices the packed kernels do not run on).
    Reference(Box<crate::model::LoadedModel>),
}

/// Runs in the child: loads `artifact`, runs one forward pass of `batch` x `seq_len` tokens
/// and returns the peaks before and after.
pub fn memory_point(
    artifact: &Path,
    seq_len: usize,
    batch: usize,
    threads: usize,
    device: Device,
) -> Result<MemoryPoint> {
    tch::set_num_threads(threads as i32);
    let model = if device == Device::Cpu {
        ForwardModel::Packed(Box::new(PackedClassifier::load(
            artifact,
            threads,
            Backend::detect(),
        )?))
    } else {
        ForwardModel::Reference(Box::new(load_artifact(artifact, device)?))
    };
    let config = match &model {
        ForwardModel::Packed(m) => &m.config,
        ForwardModel::Reference(l) => &l.config,
    };
    let max_positions = config.trial.model.max_positions;
    if seq_len == 0 || seq_len > max_positions || batch == 0 {
        return Err(Error::Invalid(format!(
            "--seq-len {seq_len} --batch {batch}: this model takes 1..={max_positions} tokens (model.max_positions) and a batch of at least 1"
        )));
    }
    let vocab = config.dims.vocab_size as i64;
    let ids = Tensor::randint_low(
        1,
        vocab,
        [batch as i64, seq_len as i64],
        (Kind::Int64, device),
    );
    let mask = Tensor::ones([batch as i64, seq_len as i64], (Kind::Int64, device));
    let baseline_rss_bytes = reset_peak_rss().unwrap_or_else(max_rss_bytes);
    let logits = match &model {
        ForwardModel::Packed(m) => m.forward(&ids, &mask),
        ForwardModel::Reference(l) => tch::no_grad(|| {
            l.model
                .forward(&ids, &mask, QuantMode::WeightsOnGrid, false)
        }),
    };
    let _ = logits.double_value(&[0, 0]);
    let peak_rss_bytes = status_field_bytes("VmHWM:").unwrap_or_else(max_rss_bytes);
    Ok(MemoryPoint {
        peak_rss_bytes,
        baseline_rss_bytes,
    })
}

/// Runs `exe measure-memory` in a fresh process and parses the JSON line it prints.
pub fn measure_memory_in_child(
    exe: &Path,
    artifact: &Path,
    seq_len: usize,
    batch: usize,
    threads: usize,
    device: &str,
) -> Result<MemoryPoint> {
    let what = format!("memory at length {seq_len}, batch {batch}");
    let fail = |message: String| Error::Measure {
        what: what.clone(),
        message,
    };
    let output = Command::new(exe)
        .arg("measure-memory")
        .arg("--artifact")
        .arg(artifact)
        .args([
            "--seq-len",
            &seq_len.to_string(),
            "--batch",
            &batch.to_string(),
        ])
        .args(["--threads", &threads.to_string(), "--device", device])
        .output()
        .map_err(|e| fail(format!("cannot start {} ({e})", exe.display())))?;
    if !output.status.success() {
        let stderr = String::from_utf8_lossy(&output.stderr);
        return Err(fail(format!(
            "child process {}: {}",
            output.status,
            stderr.trim()
        )));
    }
    let stdout = String::from_utf8_lossy(&output.stdout);
    let line = stdout.lines().last().unwrap_or_default();
    serde_json::from_str(line).map_err(|e| fail(format!("unreadable child output `{line}` ({e})")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_peak_counter_resets_and_sees_a_new_allocation() {
        let Some(baseline) = reset_peak_rss() else {
            panic!(
                "/proc/self/clear_refs is not writable; memory points would fall back to getrusage"
            );
        };
        let block = vec![1u8; 64 << 20];
        std::hint::black_box(&block);
        let peak = status_field_bytes("VmHWM:").unwrap();
        assert!(
            peak >= baseline + (60 << 20),
            "peak {peak} baseline {baseline}"
        );
    }
}
