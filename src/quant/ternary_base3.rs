//! Base-3 packing of ternary codes: 5 trits per byte, 1.6 bits per weight (3^5 = 243 <= 256).
//!
//! The layout is ggml's TQ1_0 trit encoding (compilade, llama.cpp PR #8151), chosen because a
//! SIMD kernel extracts trits with multiplications instead of divisions:
//! - five codes `w` in {-1, 0, 1} become trits `t = w + 1` in {0, 1, 2}; the first code is the
//!   most significant trit: `q = t0*81 + t1*27 + t2*9 + t3*3 + t4` (0..=242);
//! - the byte stores `ceil(q * 256 / 243)`, i.e. `q / 243` as an 8-bit fixed-point fraction;
//! - trit `j` comes back as `((byte * 3^j) mod 256) * 3 >> 8`.
//!
//! A final partial group is padded with weight 0 (trit 1). These pure functions on `i8` codes
//! are the storage side of the packed ternary kernels; the artifact format uses the 2-bit layout
//! of [`super::ternary`].
use super::packing::quant_error;
use super::ternary::packed_ternary_kernel;
use super::KernelBinding;
use crate::kernels::{LinearKernel, Ternary1p6, TernaryBase3Layout, TernaryFormat};
use crate::Result;

/// Ternary codes per byte in the base-3 layout.
pub const TRITS_PER_BYTE: usize = 5;

const POW3: [u8; TRITS_PER_BYTE] = [1, 3, 9, 27, 81];

/// Bytes that hold `n` codes in the base-3 layout: `ceil(n / 5)`.
pub fn base3_len(n: usize) -> usize {
    n.div_ceil(TRITS_PER_BYTE)
}

/// Encodes five trits (each 0..=2, first most significant) into one byte.
pub(crate) fn encode(trits: [u8; TRITS_PER_BYTE]) -> u8 {
    let q = trits.iter().fold(0u16, |q, &t| q * 3 + u16::from(t));
    (q * 256).div_ceil(243) as u8
}

/// Decodes the five trits of one byte (first most significant).
fn decode(byte: u8) -> [u8; TRITS_PER_BYTE] {
    POW3.map(|p| ((u16::from(byte.wrapping_mul(p)) * 3) >> 8) as u8)
}

/// Packs ternary codes (-1, 0, 1) five per byte; errors on a code outside {-1, 0, 1}.
pub fn pack_ternary_base3(codes: &[i8]) -> Result<Vec<u8>> {
    if let Some(i) = codes.iter().position(|c| !(-1..=1).contains(c)) {
        return Err(quant_error(
            "ternary",
            format!(
                "code {} at index {i} is not in {{-1, 0, 1}}; pass quantized codes",
                codes[i]
            ),
        ));
    }
    Ok(codes
        .chunks(TRITS_PER_BYTE)
        .map(|chunk| {
            let mut trits = [1u8; TRITS_PER_BYTE];
            for (t, &c) in trits.iter_mut().zip(chunk) {
                *t = (c + 1) as u8;
            }
            encode(trits)
        })
        .collect())
}

/// Unpacks `n` codes from the base-3 layout; errors on a wrong byte count, a byte that
/// [`pack_ternary_base3`] never writes, or padding that is not weight 0.
pub fn unpack_ternary_base3(bytes: &[u8], n: usize) -> Result<Vec<i8>> {
    if bytes.len() != base3_len(n) {
        return Err(quant_error(
            "ternary",
            format!(
                "{} base-3 bytes for {n} weights, expected {}; the data is truncated or corrupt",
                bytes.len(),
                base3_len(n)
            ),
        ));
    }
    let mut codes = Vec::with_capacity(bytes.len() * TRITS_PER_BYTE);
    for (i, &byte) in bytes.iter().enumerate() {
        let trits = decode(byte);
        if encode(trits) != byte {
            return Err(quant_error(
                "ternary",
                format!("byte {i} ({byte}) is not a base-3 code; the data is corrupt"),
            ));
        }
        codes.extend(trits.iter().map(|&t| t as i8 - 1));
    }
    if codes[n..].iter().any(|&c| c != 0) {
        return Err(quant_error(
            "ternary",
            "padding codes of the last byte are not 0; the data is corrupt",
        ));
    }
    codes.truncate(n);
    Ok(codes)
}

/// Repacks a flat row-major base-3 stream of `rows * cols` codes (the bytes of
/// [`pack_ternary_base3`]) into the 1.6-bit kernel layout ([`Ternary1p6`]); errors on a corrupt
/// or truncated stream, a zero size, or a scale that is not positive and finite.
pub fn ternary_1p6_from_base3(
    bytes: &[u8],
    rows: usize,
    cols: usize,
    scale: f32,
) -> Result<Ternary1p6> {
    let codes = unpack_ternary_base3(bytes, rows * cols)?;
    Ternary1p6::from_codes(&codes, rows, cols, scale)
}

