//! [`MeasurementKind`]: what a stored measurement timed or weighed, with its [`Unit`], shared
//! by the writers (runner, benchmarks) and the readers (reports). No writer passes a unit: the
//! kind fixes it. The stored text is the one written before the vocabulary was typed.
use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::Error;

/// The unit of a measurement's median and p95.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Unit {
    /// Milliseconds.
    Ms,
    /// Bytes.
    Bytes,
}

impl Unit {
    /// The stored text: `ms` or `bytes`.
    pub fn as_str(self) -> &'static str {
        match self {
            Unit::Ms => "ms",
            Unit::Bytes => "bytes",
        }
    }
}

impl fmt::Display for Unit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What a measurement is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum MeasurementKind {
    /// Forward-pass time (ms).
    Latency,
    /// Peak RSS of a fresh child process running the forward (bytes).
    Memory,
    /// That peak above the process baseline before the forward (bytes).
    MemoryDelta,
    /// Time of one training step: forward, backward, optimizer step (ms).
    TrainStep,
    /// Peak RSS of a fresh child process running one training step (bytes).
    TrainMemory,
    /// That peak above the process baseline before the step (bytes).
    TrainMemoryDelta,
    /// Time of one matmul kernel call (ms; `bitlab bench kernels`, `seq_len` = tokens).
    KernelTime,
    /// Time of one forward call of a block stack (ms; `bitlab bench model`, `seq_len` =
    /// tokens per call).
    StackTime,
}

impl MeasurementKind {
    /// Every kind.
    pub const ALL: [MeasurementKind; 8] = [
        MeasurementKind::Latency,
        MeasurementKind::Memory,
        MeasurementKind::MemoryDelta,
        MeasurementKind::TrainStep,
        MeasurementKind::TrainMemory,
        MeasurementKind::TrainMemoryDelta,
        MeasurementKind::KernelTime,
        MeasurementKind::StackTime,
    ];

    /// The stored text, e.g. `latency`.
    pub fn as_str(self) -> &'static str {
        match self {
            MeasurementKind::Latency => "latency",
            MeasurementKind::Memory => "memory",
            MeasurementKind::MemoryDelta => "memory_delta",
            MeasurementKind::TrainStep => "train_step",
            MeasurementKind::TrainMemory => "train_memory",
            MeasurementKind::TrainMemoryDelta => "train_memory_delta",
            MeasurementKind::KernelTime => "kernel_time",
            MeasurementKind::StackTime => "stack_time",
        }
    }

    /// The unit of this kind's median and p95.
    pub fn unit(self) -> Unit {
        match self {
            MeasurementKind::Latency
            | MeasurementKind::TrainStep
            | MeasurementKind::KernelTime
            | MeasurementKind::StackTime => Unit::Ms,
            MeasurementKind::Memory
            | MeasurementKind::MemoryDelta
            | MeasurementKind::TrainMemory
            | MeasurementKind::TrainMemoryDelta => Unit::Bytes,
        }
    }
}

impl fmt::Display for MeasurementKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for MeasurementKind {
    type Err = Error;

    /// The kind stored as `text`; an error naming the known kinds for any other text.
    fn from_str(text: &str) -> Result<Self, Error> {
        MeasurementKind::ALL
            .into_iter()
            .find(|k| k.as_str() == text)
            .ok_or_else(|| {
                let known: Vec<&str> = MeasurementKind::ALL.iter().map(|k| k.as_str()).collect();
                Error::Invalid(format!(
                    "unknown measurement kind `{text}` (known: {}); fix: this database was \
                     written by another bitlab version, read it with that version or use a \
                     fresh --db",
                    known.join(", ")
                ))
            })
    }
}

impl Serialize for MeasurementKind {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for MeasurementKind {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_round_trip_with_the_units_written_before() {
        let expected = [
            ("latency", "ms"),
            ("memory", "bytes"),
            ("memory_delta", "bytes"),
            ("train_step", "ms"),
            ("train_memory", "bytes"),
            ("train_memory_delta", "bytes"),
            ("kernel_time", "ms"),
            ("stack_time", "ms"),
        ];
        for (kind, (text, unit)) in MeasurementKind::ALL.into_iter().zip(expected) {
            assert_eq!((kind.as_str(), kind.unit().as_str()), (text, unit));
            assert_eq!(text.parse::<MeasurementKind>().unwrap(), kind);
        }
    }

    #[test]
    fn an_unknown_kind_is_a_clear_error() {
        let err = "flops".parse::<MeasurementKind>().unwrap_err().to_string();
        assert!(
            err.contains("unknown measurement kind `flops`") && err.contains("latency"),
            "{err}"
        );
    }
}
