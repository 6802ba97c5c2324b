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

/// Runs `bitlab infer --artifact <artifact> <texts...>` and returns its (label, probability)
/// lines after checking it succeeded and named its kernel; returns the kernel line too.
pub fn infer(artifact: &Path, texts: &[&str]) -> (String, Vec<(String, f64)>) {
    let out = Command::new(env!("CARGO_BIN_EXE_bitlab"))
        .current_dir(repo())
        .args(["infer", "--artifact", artifact.to_str().unwrap()])
        .args(texts)
        .output()
        .expect("bitlab runs");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "bitlab infer failed: {stderr}");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let mut lines = stdout.lines();
    let kernel = lines.next().expect("a kernel line").to_string();
    assert!(kernel.starts_with("kernel: "), "{stdout}");
    let predictions: Vec<(String, f64)> = lines
        .map(|line| {
            let fields: Vec<&str> = line.split('\t').collect();
            assert_eq!(fields.len(), 3, "label, probability, text: {line}");
            (fields[0].to_string(), fields[1].parse().unwrap())
        })
        .collect();
    assert_eq!(predictions.len(), texts.len(), "{stdout}");
    for (label, probability) in &predictions {
        assert!(
            ["negative", "positive"].contains(&label.as_str()),
            "{label}"
        );
        assert!((0.5..=1.0).contains(probability), "{probability}");
    }
    (kernel, predictions)
}

/// The first `.bitlab` file in `dir`.
pub fn first_artifact(dir: &Path) -> PathBuf {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "bitlab"))
        .collect();
    files.sort();
    files.into_iter().next().expect("an artifact")
}
