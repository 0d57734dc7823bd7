//! What can be wrong with a manifest ([`Problem`]) and where ([`ManifestError`]):
//! `FILE:LINE: request NAME: FIELD: what is wrong`.

use std::fmt;
use std::sync::Arc;

use super::{Field, Origin};

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
    /// The bytes are not UTF-8 (the error's line is the line of the first bad byte).
    #[error(
        "not valid UTF-8 (the first bad byte is on this line); save as 'CSV UTF-8' or pass --encoding gb18030 (or the file's own encoding)"
    )]
    NotUtf8,
    /// The bytes are not valid in the encoding given with `--encoding`.
    #[error("not valid {0} text (the encoding given with --encoding)")]
    BadEncoding(&'static str),
    /// YAML or CSV syntax error, as the parser reported it.
    #[error("syntax error: {0}")]
    Syntax(String),
    /// The document parses but is not laid out as a manifest.
    #[error("{0}")]
    Shape(String),
    /// A top-level key other than `defaults` and `requests`.
    #[error("unknown top-level key `{name}`; {}", match suggestion {
        Some(s) => format!("did you mean `{s}`?"),
        None => "a manifest mapping has `defaults:` and `requests:`".to_owned(),
    })]
    UnknownTopKey {
        /// The key as written.
        name: String,
        /// `requests` or `defaults`, when the key is close enough to be a typo of one.
        suggestion: Option<&'static str>,
    },
    /// One of the limits that keep hostile input from stalling or exhausting the tool.
    #[error("{what} (the limit is {max}); this is not a manifest csrbatch will read")]
    Limit {
        /// What went over the limit, as a phrase: "collections nested too deep".
        what: &'static str,
        /// The limit, in what `what` counts.
        max: usize,
    },
    /// The manifest holds no request.
    #[error("the manifest holds no request")]
    NoRequests,
    /// A field or column name that `CreateCsr` does not have.
    #[error("unknown field `{name}`{}", suggestion.map(|s| format!("; did you mean `{s}`?")).unwrap_or_default())]
    UnknownField {
        /// The name as written.
        name: String,
        /// The field whose name is close enough to be a likely typo.
        suggestion: Option<Field>,
    },
    /// The same field given twice in one request (or one CSV header).
    #[error("given more than once")]
    DuplicateField,
    /// A value of the wrong YAML type (a mapping where text was expected, ...).
    #[error("expected {expected}, found {found}")]
    WrongType {
        /// What the field takes: "text", "a list of names".
        expected: &'static str,
        /// What the manifest holds there: "a mapping", "true/false", ...
        found: &'static str,
    },
    /// A required field is absent or empty.
    #[error("required, but missing")]
    Missing,
    /// Text longer than the field allows.
    #[error("{len} characters, at most {max} allowed")]
    TooLong {
        /// The most characters the field allows.
        max: usize,
        /// The value's length in characters (trimmed).
        len: usize,
    },
    /// Text with a control character (newline, tab, NUL, ...).
    #[error("contains a control character (U+{0:04X})")]
    ControlChar(u32),
    /// An Algorithm other than RSA, ECC, SM2.
    #[error("`{0}` is not an algorithm; use RSA, ECC or SM2")]
    UnknownAlgorithm(String),
    /// A KeySize the Algorithm does not allow.
    #[error("{value} is not allowed for {algorithm} ({allowed})")]
    KeySize {
        /// The request's Algorithm: RSA, ECC or SM2.
        algorithm: &'static str,
        /// The KeySize as written (trimmed).
        value: String,
        /// The sizes the Algorithm allows, for the message: "2048, 3072, 4096".
        allowed: &'static str,
    },
    /// A name that is not a valid DNS name.
    #[error("`{value}` is not a valid DNS name: {reason}")]
    DnsName {
        /// The name as written (trimmed).
        value: String,
        /// Which rule it breaks.
        reason: String,
    },
    /// An IP address given as CommonName.
    #[error("`{0}` is an IP address; CommonName must be a DNS name (put IP addresses in Sans)")]
    IpCommonName(String),
    /// Not an ISO 3166-1 alpha-2 code.
    #[error("`{0}` is not an ISO 3166-1 alpha-2 country code (e.g. CN, US, DE)")]
    Country(String),
    /// A Name that breaks the `CreateCsr` rule or would be unsafe as a file name.
    #[error("`{value}` is not a valid Name: {reason}")]
    Name {
        /// The Name as written (trimmed).
        value: String,
        /// Which rule it breaks.
        reason: &'static str,
    },
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
    KeyUsageForKey {
        /// The usage as RFC 5280 names it: `keyEncipherment`.
        usage: &'static str,
        /// The request's Algorithm: RSA, ECC or SM2.
        algorithm: &'static str,
        /// Why a key of that type cannot be used so.
        why: &'static str,
    },
    /// A KeyFile that cannot be used: missing, unreadable, or not a key of the request's
    /// Algorithm and KeySize.
    #[error("{}: {reason}", path.display())]
    KeyFile {
        /// The key file.
        path: std::path::PathBuf,
        /// Why it cannot be used.
        reason: String,
    },
    /// Two requests with the same Name (compared case-insensitively).
    #[error("Name `{name}` is also used by the request at {other}")]
    DuplicateName {
        /// The Name, as this request gives or derives it.
        name: String,
        /// Where the request that has it first is.
        other: Origin,
    },
}

/// A [`Problem`] with its place: `FILE:LINE: request NAME: FIELD: what is wrong`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct ManifestError {
    /// The file, and the line (0: the error is about the whole file).
    pub origin: Origin,
    /// How the request is called in messages: its Name, else its CommonName, else `#N`.
    pub(crate) request: Option<String>,
    pub(crate) field: Option<Field>,
    /// What is wrong.
    pub problem: Problem,
}

impl ManifestError {
    /// An error about a whole file (or, with `line > 0`, a place in it outside any request).
    pub(crate) fn file(file: Arc<std::path::Path>, line: usize, problem: Problem) -> Self {
        ManifestError { origin: Origin { file, line }, request: None, field: None, problem }
    }

    /// An error about one request, not tied to one of its fields.
    pub(crate) fn request(origin: &Origin, request: &str, problem: Problem) -> Self {
        ManifestError { origin: origin.clone(), request: Some(request.to_owned()), field: None, problem }
    }

    /// An error about one field of one request.
    pub(crate) fn field(origin: &Origin, request: &str, field: Field, problem: Problem) -> Self {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn field_error_reads_as_a_sentence() {
        let origin = Origin { file: Arc::from(std::path::Path::new("web.yaml")), line: 12 };
        let e = ManifestError::field(
            &origin,
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
    fn top_level_typo_suggests() {
        let p = Problem::UnknownTopKey { name: "request".into(), suggestion: Some("requests") };
        assert_eq!(p.to_string(), "unknown top-level key `request`; did you mean `requests`?");
    }
}
