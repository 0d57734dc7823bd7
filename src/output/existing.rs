//! Reading what an output folder already holds, without changing it: the records of
//! earlier runs (summary.json, plus the journals of runs that were killed), the batch a
//! killed run was writing, the files of one request, and files no request claims.

use std::collections::{HashMap, HashSet};
use std::fs::File;
use std::io::BufReader;
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use super::SUMMARY;
use super::certified::{LiveFile, Recorded, RecordedEncryption};
use super::folder::{self, UnfinishedRun};
use super::summary::{self, CertificateInfo, Entry, Item, JournalLine, State};
use crate::output::{IoError, Layout};
use crate::request::name_key;

/// What an earlier run recorded about one request, in 48 bytes, so that a folder of a
/// million requests can be indexed in memory. Requests are found by Name digest.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Record {
    /// The first 4 bytes of the recorded `KeySha2` (0: none): tells a new CSR for the same
    /// key (resubject) from a new key (rekey) after a kill. 4 bytes keep the record at 48.
    key_digest: u32,
    /// What an unfinished run did to the pair (a change only): the run that finishes the
    /// folder reports it, since the last complete summary never did.
    carried: Option<State>,
    /// 0: none.
    csr_id: u64,
    /// The RequestId (a UUID) as a number; 0: none, or not a UUID.
    request_id: u128,
    /// The first 16 bytes of SHA-256 of the `Csr` text recorded (all zero: no CSR); a CSR
    /// file that differs was changed since.
    csr_digest: [u8; 16],
}

impl Record {
    pub(crate) fn of(entry: &Entry) -> Record {
        let mut r = Record::new(entry.csr_id, &entry.request_id, entry.csr.as_deref());
        r.key_digest = entry.key_sha2.as_deref().map_or(0, key_digest);
        if let Some(hex) = entry.recorded_csr_digest.as_deref().filter(|_| entry.csr.is_none()) {
            // Not hex of 16 bytes: no CSR recorded, as before the field existed.
            let mut digest = [0; 16];
            if hex::decode_to_slice(hex, &mut digest).is_ok() {
                r.csr_digest = digest;
            }
        }
        r
    }

    pub(crate) fn new(csr_id: Option<u64>, request_id: &str, csr_pem: Option<&str>) -> Record {
        Record {
            key_digest: 0,
            carried: None,
            csr_id: csr_id.unwrap_or(0),
            request_id: uuid::Uuid::parse_str(request_id).map_or(0, |u| u.as_u128()),
            csr_digest: csr_pem.map_or([0; 16], csr_digest),
        }
    }

    pub(crate) fn csr_id(&self) -> Option<u64> {
        (self.csr_id != 0).then_some(self.csr_id)
    }

    /// The RequestId as csrbatch writes them: an upper-case hyphenated UUID.
    pub(crate) fn request_id_text(&self) -> Option<String> {
        (self.request_id != 0)
            .then(|| uuid::Uuid::from_u128(self.request_id).hyphenated().to_string().to_ascii_uppercase())
    }

    /// Whether the record holds a CSR at all.
    pub(crate) fn has_csr(&self) -> bool {
        self.csr_digest != [0; 16]
    }

    /// The recorded CSR's digest, hex, for an entry that leaves the pair as it was (see
    /// `Entry::recorded_csr_digest`); `None` when no CSR was recorded.
    pub(crate) fn csr_digest_hex(&self) -> Option<String> {
        self.has_csr().then(|| hex::encode(self.csr_digest))
    }

    /// Whether `csr_pem` is the CSR recorded (false when none was).
    pub(crate) fn is_csr(&self, csr_pem: &str) -> bool {
        self.has_csr() && csr_digest(csr_pem) == self.csr_digest
    }

    /// Whether the recorded pair has this key (by its `KeySha2`); false when none was recorded.
    pub(crate) fn is_key(&self, key_sha2: &str) -> bool {
        self.key_digest != 0 && key_digest(key_sha2) == self.key_digest
    }

    /// What an unfinished run did to this pair since the last complete summary.
    pub(crate) fn carried(&self) -> Option<State> {
        self.carried
    }

