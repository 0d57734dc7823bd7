//! `csrbatch generate`: validate every request, compare with what the output folder
//! holds, then make what is missing on rayon workers while one writer, in manifest
//! order, archives what is replaced, writes the files and journals the summary.

use std::collections::BTreeMap;
use std::path::Path;

use super::{assess, orphans, request_id, thread_pool};
use crate::cli::GenerateArgs;
use crate::crypto::{self, Generated, KeyFormat, Passphrase, SignedCsr};
use crate::error::{Error, ExitCode, IoError};
use crate::output::atomic::Folders;
use crate::output::existing::{self, Previous};
use crate::output::summary::{Entry, Orphan, SummaryWriter};
use crate::output::{Archive, CsrIds, Layout, OutputDir, Replace, atomic, utc_stamp};
use crate::parallel;
use crate::plan::{Action, Flags, State};
use crate::progress::Progress;
use crate::request::{CsrRequest, KeyAlgorithm};
use crate::shard::Shard;

pub fn run(args: &GenerateArgs) -> Result<ExitCode, Error> {
    let passphrase = super::passphrase(&args.run.keys)?;
    let requests = super::load_and_validate_with(
        &args.run.paths,
        crate::keyfile::KeyFileCheck::Open(passphrase.as_ref()),
    )?;
    let options = Options {
        out: args.run.out.clone(),
        jobs: args.run.jobs.map_or_else(super::default_jobs, |n| n.get()),
        quiet: args.quiet,
        closing_line: true,
        flags: Flags { rotate: args.run.replace.rotate, repair: args.run.replace.repair },
        prune: args.run.replace.prune,
        layout: args.run.layout,
        shard: match args.shard {
            Some(shard) => Some(shard),
            None => Shard::from_env(|v| std::env::var(v).ok(), args.shards).map_err(Error::Usage)?,
        },
        passphrase,
        key_format: args.key_format,
    };
    // A shard's run is the requests whose Name hashes to it; the rest belong to others.
    let shard = options.shard;
    let mine = move |r: &Result<CsrRequest, Error>| match (shard, r) {
        (Some(shard), Ok(r)) => shard.holds(r.name.as_str()),
        _ => true,
    };
    let total = shard.map_or(requests.len(), |s| requests.count_in(s));
    if args.check {
        let layout = crate::output::check_folder(&options.out, options.layout, options.shard)?;
        let pending = super::plan::print_plan(
            &options.out,
            layout,
            requests.iter().filter(mine),
            &|n: &str| requests.wants(n),
            options.flags,
            options.passphrase.as_ref(),
            options.jobs,
        )?;
        return Ok(if pending { ExitCode::Failed } else { ExitCode::Success });
    }
    execute(requests.iter().filter(mine), total, &|n: &str| requests.wants(n), &options)
}

/// How to run `generate` on validated requests.
#[derive(Debug)]
pub struct Options {
    pub out: std::path::PathBuf,
    pub jobs: usize,
    pub quiet: bool,
    /// Print the closing line (bench runs print their own table instead).
    pub closing_line: bool,
    pub flags: Flags,
    pub prune: bool,
    pub layout: Layout,
    /// This run's shard, for its CsrId space (the caller picks the shard's requests).
    pub shard: Option<Shard>,
    pub passphrase: Option<Passphrase>,
    /// `--key-format`, if given; else the folder's.
    pub key_format: Option<KeyFormat>,
}

impl Options {
    /// All defaults: a fresh run into `out` on `jobs` threads, no bar, no closing line.
    pub fn plain(out: std::path::PathBuf, jobs: usize) -> Options {
        Options {
            out,
            jobs,
            quiet: true,
            closing_line: false,
            flags: Flags::default(),
            prune: false,
            layout: Layout::default(),
            shard: None,
            passphrase: None,
            key_format: None,
        }
    }
}

