//! YAML manifests: a list of requests, or a mapping with `defaults:` and `requests:`,
//! read request by request from saphyr-parser's events (one parser, positions on every
//! event), so a million-request manifest is never held in memory. Anchors, aliases and
//! `<<` merge keys are resolved here, within the limits of `limits.rs`.
//!
//! Every field keeps the line of its key: an error names the line of the offending field;
//! a field brought in by `<<` or `defaults:` names the line where it is written.

use std::collections::{HashMap, VecDeque};
use std::io::Read;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use saphyr_parser::{BufferedInput, Event, Parser, ScalarStyle, Span};

use super::guard::{Guarded, Shared};
use super::limits::{ALIAS_BASE, ALIAS_RATIO, MAX_ANCHORED, MAX_DEPTH, MAX_KEYS, MAX_NODES, MAX_SCALAR};
use super::node::{Entries, Meta, Node, is_bool, is_null};
use super::text::{Chars, ReadOptions, TextReader};
use super::{Field, ManifestError, Origin, Problem, RawRequest, RawValue, label};

type Events<R> = Parser<'static, BufferedInput<Guarded<R>>>;

/// Where the reader is in the document.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum At {
    /// Before the document's root node.
    Root,
    /// In the top-level mapping, before a key.
    TopKey,
    /// Inside the list of requests (`bare`: the root itself is the list).
    Items { bare: bool },
    /// After the root node.
    End,
}

/// An error that ends the reading of a file (syntax, a limit).
struct Fatal(ManifestError);

/// The requests of one YAML manifest, one at a time.
pub(super) struct YamlStream<R: Read> {
    file: Arc<Path>,
    parser: Events<R>,
    shared: Arc<Shared>,
    at: At,
    top_line: usize,
    seen_requests: bool,
    /// `None` until `defaults:` is read; requests met before it wait in `held`.
    defaults: Option<Vec<(Field, RawValue, usize)>>,
    held: Vec<RawRequest>,
    hold: bool,
    anchors: HashMap<usize, Arc<Node>>,
    anchored: usize,
    /// Nodes written in the file, and nodes aliases brought in (the billion-laughs budget).
    written: usize,
    expanded: usize,
    out: VecDeque<Result<RawRequest, ManifestError>>,
    ordinal: usize,
    any: bool,
    documents: usize,
    done: bool,
}

impl<R: Read> YamlStream<R> {
    pub(super) fn new(file: Arc<Path>, reader: R, options: ReadOptions) -> YamlStream<R> {
        let shared = Arc::new(Shared::default());
        let chars = Chars::new(TextReader::new(reader, options, false));
        let parser = Parser::new(BufferedInput::new(Guarded::new(chars, shared.clone())));
        YamlStream {
            file,
            parser,
            shared,
            at: At::Root,
            top_line: 1,
            seen_requests: false,
            defaults: None,
            held: Vec::new(),
            hold: false,
            anchors: HashMap::new(),
            anchored: 0,
            written: 0,
            expanded: 0,
            out: VecDeque::new(),
            ordinal: 0,
            any: false,
            documents: 0,
            done: false,
        }
    }

    fn error(&self, line: usize, problem: Problem) -> ManifestError {
        ManifestError::file(self.file.clone(), line, problem)
    }

    fn fatal(&self, line: usize, problem: Problem) -> Fatal {
        Fatal(self.error(line, problem))
    }

    /// The next event; a scanner error (or a fault of the guard) is fatal.
    fn event(&mut self) -> Result<(Event<'static>, usize), Fatal> {
        let next = self.parser.next_event();
        self.shared.epoch.fetch_add(1, Ordering::Relaxed);
        // A fault of the characters (a bad byte, a limit) explains whatever the parser
        // made of the early end.
        if let Some(fault) = self.shared.fault() {
            return Err(self.fatal(fault.line, fault.problem));
        }
        match next {
            Some(Ok((event, span))) => Ok((event, line_of(&span))),
            Some(Err(e)) => Err(self.fatal(e.marker().line(), Problem::Syntax(e.info().to_owned()))),
            None => Ok((Event::StreamEnd, 0)),
        }
    }

