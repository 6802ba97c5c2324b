//! The model description an artifact's header stores (header version 2): exactly what the
//! model needs to be rebuilt and run (its shape, quantizer, adapters and the sizes it took from
//! the data), owned by the model and versioned, so renaming a training or measurement setting
//! never makes an artifact unreadable. Artifacts written before it (header version 1) stored the
//! whole trial configuration; reading one takes only the description's parts from its JSON,
//! leniently, once at read time (docs/FORMAT.md).
use super::pretrained::BertConfig;
use super::{LoraConfig, ModelConfig, ModelDims};
use crate::artifact::Artifact;
use crate::quant::QuantConfig;
use crate::{Error, Result};
use serde::{Deserialize, Serialize};
use std::path::Path;

/// The header version [`ModelDescription`] writes.
pub const DESCRIPTION_VERSION: u32 = 2;

/// Everything needed to rebuild the model from an artifact, stored in its header (version 2):
/// the encoder's shape and attention kernel, the quantizer (BitNet b1.58, Ma et al. 2024, or a
/// baseline), the LoRA adapters, and the sizes the model took from the data.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelDescription {
    /// The header version ([`DESCRIPTION_VERSION`]).
    pub version: u32,
    /// The encoder's shape, pooling and attention kernel (`[model]`).
    pub model: ModelConfig,
    /// The quantizer (`[quant]`).
    pub quant: QuantConfig,
    /// The LoRA adapters (`[lora]`).
    pub lora: LoraConfig,
    /// Data-dependent sizes.
    pub dims: ModelDims,
    /// Padding token id.
    pub pad_id: i64,
    /// The pretrained checkpoint's shape, for models fine-tuned from one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bert: Option<BertConfig>,
    /// True when LoRA adapters were merged into the base weights at export.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub merged_lora: bool,
}

impl ModelDescription {
    /// A description of the current version, adapters not (yet) merged: export decides that.
    pub fn new(
        model: ModelConfig,
        quant: QuantConfig,
        lora: LoraConfig,
        dims: ModelDims,
        pad_id: i64,
        bert: Option<BertConfig>,
    ) -> Self {
        Self {
            version: DESCRIPTION_VERSION,
            model,
            quant,
            lora,
            dims,
            pad_id,
            bert,
            merged_lora: false,
        }
    }

    /// The header description of `artifact`, read from `path` (named in errors): a version 2
    /// description, or a version 1 header (the whole trial configuration) converted to one. A
    /// description of a larger model than the artifact stores is refused, so a corrupt header
    /// cannot make the loader allocate beyond a small factor of the file's size.
    pub fn of(artifact: &Artifact, path: &Path) -> Result<Self> {
        let unreadable = |e: String| Error::Artifact {
            path: path.to_path_buf(),
            message: format!(
                "header configuration is not readable by this bitlab ({e}); re-run the trial to \
                 re-export"
            ),
        };
        let json: serde_json::Value =
            serde_json::from_str(&artifact.config_json).map_err(|e| unreadable(e.to_string()))?;
        let description = match json.get("version") {
            Some(_) => {
                let description: Self =
                    serde_json::from_value(json).map_err(|e| unreadable(e.to_string()))?;
                if description.version != DESCRIPTION_VERSION {
                    return Err(unreadable(format!(
                        "header version {} is not one this bitlab reads (1 and \
                         {DESCRIPTION_VERSION}; a newer bitlab wrote it?)",
                        description.version
                    )));
                }
                description
            }
            None => Self::from_v1(&json).map_err(unreadable)?,
        };
        check_model_fits(&description, artifact, path)?;
        Ok(description)
    }

    /// Reads the artifact at `path` and returns its header description.
    pub fn read(path: &Path) -> Result<Self> {
        Self::of(&Artifact::read(path)?, path)
    }

    /// Converts a version 1 header (`{"trial": TrialConfig, "dims", "pad_id", "bert"?,
    /// "merged_lora"?}`): only `trial.model`, `trial.quant` and `trial.lora` are read from the
    /// trial, so its training, data and measurement settings may be unknown or renamed.
    fn from_v1(json: &serde_json::Value) -> std::result::Result<Self, String> {
        fn part<T: serde::de::DeserializeOwned>(
            json: &serde_json::Value,
            pointer: &str,
        ) -> std::result::Result<T, String> {
            let value = json
                .pointer(pointer)
                .cloned()
                .unwrap_or(serde_json::Value::Null);
            serde_json::from_value(value).map_err(|e| format!("version 1 header, `{pointer}`: {e}"))
        }
        let bert = match json.get("bert") {
            None | Some(serde_json::Value::Null) => None,
            Some(_) => Some(part(json, "/bert")?),
        };
        let merged_lora = match json.get("merged_lora") {
            None => false,
            Some(_) => part(json, "/merged_lora")?,
        };
        Ok(Self {
            version: DESCRIPTION_VERSION,
            model: part(json, "/trial/model")?,
            quant: part(json, "/trial/quant")?,
            lora: part(json, "/trial/lora")?,
            dims: part(json, "/dims")?,
            pad_id: part(json, "/pad_id")?,
            bert,
            merged_lora,
        })
    }

    /// The header JSON of this description.
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).expect("a model description serializes")
    }
}

