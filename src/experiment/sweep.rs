//! Sweep expansion: from the `[sweep]` table to a list of grid points.
//!
//! Every axis name resolves to a dotted path into [`TrialConfig`](super::TrialConfig) (directly,
//! or through a shorthand such as `quantizer` -> `quant.scheme`); the path and each value's type
//! are checked against the configuration's [`FieldTree`]. Independent axes and `[[sweep.zip]]`
//! groups form the dimensions of a cartesian product, taken in file order (the first dimension
//! varies slowest); `[[sweep.exclude]]` filters then drop matching points.
use std::ops::Range;

use super::field_tree::{FieldKind, FieldTree, PathError};
use super::schema::{plain, RawAxis, RawSweep, Source, SpannedValue};

/// Axis names that stand for a longer dotted path.
pub const SHORTHANDS: [(&str, &str); 4] = [
    ("quantizer", "quant.scheme"),
    ("lora_rank", "lora.rank"),
    ("attention", "model.attention"),
    ("seed", "seed"),
];

/// The most grid points one experiment file may expand to (before `[[sweep.exclude]]`
/// filters). Every point becomes a trial with its own resolved configuration, so a few short
/// axes could otherwise ask for an astronomically large grid; larger sweeps are refused before
/// any trial is built.
pub const MAX_TRIALS: usize = 10_000;

/// The dotted path an axis name stands for.
pub fn resolve_name(name: &str) -> &str {
    SHORTHANDS
        .iter()
        .find(|(short, _)| *short == name)
        .map_or(name, |(_, path)| path)
}

/// One value assigned to one field at one grid point.
#[derive(Debug, Clone)]
pub struct Assignment<'i> {
    /// The axis name as written.
    pub name: String,
    /// The dotted path it sets.
    pub path: String,
    /// The value, with its position in the file.
    pub value: SpannedValue<'i>,
    /// The value as written (strings without quotes).
    pub written: String,
}

/// One point of the sweep grid.
#[derive(Debug, Clone)]
pub struct GridPoint<'i> {
    /// What this point sets, in axis order.
    pub assignments: Vec<Assignment<'i>>,
}

impl GridPoint<'_> {
    /// Human-readable name: `quantizer=ternary seed=2`, or `base` when nothing is swept.
    pub fn label(&self) -> String {
        if self.assignments.is_empty() {
            return "base".into();
        }
        let parts: Vec<String> = self
            .assignments
            .iter()
            .map(|a| format!("{}={}", a.name, a.written))
            .collect();
        parts.join(" ")
    }

    /// `(axis name, value as written)` pairs.
    pub fn axes(&self) -> Vec<(String, String)> {
        self.assignments
            .iter()
            .map(|a| (a.name.clone(), a.written.clone()))
            .collect()
    }
}

/// A checked axis: its resolved path and its values.
struct Axis<'i> {
    name: String,
    path: String,
    span: Range<usize>,
    values: Vec<SpannedValue<'i>>,
}

