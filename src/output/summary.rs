//! summary.json: the run's `RequestId`, counts, and one entry per request carrying the
//! `CreateCsr` answer (`Csr`, `RequestId`, `CsrId`) and the `ListCsr` fields.
//!
//! Entries are appended to a journal as each batch lands, and the summary is rewritten
//! from it atomically at the end, so memory does not grow with the number of requests.

use std::fs::File;
use std::io::{BufRead, BufReader, BufWriter, Write};

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::atomic::{self, PUBLIC_MODE, Replace};
use crate::error::IoError;

/// One request's line in the summary. Field names are the Alibaba Cloud API's.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Entry {
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub csr_id: Option<u64>,
    pub request_id: String,
    pub name: String,
    /// What this run did: unchanged, new, resubject, rekey, damaged, repaired.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub state: Option<String>,
    pub common_name: String,
    /// Comma-separated, as `CreateCsr` takes them: the SANs other than the CommonName.
    pub sans: String,
    pub algorithm: String,
    pub key_size: u32,
    pub country_code: String,
    pub province: String,
    pub locality: String,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub corp_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub department: Option<String>,
    /// The CSR's keyUsage and extendedKeyUsage, as sets in a fixed order; absent when none.
    #[serde(skip_serializing_if = "Vec::is_empty", default)]
    pub key_usage: Vec<crate::request::KeyUsage>,
    #[serde(skip_serializing_if = "Vec::is_empty", default)]
    pub extended_key_usage: Vec<crate::request::ExtendedKeyUsage>,
    /// The CSR carries a challengePassword (its value is only in the CSR).
    #[serde(skip_serializing_if = "std::ops::Not::not", default)]
    pub has_challenge_password: bool,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub key_sha2: Option<String>,
    pub has_private_key: bool,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub csr_file: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub key_file: Option<String>,
    /// `file:line` of the request in its manifest.
    pub manifest: String,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub error: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub csr: Option<String>,
}

impl Entry {
    pub fn succeeded(&self) -> bool {
        self.error.is_none()
    }
}

/// The whole summary as read back (tests, re-runs, merges).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Summary {
    pub request_id: String,
    pub total: usize,
    pub succeeded: usize,
    pub failed: usize,
    /// When the run that wrote this summary started (see `output::utc_stamp`).
    #[serde(default)]
    pub written: String,
    pub csrs: Vec<Entry>,
    /// Pairs or records in the folder that no manifest asks for any more.
    #[serde(default)]
    pub orphaned: Vec<Orphan>,
}

/// A request that is no longer in any manifest: its files are never deleted; `--prune`
/// moves them into the archive.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Orphan {
    pub name: String,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub csr_id: Option<u64>,
    /// `orphaned` (left in place) or `pruned` (moved into the archive).
    pub state: String,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub csr_file: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub key_file: Option<String>,
}

impl Summary {
    pub fn read(path: &Path) -> Result<Summary, IoError> {
        let file = File::open(path).map_err(|e| IoError::new(path, e))?;
        serde_json::from_reader(BufReader::new(file))
            .map_err(|e| IoError::new(path, std::io::Error::other(e)))
    }
}

/// A journal line written before a batch's files are renamed into place: the Names
/// whose files may be half-written if the run is killed before the batch's entries.
#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct Pending {
    pub pending: Vec<String>,
}

/// Streams entries to a journal, then writes `summary.json` from it.
#[derive(Debug)]
pub struct SummaryWriter {
    journal_path: PathBuf,
    journal: BufWriter<File>,
    summary_path: PathBuf,
    request_id: String,
    written: String,
    total: usize,
    succeeded: usize,
    failed: usize,
}

impl SummaryWriter {
    pub fn create(
        journal_path: PathBuf,
        summary_path: PathBuf,
        request_id: String,
        written: String,
        total: usize,
    ) -> Result<Self, IoError> {
        let file = File::create(&journal_path).map_err(|e| IoError::new(&journal_path, e))?;
        Ok(SummaryWriter {
            journal_path,
            journal: BufWriter::new(file),
            summary_path,
            request_id,
            written,
            total,
            succeeded: 0,
            failed: 0,
        })
    }

    pub fn push(&mut self, entry: &Entry) -> Result<(), IoError> {
        if entry.succeeded() {
            self.succeeded += 1;
        } else {
            self.failed += 1;
        }
        let io = |e: std::io::Error| IoError::new(&self.journal_path, e);
        serde_json::to_writer(&mut self.journal, entry).map_err(|e| io(e.into()))?;
        self.journal.write_all(b"\n").map_err(io)
    }

    /// Records the Names of a batch about to be written. The line is handed to the OS
    /// here and made durable by the batch's own sync, before any of its renames.
    pub fn begin_batch(&mut self, names: &[&str]) -> Result<(), IoError> {
        let line = Pending { pending: names.iter().map(|n| (*n).to_owned()).collect() };
        let io = |e: std::io::Error| IoError::new(&self.journal_path, e);
        serde_json::to_writer(&mut self.journal, &line).map_err(|e| io(e.into()))?;
        self.journal.write_all(b"\n").map_err(io)?;
        self.flush()
    }

