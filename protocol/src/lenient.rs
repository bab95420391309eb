//! Lenient field decoders for up messages. CookIM read a missing or non-string field as `""`;
//! these keep that leniency while decoding straight into typed structs, so a hostile frame
//! never becomes a `serde_json::Value` tree: a field of the wrong type (an array of a million
//! zeros, an object nested a hundred thousand deep) is skipped with `IgnoredAny`, which
//! neither allocates nor recurses.

use std::fmt;

use serde::Deserializer;
use serde::de::{self, IgnoredAny, MapAccess, SeqAccess, Visitor};

/// What one JSON value read leniently turned out to be.
enum Scalar {
    /// A string.
    Text(String),
    /// A whole number that fits an `i64`.
    Int(i64),
    /// A whole number above `i64::MAX`.
    Big(u64),
    /// A number with a fraction or an exponent.
    Float,
    /// `true` or `false`.
    Bool(bool),
    /// `null`.
    Null,
    /// Anything else (array, object), consumed without allocating.
    Other,
}

struct ScalarVisitor;

impl<'de> Visitor<'de> for ScalarVisitor {
    type Value = Scalar;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Scalar, E> {
        Ok(Scalar::Text(v.to_owned()))
    }

    fn visit_string<E: de::Error>(self, v: String) -> Result<Scalar, E> {
        Ok(Scalar::Text(v))
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Scalar, E> {
        Ok(Scalar::Int(v))
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Scalar, E> {
        Ok(i64::try_from(v).map_or(Scalar::Big(v), Scalar::Int))
    }

    fn visit_f64<E: de::Error>(self, _: f64) -> Result<Scalar, E> {
        Ok(Scalar::Float)
    }

    fn visit_bool<E: de::Error>(self, v: bool) -> Result<Scalar, E> {
        Ok(Scalar::Bool(v))
    }

    fn visit_unit<E: de::Error>(self) -> Result<Scalar, E> {
        Ok(Scalar::Null)
    }

    fn visit_none<E: de::Error>(self) -> Result<Scalar, E> {
        Ok(Scalar::Null)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Scalar, A::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(Scalar::Other)
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Scalar, A::Error> {
        while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
        Ok(Scalar::Other)
    }
}

fn scalar<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Scalar, D::Error> {
    deserializer.deserialize_any(ScalarVisitor)
}

/// A string field; any other JSON type reads as `""` (CookIM's leniency).
///
/// # Errors
/// Only when the JSON itself is malformed.
pub(crate) fn string<'de, D: Deserializer<'de>>(deserializer: D) -> Result<String, D::Error> {
    Ok(match scalar(deserializer)? {
        Scalar::Text(text) => text,
        _ => String::new(),
    })
}

/// A field that counts only when it is a string: `None` for any other type.
///
/// # Errors
/// Only when the JSON itself is malformed.
pub(crate) fn opt_string<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<String>, D::Error> {
    Ok(match scalar(deserializer)? {
        Scalar::Text(text) => Some(text),
        _ => None,
    })
}

/// A whole number sent as a number or a numeric string; `None` for anything else.
///
/// # Errors
/// Only when the JSON itself is malformed.
pub(crate) fn opt_int<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<i64>, D::Error> {
    Ok(match scalar(deserializer)? {
        Scalar::Int(n) => Some(n),
        Scalar::Text(text) => text.trim().parse().ok(),
        _ => None,
    })
}

/// A yes-or-no field: `true`, `1` or `"1"` (and `"true"`) read as yes, anything else as no.
///
/// # Errors
/// Only when the JSON itself is malformed.
pub(crate) fn flag<'de, D: Deserializer<'de>>(deserializer: D) -> Result<bool, D::Error> {
    Ok(match scalar(deserializer)? {
        Scalar::Bool(yes) => yes,
        Scalar::Int(n) => n == 1,
        Scalar::Text(text) => matches!(text.trim(), "1" | "true"),
        _ => false,
    })
}

/// A byte count as an upload header declares it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) enum Size {
    /// Absent or `null`: nothing to check against.
    #[default]
    Absent,
    /// A whole, non-negative number.
    Bytes(u64),
    /// A negative or fractional number.
    NotWhole,
    /// Not a number at all.
    NotANumber,
}

/// Reads a [`Size`].
///
/// # Errors
/// Only when the JSON itself is malformed.
pub(crate) fn size<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Size, D::Error> {
    Ok(match scalar(deserializer)? {
        Scalar::Null => Size::Absent,
        Scalar::Int(n) => u64::try_from(n).map_or(Size::NotWhole, Size::Bytes),
        Scalar::Big(n) => Size::Bytes(n),
        Scalar::Float => Size::NotWhole,
        Scalar::Text(_) | Scalar::Bool(_) | Scalar::Other => Size::NotANumber,
    })
}

#[cfg(test)]
mod tests {
    use serde::Deserialize;

    #[derive(Deserialize, Debug, Default)]
    #[serde(default)]
    struct Probe {
        #[serde(deserialize_with = "super::string")]
        s: String,
        #[serde(deserialize_with = "super::opt_string")]
        o: Option<String>,
        #[serde(deserialize_with = "super::opt_int")]
        n: Option<i64>,
    }

    fn probe(text: &str) -> Result<Probe, serde_json::Error> {
        serde_json::from_str(text)
    }

    #[test]
    fn wrong_types_read_as_empty() -> Result<(), serde_json::Error> {
        let p = probe(r#"{"s":[1,2,{"a":[]}],"o":7,"n":"12","x":{"deep":[[[]]]}}"#)?;
        assert_eq!((p.s.as_str(), p.o, p.n), ("", None, Some(12)));
        let p = probe(r#"{"s":"hi","o":"id","n":-3}"#)?;
        assert_eq!(
            (p.s.as_str(), p.o.as_deref(), p.n),
            ("hi", Some("id"), Some(-3))
        );
        let p = probe(r#"{"n":1.5}"#)?;
        assert_eq!(p.n, None);
        let p = probe(r#"{"n":18446744073709551615}"#)?;
        assert_eq!(p.n, None, "a u64 past i64 is not a number we use");
        Ok(())
    }

    #[test]
    fn deep_nesting_is_malformed_or_skipped_never_a_crash() -> Result<(), serde_json::Error> {
        // Arrays and objects are skipped without recursing (no stack to exhaust), in a field
        // we read as well as in one we do not know.
        let deep = format!(r#"{{"s":{}{}}}"#, "[".repeat(100_000), "]".repeat(100_000));
        assert_eq!(probe(&deep)?.s, "");
        let unbalanced = format!(r#"{{"s":{}}}"#, "[".repeat(100_000));
        assert!(probe(&unbalanced).is_err(), "malformed stays malformed");
        let deep_unknown = format!(
            r#"{{"x":{}{},"s":"kept"}}"#,
            "[".repeat(100_000),
            "]".repeat(100_000)
        );
        assert_eq!(probe(&deep_unknown)?.s, "kept");
        Ok(())
    }

    #[test]
    fn a_huge_array_is_skipped() -> Result<(), serde_json::Error> {
        let zeros = vec!["0"; 200_000].join(",");
        let p = probe(&format!(r#"{{"s":"kept","a":[{zeros}]}}"#))?;
        assert_eq!(p.s, "kept");
        Ok(())
    }
}
