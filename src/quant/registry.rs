//! The quantizer registry: one line per scheme, looked up by canonical name or alias.
//!
//! To add a scheme, write its file in `src/quant/` with a
//! `fn from_config(&QuantConfig) -> Result<Arc<dyn Quantizer>>` constructor and add one line to
//! `SCHEMES` (and any aliases to `ALIASES`).
//!
//! Quantizers declared in an experiment file (`[quantizers.NAME] kind = "uniform"`) are not in
//! the table: the experiment loader copies the declaration into the trial's `quant.uniform`, and
//! [`resolve`] builds a [`UniformQuantizer`] from it. Their packed tags (`uniform/b3/g64/sym`)
//! describe the layout, so [`resolve_packed`] needs no declaration.
use std::sync::Arc;

use super::uniform::{self, UniformQuantizer};
use super::QuantConfig;
use super::{
    BinaryQuantizer, Fp32Quantizer, HalfQuantizer, Int4Quantizer, Int8Quantizer, Nf4Quantizer,
    Quantizer, SchemeTag, TernaryQuantizer,
};
use crate::{Error, Result};

/// Builds a quantizer from the trial's quantization settings.
type Constructor = fn(&QuantConfig) -> Result<Arc<dyn Quantizer>>;

/// Every registered scheme: canonical name and constructor.
static SCHEMES: &[(&str, Constructor)] = &[
    ("fp32", Fp32Quantizer::from_config),
    ("fp16", HalfQuantizer::fp16_from_config),
    ("bf16", HalfQuantizer::bf16_from_config),
    ("int8", Int8Quantizer::from_config),
    ("int4", Int4Quantizer::from_config),
    ("ternary", TernaryQuantizer::from_config),
    ("binary", BinaryQuantizer::from_config),
    ("nf4", Nf4Quantizer::from_config),
];

/// Alternative spellings accepted in experiment files: (alias, canonical name).
static ALIASES: &[(&str, &str)] = &[
    ("fp", "fp32"),
    ("float32", "fp32"),
    ("f32", "fp32"),
    ("float16", "fp16"),
    ("f16", "fp16"),
    ("half", "fp16"),
    ("bfloat16", "bf16"),
    ("w8a8", "int8"),
    ("w4a16", "int4"),
    ("1.58bit", "ternary"),
    ("1.58-bit", "ternary"),
    ("b1.58", "ternary"),
    ("bitnet", "ternary"),
    ("1bit", "binary"),
    ("normalfloat4", "nf4"),
];

/// Canonical names of the registered schemes, in registration order.
pub fn names() -> Vec<&'static str> {
    SCHEMES.iter().map(|(name, _)| *name).collect()
}

/// Accepted aliases as (alias, canonical name) pairs.
pub fn aliases() -> Vec<(&'static str, &'static str)> {
    ALIASES.to_vec()
}

/// The registered scheme `name` names (canonical name or alias, case-insensitive), if any.
pub fn builtin(name: &str) -> Option<&'static str> {
    let wanted = name.trim().to_ascii_lowercase();
    let canonical = ALIASES
        .iter()
        .find(|(alias, _)| *alias == wanted)
        .map_or(wanted.as_str(), |(_, name)| *name);
    SCHEMES
        .iter()
        .find(|(name, _)| *name == canonical)
        .map(|(name, _)| *name)
}

/// Checks the name of a quantizer declared in an experiment file: `[a-z][a-z0-9_]*`, and not a
/// registered name or alias (a declaration must never change what `ternary` means).
/// The message says what is wrong and how to fix it.
pub fn check_declared_name(name: &str) -> std::result::Result<(), String> {
    if let Some(existing) = builtin(name) {
        return Err(format!(
            "the declared quantizer `{name}` shadows the built-in `{existing}`; fix: choose \
             another name, e.g. `my_{existing}` (built-ins: {})",
            names().join(", ")
        ));
    }
    let simple = name.starts_with(|c: char| c.is_ascii_lowercase())
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
    if !simple {
        return Err(format!(
            "the declared quantizer name `{name}` must match [a-z][a-z0-9_]*; fix: rename it, \
             e.g. [quantizers.int3_g64]"
        ));
    }
    Ok(())
}

