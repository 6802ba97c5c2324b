//! Model storage per scheme: one bar per scheme (mean artifact size over seeds), labelled with
//! its ratio to fp32 (e.g. `0.31x fp32`) and its bits per quantized weight.
//!
//! The size is that of the exported artifact file (packed weights, scales, embeddings and head
//! in full precision, as BitNet b1.58 keeps them), not a formula.
use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use super::chart::{drawing, scheme_color, Chart};
use super::data::ReportData;
use super::format::{byte_unit, number, ratio};
use crate::Result;

/// One bar of the storage chart.
#[derive(Debug, Clone, PartialEq)]
pub struct StorageBar {
    /// Scheme name.
    pub scheme: String,
    /// Mean artifact size in bytes.
    pub bytes: f64,
    /// Size relative to fp32, if fp32 was run.
    pub ratio: Option<f64>,
    /// Mean bits per quantized weight, if recorded.
    pub bits: Option<f64>,
    /// Colour index of the scheme.
    pub color_index: usize,
}

impl StorageBar {
    /// The text above the bar: ratio first, then bits per weight.
    pub fn labels(&self) -> Vec<String> {
        let mut lines = Vec::new();
        if let Some(r) = self.ratio {
            lines.push(format!("{} fp32", ratio(r)));
        }
        if let Some(bits) = self.bits {
            lines.push(format!(
                "{} bits/weight",
                number((bits * 100.0).round() / 100.0)
            ));
        }
        lines
    }
}

/// The storage chart (`storage.svg`, `storage.png`).
#[derive(Debug, Clone, Copy, Default)]
pub struct StorageChart;

impl StorageChart {
    /// One bar per scheme with a recorded artifact size, in scheme order.
    pub fn bars(data: &ReportData) -> Vec<StorageBar> {
        data.scheme_summaries()
            .into_iter()
            .filter_map(|s| {
                Some(StorageBar {
                    color_index: data.scheme_index(&s.scheme),
                    bytes: s.storage_bytes?,
                    ratio: s.storage_ratio,
                    bits: s.bits_per_quantized_weight,
                    scheme: s.scheme,
                })
            })
            .collect()
    }
}

impl Chart for StorageChart {
    fn name(&self) -> &'static str {
        "storage"
    }

    fn title(&self) -> String {
        "Model storage per scheme (artifact file size)".into()
    }

    fn missing(&self, data: &ReportData) -> Option<String> {
        Self::bars(data)
            .is_empty()
            .then(|| "no done trial recorded an artifact size".into())
    }

    fn draw<DB: DrawingBackend>(
        &self,
        data: &ReportData,
        area: &DrawingArea<DB, Shift>,
    ) -> Result<()> {
        let bars = Self::bars(data);
        let max = bars.iter().map(|b| b.bytes).fold(0.0, f64::max);
        let (scale, unit) = byte_unit(max);
        let names: Vec<String> = bars.iter().map(|b| b.scheme.clone()).collect();
        let y_max = if max > 0.0 { max / scale * 1.3 } else { 1.0 };
        let mut chart = ChartBuilder::on(area)
            .margin(15)
            .x_label_area_size(45)
            .y_label_area_size(80)
            .build_cartesian_2d((0..bars.len() as i32 - 1).into_segmented(), 0.0..y_max)
            .map_err(drawing)?;
        chart
            .configure_mesh()
            .disable_x_mesh()
            .x_labels(bars.len())
            .x_desc("scheme")
            .y_desc(format!("artifact size ({unit}), mean over seeds"))
            .x_label_formatter(&|v| segment_name(&names, v))
            .y_label_formatter(&|y| number(*y))
            .label_style(("sans-serif", 14))
            .light_line_style(BLACK.mix(0.04))
            .axis_desc_style(("sans-serif", 14))
            .draw()
            .map_err(drawing)?;
        chart
            .draw_series(bars.iter().enumerate().map(|(i, bar)| {
                let i = i as i32;
                let top = bar.bytes / scale;
                let mut rect = Rectangle::new(
                    [
                        (SegmentValue::Exact(i), 0.0),
                        (SegmentValue::Exact(i + 1), top),
                    ],
                    scheme_color(bar.color_index).filled(),
                );
                rect.set_margin(0, 0, 20, 20);
                rect
            }))
            .map_err(drawing)?;
        let label_style = ("sans-serif", 15)
            .into_font()
            .color(&BLACK)
            .pos(Pos::new(HPos::Center, VPos::Bottom));
        for (i, bar) in bars.iter().enumerate() {
            let anchor = (SegmentValue::CenterOf(i as i32), bar.bytes / scale);
            let lines = bar.labels();
            let count = lines.len() as i32;
            chart
                .draw_series(lines.into_iter().enumerate().map(|(line, text)| {
                    let dy = -4 - 18 * (count - 1 - line as i32);
                    EmptyElement::at(anchor.clone()) + Text::new(text, (0, dy), label_style.clone())
                }))
                .map_err(drawing)?;
        }
        Ok(())
    }
}

/// The scheme name of a bar's segment (empty between bars).
pub fn segment_name(names: &[String], value: &SegmentValue<i32>) -> String {
    match value {
        SegmentValue::CenterOf(i) | SegmentValue::Exact(i) => usize::try_from(*i)
            .ok()
            .and_then(|i| names.get(i))
            .cloned()
            .unwrap_or_default(),
        SegmentValue::Last => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::data::tests::trial;

    #[test]
    fn bars_carry_ratio_to_fp32_and_bits() {
        let data = ReportData::new(
            "e",
            "",
            None,
            vec![
                trial(1, "fp32", 0, "done", 0.8, 1600),
                trial(2, "ternary", 0, "done", 0.7, 500),
            ],
        );
        let bars = StorageChart::bars(&data);
        assert_eq!(bars.len(), 2);
        assert_eq!(bars[1].ratio, Some(0.3125));
        assert_eq!(bars[1].labels(), ["0.31x fp32", "2 bits/weight"]);
        assert_eq!(bars[0].labels()[0], "1.00x fp32");
    }

    #[test]
    fn without_fp32_there_is_no_ratio() {
        let data = ReportData::new("e", "", None, vec![trial(1, "int8", 0, "done", 0.8, 1600)]);
        assert_eq!(StorageChart::bars(&data)[0].labels(), ["2 bits/weight"]);
    }

    #[test]
    fn segment_names() {
        let names = vec!["fp32".to_string(), "int8".to_string()];
        assert_eq!(segment_name(&names, &SegmentValue::CenterOf(1)), "int8");
        assert_eq!(segment_name(&names, &SegmentValue::Last), "");
        assert_eq!(segment_name(&names, &SegmentValue::CenterOf(5)), "");
    }
}