/// Brings the output folder in line with `requests` (already validated; `total` of them,
/// `wants` telling which Names they have).
pub fn execute<I>(
    requests: I,
    total: usize,
    wants: &(dyn Fn(&str) -> bool + Sync),
    options: &Options,
) -> Result<ExitCode, Error>
where
    I: Iterator<Item = Result<CsrRequest, Error>> + Send,
{
    let jobs = options.jobs;
    let pool = thread_pool(jobs)?;

    // Only now, with every request valid, is anything created on disk.
    let layout = crate::output::check_folder(&options.out, options.layout, options.shard)?;
    let key_format = crate::output::key_format(&options.out, options.key_format)?;
    if key_format == KeyFormat::Traditional && options.passphrase.is_some() {
        return Err(Error::Usage(
            "--key-format traditional cannot be combined with a key passphrase: the traditional \
             forms have only OpenSSL's legacy PEM encryption, which is weak; use pkcs8"
                .into(),
        ));
    }
    let out = OutputDir::open(&options.out, layout, options.shard)?;
    out.record_key_format(key_format)?;
    let previous = existing::load_previous(out.root(), wants)?;
    let started = utc_stamp();
    let mut writer = Writer {
        ids: CsrIds::open(&out, previous.max_csr_id, options.shard.map_or(0, |s| s.id_base()))?
            .expecting(total as u64),
        archive: Archive::new(&out, &started),
        summary: SummaryWriter::create(
            out.journal_path(&started),
            out.summary_path(),
            request_id(),
            started.clone(),
            total,
        )?,
        progress: Progress::new(total as u64, options.quiet),
        closing_line: options.closing_line,
        made: BTreeMap::new(),
        states: BTreeMap::new(),
        out: &out,
        previous: &previous,
    };

    let context = Context {
        out: &out,
        root: out.root(),
        layout,
        previous: &previous,
        flags: options.flags,
        passphrase: options.passphrase.as_ref(),
        key_format,
    };
    let work = |request| produce(&context, request);
    // A request in flight holds up to two staged files open (key and CSR) until its
    // batch is committed; the window leaves room for them under the open-file limit.
    let open_files = usize::try_from(atomic::raise_open_file_limit()).unwrap_or(usize::MAX);
    let window = (jobs * 64).max(256).min(open_files.saturating_sub(256) / 2).max(8);
    let failure = std::sync::Mutex::new(None);
    let requests = super::until_error(requests, &failure);
    let written = parallel::ordered_map(&pool, requests, window, work, |batch| writer.write_batch(batch));
    if written.is_err() {
        // The batches' folder entries wait for the next sync (`Folders::WithNextSync`);
        // on the way out, what landed is made durable all the same.
        let _ = atomic::sync_folders(out.root());
    }
    written?;
    if let Some(e) = failure.into_inner().unwrap_or_else(|p| p.into_inner()) {
        return Err(e);
    }

    let mut orphans = orphans(out.root(), layout, wants, &previous)?;
    if options.prune {
        writer.prune(&mut orphans)?;
    }
    writer.finish(&orphans)
}

/// One request's result, handed from a worker to the writer.
struct Outcome {
    request: CsrRequest,
    state: State,
    reason: Option<String>,
    key_exists: bool,
    csr_exists: bool,
    made: Result<Made, String>,
    /// The new files, already written and closed by the worker (key, then CSR), for the
    /// writer to put in place.
    staged: Vec<atomic::Staged>,
}

enum Made {
    /// Nothing written: the pair on disk stands.
    Kept { csr: SignedCsr, csr_id: Option<u64>, request_id: Option<String> },
    /// A new key and CSR.
    Pair(Generated),
    /// A new CSR for the key on disk.
    Csr(SignedCsr),
    /// Damaged and left alone.
    Nothing,
}

/// What every worker reads.
struct Context<'a> {
    out: &'a OutputDir,
    root: &'a Path,
    layout: Layout,
    previous: &'a Previous,
    flags: Flags,
    passphrase: Option<&'a Passphrase>,
    key_format: KeyFormat,
}

