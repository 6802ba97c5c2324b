//! Portable (plain Rust) inner loops of the 2-bit ternary layout ([`super::Ternary2BitLayout`]).
//! They compute the same integers as the AVX2 loops ([`super::avx2`]): no intermediate of the
//! AVX2 route saturates, so both are exact.
use super::{Ternary2BitLayout, BLOCK, BLOCK_BYTES};
use crate::kernels::isa::portable::PortableLoops;

impl PortableLoops for Ternary2BitLayout {
    /// `sum_k code_k a_k` over one packed row (unsigned codes `w + 1`, block layout of
    /// [`super`]) and its padded activations.
    #[inline]
    fn dot_packed_row(packed: &[u8], a: &[i8]) -> i32 {
        debug_assert_eq!(packed.len() * 4, a.len());
        let mut sum = 0i32;
        for (block, acts) in packed.chunks_exact(BLOCK_BYTES).zip(a.chunks_exact(BLOCK)) {
            for (j, &byte) in block.iter().enumerate() {
                for p in 0..4 {
                    let code = i32::from((byte >> (2 * p)) & 0b11);
                    sum += code * i32::from(acts[BLOCK_BYTES * p + j]);
                }
            }
        }
        sum
    }

    /// Unpacks whole blocks of one row to one code byte per weight, in column order.
    #[inline]
    fn unpack(packed: &[u8], out: &mut [u8]) {
        assert_eq!(
            packed.len() * 4,
            out.len(),
            "unpack needs 4 output bytes per packed byte"
        );
        for (block, codes) in packed
            .chunks_exact(BLOCK_BYTES)
            .zip(out.chunks_exact_mut(BLOCK))
        {
            for (j, &byte) in block.iter().enumerate() {
                for p in 0..4 {
                    codes[BLOCK_BYTES * p + j] = (byte >> (2 * p)) & 0b11;
                }
            }
        }
    }
}
