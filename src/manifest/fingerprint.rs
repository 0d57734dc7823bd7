//! What a manifest file was when it was validated, and how it changed since: a file read
//! again for generation must be the file that was validated.

use std::path::Path;
use std::time::SystemTime;

use sha2::{Digest, Sha256};

/// What a manifest file was when it was validated: size, modification time and SHA-256
/// (as cargo fingerprints its inputs). A file that differs when it is read again for
/// generation has been edited in between.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Fingerprint {
    size: u64,
    modified: Option<SystemTime>,
    sha256: [u8; 32],
}

impl Fingerprint {
    pub(crate) fn of(path: &Path) -> std::io::Result<Fingerprint> {
        let meta = std::fs::metadata(path)?;
        let mut hasher = Sha256::new();
        let mut file = std::fs::File::open(path)?;
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            match std::io::Read::read(&mut file, &mut buf)? {
                0 => break,
                n => hasher.update(&buf[..n]),
            }
        }
        Ok(Fingerprint { size: meta.len(), modified: meta.modified().ok(), sha256: hasher.finalize().into() })
    }

    /// How `now` differs from this fingerprint, if it does.
    pub(crate) fn change_to(&self, now: &Fingerprint) -> Option<Change> {
        if self.size != now.size {
            Some(Change::Size)
        } else if self.sha256 != now.sha256 {
            Some(Change::Content)
        } else if self.modified != now.modified {
            Some(Change::Modified)
        } else {
            None
        }
    }

    /// The file's size in bytes.
    pub(crate) fn size(&self) -> u64 {
        self.size
    }

    pub(crate) fn sha256_hex(&self) -> String {
        hex::encode(self.sha256)
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_fingerprint_sees_size_content_and_mtime() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("m.csv");
        std::fs::write(&f, "abc").unwrap();
        let a = Fingerprint::of(&f).unwrap();
        assert_eq!(a.change_to(&Fingerprint::of(&f).unwrap()), None);
        std::fs::write(&f, "abcd").unwrap();
        assert_eq!(a.change_to(&Fingerprint::of(&f).unwrap()), Some(Change::Size));
        std::fs::write(&f, "abd").unwrap();
        assert_eq!(a.change_to(&Fingerprint::of(&f).unwrap()), Some(Change::Content));
        std::fs::write(&f, "abc").unwrap();
        let later = std::fs::File::options().write(true).open(&f).unwrap();
        later.set_modified(SystemTime::UNIX_EPOCH).unwrap();
        assert_eq!(a.change_to(&Fingerprint::of(&f).unwrap()), Some(Change::Modified));
    }
}
