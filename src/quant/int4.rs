//! int4 (W4A16): symmetric group-wise 4-bit weights; activations stay in full precision.
//!
//! Weights are split into groups of `group_size` consecutive values along the input dimension
//! (the last group of a row may be shorter), each with its own scale: absmax group-wise
//! quantization as in GPTQ (Frantar et al. 2022) and ggml's `q4_0` (32-weight blocks, fp16
//! scale). Per group: `delta = f16(max|W_group|.clamp(min=1e-5) / 7)` (the step is rounded to
//! fp16 because that is what is stored), `codes = clamp(round(W / delta), -7, 7)`,
//! `Wq = codes * delta`. Levels are the 15 symmetric values -7..=7; the code -8 is never used.
//!
//! Packed layout (`ceil(numel / 2) + 2 * rows * ceil(in / group_size)` bytes), for a weight
//! viewed as `[rows, in]`:
//! 1. codes over the whole tensor in row-major order, stored as `code + 8` (1..=15) in 4-bit
//!    nibbles, two per byte, the first weight in the low nibble; an odd count leaves the last
//!    high nibble 0;
//! 2. one scale `delta` per group, IEEE fp16 little-endian, ordered by row then group.
//!
//! The packed tag is `int4/g<group_size>`, so a reader knows the group layout.
use std::sync::Arc;

use tch::{Kind, Tensor};

use super::packing::{
    as_f32_rows, check_packed, finite_weight_values, half_bits_from_le_bytes, half_bits_le_bytes,
    quant_error, rows_cols, to_f32_vec,
};
use super::{
    FakeQuantizer, Granularity, Grid, KernelBinding, PackedTensor, Quantizer, QuantizerIdentity,
    SchemeTag, WeightCodec,
};

/// Canonical registry name; packed tags add the group size ([`SchemeTag::Grouped`]).
const NAME: &str = "int4";
use super::QuantConfig;
use crate::kernels::{LinearKernel, TorchInt4Pack};
use crate::{Error, Result};

/// Symmetric 4-bit weights with one fp16 scale per group of `group_size` input weights.
#[derive(Debug, Clone)]
pub struct Int4Quantizer {
    group_size: usize,
    tag: SchemeTag,
}

impl Int4Quantizer {
    /// A quantizer with groups of `group_size` weights; errors when `group_size` is 0.
    pub fn new(group_size: usize) -> Result<Self> {
        if group_size == 0 {
            return Err(quant_error(
                NAME,
                "quant.group_size is 0; fix: set quant.group_size to a positive number such as 32",
            ));
        }
        Ok(Self {
            group_size,
            tag: SchemeTag::Grouped {
                scheme: NAME,
                group_size,
            },
        })
    }

    /// Registry constructor: reads `group_size`.
    pub fn from_config(cfg: &QuantConfig) -> Result<Arc<dyn Quantizer>> {
        Ok(Arc::new(Self::new(cfg.group_size)?))
    }

    /// Weights per group.
    pub fn group_size(&self) -> usize {
        self.group_size
    }

    /// Bytes of the packed form of a tensor of `shape`:
    /// `ceil(numel / 2) + 2 * rows * ceil(in / group_size)`.
    pub fn packed_len(&self, shape: &[i64]) -> usize {
        let (rows, cols) = rows_cols(shape);
        (rows * cols).div_ceil(2) + 2 * rows * cols.div_ceil(self.group_size)
    }

    /// Codes in `[-7, 7]` as f32 `[rows, groups, group_size]` (zero-padded past `in`) and the
    /// fp16-representable steps `[rows, groups, 1]`.
    fn codes_and_steps(&self, w: &Tensor) -> (Tensor, Tensor) {
        let w = as_f32_rows(w);
        let (rows, cols) = (w.size()[0], w.size()[1]);
        let g = self.group_size as i64;
        let groups = (cols + g - 1) / g;
        let padded = if groups * g > cols {
            w.constant_pad_nd([0, groups * g - cols])
        } else {
            w
        };
        let w = padded.view([rows, groups, g]);
        let absmax = w.abs().amax([-1], true).clamp_min(1e-5);
        let delta = (absmax / 7.0).to_kind(Kind::Half).to_kind(Kind::Float);
        let codes = (&w / &delta).round().clamp(-7.0, 7.0);
        (codes, delta)
    }

    /// The codes (`rows * in`, row-major, -7..=7) and steps (`rows * groups`, as f32) of a
    /// packed int4 tensor; errors on a foreign tag, a wrong byte count or the unused nibble.
    pub fn codes_and_scales(&self, p: &PackedTensor) -> Result<(Vec<i8>, Vec<f32>)> {
        check_packed(&self.tag, p, self.packed_len(&p.shape))?;
        let (rows, cols) = rows_cols(&p.shape);
        let groups = cols.div_ceil(self.group_size);
        let (code_bytes, scale_bytes) = p.data.split_at((rows * cols).div_ceil(2));
        let codes =
            unpack_nibbles(code_bytes, rows * cols).map_err(|m| quant_error(&self.tag, m))?;
        let scales = half_bits_from_le_bytes(
            &self.tag,
            scale_bytes,
            Kind::Half,
            &[(rows * groups) as i64],
        )?;
        let scales = Vec::<f32>::try_from(&scales)
            .map_err(|e| Error::torch("reading int4 group scales", e))?;
        Ok((codes, scales))
    }

