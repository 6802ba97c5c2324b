//! A panel of lines over sequence length with p95 whiskers, shared by the latency and memory
//! charts.
//!
//! x is the sequence length on a base-2 log axis (lengths are usually powers of two); y switches
//! to a log axis when the values span more than [`LOG_Y_SPAN`]x, so that small and large schemes
//! both stay readable.
use plotters::coord::ranged1d::{AsRangedCoord, ValueFormatter};
use plotters::coord::Shift;
use plotters::prelude::*;

use super::chart::drawing;
use super::format::number;
use crate::Result;

/// Above this max/min ratio of the y values the y axis is logarithmic.
pub const LOG_Y_SPAN: f64 = 20.0;

/// One line: markers at the medians, whiskers up to the p95s.
#[derive(Debug, Clone)]
pub struct PanelLine {
    /// Legend text (scheme and kernel).
    pub label: String,
    /// Line colour.
    pub color: RGBColor,
    /// (sequence length, median, p95), by increasing length, in the panel's unit.
    pub points: Vec<(f64, f64, f64)>,
}

/// A captioned panel of lines sharing one y unit.
#[derive(Debug, Clone)]
pub struct LinePanel {
    /// Caption above the panel (e.g. `batch 1`).
    pub caption: String,
    /// y axis description including the unit.
    pub y_desc: String,
    /// The lines.
    pub lines: Vec<PanelLine>,
}

impl LinePanel {
    /// Whether the y values span enough to need a log axis.
    pub fn wants_log_y(&self) -> bool {
        let (low, high) = self.y_bounds();
        low > 0.0 && high / low > LOG_Y_SPAN
    }

    /// Smallest median and largest p95 over all lines.
    fn y_bounds(&self) -> (f64, f64) {
        let points = self.lines.iter().flat_map(|l| &l.points);
        let low = points
            .clone()
            .map(|p| p.1.min(p.2))
            .fold(f64::INFINITY, f64::min);
        let high = points
            .map(|p| p.1.max(p.2))
            .fold(f64::NEG_INFINITY, f64::max);
        (low, high)
    }

    /// Smallest and largest sequence length over all lines.
    fn x_bounds(&self) -> (f64, f64) {
        let xs = self.lines.iter().flat_map(|l| &l.points).map(|p| p.0);
        (
            xs.clone().fold(f64::INFINITY, f64::min),
            xs.fold(f64::NEG_INFINITY, f64::max),
        )
    }

    /// Draws the panel into `area`, x described as the sequence length.
    pub fn draw<DB: DrawingBackend>(&self, area: &DrawingArea<DB, Shift>) -> Result<()> {
        self.draw_with_x_desc(area, "sequence length (tokens)")
    }

    /// Draws the panel into `area` with `x_desc` under the x axis (e.g. tokens per call).
    pub fn draw_with_x_desc<DB: DrawingBackend>(
        &self,
        area: &DrawingArea<DB, Shift>,
        x_desc: &str,
    ) -> Result<()> {
        let (x_low, x_high) = self.x_bounds();
        let (y_low, y_high) = self.y_bounds();
        if !(x_low.is_finite() && y_high.is_finite()) {
            return Ok(());
        }
        let mut lengths: Vec<f64> = self
            .lines
            .iter()
            .flat_map(|l| &l.points)
            .map(|p| p.0)
            .collect();
        lengths.sort_by(f64::total_cmp);
        lengths.dedup();
        // Ticks exactly at the measured lengths rather than at generic log-scale points.
        let x_range = ((x_low / 1.3).max(1e-3)..x_high * 1.3)
            .log_scale()
            .base(2.0)
            .with_key_points(lengths);
        if self.wants_log_y() {
            self.draw_with(
                area,
                x_desc,
                x_range,
                (y_low / 1.5..y_high * 1.5).log_scale(),
            )
        } else {
            let y_high = if y_high > 0.0 { y_high * 1.15 } else { 1.0 };
            self.draw_with(area, x_desc, x_range, 0.0..y_high)
        }
    }

