//! The commands: each ties the stages together (load -> validate -> generate -> write ->
//! report) and returns the exit code. `main.rs` only parses arguments and prints errors.

use std::collections::BTreeMap;
use std::path::PathBuf;

use crate::cli::{GenerateArgs, ValidateArgs};
use crate::crypto::{self, Generated};
use crate::error::{CryptoError, Error, ExitCode, IoError};
use crate::output::summary::{Entry, SummaryWriter};
use crate::output::{OutputDir, atomic};
use crate::progress::Progress;
use crate::request::{CsrRequest, KeyAlgorithm};
use crate::{manifest, parallel, request};

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

pub fn validate(args: &ValidateArgs) -> Result<ExitCode, Error> {
    let requests = load_and_validate(&args.paths)?;
    println!("{} requests valid", requests.len());
    Ok(ExitCode::Success)
}

pub fn generate(args: &GenerateArgs) -> Result<ExitCode, Error> {
    let requests = load_and_validate(&args.paths)?;
    let jobs = args.jobs.map_or_else(default_jobs, |n| n.get());
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(jobs)
        .thread_name(|i| format!("csrbatch-keygen-{i}"))
        .build()
        .map_err(|e| Error::Usage(format!("cannot start {jobs} worker threads: {e}")))?;

    // Only now, with every request valid, is anything created on disk.
    let out = OutputDir::open(&args.out)?;
    let first_id = out.reserve_csr_ids(requests.len(), 0)?;
    let run_id = request_id();
    let mut summary = SummaryWriter::create(
        out.journal_path(),
        out.summary_path(),
        run_id,
        requests.len(),
    )?;
    let progress = Progress::new(requests.len() as u64, args.quiet);
    let mut done: BTreeMap<KeyAlgorithm, usize> = BTreeMap::new();

    fn work(
        (index, request): (usize, &CsrRequest),
    ) -> (usize, &CsrRequest, Result<Generated, CryptoError>) {
        (index, request, crypto::generate(&request.params))
    }
    let sink =
        |batch: Vec<(usize, &CsrRequest, Result<Generated, CryptoError>)>| -> Result<(), IoError> {
            let entries = write_batch(&out, first_id, batch);
            for (key, entry) in &entries {
                summary.push(entry)?;
                if entry.succeeded() {
                    *done.entry(*key).or_default() += 1;
                }
            }
            summary.sync()?;
            progress.advance(entries.len());
            Ok(())
        };
    let window = (jobs * 64).max(256);
    parallel::ordered_map(&pool, requests.iter().enumerate(), window, work, sink)?;

    let (_, failed) = summary.counts();
    summary.finish()?;
    progress.finish(&done, failed, 0);
    Ok(if failed == 0 {
        ExitCode::Success
    } else {
        ExitCode::Failed
    })
}

/// Writes the pairs of one batch (one `syncfs` for all) and returns their summary entries.
fn write_batch(
    out: &OutputDir,
    first_id: u64,
    batch: Vec<(usize, &CsrRequest, Result<Generated, CryptoError>)>,
) -> Vec<(KeyAlgorithm, Entry)> {
    let mut staged = Vec::new();
    let mut outcomes: Vec<(usize, &CsrRequest, Result<Generated, String>)> =
        Vec::with_capacity(batch.len());
    for (index, request, generated) in batch {
        let generated = generated.map_err(|e| e.to_string()).and_then(|g| {
            let pair = out
                .stage_pair(&request.name, &g.key_pem, &g.csr.pem)
                .map_err(|e| e.to_string())?;
            staged.extend(pair);
            Ok(g)
        });
        outcomes.push((index, request, generated));
    }
    let mut landed = atomic::commit(staged).into_iter();
    outcomes
        .into_iter()
        .map(|(index, request, generated)| {
            let result = generated.and_then(|g| match (landed.next(), landed.next()) {
                (Some(Ok(_)), Some(Ok(_))) => Ok(g),
                (key, csr) => Err(undo_half_pair(key, csr)),
            });
            (
                request.params.key,
                entry(request, first_id + index as u64, result),
            )
        })
        .collect()
}

/// A pair lands whole or not at all: the half that landed was created by this run a
/// moment ago (the other was refused), so removing it loses nothing.
fn undo_half_pair(
    key: Option<Result<PathBuf, IoError>>,
    csr: Option<Result<PathBuf, IoError>>,
) -> String {
    let mut reasons = Vec::new();
    for half in [key, csr].into_iter().flatten() {
        match half {
            Ok(path) => {
                let _ = std::fs::remove_file(&path);
            }
            Err(e) if e.source.kind() == std::io::ErrorKind::AlreadyExists => {
                reasons.push(format!(
                    "{} already exists; csrbatch never replaces it",
                    e.path.display()
                ))
            }
            Err(e) => reasons.push(e.to_string()),
        }
    }
    reasons.join("; ")
}

fn entry(request: &CsrRequest, csr_id: u64, result: Result<Generated, String>) -> Entry {
    let p = &request.params;
    let (csr_file, key_file) = OutputDir::relative_files(&request.name);
    let mut e = Entry {
        csr_id: None,
        request_id: request_id(),
        name: request.name.to_string(),
        common_name: p.common_name.to_string(),
        sans: p
            .extra_sans()
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join(","),
        algorithm: p.key.algorithm().to_owned(),
        key_size: p.key.key_size(),
        country_code: p.country.as_str().to_owned(),
        province: p.province.clone(),
        locality: p.locality.clone(),
        corp_name: p.corp_name.clone(),
        department: p.department.clone(),
        key_sha2: None,
        has_private_key: false,
        csr_file: None,
        key_file: None,
        manifest: request.origin.to_string(),
        error: None,
        csr: None,
    };
    match result {
        Ok(g) => {
            e.csr_id = Some(csr_id);
            e.key_sha2 = Some(g.csr.key_sha2);
            e.has_private_key = true;
            e.csr_file = Some(csr_file);
            e.key_file = Some(key_file);
            e.csr = Some(g.csr.pem);
        }
        Err(message) => e.error = Some(message),
    }
    e
}

/// A `RequestId` as Alibaba Cloud writes them: an upper-case UUID v4.
pub fn request_id() -> String {
    uuid::Uuid::new_v4()
        .hyphenated()
        .to_string()
        .to_ascii_uppercase()
}

fn default_jobs() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}