/// Expands a sweep into grid points; `[sweep]`-free files give one point with no assignments.
pub fn expand<'i>(sweep: &RawSweep<'i>, source: Source<'_>) -> Result<Vec<GridPoint<'i>>, String> {
    let tree = FieldTree::trial_config();
    // Dimensions of the grid, in file order: an independent axis, or a zip group.
    let mut dimensions: Vec<(usize, Vec<Axis<'i>>)> = Vec::new();
    for axis in &sweep.grid {
        dimensions.push((axis.span.start, vec![check_axis(axis, tree, source)?]));
    }
    for zip in &sweep.zips {
        let axes = zip
            .axes
            .iter()
            .map(|a| check_axis(a, tree, source))
            .collect::<Result<_, _>>()?;
        dimensions.push((zip.span.start, axes));
    }
    dimensions.sort_by_key(|(start, _)| *start);
    let dimensions: Vec<Vec<Axis<'i>>> = dimensions.into_iter().map(|(_, axes)| axes).collect();
    check_duplicates(&dimensions, source)?;
    check_grid_size(&dimensions)?;

    let points = cartesian(&dimensions, source);
    apply_excludes(points, sweep, &dimensions, source)
}

fn check_axis<'i>(
    axis: &RawAxis<'i>,
    tree: &FieldTree,
    source: Source<'_>,
) -> Result<Axis<'i>, String> {
    let path = resolve_name(&axis.name).to_string();
    let at = source.at(axis.span.start);
    let kind = tree
        .lookup(&path)
        .map_err(|e| unknown_path(&axis.name, &path, &e, &at))?;
    if let FieldKind::Table(fields) = kind {
        return Err(format!(
            "sweep axis `{}` ({at}) names the table `{path}`, not a value\n  fix: sweep one of \
             its fields instead: {}",
            axis.name,
            fields
                .iter()
                .map(|f| format!("{path}.{f}"))
                .collect::<Vec<_>>()
                .join(", ")
        ));
    }
    for value in &axis.values {
        let accepted = plain(value).is_ok_and(|v| kind.accepts(&v));
        if !accepted {
            return Err(format!(
                "sweep axis `{}`: value {} ({}) has the wrong type: {path} expects {}\n  fix: \
                 change the value to {}",
                axis.name,
                source.0.get(value.span()).unwrap_or_default(),
                source.at(value.span().start),
                kind.describe(),
                kind.describe()
            ));
        }
    }
    Ok(Axis {
        name: axis.name.clone(),
        path,
        span: axis.span.clone(),
        values: axis.values.clone(),
    })
}

fn unknown_path(name: &str, path: &str, error: &PathError, at: &str) -> String {
    let shorthand = if name == path {
        String::new()
    } else {
        format!(" (short for `{path}`)")
    };
    if error.valid.is_empty() {
        return format!(
            "sweep axis `{name}`{shorthand} ({at}): `{}` is a single value, so it has no field \
             `{}`\n  fix: sweep `{}` itself",
            error.parent, error.missing, error.parent
        );
    }
    let table = if error.parent.is_empty() {
        "the trial configuration".to_string()
    } else {
        format!("[{}]", error.parent)
    };
    let mut valid = error.valid.join(", ");
    if error.parent.is_empty() {
        let shorthands: Vec<String> = SHORTHANDS
            .iter()
            .map(|(short, long)| format!("{short} (= {long})"))
            .collect();
        valid = format!(
            "{valid}; shorthands: {}; reserved: zip, exclude",
            shorthands.join(", ")
        );
    }
    format!(
        "sweep axis `{name}`{shorthand} ({at}): {table} has no field `{}`\n  fix: use a \
         dotted path whose parts exist; valid fields of {table}: {valid}",
        error.missing
    )
}

