//! Experiment files: TOML schema, validation, sweep expansion and trial hashing.
//!
//! Two stages, as the design notes ask: deserialize what the user wrote ([`schema`]: the
//! `[experiment]` header, the base trial tables and the `[sweep]`), then resolve it into a
//! validated plan ([`sweep`] expands the grid; each point is the base with the swept dotted
//! paths set, deserialized into a [`TrialConfig`] and checked by [`validate`]), each trial
//! [`resolved`] once: its quantizer built, its name made canonical, and one [`hash`]. See
//! `experiments/smoke.toml` for an annotated example of the format.
//!
//! Errors are [`Error::Config`] naming the file, the key, its line and column where known,
//! and the fix.
pub mod config;
pub mod declared;
mod field_tree;
pub mod hash;
pub mod resolved;
mod schema;
mod sweep;
pub mod validate;

use std::borrow::Cow;
use std::collections::HashMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use toml::de::{DeTable, DeValue};
use toml::Spanned;

pub use config::*;
pub use declared::DeclaredQuantizer;
pub use hash::{canonical_hash, training_hash};
pub use resolved::ResolvedTrial;
pub use sweep::{MAX_TRIALS, SHORTHANDS};

use crate::{Error, Result};
use schema::{Source, SpannedValue};
use sweep::GridPoint;

/// A parsed, expanded and validated experiment file.
#[derive(Debug, Clone, PartialEq)]
pub struct Experiment {
    /// `experiment.name`: `[a-z0-9_-]+`, used as the report folder name.
    pub name: String,
    /// `experiment.description`.
    pub description: String,
    /// The file it was read from.
    pub path: PathBuf,
    /// The file's text, recorded with results so a sweep can be reproduced.
    pub source: String,
    /// Trials in grid order (first axis varies slowest), each resolved once.
    pub trials: Vec<ResolvedTrial>,
    /// Quantizers declared in `[quantizers.NAME]` tables, sorted by name.
    pub quantizers: Vec<DeclaredQuantizer>,
}

impl Experiment {
    /// Reads and parses an experiment file; see [`load`].
    pub fn load(path: &Path) -> Result<Experiment> {
        load(path)
    }

    /// Parses experiment text; see [`parse`].
    pub fn parse(text: &str, path: &Path) -> Result<Experiment> {
        parse(text, path)
    }
}

/// Reads and parses the experiment file at `path`. A missing file is reported with the list
/// of experiment files that do exist in the same folder.
pub fn load(path: &Path) -> Result<Experiment> {
    match std::fs::read_to_string(path) {
        Ok(text) => parse(&text, path),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            Err(config_error(path, missing_file_message(path)))
        }
        Err(e) => Err(Error::io(path, e)),
    }
}

fn missing_file_message(path: &Path) -> String {
    let folder = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let mut names: Vec<String> = std::fs::read_dir(&folder)
        .into_iter()
        .flatten()
        .flatten()
        .map(|entry| entry.path())
        .filter(|p| p.extension().is_some_and(|ext| ext == "toml"))
        .filter_map(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()))
        .collect();
    names.sort();
    if names.is_empty() {
        format!(
            "file not found, and {} holds no experiment files (*.toml)\n  fix: check the path, \
             or copy experiments/smoke.toml as a starting point",
            folder.display()
        )
    } else {
        format!(
            "file not found\n  fix: use one of the experiments in {}: {}",
            folder.display(),
            names.join(", ")
        )
    }
}

