//! Reading what an output folder already holds, without changing it: the records of
//! earlier runs (summary.json, plus the journals of runs that were killed), the batch a
//! killed run was writing, the files of one request, and files no request claims.

use std::collections::{HashMap, HashSet};
use std::fmt;
use std::fs::File;
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};

use serde::Deserializer;
use serde::de::{DeserializeSeed, IgnoredAny, MapAccess, SeqAccess, Visitor};
use sha2::{Digest, Sha256};

use super::summary::Entry;
use super::summary::Pending;
use super::{JOURNAL_PREFIX, STATE_DIR, SUMMARY};
use crate::error::IoError;
use crate::request::name_key;

/// What an earlier run recorded about one request, in 40 bytes, so that a folder of a
/// million requests can be indexed in memory. Requests are found by Name digest.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Record {
    /// 0: none.
    csr_id: u64,
    /// The RequestId (a UUID) as a number; 0: none, or not a UUID.
    request_id: u128,
    /// The first 16 bytes of SHA-256 of the `Csr` text recorded (all zero: no CSR); a CSR
    /// file that differs was changed since.
    csr_digest: [u8; 16],
}

impl Record {
    pub fn of(entry: &Entry) -> Record {
        Record::new(entry.csr_id, &entry.request_id, entry.csr.as_deref())
    }

    pub fn new(csr_id: Option<u64>, request_id: &str, csr_pem: Option<&str>) -> Record {
        Record {
            csr_id: csr_id.unwrap_or(0),
            request_id: uuid::Uuid::parse_str(request_id).map_or(0, |u| u.as_u128()),
            csr_digest: csr_pem.map_or([0; 16], csr_digest),
        }
    }

    pub fn csr_id(&self) -> Option<u64> {
        (self.csr_id != 0).then_some(self.csr_id)
    }

    /// The RequestId as csrbatch writes them: an upper-case hyphenated UUID.
    pub fn request_id_text(&self) -> Option<String> {
        (self.request_id != 0)
            .then(|| uuid::Uuid::from_u128(self.request_id).hyphenated().to_string().to_ascii_uppercase())
    }

    /// Whether the record holds a CSR at all.
    pub fn has_csr(&self) -> bool {
        self.csr_digest != [0; 16]
    }

    /// Whether `csr_pem` is the CSR recorded (false when none was).
    pub fn is_csr(&self, csr_pem: &str) -> bool {
        self.has_csr() && csr_digest(csr_pem) == self.csr_digest
    }
}

/// The digest [`Record`] keeps of a CSR's PEM text.
pub fn csr_digest(csr_pem: &str) -> [u8; 16] {
    let mut out = [0; 16];
    out.copy_from_slice(&Sha256::digest(csr_pem.as_bytes())[..16]);
    out
}

/// Everything earlier runs left in the folder's records.
#[derive(Debug, Default)]
pub struct Previous {
    /// By [`name_key`] of the Name, sorted once loaded: half the memory of a hash map
    /// (64 bytes a request, so 64 MB for a million), and found by binary search.
    records: Vec<(u128, Record)>,
    /// Names of records that no request of this run has: the orphans among the records.
    pub strangers: HashMap<u128, String>,
    /// Names (digests) of the last batch a killed run began to write.
    interrupted: HashSet<u128>,
    /// The highest CsrId sequence number (the CsrId less its shard bits) any record holds.
    pub max_csr_id: u64,
    /// Journals of earlier runs, removed once a new summary is written.
    pub journals: Vec<PathBuf>,
    /// The `Written` stamp of summary.json: journals up to it are already in it.
    pub written: String,
}

impl Previous {
    pub fn record(&self, name: &str) -> Option<&Record> {
        let key = name_key(name);
        self.records.binary_search_by_key(&key, |(k, _)| *k).ok().map(|i| &self.records[i].1)
    }

    /// Sorts the records by Name digest, keeping the last one read for each Name (a
    /// journal's entry over the summary's).
    fn settle(&mut self) {
        self.records.sort_by_key(|(key, _)| *key); // stable: later records stay later
        let len = self.records.len();
        let mut kept = 0;
        for i in 0..len {
            if i + 1 < len && self.records[i + 1].0 == self.records[i].0 {
                continue;
            }
            self.records.swap(kept, i);
            kept += 1;
        }
        self.records.truncate(kept);
        self.records.shrink_to_fit();
    }

    /// Whether a killed run was writing this request's files when it stopped.
    pub fn interrupted(&self, name: &str) -> bool {
        self.interrupted.contains(&name_key(name))
    }

