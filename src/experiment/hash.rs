//! Content hashes of resolved trial configurations.
//!
//! A trial is identified by the sha256 of a canonical JSON rendering of its [`TrialConfig`]:
//! `serde_json::Value` objects keep their keys sorted, and floats are printed in their shortest
//! round-trip form, so `lr = 1e-3`, `lr = 0.001` and `lr = 0.0010` hash identically, and
//! reordering fields in `config.rs` does not change any hash.
//!
//! The configuration hashed is the resolved one (see [`super::ResolvedTrial`]): its quantizer
//! name is canonical, so `"1.58bit"` and `"ternary"` hash identically. A trial is hashed once,
//! when the experiment file is parsed; [`training_hash`] is the one other hash, keying shared
//! checkpoints.
use sha2::{Digest, Sha256};

use super::config::TrialConfig;

/// Number of hex characters kept from the sha256 digest.
pub const HASH_LEN: usize = 16;

/// Hash of everything in a trial's configuration: first 16 hex chars of sha256 of canonical JSON.
pub fn canonical_hash(config: &TrialConfig) -> String {
    hash_json(&canonical_json(config))
}

/// Hash of the parts of a configuration that affect training: everything except `measure` and
/// `model.attention`, so trials that differ only in how they are measured, or in which
/// attention kernel runs at inference, can share one trained checkpoint.
pub fn training_hash(config: &TrialConfig) -> String {
    let mut json = canonical_json(config);
    if let Some(top) = json.as_object_mut() {
        top.remove("measure");
        if let Some(model) = top.get_mut("model").and_then(|m| m.as_object_mut()) {
            model.remove("attention");
        }
    }
    hash_json(&json)
}

fn canonical_json(config: &TrialConfig) -> serde_json::Value {
    // TrialConfig holds only strings, numbers, booleans, lists and unit enums: serializing to a
    // JSON value cannot fail (non-finite floats become `null`).
    serde_json::to_value(config).expect("TrialConfig serializes to JSON")
}

fn hash_json(json: &serde_json::Value) -> String {
    let digest = Sha256::digest(json.to_string().as_bytes());
    let mut hex = hex::encode(digest);
    hex.truncate(HASH_LEN);
    hex
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(extra_train: &str, extra_model: &str, measure: &str) -> TrialConfig {
        let text = format!(
            "[dataset]\nname = \"d\"\nmax_len = 8\n\
             [model]\nlayers = 1\nd_model = 8\nheads = 2\nd_ff = 16\n{extra_model}\n\
             [train]\nbatch_size = 4\n{extra_train}\n\
             [measure]\n{measure}\n"
        );
        toml::from_str(&text).unwrap()
    }

    #[test]
    fn float_spelling_does_not_change_the_hash() {
        let a = config("lr = 1e-3", "dropout = 0", "");
        let b = config("lr = 0.001", "dropout = 0.0", "");
        let c = config("lr = 1.0e-3", "dropout = 0e0", "");
        assert_eq!(canonical_hash(&a), canonical_hash(&b));
        assert_eq!(canonical_hash(&a), canonical_hash(&c));
        assert_eq!(canonical_hash(&a).len(), HASH_LEN);
        assert!(canonical_hash(&a).chars().all(|ch| ch.is_ascii_hexdigit()));
    }

    #[test]
    fn different_lr_changes_both_hashes() {
        let a = config("lr = 1e-3", "", "");
        let b = config("lr = 2e-3", "", "");
        assert_ne!(canonical_hash(&a), canonical_hash(&b));
        assert_ne!(training_hash(&a), training_hash(&b));
    }

    #[test]
    fn training_hash_ignores_measure_and_attention() {
        let a = config("lr = 1e-3", "attention = \"flash\"", "repeats = 10");
        let b = config(
            "lr = 1e-3",
            "attention = \"naive\"",
            "repeats = 3\nthreads = 1",
        );
        assert_ne!(canonical_hash(&a), canonical_hash(&b));
        assert_eq!(training_hash(&a), training_hash(&b));
        // ...but not the rest of the model.
        let c = config(
            "lr = 1e-3",
            "attention = \"flash\"\ndropout = 0.1",
            "repeats = 10",
        );
        assert_ne!(training_hash(&a), training_hash(&c));
    }
}
