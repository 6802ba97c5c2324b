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
use super::{
    FakeQuantizer, Granularity, Grid, KernelBinding, PackedTensor, Quantizer, QuantizerIdentity,
    Requantize, SchemeTag, WeightCodec,
};

/// Canonical registry name, also this scheme's packed tag ([`SchemeTag::Builtin`]).
const NAME: &str = "ternary";
use super::QuantConfig;
use crate::kernels::{
    LinearKernel, PackedTernary, Ternary2BitLayout, TernaryFormat, TernaryLayout,
};
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

impl QuantizerIdentity for TernaryQuantizer {
    fn name(&self) -> &str {
        NAME
    }

    fn description(&self) -> String {
        "ternary (BitNet b1.58): weights in {-1,0,1} x per-tensor absmean scale, 8-bit per-token \
         activations"
            .into()
    }
}

impl FakeQuantizer for TernaryQuantizer {
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

    fn quantize_weight(&self, w: &Tensor) -> Tensor {
        let (codes, s) = Self::codes_and_scale(w);
        (codes / s).to_kind(w.kind())
    }

    fn quantize_activation(&self, x: &Tensor) -> Tensor {
        quantize_activation_int8_per_token(x)
    }
}

impl WeightCodec for TernaryQuantizer {
    /// 2 bits per weight plus one f32 scale per 1024x1024 tensor.
    fn bits_per_weight(&self) -> f64 {
        2.0 + 32.0 / (1024.0 * 1024.0)
    }

