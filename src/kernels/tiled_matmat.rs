//! The matrix-matrix (prefill) driver shared by the ternary layouts: each rayon task owns
//! [`ROW_TILE`] output rows, unpacks their weights one K tile at a time into one byte per code
//! (`w + 1`, the layout-specific part, given as a closure), and runs every block of
//! [`TOKEN_BLOCK`] tokens against that tile with the register-tiled integer dot products of
//! [`super::isa::avx2::dot_codes_tile`] (or the portable equivalent). Results are exact
//! integer sums `sum (w + 1) a - sum a`, scaled once per output by `1 / (s * s_x)` (BitNet b1.58
//! absmean weight scale `s`, per-token activation scale `s_x`).
use rayon::prelude::*;

use super::activations::QuantizedActivations;
use super::isa::{avx2, portable, Backend};
use super::pair_matmat::{fits_pair_path, pair_matmat};

/// Output rows per parallel task (its unpacked codes, `ROW_TILE x k_tile` bytes of about
/// 128 KiB, stay in the L2 cache).
pub(crate) const ROW_TILE: usize = 64;
/// Tokens per token block (`TOKEN_BLOCK x k_tile` activation bytes, in the L2 cache next to the
/// weight tile).
pub(crate) const TOKEN_BLOCK: usize = 64;

/// `y = x W^T` (`[n, rows]`, row-major by token) for a `rows x acts.padded_k` ternary matrix with
/// scale `scale`; with AVX2, matrices that fit [`fits_pair_path`] take
/// [`super::pair_matmat`] instead (the same values). `unpack(row, k0, out)` writes the codes `w + 1` of weights `k0..k0 +
/// out.len()` of `row`; `k_tile` (a multiple of the layout's block) bounds `out.len()`.
pub(crate) fn tiled_matmat(
    rows: usize,
    scale: f32,
    acts: &QuantizedActivations,
    backend: Backend,
    k_tile: usize,
    unpack: impl Fn(usize, usize, &mut [u8]) + Sync,
) -> Vec<f32> {
    if let Backend::Avx2(cpu) = backend {
        if fits_pair_path(rows, acts.padded_k) {
            return pair_matmat(cpu, rows, scale, acts, k_tile, unpack);
        }
    }
    row_tiled_matmat(rows, scale, acts, backend, k_tile, unpack)
}

/// The row-tiled path of [`tiled_matmat`], for any backend and size.
fn row_tiled_matmat(
    rows: usize,
    scale: f32,
    acts: &QuantizedActivations,
    backend: Backend,
    k_tile: usize,
    unpack: impl Fn(usize, usize, &mut [u8]) + Sync,
) -> Vec<f32> {
    let n = acts.n;
    let padded_k = acts.padded_k;
    // Row-major [rows, n] first, so that each task owns a contiguous output slice.
    let mut transposed = vec![0f32; rows * n];
    transposed
        .par_chunks_mut(ROW_TILE * n)
        .enumerate()
        .for_each(|(tile, out)| {
            let first_row = tile * ROW_TILE;
            let tile_rows = out.len() / n;
            let mut dots = vec![0i32; tile_rows * n];
            let mut codes = vec![0u8; tile_rows * k_tile.min(padded_k)];
            let mut block_dots = vec![0i32; tile_rows * TOKEN_BLOCK.min(n)];
            for k0 in (0..padded_k).step_by(k_tile) {
                let k_len = k_tile.min(padded_k - k0);
                for r in 0..tile_rows {
                    unpack(first_row + r, k0, &mut codes[r * k_len..(r + 1) * k_len]);
                }
                let w: Vec<&[u8]> = (0..tile_rows)
                    .map(|r| &codes[r * k_len..(r + 1) * k_len])
                    .collect();
                for t0 in (0..n).step_by(TOKEN_BLOCK) {
                    let tokens = t0..(t0 + TOKEN_BLOCK).min(n);
                    let a: Vec<&[i8]> = tokens
                        .clone()
                        .map(|t| &acts.token(t)[k0..k0 + k_len])
                        .collect();
                    let block_dots = &mut block_dots[..tile_rows * a.len()];
                    match backend {
                        Backend::Avx2(cpu) => avx2::dot_codes_tile(cpu, &w, &a, block_dots),
                        Backend::Portable => portable::dot_codes_tile(&w, &a, block_dots),
                    }
                    for r in 0..tile_rows {
                        for (j, t) in tokens.clone().enumerate() {
                            dots[r * n + t] += block_dots[r * a.len() + j];
                        }
                    }
                }
            }
            for (out_row, dot_row) in out.chunks_exact_mut(n).zip(dots.chunks_exact(n)) {
                for t in 0..n {
                    let factor = 1.0 / (scale * acts.scales[t]);
                    out_row[t] = (dot_row[t] - acts.sums[t]) as f32 * factor;
                }
            }
        });
    // Token-major output, transposed in parallel strips of TRANSPOSE_TOKENS tokens: each strip
    // reads one cache line per row and writes its tokens' rows sequentially.
    let mut y = vec![0f32; n * rows];
    y.par_chunks_mut(TRANSPOSE_TOKENS * rows)
        .enumerate()
        .for_each(|(strip, out)| {
            let t0 = strip * TRANSPOSE_TOKENS;
            let tokens = out.len() / rows;
            for r in 0..rows {
                let from = &transposed[r * n + t0..r * n + t0 + tokens];
                for (j, &v) in from.iter().enumerate() {
                    out[j * rows + r] = v;
                }
            }
        });
    y
}

