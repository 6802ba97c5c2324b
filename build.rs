//! Build script: gives the `bitlab` binary an rpath to libtorch so it runs without
//! LD_LIBRARY_PATH, and records the libtorch version for the environment of every sweep.
//!
//! torch-sys finds libtorch through `$LIBTORCH`; we add `$LIBTORCH/lib` and, for the CPU-only
//! PyPI layout (see README), the CUDA runtime libraries beside it (`nvidia/cu13/lib`).
use std::path::{Path, PathBuf};

/// Reads the version from a libtorch zip (`build-version`) or a PyPI torch folder (`version.py`).
fn libtorch_version(libtorch: &Path) -> Option<String> {
    if let Ok(v) = std::fs::read_to_string(libtorch.join("build-version")) {
        return Some(v.trim().to_string());
    }
    let py = std::fs::read_to_string(libtorch.join("version.py")).ok()?;
    let line = py.lines().find(|l| l.starts_with("__version__"))?;
    Some(line.split(['\'', '"']).nth(1)?.to_string())
}

fn main() {
    println!("cargo:rerun-if-env-changed=LIBTORCH");
    // sqlx::migrate! embeds migrations/ at compile time; rebuild when one is added.
    println!("cargo:rerun-if-changed=migrations");
    let libtorch = std::env::var_os("LIBTORCH").map(PathBuf::from);
    let version = libtorch
        .as_deref()
        .and_then(libtorch_version)
        .unwrap_or_else(|| "unknown".into());
    println!("cargo:rustc-env=BITLAB_LIBTORCH_VERSION={version}");
    let Some(libtorch) = libtorch else {
        return;
    };
    let mut dirs = vec![libtorch.join("lib")];
    if let Some(site) = libtorch.parent() {
        dirs.push(site.join("nvidia").join("cu13").join("lib"));
    }
    for dir in dirs.into_iter().filter(|d| d.is_dir()) {
        let dir = dir.canonicalize().unwrap_or(dir);
        println!("cargo:rustc-link-arg=-Wl,-rpath,{}", dir.display());
    }
}
