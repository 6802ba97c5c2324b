//! The font charts are drawn with: DejaVu Sans, registered once with plotters' ab_glyph text.
//!
//! plotters' `ab_glyph` feature has no system font lookup; text needs a font registered under
//! the family name the styles use (`sans-serif`). Both the PNG (rasterized glyphs) and the SVG
//! (text extents for layout) backends need it.
use std::path::PathBuf;
use std::sync::OnceLock;

use plotters::style::{register_font, FontStyle};

use crate::{Error, Result};

/// Environment variable naming a TrueType font to use instead of DejaVu Sans.
pub const FONT_ENV: &str = "BITLAB_FONT";

/// Where DejaVu Sans lives on common Linux distributions.
const CANDIDATES: [&str; 4] = [
    "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",
    "/usr/share/fonts/dejavu/DejaVuSans.ttf",
    "/usr/share/fonts/TTF/DejaVuSans.ttf",
    "/usr/share/fonts/dejavu-sans-fonts/DejaVuSans.ttf",
];

/// Registers the chart font (once per process); an error explains how to install one.
pub fn ensure_font() -> Result<()> {
    static REGISTERED: OnceLock<std::result::Result<(), String>> = OnceLock::new();
    REGISTERED
        .get_or_init(register)
        .clone()
        .map_err(|message| Error::Report { message })
}

/// Registers the first font found among `$BITLAB_FONT` and the usual DejaVu paths.
fn register() -> std::result::Result<(), String> {
    let override_path = std::env::var_os(FONT_ENV).map(PathBuf::from);
    let candidates: Vec<PathBuf> = override_path
        .into_iter()
        .chain(CANDIDATES.iter().map(PathBuf::from))
        .collect();
    register_first(&candidates)
}

/// Reads and registers the first existing file of `candidates`; the error says how to fix it.
fn register_first(candidates: &[PathBuf]) -> std::result::Result<(), String> {
    let Some(path) = candidates.iter().find(|p| p.is_file()) else {
        return Err(format!(
            "no font to draw chart text with (looked for {})\n  fix: install DejaVu Sans \
             (`apt-get install fonts-dejavu-core`), or set {FONT_ENV} to a .ttf file",
            candidates
                .iter()
                .map(|p| p.display().to_string())
                .collect::<Vec<_>>()
                .join(", ")
        ));
    };
    let bytes =
        std::fs::read(path).map_err(|e| format!("cannot read font {}: {e}", path.display()))?;
    // plotters keeps a &'static reference to the font data for the life of the process.
    let bytes: &'static [u8] = Box::leak(bytes.into_boxed_slice());
    for style in [FontStyle::Normal, FontStyle::Bold] {
        register_font("sans-serif", style, bytes).map_err(|_| {
            format!(
                "{} is not a usable TrueType font\n  fix: install fonts-dejavu-core, or point \
                 {FONT_ENV} at a valid .ttf file",
                path.display()
            )
        })?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_font_error_names_the_package_to_install() {
        let err = register_first(&[PathBuf::from("/nonexistent/font.ttf")]).unwrap_err();
        assert!(
            err.contains("fonts-dejavu-core") && err.contains("/nonexistent/font.ttf"),
            "{err}"
        );
    }

    #[test]
    fn a_file_that_is_not_a_font_is_refused() {
        let file = tempfile::NamedTempFile::new().unwrap();
        std::fs::write(file.path(), b"not a font").unwrap();
        let err = register_first(&[file.path().to_path_buf()]).unwrap_err();
        assert!(err.contains("not a usable TrueType font"), "{err}");
    }

    #[test]
    fn the_installed_font_registers() {
        ensure_font().expect("chart tests need DejaVu Sans: apt-get install fonts-dejavu-core");
    }
}
