//! Per-token 8-bit activation quantization for the integer kernels, exactly BitNet b1.58's
//! (Ma et al., 2024, "Training Tips, Code and FAQ"): `s = 127 / max|x|.clamp(min=1e-5)`,
//! `q = clamp(round(x * s), -128, 127)`, computed in f32 with round-half-to-even like libtorch,
//! so the codes equal those of the QAT fake quantizer (quant's
//! `int8::quantize_activation_int8_per_token`; quant's tests cross-check the two).
//!
//! Each token's codes are padded with zeros to the kernel's block multiple, so padded weight
//! codes contribute nothing; the per-token code sum is kept for the `(w + 1)` code trick
//! (`sum (c - 1) a = sum c a - sum a`).

use rayon::prelude::*;

use super::{Avx2Token, Backend};

/// int8 activations of `n` tokens, each padded to `padded_k` codes.
#[derive(Debug, Clone, PartialEq)]
pub struct QuantizedActivations {
    /// Number of tokens.
    pub n: usize,
    /// Logical inner dimension (codes per token before padding).
    pub k: usize,
    /// Codes per token in `codes` (a multiple of the kernel's block).
    pub padded_k: usize,
    /// `n * padded_k` codes, token-major, zero beyond `k`.
    pub codes: Vec<i8>,
    /// Per-token multiplier `s` (a value is `code / s`).
    pub scales: Vec<f32>,
    /// Per-token sum of the codes.
    pub sums: Vec<i32>,
}

/// Rounds half to even like `f32::round_ties_even`, for `|v| < 2^22` (scaled activations lie in
/// [-127, 127]): adding and subtracting 1.5 * 2^23 leaves no fraction bits, and the default
/// rounding mode rounds ties to even. Unlike `round_ties_even`, which without SSE4.1 at compile
/// time is a libm call per value, this vectorizes.
fn round_half_even(v: f32) -> f32 {
    const MAGIC: f32 = 12_582_912.0;
    (v + MAGIC) - MAGIC
}

/// The lower bound BitNet b1.58 clamps `max|x|` to, so an all-zero token gets a finite scale.
const ABSMAX_FLOOR: f32 = 1e-5;

impl QuantizedActivations {
    /// Quantizes `x` (`n * k` values, token-major) with codes padded to a multiple of `block`.
    ///
    /// Panics when `x.len() != n * k` or `block == 0` (a caller bug, not user input).
    pub fn quantize(x: &[f32], n: usize, k: usize, block: usize, backend: Backend) -> Self {
        assert_eq!(x.len(), n * k, "activations must hold n * k values");
        assert!(block > 0, "block must be positive");
        let padded_k = k.div_ceil(block) * block;
        let mut codes = vec![0i8; n * padded_k];
        let mut scales = vec![1f32; n];
        let mut sums = vec![0i32; n];
        // Tokens are independent: split them over the current rayon pool (a prefill quantizes
        // millions of values; one token stays on this thread).
        codes
            .par_chunks_exact_mut(padded_k.max(1))
            .zip(x.par_chunks_exact(k.max(1)))
            .zip(scales.par_iter_mut().zip(sums.par_iter_mut()))
            .with_min_len(8)
            .for_each(|((out, token), (scale, sum))| {
                (*scale, *sum) = match backend {
                    Backend::Avx2(cpu) => quantize_token_avx2(cpu, token, &mut out[..k]),
                    Backend::Portable => quantize_token(token, &mut out[..k]),
                };
            });
        Self {
            n,
            k,
            padded_k,
            codes,
            scales,
            sums,
        }
    }

    /// The padded codes of token `t`.
    pub fn token(&self, t: usize) -> &[i8] {
        &self.codes[t * self.padded_k..(t + 1) * self.padded_k]
    }
}

/// Quantizes one token into `out`; returns its scale and code sum.
fn quantize_token(token: &[f32], out: &mut [i8]) -> (f32, i32) {
    let absmax = token.iter().fold(0f32, |m, v| m.max(v.abs()));
    let scale = 127.0f32 / absmax.max(ABSMAX_FLOOR);
    let mut sum = 0i32;
    for (q, &v) in out.iter_mut().zip(token) {
        *q = round_half_even(v * scale).clamp(-128.0, 127.0) as i8;
        sum += i32::from(*q);
    }
    (scale, sum)
}

/// [`quantize_token`] with AVX2: the same codes, scale and sum (`_mm256_cvtps_epi32` rounds half
/// to even under the default rounding mode, the packs saturate like the clamp, and NaN lanes
/// are zeroed first, as the scalar cast makes them 0).
fn quantize_token_avx2(_cpu: Avx2Token, token: &[f32], out: &mut [i8]) -> (f32, i32) {
    assert_eq!(token.len(), out.len(), "one code per value");
    #[cfg(target_arch = "x86_64")]
    {
        // SAFETY: AVX2 proven by `_cpu`; reads `token.len()` values and writes as many codes,
        // the lengths asserted equal above.
        unsafe { quantize_token_avx2_inner(token, out) }
    }
    #[cfg(not(target_arch = "x86_64"))]
    quantize_token(token, out)
}

