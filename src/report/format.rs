//! Text formatting shared by the tables, the HTML page and the charts: numbers, units, escaping.

/// A number with at most 6 significant digits and no trailing zeros; integers print exactly.
pub fn number(value: f64) -> String {
    if !value.is_finite() {
        return value.to_string();
    }
    if value.fract() == 0.0 && value.abs() < 1e15 {
        return format!("{}", value as i64);
    }
    let magnitude = value.abs().log10().floor() as i32;
    let decimals = (5 - magnitude).clamp(0, 12) as usize;
    let text = format!("{value:.decimals$}");
    if text.contains('.') {
        text.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        text
    }
}

/// A fraction in [0, 1] as a percentage with two decimals, e.g. `0.8412` -> `84.12`.
pub fn percent(fraction: f64) -> String {
    format!("{:.2}", fraction * 100.0)
}

/// A ratio as a multiplier with two decimals, e.g. `0.3125` -> `0.31x`.
pub fn ratio(value: f64) -> String {
    format!("{value:.2}x")
}

/// A byte count in binary units, e.g. `1536` -> `1.50 KiB`.
pub fn bytes(value: f64) -> String {
    let (scaled, unit) = byte_unit(value.abs());
    if unit == "B" {
        format!("{value:.0} B")
    } else {
        format!("{:.2} {unit}", value / scaled)
    }
}

/// The binary unit that suits `max_bytes` and its size in bytes, e.g. `(1048576.0, "MiB")`.
pub fn byte_unit(max_bytes: f64) -> (f64, &'static str) {
    const UNITS: [(f64, &str); 4] = [
        (1_073_741_824.0, "GiB"),
        (1_048_576.0, "MiB"),
        (1024.0, "KiB"),
        (1.0, "B"),
    ];
    UNITS
        .into_iter()
        .find(|(size, _)| max_bytes >= *size)
        .unwrap_or((1.0, "B"))
}

/// `text` with the five HTML special characters escaped.
pub fn html_escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            _ => out.push(c),
        }
    }
    out
}

/// `text` made safe for Markdown prose: `<` escaped so it is not read as an HTML tag.
pub fn markdown_text(text: &str) -> String {
    text.replace('<', "&lt;")
}

/// `text` made safe for one Markdown table cell: as [`markdown_text`], plus pipes escaped and
/// line breaks flattened.
pub fn markdown_cell(text: &str) -> String {
    markdown_text(text)
        .replace('|', "\\|")
        .replace(['\r', '\n'], " ")
}

/// `Some` value formatted with `f`, or an em dash for a missing value.
pub fn or_dash<T>(value: Option<T>, f: impl FnOnce(T) -> String) -> String {
    value.map(f).unwrap_or_else(|| "—".to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_keep_six_significant_digits() {
        assert_eq!(number(42.0), "42");
        assert_eq!(number(0.841234567), "0.841235");
        assert_eq!(number(1234.56789), "1234.57");
        assert_eq!(number(0.5), "0.5");
        assert_eq!(number(-3.25), "-3.25");
    }

    #[test]
    fn units_and_ratios() {
        assert_eq!(percent(0.8412), "84.12");
        assert_eq!(ratio(0.3125), "0.31x");
        assert_eq!(bytes(512.0), "512 B");
        assert_eq!(bytes(1536.0), "1.50 KiB");
        assert_eq!(bytes(3.0 * 1_048_576.0), "3.00 MiB");
        assert_eq!(byte_unit(2e9).1, "GiB");
    }

    #[test]
    fn escaping() {
        assert_eq!(
            html_escape(r#"<a href="x">&'"#),
            "&lt;a href=&quot;x&quot;&gt;&amp;&#39;"
        );
        assert_eq!(markdown_cell("a|b\nc"), "a\\|b c");
        assert_eq!(markdown_text("x <b> y"), "x &lt;b> y");
        assert_eq!(or_dash(None::<f64>, number), "—");
    }
}
