//! Stage one of loading an experiment: what the user wrote, with source positions.
//!
//! The file is parsed once into toml's spanned document tree ([`toml::de::DeTable`]), so every
//! later error can point at a line and column. This stage splits the document into the
//! `[experiment]` header (deserialized with `deny_unknown_fields`), the `[sweep]` table (axes,
//! `[[sweep.zip]]` groups and `[[sweep.exclude]]` filters, checked for shape), the
//! `[quantizers]` declarations (checked by [`super::declared`]) and the base trial (every other
//! table, deserialized later, per grid point, into [`TrialConfig`](super::TrialConfig)).
use std::ops::Range;

use serde::Deserialize;
use toml::de::{DeTable, DeValue, ValueDeserializer};
use toml::Spanned;

use super::field_tree::FieldTree;

/// A value from the file, with its byte span.
pub type SpannedValue<'i> = Spanned<DeValue<'i>>;

/// The `[experiment]` table.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExperimentHeader {
    /// Experiment name; also the name of its report folder, so `[a-z0-9_-]+`.
    pub name: Spanned<String>,
    /// Free text shown in reports.
    #[serde(default)]
    pub description: String,
}

/// One `key = [values...]` entry of `[sweep]` or of a `[[sweep.zip]]` group.
#[derive(Debug, Clone)]
pub struct RawAxis<'i> {
    /// The key as written (`quantizer`, `train.lr`).
    pub name: String,
    /// Span of the whole list.
    pub span: Range<usize>,
    /// The listed values, in order.
    pub values: Vec<SpannedValue<'i>>,
}

/// One `[[sweep.zip]]` group: axes that advance together.
#[derive(Debug, Clone)]
pub struct RawZip<'i> {
    /// Span of the group's table.
    pub span: Range<usize>,
    /// Its axes, in file order; all lists have the same length.
    pub axes: Vec<RawAxis<'i>>,
}

/// One `[[sweep.exclude]]` filter: a grid point matching every entry is dropped.
#[derive(Debug, Clone)]
pub struct RawExclude<'i> {
    /// Span of the filter's table.
    pub span: Range<usize>,
    /// `(axis name as written, value)` pairs, in file order.
    pub entries: Vec<(String, SpannedValue<'i>)>,
}

/// The `[sweep]` table, split by role.
#[derive(Debug, Clone, Default)]
pub struct RawSweep<'i> {
    /// Independent grid axes, in file order.
    pub grid: Vec<RawAxis<'i>>,
    /// Zip groups, in file order.
    pub zips: Vec<RawZip<'i>>,
    /// Exclusion filters, in file order.
    pub excludes: Vec<RawExclude<'i>>,
}

/// An experiment file after stage one.
#[derive(Debug, Clone)]
pub struct RawExperiment<'i> {
    /// The `[experiment]` table.
    pub header: ExperimentHeader,
    /// The base trial: the document without `[experiment]` and `[sweep]`.
    pub base: Spanned<DeTable<'i>>,
    /// The sweep.
    pub sweep: RawSweep<'i>,
    /// The `[quantizers]` table of declared quantizers, if present.
    pub quantizers: Option<SpannedValue<'i>>,
}

/// The source text, for turning byte offsets into line and column numbers.
#[derive(Debug, Clone, Copy)]
pub struct Source<'i>(pub &'i str);

impl Source<'_> {
    /// "line L, column C" (both 1-based) of a byte offset.
    pub fn at(&self, offset: usize) -> String {
        let before = &self.0[..offset.min(self.0.len())];
        let line = before.matches('\n').count() + 1;
        let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
        format!("line {line}, column {column}")
    }

    /// The text of a value as the user wrote it: a string's contents, otherwise its source.
    pub fn written(&self, value: &SpannedValue<'_>) -> String {
        match value.get_ref() {
            DeValue::String(s) => s.to_string(),
            _ => self
                .0
                .get(value.span())
                .unwrap_or_default()
                .trim()
                .to_string(),
        }
    }
}

/// Converts a spanned value to a plain [`toml::Value`] (for type checks and comparisons).
pub fn plain(value: &SpannedValue<'_>) -> Result<toml::Value, String> {
    toml::Value::deserialize(ValueDeserializer::from(value.clone())).map_err(|e| e.to_string())
}

