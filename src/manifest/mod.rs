//! Loading: manifest files (YAML or CSV) into raw, unvalidated records that remember
//! where they came from (`file:line`). Nothing here judges a value; `request` does.

mod csv;
mod discover;
mod yaml;

pub use discover::discover;

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::error::{ManifestError, Problem};

/// The `CreateCsr` parameter names, spelled exactly as the API spells them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Field {
    Algorithm,
    KeySize,
    CommonName,
    Sans,
    CountryCode,
    Province,
    Locality,
    CorpName,
    Department,
    Name,
    /// Optional CSR extensions and attributes, and a user's own key (issue 14).
    KeyUsage,
    ExtendedKeyUsage,
    ChallengePassword,
    KeyFile,
}

impl Field {
    pub const ALL: [Field; 14] = [
        Field::Algorithm,
        Field::KeySize,
        Field::CommonName,
        Field::Sans,
        Field::CountryCode,
        Field::Province,
        Field::Locality,
        Field::CorpName,
        Field::Department,
        Field::Name,
        Field::KeyUsage,
        Field::ExtendedKeyUsage,
        Field::ChallengePassword,
        Field::KeyFile,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Field::Algorithm => "Algorithm",
            Field::KeySize => "KeySize",
            Field::CommonName => "CommonName",
            Field::Sans => "Sans",
            Field::CountryCode => "CountryCode",
            Field::Province => "Province",
            Field::Locality => "Locality",
            Field::CorpName => "CorpName",
            Field::Department => "Department",
            Field::Name => "Name",
            Field::KeyUsage => "KeyUsage",
            Field::ExtendedKeyUsage => "ExtendedKeyUsage",
            Field::ChallengePassword => "ChallengePassword",
            Field::KeyFile => "KeyFile",
        }
    }

    /// Fields that take a list in YAML (or a comma-separated string anywhere).
    pub fn takes_list(self) -> bool {
        matches!(self, Field::Sans | Field::KeyUsage | Field::ExtendedKeyUsage)
    }

    /// Exact, case-sensitive lookup; on a miss, the error suggests the nearest name.
    pub fn parse(name: &str) -> Result<Field, Problem> {
        Field::ALL
            .into_iter()
            .find(|f| f.as_str() == name)
            .ok_or_else(|| Problem::UnknownField { name: name.to_owned(), suggestion: Field::nearest(name) })
    }

    /// The known name closest to `name`, if it is close enough to be a likely typo.
    fn nearest(name: &str) -> Option<Field> {
        let lower = name.to_ascii_lowercase();
        Field::ALL
            .into_iter()
            .map(|f| {
                let d = strsim::damerau_levenshtein(&lower, &f.as_str().to_ascii_lowercase());
                (d, f)
            })
            .min_by_key(|(d, _)| *d)
            .filter(|(d, f)| *d <= 2.max(f.as_str().len() / 3))
            .map(|(_, f)| f)
    }
}

impl fmt::Display for Field {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Where a request was read: the manifest file and the 1-based line of the request.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Origin {
    pub file: Arc<Path>,
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
    Text(String),
    List(Vec<String>),
}

/// One request as read, before any rule is applied. Absent fields are simply missing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawRequest {
    pub origin: Origin,
    /// 1-based position of the request in its manifest.
    pub ordinal: usize,
    pub fields: Vec<(Field, RawValue)>,
}

impl RawRequest {
    pub fn get(&self, field: Field) -> Option<&RawValue> {
        self.fields.iter().find(|(f, _)| *f == field).map(|(_, v)| v)
    }

    /// How messages call this request: its Name, else its CommonName, else `#N`.
    pub fn label(&self) -> String {
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
    Yaml,
    Csv,
}

impl Format {
    pub fn of(path: &Path) -> Option<Format> {
        let ext = path.extension()?.to_str()?.to_ascii_lowercase();
        match ext.as_str() {
            "yaml" | "yml" => Some(Format::Yaml),
            "csv" => Some(Format::Csv),
            _ => None,
        }
    }
}

/// Every request of `files`, in order, each as it is read: CSV record by record, YAML a
/// file at a time. Errors come in their place; the stream goes on after them.
pub fn stream(files: &[PathBuf]) -> Stream {
    Stream { files: files.to_vec(), next: 0, current: None }
}

pub struct Stream {
    files: Vec<PathBuf>,
    next: usize,
    current: Option<Source>,
}

enum Source {
    Csv(Box<csv::CsvStream<std::io::BufReader<std::fs::File>>>),
    Yaml(std::vec::IntoIter<Result<RawRequest, ManifestError>>),
}

impl Stream {
    fn open(path: &Path) -> Source {
        let file: Arc<Path> = Arc::from(path);
        let failed =
            |problem| Source::Yaml(vec![Err(ManifestError::file(file.clone(), 0, problem))].into_iter());
        match Format::of(path) {
            Some(Format::Csv) => {
                let opened =
                    std::fs::File::open(path).and_then(|f| csv::skip_bom(std::io::BufReader::new(f)));
                match opened {
                    Ok(reader) => Source::Csv(Box::new(csv::CsvStream::new(file.clone(), reader))),
                    Err(e) => failed(Problem::Io(e.to_string())),
                }
            }
            // discover() only hands over .yaml/.yml/.csv; anything else is read as YAML.
            _ => match read_text(path) {
                Ok(text) => {
                    let (requests, errors) = yaml::parse(&file, &text);
                    let items: Vec<_> =
                        errors.into_iter().map(Err).chain(requests.into_iter().map(Ok)).collect();
                    Source::Yaml(items.into_iter())
                }
                Err(problem) => failed(problem),
            },
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
                None => None,
            };
            if item.is_some() {
                return item;
            }
            let path = self.files.get(self.next)?;
            self.next += 1;
            self.current = Some(Stream::open(path));
        }
    }
}

fn read_text(path: &Path) -> Result<String, Problem> {
    let bytes = std::fs::read(path).map_err(|e| Problem::Io(e.to_string()))?;
    String::from_utf8(bytes).map_err(|e| Problem::NotUtf8 { offset: e.utf8_error().valid_up_to() })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn field_names_round_trip() {
        for f in Field::ALL {
            assert_eq!(Field::parse(f.as_str()).ok(), Some(f));
        }
    }

    #[test]
    fn unknown_field_suggests_nearest() {
        let err = Field::parse("CommmonName").unwrap_err();
        assert_eq!(err.to_string(), "unknown field `CommmonName`; did you mean `CommonName`?");
        let err = Field::parse("commonname").unwrap_err();
        assert!(err.to_string().contains("did you mean `CommonName`"), "{err}");
        let err = Field::parse("Colour").unwrap_err();
        assert!(!err.to_string().contains("did you mean"), "{err}");
    }

    #[test]
    fn format_by_extension() {
        assert_eq!(Format::of(Path::new("a/b.YML")), Some(Format::Yaml));
        assert_eq!(Format::of(Path::new("x.csv")), Some(Format::Csv));
        assert_eq!(Format::of(Path::new("x.json")), None);
    }
}
