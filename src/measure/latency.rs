//! Inference latency against sequence length: warm-up runs, then timed repeats of one forward
//! pass on random token ids; median and 95th percentile in milliseconds. The model timed is
//! either the packed one ([`measure_packed_latency`], the figure trials record on the CPU) or
//! the dequantized reference ([`measure_latency`], named by [`kernel_name`]).
use super::{median, percentile};
use crate::attention::AttentionKind;
use crate::model::{PackedClassifier, QuantMode, SequenceClassifier};
use crate::quant::Quantizer;
use crate::Result;
use std::time::Instant;
use tch::{Device, Kind, Tensor};

/// One latency point.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LatencyPoint {
    /// Median milliseconds per forward pass.
    pub median_ms: f64,
    /// 95th-percentile milliseconds.
    pub p95_ms: f64,
}

/// Name of the kernels the dequantized reference model ([`crate::model::load_artifact`]) of
/// `quantizer` runs: every scheme's matmul is libtorch fp32 on weights dequantized onto the
/// scheme's grid, and the name says so, so no report can mistake it for a low-bit speed. The
/// packed model names its own kernels ([`PackedClassifier::kernel_name`]).
pub fn kernel_name(quantizer: &dyn Quantizer, attention: AttentionKind, device: Device) -> String {
    let matmul = if quantizer.is_full_precision() {
        "libtorch-fp32".to_string()
    } else {
        format!("libtorch-fp32 on dequantized {}", quantizer.name())
    };
    format!("{matmul} + {} attention", attention.kernel_name(device))
}

/// Times `model` on `batch` random sequences of `seq_len` tokens drawn from `vocab_size`.
pub fn measure_latency(
    model: &dyn SequenceClassifier,
    vocab_size: usize,
    seq_len: usize,
    batch: usize,
    warmup: usize,
    repeats: usize,
    device: Device,
) -> Result<LatencyPoint> {
    let forward =
        |ids: &Tensor, mask: &Tensor| Ok(model.forward(ids, mask, QuantMode::WeightsOnGrid, false));
    time_forward(
        &forward, vocab_size, seq_len, batch, warmup, repeats, device,
    )
}

/// Times the packed model `model` (CPU) on `batch` random sequences of `seq_len` tokens.
pub fn measure_packed_latency(
    model: &PackedClassifier,
    seq_len: usize,
    batch: usize,
    warmup: usize,
    repeats: usize,
) -> Result<LatencyPoint> {
    let forward = |ids: &Tensor, mask: &Tensor| model.forward(ids, mask);
    let vocab_size = model.config.dims.vocab_size;
    time_forward(
        &forward,
        vocab_size,
        seq_len,
        batch,
        warmup,
        repeats,
        Device::Cpu,
    )
}

/// Warm-up runs, then `repeats` timed runs of `forward` on random ids without padding.
fn time_forward(
    forward: &dyn Fn(&Tensor, &Tensor) -> Result<Tensor>,
    vocab_size: usize,
    seq_len: usize,
    batch: usize,
    warmup: usize,
    repeats: usize,
    device: Device,
) -> Result<LatencyPoint> {
    let ids = Tensor::randint_low(
        1,
        vocab_size as i64,
        [batch as i64, seq_len as i64],
        (Kind::Int64, device),
    );
    let mask = Tensor::ones([batch as i64, seq_len as i64], (Kind::Int64, device));
    let run = || -> Result<f64> {
        let logits = forward(&ids, &mask)?;
        // Reading one value forces completion (matters on asynchronous devices such as CUDA).
        Ok(logits.double_value(&[0, 0]))
    };
    let times = tch::no_grad(|| -> Result<Vec<f64>> {
        for _ in 0..warmup {
            run()?;
        }
        (0..repeats.max(1))
            .map(|_| {
                let start = Instant::now();
                run()?;
                Ok(start.elapsed().as_secs_f64() * 1e3)
            })
            .collect()
    })?;
    Ok(LatencyPoint {
        median_ms: median(&times),
        p95_ms: percentile(&times, 0.95),
    })
}
