//! The commands, one file each; each ties the stages together and returns the exit code.
//! `main.rs` only parses arguments and prints errors.

pub mod bench;
pub mod generate;
pub mod plan;
pub mod validate;

use std::path::{Path, PathBuf};

use crate::cli::KeyArgs;
use crate::crypto::Passphrase;
use crate::error::Error;
use crate::output::existing::{self, OnDisk, Previous};
use crate::output::{OutputDir, summary::Orphan};
use crate::plan::{Decision, Facts, Flags};
use crate::request::CsrRequest;
use crate::{manifest, request};

/// Discovers, loads and validates; every error of every manifest, or the requests.
pub fn load_and_validate(paths: &[PathBuf]) -> Result<Vec<CsrRequest>, Error> {
    let (files, mut errors) = manifest::discover(paths);
    let loaded = manifest::load_files(&files);
    errors.extend(loaded.errors);
    // Requests are validated even when some file failed, so every error is reported at once.
    match request::validate(&loaded.requests) {
        Ok(requests) if errors.is_empty() => Ok(requests),
        Ok(_) => Err(Error::Manifests(errors)),
        Err(more) => {
            errors.extend(more);
            Err(Error::Manifests(errors))
        }
    }
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
    request: &CsrRequest,
    previous: &Previous,
    flags: Flags,
    passphrase: Option<&Passphrase>,
) -> (Decision, bool, bool) {
    let name = request.name.as_str();
    let (csr_path, key_path) = (root.join(format!("{name}.csr.pem")), root.join(format!("{name}.key.pem")));
    let facts = Facts {
        key: existing::read_file(&key_path),
        csr: existing::read_file(&csr_path),
        record: previous.record(&request.name.fold()),
        interrupted: previous.interrupted.contains(&request.name.fold()),
    };
    let (key_exists, csr_exists) = (facts.key.exists(), facts.csr.exists());
    (crate::plan::decide(request, facts, flags, passphrase), key_exists, csr_exists)
}

/// Pairs and records in the folder that no request asks for any more.
pub fn orphans(root: &Path, requests: &[CsrRequest], previous: &Previous) -> Result<Vec<Orphan>, Error> {
    let wanted: std::collections::HashSet<String> = requests.iter().map(|r| r.name.fold()).collect();
    let mut names: Vec<String> = previous.records.values().map(|r| r.name.clone()).collect();
    names.extend(existing::pair_stems(root)?);
    names.sort();
    names.dedup_by(|a, b| a.eq_ignore_ascii_case(b));
    Ok(names
        .into_iter()
        .filter(|n| !wanted.contains(&n.to_ascii_lowercase()))
        .map(|name| {
            let (csr, key) = OutputDir::relative_files(&name);
            let present = |f: &String| existing::read_file(&root.join(f)) != OnDisk::Missing;
            Orphan {
                csr_id: previous.record(&name.to_ascii_lowercase()).and_then(|r| r.csr_id),
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
