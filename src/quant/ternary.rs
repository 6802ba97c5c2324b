//! ternary (1.58-bit): BitNet b1.58 weights in {-1, 0, +1} times one per-tensor scale.
//!
//! Exactly the recipe of Ma et al. 2024, "The Era of 1-bit LLMs: All Large Language Models are in
//! 1.58 Bits", and its "Training Tips, Code and FAQ":
//! - weights, per tensor: `s = 1 / mean(|W|).clamp(min=1e-5)`, `Wq = clamp(round(W * s), -1, 1) / s`
//!   (absmean quantization);
//! - activations, per token, 8-bit: `s = 127 / max|x|.clamp(min=1e-5)`,
//!   `xq = clamp(round(x * s), -128, 127) / s` (shared with [`super::int8`]).
//!
//! Packed layout (`ceil(numel / 4) + 4` bytes, about 2 bits per weight):
//! 1. codes `w + 1` in {0, 1, 2} over the whole tensor in row-major order, 2 bits each, four per
//!    byte, the first weight in the lowest two bits (weight `i` at bits `2 * (i % 4)` of byte
//!    `i / 4`); unused slots of the last byte hold code 1 (weight 0), so a kernel may read whole
//!    bytes; code 3 never occurs;
//! 2. the scale `s` (the multiplier above, not its inverse), f32 little-endian; a weight is
//!    `code / s`.
//!
//! Absmean quantization is idempotent on the codes but not on the scale: re-quantizing `Wq`
//! keeps every code and multiplies the values by the fraction of non-zero codes (because
//! `mean|Wq| = nonzero_fraction / s`), so `q(q(W)) != q(W)` whenever some code is 0. That is a
//! property of the recipe; `unpack(pack(W)) == q(W)` holds exactly.
//!
//! This is the 2-bit layout of bitnet.cpp's I2_S and ggml's TQ2_0 without their SIMD block
//! interleaving; the 1.6-bit base-3 layout is in [`super::ternary_base3`].
use std::sync::Arc;

use tch::{Kind, Tensor};

use super::int8::quantize_activation_int8_per_token;
use super::packing::{check_packed, finite_weight_values, quant_error, to_f32_vec};
use super::{Granularity, Grid, PackedTensor, Quantizer, Requantize};
use crate::experiment::QuantConfig;
use crate::kernels::{LinearKernel, Ternary2Bit};
use crate::{Error, Result};

/// BitNet b1.58 ternary weights (absmean, per tensor) with 8-bit per-token activations.
#[derive(Debug, Clone, Copy, Default)]
pub struct TernaryQuantizer;

/// Ternary codes packed per byte in the 2-bit layout.
pub const CODES_PER_BYTE_2BIT: usize = 4;

impl TernaryQuantizer {
    /// Registry constructor (ternary has no settings).
    pub fn from_config(_cfg: &QuantConfig) -> Result<Arc<dyn Quantizer>> {
        Ok(Arc::new(TernaryQuantizer))
    }

    /// Bytes of the packed form of a tensor of `shape`: `ceil(numel / 4) + 4`.
    pub fn packed_len(shape: &[i64]) -> usize {
        let numel: usize = shape.iter().map(|&d| d.max(0) as usize).product();
        numel.div_ceil(CODES_PER_BYTE_2BIT) + 4
    }

    /// Codes in {-1, 0, 1} (f32, shape of `w`) and the scalar multiplier `s`.
    fn codes_and_scale(w: &Tensor) -> (Tensor, Tensor) {
        let w = w.detach().to_kind(Kind::Float);
        let s = w.abs().mean(Kind::Float).clamp_min(1e-5).reciprocal();
        let codes = (&w * &s).round().clamp(-1.0, 1.0);
        (codes, s)
    }
}

impl Quantizer for TernaryQuantizer {
    fn name(&self) -> &str {
        "ternary"
    }

    fn description(&self) -> String {
        "ternary (BitNet b1.58): weights in {-1,0,1} x per-tensor absmean scale, 8-bit per-token \
         activations"
            .into()
    }

    /// Codes -1, 0, 1 times one scale per tensor.
    fn grid(&self) -> Grid {
        Grid {
            granularity: Granularity::Tensor,
            levels: 3,
        }
    }

    /// Absmean is not a fixed point: see the file header.
    fn requantize(&self) -> Requantize {
        Requantize::SameCodes
    }

    /// 2 bits per weight plus one f32 scale per 1024x1024 tensor.
    fn bits_per_weight(&self) -> f64 {
        2.0 + 32.0 / (1024.0 * 1024.0)
    }