/// Refuses a header configuration whose model needs more weights, or more layers, than the
/// artifact stores: a lower bound of the model's parameter count (its embedding tables, its
/// head, and per layer four `d x d` attention matrices, two `d x ff` feed-forward matrices and
/// one `ff`-wide vector) must not exceed the stored weight count, and each layer needs at least
/// one stored tensor; the widths must be positive and the heads divide the width. An honest
/// artifact stores every variable of a validated model, so it passes.
fn check_model_fits(config: &ModelDescription, artifact: &Artifact, path: &Path) -> Result<()> {
    let n = |v: usize| v as u128;
    let labels = n(config.dims.num_labels);
    let (layers, width, ff, heads, table_rows) = match (&config.model.pretrained, &config.bert) {
        (Some(_), Some(bert)) => (
            bert.num_hidden_layers,
            bert.hidden_size,
            bert.intermediate_size,
            bert.num_attention_heads,
            n(bert.vocab_size)
                .saturating_add(n(bert.max_position_embeddings))
                .saturating_add(n(bert.type_vocab_size)),
        ),
        _ => {
            let model = &config.model;
            (
                model.layers,
                model.d_model,
                model.d_ff,
                model.heads,
                n(config.dims.vocab_size).saturating_add(n(model.max_positions)),
            )
        }
    };
    // A layer of width 0 has no valid initialization (libtorch refuses it), and heads must
    // split the width: every trial that was run satisfied both.
    if width == 0 || ff == 0 || heads == 0 || width % heads != 0 {
        return Err(Error::Artifact {
            path: path.to_path_buf(),
            message: format!(
                "header configuration has a model of width {width}, feed-forward width {ff} and \
                 {heads} heads, which no trial can have; the header is corrupt; fix: delete the \
                 file and export the trial again"
            ),
        });
    }
    let (d, ff) = (n(width), n(ff));
    let layer = d
        .saturating_mul(d)
        .saturating_mul(4)
        .saturating_add(d.saturating_mul(ff).saturating_mul(2))
        .saturating_add(ff);
    let lower_bound = table_rows
        .saturating_mul(d)
        .saturating_add(layer.saturating_mul(n(layers)))
        .saturating_add(d.saturating_mul(labels))
        .saturating_add(labels)
        .max(if config.merged_lora {
            0
        } else {
            n(config.lora.rank)
        });
    let stored = artifact.tensors.iter().fold(0u128, |total, t| {
        let weights = t.packed.shape.iter().fold(1u128, |w, &dim| {
            w.saturating_mul(u128::from(dim.unsigned_abs()))
        });
        total.saturating_add(weights)
    });
    if lower_bound <= stored && layers <= artifact.tensors.len() {
        return Ok(());
    }
    Err(Error::Artifact {
        path: path.to_path_buf(),
        message: format!(
            "header configuration describes a model of {layers} layers and at least \
             {lower_bound} weights, but the artifact stores {stored} weights in {} tensors; the \
             header is corrupt; fix: delete the file and export the trial again",
            artifact.tensors.len()
        ),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{json, Value};

    /// The committed artifact written before the description existed (a version 1 header).
    fn version_1_artifact() -> (Artifact, std::path::PathBuf) {
        let path = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures/artifacts/v1-ternary.bitlab");
        (Artifact::read(&path).unwrap(), path)
    }

    #[test]
    fn a_version_1_header_converts_to_the_description_of_its_trial() {
        let (artifact, path) = version_1_artifact();
        let header: Value = serde_json::from_str(&artifact.config_json).unwrap();
        assert!(
            header.get("version").is_none(),
            "the fixture has a version 1 header"
        );
        let description = ModelDescription::of(&artifact, &path).unwrap();
        assert_eq!(description.version, DESCRIPTION_VERSION);
        let trial = &header["trial"];
        assert_eq!(
            serde_json::to_value(&description.model).unwrap(),
            trial["model"]
        );
        assert_eq!(
            serde_json::to_value(&description.quant).unwrap(),
            trial["quant"]
        );
        assert_eq!(
            serde_json::to_value(&description.lora).unwrap(),
            trial["lora"]
        );
        assert_eq!(
            serde_json::to_value(description.dims).unwrap(),
            header["dims"]
        );
        assert_eq!(json!(description.pad_id), header["pad_id"]);
    }

    #[test]
    fn renamed_training_and_measurement_settings_leave_a_version_1_header_readable() {
        let (mut artifact, path) = version_1_artifact();
        let original = ModelDescription::of(&artifact, &path).unwrap();
        let mut header: Value = serde_json::from_str(&artifact.config_json).unwrap();
        let trial = header["trial"].as_object_mut().unwrap();
        let lr = trial["train"]["lr"].take();
        trial["train"]["learning_rate"] = lr;
        trial["train"].as_object_mut().unwrap().remove("lr");
        trial["measure"]["a_setting_from_the_future"] = json!(true);
        trial.insert("renamed_section".into(), json!({"x": 1}));
        trial.remove("dataset");
        artifact.config_json = header.to_string();
        assert_eq!(ModelDescription::of(&artifact, &path).unwrap(), original);
    }

    #[test]
    fn a_version_2_header_round_trips_and_another_version_is_refused() {
        let (mut artifact, path) = version_1_artifact();
        let description = ModelDescription::of(&artifact, &path).unwrap();
        artifact.config_json = description.to_json();
        assert_eq!(ModelDescription::of(&artifact, &path).unwrap(), description);

        let mut newer: Value = serde_json::from_str(&description.to_json()).unwrap();
        newer["version"] = json!(DESCRIPTION_VERSION + 1);
        artifact.config_json = newer.to_string();
        let err = ModelDescription::of(&artifact, &path).unwrap_err();
        assert!(
            err.to_string().contains("not one this bitlab reads"),
            "{err}"
        );
    }
}