fn check_duplicates(dimensions: &[Vec<Axis<'_>>], source: Source<'_>) -> Result<(), String> {
    let all: Vec<&Axis<'_>> = dimensions.iter().flatten().collect();
    for (i, first) in all.iter().enumerate() {
        if let Some(second) = all[i + 1..].iter().find(|a| a.path == first.path) {
            return Err(format!(
                "sweep axis `{}` ({}) and sweep axis `{}` ({}) both set `{}`\n  fix: keep one \
                 of them (an axis may appear once, either in [sweep] or in one [[sweep.zip]])",
                first.name,
                source.at(first.span.start),
                second.name,
                source.at(second.span.start),
                first.path
            ));
        }
    }
    Ok(())
}

/// Refuses a grid of more than [`MAX_TRIALS`] points, naming each dimension's length, before
/// any point is allocated.
fn check_grid_size(dimensions: &[Vec<Axis<'_>>]) -> Result<(), String> {
    let total = dimensions.iter().try_fold(1usize, |total, axes| {
        total.checked_mul(axes[0].values.len())
    });
    if total.is_some_and(|total| total <= MAX_TRIALS) {
        return Ok(());
    }
    let total = total.map_or_else(|| format!("more than {}", usize::MAX), |t| t.to_string());
    let factors: Vec<String> = dimensions
        .iter()
        .map(|axes| {
            let names: Vec<&str> = axes.iter().map(|a| a.name.as_str()).collect();
            format!("{} ({})", axes[0].values.len(), names.join(" + "))
        })
        .collect();
    Err(format!(
        "the sweep expands to {total} grid points ({}), more than the {MAX_TRIALS} trials one \
         experiment file may hold\n  fix: split the sweep over several experiment files, or \
         move axes that should advance together into one [[sweep.zip]] group",
        factors.join(" x ")
    ))
}

/// All combinations of one index per dimension; the first dimension varies slowest.
fn cartesian<'i>(dimensions: &[Vec<Axis<'i>>], source: Source<'_>) -> Vec<GridPoint<'i>> {
    let sizes: Vec<usize> = dimensions.iter().map(|axes| axes[0].values.len()).collect();
    let total: usize = sizes.iter().product();
    let mut points = Vec::with_capacity(total);
    let mut index = vec![0usize; dimensions.len()];
    for _ in 0..total {
        let assignments = dimensions
            .iter()
            .zip(&index)
            .flat_map(|(axes, &i)| axes.iter().map(move |axis| (axis, i)))
            .map(|(axis, i)| Assignment {
                name: axis.name.clone(),
                path: axis.path.clone(),
                value: axis.values[i].clone(),
                written: source.written(&axis.values[i]),
            })
            .collect();
        points.push(GridPoint { assignments });
        // Advance the odometer: last dimension fastest.
        for d in (0..index.len()).rev() {
            index[d] += 1;
            if index[d] < sizes[d] {
                break;
            }
            index[d] = 0;
        }
    }
    points
}

fn apply_excludes<'i>(
    points: Vec<GridPoint<'i>>,
    sweep: &RawSweep<'i>,
    dimensions: &[Vec<Axis<'i>>],
    source: Source<'_>,
) -> Result<Vec<GridPoint<'i>>, String> {
    let axis_names: Vec<&str> = dimensions
        .iter()
        .flatten()
        .map(|a| a.name.as_str())
        .collect();
    // Each filter as (path, value) pairs.
    let mut filters = Vec::new();
    for filter in &sweep.excludes {
        let mut entries = Vec::new();
        for (name, value) in &filter.entries {
            let path = resolve_name(name);
            if !dimensions.iter().flatten().any(|a| a.path == path) {
                return Err(format!(
                    "[[sweep.exclude]] ({}): `{name}` is not a sweep axis\n  fix: name one of \
                     the axes: {}",
                    source.at(value.span().start),
                    if axis_names.is_empty() {
                        "(none: add axes to [sweep])".into()
                    } else {
                        axis_names.join(", ")
                    }
                ));
            }
            entries.push((path.to_string(), plain(value)?));
        }
        filters.push((filter, entries));
    }

    let matches = |point: &GridPoint<'_>, entries: &[(String, toml::Value)]| {
        entries.iter().all(|(path, wanted)| {
            point
                .assignments
                .iter()
                .find(|a| &a.path == path)
                .and_then(|a| plain(&a.value).ok())
                .is_some_and(|v| same_value(&v, wanted))
        })
    };
    for (filter, entries) in &filters {
        if !points.iter().any(|p| matches(p, entries)) {
            return Err(format!(
                "[[sweep.exclude]] ({}) matches no grid point\n  fix: check its values against \
                 the axis lists (values must be spelled as in the axis)",
                source.at(filter.span.start)
            ));
        }
    }
    let total = points.len();
    let kept: Vec<GridPoint<'i>> = points
        .into_iter()
        .filter(|p| !filters.iter().any(|(_, e)| matches(p, e)))
        .collect();
    if kept.is_empty() {
        return Err(format!(
            "[[sweep.exclude]] removes every one of the {total} grid points, leaving nothing to run\n  fix: \
             narrow the exclude filters (add more `axis = value` lines to each) or remove some"
        ));
    }
    Ok(kept)
}

