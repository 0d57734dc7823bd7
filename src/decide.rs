//! Re-runs: for each validated request, what the output folder already holds for it and
//! what this run does about it. The rules live in [`decide`]; reading files is the caller's.
//!
//! | state | when | action |
//! |---|---|---|
//! | unchanged | key and CSR intact, the CSR asks exactly for the request | nothing written; CsrId kept |
//! | new | nothing there yet | new key and CSR |
//! | resubject | only subject/SAN fields changed, same Algorithm and KeySize | new CSR signed with the existing key |
//! | rekey | Algorithm or KeySize changed, or `--rotate` | new key and CSR |
//! | damaged | files missing, unreadable, not matching each other, or changed by hand | left alone; `--repair` regenerates |
//! | orphaned | files or records no manifest asks for any more | never deleted; `--prune` archives them |
//!
//! Damage that a killed run of csrbatch itself left (its last batch, journaled as begun
//! before any rename) is repaired without `--repair`: nothing in it was ever reported, and
//! whatever was there is archived first.
//!
//! A state says what happened to the pair since the last complete summary: a pair that a
//! run which did not finish made or replaced is reported by the run that finishes the
//! folder as what that run did (`rekey`, ...), never `unchanged`, so that a consumer who
//! takes every CSR whose State is not `unchanged` sees every CSR it has not seen yet.

use crate::crypto::CryptoError;
use crate::crypto::{self, PairCheck, Passphrase, PrivateKey, SignedCsr};
use crate::manifest::Problem;
use crate::output::certified::{NEXT_CSR, NEXT_KEY};
use crate::output::existing::{OnDisk, Record};
use crate::output::folder::KeyProtection;
pub(crate) use crate::output::summary::State;
use crate::request::{CsrName, CsrRequest, KeyAlgorithm};

/// Why a request is in its state: the change, or the damage. Printed by `plan`, kept in
/// the archive's log, and (for damage) in the summary's `Error`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub(crate) enum Reason {
    /// A file there that csrbatch could not have written (a link, a folder, unreadable).
    #[error("{0}")]
    Unusable(String),
    #[error("{key} and {csr} are missing")]
    BothMissing { key: String, csr: String },
    /// The key file (its name).
    #[error("{0} is missing")]
    KeyMissing(String),
    /// The CSR file (its name).
    #[error("{0} is missing")]
    CsrMissing(String),
    /// The key file does not read as a key (with this passphrase).
    #[error("{file}: {error}")]
    Key { file: String, error: CryptoError },
    /// The pair could not be checked.
    #[error("{name}: {error}")]
    Check { name: CsrName, error: CryptoError },
    /// The CSR is not a valid CSR of the key.
    #[error("{file}: {why}")]
    Broken { file: String, why: String },
    /// The CSR file (its name).
    #[error("{0} is not the CSR recorded in summary.json (changed by hand?)")]
    ChangedByHand(String),
    #[error("--rotate")]
    Rotate,
    #[error("{from} -> {to}")]
    KeyType { from: KeyAlgorithm, to: KeyAlgorithm },
    #[error("subject, SANs or extensions changed")]
    Subject,
    /// A `KeyFile` that cannot be used (it changed since validation).
    #[error("KeyFile: {0}")]
    KeyFile(Problem),
    /// A `KeyFile` request whose intact CSR is of another key: the key file changed.
    #[error("the KeyFile holds another key")]
    KeyFileChanged,
    /// An unencrypted key in a folder whose keys are encrypted (a `--reencrypt` that did
    /// not finish, or a key put there by hand).
    #[error("{0} is not encrypted, as this folder's keys are: run again with --reencrypt")]
    NotEncrypted(String),
    /// What a run that did not finish did to the pair.
    #[error("by a run that did not finish")]
    Unfinished,
    /// A pair in the folder that no record has (a killed run wrote it, or the records went).
    #[error("found in the folder, not yet recorded")]
    Unrecorded,
    /// The live certificate nears its end (see [`expiry`]).
    #[error("the certificate expires in {} (NotAfter {not_after})", crate::words::plural(*days_left, "day"))]
    Expiring { not_after: String, days_left: usize },
    #[error("the certificate expired on {not_after}")]
    Expired { not_after: String },
    /// The live certificate is not the one summary.json records: an import stopped after
    /// it put the certificate live and before it wrote the summary (or `current` was
    /// switched by hand to another generation).
    #[error(
        "the live certificate (serial {serial}) is not the one summary.json records: an import \
         did not finish; run it again"
    )]
    CertificateUnrecorded { serial: String },
    /// A certified request's live files are not as csrbatch left them (the reason): left
    /// alone, even by `--repair` (a server may be reading them).
    #[error("{0}")]
    CertificateDamaged(String),
    /// summary.json records a certificate whose file is not there.
    #[error(
        "summary.json records its certificate (serial {serial}), but {} is not there as csrbatch \
         left it (removed or replaced, or the folder copied without it): import the certificate \
         again",
        path.display()
    )]
    CertificateLost { serial: String, path: std::path::PathBuf },
}

