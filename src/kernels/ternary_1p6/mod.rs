//! The 1.6-bit base-3 ternary layout ([`TernaryBase3Layout`], five trits per byte) and its
//! kernel [`Ternary1p6`].
//!
//! Trit encoding: ggml's TQ1_0 (compilade, llama.cpp PR #8151; the same bytes as quant's
//! base-3 artifact stream, `quant::ternary_base3`): five trits `t = w + 1` in {0, 1, 2} of
//! BitNet b1.58 weights (Ma et al., 2024), the first most significant, form
//! `q = 81 t0 + 27 t1 + 9 t2 + 3 t3 + t4` (0..=242), stored as the 8-bit fixed-point fraction
//! `b = ceil(256 q / 243)`; trit `i` is `floor(3 m_i / 256)` with `m_i = 3^i b mod 256`. 243 of
//! the 256 byte values are used: 1.6 bits per weight (TQ1_0 itself spends 1.6875 with its fp16
//! block scale and 4-trits-per-byte tail).
//!
//! Layout: each row of `cols` weights is padded to a whole number of 160-weight blocks; a block
//! is 32 bytes, and trit `i` of byte `j` holds weight `32 i + j` of the block, so one 32-byte
//! load decodes, trit by trit, into the codes of weights 0..32, 32..64, ..., 128..160 in order,
//! ready for `_mm256_maddubs_epi16` (the BitNet b1.58 / bitnet.cpp route of [`super::Ternary2Bit`]).
//! Bytes are stored XOR `0x80` (`b + 128 mod 256`): since `3 (m + 128) = 3 m + 128 (mod 256)`,
//! every multiple `3^i` of a stored byte is then `m_i + 128`, which signed byte comparisons
//! read directly (see the `avx2` submodule). Padding holds trit 1 (weight 0) and meets zero
//! activations. One f32 scale `s` per tensor (BitNet b1.58's absmean scale: a weight is
//! `(t - 1) / s`), and per row the sum of its trits, which the matrix-vector route needs: it
//! multiplies the activations offset to unsigned bytes, `sum t (a + 128)`, and subtracts
//! `128 sum t`.
//!
//! Results are exact integer dot products `sum (t - 1) a = sum t a - sum a` scaled once by
//! `1 / (s * s_x)`, so the AVX2 and portable backends return bit-identical outputs, equal to
//! those of [`super::Ternary2Bit`] on the same codes.
use super::ternary_layout::TernaryFormat;
use super::PackedTernary;

#[cfg(target_arch = "x86_64")]
mod avx2;
mod portable;

/// Trits per byte.
pub const TRITS_PER_BYTE: usize = 5;
/// XOR applied to every stored byte (see the module docs).
const BIAS: u8 = 0x80;
/// Weights per block (160: five trits in each of 32 bytes).
pub const BLOCK: usize = <TernaryBase3Layout as TernaryFormat>::BLOCK;
/// Bytes per block (32: 1.6 bits per weight).
pub const BLOCK_BYTES: usize = <TernaryBase3Layout as TernaryFormat>::BLOCK_BYTES;

/// A ternary weight matrix `[rows, cols]` (`[out, in]`) packed in base 3 at 1.6 bits per
/// weight (BitNet b1.58 weights in ggml TQ1_0's trit encoding).
pub type Ternary1p6 = PackedTernary<TernaryBase3Layout>;

/// BitNet b1.58 ternary weights in base 3, five trits per byte in 160-weight blocks of 32
/// bytes (ggml TQ1_0's trit encoding, stored XOR `0x80`; see the module docs); the
/// matrix-vector loops take the activations offset to unsigned bytes (`a + 128`). The
/// matrix-matrix path tiles K by 12 blocks (64 rows x 1920 unpacked bytes = 120 KiB).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TernaryBase3Layout;

/// The TQ1_0 byte of five trits (each 0..=2, first most significant): `ceil(256 q / 243)` with
/// `q` their base-3 value (before the storage XOR).
pub fn encode_trits(trits: [u8; TRITS_PER_BYTE]) -> u8 {
    let q = trits.iter().fold(0u16, |q, &t| q * 3 + u16::from(t));
    (q * 256).div_ceil(243) as u8
}

impl TernaryFormat for TernaryBase3Layout {
    const KERNEL_NAME: &'static str = "bitlab-ternary-1.6bit";
    const NAME: &'static str = "1.6-bit";
    const WEIGHTS_PER_BYTE: usize = TRITS_PER_BYTE;
    /// Five padding trits (trit 1 = weight 0): `q = 121`, `b = 128`, stored XOR [`BIAS`].
    const PADDING_BYTE: u8 = 128 ^ BIAS;

    type Activation = u8;

    fn encode_byte(codes: &[u8]) -> u8 {
        encode_trits(std::array::from_fn(|i| codes[i])) ^ BIAS
    }

    fn decode_slot(byte: u8, slot: usize) -> u8 {
        portable::decode(byte)[slot]
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kernels::reference::random_codes;
    use crate::kernels::Backend;

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
    fn rows_pad_to_whole_blocks_and_keep_their_padded_trit_sums() {
        let (rows, cols) = (7, 333);
        let (codes, scale) = random_codes(rows, cols, 5);
        let m = Ternary1p6::from_codes(&codes, rows, cols, scale).unwrap();
        // 7 rows x 3 blocks x 32 bytes, 7 trit sums and the scale.
        assert_eq!(m.resident_bytes(), 7 * 3 * 32 + 7 * 4 + 4);
        for r in 0..rows {
            let padded = (0..3 * BLOCK)
                .map(|c| i32::from(if c < cols { codes[r * cols + c] + 1 } else { 1 }))
                .sum::<i32>();
            assert_eq!(m.code_sum(r), padded, "row {r}");
        }
        assert_eq!((BLOCK, BLOCK_BYTES), (160, 32));
        assert_eq!(TernaryBase3Layout::K_TILE, 12 * BLOCK);
    }

    #[test]
    fn storage_is_at_most_1_7_bits_per_weight_at_model_shapes() {
        for (rows, cols) in [(4096, 4096), (4096, 11008), (11008, 4096), (4096, 14336)] {
            let bits =
                Ternary1p6::resident_bytes_for(rows, cols) as f64 * 8.0 / (rows * cols) as f64;
            assert!(bits <= 1.7, "{rows}x{cols}: {bits} bits per weight");
        }
    }
}
