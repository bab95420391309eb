//! Reading fields out of BSON documents, leniently where CookIM data may differ (int32 or
//! int64, missing optional fields) and strictly where a value is required.

use mongodb::bson::{Bson, Document};

use crate::error::{Error, Result};

fn missing(key: &str) -> Error {
    Error::Corrupt(format!("field `{key}` missing or of the wrong type"))
}

/// A required string.
pub(super) fn str<'a>(doc: &'a Document, key: &str) -> Result<&'a str> {
    match doc.get(key) {
        Some(Bson::String(s)) => Ok(s),
        _ => Err(missing(key)),
    }
}

/// An optional string: missing or null reads as `""`.
pub(super) fn str_or_empty<'a>(doc: &'a Document, key: &str) -> Result<&'a str> {
    match doc.get(key) {
        Some(Bson::String(s)) => Ok(s),
        None | Some(Bson::Null) => Ok(""),
        _ => Err(missing(key)),
    }
}

/// An id that may be `""` (none).
pub(super) fn opt_id<T: std::str::FromStr<Err = protocol::Error>>(
    doc: &Document,
    key: &str,
) -> Result<Option<T>> {
    match str_or_empty(doc, key)? {
        "" => Ok(None),
        text => Ok(Some(text.parse()?)),
    }
}

/// A required id.
pub(super) fn id<T: std::str::FromStr<Err = protocol::Error>>(
    doc: &Document,
    key: &str,
) -> Result<T> {
    Ok(str(doc, key)?.parse()?)
}

/// An integer stored as int32, int64, double or datetime (epoch ms); missing reads as 0.
pub(super) fn int(doc: &Document, key: &str) -> Result<i64> {
    match doc.get(key) {
        Some(Bson::Int32(v)) => Ok(i64::from(*v)),
        Some(Bson::Int64(v)) => Ok(*v),
        #[allow(clippy::cast_possible_truncation)] // whole numbers written by other clients
        Some(Bson::Double(v)) => Ok(*v as i64),
        Some(Bson::DateTime(t)) => Ok(t.timestamp_millis()),
        None | Some(Bson::Null) => Ok(0),
        _ => Err(missing(key)),
    }
}

/// An int32 field.
pub(super) fn int32(doc: &Document, key: &str) -> Result<i32> {
    i32::try_from(int(doc, key)?).map_err(|_| missing(key))
}

/// A required sub-document.
pub(super) fn doc<'a>(doc: &'a Document, key: &str) -> Result<&'a Document> {
    match doc.get(key) {
        Some(Bson::Document(d)) => Ok(d),
        _ => Err(missing(key)),
    }
}

/// An array of sub-documents (missing reads as empty).
pub(super) fn docs<'a>(doc: &'a Document, key: &str) -> Result<Vec<&'a Document>> {
    match doc.get(key) {
        Some(Bson::Array(items)) => items
            .iter()
            .map(|item| match item {
                Bson::Document(d) => Ok(d),
                _ => Err(missing(key)),
            })
            .collect(),
        None | Some(Bson::Null) => Ok(Vec::new()),
        _ => Err(missing(key)),
    }
}

/// An array of strings (missing reads as empty).
pub(super) fn strings<'a>(doc: &'a Document, key: &str) -> Result<Vec<&'a str>> {
    match doc.get(key) {
        Some(Bson::Array(items)) => items
            .iter()
            .map(|item| match item {
                Bson::String(s) => Ok(s.as_str()),
                _ => Err(missing(key)),
            })
            .collect(),
        None | Some(Bson::Null) => Ok(Vec::new()),
        _ => Err(missing(key)),
    }
}
