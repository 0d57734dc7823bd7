//! The JSON Schema (draft 2020-12) of a manifest, generated from the field table
//! (`manifest::field`) and the rules' own constants (algorithms and key sizes, country
//! codes, lengths), so that editors check what the loader checks and the two cannot drift.

use serde_json::{Map, Value, json};

use super::{CountryCode, CsrName, KeyAlgorithm};
use crate::manifest::{Field, ValueKind};

/// The schema, as `csrbatch schema` prints it.
pub fn schema() -> Value {
    let strict = request(true);
    let loose = request(false);
    let required: Vec<&str> = Field::ALL.iter().filter(|f| f.spec().required).map(|f| f.as_str()).collect();
    // With `defaults:`, a required field may be set there instead of in every request.
    let from_defaults: Vec<Value> = required
        .iter()
        .map(|f| {
            json!({
                "if": { "not": { "properties": { "defaults": { "required": [f] } }, "required": ["defaults"] } },
                "then": { "properties": { "requests": { "items": {
                    "if": { "not": { "required": ["<<"] } }, "then": { "required": [f] } } } } }
            })
        })
        .collect();
    json!({
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": "https://csrbatch.invalid/schema/manifest.schema.json",
        "title": "csrbatch manifest",
        "description": "Requests for csrbatch (field names are Alibaba Cloud CreateCsr's): a list of requests, or `defaults:` (fields for every request that does not set them) and `requests:`.",
        "$defs": { "request": strict, "fields": loose },
        "oneOf": [
            { "type": "array", "items": { "$ref": "#/$defs/request" } },
            {
                "type": "object",
                "additionalProperties": false,
                "required": ["requests"],
                "properties": {
                    "defaults": { "anyOf": [{ "$ref": "#/$defs/fields" }, { "type": "null" }] },
                    "requests": { "type": ["array", "null"], "items": { "$ref": "#/$defs/fields" } }
                },
                "allOf": from_defaults
            }
        ]
    })
}

/// One request's mapping; `strict`: every required field must be there (unless `<<`
/// merges some in, which the schema cannot follow).
fn request(strict: bool) -> Value {
    let mut properties = Map::new();
    for field in Field::ALL {
        let mut p = property(field.spec().kind);
        if let Value::Object(o) = &mut p {
            o.insert("description".into(), field.spec().doc.into());
        }
        properties.insert(field.as_str().into(), p);
    }
    properties
        .insert("<<".into(), json!({ "description": "YAML merge key: fields from an anchored mapping." }));
    let mut all_of: Vec<Value> = key_sizes(strict);
    if strict {
        let required: Vec<&str> =
            Field::ALL.iter().filter(|f| f.spec().required).map(|f| f.as_str()).collect();
        all_of.push(json!({ "if": { "not": { "required": ["<<"] } }, "then": { "required": required } }));
    }
    json!({
        "type": "object",
        "additionalProperties": false,
        "properties": properties,
        "allOf": all_of
    })
}

/// Per Algorithm, the KeySizes it allows (`if` Algorithm is X `then` KeySize is one of).
fn key_sizes(strict: bool) -> Vec<Value> {
    let mut names: Vec<&'static str> = KeyAlgorithm::ALL.iter().map(|k| k.algorithm()).collect();
    names.dedup();
    names
        .into_iter()
        .map(|name| {
            let sizes: Vec<u32> =
                KeyAlgorithm::ALL.iter().filter(|k| k.algorithm() == name).map(|k| k.key_size()).collect();
            let mut allowed: Vec<Value> = sizes.iter().map(|s| json!(s)).collect();
            allowed.extend(sizes.iter().map(|s| json!(s.to_string())));
            let mut then = json!({ "properties": { "KeySize": { "enum": allowed } } });
            if strict && sizes.len() > 1 {
                then["required"] = json!(["KeySize"]);
            }
            json!({
                "if": { "properties": { "Algorithm": { "pattern": any_case(&[name]) } }, "required": ["Algorithm"] },
                "then": then
            })
        })
        .collect()
}

fn property(kind: ValueKind) -> Value {
    let text = json!(["string", "number", "null"]);
    match kind {
        ValueKind::Text { max } | ValueKind::DnsName { max } => json!({ "type": text, "maxLength": max }),
        ValueKind::Algorithm => {
            let mut names: Vec<&'static str> = KeyAlgorithm::ALL.iter().map(|k| k.algorithm()).collect();
            names.dedup();
            json!({ "type": ["string", "null"], "pattern": any_case(&names) })
        }
        ValueKind::KeySize => {
            let mut sizes: Vec<u32> = KeyAlgorithm::ALL.iter().map(|k| k.key_size()).collect();
            sizes.sort_unstable();
            sizes.dedup();
            let mut allowed: Vec<Value> = sizes.iter().map(|s| json!(s)).collect();
            allowed.extend(sizes.iter().map(|s| json!(s.to_string())));
            allowed.push(Value::Null);
            json!({ "enum": allowed })
        }
        ValueKind::NameList => json!({
            "anyOf": [
                { "type": ["string", "null"] },
                { "type": "array", "items": { "type": ["string", "number"] } }
            ]
        }),
        ValueKind::Usages { names, dotted_oid } => {
            // Each item (or each comma-separated part) is one of the names, any case.
            let mut item = any_case(names);
            if dotted_oid {
                // A dotted OID of at least three arcs, as the loader takes.
                item = format!("{}|^\\s*[0-2](?:\\.[0-9]+){{2,}}\\s*$", item);
            }
            json!({
                "anyOf": [
                    { "type": ["string", "null"] },
                    { "type": "array", "items": { "type": "string", "pattern": item } }
                ]
            })
        }
        ValueKind::Secret { max } => json!({ "type": ["string", "number", "null"], "maxLength": max }),
        ValueKind::Path => json!({ "type": ["string", "null"] }),
        ValueKind::Country => json!({ "type": ["string", "null"], "pattern": any_case(CountryCode::all()) }),
        ValueKind::FileStem { max } => {
            debug_assert_eq!(max, CsrName::MAX_LEN);
            json!({ "type": ["string", "number", "null"], "pattern": format!("^\\s*[A-Za-z0-9_.-]{{1,{max}}}\\s*$") })
        }
    }
}

/// A pattern matching any of `words` in any case, with surrounding blanks (as the loader
/// trims them). JSON Schema patterns are ECMA-262: no `(?i)`, so each letter is a class.
fn any_case(words: &[&str]) -> String {
    let alternatives: Vec<String> = words
        .iter()
        .map(|w| {
            w.chars()
                .map(|c| {
                    if c.is_ascii_alphabetic() {
                        format!("[{}{}]", c.to_ascii_uppercase(), c.to_ascii_lowercase())
                    } else {
                        c.to_string()
                    }
                })
                .collect()
        })
        .collect();
    format!("^\\s*(?:{})\\s*$", alternatives.join("|"))
}

/// The schema as committed in `schema/manifest.schema.json`: pretty, with a final newline.
pub fn schema_text() -> String {
    let mut text = serde_json::to_string_pretty(&schema()).unwrap_or_default();
    text.push('\n');
    text
}
