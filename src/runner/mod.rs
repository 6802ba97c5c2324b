//! The sweep runner: expands nothing itself (see [`crate::experiment`]); it records every trial
//! of an experiment in the store, runs those not yet done (pending, failed or interrupted),
//! one at a time, and keeps every finished result whatever happens to a later trial.
//!
//! A failing trial (a diverging loss, a bad dataset) is recorded as failed with its error and
//! the sweep goes on; Ctrl-C marks the running trial interrupted and stops the sweep.
pub mod artifact_dataset;
pub mod checkpoint;
pub mod inference;
mod measurements;
mod prepared_data;
pub mod training_measurements;
mod trial;

pub use measurements::measure_inference;
pub use prepared_data::{DataCache, PreparedData};
pub use training_measurements::measure_training;
pub use trial::run_trial;

use crate::experiment::{Experiment, ResolvedTrial};
use crate::measure::capture_environment;
use crate::store::Store;
use crate::train::{install_interrupt_handler, SweepProgress};
use crate::{Error, Result};
use std::path::PathBuf;
use tch::Device;

/// Where a sweep reads and writes, and on which device it runs.
#[derive(Debug, Clone)]
pub struct RunOptions {
    /// SQLite database file.
    pub db: PathBuf,
    /// Folder holding `datasets/<name>/manifest.toml`.
    pub datasets_dir: PathBuf,
    /// Folder for packed model artifacts: each trial's at `<experiment>/<trial hash>.bitlab`,
    /// trained checkpoints shared between trials at `checkpoints/<training hash>.bitlab`.
    pub artifacts_dir: PathBuf,
    /// Device to train and measure on.
    pub device: Device,
    /// The `bitlab` executable, run as a child process for memory points.
    pub exe: PathBuf,
}

/// What a sweep did.
#[derive(Debug, Clone, Default)]
pub struct SweepSummary {
    /// Trials in the experiment.
    pub total: usize,
    /// Trials run now and finished.
    pub finished: usize,
    /// Trials skipped because they were already done.
    pub skipped: usize,
    /// Trials that failed now: (label, error).
    pub failed: Vec<(String, String)>,
}

/// A trial ready to run: the experiment's [`ResolvedTrial`] (canonical configuration, its
/// quantizer, its one hash), resolved when the file was parsed; the runner never resolves or
/// hashes a trial again.
pub type PlannedTrial = ResolvedTrial;

/// Runs `f`, turning a panic into an error. tch panics when libtorch throws (a shape error, an
/// unsupported kernel option); one trial's exception must not end the sweep, so it becomes that
/// trial's recorded failure. The default panic message is silenced meanwhile: the error carries it.
fn catch_panics<T>(f: impl FnOnce() -> Result<T>) -> Result<T> {
    let previous_hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(|_| {}));
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(f));
    std::panic::set_hook(previous_hook);
    result.unwrap_or_else(|payload| {
        let message = payload
            .downcast_ref::<String>()
            .map(String::as_str)
            .or_else(|| payload.downcast_ref::<&str>().copied())
            .unwrap_or("unknown panic");
        // libtorch appends a C++ backtrace after "Exception raised from"; keep the reason.
        let reason = message
            .split("\nException raised from")
            .next()
            .unwrap_or(message);
        let reason = reason
            .split("\\nException raised from")
            .next()
            .unwrap_or(reason);
        Err(Error::TrialPanicked {
            message: reason.trim().to_string(),
        })
    })
}

/// Runs every trial of `experiment` that is not yet done, recording results in `opts.db`.
pub fn run_sweep(experiment: &Experiment, opts: &RunOptions) -> Result<SweepSummary> {
    install_interrupt_handler();
    let planned = &experiment.trials;
    let store = Store::open(&opts.db)?;
    let experiment_id = store.upsert_experiment(
        &experiment.name,
        crate::store::ExperimentKind::TrialSweep,
        &experiment.description,
        &experiment.source,
    )?;
    let recovered = store.recover_stale(experiment_id)?;
    if recovered > 0 {
        eprintln!("{recovered} trial(s) left running by an earlier process are marked interrupted and will run again");
    }
    let threads = planned.first().map_or(1, |t| t.config.measure.threads);
    let sweep_id = store.begin_sweep(experiment_id, &capture_environment(opts.device, threads))?;
    let mut summary = SweepSummary {
        total: planned.len(),
        ..Default::default()
    };
    let mut todo = Vec::new();
    for trial in planned {
        let config_json = serde_json::to_string(&trial.config).expect("trial config serializes");
        let row = store.ensure_trial(experiment_id, &trial.hash, &config_json, &trial.label)?;
        if row.status == "done" {
            summary.skipped += 1;
        } else {
            todo.push((row.id, trial));
        }
    }
    if summary.skipped > 0 {
        eprintln!(
            "{} of {} trials already done in {}; running the other {}",
            summary.skipped,
            summary.total,
            opts.db.display(),
            todo.len()
        );
    }
    // Load and tokenize every dataset up front: a missing or corrupt dataset stops the sweep
    // before anything trains, with the dataset's own error (which says how to fetch it).
    let mut cache = DataCache::default();
    for (_, trial) in &todo {
        if let Err(error) = cache.get(
            &opts.datasets_dir,
            &trial.config.dataset,
            trial.config.model.pretrained.as_deref(),
        ) {
            store.end_sweep(sweep_id, "failed")?;
            return Err(error);
        }
    }
    let progress = SweepProgress::new(todo.len());
    for (index, (trial_id, trial)) in todo.into_iter().enumerate() {
        store.mark_running(trial_id, sweep_id)?;
        let trial_progress = progress.trial(index + 1, &trial.label);
        let outcome =
            catch_panics(|| run_trial(experiment, trial, opts, &mut cache, &trial_progress));
        trial_progress.finish();
        match outcome {
            Ok(results) => {
                store.finish_trial(trial_id, &results)?;
                summary.finished += 1;
            }
            Err(Error::Interrupted) => {
                store.mark_interrupted(trial_id)?;
                store.end_sweep(sweep_id, "interrupted")?;
                return Err(Error::Interrupted);
            }
            Err(error) => {
                let message = error.to_string();
                trial_progress.line(&format!("FAILED: {message}"));
                store.mark_failed(trial_id, &message)?;
                summary.failed.push((trial.label.clone(), message));
            }
        }
    }
    store.end_sweep(
        sweep_id,
        if summary.failed.is_empty() {
            "done"
        } else {
            "failed"
        },
    )?;
    Ok(summary)
}

#[cfg(test)]
mod tests {
    use super::*;
    use tch::{Device, Kind, Tensor};

    #[test]
    fn a_libtorch_exception_becomes_an_error_with_its_reason() {
        let result = catch_panics(|| {
            let a = Tensor::zeros([2, 3], (Kind::Float, Device::Cpu));
            let b = Tensor::zeros([4, 5], (Kind::Float, Device::Cpu));
            Ok(a.matmul(&b))
        });
        match result {
            Err(Error::TrialPanicked { message }) => {
                assert!(message.contains("shapes cannot be multiplied"), "{message}");
                assert!(
                    !message.contains("Exception raised from"),
                    "backtrace trimmed: {message}"
                );
            }
            other => panic!("expected TrialPanicked, got {other:?}"),
        }
        // The panic hook is restored afterwards.
        assert!(std::panic::catch_unwind(|| ()).is_ok());
    }
}
