//! The QAT training loop (BitNet b1.58, Ma et al., 2024): latent full-precision weights are
//! updated by Adam/AdamW on cross-entropy, while every forward pass sees quantized weights and
//! activations through the straight-through estimator, optionally warmed in (`quant.warmup`).
//! With LoRA the frozen base receives no gradient and the optimizer updates only what requires
//! one (adapters and head).
use super::{check_interrupted, evaluate, learning_rate, quant_lambda, TrialProgress};
use crate::data::EncodedSplit;
use crate::experiment::{OptimizerKind, QuantWarmup, TrialConfig};
use crate::model::{QuantMode, SequenceClassifier};
use crate::store::{Metric, MetricKey};
use crate::{Error, Result};
use std::time::Instant;
use tch::nn::{self, OptimizerConfig};

/// What training produced besides the weights.
#[derive(Debug, Clone)]
pub struct TrainOutcome {
    /// Curves: `train_loss` per step, `val_accuracy` and `val_loss` per epoch.
    pub curves: Vec<Metric>,
    /// Optimizer steps taken.
    pub steps: usize,
    /// Wall time of training (evaluation included).
    pub seconds: f64,
    /// Best validation accuracy over epochs.
    pub best_val_accuracy: f64,
}

/// Trains `model` (whose parameters live in `vs`) on `train`, validating on `validation` after
/// each epoch. Fails with [`Error::Diverged`] on a non-finite loss and [`Error::Interrupted`] on Ctrl-C.
#[allow(clippy::too_many_arguments)]
pub fn train(
    model: &dyn SequenceClassifier,
    vs: &nn::VarStore,
    cfg: &TrialConfig,
    train: &EncodedSplit,
    validation: &EncodedSplit,
    num_labels: usize,
    trial: &str,
    progress: &TrialProgress,
) -> Result<TrainOutcome> {
    let t = &cfg.train;
    let device = vs.device();
    let steps_per_epoch = train.len().div_ceil(t.batch_size);
    let total_steps = t.max_steps.map_or(steps_per_epoch * t.epochs, |m| {
        m.min(steps_per_epoch * t.epochs.max(1))
    });
    let epochs = total_steps.div_ceil(steps_per_epoch.max(1));
    let mut optimizer = match t.optimizer {
        OptimizerKind::Adam => nn::Adam {
            wd: t.weight_decay,
            ..Default::default()
        }
        .build(vs, t.lr),
        OptimizerKind::Adamw => nn::AdamW {
            wd: t.weight_decay,
            ..Default::default()
        }
        .build(vs, t.lr),
    }
    .map_err(|e| Error::torch("building the optimizer", e))?;
    // Validation always sees the fully quantized model, the one that is exported.
    let quantized = QuantMode::Train { lambda: 1.0 };
    let warmup = cfg.quant.warmup;
    let started = Instant::now();
    let mut curves = Vec::new();
    let mut step = 0usize;
    let mut best_val_accuracy = 0.0f64;
    for epoch in 1..=epochs {
        let batches = train.batches(
            t.batch_size,
            Some(cfg.seed.wrapping_mul(1_000_003).wrapping_add(epoch as u64)),
        );
        let steps = batches.len().min(total_steps - step);
        progress.start_epoch(epoch, epochs, steps);
        let epoch_start = Instant::now();
        let (mut loss_sum, mut seen) = (0.0, 0usize);
        for batch in batches.into_iter().take(steps) {
            check_interrupted()?;
            optimizer.set_lr(learning_rate(
                t.lr,
                t.schedule,
                t.warmup_steps,
                step,
                total_steps,
            ));
            let lambda = quant_lambda(warmup, cfg.quant.warmup_steps, step);
            if warmup != QuantWarmup::None {
                curves.push(Metric {
                    key: MetricKey::QuantLambda,
                    step: Some(step as i64),
                    value: lambda,
                });
            }
            let logits = model.forward(
                &batch.ids.to_device(device),
                &batch.mask.to_device(device),
                QuantMode::Train { lambda },
                true,
            )?;
            let loss = logits.cross_entropy_for_logits(&batch.labels.to_device(device));
            let value = loss.double_value(&[]);
            if !value.is_finite() {
                return Err(Error::Diverged {
                    trial: trial.to_string(),
                    step,
                    loss: value,
                });
            }
            optimizer.zero_grad();
            loss.backward();
            if let Some(max_norm) = t.grad_clip {
                optimizer.clip_grad_norm(max_norm);
            }
            optimizer.step();
            let n = batch.labels.size()[0] as usize;
            loss_sum += value * n as f64;
            seen += n;
            curves.push(Metric {
                key: MetricKey::TrainLoss,
                step: Some(step as i64),
                value,
            });
            step += 1;
            progress.step(
                epoch,
                epochs,
                value,
                seen as f64 / epoch_start.elapsed().as_secs_f64().max(1e-9),
            );
        }
        let val = evaluate(
            model,
            validation,
            quantized,
            t.batch_size.max(64),
            num_labels,
            device,
        )?;
        best_val_accuracy = best_val_accuracy.max(val.accuracy);
        curves.push(Metric {
            key: MetricKey::ValAccuracy,
            step: Some(epoch as i64),
            value: val.accuracy,
        });
        curves.push(Metric {
            key: MetricKey::ValLoss,
            step: Some(epoch as i64),
            value: val.loss,
        });
        progress.line(&format!(
            "epoch {epoch}/{epochs}: train loss {:.4}, val accuracy {:.4}, {:.0} examples/s",
            loss_sum / seen.max(1) as f64,
            val.accuracy,
            seen as f64 / epoch_start.elapsed().as_secs_f64().max(1e-9)
        ));
    }
    Ok(TrainOutcome {
        curves,
        steps: step,
        seconds: started.elapsed().as_secs_f64(),
        best_val_accuracy,
    })
}