    fn add(&mut self, entry: &Entry, wants: &dyn Fn(&str) -> bool) {
        let record = Record::of(entry);
        let sequence = record.csr_id & ((1 << crate::shard::ID_SHARD_SHIFT) - 1);
        self.max_csr_id = self.max_csr_id.max(sequence);
        let key = name_key(&entry.name);
        if !wants(&entry.name) {
            self.strangers.insert(key, entry.name.clone());
        }
        self.records.push((key, record));
    }
}

/// Reads summary.json, then the journals written after it, in order (a journal's last
/// line may be cut short by a kill; it is skipped).
pub fn load_previous(root: &Path, wants: &dyn Fn(&str) -> bool) -> Result<Previous, IoError> {
    let mut previous = Previous::default();
    let summary = root.join(SUMMARY);
    match File::open(&summary) {
        Ok(file) => read_summary_records(BufReader::new(file), &mut previous, wants)
            .map_err(|e| IoError::new(&summary, std::io::Error::other(format!("unreadable summary: {e}"))))?,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(IoError::new(&summary, e)),
    }
    let state = root.join(STATE_DIR);
    let mut journals: Vec<PathBuf> = match std::fs::read_dir(&state) {
        Ok(entries) => entries
            .filter_map(Result::ok)
            .map(|e| e.path())
            .filter(|p| p.file_name().and_then(|n| n.to_str()).is_some_and(|n| n.starts_with(JOURNAL_PREFIX)))
            .collect(),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
        Err(e) => return Err(IoError::new(&state, e)),
    };
    journals.sort();
    for journal in &journals {
        let stamp = journal.file_name().and_then(|n| n.to_str()).unwrap_or_default();
        let stamp = stamp.trim_start_matches(JOURNAL_PREFIX).trim_end_matches(".jsonl");
        if stamp <= previous.written.as_str() {
            continue; // written by the run that wrote summary.json, or before it
        }
        let file = File::open(journal).map_err(|e| IoError::new(journal, e))?;
        for line in BufReader::new(file).lines() {
            let line = line.map_err(|e| IoError::new(journal, e))?;
            if let Ok(entry) = serde_json::from_str::<Entry>(&line) {
                previous.add(&entry, wants);
            } else if let Ok(pending) = serde_json::from_str::<Pending>(&line) {
                // Only the last batch can have been cut short.
                previous.interrupted = pending.pending.iter().map(|n| name_key(n)).collect();
            }
        }
    }
    previous.journals = journals;
    previous.settle();
    Ok(previous)
}

/// Streams the `Csrs` array of a summary into records, one entry at a time.
fn read_summary_records(
    reader: impl Read,
    previous: &mut Previous,
    wants: &dyn Fn(&str) -> bool,
) -> Result<(), serde_json::Error> {
    struct Top<'a>(&'a mut Previous, &'a dyn Fn(&str) -> bool);
    struct Csrs<'a>(&'a mut Previous, &'a dyn Fn(&str) -> bool);

    impl<'de> DeserializeSeed<'de> for Top<'_> {
        type Value = ();
        fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
            d.deserialize_map(self)
        }
    }
    impl<'de> Visitor<'de> for Top<'_> {
        type Value = ();
        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("a csrbatch summary")
        }
        fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
            while let Some(key) = map.next_key::<String>()? {
                if key == "Csrs" {
                    map.next_value_seed(Csrs(&mut *self.0, self.1))?;
                } else if key == "Written" {
                    self.0.written = map.next_value::<String>()?;
                } else {
                    map.next_value::<IgnoredAny>()?;
                }
            }
            Ok(())
        }
    }
    impl<'de> DeserializeSeed<'de> for Csrs<'_> {
        type Value = ();
        fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
            d.deserialize_seq(self)
        }
    }
    impl<'de> Visitor<'de> for Csrs<'_> {
        type Value = ();
        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("a list of entries")
        }
        fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
            while let Some(entry) = seq.next_element::<Entry>()? {
                self.0.add(&entry, self.1);
            }
            Ok(())
        }
    }

    let mut de = serde_json::Deserializer::from_reader(reader);
    Top(previous, wants).deserialize(&mut de).and_then(|()| de.end())
}

/// One file of a request's pair as found on disk.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OnDisk {
    Missing,
    Present(String),
    /// There, but not a regular UTF-8 file csrbatch could have written (a symbolic link,
    /// a folder, unreadable): the reason.
    Unusable(String),
}

