//! `KeyFile`: a private key the user already has. This module only ever reads it: the
//! file is never written, moved, copied or re-encoded. Validation opens every key file
//! before any key is made, so that a missing, unreadable or mismatched key is a manifest
//! error (exit 2, nothing written) naming `KeyFile`, the file and why.

use std::path::{Path, PathBuf};

use crate::crypto::{KeyError, Passphrase, PrivateKey};
use crate::manifest::Field;
use crate::manifest::{ManifestError, Problem};
use crate::output::Layout;
use crate::request::{Checked, KeyAlgorithm, Names};

/// How far validation goes with an encrypted key file.
#[derive(Debug, Clone, Copy)]
pub(crate) enum KeyFileCheck<'a> {
    /// `validate`, which has no passphrase: an encrypted key is checked for being an
    /// encrypted PKCS#8 key only; every other key is opened and its type checked.
    WithoutPassphrase,
    /// `generate` and `plan`: every key is opened with the run's passphrase, and a key
    /// inside the output folder `out` must be the request's own key there ([`InsideOut`]).
    Open { passphrase: Option<&'a Passphrase>, out: &'a Path },
}

/// The key in `path`, if it is a key of the `expected` type.
pub(crate) fn open(
    path: &Path,
    expected: KeyAlgorithm,
    passphrase: Option<&Passphrase>,
) -> Result<PrivateKey, Problem> {
    read(path, expected, passphrase).map_err(|why| unusable(path, why))
}

fn unusable(path: &Path, why: Unusable) -> Problem {
    Problem::KeyFile { path: path.to_path_buf(), reason: why.to_string() }
}

/// Why a key file cannot be used, typed until it goes into a [`Problem`].
#[derive(Debug, thiserror::Error)]
enum Unusable {
    #[error("cannot read it: {0}")]
    Read(std::io::Error),
    #[error("not a PEM text file (DER keys are not read)")]
    NotText,
    #[error(transparent)]
    Key(#[from] KeyError),
    #[error(
        "it is inside the output folder {} but is not this request's own key there ({}): a run \
         may archive it as another request's key or as an orphan; keep it outside the output folder",
        out.display(), own.display()
    )]
    InsideOut { out: PathBuf, own: PathBuf },
}

fn read(
    path: &Path,
    expected: KeyAlgorithm,
    passphrase: Option<&Passphrase>,
) -> Result<PrivateKey, Unusable> {
    let bytes = std::fs::read(path).map_err(Unusable::Read)?;
    let text = String::from_utf8(bytes).map_err(|_| Unusable::NotText)?;
    Ok(PrivateKey::from_pem_for(&text, expected, passphrase)?)
}

/// A `KeyFile` inside the output folder, kept from validation until every request is
/// read and the Names are settled (a request without a Name gets one only then).
/// Such a key is the folder's to archive (as another request's pair, or as an orphan under
/// `--prune`): only the request's own `NAME.key.pem` (flat or fanout) may be its KeyFile
/// there (renewing with the key the folder made).
#[derive(Debug)]
pub(crate) struct InsideOut {
    /// The request's number in the run ([`crate::request::NameRegistry::len`] before it).
    index: usize,
    request: Checked,
    out: PathBuf,
    /// The key's path inside `out`.
    inside: PathBuf,
}

impl InsideOut {
    /// The request's KeyFile, if it is inside the output folder of `mode`.
    pub(crate) fn of(request: &Checked, index: usize, mode: KeyFileCheck<'_>) -> Option<InsideOut> {
        let KeyFileCheck::Open { out, .. } = mode else { return None };
        // A missing key is said by `check`; a missing folder holds no key.
        let (key, out) = (request.key_file.as_deref()?.canonicalize().ok()?, out.canonicalize().ok()?);
        let inside = key.strip_prefix(&out).ok()?.to_path_buf();
        Some(InsideOut { index, request: request.clone(), out, inside })
    }

    /// The error, unless the key is the request's own, under the Name it has in the run.
    pub(crate) fn check(&self, names: &Names) -> Option<ManifestError> {
        let name = names.name(self.index, &self.request);
        let own = |layout: Layout| PathBuf::from(layout.relative(name.as_str()).1);
        if [Layout::Flat, Layout::Fanout].into_iter().any(|l| own(l) == self.inside) {
            return None;
        }
        let why = Unusable::InsideOut { out: self.out.clone(), own: own(Layout::Flat) };
        let path = self.request.key_file.as_deref().unwrap_or(&self.inside);
        let r = &self.request;
        Some(ManifestError::field(&r.key_file_origin, r.label(), Field::KeyFile, unusable(path, why)))
    }
}

/// The error of a validated request whose key file cannot be used, if any.
pub(crate) fn check(request: &Checked, mode: KeyFileCheck<'_>) -> Option<ManifestError> {
    let path = request.key_file.as_deref()?;
    let result = match mode {
        KeyFileCheck::Open { passphrase, .. } => {
            read(path, request.params.key, passphrase).map(drop).map_err(|why| unusable(path, why))
        }
        KeyFileCheck::WithoutPassphrase => match read(path, request.params.key, None) {
            Err(Unusable::Key(KeyError::NeedsPassphrase)) => Ok(()),
            other => other.map(drop).map_err(|why| unusable(path, why)),
        },
    };
    let problem = result.err()?;
    Some(ManifestError::field(&request.key_file_origin, request.label(), Field::KeyFile, problem))
}
