//! Importing what the CA issued: read every certificate given, pair each leaf with the
//! request whose key it certifies (by SubjectPublicKeyInfo, never by file name), check it
//! (names, validity, chain, not older than the live one), then put it live with its key
//! ([`crate::output::certified`]) and record it in summary.json. Refusals are typed; the
//! rest still go in.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};

use rayon::prelude::*;
use serde::Serialize;

use crate::cert::{self, Certificate, Chain, ChainBuilder, ChainError, Pool, Validity, rfc3339};
use crate::crypto::{PrivateKey, Sm2EnvelopedKey};
use crate::error::Error;
use crate::output::atomic::Staged;
use crate::output::certified::{self, Live, LiveFile, NewGeneration};
use crate::output::existing::{self, OnDisk};
use crate::output::folder::{self, FolderState};
use crate::output::summary::{self, CertificateInfo, EncryptionInfo, Entry, Item, State};
use crate::output::{
    Archive, FolderError, FolderProblem, IoError, KeyProtection, Layout, OutputDir, utc_stamp,
};
use crate::settings::{P12, Settings};

/// What happened to one certificate given.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum Outcome {
    /// Put live for its request's key.
    Imported,
    /// The request's live certificate already.
    Unchanged,
    /// A certificate for a renewal's `next` key: that pair is live now.
    Renewed,
    /// Not imported (see its [`Refusal`]).
    Refused,
}

impl Outcome {
    const ALL: [Outcome; 4] = [Outcome::Imported, Outcome::Unchanged, Outcome::Renewed, Outcome::Refused];

    fn as_str(self) -> &'static str {
        match self {
            Outcome::Imported => "imported",
            Outcome::Unchanged => "unchanged",
            Outcome::Renewed => "renewed",
            Outcome::Refused => "refused",
        }
    }
}

/// Why a certificate was not imported.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub(crate) enum Refusal {
    #[error("no key in the folder is the key of this certificate (subject {subject})")]
    NoKey { subject: String },
    #[error("names missing: {} (the request asks for them; the CA left them out)", .0.join(", "))]
    NamesMissing(Vec<String>),
    #[error("expired on {0}")]
    Expired(String),
    #[error("not yet valid: valid from {0}")]
    NotYetValid(String),
    #[error("chain broken: {0}")]
    Chain(ChainError),
    #[error("older than the certificate already imported for this key (NotBefore {given} < {live})")]
    Older { given: String, live: String },
    /// The request takes another certificate given in this import (see [`Choice`]).
    #[error(
        "{name} takes another certificate given (NotBefore {taken}): one for the key of its CSR, or a newer one"
    )]
    Superseded { name: String, taken: String },
    #[error("{0}")]
    Damaged(String),
    #[error("{name}: the key file is not the key of this certificate: {why}")]
    KeyMismatch { name: String, why: String },
    #[error("{0}")]
    Io(String),
    /// An SM2 encryption certificate, or its key, that cannot go in with its signing pair.
    #[error("{file}: {why}")]
    Encryption { file: String, why: String },
    /// A new signing certificate for a request with an encryption pair, without a new one.
    #[error(
        "{0} has an encryption pair: give its new encryption certificate and key with the signing certificate"
    )]
    EncryptionMissing(String),
    /// An SM2 encryption certificate given without the signing certificate of its subject.
    #[error("an SM2 encryption certificate: give it with the signing certificate of its subject")]
    EncryptionAlone,
}

impl Serialize for Refusal {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

/// One certificate's line of the report.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct Imported {
    /// The input it came from: `file`, or `file#n` for the n-th certificate of a file
    /// holding several (a chain, a PKCS#7, a zip).
    pub(crate) file: String,
    /// The request it is for, when one was found.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) name: Option<String>,
    pub(crate) result: Outcome,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) reason: Option<Refusal>,
}

/// What an import did.
#[derive(Debug, Clone, Default, Serialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct Report {
    pub(crate) certificates: Vec<Imported>,
    pub(crate) counts: std::collections::BTreeMap<Outcome, usize>,
    /// SM2 requests got no .p12 (nothing reads an SM2 PKCS#12).
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub(crate) sm2_without_p12: bool,
    /// The files of private keys given that no encryption certificate given is for:
    /// nothing was done with them (a wrong file, or its certificate left out).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub(crate) unused_keys: Vec<String>,
}

impl Report {
    pub(crate) fn refused(&self) -> bool {
        self.counts.get(&Outcome::Refused).is_some_and(|n| *n > 0)
    }

    /// `imported 3 certificates: 2 imported, 1 unchanged, 0 renewed, 1 refused`
    pub(crate) fn closing_line(&self) -> String {
        let parts: Vec<String> = Outcome::ALL
            .iter()
            .map(|o| format!("{} {}", self.counts.get(o).copied().unwrap_or(0), o.as_str()))
            .collect();
        format!("{}: {}", crate::words::plural(self.certificates.len(), "certificate"), parts.join(", "))
    }
}

/// A certificate given, with where it came from.
struct Given {
    file: String,
    cert: Certificate,
}

/// The private key of an SM2 encryption certificate given (PEM, or an envelope to the
/// request's signing key), with where it came from.
struct GivenKey {
    file: String,
    key: cert::KeyItem,
}

impl GivenKey {
    /// The `KeySha2` of its public key: the encryption certificate it belongs to.
    fn key_sha2(&self, passphrase: Option<&crate::crypto::Passphrase>) -> Result<String, String> {
        let spki = match &self.key {
            cert::KeyItem::Pem(pem) => PrivateKey::from_pkcs8_pem_any(pem, passphrase)
                .map_err(|e| e.to_string())?
                .public_key_der()
                .to_vec(),
            cert::KeyItem::Envelope(der) => {
                Sm2EnvelopedKey::from_der(der).and_then(|e| e.public_key_der()).map_err(|e| e.to_string())?
            }
        };
        Ok(crate::crypto::key_sha2(&spki))
    }
}

/// Whether a certificate no request's key is in is an SM2 encryption certificate: an SM2
/// key with a key usage for encryption or key agreement.
fn is_encryption_cert(cert: &Certificate) -> bool {
    cert.public_key_type() == Some(crate::crypto::PublicKeyType::Sm2)
        && cert.key_usage().is_some_and(|u| {
            u.iter().any(|n| matches!(*n, "keyEncipherment" | "dataEncipherment" | "keyAgreement"))
        })
}

/// The SM2 encryption certificates given (by subject: each goes with the signing
/// certificate of that subject) and the keys given for them (by `KeySha2`).
#[derive(Default)]
struct Encryption {
    certs: HashMap<Vec<u8>, Vec<Given>>,
    keys: HashMap<String, GivenKey>,
}

impl Encryption {
    /// The files of the keys given that are for none of the encryption certificates
    /// given, sorted.
    fn unused_keys(&self) -> Vec<String> {
        let wanted: std::collections::HashSet<String> =
            self.certs.values().flatten().map(|g| g.cert.spki_sha256_hex()).collect();
        let mut unused: Vec<String> = self
            .keys
            .iter()
            .filter(|(key, _)| !wanted.contains(*key))
            .map(|(_, given)| given.file.clone())
            .collect();
        unused.sort();
        unused
    }

    /// The encryption certificate that goes with a signing certificate: of its subject,
    /// valid now and the newest, else the newest of its subject (refused when judged).
    fn for_signing(&self, signing: &Certificate, now: time::OffsetDateTime) -> Option<&Given> {
        let all = self.certs.get(signing.subject_der())?;
        let valid = |g: &&Given| cert::validity(&g.cert, now) == Validity::Valid;
        all.iter()
            .filter(valid)
            .max_by_key(|g| g.cert.not_before())
            .or_else(|| all.iter().max_by_key(|g| g.cert.not_before()))
    }
}

/// What import needs of one request of the folder's summary.
#[derive(Debug)]
struct Request {
    name: String,
    /// CommonName, then the Sans.
    names: Vec<String>,
    algorithm: String,
    /// The key of the request's CSR (the `next` pair's while one waits).
    key_sha2: String,
    /// `KeyFile` requests: the user's key, absolute.
    key_file: Option<String>,
    certificate: Option<CertificateInfo>,
    /// A certified request that generate found damaged (its certificate's files gone) and
    /// recorded without its pair: the digest of the CSR it had recorded
    /// (`RecordedCsrDigest`), by which the import that mends it records the pair again.
    unrecorded_csr: Option<String>,
}

