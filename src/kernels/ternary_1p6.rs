//! Ternary weights at 1.6 bits (base 3, five per byte) in a kernel-friendly layout, and
//! `y = x W^T` on them.
//!
//! Trit encoding: ggml's TQ1_0 (compilade, llama.cpp PR #8151; the same bytes as
//! [`crate::quant::ternary_base3`]): five trits `t = w + 1` in {0, 1, 2}, the first most
//! significant, form `q = 81 t0 + 27 t1 + 9 t2 + 3 t3 + t4` (0..=242), stored as the 8-bit
//! fixed-point fraction `b = ceil(256 q / 243)`; trit `i` is `floor(3 m_i / 256)` with
//! `m_i = 3^i b mod 256`. 243 of the 256 byte values are used: 1.6 bits per weight (TQ1_0
//! itself spends 1.6875 with its fp16 block scale and 4-trits-per-byte tail).
//!
//! Layout: each row of `cols` weights is padded to a whole number of 160-weight blocks; a block
//! is 32 bytes, and trit `i` of byte `j` holds weight `32 i + j` of the block, so one 32-byte
//! load decodes, trit by trit, into the codes of weights 0..32, 32..64, ..., 128..160 in order,
//! ready for `_mm256_maddubs_epi16` (the BitNet b1.58 / bitnet.cpp route of [`super::Ternary2Bit`]).
//! Bytes are stored XOR `0x80` (`b + 128 mod 256`): since `3 (m + 128) = 3 m + 128 (mod 256)`,
//! every multiple `3^i` of a stored byte is then `m_i + 128`, which signed byte comparisons
//! read directly (see [`super::ternary_1p6_avx2`]). Padding holds trit 1 (weight 0) and meets
//! zero activations. One f32 scale `s` per tensor (BitNet b1.58's absmean scale: a weight is
//! `(t - 1) / s`), and per row the sum of its trits, which the AVX2 route needs.
//!
//! Results are exact integer dot products `sum (t - 1) a = sum t a - sum a` scaled once by
//! `1 / (s * s_x)`, so the AVX2 and portable backends return bit-identical outputs, equal to
//! those of [`super::Ternary2Bit`] on the same codes.
use rayon::prelude::*;

use super::activations::QuantizedActivations;
use super::tiled_matmat::tiled_matmat;
use super::{ternary_1p6_avx2, ternary_1p6_portable, Backend};
use crate::quant::ternary::TernaryQuantizer;
use crate::quant::ternary_base3::{encode as encode_trits, unpack_ternary_base3};
use crate::quant::PackedTensor;
use crate::{Error, Result};

/// Weights per block (five trits in each of 32 bytes).
pub const BLOCK: usize = 160;
/// Bytes per block (1.6 bits per weight).
pub const BLOCK_BYTES: usize = BLOCK / TRITS_PER_BYTE;
/// Trits per byte.
pub const TRITS_PER_BYTE: usize = 5;
/// XOR applied to every stored byte (see the module docs).
pub(super) const BIAS: u8 = 0x80;
/// A stored byte of five padding trits (trit 1 = weight 0): `q = 121`, `b = 128`.
const PADDING_BYTE: u8 = 128 ^ BIAS;
/// Output rows per parallel task of the matrix-vector path.
const MATVEC_ROWS_PER_TASK: usize = 64;
/// Inner-dimension tile of the matrix-matrix path (a multiple of [`BLOCK`]; `ROW_TILE x K_TILE`
/// unpacked bytes = 120 KiB).
const K_TILE: usize = 12 * BLOCK;

/// A ternary weight matrix `[rows, cols]` (`[out, in]`) packed in base 3 at 1.6 bits per
/// weight (BitNet b1.58 weights in ggml TQ1_0's trit encoding).
#[derive(Debug, Clone, PartialEq)]
pub struct Ternary1p6 {
    rows: usize,
    cols: usize,
    blocks_per_row: usize,
    data: Vec<u8>,
    /// Per row, the sum of its trits `t = w + 1` (padding included).
    trit_sums: Vec<i32>,
    scale: f32,
}

