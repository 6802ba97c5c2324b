//! Kernel time vs tokens per call (`bitlab bench kernels`): one panel per weight shape and
//! thread count, one line per scheme and kernel; markers at the median, whiskers to the p95.
//! Each legend entry names the scheme, the kernel that ran and the thread count.
use plotters::coord::Shift;
use plotters::prelude::*;

use super::chart::{scheme_color, Chart};
use super::data::ReportData;
use super::kernel_bench::{kernel_points, kernel_schemes, kernel_shapes, KernelPoint};
use super::line_panel::{LinePanel, PanelLine};
use crate::store::KernelId;
use crate::Result;

/// Pixel height of one row of panels.
const PANEL_HEIGHT: u32 = 420;
/// Pixel width of one panel.
const PANEL_WIDTH: u32 = 640;

/// The kernel chart (`kernels.svg`, `kernels.png`).
#[derive(Debug, Clone, Copy, Default)]
pub struct KernelChart;

impl KernelChart {
    /// Panels in reading order: per shape (first appearance), per thread count (increasing),
    /// leaving out combinations that were not measured; returns them and the number of grid
    /// columns (the number of thread counts).
    pub fn panels(data: &ReportData) -> (Vec<LinePanel>, usize) {
        let points = kernel_points(data);
        let schemes = kernel_schemes(&points);
        let mut threads: Vec<u64> = points.iter().map(|p| p.threads).collect();
        threads.sort_unstable();
        threads.dedup();
        let mut panels = Vec::new();
        for shape in kernel_shapes(&points) {
            for &thr in &threads {
                let here: Vec<&KernelPoint> = points
                    .iter()
                    .filter(|p| p.shape() == shape && p.threads == thr)
                    .collect();
                let mut lines: Vec<PanelLine> = Vec::new();
                for (index, scheme) in schemes.iter().enumerate() {
                    let mut kernels: Vec<&KernelId> = Vec::new();
                    for p in here.iter().filter(|p| p.scheme == *scheme) {
                        if !kernels.contains(&&p.kernel) {
                            kernels.push(&p.kernel);
                        }
                    }
                    for kernel in kernels {
                        let line: Vec<(f64, f64, f64)> = here
                            .iter()
                            .filter(|p| p.scheme == *scheme && p.kernel == *kernel)
                            .map(|p| (p.tokens as f64, p.median_ms, p.p95_ms))
                            .collect();
                        lines.push(PanelLine {
                            label: format!(
                                "{scheme} — {kernel}, {thr} thread{}",
                                if thr == 1 { "" } else { "s" }
                            ),
                            color: scheme_color(index),
                            points: line,
                        });
                    }
                }
                if lines.is_empty() {
                    continue;
                }
                panels.push(LinePanel {
                    caption: format!(
                        "{shape} [out, in], {thr} thread{}",
                        if thr == 1 { "" } else { "s" }
                    ),
                    y_desc: "time per call (ms)".into(),
                    lines,
                });
            }
        }
        (panels, threads.len().max(1))
    }
}

impl Chart for KernelChart {
    fn name(&self) -> &'static str {
        "kernels"
    }

    fn title(&self) -> String {
        "Matmul kernel time vs tokens per call".into()
    }

    fn size(&self, data: &ReportData) -> (u32, u32) {
        let (panels, columns) = Self::panels(data);
        let rows = panels.len().div_ceil(columns).max(1) as u32;
        (PANEL_WIDTH * columns as u32, 60 + PANEL_HEIGHT * rows)
    }

    fn missing(&self, data: &ReportData) -> Option<String> {
        kernel_points(data)
            .is_empty()
            .then(|| "no done trial has kernel benchmark measurements".into())
    }

    fn draw<DB: DrawingBackend>(
        &self,
        data: &ReportData,
        area: &DrawingArea<DB, Shift>,
    ) -> Result<()> {
        let (panels, columns) = Self::panels(data);
        let rows = panels.len().div_ceil(columns).max(1);
        for (panel, cell) in panels.iter().zip(area.split_evenly((rows, columns))) {
            panel.draw_with_x_desc(&cell, "tokens per call n (1 = matrix-vector)")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::chart::render_chart;
    use crate::report::kernel_bench::tests::bench_data;

    #[test]
    fn one_panel_per_shape_and_thread_count_with_kernel_and_threads_in_the_legend() {
        let data = bench_data();
        let (panels, columns) = KernelChart::panels(&data);
        assert_eq!(
            (panels.len(), columns),
            (2, 2),
            "64x128 ran on 2 threads only, 32x32 on 1"
        );
        let two_threads = &panels[0];
        assert_eq!(two_threads.caption, "64x128 [out, in], 2 threads");
        assert_eq!(two_threads.lines.len(), 2);
        assert_eq!(
            two_threads.lines[1].label,
            "ternary — bitlab-ternary-2bit-avx2, 2 threads"
        );
        assert_eq!(
            two_threads.lines[1].points,
            [(1.0, 0.2, 0.22000000000000003), (8.0, 0.5, 0.55)]
        );
        assert_eq!(panels[1].caption, "32x32 [out, in], 1 thread");
        assert_eq!(
            KernelChart.size(&data),
            (2 * PANEL_WIDTH, 60 + PANEL_HEIGHT)
        );
        let dir = tempfile::tempdir().unwrap();
        let rendered = render_chart(&KernelChart, &data, dir.path()).unwrap();
        let svg = std::fs::read_to_string(rendered.svg).unwrap();
        assert!(
            svg.contains("bitlab-ternary-2bit-avx2, 2 threads"),
            "legend"
        );
        assert!(svg.contains("tokens per call n"), "x axis");
    }

    #[test]
    fn model_experiments_have_no_kernel_chart() {
        let data = ReportData::new(
            "e",
            "",
            None,
            vec![crate::report::data::tests::trial(
                1, "fp32", 0, "done", 0.8, 100,
            )],
        );
        assert!(KernelChart.missing(&data).is_some());
    }
}