    /// A record from an unfinished run's journal that says what that run did.
    pub(crate) fn with_carried(mut self, state: Option<State>) -> Record {
        self.carried = state.filter(|s| s.is_change());
        self
    }
}

fn key_digest(key_sha2: &str) -> u32 {
    let mut bytes = [0u8; 4];
    match hex::decode_to_slice(key_sha2.get(..8).unwrap_or_default(), &mut bytes) {
        Ok(()) => u32::from_be_bytes(bytes).max(1),
        Err(_) => 0,
    }
}

/// The first 16 bytes of a certificate's SHA-256 fingerprint (hex); `None` if not hex.
fn fingerprint_digest(hex_text: &str) -> Option<[u8; 16]> {
    let mut out = [0; 16];
    hex::decode_to_slice(hex_text.get(..32)?, &mut out).ok()?;
    Some(out)
}

/// The digest [`Record`] keeps of a CSR's PEM text.
pub(crate) fn csr_digest(csr_pem: &str) -> [u8; 16] {
    let mut out = [0; 16];
    out.copy_from_slice(&Sha256::digest(csr_pem.as_bytes())[..16]);
    out
}

/// Everything earlier runs left in the folder's records.
#[derive(Debug, Default)]
pub(crate) struct Previous {
    /// By [`name_key`] of the Name, sorted once loaded: half the memory of a hash map
    /// (64 bytes a request, so 64 MB for a million), and found by binary search.
    records: Vec<(u128, Record)>,
    /// Names of records that no request of this run has: the orphans among the records.
    pub(crate) strangers: HashMap<u128, String>,
    /// Names (digests) of the last batch a killed run began to write.
    interrupted: HashSet<u128>,
    /// The highest CsrId sequence number (the CsrId less its shard bits) any record holds.
    pub(crate) max_csr_id: u64,
    /// Journals of earlier runs, removed once a new summary is written.
    pub(crate) journals: Vec<PathBuf>,
    /// The `Written` stamp of summary.json: journals up to it are already in it.
    pub(crate) written: String,
    /// Runs that stopped before writing a summary, oldest first.
    pub(crate) unfinished: Vec<UnfinishedRun>,
    /// By [`name_key`], what is recorded of certified requests' certificates (only
    /// those: a folder without certificates pays nothing).
    certificates: HashMap<u128, Kept>,
    /// By [`name_key`], the certificates recorded whose `NAME.crt.pem` was not there as
    /// csrbatch leaves it when the records were read ([`cert_file_lost`]: removed, emptied
    /// or replaced by hand, or a copy of the folder without it): the request is damaged,
    /// and its entry keeps the record until the certificate is back.
    lost: HashMap<u128, CertificateInfo>,
}

