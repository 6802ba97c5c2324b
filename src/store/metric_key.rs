//! [`MetricKey`]: the names of scalar trial results, shared by every writer (runner, trainer,
//! benchmarks) and every reader (reports). The database keeps the same text as before the
//! vocabulary was typed ([`MetricKey::as_str`]), so old databases read back unchanged.
use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Declares [`MetricKey`] with one variant per stored name, and its text round trip.
macro_rules! metric_keys {
    ($($(#[doc = $doc:literal])* $variant:ident = $text:literal,)*) => {
        /// The name of a stored metric (a final value, or a point on a curve).
        #[derive(Debug, Clone, PartialEq, Eq, Hash)]
        pub enum MetricKey {
            $($(#[doc = $doc])* $variant,)*
            /// A name this bitlab does not write, read back from a database an older bitlab
            /// wrote; kept verbatim so listings still show it. [`Store::finish_trial`]
            /// refuses to record one.
            ///
            /// [`Store::finish_trial`]: super::Store::finish_trial
            Other(String),
        }

        impl MetricKey {
            /// Every key bitlab writes, in declaration order.
            pub const KNOWN: &'static [MetricKey] = &[$(MetricKey::$variant,)*];

            /// The stored text, e.g. `test_accuracy`.
            pub fn as_str(&self) -> &str {
                match self {
                    $(MetricKey::$variant => $text,)*
                    MetricKey::Other(text) => text,
                }
            }

            /// The key stored as `text`: a known one, else [`MetricKey::Other`].
            pub fn from_stored(text: &str) -> MetricKey {
                match text {
                    $($text => MetricKey::$variant,)*
                    other => MetricKey::Other(other.to_string()),
                }
            }
        }
    };
}

metric_keys! {
    /// Test-split accuracy, a fraction in [0, 1].
    TestAccuracy = "test_accuracy",
    /// Test-split macro F1, a fraction in [0, 1].
    TestF1 = "test_f1",
    /// Test-split cross-entropy loss.
    TestLoss = "test_loss",
    /// Best validation accuracy during training.
    BestValAccuracy = "best_val_accuracy",
    /// Wall-clock seconds of training.
    TrainSeconds = "train_seconds",
    /// Optimizer steps taken.
    TrainSteps = "train_steps",
    /// 1 when the trial reused an earlier trial's checkpoint instead of training, else 0.
    ReusedCheckpoint = "reused_checkpoint",
    /// Parameters of the model.
    ParamsTotal = "params_total",
    /// Parameters that train (all, or the LoRA adapters and the head).
    ParamsTrainable = "params_trainable",
    /// Weights the scheme quantizes.
    ParamsQuantized = "params_quantized",
    /// Size of the exported artifact file in bytes.
    StorageBytes = "storage_bytes",
    /// Bytes of LoRA adapters in the artifact.
    StorageAdapterBytes = "storage_adapter_bytes",
    /// Bytes of quantized weights (codes and scales) in the artifact.
    StorageQuantizedBytes = "storage_quantized_bytes",
    /// Bits per quantized weight in the packed format (scales included).
    BitsPerQuantizedWeight = "bits_per_quantized_weight",
    /// Share of test examples where the packed model predicts what the reference predicts.
    PackedAgreement = "packed_agreement",
    /// Test-split accuracy of the packed model (the model that ships), a fraction in [0, 1];
    /// beside [`MetricKey::TestAccuracy`], which the fake-quantized reference scores.
    PackedTestAccuracy = "packed_test_accuracy",
    /// Largest absolute logit difference between the packed model and the reference.
    PackedMaxLogitDiff = "packed_max_logit_diff",
    /// Bytes of quantized-layer weights the packed model keeps resident.
    PackedResidentQuantizedBytes = "packed_resident_quantized_bytes",
    /// Estimated picojoules per token of the packed model's quantized linear layers
    /// ([`crate::kernels::energy`]; BitNet b1.58, Ma et al. 2024, per-operation energies).
    EnergyEstimatePjPerToken = "energy_estimate_pj_per_token",
    /// Training loss per epoch (a curve).
    TrainLoss = "train_loss",
    /// Validation accuracy per epoch (a curve).
    ValAccuracy = "val_accuracy",
    /// Validation loss per epoch (a curve).
    ValLoss = "val_loss",
    /// Quantization warm-up blend factor per epoch (a curve).
    QuantLambda = "quant_lambda",
    /// Benchmark GFLOP/s at a token count (the step).
    Gflops = "gflops",
    /// Benchmark weight bytes read per second, in GB/s, at a token count (the step).
    WeightGbps = "weight_gbps",
    /// fp32's median time / this one's, at a token count (the step).
    SpeedupVsFp32 = "speedup_vs_fp32",
    /// Median ms per token of a block stack, at a token count (the step).
    MsPerToken = "ms_per_token",
    /// fp32's resident weight bytes / this scheme's, at a token count (the step).
    MemoryRatioVsFp32 = "memory_ratio_vs_fp32",
}

impl MetricKey {
    /// Whether this is a key bitlab writes (not [`MetricKey::Other`]).
    pub fn is_known(&self) -> bool {
        !matches!(self, MetricKey::Other(_))
    }
}

impl fmt::Display for MetricKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for MetricKey {
    type Err = std::convert::Infallible;

    /// Never fails: an unknown name becomes [`MetricKey::Other`].
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        Ok(MetricKey::from_stored(text))
    }
}

impl Serialize for MetricKey {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for MetricKey {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        Ok(MetricKey::from_stored(&text))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_known_key_round_trips_through_its_stored_text() {
        for key in MetricKey::KNOWN {
            assert_eq!(&MetricKey::from_stored(key.as_str()), key);
            assert_eq!(key.as_str().parse::<MetricKey>().unwrap(), *key);
            assert!(key.is_known());
        }
        let mut texts: Vec<&str> = MetricKey::KNOWN.iter().map(MetricKey::as_str).collect();
        texts.sort_unstable();
        texts.dedup();
        assert_eq!(
            texts.len(),
            MetricKey::KNOWN.len(),
            "stored texts are distinct"
        );
    }

    #[test]
    fn the_stored_text_is_the_one_written_before_the_vocabulary() {
        assert_eq!(MetricKey::TestAccuracy.as_str(), "test_accuracy");
        assert_eq!(
            MetricKey::EnergyEstimatePjPerToken.as_str(),
            "energy_estimate_pj_per_token"
        );
        assert_eq!(MetricKey::SpeedupVsFp32.to_string(), "speedup_vs_fp32");
    }

    #[test]
    fn unknown_names_are_kept_as_other_and_serialize_as_plain_text() {
        let key = MetricKey::from_stored("zeta");
        assert_eq!(key, MetricKey::Other("zeta".into()));
        assert!(!key.is_known());
        assert_eq!(serde_json::to_string(&key).unwrap(), "\"zeta\"");
        let back: MetricKey = serde_json::from_str("\"train_loss\"").unwrap();
        assert_eq!(back, MetricKey::TrainLoss);
    }
}
