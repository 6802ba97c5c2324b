//! Test accuracy against LoRA rank (the paper's LoRA ablation): one line per scheme (with its
//! warm-up and embedding settings), a point per rank at the mean over seeds; rank 0 is full
//! fine-tuning. The x axis is ordinal (ranks as categories), so 0, 4, 8, 16, 32 are evenly
//! spaced.
use plotters::coord::Shift;
use plotters::prelude::*;

use super::chart::{drawing, scheme_color, Chart};
use super::data::{lora_rank_of, scheme_without_rank, ReportData};
use super::stats::Summary;
use crate::store::MetricKey;
use crate::Result;

/// The LoRA-rank chart (`lora_rank.svg`, `lora_rank.png`).
#[derive(Debug, Clone, Copy, Default)]
pub struct LoraRankChart;

/// One line of the chart: a scheme and its (rank, accuracy % over seeds) points by rank.
#[derive(Debug, Clone, PartialEq)]
pub struct RankLine {
    /// Scheme with warm-up and embedding settings ([`scheme_without_rank`]).
    pub scheme: String,
    /// Colour index.
    pub color: usize,
    /// (rank, accuracy in percent over seeds), by increasing rank.
    pub points: Vec<(u64, Summary)>,
}

impl LoraRankChart {
    /// The ranks of done trials with accuracy, increasing.
    pub fn ranks(data: &ReportData) -> Vec<u64> {
        let mut ranks: Vec<u64> = data
            .done()
            .filter(|t| t.final_metric(MetricKey::TestAccuracy).is_some())
            .map(lora_rank_of)
            .collect();
        ranks.sort_unstable();
        ranks.dedup();
        ranks
    }

    /// One line per scheme, in order of first appearance.
    pub fn lines(data: &ReportData) -> Vec<RankLine> {
        let mut lines: Vec<RankLine> = Vec::new();
        for trial in data.done() {
            let scheme = scheme_without_rank(trial);
            if !lines.iter().any(|l| l.scheme == scheme) {
                lines.push(RankLine {
                    color: lines.len(),
                    scheme,
                    points: Vec::new(),
                });
            }
        }
        for line in &mut lines {
            for rank in Self::ranks(data) {
                let values: Vec<f64> = data
                    .done()
                    .filter(|t| scheme_without_rank(t) == line.scheme && lora_rank_of(t) == rank)
                    .filter_map(|t| t.final_metric(MetricKey::TestAccuracy))
                    .map(|a| a * 100.0)
                    .collect();
                if let Some(summary) = Summary::of(&values) {
                    line.points.push((rank, summary));
                }
            }
        }
        lines.retain(|l| !l.points.is_empty());
        lines
    }
}

impl Chart for LoraRankChart {
    fn name(&self) -> &'static str {
        "lora_rank"
    }

    fn title(&self) -> String {
        "Test accuracy against LoRA rank (0 = full fine-tuning)".into()
    }

    fn missing(&self, data: &ReportData) -> Option<String> {
        (Self::ranks(data).len() < 2)
            .then(|| "fewer than two LoRA ranks among the done trials".into())
    }

    fn draw<DB: DrawingBackend>(
        &self,
        data: &ReportData,
        area: &DrawingArea<DB, Shift>,
    ) -> Result<()> {
        let ranks = Self::ranks(data);
        let lines = Self::lines(data);
        let at = |rank: u64| ranks.iter().position(|&r| r == rank).unwrap_or(0) as f64;
        let values = lines.iter().flat_map(|l| &l.points).map(|p| p.1.mean);
        let low = values.clone().fold(f64::INFINITY, f64::min);
        let high = values.fold(f64::NEG_INFINITY, f64::max);
        let mut chart = ChartBuilder::on(area)
            .margin(15)
            .x_label_area_size(45)
            .y_label_area_size(60)
            .build_cartesian_2d(
                -0.3..(ranks.len() as f64 - 0.7),
                (low - 5.0).max(0.0)..(high + 5.0).min(100.0),
            )
            .map_err(drawing)?;
        chart
            .configure_mesh()
            .x_labels(ranks.len())
            .x_desc("LoRA rank (0 = full fine-tuning)")
            .y_desc("test accuracy (%)")
            .x_label_formatter(&|x| {
                let i = x.round();
                if (x - i).abs() < 1e-6 && i >= 0.0 {
                    ranks
                        .get(i as usize)
                        .map(u64::to_string)
                        .unwrap_or_default()
                } else {
                    String::new()
                }
            })
            .label_style(("sans-serif", 14))
            .axis_desc_style(("sans-serif", 14))
            .draw()
            .map_err(drawing)?;
        for line in &lines {
            let color = scheme_color(line.color);
            let points: Vec<(f64, f64)> =
                line.points.iter().map(|(r, s)| (at(*r), s.mean)).collect();
            chart
                .draw_series(LineSeries::new(points.clone(), color.stroke_width(2)))
                .map_err(drawing)?
                .label(line.scheme.clone())
                .legend(move |(x, y)| {
                    PathElement::new(vec![(x, y), (x + 22, y)], color.stroke_width(2))
                });
            chart
                .draw_series(points.iter().map(|&p| Circle::new(p, 4, color.filled())))
                .map_err(drawing)?;
        }
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::LowerRight)
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
    use crate::report::data::tests::trial;

    fn with_lora(mut t: crate::store::TrialRecord, rank: u64) -> crate::store::TrialRecord {
        t.config["lora"] = serde_json::json!({ "rank": rank });
        t
    }

    #[test]
    fn lines_group_schemes_over_ranks_and_average_seeds() {
        let data = ReportData::new(
            "e",
            "",
            None,
            vec![
                with_lora(trial(1, "fp32", 0, "done", 0.80, 100), 0),
                with_lora(trial(2, "fp32", 0, "done", 0.70, 100), 8),
                with_lora(trial(3, "fp32", 1, "done", 0.90, 100), 8),
                with_lora(trial(4, "ternary", 0, "done", 0.60, 100), 8),
                with_lora(trial(5, "ternary", 0, "failed", 0.10, 100), 0),
            ],
        );
        assert_eq!(LoraRankChart::ranks(&data), vec![0, 8]);
        let lines = LoraRankChart::lines(&data);
        assert_eq!(lines.len(), 2);
        assert_eq!(lines[0].scheme, "fp32");
        assert_eq!(lines[0].points.len(), 2);
        assert!((lines[0].points[1].1.mean - 80.0).abs() < 1e-9);
        assert_eq!(
            lines[1].points.iter().map(|p| p.0).collect::<Vec<_>>(),
            vec![8]
        );
        assert!(LoraRankChart.missing(&data).is_none());
    }

    #[test]
    fn one_rank_is_reported_missing() {
        let data = ReportData::new("e", "", None, vec![trial(1, "fp32", 0, "done", 0.8, 100)]);
        assert!(LoraRankChart.missing(&data).is_some());
    }
}