impl Reason {
    /// Damage to a certified request's live files, which no run of generate repairs.
    pub(crate) fn is_live_certificate(&self) -> bool {
        matches!(self, Reason::CertificateDamaged(_) | Reason::CertificateLost { .. })
    }
}

/// Whether a live certificate is due for renewal at `now`: expired past its NotAfter;
/// expiring when less than a third of its lifetime is left, or less than `renew_before`.
/// `None`: not yet (or dates csrbatch cannot read, which it never writes).
pub(crate) fn expiry(
    info: &crate::output::summary::CertificateInfo,
    now: time::OffsetDateTime,
    renew_before: Option<time::Duration>,
) -> Option<(State, Reason)> {
    use time::format_description::well_known::Rfc3339;
    let not_before = time::OffsetDateTime::parse(&info.not_before, &Rfc3339).ok()?;
    let not_after = time::OffsetDateTime::parse(&info.not_after, &Rfc3339).ok()?;
    let left = not_after - now;
    if left <= time::Duration::ZERO {
        return Some((State::Expired, Reason::Expired { not_after: info.not_after.clone() }));
    }
    let lifetime = not_after - not_before;
    let due = left < lifetime / 3 || renew_before.is_some_and(|before| left < before);
    let days_left = usize::try_from(left.whole_days()).unwrap_or(0);
    due.then(|| (State::Expiring, Reason::Expiring { not_after: info.not_after.clone(), days_left }))
}

/// The certificate's NotAfter, and the whole days from `now` to it ([`crate::cert::days_left`]);
/// `None` for a date csrbatch cannot read (which it never writes).
pub(crate) fn days_left(
    info: &crate::output::summary::CertificateInfo,
    now: time::OffsetDateTime,
) -> Option<(time::OffsetDateTime, i64)> {
    use time::format_description::well_known::Rfc3339;
    let not_after = time::OffsetDateTime::parse(&info.not_after, &Rfc3339).ok()?;
    Some((not_after, crate::cert::days_left(not_after, now)))
}

/// A reason is its sentence in JSON.
impl serde::Serialize for Reason {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

/// Flags that change the plan.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Flags {
    /// New keys even for unchanged requests.
    pub(crate) rotate: bool,
    /// Regenerate damaged requests (after archiving what is there).
    pub(crate) repair: bool,
    /// `--reencrypt`: keys not protected as this run protects them are rewritten, not damaged.
    pub(crate) reencrypt: bool,
    /// `--reuse-key`: a renewal's CSR is signed with the live key.
    pub(crate) reuse_key: bool,
    /// The key judged is a certified request's live key: it stays as it is protected (no
    /// run of generate rewrites a live file; its renewal's key is stored as the folder's
    /// keys are), so an unencrypted one in an encrypted folder is no damage.
    pub(crate) live_key: bool,
}

/// What the run does for one request.
#[derive(Debug)]
pub(crate) enum Action {
    /// Nothing to write; the pair on disk is the answer.
    Keep { csr: SignedCsr, csr_id: Option<u64>, request_id: Option<String> },
    /// A new key and CSR; existing files are archived first.
    Generate,
    /// A new CSR signed with the key on disk; the old CSR is archived first.
    Resign(PrivateKey),
    /// Nothing is done: the damage is reported.
    Leave,
}

#[derive(Debug)]
pub(crate) struct Decision {
    pub(crate) state: State,
    pub(crate) action: Action,
    /// Why: the change or the damage, for the plan and the summary.
    pub(crate) reason: Option<Reason>,
}

impl Decision {
    fn new(state: State, action: Action, reason: impl Into<Option<Reason>>) -> Decision {
        Decision { state, action, reason: reason.into() }
    }
}

