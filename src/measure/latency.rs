//! Inference latency against sequence length: warm-up runs, then timed repeats of one forward
//! pass on random token ids; median and 95th percentile in milliseconds. The model timed is
//! whatever [`crate::model::load_inference`] loaded: packed kernels on the CPU, the dequantized
//! reference elsewhere; [`InferenceModel::kernel_name`] names which.
use super::{median, percentile};
use crate::model::InferenceModel;
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

/// Times `model` on `batch` random sequences of `seq_len` tokens drawn from its vocabulary,
/// on its device.
pub fn measure_latency(
    model: &InferenceModel,
    seq_len: usize,
    batch: usize,
    warmup: usize,
    repeats: usize,
) -> Result<LatencyPoint> {
    let forward = |ids: &Tensor, mask: &Tensor| model.forward(ids, mask);
    time_forward(
        &forward,
        model.config.dims.vocab_size,
        seq_len,
        batch,
        warmup,
        repeats,
        model.device(),
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