    /// Reads events until there is something to hand out, or the end.
    fn advance(&mut self) -> Result<(), Fatal> {
        while self.out.is_empty() && !self.done {
            let (event, line) = self.event()?;
            match (self.at, event) {
                (_, Event::StreamStart | Event::DocumentEnd | Event::Nothing) => {}
                (_, Event::DocumentStart(_)) => {
                    self.documents += 1;
                    if self.documents > 1 {
                        let problem =
                            Problem::Shape("a manifest is one YAML document; found another `---`".into());
                        return Err(self.fatal(line, problem));
                    }
                }
                (_, Event::StreamEnd) => self.finish(),
                (At::Root, Event::SequenceStart(..)) => self.at = At::Items { bare: true },
                (At::Root, Event::MappingStart(..)) => {
                    self.top_line = line;
                    self.at = At::TopKey;
                }
                (At::Root, event) => {
                    let node = self.build(event, line, 0)?;
                    if !matches!(node.resolve(), Node::Scalar { plain: true, text, .. } if is_null(text)) {
                        let problem = Problem::Shape(format!(
                            "expected a list of requests, or a mapping with `defaults:` and `requests:`; found {}",
                            node.kind()
                        ));
                        return Err(self.fatal(line, problem));
                    }
                    self.at = At::End;
                }
                (At::TopKey, Event::MappingEnd) => {
                    self.at = At::End;
                    if !self.seen_requests {
                        let problem = Problem::Shape("the mapping has no `requests:` list".into());
                        self.out.push_back(Err(self.error(self.top_line, problem)));
                    }
                    self.release_held();
                }
                (At::TopKey, event) => self.top_key(event, line)?,
                (At::Items { bare }, Event::SequenceEnd) => {
                    self.at = if bare { At::End } else { At::TopKey };
                }
                (At::Items { .. }, event) => {
                    let node = self.build(event, line, 2)?;
                    self.request(&node, line);
                }
                (At::End, _) => {}
            }
        }
        Ok(())
    }

    /// A key of the top-level mapping, and its value.
    fn top_key(&mut self, event: Event<'static>, line: usize) -> Result<(), Fatal> {
        let key = self.build(event, line, 1)?;
        let (value_event, value_line) = self.event()?;
        let name = match key.resolve() {
            Node::Scalar { text, .. } => text.clone(),
            other => {
                let problem = Problem::Shape(format!("top-level keys must be text; found {}", other.kind()));
                self.out.push_back(Err(self.error(line, problem)));
                self.build(value_event, value_line, 1)?;
                return Ok(());
            }
        };
        match name.as_str() {
            "requests" if !self.seen_requests => {
                self.seen_requests = true;
                self.hold = self.defaults.is_none();
                if let Event::SequenceStart(..) = value_event {
                    self.at = At::Items { bare: false };
                    return Ok(());
                }
                let value = self.build(value_event, value_line, 1)?;
                match value.resolve() {
                    Node::Seq { items, .. } => {
                        for item in items.clone() {
                            let line = item.line();
                            self.request(&item, line);
                        }
                    }
                    Node::Scalar { plain: true, text, .. } if is_null(text) => {}
                    other => {
                        let problem =
                            Problem::Shape(format!("`requests:` must be a list; found {}", other.kind()));
                        self.out.push_back(Err(self.error(value_line, problem)));
                    }
                }
            }
            "defaults" if self.defaults.is_none() => {
                let value = self.build(value_event, value_line, 1)?;
                let mut errors = Vec::new();
                let fields = match value.resolve() {
                    Node::Map { .. } => self.fields(&value, &mut errors, 0),
                    Node::Scalar { plain: true, text, .. } if is_null(text) => Vec::new(),
                    other => {
                        let problem = Problem::Shape(format!(
                            "`defaults:` must be a mapping of fields; found {}",
                            other.kind()
                        ));
                        errors.push((value_line, None, problem));
                        Vec::new()
                    }
                };
                self.push_errors(errors, "defaults");
                self.defaults = Some(fields);
            }
            "requests" | "defaults" => {
                let problem = Problem::Shape(format!("`{name}:` is given more than once"));
                self.out.push_back(Err(self.error(line, problem)));
                self.build(value_event, value_line, 1)?;
            }
            _ => {
                let suggestion = super::field::nearest(&name, &["requests", "defaults"]);
                self.out.push_back(Err(self.error(line, Problem::UnknownTopKey { name, suggestion })));
                // Read on (its anchors count), so that later errors are reported too.
                self.build(value_event, value_line, 1)?;
            }
        }
        Ok(())
    }

