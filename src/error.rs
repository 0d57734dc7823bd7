//! Error types, one per layer, each carrying the context a person needs to act on it,
//! and the exit codes they map to.

use std::fmt;
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

    /// An error that is not the operating system's (a file csrbatch cannot parse, ...).
    pub fn other(path: impl Into<PathBuf>, detail: impl fmt::Display) -> Self {
        IoError { path: path.into(), source: io::Error::other(detail.to_string()) }
    }
}

/// Where the key passphrase should have come from, and why it did not.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PassphraseError {
    #[error("--key-passphrase-env: environment variable {var} is not set")]
    EnvUnset { var: String },
    #[error("--key-passphrase-file {}: {source}", path.display())]
    File { path: PathBuf, source: io::Error },
    #[error("the key passphrase is empty")]
    Empty,
}

/// Why `--out` cannot be an output folder at all.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum OutProblem {
    #[error("is a file, not a folder")]
    NotAFolder,
    #[error("cannot create the folder: {0}")]
    CannotCreate(io::Error),
    #[error("cannot read the folder: {0}")]
    Unreadable(IoError),
}

/// Why a run may not use an existing output folder as it was asked to. Each is found
/// before anything in the folder is read or written.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum FolderProblem {
    /// The folder keeps the layout it was first written with.
    #[error("written with --layout {has}; use the same layout")]
    Layout { has: crate::output::Layout },
    /// One folder holds one shard (or a whole run).
    #[error(
        "this folder holds {}, not {}; give each shard its own --out",
        held.map_or("no shard (a whole run)".to_owned(), |s| format!("shard {s}")),
        asked.map_or("a whole run".to_owned(), |s| format!("shard {s}"))
    )]
    Shard { held: Option<crate::shard::Shard>, asked: Option<crate::shard::Shard> },
    /// The folder keeps the key format it was first written with.
    #[error("its keys are written with --key-format {has}; use the same key format")]
    KeyFormat { has: crate::crypto::KeyFormat },
    /// The folder's keys are encrypted and no passphrase was given.
    #[error(
        "its keys are encrypted: give their passphrase with --key-passphrase-env or \
         --key-passphrase-file (nothing was read or written)"
    )]
    NeedsPassphrase,
    /// The folder's keys are not encrypted and this run would write encrypted ones.
    #[error(
        "its keys are not encrypted, and this run would write encrypted ones beside them: \
         run without a passphrase, or add --reencrypt to encrypt the existing keys as well"
    )]
    Unencrypted,
    /// The passphrase does not open the folder's keys.
    #[error("wrong passphrase for {}", key.display())]
    WrongPassphrase { key: PathBuf },
    /// `--reencrypt` cannot take encryption away (there is no passphrase to read with).
    #[error(
        "--reencrypt encrypts keys with the passphrase given; to decrypt keys, use \
         `openssl pkey` on them yourself"
    )]
    ReencryptWithoutPassphrase,
    /// csrbatch's own records in the folder cannot be read.
    #[error("{0}")]
    Records(IoError),
}

/// How a manifest changed between the pass that validated it and the one that generates.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Change {
    #[error("it is gone")]
    Gone,
    #[error("its size changed")]
    Size,
    #[error("it was modified (mtime)")]
    Modified,
    #[error("its content changed (SHA-256)")]
    Content,
}

/// Why a run stopped before (or instead of) finishing all its requests.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// Manifests did not load or validate; nothing was written.
    #[error("{} in the manifests; nothing was written", crate::text::plural(.0.len(), "error"))]
    Manifests(Vec<ManifestError>),
    /// A manifest changed after it was validated; nothing of it was written.
    #[error(
        "{}: {change} since csrbatch validated it; stopped before writing any of its requests \
         (run again once the manifests are final)",
        file.display()
    )]
    ManifestChanged { file: PathBuf, change: Change },
    /// The command line is wrong in a way clap cannot see (bench's flags).
    #[error("{0}")]
    Usage(String),
    /// The key passphrase could not be read.
    #[error(transparent)]
    Passphrase(#[from] PassphraseError),
    /// The shard (from `--shard` or the engine's variables) is not valid.
    #[error(transparent)]
    Shard(#[from] crate::shard::ShardError),
    /// The worker threads could not be started.
    #[error("cannot start {jobs} worker threads: {detail}")]
    Threads { jobs: usize, detail: String },
    /// `--out` is not a folder and cannot become one; `given` as the user wrote it.
    #[error("--out {}: {problem}", given.display())]
    OutFolder { given: PathBuf, problem: OutProblem },
    /// The output folder exists but this run may not use it as asked.
    #[error("{}: {problem}", given.display())]
    Folder { given: PathBuf, problem: FolderProblem },
    /// The output folder could not be written while the run was under way.
    #[error(transparent)]
    Io(#[from] IoError),
    /// Ctrl-C or SIGTERM: the run stopped taking work and landed what was finished.
    #[error("interrupted: {done} of {total} done; run the same command again to finish")]
    Interrupted { done: u64, total: u64 },
    /// `bench` could not make a key or a CSR (no file is involved: the request itself failed).
    #[error("bench: {0}")]
    Crypto(#[from] CryptoError),
    /// The reader of stdout went away (`csrbatch plan | head`): the command stops quietly
    /// with success, as a pipe's writer does.
    #[error("stdout was closed")]
    StdoutClosed,
}

impl Error {
    pub fn exit_code(&self) -> ExitCode {
        match self {
            Error::Io(_) | Error::Crypto(_) => ExitCode::Failed,
            Error::Interrupted { .. } => ExitCode::Interrupted,
            Error::StdoutClosed => ExitCode::Success,
            Error::Manifests(_)
            | Error::ManifestChanged { .. }
            | Error::Usage(_)
            | Error::Passphrase(_)
            | Error::Shard(_)
            | Error::Threads { .. }
            | Error::OutFolder { .. }
            | Error::Folder { .. } => ExitCode::Usage,
        }
    }
}

/// The process exit codes, most serious last so that merging keeps the worst.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum ExitCode {
    /// Every request done.
    Success = 0,
    /// Some request failed or is damaged (or `--check` found work to do).
    Failed = 1,
    /// Nothing was done: bad usage, a manifest error, an output folder that cannot be
    /// used, a passphrase problem.
    Usage = 2,
    /// Stopped by Ctrl-C or SIGTERM (128 + SIGINT), after landing what was finished.
    Interrupted = 130,
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
        assert_eq!(ExitCode::Interrupted.merge(ExitCode::Failed), ExitCode::Interrupted);
    }

    #[test]
    fn each_error_has_its_exit_code() {
        let io = || IoError::other("x", "boom");
        assert_eq!(Error::Io(io()).exit_code(), ExitCode::Failed);
        assert_eq!(Error::Interrupted { done: 1, total: 2 }.exit_code() as u8, 130);
        let folder = Error::Folder { given: "certs".into(), problem: FolderProblem::NeedsPassphrase };
        assert_eq!(folder.exit_code(), ExitCode::Usage);
        assert!(folder.to_string().starts_with("certs: its keys are encrypted"), "{folder}");
        let out = Error::OutFolder { given: "f.txt".into(), problem: OutProblem::NotAFolder };
        assert_eq!(
            (out.exit_code(), out.to_string().as_str()),
            (ExitCode::Usage, "--out f.txt: is a file, not a folder")
        );
        assert_eq!(Error::Manifests(vec![]).exit_code(), ExitCode::Usage);
    }
}
