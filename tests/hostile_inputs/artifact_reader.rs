//! The artifact reader (`bitlab::artifact::Artifact::read`, then the header configuration and
//! the full `load_artifact`) under hostile files grown from real exports of every registered
//! scheme: byte damage anywhere, and targeted header edits (lengths, offsets and tensor sizes
//! set to huge values, shapes whose product overflows, a non-UTF-8 or deeply nested header).
use std::path::{Path, PathBuf};

use bitlab::artifact::Artifact;
use bitlab::model::{load_artifact, ModelDescription};
use bitlab::quant::registry;
use bitlab::Error;
use proptest::prelude::*;
use proptest::sample::Index;
use proptest::test_runner::TestCaseError;
use serde_json::{json, Value};
use tch::Device;

use super::campaign::{self, Budget, Parsed};
use super::mutate::{self, depth, nested};
use super::tiny_model::export_tiny;

/// What reading an artifact may allocate per file byte: the file, the header's strings and the
/// tensors' payload copies (about 7 per byte measured, for small files whose header dominates).
const BUDGET: Budget = Budget::per_input_byte(16);

/// What loading an artifact may allocate on the Rust side per file byte: unpacking a tensor
/// makes a 4-byte float of every weight, and a payload byte may hold up to eight weights.
const LOAD_BUDGET: Budget = Budget::per_input_byte(64);

/// Magic, version byte and header length.
const PREAMBLE_LEN: usize = 16;

/// Real artifacts of the tiny model, one per registered scheme.
fn seeds() -> Vec<Vec<u8>> {
    let dir = tempfile::tempdir().expect("a temporary folder");
    registry::names()
        .into_iter()
        .enumerate()
        .map(|(i, scheme)| {
            let path = dir.path().join(format!("{scheme}.bitlab"));
            export_tiny(scheme, i as i64, &path);
            std::fs::read(&path).expect("the seed artifact is readable")
        })
        .collect()
}

/// An artifact split into its JSON header and payload.
fn split(bytes: &[u8]) -> (Value, &[u8]) {
    let len = u64::from_le_bytes(bytes[8..PREAMBLE_LEN].try_into().expect("8 bytes")) as usize;
    let header = serde_json::from_slice(&bytes[PREAMBLE_LEN..PREAMBLE_LEN + len])
        .expect("a seed header is JSON");
    (header, &bytes[PREAMBLE_LEN + len..])
}

/// An artifact from a header (bytes, written as given) and a payload.
fn join(version: u8, header: &[u8], payload: &[u8]) -> Vec<u8> {
    let mut bytes = b"BITLAB\0".to_vec();
    bytes.push(version);
    bytes.extend_from_slice(&(header.len() as u64).to_le_bytes());
    bytes.extend_from_slice(header);
    bytes.extend_from_slice(payload);
    bytes
}

/// Numbers for the header's integer fields: the limits, the file's own size and just past it.
fn huge_numbers(file_len: u64) -> Vec<Value> {
    vec![
        json!(u64::MAX),
        json!(u64::MAX - 1),
        json!(i64::MAX),
        json!(1u64 << 32),
        json!(1u64 << 53),
        json!(file_len),
        json!(file_len + 1),
        json!(0),
        json!(-1),
        json!(1.5),
        json!("7"),
        Value::Null,
    ]
}

/// Shapes that lie: overflowing products, negative, empty, very many dimensions.
fn hostile_shapes() -> Vec<Value> {
    vec![
        json!([i64::MAX, i64::MAX]),
        json!([1u64 << 32, 1u64 << 32]),
        json!([1u64 << 62, 4]),
        json!([3, 1u64 << 61]),
        json!([-1, 4]),
        json!([-(1i64 << 62), -4]),
        json!([]),
        json!([0]),
        json!([0, i64::MAX]),
        json!(vec![1; 10_000]),
        json!([u64::MAX]),
        json!([1e300]),
        json!("16x16"),
    ]
}

