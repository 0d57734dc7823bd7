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
//! Damage that a killed run of csrbatch itself left (its last batch, recorded in
//! `pending.json` before any rename) is repaired without `--repair`: nothing in it was
//! ever reported, and whatever was there is archived first.

use std::fmt;

use crate::crypto::{self, PairCheck, Passphrase, PrivateKey, SignedCsr};
use crate::output::existing::{OnDisk, Record};
use crate::request::CsrRequest;

/// The states of the plan, as printed and as recorded in the summary's `State`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum State {
    Unchanged,
    New,
    Resubject,
    Rekey,
    Damaged,
    Orphaned,
}

impl State {
    pub const ALL: [State; 6] =
        [State::Unchanged, State::New, State::Resubject, State::Rekey, State::Damaged, State::Orphaned];

    pub fn as_str(self) -> &'static str {
        match self {
            State::Unchanged => "unchanged",
            State::New => "new",
            State::Resubject => "resubject",
            State::Rekey => "rekey",
            State::Damaged => "damaged",
            State::Orphaned => "orphaned",
        }
    }
}

impl fmt::Display for State {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(self.as_str())
    }
}

/// Flags that change the plan.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Flags {
    /// New keys even for unchanged requests.
    pub rotate: bool,
    /// Regenerate damaged requests (after archiving what is there).
    pub repair: bool,
}

/// What the run does for one request.
#[derive(Debug)]
pub enum Action {
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
pub struct Decision {
    pub state: State,
    pub action: Action,
    /// Why: the change or the damage, for the plan and the summary.
    pub reason: Option<String>,
}

impl Decision {
    fn new(state: State, action: Action, reason: impl Into<Option<String>>) -> Decision {
        Decision { state, action, reason: reason.into() }
    }
}

/// The facts about one request's files and records.
#[derive(Debug)]
pub struct Facts<'a> {
    pub key: OnDisk,
    pub csr: OnDisk,
    pub record: Option<&'a Record>,
    /// csrbatch was writing this request's files when a run was killed.
    pub interrupted: bool,
}

/// Decides a request's state and action from the facts. Reads no file; parses and
/// verifies the key and CSR it is given.
pub fn decide(
    request: &CsrRequest,
    facts: Facts<'_>,
    flags: Flags,
    passphrase: Option<&Passphrase>,
) -> Decision {
    let name = &request.name;
    let damaged = |reason: String| {
        if flags.repair || facts.interrupted {
            Decision::new(State::Damaged, Action::Generate, reason)
        } else {
            Decision::new(State::Damaged, Action::Leave, reason)
        }
    };
    let recorded = facts.record.is_some_and(Record::has_csr);
    let (key_pem, csr_pem) = match (&facts.key, &facts.csr) {
        (OnDisk::Unusable(why), _) | (_, OnDisk::Unusable(why)) => return damaged(why.clone()),
        (OnDisk::Missing, OnDisk::Missing) if recorded && !facts.interrupted => {
            return damaged(format!("{name}.key.pem and {name}.csr.pem are missing"));
        }
        (OnDisk::Missing, OnDisk::Missing) => return Decision::new(State::New, Action::Generate, None),
        (OnDisk::Missing, OnDisk::Present(_)) => return damaged(format!("{name}.key.pem is missing")),
        (OnDisk::Present(key), OnDisk::Missing) => {
            // A killed run renames the key first: its key without a CSR was never reported.
            let ours = facts.interrupted && !recorded;
            if let Some(key) =
                ours.then(|| PrivateKey::from_pkcs8_pem(key, request.params.key, passphrase).ok()).flatten()
            {
                return Decision::new(State::New, Action::Resign(key), None);
            }
            return damaged(format!("{name}.csr.pem is missing"));
        }
        (OnDisk::Present(key), OnDisk::Present(csr)) => (key, csr),
    };

    let key = match PrivateKey::from_pkcs8_pem_any(key_pem, passphrase) {
        Ok(key) => key,
        Err(e) => return damaged(format!("{name}.key.pem: {e}")),
    };
    let changed_by_hand = facts.record.is_some_and(|r| r.has_csr() && !r.is_csr(csr_pem));
    let check = match crypto::check_pair(csr_pem, &key, &request.params) {
        Ok(check) => check,
        Err(e) => return damaged(format!("{name}: {e}")),
    };
    match check {
        PairCheck::Broken(why) => damaged(format!("{name}.csr.pem: {why}")),
        // A CSR that differs from the one recorded was changed after it was written,
        // unless a killed run wrote it and never recorded it.
        _ if changed_by_hand && !facts.interrupted => {
            damaged(format!("{name}.csr.pem is not the CSR recorded in summary.json (changed by hand?)"))
        }
        PairCheck::Matches(_) if flags.rotate => {
            Decision::new(State::Rekey, Action::Generate, "--rotate".to_owned())
        }
        PairCheck::Matches(csr) => {
            let record = facts.record.filter(|_| !changed_by_hand);
            Decision::new(
                State::Unchanged,
                Action::Keep {
                    csr,
                    csr_id: record.and_then(Record::csr_id),
                    request_id: record.and_then(Record::request_id_text),
                },
                None,
            )
        }
        PairCheck::OtherContents if key.algorithm() != request.params.key || flags.rotate => {
            let why = if flags.rotate && key.algorithm() == request.params.key {
                "--rotate".to_owned()
            } else {
                format!("{} -> {}", key.algorithm(), request.params.key)
            };
            Decision::new(State::Rekey, Action::Generate, why)
        }
        PairCheck::OtherContents => Decision::new(
            State::Resubject,
            Action::Resign(key),
            "subject, SANs or extensions changed".to_owned(),
        ),
    }
}

