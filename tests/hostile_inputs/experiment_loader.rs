//! The experiment loader (`bitlab::experiment::load` and `parse`) under hostile inputs grown
//! from every file in `experiments/`, and under sweeps whose grids are astronomically large.
use std::path::{Path, PathBuf};

use bitlab::experiment::{self, Experiment, MAX_TRIALS};
use bitlab::Error;
use proptest::prelude::*;
use proptest::test_runner::TestCaseError;

use super::campaign::{self, Budget, Parsed};
use super::mutate::{self, depth, nested, HOSTILE_NUMBERS};

/// What the loader may allocate: 1024 bytes per input byte, since toml's document tree costs
/// up to about 600 bytes per byte of nested tables (a dotted header `[a.a.a...]` makes a table
/// of about 1.2 KiB per 2 bytes, up to toml's depth limit; nested inline tables about 300 per
/// byte, bracket-only lines about 70), plus 16 KiB per accepted trial (its resolved
/// configuration, hash, label and axes, and its grid point; about 4 KiB measured), since a few
/// short sweep axes name a grid far larger than the file.
const BUDGET: Budget = Budget {
    factor: 1024,
    bytes_per_unit: 16 * 1024,
};

/// Numeric sweep axes whose every positive value keeps a trial valid.
const NUMERIC_AXES: [&str; 11] = [
    "seed",
    "train.epochs",
    "train.batch_size",
    "train.warmup_steps",
    "model.layers",
    "measure.warmup",
    "measure.repeats",
    "measure.threads",
    "dataset.subset",
    "dataset.eval_subset",
    "dataset.tokenizer.vocab_size",
];

/// A valid experiment without a `[sweep]`, for the sweep campaign.
const BASE: &str = r#"
seed = 1

[experiment]
name = "hostile"
description = "hostile sweep"

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

