//! Typed views of a trial's stored configuration (`trials.config_json`), one per
//! [`ExperimentKind`](super::ExperimentKind): what a report reads of a sweep trial
//! ([`SweepTrialSummary`]), and the whole configuration of a kernel-benchmark trial
//! ([`KernelBenchTrialConfig`]) or a model-scaling trial ([`ScalingTrialConfig`]), which the
//! benchmarks serialize and the reports deserialize.
//!
//! Reading is lenient, so configurations written by any earlier bitlab still load: a missing
//! field, or one of another type, reads as absent (`None`) and never fails the rest.
use serde::de::DeserializeOwned;
use serde::{Deserialize, Deserializer, Serialize};

/// Reads a field as `Some` when it has the expected type, `None` otherwise (and when absent,
/// with `#[serde(default)]`).
fn lenient<'de, D: Deserializer<'de>, T: DeserializeOwned>(
    deserializer: D,
) -> Result<Option<T>, D::Error> {
    let value = serde_json::Value::deserialize(deserializer)?;
    Ok(serde_json::from_value(value).ok())
}

/// Reads a nested section leniently: its default when it is not an object of that shape.
fn lenient_section<'de, D: Deserializer<'de>, T: DeserializeOwned + Default>(
    deserializer: D,
) -> Result<T, D::Error> {
    Ok(lenient(deserializer)?.unwrap_or_default())
}

/// Parses `config` as `T`, leniently; `T::default()` when it is not an object.
pub(crate) fn read_lenient<T: DeserializeOwned + Default>(config: &serde_json::Value) -> T {
    T::deserialize(config).unwrap_or_default()
}

/// What a report reads of a sweep trial's configuration (the JSON of
/// [`crate::experiment::TrialConfig`]).
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
pub struct SweepTrialSummary {
    /// `seed`.
    #[serde(default, deserialize_with = "lenient")]
    pub seed: Option<u64>,
    /// `quant.*`.
    #[serde(default, deserialize_with = "lenient_section")]
    pub quant: QuantSummary,
    /// `lora.*`.
    #[serde(default, deserialize_with = "lenient_section")]
    pub lora: LoraSummary,
    /// `model.*`.
    #[serde(default, deserialize_with = "lenient_section")]
    pub model: ModelSummary,
}

/// What a report reads of `quant`.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
pub struct QuantSummary {
    /// `quant.scheme`: the quantization scheme.
    #[serde(default, deserialize_with = "lenient")]
    pub scheme: Option<String>,
    /// `quant.warmup`: the quantization warm-up schedule (`none` when off).
    #[serde(default, deserialize_with = "lenient")]
    pub warmup: Option<String>,
    /// `quant.warmup_steps`.
    #[serde(default, deserialize_with = "lenient")]
    pub warmup_steps: Option<u64>,
    /// `quant.embeddings`: the scheme the embeddings are stored in.
    #[serde(default, deserialize_with = "lenient")]
    pub embeddings: Option<String>,
}

/// What a report reads of `lora`.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
pub struct LoraSummary {
    /// `lora.rank` (0 or absent: no adapters).
    #[serde(default, deserialize_with = "lenient")]
    pub rank: Option<u64>,
}

/// What a report reads of `model`.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
pub struct ModelSummary {
    /// `model.attention`: the attention kernel.
    #[serde(default, deserialize_with = "lenient")]
    pub attention: Option<String>,
}

/// The configuration of one kernel-benchmark trial (one scheme, weight shape and thread
/// count); the facts of the latest run (kernel, residency, copies) are replaced on every run.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct KernelBenchTrialConfig {
    /// Scheme name (`fp32`, `ternary`, `ternary-1.6bit`, ...).
    #[serde(default, deserialize_with = "lenient")]
    pub scheme: Option<String>,
    /// Output features of the weight.
    #[serde(default, deserialize_with = "lenient")]
    pub rows: Option<u64>,
    /// Input features of the weight.
    #[serde(default, deserialize_with = "lenient")]
    pub cols: Option<u64>,
    /// Threads.
    #[serde(default, deserialize_with = "lenient")]
    pub threads: Option<u64>,
    /// The kernel's recorded name.
    #[serde(default, deserialize_with = "lenient")]
    pub kernel: Option<String>,
    /// `dram` or `cache`: whether the rotated weight copies exceeded the last-level cache.
    #[serde(default, deserialize_with = "lenient")]
    pub residency: Option<String>,
    /// Weight copies cycled through.
    #[serde(default, deserialize_with = "lenient")]
    pub copies: Option<u64>,
}

