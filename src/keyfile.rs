//! `KeyFile`: a private key the user already has. This module only ever reads it: the
//! file is never written, moved, copied or re-encoded. Validation opens every key file
//! before any key is made, so that a missing, unreadable or mismatched key is a manifest
//! error (exit 2, nothing written) naming `KeyFile`, the file and why.

use std::path::Path;

use crate::crypto::{KeyError, Passphrase, PrivateKey};
use crate::error::{ManifestError, Problem};
use crate::manifest::Field;
use crate::request::{Checked, KeyAlgorithm};

/// How far validation goes with an encrypted key file.
#[derive(Debug, Clone, Copy)]
pub enum KeyFileCheck<'a> {
    /// `validate`, which has no passphrase: an encrypted key is checked for being an
    /// encrypted PKCS#8 key only; every other key is opened and its type checked.
    WithoutPassphrase,
    /// `generate` and `plan`: every key is opened with the run's passphrase.
    Open(Option<&'a Passphrase>),
}

/// The key in `path`, if it is a key of the `expected` type.
pub fn open(
    path: &Path,
    expected: KeyAlgorithm,
    passphrase: Option<&Passphrase>,
) -> Result<PrivateKey, Problem> {
    let problem = |reason: String| Problem::KeyFile { path: path.to_path_buf(), reason };
    let bytes = std::fs::read(path).map_err(|e| problem(format!("cannot read it: {e}")))?;
    let text = String::from_utf8(bytes)
        .map_err(|_| problem("not a PEM text file (DER keys are not read)".into()))?;
    PrivateKey::from_pem_for(&text, expected, passphrase).map_err(|e| problem(e.to_string()))
}

/// The error of a validated request whose key file cannot be used, if any.
pub fn check(request: &Checked, mode: KeyFileCheck<'_>) -> Option<ManifestError> {
    let path = request.key_file.as_deref()?;
    let result = match mode {
        KeyFileCheck::Open(passphrase) => open(path, request.params.key, passphrase).map(drop),
        KeyFileCheck::WithoutPassphrase => match open(path, request.params.key, None) {
            Err(Problem::KeyFile { reason, .. }) if reason == KeyError::NeedsPassphrase.to_string() => Ok(()),
            other => other.map(drop),
        },
    };
    let problem = result.err()?;
    Some(ManifestError::field(&request.key_file_origin, request.label(), Field::KeyFile, problem))
}
