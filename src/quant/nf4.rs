//! nf4: QLoRA's 4-bit NormalFloat weights with one absmax scale per block of 64 weights.
//!
//! Dettmers et al. 2023, "QLoRA: Efficient Finetuning of Quantized LLMs", section 3: the 16
//! NormalFloat levels are quantiles of N(0, 1) normalized to [-1, 1], with an exact zero
//! (7 negative, 8 positive levels); [`NF4_LEVELS`] are the values bitsandbytes ships
//! (`bitsandbytes/functional.py`, `get_4bit_type("nf4")`). The tensor is flattened in row-major
//! order and cut into blocks of 64 consecutive weights (the last block may be shorter), as
//! bitsandbytes does; per block `c = max|W_block|` (clamped at 1e-5 so an all-zero block stays
//! zero), each weight becomes the level nearest to `W / c`, and `Wq = level * c`.
//!
//! Activations stay in full precision (QLoRA computes in 16-bit; here the model's f32).
//!
//! Packed layout (`ceil(numel / 2) + 4 * ceil(numel / 64)` bytes, 4.5 bits per weight; QLoRA
//! without its double quantization of the block constants):
//! 1. level indices 0..=15 (into [`NF4_LEVELS`]), two per byte, first in the low nibble; an odd
//!    count leaves the last high nibble 0;
//! 2. one absmax `c` per block, f32 little-endian.
//!
//! Re-quantization is exact: the block's largest weight maps to level +-1 exactly, so `c` is
//! recovered bit for bit, and every other value maps back to its own level.
use std::sync::Arc;

use tch::{Device, Kind, Tensor};

use super::packing::{
    check_packed, f32_from_le_bytes, f32_to_le_bytes, finite_weight_values, quant_error, to_f32_vec,
};
use super::{
    FakeQuantizer, Granularity, Grid, PackedTensor, Quantizer, QuantizerIdentity, SchemeTag,
    WeightCodec,
};

/// Canonical registry name, also this scheme's packed tag ([`SchemeTag::Builtin`]).
const NAME: &str = "nf4";
use super::QuantConfig;
use crate::{Error, Result};

/// The 16 NormalFloat4 levels, ascending (bitsandbytes' table).
pub const NF4_LEVELS: [f32; 16] = [
    -1.0,
    -0.696_192_8,
    -0.525_073_05,
    -0.394_917_5,
    -0.284_441_38,
    -0.184_773_43,
    -0.091_050_036,
    0.0,
    0.079_580_3,
    0.160_930_2,
    0.246_112_3,
    0.337_915_24,
    0.440_709_83,
    0.562_617,
    0.722_956_84,
    1.0,
];

/// Weights per absmax block (QLoRA's choice).
pub const NF4_BLOCK: usize = 64;

/// QLoRA NormalFloat4 weights, block absmax 64, full-precision activations.
#[derive(Debug, Clone, Copy, Default)]
pub struct Nf4Quantizer;

impl Nf4Quantizer {
    /// Registry constructor (nf4 has no settings).
    pub fn from_config(_cfg: &QuantConfig) -> Result<Arc<dyn Quantizer>> {
        Ok(Arc::new(Nf4Quantizer))
    }

    /// Bytes of the packed form of a tensor of `shape`: `ceil(numel / 2) + 4 * ceil(numel / 64)`.
    pub fn packed_len(shape: &[i64]) -> usize {
        let numel: usize = shape.iter().map(|&d| d.max(0) as usize).product();
        numel.div_ceil(2) + 4 * numel.div_ceil(NF4_BLOCK)
    }

    /// Level indices (int64, `[blocks, 64]`, zero-padded past the end) and absmax `[blocks, 1]`.
    fn indices_and_absmax(w: &Tensor) -> (Tensor, Tensor) {
        let flat = w.detach().to_kind(Kind::Float).flatten(0, -1);
        let numel = flat.size()[0];
        let block = NF4_BLOCK as i64;
        let blocks = (numel + block - 1) / block;
        let padded = flat.constant_pad_nd([0, blocks * block - numel]);
        let x = padded.view([blocks, block]);
        let absmax = x.abs().amax([-1], true).clamp_min(1e-5);
        let levels = Self::levels(x.device());
        // Nearest level: count the midpoints below each normalized value.
        let midpoints = (levels.narrow(0, 0, 15) + levels.narrow(0, 1, 15)) / 2.0;
        let indices = (&x / &absmax).bucketize(&midpoints, false, false);
        (indices, absmax)
    }

    fn levels(device: Device) -> Tensor {
        Tensor::from_slice(&NF4_LEVELS).to_device(device)
    }

    /// `level[index] * absmax`, cut back to `shape`.
    fn dequantize(indices: &Tensor, absmax: &Tensor, shape: &[i64]) -> Tensor {
        let numel: i64 = shape.iter().product();
        let levels = Self::levels(indices.device());
        let values = levels
            .index_select(0, &indices.flatten(0, -1))
            .view(indices.size().as_slice());
        (values * absmax)
            .flatten(0, -1)
            .narrow(0, 0, numel)
            .reshape(shape)
    }
}

impl QuantizerIdentity for Nf4Quantizer {
    fn name(&self) -> &str {
        NAME
    }

