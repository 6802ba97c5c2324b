//! Test accuracy per scheme: bars at the mean over seeds, thin whiskers over the min–max range,
//! a thick segment over mean ± one standard deviation, and the number of seeds on each bar.
//! A dashed line marks the fp32 mean, so the gap of each scheme to full precision is visible.
use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use super::chart::{drawing, scheme_color, Chart};
use super::data::{ReportData, BASELINE_SCHEME};
use super::stats::Summary;
use super::storage_chart::segment_name;
use crate::Result;

/// The accuracy chart (`accuracy.svg`, `accuracy.png`).
#[derive(Debug, Clone, Copy, Default)]
pub struct AccuracyChart;

impl AccuracyChart {
    /// (scheme, colour index, accuracy over seeds in percent) for each scheme with accuracy.
    pub fn bars(data: &ReportData) -> Vec<(String, usize, Summary)> {
        data.scheme_summaries()
            .into_iter()
            .filter_map(|s| {
                let a = s.accuracy?;
                let percent = Summary {
                    n: a.n,
                    mean: a.mean * 100.0,
                    std: a.std * 100.0,
                    min: a.min * 100.0,
                    max: a.max * 100.0,
                };
                Some((s.scheme.clone(), data.scheme_index(&s.scheme), percent))
            })
            .collect()
    }

    /// The text above a bar, e.g. `84.10 ± 0.52 % (n=3)`.
    pub fn label(summary: &Summary) -> String {
        format!(
            "{:.2} ± {:.2} % (n={})",
            summary.mean, summary.std, summary.n
        )
    }
}

impl Chart for AccuracyChart {
    fn name(&self) -> &'static str {
        "accuracy"
    }

    fn title(&self) -> String {
        "Test accuracy per scheme (mean over seeds)".into()
    }

    fn missing(&self, data: &ReportData) -> Option<String> {
        Self::bars(data)
            .is_empty()
            .then(|| "no done trial recorded test_accuracy".into())
    }

    fn draw<DB: DrawingBackend>(
        &self,
        data: &ReportData,
        area: &DrawingArea<DB, Shift>,
    ) -> Result<()> {
        let bars = Self::bars(data);
        let names: Vec<String> = bars.iter().map(|b| b.0.clone()).collect();
        let top = bars
            .iter()
            .map(|b| b.2.max.max(b.2.mean + b.2.std))
            .fold(0.0, f64::max);
        let mut chart = ChartBuilder::on(area)
            .margin(15)
            .x_label_area_size(45)
            .y_label_area_size(70)
            .build_cartesian_2d(
                (0..bars.len() as i32 - 1).into_segmented(),
                0.0..(top + 12.0).min(115.0),
            )
            .map_err(drawing)?;
        chart
            .configure_mesh()
            .disable_x_mesh()
            .x_labels(bars.len())
            .x_desc("scheme")
            .y_desc("test accuracy (%)")
            .x_label_formatter(&|v| segment_name(&names, v))
            .y_label_formatter(&|y| {
                if *y <= 100.0 {
                    format!("{y:.0}")
                } else {
                    String::new()
                }
            })
            .label_style(("sans-serif", 14))
            .light_line_style(BLACK.mix(0.04))
            .axis_desc_style(("sans-serif", 14))
            .draw()
            .map_err(drawing)?;
        let at = |i: usize| SegmentValue::CenterOf(i as i32);
        chart
            .draw_series(bars.iter().enumerate().map(|(i, (_, color, s))| {
                let i = i as i32;
                let mut rect = Rectangle::new(
                    [
                        (SegmentValue::Exact(i), 0.0),
                        (SegmentValue::Exact(i + 1), s.mean),
                    ],
                    scheme_color(*color).mix(0.85).filled(),
                );
                rect.set_margin(0, 0, 25, 25);
                rect
            }))
            .map_err(drawing)?;
        let thin = BLACK.stroke_width(1);
        let thick = BLACK.stroke_width(4);
        chart
            .draw_series(
                bars.iter().enumerate().map(|(i, (_, _, s))| {
                    PathElement::new(vec![(at(i), s.min), (at(i), s.max)], thin)
                }),
            )
            .map_err(drawing)?;
        chart
            .draw_series(bars.iter().enumerate().flat_map(|(i, (_, _, s))| {
                [s.min, s.max].map(|y| {
                    EmptyElement::at((at(i), y)) + PathElement::new(vec![(-6, 0), (6, 0)], thin)
                })
            }))
            .map_err(drawing)?;
        chart
            .draw_series(bars.iter().enumerate().map(|(i, (_, _, s))| {
                PathElement::new(
                    vec![(at(i), s.mean - s.std), (at(i), s.mean + s.std)],
                    thick,
                )
            }))
            .map_err(drawing)?;
        let label_style = ("sans-serif", 14)
            .into_font()
            .color(&BLACK)
            .pos(Pos::new(HPos::Center, VPos::Bottom));
        chart
            .draw_series(bars.iter().enumerate().map(|(i, (_, _, s))| {
                EmptyElement::at((at(i), s.max.max(s.mean + s.std)))
                    + Text::new(Self::label(s), (0, -6), label_style.clone())
            }))
            .map_err(drawing)?;
        if let Some((_, _, baseline)) = bars.iter().find(|b| b.0 == BASELINE_SCHEME) {
            let y = baseline.mean;
            chart
                .draw_series(DashedLineSeries::new(
                    [(SegmentValue::Exact(0), y), (SegmentValue::Last, y)],
                    8,
                    6,
                    BLACK.mix(0.5).stroke_width(1),
                ))
                .map_err(drawing)?
                .label(format!("{BASELINE_SCHEME} mean {y:.2} %"))
                .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 22, y)], BLACK.mix(0.5)));
            chart
                .configure_series_labels()
                .position(SeriesLabelPosition::LowerRight)
                .background_style(WHITE.mix(0.85))
                .border_style(BLACK.mix(0.3))
                .label_font(("sans-serif", 13))
                .draw()
                .map_err(drawing)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::data::tests::trial;

    #[test]
    fn bars_are_percent_summaries_over_done_seeds() {
        let data = ReportData::new(
            "e",
            "",
            None,
            vec![
                trial(1, "fp32", 0, "done", 0.80, 100),
                trial(2, "fp32", 1, "done", 0.90, 100),
                trial(3, "ternary", 0, "failed", 0.10, 100),
            ],
        );
        let bars = AccuracyChart::bars(&data);
        assert_eq!(bars.len(), 1);
        let s = bars[0].2;
        assert!(
            (s.mean - 85.0).abs() < 1e-9
                && (s.min - 80.0).abs() < 1e-9
                && (s.max - 90.0).abs() < 1e-9
        );
        assert_eq!(AccuracyChart::label(&s), "85.00 ± 7.07 % (n=2)");
    }
}
