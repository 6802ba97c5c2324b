//! Quantization schemes: the [`Quantizer`] extension point, its registry and one file per scheme.
//!
//! A quantizer has an identity ([`QuantizerIdentity`]: name, description) and does two jobs,
//! one trait each ([`Quantizer`] is the two together, by a blanket impl):
//! - **Quantization-aware training (QAT)**, [`FakeQuantizer`]: [`FakeQuantizer::quantize_weight`]
//!   and [`FakeQuantizer::quantize_activation`] return values snapped onto the scheme's grid ("fake
//!   quantization"), computed without gradient tracking; the caller mixes them into the graph with
//!   the straight-through estimator [`ste`] (BitNet b1.58: Ma et al. 2024, "The Era of 1-bit
//!   LLMs", and its "Training Tips, Code and FAQ").
//! - **Storage and inference**, [`WeightCodec`]: [`WeightCodec::pack`] turns a trained weight
//!   into its compact byte form ([`PackedTensor`], tagged with its [`SchemeTag`]) and
//!   [`WeightCodec::unpack`] restores exactly the values QAT trained against; the packed bytes,
//!   written by [`crate::artifact`], are the storage figure in reports. [`WeightCodec::kernel`]
//!   names the inference kernel and loads it ([`KernelBinding`], used by
//!   [`Quantizer::load_kernel`]).
//!
//! Adding a scheme: write one file here implementing the three traits, with a
//! `fn from_config(&QuantConfig) -> Result<Arc<dyn Quantizer>>` constructor, then add one line to
//! the table in [`registry`]; `tests/quantizer_conformance.rs` then checks it with every other
//! scheme. The common uniform integer kind needs no code at all: declare it in an experiment
//! file (`[quantizers.NAME] kind = "uniform"`, see [`uniform`]). Walkthrough: `docs/QUANTIZERS.md`.
//!
//! Shapes: weights are `[out, in]`; every scheme also accepts any tensor of rank >= 1 by treating
//! the last dimension as `in` and all leading dimensions as rows (a 1-D tensor is one row).
//! [`WeightCodec::bits_per_weight`] is quoted for a typical `[1024, 1024]` weight.
use tch::Tensor;

pub mod binary;
pub mod bit_packing;
pub mod config;
pub mod fp32;
pub mod grid;
pub mod half;
pub mod int4;
pub mod int8;
pub mod kernel_binding;
pub mod nf4;
pub mod packing;
pub mod quantizer;
pub mod registry;
pub mod scheme_tag;
pub mod ternary;
pub mod ternary_base3;
pub mod uniform;

pub use binary::BinaryQuantizer;
pub use config::{QuantConfig, QuantWarmup};
pub use fp32::Fp32Quantizer;
pub use grid::{Granularity, Grid, Requantize};
pub use half::{HalfFormat, HalfQuantizer};
pub use int4::Int4Quantizer;
pub use int8::Int8Quantizer;
pub use kernel_binding::KernelBinding;
pub use nf4::Nf4Quantizer;
pub use quantizer::{FakeQuantizer, Quantizer, QuantizerIdentity, WeightCodec};
pub use registry::{aliases, names, resolve, resolve_packed};
pub use scheme_tag::{SchemeTag, UniformLayout};
pub use ternary::TernaryQuantizer;
pub use uniform::{ScaleRule, UniformGranularity, UniformQuantizer, UniformSpec};

/// Straight-through estimator with a warm-up mix: `x + lambda * (q - x).detach()`.
///
/// `lambda = 1` is the plain STE of BitNet b1.58 (forward sees `q`, backward sees the identity);
/// `lambda = 0` returns `x` unchanged. Values in between warm quantization in when fine-tuning a
/// pretrained model (Hugging Face's 1.58-bit fine-tuning study, `lambda = min(step / warmup, 1)`).
/// The gradient with respect to `x` is the identity for every `lambda`.
pub fn ste(x: &Tensor, q: &Tensor, lambda: f64) -> Tensor {
    if lambda == 0.0 {
        return x.shallow_clone();
    }
    let delta = (q - x).detach();
    if lambda == 1.0 {
        x + delta
    } else {
        x + delta * lambda
    }
}

/// A weight in its storage form: `data` holds the codes, then the scales, in the layout the
/// scheme documents in its file header. `data.len()` is the storage figure.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PackedTensor {
    /// Scheme tag: the quantizer's name, plus `/g<N>` for group-wise schemes (e.g. `int4/g32`),
    /// or a uniform layout, so that [`registry::resolve_packed`] can rebuild the quantizer that
    /// unpacks it.
    pub scheme: SchemeTag,
    /// Shape of the original tensor.
    pub shape: Vec<i64>,
    /// Codes then scales, little-endian.
    pub data: Vec<u8>,
}

impl PackedTensor {
    /// Number of weights the packed tensor holds (product of `shape`).
    pub fn numel(&self) -> usize {
        self.shape.iter().map(|&d| d.max(0) as usize).product()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tch::{Kind, Tensor};

    #[test]
    fn ste_gradient_is_identity_and_forward_is_q() {
        let x = Tensor::randn([4, 6], (Kind::Float, tch::Device::Cpu)).set_requires_grad(true);
        let q = TernaryQuantizer.quantize_weight(&x);
        let y = ste(&x, &q, 1.0);
        let max_err = f64::try_from((&y - &q).abs().max()).unwrap();
        assert!(
            max_err < 1e-6,
            "forward of ste must be q, max error {max_err}"
        );
        y.sum(Kind::Float).backward();
        let grad = x.grad();
        assert!(grad.equal(&Tensor::ones([4, 6], (Kind::Float, tch::Device::Cpu))));
    }

    #[test]
    fn ste_with_partial_lambda_mixes_and_keeps_identity_gradient() {
        let x = Tensor::randn([3, 5], (Kind::Float, tch::Device::Cpu)).set_requires_grad(true);
        let q = Int8Quantizer.quantize_weight(&x);
        let y = ste(&x, &q, 0.25);
        let expected = &x + (&q - &x) * 0.25;
        assert!(y.allclose(&expected, 1e-6, 1e-6, false));
        y.sum(Kind::Float).backward();
        assert!(x
            .grad()
            .equal(&Tensor::ones([3, 5], (Kind::Float, tch::Device::Cpu))));
    }

    #[test]
    fn ste_with_zero_lambda_is_x() {
        let x = Tensor::randn([3, 5], (Kind::Float, tch::Device::Cpu));
        let q = TernaryQuantizer.quantize_weight(&x);
        assert!(ste(&x, &q, 0.0).equal(&x));
    }

    #[test]
    fn packed_numel_is_shape_product() {
        let p = PackedTensor {
            scheme: SchemeTag::Builtin("fp32"),
            shape: vec![7, 33],
            data: vec![],
        };
        assert_eq!(p.numel(), 231);
    }
}
