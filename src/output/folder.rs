//! The output folder as one typed model: what `.csrbatch/state.json` records (the CsrId
//! counter, layout, shard, how the keys are protected, the manifests the folder was made
//! from), the journals that unfinished runs left, and the checks every run makes before
//! it touches the folder. Reading only; [`super::OutputDir`] writes.
//!
//! What a complete run left is summary.json ([`super::summary`], one streaming reader); what
//! an unfinished run left is its journal, newer than the summary (see [`journals_after`]).

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::atomic::{self, PUBLIC_MODE, Replace, Staged};
use super::{FolderError, FolderProblem, IoError, OutProblem};
use super::{JOURNAL_PREFIX, Layout, STATE_DIR};
use crate::crypto::{KeyFormat, Passphrase, PrivateKey, pem};
use crate::shard::Shard;

/// How the private keys of a folder are protected (their format is [`KeyFormat`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum KeyProtection {
    /// `PRIVATE KEY` PKCS#8.
    Unencrypted,
    /// `ENCRYPTED PRIVATE KEY` PKCS#8 (PBES2).
    Encrypted,
}

impl KeyProtection {
    /// What a run with (or without) this passphrase writes.
    pub(crate) fn of_run(passphrase: Option<&Passphrase>) -> KeyProtection {
        if passphrase.is_some() { KeyProtection::Encrypted } else { KeyProtection::Unencrypted }
    }

    /// What a key file holds, judged by the label of its first private key PEM block
    /// (read as every key is: text around it, any line width); `None` if it is no PKCS#8
    /// key. A block cut short still says what it was meant to be.
    pub(crate) fn of_pem(text: &str) -> Option<KeyProtection> {
        let blocks = pem::blocks(text);
        match blocks.map(|b| pem::label(&b).to_owned()).find(|l| l.ends_with("PRIVATE KEY"))?.as_str() {
            "PRIVATE KEY" => Some(KeyProtection::Unencrypted),
            "ENCRYPTED PRIVATE KEY" => Some(KeyProtection::Encrypted),
            _ => None,
        }
    }
}

/// A manifest a run was made from, as it was then: merge reads it again from there.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ManifestRecord {
    /// Absolute path.
    pub(crate) path: PathBuf,
    /// The path as the run was given it, as each entry's `Manifest` names it.
    #[serde(default)]
    pub(crate) given: PathBuf,
    pub(crate) size: u64,
    /// Lower-case hex SHA-256 of the file's bytes.
    pub(crate) sha256: String,
    /// The `--encoding` it was read with (absent: UTF-8), so that merge reads it alike.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) encoding: Option<crate::manifest::TextEncoding>,
}

/// `.csrbatch/state.json`: what the folder is, beyond its files and summary.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct FolderState {
    /// The highest CsrId sequence number reserved in this folder (never handed out twice).
    pub(crate) last_csr_id: u64,
    #[serde(default)]
    pub(crate) layout: Layout,
    /// The shard this folder holds, if it holds one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) shard: Option<Shard>,
    /// How its keys are stored; absent in folders written before it was recorded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) keys: Option<KeyProtection>,
    /// `--key-format` of its keys; absent in folders written before the option existed,
    /// whose keys are PKCS#8.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) key_format: Option<KeyFormat>,
    /// The manifests the last run read.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub(crate) manifests: Vec<ManifestRecord>,
}

impl FolderState {
    pub(crate) fn path(root: &Path) -> PathBuf {
        root.join(STATE_DIR).join("state.json")
    }

