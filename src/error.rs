//! Error types, one per layer, each carrying the context a person needs to act on it,
//! and the exit codes they map to.

use std::fmt;
use std::io;
use std::path::PathBuf;
use std::sync::Arc;

use crate::manifest::{Field, Origin};

/// What is wrong with a manifest, a record or a value. Location lives in [`ManifestError`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Problem {
    /// The file or folder could not be read.
    #[error("cannot read: {0}")]
    Io(String),
    /// The path does not exist.
    #[error("no such file or folder")]
    NotFound,
    /// A file named on the command line is not a manifest.
    #[error("not a manifest: expected a .yaml, .yml or .csv file")]
    NotAManifest,
    /// A folder holds no manifest at all.
    #[error("no .yaml, .yml or .csv manifest found in this folder")]
    NoManifests,
    /// The bytes are not UTF-8.
    #[error("not valid UTF-8 (first bad byte at offset {offset})")]
    NotUtf8 { offset: usize },
    /// YAML or CSV syntax error, as the parser reported it.
    #[error("syntax error: {0}")]
    Syntax(String),
    /// The document parses but is not laid out as a manifest.
    #[error("{0}")]
    Shape(String),
    /// The manifest holds no request.
    #[error("the manifest holds no request")]
    NoRequests,
    /// A field or column name that `CreateCsr` does not have.
    #[error("unknown field `{name}`{}", suggestion.map(|s| format!("; did you mean `{s}`?")).unwrap_or_default())]
    UnknownField { name: String, suggestion: Option<Field> },
    /// The same field given twice in one request (or one CSV header).
    #[error("given more than once")]
    DuplicateField,
    /// A value of the wrong YAML type (a mapping where text was expected, ...).
    #[error("expected {expected}, found {found}")]
    WrongType { expected: &'static str, found: &'static str },
    /// A required field is absent or empty.
    #[error("required, but missing")]
    Missing,
    /// Text longer than the field allows.
    #[error("{len} characters, at most {max} allowed")]
    TooLong { max: usize, len: usize },
    /// Text with a control character (newline, tab, NUL, ...).
    #[error("contains a control character (U+{0:04X})")]
    ControlChar(u32),
    /// An Algorithm other than RSA, ECC, SM2.
    #[error("`{0}` is not an algorithm; use RSA, ECC or SM2")]
    UnknownAlgorithm(String),
    /// A KeySize the Algorithm does not allow.
    #[error("{value} is not allowed for {algorithm} ({allowed})")]
    KeySize { algorithm: &'static str, value: String, allowed: &'static str },
    /// A name that is not a valid DNS name.
    #[error("`{value}` is not a valid DNS name: {reason}")]
    DnsName { value: String, reason: String },
    /// An IP address given as CommonName.
    #[error("`{0}` is an IP address; CommonName must be a DNS name (put IP addresses in Sans)")]
    IpCommonName(String),
    /// Not an ISO 3166-1 alpha-2 code.
    #[error("`{0}` is not an ISO 3166-1 alpha-2 country code (e.g. CN, US, DE)")]
    Country(String),
    /// A Name that breaks the `CreateCsr` rule or would be unsafe as a file name.
    #[error("`{value}` is not a valid Name: {reason}")]
    Name { value: String, reason: &'static str },
    /// A KeyUsage name RFC 5280 does not have (or one csrbatch does not offer).
    #[error(
        "`{0}` is not a key usage; use digitalSignature, nonRepudiation, keyEncipherment, \
         dataEncipherment or keyAgreement"
    )]
    UnknownKeyUsage(String),
    /// An ExtendedKeyUsage that is neither a known purpose nor a dotted OID.
    #[error(
        "`{0}` is not an extended key usage; use serverAuth, clientAuth, codeSigning, \
         emailProtection, timeStamping, OCSPSigning or a dotted OID such as 1.3.6.1.5.5.7.3.1"
    )]
    UnknownExtendedKeyUsage(String),
    /// A key usage the request's key type cannot do.
    #[error("{usage} cannot be asked for with an {algorithm} key ({why})")]
    KeyUsageForKey { usage: &'static str, algorithm: &'static str, why: &'static str },
    /// A KeyFile that cannot be used: missing, unreadable, or not a key of the request's
    /// Algorithm and KeySize.
    #[error("{}: {reason}", path.display())]
    KeyFile { path: PathBuf, reason: String },
    /// Two requests with the same Name (compared case-insensitively).
    #[error("Name `{name}` is also used by the request at {other}")]
    DuplicateName { name: String, other: Origin },
}

/// A [`Problem`] with its place: `FILE:LINE: request NAME: FIELD: what is wrong`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct ManifestError {
    pub origin: Origin,
    /// How the request is called in messages: its Name, else its CommonName, else `#N`.
    pub request: Option<String>,
    pub field: Option<Field>,
    pub problem: Problem,
}