    /// `codes * delta` back to `shape`, dropping the padding of the last group.
    fn dequantize(codes: &Tensor, delta: &Tensor, shape: &[i64]) -> Tensor {
        let (rows, cols) = rows_cols(shape);
        (codes * delta)
            .view([rows as i64, -1])
            .narrow(1, 0, cols as i64)
            .reshape(shape)
    }
}

impl QuantizerIdentity for Int4Quantizer {
    fn name(&self) -> &str {
        NAME
    }

    fn description(&self) -> String {
        format!(
            "int4 (W4A16): symmetric 4-bit weights (levels -7..7), one fp16 scale per {} \
             weights, full-precision activations",
            self.group_size
        )
    }
}

impl FakeQuantizer for Int4Quantizer {
    /// Codes -7..=7 per group; re-quantization is exact because the fp16 step `delta` comes back
    /// exactly from `7 * delta / 7`.
    fn grid(&self) -> Grid {
        Grid {
            granularity: Granularity::Group(self.group_size),
            levels: 15,
        }
    }

    fn quantize_weight(&self, w: &Tensor) -> Tensor {
        let (codes, delta) = self.codes_and_steps(w);
        Self::dequantize(&codes, &delta, &w.size()).to_kind(w.kind())
    }
}

impl WeightCodec for Int4Quantizer {
    /// 4 bits plus one 16-bit scale per group, for rows of 1024 weights.
    fn bits_per_weight(&self) -> f64 {
        4.0 + 16.0 * 1024usize.div_ceil(self.group_size) as f64 / 1024.0
    }

    fn pack(&self, w: &Tensor) -> Result<PackedTensor> {
        finite_weight_values(&self.tag, w)?;
        let shape = w.size();
        let (rows, cols) = rows_cols(&shape);
        let (codes, delta) = self.codes_and_steps(w);
        let codes = codes.view([rows as i64, -1]).narrow(1, 0, cols as i64);
        let codes: Vec<i8> = to_f32_vec(&self.tag, &codes)?
            .iter()
            .map(|&c| c as i8)
            .collect();
        let largest_step = f64::try_from(delta.abs().max()).unwrap_or(f64::NAN);
        if !largest_step.is_finite() {
            return Err(quant_error(
                &self.tag,
                format!(
                    "a group of a weight of shape {shape:?} needs a step beyond the fp16 range \
                     (|w| > 7 * 65504); fix: train with weight decay or a lower train.lr, or \
                     use a scheme with f32 scales (int8, nf4)"
                ),
            ));
        }
        let mut data = pack_nibbles(&codes);
        data.extend(half_bits_le_bytes(&self.tag, &delta, Kind::Half)?);
        Ok(PackedTensor {
            scheme: self.tag,
            shape,
            data,
        })
    }

    /// libtorch's `_weight_int4pack_mm_for_cpu` with bf16 activations where the groups and
    /// rows fit its tiles ([`TorchInt4Pack::supports`]).
    fn kernel(&self) -> Option<KernelBinding<'_>> {
        let name = format!("libtorch-int4pack-g{}-bf16", self.group_size);
        Some(KernelBinding::new(name, |p| {
            let (rows, cols) = rows_cols(&p.shape);
            if p.shape.len() != 2 || !TorchInt4Pack::supports(rows, cols, self.group_size) {
                return Ok(None);
            }
            let (codes, scales) = self.codes_and_scales(p)?;
            let kernel: Box<dyn LinearKernel> = Box::new(TorchInt4Pack::new(
                &codes,
                &scales,
                rows,
                cols,
                self.group_size,
            )?);
            Ok(Some(kernel))
        }))
    }

    fn unpack(&self, p: &PackedTensor) -> Result<Tensor> {
        let (codes, scales) = self.codes_and_scales(p)?;
        let (rows, cols) = rows_cols(&p.shape);
        let groups = cols.div_ceil(self.group_size);
        let codes: Vec<f32> = codes.iter().map(|&c| f32::from(c)).collect();
        let padded = (groups * self.group_size - cols) as i64;
        let codes = Tensor::from_slice(&codes)
            .view([rows as i64, cols as i64])
            .constant_pad_nd([0, padded])
            .view([rows as i64, groups as i64, self.group_size as i64]);
        let delta = Tensor::from_slice(&scales).view([rows as i64, groups as i64, 1]);
        Self::dequantize(&codes, &delta, &p.shape)
            .f_contiguous()
            .map_err(|e| Error::torch("assembling an unpacked int4 tensor", e))
    }
}