    /// One item of the request list, made a [`RawRequest`] (or errors).
    fn request(&mut self, node: &Node, line: usize) {
        self.ordinal += 1;
        self.any = true;
        let ordinal = self.ordinal;
        let mut errors = Vec::new();
        let fields = match node.resolve() {
            Node::Map { .. } => self.fields(node, &mut errors, 0),
            other => {
                let problem = Problem::Shape(format!(
                    "request #{ordinal}: expected a mapping of fields; found {}",
                    other.kind()
                ));
                self.out.push_back(Err(self.error(line, problem)));
                return;
            }
        };
        let (fields, field_lines): (Vec<_>, Vec<_>) = fields.into_iter().map(|(f, v, l)| ((f, v), l)).unzip();
        let request_label = label(&fields, ordinal);
        self.push_errors(errors, &request_label);
        let origin = Origin { file: self.file.clone(), line };
        let mut raw = RawRequest { origin, ordinal, fields, field_lines };
        if self.hold {
            self.held.push(raw);
        } else {
            self.apply_defaults(&mut raw);
            self.out.push_back(Ok(raw));
        }
    }

    fn push_errors(&mut self, errors: Vec<(usize, Option<Field>, Problem)>, request: &str) {
        for (line, field, problem) in errors {
            let origin = Origin { file: self.file.clone(), line };
            let e = match field {
                Some(f) => ManifestError::field(&origin, request, f, problem),
                None => ManifestError::request(&origin, request, problem),
            };
            self.out.push_back(Err(e));
        }
    }

    fn apply_defaults(&self, raw: &mut RawRequest) {
        for (field, value, line) in self.defaults.iter().flatten() {
            if raw.get(*field).is_none() {
                raw.fields.push((*field, value.clone()));
                raw.field_lines.push(*line);
            }
        }
    }

    /// Requests read before `defaults:` get them now.
    fn release_held(&mut self) {
        self.hold = false;
        for mut raw in std::mem::take(&mut self.held) {
            self.apply_defaults(&mut raw);
            self.out.push_back(Ok(raw));
        }
    }

    fn finish(&mut self) {
        self.release_held();
        self.done = true;
        if !self.any && self.out.is_empty() {
            self.out.push_back(Err(self.error(0, Problem::NoRequests)));
        }
    }

