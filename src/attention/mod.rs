//! Attention kernels, one per file, behind one enum ([`AttentionKind`]).
//!
//! All kernels compute softmax(Q K^T / sqrt(d)) V with a key padding mask; they differ only in
//! how much memory they touch: `naive` and `math` materialize the `len x len` scores, `flash`
//! (libtorch's kernel) and `chunked` (ours, [`chunked`]) never do. The paper credits memory-efficient (flash) attention
//! (Dao et al., 2022) for part of its memory savings, so the kernel is a sweep axis.
use tch::Tensor;

pub use config::AttentionKind;

pub mod chunked;
mod config;
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
    /// Every kernel, in the order reports list them.
    pub const ALL: [AttentionKind; 4] = [
        AttentionKind::Naive,
        AttentionKind::Math,
        AttentionKind::Flash,
        AttentionKind::Chunked,
    ];

    /// Runs this kernel. Output is `[batch, heads, len, head_dim]`.
    pub fn attend(self, input: &AttentionInput) -> Tensor {
        match self {
            AttentionKind::Naive => naive::attend(input),
            AttentionKind::Math => math::attend(input),
            AttentionKind::Flash => flash::attend(input),
            AttentionKind::Chunked => chunked::attend(input),
        }
    }

    /// Name of the kernel that runs on `device` (recorded with every measurement).
    pub fn kernel_name(self, device: tch::Device) -> &'static str {
        match (self, device.is_cuda()) {
            (AttentionKind::Naive, _) => "naive",
            (AttentionKind::Math, _) => "sdpa-math",
            (AttentionKind::Flash, false) => "flash-cpu",
            (AttentionKind::Flash, true) => "sdpa-cuda",
            (AttentionKind::Chunked, _) => "chunked",
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
    use proptest::prelude::*;
    use tch::{Device, Kind};

    /// Random `[batch, heads, len, head_dim]` q, k, v and a mask whose sequences hold
    /// `valid[i]` tokens followed by padding.
    fn inputs(seed: u64, shape: [i64; 4], valid: &[i64]) -> (Tensor, Tensor, Tensor, Tensor) {
        tch::manual_seed(seed as i64);
        let opts = (Kind::Float, Device::Cpu);
        let [b, _, l, _] = shape;
        let q = Tensor::randn(shape, opts);
        let k = Tensor::randn(shape, opts);
        let v = Tensor::randn(shape, opts);
        let mask: Vec<i64> = (0..b)
            .flat_map(|i| (0..l).map(move |j| i64::from(j < valid[i as usize])))
            .collect();
        (q, k, v, Tensor::from_slice(&mask).view([b, l]))
    }

    /// Output, then gradients w.r.t. q, k and v of `sum(out * upstream)`.
    fn output_and_gradients(
        attend: impl Fn(&AttentionInput) -> Tensor,
        (q, k, v, mask): &(Tensor, Tensor, Tensor, Tensor),
        upstream: &Tensor,
    ) -> [Tensor; 4] {
        let q = q.copy().set_requires_grad(true);
        let k = k.copy().set_requires_grad(true);
        let v = v.copy().set_requires_grad(true);
        let out = attend(&AttentionInput {
            q: &q,
            k: &k,
            v: &v,
            key_mask: mask,
        });
        (&out * upstream).sum(Kind::Float).backward();
        [out.detach(), q.grad(), k.grad(), v.grad()]
    }

    /// Largest absolute difference relative to the largest reference magnitude, or to 1 where
    /// the reference is smaller than that (a saturated softmax has gradients that are exactly
    /// zero in the naive kernel and round-off in the others).
    fn relative_difference(got: &Tensor, reference: &Tensor) -> f64 {
        let scale = reference.abs().max().double_value(&[]).max(1.0);
        (got - reference).abs().max().double_value(&[]) / scale
    }

    fn assert_close(what: &str, got: &[Tensor; 4], reference: &[Tensor; 4]) {
        for (name, (g, r)) in ["output", "dq", "dk", "dv"]
            .iter()
            .zip(got.iter().zip(reference))
        {
            let diff = relative_difference(g, r);
            assert!(
                diff <= 1e-5,
                "{what}: {name} differs from naive by {diff:e} (relative)"
            );
        }
    }

    /// A shape, its per-sequence valid lengths (at least one token each), a seed, and block
    /// sizes for the chunked kernel small enough to cut the sequence into several blocks.
    fn case() -> impl Strategy<Value = ([i64; 4], Vec<i64>, u64, i64, i64)> {
        (
            1i64..=2,
            1i64..=3,
            1i64..=13,
            prop::sample::select(vec![4i64, 8, 16]),
        )
            .prop_flat_map(|(b, h, l, d)| {
                (
                    Just([b, h, l, d]),
                    prop::collection::vec(1..=l, b as usize),
                    any::<u64>(),
                    1i64..=5,
                    1i64..=5,
                )
            })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(16))]

        /// Every kernel (and the chunked kernel at several block sizes) computes the same
        /// outputs and gradients as the naive one, within 1e-5 relative, with random padding.
        #[test]
        fn kernels_agree_on_outputs_and_gradients(
            (shape, valid, seed, query_block, key_block) in case()
        ) {
            let data = inputs(seed, shape, &valid);
            let upstream = Tensor::randn(shape, (Kind::Float, Device::Cpu));
            let reference =
                output_and_gradients(|i| AttentionKind::Naive.attend(i), &data, &upstream);
            for kind in AttentionKind::ALL {
                let got = output_and_gradients(|i| kind.attend(i), &data, &upstream);
                assert_close(&format!("{kind:?}"), &got, &reference);
            }
            let got = output_and_gradients(
                |i| chunked::attend_blocked(i, query_block, key_block),
                &data,
                &upstream,
            );
            assert_close(&format!("chunked {query_block}x{key_block}"), &got, &reference);
        }
    }

    #[test]
    fn padding_keys_are_ignored_by_every_kernel() {
        let (q, k, v, mask) = inputs(1, [2, 3, 7, 8], &[7, 4]);
        let input = AttentionInput {
            q: &q,
            k: &k,
            v: &v,
            key_mask: &mask,
        };
        // Changing the keys and values at padded positions must not change any output.
        let (k2, v2) = (k.copy(), v.copy());
        let _ = k2.get(1).narrow(1, 4, 3).fill_(-50.0);
        let _ = v2.get(1).narrow(1, 4, 3).fill_(100.0);
        let changed = AttentionInput {
            k: &k2,
            v: &v2,
            ..input
        };
        for kind in AttentionKind::ALL {
            let diff = (kind.attend(&input) - kind.attend(&changed))
                .abs()
                .max()
                .double_value(&[]);
            assert!(
                diff < 1e-6,
                "{kind:?}: padding changed the output by {diff}"
            );
        }
    }

    #[test]
    fn chunked_blocks_cover_lengths_that_are_not_multiples_of_the_block() {
        let (q, k, v, mask) = inputs(3, [1, 2, 2 * chunked::QUERY_BLOCK + 3, 4], &[300]);
        let input = AttentionInput {
            q: &q,
            k: &k,
            v: &v,
            key_mask: &mask,
        };
        let got = AttentionKind::Chunked.attend(&input);
        let reference = AttentionKind::Naive.attend(&input);
        assert!(relative_difference(&got, &reference) <= 1e-5);
    }
}