/// A leaf judged (in parallel, no I/O): the request it is for, if any, and its chain, or
/// why not.
struct Judged {
    request: Option<usize>,
    chain: Result<Chain, Refusal>,
}

/// Imports the certificates in `settings.paths` into the folder `settings.out`.
pub(crate) fn import(settings: &Settings) -> Result<Report, Error> {
    let root = settings.out.as_path();
    let folder_error = |problem| FolderError::Folder { given: settings.out.clone(), problem };
    let state = FolderState::read(root).map_err(|e| folder_error(FolderProblem::Records(e)))?;
    let summary_path = root.join(crate::output::SUMMARY);
    if state.is_none() || !summary_path.is_file() {
        return Err(Error::Usage(format!(
            "{}: no summary.json: import certificates into the folder generate wrote their CSRs to",
            settings.out.display()
        )));
    }
    let state = state.unwrap_or_default();
    let files = input_files(&settings.paths)?;
    let bundle = match &settings.import.ca_bundle {
        Some(path) => {
            let mut roots = Vec::new();
            read_file_certs(path, &mut |part, _| {
                roots.extend(part.into_iter().map(|g| g.cert));
                Ok(())
            })?;
            Some(roots)
        }
        None => None,
    };
    if state.keys == Some(KeyProtection::Encrypted)
        && settings.import.p12.is_some()
        && settings.passphrase.is_none()
    {
        return Err(Error::Usage(format!(
            "{}: its keys are encrypted: --p12 needs them opened with --key-passphrase-env or --key-passphrase-file",
            settings.out.display()
        )));
    }

    let lock = OutputDir::lock(root)?;
    let (requests, header, orphans) =
        read_requests(&summary_path).map_err(|e| folder_error(FolderProblem::Records(e)))?;
    let unfinished = folder::journals_after(root, &header.written)?;
    if !unfinished.is_empty() {
        return Err(Error::Usage(format!(
            "{}: a generate run did not finish there; run it again first, then import",
            settings.out.display()
        )));
    }

    // First pass: the CA certificates (chain material) and, per request, the one leaf
    // given to put live (see [`Choice`]). Only these are kept: the leaves are read again,
    // chunk by chunk, so memory does not grow with the inputs.
    let now = time::OffsetDateTime::now_utc();
    let mut pool = Vec::new();
    let mut chosen: HashMap<usize, Choice> = HashMap::new();
    // Requests given more than one usable leaf: which one they take waits for the
    // chains, which need every issuer of the inputs (see [`Contested`]).
    let mut contested = Contested::default();
    let mut encryption = Encryption::default();
    // What the first pass found, kept for the second while it is small (the DER only):
    // a folder of many small files is then read once.
    let mut kept: Option<Vec<(String, cert::Found)>> = Some(Vec::new());
    let mut kept_bytes = 0;
    let mut first = |part: Vec<Given>, keys: Vec<GivenKey>| {
        for key in keys {
            let sha = key.key_sha2(settings.passphrase.as_ref()).map_err(|e| {
                Error::Usage(format!("{}: the key of an encryption certificate: {e}", key.file))
            })?;
            encryption.keys.insert(sha, key);
        }
        for given in part {
            if requests.is_issuer_only(&given.cert) {
                pool.push(given.cert);
                continue;
            }
            if given.cert.is_ca() {
                // A CA certificate for a request's key (a sub-CA's CSR): that request's,
                // and an issuer too.
                pool.push(given.cert.clone());
            }
            let Some(r) = requests.of(&given.cert) else {
                if is_encryption_cert(&given.cert) {
                    encryption.certs.entry(given.cert.subject_der().to_vec()).or_default().push(given);
                }
                continue;
            };
            let request = &requests.list[r];
            let wanted: Vec<&str> = request.names.iter().map(String::as_str).collect();
            let usable = cert::missing_names(&given.cert, &wanted).is_empty()
                && cert::validity(&given.cert, now) == Validity::Valid;
            if !usable {
                continue;
            }
            let candidate = Choice::of(&given.cert, request);
            if chosen.get(&r).is_some_and(|best| best.fingerprint != candidate.fingerprint) {
                contested.requests.insert(r);
            }
            if chosen.get(&r).is_none_or(|best| candidate.rank() > best.rank()) {
                chosen.insert(r, candidate);
            }
        }
        Ok(())
    };
    // Small files (a folder of one certificate each) are parsed many to a part.
    let io = super::thread_pool(IO_THREADS)?;
    let mut pending = Vec::new();
    read_inputs(&io, &files, &mut |found| {
        kept_bytes += found.iter().map(|(_, f)| f.der_len()).sum::<usize>();
        if kept_bytes > KEPT_DER_BYTES {
            kept = None;
        }
        pending.extend(found);
        if pending.len() >= Run::CHUNK {
            parse_parts(&pending, &mut first)?;
            keep(&mut kept, &mut pending);
        }
        Ok(())
    })?;
    parse_parts(&pending, &mut first)?;
    keep(&mut kept, &mut pending);
    let builder = ChainBuilder::new(Pool::new(pool), bundle.map(Pool::new), now);

    let stamp = utc_stamp();
    let out = OutputDir::open_locked(
        root,
        &crate::output::Opening { layout: state.layout, ..Default::default() },
        lock,
    )?;
    let archive = Archive::new(&out, &stamp);
    let mut report = Report::default();
    let mut writer = Writer::new(root);
    let mut run = Run {
        io: &io,
        encryption: &encryption,
        encryption_lines: Vec::new(),
        encryption_used: HashMap::new(),
        requests: &requests,
        builder: &builder,
        chosen,
        now,
        first_of: HashMap::new(),
        duplicates: Vec::new(),
        sm2_without_p12: std::sync::atomic::AtomicBool::new(false),
        encrypt_keys: state.keys == Some(KeyProtection::Encrypted),
    };
    // Second pass: the leaves, judged in parallel a chunk at a time, written in batches;
    // a contested request's leaves only judged. Third pass, only when some request was
    // given several leaves: each takes the best of those whose chain holds (none, when
    // none does: each is refused for its own reason), and their lines come last.
    let mut chunk = Vec::new();
    for third in [false, true] {
        if third {
            if contested.requests.is_empty() {
                break;
            }
            for &r in &contested.requests {
                match contested.sound.remove(&r) {
                    Some(best) => run.chosen.insert(r, best),
                    None => run.chosen.remove(&r),
                };
            }
        }
        let mut each = |part: Vec<Given>, _| {
            let leaves = part.into_iter().filter(|g| !requests.is_issuer_only(&g.cert));
            if third {
                chunk.extend(leaves.filter(|g| contested.holds(g, &requests)));
            } else if contested.requests.is_empty() {
                chunk.extend(leaves);
            } else {
                let (held, leaves): (Vec<Given>, Vec<Given>) =
                    leaves.partition(|g| contested.holds(g, &requests));
                contested.judge(&held, &requests, &builder, now);
                chunk.extend(leaves);
            }
            if chunk.len() >= Run::CHUNK {
                let leaves = std::mem::take(&mut chunk);
                run.chunk(leaves, settings, state.layout, &mut report, &mut writer, &archive)?;
            }
            Ok(())
        };
        match &kept {
            Some(kept) => parse_parts(kept, &mut each)?,
            None => read_inputs(&io, &files, &mut |found| parse_parts(&found, &mut each))?,
        }
        run.chunk(std::mem::take(&mut chunk), settings, state.layout, &mut report, &mut writer, &archive)?;
    }
    writer.finish(&mut report.certificates, &archive)?;
    report.sm2_without_p12 = run.sm2_without_p12.load(std::sync::atomic::Ordering::Relaxed);
    report.unused_keys = encryption.unused_keys();
    for (line, fingerprint) in run.encryption_lines {
        let (result, reason) = match run.encryption_used.get(&fingerprint) {
            Some(&sign) => (report.certificates[sign].result, report.certificates[sign].reason.clone()),
            None => (Outcome::Refused, Some(Refusal::EncryptionAlone)),
        };
        let sign_name =
            run.encryption_used.get(&fingerprint).and_then(|&l| report.certificates[l].name.clone());
        let entry = &mut report.certificates[line];
        (entry.result, entry.reason, entry.name) = (result, reason, sign_name);
    }
    for (line, first) in run.duplicates {
        let (result, reason) = (report.certificates[first].result, report.certificates[first].reason.clone());
        report.certificates[line].result = result;
        report.certificates[line].reason = reason;
    }
    for line in &report.certificates {
        *report.counts.entry(line.result).or_default() += 1;
    }
    let changes = writer.changes;
    archive.sync()?;
    if !changes.is_empty() {
        summary::rewrite(&summary_path, &header, &orphans, &mut |entry: &mut Entry| {
            if let Some(change) = changes.get(&entry.name) {
                change.apply(entry);
            }
        })?;
    }
    Ok(report)
}

