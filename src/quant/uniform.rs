//! uniform: a b-bit uniform integer quantizer defined by data, not code, for schemes declared
//! in an experiment file:
//!
//! ```toml
//! [quantizers.int3_g64]
//! kind = "uniform"
//! bits = 3                 # 1..=8
//! granularity = "group"    # "tensor", "channel" (per output row) or "group"
//! group_size = 64          # only with granularity = "group"
//! symmetric = true         # false: asymmetric, with a zero point
//! scale = "absmax"         # "absmax", "absmean" (symmetric only) or "mse"
//! ```
//!
//! Weights are cut into scale blocks by the granularity (a group is `group_size` consecutive
//! weights along the input dimension within a row; the last group of a row may be shorter), and
//! each block gets its own step `s` (and zero point `z`):
//! - **symmetric**, codes `-q..=q` with `q = 2^(b-1) - 1` (the narrow symmetric range, as
//!   [`super::int4`]; `2^b - 1` levels): `Wq = clamp(round(W / s), -q, q) * s`, with
//!   - `absmax`: `s = max|W|.clamp(min=1e-5) / q` (Jacob et al. 2018; Krishnamoorthi 2018);
//!   - `absmean`: `s = mean|W|.clamp(min=1e-5)`, BitNet b1.58's absmean rule (Ma et al. 2024)
//!     with codes clamped to `-q..=q`; at `bits = 2` this *is* the ternary quantizer; at more
//!     bits the range `q * mean|W|` grows past the weights' spread, so prefer `absmax` or `mse`;
//! - **asymmetric**, codes `0..=2^b - 1`, the min-max rule of GPTQ's reference quantizer
//!   (Frantar et al. 2022, `quant.py`): `lo = min(min W, 0)`, `hi = max(max W, 0)`,
//!   `s = (hi - lo).clamp(min=1e-5) / (2^b - 1)`, `z = round(-lo / s)`,
//!   `Wq = (clamp(round(W / s) + z, 0, 2^b - 1) - z) * s`; `absmax` means this min-max range;
//! - `mse`: the range above shrunk by the ratio `r` in [`MSE_CLIP_RATIOS`] (1.0 down to 0.5)
//!   whose quantization has the smallest squared error on the block; the first (largest) ratio
//!   wins ties. GPTQ's `find_params(mse=True)` searches the same way.
//!
//! Activations pass through unchanged (weight-only quantization).
//!
//! Packed layout, for `n` weights in `B` scale blocks:
//! 1. codes as unsigned `b`-bit integers (`code + q` when symmetric, `code` when asymmetric) in
//!    row-major order, bit-packed least significant bit first ([`super::bit_packing`]):
//!    `ceil(n * b / 8)` bytes;
//! 2. `B` steps `s`, f32 little-endian, in block order (row, then group);
//! 3. asymmetric only: `B` zero points `z`, one byte each.
//!
//! The packed tag describes the layout, so any reader can unpack it without the experiment file:
//! `uniform/b<bits>/<tensor|channel|g<group_size>>/<sym|asym>`, e.g. `uniform/b3/g64/sym`.
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use tch::{Kind, Tensor};

use super::bit_packing::{pack_bits, packed_bits_len, unpack_bits};
use super::packing::{
    as_f32_rows, check_packed, f32_from_le_bytes, f32_to_le_bytes, finite_weight_values,
    quant_error, rows_cols, to_f32_vec,
};
use super::{
    FakeQuantizer, Granularity, Grid, PackedTensor, Quantizer, QuantizerIdentity, Requantize,
    SchemeTag, UniformLayout, WeightCodec,
};
use crate::{Error, Result};

/// Clip ratios tried by `scale = "mse"`, largest first.
pub const MSE_CLIP_RATIOS: [f64; 11] = [1.0, 0.95, 0.9, 0.85, 0.8, 0.75, 0.7, 0.65, 0.6, 0.55, 0.5];

/// Which weights share a step, as written in TOML.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum UniformGranularity {
    /// One step for the whole tensor.
    Tensor,
    /// One step per output channel (row).
    Channel,
    /// One step per `group_size` consecutive weights of a row.
    Group,
}

/// How a block's step is chosen.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ScaleRule {
    /// From the largest magnitude (symmetric) or the min-max range (asymmetric).
    #[default]
    Absmax,
    /// BitNet b1.58's mean absolute value (symmetric only).
    Absmean,
    /// The absmax range shrunk by the clip ratio with the smallest squared error.
    Mse,
}

