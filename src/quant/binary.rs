//! binary (1-bit): the original BitNet weights, `sign(W - mean(W))` times one per-tensor scale.
//!
//! Wang et al. 2023, "BitNet: Scaling 1-bit Transformers for Large Language Models", eqs. 1-3:
//! `alpha = mean(W)`, `W~ = Sign(W - alpha)` with `Sign(x) = +1 if x > 0, -1 if x <= 0`, and the
//! output is rescaled by `beta = ||W||_1 / (n m) = mean|W|`; the dequantized weight is
//! `beta * W~`. Centering before binarization spreads the signs evenly; the scale is the mean
//! absolute value of the *uncentered* weight, as in the paper. Activations are 8-bit absmax per
//! token (as BitNet's inference and BitNet b1.58 do; shared with [`super::int8`]), so a
//! comparison with `ternary` differs in the weights only.
//!
//! Packed layout (`ceil(numel / 8) + 4` bytes, about 1 bit per weight):
//! 1. one bit per weight in row-major order, `1` for `+1` and `0` for `-1`, least significant bit
//!    first (the layout of [`super::bit_packing`]); padding bits of the last byte are 0;
//! 2. `beta`, f32 little-endian.
//!
//! Re-quantizing keeps the codes (the mean of `+-beta` values lies strictly between them when
//! both signs occur) and recomputes `beta` as the mean of equal magnitudes, which f32 may round:
//! [`Requantize::UpToScaleRounding`]. A constant tensor has `W - mean(W) = 0` everywhere, so every
//! code is -1 (the paper's `Sign(0) = -1`) and the weights become `-mean|W|`.
use std::sync::Arc;

use tch::{Kind, Tensor};

use super::bit_packing::{pack_bits, packed_bits_len, unpack_bits};
use super::int8::quantize_activation_int8_per_token;
use super::packing::{check_packed, finite_weight_values, quant_error, to_f32_vec};
use super::{
    FakeQuantizer, Granularity, Grid, PackedTensor, Quantizer, QuantizerIdentity, Requantize,
    SchemeTag, WeightCodec,
};

/// Canonical registry name, also this scheme's packed tag ([`SchemeTag::Builtin`]).
const NAME: &str = "binary";
use super::QuantConfig;
use crate::{Error, Result};

/// Original BitNet 1-bit weights (centered sign, per-tensor mean-absolute scale) with 8-bit
/// per-token activations.
#[derive(Debug, Clone, Copy, Default)]
pub struct BinaryQuantizer;

impl BinaryQuantizer {
    /// Registry constructor (binary has no settings).
    pub fn from_config(_cfg: &QuantConfig) -> Result<Arc<dyn Quantizer>> {
        Ok(Arc::new(BinaryQuantizer))
    }

    /// Bytes of the packed form of a tensor of `shape`: `ceil(numel / 8) + 4`.
    pub fn packed_len(shape: &[i64]) -> usize {
        let numel: usize = shape.iter().map(|&d| d.max(0) as usize).product();
        packed_bits_len(numel, 1) + 4
    }

    /// Signs in {-1, +1} (f32, shape of `w`) and the scalar scale `beta = mean|W|`.
    fn signs_and_scale(w: &Tensor) -> (Tensor, Tensor) {
        let w = w.detach().to_kind(Kind::Float);
        let centered = &w - w.mean(Kind::Float);
        let signs = centered.gt(0.0).to_kind(Kind::Float) * 2.0 - 1.0;
        (signs, w.abs().mean(Kind::Float))
    }
}

impl QuantizerIdentity for BinaryQuantizer {
    fn name(&self) -> &str {
        NAME
    }

    fn description(&self) -> String {
        "binary (BitNet, Wang et al. 2023): weights sign(W - mean W) x per-tensor mean|W|, 8-bit \
         per-token activations"
            .into()
    }
}

impl FakeQuantizer for BinaryQuantizer {
    /// `-beta` and `+beta`, one `beta` per tensor.
    fn grid(&self) -> Grid {
        Grid {
            granularity: Granularity::Tensor,
            levels: 2,
        }
    }