    /// bitlab's 2-bit integer kernel ([`crate::kernels::Ternary2Bit`]); the name gains the
    /// backend (`-avx2` or `-portable`) where a measurement records it.
    fn packed_kernel(&self) -> Option<&'static str> {
        Some("bitlab-ternary-2bit")
    }

    fn load_kernel(&self, p: &PackedTensor) -> Result<Option<Box<dyn LinearKernel>>> {
        Ok(Some(Box::new(Ternary2Bit::from_packed(p)?)))
    }

    fn quantize_weight(&self, w: &Tensor) -> Tensor {
        let (codes, s) = Self::codes_and_scale(w);
        (codes / s).to_kind(w.kind())
    }

    fn quantize_activation(&self, x: &Tensor) -> Tensor {
        quantize_activation_int8_per_token(x)
    }

    fn pack(&self, w: &Tensor) -> Result<PackedTensor> {
        finite_weight_values(self.name(), w)?;
        let (codes, s) = Self::codes_and_scale(w);
        let codes: Vec<i8> = to_f32_vec(self.name(), &codes)?
            .iter()
            .map(|&c| c as i8)
            .collect();
        let s = f32::try_from(&s).map_err(|e| Error::torch("reading the ternary scale", e))?;
        let mut data = pack_ternary_2bit(&codes)?;
        data.extend(s.to_le_bytes());
        Ok(PackedTensor {
            scheme: self.name().into(),
            shape: w.size(),
            data,
        })
    }

    fn unpack(&self, p: &PackedTensor) -> Result<Tensor> {
        check_packed(self.name(), p, Self::packed_len(&p.shape))?;
        let (code_bytes, scale_bytes) = p.data.split_at(p.data.len() - 4);
        let codes = unpack_ternary_2bit(code_bytes, p.numel())?;
        let s = f32::from_le_bytes([
            scale_bytes[0],
            scale_bytes[1],
            scale_bytes[2],
            scale_bytes[3],
        ]);
        if !(s.is_finite() && s > 0.0) {
            return Err(quant_error(
                self.name(),
                format!("scale {s} is not positive; the data is corrupt"),
            ));
        }
        let codes: Vec<f32> = codes.iter().map(|&c| f32::from(c)).collect();
        (Tensor::from_slice(&codes) / Tensor::from(s))
            .f_reshape(&p.shape)
            .map_err(|e| Error::torch("reshaping an unpacked ternary tensor", e))
    }
}

/// Packs ternary codes (-1, 0, 1) as 2-bit `w + 1` values, four per byte, first in the low bits;
/// unused slots of the last byte hold weight 0. Errors on a code outside {-1, 0, 1}.
pub fn pack_ternary_2bit(codes: &[i8]) -> Result<Vec<u8>> {
    if let Some(i) = codes.iter().position(|c| !(-1..=1).contains(c)) {
        return Err(quant_error(
            "ternary",
            format!(
                "code {} at index {i} is not in {{-1, 0, 1}}; pass quantized codes",
                codes[i]
            ),
        ));
    }
    Ok(codes
        .chunks(CODES_PER_BYTE_2BIT)
        .map(|chunk| {
            (0..CODES_PER_BYTE_2BIT).fold(0u8, |byte, j| {
                let code = chunk.get(j).map_or(1, |&c| (c + 1) as u8);
                byte | (code << (2 * j))
            })
        })
        .collect())
}

/// Unpacks `n` ternary codes from the 2-bit layout of [`pack_ternary_2bit`]; errors on a short
/// slice, on the unused code 3, or on padding that is not weight 0.
pub fn unpack_ternary_2bit(bytes: &[u8], n: usize) -> Result<Vec<i8>> {
    let needed = n.div_ceil(CODES_PER_BYTE_2BIT);
    if bytes.len() != needed {
        return Err(quant_error(
            "ternary",
            format!("{} code bytes for {n} weights, expected {needed}; the data is truncated or corrupt", bytes.len()),
        ));
    }
    let mut codes = Vec::with_capacity(needed * CODES_PER_BYTE_2BIT);
    for &byte in bytes {
        for j in 0..CODES_PER_BYTE_2BIT {
            codes.push(((byte >> (2 * j)) & 0b11) as i8 - 1);
        }
    }
    if let Some(i) = codes.iter().position(|&c| c == 2) {
        return Err(quant_error(
            "ternary",
            format!("code 3 at index {i} is never written; the data is corrupt"),
        ));
    }
    if codes[n..].iter().any(|&c| c != 0) {
        return Err(quant_error(
            "ternary",
            "padding codes of the last byte are not 0; the data is corrupt",
        ));
    }
    codes.truncate(n);
    Ok(codes)
}