impl ManifestError {
    /// An error about a whole file (or, with `line > 0`, a place in it outside any request).
    pub fn file(file: Arc<std::path::Path>, line: usize, problem: Problem) -> Self {
        ManifestError { origin: Origin { file, line }, request: None, field: None, problem }
    }

    /// An error about one request, not tied to one of its fields.
    pub fn request(origin: &Origin, request: &str, problem: Problem) -> Self {
        ManifestError { origin: origin.clone(), request: Some(request.to_owned()), field: None, problem }
    }

    /// An error about one field of one request.
    pub fn field(origin: &Origin, request: &str, field: Field, problem: Problem) -> Self {
        ManifestError {
            origin: origin.clone(),
            request: Some(request.to_owned()),
            field: Some(field),
            problem,
        }
    }
}

impl fmt::Display for ManifestError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.origin.file.display())?;
        if self.origin.line > 0 {
            write!(f, ":{}", self.origin.line)?;
        }
        if let Some(request) = &self.request {
            write!(f, ": request {request:?}")?;
        }
        if let Some(field) = self.field {
            write!(f, ": {field}")?;
        }
        write!(f, ": {}", self.problem)
    }
}

/// Failure to make one request's key or CSR. Foreign error types are rendered to text
/// so that they stay out of this crate's API.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CryptoError {
    #[error("key generation failed: {0}")]
    KeyGen(String),
    #[error("encoding failed: {0}")]
    Encode(String),
    #[error("signing failed: {0}")]
    Sign(String),
    /// The CSR did not pass our own check before it would have been written.
    #[error("self-check of the CSR failed: {0}")]
    SelfCheck(String),
    /// A stored key or CSR could not be read back.
    #[error("cannot read {what}: {detail}")]
    Parse { what: &'static str, detail: String },
}

/// A file-system failure, with the path it happened on.
#[derive(Debug, thiserror::Error)]
#[error("{}: {source}", path.display())]
pub struct IoError {
    pub path: PathBuf,
    #[source]
    pub source: io::Error,
}

impl IoError {
    pub fn new(path: impl Into<PathBuf>, source: io::Error) -> Self {
        IoError { path: path.into(), source }
    }
}

/// Why a run stopped before (or instead of) finishing all its requests.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// Manifests did not load or validate; nothing was written.
    #[error("{} error(s) in the manifests; nothing was written", .0.len())]
    Manifests(Vec<ManifestError>),
    /// The command line is wrong in a way clap cannot see.
    #[error("{0}")]
    Usage(String),
    /// The output folder could not be prepared or written.
    #[error(transparent)]
    Io(#[from] IoError),
}

impl Error {
    pub fn exit_code(&self) -> ExitCode {
        match self {
            Error::Manifests(_) | Error::Usage(_) => ExitCode::Usage,
            Error::Io(_) => ExitCode::Failed,
        }
    }
}

/// The process exit codes, most serious last so that merging keeps the worst.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum ExitCode {
    /// Every request done.
    Success = 0,
    /// Some request failed while generating or writing (or `--check` found work to do).
    Failed = 1,
    /// Bad usage or a manifest error; nothing was written.
    Usage = 2,
}

impl ExitCode {
    pub fn merge(self, other: ExitCode) -> ExitCode {
        self.max(other)
    }
}

impl From<ExitCode> for std::process::ExitCode {
    fn from(code: ExitCode) -> Self {
        std::process::ExitCode::from(code as u8)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn origin() -> Origin {
        Origin { file: Arc::from(std::path::Path::new("web.yaml")), line: 12 }
    }

    #[test]
    fn field_error_reads_as_a_sentence() {
        let e = ManifestError::field(
            &origin(),
            "www",
            Field::KeySize,
            Problem::KeySize { algorithm: "RSA", value: "1024".into(), allowed: "2048, 3072, 4096" },
        );
        assert_eq!(
            e.to_string(),
            "web.yaml:12: request \"www\": KeySize: 1024 is not allowed for RSA (2048, 3072, 4096)"
        );
    }

    #[test]
    fn file_error_without_line() {
        let e = ManifestError::file(Arc::from(std::path::Path::new("a.csv")), 0, Problem::NoRequests);
        assert_eq!(e.to_string(), "a.csv: the manifest holds no request");
    }

    #[test]
    fn exit_codes_merge_to_the_worst() {
        assert_eq!(ExitCode::Success.merge(ExitCode::Failed), ExitCode::Failed);
        assert_eq!(ExitCode::Usage.merge(ExitCode::Failed), ExitCode::Usage);
        assert_eq!(ExitCode::Success.merge(ExitCode::Success), ExitCode::Success);
        assert_eq!(ExitCode::Usage as u8, 2);
    }
}
