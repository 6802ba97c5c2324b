//! fp16 and bf16: 16-bit floating point weights and activations.
//!
//! QAT rounds both weights and activations through the 16-bit format and back (`to_kind` and
//! back), which is what inference in IEEE-754 binary16 (fp16) or bfloat16 (bf16; Kalamkar et al.
//! 2019, "A Study of BFLOAT16 for Deep Learning Training") sees. These are the half-precision
//! baselines of the BitNet b1.58 comparison (Ma et al. 2024 compare against FP16 LLaMA).
//!
//! Packed layout: every weight's 16-bit pattern, little-endian, row-major; `2 * numel` bytes,
//! no scales. A finite fp32 weight beyond the fp16 range (|w| > 65504) becomes inf and is refused.
use std::sync::Arc;

use tch::{Kind, Tensor};

use super::packing::{check_packed, half_bits_from_le_bytes, half_bits_le_bytes, quant_error};
use super::QuantConfig;
use super::{
    FakeQuantizer, Granularity, Grid, KernelBinding, PackedTensor, Quantizer, QuantizerIdentity,
    SchemeTag, WeightCodec,
};
use crate::kernels::{LinearKernel, TorchDense};
use crate::Result;

/// Which 16-bit floating point format a [`HalfQuantizer`] uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HalfFormat {
    /// IEEE-754 binary16: 10-bit mantissa, range +-65504.
    Fp16,
    /// bfloat16: 7-bit mantissa, the fp32 exponent range.
    Bf16,
}

/// Rounds weights and activations through fp16 or bf16.
#[derive(Debug, Clone, Copy)]
pub struct HalfQuantizer {
    format: HalfFormat,
}

impl HalfQuantizer {
    /// Canonical registry name, also this scheme's packed tag ([`SchemeTag::Builtin`]).
    fn static_name(&self) -> &'static str {
        match self.format {
            HalfFormat::Fp16 => "fp16",
            HalfFormat::Bf16 => "bf16",
        }
    }

    /// A quantizer for `format`.
    pub fn new(format: HalfFormat) -> Self {
        Self { format }
    }

    /// Registry constructor for `fp16`.
    pub fn fp16_from_config(_cfg: &QuantConfig) -> Result<Arc<dyn Quantizer>> {
        Ok(Arc::new(Self::new(HalfFormat::Fp16)))
    }

    /// Registry constructor for `bf16`.
    pub fn bf16_from_config(_cfg: &QuantConfig) -> Result<Arc<dyn Quantizer>> {
        Ok(Arc::new(Self::new(HalfFormat::Bf16)))
    }

    /// Bytes of the packed form of a tensor of `shape`: `2 * numel`.
    pub fn packed_len(shape: &[i64]) -> usize {
        2 * shape.iter().map(|&d| d.max(0) as usize).product::<usize>()
    }

    fn kind(&self) -> Kind {
        match self.format {
            HalfFormat::Fp16 => Kind::Half,
            HalfFormat::Bf16 => Kind::BFloat16,
        }
    }

    fn round_trip(&self, t: &Tensor) -> Tensor {
        t.detach().to_kind(self.kind()).to_kind(t.kind())
    }
}

impl QuantizerIdentity for HalfQuantizer {
    fn name(&self) -> &str {
        self.static_name()
    }

    fn description(&self) -> String {
        match self.format {
            HalfFormat::Fp16 => {
                "fp16: IEEE half-precision weights and activations (2 bytes per weight)"
            }
            HalfFormat::Bf16 => "bf16: bfloat16 weights and activations (2 bytes per weight)",
        }
        .into()
    }
}

impl FakeQuantizer for HalfQuantizer {
    /// Every value is one of the format's 2^16 bit patterns.
    fn grid(&self) -> Grid {
        Grid {
            granularity: Granularity::Element,
            levels: 1 << 16,
        }
    }

    fn quantize_weight(&self, w: &Tensor) -> Tensor {
        self.round_trip(w)
    }

    fn quantize_activation(&self, x: &Tensor) -> Tensor {
        self.round_trip(x)
    }
}

impl WeightCodec for HalfQuantizer {
    fn high_precision_storage(&self) -> &str {
        self.name()
    }

    fn bits_per_weight(&self) -> f64 {
        16.0
    }

