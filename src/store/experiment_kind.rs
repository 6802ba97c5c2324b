//! [`ExperimentKind`]: what an experiment is, recorded on its row when it is first written, so
//! a report picks its template from the record instead of from the measurements it finds.
use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::Error;

/// What wrote an experiment, and so which report it gets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum ExperimentKind {
    /// Trials of an experiment file (`bitlab sweep`): trained, exported and measured models.
    TrialSweep,
    /// A matmul kernel benchmark (`bitlab bench kernels`).
    KernelBench,
    /// A model-size scaling benchmark (`bitlab bench model`).
    ModelScaling,
}

impl ExperimentKind {
    /// Every kind.
    pub const ALL: [ExperimentKind; 3] = [
        ExperimentKind::TrialSweep,
        ExperimentKind::KernelBench,
        ExperimentKind::ModelScaling,
    ];

    /// The stored text: `trial_sweep`, `kernel_bench` or `model_scaling`.
    pub fn as_str(self) -> &'static str {
        match self {
            ExperimentKind::TrialSweep => "trial_sweep",
            ExperimentKind::KernelBench => "kernel_bench",
            ExperimentKind::ModelScaling => "model_scaling",
        }
    }

    /// How people call it, for messages (`trial sweep`, `kernel benchmark`, ...).
    pub fn description(self) -> &'static str {
        match self {
            ExperimentKind::TrialSweep => "trial sweep",
            ExperimentKind::KernelBench => "kernel benchmark",
            ExperimentKind::ModelScaling => "model-size scaling benchmark",
        }
    }
}

impl fmt::Display for ExperimentKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for ExperimentKind {
    type Err = Error;

    fn from_str(text: &str) -> Result<Self, Error> {
        ExperimentKind::ALL
            .into_iter()
            .find(|k| k.as_str() == text)
            .ok_or_else(|| {
                Error::Invalid(format!(
                    "unknown experiment kind `{text}` (known: trial_sweep, kernel_bench, \
                     model_scaling); fix: read this database with the bitlab version that wrote \
                     it, or use a fresh --db"
                ))
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_round_trip_and_unknown_ones_are_errors() {
        for kind in ExperimentKind::ALL {
            assert_eq!(kind.as_str().parse::<ExperimentKind>().unwrap(), kind);
        }
        assert!("sweep".parse::<ExperimentKind>().is_err());
    }
}
