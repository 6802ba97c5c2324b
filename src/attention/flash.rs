//! Flash attention (Dao et al., 2022, "FlashAttention: Fast and Memory-Efficient Exact Attention
//! with IO-Awareness"): tiles queries and keys with an online softmax so the `len x len` score
//! matrix never exists. On CPU this is libtorch's `_scaled_dot_product_flash_attention_for_cpu`
//! (which has a backward, so it serves training); on CUDA, `scaled_dot_product_attention`, which
//! dispatches to the flash / memory-efficient CUDA kernels.
use super::{additive_key_mask, AttentionInput};
use tch::Tensor;

/// Runs the device's memory-efficient attention kernel with an additive padding mask.
pub(super) fn attend(input: &AttentionInput) -> Tensor {
    let mask = additive_key_mask(input.key_mask, input.q.kind());
    if input.q.device().is_cuda() {
        return Tensor::scaled_dot_product_attention(
            input.q,
            input.k,
            input.v,
            Some(&mask),
            0.0,
            false,
            None,
            false,
        );
    }
    let (out, _) = Tensor::internal_scaled_dot_product_flash_attention_for_cpu(
        input.q,
        input.k,
        input.v,
        0.0,
        false,
        Some(&mask),
        None,
    );
    out
}