impl Previous {
    pub(crate) fn record(&self, name: &str) -> Option<&Record> {
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

    /// Whether the records say that the `live` certificate is the request's, and its SM2
    /// encryption certificate the one recorded with it: false for another one, or none (an
    /// import that stopped before it wrote summary.json put it live, or switched in a new
    /// encryption pair).
    pub(crate) fn records_certificate(&self, name: &str, live: &CertificateInfo) -> bool {
        let Some(kept) = self.kept(name, &live.sha256_fingerprint) else { return false };
        let recorded = kept.rarer.as_ref().and_then(|r| r.encryption.as_ref()).map(|e| e.fingerprint);
        let live_enc = live.encryption.as_ref().map(|e| {
            let mut digest = [0; 32];
            hex::decode_to_slice(&e.sha256_fingerprint, &mut digest).map(|()| digest)
        });
        match (live_enc, recorded) {
            (None, None) => true,
            (Some(Ok(live)), Some(recorded)) => live == recorded,
            _ => false,
        }
    }

    /// What the records hold of the certificate with this fingerprint (hex), if it is
    /// the request's.
    pub(crate) fn recorded(&self, name: &str, fingerprint_hex: &str) -> Recorded {
        let hex = |digest: &Option<[u8; 32]>| digest.map(hex::encode);
        self.kept(name, fingerprint_hex).map_or_else(Recorded::default, |kept| Recorded {
            chain_verified: kept.chain_verified,
            chain_sha256: hex(&kept.chain_sha256),
            p12_sha256: kept.rarer.as_ref().and_then(|r| hex(&r.p12_sha256)),
            encryption: kept.rarer.as_ref().and_then(|r| r.encryption.as_ref()).map(|e| RecordedEncryption {
                serial: e.serial.clone(),
                not_after: e.not_after.clone(),
                sha256_fingerprint: hex::encode(e.fingerprint),
                chain_sha256: hex(&e.chain_sha256),
            }),
        })
    }

    fn kept(&self, name: &str, fingerprint_hex: &str) -> Option<&Kept> {
        let kept = self.certificates.get(&name_key(name))?;
        (fingerprint_digest(fingerprint_hex) == Some(kept.fingerprint)).then_some(kept)
    }

    /// The certificate the records hold for the request, if its `NAME.crt.pem` was not
    /// there as csrbatch leaves it.
    pub(crate) fn lost_certificate(&self, name: &str) -> Option<&CertificateInfo> {
        self.lost.get(&name_key(name))
    }

    /// Whether a killed run was writing this request's files when it stopped.
    pub(crate) fn interrupted(&self, name: &str) -> bool {
        self.interrupted.contains(&name_key(name))
    }

    fn add(&mut self, at: &Place<'_>, entry: &Entry, record: Record, wants: &dyn Fn(&str) -> bool) {
        let sequence = record.csr_id & ((1 << crate::shard::ID_SHARD_SHIFT) - 1);
        self.max_csr_id = self.max_csr_id.max(sequence);
        let key = name_key(&entry.name);
        if !wants(&entry.name) {
            self.strangers.insert(key, entry.name.clone());
        }
        // The last record read of a Name says whether it has a certificate.
        let certificate = entry.certificate.as_ref();
        match certificate.and_then(Kept::of) {
            Some(kept) => self.certificates.insert(key, kept),
            None => self.certificates.remove(&key),
        };
        // One lstat a certified request (a folder without certificates pays nothing), of
        // the name its Name gives (never a path from the records' text).
        let paths = || super::certified::Paths::new(at.root, at.layout, &entry.name);
        match certificate.filter(|_| cert_file_lost(&paths())) {
            Some(c) => self.lost.insert(key, c.clone()),
            None => self.lost.remove(&key),
        };
        self.records.push((key, record));
    }
}

/// Whether a certified request's `NAME.crt.pem` is not there as csrbatch leaves it: gone,
/// emptied, a folder, or a link that is not a generation's leading to its certificate (a
/// first certificate's file replaced by a link, which csrbatch never follows, or a
/// generation's link left leading nowhere by a `.live` gone). Its record is then kept
/// whole, for the entry to keep while the request is damaged. One lstat; for a link, a
/// readlink and a stat.
fn cert_file_lost(paths: &super::certified::Paths) -> bool {
    match std::fs::symlink_metadata(paths.link(LiveFile::Cert)) {
        Err(e) => e.kind() == std::io::ErrorKind::NotFound,
        Ok(m) if m.is_file() => m.len() == 0,
        Ok(m) if m.is_symlink() => !paths.is_own_link_to_a_file(LiveFile::Cert),
        Ok(_) => true,
    }
}

/// What [`Previous`] keeps of a recorded certificate: the first 16 bytes of its
/// `Sha256Fingerprint`, its `ChainVerified`, its chain's `ChainSha256`, and the digests
/// only some have (boxed: a folder of plain certificates pays a pointer for them).
#[derive(Debug, Clone)]
struct Kept {
    fingerprint: [u8; 16],
    chain_verified: bool,
    chain_sha256: Option<[u8; 32]>,
    rarer: Option<Box<Rarer>>,
}

/// The `P12Sha256`, and the SM2 encryption certificate.
#[derive(Debug, Clone)]
struct Rarer {
    p12_sha256: Option<[u8; 32]>,
    encryption: Option<KeptEncryption>,
}

/// An SM2 encryption certificate as the records hold it: what generate writes back when
/// its file is gone, and what the file is held to ([`RecordedEncryption`]).
#[derive(Debug, Clone)]
struct KeptEncryption {
    serial: String,
    not_after: String,
    fingerprint: [u8; 32],
    chain_sha256: Option<[u8; 32]>,
}

impl Kept {
    fn of(c: &CertificateInfo) -> Option<Kept> {
        let digest = |hex_text: Option<&str>| {
            let mut out = [0; 32];
            hex_text.and_then(|h| hex::decode_to_slice(h, &mut out).ok()).map(|()| out)
        };
        let encryption = c.encryption.as_ref().and_then(|e| {
            Some(KeptEncryption {
                serial: e.serial.clone(),
                not_after: e.not_after.clone(),
                fingerprint: digest(Some(&e.sha256_fingerprint))?,
                chain_sha256: digest(e.chain_sha256.as_deref()),
            })
        });
        let rarer = Rarer { p12_sha256: digest(c.p12_sha256.as_deref()), encryption };
        Some(Kept {
            fingerprint: fingerprint_digest(&c.sha256_fingerprint)?,
            chain_verified: c.chain_verified,
            chain_sha256: digest(c.chain_sha256.as_deref()),
            rarer: (rarer.p12_sha256.is_some() || rarer.encryption.is_some()).then(|| Box::new(rarer)),
        })
    }
}

/// The folder the records are read from, and its layout (where each Name's files are).
struct Place<'a> {
    root: &'a Path,
    layout: Layout,
}

