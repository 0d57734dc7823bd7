//! A run, as the library does it: the manifests loaded and validated once (and watched for
//! changes), then, with the command's [`Settings`], `preview` (what the folder holds
//! and what a run would do) or [`generate`] (doing it); `merge` joins the folders of a
//! run's shards. `cmd/` only turns command lines into these calls and prints what they
//! return.

pub mod generate;
pub(crate) mod merge;
pub(crate) mod preview;
pub(crate) mod report;

use std::path::{Path, PathBuf};

use crate::crypto::Passphrase;
use crate::decide::{Decision, Facts, Flags};
use crate::error::Error;
use crate::keyfile::{InsideOut, KeyFileCheck};
use crate::manifest::{Change, Fingerprint, ManifestError};
use crate::output::existing::{self, OnDisk, Previous};
use crate::output::folder;
use crate::output::summary::{Orphan, State};
use crate::output::{FolderError, FolderProblem, Layout, ManifestRecord};
use crate::request::{CsrRequest, NameRegistry, Names};
use crate::settings::Settings;
use crate::shard::Shard;
use crate::{manifest, request};

/// The requests of a run. Manifests are read twice: a first pass validates every request
/// and keeps only what settles the Names (a few dozen bytes per request); the work then
/// streams them again, so a million-request CSV is never held in memory.
#[derive(Debug)]
pub struct Requests {
    files: Vec<PathBuf>,
    /// Per file, as validated (`None`: it could not be read, and validation said so).
    prints: Vec<Option<Fingerprint>>,
    names: Names,
    /// How the files are read (`--encoding`), the same in both passes.
    read: manifest::ReadOptions,
}

/// Discovers, loads and validates; every error of every manifest, or the requests.
/// Encrypted `KeyFile`s are not opened (there is no passphrase).
pub fn load_and_validate(paths: &[PathBuf], read: manifest::ReadOptions) -> Result<Requests, Error> {
    load_and_validate_with(paths, read, KeyFileCheck::WithoutPassphrase)
}

/// As [`load_and_validate`], opening every `KeyFile` as `keys` says (each before any key
/// is made: a key file that cannot be used is a manifest error).
pub(crate) fn load_and_validate_with(
    paths: &[PathBuf],
    read: manifest::ReadOptions,
    keys: KeyFileCheck<'_>,
) -> Result<Requests, Error> {
    let (files, mut errors) = manifest::discover(paths);
    let before: Vec<Option<Fingerprint>> = files.iter().map(|f| Fingerprint::of(f).ok()).collect();
    let mut registry = NameRegistry::default();
    let mut inside_out = Vec::new();
    // Requests are validated even when some file failed, so every error is reported at once.
    for item in manifest::stream_with(&files, read) {
        match item.map_err(|e| vec![e]).and_then(|raw| request::check(&raw)) {
            Ok(checked) => {
                errors.extend(crate::keyfile::check(&checked, keys));
                inside_out.extend(InsideOut::of(&checked, registry.len(), keys));
                registry.add(&checked);
            }
            Err(mut e) => errors.append(&mut e),
        }
    }
    let names = match registry.resolve() {
        Ok(names) => {
            errors.extend(inside_out.iter().filter_map(|k| k.check(&names)));
            names
        }
        Err(more) => {
            errors.extend(more);
            return Err(Error::Manifests(errors));
        }
    };
    if !errors.is_empty() {
        return Err(Error::Manifests(errors));
    }
    // A file edited while it was being validated: what was validated is not what is there.
    for (file, print) in files.iter().zip(&before) {
        let now = Fingerprint::of(file).ok();
        let change = match (print, &now) {
            (Some(a), Some(b)) => a.change_to(b),
            (Some(_), None) => Some(Change::Gone),
            (None, _) => None,
        };
        if let Some(change) = change {
            return Err(Error::ManifestChanged { file: file.clone(), change });
        }
    }
    Ok(Requests { files, prints: before, names, read })
}

impl Requests {
    pub(crate) fn len(&self) -> usize {
        self.names.len()
    }

    /// Whether some request has this Name (ignoring case).
    pub(crate) fn wants(&self, name: &str) -> bool {
        self.names.wants(name)
    }

    /// How many requests belong to `shard`.
    pub(crate) fn count_in(&self, shard: Shard) -> usize {
        self.names.count_where(|key| crate::shard::shard_of_key(key, shard.count) == shard.index)
    }

    /// The manifests as validated, for the folder's state (merge reads them again).
    pub(crate) fn records(&self) -> Vec<ManifestRecord> {
        self.files
            .iter()
            .zip(&self.prints)
            .filter_map(|(file, print)| {
                let print = print.as_ref()?;
                let path = std::path::absolute(file).unwrap_or_else(|_| file.clone());
                Some(ManifestRecord {
                    path,
                    given: file.clone(),
                    size: print.size(),
                    sha256: print.sha256_hex(),
                    encoding: self.read.encoding,
                })
            })
            .collect()
    }

    /// The validated requests, read again from the manifests, in order. Each file is
    /// compared with its fingerprint before any of its requests is handed out: a manifest
    /// edited since it was validated is an error, never a request that skipped the rules.
    pub fn iter(&self) -> impl Iterator<Item = Result<CsrRequest, Error>> + Send + '_ {
        self.files
            .iter()
            .zip(&self.prints)
            .flat_map(|(file, print)| {
                let now = Fingerprint::of(file).ok();
                let change = match (print, &now) {
                    (Some(a), Some(b)) => a.change_to(b),
                    (_, None) => Some(Change::Gone),
                    (None, Some(_)) => Some(Change::Content),
                };
                let head = change.map(|change| Err(Error::ManifestChanged { file: file.clone(), change }));
                let rest =
                    head.is_none().then(|| manifest::stream_with(std::slice::from_ref(file), self.read));
                head.into_iter().chain(rest.into_iter().flatten().map(Ok))
            })
            .enumerate()
            .map(move |(index, item)| {
                let changed = |e: Vec<ManifestError>| {
                    let file = e.first().map_or_else(PathBuf::new, |e| e.origin.file.to_path_buf());
                    Error::ManifestChanged { file, change: Change::Content }
                };
                let raw = item?.map_err(|e| changed(vec![e]))?;
                let checked = request::check(&raw).map_err(changed)?;
                Ok(self.names.request(index, checked))
            })
    }
}

