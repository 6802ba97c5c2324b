//! The packed model artifact: one file whose size on disk is a trial's storage figure.
//!
//! Every tensor of a trained model is stored in its packed form ([`crate::quant::PackedTensor`]):
//! quantized linear weights with the trial's scheme, everything kept in high precision
//! (embeddings, norms, biases, the head) with the scheme's `high_precision_storage` (`fp32` for
//! the fp32 baseline, `fp16`/`bf16` otherwise). `docs/FORMAT.md` documents the whole format.
//!
//! File layout (all integers little-endian):
//!
//! | offset       | size | content                                                     |
//! |--------------|------|-------------------------------------------------------------|
//! | 0            | 8    | magic `b"BITLAB\0"` followed by the format version byte `1` |
//! | 8            | 8    | `H`: length of the JSON header in bytes (u64)               |
//! | 16           | `H`  | JSON header, UTF-8                                          |
//! | 16 + `H`     | ...  | tensor payloads, concatenated in header order               |
//!
//! The header is `{"scheme", "bitlab_version", "config_json", "tensors": [{"name", "scheme",
//! "shape", "offset", "len", "sha256"}]}`: `offset` counts from the first payload byte, payloads
//! are contiguous in header order, the file ends right after the last one, and `sha256` is the
//! hex digest of the payload. [`Artifact::read`] checks all of this, so a truncated, corrupted or
//! foreign file is refused with a message naming the problem. Files are written to a temporary
//! sibling and renamed, so an interrupted write never leaves a half artifact under `path`.
use std::collections::HashSet;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::quant::{PackedTensor, SchemeTag};
use crate::{Error, Result};

/// The first seven bytes of every artifact.
const MAGIC: &[u8; 7] = b"BITLAB\0";
/// The format version this bitlab writes and reads (the eighth byte).
pub const FORMAT_VERSION: u8 = 1;
/// Magic, version byte and header length.
const PREAMBLE_LEN: usize = 16;

/// One named tensor of a model in its packed form.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArtifactTensor {
    /// Parameter name, e.g. `blocks.0.attn.q.weight`.
    pub name: String,
    /// Packed data; full-precision tensors use scheme `fp32`.
    pub packed: PackedTensor,
}

/// A packed model: its scheme, the bitlab version and trial configuration that produced it, and
/// every tensor.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Artifact {
    /// The trial's quantization scheme (canonical name).
    pub scheme: String,
    /// Version of bitlab that wrote the file (`CARGO_PKG_VERSION`).
    pub bitlab_version: String,
    /// The trial's resolved configuration as JSON.
    pub config_json: String,
    /// All tensors, in file order.
    pub tensors: Vec<ArtifactTensor>,
}

/// What [`Artifact::write`] produced.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ArtifactSummary {
    /// Size of the file on disk in bytes (the storage figure).
    pub bytes: u64,
    /// Hex sha256 of the whole file.
    pub sha256: String,
}

/// The JSON header.
#[derive(Debug, Serialize, Deserialize)]
struct Header {
    scheme: String,
    bitlab_version: String,
    config_json: String,
    tensors: Vec<TensorEntry>,
}

/// One tensor's entry in the JSON header.
#[derive(Debug, Serialize, Deserialize)]
struct TensorEntry {
    name: String,
    scheme: String,
    shape: Vec<i64>,
    offset: u64,
    len: u64,
    sha256: String,
}

fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

impl Artifact {
    /// A new artifact stamped with this bitlab's version.
    pub fn new(scheme: impl Into<String>, config_json: impl Into<String>) -> Self {
        Self {
            scheme: scheme.into(),
            bitlab_version: env!("CARGO_PKG_VERSION").into(),
            config_json: config_json.into(),
            tensors: Vec::new(),
        }
    }

    /// The tensor called `name`, if any.
    pub fn tensor(&self, name: &str) -> Option<&ArtifactTensor> {
        self.tensors.iter().find(|t| t.name == name)
    }

    /// Total bytes of all packed payloads (the file adds the preamble and the JSON header).
    pub fn payload_bytes(&self) -> u64 {
        self.tensors
            .iter()
            .map(|t| t.packed.data.len() as u64)
            .sum()
    }