    fn description(&self) -> String {
        "nf4 (QLoRA, Dettmers et al. 2023): 4-bit NormalFloat levels x absmax per block of 64 \
         weights (f32), full-precision activations"
            .into()
    }
}

impl FakeQuantizer for Nf4Quantizer {
    fn grid(&self) -> Grid {
        Grid {
            granularity: Granularity::Block(NF4_BLOCK),
            levels: 16,
        }
    }

    fn quantize_weight(&self, w: &Tensor) -> Tensor {
        let (indices, absmax) = Self::indices_and_absmax(w);
        Self::dequantize(&indices, &absmax, &w.size()).to_kind(w.kind())
    }
}

impl WeightCodec for Nf4Quantizer {
    /// 4 bits plus one f32 absmax per 64 weights.
    fn bits_per_weight(&self) -> f64 {
        4.0 + 32.0 / NF4_BLOCK as f64
    }

    fn pack(&self, w: &Tensor) -> Result<PackedTensor> {
        finite_weight_values(self.name(), w)?;
        let numel = w.numel();
        let (indices, absmax) = Self::indices_and_absmax(w);
        let indices: Vec<i64> = Vec::<i64>::try_from(&indices.flatten(0, -1))
            .map_err(|e| Error::torch("copying nf4 indices to the CPU", e))?;
        let mut data: Vec<u8> = indices[..numel]
            .chunks(2)
            .map(|pair| pair[0] as u8 | (pair.get(1).map_or(0, |&i| i as u8) << 4))
            .collect();
        data.extend(f32_to_le_bytes(&to_f32_vec(self.name(), &absmax)?));
        Ok(PackedTensor {
            scheme: SchemeTag::Builtin(NAME),
            shape: w.size(),
            data,
        })
    }

    fn unpack(&self, p: &PackedTensor) -> Result<Tensor> {
        check_packed(&SchemeTag::Builtin(NAME), p, Self::packed_len(&p.shape))?;
        let numel = p.numel();
        let blocks = numel.div_ceil(NF4_BLOCK);
        let (code_bytes, scale_bytes) = p.data.split_at(numel.div_ceil(2));
        if numel % 2 == 1 && code_bytes[numel / 2] >> 4 != 0 {
            return Err(quant_error(
                self.name(),
                "padding nibble of the last code byte is not 0; the data is corrupt",
            ));
        }
        let mut indices: Vec<i64> = (0..numel)
            .map(|i| i64::from((code_bytes[i / 2] >> (4 * (i % 2))) & 0x0F))
            .collect();
        indices.resize(blocks * NF4_BLOCK, 7);
        let absmax = f32_from_le_bytes(scale_bytes);
        if let Some(b) = absmax.iter().position(|c| !(c.is_finite() && *c > 0.0)) {
            return Err(quant_error(
                self.name(),
                format!(
                    "absmax {} of block {b} is not positive; the data is corrupt",
                    absmax[b]
                ),
            ));
        }
        let indices = Tensor::from_slice(&indices).view([blocks as i64, NF4_BLOCK as i64]);
        let absmax = Tensor::from_slice(&absmax).view([blocks as i64, 1]);
        Self::dequantize(&indices, &absmax, &p.shape)
            .f_contiguous()
            .map_err(|e| Error::torch("assembling an unpacked nf4 tensor", e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn levels_are_ascending_with_an_exact_zero_and_unit_ends() {
        assert!(NF4_LEVELS.windows(2).all(|w| w[0] < w[1]));
        assert_eq!(NF4_LEVELS[7], 0.0);
        assert_eq!((NF4_LEVELS[0], NF4_LEVELS[15]), (-1.0, 1.0));
    }

    #[test]
    fn values_snap_to_the_nearest_level_times_absmax() {
        // absmax 2.0: 0.3 / 2 = 0.15 is nearest 0.1609; -0.9 / 2 = -0.45 nearest -0.3949.
        let w = Tensor::from_slice(&[2.0f32, 0.3, -0.9, 0.0]).view([1, 4]);
        let q = Nf4Quantizer.quantize_weight(&w);
        let expected = Tensor::from_slice(&[2.0f32, NF4_LEVELS[9] * 2.0, NF4_LEVELS[3] * 2.0, 0.0])
            .view([1, 4]);
        assert!(q.equal(&expected), "{q:?}");
        let p = Nf4Quantizer.pack(&w).unwrap();
        assert_eq!(p.data.len(), 2 + 4);
        assert_eq!(p.data[0], 15 | (9 << 4));
    }

    #[test]
    fn blocks_cross_rows_like_bitsandbytes() {
        // Two rows of 40: the first block holds row 0 and 24 weights of row 1.
        let w = Tensor::ones([2, 40], (Kind::Float, Device::Cpu));
        let _ = w.get(1).get(10).fill_(4.0);
        let q = Nf4Quantizer.quantize_weight(&w);
        // Weight (0, 0) shares the block of (1, 10), whose absmax is 4: 1/4 -> level 0.2461.
        let v = f32::try_from(q.get(0).get(0)).unwrap();
        assert_eq!(v, NF4_LEVELS[10] * 4.0);
        // Weight (1, 39) is in the second block (absmax 1): exact.
        assert_eq!(f32::try_from(q.get(1).get(39)).unwrap(), 1.0);
    }
}
