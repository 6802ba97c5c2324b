//! int8 weights through libtorch's packed weight-only kernel `_weight_int8pack_mm`: int8 codes
//! `[rows, cols]` with one scale per row, bf16 activations (ANCHORS.md: its AVX2 path is
//! bf16-only; with f32 activations it is 5x slower than fp32). The product comes back in bf16,
//! so results carry bf16 rounding (8 significant bits) against the f32 reference.
use super::linear_kernel::{KernelContext, LinearKernel, MacArithmetic};
use super::Backend;
use crate::{Error, Result};
use tch::{Kind, Tensor};

/// Symmetric int8 weights resident as libtorch's int8 `[rows, cols]` plus bf16 row scales.
#[derive(Debug)]
pub struct TorchInt8Pack {
    codes: Tensor,
    scales: Tensor,
}

impl TorchInt8Pack {
    /// Whether the kernel runs a `[rows, cols]` weight. libtorch 2.13's `_weight_int8pack_mm`
    /// crashed (SIGSEGV) with K = 300 and several tokens in our runs, and ran at K = 256, 320
    /// and 384; bitlab therefore uses it only where K is a multiple of 64.
    pub fn supports(_rows: usize, cols: usize) -> bool {
        cols > 0 && cols % 64 == 0
    }

    /// Builds the kernel from `codes` (`rows * cols`, row-major, in [-127, 127]) and one scale
    /// per row (a weight is `code * scale`). Errors on a length mismatch or an unsupported shape.
    pub fn new(codes: &[i8], scales: &[f32], rows: usize, cols: usize) -> Result<Self> {
        if codes.len() != rows * cols || scales.len() != rows || !Self::supports(rows, cols) {
            return Err(Error::Invalid(format!(
                "int8pack needs rows*cols codes, one scale per row and K a multiple of 64; got \
                 {} codes and {} scales for {rows}x{cols}",
                codes.len(),
                scales.len()
            )));
        }
        let codes = Tensor::from_slice(codes).view([rows as i64, cols as i64]);
        let scales = Tensor::from_slice(scales).to_kind(Kind::BFloat16);
        Ok(Self { codes, scales })
    }
}

impl LinearKernel for TorchInt8Pack {
    fn rows(&self) -> usize {
        self.codes.size()[0] as usize
    }
    fn cols(&self) -> usize {
        self.codes.size()[1] as usize
    }
    fn forward(&self, x: &Tensor, _ctx: &KernelContext) -> Result<Tensor> {
        x.f_to_kind(Kind::BFloat16)
            .and_then(|x| x.f_internal_weight_int8pack_mm(&self.codes, &self.scales))
            .and_then(|y| y.f_to_kind(Kind::Float))
            .map_err(|e| Error::torch("libtorch int8pack matmul", e))
    }
    fn resident_bytes(&self) -> usize {
        self.codes.numel() + 2 * self.scales.numel()
    }
    fn kernel_name(&self, _backend: Backend) -> String {
        "libtorch-int8pack-bf16".into()
    }
    /// Weights are widened to multiply bf16 activations: 16-bit float arithmetic.
    fn arithmetic(&self) -> MacArithmetic {
        MacArithmetic::Fp16MulAdd
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kernels::reference::{assert_kernel_matches_dense, random_input, round_through};
    use proptest::prelude::*;
    use rand::Rng;
    use rand::SeedableRng;
    use rand_chacha::ChaCha8Rng;

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(12))]
        /// bf16 activations, scales and outputs: each rounds within 2^-9 relative, so 2^-6 of
        /// the absolute sum is ample.
        #[test]
        fn matches_the_f64_reference_on_bf16_inputs(
            rows in 1usize..40, blocks in 1usize..5, n in 1usize..9, seed in 0u64..1000,
        ) {
            let cols = 64 * blocks;
            let mut rng = ChaCha8Rng::seed_from_u64(seed);
            let codes: Vec<i8> = (0..rows * cols).map(|_| rng.random_range(-127..=127)).collect();
            let scales: Vec<f32> = (0..rows).map(|_| rng.random_range(1e-3f32..1.0)).collect();
            let kernel = TorchInt8Pack::new(&codes, &scales, rows, cols).unwrap();
            let scales = round_through(&scales, Kind::BFloat16);
            let x = random_input(n, cols, seed + 1);
            let x = round_through(&x, Kind::BFloat16);
            assert_kernel_matches_dense(
                &kernel,
                &x,
                n,
                |r, k| f64::from(codes[r * cols + k]) * f64::from(scales[r]),
                1.0 / 64.0,
            );
        }
    }

    #[test]
    fn shapes_the_kernel_cannot_run_are_refused() {
        assert!(!TorchInt8Pack::supports(8, 300));
        assert!(TorchInt8Pack::new(&[0; 8 * 300], &[1.0; 8], 8, 300).is_err());
        assert!(TorchInt8Pack::new(&[0; 8 * 64], &[1.0; 7], 8, 64).is_err());
    }
}