    /// Serializes the artifact to bytes in the documented layout.
    fn to_bytes(&self, path: &Path) -> Result<Vec<u8>> {
        let mut seen = HashSet::new();
        let mut entries = Vec::with_capacity(self.tensors.len());
        let mut offset = 0u64;
        for t in &self.tensors {
            if t.name.is_empty() || !seen.insert(t.name.as_str()) {
                return Err(artifact_error(
                    path,
                    format!(
                        "tensor name `{}` is empty or used twice; fix: give every tensor a unique \
                         parameter name",
                        t.name
                    ),
                ));
            }
            let len = t.packed.data.len() as u64;
            entries.push(TensorEntry {
                name: t.name.clone(),
                scheme: t.packed.scheme.to_string(),
                shape: t.packed.shape.clone(),
                offset,
                len,
                sha256: sha256_hex(&t.packed.data),
            });
            offset += len;
        }
        let header = Header {
            scheme: self.scheme.clone(),
            bitlab_version: self.bitlab_version.clone(),
            config_json: self.config_json.clone(),
            tensors: entries,
        };
        let header = serde_json::to_vec(&header)
            .map_err(|e| artifact_error(path, format!("cannot encode the header: {e}")))?;
        let mut bytes = Vec::with_capacity(PREAMBLE_LEN + header.len() + offset as usize);
        bytes.extend_from_slice(MAGIC);
        bytes.push(FORMAT_VERSION);
        bytes.extend_from_slice(&(header.len() as u64).to_le_bytes());
        bytes.extend_from_slice(&header);
        for t in &self.tensors {
            bytes.extend_from_slice(&t.packed.data);
        }
        Ok(bytes)
    }

    /// Writes the artifact to `path` (creating its directory), atomically, and returns its size
    /// on disk and sha256.
    pub fn write(&self, path: &Path) -> Result<ArtifactSummary> {
        let bytes = self.to_bytes(path)?;
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
        }
        let partial = partial_path(path);
        std::fs::write(&partial, &bytes).map_err(|e| Error::io(&partial, e))?;
        std::fs::rename(&partial, path).map_err(|e| Error::io(path, e))?;
        let bytes_on_disk = std::fs::metadata(path)
            .map_err(|e| Error::io(path, e))?
            .len();
        Ok(ArtifactSummary {
            bytes: bytes_on_disk,
            sha256: sha256_hex(&bytes),
        })
    }

    /// Reads and verifies an artifact: magic, format version, header, payload bounds, per-tensor
    /// sha256 and total length. Any mismatch is an [`Error::Artifact`] naming the problem.
    pub fn read(path: &Path) -> Result<Artifact> {
        let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
        let reexport = "fix: delete the file and export the trial again";
        if bytes.len() < PREAMBLE_LEN {
            if bytes.len() >= MAGIC.len() && &bytes[..MAGIC.len()] != MAGIC {
                return Err(not_an_artifact(path));
            }
            return Err(artifact_error(
                path,
                format!("file is {} bytes, shorter than the 16-byte preamble; it is truncated; {reexport}", bytes.len()),
            ));
        }
        if &bytes[..MAGIC.len()] != MAGIC {
            return Err(not_an_artifact(path));
        }
        let version = bytes[MAGIC.len()];
        if version != FORMAT_VERSION {
            return Err(artifact_error(
                path,
                format!(
                    "artifact format version {version}, but bitlab {} reads version \
                     {FORMAT_VERSION}; fix: read it with the bitlab version that wrote it, or \
                     export the trial again with this one",
                    env!("CARGO_PKG_VERSION")
                ),
            ));
        }
        let header_len = u64::from_le_bytes(bytes[8..PREAMBLE_LEN].try_into().expect("8 bytes"));
        let available = (bytes.len() - PREAMBLE_LEN) as u64;
        if header_len > available {
            return Err(artifact_error(
                path,
                format!(
                    "header claims {header_len} bytes but only {available} follow the preamble; \
                     the file is truncated or corrupt; {reexport}"
                ),
            ));
        }
        let payload_start = PREAMBLE_LEN + header_len as usize;
        let header: Header =
            serde_json::from_slice(&bytes[PREAMBLE_LEN..payload_start]).map_err(|e| {
                artifact_error(
                    path,
                    format!("header is not valid JSON ({e}); the file is corrupt; {reexport}"),
                )
            })?;
        let payload = &bytes[payload_start..];
        let mut expected_offset = 0u64;
        let mut seen = HashSet::new();
        let mut tensors = Vec::with_capacity(header.tensors.len());
        for entry in header.tensors {
            if !seen.insert(entry.name.clone()) {
                return Err(artifact_error(
                    path,
                    format!(
                        "tensor `{}` appears twice in the header; the file is corrupt; {reexport}",
                        entry.name
                    ),
                ));
            }
            if entry.offset != expected_offset || entry.shape.iter().any(|&d| d < 0) {
                return Err(artifact_error(
                    path,
                    format!(
                        "tensor `{}` has offset {} (expected {expected_offset}) or shape {:?}; \
                         the header is corrupt; {reexport}",
                        entry.name, entry.offset, entry.shape
                    ),
                ));
            }
            let end = entry
                .offset
                .checked_add(entry.len)
                .filter(|&e| e <= payload.len() as u64);
            let Some(end) = end else {
                return Err(artifact_error(
                    path,
                    format!(
                        "tensor `{}` needs payload bytes {}..{} but the file holds {}; it is \
                         truncated; {reexport}",
                        entry.name,
                        entry.offset,
                        entry.offset.saturating_add(entry.len),
                        payload.len()
                    ),
                ));
            };
            check_weight_count(&entry, path)?;
            let data = &payload[entry.offset as usize..end as usize];
            let actual = sha256_hex(data);
            if actual != entry.sha256 {
                return Err(artifact_error(
                    path,
                    format!(
                        "tensor `{}` is corrupt: sha256 {actual}, header says {}; {reexport}",
                        entry.name, entry.sha256
                    ),
                ));
            }
            let scheme: SchemeTag = entry.scheme.parse().map_err(|e| {
                artifact_error(
                    path,
                    format!(
                        "tensor `{}` has an unreadable scheme tag: {e}; {reexport}",
                        entry.name
                    ),
                )
            })?;
            tensors.push(ArtifactTensor {
                name: entry.name,
                packed: PackedTensor {
                    scheme,
                    shape: entry.shape,
                    data: data.to_vec(),
                },
            });
            expected_offset = end;
        }
        if expected_offset != payload.len() as u64 {
            return Err(artifact_error(
                path,
                format!(
                    "{} unexpected bytes after the last tensor; the file is corrupt or was \
                     appended to; {reexport}",
                    payload.len() as u64 - expected_offset
                ),
            ));
        }
        Ok(Artifact {
            scheme: header.scheme,
            bitlab_version: header.bitlab_version,
            config_json: header.config_json,
            tensors,
        })
    }
}