/// The facts about one request's files and records: its key as the folder holds it
/// (`K` = [`OnDisk`]) or, for a `KeyFile` request, as the user's file gave it.
#[derive(Debug)]
pub(crate) struct Facts<'a, K = OnDisk> {
    pub(crate) key: K,
    pub(crate) csr: OnDisk,
    pub(crate) record: Option<&'a Record>,
    /// csrbatch was writing this request's files when a run was killed.
    pub(crate) interrupted: bool,
    /// Whose files these are, for the names the reasons give.
    pub(crate) files: Files,
}

/// Which files a decision judges: the request's own pair, or a certified request's
/// waiting renewal (`NAME.next.csr.pem`, and `NAME.next.key.pem` unless a `--reuse-key`
/// renewal's CSR is for the live key).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) struct Files {
    pub(crate) next_key: bool,
    pub(crate) next_csr: bool,
}

impl Files {
    /// The names of the key and CSR files judged for request `name`.
    pub(crate) fn names(self, name: &CsrName) -> (String, String) {
        let file =
            |next: bool, live: &str, waiting: &str| format!("{name}{}", if next { waiting } else { live });
        (file(self.next_key, ".key.pem", NEXT_KEY), file(self.next_csr, ".csr.pem", NEXT_CSR))
    }
}

/// Decides a request's state and action from the facts. Reads no file; parses and
/// verifies the key and CSR it is given.
pub(crate) fn decide(
    request: &CsrRequest,
    facts: Facts<'_>,
    flags: Flags,
    passphrase: Option<&Passphrase>,
) -> Decision {
    let name = &request.name;
    let (key_file, csr_file) = facts.files.names(name);
    let recorded = facts.record.is_some_and(Record::has_csr);
    let damaged = |reason: Reason| {
        if facts.interrupted {
            // The killed run was replacing this pair: finish its work.
            let state = if recorded { State::Rekey } else { State::New };
            Decision::new(state, Action::Generate, reason)
        } else if flags.repair {
            Decision::new(State::Damaged, Action::Generate, reason)
        } else {
            Decision::new(State::Damaged, Action::Leave, reason)
        }
    };
    let (key_pem, csr_pem) = match (&facts.key, &facts.csr) {
        (OnDisk::Unusable(why), _) | (_, OnDisk::Unusable(why)) => {
            return damaged(Reason::Unusable(why.clone()));
        }
        (OnDisk::Missing, OnDisk::Missing) if recorded && !facts.interrupted => {
            return damaged(Reason::BothMissing { key: key_file, csr: csr_file });
        }
        (OnDisk::Missing, OnDisk::Missing) => return Decision::new(State::New, Action::Generate, None),
        (OnDisk::Missing, OnDisk::Present(_)) => return damaged(Reason::KeyMissing(key_file)),
        (OnDisk::Present(key), OnDisk::Missing) => {
            // A killed run renames the key first: its key without a CSR was never reported.
            let ours = facts.interrupted && !recorded;
            if let Some(key) =
                ours.then(|| PrivateKey::from_pkcs8_pem(key, request.params.key, passphrase).ok()).flatten()
            {
                return Decision::new(State::New, Action::Resign(key), None);
            }
            return damaged(Reason::CsrMissing(csr_file));
        }
        (OnDisk::Present(key), OnDisk::Present(csr)) => (key, csr),
    };

    let key = match PrivateKey::from_pkcs8_pem_any(key_pem, passphrase) {
        Ok(key) => key,
        Err(error) => return damaged(Reason::Key { file: key_file, error }),
    };
    // A folder with a passphrase holds encrypted keys only; a plain one is not up to date.
    let plain = KeyProtection::of_pem(key_pem) != Some(KeyProtection::Encrypted);
    if passphrase.is_some() && plain && !flags.reencrypt && !flags.live_key {
        return damaged(Reason::NotEncrypted(key_file));
    }
    let changed_by_hand = facts.record.is_some_and(|r| r.has_csr() && !r.is_csr(csr_pem));
    let check = match crypto::check_pair(csr_pem, &key, &request.params) {
        Ok(check) => check,
        Err(error) => return damaged(Reason::Check { name: name.clone(), error }),
    };
    match check {
        PairCheck::Broken(why) => damaged(Reason::Broken { file: csr_file, why }),
        // A CSR that differs from the one recorded was changed after it was written,
        // unless a killed run wrote it and never recorded it.
        _ if changed_by_hand && !facts.interrupted => damaged(Reason::ChangedByHand(csr_file)),
        PairCheck::Matches(_) if flags.rotate => {
            Decision::new(State::Rekey, Action::Generate, Reason::Rotate)
        }
        PairCheck::Matches(csr) => kept(facts.record.filter(|_| !changed_by_hand), facts.record, csr),
        PairCheck::OtherContents if key.algorithm() != request.params.key || flags.rotate => {
            let why = if flags.rotate && key.algorithm() == request.params.key {
                Reason::Rotate
            } else {
                Reason::KeyType { from: key.algorithm(), to: request.params.key }
            };
            Decision::new(State::Rekey, Action::Generate, why)
        }
        PairCheck::OtherContents => Decision::new(State::Resubject, Action::Resign(key), Reason::Subject),
    }
}