/// Packs codes in `[-7, 7]` as `code + 8` nibbles, two per byte, first code in the low nibble.
pub fn pack_nibbles(codes: &[i8]) -> Vec<u8> {
    codes
        .chunks(2)
        .map(|pair| {
            let low = (pair[0] + 8) as u8;
            let high = pair.get(1).map_or(0, |&c| (c + 8) as u8);
            low | (high << 4)
        })
        .collect()
}

/// Inverse of [`pack_nibbles`] for `n` codes; errors on the unused nibble 0 or a short slice.
pub fn unpack_nibbles(bytes: &[u8], n: usize) -> std::result::Result<Vec<i8>, String> {
    if bytes.len() < n.div_ceil(2) {
        return Err(format!(
            "{} code bytes hold fewer than {n} nibbles; the data is truncated",
            bytes.len()
        ));
    }
    let codes: Vec<i8> = (0..n)
        .map(|i| ((bytes[i / 2] >> (4 * (i % 2))) & 0x0F) as i8 - 8)
        .collect();
    if let Some(i) = codes.iter().position(|&c| c == -8) {
        return Err(format!(
            "nibble 0 (code -8) at flat index {i} is never written; the data is corrupt"
        ));
    }
    Ok(codes)
}

#[cfg(test)]
mod tests {
    use super::*;
    use tch::Device;

    fn distinct(values: &Tensor) -> Vec<f32> {
        let mut v = Vec::<f32>::try_from(&values.flatten(0, -1)).unwrap();
        v.sort_by(f32::total_cmp);
        v.dedup();
        v
    }

    #[test]
    fn at_most_16_levels_per_group_including_partial_groups() {
        let q = Int4Quantizer::new(8).unwrap();
        let w = Tensor::randn([5, 37], (Kind::Float, Device::Cpu));
        let wq = q.quantize_weight(&w);
        for r in 0..5 {
            for start in (0..37).step_by(8) {
                let len = (37 - start).min(8);
                let group = wq.get(r).narrow(0, start, len);
                let levels = distinct(&group);
                assert!(
                    levels.len() <= 15,
                    "row {r} group at {start}: {} levels",
                    levels.len()
                );
                let step = f64::from(levels.iter().fold(0f32, |m, v| m.max(v.abs()))) / 7.0;
                for v in levels {
                    let k = f64::from(v) / step;
                    assert!((k - k.round()).abs() < 1e-3 && k.abs() <= 7.0 + 1e-3);
                }
            }
        }
    }

    #[test]
    fn quantize_is_idempotent() {
        let q = Int4Quantizer::new(32).unwrap();
        let w = Tensor::randn([7, 33], (Kind::Float, Device::Cpu));
        let once = q.quantize_weight(&w);
        assert!(q.quantize_weight(&once).allclose(&once, 0.0, 1e-6, false));
        assert!(
            q.quantize_activation(&w).equal(&w),
            "int4 leaves activations alone"
        );
    }

    #[test]
    fn pack_unpack_matches_quantize_and_byte_count() {
        for g in [4usize, 32] {
            let q = Int4Quantizer::new(g).unwrap();
            for shape in [[3i64, 5], [7, 33], [64, 64]] {
                let w = Tensor::randn(shape, (Kind::Float, Device::Cpu));
                let p = q.pack(&w).unwrap();
                let (rows, cols) = (shape[0] as usize, shape[1] as usize);
                let expected = (rows * cols).div_ceil(2) + 2 * rows * cols.div_ceil(g);
                assert_eq!(p.data.len(), expected, "shape {shape:?} group {g}");
                assert_eq!(p.scheme.to_string(), format!("int4/g{g}"));
                assert!(q.unpack(&p).unwrap().equal(&q.quantize_weight(&w)));
            }
        }
    }

    #[test]
    fn nibbles_round_trip_with_odd_count() {
        let codes: Vec<i8> = vec![-7, 7, 0, 3, -1];
        let bytes = pack_nibbles(&codes);
        assert_eq!(bytes, vec![0x01 | 0xF0, 0x08 | 0xB0, 0x07]);
        assert_eq!(unpack_nibbles(&bytes, 5).unwrap(), codes);
        assert!(
            unpack_nibbles(&bytes, 6).is_err(),
            "the padding nibble is not a code"
        );
        assert!(unpack_nibbles(&bytes[..2], 5).is_err());
    }

    #[test]
    fn group_size_zero_and_nan_are_refused() {
        assert!(Int4Quantizer::new(0)
            .unwrap_err()
            .to_string()
            .contains("group_size"));
        let q = Int4Quantizer::new(32).unwrap();
        let w = Tensor::from_slice(&[1.0f32, f32::NAN]).view([1, 2]);
        assert!(q.pack(&w).unwrap_err().to_string().contains("NaN"));
    }

    #[test]
    fn unpack_refuses_a_different_group_size() {
        let w = Tensor::randn([4, 64], (Kind::Float, Device::Cpu));
        let p = Int4Quantizer::new(32).unwrap().pack(&w).unwrap();
        let err = Int4Quantizer::new(64)
            .unwrap()
            .unpack(&p)
            .unwrap_err()
            .to_string();
        assert!(err.contains("int4/g32"), "{err}");
    }
}
