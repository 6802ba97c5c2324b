//! Fixtures shared by the data module's unit tests.
use std::path::Path;

use super::manifest::MANIFEST_FILE;

/// Writes a user CSV dataset of `n` rows (a quarter positive) as `<datasets_dir>/toy`.
pub fn write_toy_dataset(datasets_dir: &Path, n: usize) {
    let dir = datasets_dir.join("toy");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(
        dir.join(MANIFEST_FILE),
        r#"name = "toy"
description = "synthetic"
label_names = ["neg", "pos"]
[source]
kind = "csv"
path = "raw.csv"
[split]
seed = 11
train = 0.8
validation = 0.1
test = 0.1
"#,
    )
    .unwrap();
    let mut csv = String::from("text,label\n");
    for i in 0..n {
        let label = if i % 4 == 0 { "pos" } else { "neg" };
        csv.push_str(&format!("\"review {i}, a {label} film\",{label}\n"));
    }
    std::fs::write(dir.join("raw.csv"), csv).unwrap();
}
