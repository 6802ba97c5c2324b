//! The dataset CSV readers (`read_split` for the `text,label` split files, `read_source_rows`
//! for a dataset's source CSV) and the manifest parser, under hostile inputs grown from valid
//! files: truncated and garbled rows, invalid UTF-8, NUL bytes, CR-only line ends, missing and
//! extra columns, labels out of range, very long fields.
use std::path::{Path, PathBuf};

use bitlab::data::csv_files::{read_source_rows, read_split, write_split};
use bitlab::data::{Example, Manifest};
use bitlab::Error;
use proptest::prelude::*;
use proptest::test_runner::TestCaseError;

use super::alloc_meter::peak_bytes;
use super::campaign::{self, Budget, Parsed, ALLOC_FLOOR};
use super::mutate::{self, HOSTILE_NUMBERS};

/// What the CSV readers may allocate per input byte. The csv crate keeps a `usize` bound per
/// field (in the header's byte and string records, and the reader's clone), so a header of
/// empty fields, one comma each, listed in a missing-column error costs about 75 bytes per byte.
const BUDGET: Budget = Budget::per_input_byte(128);

/// What the manifest parser may allocate per input byte: as for experiment files, toml's
/// document tree costs up to about 600 bytes per byte of nested tables.
const MANIFEST_BUDGET: Budget = Budget::per_input_byte(1024);

/// Examples with the texts CSV quoting has to get right.
fn seed_examples() -> Vec<Example> {
    [
        ("a plain sentence", 0),
        ("commas, \"quotes\" and\na newline", 1),
        ("", 0),
        ("unicode: café ✓ 日本語", 1),
        ("  leading and trailing spaces  ", 0),
        ("tab\tseparated\ttext", 1),
    ]
    .into_iter()
    .map(|(text, label)| Example {
        text: text.into(),
        label,
    })
    .collect()
}

/// Split files written by `write_split`, as bytes.
fn split_seeds() -> Vec<Vec<u8>> {
    let dir = tempfile::tempdir().expect("a temporary folder");
    let path = dir.path().join("train.csv");
    let examples = seed_examples();
    let mut seeds = Vec::new();
    for take in [1, 3, examples.len()] {
        let rows: Vec<&Example> = examples.iter().take(take).collect();
        write_split(&path, &rows).expect("the seed split is written");
        seeds.push(std::fs::read(&path).expect("the seed split is readable"));
    }
    seeds.push(b"text,label\n".to_vec());
    seeds
}

/// Source CSVs with named and numeric labels, extra columns and quoting.
fn source_seeds() -> Vec<Vec<u8>> {
    [
        "id,review,sentiment,source\n1,\"good, very\",pos,rt\n2,bad,0,rt\n3,meh,neg,imdb\n",
        "review,sentiment,source\r\n\"multi\nline\",1,rt\r\nshort,pos,rt\r\n",
        "sentiment,source,review\nneg,rt,\"a \"\"quoted\"\" word\"\n",
    ]
    .into_iter()
    .map(|s| s.as_bytes().to_vec())
    .collect()
}

/// The manifest of the source seeds, with or without a row filter.
fn manifest(filtered: bool) -> Manifest {
    let filter = if filtered {
        "filter = { column = \"source\", value = \"rt\" }"
    } else {
        ""
    };
    let text = format!(
        "name = \"hostile\"\ntext_column = \"review\"\nlabel_column = \"sentiment\"\n\
         label_names = [\"neg\", \"pos\"]\n[source]\nkind = \"csv\"\npath = \"raw.csv\"\n\
         {filter}\n[split]\nseed = 1\ntrain = 0.8\nvalidation = 0.1\ntest = 0.1\n"
    );
    Manifest::parse(&text, Path::new("datasets/hostile/manifest.toml"))
        .expect("the seed manifest is valid")
}

