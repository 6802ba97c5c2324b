//! Ternary weights at 2 bits in a kernel-friendly layout, and `y = x W^T` on them.
//!
//! Layout (bitnet.cpp's I2_S idea: blocks of 128 with the codes interleaved for SIMD): each row
//! of `cols` weights is padded to a whole number of 128-weight blocks; a block is 32 bytes, and
//! bit pair `p` (bits `2p..2p+2`) of byte `j` holds the code `w + 1` of weight `32 p + j` of the
//! block. One 32-byte load, shifted by 0, 2, 4 and 6 and masked with 3, yields the codes of
//! weights 0..32, 32..64, 64..96 and 96..128 in order, ready for `_mm256_maddubs_epi16`.
//! Padding holds code 1 (weight 0) and meets zero activations. One f32 scale `s` per tensor
//! (BitNet b1.58's absmean scale: a weight is `(code - 1) / s`).
//!
//! Results are exact integer dot products `sum (c - 1) a = sum c a - sum a` scaled once by
//! `1 / (s * s_x)`, so the AVX2 and portable backends return bit-identical outputs.
use rayon::prelude::*;

use super::activations::QuantizedActivations;
use super::tiled_matmat::tiled_matmat;
use super::{ternary_avx2, ternary_portable, Backend};
use crate::quant::ternary::TernaryQuantizer;
use crate::quant::PackedTensor;
use crate::{Error, Result};

/// Weights per block.
pub const BLOCK: usize = 128;
/// Bytes per block (2 bits per weight).
pub const BLOCK_BYTES: usize = BLOCK / 4;
/// A byte of four padding codes (code 1 = weight 0 in every bit pair).
const PADDING_BYTE: u8 = 0b0101_0101;
/// Output rows per parallel task of the matrix-vector path.
const MATVEC_ROWS_PER_TASK: usize = 64;
/// Inner-dimension tile of the matrix-matrix path (a multiple of [`BLOCK`]; `ROW_TILE x K_TILE`
/// unpacked bytes = 128 KiB).
const K_TILE: usize = 2048;

/// A ternary weight matrix `[rows, cols]` (`[out, in]`) packed at 2 bits per weight.
#[derive(Debug, Clone, PartialEq)]
pub struct Ternary2Bit {
    rows: usize,
    cols: usize,
    blocks_per_row: usize,
    data: Vec<u8>,
    scale: f32,
}

impl Ternary2Bit {
    /// Packs `codes` (`rows * cols` values in {-1, 0, 1}, row-major) with weight scale `scale`
    /// (a weight is `code / scale`). Errors on a code outside {-1, 0, 1}, a length mismatch or a
    /// scale that is not positive and finite.
    pub fn from_codes(codes: &[i8], rows: usize, cols: usize, scale: f32) -> Result<Self> {
        if codes.len() != rows * cols {
            return Err(kernel_error(format!(
                "{} codes for a {rows}x{cols} matrix",
                codes.len()
            )));
        }
        let mut m = Self::empty(rows, cols, scale)?;
        for (i, &c) in codes.iter().enumerate() {
            if !(-1..=1).contains(&c) {
                return Err(kernel_error(format!(
                    "code {c} at index {i} is not in {{-1, 0, 1}}"
                )));
            }
            m.set_code(i / cols, i % cols, (c + 1) as u8);
        }
        Ok(m)
    }

    /// Repacks an artifact tensor of scheme `ternary` (flat 2-bit codes, then the f32 scale:
    /// see [`crate::quant::ternary`]) into this layout, without a wider intermediate copy.
    /// Errors on another scheme, a byte count that does not match the shape, code 3, or a scale
    /// that is not positive.
    pub fn from_packed(p: &PackedTensor) -> Result<Self> {
        let expected = TernaryQuantizer::packed_len(&p.shape);
        if p.scheme != "ternary" || p.shape.len() != 2 || p.data.len() != expected {
            return Err(kernel_error(format!(
                "expected a 2-D `ternary` tensor of {expected} bytes, got scheme `{}`, shape {:?}, \
                 {} bytes; fix: export the model with quant.scheme = \"ternary\" again",
                p.scheme,
                p.shape,
                p.data.len()
            )));
        }
        let (rows, cols) = (p.shape[0] as usize, p.shape[1] as usize);
        let (codes, scale) = p.data.split_at(p.data.len() - 4);
        let scale = f32::from_le_bytes(scale.try_into().expect("4 scale bytes"));
        let mut m = Self::empty(rows, cols, scale)?;
        for i in 0..rows * cols {
            let code = (codes[i / 4] >> (2 * (i % 4))) & 0b11;
            if code == 3 {
                return Err(kernel_error(format!(
                    "code 3 at weight {i} is never written; the artifact is corrupt"
                )));
            }
            m.set_code(i / cols, i % cols, code);
        }
        Ok(m)
    }