    fn requantize(&self) -> Requantize {
        Requantize::UpToScaleRounding
    }

    fn quantize_weight(&self, w: &Tensor) -> Tensor {
        let (signs, beta) = Self::signs_and_scale(w);
        (signs * beta).to_kind(w.kind())
    }

    fn quantize_activation(&self, x: &Tensor) -> Tensor {
        quantize_activation_int8_per_token(x)
    }
}

impl WeightCodec for BinaryQuantizer {
    /// 1 bit per weight plus one f32 scale per 1024x1024 tensor.
    fn bits_per_weight(&self) -> f64 {
        1.0 + 32.0 / (1024.0 * 1024.0)
    }

    fn pack(&self, w: &Tensor) -> Result<PackedTensor> {
        finite_weight_values(self.name(), w)?;
        let (signs, beta) = Self::signs_and_scale(w);
        let beta = f32::try_from(&beta).map_err(|e| Error::torch("reading the binary scale", e))?;
        if !beta.is_finite() {
            return Err(quant_error(
                self.name(),
                format!(
                    "mean|W| of a weight of shape {:?} overflows f32; fix: the weights are too \
                     large to quantize, train with weight decay or a lower train.lr",
                    w.size()
                ),
            ));
        }
        let bits: Vec<u8> = to_f32_vec(self.name(), &signs)?
            .iter()
            .map(|&s| u8::from(s > 0.0))
            .collect();
        let mut data = pack_bits(&bits, 1).map_err(|m| quant_error(self.name(), m))?;
        data.extend(beta.to_le_bytes());
        Ok(PackedTensor {
            scheme: SchemeTag::Builtin(NAME),
            shape: w.size(),
            data,
        })
    }

    fn unpack(&self, p: &PackedTensor) -> Result<Tensor> {
        check_packed(&SchemeTag::Builtin(NAME), p, Self::packed_len(&p.shape))?;
        let (code_bytes, scale_bytes) = p.data.split_at(p.data.len() - 4);
        let bits =
            unpack_bits(code_bytes, p.numel(), 1).map_err(|m| quant_error(self.name(), m))?;
        let beta = f32::from_le_bytes([
            scale_bytes[0],
            scale_bytes[1],
            scale_bytes[2],
            scale_bytes[3],
        ]);
        if !(beta.is_finite() && beta >= 0.0) {
            return Err(quant_error(
                self.name(),
                format!("scale {beta} is not a finite non-negative number; the data is corrupt"),
            ));
        }
        let signs: Vec<f32> = bits
            .iter()
            .map(|&b| if b == 1 { 1.0 } else { -1.0 })
            .collect();
        (Tensor::from_slice(&signs) * Tensor::from(beta))
            .f_reshape(&p.shape)
            .map_err(|e| Error::torch("reshaping an unpacked binary tensor", e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tch::Device;

    #[test]
    fn weights_are_centered_signs_times_mean_abs() {
        // mean = 1.0, so the centered signs are -, -, +, +; beta = mean|W| = 1.5.
        let w = Tensor::from_slice(&[-1.0f32, 0.5, 1.5, 3.0]).view([2, 2]);
        let q = BinaryQuantizer.quantize_weight(&w);
        let expected = Tensor::from_slice(&[-1.5f32, -1.5, 1.5, 1.5]).view([2, 2]);
        assert!(q.equal(&expected), "{q:?}");
        let p = BinaryQuantizer.pack(&w).unwrap();
        assert_eq!(p.data.len(), 1 + 4);
        assert_eq!(p.data[0], 0b1100);
        assert!(BinaryQuantizer.unpack(&p).unwrap().equal(&expected));
    }

    #[test]
    fn sign_of_zero_is_minus_one_as_in_the_paper() {
        let w = Tensor::full([2, 3], 0.25, (Kind::Float, Device::Cpu));
        let q = BinaryQuantizer.quantize_weight(&w);
        assert!(q.equal(&Tensor::full([2, 3], -0.25, (Kind::Float, Device::Cpu))));
    }
}
