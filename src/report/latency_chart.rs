//! Inference latency vs sequence length: one line per scheme and kernel (per attention kernel
//! when trials differ in it), one panel per batch size; markers at the median over seeds,
//! whiskers to the p95; each legend entry ends with the line's fitted growth exponent.
//!
//! The legend names the kernel that ran, so a reader sees when a "quantized" scheme was timed
//! with dequantized fp32 weights (its latency is then fp32 latency; see DESIGN.md).
use plotters::coord::Shift;
use plotters::prelude::*;

use super::chart::Chart;
use super::data::ReportData;
use super::line_panel::LinePanel;
use super::series_style::series_line;
use crate::store::MeasurementKind;
use crate::Result;

/// Height in pixels of one batch-size panel.
const PANEL_HEIGHT: u32 = 460;

/// The latency chart (`latency.svg`, `latency.png`).
#[derive(Debug, Clone, Copy, Default)]
pub struct LatencyChart;

impl LatencyChart {
    /// One panel per batch size, by increasing batch.
    pub fn panels(data: &ReportData) -> Vec<LinePanel> {
        let series = data.series(MeasurementKind::Latency);
        let mut batches: Vec<i64> = series.iter().map(|s| s.batch).collect();
        batches.sort_unstable();
        batches.dedup();
        batches
            .into_iter()
            .map(|batch| LinePanel {
                caption: format!("batch {batch} (markers: median over seeds, whiskers: p95)"),
                y_desc: "forward latency (ms)".into(),
                lines: series
                    .iter()
                    .filter(|s| s.batch == batch)
                    .map(|s| series_line(data, s, 1.0, false))
                    .collect(),
            })
            .collect()
    }
}

impl Chart for LatencyChart {
    fn name(&self) -> &'static str {
        "latency"
    }

    fn title(&self) -> String {
        "Inference latency vs sequence length".into()
    }

    fn size(&self, data: &ReportData) -> (u32, u32) {
        let panels = Self::panels(data).len().max(1) as u32;
        (1000, 60 + PANEL_HEIGHT * panels)
    }

    fn missing(&self, data: &ReportData) -> Option<String> {
        data.series(MeasurementKind::Latency)
            .is_empty()
            .then(|| "no done trial has latency measurements".into())
    }

    fn draw<DB: DrawingBackend>(
        &self,
        data: &ReportData,
        area: &DrawingArea<DB, Shift>,
    ) -> Result<()> {
        let panels = Self::panels(data);
        for (panel, cell) in panels.iter().zip(area.split_evenly((panels.len(), 1))) {
            panel.draw(&cell)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::data::tests::trial;

    #[test]
    fn one_panel_per_batch_with_kernel_in_the_legend() {
        let data = ReportData::new(
            "e",
            "",
            None,
            vec![
                trial(1, "fp32", 0, "done", 0.8, 100),
                trial(2, "ternary", 0, "done", 0.7, 30),
            ],
        );
        let panels = LatencyChart::panels(&data);
        assert_eq!(panels.len(), 2);
        assert!(panels[0].caption.starts_with("batch 1"));
        assert_eq!(panels[0].lines.len(), 2);
        assert_eq!(
            panels[0].lines[1].label,
            "ternary, kernel: libtorch-fp32 (dequantized), growth L^1.00 (fit 32–64)"
        );
        assert_eq!(
            panels[0].lines[0].points,
            [(32.0, 1.0, 1.2), (64.0, 2.0, 2.4)]
        );
        assert_eq!(LatencyChart.size(&data).1, 60 + 2 * PANEL_HEIGHT);
    }

    #[test]
    fn failed_trials_leave_the_chart_empty() {
        let data = ReportData::new("e", "", None, vec![trial(1, "fp32", 0, "failed", 0.8, 100)]);
        assert!(LatencyChart.missing(&data).is_some());
    }
}
