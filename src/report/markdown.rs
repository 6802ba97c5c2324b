//! `report.md`: the [`Document`] as GitHub-flavoured Markdown, charts linked as SVG images.
use super::document::Document;
use super::format::{markdown_cell, markdown_text};
use super::tables::Table;

/// Renders `doc` as Markdown.
pub fn render(doc: &Document) -> String {
    let mut out = format!("# {}\n\n", markdown_cell(&doc.title));
    for section in &doc.sections {
        out.push_str(&format!("## {}\n\n", markdown_cell(&section.heading)));
        for paragraph in &section.paragraphs {
            out.push_str(&markdown_text(paragraph));
            out.push_str("\n\n");
        }
        for bullet in &section.bullets {
            out.push_str(&format!("- {}\n", markdown_text(bullet)));
        }
        if !section.bullets.is_empty() {
            out.push('\n');
        }
        for image in &section.images {
            let title = markdown_cell(&image.title);
            out.push_str(&format!("### {title}\n\n![{title}]({})\n\n", image.file));
        }
        if let Some(table) = &section.table {
            out.push_str(&table_markdown(table));
            out.push('\n');
        }
    }
    out
}

/// A Markdown pipe table.
pub(crate) fn table_markdown(table: &Table) -> String {
    let line = |cells: &[String]| {
        format!(
            "| {} |\n",
            cells
                .iter()
                .map(|c| markdown_cell(c))
                .collect::<Vec<_>>()
                .join(" | ")
        )
    };
    let mut out = line(&table.headers);
    out.push_str(&format!("|{}\n", "---|".repeat(table.headers.len())));
    for row in &table.rows {
        out.push_str(&line(row));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::document::{Image, Section};

    #[test]
    fn sections_render_as_markdown() {
        let doc = Document {
            title: "bitlab report: t".into(),
            sections: vec![Section {
                heading: "Trials".into(),
                paragraphs: vec!["Intro.".into()],
                bullets: vec!["one".into()],
                images: vec![Image {
                    title: "Latency".into(),
                    file: "latency.svg".into(),
                }],
                table: Some(Table {
                    headers: vec!["a".into(), "b|c".into()],
                    rows: vec![vec!["1".into(), "x\ny".into()]],
                }),
            }],
        };
        let md = render(&doc);
        assert!(md.starts_with("# bitlab report: t\n\n## Trials"));
        assert!(md.contains("## Trials\n\nIntro.\n\n- one\n"));
        assert!(md.contains("![Latency](latency.svg)"));
        assert!(
            md.contains("| a | b\\|c |\n|---|---|\n| 1 | x y |\n"),
            "{md}"
        );
    }
}