/// Runs on a worker: read and judge what is there, generate or sign what is needed, and
/// stage the new files (file creation costs kernel time: the workers share it).
fn produce(cx: &Context<'_>, request: CsrRequest) -> Outcome {
    let (decision, key_exists, csr_exists) =
        assess(cx.root, cx.layout, &request, cx.previous, cx.flags, cx.passphrase, cx.out.no_pem_at_start());
    let passphrase = cx.passphrase;
    let mut made = match decision.action {
        Action::Keep { csr, csr_id, request_id } => Ok(Made::Kept { csr, csr_id, request_id }),
        Action::Generate => crypto::generate_as(&request.params, cx.key_format, passphrase).map(Made::Pair),
        Action::Resign(key) => crypto::sign_request(&request.params, &key).map(Made::Csr),
        Action::Leave => Ok(Made::Nothing),
    }
    .map_err(|e| e.to_string());
    let staged = match stage(cx.out, request.name.as_str(), &made, key_exists, csr_exists) {
        Ok(staged) => staged,
        Err(e) => {
            made = Err(e.to_string());
            Vec::new()
        }
    };
    Outcome { request, state: decision.state, reason: decision.reason, key_exists, csr_exists, made, staged }
}

/// Writes a new pair (key, then CSR) or a new CSR into temporary files beside their
/// destinations; an existing file will be replaced, never a missing one created twice.
fn stage(
    out: &OutputDir,
    name: &str,
    made: &Result<Made, String>,
    key_exists: bool,
    csr_exists: bool,
) -> Result<Vec<atomic::Staged>, IoError> {
    let (csr_path, key_path) = out.pair_paths(name);
    let replace = |exists: bool| if exists { Replace::Allowed } else { Replace::Never };
    Ok(match made {
        Ok(Made::Pair(g)) => vec![
            out.stage(&key_path, &g.key_pem, true, replace(key_exists))?,
            out.stage(&csr_path, &g.csr.pem, false, replace(csr_exists))?,
        ],
        Ok(Made::Csr(csr)) => vec![out.stage(&csr_path, &csr.pem, false, replace(csr_exists))?],
        Ok(Made::Kept { .. } | Made::Nothing) | Err(_) => Vec::new(),
    })
}

/// The single owner of the output folder during a run.
struct Writer<'a> {
    out: &'a OutputDir,
    previous: &'a Previous,
    ids: CsrIds,
    archive: Archive,
    summary: SummaryWriter,
    progress: Progress,
    made: BTreeMap<KeyAlgorithm, usize>,
    states: BTreeMap<&'static str, usize>,
    closing_line: bool,
}

