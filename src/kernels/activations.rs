//! Per-token 8-bit activation quantization for the integer kernels, exactly BitNet b1.58's
//! (Ma et al., 2024, "Training Tips, Code and FAQ"): `s = 127 / max|x|.clamp(min=1e-5)`,
//! `q = clamp(round(x * s), -128, 127)`, computed in f32 with round-half-to-even like libtorch,
//! so the codes equal those of [`crate::quant::int8::quantize_activation_int8_per_token`].
//!
//! Each token's codes are padded with zeros to the kernel's block multiple, so padded weight
//! codes contribute nothing; the per-token code sum is kept for the `(w + 1)` code trick
//! (`sum (c - 1) a = sum c a - sum a`).

use rayon::prelude::*;

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
    pub fn quantize(x: &[f32], n: usize, k: usize, block: usize) -> Self {
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
                (*scale, *sum) = quantize_token(token, &mut out[..k]);
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::quant::int8::quantize_activation_int8_per_token;
    use tch::{Kind, Tensor};

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
    fn codes_match_the_qat_fake_quantizer() {
        tch::manual_seed(3);
        let (n, k) = (5, 37);
        let x = Tensor::randn([n, k], (Kind::Float, tch::Device::Cpu)) * 3.0;
        let values = Vec::<f32>::try_from(&x.flatten(0, -1)).unwrap();
        let q = QuantizedActivations::quantize(&values, n as usize, k as usize, 32);
        assert_eq!(q.padded_k, 64);
        let fake =
            Vec::<f32>::try_from(&quantize_activation_int8_per_token(&x).flatten(0, -1)).unwrap();
        for t in 0..n as usize {
            let token = q.token(t);
            assert!(
                token[k as usize..].iter().all(|&c| c == 0),
                "padding is zero"
            );
            assert_eq!(q.sums[t], token.iter().map(|&c| i32::from(c)).sum::<i32>());
            for i in 0..k as usize {
                let expected = fake[t * k as usize + i];
                let got = f32::from(token[i]) / q.scales[t];
                assert!(
                    (got - expected).abs() <= 1e-6 * expected.abs().max(1.0),
                    "{got} {expected}"
                );
            }
        }
    }

    #[test]
    fn zero_token_uses_the_floor_and_ties_round_to_even() {
        let q = QuantizedActivations::quantize(&[0.0; 4], 1, 4, 4);
        assert_eq!(q.scales[0], 127.0 / 1e-5);
        assert!(q.codes.iter().all(|&c| c == 0));
        // max|x| = 127 gives s = 1, so 2.5 -> 2 and -0.5 -> 0 (half to even, as libtorch).
        let q = QuantizedActivations::quantize(&[127.0, 2.5, -0.5, 3.5], 1, 4, 4);
        assert_eq!(q.codes, vec![127, 2, 0, 4]);
    }
}