/// The requests given more than one usable leaf (for their names, valid now), and of
/// each, the best leaf whose chain holds. The newest leaf of a request may come with a
/// chain that does not hold (its new intermediate not given) beside an older one that
/// does: the request takes that one, not nothing.
#[derive(Default)]
struct Contested {
    requests: HashSet<usize>,
    sound: HashMap<usize, Choice>,
}

impl Contested {
    /// Whether `given` is a leaf of a contested request.
    fn holds(&self, given: &Given, requests: &Requests) -> bool {
        requests.of(&given.cert).is_some_and(|r| self.requests.contains(&r))
    }

    /// Judges these leaves of contested requests, in parallel, and keeps each request's
    /// best whose chain holds.
    fn judge(
        &mut self,
        held: &[Given],
        requests: &Requests,
        builder: &ChainBuilder,
        now: time::OffsetDateTime,
    ) {
        let judged: Vec<(usize, Choice)> = held
            .par_iter()
            .filter_map(|g| {
                let r = requests.of(&g.cert)?;
                judge(&g.cert, &requests.list[r], builder, now).ok()?;
                Some((r, Choice::of(&g.cert, &requests.list[r])))
            })
            .collect();
        for (r, choice) in judged {
            if self.sound.get(&r).is_none_or(|best| choice.rank() > best.rank()) {
                self.sound.insert(r, choice);
            }
        }
    }
}

/// How much DER the first pass over the inputs keeps for the second (32 MiB: some 50,000
/// certificates); more is read again.
const KEPT_DER_BYTES: usize = 32 << 20;

/// The leaf given that a request takes, of those that cover its names and are valid now:
/// one for the key of its CSR (a first import, or a renewal's `next` key) before one for
/// the live key, then the newest; of those whose chain holds, when it was given several
/// ([`Contested`]). One a request, so that no two workers share its files.
struct Choice {
    for_csr_key: bool,
    not_before: time::OffsetDateTime,
    fingerprint: [u8; 32],
}

impl Choice {
    fn of(cert: &Certificate, request: &Request) -> Choice {
        Choice {
            for_csr_key: cert.spki_sha256_hex() == request.key_sha2,
            not_before: cert.not_before(),
            fingerprint: cert.sha256_fingerprint(),
        }
    }

    fn rank(&self) -> (bool, time::OffsetDateTime) {
        (self.for_csr_key, self.not_before)
    }
}

/// A leaf to put live: its request, its chain, and (SM2) the encryption certificate
/// that goes with it.
type ToPut<'g> = (usize, Chain, Option<&'g Given>);

/// The second pass over the leaves.
struct Run<'a> {
    io: &'a rayon::ThreadPool,
    encryption: &'a Encryption,
    /// The lines of SM2 encryption certificates given, with their fingerprints: each gets
    /// the result of the signing certificate it went with.
    encryption_lines: Vec<(usize, [u8; 32])>,
    /// Encryption certificate (fingerprint) -> the line of the signing certificate it went with.
    encryption_used: HashMap<[u8; 32], usize>,
    requests: &'a Requests,
    builder: &'a ChainBuilder,
    /// Per request, the leaf it takes.
    chosen: HashMap<usize, Choice>,
    now: time::OffsetDateTime,
    /// The first line of each certificate given (by fingerprint): a certificate given
    /// twice (a leaf file and a full chain) gets that line's result.
    first_of: HashMap<[u8; 32], usize>,
    duplicates: Vec<(usize, usize)>,
    /// An SM2 request got no .p12 (said once).
    sm2_without_p12: std::sync::atomic::AtomicBool,
    /// New encryption keys are written encrypted (the folder's keys are).
    encrypt_keys: bool,
}

impl Run<'_> {
    /// Leaves judged at once (in parallel), then handed to the writer.
    const CHUNK: usize = 1024;

    fn chunk(
        &mut self,
        leaves: Vec<Given>,
        settings: &Settings,
        layout: Layout,
        report: &mut Report,
        writer: &mut Writer<'_>,
        archive: &Archive,
    ) -> Result<(), Error> {
        let (all, builder, now) = (self.requests, self.builder, self.now);
        let requests = all.list.as_slice();
        let judged: Vec<Judged> = leaves
            .par_iter()
            .map(|leaf| {
                let request = all.of(&leaf.cert);
                let chain = match request {
                    Some(r) => judge(&leaf.cert, &requests[r], builder, now),
                    None => Err(Refusal::NoKey { subject: leaf.cert.subject_text() }),
                };
                Judged { request, chain }
            })
            .collect();
        // In order: what each leaf is (refused, a duplicate, superseded, or to be put live).
        let mut todo: Vec<(Imported, Option<ToPut<'_>>)> = Vec::with_capacity(leaves.len());
        for (leaf, j) in leaves.iter().zip(judged) {
            let line_index = report.certificates.len() + todo.len();
            let mut line = Imported {
                file: leaf.file.clone(),
                name: j.request.map(|r| requests[r].name.clone()),
                result: Outcome::Refused,
                reason: None,
            };
            let fingerprint = leaf.cert.sha256_fingerprint();
            let mut put = None;
            match (j.request, j.chain) {
                (None, _) if is_encryption_cert(&leaf.cert) => {
                    self.encryption_lines.push((line_index, fingerprint));
                }
                (_, Err(why)) => line.reason = Some(why),
                (None, Ok(_)) => line.reason = Some(Refusal::NoKey { subject: leaf.cert.subject_text() }),
                (Some(_), Ok(_)) if self.first_of.contains_key(&fingerprint) => {
                    self.duplicates.push((line_index, self.first_of[&fingerprint]));
                }
                (Some(r), Ok(_)) if self.chosen.get(&r).is_some_and(|c| c.fingerprint != fingerprint) => {
                    let taken = rfc3339(self.chosen[&r].not_before);
                    let name = requests[r].name.clone();
                    line.reason = Some(Refusal::Superseded { name, taken });
                }
                (Some(r), Ok(chain)) => {
                    self.first_of.insert(fingerprint, line_index);
                    let enc = (requests[r].algorithm == "SM2")
                        .then(|| self.encryption.for_signing(&leaf.cert, now))
                        .flatten();
                    if let Some(enc) = enc {
                        self.encryption_used.insert(enc.cert.sha256_fingerprint(), line_index);
                    }
                    put = Some((r, chain, enc));
                }
            }
            todo.push((line, put));
        }
        // In parallel: each request's plan (its files read, its key checked against the
        // certificate); every request is planned once, so no two workers share a file.
        let root = writer.root;
        let sm2 = &self.sm2_without_p12;
        let (encryption, encrypt_keys) = (self.encryption, self.encrypt_keys);
        // On the I/O threads: each plan reads the request's key, which waits on the disk in
        // a folder written long ago.
        let planned: Vec<(Imported, Option<Result<Step, Refusal>>)> = self.io.install(|| {
            todo.into_par_iter()
                .zip(leaves.par_iter())
                .map(|((line, put), leaf)| {
                    let step = put.map(|(r, chain, enc)| {
                        let put = Put { root, layout, settings, sm2_without_p12: sm2, encrypt_keys, builder };
                        let enc = enc.map(|e| (e, encryption.keys.get(&e.cert.spki_sha256_hex())));
                        put.plan(&requests[r], &leaf.cert, &chain, enc, archive)
                    });
                    (line, step)
                })
                .collect()
        });
        for (mut line, step) in planned {
            let line_index = report.certificates.len();
            match step {
                None => {}
                Some(Ok(Step::Done(outcome, change))) => {
                    line.result = outcome;
                    if let Some(change) = change {
                        writer.changes.insert(change.name.clone(), *change);
                    }
                }
                Some(Ok(Step::Install(install))) => writer.batch.push((line_index, *install)),
                Some(Err(why)) => line.reason = Some(why),
            }
            report.certificates.push(line);
            if writer.batch.len() >= writer.batch_size {
                writer.put_batch(&mut report.certificates, archive)?;
            }
        }
        Ok(())
    }
}

