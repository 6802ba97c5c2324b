//! AVX2 inner loops of the 2-bit ternary kernels.
//!
//! `_mm256_maddubs_epi16` multiplies 32 unsigned bytes (the codes `w + 1` in {0, 1, 2}) by 32
//! signed bytes (int8 activations in [-128, 127]) and adds adjacent pairs into 16 i16 lanes; a
//! pair lies in [-512, 508], so the instruction never saturates. Lanes accumulate in i16 for at
//! most [`FLUSH_CHUNKS`] steps (|sum| <= 32 * 512 = 16384 < 2^15), then `_mm256_madd_epi16` by 1
//! widens them to i32. The caller subtracts the activation sum (`sum (c - 1) a = sum c a -
//! sum a`). Every result is therefore the exact integer the portable loops compute.
//!
//! Every function here is safe to call: it takes an [`Avx2Token`] (proof that the CPU has AVX2)
//! and checks slice lengths before the `unsafe` loop reads through raw pointers. On other
//! architectures the token cannot exist and the functions defer to the portable loops.
#[cfg(target_arch = "x86_64")]
use super::ternary_2bit::{BLOCK, BLOCK_BYTES};
#[cfg(not(target_arch = "x86_64"))]
use super::ternary_portable;
use super::Avx2Token;
#[cfg(target_arch = "x86_64")]
use std::arch::x86_64::*;

/// 32-byte steps accumulated in i16 before widening to i32 (see the module docs).
#[cfg(target_arch = "x86_64")]
const FLUSH_CHUNKS: usize = 32;
/// Packed blocks accumulated in i16 by the matrix-vector loop: each of its two accumulators
/// takes two products per block, so 16 blocks give |sum| <= 16 * 2 * 512 = 16384.
#[cfg(target_arch = "x86_64")]
const FLUSH_BLOCKS: usize = 16;

/// `out[r] = sum_k code_rk a_k` for consecutive packed rows of `row_len` bytes each, with
/// software prefetch ahead through the rows (hardware prefetchers stop at 4 KiB pages, and a
/// 16384-wide row is exactly one page).
pub(super) fn dot_packed_rows(
    _cpu: Avx2Token,
    packed: &[u8],
    row_len: usize,
    a: &[i8],
    out: &mut [i32],
) {
    assert!(row_len % super::ternary_2bit::BLOCK_BYTES == 0 && row_len * 4 == a.len());
    assert_eq!(
        packed.len(),
        row_len * out.len(),
        "one output per packed row"
    );
    for (r, o) in out.iter_mut().enumerate() {
        #[cfg(target_arch = "x86_64")]
        {
            // SAFETY: AVX2 proven by `_cpu`; reads row `r` (`row_len` bytes, inside `packed` by
            // the assertion above) and `4 * row_len` bytes of `a`; prefetch addresses are
            // clamped to `packed` (and prefetching never faults anyway).
            *o = unsafe { dot_packed_row_prefetch_avx2(packed, r * row_len, row_len, a) };
        }
        #[cfg(not(target_arch = "x86_64"))]
        {
            *o = ternary_portable::dot_packed_row(&packed[r * row_len..(r + 1) * row_len], a);
        }
    }
}

/// Unpacks whole blocks of one row to one code byte per weight (see
/// [`super::ternary_portable::unpack`]).
pub(super) fn unpack(_cpu: Avx2Token, packed: &[u8], out: &mut [u8]) {
    #[cfg(target_arch = "x86_64")]
    {
        assert!(packed.len() % BLOCK_BYTES == 0 && packed.len() * 4 == out.len());
        // SAFETY: AVX2 proven by `_cpu`; reads `packed.len()` bytes and writes `4 *
        // packed.len()` bytes of `out`, the lengths asserted above.
        unsafe { unpack_avx2(packed, out) }
    }
    #[cfg(not(target_arch = "x86_64"))]
    ternary_portable::unpack(packed, out)
}