    fn empty(rows: usize, cols: usize, scale: f32) -> Result<Self> {
        if !(scale.is_finite() && scale > 0.0) || rows == 0 || cols == 0 {
            return Err(kernel_error(format!(
                "a {rows}x{cols} matrix with scale {scale}: needs positive sizes and a positive \
                 finite scale"
            )));
        }
        let blocks_per_row = cols.div_ceil(BLOCK);
        Ok(Self {
            rows,
            cols,
            blocks_per_row,
            data: vec![PADDING_BYTE; rows * blocks_per_row * BLOCK_BYTES],
            scale,
        })
    }

    /// Byte index and bit shift of weight (`row`, `col`).
    fn position(&self, row: usize, col: usize) -> (usize, u32) {
        let (block, within) = (col / BLOCK, col % BLOCK);
        let byte = (row * self.blocks_per_row + block) * BLOCK_BYTES + within % BLOCK_BYTES;
        (byte, 2 * (within / BLOCK_BYTES) as u32)
    }

    fn set_code(&mut self, row: usize, col: usize, code: u8) {
        let (byte, shift) = self.position(row, col);
        self.data[byte] = (self.data[byte] & !(0b11 << shift)) | (code << shift);
    }

    /// The ternary value (-1, 0 or 1) of weight (`row`, `col`).
    pub fn code(&self, row: usize, col: usize) -> i8 {
        let (byte, shift) = self.position(row, col);
        ((self.data[byte] >> shift) & 0b11) as i8 - 1
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

    /// Bytes this matrix keeps resident: packed codes (with row padding) plus the scale.
    pub fn resident_bytes(&self) -> usize {
        self.data.len() + std::mem::size_of::<f32>()
    }

    /// Packed bytes of row `row`.
    fn row_bytes(&self, row: usize) -> &[u8] {
        let len = self.blocks_per_row * BLOCK_BYTES;
        &self.data[row * len..(row + 1) * len]
    }

    /// Quantizes `x` (`n * cols` values, token-major) to int8 per token in this matrix's
    /// block padding.
    pub fn quantize_input(&self, x: &[f32], n: usize, backend: Backend) -> QuantizedActivations {
        QuantizedActivations::quantize(x, n, self.cols, BLOCK, backend)
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
            acts.k == self.cols && acts.padded_k == self.blocks_per_row * BLOCK,
            "activations quantized for another matrix"
        );
    }

    /// Matrix-vector path: every token streams the packed rows once (use for one token).
    pub fn matvec(&self, acts: &QuantizedActivations, backend: Backend) -> Vec<f32> {
        self.check_acts(acts);
        let mut y = vec![0f32; acts.n * self.rows];
        for (t, y_t) in y.chunks_exact_mut(self.rows).enumerate() {
            let a = acts.token(t);
            let factor = 1.0 / (self.scale * acts.scales[t]);
            let sum = acts.sums[t];
            y_t.par_chunks_mut(MATVEC_ROWS_PER_TASK)
                .enumerate()
                .for_each(|(task, out)| {
                    let first = task * MATVEC_ROWS_PER_TASK;
                    let row_len = self.blocks_per_row * BLOCK_BYTES;
                    let packed = &self.data[first * row_len..(first + out.len()) * row_len];
                    let mut dots = [0i32; MATVEC_ROWS_PER_TASK];
                    let dots = &mut dots[..out.len()];
                    match backend {
                        Backend::Avx2(cpu) => {
                            ternary_avx2::dot_packed_rows(cpu, packed, row_len, a, dots)
                        }
                        Backend::Portable => {
                            for (d, w) in dots.iter_mut().zip(packed.chunks_exact(row_len)) {
                                *d = ternary_portable::dot_packed_row(w, a);
                            }
                        }
                    }
                    for (o, &dot) in out.iter_mut().zip(dots.iter()) {
                        *o = (dot - sum) as f32 * factor;
                    }
                });
        }
        y
    }