/// What an import changes in a request's summary entry.
#[derive(Debug)]
struct Change {
    /// The request's Name.
    name: String,
    /// `None`: the entry keeps its state (an unchanged certificate whose record learns
    /// what this run verified of it).
    state: Option<State>,
    certificate: CertificateInfo,
    /// After a promotion: the CSR and key files are the live ones (relative).
    files: Option<(String, Option<String>)>,
    /// The pair of an entry generate recorded without it, read again (see [`Restored`]).
    restored: Option<Restored>,
}

/// The pair record of a request whose entry generate left without it while its
/// certificate's files were gone: once the import put them back, the entry is whole again,
/// its `Error` gone. Only from a CSR file whose digest is the one recorded before and whose
/// key is the certificate's, beside a key file that passed [`Put::check_key`] (an
/// encrypted one without its passphrase held to the records, as everywhere).
#[derive(Debug)]
struct Restored {
    csr_file: String,
    key_file: String,
    key_sha2: String,
    csr: String,
}

impl Change {
    fn apply(&self, entry: &mut Entry) {
        if let Some(state) = self.state {
            entry.state = Some(state);
        }
        entry.certificate = Some(self.certificate.clone());
        if let Some(r) = &self.restored {
            (entry.csr_file, entry.key_file) = (Some(r.csr_file.clone()), Some(r.key_file.clone()));
            (entry.key_sha2, entry.csr) = (Some(r.key_sha2.clone()), Some(r.csr.clone()));
            (entry.has_private_key, entry.error, entry.recorded_csr_digest) = (true, None, None);
        }
        if let Some((csr, key)) = &self.files {
            entry.csr_file = Some(csr.clone());
            if let Some(key) = key {
                entry.key_file = Some(key.clone());
            }
        }
    }
}

/// The requests of the summary that have a key, and which requests each key is of (the
/// CSR's key and, for a certified request, its live key; `KeyFile` requests may share one).
struct Requests {
    list: Vec<Request>,
    by_key: HashMap<String, Vec<usize>>,
}

impl Requests {
    /// The request a leaf is for: the one of its key, or of several with that key, the
    /// one with the most names the leaf covers (the closest fit); `None`: no key is its.
    fn of(&self, cert: &Certificate) -> Option<usize> {
        let candidates = self.by_key.get(&cert.spki_sha256_hex())?;
        let covered = |r: usize| {
            let wanted: Vec<&str> = self.list[r].names.iter().map(String::as_str).collect();
            cert::missing_names(cert, &wanted).is_empty()
        };
        match candidates.as_slice() {
            [only] => Some(*only),
            all => all
                .iter()
                .copied()
                .filter(|r| covered(*r))
                .max_by_key(|r| (self.list[*r].names.len(), std::cmp::Reverse(*r)))
                .or(all.first().copied()),
        }
    }

    /// Whether a certificate is chain material only: a CA's, not a request's.
    fn is_issuer_only(&self, cert: &Certificate) -> bool {
        cert.is_ca() && !self.by_key.contains_key(&cert.spki_sha256_hex())
    }
}

fn read_requests(path: &Path) -> Result<(Requests, summary::Header, Vec<summary::Orphan>), IoError> {
    let file = std::fs::File::open(path).map_err(|e| IoError::new(path, e))?;
    let mut requests = Vec::new();
    let mut orphans = Vec::new();
    let mut by_key: HashMap<String, Vec<usize>> = HashMap::new();
    let header = summary::read_summary(std::io::BufReader::new(file), &mut |item| {
        let e = match item {
            Item::Entry(e) => e,
            Item::Orphan(o) => {
                orphans.push(o);
                return Ok(());
            }
        };
        let key_sha2 = match (e.key_sha2.as_ref().filter(|_| e.has_private_key), &e.certificate) {
            (Some(key), _) => key.clone(),
            // A certified request that generate found damaged and left alone (its entry
            // names no pair) still has its live key: the one its certificate is for.
            (None, Some(c)) => c.key_sha2.clone(),
            (None, None) => return Ok(()),
        };
        // The Name is the stem of every file written: a summary edited by hand must not
        // lead the writes out of the folder.
        if crate::request::CsrName::parse(&e.name).map_or(true, |n| n.as_str() != e.name) {
            return Err(std::io::Error::other(format!("entry {:?}: not a csrbatch Name", e.name)));
        }
        let index = requests.len();
        by_key.entry(key_sha2.clone()).or_default().push(index);
        if let Some(c) = e.certificate.as_ref().filter(|c| c.key_sha2 != key_sha2) {
            by_key.entry(c.key_sha2.clone()).or_default().push(index);
        }
        let mut names = vec![e.common_name.clone()];
        names.extend(e.sans.split(',').filter(|s| !s.is_empty()).map(str::to_owned));
        let key_file = e.key_file.clone().filter(|k| Path::new(k).is_absolute());
        requests.push(Request {
            name: e.name.clone(),
            names,
            algorithm: e.algorithm.clone(),
            key_sha2,
            key_file,
            certificate: e.certificate.clone(),
            unrecorded_csr: e
                .recorded_csr_digest
                .clone()
                .filter(|_| e.csr.is_none() && e.certificate.is_some()),
        });
        Ok(())
    })
    .map_err(|e| IoError::other(path, format!("unreadable summary: {e}")))?;
    Ok((Requests { list: requests, by_key }, header, orphans))
}

/// Checks a leaf paired with its request: names, validity, chain.
fn judge(
    cert: &Certificate,
    request: &Request,
    builder: &ChainBuilder,
    now: time::OffsetDateTime,
) -> Result<Chain, Refusal> {
    let wanted: Vec<&str> = request.names.iter().map(String::as_str).collect();
    let missing = cert::missing_names(cert, &wanted);
    if !missing.is_empty() {
        return Err(Refusal::NamesMissing(missing));
    }
    match cert::validity(cert, now) {
        Validity::Valid => {}
        Validity::Expired => return Err(Refusal::Expired(rfc3339(cert.not_after()))),
        Validity::NotYetValid => return Err(Refusal::NotYetValid(rfc3339(cert.not_before()))),
    }
    builder.build(cert).map_err(Refusal::Chain)
}

/// The intermediates, the leaf's issuer first (`NAME.chain.pem`).
fn chain_pem(chain: &Chain) -> String {
    chain.intermediates.iter().map(Certificate::to_pem).collect()
}

/// The leaf, then the intermediates (`NAME.fullchain.pem`).
fn fullchain_pem(cert: &Certificate, chain: &Chain) -> String {
    std::iter::once(cert).chain(&chain.intermediates).map(Certificate::to_pem).collect()
}

/// What the writer does for one certificate.
enum Step {
    /// Nothing (more) to write.
    Done(Outcome, Option<Box<Change>>),
    /// A generation to put live.
    Install(Box<Install>),
}

/// A generation to put live, and what it changes.
struct Install {
    name: String,
    paths: certified::Paths,
    new: NewGeneration,
    /// The `next` pair becomes the live one.
    promote: bool,
    /// The generation it replaces.
    replaced: Option<certified::Generation>,
    outcome: Outcome,
    change: Change,
}

/// Puts generations live in batches, a sync of the file system after each pass (see
/// [`certified::prepare`]): a file per certificate costs no sync of its own.
struct Writer<'a> {
    root: &'a Path,
    changes: HashMap<String, Change>,
    /// Installs waiting, with the index of their line in the report.
    batch: Vec<(usize, Install)>,
    /// How many installs make a batch: a first certificate's files are held open (staged)
    /// until the batch's sync, up to 7 of them, for two batches.
    batch_size: usize,
    /// First certificates staged, waiting for their sync (see [`Staging`]).
    staging: Option<Staging>,
}

