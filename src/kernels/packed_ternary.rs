//! [`PackedTernary`]: one kernel `y = x W^T` for BitNet b1.58 ternary weights (Ma et al., 2024)
//! in any [`TernaryLayout`] ([`super::Ternary2Bit`] and [`super::Ternary1p6`] are its two
//! instances), and its one [`LinearKernel`] implementation.
//!
//! Activations are quantized to int8 per token ([`QuantizedActivations`]); a matrix-vector
//! path (one token: decoding) streams the packed rows once, [`MATVEC_ROWS_PER_TASK`] rows per
//! rayon task; a matrix-matrix path (many tokens: prefill) unpacks tiles of rows to one code
//! byte per weight once and reuses them across tokens ([`super::tiled_matmat`]). Results are
//! exact integer dot products `sum (c - 1) a = sum c a - sum a` (codes `c = w + 1`) scaled once
//! by `1 / (s * s_x)`, so every backend, path and layout returns bit-identical outputs.
use std::marker::PhantomData;

use rayon::prelude::*;
use tch::Tensor;

use super::activations::QuantizedActivations;
use super::linear_kernel::forward_f32_slices;
use super::ternary_layout::{self, ActivationForm, TernaryLayout};
use super::tiled_matmat::tiled_matmat;
use super::{Backend, KernelContext, LinearKernel, MacArithmetic};
use crate::{Error, Result};

/// Output rows per parallel task of the matrix-vector path.
const MATVEC_ROWS_PER_TASK: usize = 64;

/// A ternary weight matrix `[rows, cols]` (`[out, in]`) packed in layout `L`, with one f32
/// scale `s` (BitNet b1.58's absmean scale: a weight is `code / s`).
#[derive(Debug, Clone, PartialEq)]
pub struct PackedTernary<L: TernaryLayout> {
    rows: usize,
    cols: usize,
    blocks_per_row: usize,
    data: Vec<u8>,
    /// Per row, the sum of its codes `w + 1` (padding included), kept only for layouts whose
    /// activation form is offset ([`ActivationForm::OFFSET`] != 0); empty otherwise.
    code_sums: Vec<i32>,
    scale: f32,
    layout: PhantomData<L>,
}

impl<L: TernaryLayout> PackedTernary<L> {
    /// Packs `codes` (`rows * cols` values in {-1, 0, 1}, row-major) with weight scale `scale`
    /// (a weight is `code / scale`). Errors on a code outside {-1, 0, 1}, a length mismatch or a
    /// scale that is not positive and finite.
    pub fn from_codes(codes: &[i8], rows: usize, cols: usize, scale: f32) -> Result<Self> {
        if codes.len() != rows * cols {
            return Err(Self::layout_error(format!(
                "{} codes for a {rows}x{cols} matrix",
                codes.len()
            )));
        }
        Self::from_code_fn(rows, cols, scale, |i| codes[i])
    }

    /// Packs the codes `code(i)` of the `rows * cols` row-major weights `i` (so a caller can
    /// repack another storage form without a wider intermediate copy), with weight scale
    /// `scale`. Errors on a code outside {-1, 0, 1}, a zero size, or a scale that is not
    /// positive and finite.
    pub fn from_code_fn(
        rows: usize,
        cols: usize,
        scale: f32,
        code: impl Fn(usize) -> i8 + Sync,
    ) -> Result<Self> {
        if !(scale.is_finite() && scale > 0.0) || rows == 0 || cols == 0 {
            return Err(Self::layout_error(format!(
                "a {rows}x{cols} matrix with scale {scale}: needs positive sizes and a positive \
                 finite scale"
            )));
        }
        if let Some(i) = (0..rows * cols).find(|&i| !(-1..=1).contains(&code(i))) {
            return Err(Self::layout_error(format!(
                "code {} at index {i} is not in {{-1, 0, 1}}",
                code(i)
            )));
        }
        let blocks_per_row = cols.div_ceil(L::BLOCK);
        let row_len = blocks_per_row * L::BLOCK_BYTES;
        // The code `w + 1` of column `col` of row `r`; padding columns hold 1 (weight 0).
        let padded_code = |r: usize, col: usize| {
            if col < cols {
                (code(r * cols + col) + 1) as u8
            } else {
                1
            }
        };
        let mut data = vec![L::PADDING_BYTE; rows * row_len];
        data.par_chunks_mut(row_len)
            .enumerate()
            .for_each(|(r, row)| {
                const { assert!(L::WEIGHTS_PER_BYTE <= 8, "a byte holds at most 8 slots") };
                let mut slots = [1u8; 8];
                let slots = &mut slots[..L::WEIGHTS_PER_BYTE];
                for (b, block) in row.chunks_exact_mut(L::BLOCK_BYTES).enumerate() {
                    for (j, byte) in block.iter_mut().enumerate() {
                        if b * L::BLOCK + j >= cols {
                            break; // every slot of this and later bytes is padding
                        }
                        for (i, slot) in slots.iter_mut().enumerate() {
                            *slot = padded_code(r, b * L::BLOCK + L::BLOCK_BYTES * i + j);
                        }
                        *byte = L::encode_byte(slots);
                    }
                }
            });
        let mut code_sums = vec![
            0i32;
            if <L::Activation as ActivationForm>::OFFSET == 0 {
                0
            } else {
                rows
            }
        ];
        code_sums.par_iter_mut().enumerate().for_each(|(r, sum)| {
            *sum = (0..blocks_per_row * L::BLOCK)
                .map(|col| i32::from(padded_code(r, col)))
                .sum();
        });
        Ok(Self {
            rows,
            cols,
            blocks_per_row,
            data,
            code_sums,
            scale,
            layout: PhantomData,
        })
    }