    /// The folder's state, or `None` for a folder csrbatch has not written yet.
    pub(crate) fn read(root: &Path) -> Result<Option<FolderState>, IoError> {
        let path = FolderState::path(root);
        match std::fs::read(&path) {
            Ok(bytes) => serde_json::from_slice(&bytes).map(Some).map_err(|e| IoError::other(&path, e)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(IoError::new(&path, e)),
        }
    }

    pub(crate) fn write(&self, root: &Path) -> Result<(), IoError> {
        atomic::commit(vec![self.stage(root)?])
            .pop()
            .unwrap_or_else(|| Err(IoError::other(FolderState::path(root), "nothing committed")))
            .map(drop)
    }

    pub(crate) fn stage(&self, root: &Path) -> Result<Staged, IoError> {
        let path = FolderState::path(root);
        let bytes = serde_json::to_vec(self).map_err(|e| IoError::other(&path, e))?;
        atomic::stage(&path, &bytes, PUBLIC_MODE, Replace::Allowed)
    }
}

/// What a run asks of its output folder.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Wanted<'a> {
    pub(crate) layout: Layout,
    pub(crate) shard: Option<Shard>,
    pub(crate) passphrase: Option<&'a Passphrase>,
    /// `--reencrypt`: the run may change how the folder's keys are protected.
    pub(crate) reencrypt: bool,
    /// `--key-format`, if given (else the folder's, PKCS#8 for a new folder).
    pub(crate) key_format: Option<KeyFormat>,
}

/// What the checks found: the folder may be used as asked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Checked {
    pub(crate) layout: Layout,
    /// How the keys already there are stored (`None`: no key yet, or no folder).
    pub(crate) keys: Option<KeyProtection>,
    /// How this run writes new keys: the folder keeps the format it was first written with.
    pub(crate) key_format: KeyFormat,
    pub(crate) state: Option<FolderState>,
}

/// Everything a run checks before it reads or writes anything in `root` (`root` as the
/// user gave it, for the messages): that it is a folder or can become one, keeps its
/// layout, shard and key format, and that the keys in it stay as they are protected (a
/// passphrase for encrypted keys, and the right one; none for unencrypted keys, unless
/// `--reencrypt`). A folder of traditional keys takes no passphrase: they are never
/// encrypted (the flags alone, `--key-format traditional` with a passphrase, are refused
/// before, when the command's settings are resolved).
pub(crate) fn check(root: &Path, wanted: Wanted<'_>) -> Result<Checked, FolderError> {
    let folder = |problem| FolderError::Folder { given: root.to_path_buf(), problem };
    let traditional_with_passphrase = |format: KeyFormat| {
        (format == KeyFormat::Traditional && wanted.passphrase.is_some())
            .then_some(FolderError::TraditionalWithPassphrase)
    };
    match std::fs::metadata(root) {
        Ok(m) if !m.is_dir() => {
            return Err(FolderError::Out { given: root.to_path_buf(), problem: OutProblem::NotAFolder });
        }
        Ok(_) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let key_format = wanted.key_format.unwrap_or_default();
            return Ok(Checked { layout: wanted.layout, keys: None, key_format, state: None });
        }
        Err(e) => {
            let problem = OutProblem::Unreadable(IoError::new(root, e));
            return Err(FolderError::Out { given: root.to_path_buf(), problem });
        }
    }
    let state = FolderState::read(root).map_err(|e| folder(FolderProblem::Records(e)))?;
    if let Some(state) = &state {
        if state.layout != wanted.layout {
            return Err(folder(FolderProblem::Layout { has: state.layout }));
        }
        if state.shard != wanted.shard {
            return Err(folder(FolderProblem::Shard { held: state.shard, asked: wanted.shard }));
        }
        let has = state.key_format.unwrap_or_default();
        if wanted.key_format.is_some_and(|w| w != has) {
            return Err(folder(FolderProblem::KeyFormat { has }));
        }
    }
    // A folder csrbatch wrote keeps its format (PKCS#8 if it recorded none).
    let key_format =
        state.as_ref().map_or(wanted.key_format.unwrap_or_default(), |s| s.key_format.unwrap_or_default());
    if let Some(e) = traditional_with_passphrase(key_format) {
        return Err(e);
    }
    let layout = state.as_ref().map_or(wanted.layout, |s| s.layout);
    let found = first_key(root, layout);
    let keys = state.as_ref().and_then(|s| s.keys).or(found.as_ref().map(|(_, p)| *p));
    match (keys, wanted.passphrase) {
        // --reencrypt only ever encrypts: without a passphrase there is nothing to do it with.
        (_, None) if wanted.reencrypt => return Err(folder(FolderProblem::ReencryptWithoutPassphrase)),
        (Some(KeyProtection::Encrypted), None) => return Err(folder(FolderProblem::NeedsPassphrase)),
        (Some(KeyProtection::Unencrypted), Some(_)) if !wanted.reencrypt => {
            return Err(folder(FolderProblem::Unencrypted));
        }
        _ => {}
    }
    // One key read with the passphrase tells a wrong one before any request is judged.
    if let (Some(pass), Some((key, KeyProtection::Encrypted))) = (wanted.passphrase, &found)
        && let Ok(pem) = std::fs::read_to_string(key)
        && PrivateKey::from_pkcs8_pem_any(&pem, Some(pass)).is_err()
    {
        return Err(folder(FolderProblem::WrongPassphrase { key: key.clone() }));
    }
    Ok(Checked { layout, keys, key_format, state })
}

