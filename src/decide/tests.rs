use std::path::Path;
use std::sync::Arc;

use super::*;
use crate::crypto::{PrivateKey, sign_request};
use crate::manifest::{Field, Origin, RawRequest, RawValue};
use crate::output::existing::{OnDisk, Record};
use crate::request::validate;

fn request(algorithm: &str, locality: &str) -> CsrRequest {
    let fields = [
        (Field::Algorithm, algorithm),
        (Field::CommonName, "www.example.com"),
        (Field::CountryCode, "CN"),
        (Field::Province, "Zhejiang"),
        (Field::Locality, locality),
    ];
    let raw = RawRequest {
        origin: Origin { file: Arc::from(Path::new("t.yaml")), line: 1 },
        ordinal: 1,
        fields: fields.iter().map(|(f, v)| (*f, RawValue::Text((*v).into()))).collect(),
        field_lines: Vec::new(),
    };
    validate(&[raw]).unwrap().remove(0)
}

/// Key and CSR PEM for `req`, and a record of them as a summary would hold it.
fn pair(req: &CsrRequest) -> (String, String, Record) {
    let key = PrivateKey::generate(req.params.key).unwrap();
    let csr = sign_request(&req.params, &key).unwrap();
    let record = Record::new(Some(41), "0D6C9E4A-5E2B-4F3A-9C1D-2B7E8F9A0B1C", Some(&csr.pem));
    (key.to_pkcs8_pem().unwrap().to_string(), csr.pem, record)
}

fn facts<'a>(key: &str, csr: &str, record: Option<&'a Record>) -> Facts<'a> {
    let file = |t: &str| if t.is_empty() { OnDisk::Missing } else { OnDisk::Present(t.to_owned()) };
    Facts { key: file(key), csr: file(csr), record, interrupted: false, files: Files::default() }
}

fn state(d: &Decision) -> (State, &'static str) {
    let action = match d.action {
        Action::Keep { .. } => "keep",
        Action::Generate => "generate",
        Action::Resign(_) => "resign",
        Action::Leave => "leave",
    };
    (d.state, action)
}

const NO: Flags = Flags { rotate: false, repair: false, reencrypt: false, reuse_key: false, live_key: false };

#[test]
fn unchanged_keeps_its_csr_id() {
    let req = request("ECC", "Hangzhou");
    let (key, csr, record) = pair(&req);
    let d = decide(&req, facts(&key, &csr, Some(&record)), NO, None);
    assert_eq!(state(&d), (State::Unchanged, "keep"));
    let Action::Keep { csr_id, .. } = d.action else { unreachable!() };
    assert_eq!(csr_id, Some(41));
}

#[test]
fn new_when_nothing_is_there() {
    let d = decide(&request("SM2", "Hangzhou"), facts("", "", None), NO, None);
    assert_eq!(state(&d), (State::New, "generate"));
}

#[test]
fn resubject_when_only_the_subject_changed() {
    let req = request("SM2", "Hangzhou");
    let (key, csr, record) = pair(&req);
    let d = decide(&request("SM2", "Ningbo"), facts(&key, &csr, Some(&record)), NO, None);
    assert_eq!(state(&d), (State::Resubject, "resign"));
}

#[test]
fn rekey_when_the_algorithm_changed_or_rotate() {
    let req = request("ECC", "Hangzhou");
    let (key, csr, record) = pair(&req);
    let d = decide(&request("SM2", "Hangzhou"), facts(&key, &csr, Some(&record)), NO, None);
    assert_eq!(state(&d), (State::Rekey, "generate"));
    assert_eq!(d.reason.map(|r| r.to_string()).as_deref(), Some("ECC-256 -> SM2-256"));
    let rotate = Flags { rotate: true, repair: false, reencrypt: false, reuse_key: false, live_key: false };
    assert_eq!(
        state(&decide(&req, facts(&key, &csr, Some(&record)), rotate, None)),
        (State::Rekey, "generate")
    );
}

#[test]
fn damaged_cases_are_left_alone_unless_repair() {
    let req = request("ECC", "Hangzhou");
    let (key, csr, record) = pair(&req);
    let (other_key, _, _) = pair(&req);
    let edited = csr.replacen("MI", "MJ", 1);
    let cases = [
        facts("", "", Some(&record)),
        facts(&key, "", Some(&record)),
        facts("", &csr, Some(&record)),
        facts(&other_key, &csr, Some(&record)),
        facts(&key, &edited, Some(&record)),
        facts("not a key", &csr, Some(&record)),
    ];
    for f in cases {
        let shown = format!("{:?}/{:?}", f.key.exists(), f.csr.exists());
        let d = decide(&req, f, NO, None);
        assert_eq!(state(&d), (State::Damaged, "leave"), "{shown}: {:?}", d.reason);
        assert!(d.reason.is_some());
    }
    let repair = Flags { rotate: false, repair: true, reencrypt: false, reuse_key: false, live_key: false };
    assert_eq!(
        state(&decide(&req, facts(&other_key, &csr, Some(&record)), repair, None)),
        (State::Damaged, "generate")
    );
}