/// `dots[r * a.len() + t] = sum_k w[r][k] a[t][k]` for unpacked codes and activations of one
/// common length, a multiple of 32; runs 2-row x 4-token register tiles (smaller at the edges).
pub(super) fn dot_codes_tile(_cpu: Avx2Token, w: &[&[u8]], a: &[&[i8]], dots: &mut [i32]) {
    #[cfg(target_arch = "x86_64")]
    {
        assert_eq!(dots.len(), w.len() * a.len(), "one dot per row and token");
        let len = w.first().map_or(0, |row| row.len());
        assert!(len % 32 == 0, "length must be a multiple of 32");
        assert!(
            w.iter().all(|row| row.len() == len) && a.iter().all(|tok| tok.len() == len),
            "codes and activations must share one length"
        );
        let (chunks, tokens) = (len / 32, a.len());
        macro_rules! run_tile {
            ($r0:expr, $t0:expr, $R:literal, $T:literal) => {{
                let wp: [*const u8; $R] = std::array::from_fn(|i| w[$r0 + i].as_ptr());
                let ap: [*const i8; $T] = std::array::from_fn(|j| a[$t0 + j].as_ptr());
                // SAFETY: AVX2 proven by `_cpu`; every pointer starts a slice of `32 * chunks`
                // bytes (asserted above) and the tile reads exactly that many from each.
                let out = unsafe { tile_avx2::<$R, $T>(wp, ap, chunks) };
                for i in 0..$R {
                    for j in 0..$T {
                        dots[($r0 + i) * tokens + $t0 + j] = out[i][j];
                    }
                }
            }};
        }
        for t0 in (0..tokens).step_by(TILE_TOKENS) {
            for r0 in (0..w.len()).step_by(2) {
                let rows = (w.len() - r0).min(2);
                match (rows, (tokens - t0).min(TILE_TOKENS)) {
                    (2, 6) => run_tile!(r0, t0, 2, 6),
                    (2, 5) => run_tile!(r0, t0, 2, 5),
                    (2, 4) => run_tile!(r0, t0, 2, 4),
                    (2, 3) => run_tile!(r0, t0, 2, 3),
                    (2, 2) => run_tile!(r0, t0, 2, 2),
                    (2, _) => run_tile!(r0, t0, 2, 1),
                    (_, 6) => run_tile!(r0, t0, 1, 6),
                    (_, 5) => run_tile!(r0, t0, 1, 5),
                    (_, 4) => run_tile!(r0, t0, 1, 4),
                    (_, 3) => run_tile!(r0, t0, 1, 3),
                    (_, 2) => run_tile!(r0, t0, 1, 2),
                    (_, _) => run_tile!(r0, t0, 1, 1),
                }
            }
        }
    }
    #[cfg(not(target_arch = "x86_64"))]
    ternary_portable::dot_codes_tile(w, a, dots)
}

/// `dots[t * padded_rows + r] = sum_k code[r][k] a[t][k]` for codes in the pair-interleaved
/// layout of [`super::pair_matmat`] (`[group][k / 2][32][2]`, `padded_rows = pairs.len() / k`)
/// and `a.len()` tokens of `k` activations each. Each step multiplies 16 rows' weight pair by a
/// broadcast activation pair; i16 lanes take at most [`FLUSH_CHUNKS`] steps (|sum| <= 32 *
/// 512) before they are sign-extended into `dots`.
pub(super) fn dot_pairs(_cpu: Avx2Token, pairs: &[u8], k: usize, a: &[&[i8]], dots: &mut [i32]) {
    use super::pair_matmat::PAIR_ROWS;
    assert!(
        k % 2 == 0 && k > 0,
        "an even, positive number of weights per row"
    );
    assert_eq!(pairs.len() % (k * PAIR_ROWS), 0, "whole groups of rows");
    assert!(a.iter().all(|t| t.len() >= k), "k activations per token");
    let padded_rows = pairs.len() / k;
    assert_eq!(
        dots.len(),
        a.len() * padded_rows,
        "one dot per row and token"
    );
    dots.fill(0);
    #[cfg(target_arch = "x86_64")]
    {
        for g in 0..padded_rows / PAIR_ROWS {
            let group = &pairs[g * k * PAIR_ROWS..(g + 1) * k * PAIR_ROWS];
            for t0 in (0..a.len()).step_by(PAIR_TILE_TOKENS) {
                let tokens = (a.len() - t0).min(PAIR_TILE_TOKENS);
                let out = |j: usize| (t0 + j) * padded_rows + g * PAIR_ROWS;
                macro_rules! run {
                    ($T:literal) => {{
                        let ap: [*const i8; $T] = std::array::from_fn(|j| a[t0 + j].as_ptr());
                        let op: [usize; $T] = std::array::from_fn(out);
                        let mut acc = [[0i32; PAIR_ROWS]; $T];
                        // SAFETY: AVX2 proven by `_cpu`; `group` holds `k / 2` steps of 64
                        // bytes and every activation pointer `k` bytes (asserted above).
                        unsafe { pair_tile_avx2::<$T>(group.as_ptr(), k / 2, ap, &mut acc) };
                        for j in 0..$T {
                            dots[op[j]..op[j] + PAIR_ROWS].copy_from_slice(&acc[j]);
                        }
                    }};
                }
                match tokens {
                    4 => run!(4),
                    3 => run!(3),
                    2 => run!(2),
                    _ => run!(1),
                }
            }
        }
    }
    #[cfg(not(target_arch = "x86_64"))]
    for (t, token) in a.iter().enumerate() {
        for (i, pair) in pairs.chunks_exact(2).enumerate() {
            let (g, rest) = (i / (k / 2 * PAIR_ROWS), i % (k / 2 * PAIR_ROWS));
            let (kp, r) = (rest / PAIR_ROWS, rest % PAIR_ROWS);
            dots[t * padded_rows + g * PAIR_ROWS + r] += i32::from(pair[0])
                * i32::from(token[2 * kp])
                + i32::from(pair[1]) * i32::from(token[2 * kp + 1]);
        }
    }
}

