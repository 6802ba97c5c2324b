//! AVX2 inner loops of the 1.6-bit base-3 ternary layout ([`super::TernaryBase3Layout`]).
//!
//! Decoding (ggml TQ1_0's idea, cheaper per trit): a stored byte is `m_0 + 128` with `m_0` the
//! TQ1_0 byte, and trit `i` is `floor(3 m_i / 256)` with `m_i = 3^i m_0 mod 256`. The kernel
//! keeps 32 bytes in one register and
//! - multiplies by 3 modulo 256 with two byte additions (`n + n + n`; AVX2 has no byte
//!   multiply), which maps `m_i + 128` to `m_{i+1} + 128` because `3 * 128 = 128 (mod 256)`;
//! - reads the trit from two signed byte comparisons: `m >= 86` and `m >= 171` (where `3 m`
//!   crosses 256 and 512) are `m - 128 > -43` and `m - 128 > 42`, and the sum of the two
//!   all-ones masks is `-t` as a signed byte.
//!
//! That is 4.6 simple ALU operations per 32 trits (2 per multiply, 4 multiplies per 5 trits; 2
//! compares and an add per trit). The alternatives cost more: ggml's `avg_epu8` route to the
//! top bits of `3 m` takes 5 operations per trit plus the multiplies; widening to 16-bit lanes
//! for `mullo`/`mulhi_epu16` halves the lanes per instruction; a 256-entry table (the portable
//! path's choice) has no byte-granular SIMD lookup (`vpshufb` indexes 16 entries, and base-3
//! digits are not nibble-separable; `vpgatherdd` fetches 8 entries at several cycles each).
//!
//! Dot product: `_mm256_maddubs_epi16` wants its unsigned operand first, so the matrix-vector
//! loop multiplies the activations offset to unsigned bytes (`a + 128`, computed once per token)
//! by the signed `-t` straight from the comparisons: a pair lies in [-1020, 0], so the
//! instruction never saturates, and i16 lanes take [`FLUSH_BLOCKS`] blocks (at most three
//! products per lane per block: 10 * 3 * 1020 = 30600 < 2^15) before `_mm256_madd_epi16` by 1
//! widens them to i32. The caller subtracts `128 sum t` (precomputed per row) and the activation
//! sum. Every result is the exact integer the portable loops compute. The matrix-matrix path
//! decodes to trit bytes and reuses the shared register tiles
//! ([`crate::kernels::isa::avx2::dot_codes_tile`]).
//!
//! These are the layout's `unsafe` AVX2 loops; the safe wrappers that take an
//! [`crate::kernels::Avx2Token`] and check slice lengths, and the prefetching row skeleton, are
//! shared by every layout ([`crate::kernels::isa::avx2`]).
use super::{TernaryBase3Layout, BLOCK, BLOCK_BYTES};
use crate::kernels::isa::avx2::{hsum_epi32, packed_row_dot, Avx2Loops};
use std::arch::x86_64::*;

/// Packed blocks the matrix-vector loop accumulates in i16 (see the module docs).
const FLUSH_BLOCKS: usize = 10;

/// `3 n mod 256` in every byte (a macro, so that it expands inside `avx2` functions).
///
/// The result passes through an empty `asm!` that LLVM cannot see through: otherwise it folds
/// the chain `3 (3 (3 n))` into direct multiplications by 9, 27 and 81, which cost 3 to 5
/// instructions each (byte multiplies are emulated with `vpmullw`, masks and shifts) instead
/// of 2 additions, and the kernel runs about twice as slow.
macro_rules! times3 {
    ($n:expr) => {{
        let n = $n;
        let mut m = _mm256_add_epi8(_mm256_add_epi8(n, n), n);
        // SAFETY: an empty instruction template; the register is returned unchanged. (Unused
        // where the macro expands inside an unsafe block already.)
        #[allow(unused_unsafe)]
        unsafe {
            std::arch::asm!("/* {0} */", inout(ymm_reg) m, options(pure, nomem, nostack, preserves_flags));
        }
        m
    }};
}

/// `-t` in every byte of stored (biased) multiples `n = m + 128`: 0, -1 or -2, given the
/// thresholds `low = -43` and `high = 42`.
macro_rules! neg_trits {
    ($n:expr, $low:expr, $high:expr) => {{
        let n = $n;
        _mm256_add_epi8(_mm256_cmpgt_epi8(n, $low), _mm256_cmpgt_epi8(n, $high))
    }};
}