#[test]
fn a_valid_csr_that_is_not_the_recorded_one_was_changed_by_hand() {
    let req = request("ECC", "Hangzhou");
    let (key, _, record) = pair(&req);
    let pk = PrivateKey::from_pkcs8_pem(&key, req.params.key, None).unwrap();
    let resigned = sign_request(&req.params, &pk).unwrap().pem; // ECDSA: a different signature
    let d = decide(&req, facts(&key, &resigned, Some(&record)), NO, None);
    assert_eq!(state(&d), (State::Damaged, "leave"));
    assert!(matches!(d.reason, Some(Reason::ChangedByHand(_))));
}

#[test]
fn what_a_killed_run_left_is_finished_without_repair() {
    let req = request("ECC", "Hangzhou");
    let (key, csr, _) = pair(&req);
    // Key renamed, CSR not yet: the key is kept and gets its CSR.
    let mut f = facts(&key, "", None);
    f.interrupted = true;
    assert_eq!(state(&decide(&req, f, NO, None)), (State::New, "resign"));
    // Both renamed, not journaled: adopted, and new to whoever reads the summary (a new
    // CsrId is never `unchanged`).
    let mut f = facts(&key, &csr, None);
    f.interrupted = true;
    let d = decide(&req, f, NO, None);
    assert_eq!(state(&d), (State::New, "keep"));
    assert!(matches!(d.action, Action::Keep { csr_id: None, .. }));
    // A lone key nobody recorded, outside an interrupted batch, is not ours to use.
    assert_eq!(state(&decide(&req, facts(&key, "", None), NO, None)), (State::Damaged, "leave"));
}

#[test]
fn encrypted_keys_are_read_with_the_passphrase() {
    let req = request("SM2", "Hangzhou");
    let pass = crate::crypto::Passphrase::new("pw".into()).unwrap();
    let key = PrivateKey::generate(req.params.key).unwrap();
    let csr = sign_request(&req.params, &key).unwrap();
    let pem = key.to_file_pem(Some(&pass)).unwrap();
    let d = decide(&request("SM2", "Ningbo"), facts(&pem, &csr.pem, None), NO, Some(&pass));
    assert_eq!(state(&d), (State::Resubject, "resign"));
    let d = decide(&req, facts(&pem, &csr.pem, None), NO, None);
    assert_eq!(state(&d), (State::Damaged, "leave"));
}

#[test]
fn what_an_unfinished_run_changed_is_reported_as_that_change() {
    let req = request("ECC", "Hangzhou");
    let (key, csr, record) = pair(&req);
    // Journaled by a run that did not finish: kept, with that run's CsrId and state.
    let journaled = record.with_carried(Some(State::Rekey));
    let d = decide(&req, facts(&key, &csr, Some(&journaled)), NO, None);
    assert_eq!(state(&d), (State::Rekey, "keep"));
    assert!(matches!(d.action, Action::Keep { csr_id: Some(41), .. }));
    // `unchanged` in that journal stays unchanged.
    let d = decide(&req, facts(&key, &csr, Some(&record.with_carried(Some(State::Unchanged)))), NO, None);
    assert_eq!(state(&d), (State::Unchanged, "keep"));
    // A rotated pair the killed run renamed and never journaled: rekey, a new CsrId.
    let (new_key, new_csr, _) = pair(&req);
    let mut f = facts(&new_key, &new_csr, Some(&record));
    f.interrupted = true;
    let d = decide(&req, f, NO, None);
    assert_eq!(state(&d), (State::Rekey, "keep"));
    assert!(matches!(d.action, Action::Keep { csr_id: None, .. }));
    // Its key renamed, its CSR not yet: a new pair, reported as rekey.
    let mut f = facts(&new_key, &csr, Some(&record));
    f.interrupted = true;
    assert_eq!(state(&decide(&req, f, NO, None)), (State::Rekey, "generate"));
}

/// A KeyFile request's decision, the key given as its PEM.
fn key_file_decision(
    req: &CsrRequest,
    key: &str,
    csr: &str,
    record: Option<&Record>,
    flags: Flags,
) -> Decision {
    let key = PrivateKey::from_pkcs8_pem(key, req.params.key, None)
        .map_err(|e| Problem::KeyFile { path: "key.pem".into(), reason: e.to_string() });
    let csr = if csr.is_empty() { OnDisk::Missing } else { OnDisk::Present(csr.to_owned()) };
    decide_key_file(req, Facts { key, csr, record, interrupted: false, files: Files::default() }, flags)
}