    /// An error about this packed form, as every ternary kernel and its loaders report it
    /// (quantizer `ternary`, prefixed with the layout's name).
    pub fn layout_error(message: String) -> Error {
        Error::Quantization {
            scheme: "ternary".into(),
            message: format!("{} kernel layout: {message}", L::NAME),
        }
    }

    /// The ternary value (-1, 0 or 1) of weight (`row`, `col`).
    pub fn code(&self, row: usize, col: usize) -> i8 {
        let (block, within) = (col / L::BLOCK, col % L::BLOCK);
        let byte = self.row_bytes(row)[block * L::BLOCK_BYTES + within % L::BLOCK_BYTES];
        L::decode_slot(byte, within / L::BLOCK_BYTES) as i8 - 1
    }

    /// The sum of the codes `w + 1` of row `row`, padding included (layouts with an offset
    /// activation form only).
    #[cfg(test)]
    pub(crate) fn code_sum(&self, row: usize) -> i32 {
        self.code_sums[row]
    }

    /// Output features (rows of `W`).
    pub fn rows(&self) -> usize {
        self.rows
    }

    /// Input features (columns of `W`).
    pub fn cols(&self) -> usize {
        self.cols
    }

    /// The weight scale `s` (a weight is `code / s`).
    pub fn scale(&self) -> f32 {
        self.scale
    }

    /// Bytes this matrix keeps resident: packed codes (with row padding), the per-row code
    /// sums where the layout keeps them, and the scale.
    pub fn resident_bytes(&self) -> usize {
        Self::resident_bytes_for(self.rows, self.cols)
    }

    /// [`Self::resident_bytes`] of a `rows x cols` matrix, without building it.
    pub fn resident_bytes_for(rows: usize, cols: usize) -> usize {
        let code_sum = if <L::Activation as ActivationForm>::OFFSET == 0 {
            0
        } else {
            std::mem::size_of::<i32>()
        };
        rows * (cols.div_ceil(L::BLOCK) * L::BLOCK_BYTES + code_sum) + std::mem::size_of::<f32>()
    }

    /// Bytes of one packed row.
    fn row_len(&self) -> usize {
        self.blocks_per_row * L::BLOCK_BYTES
    }

    /// Packed bytes of row `row`.
    fn row_bytes(&self, row: usize) -> &[u8] {
        let len = self.row_len();
        &self.data[row * len..(row + 1) * len]
    }

    /// Quantizes `x` (`n * cols` values, token-major) to int8 per token in this matrix's
    /// block padding.
    pub fn quantize_input(&self, x: &[f32], n: usize, backend: Backend) -> QuantizedActivations {
        QuantizedActivations::quantize(x, n, self.cols, L::BLOCK, backend)
    }

    /// `y = x W^T` for `x` of `n` tokens (`n * cols` values): `n * rows` outputs, token-major.
    /// One token takes the matrix-vector path, more the matrix-matrix path. Runs on the current
    /// rayon pool. Panics when `x.len() != n * cols` (a caller bug).
    pub fn forward(&self, x: &[f32], n: usize, backend: Backend) -> Vec<f32> {
        let acts = self.quantize_input(x, n, backend);
        if n == 1 {
            self.matvec(&acts, backend)
        } else {
            self.matmat(&acts, backend)
        }
    }

    fn check_acts(&self, acts: &QuantizedActivations) {
        assert!(
            acts.k == self.cols && acts.padded_k == self.blocks_per_row * L::BLOCK,
            "activations quantized for another matrix"
        );
    }

