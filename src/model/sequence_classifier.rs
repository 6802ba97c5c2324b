//! The interface every model family implements: the BitNet encoder trained from scratch
//! ([`super::Classifier`]) and pretrained BERT ([`super::BertClassifier`]), each generic over its
//! [`Linear`] operation. Training, evaluation, export and measurement only use this trait, so a
//! new family is one file that implements it plus one arm in [`super::build_model`] (and one in
//! [`super::load_inference`]'s packed builder).
use super::linear::{Linear, Pass};
use super::{QuantLinear, QuantMode};
use crate::attention::AttentionKind;
use crate::Result;
use tch::Tensor;

/// A sequence classifier whose linear layers are `L`s ([`QuantLinear`] when training).
pub trait SequenceClassifier<L: Linear = QuantLinear> {
    /// Logits `[batch, num_labels]` for token ids `[batch, len]` and padding mask `[batch, len]`
    /// (1 = token, 0 = padding), run as `pass` says.
    fn logits(&self, ids: &Tensor, mask: &Tensor, pass: &Pass) -> Result<Tensor>;

    /// [`SequenceClassifier::logits`] in a libtorch pass: `mode` for the quantized layers,
    /// `train` enables dropout.
    fn forward(&self, ids: &Tensor, mask: &Tensor, mode: QuantMode, train: bool) -> Result<Tensor> {
        self.logits(ids, mask, &Pass::new(mode, train))
    }

    /// Every quantized linear layer, in order.
    fn linears(&self) -> Vec<&L>;

    /// Every quantized linear layer, mutably (to attach LoRA adapters).
    fn linears_mut(&mut self) -> Vec<&mut L>;

    /// Switches the attention kernel; kernels compute the same function, so a trained model can
    /// be measured under each.
    fn set_attention(&mut self, attention: AttentionKind);
}