/// Reads summary.json, then the journals written after it, in order: what the runs that
/// did not finish did (a journal's last line may be cut short by a kill; it is skipped).
pub(crate) fn load_previous(
    root: &Path,
    layout: Layout,
    wants: &dyn Fn(&str) -> bool,
) -> Result<Previous, IoError> {
    let at = Place { root, layout };
    let mut previous = Previous::default();
    let path = root.join(SUMMARY);
    match File::open(&path) {
        Ok(file) => {
            let header = summary::read_summary(BufReader::new(file), &mut |item| {
                if let Item::Entry(entry) = item {
                    previous.add(&at, &entry, Record::of(&entry), wants);
                }
                Ok(())
            })
            .map_err(|e| IoError::other(&path, format!("unreadable summary: {e}")))?;
            previous.written = header.written;
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(IoError::new(&path, e)),
    }
    let journals = folder::journals(root)?;
    for journal in folder::journals_after(root, &previous.written)? {
        let mut run =
            UnfinishedRun { started: folder::journal_stamp(&journal).to_owned(), ..Default::default() };
        // Names begun and not journaled as done: the batch a kill cut short (an earlier
        // unfinished run's, too, unless a later run journaled them).
        let mut pending = HashSet::new();
        summary::read_journal(&journal, &mut |line| match line {
            JournalLine::Entry(entry) => {
                let record = Record::of(&entry).with_carried(entry.state.filter(|_| entry.succeeded()));
                run.recorded += 1;
                run.changed += usize::from(record.carried.is_some());
                let key = name_key(&entry.name);
                pending.remove(&key);
                previous.interrupted.remove(&key);
                previous.add(&at, &entry, record, wants);
            }
            JournalLine::Pending(p) => pending.extend(p.pending.iter().map(|n| name_key(n))),
        })?;
        run.in_flight = pending.len();
        previous.interrupted.extend(pending);
        previous.unfinished.push(run);
    }
    previous.journals = journals;
    previous.settle();
    Ok(previous)
}

/// One file of a request's pair as found on disk.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum OnDisk {
    Missing,
    Present(String),
    /// There, but not a regular UTF-8 file csrbatch could have written (a symbolic link,
    /// a folder, unreadable): the reason.
    Unusable(String),
}

impl OnDisk {
    pub(crate) fn exists(&self) -> bool {
        !matches!(self, OnDisk::Missing)
    }
}

