//! Peak memory vs input length: one line per scheme (and kernel, batch; per attention kernel
//! when trials differ in it), mean over seeds, each legend entry ending with the line's fitted
//! growth exponent.
//!
//! The top panel is the peak RSS of a fresh child process per point (`memory`: ru_maxrss is a
//! process-lifetime maximum, so each point needs its own process); the bottom panel, when
//! recorded, is the growth above the process baseline before the forward (`memory_delta`).
use plotters::coord::Shift;
use plotters::prelude::*;

use super::chart::Chart;
use super::data::ReportData;
use super::format::byte_unit;
use super::line_panel::LinePanel;
use super::series_style::series_line;
use crate::store::MeasurementKind;
use crate::Result;

/// Height in pixels of one panel.
const PANEL_HEIGHT: u32 = 460;

/// The memory chart (`memory.svg`, `memory.png`).
#[derive(Debug, Clone, Copy, Default)]
pub struct MemoryChart;

impl MemoryChart {
    /// One panel per recorded memory kind: peak RSS, then growth above baseline.
    pub fn panels(data: &ReportData) -> Vec<LinePanel> {
        byte_panels(
            data,
            &[
                (MeasurementKind::Memory, "peak RSS of a fresh process"),
                (
                    MeasurementKind::MemoryDelta,
                    "peak RSS above the pre-forward baseline",
                ),
            ],
        )
    }
}

/// One panel per `(kind, what)` with measurements, in binary byte units; `what` names the
/// quantity in the caption and the y axis.
pub fn byte_panels(data: &ReportData, panels: &[(MeasurementKind, &str)]) -> Vec<LinePanel> {
    panels
        .iter()
        .filter_map(|&(kind, what)| {
            let series = data.series(kind);
            if series.is_empty() {
                return None;
            }
            let max = series
                .iter()
                .flat_map(|s| &s.points)
                .map(|p| p.p95.max(p.median))
                .fold(0.0, f64::max);
            let (scale, unit) = byte_unit(max);
            Some(LinePanel {
                caption: format!("{what} (markers: median over seeds, whiskers: p95)"),
                y_desc: format!("{what} ({unit})"),
                lines: series
                    .iter()
                    .map(|s| series_line(data, s, scale, true))
                    .collect(),
            })
        })
        .collect()
}

impl Chart for MemoryChart {
    fn name(&self) -> &'static str {
        "memory"
    }

    fn title(&self) -> String {
        "Peak memory vs input length".into()
    }

    fn size(&self, data: &ReportData) -> (u32, u32) {
        let panels = Self::panels(data).len().max(1) as u32;
        (1000, 60 + PANEL_HEIGHT * panels)
    }

    fn missing(&self, data: &ReportData) -> Option<String> {
        Self::panels(data)
            .is_empty()
            .then(|| "no done trial has memory measurements".into())
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
    use crate::report::data::tests::{kernel, trial};
    use crate::store::Measurement;

    fn memory(kind: MeasurementKind, seq_len: i64, bytes: f64) -> Measurement {
        Measurement {
            kind,
            kernel: kernel("libtorch-fp32"),
            seq_len,
            batch: 1,
            median: bytes,
            p95: bytes,
            repeats: 1,
        }
    }

    #[test]
    fn panels_per_kind_in_binary_units() {
        let mut t = trial(1, "fp32", 0, "done", 0.8, 100);
        t.measurements = vec![
            memory(MeasurementKind::Memory, 32, 100.0 * 1_048_576.0),
            memory(MeasurementKind::Memory, 64, 120.0 * 1_048_576.0),
        ];
        let data = ReportData::new("e", "", None, vec![t.clone()]);
        let panels = MemoryChart::panels(&data);
        assert_eq!(panels.len(), 1);
        assert!(panels[0].y_desc.ends_with("(MiB)"));
        assert_eq!(
            panels[0].lines[0].points,
            [(32.0, 100.0, 100.0), (64.0, 120.0, 120.0)]
        );

        t.measurements
            .push(memory(MeasurementKind::MemoryDelta, 32, 2048.0));
        let data = ReportData::new("e", "", None, vec![t]);
        assert_eq!(MemoryChart::panels(&data).len(), 2);
    }

    #[test]
    fn no_memory_measurements_is_reported() {
        let data = ReportData::new("e", "", None, vec![trial(1, "fp32", 0, "done", 0.8, 100)]);
        assert!(MemoryChart.missing(&data).is_some());
    }
}