/// The first `*.key.pem` regular file of the folder that holds a PKCS#8 key, and how it
/// is protected. Stops at the first: a folder of a million keys is not listed.
pub(crate) fn first_key(root: &Path, layout: Layout) -> Option<(PathBuf, KeyProtection)> {
    for folder in layout.folders() {
        let Ok(entries) = std::fs::read_dir(root.join(folder)) else { continue };
        for entry in entries.flatten() {
            if !entry.file_name().to_string_lossy().ends_with(".key.pem")
                || !entry.file_type().is_ok_and(|t| t.is_file())
            {
                continue;
            }
            let Ok(pem) = std::fs::read_to_string(entry.path()) else { continue };
            if let Some(protection) = KeyProtection::of_pem(&pem) {
                return Some((entry.path(), protection));
            }
        }
    }
    None
}

/// Journals in the folder's state directory written after the summary stamped `written`
/// ("" for no summary): those of runs that have not finished. Sorted by start time.
pub(crate) fn journals_after(root: &Path, written: &str) -> Result<Vec<PathBuf>, IoError> {
    Ok(journals(root)?.into_iter().filter(|j| journal_stamp(j) > written).collect())
}

/// Every journal in the folder's state directory, oldest first.
pub(crate) fn journals(root: &Path) -> Result<Vec<PathBuf>, IoError> {
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
    Ok(journals)
}

/// The start stamp in a journal's name (`journal-<stamp>.jsonl`).
pub(crate) fn journal_stamp(journal: &Path) -> &str {
    let name = journal.file_name().and_then(|n| n.to_str()).unwrap_or_default();
    name.trim_start_matches(JOURNAL_PREFIX).trim_end_matches(".jsonl")
}

