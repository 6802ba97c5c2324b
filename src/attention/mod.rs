//! Attention kernels, one per file, behind one enum ([`AttentionKind`]).
//!
//! All kernels compute softmax(Q K^T / sqrt(d)) V with a key padding mask; they differ only in
//! how much memory they touch. The paper credits memory-efficient (flash) attention
//! (Dao et al., 2022) for part of its memory savings, so the kernel is a sweep axis.
use tch::Tensor;

pub use crate::experiment::AttentionKind;

mod flash;
mod math;
mod naive;

/// Inputs of one attention call. There is no attention-probability dropout (libtorch's CPU
/// flash kernel has none), so every kernel computes the same function; models apply dropout
/// on the residual branches instead.
/// `q`, `k`, `v` are `[batch, heads, len, head_dim]`;
/// `key_mask` is `[batch, len]` with 1 for tokens and 0 for padding.
pub struct AttentionInput<'a> {
    /// Queries.
    pub q: &'a Tensor,
    /// Keys.
    pub k: &'a Tensor,
    /// Values.
    pub v: &'a Tensor,
    /// Key padding mask (1 = attend, 0 = padding).
    pub key_mask: &'a Tensor,
}

impl AttentionKind {
    /// Runs this kernel. Output is `[batch, heads, len, head_dim]`.
    pub fn attend(self, input: &AttentionInput) -> Tensor {
        match self {
            AttentionKind::Naive => naive::attend(input),
            AttentionKind::Math => math::attend(input),
            AttentionKind::Flash => flash::attend(input),
        }
    }

    /// Name of the kernel that runs on `device` (recorded with every measurement).
    pub fn kernel_name(self, device: tch::Device) -> &'static str {
        match (self, device.is_cuda()) {
            (AttentionKind::Naive, _) => "naive",
            (AttentionKind::Math, _) => "sdpa-math",
            (AttentionKind::Flash, false) => "flash-cpu",
            (AttentionKind::Flash, true) => "sdpa-cuda",
        }
    }
}

/// Additive mask `[batch, 1, 1, len]`: 0 where keys are tokens, a large negative value at padding.
pub(crate) fn additive_key_mask(key_mask: &Tensor, kind: tch::Kind) -> Tensor {
    let pad = key_mask.eq(0).unsqueeze(1).unsqueeze(1);
    Tensor::zeros(pad.size(), (kind, key_mask.device())).masked_fill(&pad, -1e9)
}

#[cfg(test)]
mod tests {
    use super::*;
    use tch::{Device, Kind};

    fn inputs(seed: i64) -> (Tensor, Tensor, Tensor, Tensor) {
        tch::manual_seed(seed);
        let (b, h, l, d) = (2, 3, 7, 8);
        let q = Tensor::randn([b, h, l, d], (Kind::Float, Device::Cpu));
        let k = Tensor::randn([b, h, l, d], (Kind::Float, Device::Cpu));
        let v = Tensor::randn([b, h, l, d], (Kind::Float, Device::Cpu));
        // second sequence has 3 padding positions
        let mask = Tensor::from_slice(&[1i64, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0]).view([2, 7]);
        (q, k, v, mask)
    }

    #[test]
    fn kernels_agree_with_padding() {
        let (q, k, v, mask) = inputs(0);
        let input = AttentionInput {
            q: &q,
            k: &k,
            v: &v,
            key_mask: &mask,
        };
        let reference = AttentionKind::Naive.attend(&input);
        for kind in [AttentionKind::Math, AttentionKind::Flash] {
            let out = kind.attend(&input);
            let diff = (&out - &reference).abs().max().double_value(&[]);
            assert!(diff < 1e-5, "{kind:?} differs from naive by {diff}");
        }
    }

    #[test]
    fn padding_keys_are_ignored() {
        let (q, k, v, mask) = inputs(1);
        let input = AttentionInput {
            q: &q,
            k: &k,
            v: &v,
            key_mask: &mask,
        };
        let out = AttentionKind::Flash.attend(&input);
        // Changing the values at padded positions must not change any output.
        let v2 = v.copy();
        let _ = v2.get(1).narrow(1, 4, 3).fill_(100.0);
        let input2 = AttentionInput { v: &v2, ..input };
        let out2 = AttentionKind::Flash.attend(&input2);
        assert!((&out - &out2).abs().max().double_value(&[]) < 1e-6);
    }

    #[test]
    fn gradients_agree() {
        let (q, k, v, mask) = inputs(2);
        let mut grads = vec![];
        for kind in [
            AttentionKind::Naive,
            AttentionKind::Math,
            AttentionKind::Flash,
        ] {
            let q = q.copy().set_requires_grad(true);
            let input = AttentionInput {
                q: &q,
                k: &k,
                v: &v,
                key_mask: &mask,
            };
            kind.attend(&input)
                .pow_tensor_scalar(2)
                .sum(Kind::Float)
                .backward();
            grads.push(q.grad());
        }
        for g in &grads[1..] {
            assert!((g - &grads[0]).abs().max().double_value(&[]) < 1e-4);
        }
    }
}