/// Decides a `KeyFile` request's state: the user's key stands in for NAME.key.pem, and
/// no key is ever made for it (`--rotate` does not apply: the key is the user's to
/// change). A CSR that is intact but of another key means the key file changed: rekey,
/// a new CSR signed with the key file's key.
pub fn decide_key_file(
    request: &CsrRequest,
    key: Result<PrivateKey, String>,
    csr: OnDisk,
    record: Option<&Record>,
    interrupted: bool,
    flags: Flags,
) -> Decision {
    let name = &request.name;
    let key = match key {
        Ok(key) => key,
        Err(why) => return Decision::new(State::Damaged, Action::Leave, format!("KeyFile: {why}")),
    };
    let recorded = record.is_some_and(Record::has_csr);
    let damaged = |reason: String, key: PrivateKey| {
        let action = if flags.repair || interrupted { Action::Resign(key) } else { Action::Leave };
        Decision::new(State::Damaged, action, reason)
    };
    let csr_pem = match csr {
        OnDisk::Unusable(why) => return damaged(why, key),
        OnDisk::Missing if recorded && !interrupted => {
            return damaged(format!("{name}.csr.pem is missing"), key);
        }
        OnDisk::Missing => return Decision::new(State::New, Action::Resign(key), None),
        OnDisk::Present(pem) => pem,
    };
    if record.is_some_and(|r| r.has_csr() && !r.is_csr(&csr_pem)) && !interrupted {
        return damaged(
            format!("{name}.csr.pem is not the CSR recorded in summary.json (changed by hand?)"),
            key,
        );
    }
    match crypto::check_pair(&csr_pem, &key, &request.params) {
        Ok(PairCheck::Matches(csr)) => Decision::new(
            State::Unchanged,
            Action::Keep {
                csr,
                csr_id: record.and_then(Record::csr_id),
                request_id: record.and_then(Record::request_id_text),
            },
            None,
        ),
        Ok(PairCheck::OtherContents) => Decision::new(
            State::Resubject,
            Action::Resign(key),
            "subject, SANs or extensions changed".to_owned(),
        ),
        Ok(PairCheck::Broken(why)) => {
            let intact = der::pem::decode_vec(csr_pem.as_bytes())
                .is_ok_and(|(_, der)| crypto::check_csr_signature(&der) == crypto::SignatureCheck::Valid);
            if intact {
                Decision::new(State::Rekey, Action::Resign(key), "the KeyFile holds another key".to_owned())
            } else {
                damaged(format!("{name}.csr.pem: {why}"), key)
            }
        }
        Err(e) => damaged(format!("{name}: {e}"), key),
    }
}

#[cfg(test)]
mod tests;