/// The name toml uses for a value's type, for error messages.
pub fn type_name(value: &DeValue<'_>) -> &'static str {
    value.type_str()
}

/// Stage one: parse `text` and split it into header, base trial and sweep.
pub fn parse_raw(text: &str) -> Result<RawExperiment<'_>, String> {
    let source = Source(text);
    let document = DeTable::parse(text).map_err(|e| {
        format!("{e}fix: correct the TOML syntax at the position shown (see https://toml.io)")
    })?;
    let document_span = document.span();
    let mut base = document.into_inner();

    let Some(header) = base.remove("experiment") else {
        return Err(
            "missing the [experiment] table\n  fix: start the file with\n    \
                    [experiment]\n    name = \"my_experiment\"\n    description = \"...\""
                .into(),
        );
    };
    let header = parse_header(header, text)?;

    let sweep = match base.remove("sweep") {
        None => RawSweep::default(),
        Some(sweep) => parse_sweep(sweep, source)?,
    };
    let quantizers = base.remove("quantizers");
    Ok(RawExperiment {
        header,
        base: Spanned::new(document_span, base),
        sweep,
        quantizers,
    })
}

fn parse_header(value: SpannedValue<'_>, text: &str) -> Result<ExperimentHeader, String> {
    // TOML puts every `key = value` line after a `[table]` header into that table, so a base
    // key such as `seed = 1` written below `[experiment]` lands in it: say so precisely.
    if let DeValue::Table(table) = value.get_ref() {
        let top_level = FieldTree::trial_config().top_level();
        if let Some((key, _)) = table
            .iter()
            .find(|(k, _)| top_level.iter().any(|f| f == k.get_ref()))
        {
            let key = key.get_ref();
            return Err(format!(
                "`{key}` ({}) is inside [experiment], which takes only `name` and \
                 `description`\n  fix: move the `{key} = ...` line above the [experiment] \
                 header (in TOML, keys after a [table] header belong to that table)",
                Source(text).at(table
                    .get_key_value(key.as_ref())
                    .map_or(0, |(k, _)| k.span().start))
            ));
        }
    }
    let header =
        ExperimentHeader::deserialize(ValueDeserializer::from(value)).map_err(|mut e| {
            e.set_input(Some(text));
            format!("in [experiment]: {e}fix: [experiment] takes only `name` and `description`")
        })?;
    let name = header.name.get_ref();
    let simple = !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '-');
    if !simple {
        return Err(format!(
            "experiment.name = {name:?} ({}) must match [a-z0-9_-]+ because it names the \
             report folder\n  fix: use lowercase letters, digits, `_` and `-`, e.g. {:?}",
            Source(text).at(header.name.span().start),
            suggest_name(name)
        ));
    }
    Ok(header)
}

/// A valid experiment name close to `name`.
fn suggest_name(name: &str) -> String {
    let cleaned: String = name
        .to_lowercase()
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' {
                c
            } else {
                '_'
            }
        })
        .collect();
    if cleaned.is_empty() {
        "my_experiment".into()
    } else {
        cleaned
    }
}

fn parse_sweep<'i>(sweep: SpannedValue<'i>, source: Source<'_>) -> Result<RawSweep<'i>, String> {
    let span = sweep.span();
    let DeValue::Table(table) = sweep.into_inner() else {
        return Err(format!(
            "`sweep` ({}) must be a table\n  fix: write it as a [sweep] section of axes, \
             e.g. [sweep] quantizer = [\"fp32\", \"ternary\"]",
            source.at(span.start)
        ));
    };
    let mut raw = RawSweep::default();
    for (key, value) in table {
        match key.get_ref().as_ref() {
            "zip" => {
                for (span, group) in tables_of("sweep.zip", value, source)? {
                    let axes = flatten_axes(&group, "", source)?;
                    raw.zips.push(check_zip(span, axes, source)?);
                }
            }
            "exclude" => {
                for (span, filter) in tables_of("sweep.exclude", value, source)? {
                    raw.excludes.push(exclude_of(span, &filter, source)?);
                }
            }
            _ => {
                let mut one = DeTable::new();
                one.insert(key, value);
                raw.grid.extend(flatten_axes(&one, "", source)?);
            }
        }
    }
    raw.grid.sort_by_key(|axis| axis.span.start);
    raw.zips.sort_by_key(|zip| zip.span.start);
    raw.excludes.sort_by_key(|filter| filter.span.start);
    Ok(raw)
}

