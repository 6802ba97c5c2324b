//! The scheme tag of a packed tensor: which quantizer's layout its bytes follow.
//!
//! A tag is written into artifacts as text, unchanged from earlier versions so old artifacts keep
//! loading: a registered scheme's canonical name (`ternary`), optionally followed by the group
//! size it was packed with (`int4/g32`), or a declared uniform scheme's layout
//! (`uniform/b3/g64/sym`, see [`super::uniform`]). [`SchemeTag`] is the only place that text is
//! parsed or written; [`super::registry::resolve_packed`] turns a tag back into its unpacker.
use std::fmt;
use std::str::FromStr;

use super::grid::Granularity;
use super::registry;
use crate::{Error, Result};

/// Text every uniform layout tag starts with.
const UNIFORM_PREFIX: &str = "uniform/";

/// The storage layout of a declared b-bit uniform integer scheme: all an unpacker needs, without
/// the experiment file that declared it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UniformLayout {
    /// Bits per code, 1..=8.
    pub bits: u32,
    /// Which weights share a step: [`Granularity::Tensor`], [`Granularity::Channel`] or
    /// [`Granularity::Group`].
    pub granularity: Granularity,
    /// Symmetric codes around 0 (true) or codes with a zero point (false).
    pub symmetric: bool,
}

/// The scheme tag of a [`super::PackedTensor`]: text such as `ternary`, `int4/g32` or
/// `uniform/b3/g64/sym` in the artifact file, typed here.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SchemeTag {
    /// A registered scheme whose packed form its canonical name fixes (`fp32`, `ternary`).
    Builtin(&'static str),
    /// A registered group-wise scheme and the group size it was packed with (`int4/g32`).
    Grouped {
        /// Canonical name of the registered scheme.
        scheme: &'static str,
        /// Weights per group along the input dimension (positive).
        group_size: usize,
    },
    /// A declared uniform integer scheme's layout (`uniform/b3/g64/sym`).
    Uniform(UniformLayout),
}

impl fmt::Display for UniformLayout {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{UNIFORM_PREFIX}b{}/", self.bits)?;
        match self.granularity {
            Granularity::Group(g) => write!(f, "g{g}")?,
            Granularity::Channel => write!(f, "channel")?,
            _ => write!(f, "tensor")?,
        }
        write!(f, "/{}", if self.symmetric { "sym" } else { "asym" })
    }
}

impl fmt::Display for SchemeTag {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SchemeTag::Builtin(scheme) => write!(f, "{scheme}"),
            SchemeTag::Grouped { scheme, group_size } => write!(f, "{scheme}/g{group_size}"),
            SchemeTag::Uniform(layout) => layout.fmt(f),
        }
    }
}

/// The error for text that is not a tag this version writes: `UnknownQuantizer` for a scheme
/// name the registry does not hold, `Quantization` (naming the tag) for a malformed one.
fn malformed(tag: &str, expected: &str) -> Error {
    Error::Quantization {
        scheme: tag.to_string(),
        message: format!(
            "packed scheme tag `{tag}` is malformed (expected {expected}); the data is corrupt"
        ),
    }
}

fn parse_uniform(tag: &str) -> Result<UniformLayout> {
    let expected = "uniform/b<bits>/<tensor|channel|g<N>>/<sym|asym>";
    let corrupt = || malformed(tag, expected);
    let parts: Vec<&str> = tag.split('/').collect();
    let [_, bits, layout, symmetry] = parts.as_slice() else {
        return Err(corrupt());
    };
    let bits: u32 = bits
        .strip_prefix('b')
        .and_then(|b| b.parse().ok())
        .ok_or_else(corrupt)?;
    let granularity = match *layout {
        "tensor" => Granularity::Tensor,
        "channel" => Granularity::Channel,
        g => Granularity::Group(
            g.strip_prefix('g')
                .and_then(|g| g.parse().ok())
                .ok_or_else(corrupt)?,
        ),
    };
    let symmetric = match *symmetry {
        "sym" => true,
        "asym" => false,
        _ => return Err(corrupt()),
    };
    Ok(UniformLayout {
        bits,
        granularity,
        symmetric,
    })
}

