//! The content of a report, independent of its format: headed sections of paragraphs, bullet
//! points, chart images and tables. [`super::markdown`] and [`super::html`] render the same
//! [`Document`], so `report.md` and `index.html` always say the same thing.
use super::chart::RenderedChart;
use super::data::{ReportData, BASELINE_SCHEME};
use super::growth::FIT_MIN_LEN;
use super::kernel_bench;
use super::notes::kernel_notes;
use super::scaling_bench;
use super::tables::{environment_table, growth_table, scheme_table, trial_table, Table};
use crate::kernels::energy::estimate_note;
use crate::store::{status, ExperimentKind};

/// A chart image in a section.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Image {
    /// Caption / alt text.
    pub title: String,
    /// File name relative to the report directory (the SVG).
    pub file: String,
}

/// A headed part of the report; renderers show its parts in field order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Section {
    /// Heading.
    pub heading: String,
    /// Plain-text paragraphs.
    pub paragraphs: Vec<String>,
    /// Plain-text bullet points.
    pub bullets: Vec<String>,
    /// Chart images.
    pub images: Vec<Image>,
    /// A table, if any.
    pub table: Option<Table>,
}

/// A whole report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Document {
    /// Title (names the experiment).
    pub title: String,
    /// Sections in reading order.
    pub sections: Vec<Section>,
}

/// Builds the report of `data` with `charts` (already rendered into the report directory), by
/// the experiment's kind: a kernel benchmark gets the sections of [`kernel_bench::sections`], a
/// model-size scaling benchmark those of [`scaling_bench::sections`].
pub fn build(data: &ReportData, charts: &[RenderedChart]) -> Document {
    match data.kind {
        ExperimentKind::ModelScaling => {
            return Document {
                title: format!("bitlab report: {} (model-size scaling)", data.experiment),
                sections: scaling_bench::sections(data, charts),
            };
        }
        ExperimentKind::KernelBench => {
            return Document {
                title: format!("bitlab report: {} (kernel benchmark)", data.experiment),
                sections: kernel_bench::sections(data, charts),
            };
        }
        ExperimentKind::TrialSweep => {}
    }
    let mut intro = Vec::new();
    if !data.description.trim().is_empty() {
        intro.push(data.description.trim().to_string());
    }
    intro.push(format!(
        "{} trials recorded: {}. Every figure and table below is computed from the results \
         database; charts and aggregates use done trials only, averaged over seeds.",
        data.trials.len(),
        status_counts(data)
    ));

    let environment_section = environment_section(data, "Environment (latest sweep)", Vec::new());

    let mut latency_notes = vec![format!(
        "Latency of fake-quantized (dequantized) schemes is {BASELINE_SCHEME} latency whenever the \
         kernel says so; which kernel ran is recorded with every measurement:"
    )];
    let notes = kernel_notes(data);
    if notes.is_empty() {
        latency_notes = vec!["No quantized scheme has latency measurements to compare.".into()];
    }

    let batch = data
        .table_batch()
        .map(|b| format!(" at batch {b}"))
        .unwrap_or_default();
    Document {
        title: format!("bitlab report: {}", data.experiment),
        sections: vec![
            Section { heading: "Overview".into(), paragraphs: intro, ..Section::default() },
            environment_section,
            Section {
                heading: "Charts".into(),
                paragraphs: vec![
                    "Latency and memory: markers are medians (mean over seeds), whiskers reach the \
                     p95. Memory is the peak RSS of a fresh process per point."
                        .into(),
                ],
                images: charts.iter().map(|c| Image { title: c.title.clone(), file: format!("{}.svg", c.name) }).collect(),
                ..Section::default()
            },
            Section { heading: "Which kernel was timed".into(), paragraphs: latency_notes, bullets: notes, ..Section::default() },
            Section {
                heading: "Per-scheme summary".into(),
                paragraphs: vec![format!(
                    "Mean ± sample standard deviation over seeds; gap to {BASELINE_SCHEME} in \
                     percentage points; storage ratio = mean artifact bytes / mean {BASELINE_SCHEME} \
                     artifact bytes. Matmul energy: the packed model's quantized linear layers."
                ), estimate_note()],
                table: Some(scheme_table(data)),
                ..Section::default()
            },
            Section {
                heading: "Growth with length".into(),
                paragraphs: vec![format!(
                    "Each series' growth exponent is the least-squares slope of log(median) \
                     against log(length), fitted over the lengths of at least {FIT_MIN_LEN:.0} \
                     tokens when two or more were measured, over every length otherwise: about 1 \
                     means linear growth, about 2 quadratic. Absolute peak memory includes \
                     libtorch and the weights, which do not grow; the growth of the memory \
                     needed by the pass itself is the `memory_delta` / `train_memory_delta` rows."
                )],
                table: Some(growth_table(data)),
                ..Section::default()
            },
            Section {
                heading: "Trials".into(),
                paragraphs: vec![format!(
                    "Every trial with its status. Latency in ms{batch} (median of the repeats); \
                     peak memory per input length."
                )],
                table: Some(trial_table(data)),
                ..Section::default()
            },
        ],
    }
}

