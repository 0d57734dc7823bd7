//! The output folder's errors: a file-system failure with its path, and why a folder
//! cannot be used as a run asks.

use std::fmt;
use std::io;
use std::path::PathBuf;

/// A file-system failure, with the path it happened on.
#[derive(Debug, thiserror::Error)]
#[error("{}: {source}", path.display())]
pub struct IoError {
    pub(crate) path: PathBuf,
    #[source]
    pub(crate) source: io::Error,
}

impl IoError {
    pub(crate) fn new(path: impl Into<PathBuf>, source: io::Error) -> Self {
        IoError { path: path.into(), source }
    }

    /// An error that is not the operating system's (a file csrbatch cannot parse, ...).
    pub(crate) fn other(path: impl Into<PathBuf>, detail: impl fmt::Display) -> Self {
        IoError { path: path.into(), source: io::Error::other(detail.to_string()) }
    }
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
    Layout { has: super::Layout },
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

/// The output folder cannot be used by this run; `given` is the folder as the user wrote it.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum FolderError {
    /// `--out` is not a folder and cannot become one.
    #[error("--out {}: {problem}", given.display())]
    Out { given: PathBuf, problem: OutProblem },
    /// The folder exists but this run may not use it as asked.
    #[error("{}: {problem}", given.display())]
    Folder { given: PathBuf, problem: FolderProblem },
    /// Traditional keys (asked for, or the folder's) with a passphrase.
    #[error(
        "--key-format traditional cannot be combined with a key passphrase: the traditional \
         forms have only OpenSSL's legacy PEM encryption, which is weak; use pkcs8"
    )]
    TraditionalWithPassphrase,
}
