//! A run, as the library does it: the manifests loaded and validated once (and watched for
//! changes), then, with the command's [`Settings`], `preview` (what the folder holds
//! and what a run would do) or [`generate`] (doing it); `merge` joins the folders of a
//! run's shards. `cmd/` only turns command lines into these calls and prints what they
//! return.

pub mod generate;
pub(crate) mod import;
pub(crate) mod merge;
pub(crate) mod preview;
pub(crate) mod report;

use std::path::{Path, PathBuf};

use crate::crypto::Passphrase;
use crate::crypto::PrivateKey;
use crate::decide::{Action, Decision, Facts, Files, Flags, Reason};
use crate::error::Error;
use crate::keyfile::{InsideOut, KeyFileCheck};
use crate::manifest::{Change, Fingerprint, ManifestError};
use crate::output::existing::{self, OnDisk, Previous};
use crate::output::summary::CertificateInfo;
use crate::output::summary::{Orphan, State};
use crate::output::{FolderError, FolderProblem, Layout, ManifestRecord};
use crate::output::{certified, folder};
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
    /// When certificates are judged (the run's start) and `--renew-before`.
    pub(crate) now: time::OffsetDateTime,
    pub(crate) renew_before: Option<time::Duration>,
}

/// Which of a request's pairs a run works on: the one beside its name, or, once the
/// request has a certificate, the `next` pair (the live files are never written).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Slot {
    /// `NAME.key.pem` + `NAME.csr.pem`.
    Live,
    /// `NAME.next.key.pem` + `NAME.next.csr.pem` (the key may be the live one).
    Next,
}

/// A request judged: the decision, whether the key and CSR of its slot exist, and its
/// live certificate.
#[derive(Debug)]
pub(crate) struct Assessed {
    pub(crate) decision: Decision,
    pub(crate) key_exists: bool,
    pub(crate) csr_exists: bool,
    pub(crate) slot: Slot,
    pub(crate) certificate: Option<CertificateInfo>,
}

/// Reads a request's files and records, then decides its state (no writes).
pub(crate) fn assess(judge: &Judge<'_>, request: &CsrRequest) -> Assessed {
    let Judge { root, layout, previous, flags, passphrase, no_pem_at_start, .. } = *judge;
    let (csr, key) = layout.relative(request.name.as_str());
    let read = |file: String| {
        if no_pem_at_start { OnDisk::Missing } else { existing::read_file(&root.join(file)) }
    };
    let paths = certified::Paths::new(root, layout, request.name.as_str());
    let recorded = |fingerprint: &str| previous.recorded(request.name.as_str(), fingerprint);
    let live = if no_pem_at_start { certified::Live::None } else { certified::read(&paths, &recorded) };
    match live {
        certified::Live::None => {
            // The certificate's files are gone while its key is there (a user's key, or
            // NAME.key.pem): what a server reads is broken, and the import again mends
            // it. With the key gone too nothing is live any more: the request is
            // damaged as any pair without its key is, and --repair makes it a new one.
            let key_there = || {
                request.key_file.is_some() || !no_pem_at_start && std::fs::metadata(root.join(&key)).is_ok()
            };
            if let Some(info) = previous.lost_certificate(request.name.as_str()).filter(|_| key_there()) {
                let path = paths.link(certified::LiveFile::Cert);
                let why = Reason::CertificateLost { serial: info.serial.clone(), path };
                return damaged_certificate(why, Some(info.clone()));
            }
        }
        certified::Live::Certified(generation) => {
            let why = match certified::broken_link(&paths, &generation) {
                None => live_damage(&paths, &generation, passphrase),
                Some((_, path)) if matches!(generation.form, certified::Form::Linked(_)) => Some(format!(
                    "{} is not the link into the live certificate's generation (changed by hand, or an \
                     import was killed: run it again)",
                    path.display()
                )),
                // A first certificate's file, gone or replaced (by a link: never followed).
                Some((file, path)) => Some(mended(&certified::Damage::of_file(
                    file,
                    format!("{} is not there as a regular file", path.display()),
                ))),
            };
            match why {
                None => return assess_certified(judge, request, &paths, *generation),
                Some(why) => {
                    return damaged_certificate(Reason::CertificateDamaged(why), Some(generation.info));
                }
            }
        }
        // A generation's certificate changed by hand: its meta.json keeps the record.
        certified::Live::Changed { why, recorded } => {
            return damaged_certificate(Reason::CertificateDamaged(why), Some(*recorded));
        }
        // A first certificate's file emptied: the records kept it ([`Previous::lost_certificate`]).
        // (Any other file there that is no certificate csrbatch can read loses its record:
        // knowing would take a second read of every certificate file.)
        certified::Live::Unusable(why) => {
            let recorded = previous.lost_certificate(request.name.as_str()).cloned();
            return damaged_certificate(Reason::CertificateDamaged(why), recorded);
        }
    }
    let live = |decision, key_exists, csr_exists| Assessed {
        decision,
        key_exists,
        csr_exists,
        slot: Slot::Live,
        certificate: None,
    };
    if let Some(path) = &request.key_file {
        // The user's key, wherever it is, stands in for the folder's NAME.key.pem.
        let user_key = crate::keyfile::open(path, request.params.key, passphrase);
        let csr = read(csr);
        let csr_exists = csr.exists();
        let record = previous.record(request.name.as_str());
        let interrupted = previous.interrupted(request.name.as_str());
        let facts = Facts { key: user_key, csr, record, interrupted, files: Files::default() };
        let decision = crate::decide::decide_key_file(request, facts, flags);
        // A NAME.key.pem left from before the request had a KeyFile: `generate` archives it
        // when it writes the new CSR.
        let folder_key = read(key).exists();
        return live(decision, folder_key, csr_exists);
    }
    let facts = Facts {
        key: read(key),
        csr: read(csr),
        record: previous.record(request.name.as_str()),
        interrupted: previous.interrupted(request.name.as_str()),
        files: Files::default(),
    };
    let (key_exists, csr_exists) = (facts.key.exists(), facts.csr.exists());
    live(crate::decide::decide(request, facts, flags, passphrase), key_exists, csr_exists)
}