/// A batch of first certificates whose files are staged, while the sync that makes them
/// durable runs on its own thread and the workers judge the next chunk (a sync waits for
/// the disk, which the workers need not do). The next batch, or the end, puts them in
/// place once it is done.
struct Staging {
    flat: Vec<(usize, Install, Vec<Staged>)>,
    sync: std::thread::JoinHandle<Result<(), IoError>>,
}

/// How an install goes in.
enum Way {
    /// A first certificate's files, staged: new files beside the CSR.
    Flat(Vec<Staged>),
    /// The flat files that are live, adopted into a generation (then as [`Way::Linked`]).
    Adopt(certified::Prepared),
    /// A generation switched in.
    Linked,
}

impl Writer<'_> {
    fn new(root: &Path) -> Writer<'_> {
        let open_files =
            usize::try_from(crate::output::atomic::raise_open_file_limit()).unwrap_or(usize::MAX);
        let batch_size = (open_files.saturating_sub(256) / 16).clamp(8, 256);
        Writer { root, changes: HashMap::new(), batch: Vec::new(), batch_size, staging: None }
    }

    /// Puts the staged batch in place once its sync is done.
    fn place_staged(&mut self, lines: &mut [Imported]) -> Result<(), IoError> {
        let Some(Staging { flat, sync }) = self.staging.take() else { return Ok(()) };
        sync.join().unwrap_or_else(|_| Err(IoError::other(self.root, "the sync's thread panicked")))?;
        self.place_flat(flat, lines);
        Ok(())
    }

    /// Staged first certificates put in place (their data synced since), the leaf first.
    fn place_flat(&mut self, flat: Vec<(usize, Install, Vec<Staged>)>, lines: &mut [Imported]) {
        let placed: Vec<_> = flat
            .into_par_iter()
            .map(|(line, install, staged)| (line, install, certified::place(staged)))
            .collect();
        for (line, install, placed) in placed {
            match placed {
                Ok(()) => {
                    lines[line].result = install.outcome;
                    self.changes.insert(install.name, install.change);
                }
                Err(e) => lines[line].reason = Some(Refusal::Io(e.to_string())),
            }
        }
    }

    /// After the last batch: what is staged goes in place.
    fn finish(&mut self, lines: &mut [Imported], archive: &Archive) -> Result<(), IoError> {
        self.put_batch(lines, archive)?;
        self.place_staged(lines)
    }

    fn put_batch(&mut self, lines: &mut [Imported], archive: &Archive) -> Result<(), IoError> {
        use crate::output::atomic::sync_folders;
        if self.batch.is_empty() {
            return Ok(());
        }
        let refuse = |line: &mut Imported, e: IoError| line.reason = Some(Refusal::Io(e.to_string()));
        // Each pass runs on the workers (each request touches only its own files; file
        // creation is kernel time one thread could not keep up with), then one sync.
        let ways: Vec<_> = std::mem::take(&mut self.batch)
            .into_par_iter()
            .map(|(line, install)| {
                let way = way_in(&install, archive);
                (line, install, way)
            })
            .collect();
        let mut flat = Vec::new();
        let mut adopting = Vec::new();
        let mut linked = Vec::new();
        for (line, install, way) in ways {
            match way {
                Ok(Way::Flat(staged)) => flat.push((line, install, staged)),
                Ok(Way::Adopt(p)) => adopting.push((line, install, p)),
                Ok(Way::Linked) => linked.push((line, install)),
                Err(e) => refuse(&mut lines[line], e),
            }
        }
        // The batch before goes in place first: its sync ran meanwhile.
        self.place_staged(lines)?;
        if adopting.is_empty() && linked.is_empty() {
            if !flat.is_empty() {
                let root = self.root.to_path_buf();
                let sync = std::thread::spawn(move || sync_folders(&root));
                self.staging = Some(Staging { flat, sync });
            }
            return Ok(());
        }
        if !flat.is_empty() || !adopting.is_empty() {
            // The staged files and adopted generations are durable before any name shows them.
            sync_folders(self.root)?;
            self.place_flat(flat, lines);
            let adopted = self.pass(adopting, lines, |_, p| certified::switch(p))?;
            let adopted = self.pass(adopted, lines, |_, p| certified::link(p, archive))?;
            for (line, mut install, p) in adopted {
                install.new.adopted(&install.paths);
                if let Some(old) = install.replaced.as_mut() {
                    old.form = certified::Form::Linked(p.stamp().to_owned());
                }
                linked.push((line, install));
            }
        }
        if linked.is_empty() {
            // The flat files' new names become durable with the next sync of the file
            // system (on Linux a `syncfs`: the next batch's, or summary.json's commit), before
            // summary.json says they are there: a crash before it loses only names that
            // nothing records yet, and the import run again writes them.
            return if cfg!(target_os = "linux") { Ok(()) } else { sync_folders(self.root) };
        }
        let prepared: Vec<_> = linked
            .into_par_iter()
            .map(|(line, install)| {
                let prepared = certified::prepare(&install.paths, &install.new, archive);
                (line, install, prepared)
            })
            .collect();
        let prepared: Vec<_> = prepared
            .into_iter()
            .filter_map(|(line, install, p)| match p {
                Ok(p) => Some((line, install, p)),
                Err(e) => {
                    refuse(&mut lines[line], e);
                    None
                }
            })
            .collect();
        // The new generations are durable before any `current` points to them.
        sync_folders(self.root)?;
        let switched = self.pass(prepared, lines, |_, p| certified::switch(p))?;
        let linked: Vec<_> = switched
            .into_par_iter()
            .map(|(line, install, p)| {
                let linked = certified::link(&p, archive).and_then(|()| {
                    if install.promote { certified::promote_csr(&install.paths, archive) } else { Ok(()) }
                });
                (line, install, linked)
            })
            .collect();
        let mut notes = Vec::new();
        for (line, install, linked) in linked {
            // Live now, whatever followed: the summary says so.
            match linked {
                Ok(()) => lines[line].result = install.outcome,
                Err(e) => {
                    let why = format!("put live, but: {e} (import it again to finish)");
                    lines[line].reason = Some(Refusal::Io(why));
                }
            }
            if let Some(old) = &install.replaced {
                // The generation it replaced is in the archive now, and says why.
                notes.push(serde_json::json!({
                    "Name": install.name,
                    "Reason": install.outcome.as_str(),
                    "Generation": old.name(),
                    "Serial": old.info.serial,
                    "Sha256Fingerprint": old.info.sha256_fingerprint,
                    "NotAfter": old.info.not_after,
                    "CsrFile": install.promote.then(|| install.change.files.as_ref().map(|f| f.0.clone())),
                }));
            }
            self.changes.insert(install.name, install.change);
        }
        if !notes.is_empty() {
            archive.note_all(&notes)?;
        }
        sync_folders(self.root)
    }

    /// One pass over prepared generations on the workers, then one sync: those it failed
    /// for are refused, the others go on.
    #[allow(clippy::type_complexity)]
    fn pass(
        &self,
        items: Vec<(usize, Install, certified::Prepared)>,
        lines: &mut [Imported],
        step: impl Fn(&Install, &certified::Prepared) -> Result<(), IoError> + Sync,
    ) -> Result<Vec<(usize, Install, certified::Prepared)>, IoError> {
        if items.is_empty() {
            return Ok(items);
        }
        let done: Vec<_> = items
            .into_par_iter()
            .map(|(line, install, p)| {
                let done = step(&install, &p);
                (line, install, p, done)
            })
            .collect();
        let mut kept = Vec::new();
        for (line, install, p, done) in done {
            match done {
                Ok(()) => kept.push((line, install, p)),
                Err(e) => lines[line].reason = Some(Refusal::Io(e.to_string())),
            }
        }
        crate::output::atomic::sync_folders(self.root)?;
        Ok(kept)
    }
}