/// `3 done, 1 failed`-style counts in a fixed status order.
fn status_counts(data: &ReportData) -> String {
    let counts: Vec<String> = [
        status::DONE,
        status::RUNNING,
        status::PENDING,
        status::FAILED,
        status::INTERRUPTED,
    ]
    .into_iter()
    .filter_map(|s| {
        let n = data.trials.iter().filter(|t| t.status == s).count();
        (n > 0).then(|| format!("{n} {s}"))
    })
    .collect();
    if counts.is_empty() {
        "none".into()
    } else {
        counts.join(", ")
    }
}

/// The environment of the experiment's latest sweep under `heading`, after `notes`; a section
/// that says so when no sweep was recorded.
pub fn environment_section(data: &ReportData, heading: &str, notes: Vec<String>) -> Section {
    let environment = environment_table(data);
    if environment.rows.is_empty() {
        Section {
            heading: "Environment".into(),
            paragraphs: vec!["No sweep was recorded for this experiment.".into()],
            ..Section::default()
        }
    } else {
        Section {
            heading: heading.into(),
            paragraphs: notes,
            table: Some(environment),
            ..Section::default()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::data::tests::trial;

    #[test]
    fn document_states_counts_kernels_and_tables() {
        let data = ReportData::new(
            "tiny",
            "A test.",
            None,
            vec![
                trial(1, "fp32", 0, "done", 0.8, 100),
                trial(2, "int8", 0, "done", 0.8, 50),
                trial(3, "int8", 1, "failed", 0.0, 0),
            ],
        );
        let doc = build(&data, &[]);
        assert_eq!(doc.title, "bitlab report: tiny");
        assert!(doc.sections[0].paragraphs[0] == "A test.");
        assert!(doc.sections[0].paragraphs[1].starts_with("3 trials recorded: 2 done, 1 failed."));
        assert!(doc.sections[1].paragraphs[0].contains("No sweep"));
        let kernels = &doc.sections[3];
        assert!(kernels.paragraphs[0].contains("is fp32 latency whenever the kernel says so"));
        assert_eq!(kernels.bullets.len(), 1);
        let growth = &doc.sections[5];
        assert_eq!(growth.heading, "Growth with length");
        // Latency at batch 1 and 4 for each done scheme; batch 1 has two lengths to fit.
        let rows = &growth.table.as_ref().unwrap().rows;
        assert_eq!(rows.len(), 4);
        assert_eq!(rows[0][4], "1.00", "fp32 batch 1: 1 ms @32, 2 ms @64");
        assert_eq!(rows[1][4], "—", "a single length has no exponent");
        assert_eq!(doc.sections[6].table.as_ref().unwrap().rows.len(), 3);
    }
}