/// A request with a live certificate. Its live files stay as they are whatever happens:
/// with a `next` pair there, that pair is judged (kept: `pending`); without one, the live
/// key and `NAME.csr.pem` are, and any change, an expiring certificate, `--rotate` or
/// `--repair` makes the `next` pair instead.
fn assess_certified(
    judge: &Judge<'_>,
    request: &CsrRequest,
    paths: &certified::Paths,
    generation: certified::Generation,
) -> Assessed {
    let name = request.name.as_str();
    let record = judge.previous.record(name);
    let interrupted = judge.previous.interrupted(name);
    let live_key = || existing::read_file(&generation.file(paths, certified::LiveFile::Key));
    let next_csr = existing::read_file(&paths.next_csr());
    let next_key = existing::read_file(&paths.next_key());
    let pending = next_csr.exists() || next_key.exists();
    // A next CSR without a next key is a --reuse-key renewal's when it is for the live key
    // (judged with it, as is one whose key cannot be read: the CSR is the damage); for
    // another key, the next key it wants is missing.
    let reuses_live_key = !next_key.exists()
        && matches!(&next_csr, OnDisk::Present(pem)
            if certified::csr_pem_key_sha2(pem).is_none_or(|k| k == generation.info.key_sha2));
    // The reasons name the next pair's files when they are judged.
    let files = Files { next_key: pending && !reuses_live_key, next_csr: pending };
    let (csr, key_exists, csr_exists) = if pending {
        let exists = (next_key.exists(), next_csr.exists());
        (next_csr, exists.0, exists.1)
    } else {
        (existing::read_file(&paths.csr()), false, false)
    };
    let decision = match &request.key_file {
        Some(path) => {
            let key = crate::keyfile::open(path, request.params.key, judge.passphrase);
            let files = Files { next_key: false, ..files };
            crate::decide::decide_key_file(
                request,
                Facts { key, csr, record, interrupted, files },
                judge.flags,
            )
        }
        None => {
            // The next pair is made new by --rotate only once: a pending pair is kept.
            let flags =
                Flags { rotate: judge.flags.rotate && !pending, live_key: !files.next_key, ..judge.flags };
            let key = if files.next_key { next_key } else { live_key() };
            crate::decide::decide(
                request,
                Facts { key, csr, record, interrupted, files },
                flags,
                judge.passphrase,
            )
        }
    };
    let decision = match decision {
        Decision { state: State::Unchanged, action: Action::Keep { .. }, .. } if pending => {
            Decision { state: State::Pending, ..decision }
        }
        Decision { state: State::Unchanged, action: Action::Keep { .. }, .. } => {
            match crate::decide::expiry(&generation.info, judge.now, judge.renew_before) {
                None => decision,
                Some((state, reason)) => {
                    // A KeyFile's key is the user's, and --reuse-key keeps the live one.
                    let key = match &request.key_file {
                        Some(path) => Some(
                            crate::keyfile::open(path, request.params.key, judge.passphrase)
                                .map_err(Reason::KeyFile),
                        ),
                        None if judge.flags.reuse_key => Some(
                            PrivateKey::from_pkcs8_pem_any(&text_of(live_key()), judge.passphrase).map_err(
                                |error| Reason::Key { file: Files::default().names(&request.name).0, error },
                            ),
                        ),
                        None => None,
                    };
                    match key {
                        None => Decision { state, action: Action::Generate, reason: Some(reason) },
                        Some(Ok(key)) => {
                            Decision { state, action: Action::Resign(key), reason: Some(reason) }
                        }
                        Some(Err(why)) => {
                            Decision { state: State::Damaged, action: Action::Leave, reason: Some(why) }
                        }
                    }
                }
            }
        }
        other => other,
    };
    // What is live must be what summary.json says: a kill between an import's switch and
    // its summary leaves the folder ahead of its records (plan and --check say so; the
    // entry generate writes records what is live; the import run again finishes it).
    let decision = match decision {
        Decision {
            state: State::Unchanged | State::Pending, action: action @ Action::Keep { .. }, ..
        } if !judge.previous.records_certificate(name, &generation.info) => {
            let serial = generation.info.serial.clone();
            Decision {
                state: State::Imported,
                action,
                reason: Some(Reason::CertificateUnrecorded { serial }),
            }
        }
        other => other,
    };
    // The next pair is what the entry names while one waits or this run writes one; else
    // the live pair (an unchanged certified request's CSR is NAME.csr.pem).
    let writes = matches!(decision.action, Action::Generate | Action::Resign(_));
    let slot = if pending || writes { Slot::Next } else { Slot::Live };
    Assessed { decision, key_exists, csr_exists, slot, certificate: Some(generation.info) }
}