impl OnDisk {
    pub fn exists(&self) -> bool {
        !matches!(self, OnDisk::Missing)
    }
}

/// Reads a file without following a symbolic link at its path.
pub fn read_file(path: &Path) -> OnDisk {
    match std::fs::symlink_metadata(path) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => OnDisk::Missing,
        Err(e) => OnDisk::Unusable(format!("{}: {e}", path.display())),
        Ok(m) if m.file_type().is_symlink() => {
            OnDisk::Unusable(format!("{} is a symbolic link; csrbatch never follows one", path.display()))
        }
        Ok(m) if !m.is_file() => OnDisk::Unusable(format!("{} is not a regular file", path.display())),
        Ok(_) => match std::fs::read_to_string(path) {
            Ok(text) => OnDisk::Present(text),
            Err(e) => OnDisk::Unusable(format!("{}: {e}", path.display())),
        },
    }
}

/// Names (file stems) of `*.key.pem` and `*.csr.pem` in the folder for which `keep` is
/// true (filtered as read: a folder of a million pairs is not listed into memory).
pub fn pair_stems(root: &Path, keep: &dyn Fn(&str) -> bool) -> Result<Vec<String>, IoError> {
    let mut stems = Vec::new();
    let entries = match std::fs::read_dir(root) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(stems),
        Err(e) => return Err(IoError::new(root, e)),
    };
    for entry in entries {
        let entry = entry.map_err(|e| IoError::new(root, e))?;
        let name = entry.file_name();
        let Some(name) = name.to_str() else { continue };
        let stem = name.strip_suffix(".key.pem").or_else(|| name.strip_suffix(".csr.pem"));
        if let Some(stem) = stem.filter(|s| !s.is_empty() && keep(s) && !stems.iter().any(|t| t == s)) {
            stems.push(stem.to_owned());
        }
    }
    stems.sort();
    Ok(stems)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_last_record_of_a_name_wins_and_every_name_is_found() {
        let mut p = Previous::default();
        for round in 1..=3u64 {
            for i in 0..500u64 {
                p.records.push((name_key(&format!("n{i}")), Record::new(Some(round * 1000 + i), "", None)));
            }
        }
        p.settle();
        assert_eq!(p.records.len(), 500);
        for i in 0..500u64 {
            assert_eq!(p.record(&format!("N{i}")).and_then(Record::csr_id), Some(3000 + i));
        }
        assert!(p.record("n500").is_none());
    }

    #[test]
    fn summary_records_stream_in() {
        let text = r#"{"RequestId":"R","Total":2,"Succeeded":1,"Failed":1,"Csrs":[
            {"CsrId":5,"RequestId":"A","Name":"Web","CommonName":"w","Sans":"","Algorithm":"ECC","KeySize":256,
             "CountryCode":"CN","Province":"P","Locality":"L","HasPrivateKey":true,"Manifest":"m:1","Csr":"X"},
            {"RequestId":"B","Name":"bad","CommonName":"b","Sans":"","Algorithm":"ECC","KeySize":256,
             "CountryCode":"CN","Province":"P","Locality":"L","HasPrivateKey":false,"Manifest":"m:2","Error":"e"}]}"#;
        let mut p = Previous::default();
        read_summary_records(text.as_bytes(), &mut p, &|n| n != "bad").unwrap();
        p.settle();
        assert_eq!(p.max_csr_id, 5);
        let web = p.record("web").unwrap();
        assert_eq!(web.csr_id(), Some(5));
        assert!(web.is_csr("X") && !web.is_csr("Y"));
        assert_eq!(web.request_id_text(), None, "`A` is not a UUID");
        assert!(!p.record("bad").unwrap().has_csr());
        assert_eq!(p.strangers.values().collect::<Vec<_>>(), ["bad"]);
        assert!(read_summary_records("{\"Csrs\": [1]}".as_bytes(), &mut p, &|_| true).is_err());
    }

    #[test]
    fn read_file_never_follows_links() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("t");
        std::fs::write(&target, "x").unwrap();
        std::os::unix::fs::symlink(&target, dir.path().join("l")).unwrap();
        assert_eq!(read_file(&target), OnDisk::Present("x".into()));
        assert!(
            matches!(read_file(&dir.path().join("l")), OnDisk::Unusable(r) if r.contains("symbolic link"))
        );
        assert_eq!(read_file(&dir.path().join("none")), OnDisk::Missing);
    }
}