/// A declared uniform quantizer: everything after `kind = "uniform"` in `[quantizers.NAME]`.
/// Carried in the trial's `quant.uniform`, so the trial hash covers the definition.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UniformSpec {
    /// Bits per code, 1..=8.
    pub bits: u32,
    /// Which weights share a step.
    pub granularity: UniformGranularity,
    /// Weights per group; required with `granularity = "group"`, refused otherwise.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group_size: Option<usize>,
    /// Symmetric codes around 0 (true) or an asymmetric range with a zero point (false).
    #[serde(default = "yes")]
    pub symmetric: bool,
    /// How each block's step is chosen.
    #[serde(default)]
    pub scale: ScaleRule,
}

fn yes() -> bool {
    true
}

/// A b-bit uniform integer weight quantizer built from a [`UniformSpec`].
#[derive(Debug, Clone)]
pub struct UniformQuantizer {
    name: String,
    spec: UniformSpec,
    granularity: Granularity,
    tag: SchemeTag,
}

impl UniformQuantizer {
    /// Checks `spec` and builds the quantizer called `name`. Errors name the key and the fix.
    pub fn new(name: &str, spec: &UniformSpec) -> Result<Self> {
        let bad = |message: String| quant_error(name, message);
        if !(1..=8).contains(&spec.bits) {
            return Err(bad(format!(
                "bits = {} is outside 1..=8; fix: choose bits from 1 to 8 (codes are packed at \
                 exactly that many bits)",
                spec.bits
            )));
        }
        let granularity = match (spec.granularity, spec.group_size) {
            (UniformGranularity::Group, None) => {
                return Err(bad(
                    "granularity = \"group\" needs group_size; fix: add group_size = 64 (weights \
                     per group along the input dimension)"
                        .into(),
                ))
            }
            (UniformGranularity::Group, Some(0)) => {
                return Err(bad(
                    "group_size = 0; fix: set group_size to a positive number such as 64".into(),
                ))
            }
            (UniformGranularity::Group, Some(g)) => Granularity::Group(g),
            (other, Some(g)) => {
                return Err(bad(format!(
                    "group_size = {g} is only read with granularity = \"group\", not \"{}\"; fix: \
                     remove group_size, or set granularity = \"group\"",
                    granularity_word(other)
                )))
            }
            (UniformGranularity::Tensor, None) => Granularity::Tensor,
            (UniformGranularity::Channel, None) => Granularity::Channel,
        };
        if spec.symmetric && spec.bits == 1 {
            return Err(bad(
                "bits = 1 with symmetric = true leaves the single level 0 (codes -q..=q with \
                 q = 2^(bits-1) - 1 = 0); fix: set symmetric = false (two levels, min and max), \
                 use the built-in `binary` scheme, or raise bits"
                    .into(),
            ));
        }
        if !spec.symmetric && spec.scale == ScaleRule::Absmean {
            return Err(bad(
                "scale = \"absmean\" is defined for symmetric = true only (BitNet b1.58's rule \
                 has no zero point); fix: set symmetric = true, or use scale = \"absmax\" or \
                 \"mse\""
                    .into(),
            ));
        }
        let tag = SchemeTag::Uniform(UniformLayout {
            bits: spec.bits,
            granularity,
            symmetric: spec.symmetric,
        });
        Ok(Self {
            name: name.to_string(),
            spec: spec.clone(),
            granularity,
            tag,
        })
    }

    /// Rebuilds the unpacker of a packed uniform layout (tag `uniform/b<bits>/<layout>/<sym|asym>`,
    /// parsed by [`SchemeTag`]); errors when the layout is not one [`UniformQuantizer::new`]
    /// accepts (the data is corrupt).
    pub fn from_layout(layout: &UniformLayout) -> Result<Self> {
        let (granularity, group_size) = match layout.granularity {
            Granularity::Group(g) => (UniformGranularity::Group, Some(g)),
            Granularity::Channel => (UniformGranularity::Channel, None),
            _ => (UniformGranularity::Tensor, None),
        };
        let spec = UniformSpec {
            bits: layout.bits,
            granularity,
            group_size,
            symmetric: layout.symmetric,
            scale: ScaleRule::Absmax,
        };
        Self::new("uniform", &spec).map_err(|e| {
            quant_error(
                &SchemeTag::Uniform(*layout),
                format!("not a layout this version writes ({e}); the data is corrupt"),
            )
        })
    }

