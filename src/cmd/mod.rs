//! The commands, one file each; each ties the stages together and returns the exit code.
//! `main.rs` only parses arguments and prints errors.

pub mod bench;
pub mod generate;
pub mod inspect;
pub mod merge;
pub mod plan;
pub mod validate;

use std::path::{Path, PathBuf};

use crate::cli::KeyArgs;
use crate::crypto::Passphrase;
use crate::error::Error;
use crate::keyfile::KeyFileCheck;
use crate::output::existing::{self, OnDisk, Previous};
use crate::output::{Layout, summary::Orphan};
use crate::plan::{Decision, Facts, Flags};
use crate::request::{CsrRequest, NameRegistry, Names};
use crate::{manifest, request};

/// The requests of a run. Manifests are read twice: a first pass validates every request
/// and keeps only what settles the Names (a few dozen bytes per request); the work then
/// streams them again, so a million-request CSV is never held in memory.
#[derive(Debug)]
pub struct Requests {
    files: Vec<PathBuf>,
    names: Names,
}

/// Discovers, loads and validates; every error of every manifest, or the requests.
/// Encrypted `KeyFile`s are not opened (there is no passphrase).
pub fn load_and_validate(paths: &[PathBuf]) -> Result<Requests, Error> {
    load_and_validate_with(paths, KeyFileCheck::WithoutPassphrase)
}

/// As [`load_and_validate`], opening every `KeyFile` as `keys` says.
pub fn load_and_validate_with(paths: &[PathBuf], keys: KeyFileCheck<'_>) -> Result<Requests, Error> {
    let (files, mut errors) = manifest::discover(paths);
    let mut registry = NameRegistry::default();
    // Requests are validated even when some file failed, so every error is reported at once.
    for item in manifest::stream(&files) {
        match item.map_err(|e| vec![e]).and_then(|raw| request::check(&raw)) {
            Ok(checked) => {
                errors.extend(crate::keyfile::check(&checked, keys));
                registry.add(&checked);
            }
            Err(mut e) => errors.append(&mut e),
        }
    }
    match registry.resolve() {
        Ok(names) if errors.is_empty() => Ok(Requests { files, names }),
        Ok(_) => Err(Error::Manifests(errors)),
        Err(more) => {
            errors.extend(more);
            Err(Error::Manifests(errors))
        }
    }
}

impl Requests {
    pub fn len(&self) -> usize {
        self.names.len()
    }

    pub fn is_empty(&self) -> bool {
        self.names.is_empty()
    }

    /// Whether some request has this Name (ignoring case).
    pub fn wants(&self, name: &str) -> bool {
        self.names.wants(name)
    }

    /// How many requests belong to `shard`.
    pub fn count_in(&self, shard: crate::shard::Shard) -> usize {
        self.names.count_where(|key| crate::shard::shard_of_key(key, shard.count) == shard.index)
    }

    /// The validated requests, read again from the manifests, in order. A manifest that
    /// changed since it was validated is an error, never a request that skipped the rules.
    pub fn iter(&self) -> impl Iterator<Item = Result<CsrRequest, Error>> + Send + '_ {
        let changed = |e: Vec<crate::error::ManifestError>| {
            let first = e.first().map(ToString::to_string).unwrap_or_default();
            Error::Usage(format!("a manifest changed while csrbatch was running: {first}"))
        };
        manifest::stream(&self.files).enumerate().map(move |(index, item)| {
            let raw = item.map_err(|e| changed(vec![e]))?;
            let checked = request::check(&raw).map_err(changed)?;
            Ok(self.names.request(index, checked))
        })
    }
}

/// Feeds `requests` on until the first error, which is kept in `failure`.
pub fn until_error<'a, I>(
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

/// The key passphrase, from an environment variable or a file (never the command line).
pub fn passphrase(args: &KeyArgs) -> Result<Option<Passphrase>, Error> {
    let text = match (&args.key_passphrase_env, &args.key_passphrase_file) {
        (Some(var), _) => std::env::var(var).map_err(|_| {
            Error::Usage(format!("--key-passphrase-env: environment variable {var} is not set"))
        })?,
        (None, Some(file)) => {
            let text = std::fs::read_to_string(file)
                .map_err(|e| Error::Usage(format!("--key-passphrase-file {}: {e}", file.display())))?;
            // One trailing newline is the file's, not the passphrase's.
            text.strip_suffix('\n').map(|t| t.strip_suffix('\r').unwrap_or(t)).unwrap_or(&text).to_owned()
        }
        (None, None) => return Ok(None),
    };
    Passphrase::new(text).map(Some).ok_or_else(|| Error::Usage("the key passphrase is empty".into()))
}

/// Reads a request's files and records, then decides its state (no writes).
pub fn assess(
    root: &Path,
    layout: Layout,
    request: &CsrRequest,
    previous: &Previous,
    flags: Flags,
    passphrase: Option<&Passphrase>,
    no_pem_at_start: bool,
) -> (Decision, bool, bool) {
    let (csr, key) = layout.relative(request.name.as_str());
    let read = |file: String| {
        if no_pem_at_start { OnDisk::Missing } else { existing::read_file(&root.join(file)) }
    };
    if let Some(path) = &request.key_file {
        // The user's key, wherever it is, stands in for the folder's NAME.key.pem.
        let user_key = crate::keyfile::open(path, request.params.key, passphrase).map_err(|p| p.to_string());
        let csr = read(csr);
        let csr_exists = csr.exists();
        let record = previous.record(request.name.as_str());
        let interrupted = previous.interrupted(request.name.as_str());
        let decision = crate::plan::decide_key_file(request, user_key, csr, record, interrupted, flags);
        // A NAME.key.pem left from before the request had a KeyFile: `generate` archives it
        // when it writes the new CSR, so no stale key sits beside a CSR of another key.
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
    (crate::plan::decide(request, facts, flags, passphrase), key_exists, csr_exists)
}

/// Pairs and records in the folder that no request asks for any more.
pub fn orphans(
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
                state: "orphaned".into(),
                csr_file: Some(csr).filter(present),
                key_file: Some(key).filter(present),
                name,
            }
        })
        .collect())
}

/// A `RequestId` as Alibaba Cloud writes them: an upper-case UUID v4.
pub fn request_id() -> String {
    uuid::Uuid::new_v4().hyphenated().to_string().to_ascii_uppercase()
}

pub fn default_jobs() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

pub fn thread_pool(jobs: usize) -> Result<rayon::ThreadPool, Error> {
    rayon::ThreadPoolBuilder::new()
        .num_threads(jobs)
        .thread_name(|i| format!("csrbatch-worker-{i}"))
        .build()
        .map_err(|e| Error::Usage(format!("cannot start {jobs} worker threads: {e}")))
}
