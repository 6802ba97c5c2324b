//! A small artifact written by format version 1 (`tests/fixtures/artifacts/v1-ternary.bitlab`)
//! keeps loading, with the logits it gave when it was written: a later header format must
//! still read files written by this one.
use std::path::{Path, PathBuf};

use bitlab::artifact::Artifact;
use bitlab::model::{load_artifact, QuantMode};
use serde_json::{json, Value};
use tch::{Device, Kind, Tensor};

use super::tiny_model::{export_tiny, VOCAB};

fn fixture(extension: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/artifacts")
        .join(format!("v1-ternary.{extension}"))
}

/// Token ids and attention mask of the recorded batch: two sequences of 6, the second padded.
fn batch() -> (Tensor, Tensor) {
    let ids: Vec<i64> = (0..12).map(|i| (i * 7 + 3) % VOCAB as i64).collect();
    let mask: Vec<i64> = (0..12).map(|i| i64::from(i < 6 || i % 6 < 4)).collect();
    (
        Tensor::from_slice(&ids).view([2, 6]),
        Tensor::from_slice(&mask).view([2, 6]),
    )
}

/// The logits the artifact at `path` gives for [`batch`], row by row.
fn logits(path: &Path) -> Vec<Vec<f64>> {
    let loaded = load_artifact(path, Device::Cpu).expect("the fixture loads");
    let (ids, mask) = batch();
    let out = tch::no_grad(|| {
        loaded
            .model
            .forward(&ids, &mask, QuantMode::WeightsOnGrid, false)
    })
    .expect("the fixture runs")
    .to_kind(Kind::Double);
    let rows = out.size()[0];
    (0..rows)
        .map(|r| Vec::<f64>::try_from(out.get(r)).expect("a row of logits"))
        .collect()
}

/// The fixture was written by format version 1 and still loads with its recorded logits.
#[test]
fn version_1_ternary_artifact_keeps_loading() {
    let path = fixture("bitlab");
    let bytes = std::fs::read(&path).expect("the fixture is committed");
    assert_eq!(&bytes[..8], b"BITLAB\0\x01", "format version 1");
    let artifact = Artifact::read(&path).expect("the fixture reads");
    assert_eq!(artifact.scheme, "ternary");
    let recorded: Value = serde_json::from_slice(
        &std::fs::read(fixture("json")).expect("the recorded logits are committed"),
    )
    .expect("the recorded logits are JSON");
    let want: Vec<Vec<f64>> =
        serde_json::from_value(recorded["logits"].clone()).expect("rows of logits");
    let got = logits(&path);
    assert_eq!(got.len(), want.len());
    for (g, w) in got.iter().flatten().zip(want.iter().flatten()) {
        assert!((g - w).abs() < 1e-5, "logits {got:?}, recorded {want:?}");
    }
}

/// Writes the fixture; run once by hand (`cargo test --test hostile_inputs -- --ignored
/// write_version_1_fixture`). It refuses to overwrite: the committed file must stay the one the
/// version-1 writer produced.
#[test]
#[ignore = "writes tests/fixtures/artifacts/v1-ternary.*; run by hand once"]
fn write_version_1_fixture() {
    let path = fixture("bitlab");
    assert!(
        !path.exists(),
        "{path:?} exists; delete it first only if version 1 files no longer need to load"
    );
    export_tiny("ternary", 158, &path);
    let recorded = json!({
        "written_by": format!("bitlab {}", env!("CARGO_PKG_VERSION")),
        "batch": "tests/hostile_inputs/artifact_fixture.rs: batch()",
        "logits": logits(&path),
    });
    std::fs::write(
        fixture("json"),
        serde_json::to_string_pretty(&recorded).expect("JSON") + "\n",
    )
    .expect("the recorded logits are written");
}