    /// The definition this quantizer was built from.
    pub fn spec(&self) -> &UniformSpec {
        &self.spec
    }

    /// The packed tag (storage layout), e.g. `uniform/b3/g64/sym`.
    pub fn tag(&self) -> SchemeTag {
        self.tag
    }

    /// Largest symmetric code `q = 2^(b-1) - 1`, or largest asymmetric code `2^b - 1`.
    fn max_code(&self) -> f64 {
        if self.spec.symmetric {
            f64::from((1u32 << (self.spec.bits - 1)) - 1)
        } else {
            f64::from((1u32 << self.spec.bits) - 1)
        }
    }

    /// Scale blocks per tensor of `shape`.
    fn block_count(&self, shape: &[i64]) -> usize {
        let (rows, cols) = rows_cols(shape);
        match self.granularity {
            Granularity::Group(g) => rows * cols.div_ceil(g),
            Granularity::Channel => rows,
            _ => 1,
        }
    }

    /// Bytes of the packed form of a tensor of `shape`:
    /// `ceil(n * bits / 8) + 4 * B` (`+ B` zero points when asymmetric).
    pub fn packed_len(&self, shape: &[i64]) -> usize {
        let (rows, cols) = rows_cols(shape);
        let per_block = if self.spec.symmetric { 4 } else { 5 };
        packed_bits_len(rows * cols, self.spec.bits) + per_block * self.block_count(shape)
    }

    /// `w` as f32 scale blocks `[B, block]` (the last group of a row zero-padded) and the number
    /// of real weights per block `[B, 1]`.
    fn to_blocks(&self, w: &Tensor) -> (Tensor, Tensor) {
        let rows_view = as_f32_rows(w);
        let (rows, cols) = (rows_view.size()[0], rows_view.size()[1]);
        match self.granularity {
            Granularity::Group(g) => {
                let g = g as i64;
                let groups = (cols + g - 1) / g;
                let padded = rows_view.constant_pad_nd([0, groups * g - cols]);
                let counts: Vec<f32> = (0..groups).map(|j| (cols - j * g).min(g) as f32).collect();
                let counts = Tensor::from_slice(&counts)
                    .to_device(w.device())
                    .repeat([rows])
                    .view([rows * groups, 1]);
                (padded.view([rows * groups, g]), counts)
            }
            Granularity::Channel => {
                let counts = Tensor::full([rows, 1], cols as f64, (Kind::Float, w.device()));
                (rows_view, counts)
            }
            _ => {
                let counts = Tensor::full([1, 1], (rows * cols) as f64, (Kind::Float, w.device()));
                (rows_view.reshape([1, rows * cols]), counts)
            }
        }
    }

    /// Inverse of [`Self::to_blocks`]: blocks back to `shape`, padding dropped.
    fn unblock(&self, blocks: &Tensor, shape: &[i64]) -> Tensor {
        let (rows, cols) = rows_cols(shape);
        blocks
            .reshape([rows as i64, -1])
            .narrow(1, 0, cols as i64)
            .reshape(shape)
    }

    /// Steps `[B, 1]` and zero points `[B, 1]` (0 when symmetric) for a range rule at one clip
    /// ratio.
    fn range_params(&self, x: &Tensor, counts: &Tensor, ratio: f64) -> (Tensor, Tensor) {
        let max_code = self.max_code();
        if self.spec.symmetric {
            let step = match self.spec.scale {
                ScaleRule::Absmean => {
                    (x.abs()
                        .sum_dim_intlist([-1i64].as_slice(), true, Kind::Float)
                        / counts)
                        .clamp_min(1e-5)
                }
                _ => (x.abs().amax([-1], true) * ratio).clamp_min(1e-5) / max_code,
            };
            let zero = step.zeros_like();
            (step, zero)
        } else {
            let lo = x.amin([-1], true).clamp_max(0.0) * ratio;
            let hi = x.amax([-1], true).clamp_min(0.0) * ratio;
            let step = (hi - &lo).clamp_min(1e-5) / max_code;
            let zero = (-lo / &step).round();
            (step, zero)
        }
    }

    /// Integer codes `[B, block]` (f32) for given steps and zero points.
    fn codes(&self, x: &Tensor, step: &Tensor, zero: &Tensor) -> Tensor {
        let max_code = self.max_code();
        if self.spec.symmetric {
            (x / step).round().clamp(-max_code, max_code)
        } else {
            ((x / step).round() + zero).clamp(0.0, max_code)
        }
    }

