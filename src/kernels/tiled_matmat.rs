//! The matrix-matrix (prefill) driver shared by the ternary layouts: each rayon task owns
//! [`ROW_TILE`] output rows, unpacks their weights one K tile at a time into one byte per code
//! (`w + 1`, the layout-specific part, given as a closure), and runs every block of
//! [`TOKEN_BLOCK`] tokens against that tile with the register-tiled integer dot products of
//! [`super::ternary_avx2::dot_codes_tile`] (or the portable equivalent). Results are exact
//! integer sums `sum (w + 1) a - sum a`, scaled once per output by `1 / (s * s_x)` (BitNet b1.58
//! absmean weight scale `s`, per-token activation scale `s_x`).
use rayon::prelude::*;

use super::activations::QuantizedActivations;
use super::{ternary_avx2, ternary_portable, Backend};

/// Output rows per parallel task (its unpacked codes, `ROW_TILE x k_tile` bytes of about
/// 128 KiB, stay in the L2 cache).
pub(crate) const ROW_TILE: usize = 64;
/// Tokens per token block (`TOKEN_BLOCK x k_tile` activation bytes, in the L2 cache next to the
/// weight tile).
pub(crate) const TOKEN_BLOCK: usize = 64;

/// `y = x W^T` (`[n, rows]`, row-major by token) for a `rows x acts.padded_k` ternary matrix with
/// scale `scale`. `unpack(row, k0, out)` writes the codes `w + 1` of weights `k0..k0 +
/// out.len()` of `row`; `k_tile` (a multiple of the layout's block) bounds `out.len()`.
pub(crate) fn tiled_matmat(
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
                        Backend::Avx2(cpu) => ternary_avx2::dot_codes_tile(cpu, &w, &a, block_dots),
                        Backend::Portable => ternary_portable::dot_codes_tile(&w, &a, block_dots),
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
                    let factor = 1.0 / (f64::from(scale) * f64::from(acts.scales[t]));
                    out_row[t] = (f64::from(dot_row[t] - acts.sums[t]) * factor) as f32;
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
