//! The quantizer registry: one line per scheme, looked up by canonical name or alias.
//!
//! To add a scheme, write its file in `src/quant/` with a
//! `fn from_config(&QuantConfig) -> Result<Arc<dyn Quantizer>>` constructor and add one line to
//! `SCHEMES` (and any aliases to `ALIASES`).
use std::sync::Arc;

use super::{
    Fp32Quantizer, HalfQuantizer, Int4Quantizer, Int8Quantizer, Quantizer, TernaryQuantizer,
};
use crate::experiment::QuantConfig;
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
];

/// Canonical names of the registered schemes, in registration order.
pub fn names() -> Vec<&'static str> {
    SCHEMES.iter().map(|(name, _)| *name).collect()
}

/// Accepted aliases as (alias, canonical name) pairs.
pub fn aliases() -> Vec<(&'static str, &'static str)> {
    ALIASES.to_vec()
}

/// Builds the quantizer `cfg.scheme` names (canonical name or alias, case-insensitive), with
/// `cfg.group_size` for group-wise schemes. Errors list the known names.
pub fn resolve(cfg: &QuantConfig) -> Result<Arc<dyn Quantizer>> {
    if cfg.group_size == 0 {
        return Err(Error::Quantization {
            scheme: cfg.scheme.clone(),
            message: "quant.group_size is 0; fix: set quant.group_size to a positive number such \
                      as 32"
                .into(),
        });
    }
    let wanted = cfg.scheme.trim().to_ascii_lowercase();
    let canonical = ALIASES
        .iter()
        .find(|(alias, _)| *alias == wanted)
        .map_or(wanted.as_str(), |(_, name)| *name);
    match SCHEMES.iter().find(|(name, _)| *name == canonical) {
        Some((_, construct)) => construct(cfg),
        None => Err(Error::UnknownQuantizer {
            name: cfg.scheme.clone(),
            known: known_list(),
        }),
    }
}

/// Builds the quantizer that unpacks a [`super::PackedTensor`] tagged `tag`: a canonical name,
/// optionally followed by `/g<group size>` (e.g. `int4/g32`).
pub fn resolve_packed(tag: &str) -> Result<Arc<dyn Quantizer>> {
    let (scheme, group_size) = match tag.split_once("/g") {
        Some((scheme, group)) => {
            let group_size = group.parse::<usize>().map_err(|_| Error::Quantization {
                scheme: scheme.to_string(),
                message: format!(
                    "packed tag `{tag}` has no valid group size after `/g`; the data is corrupt"
                ),
            })?;
            (scheme, group_size)
        }
        None => (tag, QuantConfig::default().group_size),
    };
    if !names().contains(&scheme) {
        return Err(Error::UnknownQuantizer {
            name: tag.to_string(),
            known: known_list(),
        });
    }
    let quantizer = resolve(&QuantConfig {
        scheme: scheme.to_string(),
        group_size,
    })?;
    Ok(quantizer)
}

/// "fp32, fp16, ... (aliases: 1.58bit = ternary, ...)".
fn known_list() -> String {
    let aliases: Vec<String> = ALIASES.iter().map(|(a, n)| format!("{a} = {n}")).collect();
    format!("{} (aliases: {})", names().join(", "), aliases.join(", "))
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
        })
        .unwrap_err();
        assert!(err.to_string().contains("group_size"), "{err}");
    }

    #[test]
    fn resolve_packed_rebuilds_the_group_size() {
        let int4 = resolve(&QuantConfig {
            scheme: "int4".into(),
            group_size: 16,
        })
        .unwrap();
        let w = Tensor::randn([3, 40], (Kind::Float, Device::Cpu));
        let packed = int4.pack(&w).unwrap();
        assert_eq!(packed.scheme, "int4/g16");
        let unpacker = resolve_packed(&packed.scheme).unwrap();
        assert!(unpacker
            .unpack(&packed)
            .unwrap()
            .equal(&int4.quantize_weight(&w)));
        assert_eq!(resolve_packed("ternary").unwrap().name(), "ternary");
        assert!(resolve_packed("int4/gx").is_err());
        assert!(
            resolve_packed("1.58bit").is_err(),
            "packed tags use canonical names only"
        );
    }

    /// Every scheme: q(q(x)) == q(x) (for ternary: the same codes, see `ternary.rs`) and
    /// unpack(pack(w)) == quantize_weight(w), on shapes that are not multiples of 4, 5 or the
    /// group size.
    #[test]
    fn every_scheme_is_idempotent_and_packs_exactly() {
        for name in names() {
            let q = resolve(&cfg(name)).unwrap();
            for shape in [[3i64, 5], [7, 33], [64, 64]] {
                let w = Tensor::randn(shape, (Kind::Float, Device::Cpu));
                let once = q.quantize_weight(&w);
                assert_eq!(once.size(), w.size());
                let twice = q.quantize_weight(&once);
                if name == "ternary" {
                    assert!(twice.sign().equal(&once.sign()), "{name}");
                } else {
                    assert!(twice.allclose(&once, 1e-6, 1e-6, false), "{name}");
                }
                let packed = q.pack(&w).unwrap();
                assert!(q.unpack(&packed).unwrap().equal(&once), "{name} {shape:?}");
                let nan = w.copy();
                let _ = nan.get(0).get(0).fill_(f64::NAN);
                assert!(q.pack(&nan).is_err(), "{name} must refuse NaN");
            }
        }
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
                rows in 1i64..9, cols in 1i64..70, seed in 0i64..1000, scheme in 0usize..6
            ) {
                tch::manual_seed(seed);
                let name = names()[scheme];
                let q = resolve(&QuantConfig { scheme: name.into(), group_size: 8 }).unwrap();
                let w = Tensor::randn([rows, cols], (Kind::Float, Device::Cpu));
                let packed = q.pack(&w).unwrap();
                prop_assert!(q.unpack(&packed).unwrap().equal(&q.quantize_weight(&w)));
            }
        }
    }
}
