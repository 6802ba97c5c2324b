//! A trial resolved once: its quantizer built through the registry, its name made canonical,
//! and its one hash computed from the canonical configuration.
//!
//! Resolution happens when the experiment file is parsed, so an unknown quantizer fails before
//! anything trains, `1.58bit` and `ternary` are the same trial (same hash, so the same row in
//! the store and the same checkpoint), and nothing downstream resolves or hashes a trial again.
use std::sync::Arc;

use super::config::TrialConfig;
use super::hash::canonical_hash;
use crate::quant::{registry, Quantizer};

/// One grid point of an experiment: a validated configuration whose quantizer name is canonical,
/// the quantizer it names, and its hash.
#[derive(Debug, Clone)]
pub struct ResolvedTrial {
    /// The configuration, with `quant.scheme` canonical (`ternary`, never `1.58bit`).
    pub config: TrialConfig,
    /// The quantizer `config.quant` names, built once.
    pub quantizer: Arc<dyn Quantizer>,
    /// [`canonical_hash`] of `config`: the trial's identity in the store and in artifact names.
    pub hash: String,
    /// Human name from the swept axes, e.g. `quantizer=ternary seed=2` (`base` if none), with
    /// the values as written in the file.
    pub label: String,
    /// The swept `(axis name, value)` pairs, both as written in the file.
    pub axes: Vec<(String, String)>,
}

impl ResolvedTrial {
    /// Builds the quantizer `config.quant` names (aliases and declared uniform quantizers
    /// included), writes its canonical name into `config.quant.scheme`, and hashes the result.
    /// The error is the registry's (an unknown name lists the known ones).
    pub fn resolve(
        mut config: TrialConfig,
        label: String,
        axes: Vec<(String, String)>,
    ) -> crate::Result<ResolvedTrial> {
        let quantizer = registry::resolve(&config.quant)?;
        config.quant.scheme = quantizer.name().to_string();
        Ok(ResolvedTrial {
            hash: canonical_hash(&config),
            config,
            quantizer,
            label,
            axes,
        })
    }
}

