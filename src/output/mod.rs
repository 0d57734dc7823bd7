//! Files on disk: the output folder, its lock and CsrId counter, the key/CSR pairs and
//! the summary. This is the only module that writes; it is driven by a single thread.

pub mod atomic;
pub mod summary;

use std::fs::{File, OpenOptions};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::error::IoError;
use crate::request::CsrName;
use atomic::{KEY_MODE, PUBLIC_MODE, Replace, Staged};

/// Hidden folder inside `--out` for csrbatch's own state.
pub const STATE_DIR: &str = ".csrbatch";
pub const SUMMARY: &str = "summary.json";

/// The output folder, locked for this run.
#[derive(Debug)]
pub struct OutputDir {
    root: PathBuf,
    _lock: File,
}

/// Persistent state: the highest CsrId ever handed out in this folder.
#[derive(Debug, Default, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct State {
    last_csr_id: u64,
}

/// The largest CsrId: 2^53 - 1, the largest integer a JavaScript number holds exactly.
pub const MAX_CSR_ID: u64 = (1 << 53) - 1;

impl OutputDir {
    /// Creates the folder if needed and takes its lock. A second run on the same folder
    /// waits here until the first is done (and says so on stderr).
    pub fn open(root: &Path) -> Result<OutputDir, IoError> {
        let state = root.join(STATE_DIR);
        std::fs::create_dir_all(&state).map_err(|e| IoError::new(&state, e))?;
        let lock_path = state.join("lock");
        let lock = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&lock_path)
            .map_err(|e| IoError::new(&lock_path, e))?;
        match lock.try_lock() {
            Ok(()) => {}
            Err(std::fs::TryLockError::WouldBlock) => {
                eprintln!(
                    "csrbatch: waiting for another run on {} to finish",
                    root.display()
                );
                lock.lock().map_err(|e| IoError::new(&lock_path, e))?;
            }
            Err(std::fs::TryLockError::Error(e)) => return Err(IoError::new(&lock_path, e)),
        }
        Ok(OutputDir {
            root: root.to_path_buf(),
            _lock: lock,
        })
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    pub fn summary_path(&self) -> PathBuf {
        self.root.join(SUMMARY)
    }

    pub fn journal_path(&self) -> PathBuf {
        self.root.join(STATE_DIR).join("journal.jsonl")
    }

    /// File names of a request's pair, relative to the output folder.
    pub fn relative_files(name: &CsrName) -> (String, String) {
        (format!("{name}.csr.pem"), format!("{name}.key.pem"))
    }

    /// Reserves `count` fresh CsrIds and returns the first. The counter is written before
    /// any CSR, so a crash can leave gaps but never hand out an id twice.
    pub fn reserve_csr_ids(&self, count: usize, seen_max: u64) -> Result<u64, IoError> {
        let path = self.root.join(STATE_DIR).join("state.json");
        let state: State = match std::fs::read(&path) {
            Ok(bytes) => serde_json::from_slice(&bytes)
                .map_err(|e| IoError::new(&path, std::io::Error::other(e)))?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => State::default(),
            Err(e) => return Err(IoError::new(&path, e)),
        };
        let first = state.last_csr_id.max(seen_max) + 1;
        let last = first + count as u64 - 1;
        if last > MAX_CSR_ID {
            return Err(IoError::new(
                &path,
                std::io::Error::other("CsrIds above 2^53 - 1 would be needed"),
            ));
        }
        let bytes = serde_json::to_vec(&State {
            last_csr_id: last.max(first - 1),
        })
        .map_err(|e| IoError::new(&path, std::io::Error::other(e)))?;
        atomic::write_file(&path, &bytes, PUBLIC_MODE, Replace::Allowed)?;
        Ok(first)
    }

    /// Stages a new key (mode 0600) and its CSR (0644); neither may replace a file.
    pub fn stage_pair(
        &self,
        name: &CsrName,
        key_pem: &str,
        csr_pem: &str,
    ) -> Result<[Staged; 2], IoError> {
        let (csr, key) = Self::relative_files(name);
        let key = atomic::stage(
            &self.root.join(key),
            key_pem.as_bytes(),
            KEY_MODE,
            Replace::Never,
        )?;
        let csr = atomic::stage(
            &self.root.join(csr),
            csr_pem.as_bytes(),
            PUBLIC_MODE,
            Replace::Never,
        )?;
        Ok([key, csr])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csr_ids_are_never_reused() {
        let dir = tempfile::tempdir().unwrap();
        let out = OutputDir::open(dir.path()).unwrap();
        assert_eq!(out.reserve_csr_ids(3, 0).unwrap(), 1);
        assert_eq!(out.reserve_csr_ids(2, 0).unwrap(), 4);
        assert_eq!(out.reserve_csr_ids(1, 100).unwrap(), 101);
        assert_eq!(out.reserve_csr_ids(0, 0).unwrap(), 102);
        assert_eq!(out.reserve_csr_ids(1, 0).unwrap(), 102);
    }
}
