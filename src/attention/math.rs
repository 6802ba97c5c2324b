//! libtorch's "math" scaled-dot-product attention: the composite reference implementation of
//! `torch.nn.functional.scaled_dot_product_attention`, which also materializes the scores.
use super::{additive_key_mask, AttentionInput};
use tch::Tensor;

/// Calls `aten::_scaled_dot_product_attention_math` with an additive padding mask.
pub(super) fn attend(input: &AttentionInput) -> Tensor {
    let mask = additive_key_mask(input.key_mask, input.q.kind());
    let (out, _) = Tensor::internal_scaled_dot_product_attention_math(
        input.q,
        input.k,
        input.v,
        Some(&mask),
        0.0,
        false,
        None::<&Tensor>,
        None,
        false,
    );
    out
}
