//! The module layering of docs/ARCHITECTURE.md, checked on the source: every `crate::<module>`
//! path in `src/` (code and tests, not comments) must point down the layer order below, and
//! the arrows that still point up are listed, each with the change that removes it. A new upward
//! arrow fails this test; so does a listed one that no longer exists (delete it from the list:
//! the list only shrinks).
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Top-level modules of the library, top layer first. A module may use modules of a lower
/// layer (a larger index) and not of its own or a higher one.
const LAYERS: &[&[&str]] = &[
    &["runner", "bench"],
    &["report", "measure", "train"],
    &["store"],
    &["experiment"],
    &["data"],
    &["model"],
    &["artifact"],
    &["quant"],
    &["kernels", "attention"],
    &["assets"],
    &["error"],
];

/// Upward arrows that exist today, each with the redesign step (issue 11) that removes it.
#[rustfmt::skip]
const KNOWN_UPWARD: &[(&str, &str, &str)] = &[];

fn layer_of(module: &str) -> Option<usize> {
    LAYERS.iter().position(|layer| layer.contains(&module))
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The top-level modules a line of code names through `crate::`, grouped imports included
/// (`use crate::{quant::X, store::Y}`).
fn crate_paths(code: &str, modules: &BTreeSet<String>) -> BTreeSet<String> {
    let mut found = BTreeSet::new();
    let mut rest = code;
    while let Some(at) = rest.find("crate::") {
        rest = &rest[at + "crate::".len()..];
        if let Some(group) = rest.strip_prefix('{') {
            // Names at the group's top level: each starts after `{` or `,`.
            let mut depth = 0;
            let mut start = true;
            let mut name = String::new();
            for c in group.chars() {
                match c {
                    '{' => depth += 1,
                    '}' if depth == 0 => break,
                    '}' => depth -= 1,
                    ',' if depth == 0 => start = true,
                    c if start && (c.is_alphanumeric() || c == '_') => name.push(c),
                    _ if start && !name.is_empty() => {
                        found.insert(std::mem::take(&mut name));
                        start = false;
                    }
                    _ => {}
                }
            }
            if !name.is_empty() {
                found.insert(name);
            }
        } else {
            let name: String = rest
                .chars()
                .take_while(|c| c.is_alphanumeric() || *c == '_')
                .collect();
            found.insert(name);
        }
    }
    found.retain(|m| modules.contains(m));
    found
}

/// Every arrow `from -> to` between distinct top-level modules, with one file that makes it.
fn module_arrows(src: &Path) -> BTreeMap<(String, String), PathBuf> {
    let modules: BTreeSet<String> = LAYERS
        .iter()
        .flat_map(|l| l.iter())
        .map(|m| m.to_string())
        .collect();
    let mut files = Vec::new();
    rust_files(src, &mut files);
    let mut arrows = BTreeMap::new();
    for file in files {
        let relative = file.strip_prefix(src).unwrap();
        let first = relative
            .components()
            .next()
            .unwrap()
            .as_os_str()
            .to_string_lossy();
        let from = first.trim_end_matches(".rs").to_string();
        if !modules.contains(&from) {
            continue; // lib.rs, main.rs and the binary's cli/ sit above every layer
        }
        let text = std::fs::read_to_string(&file).unwrap();
        // Whole `use` statements can span lines: join the file, dropping comment lines.
        let code: String = text
            .lines()
            .filter(|l| !l.trim_start().starts_with("//"))
            .collect::<Vec<_>>()
            .join("\n");
        for to in crate_paths(&code, &modules) {
            if to != from {
                arrows
                    .entry((from.clone(), to))
                    .or_insert_with(|| relative.to_path_buf());
            }
        }
    }
    arrows
}

#[test]
fn modules_depend_only_downward_except_the_listed_arrows() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let arrows = module_arrows(&src);
    assert!(
        arrows.len() > 10,
        "found too few arrows ({}): is the parser broken?",
        arrows.len()
    );
    let known: BTreeSet<(String, String)> = KNOWN_UPWARD
        .iter()
        .map(|(f, t, _)| (f.to_string(), t.to_string()))
        .collect();
    let mut new_upward = Vec::new();
    for ((from, to), file) in &arrows {
        let (Some(lf), Some(lt)) = (layer_of(from), layer_of(to)) else {
            panic!("module {from} or {to} is in no layer: add it to LAYERS");
        };
        if lt <= lf && !known.contains(&(from.clone(), to.clone())) {
            new_upward.push(format!("{from} -> {to} (in src/{})", file.display()));
        }
    }
    assert!(
        new_upward.is_empty(),
        "arrows to the same or a higher layer (see docs/ARCHITECTURE.md): {new_upward:#?}"
    );
    let gone: Vec<_> = known
        .iter()
        .filter(|arrow| !arrows.contains_key(*arrow))
        .collect();
    assert!(
        gone.is_empty(),
        "listed upward arrows no longer exist; delete them from KNOWN_UPWARD: {gone:?}"
    );
}

#[test]
fn grouped_and_plain_crate_paths_are_both_found() {
    let modules: BTreeSet<String> = ["quant", "store", "kernels", "report"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    let found = crate_paths(
        "use crate::{quant::{PackedTensor, Quantizer}, store::Store, Error};\nlet x = crate::kernels::Backend::detect();",
        &modules,
    );
    let expected: BTreeSet<String> = ["quant", "store", "kernels"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    assert_eq!(found, expected);
}