/// Tokens per register tile of [`dot_pairs`] (4 tokens x 2 row vectors: 8 i16 accumulators).
#[cfg(target_arch = "x86_64")]
const PAIR_TILE_TOKENS: usize = 4;

/// One group of 32 rows against `T` tokens over `steps` weight pairs.
///
/// # Safety
/// The CPU must support AVX2; `group` must be valid for `64 * steps` bytes and every pointer
/// in `a` for `2 * steps` bytes.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn pair_tile_avx2<const T: usize>(
    group: *const u8,
    steps: usize,
    a: [*const i8; T],
    out: &mut [[i32; 32]; T],
) {
    let mut s = 0;
    while s < steps {
        let end = (s + FLUSH_CHUNKS).min(steps);
        let mut acc = [[_mm256_setzero_si256(); 2]; T];
        for p in s..end {
            let w0 = _mm256_loadu_si256(group.add(64 * p).cast());
            let w1 = _mm256_loadu_si256(group.add(64 * p + 32).cast());
            for t in 0..T {
                let pair = std::ptr::read_unaligned(a[t].add(2 * p).cast::<i16>());
                let b = _mm256_set1_epi16(pair);
                acc[t][0] = _mm256_add_epi16(acc[t][0], _mm256_maddubs_epi16(w0, b));
                acc[t][1] = _mm256_add_epi16(acc[t][1], _mm256_maddubs_epi16(w1, b));
            }
        }
        for t in 0..T {
            for (v, lanes) in acc[t].iter().enumerate() {
                let low = _mm256_cvtepi16_epi32(_mm256_castsi256_si128(*lanes));
                let high = _mm256_cvtepi16_epi32(_mm256_extracti128_si256(*lanes, 1));
                for (half, wide) in [low, high].into_iter().enumerate() {
                    let dst = out[t].as_mut_ptr().add(16 * v + 8 * half).cast::<__m256i>();
                    _mm256_storeu_si256(dst, _mm256_add_epi32(_mm256_loadu_si256(dst), wide));
                }
            }
        }
        s = end;
    }
}

/// Tokens per register tile of the matrix-matrix loop (2 rows x 6 tokens: 12 i16 accumulators,
/// 2 weight and 1 activation registers of the 16).
#[cfg(target_arch = "x86_64")]
const TILE_TOKENS: usize = 6;

/// Bytes the matrix-vector loop prefetches ahead of the block it reads.
#[cfg(target_arch = "x86_64")]
const PREFETCH_AHEAD: usize = 2048;

