//! The keys a raw type knows, asked of serde itself.
//!
//! serde's derive stops at a mapping's first unknown key or bad value, and a playbook author
//! should see them all in one round. Checking a mapping's keys against the type's own list of
//! fields (the one `deny_unknown_fields` checks, renames applied) finds every unknown key in one
//! pass, without a second list to keep in step with the types.

use serde::de::{self, Deserialize, Visitor};

/// Why the probe stopped: it met a struct (and its fields), or anything else.
#[derive(Debug)]
enum Probe {
    Fields(&'static [&'static str]),
    NotAStruct,
}

impl std::fmt::Display for Probe {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("not a struct")
    }
}

impl std::error::Error for Probe {}

impl de::Error for Probe {
    fn custom<T: std::fmt::Display>(_: T) -> Self {
        Probe::NotAStruct
    }
}

/// A deserializer that holds no data: it only hears which fields a struct asks for.
struct Prober;

impl<'de> de::Deserializer<'de> for Prober {
    type Error = Probe;

    fn deserialize_any<V: Visitor<'de>>(self, _: V) -> Result<V::Value, Probe> {
        Err(Probe::NotAStruct)
    }

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        _: &'static str,
        fields: &'static [&'static str],
        _: V,
    ) -> Result<V::Value, Probe> {
        Err(Probe::Fields(fields))
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes byte_buf
        option unit unit_struct newtype_struct seq tuple tuple_struct map enum identifier
        ignored_any
    }
}

/// The keys `T` accepts when it is a struct; empty for any other type.
pub(super) fn of<'de, T: Deserialize<'de>>() -> &'static [&'static str] {
    match T::deserialize(Prober) {
        Err(Probe::Fields(fields)) => fields,
        _ => &[],
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::load::raw::{RawParam, RawStep};

    #[test]
    fn a_struct_tells_its_fields_with_renames() {
        assert!(of::<RawStep>().contains(&"max_rows"));
        assert!(of::<RawParam>().contains(&"type"));
        assert!(!of::<RawParam>().contains(&"kind"));
    }

    #[test]
    fn other_types_have_none() {
        assert!(of::<String>().is_empty());
        assert!(of::<Vec<RawStep>>().is_empty());
    }
}