/// `[[sweep.zip]]` (an array of tables) or `[sweep.zip]` (one table), as a list of tables.
fn tables_of<'i>(
    what: &str,
    value: SpannedValue<'i>,
    source: Source<'_>,
) -> Result<Vec<(Range<usize>, DeTable<'i>)>, String> {
    let span = value.span();
    let not_tables = || {
        format!(
            "`{what}` ({}) must be a table of axes\n  fix: write it as [[{what}]] followed by \
             `key = ...` lines",
            source.at(span.start)
        )
    };
    match value.into_inner() {
        DeValue::Table(table) => Ok(vec![(span, table)]),
        DeValue::Array(items) => items
            .iter()
            .map(|item| match item.get_ref() {
                DeValue::Table(table) => Ok((item.span(), table.clone())),
                _ => Err(not_tables()),
            })
            .collect(),
        _ => Err(not_tables()),
    }
}

/// Turns `key = [values]` entries into axes; nested tables (`train.lr = [...]` written with an
/// unquoted dotted key, or a `[sweep.train]` section) become dotted names.
fn flatten_axes<'i>(
    table: &DeTable<'i>,
    prefix: &str,
    source: Source<'_>,
) -> Result<Vec<RawAxis<'i>>, String> {
    let mut axes = Vec::new();
    for (key, value) in table.iter() {
        let name = dotted(prefix, key.get_ref());
        match value.get_ref() {
            DeValue::Table(nested) => axes.extend(flatten_axes(nested, &name, source)?),
            DeValue::Array(items) if items.is_empty() => {
                return Err(format!(
                    "sweep axis `{name}` ({}) has an empty list of values\n  fix: list at least \
                     one value, or remove the axis to use the base configuration's value",
                    source.at(value.span().start)
                ));
            }
            DeValue::Array(items) => axes.push(RawAxis {
                name,
                span: value.span(),
                values: items.iter().cloned().collect(),
            }),
            other => {
                return Err(format!(
                    "sweep axis `{name}` ({}) is a single {} ({}), not a list of values\n  fix: \
                     write `{name} = [{}]` to sweep it, or set it in the base tables instead",
                    source.at(value.span().start),
                    type_name(other),
                    source.0.get(value.span()).unwrap_or_default(),
                    source.0.get(value.span()).unwrap_or_default(),
                ));
            }
        }
    }
    axes.sort_by_key(|axis| axis.span.start);
    Ok(axes)
}

fn check_zip<'i>(
    span: Range<usize>,
    axes: Vec<RawAxis<'i>>,
    source: Source<'_>,
) -> Result<RawZip<'i>, String> {
    let Some(first) = axes.first() else {
        return Err(format!(
            "[[sweep.zip]] ({}) has no axes\n  fix: list two or more axes of equal length, or \
             remove the empty group",
            source.at(span.start)
        ));
    };
    if let Some(other) = axes.iter().find(|a| a.values.len() != first.values.len()) {
        let lengths: Vec<String> = axes
            .iter()
            .map(|a| format!("`{}` has {}", a.name, a.values.len()))
            .collect();
        return Err(format!(
            "[[sweep.zip]] ({}): zipped lists must have equal lengths, but {}\n  fix: give \
             `{}` and `{}` the same number of values (zipped axes advance together), or move \
             one of them to [sweep] to cross it with the others",
            source.at(span.start),
            lengths.join(", "),
            first.name,
            other.name
        ));
    }
    Ok(RawZip { span, axes })
}

fn exclude_of<'i>(
    span: Range<usize>,
    filter: &DeTable<'i>,
    source: Source<'_>,
) -> Result<RawExclude<'i>, String> {
    let mut entries = Vec::new();
    collect_exclude_entries(filter, "", &mut entries);
    if entries.is_empty() {
        return Err(format!(
            "[[sweep.exclude]] ({}) is empty, so it would drop every trial\n  fix: add \
             `axis = value` lines naming the grid points to drop, or remove it",
            source.at(span.start)
        ));
    }
    entries.sort_by_key(|(_, value)| value.span().start);
    Ok(RawExclude { span, entries })
}

fn collect_exclude_entries<'i>(
    table: &DeTable<'i>,
    prefix: &str,
    entries: &mut Vec<(String, SpannedValue<'i>)>,
) {
    for (key, value) in table.iter() {
        let name = dotted(prefix, key.get_ref());
        match value.get_ref() {
            DeValue::Table(nested) => collect_exclude_entries(nested, &name, entries),
            _ => entries.push((name, value.clone())),
        }
    }
}