/// Reads a file without following a symbolic link at its path.
pub(crate) fn read_file(path: &Path) -> OnDisk {
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
pub(crate) fn pair_stems(root: &Path, keep: &dyn Fn(&str) -> bool) -> Result<Vec<String>, IoError> {
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
        // A certified request's renewal pair or SM2 encryption key, not a request called
        // `NAME.next` or `NAME.enc`.
        let next_of = stem.and_then(|s| s.strip_suffix(".next").or_else(|| s.strip_suffix(".enc")));
        if next_of.is_some_and(|n| super::certified::is_certified(root, n)) {
            continue;
        }
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
    fn a_record_stays_small() {
        assert_eq!(std::mem::size_of::<Record>(), 48);
    }

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
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join(SUMMARY), text).unwrap();
        let p = load_previous(dir.path(), Layout::Flat, &|n| n != "bad").unwrap();
        assert_eq!(p.max_csr_id, 5);
        let web = p.record("web").unwrap();
        assert_eq!(web.csr_id(), Some(5));
        assert!(web.is_csr("X") && !web.is_csr("Y"));
        assert_eq!(web.request_id_text(), None, "`A` is not a UUID");
        assert!(!p.record("bad").unwrap().has_csr());
        assert_eq!(p.strangers.values().collect::<Vec<_>>(), ["bad"]);
        assert!(p.unfinished.is_empty());
        std::fs::write(dir.path().join(SUMMARY), "{\"Csrs\": [1]}").unwrap();
        assert!(load_previous(dir.path(), Layout::Flat, &|_| true).is_err());
    }

    fn entry(name: &str, csr_id: u64, state: State, csr: &str) -> String {
        let e = serde_json::json!({"CsrId": csr_id, "RequestId": "R", "Name": name, "State": state,
            "CommonName": "c", "Sans": "", "Algorithm": "ECC", "KeySize": 256, "CountryCode": "CN",
            "Province": "P", "Locality": "L", "HasPrivateKey": true, "Manifest": "m:1", "Csr": csr});
        format!("{e}\n")
    }

    #[test]
    fn unfinished_runs_are_read_after_the_summary() {
        let dir = tempfile::tempdir().unwrap();
        let summary = format!(
            "{{\"Written\": \"20260101T000000.000000000Z\", \"Csrs\": [{}, {}]}}",
            entry("a", 1, State::New, "A1").trim(),
            entry("b", 2, State::New, "B1").trim()
        );
        std::fs::write(dir.path().join(SUMMARY), summary).unwrap();
        std::fs::create_dir_all(dir.path().join(super::super::STATE_DIR)).unwrap();
        let journal = |stamp: &str, text: String| {
            let name = format!("{}{stamp}.jsonl", super::super::JOURNAL_PREFIX);
            std::fs::write(dir.path().join(super::super::STATE_DIR).join(name), text).unwrap();
        };
        // Older than the summary: already in it, ignored.
        journal("20250101T000000.000000000Z", entry("a", 99, State::Rekey, "OLD"));
        // A killed --rotate: a rekeyed, then a batch begun (b, c) and cut short mid-line.
        journal(
            "20260102T000000.000000000Z",
            format!("{}{{\"Pending\":[\"b\",\"c\"]}}\n{{\"CsrId\": 4", entry("a", 3, State::Rekey, "A2")),
        );
        // A later run, killed too: c journaled (unchanged), d begun.
        journal(
            "20260103T000000.000000000Z",
            format!("{}{{\"Pending\":[\"d\"]}}\n", entry("c", 5, State::Unchanged, "C1")),
        );
        let p = load_previous(dir.path(), Layout::Flat, &|_| true).unwrap();
        assert_eq!(p.unfinished.len(), 2);
        assert_eq!((p.unfinished[0].recorded, p.unfinished[0].changed, p.unfinished[0].in_flight), (1, 1, 2));
        assert_eq!((p.unfinished[1].recorded, p.unfinished[1].changed, p.unfinished[1].in_flight), (1, 0, 1));
        let a = p.record("a").unwrap();
        assert_eq!((a.csr_id(), a.carried()), (Some(3), Some(State::Rekey)), "the journal's record wins");
        assert!(a.is_csr("A2"));
        assert_eq!(p.record("b").unwrap().carried(), None, "b is only in the summary");
        assert_eq!(p.record("c").unwrap().carried(), None, "unchanged is no change");
        assert!(p.interrupted("b") && p.interrupted("d"), "begun, never journaled as done");
        assert!(!p.interrupted("c") && !p.interrupted("a"), "journaled by a later line");
        assert_eq!(p.max_csr_id, 5);
        assert_eq!(p.journals.len(), 3, "all are removed once a summary is written");
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