    /// Matrix-vector path: every token streams the packed rows once (use for one token). The
    /// layout's loops compute `sum c (a + offset)` per row on its activation form; `sum c a` is
    /// that minus `offset * sum c`.
    pub fn matvec(&self, acts: &QuantizedActivations, backend: Backend) -> Vec<f32> {
        self.check_acts(acts);
        let row_len = self.row_len();
        let mut y = vec![0f32; acts.n * self.rows];
        for (t, y_t) in y.chunks_exact_mut(self.rows).enumerate() {
            let a = <L::Activation as ActivationForm>::from_int8(acts.token(t));
            let factor = 1.0 / (self.scale * acts.scales[t]);
            let sum = acts.sums[t];
            y_t.par_chunks_mut(MATVEC_ROWS_PER_TASK)
                .enumerate()
                .for_each(|(task, out)| {
                    let first = task * MATVEC_ROWS_PER_TASK;
                    let packed = &self.data[first * row_len..(first + out.len()) * row_len];
                    let mut dots = [0i32; MATVEC_ROWS_PER_TASK];
                    let dots = &mut dots[..out.len()];
                    ternary_layout::dot_packed_rows::<L>(backend, packed, row_len, &a, dots);
                    for (i, (o, &dot)) in out.iter_mut().zip(dots.iter()).enumerate() {
                        *o = (dot - self.activation_offset_sum(first + i) - sum) as f32 * factor;
                    }
                });
        }
        y
    }

    /// `OFFSET * sum c` of row `row` (0 for layouts without an offset).
    #[inline]
    fn activation_offset_sum(&self, row: usize) -> i32 {
        if <L::Activation as ActivationForm>::OFFSET == 0 {
            0
        } else {
            <L::Activation as ActivationForm>::OFFSET * self.code_sums[row]
        }
    }

    /// Matrix-matrix path (the shared tiled driver): each task unpacks 64 rows x
    /// [`super::TernaryFormat::K_TILE`] columns to one code byte per weight once, then runs every token
    /// block against it.
    pub fn matmat(&self, acts: &QuantizedActivations, backend: Backend) -> Vec<f32> {
        self.check_acts(acts);
        tiled_matmat(
            self.rows,
            self.scale,
            acts,
            backend,
            L::K_TILE,
            |row, k0, out| {
                let b0 = k0 / L::BLOCK;
                let packed = &self.row_bytes(row)
                    [b0 * L::BLOCK_BYTES..(b0 + out.len() / L::BLOCK) * L::BLOCK_BYTES];
                ternary_layout::unpack::<L>(backend, packed, out)
            },
        )
    }
}

/// Both ternary kernels: they share `rows`, `cols`, `forward(&[f32], n, backend)` and
/// `resident_bytes`, and quantize activations themselves.
impl<L: TernaryLayout> LinearKernel for PackedTernary<L> {
    fn rows(&self) -> usize {
        self.rows()
    }
    fn cols(&self) -> usize {
        self.cols()
    }
    fn forward(&self, x: &Tensor, ctx: &KernelContext) -> Result<Tensor> {
        forward_f32_slices(x, self.rows(), self.cols(), |v, n| {
            ctx.pool.install(|| self.forward(v, n, ctx.backend))
        })
    }
    fn resident_bytes(&self) -> usize {
        self.resident_bytes()
    }
    fn kernel_name(&self, backend: Backend) -> String {
        format!("{}-{}", L::KERNEL_NAME, backend.name())
    }
    fn quantizes_activations(&self) -> bool {
        true
    }
    fn arithmetic(&self) -> MacArithmetic {
        MacArithmetic::Int8Add
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kernels::reference::{assert_close_to_reference, random_codes, random_input};
    use crate::kernels::tiled_matmat::{ROW_TILE, TOKEN_BLOCK};
    use crate::kernels::{Ternary2Bit, Ternary2BitLayout, TernaryBase3Layout, TernaryFormat};
    use proptest::prelude::*;

    /// Both paths on every backend match the f64 reference, and agree bit for bit with each
    /// other and with the portable 2-bit kernel on the same codes.
    fn check_shape<L: TernaryLayout>(rows: usize, cols: usize, n: usize, seed: u64) {
        let (codes, scale) = random_codes(rows, cols, seed);
        let m = PackedTernary::<L>::from_codes(&codes, rows, cols, scale).unwrap();
        let x = random_input(n, cols, seed + 1);
        let mut outputs = Vec::new();
        for backend in Backend::available() {
            let acts = m.quantize_input(&x, n, backend);
            for y in [m.matvec(&acts, backend), m.matmat(&acts, backend)] {
                assert_close_to_reference(&y, &codes, scale, &x, rows, cols, n);
                outputs.push(y);
            }
        }
        let two_bit = Ternary2Bit::from_codes(&codes, rows, cols, scale).unwrap();
        outputs.push(two_bit.forward(&x, n, Backend::Portable));
        for y in &outputs[1..] {
            assert_eq!(
                y, &outputs[0],
                "backends, paths and the 2-bit kernel must agree bit for bit"
            );
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(24))]
        #[test]
        fn two_bit_paths_and_backends_match_the_f64_reference(
            rows in 1usize..40, cols in 1usize..400, n in 1usize..12, seed in 0u64..1000,
        ) {
            check_shape::<Ternary2BitLayout>(rows, cols, n, seed);
        }

        #[test]
        fn base3_paths_and_backends_match_the_f64_reference(
            rows in 1usize..40, cols in 1usize..500, n in 1usize..12, seed in 0u64..1000,
        ) {
            check_shape::<TernaryBase3Layout>(rows, cols, n, seed);
        }
    }