#[test]
fn key_file_requests_never_generate_a_key() {
    let req = request("SM2", "Hangzhou");
    let (key, csr, record) = pair(&req);
    // Nothing there yet: a CSR for the user's key.
    assert_eq!(state(&key_file_decision(&req, &key, "", None, NO)), (State::New, "resign"));
    // Same key, same request: unchanged, even with --rotate (the key is the user's).
    let rotate = Flags { rotate: true, repair: false, reencrypt: false, reuse_key: false, live_key: false };
    assert_eq!(
        state(&key_file_decision(&req, &key, &csr, Some(&record), rotate)),
        (State::Unchanged, "keep")
    );
    // The request changed: resubject with the same key.
    let moved = request("SM2", "Shanghai");
    assert_eq!(
        state(&key_file_decision(&moved, &key, &csr, Some(&record), NO)),
        (State::Resubject, "resign")
    );
    // The key file holds another key: rekey, signed with that key, never a generated one.
    let (other_key, _, _) = pair(&req);
    assert_eq!(
        state(&key_file_decision(&req, &other_key, &csr, Some(&record), NO)),
        (State::Rekey, "resign")
    );
    // A CSR edited by hand is damage, left alone unless --repair.
    let mut edited = csr.clone().into_bytes();
    let at = edited.len() - 80;
    edited[at] = if edited[at] == b'A' { b'B' } else { b'A' };
    let edited = String::from_utf8(edited).unwrap();
    assert_eq!(state(&key_file_decision(&req, &key, &edited, None, NO)), (State::Damaged, "leave"));
    let repair = Flags { rotate: false, repair: true, reencrypt: false, reuse_key: false, live_key: false };
    assert_eq!(state(&key_file_decision(&req, &key, &edited, None, repair)), (State::Damaged, "resign"));
    // The recorded CSR is missing: damage, as for any request.
    assert_eq!(state(&key_file_decision(&req, &key, "", Some(&record), NO)), (State::Damaged, "leave"));
    // The key file cannot be read (it changed during the run): the request fails, nothing is made.
    let unreadable = Problem::KeyFile { path: "key.pem".into(), reason: "cannot read it".into() };
    let facts = Facts {
        key: Err(unreadable),
        csr: OnDisk::Missing,
        record: None,
        interrupted: false,
        files: Files::default(),
    };
    let d = decide_key_file(&req, facts, NO);
    assert_eq!(state(&d), (State::Damaged, "leave"));
    assert_eq!(d.reason.map(|r| r.to_string()).as_deref(), Some("KeyFile: key.pem: cannot read it"));
}

/// A certified request's waiting renewal is judged by its own files, and the reasons name
/// them (`NAME.next.*`), not the live files beside them, which generate never touches.
#[test]
fn the_reasons_name_the_files_judged() {
    let req = request("ECC", "Hangzhou");
    let (key, csr, record) = pair(&req);
    let (other_key, _, _) = pair(&req);
    let pass = crate::crypto::Passphrase::new("pw".into()).unwrap();
    let name = req.name.as_str();
    let (own, next) = (Files::default(), Files { next_key: true, next_csr: true });
    // A --reuse-key renewal: the next CSR, the live key.
    let reused = Files { next_key: false, next_csr: true };
    let cases: [(Files, &str, &str, Option<&crate::crypto::Passphrase>, String); 7] = [
        (own, "", &csr, None, format!("{name}.key.pem is missing")),
        (next, "", &csr, None, format!("{name}.next.key.pem is missing")),
        (next, &key, "", None, format!("{name}.next.csr.pem is missing")),
        (next, "", "", None, format!("{name}.next.key.pem and {name}.next.csr.pem are missing")),
        (next, &key, &csr, Some(&pass), format!("{name}.next.key.pem is not encrypted")),
        (next, "not a key", &csr, None, format!("{name}.next.key.pem: ")),
        (reused, &other_key, &csr, None, format!("{name}.next.csr.pem: ")),
    ];
    for (files, key, csr, pass, want) in cases {
        let f = Facts { files, ..facts(key, csr, Some(&record)) };
        let d = decide(&req, f, NO, pass);
        assert_eq!(state(&d), (State::Damaged, "leave"), "{files:?} {want}");
        let said = d.reason.map(|r| r.to_string()).unwrap_or_default();
        assert!(said.starts_with(&want), "{files:?}: {said:?}, not {want:?}");
    }
    // The next CSR is not the one recorded.
    let (_, _, other) = pair(&req);
    let d = decide(&req, Facts { files: next, ..facts(&key, &csr, Some(&other)) }, NO, None);
    let said = d.reason.map(|r| r.to_string()).unwrap_or_default();
    assert!(said.starts_with(&format!("{name}.next.csr.pem is not the CSR recorded")), "{said}");
}
