//! The matrix-matrix (prefill) path for matrices whose unpacked codes fit the L2 cache (at most
//! [`PAIR_MAX_CODES`]): the shapes of small models, where the row-tiled path of
//! [`super::tiled_matmat`] spends more on horizontal sums and transposes than on dot products
//! (at K = 128 each of its register tiles reduces 12 vectors for 4 steps of work).
//!
//! The whole matrix is unpacked once per call into [`PAIR_ROWS`]-row groups with weight pairs
//! interleaved (`[group][k / 2][32 rows][2 codes]`), so one 32-byte load holds two neighbouring
//! weights of 16 rows. [`super::isa::avx2::dot_pairs`] multiplies those by a broadcast pair
//! of int8 activations (`_mm256_maddubs_epi16`): every lane is one output row, so no horizontal
//! sum is needed and outputs come out token-major. Each rayon task owns a block of tokens and
//! writes its contiguous slice of the output. The integers are exact and the final scaling is
//! the one of the row-tiled path, so both paths return identical values.
use rayon::prelude::*;

use super::activations::QuantizedActivations;
use super::isa::{avx2, Avx2Token};

/// Rows per interleaved group (two 16-row vectors).
pub(crate) const PAIR_ROWS: usize = 32;
/// Largest matrix (in unpacked one-byte codes, rows padded to [`PAIR_ROWS`]) this path takes:
/// 1 MiB, the L2 cache of one core here.
pub(crate) const PAIR_MAX_CODES: usize = 1 << 20;
/// Tokens per rayon task.
const TOKENS_PER_TASK: usize = 64;

/// Whether [`pair_matmat`] should run a `rows x padded_k` matrix.
pub(crate) fn fits_pair_path(rows: usize, padded_k: usize) -> bool {
    rows.next_multiple_of(PAIR_ROWS) * padded_k <= PAIR_MAX_CODES
}

/// `y = x W^T` (`[n, rows]`, token-major) for a `rows x acts.padded_k` ternary matrix with
/// scale `scale`; `unpack(row, k0, out)` writes the codes `w + 1` of weights `k0..k0 +
/// out.len()` of `row`, at most `k_tile` at a time.
pub(crate) fn pair_matmat(
    cpu: Avx2Token,
    rows: usize,
    scale: f32,
    acts: &QuantizedActivations,
    k_tile: usize,
    unpack: impl Fn(usize, usize, &mut [u8]) + Sync,
) -> Vec<f32> {
    let (n, k) = (acts.n, acts.padded_k);
    let pairs = interleave_pairs(rows, k, k_tile, &unpack);
    let padded_rows = rows.next_multiple_of(PAIR_ROWS);
    let mut y = vec![0f32; n * rows];
    y.par_chunks_mut(TOKENS_PER_TASK * rows.max(1))
        .enumerate()
        .for_each(|(task, out)| {
            let t0 = task * TOKENS_PER_TASK;
            let tokens = out.len() / rows.max(1);
            let a: Vec<&[i8]> = (t0..t0 + tokens).map(|t| acts.token(t)).collect();
            let mut dots = vec![0i32; tokens * padded_rows];
            avx2::dot_pairs(cpu, &pairs, k, &a, &mut dots);
            for (j, (out_t, dots_t)) in out
                .chunks_exact_mut(rows)
                .zip(dots.chunks_exact(padded_rows))
                .enumerate()
            {
                let t = t0 + j;
                let factor = 1.0 / (scale * acts.scales[t]);
                for (o, &dot) in out_t.iter_mut().zip(dots_t) {
                    *o = (dot - acts.sums[t]) as f32 * factor;
                }
            }
        });
    y
}

/// The codes of every row in the layout `[group][k / 2][PAIR_ROWS][2]`, rows beyond `rows`
/// zero; groups are unpacked in parallel.
fn interleave_pairs(
    rows: usize,
    k: usize,
    k_tile: usize,
    unpack: &(impl Fn(usize, usize, &mut [u8]) + Sync),
) -> Vec<u8> {
    let group_len = k * PAIR_ROWS;
    let mut pairs = vec![0u8; rows.next_multiple_of(PAIR_ROWS) * k];
    pairs
        .par_chunks_mut(group_len.max(1))
        .enumerate()
        .for_each(|(g, group)| {
            let mut codes = vec![0u8; k];
            for r in 0..PAIR_ROWS.min(rows.saturating_sub(g * PAIR_ROWS)) {
                for k0 in (0..k).step_by(k_tile.max(1)) {
                    let end = (k0 + k_tile).min(k);
                    unpack(g * PAIR_ROWS + r, k0, &mut codes[k0..end]);
                }
                for (kp, pair) in codes.chunks_exact(2).enumerate() {
                    let at = (kp * PAIR_ROWS + r) * 2;
                    group[at..at + 2].copy_from_slice(pair);
                }
            }
        });
    pairs
}
