//! The report template of both benchmarks (`bitlab bench kernels`: [`super::kernel_bench`];
//! `bitlab bench model`: [`super::scaling_bench`]): an overview, the environment of the latest
//! run, the charts, and the table of every point. Each benchmark supplies its own words, bullets
//! and table.
use std::collections::BTreeMap;

use super::chart::RenderedChart;
use super::data::{ReportData, BASELINE_SCHEME};
use super::document::{environment_section, Image, Section};
use super::tables::Table;
use crate::store::{Measurement, MeasurementKind, TrialRecord};

/// What one benchmark's report says; [`sections`] lays it out.
#[derive(Debug, Clone, PartialEq)]
pub struct BenchReport {
    /// The overview paragraph after the experiment's description.
    pub summary: String,
    /// Overview bullets (the headline figures).
    pub bullets: Vec<String>,
    /// What to keep in mind about the environment's timings.
    pub environment_note: String,
    /// What the charts show.
    pub charts_note: String,
    /// Heading of the table section.
    pub table_heading: String,
    /// Paragraphs before the table.
    pub table_notes: Vec<String>,
    /// One row per point.
    pub table: Table,
}

/// The sections of a benchmark report (after its title): Overview (the description, then the
/// summary and bullets), Environment (of the latest run; a sentence when none was recorded),
/// Charts, and the table.
pub fn sections(data: &ReportData, charts: &[RenderedChart], report: BenchReport) -> Vec<Section> {
    let mut overview = Vec::new();
    if !data.description.trim().is_empty() {
        overview.push(data.description.trim().to_string());
    }
    overview.push(report.summary);
    let environment_section = environment_section(
        data,
        "Environment (latest run)",
        vec![report.environment_note],
    );
    vec![
        Section {
            heading: "Overview".into(),
            paragraphs: overview,
            bullets: report.bullets,
            ..Section::default()
        },
        environment_section,
        Section {
            heading: "Charts".into(),
            paragraphs: vec![report.charts_note],
            images: charts
                .iter()
                .map(|c| Image {
                    title: c.title.clone(),
                    file: format!("{}.svg", c.name),
                })
                .collect(),
            ..Section::default()
        },
        Section {
            heading: report.table_heading,
            paragraphs: report.table_notes,
            table: Some(report.table),
            ..Section::default()
        },
    ]
}

/// Scheme names, the baseline first when present, then in order of first appearance (this
/// fixes chart colours).
pub fn baseline_first<'a>(schemes: impl IntoIterator<Item = &'a str>) -> Vec<String> {
    let schemes: Vec<&str> = schemes.into_iter().collect();
    let mut ordered: Vec<String> = Vec::new();
    if schemes.contains(&BASELINE_SCHEME) {
        ordered.push(BASELINE_SCHEME.into());
    }
    for scheme in schemes {
        if !ordered.iter().any(|s| s == scheme) {
            ordered.push(scheme.to_string());
        }
    }
    ordered
}

/// One point per token count (`seq_len`) of the trial's timings of `kind`, by increasing
/// token count (a later timing at the same count replaces an earlier one).
pub fn points_by_tokens<P>(
    trial: &TrialRecord,
    kind: MeasurementKind,
    point: impl Fn(&Measurement) -> P,
) -> Vec<P> {
    let mut by_tokens: BTreeMap<i64, P> = BTreeMap::new();
    for m in trial.measurements.iter().filter(|m| m.kind == kind) {
        by_tokens.insert(m.seq_len, point(m));
    }
    by_tokens.into_values().collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_baseline_leads_and_the_rest_keep_their_order() {
        assert_eq!(
            baseline_first(["ternary", "int8", "fp32", "ternary"]),
            ["fp32", "ternary", "int8"]
        );
        assert_eq!(baseline_first(["int8"]), ["int8"]);
    }

    #[test]
    fn the_layout_is_overview_environment_charts_table() {
        let data = ReportData::new("e", "  A benchmark.  ", None, Vec::new());
        let report = BenchReport {
            summary: "3 points.".into(),
            bullets: vec!["fast".into()],
            environment_note: "one machine".into(),
            charts_note: "panels".into(),
            table_heading: "Timings".into(),
            table_notes: vec!["ratios".into()],
            table: Table::default(),
        };
        let sections = sections(&data, &[], report);
        let headings: Vec<&str> = sections.iter().map(|s| s.heading.as_str()).collect();
        assert_eq!(headings, ["Overview", "Environment", "Charts", "Timings"]);
        assert_eq!(sections[0].paragraphs, ["A benchmark.", "3 points."]);
        assert_eq!(
            sections[1].paragraphs,
            ["No sweep was recorded for this experiment."]
        );
        assert_eq!(sections[3].paragraphs, ["ratios"]);
    }
}