/// Equal when the configurations (hence the quantizers and hashes) and the labels agree.
impl PartialEq for ResolvedTrial {
    fn eq(&self, other: &Self) -> bool {
        self.hash == other.hash
            && self.config == other.config
            && self.label == other.label
            && self.axes == other.axes
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use crate::experiment::{canonical_hash, Experiment};
    use crate::Error;

    fn repo_experiment(name: &str) -> String {
        let path = format!("{}/experiments/{name}", env!("CARGO_MANIFEST_DIR"));
        std::fs::read_to_string(path).unwrap()
    }

    fn labels_and_hashes(file: &str) -> Vec<(String, String)> {
        let experiment = Experiment::parse(&repo_experiment(file), Path::new(file)).unwrap();
        experiment
            .trials
            .iter()
            .map(|t| (t.label.clone(), t.hash.clone()))
            .collect()
    }

    /// Existing databases and checkpoints are keyed by these hashes: they are what the runner
    /// computed (canonicalize the quantizer name, then hash) before trials were resolved once.
    #[test]
    fn hashes_of_the_shipped_experiments_are_pinned() {
        let pinned: [(&str, &[(&str, &str)]); 3] = [
            (
                "smoke.toml",
                &[
                    ("quantizer=fp32", "cbab156346ab2025"),
                    ("quantizer=int8", "8bff8dde61ac90de"),
                    ("quantizer=ternary", "a6a98bbf10b62391"),
                ],
            ),
            (
                "paper.toml",
                &[
                    ("quantizer=fp32 seed=1", "a0de65622b40f8dc"),
                    ("quantizer=fp32 seed=2", "6857b14190550fe7"),
                    ("quantizer=fp16 seed=1", "8e4881f057ed6bf1"),
                    ("quantizer=fp16 seed=2", "131b2060fcb042aa"),
                    ("quantizer=bf16 seed=1", "65b1cd37d8ab2f59"),
                    ("quantizer=bf16 seed=2", "c45effd578edf5fd"),
                    ("quantizer=int8 seed=1", "c51cd10472e4d7ae"),
                    ("quantizer=int8 seed=2", "a0a91e75527c9b7a"),
                    ("quantizer=int4 seed=1", "331708e3cd70a694"),
                    ("quantizer=int4 seed=2", "94cca27596a04711"),
                    ("quantizer=1.58bit seed=1", "42c67c23ec841e8f"),
                    ("quantizer=1.58bit seed=2", "7e2bb81c167f4266"),
                ],
            ),
            (
                "quantizers.toml",
                &[
                    ("quantizer=fp32", "5b356c344cc4dcde"),
                    ("quantizer=ternary", "fd5a34f9102728a4"),
                    ("quantizer=binary", "814a81c78edc5253"),
                    ("quantizer=nf4", "560a2e913a390914"),
                    ("quantizer=int3_g64", "17920342ccade224"),
                    ("quantizer=int2_g64_mse", "f1eea505612c7863"),
                ],
            ),
        ];
        for (file, expected) in pinned {
            let expected: Vec<(String, String)> = expected
                .iter()
                .map(|(label, hash)| (label.to_string(), hash.to_string()))
                .collect();
            assert_eq!(labels_and_hashes(file), expected, "{file}");
        }
    }

    #[test]
    fn a_trial_carries_the_canonical_name_its_quantizer_and_one_hash() {
        let experiment =
            Experiment::parse(&repo_experiment("paper.toml"), Path::new("paper.toml")).unwrap();
        let trial = &experiment.trials[10];
        assert_eq!(trial.label, "quantizer=1.58bit seed=1");
        assert_eq!(trial.config.quant.scheme, "ternary");
        assert_eq!(trial.quantizer.name(), "ternary");
        assert_eq!(trial.hash, canonical_hash(&trial.config));
        for trial in &experiment.trials {
            assert_eq!(trial.quantizer.name(), trial.config.quant.scheme);
        }
    }

    #[test]
    fn a_declared_quantizer_resolves_under_its_own_name() {
        let experiment = Experiment::parse(
            &repo_experiment("quantizers.toml"),
            Path::new("quantizers.toml"),
        )
        .unwrap();
        let declared = experiment
            .trials
            .iter()
            .find(|t| t.config.quant.uniform.is_some())
            .unwrap();
        assert_eq!(declared.quantizer.name(), declared.config.quant.scheme);
        assert!(experiment
            .quantizers
            .iter()
            .any(|d| d.name == declared.quantizer.name()));
    }

    #[test]
    fn an_alias_is_the_same_trial_as_its_canonical_name() {
        let text = repo_experiment("smoke.toml");
        let path = Path::new("smoke.toml");
        let with_alias = text.replace("\"ternary\"", "\"1.58bit\"");
        assert_ne!(text, with_alias);
        let a = Experiment::parse(&text, path).unwrap();
        let b = Experiment::parse(&with_alias, path).unwrap();
        let hashes = |e: &Experiment| e.trials.iter().map(|t| t.hash.clone()).collect::<Vec<_>>();
        assert_eq!(hashes(&a), hashes(&b));
        assert_eq!(b.trials[2].config.quant.scheme, "ternary");
        assert_eq!(b.trials[2].label, "quantizer=1.58bit");
    }

    #[test]
    fn an_alias_and_its_canonical_name_in_one_sweep_are_a_duplicate() {
        let text = repo_experiment("smoke.toml").replace(
            "quantizer = [\"fp32\", \"int8\", \"ternary\"]",
            "quantizer = [\"fp32\", \"ternary\", \"1.58bit\"]",
        );
        let message = Experiment::parse(&text, Path::new("smoke.toml"))
            .unwrap_err()
            .to_string();
        assert!(
            message.contains("quantizer=ternary") && message.contains("quantizer=1.58bit"),
            "{message}"
        );
    }

    #[test]
    fn an_unknown_quantizer_fails_at_parse_and_lists_the_known_ones() {
        let text = repo_experiment("smoke.toml").replace("\"int8\"", "\"int3\"");
        let err = Experiment::parse(&text, Path::new("smoke.toml")).unwrap_err();
        assert!(matches!(err, Error::Config { .. }), "{err:?}");
        let message = err.to_string();
        assert!(
            message.contains("int3")
                && message.contains("ternary")
                && message.contains("smoke.toml"),
            "{message}"
        );
    }
}
