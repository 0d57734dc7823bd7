//! YAML manifests: a list of requests, or a mapping with `defaults:` and `requests:`.
//!
//! serde_yaml reads the values (aliases and `<<` merge keys included); it keeps no
//! positions, so yaml-rust2's event parser is run over the same text only to learn the
//! line on which each request starts.

use std::path::Path;
use std::sync::Arc;

use serde_yaml::{Mapping, Value};
use yaml_rust2::parser::{Event, MarkedEventReceiver, Parser};
use yaml_rust2::scanner::Marker;

use super::{Field, Origin, RawRequest, RawValue, label};
use crate::error::{ManifestError, Problem};

pub(super) fn parse(file: &Arc<Path>, text: &str) -> (Vec<RawRequest>, Vec<ManifestError>) {
    let mut errors = Vec::new();
    let at = |line: usize| Origin { file: file.clone(), line };
    let file_error = |line, problem| ManifestError::file(file.clone(), line, problem);

    let mut value: Value = match serde_yaml::from_str(text) {
        Ok(v) => v,
        Err(e) => {
            let line = e.location().map_or(0, |l| l.line());
            return (Vec::new(), vec![file_error(line, Problem::Syntax(e.to_string()))]);
        }
    };
    if let Err(e) = value.apply_merge() {
        return (Vec::new(), vec![file_error(0, Problem::Syntax(e.to_string()))]);
    }
    let lines = Lines::of(text);

    let (defaults, items) = match value {
        Value::Null => (None, Vec::new()),
        Value::Sequence(items) => (None, items),
        Value::Mapping(map) => match split_top(map) {
            Ok(parts) => parts,
            Err(problem) => return (Vec::new(), vec![file_error(1, problem)]),
        },
        other => {
            let problem = Problem::Shape(format!(
                "expected a list of requests, or a mapping with `defaults:` and `requests:`; found {}",
                kind(&other)
            ));
            return (Vec::new(), vec![file_error(1, problem)]);
        }
    };

    let defaults_origin = at(lines.defaults.unwrap_or(1));
    let defaults = match defaults {
        None => Vec::new(),
        Some(Value::Mapping(m)) => fields(m, &defaults_origin, "defaults", &mut errors),
        Some(other) => {
            let problem =
                Problem::Shape(format!("`defaults:` must be a mapping of fields; found {}", kind(&other)));
            errors.push(ManifestError::file(file.clone(), defaults_origin.line, problem));
            Vec::new()
        }
    };

    let mut requests = Vec::with_capacity(items.len());
    for (i, item) in items.into_iter().enumerate() {
        let ordinal = i + 1;
        let origin = at(lines.items.get(i).copied().unwrap_or(lines.list_start));
        let Value::Mapping(map) = item else {
            let problem = Problem::Shape(format!(
                "request #{ordinal}: expected a mapping of fields; found {}",
                kind(&item)
            ));
            errors.push(ManifestError::file(file.clone(), origin.line, problem));
            continue;
        };
        let own_label = label(&preview_fields(&map), ordinal);
        let mut own = fields(map, &origin, &own_label, &mut errors);
        for (field, value) in &defaults {
            if !own.iter().any(|(f, _)| f == field) {
                own.push((*field, value.clone()));
            }
        }
        requests.push(RawRequest { origin, ordinal, fields: own });
    }
    if requests.is_empty() && errors.is_empty() {
        errors.push(file_error(0, Problem::NoRequests));
    }
    (requests, errors)
}

/// Splits a top-level mapping into `defaults` and `requests`; any other key is an error.
fn split_top(map: Mapping) -> Result<(Option<Value>, Vec<Value>), Problem> {
    let mut defaults = None;
    let mut requests = None;
    for (key, value) in map {
        match key.as_str() {
            Some("defaults") => defaults = Some(value),
            Some("requests") => requests = Some(value),
            _ => {
                return Err(Problem::Shape(format!(
                    "unknown top-level key {}; a manifest mapping has `defaults:` and `requests:`",
                    describe_key(&key)
                )));
            }
        }
    }
    match requests {
        Some(Value::Sequence(items)) => Ok((defaults, items)),
        Some(Value::Null) => Ok((defaults, Vec::new())),
        Some(other) => Err(Problem::Shape(format!("`requests:` must be a list; found {}", kind(&other)))),
        None => Err(Problem::Shape("the mapping has no `requests:` list".into())),
    }
}