/// Feeds `requests` on until the first error, which is kept in `failure`.
pub(crate) fn until_error<'a, I>(
    requests: I,
    failure: &'a std::sync::Mutex<Option<Error>>,
) -> impl Iterator<Item = CsrRequest> + Send + 'a
where
    I: Iterator<Item = Result<CsrRequest, Error>> + Send + 'a,
{
    requests.map_while(move |r| match r {
        Ok(r) => Some(r),
        Err(e) => {
            *failure.lock().unwrap_or_else(|p| p.into_inner()) = Some(e);
            None
        }
    })
}

/// What a request is judged against: the folder (its root and layout, what earlier runs
/// recorded, whether it held no `*.pem` when the lock was taken) and the run's flags and
/// passphrase.
pub(crate) struct Judge<'a> {
    pub(crate) root: &'a Path,
    pub(crate) layout: Layout,
    pub(crate) previous: &'a Previous,
    pub(crate) flags: Flags,
    pub(crate) passphrase: Option<&'a Passphrase>,
    /// No request's files exist but those this run writes: nothing is read.
    pub(crate) no_pem_at_start: bool,
}

/// Reads a request's files and records, then decides its state (no writes): the
/// decision, and whether its key and its CSR exist.
pub(crate) fn assess(judge: &Judge<'_>, request: &CsrRequest) -> (Decision, bool, bool) {
    let Judge { root, layout, previous, flags, passphrase, no_pem_at_start } = *judge;
    let (csr, key) = layout.relative(request.name.as_str());
    let read = |file: String| {
        if no_pem_at_start { OnDisk::Missing } else { existing::read_file(&root.join(file)) }
    };
    if let Some(path) = &request.key_file {
        // The user's key, wherever it is, stands in for the folder's NAME.key.pem.
        let user_key = crate::keyfile::open(path, request.params.key, passphrase);
        let csr = read(csr);
        let csr_exists = csr.exists();
        let record = previous.record(request.name.as_str());
        let interrupted = previous.interrupted(request.name.as_str());
        let facts = Facts { key: user_key, csr, record, interrupted };
        let decision = crate::decide::decide_key_file(request, facts, flags);
        // A NAME.key.pem left from before the request had a KeyFile: `generate` archives it
        // when it writes the new CSR.
        let folder_key = read(key).exists();
        return (decision, folder_key, csr_exists);
    }
    let facts = Facts {
        key: read(key),
        csr: read(csr),
        record: previous.record(request.name.as_str()),
        interrupted: previous.interrupted(request.name.as_str()),
    };
    let (key_exists, csr_exists) = (facts.key.exists(), facts.csr.exists());
    (crate::decide::decide(request, facts, flags, passphrase), key_exists, csr_exists)
}

/// Pairs and records in the folder that no request asks for any more.
pub(crate) fn orphans(
    root: &Path,
    layout: Layout,
    wants: &(dyn Fn(&str) -> bool + Sync),
    previous: &Previous,
) -> Result<Vec<Orphan>, Error> {
    let mut names: Vec<String> = previous.strangers.values().cloned().collect();
    for folder in layout.folders() {
        names.extend(existing::pair_stems(&root.join(folder), &|n| !wants(n))?);
    }
    names.sort();
    names.dedup_by(|a, b| a.eq_ignore_ascii_case(b));
    Ok(names
        .into_iter()
        .filter(|n| !wants(n))
        .map(|name| {
            let (csr, key) = layout.relative(&name);
            let present = |f: &String| existing::read_file(&root.join(f)) != OnDisk::Missing;
            Orphan {
                csr_id: previous.record(&name).and_then(|r| r.csr_id()),
                state: State::Orphaned,
                csr_file: Some(csr).filter(present),
                key_file: Some(key).filter(present),
                name,
            }
        })
        .collect())
}

/// What earlier runs recorded in the output folder; records that cannot be read are a
/// problem of the folder (exit 2: nothing is done with it).
pub(crate) fn load_previous(settings: &Settings, wants: &dyn Fn(&str) -> bool) -> Result<Previous, Error> {
    existing::load_previous(&settings.out, wants).map_err(|e| {
        FolderError::Folder { given: settings.out.clone(), problem: FolderProblem::Records(e) }.into()
    })
}

/// Checks the output folder for this run (see [`folder::check`]) before anything in it is
/// read or written.
pub(crate) fn check_folder(settings: &Settings) -> Result<folder::Checked, Error> {
    Ok(folder::check(&settings.out, settings.wanted())?)
}

/// A `RequestId` as Alibaba Cloud writes them: an upper-case UUID v4.
pub(crate) fn request_id() -> String {
    uuid::Uuid::new_v4().hyphenated().to_string().to_ascii_uppercase()
}

pub(crate) fn thread_pool(jobs: usize) -> Result<rayon::ThreadPool, Error> {
    rayon::ThreadPoolBuilder::new()
        .num_threads(jobs)
        .thread_name(|i| format!("csrbatch-worker-{i}"))
        .build()
        .map_err(|e| Error::Threads { jobs, detail: e.to_string() })
}