/// Builds the quantizer `cfg.scheme` names (canonical name or alias, case-insensitive), with
/// `cfg.group_size` for group-wise schemes; when `cfg.uniform` holds a declared definition,
/// builds that [`UniformQuantizer`] under the name `cfg.scheme`. Errors list the known names.
pub fn resolve(cfg: &QuantConfig) -> Result<Arc<dyn Quantizer>> {
    if let Some(spec) = &cfg.uniform {
        check_declared_name(&cfg.scheme).map_err(|message| Error::Quantization {
            scheme: cfg.scheme.clone(),
            message: format!("quant.uniform is set, but {message}"),
        })?;
        return uniform::declared(&cfg.scheme, spec);
    }
    if cfg.group_size == 0 {
        return Err(Error::Quantization {
            scheme: cfg.scheme.clone(),
            message: "quant.group_size is 0; fix: set quant.group_size to a positive number such \
                      as 32"
                .into(),
        });
    }
    let found = builtin(&cfg.scheme)
        .and_then(|canonical| SCHEMES.iter().find(|(name, _)| *name == canonical));
    match found {
        Some((_, construct)) => construct(cfg),
        None => Err(Error::UnknownQuantizer {
            name: cfg.scheme.clone(),
            known: known_list(),
        }),
    }
}

/// Builds the quantizer that unpacks a [`super::PackedTensor`] tagged `tag`: the registered
/// scheme it names (with the tag's group size, or the default one), or the uniform unpacker of
/// its layout (see [`super::uniform`]).
pub fn resolve_packed(tag: &SchemeTag) -> Result<Arc<dyn Quantizer>> {
    let (scheme, group_size) = match *tag {
        SchemeTag::Uniform(layout) => return Ok(Arc::new(UniformQuantizer::from_layout(&layout)?)),
        SchemeTag::Builtin(scheme) => (scheme, QuantConfig::default().group_size),
        SchemeTag::Grouped { scheme, group_size } => (scheme, group_size),
    };
    resolve(&QuantConfig {
        scheme: scheme.to_string(),
        group_size,
        uniform: None,
        ..Default::default()
    })
}