/// Rows and headers that CSV invites.
fn hostile_rows() -> BoxedStrategy<Vec<u8>> {
    let fixed = prop::sample::select(vec![
        &b"\"unterminated"[..],
        b"a,b,c,d,e,f",
        b"only_one_field",
        b"text\0with\0nul,1",
        b"\0",
        b"\"a\"\"b\",0",
        b"\"a\"b,0",
        b"text,label,extra",
        b"label,text",
        b"review,sentiment",
        b"",
        b"\r",
        b"\r\n",
        b"\xff\xfe,0",
        b"caf\xc3,1",
        b"\xef\xbb\xbftext,label",
        b"x,pos",
        b"x, 1 ",
        b"x,\"1\"",
    ]);
    prop_oneof![
        3 => fixed.prop_map(<[u8]>::to_vec),
        3 => prop::sample::select(HOSTILE_NUMBERS).prop_map(|n| format!("x,{n}").into_bytes()),
        1 => (0usize..100_000)
            .prop_map(|n| format!("\"{}\",0", "a".repeat(n)).into_bytes()),
        1 => (0usize..20_000).prop_map(|n| ",".repeat(n).into_bytes()),
        1 => (0usize..20_000).prop_map(|n| "\"".repeat(n).into_bytes()),
    ]
    .boxed()
}

/// A split file on disk, with the number of labels its reader is told.
pub struct SplitFile {
    _dir: tempfile::TempDir,
    path: PathBuf,
    len: usize,
    num_labels: usize,
}

/// A typed dataset error naming `dataset` and a cause.
fn check_error(error: &Error, dataset: &str) -> Result<(), TestCaseError> {
    match error {
        Error::Dataset { name, message, fix } => {
            prop_assert_eq!(name.as_str(), dataset);
            prop_assert!(!message.trim().is_empty() && !fix.trim().is_empty());
            Ok(())
        }
        other => Err(TestCaseError::fail(format!(
            "not a dataset error: {other:?}"
        ))),
    }
}

/// Rows read are labeled within range.
fn check_rows(
    result: &Result<Vec<Example>, Error>,
    dataset: &str,
    num_labels: usize,
) -> Result<(), TestCaseError> {
    match result {
        Ok(rows) => {
            for row in rows {
                prop_assert!((0..num_labels as i64).contains(&row.label), "{row:?}");
            }
            Ok(())
        }
        Err(e) => check_error(e, dataset),
    }
}

/// Damaged split files, read with 1 to 4 labels.
#[test]
fn split_reader_survives_damaged_split_files() {
    campaign::run(
        "dataset CSV read_split (damaged split files)",
        campaign::config(1024, "proptest-regressions/hostile_inputs/read_split.txt"),
        BUDGET,
        (mutate::mutated(split_seeds(), hostile_rows()), 1usize..=4),
        |(bytes, num_labels)| {
            let bytes = bytes.0;
            let dir = tempfile::tempdir().expect("a temporary folder");
            let path = dir.path().join("train.csv");
            std::fs::write(&path, &bytes).expect("the input is written");
            SplitFile {
                _dir: dir,
                path,
                len: bytes.len(),
                num_labels,
            }
        },
        |input| {
            let result = read_split(&input.path, "hostile", input.num_labels);
            check_rows(&result, "hostile", input.num_labels)?;
            Ok(Parsed {
                accepted: result.is_ok(),
                input_len: input.len,
                output_units: 0,
            })
        },
    );
}

/// Damaged source CSVs, read with and without a row filter.
#[test]
fn source_reader_survives_damaged_source_files() {
    let manifests = [manifest(false), manifest(true)];
    campaign::run(
        "dataset CSV read_source_rows (damaged source files)",
        campaign::config(
            1024,
            "proptest-regressions/hostile_inputs/read_source_rows.txt",
        ),
        BUDGET,
        (
            mutate::mutated(source_seeds(), hostile_rows()),
            any::<bool>(),
        ),
        |input| input,
        |(bytes, filtered)| {
            let manifest = &manifests[usize::from(*filtered)];
            let result = read_source_rows(bytes.0.as_slice(), "raw.csv", manifest);
            check_rows(&result, "hostile", 2)?;
            Ok(Parsed {
                accepted: result.is_ok(),
                input_len: bytes.0.len(),
                output_units: 0,
            })
        },
    );
}

