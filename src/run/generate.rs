//! Generating: bring the output folder in line with the validated requests. Rayon
//! workers judge each request against the folder, make what is missing and stage its
//! files; one writer, in manifest order, archives what is replaced, puts the files in
//! place and journals the summary. Ctrl-C stops new work; what is finished still lands.

use std::path::Path;

use super::report::Report;
use super::{Assessed, Judge, Slot, assess, orphans, request_id, thread_pool};
use crate::crypto::CryptoError;
use crate::crypto::{self, Generated, KeyFormat, Passphrase, SignedCsr};
use crate::decide::{Action, Flags, Reason};
use crate::error::Error;
use crate::manifest::Origin;
use crate::output::atomic::Folders;
use crate::output::existing::{self, Previous};
use crate::output::summary::{CertificateInfo, Entry, Orphan, State, SummaryWriter};
use crate::output::{
    Archive, CsrIds, FolderError, IoError, KeyProtection, Layout, ManifestPlace, ManifestRecord, Opening,
    OutProblem, OutputDir, Replace, atomic, certified, utc_stamp,
};
use crate::parallel;
use crate::progress::Progress;
use crate::request::CsrRequest;
use crate::settings::Settings;
use zeroize::Zeroizing;

/// Brings the output folder in line with `requests` (already validated; `total` of them,
/// `wants` telling which Names they have), recording `manifests` in the folder's state.
pub fn execute<I>(
    requests: I,
    total: usize,
    wants: &(dyn Fn(&str) -> bool + Sync),
    settings: &Settings,
    manifests: Vec<ManifestRecord>,
) -> Result<Report, Error>
where
    I: Iterator<Item = Result<CsrRequest, Error>> + Send,
{
    execute_each(requests, total, wants, settings, manifests, &mut |_, _| {})
}

/// As [`execute`], handing each request's summary entry to `each` (with the request's
/// place in its manifest) as soon as it is journaled: what landed is known even when the
/// run is interrupted or fails later (`--json` prints it).
pub(crate) fn execute_each<I>(
    requests: I,
    total: usize,
    wants: &(dyn Fn(&str) -> bool + Sync),
    settings: &Settings,
    manifests: Vec<ManifestRecord>,
    each: &mut dyn FnMut(&Origin, &Entry),
) -> Result<Report, Error>
where
    I: Iterator<Item = Result<CsrRequest, Error>> + Send,
{
    let jobs = settings.jobs;
    let pool = thread_pool(jobs)?;

    // Only now, with every request valid and the folder checked, is anything created.
    let checked = super::check_folder(settings)?;
    std::fs::create_dir_all(&settings.out).map_err(|e| FolderError::Out {
        given: settings.out.clone(),
        problem: OutProblem::CannotCreate(e),
    })?;
    let lock = match OutputDir::lock(&settings.out) {
        Err(e) if e.source.kind() == std::io::ErrorKind::Interrupted && crate::interrupt::requested() => {
            return Err(Error::Interrupted { done: 0, total: total as u64 });
        }
        locked => locked?,
    };
    // A run that waited for another checks again, under the lock: the other one may have
    // made the folder encrypted, fanout, of another key format, while this one waited.
    let checked = if lock.waited() { super::check_folder(settings)? } else { checked };
    let layout = checked.layout;
    let opening = Opening {
        layout,
        shard: settings.shard,
        keys: Some(KeyProtection::of_run(settings.passphrase.as_ref())),
        key_format: Some(checked.key_format),
        manifests,
    };
    // The records are read before anything is written: unreadable ones stop the run here.
    let previous = super::load_previous(settings, layout, wants)?;
    let out = OutputDir::open_locked(&settings.out, &opening, lock)?;
    let started = utc_stamp();
    let mut writer = Writer {
        ids: CsrIds::open(&out, previous.max_csr_id, settings.shard.map_or(0, |s| s.id_base()))?
            .expecting(total as u64),
        archive: Archive::new(&out, &started),
        summary: SummaryWriter::create(
            out.journal_path(&started),
            out.summary_path(),
            request_id(),
            started.clone(),
            total,
        )?,
        progress: Progress::new(total as u64, settings.quiet),
        report: Report { total, ..Report::default() },
        done: 0,
        each,
        out: &out,
        previous: &previous,
    };

    let context = Context {
        out: &out,
        root: out.root(),
        layout,
        previous: &previous,
        flags: settings.flags,
        passphrase: settings.passphrase.as_ref(),
        reencrypt: settings.flags.reencrypt,
        key_format: checked.key_format,
        now: time::OffsetDateTime::now_utc(),
        renew_before: settings.renew_before,
    };
    let work = |request| produce(&context, request);
    // A request in flight holds up to two staged files open (key and CSR) until its
    // batch is committed; the window leaves room for them under the open-file limit.
    let open_files = usize::try_from(atomic::raise_open_file_limit()).unwrap_or(usize::MAX);
    let window = (jobs * 64).max(256).min(open_files.saturating_sub(256) / 2).max(8);
    let failure = std::sync::Mutex::new(None);
    let requests = super::until_error(requests, &failure);
    let stop = crate::interrupt::flag();
    let written =
        parallel::ordered_map_until(&pool, requests, window, stop, work, |batch| writer.write_batch(batch));
    if written.is_err() || crate::interrupt::requested() {
        // The batches' folder entries wait for the next sync (`Folders::WithNextSync`);
        // on the way out, what landed is made durable all the same.
        let _ = atomic::sync_folders(out.root());
    }
    let failure = failure.into_inner().unwrap_or_else(|p| p.into_inner());
    if let Some(e) = written.err().map(Error::from).or(failure) {
        writer.progress.clear();
        return Err(e);
    }
    if crate::interrupt::requested() && writer.done < total {
        // The journal stays: the folder is visibly unfinished until a run finishes it.
        // (Interrupted after the last request, the run finishes as if it had not been.)
        writer.progress.clear();
        return Err(Error::Interrupted { done: writer.done as u64, total: total as u64 });
    }

    let mut orphans = orphans(out.root(), layout, wants, &previous)?;
    if settings.prune {
        writer.prune(&mut orphans)?;
    }
    writer.finish(&orphans, settings.closing_line)
}