/// Decides a `KeyFile` request's state: the user's key stands in for NAME.key.pem, and
/// no key is ever made for it (`--rotate` does not apply: the key is the user's to
/// change). A CSR that is intact but of another key means the key file changed: rekey,
/// a new CSR signed with the key file's key.
pub(crate) fn decide_key_file(
    request: &CsrRequest,
    facts: Facts<'_, Result<PrivateKey, Problem>>,
    flags: Flags,
) -> Decision {
    let Facts { key, csr, record, interrupted, files } = facts;
    let name = &request.name;
    let (_, csr_file) = files.names(name);
    let key = match key {
        Ok(key) => key,
        Err(why) => return Decision::new(State::Damaged, Action::Leave, Reason::KeyFile(why)),
    };
    let recorded = record.is_some_and(Record::has_csr);
    let damaged = |reason: Reason, key: PrivateKey| {
        let action = if flags.repair || interrupted { Action::Resign(key) } else { Action::Leave };
        Decision::new(State::Damaged, action, reason)
    };
    let csr_pem = match csr {
        OnDisk::Unusable(why) => return damaged(Reason::Unusable(why), key),
        OnDisk::Missing if recorded && !interrupted => return damaged(Reason::CsrMissing(csr_file), key),
        OnDisk::Missing if recorded => return Decision::new(State::Rekey, Action::Resign(key), None),
        OnDisk::Missing => return Decision::new(State::New, Action::Resign(key), None),
        OnDisk::Present(pem) => pem,
    };
    let changed_by_hand = record.is_some_and(|r| r.has_csr() && !r.is_csr(&csr_pem));
    if changed_by_hand && !interrupted {
        return damaged(Reason::ChangedByHand(csr_file), key);
    }
    match crypto::check_pair(&csr_pem, &key, &request.params) {
        Ok(PairCheck::Matches(csr)) => kept(record.filter(|_| !changed_by_hand), record, csr),
        Ok(PairCheck::OtherContents) => Decision::new(State::Resubject, Action::Resign(key), Reason::Subject),
        Ok(PairCheck::Broken(why)) => {
            let intact = der::pem::decode_vec(csr_pem.as_bytes())
                .is_ok_and(|(_, der)| crypto::check_csr_signature(&der) == crypto::SignatureCheck::Valid);
            if intact {
                Decision::new(State::Rekey, Action::Resign(key), Reason::KeyFileChanged)
            } else {
                damaged(Reason::Broken { file: csr_file, why }, key)
            }
        }
        Err(error) => damaged(Reason::Check { name: name.clone(), error }, key),
    }
}

/// A pair that stays as it is. Its state is what happened to it since the last complete
/// summary: nothing (`unchanged`, its CsrId kept), what an unfinished run did (carried in
/// its journal), or, for a pair no record has (a killed run wrote it and never said so),
/// `new` with a new CsrId, or `resubject`/`rekey` for a recorded pair whose CSR a killed
/// run replaced.
fn kept(record: Option<&Record>, earlier: Option<&Record>, csr: SignedCsr) -> Decision {
    let (state, reason) = match (record, earlier) {
        (Some(r), _) if r.has_csr() => match r.carried() {
            Some(state) => (state, Some(Reason::Unfinished)),
            None => (State::Unchanged, None),
        },
        (_, Some(old)) if old.has_csr() => {
            let state = if old.is_key(&csr.key_sha2) { State::Resubject } else { State::Rekey };
            (state, Some(Reason::Unfinished))
        }
        _ => (State::New, Some(Reason::Unrecorded)),
    };
    let action = Action::Keep {
        csr,
        csr_id: record.and_then(Record::csr_id),
        request_id: record.and_then(Record::request_id_text),
    };
    Decision::new(state, action, reason)
}

#[cfg(test)]
mod tests;