    #[test]
    fn k_and_token_tiles_with_remainders_match_the_reference() {
        // cols > K_TILE (two K tiles, the second partial), n > TOKEN_BLOCK, rows > ROW_TILE.
        check_shape::<Ternary2BitLayout>(
            ROW_TILE + 3,
            Ternary2BitLayout::K_TILE + 200,
            TOKEN_BLOCK + 5,
            11,
        );
        check_shape::<TernaryBase3Layout>(
            ROW_TILE + 3,
            TernaryBase3Layout::K_TILE + 250,
            TOKEN_BLOCK + 5,
            11,
        );
    }

    #[test]
    fn whole_blocks_whole_k_tiles_and_single_weights_match_the_reference() {
        fn check<L: TernaryLayout>() {
            check_shape::<L>(5, 2 * L::BLOCK, 3, 7);
            check_shape::<L>(3, L::K_TILE, 2, 8);
            check_shape::<L>(1, 1, 1, 9);
        }
        check::<Ternary2BitLayout>();
        check::<TernaryBase3Layout>();
    }

    #[test]
    fn every_code_reads_back_and_the_padding_encodes_as_the_padding_byte() {
        fn check<L: TernaryLayout>(rows: usize, cols: usize) {
            let (codes, scale) = random_codes(rows, cols, 5);
            let m = PackedTernary::<L>::from_codes(&codes, rows, cols, scale).unwrap();
            for r in 0..rows {
                for c in 0..cols {
                    assert_eq!(m.code(r, c), codes[r * cols + c], "weight ({r}, {c})");
                }
            }
            assert_eq!(m.scale(), scale);
            assert_eq!(
                m.resident_bytes(),
                PackedTernary::<L>::resident_bytes_for(rows, cols)
            );
            assert_eq!(
                L::encode_byte(&vec![1; L::WEIGHTS_PER_BYTE]),
                L::PADDING_BYTE
            );
        }
        check::<Ternary2BitLayout>(7, 133);
        check::<TernaryBase3Layout>(7, 333);
    }

    #[test]
    fn bad_codes_and_scales_are_refused() {
        fn check<L: TernaryLayout>() {
            assert!(PackedTernary::<L>::from_codes(&[2], 1, 1, 1.0).is_err());
            assert!(PackedTernary::<L>::from_codes(&[1, 0], 1, 1, 1.0).is_err());
            assert!(PackedTernary::<L>::from_codes(&[1], 1, 1, 0.0).is_err());
            assert!(PackedTernary::<L>::from_codes(&[1], 1, 1, f32::NAN).is_err());
            assert!(PackedTernary::<L>::from_codes(&[], 0, 1, 1.0).is_err());
        }
        check::<Ternary2BitLayout>();
        check::<TernaryBase3Layout>();
    }

    #[test]
    fn kernel_names_are_the_recorded_ones() {
        let (codes, scale) = random_codes(2, 3, 1);
        let two_bit = Ternary2Bit::from_codes(&codes, 2, 3, scale).unwrap();
        let base3 = crate::kernels::Ternary1p6::from_codes(&codes, 2, 3, scale).unwrap();
        assert_eq!(
            LinearKernel::kernel_name(&two_bit, Backend::Portable),
            "bitlab-ternary-2bit-portable"
        );
        assert_eq!(
            LinearKernel::kernel_name(&base3, Backend::Portable),
            "bitlab-ternary-1.6bit-portable"
        );
    }
}
