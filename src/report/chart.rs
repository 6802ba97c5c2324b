//! The [`Chart`] extension point and the code that renders a chart to SVG and PNG.
//!
//! Adding a chart is one file: a type implementing [`Chart`], plus one line in [`render_all`].
//! A chart draws once, generically over plotters' `DrawingBackend`; [`render_chart`] runs that
//! drawing on an `SVGBackend` and a `BitMapBackend`, so both files always show the same thing.
//! Charts read [`ReportData`] only (never the database or measurement code), as in criterion's
//! separation of measurement, analysis and report.
use std::fmt::Display;
use std::path::{Path, PathBuf};

use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use super::data::ReportData;
use super::font::ensure_font;
use super::{
    accuracy_chart, kernel_chart, latency_chart, lora_chart, memory_chart, scaling_chart,
    storage_chart, training_chart,
};
use crate::store::ExperimentKind;
use crate::{Error, Result};

/// One figure of a report.
///
/// Required: [`name`](Chart::name) (the file stem), [`title`](Chart::title),
/// [`missing`](Chart::missing) and [`draw`](Chart::draw). [`size`](Chart::size) defaults to
/// 960 x 600 pixels. When `missing` returns a reason, a notice with it is drawn instead of the
/// chart, so every report has the same files whatever was measured.
pub trait Chart {
    /// File stem: the chart is written to `<name>.svg` and `<name>.png`.
    fn name(&self) -> &'static str;
    /// Title drawn above the chart and used as its heading in the HTML and Markdown report.
    fn title(&self) -> String;
    /// Pixel size of the whole figure (title included); may grow with the data (e.g. panels).
    fn size(&self, _data: &ReportData) -> (u32, u32) {
        (960, 600)
    }
    /// Why there is nothing to draw (e.g. no done trial has latency measurements), if so.
    fn missing(&self, data: &ReportData) -> Option<String>;
    /// Draws the chart into `area` (below the title), using only done trials of `data`.
    fn draw<DB: DrawingBackend>(
        &self,
        data: &ReportData,
        area: &DrawingArea<DB, Shift>,
    ) -> Result<()>;
}

/// The files a rendered chart was written to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RenderedChart {
    /// The chart's file stem.
    pub name: String,
    /// Its title.
    pub title: String,
    /// The SVG file.
    pub svg: PathBuf,
    /// The PNG file.
    pub png: PathBuf,
}

/// Renders every chart of a report into `out_dir`, in the order the report shows them, by the
/// experiment's kind: the scaling chart for a model-scaling benchmark, the kernel chart for a
/// kernel benchmark, else the six model charts.
pub fn render_all(data: &ReportData, out_dir: &Path) -> Result<Vec<RenderedChart>> {
    match data.kind {
        ExperimentKind::ModelScaling => {
            return Ok(vec![render_chart(
                &scaling_chart::ScalingChart,
                data,
                out_dir,
            )?]);
        }
        ExperimentKind::KernelBench => {
            return Ok(vec![render_chart(
                &kernel_chart::KernelChart,
                data,
                out_dir,
            )?]);
        }
        ExperimentKind::TrialSweep => {}
    }
    Ok(vec![
        render_chart(&latency_chart::LatencyChart, data, out_dir)?,
        render_chart(&memory_chart::MemoryChart, data, out_dir)?,
        render_chart(&training_chart::TrainingChart, data, out_dir)?,
        render_chart(&storage_chart::StorageChart, data, out_dir)?,
        render_chart(&accuracy_chart::AccuracyChart, data, out_dir)?,
        render_chart(&lora_chart::LoraRankChart, data, out_dir)?,
    ])
}

/// Renders `chart` to `<out_dir>/<name>.svg` and `<out_dir>/<name>.png`.
pub fn render_chart<C: Chart>(
    chart: &C,
    data: &ReportData,
    out_dir: &Path,
) -> Result<RenderedChart> {
    ensure_font()?;
    let size = chart.size(data);
    let in_context = |e: Error| match e {
        Error::Report { message } => Error::Report {
            message: format!("chart `{}`: {message}", chart.name()),
        },
        other => other,
    };
    let svg = out_dir.join(format!("{}.svg", chart.name()));
    {
        let root = SVGBackend::new(&svg, size).into_drawing_area();
        draw_figure(chart, data, &root).map_err(in_context)?;
        root.present().map_err(|e| write_error(&svg, e))?;
    }
    let png = out_dir.join(format!("{}.png", chart.name()));
    {
        let root = BitMapBackend::new(&png, size).into_drawing_area();
        draw_figure(chart, data, &root).map_err(in_context)?;
        root.present().map_err(|e| write_error(&png, e))?;
    }
    Ok(RenderedChart {
        name: chart.name().to_string(),
        title: chart.title(),
        svg,
        png,
    })
}

