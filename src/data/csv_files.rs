//! Reading source CSVs (any column names, labels as names or indices) and reading/writing split
//! CSVs (columns `text,label`, label = index into the manifest's `label_names`).
use std::io::Read;
use std::path::Path;

use super::dataset::Example;
use super::manifest::Manifest;
use crate::{Error, Result};

/// Reads the labeled rows of a source CSV (with a header row), keeping only rows that pass the
/// manifest's `[source] filter`. `origin` names the file in messages.
pub fn read_source_rows(
    reader: impl Read,
    origin: &str,
    manifest: &Manifest,
) -> Result<Vec<Example>> {
    let error = |message: String, fix: String| Error::Dataset {
        name: manifest.name.clone(),
        message,
        fix,
    };
    let mut csv = csv::ReaderBuilder::new()
        .flexible(false)
        .from_reader(reader);
    let headers = csv
        .headers()
        .map_err(|e| {
            error(
                format!("{origin}: cannot read the header row: {e}"),
                "make the first line of the CSV its column names".into(),
            )
        })?
        .clone();
    let column = |key: &str, name: &str| {
        headers.iter().position(|h| h == name).ok_or_else(|| {
            error(
                format!("{origin} has no column {name:?} (its columns: {})", headers.iter().collect::<Vec<_>>().join(", ")),
                format!("set `{key}` in the manifest to one of those columns, or rename the column in the CSV"),
            )
        })
    };
    let text_at = column("text_column", &manifest.text_column)?;
    let label_at = column("label_column", &manifest.label_column)?;
    let filter = match &manifest.source {
        super::manifest::Source::Pypi { filter, .. }
        | super::manifest::Source::Csv { filter, .. } => filter,
    };
    let filter_at = match filter {
        Some(f) => Some((column("source.filter.column", &f.column)?, f.value.as_str())),
        None => None,
    };
    let mut rows = Vec::new();
    for record in csv.records() {
        let record = record.map_err(|e| {
            error(
                format!("{origin}: {e}"),
                "fix the CSV row named above (quote fields that contain commas)".into(),
            )
        })?;
        if let Some((at, value)) = filter_at {
            if record.get(at) != Some(value) {
                continue;
            }
        }
        let line = record.position().map_or(0, |p| p.line());
        let raw_label = record.get(label_at).unwrap_or_default();
        let label = manifest.label_index(raw_label).ok_or_else(|| {
            error(
                format!("{origin} line {line}: label {raw_label:?} is neither one of label_names {:?} nor an index below {}", manifest.label_names, manifest.label_names.len()),
                "add the value to `label_names` in the manifest, or correct the row".into(),
            )
        })?;
        rows.push(Example {
            text: record.get(text_at).unwrap_or_default().to_string(),
            label,
        });
    }
    Ok(rows)
}

/// Writes examples as a split CSV (`text,label`).
pub fn write_split(path: &Path, examples: &[&Example]) -> Result<()> {
    let io_error = |e: csv::Error| match e.into_kind() {
        csv::ErrorKind::Io(source) => Error::io(path, source),
        other => Error::io(path, std::io::Error::other(format!("{other:?}"))),
    };
    let mut writer = csv::Writer::from_path(path).map_err(io_error)?;
    writer.write_record(["text", "label"]).map_err(io_error)?;
    for example in examples {
        writer
            .write_record([example.text.as_str(), &example.label.to_string()])
            .map_err(io_error)?;
    }
    writer.flush().map_err(|e| Error::io(path, e))
}