/// The built-in manifests, damaged.
#[test]
fn manifest_parser_survives_damaged_manifests() {
    let folder = Path::new(env!("CARGO_MANIFEST_DIR")).join("datasets");
    let seeds: Vec<Vec<u8>> = ["rotten_tomatoes", "imdb"]
        .iter()
        .map(|name| std::fs::read(folder.join(name).join("manifest.toml")).expect("a manifest"))
        .collect();
    let lines = prop_oneof![
        Just(b"unknown = 1".to_vec()),
        Just(b"[splits.train]".to_vec()),
        Just(b"label_names = []".to_vec()),
        Just(b"label_names = [\"a\", \"a\"]".to_vec()),
        mutate::depth()
            .prop_map(|d| format!("x = {}", mutate::nested("[", "", "]", d)).into_bytes()),
        mutate::depth()
            .prop_map(|d| format!("x = {}", mutate::nested("{a = ", "1", "}", d)).into_bytes()),
        (prop::sample::select(HOSTILE_NUMBERS), 0usize..3).prop_map(|(n, key)| {
            format!("{} = {n}", ["seed", "train", "rows"][key]).into_bytes()
        }),
    ]
    .boxed();
    campaign::run(
        "dataset manifest parser (damaged manifests)",
        campaign::config(1024, "proptest-regressions/hostile_inputs/manifest.txt"),
        MANIFEST_BUDGET,
        mutate::mutated(seeds, lines),
        |bytes| {
            let datasets = tempfile::tempdir().expect("a temporary folder");
            // The folder is named as the manifest says, where it says so simply, so that
            // validation gets past the name check.
            let declared = String::from_utf8_lossy(&bytes.0)
                .split("name = \"")
                .nth(1)
                .and_then(|rest| rest.split('"').next())
                .filter(|n| {
                    !n.is_empty() && n.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
                })
                .unwrap_or("rotten_tomatoes")
                .to_string();
            let dir = datasets.path().join(declared);
            std::fs::create_dir(&dir).expect("the dataset folder is created");
            std::fs::write(dir.join("manifest.toml"), &bytes.0).expect("the input is written");
            (datasets, dir, bytes.0)
        },
        |(_datasets, dir, bytes)| {
            let result = Manifest::read(dir);
            // A manifest that parses but fails validation names the dataset it declares; one
            // that is not UTF-8 is an I/O error naming the file.
            if let Err(e) = &result {
                let utf8 = std::str::from_utf8(bytes).is_ok();
                prop_assert!(
                    (matches!(e, Error::Dataset { .. })
                        || (!utf8 && matches!(e, Error::Io { .. })))
                        && !e.to_string().trim().is_empty(),
                    "{e:?}"
                );
            }
            Ok(Parsed {
                accepted: result.is_ok(),
                input_len: bytes.len(),
                output_units: 0,
            })
        },
    );
}

/// One field of 24 MiB is read whole, in time, with a few copies of its size at most.
#[test]
fn a_field_of_tens_of_megabytes_is_read_whole() {
    let big = "ab".repeat(12 << 20);
    let dir = tempfile::tempdir().expect("a temporary folder");
    let path = dir.path().join("train.csv");
    std::fs::write(&path, format!("text,label\n\"{big}\",1\nshort,0\n")).expect("written");
    let (rows, peak) = peak_bytes(|| read_split(&path, "hostile", 2));
    let rows = rows.expect("a long field is valid CSV");
    assert_eq!(rows.len(), 2);
    assert_eq!(rows[0].text.len(), big.len());
    assert!(peak <= ALLOC_FLOOR + 4 * big.len(), "peak {peak} bytes");

    let source = format!("review,sentiment\n\"{big}\",pos\nshort,neg\n{big},2\n");
    let (rows, peak) =
        peak_bytes(|| read_source_rows(source.as_bytes(), "raw.csv", &manifest(false)));
    let err = rows.expect_err("label 2 is out of range for two labels");
    assert!(err.to_string().contains("line 4"), "{err}");
    assert!(peak <= ALLOC_FLOOR + 8 * big.len(), "peak {peak} bytes");
}
