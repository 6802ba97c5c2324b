//! Portable (plain Rust) inner loops of the 1.6-bit base-3 ternary layout
//! ([`super::TernaryBase3Layout`]). They compute the same integers as the AVX2 loops (the
//! `avx2` submodule): both are exact (see there).
//!
//! A scalar decoder gains most from a 256-entry table of the five trits of every stored byte
//! (built at compile time from the TQ1_0 rule `t_i = floor(3 (3^i b mod 256) / 256)`): one load
//! replaces five multiplications.
use super::{TernaryBase3Layout, BIAS, BLOCK, BLOCK_BYTES, TRITS_PER_BYTE};
use crate::kernels::isa::portable::PortableLoops;

/// Trits of every stored byte (stored = TQ1_0 byte XOR [`BIAS`]), first most significant.
static DECODE: [[u8; TRITS_PER_BYTE]; 256] = decode_table();

const fn decode_table() -> [[u8; TRITS_PER_BYTE]; 256] {
    let mut table = [[0u8; TRITS_PER_BYTE]; 256];
    let mut stored = 0;
    while stored < 256 {
        let mut m = (stored as u8 ^ BIAS) as u16;
        let mut i = 0;
        while i < TRITS_PER_BYTE {
            // m = 3^i b mod 256; its trit is the integer part of 3 m / 256.
            table[stored][i] = ((m * 3) >> 8) as u8;
            m = (m * 3) & 0xFF;
            i += 1;
        }
        stored += 1;
    }
    table
}

/// The five trits (0..=2, first most significant) of a stored byte.
pub(super) fn decode(stored: u8) -> [u8; TRITS_PER_BYTE] {
    DECODE[usize::from(stored)]
}

impl PortableLoops for TernaryBase3Layout {
    /// `sum_k t_k a_k` over one packed row (trits `t = w + 1`, block layout of
    /// [`super`]) and its padded activations offset to unsigned bytes (`a + 128`).
    #[inline]
    fn dot_packed_row(packed: &[u8], a: &[u8]) -> i32 {
        debug_assert_eq!(packed.len() * TRITS_PER_BYTE, a.len());
        let mut sum = 0i32;
        for (block, acts) in packed.chunks_exact(BLOCK_BYTES).zip(a.chunks_exact(BLOCK)) {
            for (j, &byte) in block.iter().enumerate() {
                for (i, &t) in decode(byte).iter().enumerate() {
                    sum += i32::from(t) * i32::from(acts[BLOCK_BYTES * i + j]);
                }
            }
        }
        sum
    }

    /// Decodes whole blocks of one row to one trit byte (`w + 1`) per weight, in column order.
    #[inline]
    fn unpack(packed: &[u8], out: &mut [u8]) {
        assert_eq!(
            packed.len() * TRITS_PER_BYTE,
            out.len(),
            "unpack needs 5 output bytes per packed byte"
        );
        for (block, codes) in packed
            .chunks_exact(BLOCK_BYTES)
            .zip(out.chunks_exact_mut(BLOCK))
        {
            for (j, &byte) in block.iter().enumerate() {
                for (i, &t) in decode(byte).iter().enumerate() {
                    codes[BLOCK_BYTES * i + j] = t;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::encode_trits;
    use super::*;

    #[test]
    fn the_table_inverts_the_encoder_on_every_group_of_five_trits() {
        let mut seen = std::collections::HashSet::new();
        for q in 0..243u16 {
            let trits = [q / 81, q / 27 % 3, q / 9 % 3, q / 3 % 3, q % 3].map(|t| t as u8);
            let stored = encode_trits(trits) ^ BIAS;
            assert_eq!(decode(stored), trits, "q = {q}, stored byte {stored}");
            assert!(seen.insert(stored), "two groups share byte {stored}");
        }
        assert_eq!(seen.len(), 243, "every group of five trits has one byte");
    }
}