impl Writer<'_> {
    /// Archives what is replaced, writes new files (one sync for the batch), then journals
    /// the entries. A request whose files could not be written is a failed entry.
    fn write_batch(&mut self, mut batch: Vec<Outcome>) -> Result<(), IoError> {
        let size = batch.len();
        let writes: Vec<&str> = batch
            .iter()
            .filter(|o| matches!(o.made, Ok(Made::Pair(_) | Made::Csr(_))))
            .map(|o| o.request.name.as_str())
            .collect();
        if !writes.is_empty() {
            self.summary.begin_batch(&writes)?;
        }
        let mut staged = Vec::new();
        let mut staged_for = Vec::with_capacity(batch.len());
        for outcome in &mut batch {
            let before = staged.len();
            let result = self.archive_replaced(outcome);
            if result.is_ok() {
                staged.append(&mut outcome.staged);
            }
            outcome.staged.clear(); // dropping a staged file removes it
            staged_for.push((staged.len() - before, result));
        }
        self.archive.sync()?;
        // CsrIds for the entries below, reserved in state.json by this very commit.
        let needing_ids = batch
            .iter()
            .filter(|o| matches!(o.made, Ok(Made::Pair(_) | Made::Csr(_) | Made::Kept { csr_id: None, .. })))
            .count();
        let reservation = self.ids.reserve(needing_ids as u64)?;
        let reserving = reservation.is_some();
        staged.extend(reservation);
        let mut landed = atomic::commit_with(staged, &[self.summary.journal_file()], Folders::WithNextSync);
        if reserving && let Some(Err(e)) = landed.pop() {
            return Err(e);
        }
        let mut landed = landed.into_iter();
        for (outcome, (count, staged)) in batch.into_iter().zip(staged_for) {
            let results: Vec<_> = landed.by_ref().take(count).collect();
            let written = staged
                .and_then(|()| results.into_iter().try_for_each(|r| r.map(drop)).map_err(|e| e.to_string()));
            let entry = self.entry(outcome, written)?;
            *self.states.entry(state_label(&entry)).or_default() += 1;
            self.summary.push(&entry)?;
        }
        self.summary.flush()?;
        self.progress.advance(size);
        Ok(())
    }

    /// Links into the archive the files an outcome's staged ones will replace.
    fn archive_replaced(&mut self, o: &Outcome) -> Result<(), String> {
        let (csr_path, key_path) = self.out.pair_paths(o.request.name.as_str());
        let err = |e: IoError| e.to_string();
        match &o.made {
            Ok(Made::Pair(_)) => {
                self.keep(&key_path, o.key_exists).map_err(err)?;
                self.keep(&csr_path, o.csr_exists).map_err(err)?;
                self.note_archived(o, o.key_exists, o.csr_exists).map_err(err)
            }
            Ok(Made::Csr(_)) => {
                self.keep(&csr_path, o.csr_exists).map_err(err)?;
                // A KeyFile request's CSR is of the user's key: a key of this folder for the
                // same Name is from before, and goes into the archive (moved, not deleted).
                let stale_key = o.request.key_file.is_some() && o.key_exists;
                if stale_key {
                    self.archive.take(&key_path).map_err(err)?;
                }
                self.note_archived(o, stale_key, o.csr_exists).map_err(err)
            }
            Ok(Made::Kept { .. } | Made::Nothing) => Ok(()),
            Err(e) => Err(e.clone()),
        }
    }

    /// A file about to be replaced is first linked into the archive.
    fn keep(&mut self, path: &Path, exists: bool) -> Result<(), IoError> {
        if exists { self.archive.keep(path) } else { Ok(()) }
    }

    fn note_archived(&mut self, o: &Outcome, key: bool, csr: bool) -> Result<(), IoError> {
        if !key && !csr {
            return Ok(());
        }
        let name = o.request.name.as_str();
        let record = self.previous.record(o.request.name.as_str());
        let (csr_file, key_file) = self.out.relative_files(name);
        self.archive.note(&serde_json::json!({
            "Name": name,
            "CsrId": record.and_then(|r| r.csr_id()),
            "Reason": o.state.as_str(),
            "Detail": o.reason,
            "KeyFile": key.then_some(key_file),
            "CsrFile": csr.then_some(csr_file),
        }))
    }

    fn entry(&mut self, o: Outcome, written: Result<(), String>) -> Result<Entry, IoError> {
        let p = &o.request.params;
        let (csr_file, key_file) = self.out.relative_files(o.request.name.as_str());
        let repaired = o.state == State::Damaged && matches!(o.made, Ok(Made::Pair(_)));
        let mut e = Entry {
            csr_id: None,
            request_id: request_id(),
            name: o.request.name.to_string(),
            state: Some(if repaired { "repaired" } else { o.state.as_str() }.to_owned()),
            common_name: p.common_name.to_string(),
            sans: p.extra_sans().iter().map(ToString::to_string).collect::<Vec<_>>().join(","),
            algorithm: p.key.algorithm().to_owned(),
            key_size: p.key.key_size(),
            country_code: p.country.as_str().to_owned(),
            province: p.province.clone(),
            locality: p.locality.clone(),
            corp_name: p.corp_name.clone(),
            department: p.department.clone(),
            key_usage: p.extras.key_usage.iter().copied().collect(),
            extended_key_usage: p.extras.extended_key_usage.iter().copied().collect(),
            has_challenge_password: p.extras.challenge_password.is_some(),
            key_sha2: None,
            has_private_key: false,
            csr_file: None,
            key_file: None,
            manifest: o.request.origin.to_string(),
            error: None,
            csr: None,
        };
        let csr = match (o.made, written) {
            (Err(error), _) | (_, Err(error)) => {
                e.error = Some(error);
                return Ok(e);
            }
            (Ok(Made::Nothing), Ok(())) => {
                e.error = Some(format!(
                    "damaged, left alone (--repair regenerates it): {}",
                    o.reason.unwrap_or_default()
                ));
                e.csr_id = self.previous.record(o.request.name.as_str()).and_then(|r| r.csr_id());
                return Ok(e);
            }
            (Ok(Made::Kept { csr, csr_id, request_id }), Ok(())) => {
                e.csr_id = csr_id;
                if let Some(id) = request_id {
                    e.request_id = id;
                }
                csr
            }
            (Ok(Made::Pair(g)), Ok(())) => {
                *self.made.entry(p.key).or_default() += 1;
                g.csr
            }
            (Ok(Made::Csr(csr)), Ok(())) => {
                *self.made.entry(p.key).or_default() += 1;
                csr
            }
        };
        if e.csr_id.is_none() {
            e.csr_id = Some(self.ids.next_id()?);
        }
        e.key_sha2 = Some(csr.key_sha2);
        e.has_private_key = true;
        e.csr_file = Some(csr_file);
        // A KeyFile request's key is the user's file, which stays where it is.
        // Absolute, so that it reads the same from anywhere (and `merge` knows it is not
        // one of the folder's files, which are relative).
        e.key_file = Some(o.request.key_file.as_ref().map_or(key_file, |path| {
            std::path::absolute(path).unwrap_or_else(|_| path.clone()).display().to_string()
        }));
        e.csr = Some(csr.pem);
        Ok(e)
    }

    /// `--prune`: orphaned files are moved into the archive, never deleted.
    fn prune(&mut self, orphans: &mut [Orphan]) -> Result<(), IoError> {
        for orphan in orphans.iter_mut() {
            for file in [&orphan.csr_file, &orphan.key_file].into_iter().flatten() {
                self.archive.take(&self.out.root().join(file))?;
            }
            self.archive.note(&serde_json::json!({
                "Name": orphan.name, "CsrId": orphan.csr_id, "Reason": "pruned",
                "KeyFile": orphan.key_file, "CsrFile": orphan.csr_file,
            }))?;
            orphan.state = "pruned".into();
        }
        atomic::sync_dir(self.out.root())
    }

    fn finish(self, orphans: &[Orphan]) -> Result<ExitCode, Error> {
        let (_, failed) = self.summary.counts();
        self.summary.finish(orphans)?;
        self.out.clear_journals(&self.previous.journals)?;
        self.ids.release()?;
        let mut notes: Vec<String> = self
            .states
            .iter()
            .filter(|(s, _)| !matches!(**s, "new" | "failed"))
            .map(|(s, n)| format!("{n} {s}"))
            .collect();
        if !orphans.is_empty() {
            notes.push(format!("{} {}", orphans.len(), orphans[0].state));
        }
        if self.closing_line {
            self.progress.finish(&self.made, failed, &notes);
        }
        Ok(if failed == 0 { ExitCode::Success } else { ExitCode::Failed })
    }
}

fn state_label(entry: &Entry) -> &'static str {
    match (&entry.error, entry.state.as_deref()) {
        (Some(_), Some("damaged")) => "damaged",
        (Some(_), _) => "failed",
        (None, Some("unchanged")) => "unchanged",
        (None, Some("resubject")) => "resubject",
        (None, Some("rekey")) => "rekey",
        (None, Some("repaired")) => "repaired",
        (None, _) => "new",
    }
}
