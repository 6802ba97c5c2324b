//! Classification metrics: accuracy, macro-averaged F1 and mean cross-entropy.
use crate::data::EncodedSplit;
use crate::model::{QuantMode, SequenceClassifier};
use tch::Device;

/// Metrics of a model on one split.
#[derive(Debug, Clone, PartialEq)]
pub struct Evaluation {
    /// Share of correct predictions.
    pub accuracy: f64,
    /// Macro-averaged F1 over classes.
    pub f1: f64,
    /// Mean cross-entropy.
    pub loss: f64,
    /// Predicted class per example, in split order.
    pub predictions: Vec<i64>,
}

/// Evaluates `model` on `split` without gradients; errors when the forward pass fails.
pub fn evaluate(
    model: &dyn SequenceClassifier,
    split: &EncodedSplit,
    mode: QuantMode,
    batch_size: usize,
    num_labels: usize,
    device: Device,
) -> crate::Result<Evaluation> {
    tch::no_grad(|| {
        let mut predictions = Vec::with_capacity(split.len());
        let mut loss_sum = 0.0;
        for batch in split.batches(batch_size, None) {
            let logits = model.forward(
                &batch.ids.to_device(device),
                &batch.mask.to_device(device),
                mode,
                false,
            )?;
            let labels = batch.labels.to_device(device);
            let loss = logits.cross_entropy_for_logits(&labels);
            loss_sum += loss.double_value(&[]) * labels.size()[0] as f64;
            let predicted = logits.argmax(-1, false).to_device(Device::Cpu);
            predictions.extend(Vec::<i64>::try_from(&predicted).expect("predictions are int64"));
        }
        let labels = Vec::<i64>::try_from(&split.labels).expect("labels are int64");
        let correct = predictions
            .iter()
            .zip(&labels)
            .filter(|(p, l)| p == l)
            .count();
        let n = labels.len().max(1) as f64;
        Ok(Evaluation {
            accuracy: correct as f64 / n,
            f1: macro_f1(&predictions, &labels, num_labels),
            loss: loss_sum / n,
            predictions,
        })
    })
}

/// Macro-averaged F1: the unweighted mean over classes of 2PR / (P + R) (0 for a class never
/// predicted nor present).
pub fn macro_f1(predictions: &[i64], labels: &[i64], num_labels: usize) -> f64 {
    let mut f1_sum = 0.0;
    for class in 0..num_labels as i64 {
        let tp = predictions
            .iter()
            .zip(labels)
            .filter(|(p, l)| **p == class && **l == class)
            .count() as f64;
        let predicted = predictions.iter().filter(|p| **p == class).count() as f64;
        let actual = labels.iter().filter(|l| **l == class).count() as f64;
        if predicted + actual > 0.0 {
            f1_sum += 2.0 * tp / (predicted + actual);
        }
    }
    f1_sum / num_labels.max(1) as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn macro_f1_matches_hand_computation() {
        // class 0: tp=1, predicted=2, actual=2 -> f1 0.5; class 1: tp=1, predicted 2, actual 2 -> 0.5
        let f1 = macro_f1(&[0, 0, 1, 1], &[0, 1, 0, 1], 2);
        assert!((f1 - 0.5).abs() < 1e-12);
        assert!((macro_f1(&[1, 0, 1], &[1, 0, 1], 2) - 1.0).abs() < 1e-12);
        // always predicting 0 on balanced labels: class 0 f1 = 2*2/(4+2)=0.667, class 1 = 0
        assert!((macro_f1(&[0, 0, 0, 0], &[0, 0, 1, 1], 2) - (2.0 / 3.0) / 2.0).abs() < 1e-12);
    }
}
