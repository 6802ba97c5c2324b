//! Writes an experiment's headline results into a Markdown file (the README) between two marker
//! comments, so the figures quoted there come from the database, never from a keyboard.
use super::data::ReportData;
use super::markdown::table_markdown;
use super::tables::scheme_table;
use crate::kernels::energy::estimate_note;
use crate::store::{status, Store};
use crate::{Error, Result};
use std::path::Path;

/// Marker opening the generated section.
pub const START_MARKER: &str = "<!-- bitlab:results:start -->";
/// Marker closing the generated section.
pub const END_MARKER: &str = "<!-- bitlab:results:end -->";

/// The generated Markdown: provenance, the per-scheme summary table and the chart images
/// (linked under `report_dir`, relative to the README).
pub fn results_markdown(data: &ReportData, report_dir: &str) -> String {
    let done = data
        .trials
        .iter()
        .filter(|t| t.status == status::DONE)
        .count();
    let mut out = format!(
        "Experiment `{}`: {done} of {} trials done.",
        data.experiment,
        data.trials.len()
    );
    if let Some(sweep) = &data.sweep {
        let env = &sweep.environment;
        let commit = env
            .git_commit
            .as_deref()
            .map_or("unknown".to_string(), |c| c.chars().take(10).collect());
        let dirty = if env.git_dirty {
            " (with uncommitted changes)"
        } else {
            ""
        };
        out.push_str(&format!(
            " Latest sweep #{} ({}) started {} on {} with {} threads, device {}, commit {commit}{dirty}, \
             bitlab {}, libtorch {}.",
            sweep.id, sweep.status, sweep.started_at, env.cpu_model, env.threads, env.device, env.bitlab_version, env.libtorch_version
        ));
        if let Some(seconds) = sweep
            .ended_at
            .as_deref()
            .and_then(|end| elapsed_seconds(&sweep.started_at, end))
        {
            out.push_str(&format!(" That sweep took {:.1} minutes.", seconds / 60.0));
        }
    }
    out.push_str("\n\n");
    out.push_str(&table_markdown(&scheme_table(data)));
    out.push_str(&format!("\n{}\n\n", estimate_note()));
    for (file, title) in [
        ("accuracy", "Test accuracy"),
        ("storage", "Storage"),
        ("latency", "Latency vs sequence length"),
        ("memory", "Peak memory vs input length"),
    ] {
        out.push_str(&format!("![{title}]({report_dir}/{file}.png)\n"));
    }
    out.push_str(&format!(
        "\nFull report: [{report_dir}/report.md]({report_dir}/report.md).\n"
    ));
    out
}

fn elapsed_seconds(start: &str, end: &str) -> Option<f64> {
    let start = chrono::DateTime::parse_from_rfc3339(start).ok()?;
    let end = chrono::DateTime::parse_from_rfc3339(end).ok()?;
    Some((end - start).num_milliseconds() as f64 / 1e3)
}

/// Replaces the text between [`START_MARKER`] and [`END_MARKER`] in `readme` with the results of
/// `experiment` from `store`.
pub fn update_readme(
    store: &Store,
    experiment: &str,
    readme: &Path,
    report_dir: &str,
) -> Result<()> {
    let text = std::fs::read_to_string(readme).map_err(|e| Error::io(readme, e))?;
    let data = ReportData::load(store, experiment)?;
    let updated = replace_section(&text, &results_markdown(&data, report_dir)).ok_or_else(|| Error::Report {
        message: format!(
            "{} has no results section; add a line `{START_MARKER}` and a line `{END_MARKER}` where the results go",
            readme.display()
        ),
    })?;
    std::fs::write(readme, updated).map_err(|e| Error::io(readme, e))
}

/// `text` with the marked section's content replaced by `content`, or None without markers.
fn replace_section(text: &str, content: &str) -> Option<String> {
    let start = text.find(START_MARKER)? + START_MARKER.len();
    let end = start + text[start..].find(END_MARKER)?;
    Some(format!("{}\n{}{}", &text[..start], content, &text[end..]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replaces_only_the_marked_section() {
        let text = format!("# Title\n\nbefore\n{START_MARKER}\nold numbers\n{END_MARKER}\nafter\n");
        let updated = replace_section(&text, "new table\n").unwrap();
        assert_eq!(
            updated,
            format!("# Title\n\nbefore\n{START_MARKER}\nnew table\n{END_MARKER}\nafter\n")
        );
        // Idempotent: replacing again gives the same text.
        assert_eq!(replace_section(&updated, "new table\n").unwrap(), updated);
    }

    #[test]
    fn missing_markers_are_reported() {
        assert!(replace_section("no markers here", "x").is_none());
        assert!(replace_section(START_MARKER, "x").is_none());
    }

    #[test]
    fn elapsed_time_between_rfc3339_stamps() {
        let s = elapsed_seconds("2026-11-25T10:00:00.000Z", "2026-11-25T10:02:30.500Z").unwrap();
        assert!((s - 150.5).abs() < 1e-9);
    }
}