/// The text fields of a mapping, read leniently, only to name the request in messages.
fn preview_fields(map: &Mapping) -> Vec<(Field, RawValue)> {
    map.iter()
        .filter_map(|(k, v)| {
            let field = Field::parse(k.as_str()?).ok()?;
            Some((field, RawValue::Text(v.as_str()?.to_owned())))
        })
        .collect()
}

/// Reads each key/value of a request (or of `defaults`) into a field; bad ones become errors.
fn fields(
    map: Mapping,
    origin: &Origin,
    request: &str,
    errors: &mut Vec<ManifestError>,
) -> Vec<(Field, RawValue)> {
    let mut out: Vec<(Field, RawValue)> = Vec::with_capacity(map.len());
    for (key, value) in map {
        let Some(name) = key.as_str() else {
            let problem = Problem::Shape(format!("field names must be text; found {}", describe_key(&key)));
            errors.push(ManifestError::request(origin, request, problem));
            continue;
        };
        let field = match Field::parse(name) {
            Ok(f) => f,
            Err(problem) => {
                errors.push(ManifestError::request(origin, request, problem));
                continue;
            }
        };
        match raw_value(field, value) {
            Ok(Some(v)) => out.push((field, v)),
            Ok(None) => {}
            Err(problem) => errors.push(ManifestError::field(origin, request, field, problem)),
        }
    }
    out
}

/// Text, a number (`KeySize: 2048`), or for `Sans` and the usages a list; `null` means absent.
fn raw_value(field: Field, value: Value) -> Result<Option<RawValue>, Problem> {
    if let Value::Sequence(items) = value {
        if !field.takes_list() {
            return Err(Problem::WrongType { expected: "text", found: "a list" });
        }
        let texts = items
            .into_iter()
            .map(|item| {
                scalar_text(&item)
                    .ok_or(Problem::WrongType { expected: "a list of names", found: kind(&item) })
            })
            .collect::<Result<Vec<_>, _>>()?;
        return Ok(Some(RawValue::List(texts)));
    }
    if value.is_null() {
        return Ok(None);
    }
    scalar_text(&value)
        .map(|t| Some(RawValue::Text(t)))
        .ok_or(Problem::WrongType { expected: "text", found: kind(&value) })
}

fn scalar_text(value: &Value) -> Option<String> {
    match value {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

fn kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "nothing (null)",
        Value::Bool(_) => "true/false",
        Value::Number(_) => "a number",
        Value::String(_) => "text",
        Value::Sequence(_) => "a list",
        Value::Mapping(_) => "a mapping",
        Value::Tagged(_) => "a tagged value",
    }
}

fn describe_key(key: &Value) -> String {
    match key.as_str() {
        Some(s) => format!("`{s}`"),
        None => kind(key).to_owned(),
    }
}

/// Lines of the request items (and of `defaults:`), read from yaml-rust2's events.
#[derive(Debug, Default)]
struct Lines {
    items: Vec<usize>,
    defaults: Option<usize>,
    list_start: usize,
}

impl Lines {
    fn of(text: &str) -> Lines {
        let mut locator = Locator::default();
        // A document serde_yaml accepted but this parser rejects only loses line numbers.
        let _ = Parser::new_from_str(text).load(&mut locator, false);
        locator.lines
    }
}

#[derive(Debug)]
struct Frame {
    is_map: bool,
    children: usize,
    /// Items of this sequence are requests: record their lines.
    collect: bool,
    /// The previous key of this (root) mapping was `requests` / `defaults`.
    after: Option<&'static str>,
}

#[derive(Debug, Default)]
struct Locator {
    stack: Vec<Frame>,
    lines: Lines,
    done: bool,
}

impl Locator {
    /// Called for the start of every node (scalar, alias, sequence, mapping).
    fn node(&mut self, line: usize, scalar: Option<&str>, starts_seq: bool, starts_map: bool) {
        let depth = self.stack.len();
        let mut collect_new = depth == 0 && starts_seq;
        if let Some(top) = self.stack.last_mut() {
            if top.collect {
                self.lines.items.push(line);
            }
            if top.is_map && depth == 1 {
                if top.children % 2 == 0 {
                    top.after = match scalar {
                        Some("requests") => Some("requests"),
                        Some("defaults") => Some("defaults"),
                        _ => None,
                    };
                } else {
                    match top.after {
                        Some("requests") => {
                            collect_new = starts_seq;
                            self.lines.list_start = line;
                        }
                        Some("defaults") => self.lines.defaults = Some(line),
                        _ => {}
                    }
                }
            }
            top.children += 1;
        } else {
            self.lines.list_start = line;
        }
        if starts_seq || starts_map {
            self.stack.push(Frame { is_map: starts_map, children: 0, collect: collect_new, after: None });
        }
    }
}

