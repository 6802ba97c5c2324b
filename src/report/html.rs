//! `index.html`: the [`Document`] as one self-contained HTML page (inline CSS, no scripts); the
//! charts are the SVG files beside it, embedded with `<img>`. All text is HTML-escaped.
use super::document::Document;
use super::format::html_escape;
use super::tables::Table;

/// Inline style sheet of the page.
const STYLE: &str =
    "body{font-family:sans-serif;max-width:1200px;margin:2em auto;padding:0 1em;color:#222}\
table{border-collapse:collapse;margin:1em 0;font-size:0.9em}\
th,td{border:1px solid #ccc;padding:4px 8px;text-align:left}th{background:#f3f3f3}\
tr:nth-child(even) td{background:#fafafa}img{max-width:100%;border:1px solid #eee}\
figure{margin:1.5em 0}figcaption{font-weight:bold;margin-bottom:0.5em}";

/// Renders `doc` as an HTML page.
pub fn render(doc: &Document) -> String {
    let title = html_escape(&doc.title);
    let mut out = format!(
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n<title>{title}</title>\n\
         <style>{STYLE}</style>\n</head>\n<body>\n<h1>{title}</h1>\n"
    );
    for section in &doc.sections {
        out.push_str(&format!("<h2>{}</h2>\n", html_escape(&section.heading)));
        for paragraph in &section.paragraphs {
            out.push_str(&format!("<p>{}</p>\n", html_escape(paragraph)));
        }
        if !section.bullets.is_empty() {
            out.push_str("<ul>\n");
            for bullet in &section.bullets {
                out.push_str(&format!("<li>{}</li>\n", html_escape(bullet)));
            }
            out.push_str("</ul>\n");
        }
        for image in &section.images {
            let caption = html_escape(&image.title);
            out.push_str(&format!(
                "<figure><figcaption>{caption}</figcaption><img src=\"{}\" alt=\"{caption}\"></figure>\n",
                html_escape(&image.file)
            ));
        }
        if let Some(table) = &section.table {
            out.push_str(&table_html(table));
        }
    }
    out.push_str("</body>\n</html>\n");
    out
}

/// An HTML table with escaped cells.
fn table_html(table: &Table) -> String {
    let mut out = String::from("<table>\n<thead><tr>");
    for header in &table.headers {
        out.push_str(&format!("<th>{}</th>", html_escape(header)));
    }
    out.push_str("</tr></thead>\n<tbody>\n");
    for row in &table.rows {
        out.push_str("<tr>");
        for cell in row {
            out.push_str(&format!("<td>{}</td>", html_escape(cell)));
        }
        out.push_str("</tr>\n");
    }
    out.push_str("</tbody>\n</table>\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::document::{Image, Section};

    #[test]
    fn page_escapes_text_and_embeds_svgs() {
        let doc = Document {
            title: "report <x>".into(),
            sections: vec![Section {
                heading: "A & B".into(),
                paragraphs: vec!["1 < 2".into()],
                bullets: vec!["\"quoted\"".into()],
                images: vec![Image {
                    title: "Latency".into(),
                    file: "latency.svg".into(),
                }],
                table: Some(Table {
                    headers: vec!["<h>".into()],
                    rows: vec![vec!["<script>".into()]],
                }),
            }],
        };
        let html = render(&doc);
        assert!(html.starts_with("<!DOCTYPE html>"));
        assert!(html.contains("<title>report &lt;x&gt;</title>"));
        assert!(html.contains("<h2>A &amp; B</h2>") && html.contains("<p>1 &lt; 2</p>"));
        assert!(html.contains("<li>&quot;quoted&quot;</li>"));
        assert!(html.contains("<img src=\"latency.svg\" alt=\"Latency\">"));
        assert!(html.contains("<td>&lt;script&gt;</td>") && !html.contains("<script>"));
    }
}