/// Parses experiment text (`path` is used in messages and recorded in the result): splits it,
/// expands the sweep, validates every trial, resolves its quantizer to the canonical name and
/// hashes it (see [`ResolvedTrial`]).
pub fn parse(text: &str, path: &Path) -> Result<Experiment> {
    let source = Source(text);
    let raw = schema::parse_raw(text).map_err(|m| config_error(path, m))?;
    let quantizers = declared::parse_declarations(raw.quantizers.clone(), source)
        .map_err(|m| config_error(path, m))?;
    let points = sweep::expand(&raw.sweep, source).map_err(|m| config_error(path, m))?;

    let mut trials: Vec<ResolvedTrial> = Vec::with_capacity(points.len());
    let mut seen: HashMap<String, usize> = HashMap::new();
    for point in &points {
        let label = point.label();
        let mut config = resolve(&raw.base, point, text)
            .map_err(|m| config_error(path, format!("trial `{label}`: {m}")))?;
        attach_declaration(&mut config, &quantizers)
            .map_err(|m| config_error(path, format!("trial `{label}`: {m}")))?;
        let problems = validate::problems(&config);
        if !problems.is_empty() {
            let lines: Vec<String> = problems
                .iter()
                .map(|p| {
                    let at = locate(&raw.base, point, &p.key, source)
                        .map(|at| format!(" ({at})"))
                        .unwrap_or_default();
                    format!("  {}{at}: {}\n    fix: {}", p.key, p.message, p.fix)
                })
                .collect();
            return Err(config_error(
                path,
                format!("trial `{label}` is invalid:\n{}", lines.join("\n")),
            ));
        }
        let trial = ResolvedTrial::resolve(config, label.clone(), point.axes())
            .map_err(|e| config_error(path, format!("trial `{label}`: {e}")))?;
        let hash = &trial.hash;
        if let Some(&earlier) = seen.get(hash) {
            return Err(config_error(
                path,
                format!(
                    "trials `{}` and `{label}` resolve to the same configuration (hash {hash})\n  \
                     fix: remove the duplicate axis value (values such as 1e-3 and 0.001 are \
                     equal, and so are a quantizer and its alias such as 1.58bit and ternary)",
                    trials[earlier].label
                ),
            ));
        }
        seen.insert(hash.clone(), trials.len());
        trials.push(trial);
    }

    Ok(Experiment {
        name: raw.header.name.into_inner(),
        description: raw.header.description,
        path: path.to_path_buf(),
        source: text.to_string(),
        trials,
        quantizers,
    })
}

/// Copies the declarations `config.quant.scheme` and `config.quant.embeddings` name (if any)
/// into `config.quant.uniform` and `config.quant.embeddings_uniform`, so the trial carries, and
/// its hash covers, the quantizers' definitions.
fn attach_declaration(
    config: &mut TrialConfig,
    quantizers: &[DeclaredQuantizer],
) -> Result<(), String> {
    if let Some(name) = &config.quant.embeddings {
        if let Some(declared) = quantizers.iter().find(|d| &d.name == name) {
            config.quant.embeddings_uniform = Some(declared.spec.clone());
        }
    }
    let Some(declared) = quantizers.iter().find(|d| d.name == config.quant.scheme) else {
        return Ok(());
    };
    match &config.quant.uniform {
        Some(inline) if *inline != declared.spec => Err(format!(
            "quant.uniform is written in the file and differs from [quantizers.{}]
  fix: \
             remove the [quant.uniform] table; the declaration is copied in automatically",
            declared.name
        )),
        _ => {
            config.quant.uniform = Some(declared.spec.clone());
            Ok(())
        }
    }
}

fn config_error(path: &Path, message: String) -> Error {
    Error::Config {
        path: path.to_path_buf(),
        message,
    }
}

/// The base tables with one grid point's values set, deserialized into a [`TrialConfig`].
fn resolve(
    base: &Spanned<DeTable<'_>>,
    point: &GridPoint<'_>,
    text: &str,
) -> Result<TrialConfig, String> {
    let mut table = base.clone();
    for assignment in &point.assignments {
        set_path(
            table.get_mut(),
            &assignment.path,
            assignment.value.clone(),
            Source(text),
        )?;
    }
    TrialConfig::deserialize(toml::de::Deserializer::from(table)).map_err(|mut e| {
        e.set_input(Some(text));
        let message = e.message().to_string();
        let fix = if message.contains("unknown field") {
            "rename the key to one of the expected keys listed above"
        } else if message.contains("missing field") {
            "add the missing key to its table (or sweep it in [sweep])"
        } else {
            "change the value at the position shown to the expected type"
        };
        format!("{e}fix: {fix}")
    })
}

