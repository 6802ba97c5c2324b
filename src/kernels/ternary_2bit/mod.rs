//! The 2-bit ternary layout ([`Ternary2BitLayout`]) and its kernel [`Ternary2Bit`].
//!
//! Layout (bitnet.cpp's I2_S idea: blocks of 128 with the codes interleaved for SIMD): each row
//! of `cols` BitNet b1.58 weights (Ma et al., 2024) is padded to a whole number of 128-weight
//! blocks; a block is 32 bytes, and bit pair `p` (bits `2p..2p+2`) of byte `j` holds the code
//! `w + 1` of weight `32 p + j` of the block. One 32-byte load, shifted by 0, 2, 4 and 6 and
//! masked with 3, yields the codes of weights 0..32, 32..64, 64..96 and 96..128 in order, ready
//! for `_mm256_maddubs_epi16`. Padding holds code 1 (weight 0) and meets zero activations. One
//! f32 scale `s` per tensor (BitNet b1.58's absmean scale: a weight is `(code - 1) / s`).
//!
//! Results are exact integer dot products `sum (c - 1) a = sum c a - sum a` scaled once by
//! `1 / (s * s_x)`, so the AVX2 and portable backends return bit-identical outputs.
use super::ternary_layout::TernaryFormat;
use super::PackedTernary;

#[cfg(target_arch = "x86_64")]
mod avx2;
mod portable;

/// Codes per byte (2 bits each).
pub const WEIGHTS_PER_BYTE: usize = 4;
/// Weights per block (128).
pub const BLOCK: usize = <Ternary2BitLayout as TernaryFormat>::BLOCK;
/// Bytes per block (32: 2 bits per weight).
pub const BLOCK_BYTES: usize = <Ternary2BitLayout as TernaryFormat>::BLOCK_BYTES;

/// A ternary weight matrix `[rows, cols]` (`[out, in]`) packed at 2 bits per weight.
pub type Ternary2Bit = PackedTernary<Ternary2BitLayout>;

/// BitNet b1.58 ternary weights at 2 bits, four codes `w + 1` per byte in 128-weight blocks
/// (see the module docs); activations are int8, multiplied as they are. The matrix-matrix path
/// tiles K by 2048 weights (64 rows x 2048 unpacked bytes = 128 KiB).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ternary2BitLayout;

impl TernaryFormat for Ternary2BitLayout {
    const KERNEL_NAME: &'static str = "bitlab-ternary-2bit";
    const NAME: &'static str = "2-bit";
    const WEIGHTS_PER_BYTE: usize = WEIGHTS_PER_BYTE;
    /// Four padding codes: code 1 (weight 0) in every bit pair.
    const PADDING_BYTE: u8 = 0b0101_0101;

    type Activation = i8;

    fn encode_byte(codes: &[u8]) -> u8 {
        codes
            .iter()
            .enumerate()
            .fold(0, |byte, (p, &code)| byte | (code << (2 * p)))
    }

    fn decode_slot(byte: u8, slot: usize) -> u8 {
        (byte >> (2 * slot)) & 0b11
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kernels::reference::random_codes;

    #[test]
    fn rows_pad_to_whole_32_byte_blocks_of_128_weights() {
        let (codes, scale) = random_codes(7, 133, 5);
        let m = Ternary2Bit::from_codes(&codes, 7, 133, scale).unwrap();
        // 7 rows x 2 blocks x 32 bytes + the scale: 2 bits per weight plus row padding.
        assert_eq!(m.resident_bytes(), 7 * 2 * 32 + 4);
        assert_eq!((BLOCK, BLOCK_BYTES), (128, 32));
        assert_eq!(Ternary2BitLayout::K_TILE, 2048);
    }
}
