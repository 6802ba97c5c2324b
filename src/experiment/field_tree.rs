//! The tree of fields a [`TrialConfig`] accepts, read from its serde `Deserialize` impl.
//!
//! Sweep axes name fields by dotted path (`train.lr`). To check such a path, and the type of each
//! swept value, before any trial is built, this module walks `TrialConfig`'s derived
//! deserializer with a recording [`serde::Deserializer`] (the technique of the `serde-reflection`
//! crate): every `deserialize_struct` call reveals a table's field names, every primitive call a
//! leaf's type, every `deserialize_enum` call an enum's variant names. The tree therefore always
//! matches `config.rs`; nothing is listed by hand.
use std::cell::RefCell;
use std::collections::BTreeMap;
use std::sync::OnceLock;

use serde::de::value::{Error as WalkError, StrDeserializer};
use serde::de::{self, DeserializeSeed, IntoDeserializer, MapAccess, SeqAccess, Visitor};
use serde::Deserialize;

use super::config::TrialConfig;

/// What a field of the configuration holds.
#[derive(Debug, Clone, PartialEq)]
pub enum FieldKind {
    /// A table with these field names, in declaration order.
    Table(Vec<String>),
    /// A non-negative integer (`usize`, `u64`).
    Unsigned,
    /// A signed integer.
    Integer,
    /// A floating-point number (TOML integers are accepted too).
    Float,
    /// A string.
    Text,
    /// `true` or `false`.
    Boolean,
    /// One of these (serialized) enum variant names.
    Choice(Vec<String>),
    /// A list of values of the inner kind.
    List(Box<FieldKind>),
}

impl FieldKind {
    /// A short description of the values this kind accepts, for error messages.
    pub fn describe(&self) -> String {
        match self {
            FieldKind::Table(_) => "a table".into(),
            FieldKind::Unsigned => "a non-negative integer".into(),
            FieldKind::Integer => "an integer".into(),
            FieldKind::Float => "a number".into(),
            FieldKind::Text => "a string".into(),
            FieldKind::Boolean => "true or false".into(),
            FieldKind::Choice(variants) => {
                let quoted: Vec<String> = variants.iter().map(|v| format!("\"{v}\"")).collect();
                format!("one of {}", quoted.join(", "))
            }
            FieldKind::List(inner) => format!("a list of {}", inner.describe_plural()),
        }
    }

    fn describe_plural(&self) -> String {
        match self {
            FieldKind::Unsigned => "non-negative integers".into(),
            FieldKind::Integer => "integers".into(),
            FieldKind::Float => "numbers".into(),
            FieldKind::Text => "strings".into(),
            FieldKind::Boolean => "booleans".into(),
            other => format!("values that are each {}", other.describe()),
        }
    }

    /// Whether a TOML value is acceptable for a field of this kind.
    pub fn accepts(&self, value: &toml::Value) -> bool {
        match (self, value) {
            (FieldKind::Unsigned, toml::Value::Integer(i)) => *i >= 0,
            (FieldKind::Integer, toml::Value::Integer(_)) => true,
            (FieldKind::Float, toml::Value::Float(_) | toml::Value::Integer(_)) => true,
            (FieldKind::Text, toml::Value::String(_)) => true,
            (FieldKind::Boolean, toml::Value::Boolean(_)) => true,
            (FieldKind::Choice(variants), toml::Value::String(s)) => variants.contains(s),
            (FieldKind::List(inner), toml::Value::Array(items)) => {
                items.iter().all(|item| inner.accepts(item))
            }
            _ => false,
        }
    }
}

/// Why a dotted path does not name a field.
#[derive(Debug, Clone, PartialEq)]
pub struct PathError {
    /// The first segment of the path that does not exist.
    pub missing: String,
    /// The table it was looked up in (`""` for the top level).
    pub parent: String,
    /// The fields that table does have.
    pub valid: Vec<String>,
}

/// Every field of [`TrialConfig`], by dotted path (`""` is the top-level table).
#[derive(Debug, Clone)]
pub struct FieldTree {
    kinds: BTreeMap<String, FieldKind>,
}