/// One targeted edit of a real artifact's header.
#[derive(Debug, Clone)]
enum HeaderEdit {
    /// Overwrite the header-length field with a choice among huge and boundary values.
    Length(Index),
    /// Set one field of one tensor entry.
    TensorField(Index, &'static str, Index),
    /// Set one tensor's shape to a hostile one.
    Shape(Index, Index),
    /// Set a top-level field to a hostile value.
    TopField(&'static str, Index),
    /// Set one number of the embedded model description (a model size, a dimension) to a
    /// huge, zero or negative value.
    ConfigNumber(Index, Index),
    /// Add a deeply nested value.
    Deep(usize),
    /// Put a byte that is never UTF-8 inside the header.
    NonUtf8(Index),
    /// Another format version.
    Version(u8),
}

impl HeaderEdit {
    /// The seed with this edit; the header length is kept consistent except by `Length`.
    fn apply(&self, seed: &[u8]) -> Vec<u8> {
        let (mut header, payload) = split(seed);
        let file_len = seed.len() as u64;
        let mut version = 1;
        match self {
            HeaderEdit::TensorField(t, field, value) => {
                if let Some(tensors) = header["tensors"].as_array_mut() {
                    let i = t.index(tensors.len());
                    let values = huge_numbers(file_len);
                    tensors[i][*field] = values[value.index(values.len())].clone();
                }
            }
            HeaderEdit::Shape(t, shape) => {
                if let Some(tensors) = header["tensors"].as_array_mut() {
                    let i = t.index(tensors.len());
                    let shapes = hostile_shapes();
                    tensors[i]["shape"] = shapes[shape.index(shapes.len())].clone();
                }
            }
            HeaderEdit::TopField(field, value) => {
                let values = huge_numbers(file_len);
                header[*field] = match value.index(4) {
                    0 => json!([]),
                    1 => json!({}),
                    2 => json!("{\"trial\": 1}"),
                    _ => values[value.index(values.len())].clone(),
                };
            }
            HeaderEdit::ConfigNumber(which, value) => {
                let mut config: Value = header["config_json"]
                    .as_str()
                    .and_then(|c| serde_json::from_str(c).ok())
                    .expect("a seed's configuration is JSON");
                let mut pointers = Vec::new();
                number_pointers(&config, String::new(), &mut pointers);
                let values = [
                    json!(u64::MAX),
                    json!(i64::MAX),
                    json!(1u64 << 32),
                    json!(1u64 << 20),
                    json!(0),
                    json!(-1),
                ];
                let pointer = &pointers[which.index(pointers.len())];
                if let Some(number) = config.pointer_mut(pointer) {
                    *number = values[value.index(values.len())].clone();
                }
                header["config_json"] = json!(config.to_string());
            }
            HeaderEdit::Deep(d) => {
                let deep: String = nested("[", "", "]", *d);
                let text = serde_json::to_string(&header).expect("a header serializes");
                let text = text.replacen('{', &format!("{{\"deep\":{deep},"), 1);
                return join(1, text.as_bytes(), payload);
            }
            HeaderEdit::NonUtf8(at) => {
                let mut text = serde_json::to_vec(&header).expect("a header serializes");
                let i = at.index(text.len());
                text[i] = 0xFF;
                return join(1, &text, payload);
            }
            HeaderEdit::Version(v) => version = *v,
            HeaderEdit::Length(choice) => {
                let mut bytes = seed.to_vec();
                let header_len = u64::from_le_bytes(bytes[8..16].try_into().expect("8 bytes"));
                let lengths = [
                    u64::MAX,
                    u64::MAX - 15,
                    i64::MAX as u64,
                    file_len,
                    file_len - 16,
                    file_len - 15,
                    header_len + 1,
                    header_len - 1,
                    0,
                    1 << 32,
                ];
                let len = lengths[choice.index(lengths.len())];
                bytes[8..16].copy_from_slice(&len.to_le_bytes());
                return bytes;
            }
        }
        let text = serde_json::to_vec(&header).expect("a header serializes");
        join(version, &text, payload)
    }
}

/// JSON pointers of every number in `value`.
fn number_pointers(value: &Value, at: String, found: &mut Vec<String>) {
    match value {
        Value::Number(_) => found.push(at),
        Value::Array(items) => {
            for (i, item) in items.iter().enumerate() {
                number_pointers(item, format!("{at}/{i}"), found);
            }
        }
        Value::Object(fields) => {
            for (key, item) in fields {
                number_pointers(item, format!("{at}/{key}"), found);
            }
        }
        _ => {}
    }
}

fn header_edit() -> impl Strategy<Value = HeaderEdit> {
    let field = prop::sample::select(vec!["offset", "len", "shape", "name", "scheme", "sha256"]);
    let top = prop::sample::select(vec!["scheme", "bitlab_version", "config_json", "tensors"]);
    prop_oneof![
        2 => any::<Index>().prop_map(HeaderEdit::Length),
        3 => (any::<Index>(), field, any::<Index>())
            .prop_map(|(t, f, v)| HeaderEdit::TensorField(t, f, v)),
        3 => (any::<Index>(), any::<Index>()).prop_map(|(t, s)| HeaderEdit::Shape(t, s)),
        1 => (top, any::<Index>()).prop_map(|(f, v)| HeaderEdit::TopField(f, v)),
        3 => (any::<Index>(), any::<Index>()).prop_map(|(n, v)| HeaderEdit::ConfigNumber(n, v)),
        1 => depth().prop_map(HeaderEdit::Deep),
        1 => any::<Index>().prop_map(HeaderEdit::NonUtf8),
        1 => prop_oneof![Just(0u8), Just(2), Just(255)].prop_map(HeaderEdit::Version),
    ]
}

/// JSON fragments worth inserting anywhere.
fn hostile_fragments() -> BoxedStrategy<Vec<u8>> {
    prop_oneof![
        Just(b"{\"tensors\":[]}".to_vec()),
        Just(b"\"\\ud800\"".to_vec()),
        Just(b"1e999999".to_vec()),
        depth().prop_map(|d| nested("{\"a\":", "1", "}", d).into_bytes()),
    ]
    .boxed()
}

/// A typed artifact error naming `path`.
fn check_error(error: &Error, path: &Path) -> Result<(), TestCaseError> {
    match error {
        Error::Artifact { path: at, message } => {
            prop_assert_eq!(at.as_path(), path);
            prop_assert!(!message.trim().is_empty());
            Ok(())
        }
        other => Err(TestCaseError::fail(format!(
            "not an artifact error: {other:?}"
        ))),
    }
}

/// A hostile artifact on disk.
pub struct ArtifactFile {
    _dir: tempfile::TempDir,
    path: PathBuf,
    len: usize,
}

fn write_input(bytes: mutate::Bytes) -> ArtifactFile {
    let bytes = bytes.0;
    let dir = tempfile::tempdir().expect("a temporary folder");
    let path = dir.path().join("hostile.bitlab");
    std::fs::write(&path, &bytes).expect("the input is written");
    ArtifactFile {
        _dir: dir,
        path,
        len: bytes.len(),
    }
}

/// `Artifact::read`, then the header configuration; both must give a result or a typed error.
fn read(input: &ArtifactFile) -> Result<Parsed, TestCaseError> {
    let accepted = match Artifact::read(&input.path) {
        Ok(artifact) => match ModelDescription::of(&artifact, &input.path) {
            Ok(_) => true,
            Err(e) => {
                check_error(&e, &input.path)?;
                false
            }
        },
        Err(e) => {
            check_error(&e, &input.path)?;
            false
        }
    };
    Ok(Parsed {
        accepted,
        input_len: input.len,
        output_units: 0,
    })
}

/// Real artifacts of every scheme, damaged byte by byte or in their header.
#[test]
fn artifact_reader_survives_damaged_artifacts() {
    let seeds = seeds();
    let damaged = prop_oneof![
        mutate::mutated(seeds.clone(), hostile_fragments()).boxed(),
        (prop::sample::select(seeds), header_edit())
            .prop_map(|(seed, edit)| mutate::Bytes(edit.apply(&seed)))
            .boxed(),
    ];
    campaign::run(
        "artifact reader (damaged artifacts)",
        campaign::config(
            1024,
            "proptest-regressions/hostile_inputs/artifact_reader.txt",
        ),
        BUDGET,
        damaged,
        write_input,
        read,
    );
}

/// What `read` accepts, `load_artifact` loads or refuses with a typed error: a damaged file
/// never reaches libtorch with a shape or size it cannot hold.
#[test]
fn damaged_artifacts_load_or_fail_cleanly() {
    let seeds = seeds();
    let damaged = prop_oneof![
        mutate::mutated(seeds.clone(), hostile_fragments()).boxed(),
        (prop::sample::select(seeds), header_edit())
            .prop_map(|(seed, edit)| mutate::Bytes(edit.apply(&seed)))
            .boxed(),
    ];
    campaign::run(
        "artifact load_artifact (damaged artifacts)",
        campaign::config(256, "proptest-regressions/hostile_inputs/load_artifact.txt"),
        LOAD_BUDGET,
        damaged,
        write_input,
        |input| {
            let result = load_artifact(&input.path, Device::Cpu);
            match &result {
                Ok(_) => {}
                Err(e @ Error::Artifact { .. }) => check_error(e, &input.path)?,
                // Unpacking and rebuilding the model report their own typed errors.
                Err(
                    e @ (Error::Quantization { .. }
                    | Error::UnknownQuantizer { .. }
                    | Error::Pretrained { .. }
                    | Error::Torch { .. }),
                ) => {
                    prop_assert!(!e.to_string().trim().is_empty());
                }
                Err(other) => {
                    return Err(TestCaseError::fail(format!(
                        "unexpected failure: {other:?}"
                    )))
                }
            }
            Ok(Parsed {
                accepted: result.is_ok(),
                input_len: input.len,
                output_units: 0,
            })
        },
    );
}

/// The reader refuses shapes of more than eight weights per payload byte; that holds only while
/// every scheme stores at least one bit per weight, which this checks for each registered one.
#[test]
fn every_scheme_stores_at_least_one_bit_per_weight() {
    for scheme in registry::names() {
        let quantizer = registry::resolve(&bitlab::experiment::QuantConfig {
            scheme: scheme.into(),
            group_size: 8,
            ..Default::default()
        })
        .expect("a registered scheme");
        for shape in [[1i64, 1], [3, 5], [8, 64], [64, 8]] {
            let w = tch::Tensor::randn(shape, (tch::Kind::Float, Device::Cpu));
            let packed = quantizer.pack(&w).expect("random weights pack");
            let weights = (shape[0] * shape[1]) as usize;
            assert!(
                8 * packed.data.len() >= weights,
                "{scheme} stores {weights} weights of shape {shape:?} in {} bytes",
                packed.data.len()
            );
        }
    }
}

/// Regressions: headers that used to reach unchecked arithmetic or allocation past the reader.
#[test]
fn shapes_and_sizes_beyond_the_file_are_refused_by_the_reader() {
    let seed = &seeds()[0];
    let dir = tempfile::tempdir().expect("a temporary folder");
    let path = dir.path().join("regression.bitlab");
    let with_header = |edit: &dyn Fn(&mut Value)| {
        let (mut header, payload) = split(seed);
        edit(&mut header);
        join(1, &serde_json::to_vec(&header).expect("JSON"), payload)
    };
    let cases = [
        (
            with_header(&|h| h["tensors"][0]["shape"] = json!([i64::MAX, i64::MAX])),
            "an overflowing number of weights",
        ),
        (
            with_header(&|h| h["tensors"][0]["shape"] = json!([1u64 << 32, 1u64 << 32])),
            "an overflowing number of weights",
        ),
        (
            with_header(&|h| h["tensors"][0]["len"] = json!(u64::MAX)),
            "truncated",
        ),
        (
            with_header(&|h| h["tensors"][0]["offset"] = json!(u64::MAX)),
            "offset",
        ),
        (
            with_header(&|h| {
                h["tensors"] = serde_json::from_str(&nested("[", "", "]", 100)).expect("JSON")
            }),
            "not valid JSON",
        ),
        (
            {
                let mut bytes = seed.clone();
                bytes[8..16].copy_from_slice(&u64::MAX.to_le_bytes());
                bytes
            },
            "header claims",
        ),
    ];
    for (bytes, expected) in cases {
        std::fs::write(&path, bytes).expect("written");
        match Artifact::read(&path) {
            Err(err @ Error::Artifact { .. }) if err.to_string().contains(expected) => {}
            Err(err) => panic!("expected an artifact error naming {expected:?}: {err}"),
            Ok(_) => panic!("a header lying about {expected:?} was accepted"),
        }
    }
    // An unknown field nested 10 000 deep is skipped without recursion: the file still reads.
    std::fs::write(&path, HeaderEdit::Deep(10_000).apply(seed)).expect("written");
    assert!(Artifact::read(&path).is_ok());
    // A configuration describing a far larger model than the file holds is refused before the
    // loader builds it.
    let huge = with_header(&|h| {
        let mut config: Value =
            serde_json::from_str(h["config_json"].as_str().expect("a string")).expect("JSON");
        config["dims"]["vocab_size"] = json!(i64::MAX);
        h["config_json"] = json!(config.to_string());
    });
    std::fs::write(&path, huge).expect("written");
    let err = load_artifact(&path, Device::Cpu).err().expect("refused");
    assert!(
        matches!(err, Error::Artifact { .. })
            && err
                .to_string()
                .contains("header configuration describes a model"),
        "{err}"
    );
    // Found by the campaign: `d_ff = 0` reached libtorch's initializer (1 / sqrt(0) bounds),
    // which tch turned into a panic; `heads` must split the width for the forward pass.
    for (key, value) in [("d_ff", 0), ("d_model", 0), ("heads", 0), ("heads", 3)] {
        let edited = with_header(&|h| {
            let mut config: Value =
                serde_json::from_str(h["config_json"].as_str().expect("a string")).expect("JSON");
            config["model"][key] = json!(value);
            h["config_json"] = json!(config.to_string());
        });
        std::fs::write(&path, edited).expect("written");
        let err = load_artifact(&path, Device::Cpu).err().expect("refused");
        assert!(
            matches!(err, Error::Artifact { .. }) && err.to_string().contains("which no trial"),
            "{key} = {value}: {err}"
        );
    }
}
