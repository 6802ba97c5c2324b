//! Portable (plain Rust) inner loops of the 2-bit ternary kernels. They compute the same
//! integers as [`super::ternary_avx2`]: no intermediate of the AVX2 route saturates (see there),
//! so both are exact.
use super::ternary_2bit::{BLOCK, BLOCK_BYTES};

/// `sum_k code_k a_k` over one packed row (unsigned codes `w + 1`, block layout of
/// [`super::ternary_2bit`]) and its padded activations.
pub(super) fn dot_packed_row(packed: &[u8], a: &[i8]) -> i32 {
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
pub(super) fn unpack(packed: &[u8], out: &mut [u8]) {
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

/// `dots[r * a.len() + t] = sum_k w[r][k] a[t][k]` for unpacked codes `w` and activations `a`,
/// all of one length.
pub(super) fn dot_codes_tile(w: &[&[u8]], a: &[&[i8]], dots: &mut [i32]) {
    assert_eq!(dots.len(), w.len() * a.len(), "one dot per row and token");
    for (r, row) in w.iter().enumerate() {
        for (t, token) in a.iter().enumerate() {
            assert_eq!(
                row.len(),
                token.len(),
                "codes and activations differ in length"
            );
            dots[r * a.len() + t] = row
                .iter()
                .zip(token.iter())
                .map(|(&c, &x)| i32::from(c) * i32::from(x))
                .sum();
        }
    }
}