/// Sets `path` (dotted) in `table` to `value`, creating intermediate tables as needed.
fn set_path<'i>(
    table: &mut DeTable<'i>,
    path: &str,
    value: SpannedValue<'i>,
    source: Source<'_>,
) -> Result<(), String> {
    let span = value.span();
    let (parents, leaf) = match path.rsplit_once('.') {
        Some((parents, leaf)) => (parents.split('.').collect::<Vec<_>>(), leaf),
        None => (Vec::new(), path),
    };
    let mut current = table;
    let mut walked = String::new();
    for segment in parents {
        walked = if walked.is_empty() {
            segment.to_string()
        } else {
            format!("{walked}.{segment}")
        };
        let key = Spanned::new(span.clone(), Cow::Owned(segment.to_string()));
        let entry = current
            .entry(key)
            .or_insert_with(|| Spanned::new(span.clone(), DeValue::Table(DeTable::new())));
        let entry_span = entry.span();
        current = match entry.get_mut() {
            DeValue::Table(inner) => inner,
            other => {
                return Err(format!(
                    "cannot sweep `{path}`: `{walked}` in the base configuration ({}) is {} {}, \
                     not a table\n  fix: write `{walked}` as a [{walked}] table",
                    source.at(entry_span.start),
                    article(other.type_str()),
                    other.type_str()
                ))
            }
        };
    }
    current.insert(Spanned::new(span, Cow::Owned(leaf.to_string())), value);
    Ok(())
}

fn article(word: &str) -> &'static str {
    if word.starts_with(['a', 'e', 'i', 'o', 'u']) {
        "an"
    } else {
        "a"
    }
}

