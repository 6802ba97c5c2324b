//! Peak resident memory against input length. Peaks are process-lifetime maxima, so each point
//! runs in a fresh child process (`bitlab measure-memory`), which loads the packed artifact
//! with [`load_inference`] (on the CPU on packed kernels, quantized weights resident in packed
//! form; on CUDA as the dequantized reference: the loader that latency uses, so both record the
//! same kernel name), resets the kernel's peak-RSS counter (`/proc/self/clear_refs`, Linux 4.0+), runs one forward
//! pass and reports the peak. The difference is the memory the forward pass itself needed
//! (activations, attention scores), which is what grows with input length; the absolute peak
//! also holds libtorch's code and the weights. Where the counter cannot be reset the baseline is
//! the peak so far (`getrusage`), which can hide a forward pass smaller than loading.
use super::peak_rss::{peak_rss, reset_peak_rss, run_memory_child, ChildPoint};
use crate::model::{load_inference, InferenceOptions};
use crate::{Error, Result};
use serde::{Deserialize, Serialize};
use std::path::Path;
use tch::{Device, Kind, Tensor};

/// One memory point, in bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct MemoryPoint {
    /// Peak resident set size of the process after the forward pass.
    pub peak_rss_bytes: u64,
    /// Peak resident set size after loading the model, before the forward pass.
    pub baseline_rss_bytes: u64,
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
    let model = load_inference(artifact, &InferenceOptions::on(device, threads))?;
    let config = &model.config;
    let max_positions = config.model.max_positions;
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
    let baseline_rss_bytes = reset_peak_rss();
    let logits = model.forward(&ids, &mask)?;
    let _ = logits.double_value(&[0, 0]);
    let peak_rss_bytes = peak_rss();
    Ok(MemoryPoint {
        peak_rss_bytes,
        baseline_rss_bytes,
    })
}

/// Runs `exe measure-memory` in a fresh process and returns the point it prints.
pub fn measure_memory_in_child(
    exe: &Path,
    artifact: &Path,
    seq_len: usize,
    batch: usize,
    threads: usize,
    device: &str,
) -> Result<MemoryPoint> {
    let point = ChildPoint {
        artifact,
        seq_len,
        batch,
        threads,
        device,
        extra_args: Vec::new(),
    };
    run_memory_child(
        exe,
        "measure-memory",
        &point,
        &format!("memory at length {seq_len}, batch {batch}"),
    )
}
