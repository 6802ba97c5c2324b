//! AVX2 code of the ternary kernels: the loops every layout implements ([`Avx2Loops`]), the
//! matrix-vector row skeleton they share ([`packed_row_dot`]), the safe wrappers around them
//! ([`dot_packed_rows`], [`unpack`]), the register-tiled dot products of
//! unpacked codes of the matrix-matrix paths ([`dot_codes_tile`], [`dot_pairs`]) and the
//! horizontal sum [`hsum_epi32`] (BitNet b1.58 ternary weights, Ma et al. 2024, in the
//! `maddubs` route of bitnet.cpp's I2_S and ggml's TQ2_0 kernels).
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
#[cfg(not(target_arch = "x86_64"))]
use super::portable;
use super::Avx2Token;
use crate::kernels::ternary_layout::{TernaryFormat, TernaryLayout};
#[cfg(target_arch = "x86_64")]
use std::arch::x86_64::*;

/// 32-byte steps accumulated in i16 before widening to i32 (see the module docs).
#[cfg(target_arch = "x86_64")]
const FLUSH_CHUNKS: usize = 32;

/// Bytes the matrix-vector loops prefetch ahead of the block they read.
#[cfg(target_arch = "x86_64")]
pub(crate) const PREFETCH_AHEAD: usize = 2048;

/// A ternary layout's AVX2 inner loops. Their safe entry points are [`dot_packed_rows`] and
/// [`unpack`], which check the contracts below. (On other architectures the trait has no
/// methods and every layout has it.)
pub trait Avx2Loops: TernaryFormat {
    /// `sum_k c_k a_k` over the packed row `all[start..start + len]` (codes `c = w + 1`) and
    /// its activations in the layout's form, prefetching ahead within `all`.
    ///
    /// # Safety
    /// The CPU must support AVX2; `start + len <= all.len()`, `len` is a multiple of
    /// `BLOCK_BYTES` and `a.len() >= WEIGHTS_PER_BYTE * len`.
    #[cfg(target_arch = "x86_64")]
    unsafe fn dot_packed_row_avx2(
        all: &[u8],
        start: usize,
        len: usize,
        a: &[Self::Activation],
    ) -> i32;

    /// Unpacks whole blocks of one row to one code byte `w + 1` per weight, in column order.
    ///
    /// # Safety
    /// The CPU must support AVX2; `packed.len()` is a multiple of `BLOCK_BYTES` and
    /// `out.len() >= WEIGHTS_PER_BYTE * packed.len()`.
    #[cfg(target_arch = "x86_64")]
    unsafe fn unpack_avx2(packed: &[u8], out: &mut [u8]);
}

#[cfg(not(target_arch = "x86_64"))]
impl<L: TernaryFormat> Avx2Loops for L {}

/// The matrix-vector row loop every layout's AVX2 dot product runs, a macro so that it expands
/// inside the layout's `#[target_feature(enable = "avx2")]` function, with the layout's
/// constants and block body, into the same instructions as if written out there (a closure
/// would not be sure to inherit the target feature).
///
/// `packed_row_dot!(all, start, len, block_bytes, flush, |i, bytes| body)` walks the
/// `len / block_bytes` blocks of the packed row `all[start..start + len]`: every second block
/// it prefetches [`PREFETCH_AHEAD`] bytes ahead (clamped to `all`), loads block `i`'s 32 bytes
/// as `bytes` and adds the two i16 vectors `body` returns into two accumulators; after at most
/// `flush` blocks (the layout's bound against i16 overflow) it widens both into i32 lanes with
/// `_mm256_madd_epi16` by 1. Evaluates to the i32 lanes; the caller reduces them with
/// [`hsum_epi32`]. Must run inside an `unsafe` AVX2 function that guarantees the reads.
#[cfg(target_arch = "x86_64")]
macro_rules! packed_row_dot {
    ($all:expr, $start:expr, $len:expr, $block_bytes:expr, $flush:expr,
     |$i:ident, $bytes:ident| $body:expr) => {{
        use std::arch::x86_64::*;
        let (all, start): (&[u8], usize) = ($all, $start);
        let ones = _mm256_set1_epi16(1);
        let blocks = $len / $block_bytes;
        let last_line = all.len().saturating_sub(1);
        let w = all.as_ptr().add(start);
        let mut acc32 = _mm256_setzero_si256();
        let mut b = 0;
        while b < blocks {
            let end = (b + $flush).min(blocks);
            let (mut first, mut second) = (_mm256_setzero_si256(), _mm256_setzero_si256());
            for $i in b..end {
                if $i % 2 == 0 {
                    let ahead =
                        (start + $i * $block_bytes + $crate::kernels::isa::avx2::PREFETCH_AHEAD)
                            .min(last_line);
                    _mm_prefetch::<_MM_HINT_T0>(all.as_ptr().add(ahead).cast());
                }
                let $bytes = _mm256_loadu_si256(w.add($i * $block_bytes).cast());
                let (p, q) = $body;
                first = _mm256_add_epi16(first, p);
                second = _mm256_add_epi16(second, q);
            }
            acc32 = _mm256_add_epi32(acc32, _mm256_madd_epi16(first, ones));
            acc32 = _mm256_add_epi32(acc32, _mm256_madd_epi16(second, ones));
            b = end;
        }
        acc32
    }};
}
#[cfg(target_arch = "x86_64")]
pub(crate) use packed_row_dot;

