//! Training-step time and memory vs sequence length (`measure.training`): the time of one QAT
//! step (forward, backward, AdamW step), its peak RSS above the pre-step baseline, and the
//! absolute peak, one line per attention kernel (and scheme, kernel, batch), each legend entry
//! ending with the line's fitted growth exponent.
use plotters::coord::Shift;
use plotters::prelude::*;

use super::chart::Chart;
use super::data::ReportData;
use super::line_panel::LinePanel;
use super::memory_chart::byte_panels;
use super::series_style::series_line;
use crate::store::MeasurementKind;
use crate::Result;

/// Height in pixels of one panel.
const PANEL_HEIGHT: u32 = 460;

/// The training chart (`training.svg`, `training.png`).
#[derive(Debug, Clone, Copy, Default)]
pub struct TrainingChart;

impl TrainingChart {
    /// Step time, then peak memory above baseline, then absolute peak memory (those recorded).
    pub fn panels(data: &ReportData) -> Vec<LinePanel> {
        let steps = data.series(MeasurementKind::TrainStep);
        let mut panels = Vec::new();
        if !steps.is_empty() {
            panels.push(LinePanel {
                caption: "one training step: forward, backward, AdamW (markers: median over seeds, whiskers: p95)".into(),
                y_desc: "training step time (ms)".into(),
                lines: steps.iter().map(|s| series_line(data, s, 1.0, true)).collect(),
            });
        }
        panels.extend(byte_panels(
            data,
            &[
                (
                    MeasurementKind::TrainMemoryDelta,
                    "training-step peak RSS above the pre-step baseline",
                ),
                (
                    MeasurementKind::TrainMemory,
                    "training-step peak RSS of a fresh process",
                ),
            ],
        ));
        panels
    }
}

impl Chart for TrainingChart {
    fn name(&self) -> &'static str {
        "training"
    }

    fn title(&self) -> String {
        "Training step time and memory vs sequence length".into()
    }

    fn size(&self, data: &ReportData) -> (u32, u32) {
        let panels = Self::panels(data).len().max(1) as u32;
        (1000, 60 + PANEL_HEIGHT * panels)
    }

    fn missing(&self, data: &ReportData) -> Option<String> {
        Self::panels(data).is_empty().then(|| {
            "no done trial has training-step measurements (set measure.training = true)".into()
        })
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

    fn point(kind: MeasurementKind, seq_len: i64, value: f64) -> Measurement {
        Measurement {
            kind,
            kernel: kernel("k"),
            seq_len,
            batch: 1,
            median: value,
            p95: value,
            repeats: 1,
        }
    }

    #[test]
    fn a_line_per_attention_kernel_with_its_growth_exponent() {
        let mut trials = Vec::new();
        for (id, attention, power) in [(1, "flash", 1), (2, "naive", 2)] {
            let mut t = trial(id, "ternary", 0, "done", 0.8, 100);
            t.config["model"] = serde_json::json!({ "attention": attention });
            t.measurements = [512i64, 1024, 2048]
                .iter()
                .flat_map(|&l| {
                    let v = (l as f64).powi(power);
                    [
                        point(MeasurementKind::TrainStep, l, v),
                        point(MeasurementKind::TrainMemoryDelta, l, v * 1024.0),
                    ]
                })
                .collect();
            trials.push(t);
        }
        let data = ReportData::new("e", "", None, trials);
        let panels = TrainingChart::panels(&data);
        assert_eq!(panels.len(), 2, "time and memory above baseline");
        let labels: Vec<&str> = panels[0].lines.iter().map(|l| l.label.as_str()).collect();
        assert_eq!(
            labels,
            [
                "flash attention — ternary, batch 1, kernel: k, growth L^1.00 (fit 512–2048)",
                "naive attention — ternary, batch 1, kernel: k, growth L^2.00 (fit 512–2048)",
            ]
        );
        assert_ne!(panels[0].lines[0].color, panels[0].lines[1].color);
        assert!(panels[1].lines[1].label.contains("L^2.00"));
    }

    #[test]
    fn nothing_recorded_says_how_to_record_it() {
        let data = ReportData::new("e", "", None, vec![trial(1, "fp32", 0, "done", 0.8, 100)]);
        assert!(TrainingChart
            .missing(&data)
            .unwrap()
            .contains("measure.training"));
    }
}
