//! Peak resident memory against input length. `ru_maxrss` is a process-lifetime maximum, so
//! each point runs in a fresh child process (`bitlab measure-memory`), which loads the packed
//! artifact, notes its resident memory, runs one forward pass and reports the new peak.
use crate::model::{load_artifact, QuantMode};
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

/// Runs in the child: loads `artifact`, runs one forward pass of `batch` x `seq_len` tokens
/// and returns the peaks before and after.
pub fn memory_point(artifact: &Path, seq_len: usize, batch: usize, threads: usize, device: Device) -> Result<MemoryPoint> {
    tch::set_num_threads(threads as i32);
    let loaded = load_artifact(artifact, device)?;
    let vocab = loaded.config.dims.vocab_size as i64;
    let ids = Tensor::randint_low(1, vocab, [batch as i64, seq_len as i64], (Kind::Int64, device));
    let mask = Tensor::ones([batch as i64, seq_len as i64], (Kind::Int64, device));
    let baseline_rss_bytes = max_rss_bytes();
    let logits = tch::no_grad(|| loaded.model.forward(&ids, &mask, QuantMode::WeightsOnGrid, false));
    let _ = logits.double_value(&[0, 0]);
    Ok(MemoryPoint { peak_rss_bytes: max_rss_bytes(), baseline_rss_bytes })
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
    let fail = |message: String| Error::Measure { what: what.clone(), message };
    let output = Command::new(exe)
        .arg("measure-memory")
        .arg("--artifact")
        .arg(artifact)
        .args(["--seq-len", &seq_len.to_string(), "--batch", &batch.to_string()])
        .args(["--threads", &threads.to_string(), "--device", device])
        .output()
        .map_err(|e| fail(format!("cannot start {} ({e})", exe.display())))?;
    if !output.status.success() {
        let stderr = String::from_utf8_lossy(&output.stderr);
        return Err(fail(format!("child process {}: {}", output.status, stderr.trim())));
    }
    let stdout = String::from_utf8_lossy(&output.stdout);
    let line = stdout.lines().last().unwrap_or_default();
    serde_json::from_str(line).map_err(|e| fail(format!("unreadable child output `{line}` ({e})")))
}