impl Avx2Loops for TernaryBase3Layout {
    /// `sum_k t_k a_k` over the packed row `all[start..start + len]` with unsigned activations
    /// (`a + 128`), prefetching ahead within `all`: per block, five trit planes decoded from one
    /// 32-byte load times five 32-byte activation loads.
    ///
    /// # Safety
    /// The CPU must support AVX2; `start + len <= all.len()`, `len` is a multiple of
    /// [`BLOCK_BYTES`] and `a.len() >= 5 * len`.
    #[target_feature(enable = "avx2")]
    unsafe fn dot_packed_row_avx2(all: &[u8], start: usize, len: usize, a: &[u8]) -> i32 {
        // SAFETY: the caller upholds this function's safety contract in its doc comment (the CPU has AVX2, checked
        // by the token of the safe wrapper that calls it, and the lengths it states), which is what
        // every load, store and pointer offset below relies on.
        unsafe {
            let low = _mm256_set1_epi8(-43);
            let high = _mm256_set1_epi8(42);
            let a = a.as_ptr();
            let acc32 = packed_row_dot!(all, start, len, BLOCK_BYTES, FLUSH_BLOCKS, |i, n0| {
                let n1 = times3!(n0);
                let n2 = times3!(n1);
                let n3 = times3!(n2);
                let n4 = times3!(n3);
                let act = a.add(i * BLOCK);
                macro_rules! product {
                    ($j:literal, $n:expr) => {
                        _mm256_maddubs_epi16(
                            _mm256_loadu_si256(act.add(32 * $j).cast()),
                            neg_trits!($n, low, high),
                        )
                    };
                }
                let (p0, p1, p2) = (product!(0, n0), product!(1, n1), product!(2, n2));
                let (p3, p4) = (product!(3, n3), product!(4, n4));
                (
                    _mm256_add_epi16(_mm256_add_epi16(p0, p1), p2),
                    _mm256_add_epi16(p3, p4),
                )
            });
            // The lanes hold sum (-t)(a + 128).
            -hsum_epi32(acc32)
        }
    }

    /// Decodes whole blocks to one trit byte per weight: five trit planes of each 32-byte load.
    ///
    /// # Safety
    /// The CPU must support AVX2; `out.len() >= 5 * packed.len()` and `packed.len()` is a
    /// multiple of [`BLOCK_BYTES`].
    #[target_feature(enable = "avx2")]
    unsafe fn unpack_avx2(packed: &[u8], out: &mut [u8]) {
        // SAFETY: the caller upholds this function's safety contract in its doc comment (the CPU has AVX2, checked
        // by the token of the safe wrapper that calls it, and the lengths it states), which is what
        // every load, store and pointer offset below relies on.
        unsafe {
            let low = _mm256_set1_epi8(-43);
            let high = _mm256_set1_epi8(42);
            let zero = _mm256_setzero_si256();
            let (w, o) = (packed.as_ptr(), out.as_mut_ptr());
            for i in 0..packed.len() / BLOCK_BYTES {
                let mut n = _mm256_loadu_si256(w.add(i * BLOCK_BYTES).cast());
                let dst = o.add(i * BLOCK);
                for j in 0..5 {
                    let trits = _mm256_sub_epi8(zero, neg_trits!(n, low, high));
                    _mm256_storeu_si256(dst.add(32 * j).cast(), trits);
                    n = times3!(n);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::{TernaryBase3Layout, TRITS_PER_BYTE};
    use crate::kernels::isa::avx2;
    use crate::kernels::isa::portable::PortableLoops;
    use crate::kernels::Avx2Token;

    /// Every byte value (valid code or not) at every trit position: the AVX2 decoder equals the
    /// portable table, and both dot products agree on random unsigned activations.
    #[test]
    fn avx2_decodes_every_byte_like_the_portable_table() {
        let Some(cpu) = Avx2Token::detect() else {
            return;
        };
        let packed: Vec<u8> = (0..=255u8).cycle().take(256 * TRITS_PER_BYTE).collect();
        let len = packed.len() * TRITS_PER_BYTE;
        let (mut simd, mut scalar) = (vec![0u8; len], vec![0u8; len]);
        avx2::unpack::<TernaryBase3Layout>(cpu, &packed, &mut simd);
        TernaryBase3Layout::unpack(&packed, &mut scalar);
        assert_eq!(simd, scalar);
        let a: Vec<u8> = (0..len).map(|i| (i * 7919 % 256) as u8).collect();
        let mut rows = [0i32; 2];
        let row_len = packed.len() / 2;
        avx2::dot_packed_rows::<TernaryBase3Layout>(
            cpu,
            &packed,
            row_len,
            &a[..a.len() / 2],
            &mut rows,
        );
        for (r, &dot) in rows.iter().enumerate() {
            let expected = TernaryBase3Layout::dot_packed_row(
                &packed[r * row_len..(r + 1) * row_len],
                &a[..TRITS_PER_BYTE * row_len],
            );
            assert_eq!(dot, expected, "row {r}");
        }
    }
}