/// `out[r] = sum_k c_rk a_k` for consecutive packed rows of `row_len` bytes each in layout `L`
/// (codes `c = w + 1`, activations in the layout's form), with software prefetch ahead through
/// the rows (hardware prefetchers stop at 4 KiB pages, and a 16384-wide row is exactly one
/// page).
pub(crate) fn dot_packed_rows<L: TernaryLayout>(
    _cpu: Avx2Token,
    packed: &[u8],
    row_len: usize,
    a: &[L::Activation],
    out: &mut [i32],
) {
    assert!(row_len % L::BLOCK_BYTES == 0 && row_len * L::WEIGHTS_PER_BYTE == a.len());
    assert_eq!(
        packed.len(),
        row_len * out.len(),
        "one output per packed row"
    );
    for (r, o) in out.iter_mut().enumerate() {
        #[cfg(target_arch = "x86_64")]
        {
            // SAFETY: AVX2 proven by `_cpu`; reads row `r` (`row_len` bytes, inside `packed` by
            // the assertion above) and `WEIGHTS_PER_BYTE * row_len` activations of `a`, the
            // length asserted above; prefetch addresses are clamped to `packed` (and
            // prefetching never faults anyway).
            *o = unsafe { L::dot_packed_row_avx2(packed, r * row_len, row_len, a) };
        }
        #[cfg(not(target_arch = "x86_64"))]
        {
            *o = L::dot_packed_row(&packed[r * row_len..(r + 1) * row_len], a);
        }
    }
}

/// Unpacks whole blocks of one row in layout `L` to one code byte (`w + 1`) per weight, in
/// column order (see [`TernaryLayout::unpack`]).
pub(crate) fn unpack<L: TernaryLayout>(_cpu: Avx2Token, packed: &[u8], out: &mut [u8]) {
    #[cfg(target_arch = "x86_64")]
    {
        assert!(
            packed.len() % L::BLOCK_BYTES == 0 && packed.len() * L::WEIGHTS_PER_BYTE == out.len()
        );
        // SAFETY: AVX2 proven by `_cpu`; reads `packed.len()` bytes and writes
        // `WEIGHTS_PER_BYTE * packed.len()` bytes of `out`, the lengths asserted above.
        unsafe { L::unpack_avx2(packed, out) }
    }
    #[cfg(not(target_arch = "x86_64"))]
    L::unpack(packed, out)
}

/// `dots[r * a.len() + t] = sum_k w[r][k] a[t][k]` for unpacked codes and activations of one
/// common length, a multiple of 32; runs 2-row x 4-token register tiles (smaller at the edges).
pub(crate) fn dot_codes_tile(_cpu: Avx2Token, w: &[&[u8]], a: &[&[i8]], dots: &mut [i32]) {
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
    portable::dot_codes_tile(w, a, dots)
}

/// `dots[t * padded_rows + r] = sum_k code[r][k] a[t][k]` for codes in the pair-interleaved
/// layout of [`crate::kernels::pair_matmat`] (`[group][k / 2][32][2]`, `padded_rows = pairs.len() / k`)
/// and `a.len()` tokens of `k` activations each. Each step multiplies 16 rows' weight pair by a
/// broadcast activation pair; i16 lanes take at most [`FLUSH_CHUNKS`] steps (|sum| <= 32 *
/// 512) before they are sign-extended into `dots`.
pub(crate) fn dot_pairs(_cpu: Avx2Token, pairs: &[u8], k: usize, a: &[&[i8]], dots: &mut [i32]) {
    use crate::kernels::pair_matmat::PAIR_ROWS;
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
    // SAFETY: the caller upholds this function's safety contract in its doc comment (the CPU has AVX2, checked
    // by the token of the safe wrapper that calls it, and the lengths it states), which is what
    // every load, store and pointer offset below relies on.
    unsafe {
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
}

/// Tokens per register tile of the matrix-matrix loop (2 rows x 6 tokens: 12 i16 accumulators,
/// 2 weight and 1 activation registers of the 16).
#[cfg(target_arch = "x86_64")]
const TILE_TOKENS: usize = 6;

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
    // SAFETY: the caller upholds this function's safety contract in its doc comment (the CPU has AVX2, checked
    // by the token of the safe wrapper that calls it, and the lengths it states), which is what
    // every load, store and pointer offset below relies on.
    unsafe {
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
                        acc16[r][t] =
                            _mm256_add_epi16(acc16[r][t], _mm256_maddubs_epi16(wv[r], av));
                    }
                }
            }
            for r in 0..R {
                for t in 0..T {
                    acc32[r][t] =
                        _mm256_add_epi32(acc32[r][t], _mm256_madd_epi16(acc16[r][t], ones));
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
}

/// Sum of the eight i32 lanes.
///
/// # Safety
/// The CPU must support AVX2.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
#[inline]
pub(crate) unsafe fn hsum_epi32(v: __m256i) -> i32 {
    let s = _mm_add_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1));
    let s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0b01_00_11_10));
    let s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0b10_11_00_01));
    _mm_cvtsi128_si32(s)
}