/// What an unfinished run did before it stopped, as its journal says.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct UnfinishedRun {
    /// When it started (its journal's stamp).
    pub(crate) started: String,
    /// Requests it journaled.
    pub(crate) recorded: usize,
    /// Of those, pairs it made or replaced (new, resubject, rekey, repaired).
    pub(crate) changed: usize,
    /// Pairs of the batch it was writing when it stopped (journaled as begun, not done).
    pub(crate) in_flight: usize,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn wanted(passphrase: Option<&Passphrase>) -> Wanted<'_> {
        Wanted { layout: Layout::Flat, shard: None, passphrase, reencrypt: false, key_format: None }
    }

    #[test]
    fn a_folder_keeps_its_key_format() {
        let dir = tempfile::tempdir().unwrap();
        let traditional = Wanted { key_format: Some(KeyFormat::Traditional), ..wanted(None) };
        // A new folder takes the format asked for (the flags with a passphrase are refused
        // when the settings are resolved: see settings.rs's tests).
        assert_eq!(check(&dir.path().join("new"), traditional).unwrap().key_format, KeyFormat::Traditional);
        let pass = Passphrase::new("p".into()).unwrap();
        std::fs::create_dir_all(dir.path().join(STATE_DIR)).unwrap();
        let state = FolderState { key_format: Some(KeyFormat::Traditional), ..FolderState::default() };
        state.write(dir.path()).unwrap();
        // Without the option, the folder's format; the other one is refused.
        assert_eq!(check(dir.path(), wanted(None)).unwrap().key_format, KeyFormat::Traditional);
        let pkcs8 = Wanted { key_format: Some(KeyFormat::Pkcs8), ..wanted(None) };
        let err = check(dir.path(), pkcs8).unwrap_err();
        assert!(matches!(err, FolderError::Folder { problem: FolderProblem::KeyFormat { .. }, .. }), "{err}");
        // A traditional folder with a passphrase (no option given): refused too.
        let err = check(dir.path(), wanted(Some(&pass))).unwrap_err();
        assert!(matches!(err, FolderError::TraditionalWithPassphrase), "{err}");
        // A folder without a recorded format is PKCS#8.
        FolderState::default().write(dir.path()).unwrap();
        let err = check(dir.path(), traditional).unwrap_err();
        assert!(matches!(err, FolderError::Folder { problem: FolderProblem::KeyFormat { .. }, .. }), "{err}");
    }

    #[test]
    fn protection_by_pem_label() {
        assert_eq!(KeyProtection::of_pem("-----BEGIN PRIVATE KEY-----\nx"), Some(KeyProtection::Unencrypted));
        assert_eq!(
            KeyProtection::of_pem("\n-----BEGIN ENCRYPTED PRIVATE KEY-----\n"),
            Some(KeyProtection::Encrypted)
        );
        assert_eq!(KeyProtection::of_pem("-----BEGIN EC PRIVATE KEY-----"), None);
    }

    #[test]
    fn a_file_is_not_an_output_folder() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("f");
        std::fs::write(&file, "x").unwrap();
        let err = check(&file, wanted(None)).unwrap_err();
        assert!(matches!(err, FolderError::Out { problem: OutProblem::NotAFolder, .. }), "{err}");
        assert!(check(&dir.path().join("new"), wanted(None)).unwrap().state.is_none());
    }

    #[test]
    fn keys_stay_as_they_are_protected() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("a.key.pem"), "-----BEGIN PRIVATE KEY-----\n").unwrap();
        let pass = Passphrase::new("p".into()).unwrap();
        let err = check(dir.path(), wanted(Some(&pass))).unwrap_err();
        assert!(matches!(err, FolderError::Folder { problem: FolderProblem::Unencrypted, .. }), "{err}");
        assert!(check(dir.path(), Wanted { reencrypt: true, ..wanted(Some(&pass)) }).is_ok());
        assert_eq!(check(dir.path(), wanted(None)).unwrap().keys, Some(KeyProtection::Unencrypted));
        std::fs::create_dir_all(dir.path().join(STATE_DIR)).unwrap();
        let state = FolderState { keys: Some(KeyProtection::Encrypted), ..FolderState::default() };
        state.write(dir.path()).unwrap();
        let err = check(dir.path(), wanted(None)).unwrap_err();
        assert!(matches!(err, FolderError::Folder { problem: FolderProblem::NeedsPassphrase, .. }), "{err}");
    }

    #[test]
    fn state_reads_back_with_its_shard() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join(STATE_DIR)).unwrap();
        let state = FolderState {
            last_csr_id: 9,
            layout: Layout::Fanout,
            shard: Some(Shard::new(1, 4).unwrap()),
            keys: Some(KeyProtection::Encrypted),
            key_format: Some(KeyFormat::Pkcs8),
            manifests: vec![ManifestRecord {
                path: "/m.yaml".into(),
                given: "m.yaml".into(),
                size: 3,
                sha256: "ab".into(),
                encoding: Some("gb18030".parse().unwrap()),
            }],
        };
        state.write(dir.path()).unwrap();
        let text = std::fs::read_to_string(FolderState::path(dir.path())).unwrap();
        assert!(text.contains("\"Shard\":\"1/4\"") && text.contains("\"Keys\":\"encrypted\""), "{text}");
        assert!(text.contains("\"Encoding\":\"gb18030\""), "{text}");
        assert_eq!(FolderState::read(dir.path()).unwrap(), Some(state));
    }
}