/// Where the value of `key` (dotted) comes from for this grid point: the sweep axis that set
/// it, or its line in the base tables.
fn locate(
    base: &Spanned<DeTable<'_>>,
    point: &GridPoint<'_>,
    key: &str,
    source: Source<'_>,
) -> Option<String> {
    if let Some(assignment) = point.assignments.iter().find(|a| a.path == key) {
        return Some(format!(
            "swept by `{}` at {}",
            assignment.name,
            source.at(assignment.value.span().start)
        ));
    }
    let mut table = base.get_ref();
    let mut segments = key.split('.').peekable();
    while let Some(segment) = segments.next() {
        let (found_key, value) = table.get_key_value(segment)?;
        if segments.peek().is_none() {
            return Some(source.at(found_key.span().start));
        }
        table = value.get_ref().as_table()?;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn repo_file(name: &str) -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("experiments")
            .join(name)
    }

    const BASE: &str = r#"
seed = 1

[experiment]
name = "unit"
description = "unit test"

[dataset]
name = "rotten_tomatoes"
max_len = 32

[model]
layers = 1
d_model = 32
heads = 2
d_ff = 64
max_positions = 128

[train]
batch_size = 8
lr = 1e-3

[measure]
seq_lens = [16, 64]
"#;

    fn parse_str(text: &str) -> Result<Experiment> {
        parse(text, Path::new("experiments/unit.toml"))
    }

    fn message(result: Result<Experiment>) -> String {
        match result {
            Err(Error::Config { message, path }) => {
                assert_eq!(path, Path::new("experiments/unit.toml"));
                message
            }
            Err(other) => panic!("expected Error::Config, got {other}"),
            Ok(e) => panic!("expected an error, got {} trials", e.trials.len()),
        }
    }

    #[test]
    fn smoke_file_parses() {
        let experiment = load(&repo_file("smoke.toml")).unwrap();
        assert_eq!(experiment.name, "smoke");
        let labels: Vec<&str> = experiment.trials.iter().map(|t| t.label.as_str()).collect();
        assert_eq!(
            labels,
            ["quantizer=fp32", "quantizer=int8", "quantizer=ternary"]
        );
        let config = &experiment.trials[2].config;
        assert_eq!(config.quant.scheme, "ternary");
        assert_eq!(config.dataset.subset, Some(400));
        assert_eq!(config.dataset.tokenizer.vocab_size, 1000);
        assert_eq!(config.measure.seq_lens, [16, 64]);
        assert_eq!(config.measure.threads, 2);
    }

    /// Adding optional fields to the configuration must not change any existing trial's hash:
    /// these are the hashes of experiments/smoke.toml before declared quantizers existed.
    #[test]
    fn smoke_trial_hashes_are_stable() {
        let experiment = load(&repo_file("smoke.toml")).unwrap();
        assert!(experiment.quantizers.is_empty());
        let hashes: Vec<&str> = experiment.trials.iter().map(|t| t.hash.as_str()).collect();
        assert_eq!(
            hashes,
            ["cbab156346ab2025", "8bff8dde61ac90de", "a6a98bbf10b62391"]
        );
        let json = serde_json::to_value(&experiment.trials[0].config).unwrap();
        assert!(json["quant"].get("uniform").is_none(), "{json}");
    }

    #[test]
    fn declared_quantizers_travel_with_their_trials() {
        let text = format!(
            "{BASE}\n[quantizers.int3_g16]\nkind = \"uniform\"\nbits = 3\n\
             granularity = \"group\"\ngroup_size = 16\n\
             [sweep]\nquantizer = [\"fp32\", \"int3_g16\"]\n"
        );
        let experiment = parse_str(&text).unwrap();
        assert_eq!(experiment.quantizers.len(), 1);
        assert!(experiment.trials[0].config.quant.uniform.is_none());
        let spec = experiment.trials[1].config.quant.uniform.clone().unwrap();
        assert_eq!((spec.bits, spec.group_size), (3, Some(16)));
        // The definition is part of the trial's identity.
        let other = parse_str(&text.replace("bits = 3", "bits = 4")).unwrap();
        assert_eq!(experiment.trials[0].hash, other.trials[0].hash);
        assert_ne!(experiment.trials[1].hash, other.trials[1].hash);
        let err = message(parse_str(&text.replace("bits = 3", "bits = 0")));
        assert!(
            err.contains("[quantizers.int3_g16]") && err.contains("fix:"),
            "{err}"
        );
    }

    #[test]
    fn paper_file_parses() {
        let experiment = load(&repo_file("paper.toml")).unwrap();
        assert_eq!(experiment.name, "paper");
        assert_eq!(experiment.trials.len(), 12);
        let schemes: Vec<&str> = experiment
            .trials
            .iter()
            .step_by(2)
            .map(|t| t.config.quant.scheme.as_str())
            .collect();
        // The `1.58bit` axis value is resolved to its canonical name (the label keeps it).
        assert_eq!(schemes, ["fp32", "fp16", "bf16", "int8", "int4", "ternary"]);
        assert_eq!(experiment.trials[10].label, "quantizer=1.58bit seed=1");
        assert_eq!(
            experiment.trials[1].axes,
            [
                ("quantizer".into(), "fp32".into()),
                ("seed".into(), "2".into())
            ]
        );
        let config = &experiment.trials[0].config;
        assert_eq!(config.measure.seq_lens.last(), Some(&512));
        assert_eq!(config.model.max_positions, 512);
    }

    #[test]
    fn trials_record_config_hash_label_and_axes() {
        let text = format!("{BASE}\n[sweep]\nquantizer = [\"fp32\", \"ternary\"]\nseed = [1, 2]\n");
        let experiment = parse_str(&text).unwrap();
        assert_eq!(experiment.trials.len(), 4);
        assert_eq!(experiment.description, "unit test");
        assert_eq!(experiment.source, text);
        let trial = &experiment.trials[3];
        assert_eq!(trial.label, "quantizer=ternary seed=2");
        assert_eq!(
            trial.axes,
            [
                ("quantizer".into(), "ternary".into()),
                ("seed".into(), "2".into())
            ]
        );
        assert_eq!(trial.config.seed, 2);
        assert_eq!(trial.config.quant.scheme, "ternary");
        assert_eq!(trial.hash, canonical_hash(&trial.config));
    }

    #[test]
    fn unswept_file_is_one_base_trial() {
        let experiment = parse_str(BASE).unwrap();
        assert_eq!(experiment.trials.len(), 1);
        assert_eq!(experiment.trials[0].label, "base");
        assert!(experiment.trials[0].axes.is_empty());
    }

    #[test]
    fn sweeping_a_field_the_base_lacks_creates_its_table() {
        let text = format!(
            "{BASE}\n[sweep]\nlora_rank = [0, 8]\n\"dataset.tokenizer.vocab_size\" = [500]\n"
        );
        let experiment = parse_str(&text).unwrap();
        assert_eq!(experiment.trials[1].config.lora.rank, 8);
        assert_eq!(
            experiment.trials[1].config.dataset.tokenizer.vocab_size,
            500
        );
    }

    #[test]
    fn same_config_written_differently_hashes_the_same() {
        let a = parse_str(BASE).unwrap();
        let b = parse_str(
            &BASE
                .replace("lr = 1e-3", "lr = 0.001")
                .replace("seed = 1", "seed = 0x1"),
        )
        .unwrap();
        assert_eq!(a.trials[0].hash, b.trials[0].hash);
        let c = parse_str(&BASE.replace("lr = 1e-3", "lr = 2e-3")).unwrap();
        assert_ne!(a.trials[0].hash, c.trials[0].hash);
        // A swept value hashes like the same value written in the base.
        let d = parse_str(&format!(
            "{}\n[sweep]\n\"train.lr\" = [0.001]\n",
            BASE.replace("lr = 1e-3\n", "")
        ))
        .unwrap();
        assert_eq!(a.trials[0].hash, d.trials[0].hash);
    }

    #[test]
    fn duplicate_trials_are_rejected() {
        let err = message(parse_str(&format!(
            "{BASE}\n[sweep]\n\"train.lr\" = [1e-3, 0.001]\n"
        )));
        assert!(
            err.contains("same configuration") && err.contains("train.lr=1e-3"),
            "{err}"
        );
    }

    #[test]
    fn typo_in_base_names_key_line_and_valid_keys() {
        let err = message(parse_str(&BASE.replace("d_ff = 64", "d_fff = 64")));
        assert!(err.contains("unknown field `d_fff`"), "{err}");
        assert!(err.contains("line 16"), "{err}");
        assert!(
            err.contains("`d_ff`") && err.contains("`max_positions`"),
            "{err}"
        );
        assert!(err.contains("fix:"), "{err}");
        let err = message(parse_str(&BASE.replace("[measure]", "[measur]")));
        assert!(
            err.contains("unknown field `measur`") && err.contains("`measure`"),
            "{err}"
        );
        assert!(err.contains("line 23"), "{err}");
    }

    #[test]
    fn missing_and_mistyped_base_values_are_reported() {
        let err = message(parse_str(&BASE.replace("lr = 1e-3\n", "")));
        assert!(
            err.contains("missing field `lr`") && err.contains("fix: add"),
            "{err}"
        );
        let err = message(parse_str(&BASE.replace("layers = 1", "layers = \"one\"")));
        assert!(err.contains("line 13") && err.contains("expected"), "{err}");
    }

    #[test]
    fn validation_errors_name_trial_key_location_and_fix() {
        let text = format!("{BASE}\n[sweep]\n\"model.heads\" = [2, 3]\n");
        let err = message(parse_str(&text));
        assert!(err.contains("trial `model.heads=3`"), "{err}");
        assert!(
            err.contains("model.heads (swept by `model.heads` at line 27"),
            "{err}"
        );
        assert!(err.contains("fix: choose model.heads"), "{err}");
        let err = message(parse_str(
            &BASE.replace("seq_lens = [16, 64]", "seq_lens = [16, 256]"),
        ));
        assert!(
            err.contains("trial `base`") && err.contains("measure.seq_lens (line 24"),
            "{err}"
        );
        assert!(
            err.contains("256") && err.contains("max_positions"),
            "{err}"
        );
    }

    #[test]
    fn sweep_through_a_scalar_base_value_is_reported() {
        let text = BASE
            .replace("seed = 1", "seed = 1\ntrain = 3")
            .replace("[train]", "[training]");
        let text = format!("{text}\n[sweep]\n\"train.lr\" = [1e-3]\n");
        let err = message(parse_str(&text));
        assert!(
            err.contains("`train` in the base configuration") && err.contains("not a table"),
            "{err}"
        );
    }

    #[test]
    fn missing_file_lists_the_experiments_that_exist() {
        let err = load(&repo_file("smok.toml")).unwrap_err().to_string();
        assert!(
            err.contains("smok.toml") && err.contains("file not found"),
            "{err}"
        );
        assert!(
            err.contains("paper.toml") && err.contains("smoke.toml"),
            "{err}"
        );
    }
}
