//! int8 (W8A8): symmetric per-output-channel absmax weights and 8-bit per-token activations.
//!
//! Weights: one scale per row (output channel), `delta = max|W_row|.clamp(min=1e-5) / 127`,
//! `codes = clamp(round(W / delta), -127, 127)`, `Wq = codes * delta` (symmetric absmax
//! quantization as in LLM.int8(), Dettmers et al. 2022, with per-channel scales as in Krishnamoorthi
//! 2018, "Quantizing deep convolutional networks for efficient inference").
//! Activations: per token over the last dimension, exactly as BitNet b1.58 quantizes its
//! activations (Ma et al. 2024 and its "Training Tips, Code and FAQ"):
//! `s = 127 / max|x|.clamp(min=1e-5)`, `xq = clamp(round(x * s), -128, 127) / s`.
//!
//! Packed layout (`numel + 4 * rows` bytes), for a weight viewed as `[rows, in]`:
//! 1. `rows * in` codes, one signed byte (two's complement) each, row-major;
//! 2. `rows` scales `delta`, f32 little-endian, one per row; a weight is `code * delta`.
use std::sync::Arc;

use tch::{Kind, Tensor};

use super::packing::{
    as_f32_rows, check_packed, f32_from_le_bytes, f32_to_le_bytes, finite_weight_values, rows_cols,
    to_f32_vec,
};
use super::{
    FakeQuantizer, Granularity, Grid, KernelBinding, PackedTensor, Quantizer, QuantizerIdentity,
    Requantize, SchemeTag, WeightCodec,
};

/// Canonical registry name, also this scheme's packed tag ([`SchemeTag::Builtin`]).
const NAME: &str = "int8";
use super::QuantConfig;
use crate::kernels::{LinearKernel, TorchInt8Pack};
use crate::{Error, Result};

/// Symmetric int8 per-channel weights, int8 per-token activations.
#[derive(Debug, Clone, Copy, Default)]
pub struct Int8Quantizer;

/// Per-token 8-bit absmax fake quantization over the last dimension (BitNet b1.58 activations),
/// computed in f32 without gradient tracking and returned in `x`'s kind.
pub fn quantize_activation_int8_per_token(x: &Tensor) -> Tensor {
    let xf = x.detach().to_kind(Kind::Float);
    let absmax = xf.abs().amax([-1], true).clamp_min(1e-5);
    let s = absmax.full_like(127.0) / &absmax;
    ((&xf * &s).round().clamp(-128.0, 127.0) / s).to_kind(x.kind())
}

impl Int8Quantizer {
    /// Registry constructor (int8 has no settings).
    pub fn from_config(_cfg: &QuantConfig) -> Result<Arc<dyn Quantizer>> {
        Ok(Arc::new(Int8Quantizer))
    }

    /// Bytes of the packed form of a tensor of `shape`: `numel + 4 * rows`.
    pub fn packed_len(shape: &[i64]) -> usize {
        let (rows, cols) = rows_cols(shape);
        rows * cols + 4 * rows
    }

    /// Integer codes in `[-127, 127]` (as f32, `[rows, in]`) and per-row steps `[rows, 1]`.
    fn codes_and_steps(w: &Tensor) -> (Tensor, Tensor) {
        let w = as_f32_rows(w);
        let delta = w.abs().amax([-1], true).clamp_min(1e-5) / 127.0;
        let codes = (&w / &delta).round().clamp(-127.0, 127.0);
        (codes, delta)
    }

    fn dequantize(codes: &Tensor, delta: &Tensor) -> Tensor {
        codes * delta
    }

    /// The codes (`rows * in`, row-major) and per-row steps of a packed int8 tensor; errors on
    /// a foreign tag, a wrong byte count or the unused code -128.
    pub fn codes_and_scales(&self, p: &PackedTensor) -> Result<(Vec<i8>, Vec<f32>)> {
        check_packed(&SchemeTag::Builtin(NAME), p, Self::packed_len(&p.shape))?;
        let (rows, cols) = rows_cols(&p.shape);
        let (code_bytes, scale_bytes) = p.data.split_at(rows * cols);
        if let Some(i) = code_bytes.iter().position(|&b| b as i8 == i8::MIN) {
            return Err(super::packing::quant_error(
                self.name(),
                format!("code -128 at flat index {i} is outside [-127, 127]; the data is corrupt"),
            ));
        }
        let codes = code_bytes.iter().map(|&b| b as i8).collect();
        Ok((codes, f32_from_le_bytes(scale_bytes)))
    }
}

impl QuantizerIdentity for Int8Quantizer {
    fn name(&self) -> &str {
        NAME
    }

    fn description(&self) -> String {
        "int8 (W8A8): symmetric per-channel absmax weights, 8-bit per-token activations".into()
    }
}

impl FakeQuantizer for Int8Quantizer {
    /// Codes -127..=127 per row.
    fn grid(&self) -> Grid {
        Grid {
            granularity: Granularity::Channel,
            levels: 255,
        }
    }

    /// The step `absmax / 127` is recomputed from `127 * step` in f32, which may round.
    fn requantize(&self) -> Requantize {
        Requantize::UpToScaleRounding
    }

    fn quantize_weight(&self, w: &Tensor) -> Tensor {
        let (codes, delta) = Self::codes_and_steps(w);
        Self::dequantize(&codes, &delta)
            .reshape(w.size())
            .to_kind(w.kind())
    }

    fn quantize_activation(&self, x: &Tensor) -> Tensor {
        quantize_activation_int8_per_token(x)
    }
}

