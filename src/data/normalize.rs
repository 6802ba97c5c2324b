//! Text normalization applied before tokenization, both when a tokenizer is trained and when text
//! is encoded, so the two always see the same characters.
//!
//! Steps, in order: strip HTML tags (IMDB reviews contain `<br />`), decode the common HTML
//! entities, Unicode NFKC (full-width letters, ligatures and compatibility forms become their plain
//! equivalents), collapse runs of whitespace into one space, and optionally lowercase.
use unicode_normalization::UnicodeNormalization;

/// Cleans raw review text; see the module documentation for the exact steps.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Normalizer {
    /// Lowercase after NFKC.
    pub lowercase: bool,
}

impl Normalizer {
    /// Returns the normalized form of `text`.
    pub fn apply(&self, text: &str) -> String {
        let without_tags = strip_html_tags(text);
        let decoded = decode_entities(&without_tags);
        let nfkc: String = decoded.nfkc().collect();
        let collapsed = nfkc.split_whitespace().collect::<Vec<_>>().join(" ");
        if self.lowercase {
            collapsed.to_lowercase()
        } else {
            collapsed
        }
    }
}

/// Replaces every HTML tag (`<br />`, `<i>`, `</p>`, `<!-- -->`) with a space. A `<` that does not
/// open a tag (as in `a < b`) is kept, as is a `<` never closed by `>`.
fn strip_html_tags(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(start) = rest.find('<') {
        out.push_str(&rest[..start]);
        let after = &rest[start + 1..];
        let opens_tag = after
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_alphabetic() || c == '/' || c == '!');
        match (opens_tag, after.find('>')) {
            (true, Some(end)) => {
                out.push(' ');
                rest = &after[end + 1..];
            }
            _ => {
                out.push('<');
                rest = after;
            }
        }
    }
    out.push_str(rest);
    out
}

/// Decodes `&amp; &lt; &gt; &quot; &#39; &apos; &nbsp;` and numeric references (`&#233;`,
/// `&#xE9;`); anything else that starts with `&` is left as written.
fn decode_entities(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(start) = rest.find('&') {
        out.push_str(&rest[..start]);
        let after = &rest[start + 1..];
        // Entity names are short; a `;` further away belongs to ordinary text.
        let decoded = after
            .char_indices()
            .take(10)
            .find(|&(_, c)| c == ';')
            .and_then(|(end, _)| entity_char(&after[..end]).map(|c| (c, end)));
        match decoded {
            Some((c, end)) => {
                out.push(c);
                rest = &after[end + 1..];
            }
            None => {
                out.push('&');
                rest = after;
            }
        }
    }
    out.push_str(rest);
    out
}

/// The character an entity name (between `&` and `;`) stands for, if it is one we decode.
fn entity_char(name: &str) -> Option<char> {
    match name {
        "amp" => Some('&'),
        "lt" => Some('<'),
        "gt" => Some('>'),
        "quot" => Some('"'),
        "apos" => Some('\''),
        "nbsp" => Some(' '),
        _ => {
            let number = name.strip_prefix('#')?;
            let code = match number.strip_prefix(['x', 'X']) {
                Some(hex) => u32::from_str_radix(hex, 16).ok()?,
                None => number.parse().ok()?,
            };
            char::from_u32(code)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const CASED: Normalizer = Normalizer { lowercase: false };
    const LOWER: Normalizer = Normalizer { lowercase: true };

    #[test]
    fn html_line_breaks_become_single_spaces() {
        assert_eq!(
            CASED.apply("Great film.<br /><br />Loved it."),
            "Great film. Loved it."
        );
        assert_eq!(
            CASED.apply("<i>Zentropa</i> is <b>bold</b>"),
            "Zentropa is bold"
        );
    }

    #[test]
    fn less_than_that_opens_no_tag_is_kept() {
        assert_eq!(CASED.apply("a < b and 3 <5"), "a < b and 3 <5");
        assert_eq!(CASED.apply("unclosed <br"), "unclosed <br");
    }

    #[test]
    fn common_entities_are_decoded() {
        assert_eq!(
            CASED.apply("Tom &amp; Jerry &lt;3 &quot;wow&quot; it&#39;s &#x41;&#66;"),
            "Tom & Jerry <3 \"wow\" it's AB"
        );
        // Escaped markup is text, not a tag, once decoded.
        assert_eq!(CASED.apply("&lt;br&gt;"), "<br>");
    }

    #[test]
    fn unknown_entities_and_bare_ampersands_are_kept() {
        assert_eq!(CASED.apply("R&D &bogus; & more"), "R&D &bogus; & more");
    }

    #[test]
    fn nfkc_folds_full_width_letters_and_ligatures() {
        assert_eq!(CASED.apply("ＡＢＣ ｆｉｌｍ"), "ABC film");
        assert_eq!(CASED.apply("ﬁne"), "fine");
    }

    #[test]
    fn whitespace_runs_collapse_and_ends_are_trimmed() {
        assert_eq!(CASED.apply("  a\t\tb \n\n c\u{3000}d  "), "a b c d");
    }

    #[test]
    fn lowercase_is_optional() {
        assert_eq!(LOWER.apply("The MOVIE"), "the movie");
        assert_eq!(CASED.apply("The MOVIE"), "The MOVIE");
        assert_eq!(LOWER.apply("ＡＢＣ"), "abc");
    }
}