/// Equality of TOML values with integers and floats compared numerically.
fn same_value(a: &toml::Value, b: &toml::Value) -> bool {
    use toml::Value::{Array, Float, Integer};
    match (a, b) {
        (Integer(x), Float(y)) | (Float(y), Integer(x)) => (*x as f64) == *y,
        (Array(xs), Array(ys)) => {
            xs.len() == ys.len() && xs.iter().zip(ys).all(|(x, y)| same_value(x, y))
        }
        _ => a == b,
    }
}

#[cfg(test)]
mod tests {
    use super::super::schema::parse_raw;
    use super::*;

    fn expand_text(sweep: &str) -> Result<Vec<(String, Vec<String>)>, String> {
        let text: &'static str =
            Box::leak(format!("[experiment]\nname = \"t\"\n{sweep}").into_boxed_str());
        let raw = parse_raw(text)?;
        let points = expand(&raw.sweep, Source(text))?;
        Ok(points
            .iter()
            .map(|p| {
                (
                    p.label(),
                    p.assignments.iter().map(|a| a.path.clone()).collect(),
                )
            })
            .collect())
    }

    fn labels(sweep: &str) -> Vec<String> {
        expand_text(sweep)
            .unwrap()
            .into_iter()
            .map(|(label, _)| label)
            .collect()
    }

    #[test]
    fn no_sweep_is_one_base_point() {
        assert_eq!(labels(""), ["base"]);
    }

    #[test]
    fn grid_is_a_cartesian_product_in_file_order() {
        let got = labels("[sweep]\nquantizer = [\"fp32\", \"ternary\"]\nseed = [1, 2, 3]\n");
        assert_eq!(got.len(), 6);
        assert_eq!(got[0], "quantizer=fp32 seed=1");
        assert_eq!(got[1], "quantizer=fp32 seed=2");
        assert_eq!(got[5], "quantizer=ternary seed=3");
        let (_, paths) = &expand_text("[sweep]\nquantizer = [\"fp32\"]\n").unwrap()[0];
        assert_eq!(paths, &["quant.scheme"]);
    }

    #[test]
    fn zip_groups_advance_together() {
        let got = labels(
            "[sweep]\nseed = [1, 2]\n[[sweep.zip]]\n\"train.lr\" = [1e-3, 3e-3]\n\
             quantizer = [\"fp32\", \"ternary\"]\n",
        );
        assert_eq!(
            got,
            [
                "seed=1 train.lr=1e-3 quantizer=fp32",
                "seed=1 train.lr=3e-3 quantizer=ternary",
                "seed=2 train.lr=1e-3 quantizer=fp32",
                "seed=2 train.lr=3e-3 quantizer=ternary",
            ]
        );
    }

    #[test]
    fn exclude_drops_matching_points() {
        let got = labels(
            "[sweep]\nquantizer = [\"fp32\", \"fp16\"]\nseed = [1, 2, 3]\n\
             [[sweep.exclude]]\nquantizer = \"fp16\"\nseed = 3\n\
             [[sweep.exclude]]\n\"quant.scheme\" = \"fp32\"\nseed = 1.0\n",
        );
        assert_eq!(
            got,
            [
                "quantizer=fp32 seed=2",
                "quantizer=fp32 seed=3",
                "quantizer=fp16 seed=1",
                "quantizer=fp16 seed=2"
            ]
        );
    }

    #[test]
    fn unknown_axis_names_the_missing_part_and_valid_fields() {
        let err = expand_text("[sweep]\n\"train.lrr\" = [1e-3]\n").unwrap_err();
        assert!(
            err.contains("`train.lrr`") && err.contains("[train] has no field `lrr`"),
            "{err}"
        );
        assert!(
            err.contains("line 4") && err.contains("batch_size") && err.contains(" lr,"),
            "{err}"
        );
        let err = expand_text("[sweep]\nquantiser = [\"fp32\"]\n").unwrap_err();
        assert!(err.contains("no field `quantiser`"), "{err}");
        assert!(
            err.contains("quantizer (= quant.scheme)") && err.contains("model"),
            "{err}"
        );
        let err = expand_text("[sweep]\n\"train.lr.x\" = [1]\n").unwrap_err();
        assert!(err.contains("`train.lr` is a single value"), "{err}");
        let err = expand_text("[sweep]\nmodel = [1]\n").unwrap_err();
        assert!(
            err.contains("names the table `model`") && err.contains("model.layers"),
            "{err}"
        );
    }