/// The 1.6-bit base-3 kernel ([`Ternary1p6`], ggml TQ1_0's trit encoding) bound to the packed
/// weights of [`super::TernaryQuantizer`]: the other layout of the same BitNet b1.58 codes
/// (Ma et al. 2024), loaded from the artifact's 2-bit tensor like
/// [`super::WeightCodec::kernel`]'s 2-bit kernel. Inference runs the 2-bit layout; the
/// benchmarks load this one through the same kind of binding.
pub fn ternary_base3_kernel() -> KernelBinding<'static> {
    KernelBinding::new(TernaryBase3Layout::KERNEL_NAME, |p| {
        let kernel: Box<dyn LinearKernel> =
            Box::new(packed_ternary_kernel::<TernaryBase3Layout>(p)?);
        Ok(Some(kernel))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kernels::ternary_1p6::encode_trits;
    use proptest::prelude::*;

    /// The 1.6-bit kernel stores TQ1_0 bytes (XOR its bias) and reads every valid byte as this
    /// decoder does.
    #[test]
    fn the_kernel_layout_encodes_and_decodes_every_byte_like_the_artifact_stream() {
        let mut valid = 0;
        for q in 0..243u16 {
            let trits = [q / 81, q / 27 % 3, q / 9 % 3, q / 3 % 3, q % 3].map(|t| t as u8);
            assert_eq!(encode_trits(trits), encode(trits), "q = {q}");
        }
        for b in 0..=255u8 {
            if let Ok(codes) = unpack_ternary_base3(&[b], 5) {
                let kernel = ternary_1p6_from_base3(&[b], 1, 5, 1.0).unwrap();
                let read: Vec<i8> = (0..5).map(|c| kernel.code(0, c)).collect();
                assert_eq!(read, codes, "byte {b}");
                valid += 1;
            }
        }
        assert_eq!(valid, 243, "every group of five trits has one byte");
    }

    #[test]
    fn repacking_a_base3_stream_equals_packing_its_codes() {
        let codes: Vec<i8> = (0..7 * 333).map(|i| (i * 7 % 3) as i8 - 1).collect();
        let bytes = pack_ternary_base3(&codes).unwrap();
        assert_eq!(
            ternary_1p6_from_base3(&bytes, 7, 333, 2.5).unwrap(),
            Ternary1p6::from_codes(&codes, 7, 333, 2.5).unwrap()
        );
        assert!(ternary_1p6_from_base3(&bytes[1..], 7, 333, 2.5).is_err());
        assert!(ternary_1p6_from_base3(&bytes, 7, 333, 0.0).is_err());
    }

    #[test]
    fn every_group_of_five_trits_round_trips() {
        let mut seen = std::collections::HashSet::new();
        for q in 0..243u16 {
            let trits = [q / 81, q / 27 % 3, q / 9 % 3, q / 3 % 3, q % 3].map(|t| t as u8);
            let byte = encode(trits);
            assert_eq!(decode(byte), trits, "q = {q}, byte = {byte}");
            assert!(seen.insert(byte), "two groups share byte {byte}");
        }
    }

    #[test]
    fn known_layout_and_padding() {
        // Trits 0,0,0,0,0 -> byte 0; 2,2,2,2,2 -> 255; weights [1] pads to trits 2,1,1,1,1:
        // q = 2*81 + 27 + 9 + 3 + 1 = 202, byte = ceil(202 * 256 / 243) = 213.
        assert_eq!(pack_ternary_base3(&[-1; 5]).unwrap(), vec![0]);
        assert_eq!(pack_ternary_base3(&[1; 5]).unwrap(), vec![255]);
        assert_eq!(pack_ternary_base3(&[1]).unwrap(), vec![213]);
        assert_eq!(base3_len(231), 47);
    }

    #[test]
    fn corrupt_input_is_refused() {
        assert!(pack_ternary_base3(&[0, 3]).is_err());
        let bytes = pack_ternary_base3(&[1, -1, 0, 0, 1, 1]).unwrap();
        assert!(unpack_ternary_base3(&bytes, 6).is_ok());
        let seven = pack_ternary_base3(&[1, -1, 0, 0, 1, 1, 1]).unwrap();
        assert!(
            unpack_ternary_base3(&seven, 6).is_err(),
            "padding must be weight 0"
        );
        assert!(unpack_ternary_base3(&bytes[..1], 6).is_err());
        let non_canonical = (0..=255u8).find(|&b| encode(decode(b)) != b).unwrap();
        assert!(unpack_ternary_base3(&[non_canonical], 5).is_err());
    }

    proptest! {
        #[test]
        fn base3_round_trips(codes in proptest::collection::vec(-1i8..=1, 0..200)) {
            let bytes = pack_ternary_base3(&codes).unwrap();
            prop_assert_eq!(bytes.len(), base3_len(codes.len()));
            prop_assert_eq!(unpack_ternary_base3(&bytes, codes.len()).unwrap(), codes);
        }
    }
}
