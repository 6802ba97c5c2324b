//! Runs one parser over many generated hostile inputs and checks the three promises of
//! issue 11: no panic, no hang, no allocation beyond a small factor of the input's size.
//!
//! The number of inputs is `PROPTEST_CASES` when set (for a long campaign by hand), otherwise
//! the campaign's default, small enough for CI. Each campaign prints what it tried.
use std::cell::RefCell;
use std::time::{Duration, Instant};

use proptest::test_runner::{Config, FileFailurePersistence, TestCaseError, TestRunner};

use super::alloc_meter::peak_bytes;

/// Allocation below this is never a blow-up (buffers of fixed size, error messages).
pub const ALLOC_FLOOR: usize = 64 * 1024;

/// What a parser may allocate: `max(ALLOC_FLOOR, factor * input bytes)`, plus
/// `bytes_per_unit` for each unit of output the input does not bound.
#[derive(Debug, Clone, Copy)]
pub struct Budget {
    /// Peak heap bytes per input byte.
    pub factor: usize,
    /// Heap bytes per unit of output (see [`Parsed::output_units`]).
    pub bytes_per_unit: usize,
}

impl Budget {
    /// A budget of `factor` bytes per input byte and nothing per output unit.
    pub const fn per_input_byte(factor: usize) -> Budget {
        Budget {
            factor,
            bytes_per_unit: 0,
        }
    }
}

/// One input taking longer than this (debug build, shared cores) counts as a hang.
pub const CASE_TIME_LIMIT: Duration = Duration::from_secs(30);

/// What one parse of one input did.
pub struct Parsed {
    /// True when the parser accepted the input.
    pub accepted: bool,
    /// Bytes of input the parser was given.
    pub input_len: usize,
    /// Units of output whose size the input does not bound (the experiment loader's trials:
    /// a short sweep names a large grid); 0 for parsers whose output is a view of their input.
    pub output_units: usize,
}

/// The number of inputs a campaign tries: `PROPTEST_CASES`, or `default`.
pub fn case_count(default: u32) -> u32 {
    std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// The proptest configuration of a campaign whose failures persist in `regressions` (a path
/// under `proptest-regressions/`, replayed first on every run).
pub fn config(default_cases: u32, regressions: &'static str) -> Config {
    Config {
        cases: case_count(default_cases),
        failure_persistence: Some(Box::new(FileFailurePersistence::Direct(regressions))),
        ..Config::default()
    }
}

#[derive(Default)]
struct Tally {
    tried: u64,
    accepted: u64,
    worst_factor: f64,
    worst_peak: usize,
    worst_per_unit: usize,
    slowest: Duration,
}

/// Runs `parse` on every input `strategy` generates (under `config`), after `prepare` (not
/// metered: writing the input to a file, say), and fails on a panic, an input slower than
/// [`CASE_TIME_LIMIT`], or a peak allocation over
/// the `budget`. `parse` itself asserts that errors are typed and name their cause.
pub fn run<S: proptest::strategy::Strategy, P>(
    name: &str,
    config: Config,
    budget: Budget,
    strategy: S,
    prepare: impl Fn(S::Value) -> P,
    parse: impl Fn(&P) -> Result<Parsed, TestCaseError>,
) {
    let tally = RefCell::new(Tally::default());
    let mut runner = TestRunner::new(config);
    let result = runner.run(&strategy, |input| {
        let prepared = prepare(input);
        let start = Instant::now();
        let (parsed, peak) = peak_bytes(|| parse(&prepared));
        let elapsed = start.elapsed();
        let parsed = parsed?;
        proptest::prop_assert!(
            elapsed < CASE_TIME_LIMIT,
            "{name}: one input of {} bytes took {elapsed:?}",
            parsed.input_len
        );
        let input_share = ALLOC_FLOOR.max(budget.factor * parsed.input_len);
        let bound = input_share + parsed.output_units * budget.bytes_per_unit;
        proptest::prop_assert!(
            peak <= bound,
            "{name}: peak allocation {peak} bytes for {} input bytes (bound {bound})",
            parsed.input_len
        );
        let mut tally = tally.borrow_mut();
        tally.tried += 1;
        tally.accepted += u64::from(parsed.accepted);
        if peak > ALLOC_FLOOR && parsed.output_units == 0 {
            tally.worst_factor = tally
                .worst_factor
                .max(peak as f64 / parsed.input_len.max(1) as f64);
        }
        let beyond_input = peak.saturating_sub(input_share);
        if let Some(per_unit) = beyond_input.checked_div(parsed.output_units) {
            tally.worst_per_unit = tally.worst_per_unit.max(per_unit);
        }
        tally.worst_peak = tally.worst_peak.max(peak);
        tally.slowest = tally.slowest.max(elapsed);
        Ok(())
    });
    let tally = tally.into_inner();
    eprintln!(
        "{name}: {} inputs tried, {} accepted, {} refused with a typed error; worst peak {} \
         bytes; worst peak/input above the {ALLOC_FLOOR}-byte floor (inputs without output \
         units) {:.1}x, budget {}x; worst bytes per output unit beyond the input's share {}; \
         slowest {:?}",
        tally.tried,
        tally.accepted,
        tally.tried - tally.accepted,
        tally.worst_peak,
        tally.worst_factor,
        budget.factor,
        tally.worst_per_unit,
        tally.slowest
    );
    if let Err(failure) = result {
        panic!("{name}: {failure}");
    }
}