    /// Codes back to values: `code * s`, or `(code - z) * s` when asymmetric.
    fn dequantize(&self, codes: &Tensor, step: &Tensor, zero: &Tensor) -> Tensor {
        if self.spec.symmetric {
            codes * step
        } else {
            (codes - zero) * step
        }
    }

    /// Codes, steps and zero points of `w` in block form.
    fn quantize_blocks(&self, w: &Tensor) -> (Tensor, Tensor, Tensor) {
        let (x, counts) = self.to_blocks(w);
        let (step, zero) = if self.spec.scale == ScaleRule::Mse {
            let candidates: Vec<(Tensor, Tensor)> = MSE_CLIP_RATIOS
                .iter()
                .map(|&r| self.range_params(&x, &counts, r))
                .collect();
            let errors: Vec<Tensor> = candidates
                .iter()
                .map(|(s, z)| {
                    let q = self.dequantize(&self.codes(&x, s, z), s, z);
                    (q - &x)
                        .square()
                        .sum_dim_intlist([-1i64].as_slice(), true, Kind::Float)
                })
                .collect();
            let best = Tensor::cat(&errors, 1).argmin(1, true);
            let steps: Vec<&Tensor> = candidates.iter().map(|(s, _)| s).collect();
            let zeros: Vec<&Tensor> = candidates.iter().map(|(_, z)| z).collect();
            (
                Tensor::cat(&steps, 1).gather(1, &best, false),
                Tensor::cat(&zeros, 1).gather(1, &best, false),
            )
        } else {
            self.range_params(&x, &counts, 1.0)
        };
        let codes = self.codes(&x, &step, &zero);
        (codes, step, zero)
    }
}

fn granularity_word(g: UniformGranularity) -> &'static str {
    match g {
        UniformGranularity::Tensor => "tensor",
        UniformGranularity::Channel => "channel",
        UniformGranularity::Group => "group",
    }
}

impl QuantizerIdentity for UniformQuantizer {
    fn name(&self) -> &str {
        &self.name
    }

    fn description(&self) -> String {
        let spec = &self.spec;
        format!(
            "uniform {}-bit {} {}, step per {}, full-precision activations",
            spec.bits,
            if spec.symmetric {
                "symmetric"
            } else {
                "asymmetric"
            },
            match spec.scale {
                ScaleRule::Absmax => "absmax",
                ScaleRule::Absmean => "absmean",
                ScaleRule::Mse => "MSE-best clip",
            },
            self.granularity
        )
    }
}

impl FakeQuantizer for UniformQuantizer {
    fn grid(&self) -> Grid {
        let codes = 1u64 << self.spec.bits;
        Grid {
            granularity: self.granularity,
            levels: if self.spec.symmetric {
                codes - 1
            } else {
                codes
            },
        }
    }

    /// Range rules recover their step up to f32 rounding. Absmean keeps the codes only at
    /// 2 bits (ternary: `round(code / nonzero_share)` clamps back to +-1); at more bits
    /// `mean|codes|` moves the step and codes can change.
    fn requantize(&self) -> Requantize {
        match self.spec.scale {
            ScaleRule::Absmax | ScaleRule::Mse => Requantize::UpToScaleRounding,
            ScaleRule::Absmean if self.spec.bits == 2 => Requantize::SameCodes,
            ScaleRule::Absmean => Requantize::OnGridOnly,
        }
    }

    fn quantize_weight(&self, w: &Tensor) -> Tensor {
        let (codes, step, zero) = self.quantize_blocks(w);
        self.unblock(&self.dequantize(&codes, &step, &zero), &w.size())
            .to_kind(w.kind())
    }
}

impl WeightCodec for UniformQuantizer {
    /// `bits` plus a 32-bit step (and an 8-bit zero point when asymmetric) per block of a
    /// `[1024, 1024]` weight.
    fn bits_per_weight(&self) -> f64 {
        let numel = 1024.0 * 1024.0;
        let per_block = if self.spec.symmetric { 32.0 } else { 40.0 };
        f64::from(self.spec.bits) + per_block * self.block_count(&[1024, 1024]) as f64 / numel
    }