impl MarkedEventReceiver for Locator {
    fn on_event(&mut self, ev: Event, mark: Marker) {
        if self.done {
            return;
        }
        let line = mark.line();
        match ev {
            Event::Scalar(ref s, ..) => self.node(line, Some(s), false, false),
            Event::Alias(_) => self.node(line, None, false, false),
            Event::SequenceStart(..) => self.node(line, None, true, false),
            Event::MappingStart(..) => self.node(line, None, false, true),
            Event::SequenceEnd | Event::MappingEnd => {
                self.stack.pop();
            }
            Event::DocumentEnd => self.done = true,
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(text: &str) -> (Vec<RawRequest>, Vec<ManifestError>) {
        parse(&Arc::from(Path::new("m.yaml")), text)
    }

    fn text(r: &RawRequest, f: Field) -> Option<&str> {
        match r.get(f) {
            Some(RawValue::Text(t)) => Some(t),
            _ => None,
        }
    }

    #[test]
    fn plain_list_with_lines() {
        let (reqs, errs) = run(
            "# comment\n- CommonName: a.example\n  Algorithm: RSA\n  KeySize: 2048\n\n- CommonName: b.example\n  Sans: [x.example, 10.0.0.1]\n",
        );
        assert!(errs.is_empty(), "{errs:?}");
        assert_eq!(reqs.len(), 2);
        assert_eq!(reqs[0].origin.line, 2);
        assert_eq!(reqs[1].origin.line, 6);
        assert_eq!(text(&reqs[0], Field::KeySize), Some("2048"));
        assert_eq!(
            reqs[1].get(Field::Sans),
            Some(&RawValue::List(vec!["x.example".into(), "10.0.0.1".into()]))
        );
    }

    #[test]
    fn defaults_fill_unset_fields_only() {
        let (reqs, errs) = run(
            "defaults:\n  Algorithm: ECC\n  Province: Zhejiang\nrequests:\n  - CommonName: a.example\n  - CommonName: b.example\n    Algorithm: SM2\n",
        );
        assert!(errs.is_empty(), "{errs:?}");
        assert_eq!((reqs[0].origin.line, reqs[1].origin.line), (5, 6));
        assert_eq!(text(&reqs[0], Field::Algorithm), Some("ECC"));
        assert_eq!(text(&reqs[1], Field::Algorithm), Some("SM2"));
        assert_eq!(text(&reqs[1], Field::Province), Some("Zhejiang"));
    }

    #[test]
    fn merge_keys_are_applied() {
        let (reqs, errs) =
            run("- &base\n  Algorithm: ECC\n  CommonName: a.example\n- <<: *base\n  CommonName: b.example\n");
        assert!(errs.is_empty(), "{errs:?}");
        assert_eq!(text(&reqs[1], Field::Algorithm), Some("ECC"));
        assert_eq!(text(&reqs[1], Field::CommonName), Some("b.example"));
    }

    #[test]
    fn unknown_field_names_the_request_and_line() {
        let (_, errs) = run("- CommonName: a.example\n- CommmonName: b.example\n  Name: bee\n");
        assert_eq!(errs.len(), 1);
        assert_eq!(
            errs[0].to_string(),
            "m.yaml:2: request \"bee\": unknown field `CommmonName`; did you mean `CommonName`?"
        );
    }

    #[test]
    fn wrong_types_and_shapes() {
        let (_, errs) = run("- CommonName: [a, b]\n  Province: {x: 1}\n");
        assert_eq!(errs.len(), 2, "{errs:?}");
        assert!(errs[0].to_string().contains("CommonName: expected text, found a list"));
        let (_, errs) = run("hello");
        assert!(errs[0].to_string().starts_with("m.yaml:1: expected a list of requests"), "{}", errs[0]);
        let (_, errs) = run("requests: []\nextra: 1\n");
        assert!(errs[0].to_string().contains("unknown top-level key `extra`"));
        let (_, errs) = run("");
        assert_eq!(errs[0].problem, Problem::NoRequests);
    }

    #[test]
    fn syntax_error_has_a_line() {
        let (_, errs) = run("- CommonName: a\n  Province: [unclosed\n");
        assert!(matches!(errs[0].problem, Problem::Syntax(_)));
        assert!(errs[0].origin.line > 0);
    }
}
