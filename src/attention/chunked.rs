//! Chunked attention with an online softmax, written with plain tch operations: bitlab's own
//! memory-efficient kernel.
//!
//! Queries are processed in blocks of [`QUERY_BLOCK`] rows; for each query block the keys and
//! values are visited in blocks of [`KEY_BLOCK`] columns while a running row maximum `m`, a
//! running normalizer `l` and an unnormalized output accumulator `acc` are kept and rescaled
//! whenever the maximum grows (the online softmax of Milakov & Gimelshein, 2018, "Online
//! normalizer calculation for softmax"; its use for attention: Rabe & Staats, 2021,
//! "Self-attention does not need O(n^2) memory", and Dao et al., 2022, "FlashAttention"):
//!
//! ```text
//! s    = q_i k_j^T / sqrt(d) + mask_j          [block_q x block_k]
//! m'   = max(m, rowmax(s))
//! p    = exp(s - m')
//! c    = exp(m - m')
//! l    = c * l + rowsum(p)
//! acc  = c * acc + p v_j
//! out_i = acc / l                              after the last key block
//! ```
//!
//! The largest temporary is one `[batch, heads, QUERY_BLOCK, KEY_BLOCK]` score block, so at
//! inference (no autograd graph) memory grows linearly with the sequence length: no `len x len`
//! tensor ever exists. Under autograd, libtorch keeps every block's probabilities for the
//! backward pass (tch has no custom autograd functions, so the recomputing backward of
//! FlashAttention and the checkpointing of Rabe & Staats are not available here): training
//! memory of this kernel is still quadratic in the length; the training-memory measurements
//! show it.
use super::{additive_key_mask, AttentionInput};
use tch::Tensor;

/// Query rows per block.
pub const QUERY_BLOCK: i64 = 256;
/// Key (and value) rows per block.
pub const KEY_BLOCK: i64 = 512;

/// Runs the kernel with the default block sizes ([`QUERY_BLOCK`] x [`KEY_BLOCK`]).
pub(super) fn attend(input: &AttentionInput) -> Tensor {
    attend_blocked(input, QUERY_BLOCK, KEY_BLOCK)
}

/// Runs the kernel with blocks of `query_block` queries against `key_block` keys (both >= 1).
pub(super) fn attend_blocked(input: &AttentionInput, query_block: i64, key_block: i64) -> Tensor {
    assert!(
        query_block > 0 && key_block > 0,
        "chunked attention needs positive block sizes, got {query_block} x {key_block}"
    );
    let (q, k, v) = (input.q, input.k, input.v);
    let [batch, heads, q_len, head_dim] = q.size()[..] else {
        panic!(
            "attention expects [batch, heads, len, head_dim] queries, got {:?}",
            q.size()
        );
    };
    let k_len = k.size()[2];
    let kind = q.kind();
    let scale = 1.0 / (head_dim as f64).sqrt();
    // [batch, 1, 1, k_len]: broadcasts over heads and query rows.
    let mask = additive_key_mask(input.key_mask, kind);
    let mut outputs = Vec::new();
    for q_start in (0..q_len).step_by(query_block as usize) {
        let rows = query_block.min(q_len - q_start);
        let q_i = q.narrow(2, q_start, rows) * scale;
        let mut running_max = Tensor::full(
            [batch, heads, rows, 1],
            f64::NEG_INFINITY,
            (kind, q.device()),
        );
        let mut normalizer = Tensor::zeros([batch, heads, rows, 1], (kind, q.device()));
        let mut acc = Tensor::zeros([batch, heads, rows, head_dim], (kind, q.device()));
        for k_start in (0..k_len).step_by(key_block as usize) {
            let cols = key_block.min(k_len - k_start);
            let k_j = k.narrow(2, k_start, cols);
            let v_j = v.narrow(2, k_start, cols);
            let scores = q_i.matmul(&k_j.transpose(-2, -1)) + mask.narrow(3, k_start, cols);
            // The shift cancels in exact arithmetic, so it carries no gradient (detached).
            let (block_max, _) = scores.detach().max_dim(-1, true);
            let new_max = running_max.maximum(&block_max);
            let probs = (scores - &new_max).exp();
            let correction = (&running_max - &new_max).exp();
            normalizer = &normalizer * &correction + probs.sum_dim_intlist(-1, true, kind);
            acc = &acc * &correction + probs.matmul(&v_j);
            running_max = new_max;
        }
        outputs.push(acc / normalizer);
    }
    Tensor::cat(&outputs, 2)
}
