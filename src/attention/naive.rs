//! Naive attention: materializes the full `[batch, heads, len, len]` score matrix
//! (Vaswani et al., 2017). Memory grows quadratically with length; the reference for the others.
use super::{additive_key_mask, AttentionInput};
use tch::Tensor;

/// softmax(Q K^T / sqrt(d) + mask) V, written out step by step.
pub(super) fn attend(input: &AttentionInput) -> Tensor {
    let head_dim = input.q.size()[3] as f64;
    let scores = input.q.matmul(&input.k.transpose(-2, -1)) / head_dim.sqrt();
    let mask = additive_key_mask(input.key_mask, scores.kind());
    let scores = scores + mask;
    let probs = scores.softmax(-1, scores.kind());
    probs.matmul(input.v)
}
