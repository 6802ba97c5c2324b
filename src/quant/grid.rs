//! What a quantizer promises about its values: which weights share a scale ([`Granularity`]),
//! how many distinct values one such block may hold ([`Grid`]), and what re-quantizing
//! already-quantized weights does ([`Requantize`]).
//!
//! These declarations are what the conformance suite (`tests/quantizer_conformance.rs`) checks
//! every scheme against, and what `bitlab quantizers` prints.
use std::fmt;

use super::packing::rows_cols;

/// Which weights share one scale (and so one set of levels).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Granularity {
    /// A floating-point format: every weight has its own exponent, nothing is shared.
    Element,
    /// One scale for the whole tensor (BitNet b1.58 absmean).
    Tensor,
    /// One scale per output channel: per row of the weight viewed as `[rows, in]`.
    Channel,
    /// One scale per group of this many consecutive weights along the input dimension, within a
    /// row; the last group of a row may be shorter (GPTQ, ggml `q4_0`).
    Group(usize),
    /// One scale per block of this many consecutive weights of the flattened (row-major) tensor,
    /// crossing row boundaries; the last block may be shorter (QLoRA / bitsandbytes).
    Block(usize),
}

impl Granularity {
    /// Flat (row-major) indices of the weights of each scale block of a tensor of `shape`, in
    /// storage order. [`Granularity::Element`] is one block: the whole tensor.
    pub fn blocks(&self, shape: &[i64]) -> Vec<Vec<usize>> {
        let (rows, cols) = rows_cols(shape);
        let numel = rows * cols;
        match *self {
            Granularity::Element | Granularity::Tensor => vec![(0..numel).collect()],
            Granularity::Channel => (0..rows)
                .map(|r| (r * cols..(r + 1) * cols).collect())
                .collect(),
            Granularity::Group(g) => (0..rows)
                .flat_map(|r| {
                    (0..cols)
                        .step_by(g.max(1))
                        .map(move |start| r * cols + start..r * cols + (start + g).min(cols))
                })
                .map(|range| range.collect())
                .collect(),
            Granularity::Block(b) => (0..numel)
                .step_by(b.max(1))
                .map(|start| (start..(start + b).min(numel)).collect())
                .collect(),
        }
    }
}

impl fmt::Display for Granularity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Granularity::Element => write!(f, "element"),
            Granularity::Tensor => write!(f, "tensor"),
            Granularity::Channel => write!(f, "channel"),
            Granularity::Group(g) => write!(f, "group {g}"),
            Granularity::Block(b) => write!(f, "block {b}"),
        }
    }
}

/// The grid a scheme's quantized weights lie on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Grid {
    /// Which weights share a scale.
    pub granularity: Granularity,
    /// The most distinct values one scale block may hold: `2^bits` or fewer (a symmetric
    /// integer grid `-q..=q` has `2^bits - 1`; ternary has 3; fp16 has at most `2^16` per tensor).
    pub levels: u64,
}

/// What `quantize_weight(quantize_weight(w))` is, compared with `quantize_weight(w)`.
///
/// The ideal is [`Requantize::Exact`]; the other variants describe schemes whose scale is a
/// statistic of the weights that re-quantization recomputes from the quantized values.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Requantize {
    /// Bit-for-bit equal (the scale is recovered exactly, e.g. a stored fp16 step, or none).
    Exact,
    /// The same codes, and values equal up to f32 rounding of a recomputed scale:
    /// `|q(q(w)) - q(w)| <= 2^-20 * |q(w)|` elementwise (e.g. `absmax / 127`, which f32 cannot
    /// hold exactly, recomputed from `127 * delta`).
    UpToScaleRounding,
    /// The same codes with a different positive scale per block: `q(q(w)) = c_b * q(w)`,
    /// `c_b > 0`. BitNet b1.58's absmean: `mean|q(W)| = nonzero_share * mean|W|`, so every
    /// re-quantization multiplies the values by the share of non-zero codes.
    SameCodes,
    /// Re-quantization may change codes: the values are on the grid, nothing more is promised
    /// (e.g. a b-bit absmean scale for b > 2, where `mean|codes|` moves the step).
    OnGridOnly,
}

impl fmt::Display for Requantize {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Requantize::Exact => "exact",
            Requantize::UpToScaleRounding => "up to scale rounding",
            Requantize::SameCodes => "same codes, rescaled",
            Requantize::OnGridOnly => "on grid only",
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blocks_follow_the_granularity() {
        let shape = [2i64, 5];
        assert_eq!(
            Granularity::Tensor.blocks(&shape),
            vec![(0..10).collect::<Vec<_>>()]
        );
        assert_eq!(
            Granularity::Channel.blocks(&shape),
            vec![(0..5).collect::<Vec<_>>(), (5..10).collect()]
        );
        assert_eq!(
            Granularity::Group(2).blocks(&shape),
            vec![
                vec![0, 1],
                vec![2, 3],
                vec![4],
                vec![5, 6],
                vec![7, 8],
                vec![9]
            ]
        );
        assert_eq!(
            Granularity::Block(4).blocks(&shape),
            vec![vec![0, 1, 2, 3], vec![4, 5, 6, 7], vec![8, 9]]
        );
        assert_eq!(Granularity::Group(64).to_string(), "group 64");
    }
}