/// Why a request has no new files: the crypto or the disk, with their own types until
/// the summary renders them.
#[derive(Debug, thiserror::Error)]
enum Failure {
    #[error(transparent)]
    Crypto(#[from] CryptoError),
    #[error(transparent)]
    Io(#[from] IoError),
}

/// One request's result, handed from a worker to the writer.
struct Outcome {
    request: CsrRequest,
    state: State,
    reason: Option<crate::decide::Reason>,
    key_exists: bool,
    csr_exists: bool,
    made: Result<Work, Failure>,
    /// `--reencrypt` rewrote the key of a pair that stays (staged first, before its CSR).
    rewrapped: bool,
    /// `--reencrypt` left a certified request's live key unencrypted (no run of generate
    /// rewrites a live file: its renewal's key is encrypted).
    live_key_left: bool,
    /// The new files, already written and closed by the worker (key, then CSR), for the
    /// writer to put in place.
    staged: Vec<atomic::Staged>,
    files: Files,
    /// A certified request's live certificate, carried into its entry.
    certificate: Option<CertificateInfo>,
}

enum Work {
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
    /// `--reencrypt`: unencrypted keys are rewritten encrypted with the passphrase.
    reencrypt: bool,
    /// How new keys are written (the folder's format).
    key_format: KeyFormat,
    /// When certificates are judged, and `--renew-before`.
    now: time::OffsetDateTime,
    renew_before: Option<time::Duration>,
}

/// Runs on a worker: read and judge what is there, generate or sign what is needed, and
/// stage the new files (file creation costs kernel time: the workers share it).
fn produce(cx: &Context<'_>, request: CsrRequest) -> Outcome {
    let judge = Judge {
        root: cx.root,
        layout: cx.layout,
        previous: cx.previous,
        flags: cx.flags,
        passphrase: cx.passphrase,
        no_pem_at_start: cx.out.no_pem_at_start(),
        now: cx.now,
        renew_before: cx.renew_before,
    };
    let Assessed { decision, key_exists, csr_exists, slot, certificate } = assess(&judge, &request);
    let passphrase = cx.passphrase;
    let mut made = match decision.action {
        Action::Keep { csr, csr_id, request_id } => Ok(Work::Kept { csr, csr_id, request_id }),
        Action::Generate => crypto::generate_as(&request.params, cx.key_format, passphrase).map(Work::Pair),
        Action::Resign(key) => crypto::sign_request(&request.params, &key).map(Work::Csr),
        Action::Leave => Ok(Work::Nothing),
    }
    .map_err(Failure::from);
    let mut rewrapped = None;
    let files = Files::of(cx.out, request.name.as_str(), slot);
    // A KeyFile request's key is the user's, and a certified request's is live: never
    // rewritten. A renewal's waiting key is not live (its slot is the next pair).
    if cx.reencrypt
        && request.key_file.is_none()
        && (slot == Slot::Next || certificate.is_none())
        && matches!(made, Ok(Work::Kept { .. } | Work::Csr(_)))
    {
        match rewrap(cx, &files.key) {
            Ok(key) => rewrapped = key,
            Err(e) => made = Err(e),
        }
    }
    let staged = match stage(cx.out, &files, &made, rewrapped.as_ref(), key_exists, csr_exists) {
        Ok(staged) => staged,
        Err(e) => {
            made = Err(e.into());
            Vec::new()
        }
    };
    let rewrapped = rewrapped.is_some() && made.is_ok();
    let live_key_left = cx.reencrypt
        && request.key_file.is_none()
        && certificate.is_some()
        && matches!(made, Ok(Work::Kept { .. }))
        && live_key_unencrypted(cx, &request);
    Outcome {
        request,
        state: decision.state,
        reason: decision.reason,
        key_exists,
        csr_exists,
        made,
        rewrapped,
        live_key_left,
        staged,
        files,
        certificate,
    }
}

/// The files an outcome writes: the pair beside the Name, or a certified request's `next`
/// pair (absolute paths and as summary.json names them).
struct Files {
    slot: Slot,
    csr: std::path::PathBuf,
    key: std::path::PathBuf,
    csr_relative: String,
    key_relative: String,
    /// A certified request's live key file, relative (a `next` CSR may be of the live key).
    live_key_relative: String,
}

impl Files {
    fn of(out: &OutputDir, name: &str, slot: Slot) -> Files {
        let (csr_relative, key_relative) = out.relative_files(name);
        let (csr, key) = out.pair_paths(name);
        match slot {
            Slot::Live => {
                Files { slot, csr, key, live_key_relative: key_relative.clone(), csr_relative, key_relative }
            }
            Slot::Next => {
                let paths = certified::Paths::new(out.root(), out.layout(), name);
                let (next_csr, next_key) = paths.next_relative();
                Files {
                    slot,
                    csr: paths.next_csr(),
                    key: paths.next_key(),
                    csr_relative: next_csr,
                    key_relative: next_key,
                    live_key_relative: key_relative,
                }
            }
        }
    }
}

/// `--reencrypt`: the key of a pair that stays (kept or re-signed), rewritten as this run
/// stores keys when it is stored otherwise (the same key: its CSR stays valid).
fn rewrap(cx: &Context<'_>, key_path: &Path) -> Result<Option<Zeroizing<String>>, Failure> {
    let existing::OnDisk::Present(pem) = existing::read_file(key_path) else { return Ok(None) };
    if KeyProtection::of_pem(&pem) == Some(KeyProtection::of_run(cx.passphrase)) {
        return Ok(None);
    }
    let key = crypto::PrivateKey::from_pkcs8_pem_any(&pem, cx.passphrase)?;
    Ok(Some(key.to_file_pem(cx.passphrase)?))
}

/// Whether a certified request's live key (`NAME.key.pem`, as a server reads it) is
/// unencrypted.
fn live_key_unencrypted(cx: &Context<'_>, request: &CsrRequest) -> bool {
    let (_, key_path) = cx.out.pair_paths(request.name.as_str());
    std::fs::read_to_string(key_path)
        .is_ok_and(|pem| KeyProtection::of_pem(&pem) == Some(KeyProtection::Unencrypted))
}

/// Writes a new pair (key, then CSR) or a new CSR into temporary files beside their
/// destinations; an existing file will be replaced, never a missing one created twice.
fn stage(
    out: &OutputDir,
    files: &Files,
    made: &Result<Work, Failure>,
    rewrapped: Option<&Zeroizing<String>>,
    key_exists: bool,
    csr_exists: bool,
) -> Result<Vec<atomic::Staged>, IoError> {
    let (csr_path, key_path) = (&files.csr, &files.key);
    let replace = |exists: bool| if exists { Replace::Allowed } else { Replace::Never };
    let mut staged = match rewrapped {
        Some(key_pem) if made.is_ok() => vec![out.stage(key_path, key_pem, true, Replace::Allowed)?],
        _ => Vec::new(),
    };
    staged.extend(match made {
        Ok(Work::Pair(g)) => vec![
            out.stage(key_path, &g.key_pem, true, replace(key_exists))?,
            out.stage(csr_path, &g.csr.pem, false, replace(csr_exists))?,
        ],
        Ok(Work::Csr(csr)) => vec![out.stage(csr_path, &csr.pem, false, replace(csr_exists))?],
        Ok(Work::Kept { .. } | Work::Nothing) | Err(_) => Vec::new(),
    });
    Ok(staged)
}

/// The single owner of the output folder during a run.
struct Writer<'a> {
    out: &'a OutputDir,
    previous: &'a Previous,
    ids: CsrIds,
    archive: Archive,
    summary: SummaryWriter,
    progress: Progress,
    report: Report,
    /// Requests whose entries are journaled.
    done: usize,
    /// Told of each entry once it is journaled.
    each: &'a mut dyn FnMut(&Origin, &Entry),
}

impl Writer<'_> {
    /// Archives what is replaced, writes new files (one sync for the batch), then journals
    /// the entries. A request whose files could not be written is a failed entry.
    fn write_batch(&mut self, mut batch: Vec<Outcome>) -> Result<(), IoError> {
        let size = batch.len();
        let writes: Vec<&str> = batch
            .iter()
            .filter(|o| o.rewrapped || matches!(o.made, Ok(Work::Pair(_) | Work::Csr(_))))
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
            staged_for.push((staged.len() - before, result.err()));
        }
        self.archive.sync()?;
        // CsrIds for the entries below, reserved in state.json by this very commit.
        let needing_ids = batch
            .iter()
            .filter(|o| matches!(o.made, Ok(Work::Pair(_) | Work::Csr(_) | Work::Kept { csr_id: None, .. })))
            .count();
        let reservation = self.ids.reserve(needing_ids as u64)?;
        let reserving = reservation.is_some();
        staged.extend(reservation);
        let mut landed = atomic::commit_with(staged, &[self.summary.journal_file()], Folders::WithNextSync);
        if reserving && let Some(Err(e)) = landed.pop() {
            return Err(e);
        }
        let mut landed = landed.into_iter();
        let mut pushed = Vec::with_capacity(size);
        for (mut outcome, (count, archive_failed)) in batch.into_iter().zip(staged_for) {
            let results: Vec<_> = landed.by_ref().take(count).collect();
            let failed = archive_failed.or_else(|| results.into_iter().find_map(Result::err));
            if let Some(e) = failed
                && outcome.made.is_ok()
            {
                outcome.made = Err(Failure::Io(e));
            }
            let origin = outcome.request.origin.clone();
            self.report.live_keys_left += usize::from(outcome.live_key_left);
            let entry = self.entry(outcome)?;
            self.report.count(&entry);
            self.summary.push(&entry)?;
            pushed.push((origin, entry));
        }
        self.summary.flush()?;
        for (origin, entry) in &pushed {
            (self.each)(origin, entry);
        }
        self.done += size;
        self.progress.advance(size);
        Ok(())
    }

    /// Links into the archive the files an outcome's staged ones will replace.
    fn archive_replaced(&mut self, o: &Outcome) -> Result<(), IoError> {
        let (csr_path, key_path) = (o.files.csr.clone(), o.files.key.clone());
        match &o.made {
            Ok(Work::Pair(_)) => {
                self.keep(&key_path, o.key_exists)?;
                self.keep(&csr_path, o.csr_exists)?;
                // A damaged pair made anew (`--repair`, its key lost): what is left of a
                // certificate for it is of the old key. Judged by the files, not the
                // records (a run before may have recorded it without its certificate).
                let name = o.request.name.as_str();
                let mut stale = Vec::new();
                let retired = if o.files.slot == Slot::Live && o.state == State::Damaged {
                    let paths = certified::Paths::new(self.out.root(), self.out.layout(), name);
                    let encryption =
                        self.previous.lost_certificate(name).is_some_and(|c| c.encryption.is_some())
                            && self.previous.record(&format!("{name}.enc")).is_none();
                    certified::retire_stale(&paths, &self.archive, encryption, &mut stale)
                } else {
                    Ok(())
                };
                self.note_archived(o, o.key_exists, o.csr_exists, &stale)?;
                retired
            }
            Ok(Work::Csr(_)) => {
                self.keep(&key_path, o.rewrapped)?;
                // A KeyFile request's CSR is of the user's key: a key of this folder for the
                // same Name is from before, and goes into the archive (moved, not deleted),
                // so that no stale key sits beside a CSR of another key.
                // Unless the KeyFile is that very file: the user's key is never moved.
                let stale_key = o.files.slot == Slot::Live
                    && o.key_exists
                    && o.request.key_file.as_deref().is_some_and(|k| !same_file(k, &key_path));
                if stale_key {
                    self.archive.take(&key_path)?;
                }
                self.keep(&csr_path, o.csr_exists)?;
                self.note_archived(o, o.rewrapped || stale_key, o.csr_exists, &[])
            }
            Ok(Work::Kept { .. }) if o.rewrapped => {
                self.keep(&key_path, true)?;
                self.note_archived(o, true, false, &[])
            }
            Ok(Work::Kept { .. } | Work::Nothing) | Err(_) => Ok(()),
        }
    }

    /// A file about to be replaced is first linked into the archive.
    fn keep(&mut self, path: &Path, exists: bool) -> Result<(), IoError> {
        if exists { self.archive.keep(path) } else { Ok(()) }
    }

    /// `certificate_files`: a lost certificate's files moved in (relative).
    fn note_archived(
        &mut self,
        o: &Outcome,
        key: bool,
        csr: bool,
        certificate_files: &[String],
    ) -> Result<(), IoError> {
        if !key && !csr && certificate_files.is_empty() {
            return Ok(());
        }
        let name = o.request.name.as_str();
        let record = self.previous.record(o.request.name.as_str());
        let (csr_file, key_file) = (&o.files.csr_relative, &o.files.key_relative);
        self.archive.note(&serde_json::json!({
            "Name": name,
            "CsrId": record.and_then(|r| r.csr_id()),
            "Reason": if o.rewrapped && !csr { "reencrypt" } else { o.state.as_str() },
            "Detail": o.reason,
            "KeyFile": key.then_some(key_file),
            "CsrFile": csr.then_some(csr_file),
            "CertificateFiles": (!certificate_files.is_empty()).then_some(certificate_files),
        }))
    }

    fn entry(&mut self, o: Outcome) -> Result<Entry, IoError> {
        let p = &o.request.params;
        let csr_file = o.files.csr_relative.clone();
        // A `next` CSR signed with the live key has no key of its own.
        let next_key_of_its_own = o.key_exists || matches!(o.made, Ok(Work::Pair(_)));
        let key_file = if o.files.slot == Slot::Next && !next_key_of_its_own {
            o.files.live_key_relative.clone()
        } else {
            o.files.key_relative.clone()
        };
        let made_new = matches!(o.made, Ok(Work::Pair(_) | Work::Csr(_)));
        let state = match o.state {
            State::Damaged if matches!(o.made, Ok(Work::Pair(_))) => State::Repaired,
            State::Expiring | State::Expired if made_new => State::Renew,
            state => state,
        };
        let mut e = Entry {
            csr_id: None,
            request_id: request_id(),
            name: o.request.name.to_string(),
            state: Some(state),
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
            manifest: ManifestPlace::from(&o.request.origin),
            error: None,
            recorded_csr_digest: None,
            certificate: o.certificate.clone(),
            csr: None,
        };
        // A KeyFile request's key is the user's file, which stays where it is: absolute,
        // so that it reads the same from anywhere (and `merge` knows it is not one of the
        // folder's files, which are relative).
        let user_key = o
            .request
            .key_file
            .as_ref()
            .map(|path| std::path::absolute(path).unwrap_or_else(|_| path.clone()).display().to_string());
        // A request that failed or was left alone has the pair it had (files are replaced
        // whole or not at all): its entry keeps what was recorded of it. Unless a killed
        // run changed that pair and no complete summary has shown the change: then the CSR
        // stays unrecorded, so that the run which next finds it intact reports it `new`.
        let left_as_it_was = |e: &mut Entry, error: String| {
            let record = self.previous.record(o.request.name.as_str());
            e.error = Some(error);
            // Still the user's key (an import of a lost certificate again reads it).
            e.key_file.clone_from(&user_key);
            e.csr_id = record.and_then(|r| r.csr_id());
            if let Some(id) = record.and_then(|r| r.request_id_text()) {
                e.request_id = id;
            }
            e.recorded_csr_digest = record.filter(|r| r.carried().is_none()).and_then(|r| r.csr_digest_hex());
        };
        let csr = match o.made {
            Err(error) => {
                left_as_it_was(&mut e, error.to_string());
                return Ok(e);
            }
            Ok(Work::Nothing) => {
                let repair = if o.reason.as_ref().is_some_and(Reason::is_live_certificate) {
                    "--repair leaves a certificate's live files alone"
                } else {
                    "--repair regenerates it"
                };
                let why = o.reason.map(|r| r.to_string()).unwrap_or_default();
                left_as_it_was(&mut e, format!("damaged, left alone ({repair}): {why}"));
                return Ok(e);
            }
            Ok(Work::Kept { csr, csr_id, request_id }) => {
                e.csr_id = csr_id;
                if let Some(id) = request_id {
                    e.request_id = id;
                }
                csr
            }
            Ok(Work::Pair(g)) => {
                self.report.made_one(p.key);
                g.csr
            }
            Ok(Work::Csr(csr)) => {
                self.report.made_one(p.key);
                csr
            }
        };
        if e.csr_id.is_none() {
            e.csr_id = Some(self.ids.next_id()?);
        }
        e.key_sha2 = Some(csr.key_sha2);
        e.has_private_key = true;
        e.csr_file = Some(csr_file);
        e.key_file = Some(user_key.unwrap_or(key_file));
        e.csr = Some(csr.pem);
        Ok(e)
    }

    /// `--prune`: orphaned files are moved into the archive, never deleted.
    fn prune(&mut self, orphans: &mut [Orphan]) -> Result<(), IoError> {
        for orphan in orphans.iter_mut() {
            // A certified one's key may be in its generations (NAME.key.pem is a link).
            let paths = certified::Paths::new(self.out.root(), self.out.layout(), &orphan.name);
            let live = if paths.is_certified() { certified::retire(&paths, &self.archive)? } else { None };
            for file in [&orphan.csr_file, &orphan.key_file].into_iter().flatten() {
                let path = self.out.root().join(file);
                if std::fs::symlink_metadata(&path).is_ok() {
                    self.archive.take(&path)?;
                }
            }
            self.archive.note(&serde_json::json!({
                "Name": orphan.name, "CsrId": orphan.csr_id, "Reason": State::Pruned,
                "KeyFile": orphan.key_file, "CsrFile": orphan.csr_file, "Live": live,
            }))?;
            orphan.state = State::Pruned;
        }
        atomic::sync_dir(self.out.root())
    }

    fn finish(mut self, orphans: &[Orphan], closing_line: bool) -> Result<Report, Error> {
        self.summary.finish(orphans)?;
        self.out.clear_journals(&self.previous.journals)?;
        self.ids.release()?;
        self.report.orphans = orphans.len();
        self.report.pruned = orphans.first().is_some_and(|o| o.state == State::Pruned);
        self.report.seconds = self.progress.elapsed().as_secs_f64();
        if closing_line {
            self.progress.finish(&self.report.lines());
        } else {
            self.progress.clear();
        }
        Ok(self.report)
    }
}

/// Whether two paths name one file (same device and inode), as a hard link or another
/// spelling of the path would; `false` when either cannot be read.
#[cfg(unix)]
fn same_file(a: &std::path::Path, b: &std::path::Path) -> bool {
    use std::os::unix::fs::MetadataExt;
    match (std::fs::metadata(a), std::fs::metadata(b)) {
        (Ok(a), Ok(b)) => a.dev() == b.dev() && a.ino() == b.ino(),
        _ => false,
    }
}

#[cfg(not(unix))]
fn same_file(a: &std::path::Path, b: &std::path::Path) -> bool {
    matches!((a.canonicalize(), b.canonicalize()), (Ok(a), Ok(b)) if a == b)
}