impl Ternary1p6 {
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
        if let Some(i) = codes.iter().position(|c| !(-1..=1).contains(c)) {
            return Err(kernel_error(format!(
                "code {} at index {i} is not in {{-1, 0, 1}}",
                codes[i]
            )));
        }
        Self::build(rows, cols, scale, |r, c| codes[r * cols + c])
    }

    /// Repacks an artifact tensor of scheme `ternary` (flat 2-bit codes, then the f32 scale:
    /// see [`crate::quant::ternary`]) into this layout. Errors on another scheme, a byte count
    /// that does not match the shape, code 3, or a scale that is not positive.
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
        if let Some(i) = (0..rows * cols).find(|&i| (codes[i / 4] >> (2 * (i % 4))) & 0b11 == 0b11)
        {
            return Err(kernel_error(format!(
                "code 3 at weight {i} is never written; the artifact is corrupt"
            )));
        }
        Self::build(rows, cols, scale, |r, c| {
            let i = r * cols + c;
            ((codes[i / 4] >> (2 * (i % 4))) & 0b11) as i8 - 1
        })
    }

    /// Repacks a flat row-major base-3 stream of `rows * cols` codes (the bytes of
    /// [`crate::quant::ternary_base3::pack_ternary_base3`]) into this layout; errors on a
    /// corrupt or truncated stream or a bad scale.
    pub fn from_base3(bytes: &[u8], rows: usize, cols: usize, scale: f32) -> Result<Self> {
        let codes = unpack_ternary_base3(bytes, rows * cols)?;
        Self::from_codes(&codes, rows, cols, scale)
    }

    /// Packs the codes `code(row, col)` (already checked to lie in {-1, 0, 1}).
    fn build(
        rows: usize,
        cols: usize,
        scale: f32,
        code: impl Fn(usize, usize) -> i8 + Sync,
    ) -> Result<Self> {
        if !(scale.is_finite() && scale > 0.0) || rows == 0 || cols == 0 {
            return Err(kernel_error(format!(
                "a {rows}x{cols} matrix with scale {scale}: needs positive sizes and a positive \
                 finite scale"
            )));
        }
        let blocks_per_row = cols.div_ceil(BLOCK);
        let row_len = blocks_per_row * BLOCK_BYTES;
        let mut data = vec![PADDING_BYTE; rows * row_len];
        let mut trit_sums = vec![0i32; rows];
        data.par_chunks_mut(row_len)
            .zip(trit_sums.par_iter_mut())
            .enumerate()
            .for_each(|(r, (row, sum))| {
                for (b, block) in row.chunks_exact_mut(BLOCK_BYTES).enumerate() {
                    for (j, byte) in block.iter_mut().enumerate() {
                        let trits = std::array::from_fn(|i| {
                            let col = b * BLOCK + BLOCK_BYTES * i + j;
                            if col < cols {
                                (code(r, col) + 1) as u8
                            } else {
                                1
                            }
                        });
                        *sum += trits.iter().map(|&t| i32::from(t)).sum::<i32>();
                        *byte = encode_trits(trits) ^ BIAS;
                    }
                }
            });
        Ok(Self {
            rows,
            cols,
            blocks_per_row,
            data,
            trit_sums,
            scale,
        })
    }

    /// The ternary value (-1, 0 or 1) of weight (`row`, `col`).
    pub fn code(&self, row: usize, col: usize) -> i8 {
        let (block, within) = (col / BLOCK, col % BLOCK);
        let byte = self.row_bytes(row)[block * BLOCK_BYTES + within % BLOCK_BYTES];
        ternary_1p6_portable::decode(byte)[within / BLOCK_BYTES] as i8 - 1
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

    /// Bytes this matrix keeps resident: packed trits (with row padding), the per-row trit
    /// sums and the scale.
    pub fn resident_bytes(&self) -> usize {
        Self::resident_bytes_for(self.rows, self.cols)
    }

    /// [`Self::resident_bytes`] of a `rows x cols` matrix, without building it.
    pub fn resident_bytes_for(rows: usize, cols: usize) -> usize {
        rows * (cols.div_ceil(BLOCK) * BLOCK_BYTES + std::mem::size_of::<i32>())
            + std::mem::size_of::<f32>()
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
    /// Both backends compute `sum t (a + 128)` per row on the activations offset to unsigned
    /// bytes; `sum t a` is that minus `128 sum t`.
    pub fn matvec(&self, acts: &QuantizedActivations, backend: Backend) -> Vec<f32> {
        self.check_acts(acts);
        let row_len = self.blocks_per_row * BLOCK_BYTES;
        let mut y = vec![0f32; acts.n * self.rows];
        for (t, y_t) in y.chunks_exact_mut(self.rows).enumerate() {
            let offset: Vec<u8> = acts.token(t).iter().map(|&a| a as u8 ^ 0x80).collect();
            let factor = 1.0 / (self.scale * acts.scales[t]);
            let sum = acts.sums[t];
            y_t.par_chunks_mut(MATVEC_ROWS_PER_TASK)
                .zip(self.trit_sums.par_chunks(MATVEC_ROWS_PER_TASK))
                .enumerate()
                .for_each(|(task, (out, trit_sums))| {
                    let first = task * MATVEC_ROWS_PER_TASK;
                    let packed = &self.data[first * row_len..(first + out.len()) * row_len];
                    let mut dots = [0i32; MATVEC_ROWS_PER_TASK];
                    let dots = &mut dots[..out.len()];
                    match backend {
                        Backend::Avx2(cpu) => {
                            ternary_1p6_avx2::dot_packed_rows(cpu, packed, row_len, &offset, dots)
                        }
                        Backend::Portable => {
                            for (d, w) in dots.iter_mut().zip(packed.chunks_exact(row_len)) {
                                *d = ternary_1p6_portable::dot_packed_row(w, &offset);
                            }
                        }
                    }
                    for ((o, &dot), &trits) in out.iter_mut().zip(dots.iter()).zip(trit_sums) {
                        *o = (dot - 128 * trits - sum) as f32 * factor;
                    }
                });
        }
        y
    }

    /// Matrix-matrix path (the shared tiled driver): each task decodes 64 rows x [`K_TILE`] columns
    /// to one trit byte per weight once, then runs every token block against it with the
    /// register tiles of the 2-bit kernel (the unpacked codes are the same `w + 1` bytes).
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
                    Backend::Avx2(cpu) => ternary_1p6_avx2::unpack(cpu, packed, out),
                    Backend::Portable => ternary_1p6_portable::unpack(packed, out),
                }
            },
        )
    }
}

