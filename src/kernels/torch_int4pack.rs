//! int4 weights through libtorch's packed weight-only CPU kernels:
//! `_convert_weight_to_int4pack_for_cpu` repacks the nibbles at load (the packed layout depends
//! on the CPU's vector width, so it is never stored), and `_weight_int4pack_mm_for_cpu`
//! multiplies bf16 activations by them. libtorch dequantizes a nibble `q` (0..=15) of group `g`
//! as `(q - 8) * scale_g + zero_g`; bitlab's symmetric codes -7..=7 are `q - 8` with zero 0.
//! Scales are held in bf16 (the kernel's dtype) and the product comes back in bf16.
use super::linear_kernel::{KernelContext, LinearKernel, MacArithmetic};
use super::Backend;
use crate::{Error, Result};
use tch::{Kind, Tensor};

/// Inner K tiles of the packed layout (libtorch accepts 2, 4 or 8).
const INNER_K_TILES: i64 = 2;

/// Group-wise symmetric int4 weights in libtorch's CPU int4pack layout.
#[derive(Debug)]
pub struct TorchInt4Pack {
    packed: Tensor,
    /// `[groups, rows, 2]` bf16: (scale, zero = 0) per group and row.
    scales_and_zeros: Tensor,
    rows: usize,
    cols: usize,
    group_size: usize,
}

impl TorchInt4Pack {
    /// Whether the kernel runs a `[rows, cols]` weight in groups of `group_size`: libtorch takes
    /// groups of 32, 64, 128 or 256 that tile K exactly, and N in multiples of 16.
    pub fn supports(rows: usize, cols: usize, group_size: usize) -> bool {
        matches!(group_size, 32 | 64 | 128 | 256)
            && cols > 0
            && cols % group_size == 0
            && rows > 0
            && rows % 16 == 0
    }

    /// Builds the kernel from `codes` (`rows * cols`, row-major, in [-8, 7]) and `scales`
    /// (`rows * cols / group_size`, row then group; a weight is `code * scale`). Errors on a
    /// length mismatch, a code out of range or an unsupported shape.
    pub fn new(
        codes: &[i8],
        scales: &[f32],
        rows: usize,
        cols: usize,
        group_size: usize,
    ) -> Result<Self> {
        if !Self::supports(rows, cols, group_size)
            || codes.len() != rows * cols
            || scales.len() != rows * cols / group_size
        {
            return Err(Error::Invalid(format!(
                "int4pack needs groups of 32/64/128/256 tiling K, N a multiple of 16, rows*cols \
                 codes and one scale per group; got {} codes and {} scales for {rows}x{cols} in \
                 groups of {group_size}",
                codes.len(),
                scales.len()
            )));
        }
        if let Some(c) = codes.iter().find(|c| !(-8..=7).contains(*c)) {
            return Err(Error::Invalid(format!("int4 code {c} is outside [-8, 7]")));
        }
        let nibbles: Vec<i32> = codes.iter().map(|&c| i32::from(c) + 8).collect();
        let packed = Tensor::from_slice(&nibbles)
            .view([rows as i64, cols as i64])
            .f_internal_convert_weight_to_int4pack_for_cpu(INNER_K_TILES)
            .map_err(|e| Error::torch("repacking int4 weights for libtorch", e))?;
        let groups = (cols / group_size) as i64;
        let scales = Tensor::from_slice(scales)
            .view([rows as i64, groups])
            .tr()
            .unsqueeze(-1);
        let scales_and_zeros = Tensor::cat(&[&scales, &scales.zeros_like()], -1)
            .to_kind(Kind::BFloat16)
            .contiguous();
        Ok(Self {
            packed,
            scales_and_zeros,
            rows,
            cols,
            group_size,
        })
    }
}

impl LinearKernel for TorchInt4Pack {
    fn rows(&self) -> usize {
        self.rows
    }
    fn cols(&self) -> usize {
        self.cols
    }
    fn forward(&self, x: &Tensor, _ctx: &KernelContext) -> Result<Tensor> {
        x.f_to_kind(Kind::BFloat16)
            .and_then(|x| {
                x.f_internal_weight_int4pack_mm_for_cpu(
                    &self.packed,
                    self.group_size as i64,
                    &self.scales_and_zeros,
                )
            })
            .and_then(|y| y.f_to_kind(Kind::Float))
            .map_err(|e| Error::torch("libtorch int4pack matmul", e))
    }
    fn resident_bytes(&self) -> usize {
        self.packed.numel() * self.packed.kind().elt_size_in_bytes()
            + self.scales_and_zeros.numel() * 2
    }
    fn kernel_name(&self, _backend: Backend) -> String {
        format!("libtorch-int4pack-g{}-bf16", self.group_size)
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
            row_tiles in 1usize..5, group_exp in 0u32..4, groups in 1usize..5, n in 1usize..9,
            seed in 0u64..1000,
        ) {
            let (rows, group) = (16 * row_tiles, 32usize << group_exp);
            let cols = group * groups;
            let mut rng = ChaCha8Rng::seed_from_u64(seed);
            let codes: Vec<i8> = (0..rows * cols).map(|_| rng.random_range(-7..=7)).collect();
            let scales: Vec<f32> =
                (0..rows * groups).map(|_| rng.random_range(1e-3f32..1.0)).collect();
            let kernel = TorchInt4Pack::new(&codes, &scales, rows, cols, group).unwrap();
            let bf16_scales = round_through(&scales, Kind::BFloat16);
            let x = random_input(n, cols, seed + 1);
            let x = round_through(&x, Kind::BFloat16);
            assert_kernel_matches_dense(
                &kernel,
                &x,
                n,
                |r, k| f64::from(codes[r * cols + k]) * f64::from(bf16_scales[r * groups + k / group]),
                1.0 / 64.0,
            );
        }
    }

    #[test]
    fn shapes_the_kernel_cannot_run_are_refused() {
        assert!(!TorchInt4Pack::supports(16, 96, 64));
        assert!(!TorchInt4Pack::supports(20, 64, 32));
        assert!(!TorchInt4Pack::supports(16, 64, 16));
        assert!(TorchInt4Pack::new(&[9; 16 * 32], &[1.0; 16], 16, 32, 32).is_err());
    }
}