    fn pack(&self, w: &Tensor) -> Result<PackedTensor> {
        finite_weight_values(&self.tag, w)?;
        let shape = w.size();
        let (codes, step, zero) = self.quantize_blocks(w);
        let steps = to_f32_vec(&self.tag, &step)?;
        if let Some(b) = steps.iter().position(|s| !s.is_finite()) {
            return Err(quant_error(
                &self.name,
                format!(
                    "the step of block {b} of a weight of shape {shape:?} overflows f32; fix: the \
                     weights are too large to quantize, train with weight decay or a lower \
                     train.lr"
                ),
            ));
        }
        let offset = if self.spec.symmetric {
            self.max_code()
        } else {
            0.0
        };
        let stored = self.unblock(&(codes + offset), &shape);
        let stored: Vec<u8> = to_f32_vec(&self.tag, &stored)?
            .iter()
            .map(|&c| c as u8)
            .collect();
        let mut data = pack_bits(&stored, self.spec.bits).map_err(|m| quant_error(&self.tag, m))?;
        data.extend(f32_to_le_bytes(&steps));
        if !self.spec.symmetric {
            data.extend(
                to_f32_vec(&self.tag, &zero)?
                    .iter()
                    .map(|&z| z as u8)
                    .collect::<Vec<u8>>(),
            );
        }
        Ok(PackedTensor {
            scheme: self.tag,
            shape,
            data,
        })
    }

    fn unpack(&self, p: &PackedTensor) -> Result<Tensor> {
        check_packed(&self.tag, p, self.packed_len(&p.shape))?;
        let blocks = self.block_count(&p.shape);
        let code_len = packed_bits_len(p.numel(), self.spec.bits);
        let (code_bytes, rest) = p.data.split_at(code_len);
        let (step_bytes, zero_bytes) = rest.split_at(4 * blocks);
        let stored = unpack_bits(code_bytes, p.numel(), self.spec.bits)
            .map_err(|m| quant_error(&self.tag, m))?;
        let max_code = self.max_code();
        let corrupt = |what: String| quant_error(&self.tag, format!("{what}; the data is corrupt"));
        if let Some(i) = stored.iter().position(|&c| f64::from(c) > 2.0 * max_code) {
            return Err(corrupt(format!(
                "stored code {} at flat index {i} is never written",
                stored[i]
            )));
        }
        let steps = f32_from_le_bytes(step_bytes);
        if let Some(b) = steps.iter().position(|s| !(s.is_finite() && *s > 0.0)) {
            return Err(corrupt(format!(
                "step {} of block {b} is not positive",
                steps[b]
            )));
        }
        if let Some(b) = zero_bytes.iter().position(|&z| f64::from(z) > max_code) {
            return Err(corrupt(format!(
                "zero point {} of block {b} exceeds {max_code}",
                zero_bytes[b]
            )));
        }
        let offset = if self.spec.symmetric { max_code } else { 0.0 };
        let codes: Vec<f32> = stored
            .iter()
            .map(|&c| (f64::from(c) - offset) as f32)
            .collect();
        let shape = p.shape.clone();
        let codes = Tensor::from_slice(&codes).reshape(&shape);
        let (codes, _) = self.to_blocks(&codes);
        let step = Tensor::from_slice(&steps).view([blocks as i64, 1]);
        let zero = if self.spec.symmetric {
            step.zeros_like()
        } else {
            let zeros: Vec<f32> = zero_bytes.iter().map(|&z| f32::from(z)).collect();
            Tensor::from_slice(&zeros).view([blocks as i64, 1])
        };
        self.unblock(&self.dequantize(&codes, &step, &zero), &shape)
            .f_contiguous()
            .map_err(|e| Error::torch("assembling an unpacked uniform tensor", e))
    }
}

/// Registry-free constructor used by [`super::registry::resolve`] for declared quantizers.
pub fn declared(name: &str, spec: &UniformSpec) -> Result<Arc<dyn Quantizer>> {
    Ok(Arc::new(UniformQuantizer::new(name, spec)?))
}

#[cfg(test)]
mod tests {
    use super::*;
    use tch::Device;

    fn spec(bits: u32, granularity: UniformGranularity, group: Option<usize>) -> UniformSpec {
        UniformSpec {
            bits,
            granularity,
            group_size: group,
            symmetric: true,
            scale: ScaleRule::Absmax,
        }
    }

    #[test]
    fn two_bit_absmean_per_tensor_is_bitnet_ternary() {
        let q = UniformQuantizer::new(
            "t",
            &UniformSpec {
                scale: ScaleRule::Absmean,
                ..spec(2, UniformGranularity::Tensor, None)
            },
        )
        .unwrap();
        let w = Tensor::randn([16, 48], (Kind::Float, Device::Cpu));
        let ternary = super::super::TernaryQuantizer.quantize_weight(&w);
        let got = q.quantize_weight(&w);
        assert!(got.sign().equal(&ternary.sign()));
        assert!(got.allclose(&ternary, 1e-6, 1e-7, false));
        assert_eq!(q.grid().levels, 3);
    }