impl FieldTree {
    /// The field tree of [`TrialConfig`], built once per process.
    pub fn trial_config() -> &'static FieldTree {
        static TREE: OnceLock<FieldTree> = OnceLock::new();
        TREE.get_or_init(|| {
            FieldTree::of::<TrialConfig>()
                .expect("TrialConfig uses only types the field walker understands")
        })
    }

    /// Walks `T`'s `Deserialize` impl and records its fields.
    fn of<'de, T: Deserialize<'de>>() -> Result<FieldTree, WalkError> {
        let kinds = RefCell::new(BTreeMap::new());
        T::deserialize(Walker {
            path: String::new(),
            kinds: &kinds,
        })?;
        Ok(FieldTree {
            kinds: kinds.into_inner(),
        })
    }

    /// The field names of the top-level table.
    pub fn top_level(&self) -> &[String] {
        match self.kinds.get("") {
            Some(FieldKind::Table(fields)) => fields,
            _ => &[],
        }
    }

    /// The kind of the field at `path`, or which segment of the path does not exist.
    pub fn lookup(&self, path: &str) -> Result<&FieldKind, PathError> {
        let mut parent = String::new();
        for segment in path.split('.') {
            let Some(FieldKind::Table(fields)) = self.kinds.get(&parent) else {
                // `parent` is a leaf: nothing lies below it.
                return Err(PathError {
                    missing: segment.into(),
                    parent,
                    valid: Vec::new(),
                });
            };
            if !fields.iter().any(|f| f == segment) {
                return Err(PathError {
                    missing: segment.into(),
                    parent,
                    valid: fields.clone(),
                });
            }
            parent = join(&parent, segment);
        }
        Ok(&self.kinds[&parent])
    }
}

fn join(parent: &str, field: &str) -> String {
    if parent.is_empty() {
        field.to_string()
    } else {
        format!("{parent}.{field}")
    }
}

/// A deserializer that produces placeholder values and records what it was asked for.
struct Walker<'a> {
    path: String,
    kinds: &'a RefCell<BTreeMap<String, FieldKind>>,
}

impl Walker<'_> {
    fn record(&self, kind: FieldKind) {
        self.kinds.borrow_mut().insert(self.path.clone(), kind);
    }

    fn child(&self, segment: &str) -> Self {
        Walker {
            path: join(&self.path, segment),
            kinds: self.kinds,
        }
    }
}

impl<'de> de::Deserializer<'de> for Walker<'_> {
    type Error = WalkError;

    fn deserialize_any<V: Visitor<'de>>(self, _visitor: V) -> Result<V::Value, WalkError> {
        Err(de::Error::custom(format!(
            "field `{}` has a type the field walker does not understand",
            self.path
        )))
    }

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, WalkError> {
        self.record(FieldKind::Table(
            fields.iter().map(|f| f.to_string()).collect(),
        ));
        visitor.visit_map(FieldFeeder {
            walker: self,
            fields,
            next: 0,
        })
    }

    fn deserialize_enum<V: Visitor<'de>>(
        self,
        _name: &'static str,
        variants: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, WalkError> {
        self.record(FieldKind::Choice(
            variants.iter().map(|v| v.to_string()).collect(),
        ));
        let first: StrDeserializer<'_, WalkError> = variants[0].into_deserializer();
        visitor.visit_enum(first)
    }

    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, WalkError> {
        // TOML has no null: an optional field accepts exactly what its inner type accepts.
        visitor.visit_some(self)
    }

    fn deserialize_seq<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, WalkError> {
        let element = self.child("[]");
        let value = visitor.visit_seq(OneElement {
            walker: Some(element),
        })?;
        let inner = self.kinds.borrow_mut().remove(&join(&self.path, "[]"));
        let inner = inner.ok_or_else(|| de::Error::custom("list element type not recorded"))?;
        self.record(FieldKind::List(Box::new(inner)));
        Ok(value)
    }

    fn deserialize_bool<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, WalkError> {
        self.record(FieldKind::Boolean);
        visitor.visit_bool(false)
    }

    fn deserialize_u64<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, WalkError> {
        self.record(FieldKind::Unsigned);
        visitor.visit_u64(1)
    }

    fn deserialize_u32<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, WalkError> {
        self.deserialize_u64(visitor)
    }

    fn deserialize_i64<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, WalkError> {
        self.record(FieldKind::Integer);
        visitor.visit_i64(1)
    }

    fn deserialize_i32<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, WalkError> {
        self.deserialize_i64(visitor)
    }

    fn deserialize_f64<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, WalkError> {
        self.record(FieldKind::Float);
        visitor.visit_f64(1.0)
    }

    fn deserialize_f32<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, WalkError> {
        self.deserialize_f64(visitor)
    }

    fn deserialize_string<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, WalkError> {
        self.record(FieldKind::Text);
        visitor.visit_string(String::new())
    }

    fn deserialize_str<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, WalkError> {
        self.deserialize_string(visitor)
    }

    serde::forward_to_deserialize_any! {
        i8 i16 u8 u16 i128 u128 char bytes byte_buf unit unit_struct newtype_struct tuple
        tuple_struct map identifier ignored_any
    }
}