/// White background, title, then the chart or the notice saying why it is empty.
fn draw_figure<C: Chart, DB: DrawingBackend>(
    chart: &C,
    data: &ReportData,
    root: &DrawingArea<DB, Shift>,
) -> Result<()> {
    root.fill(&WHITE).map_err(drawing)?;
    let area = root
        .titled(&chart.title(), ("sans-serif", 22))
        .map_err(drawing)?;
    match chart.missing(data) {
        Some(reason) => {
            let (w, h) = area.dim_in_pixel();
            let style = ("sans-serif", 16)
                .into_font()
                .color(&BLACK.mix(0.6))
                .pos(Pos::new(HPos::Center, VPos::Center));
            area.draw(&Text::new(reason, (w as i32 / 2, h as i32 / 2), style))
                .map_err(drawing)
        }
        None => chart.draw(data, &area),
    }
}

/// Converts a plotters drawing error into [`Error::Report`].
pub fn drawing<E: Display>(error: E) -> Error {
    Error::Report {
        message: format!("drawing failed: {error}"),
    }
}

/// The error for a chart file that could not be written.
fn write_error<E: Display>(path: &Path, error: E) -> Error {
    Error::Report {
        message: format!(
            "cannot write {}: {error}\n  fix: check that the report directory is writable",
            path.display()
        ),
    }
}

/// Colour of the scheme at `index` in [`ReportData::schemes`] (Tableau 10, then repeating).
pub fn scheme_color(index: usize) -> RGBColor {
    const TABLEAU10: [RGBColor; 10] = [
        RGBColor(31, 119, 180),
        RGBColor(255, 127, 14),
        RGBColor(44, 160, 44),
        RGBColor(214, 39, 40),
        RGBColor(148, 103, 189),
        RGBColor(140, 86, 75),
        RGBColor(227, 119, 194),
        RGBColor(127, 127, 127),
        RGBColor(188, 189, 34),
        RGBColor(23, 190, 207),
    ];
    TABLEAU10[index % TABLEAU10.len()]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::data::tests::trial;

    /// A chart that draws one rectangle, to test rendering independently of real charts.
    struct Square;

    impl Chart for Square {
        fn name(&self) -> &'static str {
            "square"
        }
        fn title(&self) -> String {
            "A <square> & more".into()
        }
        fn size(&self, _data: &ReportData) -> (u32, u32) {
            (200, 150)
        }
        fn missing(&self, data: &ReportData) -> Option<String> {
            data.trials.is_empty().then(|| "no trials".to_string())
        }
        fn draw<DB: DrawingBackend>(
            &self,
            _data: &ReportData,
            area: &DrawingArea<DB, Shift>,
        ) -> Result<()> {
            area.draw(&Rectangle::new([(10, 10), (50, 50)], RED.filled()))
                .map_err(drawing)
        }
    }

    #[test]
    fn a_chart_renders_to_svg_and_png_with_text() {
        let dir = tempfile::tempdir().unwrap();
        let data = ReportData::new("e", "", None, vec![trial(1, "fp32", 0, "done", 0.8, 100)]);
        let rendered = render_chart(&Square, &data, dir.path()).unwrap();
        let svg = std::fs::read_to_string(&rendered.svg).unwrap();
        assert!(
            svg.starts_with("<svg") && svg.trim_end().ends_with("</svg>"),
            "{svg}"
        );
        assert!(
            svg.contains("A &lt;square&gt; &amp; more"),
            "title is escaped text: {svg}"
        );
        assert!(svg.contains("<rect"));
        let png = std::fs::read(&rendered.png).unwrap();
        assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n");
    }

    #[test]
    fn missing_data_draws_the_reason() {
        let dir = tempfile::tempdir().unwrap();
        let data = ReportData::new("e", "", None, vec![]);
        let rendered = render_chart(&Square, &data, dir.path()).unwrap();
        let svg = std::fs::read_to_string(&rendered.svg).unwrap();
        assert!(
            svg.contains("no trials") && !svg.contains("<rect x=\"10\""),
            "{svg}"
        );
    }

    #[test]
    fn colors_differ_between_neighbouring_schemes() {
        assert_ne!(scheme_color(0), scheme_color(1));
        assert_eq!(scheme_color(0), scheme_color(10));
    }
}