/// # Safety
/// The CPU must support AVX2 and `out.len() == token.len()`.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn quantize_token_avx2_inner(token: &[f32], out: &mut [i8]) -> (f32, i32) {
    // SAFETY: the caller upholds this function's safety contract in its doc comment (the CPU has AVX2, checked
    // by the token of the safe wrapper that calls it, and the lengths it states), which is what
    // every load, store and pointer offset below relies on.
    unsafe {
        use std::arch::x86_64::*;
        let len = token.len();
        let full = len / 32 * 32;
        let sign = _mm256_set1_ps(-0.0);
        // max(|v|, m) keeps m when v is NaN, like f32::max.
        let mut m = _mm256_setzero_ps();
        for i in (0..len / 8 * 8).step_by(8) {
            let v = _mm256_loadu_ps(token.as_ptr().add(i));
            m = _mm256_max_ps(_mm256_andnot_ps(sign, v), m);
        }
        let mut lanes = [0f32; 8];
        _mm256_storeu_ps(lanes.as_mut_ptr(), m);
        let absmax = token[len / 8 * 8..]
            .iter()
            .chain(&lanes)
            .fold(0f32, |m, v| m.max(v.abs()));
        let scale = 127.0f32 / absmax.max(ABSMAX_FLOOR);
        let s = _mm256_set1_ps(scale);
        let ones = _mm256_set1_epi16(1);
        let mut sum = _mm256_setzero_si256();
        let to_i32 = |i: usize| {
            let v = _mm256_mul_ps(_mm256_loadu_ps(token.as_ptr().add(i)), s);
            let v = _mm256_and_ps(v, _mm256_cmp_ps::<_CMP_ORD_Q>(v, v));
            _mm256_cvtps_epi32(v)
        };
        for i in (0..full).step_by(32) {
            let (a, b, c, d) = (to_i32(i), to_i32(i + 8), to_i32(i + 16), to_i32(i + 24));
            // packs interleave 128-bit lanes; the permute restores value order.
            let ab = _mm256_packs_epi32(a, b);
            let cd = _mm256_packs_epi32(c, d);
            sum = _mm256_add_epi32(sum, _mm256_madd_epi16(_mm256_add_epi16(ab, cd), ones));
            let bytes = _mm256_permutevar8x32_epi32(
                _mm256_packs_epi16(ab, cd),
                _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7),
            );
            _mm256_storeu_si256(out.as_mut_ptr().add(i).cast(), bytes);
        }
        let mut total = [0i32; 8];
        _mm256_storeu_si256(total.as_mut_ptr().cast(), sum);
        let mut sum: i32 = total.iter().sum();
        for (q, &v) in out[full..].iter_mut().zip(&token[full..]) {
            *q = round_half_even(v * scale).clamp(-128.0, 127.0) as i8;
            sum += i32::from(*q);
        }
        (scale, sum)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kernels::reference::{random_input, reference_activations};

    #[test]
    fn every_backend_quantizes_identically_including_ties_nan_and_tails() {
        let mut rng = <rand_chacha::ChaCha8Rng as rand::SeedableRng>::seed_from_u64(4);
        for k in [1usize, 7, 8, 31, 32, 33, 100, 257] {
            for case in 0..6 {
                let mut x: Vec<f32> = (0..3 * k)
                    .map(|_| rand::Rng::random_range(&mut rng, -4.0f32..4.0))
                    .collect();
                match case {
                    // Exact ties after scaling by 127 / 127: v.5 values.
                    1 => x.iter_mut().enumerate().for_each(|(i, v)| {
                        *v = if i % k == 0 {
                            127.0
                        } else {
                            (i % 255) as f32 - 127.0 + 0.5
                        }
                    }),
                    2 => x[k / 2] = f32::NAN,
                    3 => x[k - 1] = f32::INFINITY,
                    4 => x.iter_mut().for_each(|v| *v *= 1e-7),
                    5 => x.iter_mut().for_each(|v| *v = 0.0),
                    _ => {}
                }
                let portable = QuantizedActivations::quantize(&x, 3, k, 32, Backend::Portable);
                for backend in Backend::available() {
                    let got = QuantizedActivations::quantize(&x, 3, k, 32, backend);
                    assert_eq!(got, portable, "k={k} case={case} {}", backend.name());
                }
            }
        }
    }

    #[test]
    fn rounding_matches_round_ties_even_over_the_scaled_range() {
        for i in -140_000..=140_000 {
            let v = i as f32 / 1000.0;
            assert_eq!(round_half_even(v), v.round_ties_even(), "{v}");
        }
        for v in [
            0.5f32,
            1.5,
            2.5,
            -0.5,
            -1.5,
            -2.5,
            126.5,
            -127.5,
            0.499_999_97,
        ] {
            assert_eq!(round_half_even(v), v.round_ties_even(), "{v}");
        }
    }

    #[test]
    fn codes_match_the_plain_reference_quantizer_and_padding_is_zero() {
        let (n, k) = (5, 37);
        let x = random_input(n, k, 3);
        let expected = reference_activations(&x, k);
        for backend in Backend::available() {
            let q = QuantizedActivations::quantize(&x, n, k, 32, backend);
            assert_eq!(q.padded_k, 64);
            for t in 0..n {
                let token = q.token(t);
                assert!(token[k..].iter().all(|&c| c == 0), "padding is zero");
                assert_eq!(q.sums[t], token.iter().map(|&c| i32::from(c)).sum::<i32>());
                for i in 0..k {
                    let got = f32::from(token[i]) / q.scales[t];
                    assert_eq!(got, expected[t * k + i], "token {t}, value {i}");
                }
            }
        }
    }

    #[test]
    fn zero_token_uses_the_floor_and_ties_round_to_even() {
        let q = QuantizedActivations::quantize(&[0.0; 4], 1, 4, 4, Backend::Portable);
        assert_eq!(q.scales[0], 127.0 / 1e-5);
        assert!(q.codes.iter().all(|&c| c == 0));
        // max|x| = 127 gives s = 1, so 2.5 -> 2 and -0.5 -> 0 (half to even, as libtorch).
        let q =
            QuantizedActivations::quantize(&[127.0, 2.5, -0.5, 3.5], 1, 4, 4, Backend::Portable);
        assert_eq!(q.codes, vec![127, 2, 0, 4]);
    }
}
