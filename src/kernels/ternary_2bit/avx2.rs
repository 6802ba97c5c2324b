//! AVX2 inner loops of the 2-bit ternary layout ([`super::Ternary2BitLayout`]).
//!
//! `_mm256_maddubs_epi16` multiplies 32 unsigned bytes (the codes `w + 1` in {0, 1, 2}) by 32
//! signed bytes (int8 activations in [-128, 127]) and adds adjacent pairs into 16 i16 lanes; a
//! pair lies in [-512, 508], so the instruction never saturates. The matrix-vector loop
//! accumulates in i16 for at most [`FLUSH_BLOCKS`] blocks, then `_mm256_madd_epi16` by 1 widens
//! to i32. The caller subtracts the activation sum (`sum (c - 1) a = sum c a - sum a`). Every
//! result is therefore the exact integer the portable loops ([`super::portable`]) compute.
//!
//! These are the layout's `unsafe` AVX2 loops; the safe wrappers that take an
//! [`crate::kernels::Avx2Token`] and check slice lengths, and the prefetching row skeleton, are
//! shared by every layout ([`crate::kernels::isa::avx2`]).
use super::{Ternary2BitLayout, BLOCK, BLOCK_BYTES};
use crate::kernels::isa::avx2::{hsum_epi32, packed_row_dot, Avx2Loops};
use std::arch::x86_64::*;

/// Packed blocks accumulated in i16 by the matrix-vector loop: each of its two accumulators
/// takes two products per block, so 16 blocks give |sum| <= 16 * 2 * 512 = 16384.
const FLUSH_BLOCKS: usize = 16;

impl Avx2Loops for Ternary2BitLayout {
    /// `sum_k code_k a_k` over the packed row `all[start..start + len]`, prefetching ahead
    /// within `all`: per block, the four 2-bit planes of one 32-byte load times four 32-byte
    /// activation loads.
    ///
    /// # Safety
    /// The CPU must support AVX2; `start + len <= all.len()`, `len` is a multiple of
    /// [`BLOCK_BYTES`] and `a.len() >= 4 * len`.
    #[target_feature(enable = "avx2")]
    unsafe fn dot_packed_row_avx2(all: &[u8], start: usize, len: usize, a: &[i8]) -> i32 {
        // SAFETY: the caller upholds this function's safety contract in its doc comment (the CPU has AVX2, checked
        // by the token of the safe wrapper that calls it, and the lengths it states), which is what
        // every load, store and pointer offset below relies on.
        unsafe {
            let mask = _mm256_set1_epi8(0b11);
            let a = a.as_ptr();
            let acc32 = packed_row_dot!(all, start, len, BLOCK_BYTES, FLUSH_BLOCKS, |i, bytes| {
                let act = a.add(i * BLOCK);
                let c0 = _mm256_and_si256(bytes, mask);
                let c1 = _mm256_and_si256(_mm256_srli_epi16(bytes, 2), mask);
                let c2 = _mm256_and_si256(_mm256_srli_epi16(bytes, 4), mask);
                let c3 = _mm256_and_si256(_mm256_srli_epi16(bytes, 6), mask);
                let p0 = _mm256_maddubs_epi16(c0, _mm256_loadu_si256(act.cast()));
                let p1 = _mm256_maddubs_epi16(c1, _mm256_loadu_si256(act.add(32).cast()));
                let p2 = _mm256_maddubs_epi16(c2, _mm256_loadu_si256(act.add(64).cast()));
                let p3 = _mm256_maddubs_epi16(c3, _mm256_loadu_si256(act.add(96).cast()));
                (_mm256_add_epi16(p0, p1), _mm256_add_epi16(p2, p3))
            });
            hsum_epi32(acc32)
        }
    }

    /// Unpacks whole blocks to one code byte per weight: the four 2-bit planes of each 32-byte
    /// load, shifted and masked.
    ///
    /// # Safety
    /// The CPU must support AVX2; `out.len() >= 4 * packed.len()` and `packed.len()` is a
    /// multiple of [`BLOCK_BYTES`].
    #[target_feature(enable = "avx2")]
    unsafe fn unpack_avx2(packed: &[u8], out: &mut [u8]) {
        // SAFETY: the caller upholds this function's safety contract in its doc comment (the CPU has AVX2, checked
        // by the token of the safe wrapper that calls it, and the lengths it states), which is what
        // every load, store and pointer offset below relies on.
        unsafe {
            let mask = _mm256_set1_epi8(0b11);
            let (w, o) = (packed.as_ptr(), out.as_mut_ptr());
            for i in 0..packed.len() / BLOCK_BYTES {
                let bytes = _mm256_loadu_si256(w.add(i * BLOCK_BYTES).cast());
                let dst = o.add(i * BLOCK);
                for p in 0..4 {
                    let shifted = match p {
                        0 => bytes,
                        1 => _mm256_srli_epi16(bytes, 2),
                        2 => _mm256_srli_epi16(bytes, 4),
                        _ => _mm256_srli_epi16(bytes, 6),
                    };
                    _mm256_storeu_si256(dst.add(32 * p).cast(), _mm256_and_si256(shifted, mask));
                }
            }
        }
    }
}
