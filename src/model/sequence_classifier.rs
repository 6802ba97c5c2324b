//! The interface every model family implements: the BitNet encoder trained from scratch
//! ([`super::Classifier`]) and pretrained BERT ([`super::BertClassifier`]). Training,
//! evaluation, export and measurement only use this trait, so a new family is one file that
//! implements it plus one arm in [`super::build_model`].
use super::{QuantLinear, QuantMode};
use crate::attention::AttentionKind;
use tch::Tensor;

/// A sequence classifier whose linear layers are [`QuantLinear`]s.
pub trait SequenceClassifier {
    /// Logits `[batch, num_labels]` for token ids `[batch, len]` and padding mask `[batch, len]`
    /// (1 = token, 0 = padding); `train` enables dropout.
    fn forward(&self, ids: &Tensor, mask: &Tensor, mode: QuantMode, train: bool) -> Tensor;

    /// Every quantized linear layer, in order.
    fn quant_linears(&self) -> Vec<&QuantLinear>;

    /// Every quantized linear layer, mutably (to attach LoRA adapters).
    fn quant_linears_mut(&mut self) -> Vec<&mut QuantLinear>;

    /// Switches the attention kernel; kernels compute the same function, so a trained model can
    /// be measured under each.
    fn set_attention(&mut self, attention: AttentionKind);
}