/// Reads a split CSV written by [`write_split`]; labels must be indices below `num_labels`.
pub fn read_split(path: &Path, dataset: &str, num_labels: usize) -> Result<Vec<Example>> {
    let error = |message: String| Error::Dataset {
        name: dataset.to_string(),
        message: format!("{}: {message}", path.display()),
        fix: "delete the dataset's data/ folder and run `bitlab datasets fetch` again".into(),
    };
    let mut csv = csv::Reader::from_path(path).map_err(|e| error(e.to_string()))?;
    let headers = csv.headers().map_err(|e| error(e.to_string()))?;
    if headers.iter().collect::<Vec<_>>() != ["text", "label"] {
        return Err(error(format!(
            "expected the columns text,label, found {}",
            headers.iter().collect::<Vec<_>>().join(",")
        )));
    }
    let mut examples = Vec::new();
    for record in csv.records() {
        let record = record.map_err(|e| error(e.to_string()))?;
        let line = record.position().map_or(0, |p| p.line());
        let raw = record.get(1).unwrap_or_default();
        let label = raw
            .parse::<i64>()
            .ok()
            .filter(|&l| l >= 0 && (l as usize) < num_labels)
            .ok_or_else(|| {
                error(format!(
                    "line {line}: label {raw:?} is not an index below {num_labels}"
                ))
            })?;
        examples.push(Example {
            text: record.get(0).unwrap_or_default().to_string(),
            label,
        });
    }
    Ok(examples)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    fn manifest(filter: &str) -> Manifest {
        let text = format!(
            r#"
name = "m"
text_column = "review"
label_column = "sentiment"
label_names = ["neg", "pos"]
[source]
kind = "csv"
path = "raw.csv"
{filter}
[split]
seed = 1
train = 0.8
validation = 0.1
test = 0.1
"#
        );
        Manifest::parse(&text, Path::new("datasets/m/manifest.toml")).unwrap()
    }

    #[test]
    fn source_rows_map_named_and_numeric_labels() {
        let csv = "id,review,sentiment\n1,\"good, very\",pos\n2,bad,0\n";
        let rows = read_source_rows(csv.as_bytes(), "raw.csv", &manifest("")).unwrap();
        assert_eq!(
            rows,
            vec![
                Example {
                    text: "good, very".into(),
                    label: 1
                },
                Example {
                    text: "bad".into(),
                    label: 0
                },
            ]
        );
    }

    #[test]
    fn source_filter_keeps_matching_rows_only() {
        let csv = "review,sentiment,origin\na,pos,x\nb,neg,y\nc,neg,x\n";
        let m = manifest("filter = { column = \"origin\", value = \"x\" }");
        let rows = read_source_rows(csv.as_bytes(), "raw.csv", &m).unwrap();
        assert_eq!(
            rows.iter().map(|r| r.text.as_str()).collect::<Vec<_>>(),
            ["a", "c"]
        );
    }

    #[test]
    fn missing_column_error_lists_the_columns_and_the_key() {
        let err =
            read_source_rows("text,label\nx,0\n".as_bytes(), "raw.csv", &manifest("")).unwrap_err();
        let msg = err.to_string();
        assert!(
            msg.contains("\"review\"")
                && msg.contains("text, label")
                && msg.contains("text_column"),
            "{msg}"
        );
    }

    #[test]
    fn unknown_label_error_names_the_line_and_value() {
        let err = read_source_rows(
            "review,sentiment\nx,pos\ny,meh\n".as_bytes(),
            "raw.csv",
            &manifest(""),
        )
        .unwrap_err();
        let msg = err.to_string();
        assert!(
            msg.contains("line 3") && msg.contains("\"meh\"") && msg.contains("label_names"),
            "{msg}"
        );
    }

    #[test]
    fn split_files_round_trip() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("train.csv");
        let examples = [
            Example {
                text: "a \"quoted\", text\nwith newline".into(),
                label: 1,
            },
            Example {
                text: String::new(),
                label: 0,
            },
        ];
        write_split(&path, &examples.iter().collect::<Vec<_>>()).unwrap();
        assert_eq!(read_split(&path, "d", 2).unwrap(), examples);
        let err = read_split(&path, "d", 1).unwrap_err().to_string();
        assert!(
            err.contains("label \"1\"") && err.contains("datasets fetch"),
            "{err}"
        );
    }
}