/// How `install` goes in: a first certificate's files as new files; flat files that must
/// change adopted first; links made complete before a generation replaces theirs.
fn way_in(install: &Install, archive: &Archive) -> Result<Way, IoError> {
    let replaced = install.replaced.as_ref();
    if let Some(old) = replaced.filter(|g| g.form != certified::Form::Flat) {
        if !certified::links_complete(&install.paths, old) {
            certified::complete(&install.paths, old, archive)?;
        }
        return Ok(Way::Linked);
    }
    if let Some(staged) = certified::stage_flat(&install.paths, &install.new)? {
        return Ok(Way::Flat(staged));
    }
    match replaced {
        Some(flat) => {
            certified::adopt(&install.paths, flat, install.new.key.is_some(), archive).map(Way::Adopt)
        }
        None => Ok(Way::Linked),
    }
}

/// Putting one certificate live.
struct Put<'a> {
    root: &'a Path,
    layout: Layout,
    settings: &'a Settings,
    /// Set when an SM2 request gets no .p12.
    sm2_without_p12: &'a std::sync::atomic::AtomicBool,
    /// The folder's keys are encrypted: so is a new encryption key.
    encrypt_keys: bool,
    builder: &'a ChainBuilder,
}

impl Put<'_> {
    /// What putting `cert` live for `request` takes: nothing more (it is live already;
    /// what a kill left undone is finished here), or a new generation for the writer.
    fn plan(
        mut self,
        request: &Request,
        cert: &Certificate,
        chain: &Chain,
        enc: Option<(&Given, Option<&GivenKey>)>,
        archive: &Archive,
    ) -> Result<Step, Refusal> {
        let io = |e: IoError| Refusal::Io(e.to_string());
        let enc_fingerprint = enc.map(|(e, _)| e.cert.sha256_fingerprint_hex());
        let paths = certified::Paths::new(self.root, self.layout, &request.name);
        let cert_key = cert.spki_sha256_hex();
        let fingerprint = cert.sha256_fingerprint_hex();
        let recorded = |fingerprint: &str| certified::Recorded::of(request.certificate.as_ref(), fingerprint);
        let live = certified::read(&paths, &recorded);
        // A certificate for the key of the request's CSR while a `next` pair waits (or was
        // recorded as waiting, for a kill after the switch) promotes that pair.
        let next_pending = std::fs::symlink_metadata(paths.next_csr()).is_ok();
        let renewal = cert_key == request.key_sha2
            && (next_pending || request.certificate.as_ref().is_some_and(|c| c.key_sha2 != request.key_sha2));
        // A .p12 asked for a live certificate that has none: a new generation with one.
        let wants_p12 = |g: &certified::Generation| {
            self.settings.import.p12.is_some() && g.info.p12_file.is_none() && request.algorithm != "SM2"
        };
        // An encryption pair given that is not the live one: a new generation with it.
        let wants_enc = |g: &certified::Generation| {
            enc_fingerprint.is_some()
                && g.info.encryption.as_ref().map(|e| &e.sha256_fingerprint) != enc_fingerprint.as_ref()
        };
        // The live key is gone (only a `KeyFile` request's generation has none of its own):
        // its certificate can serve nothing, and "unchanged" would hide that. A new pair
        // (`generate --repair`) is the way on, and its certificate promotes it as a renewal.
        if let Live::Certified(g) = &live
            && g.info.key_sha2 == cert_key
            && !g.has_key
            && request.key_file.is_none()
        {
            let next = paths.next_csr();
            // (A --reuse-key renewal's next CSR is for the key that is gone.)
            let way = if next_pending && request.key_sha2 != g.info.key_sha2 {
                format!("import the certificate for {}", next.display())
            } else {
                format!(
                    "`generate --repair` makes a new key and CSR ({}) for a new certificate",
                    next.display()
                )
            };
            return Err(Refusal::Damaged(format!(
                "{}: {} is missing, so the live certificate has no key: {way}",
                request.name,
                g.file(&paths, LiveFile::Key).display(),
            )));
        }
        // This delivery's chain digest: "unchanged" only when the records agree with it as
        // the files do (a chain swapped by hand in both files alike goes in again).
        let chain_sha256 = certified::sha256_hex(chain_pem(chain).as_bytes());
        let (outcome, promoted) = match &live {
            Live::Unusable(why) | Live::Changed { why, .. } => {
                return Err(Refusal::Damaged(format!("{}: {why}", request.name)));
            }
            // (A first certificate's files that a kill left incomplete, or a chain that
            // differs, changed by hand, go in again, below: a new generation.)
            Live::Certified(g)
                if g.info.sha256_fingerprint == fingerprint
                    && !wants_p12(g)
                    && !wants_enc(g)
                    && certified::whole(&paths, g)
                    && certified::files_are(
                        &paths,
                        g,
                        &[
                            (LiveFile::Chain, &chain_pem(chain)),
                            (LiveFile::Fullchain, &fullchain_pem(cert, chain)),
                        ],
                    )
                    && g.info.chain_sha256.as_ref().is_none_or(|recorded| *recorded == chain_sha256)
                    && certified::p12_damage(&paths, g).is_none()
                    && enc.is_none_or(|(given, _)| {
                        self.enc_fullchain_is(&paths, g, &given.cert)
                            && certified::encryption_pair_damage(
                                &paths,
                                g,
                                self.settings.passphrase.as_ref(),
                                self.encrypt_keys,
                            )
                            .is_none()
                    }) =>
            {
                // Live already: a kill may have stopped the install after the switch.
                if !certified::links_complete(&paths, g) {
                    certified::complete(&paths, g, archive).map_err(io)?;
                }
                if renewal {
                    certified::promote_csr(&paths, archive).map_err(io)?;
                    crate::output::atomic::sync_folders(self.root).map_err(io)?;
                }
                let recorded =
                    request.certificate.as_ref().is_some_and(|c| c.sha256_fingerprint == fingerprint);
                // Promoted now, or live and not yet recorded: the entry changes.
                let outcome = match (recorded && !(renewal && next_pending), renewal) {
                    (true, _) => Outcome::Unchanged,
                    (false, true) => Outcome::Renewed,
                    (false, false) => Outcome::Imported,
                };
                // A first certificate's files do not record its chain, nor does an adopted
                // one's meta.json after a kill: this run verified it, and its files hold
                // what this run would write.
                let chain_verified = g.info.chain_verified || chain.anchored;
                let mut info =
                    CertificateInfo { chain_verified, chain_sha256: Some(chain_sha256), ..g.info.clone() };
                // (A recorded encryption chain digest is this delivery's: see enc_fullchain_is.)
                if let (Some(live), Some((given, _))) = (info.encryption.as_mut(), enc)
                    && live.chain_sha256.is_none()
                {
                    live.chain_sha256 = self.enc_chain_sha256(&given.cert);
                }
                // An entry generate left without its pair (a link was gone) gets it back,
                // its key checked first; a key that fails the check leaves it as it is.
                let restored = request
                    .unrecorded_csr
                    .as_ref()
                    .filter(|_| self.key_source(request, &paths, &live, &cert_key).is_ok())
                    .and_then(|_| self.restored(&paths, request, &cert_key));
                // Unchanged, but its record lacks what this run verified (a folder imported
                // before the digests were recorded, or one generate recorded after a kill):
                // the entry learns it and keeps its state.
                let learnt = outcome == Outcome::Unchanged && request.certificate.as_ref() != Some(&info);
                let keep_state = learnt && restored.is_none();
                let change = (outcome != Outcome::Unchanged || restored.is_some() || learnt).then(|| {
                    let change = self.change(&paths, request, outcome, renewal, info);
                    Change { restored, state: change.state.filter(|_| !keep_state), ..change }
                });
                return Ok(Step::Done(outcome, change.map(Box::new)));
            }
            Live::Certified(g) if g.info.sha256_fingerprint == fingerprint => (Outcome::Imported, false),
            Live::Certified(g) => {
                // Older than the live certificate of the same key (a new key's may be
                // backdated before the live one's, as CAs backdate by an hour).
                if g.info.key_sha2 == cert_key && cert.not_before() < parse_time(&g.info.not_before) {
                    return Err(Refusal::Older {
                        given: rfc3339(cert.not_before()),
                        live: g.info.not_before.clone(),
                    });
                }
                (if renewal { Outcome::Renewed } else { Outcome::Imported }, renewal)
            }
            Live::None => (Outcome::Imported, false),
        };
        // Both pairs of an SM2 request switch together: never a new signing pair beside
        // the live encryption pair.
        if enc.is_none() && matches!(&live, Live::Certified(g) if g.info.encryption.is_some()) {
            return Err(Refusal::EncryptionMissing(request.name.clone()));
        }
        let key_path = self.key_source(request, &paths, &live, &cert_key)?;
        let info = certified::info_of(&paths, cert, chain.anchored, Some(chain_sha256));
        let p12 = self.p12(request, key_path.as_deref(), cert, chain)?;
        let (encryption, encryption_info) = match enc {
            Some((given, key)) => {
                let (pair, info) = self.encryption(request, &paths, key_path.as_deref(), given, key)?;
                (Some(pair), Some(info))
            }
            None => (None, None),
        };
        let info = CertificateInfo {
            p12_file: p12.as_ref().map(|_| paths.relative(LiveFile::P12)),
            p12_sha256: p12.as_deref().map(certified::sha256_hex),
            encryption: encryption_info,
            ..info
        };
        let new = NewGeneration {
            key: key_path,
            cert_pem: cert.to_pem(),
            chain_pem: chain_pem(chain),
            fullchain_pem: fullchain_pem(cert, chain),
            p12,
            encryption,
            info: info.clone(),
        };
        let replaced = match live {
            Live::Certified(old) => Some(*old),
            _ => None,
        };
        let mut change = self.change(&paths, request, outcome, promoted, info);
        if !promoted {
            change.restored = self.restored(&paths, request, &cert_key);
        }
        let name = request.name.clone();
        Ok(Step::Install(Box::new(Install {
            name,
            paths,
            new,
            promote: promoted,
            replaced,
            outcome,
            change,
        })))
    }

    /// The summary entry's change for a certificate now live.
    fn change(
        &self,
        paths: &certified::Paths,
        request: &Request,
        outcome: Outcome,
        promoted: bool,
        certificate: CertificateInfo,
    ) -> Change {
        let state = if outcome == Outcome::Renewed { State::Renewed } else { State::Imported };
        // A promotion makes the waiting pair the live one: its files are the live names.
        let files = promoted.then(|| {
            let key = request.key_file.is_none().then(|| paths.relative(LiveFile::Key));
            (self.layout.relative(&request.name).0, key)
        });
        Change { name: request.name.clone(), state: Some(state), certificate, files, restored: None }
    }

    /// The pair record of an entry generate left without it (see [`Restored`]); called once
    /// the key file is checked to be the certificate's key.
    fn restored(&self, paths: &certified::Paths, request: &Request, cert_key: &str) -> Option<Restored> {
        let digest = request.unrecorded_csr.as_deref()?;
        let OnDisk::Present(csr) = existing::read_file(&paths.csr()) else { return None };
        if hex::encode(existing::csr_digest(&csr)) != digest
            || certified::csr_pem_key_sha2(&csr).as_deref() != Some(cert_key)
        {
            return None;
        }
        let (csr_file, key_file) = self.layout.relative(&request.name);
        let key_file = request.key_file.clone().unwrap_or(key_file);
        Some(Restored { csr_file, key_file, key_sha2: cert_key.to_owned(), csr })
    }

    /// The key file the new generation links: the live generation's (same key), the
    /// waiting `next` key (a renewal), or `NAME.key.pem` (a first import); none for a
    /// `KeyFile` request. It must be the certificate's key.
    fn key_source(
        &self,
        request: &Request,
        paths: &certified::Paths,
        live: &Live,
        cert_key: &str,
    ) -> Result<Option<PathBuf>, Refusal> {
        if let Some(user_key) = &request.key_file {
            self.check_key(request, Path::new(user_key), cert_key)?;
            return Ok(None);
        }
        let path = match live {
            Live::Certified(g) if g.info.key_sha2 == cert_key && g.has_key => g.file(paths, LiveFile::Key),
            Live::Certified(_) => paths.next_key(),
            _ => paths.link(LiveFile::Key),
        };
        let regular = std::fs::symlink_metadata(&path).is_ok_and(|m| m.is_file());
        if !regular {
            return Err(Refusal::KeyMismatch {
                name: request.name.clone(),
                why: format!("{} is not there as a regular file", path.display()),
            });
        }
        self.check_key(request, &path, cert_key)?;
        Ok(Some(path))
    }

    /// Whether the key file is the certificate's key: read (with the passphrase when it is
    /// encrypted and one was given; an encrypted key without one is held to the CSR that
    /// generate verified against it, which summary.json records by `KeySha2`).
    fn check_key(&self, request: &Request, path: &Path, cert_key: &str) -> Result<(), Refusal> {
        let mismatch = |why: String| Refusal::KeyMismatch { name: request.name.clone(), why };
        let pem = std::fs::read_to_string(path).map_err(|e| mismatch(format!("{}: {e}", path.display())))?;
        let encrypted = KeyProtection::of_pem(&pem) == Some(KeyProtection::Encrypted);
        if encrypted && self.settings.passphrase.is_none() {
            return if request.key_sha2 == cert_key
                || request.certificate.as_ref().is_some_and(|c| c.key_sha2 == cert_key)
            {
                Ok(())
            } else {
                Err(mismatch("not the recorded key".into()))
            };
        }
        let key = PrivateKey::from_pkcs8_pem_any(&pem, self.settings.passphrase.as_ref())
            .map_err(|e| mismatch(format!("{}: {e}", path.display())))?;
        if crate::crypto::key_sha2(key.public_key_der()) == cert_key {
            Ok(())
        } else {
            Err(mismatch(format!("{} holds another key", path.display())))
        }
    }

    /// Whether the live encryption full chain is what this delivery of its certificate
    /// makes, its chain the one recorded when a digest is (a chain that no longer holds:
    /// no, and the install refuses it for its reason).
    fn enc_fullchain_is(
        &self,
        paths: &certified::Paths,
        g: &certified::Generation,
        cert: &Certificate,
    ) -> bool {
        let recorded = g.info.encryption.as_ref().and_then(|e| e.chain_sha256.as_ref());
        self.builder.build(cert).is_ok_and(|chain| {
            certified::files_are(paths, g, &[(LiveFile::EncFullchain, &fullchain_pem(cert, &chain))])
                && recorded.is_none_or(|r| *r == certified::sha256_hex(chain_pem(&chain).as_bytes()))
        })
    }

    /// The `ChainSha256` of the encryption certificate's chain as this import writes it.
    fn enc_chain_sha256(&self, cert: &Certificate) -> Option<String> {
        self.builder.build(cert).ok().map(|chain| certified::sha256_hex(chain_pem(&chain).as_bytes()))
    }

    /// An SM2 request's encryption pair: its certificate judged as the signing one is
    /// (validity, chain), its key from the PEM given or unwrapped from the envelope with the
    /// request's signing key, and the key written as the folder stores keys.
    fn encryption(
        &self,
        request: &Request,
        paths: &certified::Paths,
        signing_key: Option<&Path>,
        given: &Given,
        key: Option<&GivenKey>,
    ) -> Result<(certified::EncryptionPair, EncryptionInfo), Refusal> {
        let refuse = |file: &str, why: String| Refusal::Encryption { file: file.to_owned(), why };
        let cert = &given.cert;
        match cert::validity(cert, self.now()) {
            Validity::Valid => {}
            Validity::Expired => {
                return Err(refuse(&given.file, format!("expired on {}", rfc3339(cert.not_after()))));
            }
            Validity::NotYetValid => {
                return Err(refuse(
                    &given.file,
                    format!("not yet valid: valid from {}", rfc3339(cert.not_before())),
                ));
            }
        }
        let chain =
            self.builder.build(cert).map_err(|e| refuse(&given.file, format!("chain broken: {e}")))?;
        let Some(key) = key else {
            return Err(refuse(&given.file, "no private key given for the encryption certificate".into()));
        };
        let passphrase = self.settings.passphrase.as_ref();
        let private = match &key.key {
            cert::KeyItem::Pem(pem) => PrivateKey::from_pkcs8_pem_any(pem, passphrase)
                .map_err(|e| refuse(&key.file, e.to_string()))?,
            cert::KeyItem::Envelope(der) => {
                let envelope =
                    Sm2EnvelopedKey::from_der(der).map_err(|e| refuse(&key.file, e.to_string()))?;
                let path = signing_key
                    .map(Path::to_path_buf)
                    .or_else(|| request.key_file.as_ref().map(PathBuf::from));
                let Some(path) = path else {
                    return Err(refuse(
                        &key.file,
                        format!("{}: no signing key to open it with", request.name),
                    ));
                };
                let pem = std::fs::read_to_string(&path)
                    .map_err(|e| refuse(&key.file, format!("{}: {e}", path.display())))?;
                let signing = PrivateKey::from_pkcs8_pem_any(&pem, passphrase)
                    .map_err(|e| refuse(&key.file, format!("the signing key {}: {e}", path.display())))?;
                envelope.unwrap(&signing, &request.name).map_err(|e| refuse(&key.file, e.to_string()))?
            }
        };
        if private.public_key_der() != cert.spki_der() {
            return Err(refuse(&key.file, "not the key of the encryption certificate".into()));
        }
        let key_pem = private
            .to_file_pem(if self.encrypt_keys { passphrase } else { None })
            .map_err(|e| refuse(&key.file, e.to_string()))?;
        if self.encrypt_keys && passphrase.is_none() {
            return Err(refuse(
                &key.file,
                "the folder's keys are encrypted: give --key-passphrase-env or -file".into(),
            ));
        }
        let pair = certified::EncryptionPair {
            key_pem,
            cert_pem: cert.to_pem(),
            fullchain_pem: fullchain_pem(cert, &chain),
        };
        let chain_sha256 = certified::sha256_hex(chain_pem(&chain).as_bytes());
        Ok((pair, certified::encryption_info_of(paths, cert, Some(chain_sha256))))
    }

    fn now(&self) -> time::OffsetDateTime {
        time::OffsetDateTime::now_utc()
    }

    /// The `.p12` of the request, with `--p12`: its key (opened with the folder's
    /// passphrase, never written decrypted), the leaf and the chain. SM2 gets none.
    fn p12(
        &mut self,
        request: &Request,
        key_path: Option<&Path>,
        cert: &Certificate,
        chain: &Chain,
    ) -> Result<Option<Vec<u8>>, Refusal> {
        let Some(P12 { legacy, passphrase }) = &self.settings.import.p12 else { return Ok(None) };
        if request.algorithm == "SM2" {
            self.sm2_without_p12.store(true, std::sync::atomic::Ordering::Relaxed);
            return Ok(None);
        }
        let path = key_path.map(Path::to_path_buf).or_else(|| request.key_file.as_ref().map(PathBuf::from));
        let Some(path) = path else { return Ok(None) };
        let fail = |why: String| Refusal::Io(format!("{}: {}: {why}", request.name, path.display()));
        let pem = std::fs::read_to_string(&path).map_err(|e| fail(e.to_string()))?;
        let key = PrivateKey::from_pkcs8_pem_any(&pem, self.settings.passphrase.as_ref())
            .map_err(|e| fail(e.to_string()))?;
        cert::build_p12(key.pkcs8_der(), cert, &chain.intermediates, passphrase.expose(), *legacy)
            .map(Some)
            .map_err(|e| fail(e.to_string()))
    }
}

