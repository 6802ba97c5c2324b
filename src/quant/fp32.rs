//! fp32: the full-precision reference (no quantization).
//!
//! Embeddings, norms and the classification head are stored with this scheme in every model, as
//! BitNet b1.58 keeps them in high precision (Ma et al. 2024, "The Era of 1-bit LLMs").
//!
//! Packed layout: every weight as an IEEE-754 binary32, little-endian, row-major;
//! `4 * numel` bytes, no scales.
use std::sync::Arc;

use tch::Tensor;

use super::packing::{check_packed, f32_from_le_bytes, f32_to_le_bytes, finite_weight_values};
use super::{
    FakeQuantizer, Granularity, Grid, KernelBinding, PackedTensor, Quantizer, QuantizerIdentity,
    SchemeTag, WeightCodec,
};

/// Canonical registry name, also this scheme's packed tag ([`SchemeTag::Builtin`]).
const NAME: &str = "fp32";
use super::QuantConfig;
use crate::kernels::{LinearKernel, TorchDense};
use crate::{Error, Result};

/// The identity quantizer: weights and activations stay in fp32.
#[derive(Debug, Clone, Copy, Default)]
pub struct Fp32Quantizer;

impl Fp32Quantizer {
    /// Registry constructor (the config carries nothing fp32 uses).
    pub fn from_config(_cfg: &QuantConfig) -> Result<Arc<dyn Quantizer>> {
        Ok(Arc::new(Fp32Quantizer))
    }

    /// Bytes of the packed form of a tensor of `shape`: `4 * numel`.
    pub fn packed_len(shape: &[i64]) -> usize {
        4 * shape.iter().map(|&d| d.max(0) as usize).product::<usize>()
    }
}

impl QuantizerIdentity for Fp32Quantizer {
    fn name(&self) -> &str {
        NAME
    }

    fn description(&self) -> String {
        "full precision: fp32 weights and activations (reference, 4 bytes per weight)".into()
    }
}

impl FakeQuantizer for Fp32Quantizer {
    fn grid(&self) -> Grid {
        Grid {
            granularity: Granularity::Element,
            levels: 1 << 32,
        }
    }

    fn is_full_precision(&self) -> bool {
        true
    }

    fn quantize_weight(&self, w: &Tensor) -> Tensor {
        w.detach()
    }
}

impl WeightCodec for Fp32Quantizer {
    fn bits_per_weight(&self) -> f64 {
        32.0
    }

    fn high_precision_storage(&self) -> &str {
        "fp32"
    }

    fn pack(&self, w: &Tensor) -> Result<PackedTensor> {
        let values = finite_weight_values(self.name(), w)?;
        Ok(PackedTensor {
            scheme: SchemeTag::Builtin(NAME),
            shape: w.size(),
            data: f32_to_le_bytes(&values),
        })
    }

    /// libtorch's fp32 matmul (the baseline every ratio is taken against).
    fn kernel(&self) -> Option<KernelBinding<'_>> {
        Some(KernelBinding::new("libtorch-fp32", |p| {
            if p.shape.len() != 2 {
                return Ok(None);
            }
            let weight = self.unpack(p)?;
            let kernel: Box<dyn LinearKernel> =
                Box::new(TorchDense::new(&weight, tch::Kind::Float)?);
            Ok(Some(kernel))
        }))
    }

    fn unpack(&self, p: &PackedTensor) -> Result<Tensor> {
        check_packed(&SchemeTag::Builtin(NAME), p, Self::packed_len(&p.shape))?;
        Tensor::from_slice(&f32_from_le_bytes(&p.data))
            .f_reshape(&p.shape)
            .map_err(|e| Error::torch("reshaping an unpacked fp32 tensor", e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tch::{Device, Kind};

    #[test]
    fn quantize_is_identity_and_idempotent() {
        let w = Tensor::randn([7, 33], (Kind::Float, Device::Cpu));
        let q = Fp32Quantizer.quantize_weight(&w);
        assert!(q.equal(&w));
        assert!(Fp32Quantizer.quantize_weight(&q).equal(&q));
        assert!(Fp32Quantizer.quantize_activation(&w).equal(&w));
    }

    #[test]
    fn pack_unpack_is_exact_with_four_bytes_per_weight() {
        for shape in [[3i64, 5], [7, 33], [64, 64]] {
            let w = Tensor::randn(shape, (Kind::Float, Device::Cpu));
            let p = Fp32Quantizer.pack(&w).unwrap();
            assert_eq!(p.data.len(), 4 * (shape[0] * shape[1]) as usize);
            assert!(Fp32Quantizer
                .unpack(&p)
                .unwrap()
                .equal(&Fp32Quantizer.quantize_weight(&w)));
        }
    }

    #[test]
    fn pack_refuses_nan() {
        let w = Tensor::from_slice(&[0.5f32, f32::NAN, 1.0]).view([1, 3]);
        let err = Fp32Quantizer.pack(&w).unwrap_err().to_string();
        assert!(err.contains("fp32") && err.contains("NaN"), "{err}");
    }

    #[test]
    fn unpack_refuses_short_data() {
        let w = Tensor::randn([2, 3], (Kind::Float, Device::Cpu));
        let mut p = Fp32Quantizer.pack(&w).unwrap();
        p.data.pop();
        assert!(Fp32Quantizer.unpack(&p).is_err());
    }
}