/// Why a certified request's live files (links in place) are not as import left them, if
/// they are not, and what mends them: the files a server reads, the `.p12`, and an SM2
/// encryption pair.
fn live_damage(
    paths: &certified::Paths,
    generation: &certified::Generation,
    passphrase: Option<&Passphrase>,
) -> Option<String> {
    certified::damage(paths, generation, passphrase, false).map(|damage| mended(&damage))
}

/// A live generation's damage, and what mends it.
fn mended(damage: &certified::Damage) -> String {
    use certified::Damage;
    let mend = match damage {
        Damage::Served(_) => "import the certificate again with its chain",
        Damage::P12(_) => "import the certificate again with --p12",
        Damage::EncryptionPair(_) => "import the encryption certificate again with its key",
    };
    format!("{} (changed by hand?): {mend}", damage.why())
}

/// A certified request whose live files are not as csrbatch left them: damaged, and left
/// alone even by --repair (a server may be reading them).
fn damaged_certificate(why: Reason, certificate: Option<CertificateInfo>) -> Assessed {
    let decision = Decision { state: State::Damaged, action: Action::Leave, reason: Some(why) };
    Assessed { decision, key_exists: true, csr_exists: true, slot: Slot::Live, certificate }
}

fn text_of(on_disk: OnDisk) -> String {
    match on_disk {
        OnDisk::Present(text) => text,
        OnDisk::Missing | OnDisk::Unusable(_) => String::new(),
    }
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
pub(crate) fn load_previous(
    settings: &Settings,
    layout: Layout,
    wants: &dyn Fn(&str) -> bool,
) -> Result<Previous, Error> {
    existing::load_previous(&settings.out, layout, wants).map_err(|e| {
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
