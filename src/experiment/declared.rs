//! Quantizers declared in an experiment file, with no code:
//!
//! ```toml
//! [quantizers.int3_g64]
//! kind = "uniform"
//! bits = 3
//! granularity = "group"
//! group_size = 64
//! symmetric = true
//! scale = "absmax"
//! ```
//!
//! Each `[quantizers.NAME]` table becomes a [`DeclaredQuantizer`]; a trial whose `quant.scheme`
//! is `NAME` gets the definition copied into its `quant.uniform` (see [`super::parse`]), so its
//! hash covers the definition and its artifact reloads without this file. `kind = "uniform"` is
//! the only kind: other schemes are Rust files under `src/quant/` (see `docs/QUANTIZERS.md`).
use serde::Deserialize;
use toml::de::{DeValue, ValueDeserializer};

use super::schema::{Source, SpannedValue};
use crate::quant::registry::check_declared_name;
use crate::quant::{UniformQuantizer, UniformSpec};

/// The kinds a declaration may name.
pub const DECLARABLE_KINDS: [&str; 1] = ["uniform"];

/// One `[quantizers.NAME]` table, checked.
#[derive(Debug, Clone, PartialEq)]
pub struct DeclaredQuantizer {
    /// The name trials use in `quant.scheme` (or the `quantizer` sweep axis).
    pub name: String,
    /// The uniform quantizer's definition.
    pub spec: UniformSpec,
}

/// Parses and checks the `[quantizers]` table; errors name the key, its line and the fix.
pub fn parse_declarations(
    value: Option<SpannedValue<'_>>,
    source: Source<'_>,
) -> Result<Vec<DeclaredQuantizer>, String> {
    let Some(value) = value else {
        return Ok(Vec::new());
    };
    let span = value.span();
    let DeValue::Table(table) = value.into_inner() else {
        return Err(format!(
            "`quantizers` ({}) must be a table of declarations\n  fix: write one \
             [quantizers.NAME] section per quantizer, e.g. [quantizers.int3_g64] with \
             kind = \"uniform\"",
            source.at(span.start)
        ));
    };
    let mut declared = Vec::new();
    for (key, value) in table {
        let name = key.get_ref().to_string();
        let at = source.at(key.span().start);
        check_declared_name(&name).map_err(|m| format!("[quantizers.{name}] ({at}): {m}"))?;
        let table_span = value.span();
        let DeValue::Table(mut fields) = value.into_inner() else {
            return Err(format!(
                "`quantizers.{name}` ({at}) must be a table\n  fix: write it as a \
                 [quantizers.{name}] section with kind = \"uniform\", bits, granularity, ..."
            ));
        };
        match fields.remove("kind").map(|k| (k.span(), k.into_inner())) {
            None => {
                return Err(format!(
                    "[quantizers.{name}] ({at}) has no `kind`\n  fix: add kind = \"uniform\" \
                     (the kind that needs no code)"
                ))
            }
            Some((_, DeValue::String(kind))) if DECLARABLE_KINDS.contains(&kind.as_ref()) => {}
            Some((kind_span, other)) => {
                return Err(format!(
                    "quantizers.{name}.kind ({}) = {} is not a kind that can be declared in \
                     TOML\n  fix: use kind = \"uniform\"; any other scheme is one Rust file under \
                     src/quant/ plus one registry line (see docs/QUANTIZERS.md)",
                    source.at(kind_span.start),
                    source.0.get(kind_span).unwrap_or(other.type_str()).trim()
                ))
            }
        }
        let fields = SpannedValue::new(table_span, DeValue::Table(fields));
        let spec = UniformSpec::deserialize(ValueDeserializer::from(fields)).map_err(|mut e| {
            e.set_input(Some(source.0));
            format!(
                "in [quantizers.{name}]: {e}fix: a uniform quantizer takes kind, bits, \
                 granularity (\"tensor\", \"channel\" or \"group\"), group_size, symmetric and \
                 scale (\"absmax\", \"absmean\" or \"mse\")"
            )
        })?;
        UniformQuantizer::new(&name, &spec).map_err(|e| {
            let message = match e {
                crate::Error::Quantization { message, .. } => message,
                other => other.to_string(),
            };
            format!("[quantizers.{name}] ({at}): {message}")
        })?;
        declared.push(DeclaredQuantizer { name, spec });
    }
    declared.sort_by_key(|d| d.name.clone());
    Ok(declared)
}

#[cfg(test)]
mod tests {
    use super::super::schema::parse_raw;
    use super::*;

    fn declare(body: &str) -> Result<Vec<DeclaredQuantizer>, String> {
        let text: &'static str =
            Box::leak(format!("[experiment]\nname = \"t\"\n{body}").into_boxed_str());
        let raw = parse_raw(text)?;
        parse_declarations(raw.quantizers, Source(text))
    }

    #[test]
    fn a_declaration_becomes_a_spec() {
        let got = declare(
            "[quantizers.int3_g64]\nkind = \"uniform\"\nbits = 3\ngranularity = \"group\"\n\
             group_size = 64\nscale = \"mse\"\n",
        )
        .unwrap();
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].name, "int3_g64");
        assert_eq!(got[0].spec.bits, 3);
        assert_eq!(got[0].spec.group_size, Some(64));
        assert!(got[0].spec.symmetric, "symmetric defaults to true");
    }

    #[test]
    fn errors_name_the_key_line_and_fix() {
        let err = declare("[quantizers.q]\nbits = 3\ngranularity = \"tensor\"\n").unwrap_err();
        assert!(err.contains("no `kind`") && err.contains("fix:"), "{err}");
        let err = declare("[quantizers.q]\nkind = \"lut\"\nbits = 3\n").unwrap_err();
        assert!(
            err.contains("quantizers.q.kind (line 4") && err.contains("\"lut\""),
            "{err}"
        );
        let err =
            declare("[quantizers.q]\nkind = \"uniform\"\nbits = 12\ngranularity = \"tensor\"\n")
                .unwrap_err();
        assert!(
            err.contains("[quantizers.q] (line 3") && err.contains("bits = 12"),
            "{err}"
        );
        let err = declare("[quantizers.q]\nkind = \"uniform\"\nbits = 3\ngranularity = \"row\"\n")
            .unwrap_err();
        assert!(
            err.contains("unknown variant `row`") && err.contains("line 6"),
            "{err}"
        );
        let err = declare(
            "[quantizers.q]\nkind = \"uniform\"\nbits = 3\ngranularity = \"tensor\"\nbitz = 1\n",
        )
        .unwrap_err();
        assert!(err.contains("unknown field `bitz`"), "{err}");
        let err = declare(
            "[quantizers.ternary]\nkind = \"uniform\"\nbits = 2\ngranularity = \"tensor\"\n",
        )
        .unwrap_err();
        assert!(err.contains("shadows the built-in `ternary`"), "{err}");
        let err =
            declare("[quantizers.q]\nkind = \"uniform\"\nbits = 3\ngranularity = \"group\"\n")
                .unwrap_err();
        assert!(err.contains("group_size = 64"), "{err}");
    }
}