/// Feeds a struct visitor each of its fields once, with a walker for its value.
struct FieldFeeder<'a> {
    walker: Walker<'a>,
    fields: &'static [&'static str],
    next: usize,
}

impl<'de> MapAccess<'de> for FieldFeeder<'_> {
    type Error = WalkError;

    fn next_key_seed<K: DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, WalkError> {
        let Some(field) = self.fields.get(self.next) else {
            return Ok(None);
        };
        let key: StrDeserializer<'_, WalkError> = field.into_deserializer();
        seed.deserialize(key).map(Some)
    }

    fn next_value_seed<V: DeserializeSeed<'de>>(&mut self, seed: V) -> Result<V::Value, WalkError> {
        let field = self.fields[self.next];
        self.next += 1;
        seed.deserialize(self.walker.child(field))
    }
}

/// A sequence of exactly one placeholder element, to learn the element type.
struct OneElement<'a> {
    walker: Option<Walker<'a>>,
}

impl<'de> SeqAccess<'de> for OneElement<'_> {
    type Error = WalkError;

    fn next_element_seed<T: DeserializeSeed<'de>>(
        &mut self,
        seed: T,
    ) -> Result<Option<T::Value>, WalkError> {
        match self.walker.take() {
            Some(walker) => seed.deserialize(walker).map(Some),
            None => Ok(None),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn top_level_fields_match_trial_config() {
        let tree = FieldTree::trial_config();
        let top = tree.top_level();
        for field in [
            "seed", "dataset", "model", "quant", "lora", "train", "measure",
        ] {
            assert!(
                top.contains(&field.to_string()),
                "{field} missing from {top:?}"
            );
        }
    }

    #[test]
    fn leaf_kinds_are_recorded() {
        let tree = FieldTree::trial_config();
        assert_eq!(tree.lookup("seed").unwrap(), &FieldKind::Unsigned);
        assert_eq!(tree.lookup("train.lr").unwrap(), &FieldKind::Float);
        assert_eq!(
            tree.lookup("train.max_steps").unwrap(),
            &FieldKind::Unsigned
        );
        assert_eq!(tree.lookup("quant.scheme").unwrap(), &FieldKind::Text);
        assert_eq!(tree.lookup("measure.memory").unwrap(), &FieldKind::Boolean);
        assert_eq!(
            tree.lookup("measure.seq_lens").unwrap(),
            &FieldKind::List(Box::new(FieldKind::Unsigned))
        );
        assert_eq!(
            tree.lookup("model.attention").unwrap(),
            &FieldKind::Choice(vec![
                "naive".into(),
                "math".into(),
                "flash".into(),
                "chunked".into()
            ])
        );
        assert!(matches!(
            tree.lookup("dataset.tokenizer").unwrap(),
            FieldKind::Table(_)
        ));
        assert_eq!(
            tree.lookup("dataset.tokenizer.vocab_size").unwrap(),
            &FieldKind::Unsigned
        );
    }

    #[test]
    fn unknown_segment_names_parent_and_valid_fields() {
        let tree = FieldTree::trial_config();
        let err = tree.lookup("train.lrr").unwrap_err();
        assert_eq!(err.missing, "lrr");
        assert_eq!(err.parent, "train");
        assert!(err.valid.contains(&"lr".to_string()));

        let err = tree.lookup("trian.lr").unwrap_err();
        assert_eq!(err.missing, "trian");
        assert_eq!(err.parent, "");
        assert!(err.valid.contains(&"train".to_string()));

        let err = tree.lookup("train.lr.x").unwrap_err();
        assert_eq!(err.parent, "train.lr");
        assert!(err.valid.is_empty());
    }

    #[test]
    fn kinds_accept_matching_values_only() {
        assert!(FieldKind::Float.accepts(&toml::Value::Integer(1)));
        assert!(!FieldKind::Unsigned.accepts(&toml::Value::Integer(-1)));
        assert!(!FieldKind::Unsigned.accepts(&toml::Value::Float(1.0)));
        let choice = FieldKind::Choice(vec!["flash".into()]);
        assert!(choice.accepts(&toml::Value::String("flash".into())));
        assert!(!choice.accepts(&toml::Value::String("flesh".into())));
        assert_eq!(choice.describe(), "one of \"flash\"");
    }
}
