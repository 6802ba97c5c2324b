//! Packing unsigned codes of any width from 1 to 8 bits into a dense little-endian bit stream.
//!
//! Code `i` occupies bits `[i * b, (i + 1) * b)` of the stream, where bit `k` of the stream is
//! bit `k % 8` of byte `k / 8` (least significant bit first; a code may straddle two bytes).
//! `n` codes take exactly `ceil(n * b / 8)` bytes; the unused high bits of the last byte are 0.
//! Used by the 1-bit [`super::binary`] and the b-bit [`super::uniform`] layouts.

/// Bytes that hold `n` codes of `bits` bits: `ceil(n * bits / 8)`.
pub fn packed_bits_len(n: usize, bits: u32) -> usize {
    (n * bits as usize).div_ceil(8)
}

/// Packs `codes` (each below `2^bits`, `1 <= bits <= 8`) into `ceil(n * bits / 8)` bytes.
/// Errors with the index of the first code that does not fit.
pub fn pack_bits(codes: &[u8], bits: u32) -> Result<Vec<u8>, String> {
    check_width(bits)?;
    if let Some(i) = codes.iter().position(|&c| u32::from(c) >> bits != 0) {
        return Err(format!(
            "code {} at index {i} does not fit in {bits} bits",
            codes[i]
        ));
    }
    let mut bytes = vec![0u8; packed_bits_len(codes.len(), bits)];
    for (i, &code) in codes.iter().enumerate() {
        let bit = i * bits as usize;
        let word = u16::from(code) << (bit % 8);
        bytes[bit / 8] |= word as u8;
        if bit % 8 + bits as usize > 8 {
            bytes[bit / 8 + 1] |= (word >> 8) as u8;
        }
    }
    Ok(bytes)
}

/// Unpacks `n` codes of `bits` bits; errors on a byte count other than `ceil(n * bits / 8)` or
/// on padding bits that are not 0.
pub fn unpack_bits(bytes: &[u8], n: usize, bits: u32) -> Result<Vec<u8>, String> {
    check_width(bits)?;
    let expected = packed_bits_len(n, bits);
    if bytes.len() != expected {
        return Err(format!(
            "{} code bytes for {n} codes of {bits} bits, expected {expected}; the data is \
             truncated or corrupt",
            bytes.len()
        ));
    }
    let mask = (1u16 << bits) - 1;
    let codes: Vec<u8> = (0..n)
        .map(|i| {
            let bit = i * bits as usize;
            let low = u16::from(bytes[bit / 8]);
            let high = bytes.get(bit / 8 + 1).map_or(0, |&b| u16::from(b));
            (((low | (high << 8)) >> (bit % 8)) & mask) as u8
        })
        .collect();
    let used = n * bits as usize;
    if used % 8 != 0 && bytes[used / 8] >> (used % 8) != 0 {
        return Err("padding bits of the last byte are not 0; the data is corrupt".into());
    }
    Ok(codes)
}

fn check_width(bits: u32) -> Result<(), String> {
    if (1..=8).contains(&bits) {
        Ok(())
    } else {
        Err(format!("code width {bits} is outside 1..=8 bits"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn three_bit_codes_straddle_bytes_lsb_first() {
        // codes 5, 3, 7 -> bits 101, 011, 111 -> stream (LSB first) 1,0,1, 1,1,0, 1,1,1
        let bytes = pack_bits(&[5, 3, 7], 3).unwrap();
        assert_eq!(bytes, vec![0b1101_1101, 0b0000_0001]);
        assert_eq!(unpack_bits(&bytes, 3, 3).unwrap(), vec![5, 3, 7]);
        assert_eq!(packed_bits_len(3, 3), 2);
        assert!(pack_bits(&[8], 3).is_err(), "8 needs 4 bits");
        assert!(unpack_bits(&[0b1111_1101, 1], 3, 3).is_ok());
        assert!(
            unpack_bits(&[0b1101_1101, 0b10], 3, 3).is_err(),
            "padding must be 0"
        );
        assert!(unpack_bits(&bytes, 6, 3).is_err(), "too few bytes");
        assert!(pack_bits(&[0], 9).is_err());
    }

    proptest! {
        #[test]
        fn round_trips_every_width(bits in 1u32..=8, raw in proptest::collection::vec(any::<u8>(), 0..70)) {
            let codes: Vec<u8> = raw.iter().map(|&c| (u32::from(c) % (1 << bits)) as u8).collect();
            let bytes = pack_bits(&codes, bits).unwrap();
            prop_assert_eq!(bytes.len(), (codes.len() * bits as usize).div_ceil(8));
            prop_assert_eq!(unpack_bits(&bytes, codes.len(), bits).unwrap(), codes);
        }
    }
}
