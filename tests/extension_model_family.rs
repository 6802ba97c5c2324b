//! Adding a model family, done as docs/ARCHITECTURE.md says ("A model family"): the family's
//! forward pass is written once in one file, generic over its linear operation, and implements
//! `SequenceClassifier<L>`. The same code then trains with `QuantLinear` (fake quantization with
//! the straight-through estimator, BitNet b1.58) and runs on packed kernels with `PackedLinear`
//! (bitlab's ternary kernel). Only the `build_family` arm, which picks a family from a trial's
//! settings, cannot be added from a test file.
use std::sync::Arc;

use bitlab::attention::AttentionKind;
use bitlab::bench::timing::thread_pool;
use bitlab::kernels::{Backend, KernelContext};
use bitlab::model::{Linear, PackedLinear, Pass, QuantLinear, QuantMode, SequenceClassifier};
use bitlab::quant::{registry, QuantConfig, Quantizer};
use bitlab::Result;
use tch::nn::{self, Module, OptimizerConfig};
use tch::{Device, Kind, Tensor};

/// The new family: a bag of embeddings, mean-pooled over the tokens, then two linear layers.
#[derive(Debug)]
struct MeanPoolMlp<L> {
    embedding: nn::Embedding,
    hidden: L,
    out: L,
}

impl<L: Linear> MeanPoolMlp<L> {
    /// Builds the family under `vs`, asking `linear(path, in, out, bias)` for each projection.
    fn build(
        vs: &nn::Path,
        vocab: i64,
        width: usize,
        labels: usize,
        linear: &mut impl FnMut(&nn::Path, usize, usize, bool) -> Result<L>,
    ) -> Result<Self> {
        Ok(Self {
            embedding: nn::embedding(vs / "embedding", vocab, width as i64, Default::default()),
            hidden: linear(&(vs / "hidden"), width, width, false)?,
            out: linear(&(vs / "out"), width, labels, false)?,
        })
    }
}

impl<L: Linear> SequenceClassifier<L> for MeanPoolMlp<L> {
    fn logits(&self, ids: &Tensor, mask: &Tensor, pass: &Pass) -> Result<Tensor> {
        let mask = mask.to_kind(Kind::Float).unsqueeze(-1);
        let summed = (self.embedding.forward(ids) * &mask).sum_dim_intlist(1, false, Kind::Float);
        let pooled = summed / mask.sum_dim_intlist(1, false, Kind::Float).clamp_min(1.0);
        let hidden = self.hidden.forward(&pooled, pass)?.relu();
        self.out.forward(&hidden, pass)
    }

    fn linears(&self) -> Vec<&L> {
        vec![&self.hidden, &self.out]
    }

    fn linears_mut(&mut self) -> Vec<&mut L> {
        vec![&mut self.hidden, &mut self.out]
    }

    fn set_attention(&mut self, _attention: AttentionKind) {}
}

/// A toy task: label 1 when token 1 occurs in the sequence.
fn toy_batch(rows: i64) -> (Tensor, Tensor, Tensor) {
    let ids = Tensor::randint_low(2, 30, [rows, 8], (Kind::Int64, Device::Cpu));
    let labels = Tensor::randint(2, [rows], (Kind::Int64, Device::Cpu));
    let marked = ids.narrow(1, 0, 1).where_self(
        &labels.eq(0).unsqueeze(-1),
        &Tensor::ones([rows, 1], (Kind::Int64, Device::Cpu)),
    );
    let ids = Tensor::cat(&[marked, ids.narrow(1, 1, 7)], 1);
    (
        ids,
        Tensor::ones([rows, 8], (Kind::Int64, Device::Cpu)),
        labels,
    )
}

#[test]
fn a_new_family_trains_with_quant_linear_and_runs_packed_with_the_same_code() {
    tch::manual_seed(5);
    let ternary: Arc<dyn Quantizer> = registry::resolve(&QuantConfig {
        scheme: "ternary".into(),
        ..Default::default()
    })
    .unwrap();

    // Training: the family with QuantLinear (ternary weights and 8-bit activations, STE).
    let vs = nn::VarStore::new(Device::Cpu);
    let model = MeanPoolMlp::build(&vs.root(), 30, 128, 2, &mut |path, i, o, bias| {
        Ok(QuantLinear::new(path, i, o, bias, ternary.clone()))
    })
    .unwrap();
    let mut opt = nn::Adam::default().build(&vs, 1e-2).unwrap();
    let (ids, mask, labels) = toy_batch(256);
    let train = QuantMode::Train { lambda: 1.0 };
    let loss_of = |m: &MeanPoolMlp<QuantLinear>| {
        m.forward(&ids, &mask, train, true)
            .unwrap()
            .cross_entropy_for_logits(&labels)
    };
    let first = loss_of(&model).double_value(&[]);
    for _ in 0..60 {
        opt.backward_step(&loss_of(&model));
    }
    let last = loss_of(&model).double_value(&[]);
    assert!(
        last < 0.5 * first,
        "QAT did not learn the toy task: loss {first} -> {last}"
    );

    // Inference: the same family with PackedLinear, each layer's packed ternary weight running
    // on bitlab's kernel; the embedding is copied over by name.
    let mut packed_layers = model
        .linears()
        .into_iter()
        .map(|l| PackedLinear::from_packed(&ternary.pack(&l.weight).unwrap(), &ternary).unwrap())
        .collect::<Vec<_>>()
        .into_iter();
    let mut packed_vs = nn::VarStore::new(Device::Cpu);
    let packed = MeanPoolMlp::build(&packed_vs.root(), 30, 128, 2, &mut |_, _, _, _| {
        Ok(packed_layers
            .next()
            .expect("one packed layer per projection"))
    })
    .unwrap();
    packed_vs.copy(&vs).unwrap();
    let names: Vec<String> = packed
        .linears()
        .iter()
        .map(|l| l.kernel_name(Backend::detect()))
        .collect();
    assert!(
        names.iter().all(|n| n.starts_with("bitlab-ternary-2bit-")),
        "{names:?}"
    );

    let pool = thread_pool(1).unwrap();
    let ctx = KernelContext {
        backend: Backend::detect(),
        pool: &pool,
    };
    let (ids, mask, labels) = toy_batch(128);
    let expected = tch::no_grad(|| model.forward(&ids, &mask, train, false)).unwrap();
    let got = packed.logits(&ids, &mask, &Pass::packed(ctx)).unwrap();
    // The packed kernel computes the same integer products; only an 8-bit activation code
    // rounding the other way on the last bit of the straight-through form can move a logit,
    // by a fraction of one code step.
    let scale = expected.abs().max().double_value(&[]).max(1.0);
    let diff = (&got - &expected).abs().max().double_value(&[]);
    assert!(
        diff < 1e-2 * scale,
        "packed logits differ by {diff} (scale {scale})"
    );
    let accuracy = got
        .argmax(-1, false)
        .eq_tensor(&labels)
        .to_kind(Kind::Double)
        .mean(Kind::Double)
        .double_value(&[]);
    assert!(
        accuracy > 0.9,
        "the packed model lost the task: accuracy {accuracy}"
    );
}
