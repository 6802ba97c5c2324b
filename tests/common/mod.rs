//! Helpers shared by the integration tests that run the `bitlab` binary.
#![allow(dead_code)] // each test crate uses its own subset
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// The repository root (tests run `bitlab` from there, so `datasets/` resolves).
pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Runs the `bitlab` binary with `args` against the database `<tmp>/results.db`, echoing its
/// stderr into the test output.
pub fn bitlab(args: &[&str], tmp: &Path) -> Output {
    let out = Command::new(env!("CARGO_BIN_EXE_bitlab"))
        .current_dir(repo())
        .args(args)
        .args(["--db", tmp.join("results.db").to_str().unwrap()])
        .output()
        .expect("bitlab runs");
    eprintln!("{}", String::from_utf8_lossy(&out.stderr));
    out
}