impl WeightCodec for Int8Quantizer {
    /// 8 bits plus one f32 scale per row of 1024 weights.
    fn bits_per_weight(&self) -> f64 {
        8.0 + 32.0 / 1024.0
    }

    fn pack(&self, w: &Tensor) -> Result<PackedTensor> {
        finite_weight_values(self.name(), w)?;
        let (codes, delta) = Self::codes_and_steps(w);
        let codes = to_f32_vec(self.name(), &codes)?;
        let delta = to_f32_vec(self.name(), &delta)?;
        let mut data: Vec<u8> = codes.iter().map(|&c| (c as i8) as u8).collect();
        data.extend(f32_to_le_bytes(&delta));
        Ok(PackedTensor {
            scheme: SchemeTag::Builtin(NAME),
            shape: w.size(),
            data,
        })
    }

    /// libtorch's `_weight_int8pack_mm` with bf16 activations where K is a multiple of 64
    /// ([`TorchInt8Pack::supports`]).
    fn kernel(&self) -> Option<KernelBinding<'_>> {
        Some(KernelBinding::new("libtorch-int8pack-bf16", |p| {
            let (rows, cols) = rows_cols(&p.shape);
            if p.shape.len() != 2 || !TorchInt8Pack::supports(rows, cols) {
                return Ok(None);
            }
            let (codes, scales) = self.codes_and_scales(p)?;
            let kernel: Box<dyn LinearKernel> =
                Box::new(TorchInt8Pack::new(&codes, &scales, rows, cols)?);
            Ok(Some(kernel))
        }))
    }

    fn unpack(&self, p: &PackedTensor) -> Result<Tensor> {
        let (codes, scales) = self.codes_and_scales(p)?;
        let (rows, cols) = rows_cols(&p.shape);
        let codes: Vec<f32> = codes.into_iter().map(f32::from).collect();
        let codes = Tensor::from_slice(&codes).view([rows as i64, cols as i64]);
        let delta = Tensor::from_slice(&scales).view([rows as i64, 1]);
        Self::dequantize(&codes, &delta)
            .f_reshape(&p.shape)
            .map_err(|e| Error::torch("reshaping an unpacked int8 tensor", e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tch::Device;

    fn distinct_count(row: &Tensor) -> usize {
        let mut v = Vec::<f32>::try_from(row).unwrap();
        v.sort_by(f32::total_cmp);
        v.dedup();
        v.len()
    }

    #[test]
    fn at_most_255_levels_per_row_on_the_row_grid() {
        let w = Tensor::randn([8, 1000], (Kind::Float, Device::Cpu));
        let q = Int8Quantizer.quantize_weight(&w);
        for r in 0..8 {
            let row = q.get(r);
            assert!(distinct_count(&row) <= 255);
            let delta = w.get(r).abs().max() / 127.0;
            let codes = &row / &delta;
            let off_grid = f64::try_from((&codes - codes.round()).abs().max()).unwrap();
            assert!(
                off_grid < 1e-3,
                "row {r}: values are not multiples of the step"
            );
        }
    }

    #[test]
    fn activations_have_at_most_256_levels_per_token() {
        let x = Tensor::randn([2, 3, 600], (Kind::Float, Device::Cpu)) * 5.0;
        let xq = Int8Quantizer.quantize_activation(&x);
        assert_eq!(xq.size(), x.size());
        for b in 0..2 {
            for t in 0..3 {
                assert!(distinct_count(&xq.get(b).get(t)) <= 256);
            }
        }
        // The largest-magnitude entry of each token is represented exactly up to rounding.
        let err = f64::try_from(
            (xq.abs().amax([-1], false) - x.abs().amax([-1], false))
                .abs()
                .max(),
        )
        .unwrap();
        assert!(err < 1e-5);
    }

    #[test]
    fn quantize_is_idempotent() {
        let w = Tensor::randn([7, 33], (Kind::Float, Device::Cpu));
        let once = Int8Quantizer.quantize_weight(&w);
        let twice = Int8Quantizer.quantize_weight(&once);
        assert!(twice.allclose(&once, 0.0, 1e-6, false));
        let a = Int8Quantizer.quantize_activation(&w);
        assert!(Int8Quantizer
            .quantize_activation(&a)
            .allclose(&a, 0.0, 1e-6, false));
    }

    #[test]
    fn pack_unpack_matches_quantize_and_byte_count() {
        for shape in [[3i64, 5], [7, 33], [64, 64]] {
            let w = Tensor::randn(shape, (Kind::Float, Device::Cpu));
            let p = Int8Quantizer.pack(&w).unwrap();
            let (rows, cols) = (shape[0] as usize, shape[1] as usize);
            assert_eq!(p.data.len(), rows * cols + 4 * rows);
            assert!(Int8Quantizer
                .unpack(&p)
                .unwrap()
                .equal(&Int8Quantizer.quantize_weight(&w)));
        }
    }

    #[test]
    fn zero_rows_do_not_divide_by_zero() {
        let w = Tensor::zeros([2, 4], (Kind::Float, Device::Cpu));
        assert!(Int8Quantizer.quantize_weight(&w).equal(&w));
        let p = Int8Quantizer.pack(&w).unwrap();
        assert!(Int8Quantizer.unpack(&p).unwrap().equal(&w));
    }

    #[test]
    fn pack_refuses_inf() {
        let w = Tensor::from_slice(&[f32::INFINITY, 1.0]).view([1, 2]);
        assert!(Int8Quantizer
            .pack(&w)
            .unwrap_err()
            .to_string()
            .contains("inf"));
    }
}
