//! The quantizer traits: a scheme's identity, its fake quantization (what training sees) and its
//! codec (what storage and inference see), and [`Quantizer`], the three together.
//!
//! A scheme implements [`QuantizerIdentity`], [`FakeQuantizer`] and [`WeightCodec`]; the blanket
//! impl makes it a [`Quantizer`], the type the registry hands out (`Arc<dyn Quantizer>`).
//! Fake quantization and the straight-through estimator follow BitNet b1.58 (Ma et al. 2024,
//! "The Era of 1-bit LLMs").
use tch::Tensor;

use super::{Grid, KernelBinding, PackedTensor, Requantize};
use crate::kernels::LinearKernel;
use crate::Result;

/// Who a scheme is: its canonical name and a one-line description.
pub trait QuantizerIdentity: Send + Sync + std::fmt::Debug {
    /// Canonical name, e.g. `"ternary"` (what the registry and reports use).
    fn name(&self) -> &str;
    /// One line for `bitlab quantizers` and reports.
    fn description(&self) -> String;
}

/// Quantization-aware training: the values a scheme snaps weights and activations onto ("fake
/// quantization", computed without gradient tracking; the caller applies [`super::ste`]).
///
/// Required: the grid and weight fake quantization. Defaults: activations pass through unchanged,
/// re-quantization is exact, and the scheme is not full precision.
pub trait FakeQuantizer: QuantizerIdentity {
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
    /// Quantize-dequantize weights `[out, in]`: values on the scheme's grid, same shape, kind and
    /// device as `w`, computed WITHOUT gradient tracking (the caller applies [`super::ste`]).
    fn quantize_weight(&self, w: &Tensor) -> Tensor;
    /// Quantize-dequantize activations `[..., in]` (per token over the last dimension), without
    /// gradient tracking; the default is the identity (`x` itself, as a shallow clone).
    fn quantize_activation(&self, x: &Tensor) -> Tensor {
        x.shallow_clone()
    }
}

/// Storage and inference: the packed byte form of a trained weight, and the kernel that runs it.
///
/// Required: the nominal bits per weight, packing and unpacking. Defaults: no inference kernel of
/// its own (inference multiplies its dequantized weights in fp32), and high-precision tensors
/// stored in fp16.
pub trait WeightCodec: QuantizerIdentity {
    /// Nominal payload bits per weight of the packed form, including amortized scales, for a
    /// typical `[1024, 1024]` weight. Reports use the measured artifact bytes instead.
    fn bits_per_weight(&self) -> f64;
    /// Registry name of the scheme that stores the tensors this scheme leaves unquantized
    /// (embeddings, norms, head): "high precision" in BitNet b1.58's sense, 16-bit by default.
    fn high_precision_storage(&self) -> &str {
        "fp16"
    }
    /// Packs a trained weight `[out, in]` into its storage form; errors on NaN/inf or empty input.
    fn pack(&self, w: &Tensor) -> Result<PackedTensor>;
    /// Exact inverse of [`WeightCodec::pack`] onto the grid, as an f32 CPU tensor:
    /// `unpack(pack(w)) == quantize_weight(w)` for f32 `w`. Errors on a foreign scheme tag or a
    /// byte count that does not match the shape.
    fn unpack(&self, p: &PackedTensor) -> Result<Tensor>;
    /// The inference kernel this scheme's packed weights run on where the shape allows (see
    /// `src/kernels/`): its name for listings and its loader, in one place. `None` means
    /// inference multiplies dequantized fp32 weights.
    fn kernel(&self) -> Option<KernelBinding<'_>> {
        None
    }
}

/// A complete quantization scheme: identity, fake quantization and codec. Implemented for every
/// type that implements the three parts; never implemented by hand.
pub trait Quantizer: FakeQuantizer + WeightCodec {
    /// The inference kernel for one packed weight `p` of this scheme, holding it in the
    /// kernel's resident form ([`LinearKernel`]), built by [`WeightCodec::kernel`]'s loader;
    /// `Ok(None)` when this scheme, or this shape, has none, and the caller multiplies the
    /// dequantized f32 weight (and says so in the kernel name). Errors on a corrupt tensor.
    fn load_kernel(&self, p: &PackedTensor) -> Result<Option<Box<dyn LinearKernel>>> {
        match self.kernel() {
            Some(kernel) => kernel.load(p),
            None => Ok(None),
        }
    }
}

impl<T: FakeQuantizer + WeightCodec> Quantizer for T {}
