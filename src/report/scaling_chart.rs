//! Model-size scaling (`bitlab bench model`): ms per token against model width, one panel per
//! token count, resident weight memory and the estimated matmul energy per token against model
//! width; one line per scheme and kernel.
use plotters::coord::Shift;
use plotters::prelude::*;

use super::chart::{scheme_color, Chart};
use super::data::ReportData;
use super::line_panel::{LinePanel, PanelLine};
use super::scaling_bench::{scaling_points, scaling_schemes, ScalingPoint};
use crate::Result;

/// Pixel height of one panel.
const PANEL_HEIGHT: u32 = 440;
/// Pixel width of one panel.
const PANEL_WIDTH: u32 = 640;

/// The scaling chart (`scaling.svg`, `scaling.png`).
#[derive(Debug, Clone, Copy, Default)]
pub struct ScalingChart;

impl ScalingChart {
    /// One time panel per token count (increasing), the memory panel, then the energy panel
    /// (when the runs recorded the estimate).
    pub fn panels(data: &ReportData) -> Vec<LinePanel> {
        let points = scaling_points(data);
        let schemes = scaling_schemes(&points);
        let mut tokens: Vec<i64> = points.iter().map(|p| p.tokens).collect();
        tokens.sort_unstable();
        tokens.dedup();
        let lines = |of: &dyn Fn(&ScalingPoint) -> Option<(f64, f64)>, n: Option<i64>| {
            let mut lines = Vec::new();
            for (index, scheme) in schemes.iter().enumerate() {
                let here: Vec<&ScalingPoint> = points
                    .iter()
                    .filter(|p| p.scheme == *scheme && n.is_none_or(|n| p.tokens == n))
                    .collect();
                let mut line: Vec<(f64, f64, f64)> = Vec::new();
                for p in &here {
                    if let Some((median, p95)) = of(p) {
                        if !line.iter().any(|l| l.0 == p.d_model as f64) {
                            line.push((p.d_model as f64, median, p95));
                        }
                    }
                }
                if let Some(first) = here.first() {
                    lines.push(PanelLine {
                        label: format!("{scheme} — {}", first.kernel),
                        color: scheme_color(index),
                        points: line,
                    });
                }
            }
            lines
        };
        let mut panels: Vec<LinePanel> = tokens
            .iter()
            .map(|&n| LinePanel {
                caption: format!(
                    "n = {n} token{} per call{}",
                    if n == 1 { "" } else { "s" },
                    if n == 1 { " (decoding)" } else { " (prefill)" }
                ),
                y_desc: "ms per token".into(),
                lines: lines(
                    &|p| Some((p.ms_per_token(), p.p95_ms / p.tokens.max(1) as f64)),
                    Some(n),
                ),
            })
            .collect();
        let memory = |p: &ScalingPoint| {
            let mib = p.resident_weight_bytes as f64 / (1u64 << 20) as f64;
            Some((mib, mib))
        };
        panels.push(LinePanel {
            caption: "resident weight memory".into(),
            y_desc: "MiB of weights".into(),
            lines: lines(&memory, None),
        });
        let energy = |p: &ScalingPoint| {
            p.energy_estimate_pj_per_token
                .map(|pj| (pj / 1e6, pj / 1e6))
        };
        let energy_lines = lines(&energy, None);
        if energy_lines.iter().any(|l| !l.points.is_empty()) {
            panels.push(LinePanel {
                caption: "matmul energy per token (estimate, 7 nm per-op energies)".into(),
                y_desc: "µJ per token (estimate)".into(),
                lines: energy_lines,
            });
        }
        panels
    }
}

impl Chart for ScalingChart {
    fn name(&self) -> &'static str {
        "scaling"
    }

    fn title(&self) -> String {
        "Time per token, resident weight memory and estimated energy vs model size".into()
    }

    fn size(&self, data: &ReportData) -> (u32, u32) {
        let panels = Self::panels(data).len() as u32;
        (
            PANEL_WIDTH * 2,
            60 + PANEL_HEIGHT * panels.div_ceil(2).max(1),
        )
    }

    fn missing(&self, data: &ReportData) -> Option<String> {
        scaling_points(data)
            .is_empty()
            .then(|| "no done trial has model-scaling measurements".into())
    }

    fn draw<DB: DrawingBackend>(
        &self,
        data: &ReportData,
        area: &DrawingArea<DB, Shift>,
    ) -> Result<()> {
        let panels = Self::panels(data);
        let rows = panels.len().div_ceil(2).max(1);
        for (panel, cell) in panels.iter().zip(area.split_evenly((rows, 2))) {
            panel.draw_with_x_desc(&cell, "model width d_model (blocks grow with it)")?;
        }
        Ok(())
    }
}