/// Refuses an entry whose shape holds more weights than its payload can: every scheme stores at
/// least one bit per weight (binary, the sparsest, one bit plus a scale), so a shape whose
/// product passes `8 * len` (or overflows) is corrupt. This keeps what unpacking the tensor
/// allocates within a small factor of the file's size. Dimensions are non-negative here.
fn check_weight_count(entry: &TensorEntry, path: &Path) -> Result<()> {
    let weights = entry
        .shape
        .iter()
        .try_fold(1u64, |weights, &d| weights.checked_mul(d.unsigned_abs()));
    if weights.is_some_and(|w| w <= entry.len.saturating_mul(8)) {
        return Ok(());
    }
    Err(artifact_error(
        path,
        format!(
            "tensor `{}` has shape {:?}, {} weights, more than its {} payload bytes can hold \
             (every scheme stores at least one bit per weight); the header is corrupt; fix: \
             delete the file and export the trial again",
            entry.name,
            entry.shape,
            weights.map_or_else(|| "an overflowing number of".into(), |w| w.to_string()),
            entry.len
        ),
    ))
}

/// `<path>.partial`, where a write goes before it is renamed into place.
fn partial_path(path: &Path) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(".partial");
    PathBuf::from(name)
}

fn artifact_error(path: &Path, message: impl Into<String>) -> Error {
    Error::Artifact {
        path: path.to_path_buf(),
        message: message.into(),
    }
}