/// The configuration of one model-scaling trial (one scheme, model size and thread count),
/// replaced on every run.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ScalingTrialConfig {
    /// Scheme name.
    #[serde(default, deserialize_with = "lenient")]
    pub scheme: Option<String>,
    /// The linear layers' kernel as recorded.
    #[serde(default, deserialize_with = "lenient")]
    pub kernel: Option<String>,
    /// Model width.
    #[serde(default, deserialize_with = "lenient")]
    pub d_model: Option<u64>,
    /// Feed-forward width.
    #[serde(default, deserialize_with = "lenient")]
    pub d_ff: Option<u64>,
    /// Blocks.
    #[serde(default, deserialize_with = "lenient")]
    pub layers: Option<u64>,
    /// Threads.
    #[serde(default, deserialize_with = "lenient")]
    pub threads: Option<u64>,
    /// Weights in the linear layers.
    #[serde(default, deserialize_with = "lenient")]
    pub parameters: Option<u64>,
    /// Bytes of weights the kernels keep resident.
    #[serde(default, deserialize_with = "lenient")]
    pub resident_weight_bytes: Option<u64>,
    /// Measured growth of the resident set while the stack was built (`null` without /proc).
    #[serde(default, deserialize_with = "lenient")]
    pub rss_growth_bytes: Option<u64>,
    /// Estimated picojoules per token of the linear layers' arithmetic (runs before the
    /// estimate was recorded have none).
    #[serde(default, deserialize_with = "lenient")]
    pub energy_estimate_pj_per_token: Option<f64>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_sweep_config_reads_its_summary_and_ignores_the_rest() {
        let config = json!({
            "seed": 7,
            "quant": {"scheme": "ternary", "warmup": "linear", "warmup_steps": 20,
                      "embeddings": "int4", "group_size": 32},
            "lora": {"rank": 8},
            "model": {"attention": "flash", "layers": 2},
            "train": {"lr": 0.001},
        });
        let summary: SweepTrialSummary = read_lenient(&config);
        assert_eq!(summary.seed, Some(7));
        assert_eq!(summary.quant.scheme.as_deref(), Some("ternary"));
        assert_eq!(summary.quant.warmup.as_deref(), Some("linear"));
        assert_eq!(summary.quant.warmup_steps, Some(20));
        assert_eq!(summary.quant.embeddings.as_deref(), Some("int4"));
        assert_eq!(summary.lora.rank, Some(8));
        assert_eq!(summary.model.attention.as_deref(), Some("flash"));
    }

    #[test]
    fn missing_or_mistyped_fields_read_as_absent_without_failing_the_rest() {
        let config =
            json!({"seed": "seven", "quant": {"scheme": 3, "warmup_steps": 5}, "lora": []});
        let summary: SweepTrialSummary = read_lenient(&config);
        assert_eq!(summary.seed, None);
        assert_eq!(summary.quant.scheme, None);
        assert_eq!(summary.quant.warmup_steps, Some(5));
        assert_eq!(summary.lora, LoraSummary::default());
        assert_eq!(
            read_lenient::<SweepTrialSummary>(&json!(null)),
            SweepTrialSummary::default()
        );
        assert_eq!(
            read_lenient::<SweepTrialSummary>(&json!({})),
            SweepTrialSummary::default()
        );
    }

    #[test]
    fn bench_configs_serialize_to_the_json_the_benchmarks_wrote_before() {
        let config = KernelBenchTrialConfig {
            scheme: Some("ternary".into()),
            rows: Some(256),
            cols: Some(320),
            threads: Some(1),
            kernel: Some("bitlab-ternary-2bit-avx2".into()),
            residency: Some("cache".into()),
            copies: Some(4),
        };
        let written = json!({
            "scheme": "ternary", "rows": 256, "cols": 320, "threads": 1,
            "kernel": "bitlab-ternary-2bit-avx2", "residency": "cache", "copies": 4,
        });
        assert_eq!(serde_json::to_value(&config).unwrap(), written);
        assert_eq!(read_lenient::<KernelBenchTrialConfig>(&written), config);

        let scaling = ScalingTrialConfig {
            scheme: Some("fp32".into()),
            rss_growth_bytes: None,
            energy_estimate_pj_per_token: Some(1.5),
            ..Default::default()
        };
        let value = serde_json::to_value(&scaling).unwrap();
        assert_eq!(value["rss_growth_bytes"], serde_json::Value::Null);
        assert_eq!(read_lenient::<ScalingTrialConfig>(&value), scaling);
    }
}
