//! The top of the error types: [`Error`] composes each layer's own error (manifests,
//! crypto, the output folder, shards, secrets) and maps every one to its exit code.

use std::path::PathBuf;

use crate::crypto::CryptoError;
use crate::manifest::{Change, ManifestError};
use crate::output::{FolderError, IoError};
use crate::secret::PassphraseError;
use crate::shard::ShardError;

/// Why a run stopped before (or instead of) finishing all its requests.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// Manifests did not load or validate; nothing was written.
    #[error("{} in the manifests; nothing was written", crate::words::plural(.0.len(), "error"))]
    Manifests(Vec<ManifestError>),
    /// A manifest changed after it was validated; nothing of it was written.
    #[error(
        "{}: {change} since csrbatch validated it; stopped before writing any of its requests \
         (run again once the manifests are final)",
        file.display()
    )]
    ManifestChanged {
        /// The manifest that changed.
        file: PathBuf,
        /// How it changed.
        change: Change,
    },
    /// The command line is wrong in a way clap cannot see (bench's flags).
    #[error("{0}")]
    Usage(String),
    /// A `bench` run's requests did not all succeed (its summary.json says which).
    #[error("bench run into {} failed; see its summary.json", out.display())]
    BenchFailed {
        /// The run's output folder (`--out`).
        out: PathBuf,
    },
    /// A document csrbatch makes (a man page, a JSON report) could not be made.
    #[error("cannot make {what}: {detail}")]
    Render {
        /// The document, as the message names it: "the man page".
        what: &'static str,
        /// The underlying error's message.
        detail: String,
    },
    /// The key passphrase could not be read.
    #[error(transparent)]
    Passphrase(#[from] PassphraseError),
    /// The shard (from `--shard` or the engine's variables) is not valid.
    #[error(transparent)]
    Shard(#[from] ShardError),
    /// The worker threads could not be started.
    #[error("cannot start {jobs} worker threads: {detail}")]
    Threads {
        /// How many threads were asked for (`--jobs`).
        jobs: usize,
        /// The underlying error's message.
        detail: String,
    },
    /// The output folder cannot be used as this run asks.
    #[error(transparent)]
    Folder(#[from] FolderError),
    /// The output folder could not be written while the run was under way.
    #[error(transparent)]
    Io(#[from] IoError),
    /// Ctrl-C or SIGTERM: the run stopped taking work and landed what was finished.
    #[error("interrupted: {done} of {total} done; run the same command again to finish")]
    Interrupted {
        /// How many requests were finished (their entries journaled) before it stopped.
        done: u64,
        /// How many requests the run had.
        total: u64,
    },
    /// `bench` could not make a key or a CSR (no file is involved: the request itself failed).
    #[error("bench: {0}")]
    Crypto(#[from] CryptoError),
    /// The reader of stdout went away (`csrbatch plan | head`): `main` ends the command
    /// quietly with success, as a pipe's writer does (see [`Error::is_closed_stdout`]).
    #[error("cannot write to stdout: {0}")]
    Stdout(#[from] std::io::Error),
}

impl Error {
    /// The exit code the process ends with for this error.
    pub fn exit_code(&self) -> ExitCode {
        match self {
            Error::Io(_) | Error::Crypto(_) | Error::BenchFailed { .. } | Error::Render { .. } => {
                ExitCode::Failed
            }
            Error::Interrupted { .. } => ExitCode::Interrupted,
            Error::Stdout(e) if e.kind() == std::io::ErrorKind::BrokenPipe => ExitCode::Success,
            Error::Stdout(_) => ExitCode::Failed,
            Error::Manifests(_)
            | Error::ManifestChanged { .. }
            | Error::Usage(_)
            | Error::Passphrase(_)
            | Error::Shard(_)
            | Error::Threads { .. }
            | Error::Folder(_) => ExitCode::Usage,
        }
    }

    /// Whether this is stdout's reader gone away, which ends a command quietly.
    pub fn is_closed_stdout(&self) -> bool {
        matches!(self, Error::Stdout(e) if e.kind() == std::io::ErrorKind::BrokenPipe)
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
    pub(crate) fn merge(self, other: ExitCode) -> ExitCode {
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
    use crate::output::{FolderProblem, OutProblem};

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
        let folder = Error::from(FolderError::Folder {
            given: "certs".into(),
            problem: FolderProblem::NeedsPassphrase,
        });
        assert_eq!(folder.exit_code(), ExitCode::Usage);
        assert!(folder.to_string().starts_with("certs: its keys are encrypted"), "{folder}");
        let out = Error::from(FolderError::Out { given: "f.txt".into(), problem: OutProblem::NotAFolder });
        assert_eq!(
            (out.exit_code(), out.to_string().as_str()),
            (ExitCode::Usage, "--out f.txt: is a file, not a folder")
        );
        assert_eq!(Error::Manifests(vec![]).exit_code(), ExitCode::Usage);
        assert_eq!(Error::BenchFailed { out: "b".into() }.exit_code(), ExitCode::Failed);
        let closed = Error::from(std::io::Error::from(std::io::ErrorKind::BrokenPipe));
        assert!(closed.is_closed_stdout() && closed.exit_code() == ExitCode::Success);
    }
}