/// The text of every experiment file shipped in `experiments/`.
fn seeds() -> Vec<Vec<u8>> {
    let folder = Path::new(env!("CARGO_MANIFEST_DIR")).join("experiments");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&folder)
        .expect("experiments/ is readable")
        .map(|entry| entry.expect("a directory entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "toml"))
        .collect();
    files.sort();
    assert!(
        files.len() >= 5,
        "expected the shipped experiments in {folder:?}"
    );
    files
        .iter()
        .map(|f| std::fs::read(f).expect("an experiment file is readable"))
        .collect()
}

/// `1, 2, ..., n` as a TOML list body.
fn values(n: usize) -> String {
    (1..=n)
        .map(|v| v.to_string())
        .collect::<Vec<_>>()
        .join(", ")
}

/// Lines that TOML and the experiment schema invite: deep nesting of every kind, duplicated and
/// unknown keys and tables, sweep syntax, hostile numbers on real keys, bad escapes, long
/// strings and large axes.
fn hostile_lines() -> BoxedStrategy<Vec<u8>> {
    let keys = prop::sample::select(vec![
        "seed",
        "layers",
        "d_model",
        "heads",
        "d_ff",
        "max_positions",
        "max_len",
        "vocab_size",
        "batch_size",
        "lr",
        "epochs",
        "group_size",
        "rank",
        "alpha",
        "dropout",
        "subset",
        "threads",
        "seq_lens",
    ]);
    let fixed = prop::sample::select(vec![
        "unknown_key = 1",
        "[unknown_table]",
        "[model]",
        "[experiment]",
        "[sweep]",
        "[[sweep.zip]]",
        "[[sweep.exclude]]",
        "[quantizers.q]",
        "kind = \"uniform\"",
        "seed = [1, 2]",
        "seed = []",
        "\"train.lr\" = [1e-3, 0.001]",
        "quantizer = [\"fp32\", \"int8\", \"ternary\"]",
        "\"model\" = [1]",
        "sweep = 3",
        "experiment = 1",
        "name = \"Bad Name\"",
        "x = \"\\uD800\"",
        "x = \"\\u0000\"",
        "\u{feff}x = 1",
        "x = 1979-05-27T07:32:00Z",
        "x = '''",
        "x = \"\"\"",
    ]);
    prop_oneof![
        3 => fixed.prop_map(|l| l.as_bytes().to_vec()),
        2 => depth().prop_map(|d| format!("deep = {}", nested("[", "1", "]", d)).into_bytes()),
        2 => depth().prop_map(|d| format!("deep = {}", nested("{a = ", "1", "}", d)).into_bytes()),
        1 => depth().prop_map(|d| format!("deep = {}", "[".repeat(d)).into_bytes()),
        1 => depth().prop_map(|d| format!("{} = 1", vec!["a"; d].join(".")).into_bytes()),
        1 => depth().prop_map(|d| format!("[{}]", vec!["a"; d].join(".")).into_bytes()),
        1 => depth().prop_map(|d| format!("[[{}]]", vec!["a"; d].join(".")).into_bytes()),
        3 => (keys, prop::sample::select(HOSTILE_NUMBERS))
            .prop_map(|(k, n)| format!("{k} = {n}").into_bytes()),
        1 => (0usize..100_000).prop_map(|n| format!("x = \"{}\"", "a".repeat(n)).into_bytes()),
        1 => (prop::sample::select(NUMERIC_AXES.to_vec()), 1usize..2000)
            .prop_map(|(axis, n)| format!("\"{axis}\" = [{}]", values(n)).into_bytes()),
    ]
    .boxed()
}

/// Checks one outcome of the loader: an experiment with 1..=MAX_TRIALS trials, or a typed
/// error naming `path` and its cause. Returns the number of trials.
fn check_outcome(
    result: &Result<Experiment, Error>,
    path: &Path,
    utf8: bool,
) -> Result<usize, TestCaseError> {
    match result {
        Ok(experiment) => {
            let n = experiment.trials.len();
            prop_assert!((1..=MAX_TRIALS).contains(&n), "{n} trials");
            Ok(n)
        }
        Err(Error::Config { path: at, message }) => {
            prop_assert_eq!(at.as_path(), path);
            prop_assert!(!message.trim().is_empty(), "an empty message");
            Ok(0)
        }
        Err(Error::Io { path: at, source }) => {
            prop_assert!(!utf8, "an I/O error on a readable UTF-8 file: {source}");
            prop_assert_eq!(at.as_path(), path);
            prop_assert!(source.to_string().contains("UTF-8"), "{source}");
            Ok(0)
        }
        Err(other) => Err(TestCaseError::fail(format!(
            "not a configuration error: {other:?}"
        ))),
    }
}

/// An input written to its file, ready for `load`.
pub struct ExperimentFile {
    _dir: tempfile::TempDir,
    path: PathBuf,
    bytes: Vec<u8>,
}

fn write_input(bytes: mutate::Bytes) -> ExperimentFile {
    let bytes = bytes.0;
    let dir = tempfile::tempdir().expect("a temporary folder");
    let path = dir.path().join("hostile.toml");
    std::fs::write(&path, &bytes).expect("the input is written");
    ExperimentFile {
        _dir: dir,
        path,
        bytes,
    }
}

/// `load` from the file, and `parse` of the same text when it is UTF-8; both must agree.
fn load_and_parse(input: &ExperimentFile) -> Result<Parsed, TestCaseError> {
    let text = std::str::from_utf8(&input.bytes).ok();
    let loaded = experiment::load(&input.path);
    let trials = check_outcome(&loaded, &input.path, text.is_some())?;
    if let Some(text) = text {
        let parsed = experiment::parse(text, &input.path);
        check_outcome(&parsed, &input.path, true)?;
        prop_assert_eq!(
            loaded.as_ref().map_err(ToString::to_string),
            parsed.as_ref().map_err(ToString::to_string),
            "load and parse disagree"
        );
    }
    Ok(Parsed {
        accepted: loaded.is_ok(),
        input_len: input.bytes.len(),
        output_units: 2 * trials,
    })
}

/// Every shipped experiment file, damaged.
#[test]
fn experiment_loader_survives_damaged_experiment_files() {
    campaign::run(
        "experiment loader (damaged experiments/*.toml)",
        campaign::config(
            1024,
            "proptest-regressions/hostile_inputs/experiment_loader.txt",
        ),
        BUDGET,
        mutate::mutated(seeds(), hostile_lines()),
        write_input,
        load_and_parse,
    );
}

/// A sweep over `dimensions` (each a list of zipped axis names) with `length` values each.
fn sweep_text(dimensions: &[Vec<&str>], lengths: &[usize]) -> String {
    let mut grid = String::from("[sweep]\n");
    let mut zips = String::new();
    for (axes, &n) in dimensions.iter().zip(lengths) {
        match axes.as_slice() {
            [axis] => grid.push_str(&format!("\"{axis}\" = [{}]\n", values(n))),
            _ => {
                zips.push_str("[[sweep.zip]]\n");
                for axis in axes {
                    zips.push_str(&format!("\"{axis}\" = [{}]\n", values(n)));
                }
            }
        }
    }
    format!("{BASE}\n{grid}{zips}")
}

/// Sweeps of 1 to 11 dimensions (some of them zip groups) of 1 to 60 values: grids from one
/// point to far past `usize::MAX` points. Grids over [`MAX_TRIALS`] are refused before any
/// trial is built; smaller ones expand to exactly their size.
#[test]
fn oversized_sweeps_are_refused_before_expansion() {
    let sweep = Just(NUMERIC_AXES.to_vec())
        .prop_shuffle()
        .prop_flat_map(|axes| {
            let dims = 1..=axes.len();
            (Just(axes), dims, prop::collection::vec(1usize..=3, 11))
        })
        .prop_flat_map(|(axes, dims, zip_widths)| {
            // Group the first axes into `dims` dimensions of 1..=3 axes each.
            let mut dimensions: Vec<Vec<&str>> = Vec::new();
            let mut next = 0;
            for width in zip_widths.into_iter().take(dims) {
                if next >= axes.len() {
                    break;
                }
                let end = (next + width).min(axes.len());
                dimensions.push(axes[next..end].to_vec());
                next = end;
            }
            let n = dimensions.len();
            (
                Just(dimensions),
                prop::collection::vec(prop_oneof![1usize..=3, 1usize..=60], n),
            )
        });
    campaign::run(
        "experiment loader (large sweeps)",
        campaign::config(128, "proptest-regressions/hostile_inputs/large_sweeps.txt"),
        BUDGET,
        sweep,
        |(dimensions, lengths)| {
            let grid = lengths
                .iter()
                .try_fold(1usize, |total, &n| total.checked_mul(n));
            (sweep_text(&dimensions, &lengths), grid)
        },
        |(text, grid)| {
            let path = Path::new("experiments/hostile.toml");
            let result = experiment::parse(text, path);
            let trials = check_outcome(&result, path, true)?;
            match (grid, &result) {
                (Some(n), Ok(_)) if *n <= MAX_TRIALS => prop_assert_eq!(trials, *n),
                (_, Err(Error::Config { message, .. })) => prop_assert!(
                    grid.is_none_or(|n| n > MAX_TRIALS)
                        && message.contains("grid points")
                        && message.contains("fix:"),
                    "grid {grid:?}: {message}"
                ),
                (_, other) => {
                    return Err(TestCaseError::fail(format!(
                        "grid {grid:?}: {:?}",
                        other.as_ref().map(|e| e.trials.len())
                    )))
                }
            }
            Ok(Parsed {
                accepted: result.is_ok(),
                input_len: text.len(),
                output_units: trials,
            })
        },
    );
}