fn dotted(prefix: &str, key: &str) -> String {
    if prefix.is_empty() {
        key.to_string()
    } else {
        format!("{prefix}.{key}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HEADER: &str = "[experiment]\nname = \"t\"\n";

    fn raw(body: &str) -> Result<RawExperiment<'static>, String> {
        let text: &'static str = Box::leak(format!("{HEADER}{body}").into_boxed_str());
        parse_raw(text)
    }

    #[test]
    fn splits_header_base_and_sweep_in_file_order() {
        let parsed = raw(
            "[model]\nlayers = 2\n[sweep]\nseed = [1, 2]\nquantizer = [\"fp32\"]\n\
             train.lr = [1e-3]\n[[sweep.zip]]\n\"lora.rank\" = [0, 4]\nattention = [\"flash\", \"math\"]\n\
             [[sweep.exclude]]\nseed = 2\n",
        )
        .unwrap();
        assert_eq!(parsed.header.name.get_ref(), "t");
        assert!(parsed.base.get_ref().contains_key("model"));
        assert!(!parsed.base.get_ref().contains_key("sweep"));
        let names: Vec<&str> = parsed.sweep.grid.iter().map(|a| a.name.as_str()).collect();
        assert_eq!(names, ["seed", "quantizer", "train.lr"]);
        let zipped: Vec<&str> = parsed.sweep.zips[0]
            .axes
            .iter()
            .map(|a| a.name.as_str())
            .collect();
        assert_eq!(zipped, ["lora.rank", "attention"]);
        assert_eq!(parsed.sweep.excludes[0].entries[0].0, "seed");
    }

    #[test]
    fn values_keep_their_spelling() {
        let text = "[experiment]\nname = \"t\"\n[sweep]\nlr = [1e-3, 0.0010, \"1.58bit\"]\n";
        let parsed = parse_raw(text).unwrap();
        let source = Source(text);
        let written: Vec<String> = parsed.sweep.grid[0]
            .values
            .iter()
            .map(|v| source.written(v))
            .collect();
        assert_eq!(written, ["1e-3", "0.0010", "1.58bit"]);
    }

    #[test]
    fn source_positions_are_one_based() {
        let source = Source("ab\ncd\n");
        assert_eq!(source.at(0), "line 1, column 1");
        assert_eq!(source.at(4), "line 2, column 2");
    }

    #[test]
    fn header_rejects_unknown_keys_with_line_and_valid_keys() {
        let err = parse_raw("[experiment]\nname = \"t\"\ndescripton = \"x\"\n").unwrap_err();
        assert!(err.contains("unknown field `descripton`"), "{err}");
        assert!(
            err.contains("`name`") && err.contains("`description`"),
            "{err}"
        );
        assert!(err.contains("line 3"), "{err}");
    }

    #[test]
    fn base_keys_below_the_header_are_explained() {
        let err = parse_raw("[experiment]\nname = \"t\"\nseed = 1\n").unwrap_err();
        assert!(
            err.contains("`seed` (line 3, column 1) is inside [experiment]"),
            "{err}"
        );
        assert!(
            err.contains("move the `seed = ...` line above the [experiment] header"),
            "{err}"
        );
    }

    #[test]
    fn header_is_required_and_name_must_be_simple() {
        let err = parse_raw("seed = 1\n").unwrap_err();
        assert!(
            err.contains("missing the [experiment] table") && err.contains("name ="),
            "{err}"
        );
        let err = parse_raw("[experiment]\nname = \"My Paper\"\n").unwrap_err();
        assert!(
            err.contains("[a-z0-9_-]+") && err.contains("\"my_paper\""),
            "{err}"
        );
        assert!(err.contains("line 2, column 8"), "{err}");
    }

    #[test]
    fn syntax_errors_show_the_line() {
        let err = parse_raw("[experiment]\nname = \"t\n").unwrap_err();
        assert!(err.contains("line 2"), "{err}");
        assert!(err.contains("fix:"), "{err}");
    }

    #[test]
    fn axis_shape_errors() {
        let err = raw("[sweep]\nseed = []\n").unwrap_err();
        assert!(
            err.contains("`seed`") && err.contains("empty list"),
            "{err}"
        );
        assert!(err.contains("line 4"), "{err}");
        let err = raw("[sweep]\nseed = 3\n").unwrap_err();
        assert!(
            err.contains("`seed`") && err.contains("seed = [3]"),
            "{err}"
        );
    }

    #[test]
    fn zip_lists_must_have_equal_lengths() {
        let err = raw("[[sweep.zip]]\n\"train.lr\" = [1e-3, 2e-3]\nquantizer = [\"fp32\"]\n")
            .unwrap_err();
        assert!(
            err.contains("`train.lr` has 2") && err.contains("`quantizer` has 1"),
            "{err}"
        );
        assert!(err.contains("fix:"), "{err}");
        let err = raw("[[sweep.zip]]\n").unwrap_err();
        assert!(err.contains("no axes"), "{err}");
    }
}