/// Tokens per strip of the final transpose (16 f32 = one 64-byte cache line per row).
const TRANSPOSE_TOKENS: usize = 16;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kernels::Avx2Token;
    use rand::{Rng, SeedableRng};
    use rand_chacha::ChaCha8Rng;

    /// Every path (row-tiled portable and AVX2, pair-interleaved AVX2) returns the same values
    /// for random codes, at shapes that leave partial row groups, token tiles and K tiles.
    #[test]
    fn row_tiled_and_pair_paths_agree_exactly() {
        let mut rng = ChaCha8Rng::seed_from_u64(9);
        for &(rows, k, n, k_tile) in &[
            (1, 128, 2, 128),
            (33, 256, 5, 128),
            (70, 384, 23, 256),
            (130, 128, 67, 128),
        ] {
            let codes: Vec<u8> = (0..rows * k).map(|_| rng.random_range(0..=2)).collect();
            let x: Vec<f32> = (0..n * k).map(|_| rng.random_range(-3.0..3.0)).collect();
            let acts = QuantizedActivations::quantize(&x, n, k, 128, Backend::Portable);
            let unpack = |row: usize, k0: usize, out: &mut [u8]| {
                assert!(out.len() <= k_tile, "unpack asked for more than a K tile");
                out.copy_from_slice(&codes[row * k + k0..row * k + k0 + out.len()]);
            };
            let portable = row_tiled_matmat(rows, 0.7, &acts, Backend::Portable, k_tile, unpack);
            // The exact integers, scaled like the kernels do.
            for t in 0..n {
                for r in 0..rows {
                    let dot: i32 = (0..k)
                        .map(|i| i32::from(codes[r * k + i]) * i32::from(acts.token(t)[i]))
                        .sum();
                    let factor = 1.0 / (0.7f32 * acts.scales[t]);
                    let want = (dot - acts.sums[t]) as f32 * factor;
                    assert_eq!(portable[t * rows + r], want, "{rows}x{k} n={n} t={t} r={r}");
                }
            }
            if let Some(cpu) = Avx2Token::detect() {
                let tiled = row_tiled_matmat(rows, 0.7, &acts, Backend::Avx2(cpu), k_tile, unpack);
                assert_eq!(tiled, portable, "row-tiled AVX2, {rows}x{k} n={n}");
                assert!(fits_pair_path(rows, k));
                let pairs = pair_matmat(cpu, rows, 0.7, &acts, k_tile, unpack);
                assert_eq!(pairs, portable, "pair path, {rows}x{k} n={n}");
            }
        }
        assert!(!fits_pair_path(4096, 4096), "large matrices stay row-tiled");
    }
}
