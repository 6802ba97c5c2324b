//! Packed low-bit matrix kernels: `y = x W^T` with `W` kept in its packed form.
//!
//! - [`Ternary2Bit`]: BitNet b1.58 ternary weights (Ma et al., 2024) at 2 bits, four per byte,
//!   repacked at load into 128-weight blocks per row so one 32-byte AVX2 load serves 128
//!   weights; activations quantized to int8 per token ([`QuantizedActivations`]); exact integer
//!   dot products. The AVX2 route multiplies the unsigned codes `w + 1` by the int8 activations
//!   with `_mm256_maddubs_epi16`, widens with `_mm256_madd_epi16`, and subtracts the activation
//!   sum at the end (the route of bitnet.cpp's I2_S and ggml's TQ2_0 kernels).
//! - [`Ternary1p6`]: the same weights in base 3 at 1.6 bits, five per byte (ggml TQ1_0's trit
//!   encoding), in 160-weight blocks of 32 bytes; the AVX2 route decodes trits with byte
//!   additions and comparisons (see [`ternary_1p6`]), then takes the same `maddubs` route.
//! - Both are one generic kernel, [`PackedTernary`], over a [`TernaryLayout`] (block geometry,
//!   byte encoding, activation form, and per instruction set a row dot product and an unpack);
//!   the helpers each instruction set shares live in one file per instruction set ([`isa`]).
//! - A matrix-vector path (one token: decoding) streams the packed weights once; a
//!   matrix-matrix path (many tokens: prefill) unpacks a tile of weight rows once and reuses it
//!   across every token of a token block.
//!
//! - [`LinearKernel`] is the extension point every inference matmul implements, these two and
//!   libtorch's: [`TorchDense`] (fp32, bf16, fp16), [`TorchInt8Pack`] (`_weight_int8pack_mm`)
//!   and [`TorchInt4Pack`] (`_weight_int4pack_mm_for_cpu`), both with bf16 activations.
//!
//! [`Backend`] picks the instruction set at run time (`is_x86_feature_detected!`); the portable
//! path computes the same integers everywhere, and tests force it to compare both.
pub mod activations;
pub mod energy;
pub mod isa;
pub mod linear_kernel;
pub mod omp_wait;
pub mod packed_ternary;
mod pair_matmat;
pub mod ternary_1p6;
pub mod ternary_2bit;
pub mod ternary_layout;
mod tiled_matmat;
pub mod torch_dense;
pub mod torch_int4pack;
pub mod torch_int8pack;

pub use activations::QuantizedActivations;
pub use isa::{Avx2Token, Backend};
pub use linear_kernel::{KernelContext, LinearKernel, MacArithmetic};
pub use packed_ternary::PackedTernary;
pub use ternary_1p6::{Ternary1p6, TernaryBase3Layout};
pub use ternary_2bit::{Ternary2Bit, Ternary2BitLayout};
pub use ternary_layout::{ActivationForm, TernaryFormat, TernaryLayout};
pub use torch_dense::TorchDense;
pub use torch_int4pack::TorchInt4Pack;
pub use torch_int8pack::TorchInt8Pack;

#[cfg(test)]
pub(crate) mod reference;