fn registered(tag: &str, scheme: &str) -> Result<&'static str> {
    registry::names()
        .into_iter()
        .find(|name| *name == scheme)
        .ok_or_else(|| Error::UnknownQuantizer {
            name: tag.to_string(),
            known: format!(
                "{} (a packed tag uses the canonical name, optionally followed by /g<group \
                 size>, or is a uniform layout {UNIFORM_PREFIX}b<bits>/<tensor|channel|g<N>>/\
                 <sym|asym>)",
                registry::names().join(", ")
            ),
        })
}

impl FromStr for SchemeTag {
    type Err = Error;

    /// Parses the tag text of an artifact; only the exact text [`fmt::Display`] writes is
    /// accepted (`int4/g032` or `uniform/b03/...` are corrupt, `1.58bit` is not a canonical name).
    fn from_str(tag: &str) -> Result<SchemeTag> {
        let parsed = if tag.starts_with(UNIFORM_PREFIX) {
            SchemeTag::Uniform(parse_uniform(tag)?)
        } else {
            match tag.split_once("/g") {
                Some((scheme, group)) => {
                    let scheme = registered(tag, scheme)?;
                    let group_size = group
                        .parse::<usize>()
                        .ok()
                        .filter(|&g| g > 0)
                        .ok_or_else(|| malformed(tag, "<scheme>/g<positive group size>"))?;
                    SchemeTag::Grouped { scheme, group_size }
                }
                None => SchemeTag::Builtin(registered(tag, tag)?),
            }
        };
        if parsed.to_string() != tag {
            return Err(malformed(tag, "the canonical spelling of the tag"));
        }
        Ok(parsed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_tag_form_round_trips_through_its_text() {
        for text in [
            "fp32",
            "ternary",
            "int4/g32",
            "int4/g128",
            "uniform/b3/g64/sym",
            "uniform/b2/channel/asym",
            "uniform/b8/tensor/sym",
        ] {
            let tag: SchemeTag = text.parse().unwrap();
            assert_eq!(tag.to_string(), text);
        }
        assert_eq!(
            "int4/g32".parse::<SchemeTag>().unwrap(),
            SchemeTag::Grouped {
                scheme: "int4",
                group_size: 32
            }
        );
        assert_eq!(
            "uniform/b3/g64/sym".parse::<SchemeTag>().unwrap(),
            SchemeTag::Uniform(UniformLayout {
                bits: 3,
                granularity: Granularity::Group(64),
                symmetric: true
            })
        );
    }

    #[test]
    fn an_unknown_scheme_is_a_typed_error_naming_the_tag() {
        for text in ["int3", "1.58bit", "int3/g32", ""] {
            match text.parse::<SchemeTag>() {
                Err(Error::UnknownQuantizer { name, known }) => {
                    assert_eq!(name, text);
                    assert!(known.contains("ternary"), "{known}");
                }
                other => panic!("`{text}`: expected UnknownQuantizer, got {other:?}"),
            }
        }
    }

    #[test]
    fn malformed_tags_are_refused_naming_the_tag() {
        for text in [
            "int4/gx",
            "int4/g0",
            "int4/g032",
            "uniform/b3/g64",
            "uniform/bx/g64/sym",
            "uniform/b03/g64/sym",
            "uniform/b3/row/sym",
            "uniform/b3/g64/signed",
        ] {
            match text.parse::<SchemeTag>() {
                Err(Error::Quantization { scheme, message }) => {
                    assert_eq!(scheme, text);
                    assert!(message.contains(text), "{message}");
                }
                other => panic!("`{text}`: expected Quantization, got {other:?}"),
            }
        }
    }
}
