//! Learning-rate schedules: linear warm-up, then constant, linear or cosine decay to zero.
use crate::experiment::Schedule;

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