fn parse_time(text: &str) -> time::OffsetDateTime {
    time::OffsetDateTime::parse(text, &time::format_description::well_known::Rfc3339)
        .unwrap_or(time::OffsetDateTime::UNIX_EPOCH)
}

/// The input files: files, or folders walked (sorted, links followed, hidden entries
/// skipped). A path that is missing, or a folder without any file, is an error (exit 2).
fn input_files(paths: &[PathBuf]) -> Result<Vec<PathBuf>, Error> {
    let mut files = Vec::new();
    for path in paths {
        let meta = std::fs::metadata(path).map_err(|e| IoError::new(path, e))?;
        if !meta.is_dir() {
            files.push(path.clone());
            continue;
        }
        let before = files.len();
        let walker = walkdir::WalkDir::new(path)
            .follow_links(true)
            .sort_by_file_name()
            .into_iter()
            .filter_entry(|e| e.depth() == 0 || !e.file_name().to_string_lossy().starts_with('.'));
        for entry in walker {
            let entry = entry.map_err(|e| IoError::other(path, e))?;
            if entry.file_type().is_file() {
                files.push(entry.into_path());
            }
        }
        if files.len() == before {
            return Err(Error::Usage(format!("{}: no certificate in this folder", path.display())));
        }
    }
    Ok(files)
}

