//! Error types, one per layer, each carrying the context a person needs to act on it,
//! and the exit codes they map to.

use std::io;
use std::path::PathBuf;

/// Moved to `manifest::error` (so that `error` and `manifest` do not import each other);
/// re-exported here so that `crate::error::{ManifestError, Problem}` keeps working.
pub use crate::manifest::{ManifestError, Problem};

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

    #[test]
    fn exit_codes_merge_to_the_worst() {
        assert_eq!(ExitCode::Success.merge(ExitCode::Failed), ExitCode::Failed);
        assert_eq!(ExitCode::Usage.merge(ExitCode::Failed), ExitCode::Usage);
        assert_eq!(ExitCode::Success.merge(ExitCode::Success), ExitCode::Success);
        assert_eq!(ExitCode::Usage as u8, 2);
    }
}
