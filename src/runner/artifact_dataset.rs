//! The dataset settings of a trial's artifact, for `bitlab infer`: the artifact's header
//! describes the model only (docs/FORMAT.md), so the runner writes the trial's `[dataset]`
//! (its text pipeline: name, tokenizer, lowercasing, subset) beside the artifact as
//! `<artifact stem>.dataset.json`. An artifact written before that (header version 1) carries
//! them in its header's trial configuration, read leniently from there.
use crate::artifact::Artifact;
use crate::data::DatasetConfig;
use crate::{Error, Result};
use std::path::{Path, PathBuf};

/// Where the dataset settings of the artifact at `artifact` live.
pub fn dataset_settings_path(artifact: &Path) -> PathBuf {
    artifact.with_extension("dataset.json")
}

/// Writes `dataset` beside the artifact at `artifact`.
pub fn write_dataset_settings(artifact: &Path, dataset: &DatasetConfig) -> Result<()> {
    let path = dataset_settings_path(artifact);
    let text = serde_json::to_string_pretty(dataset).map_err(|e| Error::Artifact {
        path: path.clone(),
        message: format!("dataset settings do not serialize ({e})"),
    })?;
    std::fs::write(&path, text).map_err(|e| Error::io(&path, e))
}

/// The dataset settings of the artifact at `artifact`: the file beside it, or, for an artifact
/// with a version 1 header, its header's `trial.dataset`.
pub fn read_dataset_settings(artifact: &Path) -> Result<DatasetConfig> {
    let path = dataset_settings_path(artifact);
    let unreadable = |path: &Path, message: String| Error::Artifact {
        path: path.to_path_buf(),
        message,
    };
    match std::fs::read_to_string(&path) {
        Ok(text) => serde_json::from_str(&text).map_err(|e| {
            unreadable(
                &path,
                format!("dataset settings are unreadable ({e}); re-run the trial"),
            )
        }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let header = Artifact::read(artifact)?;
            let json: serde_json::Value = serde_json::from_str(&header.config_json)
                .map_err(|e| unreadable(artifact, format!("header is not JSON ({e})")))?;
            let dataset = json.pointer("/trial/dataset").cloned().ok_or_else(|| {
                unreadable(
                    artifact,
                    format!(
                        "no dataset settings: {} is missing and the header carries none; \
                         re-run the trial to write them",
                        path.display()
                    ),
                )
            })?;
            serde_json::from_value(dataset).map_err(|e| {
                unreadable(
                    artifact,
                    format!("the version 1 header's dataset settings are unreadable ({e})"),
                )
            })
        }
        Err(e) => Err(Error::io(&path, e)),
    }
}
