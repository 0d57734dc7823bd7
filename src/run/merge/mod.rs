//! Merging: checks that shard output folders together hold every request exactly once,
//! then writes one summary.json for the whole run (and, with `--collect`, copies the pairs
//! next to it).
//!
//! What the shard folders prove is always checked: every shard K of N present once, each
//! complete (a summary, no unfinished run, no failed request) and holding only its own
//! requests. The manifests (given, else those each shard recorded, read again and compared
//! by SHA-256) then name every missing request. Shard summaries are read with the one
//! summary reader into a scratch file (`shards.rs`), and entries are read back one at a time
//! to be written (`write.rs`), so memory holds a few dozen bytes per request. Every reason
//! not to merge is a [`MergeProblem`]; nothing is written while there is one.

mod problem;
mod shards;
mod write;

use std::fmt;
use std::path::{Path, PathBuf};

pub(crate) use problem::{MergeNote, MergeProblem};

use crate::crypto::KeyFormat;
use crate::error::Error;
use crate::output::Layout;
use crate::output::folder::{self, FolderState, KeyProtection};
use crate::settings::Settings;
use shards::Index;

/// How a merge ended (a failure to read or write is an [`Error`] instead).
#[derive(Debug)]
#[non_exhaustive]
pub(crate) enum MergeOutcome {
    /// The merged summary is written.
    Merged(Merged),
    /// The shards do not hold every request exactly once: nothing was written.
    Incomplete(Vec<MergeProblem>),
    /// `out` turned out, once its lock was held, to hold pairs of another kind (a run
    /// there, which this merge waited for, changed it): nothing was written.
    OutChanged(MergeProblem),
    /// `--collect` found files in `out` at pairs' paths that are not those pairs
    /// ([`MergeProblem::Clash`]), or certificates it cannot copy whole
    /// ([`MergeProblem::CertificateNotAsRecorded`]): nothing was copied or written.
    Clashes(Vec<MergeProblem>),
}

/// What a merge wrote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Merged {
    /// Entries in the merged summary.
    pub(crate) csrs: usize,
    /// Shard folders merged.
    pub(crate) shards: usize,
    /// The merged summary.json.
    pub(crate) summary: PathBuf,
}

/// Merges the shard folders of `options` (see the module's text). `note` is told, as the
/// merge goes, why it checks without the manifests the shards recorded, if it does.
pub(crate) fn merge(settings: &Settings, note: &mut dyn FnMut(&MergeNote)) -> Result<MergeOutcome, Error> {
    let mut problems = Vec::new();
    let mut index = Index::default();
    let mut shards = Vec::new();
    for (k, dir) in settings.merge.shards.iter().enumerate() {
        match shards::read_shard(dir, k as u32, &mut index, &mut problems) {
            Ok(Some(s)) => shards.push(s),
            Ok(None) => {}
            Err(error) => problems.push(MergeProblem::Unreadable { dir: dir.clone(), error }),
        }
    }
    shards::check_shards(&shards, &mut problems);
    // Its lock is held shared for reading as a shard: writing there would wait for itself.
    if let Some(dir) = settings.merge.shards.iter().find(|d| same_folder(d, &settings.out)) {
        problems.push(MergeProblem::OutIsShard { dir: dir.clone() });
    }
    let kind = if settings.merge.collect {
        write::collected_kind(&shards, &settings.out, &mut problems)?
    } else {
        None
    };

    // The manifests: given, or as the shards recorded them (when they are still as they were).
    let paths = if settings.paths.is_empty() {
        shards::recorded_manifests(&shards, note)
    } else {
        Some((settings.paths.clone(), settings.read))
    };
    let order = match paths {
        Some((paths, read)) => {
            let requests = super::load_and_validate(&paths, read)?;
            shards::manifest_order(&requests, &mut index, &settings.merge.shards, &mut problems)?
        }
        None => {
            note(&MergeNote::ProvenOnly);
            let given: Vec<String> = shards
                .iter()
                .flat_map(|s| s.manifests.iter().map(|r| r.given.display().to_string()))
                .collect();
            shards::proven_order(&index, &settings.merge.shards, &given, &mut problems)
        }
    };
    if !problems.is_empty() {
        return Ok(MergeOutcome::Incomplete(problems));
    }
    write::write_merged(settings, &mut shards, order, kind)
}

/// What a folder of pairs must agree on with another to be one folder: layout, key
/// protection and key format (as [`folder::check`] keeps them for a run).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct FolderKind {
    pub(crate) layout: Layout,
    /// `None` only for a folder that holds no key.
    pub(crate) keys: Option<KeyProtection>,
    pub(crate) key_format: KeyFormat,
}

impl FolderKind {
    /// The folder `root`'s kind. Folders written before the key protection was recorded
    /// tell it by a key file.
    pub(crate) fn of(root: &Path, state: &FolderState) -> FolderKind {
        let keys = state.keys.or_else(|| folder::first_key(root, state.layout).map(|(_, p)| p));
        FolderKind { layout: state.layout, keys, key_format: state.key_format.unwrap_or_default() }
    }

    /// Whether pairs of both can be one folder (a folder without keys goes with any).
    pub(crate) fn agrees(&self, other: &FolderKind) -> bool {
        let keys = match (self.keys, other.keys) {
            (Some(a), Some(b)) => a == b,
            _ => true,
        };
        self.layout == other.layout && self.key_format == other.key_format && keys
    }
}

impl fmt::Display for FolderKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let keys = match self.keys {
            Some(KeyProtection::Encrypted) => "encrypted",
            Some(KeyProtection::Unencrypted) => "unencrypted",
            None => "no",
        };
        write!(f, "{} layout, {keys} {} keys", self.layout, self.key_format)
    }
}

/// Whether both paths name one folder (`b` need not exist).
fn same_folder(a: &Path, b: &Path) -> bool {
    match (std::fs::canonicalize(a), std::fs::canonicalize(b)) {
        (Ok(a), Ok(b)) => a == b,
        _ => false,
    }
}
