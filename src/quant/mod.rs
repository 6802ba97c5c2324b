//! Quantization schemes: the [`Quantizer`] extension point, its registry and one file per scheme.
//!
//! A quantizer does two jobs:
//! - **Quantization-aware training (QAT)**: [`Quantizer::quantize_weight`] and
//!   [`Quantizer::quantize_activation`] return values snapped onto the scheme's grid ("fake
//!   quantization"), computed without gradient tracking; the caller mixes them into the graph with
//!   the straight-through estimator [`ste`] (BitNet b1.58: Ma et al. 2024, "The Era of 1-bit
//!   LLMs", and its "Training Tips, Code and FAQ").
//! - **Storage**: [`Quantizer::pack`] turns a trained weight into its compact byte form
//!   ([`PackedTensor`]) and [`Quantizer::unpack`] restores exactly the values QAT trained against.
//!   The packed bytes, written by [`crate::artifact`], are the storage figure in reports.
//!
//! Adding a scheme: write one file here implementing [`Quantizer`] with a
//! `fn from_config(&QuantConfig) -> Result<Arc<dyn Quantizer>>` constructor, then add one line to
//! the table in [`registry`]; `tests/quantizer_conformance.rs` then checks it with every other
//! scheme. The common uniform integer kind needs no code at all: declare it in an experiment
//! file (`[quantizers.NAME] kind = "uniform"`, see [`uniform`]). Walkthrough: `docs/QUANTIZERS.md`.
//!
//! Shapes: weights are `[out, in]`; every scheme also accepts any tensor of rank >= 1 by treating
//! the last dimension as `in` and all leading dimensions as rows (a 1-D tensor is one row).
//! [`Quantizer::bits_per_weight`] is quoted for a typical `[1024, 1024]` weight.
use tch::Tensor;

pub mod binary;
pub mod bit_packing;
pub mod fp32;
pub mod grid;
pub mod half;
pub mod int4;
pub mod int8;
pub mod nf4;
pub mod packing;
pub mod registry;
pub mod scheme_tag;
pub mod ternary;
pub mod ternary_base3;
pub mod uniform;

pub use binary::BinaryQuantizer;
pub use fp32::Fp32Quantizer;
pub use grid::{Granularity, Grid, Requantize};
pub use half::{HalfFormat, HalfQuantizer};
pub use int4::Int4Quantizer;
pub use int8::Int8Quantizer;
pub use nf4::Nf4Quantizer;
pub use registry::{aliases, names, resolve, resolve_packed};
pub use scheme_tag::{SchemeTag, UniformLayout};
pub use ternary::TernaryQuantizer;
pub use uniform::{ScaleRule, UniformGranularity, UniformQuantizer, UniformSpec};

use crate::kernels::LinearKernel;
use crate::Result;

/// A weight/activation quantization scheme (QAT fake quantization + packing).
///
/// Required: a name, a description, the nominal bits per weight, the grid its weights lie on,
/// weight fake quantization, and packing/unpacking. Defaults: activations pass through unchanged,
/// re-quantization is exact, the scheme is not full precision, has no inference kernel of its
/// own (inference multiplies its dequantized weights in fp32), and stores
/// its high-precision tensors in fp16.
pub trait Quantizer: Send + Sync + std::fmt::Debug {
    /// Canonical name, e.g. `"ternary"` (what the registry and reports use).
    fn name(&self) -> &str;
    /// One line for `bitlab quantizers` and reports.
    fn description(&self) -> String;
    /// Nominal payload bits per weight of the packed form, including amortized scales, for a
    /// typical `[1024, 1024]` weight. Reports use the measured artifact bytes instead.
    fn bits_per_weight(&self) -> f64;
    /// The grid quantized weights lie on: which weights share a scale, and how many distinct
    /// values one such block holds at most.
    fn grid(&self) -> Grid;
    /// What re-quantizing quantized weights gives (see [`Requantize`]); exact by default.
    fn requantize(&self) -> Requantize {
        Requantize::Exact
    }
    /// True only for the fp32 reference (no quantization at all).
    fn is_full_precision(&self) -> bool {
        false
    }
    /// Name of the kernel that runs this scheme's artifacts at inference where the shape allows
    /// (see `src/kernels/`), for listings; `None` means inference multiplies dequantized fp32
    /// weights.
    fn packed_kernel(&self) -> Option<&'static str> {
        None
    }
    /// The inference kernel for one packed weight `p` of this scheme, holding it in the
    /// kernel's resident form ([`crate::kernels::LinearKernel`]); `Ok(None)` when this scheme,
    /// or this shape, has none, and the caller multiplies the dequantized f32 weight (and says
    /// so in the kernel name). Errors on a corrupt tensor.
    fn load_kernel(&self, _p: &PackedTensor) -> Result<Option<Box<dyn LinearKernel>>> {
        Ok(None)
    }
    /// Registry name of the scheme that stores the tensors this scheme leaves unquantized
    /// (embeddings, norms, head): "high precision" in BitNet b1.58's sense, 16-bit by default.
    fn high_precision_storage(&self) -> &str {
        "fp16"
    }
    /// Quantize-dequantize weights `[out, in]`: values on the scheme's grid, same shape, kind and
    /// device as `w`, computed WITHOUT gradient tracking (the caller applies [`ste`]).
    fn quantize_weight(&self, w: &Tensor) -> Tensor;
    /// Quantize-dequantize activations `[..., in]` (per token over the last dimension), without
    /// gradient tracking; the default is the identity (`x` itself, as a shallow clone).
    fn quantize_activation(&self, x: &Tensor) -> Tensor {
        x.shallow_clone()
    }
    /// Packs a trained weight `[out, in]` into its storage form; errors on NaN/inf or empty input.
    fn pack(&self, w: &Tensor) -> Result<PackedTensor>;
    /// Exact inverse of [`Quantizer::pack`] onto the grid, as an f32 CPU tensor:
    /// `unpack(pack(w)) == quantize_weight(w)` for f32 `w`. Errors on a foreign scheme tag or a
    /// byte count that does not match the shape.
    fn unpack(&self, p: &PackedTensor) -> Result<Tensor>;
}

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