    /// The fields of a mapping (`<<` merges applied: its own keys first, then each merged
    /// mapping's in order); errors as (line, field, problem).
    fn fields(
        &self,
        node: &Node,
        errors: &mut Vec<(usize, Option<Field>, Problem)>,
        depth: usize,
    ) -> Vec<(Field, RawValue, usize)> {
        let Node::Map { entries, .. } = node.resolve() else { return Vec::new() };
        let mut out: Vec<(Field, RawValue, usize)> = Vec::new();
        let mut explicit: Vec<Field> = Vec::new();
        let mut merges: Vec<&Node> = Vec::new();
        for (key, value) in entries.iter() {
            let line = key.line();
            let name = match key.resolve() {
                Node::Scalar { text, plain: true, .. } if text == "<<" => {
                    match value.resolve() {
                        Node::Map { .. } => merges.push(value),
                        Node::Seq { items, .. }
                            if items.iter().all(|i| matches!(i.resolve(), Node::Map { .. })) =>
                        {
                            merges.extend(items.iter())
                        }
                        other => errors.push((
                            line,
                            None,
                            Problem::Shape(format!(
                                "`<<` merges a mapping or a list of mappings; found {}",
                                other.kind()
                            )),
                        )),
                    }
                    continue;
                }
                Node::Scalar { text, .. } => text,
                other => {
                    let problem = Problem::Shape(format!("field names must be text; found {}", other.kind()));
                    errors.push((line, None, problem));
                    continue;
                }
            };
            let field = match Field::parse(name) {
                Ok(f) => f,
                Err(problem) => {
                    errors.push((line, None, problem));
                    continue;
                }
            };
            if explicit.contains(&field) {
                errors.push((line, Some(field), Problem::DuplicateField));
                continue;
            }
            explicit.push(field);
            match raw_value(field, value) {
                Ok(Some(v)) => out.push((field, v, line)),
                Ok(None) => {}
                Err(problem) => errors.push((line, Some(field), problem)),
            }
        }
        // Merged mappings nest no deeper than the document did (depth-checked on reading).
        if depth < MAX_DEPTH {
            for merged in merges {
                for (field, value, line) in self.fields(merged, errors, depth + 1) {
                    if !explicit.contains(&field) {
                        explicit.push(field);
                        out.push((field, value, line));
                    }
                }
            }
        }
        out
    }

    /// Reads one whole node, starting with `first`, within the limits.
    fn build(&mut self, first: Event<'static>, first_line: usize, base_depth: usize) -> Result<Node, Fatal> {
        let mut stack: Vec<(Node, usize)> = Vec::new(); // (open collection, anchor id)
        let mut pending = Some((first, first_line));
        let mut nodes = 0usize;
        loop {
            let (event, line) = match pending.take() {
                Some(e) => e,
                None => self.event()?,
            };
            nodes += 1;
            self.written += 1;
            let done: Option<(Node, usize)> = match event {
                Event::Scalar(text, style, anchor, _tag) => {
                    if text.len() > MAX_SCALAR {
                        return Err(self
                            .fatal(line, Problem::Limit { what: "a scalar is too long", max: MAX_SCALAR }));
                    }
                    let plain = style == ScalarStyle::Plain;
                    Some((Node::Scalar { text: text.into_owned(), plain, line }, anchor))
                }
                Event::Alias(id) => {
                    let Some(target) = self.anchors.get(&id).cloned() else {
                        return Err(self.fatal(line, Problem::Syntax("an alias to an unknown anchor".into())));
                    };
                    let size = target.size();
                    nodes += size;
                    self.expanded += size;
                    if self.expanded > ALIAS_BASE + ALIAS_RATIO * self.written {
                        let what = "aliases expand to too many nodes";
                        return Err(self.fatal(line, Problem::Limit { what, max: ALIAS_BASE }));
                    }
                    Some((Node::Alias(target, line), 0))
                }
                Event::SequenceStart(anchor, _) => {
                    stack.push((Node::Seq { items: Vec::new(), line, meta: Meta::default() }, anchor));
                    None
                }
                Event::MappingStart(anchor, _) => {
                    stack.push((
                        Node::Map { entries: Entries::default(), line, meta: Meta::default() },
                        anchor,
                    ));
                    None
                }
                Event::SequenceEnd | Event::MappingEnd => stack.pop().map(|(mut node, anchor)| {
                    node.close();
                    (node, anchor)
                }),
                other => {
                    let problem = Problem::Syntax(format!("unexpected {other:?}"));
                    return Err(self.fatal(line, problem));
                }
            };
            if base_depth + stack.len() > MAX_DEPTH {
                return Err(
                    self.fatal(line, Problem::Limit { what: "collections nested too deep", max: MAX_DEPTH })
                );
            }
            if nodes > MAX_NODES {
                let what = "one request (aliases expanded) has too many nodes";
                return Err(self.fatal(line, Problem::Limit { what, max: MAX_NODES }));
            }
            let Some((node, anchor)) = done else { continue };
            if base_depth + node.depth() > MAX_DEPTH {
                // Deep through aliases (`&b [*a]`, `&c [*b]`, ...), not through the text.
                return Err(
                    self.fatal(line, Problem::Limit { what: "collections nested too deep", max: MAX_DEPTH })
                );
            }
            let node = self.anchor(node, anchor, line)?;
            match stack.last_mut() {
                None => return Ok(node),
                Some((Node::Seq { items, .. }, _)) => items.push(node),
                Some((Node::Map { entries, .. }, _)) => {
                    if entries.push(node) > MAX_KEYS {
                        let what = "a mapping has too many keys";
                        return Err(self.fatal(line, Problem::Limit { what, max: MAX_KEYS }));
                    }
                }
                Some(_) => {}
            }
        }
    }

