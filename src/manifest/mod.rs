//! Loading: manifest files (YAML or CSV) into raw, unvalidated records that remember
//! where they came from (`file:line`). Nothing here judges a value; `request` does.

mod csv;
mod discover;
pub(crate) mod error;
pub(crate) mod field;
mod fingerprint;
mod guard;
pub(crate) mod limits;
mod node;
pub(crate) mod text;
mod yaml;

pub(crate) use discover::discover;
pub use error::{ManifestError, Problem};
pub use field::Field;
pub(crate) use field::ValueKind;
pub(crate) use fingerprint::{Change, Fingerprint};
pub use text::ReadOptions;
pub(crate) use text::TextEncoding;

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Where a request was read: the manifest file and the 1-based line of the request.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Origin {
    /// The manifest file, as given on the command line or found in a folder.
    pub file: Arc<Path>,
    /// 1-based; 0 in an error about the whole file.
    pub line: usize,
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.file.display(), self.line)
    }
}

/// A value as the manifest wrote it: text, or (for `Sans` in YAML) a list of texts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RawValue {
    /// A YAML scalar or a CSV cell.
    Text(String),
    /// A YAML list of scalars.
    List(Vec<String>),
}

/// One request as read, before any rule is applied. Absent fields are simply missing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawRequest {
    /// The request's own line (for YAML the line of its first field).
    pub origin: Origin,
    /// 1-based position of the request in its manifest.
    pub ordinal: usize,
    /// The fields given, in the order read.
    pub fields: Vec<(Field, RawValue)>,
    /// The line of each field (same order as `fields`); empty or short when not known,
    /// then the request's line stands for it.
    pub field_lines: Vec<usize>,
}

impl RawRequest {
    pub(crate) fn get(&self, field: Field) -> Option<&RawValue> {
        self.fields.iter().find(|(f, _)| *f == field).map(|(_, v)| v)
    }

    /// Where `field` is written: its own line, else (absent, or not known) the request's.
    pub(crate) fn origin_of(&self, field: Field) -> Origin {
        let line = self
            .fields
            .iter()
            .position(|(f, _)| *f == field)
            .and_then(|i| self.field_lines.get(i).copied())
            .unwrap_or(self.origin.line);
        Origin { file: self.origin.file.clone(), line }
    }

    /// How messages call this request: its Name, else its CommonName, else `#N`.
    pub(crate) fn label(&self) -> String {
        label(&self.fields, self.ordinal)
    }
}

pub(crate) fn label(fields: &[(Field, RawValue)], ordinal: usize) -> String {
    [Field::Name, Field::CommonName]
        .into_iter()
        .find_map(|want| {
            fields.iter().find_map(|(f, v)| match v {
                RawValue::Text(t) if *f == want && !t.trim().is_empty() => Some(t.trim().to_owned()),
                _ => None,
            })
        })
        .unwrap_or_else(|| format!("#{ordinal}"))
}

/// The manifest formats, chosen by file extension.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// `.yaml` or `.yml`.
    Yaml,
    /// `.csv`.
    Csv,
}

impl Format {
    /// The format `path`'s extension (in any case) names, if any.
    pub fn of(path: &Path) -> Option<Format> {
        let ext = path.extension()?.to_str()?.to_ascii_lowercase();
        match ext.as_str() {
            "yaml" | "yml" => Some(Format::Yaml),
            "csv" => Some(Format::Csv),
            _ => None,
        }
    }
}

/// Every request of `files`, in order, each as it is read (CSV record by record, YAML
/// request by request), decoded as `options` say (`--encoding`). Errors come in their
/// place; the stream goes on after them.
pub(crate) fn stream_with(files: &[PathBuf], options: ReadOptions) -> Stream {
    Stream { files: files.to_vec(), next: 0, current: None, options }
}

pub(crate) struct Stream {
    files: Vec<PathBuf>,
    next: usize,
    current: Option<Source>,
    options: ReadOptions,
}

type FileReader = std::io::BufReader<std::fs::File>;

enum Source {
    Csv(Box<csv::CsvStream<FileReader>>),
    Yaml(Box<yaml::YamlStream<FileReader>>),
    Failed(Option<ManifestError>),
}

impl Stream {
    fn open(&self, path: &Path) -> Source {
        let file: Arc<Path> = Arc::from(path);
        let reader = match std::fs::File::open(path) {
            Ok(f) => std::io::BufReader::with_capacity(64 * 1024, f),
            Err(e) => return Source::Failed(Some(ManifestError::file(file, 0, Problem::Io(e.to_string())))),
        };
        match Format::of(path) {
            Some(Format::Csv) => Source::Csv(Box::new(csv::CsvStream::new(file, reader, self.options))),
            // discover() only hands over .yaml/.yml/.csv; anything else is read as YAML.
            _ => Source::Yaml(Box::new(yaml::YamlStream::new(file, reader, self.options))),
        }
    }
}

impl Iterator for Stream {
    type Item = Result<RawRequest, ManifestError>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            let item = match &mut self.current {
                Some(Source::Csv(s)) => s.next(),
                Some(Source::Yaml(s)) => s.next(),
                Some(Source::Failed(e)) => e.take().map(Err),
                None => None,
            };
            if item.is_some() {
                return item;
            }
            let path = self.files.get(self.next)?.clone();
            self.next += 1;
            self.current = Some(self.open(&path));
        }
    }
}

/// Reads one manifest from memory (for tests and fuzzing): requests and errors apart.
pub fn read_bytes(
    name: &str,
    format: Format,
    bytes: &[u8],
    options: ReadOptions,
) -> (Vec<RawRequest>, Vec<ManifestError>) {
    let file: Arc<Path> = Arc::from(Path::new(name));
    let items: Box<dyn Iterator<Item = Result<RawRequest, ManifestError>>> = match format {
        Format::Csv => Box::new(csv::CsvStream::new(file, bytes, options)),
        Format::Yaml => Box::new(yaml::YamlStream::new(file, bytes, options)),
    };
    let (mut requests, mut errors) = (Vec::new(), Vec::new());
    for item in items {
        match item {
            Ok(r) => requests.push(r),
            Err(e) => errors.push(e),
        }
    }
    (requests, errors)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn format_by_extension() {
        assert_eq!(Format::of(Path::new("a/b.YML")), Some(Format::Yaml));
        assert_eq!(Format::of(Path::new("x.csv")), Some(Format::Csv));
        assert_eq!(Format::of(Path::new("x.json")), None);
    }
}