/// Threads that read files: a folder written long ago is read from the disk, where one
/// file at a time would leave the workers waiting on each read in turn; many reads at
/// once keep the disk busy, and take little CPU.
const IO_THREADS: usize = 16;

/// Input files read at once, ahead of the one being parsed (each is held whole while it
/// waits).
const READ_AHEAD: usize = 64;

/// Reads the inputs on the I/O threads, [`READ_AHEAD`] at a time, and hands what each
/// holds to `each`, in order; the first that cannot be read (in order) is the error.
fn read_inputs(
    io: &rayon::ThreadPool,
    files: &[PathBuf],
    each: &mut dyn FnMut(Vec<(String, cert::Found)>) -> Result<(), Error>,
) -> Result<(), Error> {
    crate::parallel::ordered_map(
        io,
        files.iter(),
        READ_AHEAD,
        |file| found_in(file),
        |read| read.into_iter().try_for_each(|found| each(found?)),
    )
}

/// Every certificate of one input, handed to `each` in parts of [`Run::CHUNK`], each
/// part parsed on the workers: a parsed certificate takes many times its DER, so one
/// `.p7b` of every leaf is never held parsed whole. One that holds none, or cannot be
/// read, is an error (exit 2).
fn read_file_certs(
    path: &Path,
    each: &mut dyn FnMut(Vec<Given>, Vec<GivenKey>) -> Result<(), Error>,
) -> Result<(), Error> {
    parse_parts(&found_in(path)?, each)
}

/// What the first pass parsed goes on to the second, unless there is too much to keep.
fn keep(kept: &mut Option<Vec<(String, cert::Found)>>, parsed: &mut Vec<(String, cert::Found)>) {
    match kept {
        Some(kept) => kept.append(parsed),
        None => parsed.clear(),
    }
}

/// The DER of every certificate (and key) of one input, each named by its file (`F#3`
/// when the file holds several).
fn found_in(path: &Path) -> Result<Vec<(String, cert::Found)>, Error> {
    let unreadable = |e: cert::ReadError| Error::Usage(format!("{}: {e}", path.display()));
    let bytes = std::fs::read(path).map_err(|e| IoError::new(path, e))?;
    let found = cert::find_certificates(&bytes).map_err(unreadable)?;
    drop(bytes);
    if found.is_empty() {
        return Err(Error::Usage(format!("{}: no certificate in it", path.display())));
    }
    let several = found.len() > 1;
    let file =
        |i: usize| if several { format!("{}#{}", path.display(), i + 1) } else { path.display().to_string() };
    Ok(found.into_iter().enumerate().map(|(i, f)| (file(i), f)).collect())
}

/// Parses what was found, [`Run::CHUNK`] at a time on the workers, and hands each part
/// to `each`.
fn parse_parts(
    found: &[(String, cert::Found)],
    each: &mut dyn FnMut(Vec<Given>, Vec<GivenKey>) -> Result<(), Error>,
) -> Result<(), Error> {
    for part in found.chunks(Run::CHUNK) {
        let parsed: Vec<(String, cert::Item)> = part
            .par_iter()
            .map(|(file, der)| {
                der.parse().map(|item| (file.clone(), item)).map_err(|e| {
                    // The file, without the `#n` of its n-th certificate.
                    let n = file.rsplit_once('#').filter(|(_, n)| n.bytes().all(|b| b.is_ascii_digit()));
                    Error::Usage(format!("{}: {e}", n.map_or(file.as_str(), |(path, _)| path)))
                })
            })
            .collect::<Result<_, _>>()?;
        let (mut certs, mut keys) = (Vec::new(), Vec::new());
        for (file, item) in parsed {
            match item {
                cert::Item::Certificate(cert) => certs.push(Given { file, cert: *cert }),
                cert::Item::Key(key) => keys.push(GivenKey { file, key }),
            }
        }
        each(certs, keys)?;
    }
    Ok(())
}