/// `sum_k code_k a_k` over the packed row `all[start..start + len]`, prefetching up to
/// [`PREFETCH_AHEAD`] bytes ahead within `all`.
///
/// # Safety
/// The CPU must support AVX2; `start + len <= all.len()`, `len` is a multiple of
/// [`BLOCK_BYTES`] and `a.len() >= 4 * len`.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn dot_packed_row_prefetch_avx2(all: &[u8], start: usize, len: usize, a: &[i8]) -> i32 {
    let mask = _mm256_set1_epi8(0b11);
    let ones = _mm256_set1_epi16(1);
    let blocks = len / BLOCK_BYTES;
    let last_line = all.len().saturating_sub(1);
    let (w, a) = (all.as_ptr().add(start), a.as_ptr());
    let mut acc32 = _mm256_setzero_si256();
    let mut b = 0;
    while b < blocks {
        let end = (b + FLUSH_BLOCKS).min(blocks);
        let (mut low, mut high) = (_mm256_setzero_si256(), _mm256_setzero_si256());
        for i in b..end {
            if i % 2 == 0 {
                let ahead = (start + i * BLOCK_BYTES + PREFETCH_AHEAD).min(last_line);
                _mm_prefetch::<_MM_HINT_T0>(all.as_ptr().add(ahead).cast());
            }
            let bytes = _mm256_loadu_si256(w.add(i * BLOCK_BYTES).cast());
            let act = a.add(i * BLOCK);
            let c0 = _mm256_and_si256(bytes, mask);
            let c1 = _mm256_and_si256(_mm256_srli_epi16(bytes, 2), mask);
            let c2 = _mm256_and_si256(_mm256_srli_epi16(bytes, 4), mask);
            let c3 = _mm256_and_si256(_mm256_srli_epi16(bytes, 6), mask);
            let p0 = _mm256_maddubs_epi16(c0, _mm256_loadu_si256(act.cast()));
            let p1 = _mm256_maddubs_epi16(c1, _mm256_loadu_si256(act.add(32).cast()));
            let p2 = _mm256_maddubs_epi16(c2, _mm256_loadu_si256(act.add(64).cast()));
            let p3 = _mm256_maddubs_epi16(c3, _mm256_loadu_si256(act.add(96).cast()));
            low = _mm256_add_epi16(low, _mm256_add_epi16(p0, p1));
            high = _mm256_add_epi16(high, _mm256_add_epi16(p2, p3));
        }
        acc32 = _mm256_add_epi32(acc32, _mm256_madd_epi16(low, ones));
        acc32 = _mm256_add_epi32(acc32, _mm256_madd_epi16(high, ones));
        b = end;
    }
    hsum_epi32(acc32)
}

/// # Safety
/// The CPU must support AVX2; `out.len() >= 4 * packed.len()` and `packed.len()` is a multiple
/// of [`BLOCK_BYTES`].
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn unpack_avx2(packed: &[u8], out: &mut [u8]) {
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

/// An `R x T` register tile of dot products over `32 * chunks` bytes.
///
/// # Safety
/// The CPU must support AVX2 and every pointer must be valid for `32 * chunks` bytes.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn tile_avx2<const R: usize, const T: usize>(
    w: [*const u8; R],
    a: [*const i8; T],
    chunks: usize,
) -> [[i32; T]; R] {
    let ones = _mm256_set1_epi16(1);
    let mut acc32 = [[_mm256_setzero_si256(); T]; R];
    let mut c = 0;
    while c < chunks {
        let end = (c + FLUSH_CHUNKS).min(chunks);
        let mut acc16 = [[_mm256_setzero_si256(); T]; R];
        for i in c..end {
            let mut wv = [_mm256_setzero_si256(); R];
            for r in 0..R {
                wv[r] = _mm256_loadu_si256(w[r].add(32 * i).cast());
            }
            for t in 0..T {
                let av = _mm256_loadu_si256(a[t].add(32 * i).cast());
                for r in 0..R {
                    acc16[r][t] = _mm256_add_epi16(acc16[r][t], _mm256_maddubs_epi16(wv[r], av));
                }
            }
        }
        for r in 0..R {
            for t in 0..T {
                acc32[r][t] = _mm256_add_epi32(acc32[r][t], _mm256_madd_epi16(acc16[r][t], ones));
            }
        }
        c = end;
    }
    let mut out = [[0i32; T]; R];
    for r in 0..R {
        for t in 0..T {
            out[r][t] = hsum_epi32(acc32[r][t]);
        }
    }
    out
}

/// Sum of the eight i32 lanes.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn hsum_epi32(v: __m256i) -> i32 {
    let s = _mm_add_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1));
    let s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0b01_00_11_10));
    let s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0b10_11_00_01));
    _mm_cvtsi128_si32(s)
}