    /// Draws with the given axis ranges (linear or log y).
    fn draw_with<DB, X, Y>(
        &self,
        area: &DrawingArea<DB, Shift>,
        x_desc: &str,
        x_range: X,
        y_range: Y,
    ) -> Result<()>
    where
        DB: DrawingBackend,
        X: AsRangedCoord<Value = f64>,
        X::CoordDescType: ValueFormatter<f64>,
        Y: AsRangedCoord<Value = f64>,
        Y::CoordDescType: ValueFormatter<f64>,
    {
        let mut chart = ChartBuilder::on(area)
            .caption(&self.caption, ("sans-serif", 17))
            .margin(12)
            .x_label_area_size(45)
            .y_label_area_size(75)
            .build_cartesian_2d(x_range, y_range)
            .map_err(drawing)?;
        chart
            .configure_mesh()
            .x_desc(x_desc)
            .y_desc(self.y_desc.as_str())
            .x_label_formatter(&|x| format!("{x:.0}"))
            .y_label_formatter(&|y| number(*y))
            .label_style(("sans-serif", 13))
            .light_line_style(BLACK.mix(0.04))
            .axis_desc_style(("sans-serif", 14))
            .draw()
            .map_err(drawing)?;
        for line in &self.lines {
            let color = line.color;
            let whisker = color.mix(0.6).stroke_width(1);
            chart
                .draw_series(line.points.iter().map(|&(x, median, p95)| {
                    PathElement::new(vec![(x, median), (x, p95)], whisker)
                }))
                .map_err(drawing)?;
            chart
                .draw_series(line.points.iter().map(|&(x, _, p95)| {
                    EmptyElement::at((x, p95)) + PathElement::new(vec![(-4, 0), (4, 0)], whisker)
                }))
                .map_err(drawing)?;
            chart
                .draw_series(
                    line.points
                        .iter()
                        .map(|&(x, median, _)| Circle::new((x, median), 3, color.filled())),
                )
                .map_err(drawing)?;
            chart
                .draw_series(LineSeries::new(
                    line.points.iter().map(|&(x, median, _)| (x, median)),
                    color.stroke_width(2),
                ))
                .map_err(drawing)?
                .label(line.label.as_str())
                .legend(move |(x, y)| {
                    PathElement::new(vec![(x, y), (x + 22, y)], color.stroke_width(2))
                });
        }
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::UpperLeft)
            .background_style(WHITE.mix(0.85))
            .border_style(BLACK.mix(0.3))
            .label_font(("sans-serif", 13))
            .draw()
            .map_err(drawing)?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn panel(values: &[(f64, f64, f64)]) -> LinePanel {
        LinePanel {
            caption: "batch 1".into(),
            y_desc: "ms".into(),
            lines: vec![PanelLine {
                label: "fp32".into(),
                color: RED,
                points: values.to_vec(),
            }],
        }
    }

    #[test]
    fn log_y_only_when_values_span_widely() {
        assert!(!panel(&[(32.0, 1.0, 1.2), (64.0, 2.0, 2.5)]).wants_log_y());
        assert!(panel(&[(32.0, 1.0, 1.2), (512.0, 40.0, 45.0)]).wants_log_y());
    }

    #[test]
    fn panel_draws_markers_whiskers_and_legend() {
        crate::report::font::ensure_font().unwrap();
        let mut svg = String::new();
        {
            let root = SVGBackend::with_string(&mut svg, (500, 300)).into_drawing_area();
            panel(&[(32.0, 1.0, 1.2), (64.0, 2.0, 2.5)])
                .draw(&root)
                .unwrap();
            root.present().unwrap();
        }
        assert!(svg.contains("<circle"), "markers");
        assert!(svg.contains("<polyline"), "lines and whiskers");
        assert!(svg.contains(">\nfp32\n</text>"), "legend: {svg}");
        assert!(
            svg.contains(">\n32\n</text>") && !svg.contains(">\n51\n</text>"),
            "ticks at measured lengths"
        );
        assert!(svg.contains("sequence length (tokens)"));
    }
}