    #[test]
    fn wrong_value_type_names_axis_value_and_expected_type() {
        let err = expand_text("[sweep]\n\"model.layers\" = [2, \"four\"]\n").unwrap_err();
        assert!(
            err.contains("`model.layers`") && err.contains("\"four\""),
            "{err}"
        );
        assert!(err.contains("expects a non-negative integer"), "{err}");
        assert!(err.contains("line 4, column 22"), "{err}");
        let err = expand_text("[sweep]\nattention = [\"flesh\"]\n").unwrap_err();
        assert!(err.contains("\"naive\", \"math\", \"flash\""), "{err}");
        let err = expand_text("[sweep]\nseed = [-1]\n").unwrap_err();
        assert!(err.contains("`seed`") && err.contains("-1"), "{err}");
    }

    #[test]
    fn duplicate_axes_are_rejected() {
        let err = expand_text(
            "[sweep]\nquantizer = [\"fp32\"]\n[[sweep.zip]]\n\"quant.scheme\" = [\"int8\"]\n",
        )
        .unwrap_err();
        assert!(
            err.contains("`quantizer`") && err.contains("`quant.scheme`"),
            "{err}"
        );
        assert!(
            err.contains("both set `quant.scheme`") && err.contains("keep one"),
            "{err}"
        );
    }

    #[test]
    fn exclude_errors() {
        let err = expand_text("[sweep]\nseed = [1, 2]\n[[sweep.exclude]]\nquantizer = \"fp16\"\n")
            .unwrap_err();
        assert!(
            err.contains("`quantizer` is not a sweep axis") && err.contains("axes: seed"),
            "{err}"
        );
        let err = expand_text(
            "[sweep]\nseed = [1, 2]\n[[sweep.exclude]]\nseed = 1\n[[sweep.exclude]]\nseed = 2\n",
        )
        .unwrap_err();
        assert!(
            err.contains("removes every one of the 2 grid points"),
            "{err}"
        );
        let err = expand_text("[sweep]\nseed = [1, 2]\n[[sweep.exclude]]\nseed = 7\n").unwrap_err();
        assert!(err.contains("matches no grid point"), "{err}");
    }

    #[test]
    fn grids_larger_than_the_limit_are_refused_with_their_factors() {
        let values = |n: usize| {
            (1..=n)
                .map(|v| v.to_string())
                .collect::<Vec<_>>()
                .join(", ")
        };
        // 100 x 100 points is exactly the limit; one more value on an axis goes past it.
        let at_limit = format!(
            "[sweep]\nseed = [{}]\n\"train.epochs\" = [{}]\n",
            values(100),
            values(100)
        );
        assert_eq!(expand_text(&at_limit).unwrap().len(), MAX_TRIALS);
        let over = format!(
            "[sweep]\nseed = [{}]\n[[sweep.zip]]\n\"train.epochs\" = [{}]\n\
             \"model.layers\" = [{}]\n",
            values(100),
            values(101),
            values(101)
        );
        let err = expand_text(&over).unwrap_err();
        assert!(
            err.contains("expands to 10100 grid points")
                && err.contains("100 (seed) x 101 (train.epochs + model.layers)")
                && err.contains("fix:"),
            "{err}"
        );
        // A product past usize::MAX is refused the same way, without overflowing.
        let axes: String = [
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
            "dataset.max_len",
        ]
        .iter()
        .map(|axis| format!("\"{axis}\" = [{}]\n", values(60)))
        .collect();
        let err = expand_text(&format!("[sweep]\n{axes}")).unwrap_err();
        assert!(
            err.contains(&format!("expands to more than {}", usize::MAX)),
            "{err}"
        );
    }
}