    fn pack(&self, w: &Tensor) -> Result<PackedTensor> {
        super::packing::finite_weight_values(self.name(), w)?;
        let rounded = w.detach().to_kind(self.kind());
        let largest = f64::try_from(rounded.abs().max().to_kind(Kind::Float)).unwrap_or(f64::NAN);
        if !largest.is_finite() {
            return Err(quant_error(
                self.name(),
                format!(
                    "a weight of shape {:?} exceeds the {} range and would become inf; fix: use \
                     bf16 or fp32 for this model, or train with weight decay",
                    w.size(),
                    self.name()
                ),
            ));
        }
        Ok(PackedTensor {
            scheme: SchemeTag::Builtin(self.static_name()),
            shape: w.size(),
            data: half_bits_le_bytes(self.name(), &rounded, self.kind())?,
        })
    }

    /// libtorch's matmul in the scheme's own dtype.
    fn kernel(&self) -> Option<KernelBinding<'_>> {
        let name = match self.format {
            HalfFormat::Fp16 => "libtorch-fp16",
            HalfFormat::Bf16 => "libtorch-bf16",
        };
        Some(KernelBinding::new(name, |p| {
            if p.shape.len() != 2 {
                return Ok(None);
            }
            let weight = self.unpack(p)?;
            let kernel: Box<dyn LinearKernel> = Box::new(TorchDense::new(&weight, self.kind())?);
            Ok(Some(kernel))
        }))
    }

    fn unpack(&self, p: &PackedTensor) -> Result<Tensor> {
        check_packed(
            &SchemeTag::Builtin(self.static_name()),
            p,
            Self::packed_len(&p.shape),
        )?;
        half_bits_from_le_bytes(self.name(), &p.data, self.kind(), &p.shape)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tch::Device;

    fn both() -> [HalfQuantizer; 2] {
        [
            HalfQuantizer::new(HalfFormat::Fp16),
            HalfQuantizer::new(HalfFormat::Bf16),
        ]
    }

    #[test]
    fn round_trip_error_is_within_half_an_ulp() {
        let w = Tensor::randn([64, 64], (Kind::Float, Device::Cpu));
        // Relative rounding error of round-to-nearest: 2^-11 (fp16), 2^-8 (bf16), normal range.
        for (q, bound) in both().iter().zip([2f64.powi(-11), 2f64.powi(-8)]) {
            let wq = q.quantize_weight(&w);
            assert_eq!(wq.kind(), Kind::Float);
            let big = w.abs().ge(1e-3);
            let rel = ((&wq - &w).abs() / w.abs()).masked_select(&big);
            let worst = f64::try_from(rel.max()).unwrap();
            assert!(
                worst <= bound,
                "{}: relative error {worst} > {bound}",
                q.name()
            );
            assert!(
                worst > 0.0,
                "{}: randn values should not all be representable",
                q.name()
            );
            let xq = q.quantize_activation(&w);
            assert!(xq.equal(&wq));
        }
    }

    #[test]
    fn quantize_is_idempotent() {
        let w = Tensor::randn([7, 33], (Kind::Float, Device::Cpu));
        for q in both() {
            let once = q.quantize_weight(&w);
            assert!(q.quantize_weight(&once).equal(&once));
        }
    }

    #[test]
    fn pack_unpack_matches_quantize_with_two_bytes_per_weight() {
        for shape in [[3i64, 5], [7, 33], [64, 64]] {
            let w = Tensor::randn(shape, (Kind::Float, Device::Cpu)) * 3.0;
            for q in both() {
                let p = q.pack(&w).unwrap();
                assert_eq!(p.scheme.to_string(), q.name());
                assert_eq!(p.data.len(), 2 * (shape[0] * shape[1]) as usize);
                assert!(q.unpack(&p).unwrap().equal(&q.quantize_weight(&w)));
            }
        }
    }

    #[test]
    fn pack_refuses_nan_and_fp16_overflow() {
        let w = Tensor::from_slice(&[f32::NAN, 1.0]).view([1, 2]);
        for q in both() {
            assert!(q.pack(&w).unwrap_err().to_string().contains("NaN"));
        }
        let big = Tensor::from_slice(&[1e6f32, 1.0]).view([1, 2]);
        let fp16 = HalfQuantizer::new(HalfFormat::Fp16);
        assert!(fp16.pack(&big).unwrap_err().to_string().contains("range"));
        assert!(HalfQuantizer::new(HalfFormat::Bf16).pack(&big).is_ok());
    }

    #[test]
    fn unpack_refuses_other_schemes() {
        let w = Tensor::randn([2, 2], (Kind::Float, Device::Cpu));
        let p = HalfQuantizer::new(HalfFormat::Fp16).pack(&w).unwrap();
        assert!(HalfQuantizer::new(HalfFormat::Bf16).unpack(&p).is_err());
    }
}