    /// Keeps an anchored node for later aliases; the tree holds it shared.
    fn anchor(&mut self, node: Node, anchor: usize, line: usize) -> Result<Node, Fatal> {
        if anchor == 0 {
            return Ok(node);
        }
        let node = Arc::new(node);
        self.anchored += node.size();
        if self.anchored > MAX_ANCHORED {
            let what = "anchored nodes in one file";
            return Err(self.fatal(line, Problem::Limit { what, max: MAX_ANCHORED }));
        }
        self.anchors.insert(anchor, node.clone());
        Ok(Node::Alias(node, line))
    }
}

impl<R: Read> Iterator for YamlStream<R> {
    type Item = Result<RawRequest, ManifestError>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            if let Some(item) = self.out.pop_front() {
                return Some(item);
            }
            if self.done {
                return None;
            }
            if let Err(Fatal(e)) = self.advance() {
                self.done = true;
                self.held.clear();
                self.out.push_back(Err(e));
            }
        }
    }
}

fn line_of(span: &Span) -> usize {
    span.start.line()
}

/// Text, a number (`KeySize: 2048`, kept as written), or for a list field a list;
/// null means absent.
fn raw_value(field: Field, value: &Node) -> Result<Option<RawValue>, Problem> {
    match value.resolve() {
        Node::Scalar { text, plain: true, .. } if is_null(text) => Ok(None),
        Node::Scalar { text, plain: true, .. } if is_bool(text) => {
            Err(Problem::WrongType { expected: "text", found: "true/false" })
        }
        Node::Scalar { text, .. } => Ok(Some(RawValue::Text(text.clone()))),
        Node::Seq { items, .. } if field.spec().kind.takes_list() => items
            .iter()
            .map(|item| match item.resolve() {
                Node::Scalar { text, plain, .. } if !(*plain && is_null(text)) => Ok(text.clone()),
                other => Err(Problem::WrongType { expected: "a list of names", found: other.kind() }),
            })
            .collect::<Result<Vec<_>, _>>()
            .map(|l| Some(RawValue::List(l))),
        other => Err(Problem::WrongType { expected: "text", found: other.kind() }),
    }
}

#[cfg(test)]
pub(super) fn parse(file: &Arc<Path>, text: &str) -> (Vec<RawRequest>, Vec<ManifestError>) {
    let (mut requests, mut errors) = (Vec::new(), Vec::new());
    for item in YamlStream::new(file.clone(), text.as_bytes(), ReadOptions::default()) {
        match item {
            Ok(r) => requests.push(r),
            Err(e) => errors.push(e),
        }
    }
    (requests, errors)
}

#[cfg(test)]
#[path = "yaml_tests.rs"]
mod tests;
