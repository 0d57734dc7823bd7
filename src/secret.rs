//! Where secrets come from: a passphrase from an environment variable or a file, never
//! the command line (where every user of the machine can read it in `ps`).

use std::io;
use std::path::{Path, PathBuf};

use crate::crypto::Passphrase;

/// Where the key passphrase should have come from, and why it did not.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PassphraseError {
    /// `--key-passphrase-env VAR` names a variable that is not set.
    #[error("--key-passphrase-env: environment variable {var} is not set")]
    EnvUnset { var: String },
    /// `--key-passphrase-file F` cannot be read.
    #[error("--key-passphrase-file {}: {source}", path.display())]
    File { path: PathBuf, source: io::Error },
    /// The variable or file holds nothing.
    #[error("the key passphrase is empty")]
    Empty,
}

/// The passphrase from the variable `env` or else the file `file` (one trailing newline
/// is the file's, not the passphrase's); `None` when neither is given.
pub(crate) fn passphrase(
    env: Option<&str>,
    file: Option<&Path>,
) -> Result<Option<Passphrase>, PassphraseError> {
    let text = match (env, file) {
        (Some(var), _) => {
            std::env::var(var).map_err(|_| PassphraseError::EnvUnset { var: var.to_owned() })?
        }
        (None, Some(file)) => {
            let text = std::fs::read_to_string(file)
                .map_err(|source| PassphraseError::File { path: file.to_path_buf(), source })?;
            text.strip_suffix('\n').map(|t| t.strip_suffix('\r').unwrap_or(t)).unwrap_or(&text).to_owned()
        }
        (None, None) => return Ok(None),
    };
    Ok(Some(Passphrase::new(text).ok_or(PassphraseError::Empty)?))
}