/// "fp32, fp16, ... (aliases: 1.58bit = ternary, ...)", and how to declare another.
fn known_list() -> String {
    let aliases: Vec<String> = ALIASES.iter().map(|(a, n)| format!("{a} = {n}")).collect();
    format!(
        "{} (aliases: {}); a uniform integer scheme can be declared in the experiment file as \
         [quantizers.NAME] with kind = \"uniform\" (see docs/QUANTIZERS.md)",
        names().join(", "),
        aliases.join(", ")
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use tch::{Device, Kind, Tensor};

    fn cfg(scheme: &str) -> QuantConfig {
        QuantConfig {
            scheme: scheme.into(),
            ..QuantConfig::default()
        }
    }

    #[test]
    fn every_canonical_name_resolves_to_itself() {
        for name in names() {
            assert_eq!(resolve(&cfg(name)).unwrap().name(), name);
        }
        assert!(resolve(&cfg("fp32")).unwrap().is_full_precision());
        assert!(!resolve(&cfg("ternary")).unwrap().is_full_precision());
    }

    #[test]
    fn aliases_resolve_case_insensitively() {
        assert_eq!(resolve(&cfg("1.58bit")).unwrap().name(), "ternary");
        assert_eq!(resolve(&cfg("B1.58")).unwrap().name(), "ternary");
        assert_eq!(resolve(&cfg("FP")).unwrap().name(), "fp32");
        for (alias, name) in aliases() {
            assert_eq!(resolve(&cfg(alias)).unwrap().name(), name);
            assert!(
                names().contains(&name),
                "alias {alias} points at unknown {name}"
            );
        }
    }

    #[test]
    fn unknown_names_list_the_known_ones() {
        let err = resolve(&cfg("int3")).unwrap_err();
        assert!(matches!(err, Error::UnknownQuantizer { .. }));
        let msg = err.to_string();
        for name in names() {
            assert!(msg.contains(name), "{msg}");
        }
        assert!(msg.contains("1.58bit = ternary"), "{msg}");
    }

    #[test]
    fn group_size_zero_is_refused() {
        let err = resolve(&QuantConfig {
            scheme: "int4".into(),
            group_size: 0,
            uniform: None,
            ..Default::default()
        })
        .unwrap_err();
        assert!(err.to_string().contains("group_size"), "{err}");
    }

    #[test]
    fn resolve_packed_rebuilds_the_group_size() {
        let int4 = resolve(&QuantConfig {
            scheme: "int4".into(),
            group_size: 16,
            uniform: None,
            ..Default::default()
        })
        .unwrap();
        let w = Tensor::randn([3, 40], (Kind::Float, Device::Cpu));
        let packed = int4.pack(&w).unwrap();
        assert_eq!(packed.scheme.to_string(), "int4/g16");
        let unpacker = resolve_packed(&packed.scheme).unwrap();
        assert!(unpacker
            .unpack(&packed)
            .unwrap()
            .equal(&int4.quantize_weight(&w)));
        let ternary: SchemeTag = "ternary".parse().unwrap();
        assert_eq!(resolve_packed(&ternary).unwrap().name(), "ternary");
        assert!("int4/gx".parse::<SchemeTag>().is_err());
        assert!(
            "1.58bit".parse::<SchemeTag>().is_err(),
            "packed tags use canonical names only"
        );
    }

    #[test]
    fn declared_uniform_quantizers_resolve_by_their_spec_and_never_shadow_builtins() {
        use crate::quant::{ScaleRule, UniformGranularity, UniformSpec};
        let spec = UniformSpec {
            bits: 3,
            granularity: UniformGranularity::Group,
            group_size: Some(16),
            symmetric: true,
            scale: ScaleRule::Absmax,
        };
        let declared = |scheme: &str| QuantConfig {
            scheme: scheme.into(),
            uniform: Some(spec.clone()),
            ..QuantConfig::default()
        };
        let q = resolve(&declared("int3_g16")).unwrap();
        assert_eq!(q.name(), "int3_g16");
        let w = Tensor::randn([3, 40], (Kind::Float, Device::Cpu));
        let packed = q.pack(&w).unwrap();
        assert_eq!(packed.scheme.to_string(), "uniform/b3/g16/sym");
        let unpacker = resolve_packed(&packed.scheme).unwrap();
        assert!(unpacker
            .unpack(&packed)
            .unwrap()
            .equal(&q.quantize_weight(&w)));
        for shadow in ["ternary", "1.58BIT", "nf4"] {
            let err = resolve(&declared(shadow)).unwrap_err().to_string();
            assert!(
                err.contains("shadows the built-in") && err.contains("fix:"),
                "{err}"
            );
        }
        assert!(check_declared_name("Int3").is_err());
        assert!(check_declared_name("3bit").is_err());
        assert!(check_declared_name("int3_g64").is_ok());
        let err = resolve(&cfg("int3_g64")).unwrap_err().to_string();
        assert!(err.contains("[quantizers.NAME]"), "{err}");
    }

    #[test]
    fn quantize_keeps_kind_and_drops_gradient_tracking() {
        let w = Tensor::randn([4, 8], (Kind::Float, Device::Cpu)).set_requires_grad(true);
        let x = Tensor::randn([2, 8], (Kind::Double, Device::Cpu));
        for name in names() {
            let q = resolve(&cfg(name)).unwrap();
            let wq = q.quantize_weight(&w);
            assert!(!wq.requires_grad(), "{name}");
            assert_eq!(wq.kind(), Kind::Float);
            assert_eq!(q.quantize_activation(&x).kind(), Kind::Double, "{name}");
        }
    }

    mod prop {
        use super::*;
        use proptest::prelude::*;

        proptest! {
            #![proptest_config(ProptestConfig::with_cases(24))]
            #[test]
            fn pack_unpack_round_trips_on_random_shapes(
                rows in 1i64..9, cols in 1i64..70, seed in 0i64..1000, scheme in 0usize..8
            ) {
                tch::manual_seed(seed);
                let name = names()[scheme % names().len()];
                let q = resolve(&QuantConfig { scheme: name.into(), group_size: 8, uniform: None , ..Default::default() }).unwrap();
                let w = Tensor::randn([rows, cols], (Kind::Float, Device::Cpu));
                let packed = q.pack(&w).unwrap();
                prop_assert!(q.unpack(&packed).unwrap().equal(&q.quantize_weight(&w)));
            }
        }
    }
}