    /// bitlab's 2-bit integer kernel ([`crate::kernels::Ternary2Bit`], loaded by
    /// [`packed_ternary_kernel`]), named by its layout; the name gains the backend (`-avx2` or
    /// `-portable`) where a measurement records it.
    fn kernel(&self) -> Option<KernelBinding<'_>> {
        Some(KernelBinding::new(Ternary2BitLayout::KERNEL_NAME, |p| {
            let kernel: Box<dyn LinearKernel> =
                Box::new(packed_ternary_kernel::<Ternary2BitLayout>(p)?);
            Ok(Some(kernel))
        }))
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
            scheme: SchemeTag::Builtin(NAME),
            shape: w.size(),
            data,
        })
    }

    fn unpack(&self, p: &PackedTensor) -> Result<Tensor> {
        check_packed(&SchemeTag::Builtin(NAME), p, Self::packed_len(&p.shape))?;
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

/// Repacks an artifact tensor of scheme `ternary` (flat 2-bit codes, then the f32 scale: see
/// the file header) into the kernel layout `L` ([`crate::kernels::Ternary2Bit`] or
/// [`crate::kernels::Ternary1p6`]), without a wider intermediate copy. Errors on another scheme,
/// a shape that is not 2-D, a byte count that does not match the shape, code 3, or a scale
/// that is not positive and finite.
pub fn packed_ternary_kernel<L: TernaryLayout>(p: &PackedTensor) -> Result<PackedTernary<L>> {
    let expected = TernaryQuantizer::packed_len(&p.shape);
    let shape = match p.shape[..] {
        [rows, cols] => usize::try_from(rows).ok().zip(usize::try_from(cols).ok()),
        _ => None,
    };
    let (rows, cols) = match shape {
        Some(shape) if p.scheme == SchemeTag::Builtin(NAME) && p.data.len() == expected => shape,
        _ => {
            return Err(PackedTernary::<L>::layout_error(format!(
                "expected a 2-D `ternary` tensor of {expected} bytes, got scheme `{}`, shape {:?}, \
                 {} bytes; fix: export the model with quant.scheme = \"ternary\" again",
                p.scheme,
                p.shape,
                p.data.len()
            )))
        }
    };
    let (codes, scale) = p.data.split_at(p.data.len() - 4);
    let scale = f32::from_le_bytes([scale[0], scale[1], scale[2], scale[3]]);
    let code =
        |i: usize| (codes[i / CODES_PER_BYTE_2BIT] >> (2 * (i % CODES_PER_BYTE_2BIT))) & 0b11;
    if let Some(i) = (0..rows * cols).find(|&i| code(i) == 0b11) {
        return Err(PackedTernary::<L>::layout_error(format!(
            "code 3 at weight {i} is never written; the artifact is corrupt"
        )));
    }
    PackedTernary::from_code_fn(rows, cols, scale, |i| code(i) as i8 - 1)
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
    use crate::kernels::{Backend, KernelContext, QuantizedActivations, TernaryBase3Layout};
    use tch::Device;

    /// The artifact tensor repacked into layout `L` holds every code of the quantizer's grid and
    /// its scale; corrupt tensors are refused.
    fn check_repacking<L: TernaryLayout>() {
        tch::manual_seed(5);
        let (rows, cols) = (7, 333);
        let w = Tensor::randn([rows as i64, cols as i64], (Kind::Float, Device::Cpu));
        let packed = TernaryQuantizer.pack(&w).unwrap();
        let m = packed_ternary_kernel::<L>(&packed).unwrap();
        let grid = Vec::<f32>::try_from(&TernaryQuantizer.unpack(&packed).unwrap().flatten(0, -1))
            .unwrap();
        for r in 0..rows {
            for c in 0..cols {
                let value = f32::from(m.code(r, c)) / m.scale();
                assert_eq!(value, grid[r * cols + c], "weight ({r}, {c})");
            }
        }
        let mut corrupt = packed.clone();
        corrupt.data[0] |= 0b11;
        assert!(packed_ternary_kernel::<L>(&corrupt).is_err());
        corrupt.scheme = SchemeTag::Builtin("int8");
        assert!(packed_ternary_kernel::<L>(&corrupt).is_err());
        let mut flat = packed.clone();
        flat.shape = vec![(rows * cols) as i64];
        assert!(packed_ternary_kernel::<L>(&flat).is_err());
        let mut negative = packed;
        negative.shape = vec![-1, cols as i64];
        assert!(packed_ternary_kernel::<L>(&negative).is_err());
    }

    #[test]
    fn repacking_an_artifact_tensor_keeps_every_code_and_the_scale_in_both_layouts() {
        check_repacking::<Ternary2BitLayout>();
        check_repacking::<TernaryBase3Layout>();
        let w = Tensor::randn([7, 133], (Kind::Float, Device::Cpu));
        let m = packed_ternary_kernel::<Ternary2BitLayout>(&TernaryQuantizer.pack(&w).unwrap())
            .unwrap();
        // 7 rows x 2 blocks x 32 bytes + the scale: 2 bits per weight plus row padding.
        assert_eq!(m.resident_bytes(), 7 * 2 * 32 + 4);
    }

    #[test]
    fn kernel_activation_codes_match_the_qat_fake_quantizer() {
        tch::manual_seed(3);
        let (n, k) = (5, 37);
        let x = Tensor::randn([n, k], (Kind::Float, Device::Cpu)) * 3.0;
        let values = Vec::<f32>::try_from(&x.flatten(0, -1)).unwrap();
        let fake =
            Vec::<f32>::try_from(&TernaryQuantizer.quantize_activation(&x).flatten(0, -1)).unwrap();
        for backend in Backend::available() {
            let q = QuantizedActivations::quantize(&values, n as usize, k as usize, 32, backend);
            for t in 0..n as usize {
                for i in 0..k as usize {
                    let expected = fake[t * k as usize + i];
                    let got = f32::from(q.token(t)[i]) / q.scales[t];
                    assert!(
                        (got - expected).abs() <= 1e-6 * expected.abs().max(1.0),
                        "{got} {expected}"
                    );
                }
            }
        }
    }

    /// The loaded kernel (and the 1.6-bit layout on the same artifact) against the QAT path:
    /// fake-quantized activations times fake-quantized weights, summed in f64.
    #[test]
    fn loaded_kernels_match_the_fake_quantized_matmul() {
        tch::manual_seed(8);
        let (rows, cols, n) = (9, 300, 4);
        let w = Tensor::randn([rows, cols], (Kind::Float, Device::Cpu));
        let x = Tensor::randn([n, cols], (Kind::Float, Device::Cpu)) * 2.0;
        let packed = TernaryQuantizer.pack(&w).unwrap();
        let wq = Vec::<f64>::try_from(
            &TernaryQuantizer
                .quantize_weight(&w)
                .to_kind(Kind::Double)
                .flatten(0, -1),
        )
        .unwrap();
        let xq = Vec::<f64>::try_from(
            &TernaryQuantizer
                .quantize_activation(&x)
                .to_kind(Kind::Double)
                .flatten(0, -1),
        )
        .unwrap();
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(1)
            .build()
            .unwrap();
        let two_bit = TernaryQuantizer.load_kernel(&packed).unwrap().unwrap();
        let base3: Box<dyn LinearKernel> =
            Box::new(packed_ternary_kernel::<TernaryBase3Layout>(&packed).unwrap());
        let (rows, cols, n) = (rows as usize, cols as usize, n as usize);
        for kernel in [two_bit, base3] {
            for backend in Backend::available() {
                let ctx = KernelContext {
                    backend,
                    pool: &pool,
                };
                let y = Vec::<f32>::try_from(&kernel.forward(&x, &ctx).unwrap().flatten(0, -1))
                    .unwrap();
                for t in 0..n {
                    for r in 0..rows {
                        let terms = (0..cols).map(|k| xq[t * cols + k] * wq[r * cols + k]);
                        let (sum, abs) = terms.fold((0.0, 0.0), |(s, a), v| (s + v, a + v.abs()));
                        let got = f64::from(y[t * rows + r]);
                        assert!(
                            (got - sum).abs() <= 1e-5 * abs,
                            "{}: token {t}, row {r}: {got} vs {sum}",
                            kernel.kernel_name(backend)
                        );
                    }
                }
            }
        }
    }

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