    /// Matrix-matrix path (the shared tiled driver): each task unpacks 64 rows x [`K_TILE`] columns
    /// to one byte per code once, then runs every token block against it.
    pub fn matmat(&self, acts: &QuantizedActivations, backend: Backend) -> Vec<f32> {
        self.check_acts(acts);
        tiled_matmat(
            self.rows,
            self.scale,
            acts,
            backend,
            K_TILE,
            |row, k0, out| {
                let b0 = k0 / BLOCK;
                let packed =
                    &self.row_bytes(row)[b0 * BLOCK_BYTES..(b0 + out.len() / BLOCK) * BLOCK_BYTES];
                match backend {
                    Backend::Avx2(cpu) => ternary_avx2::unpack(cpu, packed, out),
                    Backend::Portable => ternary_portable::unpack(packed, out),
                }
            },
        )
    }
}

fn kernel_error(message: String) -> Error {
    Error::Quantization {
        scheme: "ternary".into(),
        message: format!("2-bit kernel layout: {message}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kernels::reference::{assert_close_to_reference, random_codes, random_input};
    use crate::quant::Quantizer;
    use proptest::prelude::*;
    use tch::{Kind, Tensor};

    fn check_shape(rows: usize, cols: usize, n: usize, seed: u64) {
        let (codes, scale) = random_codes(rows, cols, seed);
        let m = Ternary2Bit::from_codes(&codes, rows, cols, scale).unwrap();
        let x = random_input(n, cols, seed + 1);
        let mut outputs = Vec::new();
        for backend in Backend::available() {
            let acts = m.quantize_input(&x, n, backend);
            for y in [m.matvec(&acts, backend), m.matmat(&acts, backend)] {
                assert_close_to_reference(&y, &codes, scale, &x, rows, cols, n);
                outputs.push(y);
            }
        }
        for y in &outputs[1..] {
            assert_eq!(y, &outputs[0], "backends and paths must agree bit for bit");
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(24))]
        #[test]
        fn both_paths_and_backends_match_the_f64_reference(
            rows in 1usize..40, cols in 1usize..400, n in 1usize..12, seed in 0u64..1000,
        ) {
            check_shape(rows, cols, n, seed);
        }
    }

    #[test]
    fn k_and_token_tiles_with_remainders_match_the_reference() {
        // cols > K_TILE (two K tiles, the second partial), n > TOKEN_BLOCK, rows > ROW_TILE.
        use crate::kernels::tiled_matmat::{ROW_TILE, TOKEN_BLOCK};
        check_shape(ROW_TILE + 3, K_TILE + 200, TOKEN_BLOCK + 5, 11);
    }

    #[test]
    fn repacking_an_artifact_tensor_keeps_every_code_and_the_scale() {
        tch::manual_seed(5);
        let w = Tensor::randn([7, 133], (Kind::Float, tch::Device::Cpu));
        let packed = TernaryQuantizer.pack(&w).unwrap();
        let m = Ternary2Bit::from_packed(&packed).unwrap();
        let grid = Vec::<f32>::try_from(&TernaryQuantizer.unpack(&packed).unwrap().flatten(0, -1))
            .unwrap();
        for r in 0..7 {
            for c in 0..133 {
                let value = f32::from(m.code(r, c)) / m.scale();
                assert_eq!(value, grid[r * 133 + c], "weight ({r}, {c})");
            }
        }
        // 7 rows x 2 blocks x 32 bytes + the scale: 2 bits per weight plus row padding.
        assert_eq!(m.resident_bytes(), 7 * 2 * 32 + 4);
        let mut corrupt = packed.clone();
        corrupt.data[0] |= 0b11;
        assert!(Ternary2Bit::from_packed(&corrupt).is_err());
        corrupt.scheme = "int8".into();
        assert!(Ternary2Bit::from_packed(&corrupt).is_err());
    }

    #[test]
    fn bad_codes_and_scales_are_refused() {
        assert!(Ternary2Bit::from_codes(&[2], 1, 1, 1.0).is_err());
        assert!(Ternary2Bit::from_codes(&[1, 0], 1, 1, 1.0).is_err());
        assert!(Ternary2Bit::from_codes(&[1], 1, 1, 0.0).is_err());
    }
}
