//! [`TernaryLayout`]: what one packed form of BitNet b1.58 ternary weights (Ma et al., 2024)
//! tells the generic kernel [`super::PackedTernary`] (its [`TernaryFormat`] and its inner loops
//! per instruction set), and the per-backend dispatch of those loops.
//!
//! Both layouts share one shape: a row is padded to whole blocks of
//! [`TernaryFormat::BLOCK_BYTES`] bytes, and slot `i` of byte `j` of a block holds the code
//! `w + 1` of weight `BLOCK_BYTES * i + j` of that block, so one 32-byte load decodes, slot by
//! slot, into 32 consecutive weights. They differ in how many slots a byte holds and how they
//! are encoded, and in the activation form their matrix-vector loop multiplies: signed int8
//! for the 2-bit codes (`maddubs` takes the unsigned codes first), unsigned `a + 128` for the
//! base-3 trits (`maddubs` takes the activations first and the signed `-t`).
//!
//! Everything here is resolved at compile time (associated constants and types, static
//! methods): the generic kernel is monomorphized per layout, with no dynamic dispatch in any
//! loop.
use std::borrow::Cow;

use super::isa::avx2::{self, Avx2Loops};
use super::isa::portable::PortableLoops;
use super::isa::Backend;

/// The packed format of one ternary layout: block geometry, byte encoding and the activation
/// form its matrix-vector loops take. Its inner loops are per instruction set
/// ([`PortableLoops`], [`Avx2Loops`]); a [`TernaryLayout`] is a format with all of them.
pub trait TernaryFormat: std::fmt::Debug + Send + Sync + 'static {
    /// The kernel's name as measurements record it, before the backend suffix (stored in
    /// results databases: never change it).
    const KERNEL_NAME: &'static str;
    /// Short name in error messages, e.g. `2-bit`.
    const NAME: &'static str;
    /// Weights (slots) per packed byte.
    const WEIGHTS_PER_BYTE: usize;
    /// Bytes per block: 32, one 256-bit load.
    const BLOCK_BYTES: usize = 32;
    /// Weights per block; rows are padded to whole blocks.
    const BLOCK: usize = Self::WEIGHTS_PER_BYTE * Self::BLOCK_BYTES;
    /// A packed byte whose every slot holds the padding code 1 (weight 0).
    const PADDING_BYTE: u8;
    /// Inner-dimension tile of the matrix-matrix path: the most whole blocks in 2048 weights, so
    /// that a tile of unpacked codes of 64 rows stays near 128 KiB (2048 weights at 2 bits,
    /// 1920 in base 3).
    const K_TILE: usize = 2048 / Self::BLOCK * Self::BLOCK;

    /// The activation form the matrix-vector loops multiply (`i8`, or `u8` offset by 128).
    type Activation: ActivationForm;

    /// The packed byte of `codes` (`WEIGHTS_PER_BYTE` codes `w + 1` in {0, 1, 2}, by slot).
    fn encode_byte(codes: &[u8]) -> u8;

    /// The code `w + 1` in slot `slot` of packed byte `byte`.
    fn decode_slot(byte: u8, slot: usize) -> u8;
}

/// The form of the int8 activations a layout's matrix-vector loops multiply, by element type:
/// `i8` as they are (the unsigned codes go first in `_mm256_maddubs_epi16`), or `u8` offset by
/// 128 (the activations go first, times the signed `-t`).
pub trait ActivationForm: Copy + Send + Sync + 'static {
    /// What the form adds to every int8 activation: the kernel subtracts `OFFSET * sum_k c_k`
    /// per row, so it keeps every row's code sum when this is not 0.
    const OFFSET: i32;

    /// One token's padded int8 activations in this form.
    fn from_int8(token: &[i8]) -> Cow<'_, [Self]>;
}

/// Signed int8 activations, multiplied as they are.
impl ActivationForm for i8 {
    const OFFSET: i32 = 0;

    #[inline]
    fn from_int8(token: &[i8]) -> Cow<'_, [i8]> {
        Cow::Borrowed(token)
    }
}

/// Activations offset to unsigned bytes, `a + 128` (computed once per token).
impl ActivationForm for u8 {
    const OFFSET: i32 = 128;

    fn from_int8(token: &[i8]) -> Cow<'_, [u8]> {
        Cow::Owned(token.iter().map(|&a| a as u8 ^ 0x80).collect())
    }
}

/// A ternary layout: its packed format and its inner loops (a row dot product for the
/// matrix-vector path, an unpack to one code byte per weight for the matrix-matrix path) on
/// every instruction set. Implemented for every format that has them all.
///
/// Adding an instruction set adds one loops trait in its `isa` file (like [`Avx2Loops`]), one
/// supertrait here, one implementation per layout (its row dot product and unpack), and one arm
/// to [`dot_packed_rows`] and [`unpack`].
pub trait TernaryLayout: TernaryFormat + PortableLoops + Avx2Loops {}

impl<L: TernaryFormat + PortableLoops + Avx2Loops> TernaryLayout for L {}

/// `out[r] = sum_k c_rk a_k` for consecutive packed rows of `row_len` bytes each, on `backend`.
#[inline]
pub(crate) fn dot_packed_rows<L: TernaryLayout>(
    backend: Backend,
    packed: &[u8],
    row_len: usize,
    a: &[L::Activation],
    out: &mut [i32],
) {
    match backend {
        Backend::Avx2(cpu) => avx2::dot_packed_rows::<L>(cpu, packed, row_len, a, out),
        Backend::Portable => {
            for (d, w) in out.iter_mut().zip(packed.chunks_exact(row_len)) {
                *d = L::dot_packed_row(w, a);
            }
        }
    }
}

/// Unpacks whole blocks of one row to one code byte `w + 1` per weight, on `backend`.
#[inline]
pub(crate) fn unpack<L: TernaryLayout>(backend: Backend, packed: &[u8], out: &mut [u8]) {
    match backend {
        Backend::Avx2(cpu) => avx2::unpack::<L>(cpu, packed, out),
        Backend::Portable => L::unpack(packed, out),
    }
}