#[cfg(test)]
mod tests {
    use super::*;
    use tch::Device;

    #[test]
    fn weights_are_exactly_minus_one_zero_one_over_s() {
        let w = Tensor::randn([16, 48], (Kind::Float, Device::Cpu)) * 0.02;
        let wq = TernaryQuantizer.quantize_weight(&w);
        let s = 1.0 / f64::try_from(w.abs().mean(Kind::Float)).unwrap().max(1e-5);
        let inv = (1.0 / s) as f32;
        let mut values = Vec::<f32>::try_from(&wq.flatten(0, -1)).unwrap();
        values.sort_by(f32::total_cmp);
        values.dedup();
        assert_eq!(values.len(), 3, "{values:?}");
        assert_eq!(values[1], 0.0);
        for (v, sign) in [(values[0], -1.0f32), (values[2], 1.0)] {
            assert!(
                (v - sign * inv).abs() <= inv * 1e-6,
                "{v} vs {}",
                sign * inv
            );
        }
    }

    #[test]
    fn all_zero_weight_uses_the_clamp_guard() {
        let w = Tensor::zeros([3, 5], (Kind::Float, Device::Cpu));
        assert!(TernaryQuantizer.quantize_weight(&w).equal(&w));
        let p = TernaryQuantizer.pack(&w).unwrap();
        assert!(TernaryQuantizer.unpack(&p).unwrap().equal(&w));
    }

    #[test]
    fn requantizing_keeps_the_codes_and_rescales_by_the_nonzero_fraction() {
        let w = Tensor::randn([7, 33], (Kind::Float, Device::Cpu));
        let once = TernaryQuantizer.quantize_weight(&w);
        let twice = TernaryQuantizer.quantize_weight(&once);
        assert!(twice.sign().equal(&once.sign()), "codes must not change");
        let nonzero = f64::try_from(once.ne(0.0).to_kind(Kind::Float).mean(Kind::Float)).unwrap();
        assert!(nonzero < 1.0, "randn weights have zero codes");
        assert!(twice.allclose(&(&once * nonzero), 1e-5, 1e-7, false));
        let a = TernaryQuantizer.quantize_activation(&w);
        assert!(TernaryQuantizer
            .quantize_activation(&a)
            .allclose(&a, 0.0, 1e-6, false));
    }

    #[test]
    fn pack_unpack_matches_quantize_and_byte_count() {
        for shape in [[3i64, 5], [7, 33], [64, 64]] {
            let w = Tensor::randn(shape, (Kind::Float, Device::Cpu));
            let p = TernaryQuantizer.pack(&w).unwrap();
            let n = (shape[0] * shape[1]) as usize;
            assert_eq!(p.data.len(), n.div_ceil(4) + 4);
            assert!(TernaryQuantizer
                .unpack(&p)
                .unwrap()
                .equal(&TernaryQuantizer.quantize_weight(&w)));
        }
        let p = TernaryQuantizer
            .pack(&Tensor::randn([7, 33], (Kind::Float, Device::Cpu)))
            .unwrap();
        assert_eq!(p.data.len(), 58 + 4);
    }

    #[test]
    fn two_bit_layout_is_low_bits_first_with_zero_weight_padding() {
        let bytes = pack_ternary_2bit(&[-1, 0, 1, 1, 0]).unwrap();
        assert_eq!(bytes, vec![0b10_10_01_00, 0b01_01_01_01]);
        assert_eq!(
            unpack_ternary_2bit(&bytes, 5).unwrap(),
            vec![-1, 0, 1, 1, 0]
        );
        assert!(pack_ternary_2bit(&[2]).is_err());
        assert!(
            unpack_ternary_2bit(&[0b11], 1).is_err(),
            "code 3 is corrupt"
        );
        assert!(
            unpack_ternary_2bit(&[0b00_00_00_01], 1).is_err(),
            "padding must be weight 0"
        );
        assert!(unpack_ternary_2bit(&bytes, 9).is_err(), "too few bytes");
    }

    #[test]
    fn pack_refuses_nan_and_unpack_refuses_corrupt_scale() {
        let w = Tensor::from_slice(&[f32::NAN, 1.0]).view([1, 2]);
        assert!(TernaryQuantizer
            .pack(&w)
            .unwrap_err()
            .to_string()
            .contains("NaN"));
        let mut p = TernaryQuantizer
            .pack(&Tensor::ones([2, 2], (Kind::Float, Device::Cpu)))
            .unwrap();
        let n = p.data.len();
        p.data[n - 4..].copy_from_slice(&(-1.0f32).to_le_bytes());
        assert!(TernaryQuantizer.unpack(&p).is_err());
    }
}