    #[test]
    fn asymmetric_codes_match_gptq_min_max() {
        let q = UniformQuantizer::new(
            "a",
            &UniformSpec {
                symmetric: false,
                ..spec(2, UniformGranularity::Channel, None)
            },
        )
        .unwrap();
        // lo = 0 (min 1 clamped to 0), hi = 3: s = 1, z = 0, codes 0..3.
        let w = Tensor::from_slice(&[1.0f32, 2.0, 3.0, 1.4]).view([1, 4]);
        let expected = Tensor::from_slice(&[1.0f32, 2.0, 3.0, 1.0]).view([1, 4]);
        assert!(q.quantize_weight(&w).equal(&expected));
        let p = q.pack(&w).unwrap();
        assert_eq!(p.scheme.to_string(), "uniform/b2/channel/asym");
        assert_eq!(p.data, vec![0b01_11_10_01, 0, 0, 0x80, 0x3f, 0]);
    }

    #[test]
    fn mse_clips_an_outlier_that_absmax_keeps() {
        // 63 weights spread evenly over [-1, 1] and one outlier: clipping it buys resolution.
        let mut values: Vec<f32> = (0..63).map(|i| -1.0 + i as f32 / 31.0).collect();
        values.push(1.8);
        let w = Tensor::from_slice(&values).view([1, 64]);
        let err = |scale| {
            let q = UniformQuantizer::new(
                "m",
                &UniformSpec {
                    scale,
                    ..spec(3, UniformGranularity::Tensor, None)
                },
            )
            .unwrap();
            f64::try_from((q.quantize_weight(&w) - &w).square().sum(Kind::Float)).unwrap()
        };
        assert!(err(ScaleRule::Mse) < err(ScaleRule::Absmax));
    }

    #[test]
    fn declaration_errors_name_the_key_and_the_fix() {
        let msg = |s: UniformSpec| UniformQuantizer::new("x", &s).unwrap_err().to_string();
        let m = msg(spec(9, UniformGranularity::Tensor, None));
        assert!(m.contains("bits = 9") && m.contains("fix:"), "{m}");
        let m = msg(spec(3, UniformGranularity::Group, None));
        assert!(m.contains("group_size") && m.contains("fix:"), "{m}");
        let m = msg(spec(3, UniformGranularity::Channel, Some(64)));
        assert!(
            m.contains("group_size = 64") && m.contains("\"channel\""),
            "{m}"
        );
        let m = msg(spec(1, UniformGranularity::Tensor, None));
        assert!(m.contains("symmetric = false"), "{m}");
        let m = msg(UniformSpec {
            symmetric: false,
            scale: ScaleRule::Absmean,
            ..spec(3, UniformGranularity::Tensor, None)
        });
        assert!(m.contains("absmean"), "{m}");
    }

    #[test]
    fn tags_round_trip_and_foreign_tags_are_refused() {
        for s in [
            spec(3, UniformGranularity::Group, Some(64)),
            UniformSpec {
                symmetric: false,
                ..spec(2, UniformGranularity::Channel, None)
            },
            spec(8, UniformGranularity::Tensor, None),
        ] {
            let q = UniformQuantizer::new("n", &s).unwrap();
            let SchemeTag::Uniform(layout) = q.tag() else {
                panic!(
                    "a uniform quantizer's tag is a uniform layout, got {}",
                    q.tag()
                );
            };
            assert_eq!(
                UniformQuantizer::from_layout(&layout).unwrap().tag(),
                q.tag()
            );
            assert_eq!(q.tag().to_string().parse::<SchemeTag>().unwrap(), q.tag());
        }
        for bad in ["uniform/b9/tensor/sym", "uniform/b3/g0/sym"] {
            let SchemeTag::Uniform(layout) = bad.parse::<SchemeTag>().unwrap() else {
                panic!("`{bad}` parses as a uniform layout");
            };
            assert!(UniformQuantizer::from_layout(&layout).is_err(), "{bad}");
        }
        for bad in ["uniform/b3/g64", "x/b3/tensor/sym"] {
            assert!(bad.parse::<SchemeTag>().is_err(), "{bad}");
        }
    }
}