    /// Hands what was pushed to the OS; the next batch's sync (or [`Self::sync`]) makes it
    /// durable. An entry lost to a crash before then is recovered from the files.
    pub fn flush(&mut self) -> Result<(), IoError> {
        self.journal.flush().map_err(|e| IoError::new(&self.journal_path, e))
    }

    /// The journal file, for a batch sync that must cover it.
    pub fn journal_file(&self) -> &File {
        self.journal.get_ref()
    }

    /// Makes what was pushed so far durable.
    pub fn sync(&mut self) -> Result<(), IoError> {
        self.journal
            .flush()
            .and_then(|_| self.journal.get_ref().sync_data())
            .map_err(|e| IoError::new(&self.journal_path, e))
    }

    pub fn counts(&self) -> (usize, usize) {
        (self.succeeded, self.failed)
    }

    /// Writes `summary.json` atomically, streaming the entries from the journal, then
    /// removes the journal.
    pub fn finish(mut self, orphans: &[Orphan]) -> Result<(), IoError> {
        // On Linux the commit below syncs the file system (the journal too) before the
        // rename; elsewhere the journal is synced here.
        if cfg!(target_os = "linux") {
            self.flush()?;
        } else {
            self.sync()?;
        }
        let journal = File::open(&self.journal_path).map_err(|e| IoError::new(&self.journal_path, e))?;
        let staged = atomic::stage_from(&self.summary_path, PUBLIC_MODE, Replace::Allowed, |out| {
            let text = |v: &str| serde_json::to_string(v).map_err(std::io::Error::other);
            write!(
                out,
                "{{\n  \"RequestId\": {},\n  \"Total\": {},\n  \"Succeeded\": {},\n  \"Failed\": {},\n  \"Written\": {},\n  \"Csrs\": [",
                text(&self.request_id)?,
                self.total,
                self.succeeded,
                self.failed,
                text(&self.written)?
            )?;
            let entries = BufReader::new(journal)
                .lines()
                .filter(|l| !l.as_ref().is_ok_and(|l| l.starts_with("{\"Pending\"")));
            for (i, line) in entries.enumerate() {
                out.write_all(if i == 0 { b"\n    " } else { b",\n    " })?;
                out.write_all(line?.as_bytes())?;
            }
            out.write_all(b"\n  ],\n  \"Orphaned\": [")?;
            for (i, orphan) in orphans.iter().enumerate() {
                out.write_all(if i == 0 { b"\n    " } else { b",\n    " })?;
                serde_json::to_writer(&mut *out, orphan).map_err(std::io::Error::other)?;
            }
            out.write_all(b"\n  ]\n}\n")
        })?;
        atomic::commit(vec![staged]).into_iter().try_for_each(|r| r.map(drop))?;
        std::fs::remove_file(&self.journal_path).map_err(|e| IoError::new(&self.journal_path, e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(name: &str, error: Option<&str>) -> Entry {
        Entry {
            csr_id: error.is_none().then_some(7),
            request_id: "R".into(),
            name: name.into(),
            state: Some("new".into()),
            common_name: "a.example".into(),
            sans: String::new(),
            algorithm: "ECC".into(),
            key_size: 256,
            country_code: "CN".into(),
            province: "Zhejiang".into(),
            locality: "Hangzhou".into(),
            corp_name: Some("阿里巴巴".into()),
            department: None,
            key_usage: Vec::new(),
            extended_key_usage: Vec::new(),
            has_challenge_password: false,
            key_sha2: None,
            has_private_key: error.is_none(),
            csr_file: None,
            key_file: None,
            manifest: "m.yaml:2".into(),
            error: error.map(Into::into),
            csr: None,
        }
    }

    #[test]
    fn journal_becomes_a_summary_that_reads_back() {
        let dir = tempfile::tempdir().unwrap();
        let (journal, summary) = (dir.path().join("j"), dir.path().join("summary.json"));
        let mut w =
            SummaryWriter::create(journal.clone(), summary.clone(), "RUN".into(), "T".into(), 2).unwrap();
        w.begin_batch(&["a", "b"]).unwrap();
        w.push(&entry("a", None)).unwrap();
        w.push(&entry("b", Some("boom"))).unwrap();
        let orphan = Orphan {
            name: "old".into(),
            csr_id: Some(3),
            state: "orphaned".into(),
            csr_file: Some("old.csr.pem".into()),
            key_file: None,
        };
        w.finish(std::slice::from_ref(&orphan)).unwrap();
        assert!(!journal.exists());
        let s = Summary::read(&summary).unwrap();
        assert_eq!((s.request_id.as_str(), s.total, s.succeeded, s.failed), ("RUN", 2, 1, 1));
        assert_eq!(s.csrs, vec![entry("a", None), entry("b", Some("boom"))]);
        assert_eq!((s.written.as_str(), s.orphaned.clone()), ("T", vec![orphan]));
        let text = std::fs::read_to_string(&summary).unwrap();
        assert!(!text.contains("\"Department\""), "absent optional fields are left out");
    }

    #[test]
    fn empty_summary_is_valid_json() {
        let dir = tempfile::tempdir().unwrap();
        let w = SummaryWriter::create(
            dir.path().join("j"),
            dir.path().join("s.json"),
            "RUN".into(),
            "T".into(),
            0,
        )
        .unwrap();
        w.finish(&[]).unwrap();
        assert!(Summary::read(&dir.path().join("s.json")).unwrap().csrs.is_empty());
    }
}