fn kernel_error(message: String) -> Error {
    Error::Quantization {
        scheme: "ternary".into(),
        message: format!("1.6-bit kernel layout: {message}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kernels::reference::{assert_close_to_reference, random_codes, random_input};
    use crate::kernels::Ternary2Bit;
    use crate::quant::ternary_base3::pack_ternary_base3;
    use crate::quant::Quantizer;
    use proptest::prelude::*;
    use tch::{Kind, Tensor};

    fn check_shape(rows: usize, cols: usize, n: usize, seed: u64) {
        let (codes, scale) = random_codes(rows, cols, seed);
        let m = Ternary1p6::from_codes(&codes, rows, cols, scale).unwrap();
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
        fn both_paths_and_backends_match_the_f64_reference(
            rows in 1usize..40, cols in 1usize..500, n in 1usize..12, seed in 0u64..1000,
        ) {
            check_shape(rows, cols, n, seed);
        }
    }

    #[test]
    fn k_and_token_tiles_with_remainders_match_the_reference() {
        // cols > K_TILE (two K tiles, the second partial), n > TOKEN_BLOCK, rows > ROW_TILE.
        use crate::kernels::tiled_matmat::{ROW_TILE, TOKEN_BLOCK};
        check_shape(ROW_TILE + 3, K_TILE + 250, TOKEN_BLOCK + 5, 11);
    }

    #[test]
    fn whole_blocks_whole_k_tiles_and_single_weights_match_the_reference() {
        check_shape(5, 2 * BLOCK, 3, 7);
        check_shape(3, K_TILE, 2, 8);
        check_shape(1, 1, 1, 9);
    }

    #[test]
    fn matvec_flushes_its_accumulators_on_long_rows() {
        // 40 blocks per row: several i16 flushes of the AVX2 loop; all-ones weights and extreme
        // activations give the largest partial sums it can meet.
        let (rows, cols) = (3, 40 * BLOCK - 7);
        for (code, value) in [(1i8, -1.0f32), (-1, 1.0), (1, 1.0)] {
            let codes = vec![code; rows * cols];
            let m = Ternary1p6::from_codes(&codes, rows, cols, 1.0).unwrap();
            let x = vec![value; cols];
            for backend in Backend::available() {
                let y = m.forward(&x, 1, backend);
                let expected = f64::from(code) * f64::from(value) * cols as f64;
                for v in &y {
                    assert!((f64::from(*v) - expected).abs() < 1e-3 * cols as f64, "{v}");
                }
            }
        }
    }

    #[test]
    fn layout_decodes_every_code_and_repacks_from_2bit_and_base3() {
        tch::manual_seed(5);
        let (rows, cols) = (7, 333);
        let w = Tensor::randn([rows as i64, cols as i64], (Kind::Float, tch::Device::Cpu));
        let packed = TernaryQuantizer.pack(&w).unwrap();
        let m = Ternary1p6::from_packed(&packed).unwrap();
        let grid = Vec::<f32>::try_from(&TernaryQuantizer.unpack(&packed).unwrap().flatten(0, -1))
            .unwrap();
        let mut codes = Vec::new();
        for r in 0..rows {
            for c in 0..cols {
                let value = f32::from(m.code(r, c)) / m.scale();
                assert_eq!(value, grid[r * cols + c], "weight ({r}, {c})");
                codes.push(m.code(r, c));
            }
        }
        let base3 = pack_ternary_base3(&codes).unwrap();
        assert_eq!(
            Ternary1p6::from_base3(&base3, rows, cols, m.scale()).unwrap(),
            m
        );
        // 7 rows x 3 blocks x 32 bytes, 7 trit sums and the scale.
        assert_eq!(m.resident_bytes(), 7 * 3 * 32 + 7 * 4 + 4);
        for r in 0..rows {
            let padded = (0..3 * BLOCK)
                .map(|c| i32::from(if c < cols { m.code(r, c) + 1 } else { 1 }))
                .sum::<i32>();
            assert_eq!(m.trit_sums[r], padded, "row {r}");
        }
        let mut corrupt = packed.clone();
        corrupt.data[0] |= 0b11;
        assert!(Ternary1p6::from_packed(&corrupt).is_err());
        corrupt.scheme = "int8".into();
        assert!(Ternary1p6::from_packed(&corrupt).is_err());
        assert!(Ternary1p6::from_base3(&base3[1..], rows, cols, 1.0).is_err());
    }

    #[test]
    fn storage_is_at_most_1_7_bits_per_weight_at_model_shapes() {
        for (rows, cols) in [(4096, 4096), (4096, 11008), (11008, 4096), (4096, 14336)] {
            let bits =
                Ternary1p6::resident_bytes_for(rows, cols) as f64 * 8.0 / (rows * cols) as f64;
            assert!(bits <= 1.7, "{rows}x{cols}: {bits} bits per weight");
        }
    }

    #[test]
    fn bad_codes_and_scales_are_refused() {
        assert!(Ternary1p6::from_codes(&[2], 1, 1, 1.0).is_err());
        assert!(Ternary1p6::from_codes(&[1, 0], 1, 1, 1.0).is_err());
        assert!(Ternary1p6::from_codes(&[1], 1, 1, 0.0).is_err());
        assert!(Ternary1p6::from_codes(&[1], 1, 1, f32::NAN).is_err());
    }
}
