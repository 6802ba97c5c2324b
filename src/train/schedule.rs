//! Learning-rate schedules (linear warm-up, then constant, linear or cosine decay to zero) and
//! the quantization warm-up of Hugging Face's 1.58-bit fine-tuning study: lambda in
//! x + lambda (q(x) - x).detach() rises as min(step / warmup_steps, 1).
use crate::experiment::{QuantWarmup, Schedule};

/// The share lambda of quantization applied at optimizer step `step` (0-based).
pub fn quant_lambda(warmup: QuantWarmup, warmup_steps: usize, step: usize) -> f64 {
    match warmup {
        QuantWarmup::None => 1.0,
        QuantWarmup::Linear => (step as f64 / warmup_steps.max(1) as f64).min(1.0),
    }
}

/// Learning rate at optimizer step `step` (0-based) of `total` steps.
pub fn learning_rate(
    peak: f64,
    schedule: Schedule,
    warmup: usize,
    step: usize,
    total: usize,
) -> f64 {
    if step < warmup {
        return peak * (step + 1) as f64 / warmup as f64;
    }
    let decay_steps = total.saturating_sub(warmup).max(1) as f64;
    let progress = ((step - warmup) as f64 / decay_steps).min(1.0);
    match schedule {
        Schedule::Constant => peak,
        Schedule::Linear => peak * (1.0 - progress),
        Schedule::Cosine => peak * 0.5 * (1.0 + (std::f64::consts::PI * progress).cos()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn warmup_rises_linearly_to_peak() {
        assert!((learning_rate(1.0, Schedule::Constant, 4, 0, 10) - 0.25).abs() < 1e-12);
        assert!((learning_rate(1.0, Schedule::Constant, 4, 3, 10) - 1.0).abs() < 1e-12);
    }

    #[test]
    fn quantization_warmup_rises_linearly_from_zero_then_holds_at_one() {
        assert_eq!(quant_lambda(QuantWarmup::None, 0, 0), 1.0);
        assert_eq!(quant_lambda(QuantWarmup::None, 100, 3), 1.0);
        let lambdas: Vec<f64> = (0..6)
            .map(|step| quant_lambda(QuantWarmup::Linear, 4, step))
            .collect();
        assert_eq!(lambdas, vec![0.0, 0.25, 0.5, 0.75, 1.0, 1.0]);
    }

    #[test]
    fn decays_reach_zero_at_the_end() {
        for schedule in [Schedule::Linear, Schedule::Cosine] {
            assert!((learning_rate(2.0, schedule, 2, 2, 12) - 2.0).abs() < 1e-12);
            assert!(learning_rate(2.0, schedule, 2, 12, 12).abs() < 1e-12);
            let mid = learning_rate(2.0, schedule, 2, 7, 12);
            assert!((mid - 1.0).abs() < 1e-9, "{schedule:?} midpoint {mid}");
        }
        assert_eq!(learning_rate(2.0, Schedule::Constant, 0, 11, 12), 2.0);
    }
}
