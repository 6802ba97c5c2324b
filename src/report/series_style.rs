//! How a measurement series becomes a chart line: its legend text and colour.
//!
//! When the done trials differ in attention kernel, every series is a line of its own, coloured
//! by attention kernel and labelled with it first; otherwise lines are coloured by scheme. Every
//! legend ends with the series' fitted growth exponent ([`Growth`]), so a reader sees `L^1.0`
//! against `L^2.0` without reading slopes off a log-log plot.
use super::chart::scheme_color;
use super::data::{ReportData, Series};
use super::growth::Growth;
use super::line_panel::PanelLine;

/// The growth exponent of `series`' medians against length.
pub fn series_growth(series: &Series) -> Option<Growth> {
    let points: Vec<(f64, f64)> = series
        .points
        .iter()
        .map(|p| (p.seq_len as f64, p.median))
        .collect();
    Growth::fit(&points)
}

/// The chart line of `series`, values divided by `scale` (e.g. bytes to MiB); `show_batch`
/// adds the batch size to the legend (for panels that mix batch sizes).
pub fn series_line(data: &ReportData, series: &Series, scale: f64, show_batch: bool) -> PanelLine {
    let attentions = data.attentions();
    let by_attention = attentions.len() > 1;
    let mut label = if by_attention {
        format!("{} attention — {}", series.attention, series.scheme)
    } else {
        series.scheme.clone()
    };
    if show_batch {
        label.push_str(&format!(", batch {}", series.batch));
    }
    label.push_str(&format!(", kernel: {}", series.kernel));
    if let Some(growth) = series_growth(series) {
        label.push_str(&format!(", growth {}", growth.describe()));
    }
    let color_index = if by_attention {
        attentions
            .iter()
            .position(|a| *a == series.attention)
            .unwrap_or(attentions.len())
    } else {
        data.scheme_index(&series.scheme)
    };
    PanelLine {
        label,
        color: scheme_color(color_index),
        points: series
            .points
            .iter()
            .map(|p| (p.seq_len as f64, p.median / scale, p.p95 / scale))
            .collect(),
    }
}
