//! Portable (plain Rust) code of the ternary kernels: the loops every layout implements
//! ([`PortableLoops`]) and the dot products of unpacked codes of the matrix-matrix path that
//! they share. They compute the same integers as [`super::avx2`]: no intermediate of the AVX2
//! route saturates (see there), so both are exact.
use crate::kernels::ternary_layout::TernaryFormat;

/// A ternary layout's plain-Rust inner loops (any CPU).
pub trait PortableLoops: TernaryFormat {
    /// `sum_k c_k a_k` over one packed row (codes `c = w + 1`) and its padded activations
    /// (`WEIGHTS_PER_BYTE * packed.len()` of them, in the layout's activation form).
    fn dot_packed_row(packed: &[u8], a: &[Self::Activation]) -> i32;

    /// Unpacks whole blocks of one row to one code byte `w + 1` per weight, in column order
    /// (`out.len() == WEIGHTS_PER_BYTE * packed.len()`).
    fn unpack(packed: &[u8], out: &mut [u8]);
}

/// `dots[r * a.len() + t] = sum_k w[r][k] a[t][k]` for unpacked codes `w` and activations `a`,
/// all of one length.
pub(crate) fn dot_codes_tile(w: &[&[u8]], a: &[&[i8]], dots: &mut [i32]) {
    assert_eq!(dots.len(), w.len() * a.len(), "one dot per row and token");
    for (r, row) in w.iter().enumerate() {
        for (t, token) in a.iter().enumerate() {
            assert_eq!(
                row.len(),
                token.len(),
                "codes and activations differ in length"
            );
            dots[r * a.len() + t] = row
                .iter()
                .zip(token.iter())
                .map(|(&c, &x)| i32::from(c) * i32::from(x))
                .sum();
        }
    }
}
