//! What both benchmarks do the same way: fp32 first (the baseline of every ratio), one thread
//! pool per thread count, and the timing loop (warm-up calls, then timed calls within a
//! budget).
use std::time::Instant;

use super::scheme::BenchedScheme;
use crate::{Error, Result};

/// `schemes` with fp32 first (it always runs: every ratio is relative to it), the others in
/// their given order.
pub fn baseline_first(schemes: &[BenchedScheme]) -> Vec<BenchedScheme> {
    let mut ordered = vec![BenchedScheme::FP32];
    ordered.extend(
        schemes
            .iter()
            .copied()
            .filter(|&s| s != BenchedScheme::FP32),
    );
    ordered
}

/// A rayon pool of `threads` threads for bitlab's kernels, with libtorch's intra-op threads
/// set to the same count (at least one each).
pub fn thread_pool(threads: usize) -> Result<rayon::ThreadPool> {
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(threads.max(1))
        .build()
        .map_err(|e| Error::Invalid(format!("cannot start {threads} threads: {e}")))?;
    tch::set_num_threads(threads.max(1) as i32);
    Ok(pool)
}

/// How many calls to time.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TimingBudget {
    /// Untimed calls first.
    pub warmup: usize,
    /// Timed calls (at least one).
    pub repeats: usize,
    /// Stop timing once this many seconds have passed...
    pub max_seconds: f64,
    /// ...and at least this many calls were timed.
    pub min_repeats: usize,
}

/// Runs `call(i)` `budget.warmup` times untimed, then times up to `budget.repeats` calls
/// (fewer when the budget's seconds run out); returns each timed call's milliseconds.
pub fn time_calls(
    budget: TimingBudget,
    mut call: impl FnMut(usize) -> Result<()>,
) -> Result<Vec<f64>> {
    for i in 0..budget.warmup {
        call(i)?;
    }
    let started = Instant::now();
    let repeats = budget.repeats.max(1);
    let mut times = Vec::with_capacity(repeats);
    for i in 0..repeats {
        let start = Instant::now();
        call(i)?;
        times.push(start.elapsed().as_secs_f64() * 1e3);
        if i + 1 >= budget.min_repeats && started.elapsed().as_secs_f64() > budget.max_seconds {
            break;
        }
    }
    Ok(times)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fp32_runs_first_and_once() {
        let ordered = baseline_first(&[BenchedScheme::TERNARY, BenchedScheme::FP32]);
        assert_eq!(ordered, [BenchedScheme::FP32, BenchedScheme::TERNARY]);
    }

    #[test]
    fn the_budget_bounds_the_calls_and_keeps_the_minimum() {
        let mut calls = 0;
        let budget = TimingBudget {
            warmup: 2,
            repeats: 10,
            max_seconds: 0.0,
            min_repeats: 3,
        };
        let times = time_calls(budget, |_| {
            calls += 1;
            Ok(())
        })
        .unwrap();
        assert_eq!(
            (times.len(), calls),
            (3, 5),
            "out of time after the minimum"
        );
        let all = TimingBudget {
            max_seconds: 60.0,
            ..budget
        };
        assert_eq!(time_calls(all, |_| Ok(())).unwrap().len(), 10);
    }
}