fn not_an_artifact(path: &Path) -> Error {
    artifact_error(
        path,
        "wrong magic bytes: this is not a bitlab artifact; fix: pass a model file written by \
         bitlab (it starts with BITLAB)",
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Artifact {
        let mut a = Artifact::new("ternary", r#"{"seed":1}"#);
        a.tensors.push(ArtifactTensor {
            name: "blocks.0.ffn.up.weight".into(),
            packed: PackedTensor {
                scheme: SchemeTag::Builtin("ternary"),
                shape: vec![3, 5],
                data: (0..8).collect(),
            },
        });
        a.tensors.push(ArtifactTensor {
            name: "embed.weight".into(),
            packed: PackedTensor {
                scheme: SchemeTag::Builtin("fp32"),
                shape: vec![2, 2],
                data: vec![7; 16],
            },
        });
        a
    }

    fn written() -> (tempfile::TempDir, PathBuf, ArtifactSummary) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("models").join("model.bitlab");
        let summary = sample().write(&path).unwrap();
        (dir, path, summary)
    }

    fn read_error(path: &Path) -> String {
        let err = Artifact::read(path).unwrap_err();
        assert!(matches!(err, Error::Artifact { .. }), "{err:?}");
        err.to_string()
    }

    #[test]
    fn write_read_round_trip() {
        let (_dir, path, summary) = written();
        let bytes = std::fs::read(&path).unwrap();
        assert_eq!(summary.bytes, bytes.len() as u64);
        assert_eq!(summary.sha256, sha256_hex(&bytes));
        assert_eq!(&bytes[..8], b"BITLAB\0\x01");
        let back = Artifact::read(&path).unwrap();
        assert_eq!(back, sample());
        assert_eq!(back.bitlab_version, env!("CARGO_PKG_VERSION"));
        assert_eq!(
            back.tensor("embed.weight").unwrap().packed.data,
            vec![7; 16]
        );
        assert_eq!(back.payload_bytes(), 24);
        let header_len = u64::from_le_bytes(bytes[8..16].try_into().unwrap());
        assert_eq!(summary.bytes, 16 + header_len + 24);
        assert!(!partial_path(&path).exists());
    }

    #[test]
    fn truncated_file_is_refused() {
        let (_dir, path, _) = written();
        let bytes = std::fs::read(&path).unwrap();
        std::fs::write(&path, &bytes[..bytes.len() - 3]).unwrap();
        assert!(read_error(&path).contains("truncated"));
        std::fs::write(&path, &bytes[..20]).unwrap();
        assert!(read_error(&path).contains("truncated"));
        std::fs::write(&path, &bytes[..10]).unwrap();
        assert!(read_error(&path).contains("truncated"));
    }

    #[test]
    fn flipped_payload_byte_is_refused() {
        let (_dir, path, _) = written();
        let mut bytes = std::fs::read(&path).unwrap();
        let last = bytes.len() - 1;
        bytes[last] ^= 0x40;
        std::fs::write(&path, &bytes).unwrap();
        let msg = read_error(&path);
        assert!(
            msg.contains("embed.weight") && msg.contains("corrupt"),
            "{msg}"
        );
    }

    #[test]
    fn corrupt_header_and_trailing_bytes_are_refused() {
        let (_dir, path, _) = written();
        let bytes = std::fs::read(&path).unwrap();
        let mut broken = bytes.clone();
        broken[17] = b'!';
        std::fs::write(&path, &broken).unwrap();
        assert!(read_error(&path).contains("JSON"));
        let mut longer = bytes.clone();
        longer.push(0);
        std::fs::write(&path, &longer).unwrap();
        assert!(read_error(&path).contains("after the last tensor"));
    }

    #[test]
    fn wrong_magic_and_version_are_refused() {
        let (_dir, path, _) = written();
        let bytes = std::fs::read(&path).unwrap();
        let mut foreign = bytes.clone();
        foreign[0] = b'P';
        std::fs::write(&path, &foreign).unwrap();
        assert!(read_error(&path).contains("magic"));
        let mut newer = bytes.clone();
        newer[7] = 2;
        std::fs::write(&path, &newer).unwrap();
        assert!(read_error(&path).contains("version 2"));
    }

    #[test]
    fn shapes_holding_more_weights_than_their_payload_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("shape.bitlab");
        for (shape, weights) in [
            (vec![i64::MAX, 4], "an overflowing number of weights"),
            (vec![1 << 32, 1 << 32], "an overflowing number of weights"),
            (vec![3, 43], "129 weights"),
        ] {
            let mut a = sample();
            a.tensors[1].packed.shape = shape;
            a.write(&path).unwrap();
            let msg = read_error(&path);
            assert!(
                msg.contains("embed.weight") && msg.contains(weights) && msg.contains("16 payload"),
                "{msg}"
            );
        }
        // Eight weights per byte (one bit each) is the most a payload can hold.
        let mut a = sample();
        a.tensors[1].packed.shape = vec![2, 64];
        a.write(&path).unwrap();
        assert_eq!(Artifact::read(&path).unwrap(), a);
    }

    #[test]
    fn scheme_tags_keep_their_text_and_an_unknown_tag_is_refused_naming_it() {
        let (_dir, path, _) = written();
        let bytes = std::fs::read(&path).unwrap();
        let entry: &[u8] = br#""scheme":"ternary","shape":[3,5]"#;
        let at = bytes
            .windows(entry.len())
            .position(|w| w == entry)
            .expect("the tag is written as its text");
        let mut tampered = bytes.clone();
        tampered[at..at + entry.len()].copy_from_slice(br#""scheme":"tern4ry","shape":[3,5]"#);
        std::fs::write(&path, &tampered).unwrap();
        let msg = read_error(&path);
        assert!(
            msg.contains("tern4ry") && msg.contains("blocks.0.ffn.up.weight"),
            "{msg}"
        );
    }

    #[test]
    fn duplicate_names_are_refused_on_write() {
        let mut a = sample();
        a.tensors[1].name = a.tensors[0].name.clone();
        let dir = tempfile::tempdir().unwrap();
        let err = a.write(&dir.path().join("x.bitlab")).unwrap_err();
        assert!(matches!(err, Error::Artifact { .. }) && err.to_string().contains("unique"));
    }

    #[test]
    fn missing_file_is_an_io_error() {
        let dir = tempfile::tempdir().unwrap();
        assert!(matches!(
            Artifact::read(&dir.path().join("none")),
            Err(Error::Io { .. })
        ));
    }
}
