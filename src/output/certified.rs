//! A request's certificate in the folder: its live files, the `next` pair that waits for
//! a renewal's certificate, and the promotion that puts a new generation live. The one
//! reader ([`read`]) and the one writer ([`stage_flat`] and [`place`], [`adopt`],
//! [`prepare`], [`switch`] and [`link`], [`promote_csr`]) of these files.
//!
//! A request's first certificate is written as regular files beside its key and CSR
//! (`NAME.crt.pem`, `NAME.chain.pem`, `NAME.fullchain.pem`, and `NAME.p12` with
//! `--p12`): nothing was live before it, so nothing has to switch, and a first import
//! makes no more files than the CA sent. The leaf goes in first: once `NAME.crt.pem` is
//! there the request is certified, and a kill before its other files leaves it
//! incomplete (plan says so; the import run again writes what is missing).
//!
//! A `.p12` or an encryption pair added to the same first certificate is written beside
//! its files the same way (nothing a server reads changes). Any other later change of
//! what is live (a renewal, a reissue, a chain that differs) first adopts those files
//! into a generation folder (hard links, so every name keeps its bytes while it becomes
//! a link), then switches generations as a whole:
//!
//! ```text
//! NAME.key.pem       -> .live/NAME/current/key.pem
//! NAME.crt.pem       -> .live/NAME/current/crt.pem
//! NAME.chain.pem     -> .live/NAME/current/chain.pem
//! NAME.fullchain.pem -> .live/NAME/current/fullchain.pem
//! NAME.p12           -> .live/NAME/current/bundle.p12      (with --p12)
//! .live/NAME/current -> 20261203T051436.123456789Z         (the live generation)
//! .live/NAME/20261203T051436.123456789Z/   key.pem crt.pem chain.pem fullchain.pem meta.json
//! ```
//!
//! A new generation is written whole and made durable beside the live one, then
//! `current` is replaced with one rename: a server that opens the key and the
//! certificate, or a kill -9 at any moment, finds one generation's key and certificate,
//! never one of each (Kubernetes' AtomicWriter projects volumes the same way). The key of
//! a generation is a hard link of the key file it came from, so no key is ever copied or
//! lost. `NAME.csr.pem` stays a regular file; a renewal's new pair is
//! `NAME.next.key.pem` + `NAME.next.csr.pem` until its certificate is imported.

use std::path::{Path, PathBuf};

use super::atomic::{self, KEY_MODE, PUBLIC_MODE, Replace, Staged};
use super::summary::{CertificateInfo, EncryptionInfo};
use super::{Archive, IoError, Layout, utc_stamp};
use crate::cert::{Certificate, rfc3339};

/// The folder, beside a request's files, that holds the generations of its certificates.
pub(crate) const LIVE_DIR: &str = ".live";
/// The link in `.live/NAME/` to the live generation.
const CURRENT: &str = "current";
/// What a generation records of its certificate (a [`CertificateInfo`]).
const META: &str = "meta.json";
/// The renewal's pair, beside the live one.
pub(crate) const NEXT_CSR: &str = ".next.csr.pem";
pub(crate) const NEXT_KEY: &str = ".next.key.pem";

/// One of a certified request's live files.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum LiveFile {
    Key,
    Cert,
    Chain,
    Fullchain,
    P12,
    /// SM2: the encryption pair's key, certificate and full chain.
    EncKey,
    EncCert,
    EncFullchain,
}

impl LiveFile {
    pub(crate) const ALL: [LiveFile; 8] = [
        LiveFile::Key,
        LiveFile::Cert,
        LiveFile::Chain,
        LiveFile::Fullchain,
        LiveFile::P12,
        LiveFile::EncKey,
        LiveFile::EncCert,
        LiveFile::EncFullchain,
    ];

    /// Its name inside a generation folder.
    fn in_generation(self) -> &'static str {
        match self {
            LiveFile::Key => "key.pem",
            LiveFile::Cert => "crt.pem",
            LiveFile::Chain => "chain.pem",
            LiveFile::Fullchain => "fullchain.pem",
            LiveFile::P12 => "bundle.p12",
            LiveFile::EncKey => "enc.key.pem",
            LiveFile::EncCert => "enc.crt.pem",
            LiveFile::EncFullchain => "enc.fullchain.pem",
        }
    }

    /// What follows the Name in the file servers read (`NAME.crt.pem`).
    pub(crate) fn suffix(self) -> &'static str {
        match self {
            LiveFile::Key => ".key.pem",
            LiveFile::Cert => ".crt.pem",
            LiveFile::Chain => ".chain.pem",
            LiveFile::Fullchain => ".fullchain.pem",
            LiveFile::P12 => ".p12",
            LiveFile::EncKey => ".enc.key.pem",
            LiveFile::EncCert => ".enc.crt.pem",
            LiveFile::EncFullchain => ".enc.fullchain.pem",
        }
    }

    fn mode(self) -> u32 {
        if matches!(self, LiveFile::Key | LiveFile::P12 | LiveFile::EncKey) { KEY_MODE } else { PUBLIC_MODE }
    }

    /// An SM2 request's encryption pair's files, there only when it has one.
    fn is_encryption(self) -> bool {
        matches!(self, LiveFile::EncKey | LiveFile::EncCert | LiveFile::EncFullchain)
    }
}

/// Where one request's certificate files are.
#[derive(Debug, Clone)]
pub(crate) struct Paths {
    /// The folder of the request's pair.
    pair_dir: PathBuf,
    name: String,
    layout: Layout,
    /// `pair_dir/.live/NAME`.
    live: PathBuf,
}

impl Paths {
    pub(crate) fn new(root: &Path, layout: Layout, name: &str) -> Paths {
        let pair_dir = root.join(layout.pair_folder(name));
        let live = pair_dir.join(LIVE_DIR).join(name);
        Paths { pair_dir, name: name.to_owned(), layout, live }
    }

    /// The file a server reads: `NAME.crt.pem` beside the CSR.
    pub(crate) fn link(&self, file: LiveFile) -> PathBuf {
        self.pair_dir.join(format!("{}{}", self.name, file.suffix()))
    }

    /// Whether the name beside the CSR is the link into `.live` that a generation's
    /// `file` has, and leads to a file (a generation is there).
    pub(crate) fn is_own_link_to_a_file(&self, file: LiveFile) -> bool {
        let link = self.link(file);
        std::fs::read_link(&link).is_ok_and(|t| t == self.target(file))
            && std::fs::metadata(&link).is_ok_and(|m| m.is_file())
    }

    /// The same, relative to the output folder (as summary.json names files).
    pub(crate) fn relative(&self, file: LiveFile) -> String {
        self.layout.file(&self.name, file.suffix())
    }

    /// What the link of `file` points to, relative to the pair folder.
    fn target(&self, file: LiveFile) -> PathBuf {
        Path::new(LIVE_DIR).join(&self.name).join(CURRENT).join(file.in_generation())
    }

    /// The live generation's `file`, read through `current` (never through the link
    /// beside the CSR, which a user may have replaced).
    pub(crate) fn live_file(&self, file: LiveFile) -> PathBuf {
        self.live.join(CURRENT).join(file.in_generation())
    }

    pub(crate) fn csr(&self) -> PathBuf {
        self.pair_dir.join(format!("{}.csr.pem", self.name))
    }

    pub(crate) fn next_csr(&self) -> PathBuf {
        self.pair_dir.join(format!("{}{NEXT_CSR}", self.name))
    }

    pub(crate) fn next_key(&self) -> PathBuf {
        self.pair_dir.join(format!("{}{NEXT_KEY}", self.name))
    }

    /// Whether the request has a certificate (its `NAME.next.*` files are its own).
    pub(crate) fn is_certified(&self) -> bool {
        is_certified(&self.pair_dir, &self.name)
    }

    fn has_live_dir(&self) -> bool {
        std::fs::symlink_metadata(&self.live).is_ok_and(|m| m.is_dir())
    }

    /// The next pair's files relative to the output folder: (CSR, key).
    pub(crate) fn next_relative(&self) -> (String, String) {
        (self.layout.file(&self.name, NEXT_CSR), self.layout.file(&self.name, NEXT_KEY))
    }
}

/// What the folder holds of a request's certificate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Live {
    /// No certificate was ever imported for it.
    None,
    /// The live generation.
    Certified(Box<Generation>),
    /// `.live/NAME` is there but not as csrbatch leaves it: the reason.
    Unusable(String),
    /// The live generation's certificate is not the one its `meta.json` records (changed
    /// by hand): the reason, and that record, which the entry keeps while it is damaged.
    Changed { why: String, recorded: Box<CertificateInfo> },
}

/// The live generation of a certified request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Generation {
    pub(crate) form: Form,
    pub(crate) info: CertificateInfo,
    /// The generation holds the key (not a `KeyFile` request's).
    pub(crate) has_key: bool,
}

/// Where a live generation's files are.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Form {
    /// The first certificate: regular files beside the CSR.
    Flat,
    /// `.live/NAME/<this>`, which `current` points to; the names beside the CSR are links.
    Linked(String),
}

impl Generation {
    /// The live `file` itself: for links, read through `current` (never through the link
    /// beside the CSR, which a user may have replaced).
    pub(crate) fn file(&self, paths: &Paths, file: LiveFile) -> PathBuf {
        match self.form {
            Form::Flat => paths.link(file),
            Form::Linked(_) => paths.live_file(file),
        }
    }

    /// The generation folder's name, for the archive's records (`flat` for the first).
    pub(crate) fn name(&self) -> &str {
        match &self.form {
            Form::Flat => "flat",
            Form::Linked(name) => name,
        }
    }
}

/// What the records (summary.json) hold of a certificate, asked by its fingerprint (hex):
/// what a first certificate's files cannot say of themselves. Nothing for a certificate
/// they do not hold.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Recorded {
    /// Its chain was verified up to a `--ca-bundle` root.
    pub(crate) chain_verified: bool,
    /// [`CertificateInfo::chain_sha256`].
    pub(crate) chain_sha256: Option<String>,
    /// [`CertificateInfo::p12_sha256`].
    pub(crate) p12_sha256: Option<String>,
    /// The SM2 encryption certificate imported with it (one generation with the signing
    /// certificate).
    pub(crate) encryption: Option<RecordedEncryption>,
}

/// What the records hold of an SM2 encryption certificate: [`EncryptionInfo`] less the
/// file names, which its request's [`Paths`] give.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct RecordedEncryption {
    pub(crate) serial: String,
    pub(crate) not_after: String,
    pub(crate) sha256_fingerprint: String,
    pub(crate) chain_sha256: Option<String>,
}

impl RecordedEncryption {
    fn of(e: &EncryptionInfo) -> RecordedEncryption {
        RecordedEncryption {
            serial: e.serial.clone(),
            not_after: e.not_after.clone(),
            sha256_fingerprint: e.sha256_fingerprint.clone(),
            chain_sha256: e.chain_sha256.clone(),
        }
    }

    fn info(self, paths: &Paths) -> EncryptionInfo {
        EncryptionInfo {
            serial: self.serial,
            not_after: self.not_after,
            sha256_fingerprint: self.sha256_fingerprint,
            cert_file: paths.relative(LiveFile::EncCert),
            key_file: paths.relative(LiveFile::EncKey),
            chain_sha256: self.chain_sha256,
        }
    }
}

impl Recorded {
    /// What `info` (a record) says of the certificate with this fingerprint.
    pub(crate) fn of(info: Option<&CertificateInfo>, fingerprint: &str) -> Recorded {
        match info.filter(|c| c.sha256_fingerprint == fingerprint) {
            None => Recorded::default(),
            Some(c) => Recorded {
                chain_verified: c.chain_verified,
                chain_sha256: c.chain_sha256.clone(),
                p12_sha256: c.p12_sha256.clone(),
                encryption: c.encryption.as_ref().map(RecordedEncryption::of),
            },
        }
    }
}

/// SHA-256 of a file's bytes, lower-case hex (`ChainSha256`, `P12Sha256`).
pub(crate) fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(bytes))
}

/// Reads what the folder holds of a request's certificate, without changing anything.
/// `recorded` says what the records hold of the certificate of a fingerprint (hex).
pub(crate) fn read(paths: &Paths, recorded: &dyn Fn(&str) -> Recorded) -> Live {
    // `.live` and `.live/NAME` are folders csrbatch made: a link there could lead the
    // writes out of the output folder.
    for dir in [paths.pair_dir.join(LIVE_DIR), paths.live.clone()] {
        match std::fs::symlink_metadata(&dir) {
            Ok(m) if m.is_dir() => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return read_flat(paths, recorded),
            Ok(_) => return Live::Unusable(format!("{} is not a folder", dir.display())),
            Err(e) => return Live::Unusable(format!("{}: {e}", dir.display())),
        }
    }
    let current = paths.live.join(CURRENT);
    let target = match std::fs::read_link(&current) {
        // Nothing switched yet: a first certificate's files are live, or none (an import
        // killed before its switch).
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return read_flat(paths, recorded),
        Err(e) => return Live::Unusable(format!("{}: {e}", current.display())),
        Ok(target) => target,
    };
    let name = match target.to_str() {
        Some(name) if is_generation_name(name) => name.to_owned(),
        _ => {
            return Live::Unusable(format!(
                "{} points to {}, not to a generation csrbatch wrote",
                current.display(),
                target.display()
            ));
        }
    };
    let dir = paths.live.join(&name);
    let meta = dir.join(META);
    let meta: CertificateInfo = match std::fs::read(&meta) {
        Ok(bytes) => match serde_json::from_slice(&bytes) {
            Ok(info) => info,
            Err(e) => return Live::Unusable(format!("{}: {e}", meta.display())),
        },
        Err(e) => return Live::Unusable(format!("{}: {e}", meta.display())),
    };
    let path = dir.join(LiveFile::Cert.in_generation());
    let cert = match read_cert(&path) {
        Ok(cert) if cert.sha256_fingerprint_hex().eq_ignore_ascii_case(&meta.sha256_fingerprint) => cert,
        Ok(_) => {
            let why = format!(
                "{} is not the certificate recorded in its meta.json (changed by hand?)",
                path.display()
            );
            return Live::Changed { why, recorded: Box::new(meta) };
        }
        Err(why) => return Live::Changed { why, recorded: Box::new(meta) },
    };
    // The certificate says when it is valid and for which key, so that a meta.json edited
    // by hand cannot put off its renewal; meta.json says what import did (the chain
    // verified, the digests, the .p12, the encryption pair), and names the rest as the
    // certificate it holds to does. A generation that an import before the digests were
    // recorded wrote has none in its meta.json; the records may (the same import again
    // records them).
    let recorded = recorded(&meta.sha256_fingerprint);
    let mut info = CertificateInfo {
        not_before: rfc3339(cert.not_before()),
        not_after: rfc3339(cert.not_after()),
        key_sha2: cert.spki_sha256_hex(),
        ..meta
    };
    info.chain_sha256 = info.chain_sha256.take().or(recorded.chain_sha256);
    if info.p12_file.is_some() {
        info.p12_sha256 = info.p12_sha256.take().or(recorded.p12_sha256);
    }
    if let Some(enc) = info.encryption.as_mut() {
        let same = recorded.encryption.filter(|r| r.sha256_fingerprint == enc.sha256_fingerprint);
        enc.chain_sha256 = enc.chain_sha256.take().or(same.and_then(|r| r.chain_sha256));
    }
    let has_key =
        std::fs::symlink_metadata(dir.join(LiveFile::Key.in_generation())).is_ok_and(|m| m.is_file());
    Live::Certified(Box::new(Generation { form: Form::Linked(name), info, has_key }))
}

/// A first certificate's files: `NAME.crt.pem` as a regular file says what is live (the
/// signing certificate is its own record; what import did with it, the records say: its
/// chain verified, the digests, the `.p12` and the encryption pair it came with). A link
/// or a folder there is no certificate of ours (a first import refuses it as in the way;
/// the records keep what they held of it, [`super::existing::Previous::lost_certificate`]).
fn read_flat(paths: &Paths, recorded: &dyn Fn(&str) -> Recorded) -> Live {
    let regular = |file: LiveFile| std::fs::symlink_metadata(paths.link(file)).is_ok_and(|m| m.is_file());
    let path = paths.link(LiveFile::Cert);
    let cert = match std::fs::symlink_metadata(&path) {
        Ok(m) if m.is_file() => match read_cert(&path) {
            Ok(cert) => cert,
            // (Import writes no file over it: removed, the certificate goes in again.)
            Err(why) => {
                return Live::Unusable(format!("{why}: remove it, then import the certificate again"));
            }
        },
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
            return Live::Unusable(format!("{}: {e}", path.display()));
        }
        // (A generation's link whose `.live` is gone, too: the records keep what they held
        // of it, and with its key gone as well, `--repair` makes a new pair.)
        _ => return Live::None,
    };
    // A certificate put there by hand is the live one all the same (unrecorded until an
    // import records it), but only if it is for the live key: NAME.csr.pem is always that
    // key's CSR (a KeyFile's too), and its public key is read without any crypto.
    // (A CSR that is missing or unreadable is the request's own damage, which generate
    // judges and repairs with a next pair, as for any certified request.)
    let csr = paths.csr();
    if let Some(key) = csr_key_sha2(&csr)
        && key != cert.spki_sha256_hex()
    {
        return Live::Unusable(format!(
            "{} is not a certificate for the key of {} (changed by hand?)",
            path.display(),
            csr.display()
        ));
    }
    let recorded = recorded(&cert.sha256_fingerprint_hex());
    let mut info = info_of(paths, &cert, recorded.chain_verified, recorded.chain_sha256.clone());
    // A .p12 the records hold stays the certificate's when it is gone or replaced by a
    // link: damaged (its digest is the file's no more), never silently dropped.
    if regular(LiveFile::P12) || recorded.p12_sha256.is_some() {
        info.p12_file = Some(paths.relative(LiveFile::P12));
        info.p12_sha256 = recorded.p12_sha256;
    }
    // Likewise the encryption pair the records hold with this certificate: another one
    // there, or its certificate gone or unreadable, is damaged (judged with the live
    // files), never silently taken or dropped. Without a record, the file says what it is.
    let file = regular(LiveFile::EncCert).then(|| read_cert(&paths.link(LiveFile::EncCert)));
    info.encryption = match (file, recorded.encryption) {
        (_, Some(recorded)) => Some(recorded.info(paths)),
        (Some(Ok(cert)), None) => Some(encryption_info_of(paths, &cert, None)),
        (Some(Err(why)), None) => return Live::Unusable(why),
        (None, None) => None,
    };
    Live::Certified(Box::new(Generation { form: Form::Flat, info, has_key: regular(LiveFile::Key) }))
}

/// The `KeySha2` of the CSR in a PEM file, if it holds one.
fn csr_key_sha2(path: &Path) -> Option<String> {
    csr_pem_key_sha2(&std::fs::read_to_string(path).ok()?)
}

/// The `KeySha2` of the CSR in PEM text, if it holds one.
pub(crate) fn csr_pem_key_sha2(pem: &str) -> Option<String> {
    use der::{Decode, Encode};
    first_der(pem, |label| label.ends_with("CERTIFICATE REQUEST"))
        .and_then(|der| x509_cert::request::CertReq::from_der(&der).ok())
        .and_then(|req| req.info.public_key.to_der().ok())
        .map(|spki| crate::crypto::key_sha2(&spki))
}

/// The first certificate of a PEM file.
fn read_cert(path: &Path) -> Result<Certificate, String> {
    let bytes = std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()))?;
    first_cert(path, &bytes).map_err(|why| format!("{why} (changed by hand?)"))
}

/// What summary.json records of a request's certificate `cert`, live under `paths`.
pub(crate) fn info_of(
    paths: &Paths,
    cert: &Certificate,
    chain_verified: bool,
    chain_sha256: Option<String>,
) -> CertificateInfo {
    CertificateInfo {
        serial: cert.serial_hex(),
        issuer: cert.issuer_text(),
        not_before: rfc3339(cert.not_before()),
        not_after: rfc3339(cert.not_after()),
        sha256_fingerprint: cert.sha256_fingerprint_hex(),
        key_sha2: cert.spki_sha256_hex(),
        cert_file: paths.relative(LiveFile::Cert),
        chain_file: paths.relative(LiveFile::Chain),
        fullchain_file: paths.relative(LiveFile::Fullchain),
        p12_file: None,
        p12_sha256: None,
        chain_verified,
        chain_sha256,
        encryption: None,
    }
}

/// What summary.json records of an SM2 request's encryption certificate.
pub(crate) fn encryption_info_of(
    paths: &Paths,
    cert: &Certificate,
    chain_sha256: Option<String>,
) -> EncryptionInfo {
    RecordedEncryption {
        serial: cert.serial_hex(),
        not_after: rfc3339(cert.not_after()),
        sha256_fingerprint: cert.sha256_fingerprint_hex(),
        chain_sha256,
    }
    .info(paths)
}

/// The DER of the first well-formed PEM block whose label `wanted` takes.
fn first_der(pem: &str, wanted: impl Fn(&str) -> bool) -> Option<zeroize::Zeroizing<Vec<u8>>> {
    crate::crypto::pem::blocks(pem).filter_map(Result::ok).find(|b| wanted(&b.label)).map(|b| b.der)
}

/// The names csrbatch gives generations: [`utc_stamp`]s.
fn is_generation_name(name: &str) -> bool {
    name.len() > 16
        && name.ends_with('Z')
        && name.bytes().all(|b| b.is_ascii_digit() || b == b'T' || b == b'Z' || b == b'.')
}

/// A generation to put live.
#[derive(Debug)]
pub(crate) struct NewGeneration {
    /// The key file to hard-link into it (a real file, not a link); `None` for a
    /// `KeyFile` request, whose key stays the user's.
    pub(crate) key: Option<PathBuf>,
    pub(crate) cert_pem: String,
    pub(crate) chain_pem: String,
    pub(crate) fullchain_pem: String,
    pub(crate) p12: Option<Vec<u8>>,
    /// SM2: the encryption pair (key PEM as the folder stores keys, leaf, full chain).
    pub(crate) encryption: Option<EncryptionPair>,
    pub(crate) info: CertificateInfo,
}

/// An SM2 encryption pair of a generation.
#[derive(Debug)]
pub(crate) struct EncryptionPair {
    pub(crate) key_pem: zeroize::Zeroizing<String>,
    pub(crate) cert_pem: String,
    pub(crate) fullchain_pem: String,
}

impl NewGeneration {
    fn has(&self, file: LiveFile) -> bool {
        match file {
            LiveFile::Key => self.key.is_some(),
            LiveFile::P12 => self.p12.is_some(),
            f if f.is_encryption() => self.encryption.is_some(),
            _ => true,
        }
    }

    /// The files it writes (every one but the key, which is linked), the leaf first.
    fn contents(&self) -> impl Iterator<Item = (LiveFile, &[u8])> {
        let enc = self.encryption.as_ref();
        [
            (LiveFile::Cert, Some(self.cert_pem.as_bytes())),
            (LiveFile::Chain, Some(self.chain_pem.as_bytes())),
            (LiveFile::Fullchain, Some(self.fullchain_pem.as_bytes())),
            (LiveFile::P12, self.p12.as_deref()),
            (LiveFile::EncKey, enc.map(|e| e.key_pem.as_bytes())),
            (LiveFile::EncCert, enc.map(|e| e.cert_pem.as_bytes())),
            (LiveFile::EncFullchain, enc.map(|e| e.fullchain_pem.as_bytes())),
        ]
        .into_iter()
        .filter_map(|(file, bytes)| Some((file, bytes?)))
    }

    /// After its flat files were adopted into a generation: a key that was `NAME.key.pem`
    /// (a link now) is linked from that generation's `key.pem`.
    pub(crate) fn adopted(&mut self, paths: &Paths) {
        if self.key.as_ref() == Some(&paths.link(LiveFile::Key)) {
            self.key = Some(paths.live_file(LiveFile::Key));
        }
    }
}

/// A first certificate's files, staged (written, not yet in place): [`place`] them after
/// a sync of the file system. `None` when what is live cannot take them as new files
/// beside the CSR (`.live/NAME` is there, or a file there holds other bytes, or a link,
/// or the key is not `NAME.key.pem`): then the generation goes in through [`adopt`] (if
/// what is live is flat) and [`prepare`], which refuses what is in the way. A file that
/// is already there with the same bytes (a killed import) is kept.
pub(crate) fn stage_flat(paths: &Paths, new: &NewGeneration) -> Result<Option<Vec<Staged>>, IoError> {
    if paths.has_live_dir() || new.key.as_ref().is_some_and(|k| *k != paths.link(LiveFile::Key)) {
        return Ok(None);
    }
    let mut wanted = Vec::new();
    for (file, bytes) in new.contents() {
        let path = paths.link(file);
        match std::fs::symlink_metadata(&path) {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => wanted.push((file, path, bytes)),
            Err(e) => return Err(IoError::new(&path, e)),
            Ok(m) if m.is_file() && m.len() == bytes.len() as u64 => {
                if std::fs::read(&path).map_err(|e| IoError::new(&path, e))? != bytes {
                    return Ok(None);
                }
            }
            Ok(_) => return Ok(None),
        }
    }
    wanted
        .into_iter()
        .map(|(file, path, bytes)| atomic::stage(&path, bytes, file.mode(), Replace::Never))
        .collect::<Result<_, _>>()
        .map(Some)
}

/// Puts staged flat files in place, the leaf first (the caller synced the file system
/// since they were staged, and syncs again after).
pub(crate) fn place(staged: Vec<Staged>) -> Result<(), IoError> {
    staged.into_iter().try_for_each(atomic::place)
}

/// The first step of changing a flat generation: the same files, hard-linked into a
/// generation folder with its meta.json (nothing else changes). Then [`switch`] and
/// [`link`], each after a sync, turn every name beside the CSR into the link to the very
/// same inode, so the bytes a server reads never change; then the new generation goes in.
/// `with_key`: `NAME.key.pem` is the request's key (not a `KeyFile` that names it, which
/// stays the user's regular file).
pub(crate) fn adopt(
    paths: &Paths,
    flat: &Generation,
    with_key: bool,
    archive: &Archive,
) -> Result<Prepared, IoError> {
    let (dir, stamp, before) = new_generation_dir(paths, archive)?;
    let mut files = [false; 8];
    for (i, file) in LiveFile::ALL.into_iter().enumerate() {
        if file == LiveFile::Key && !with_key {
            continue;
        }
        let from = paths.link(file);
        if !std::fs::symlink_metadata(&from).is_ok_and(|m| m.is_file()) {
            continue;
        }
        let dest = dir.join(file.in_generation());
        std::fs::hard_link(&from, &dest).map_err(|e| IoError::new(&dest, e))?;
        files[i] = true;
    }
    let meta = serde_json::to_vec_pretty(&flat.info).map_err(|e| IoError::other(dir.join(META), e))?;
    write_new(&dir.join(META), &meta, PUBLIC_MODE)?;
    Ok(Prepared { paths: paths.clone(), stamp, before, files })
}

/// `.live/NAME/<stamp>`, made new: `.live` and `.live/NAME` checked to be folders (not
/// links), leftovers of a killed install moved to the archive. Also what `current` points
/// to now.
fn new_generation_dir(
    paths: &Paths,
    archive: &Archive,
) -> Result<(PathBuf, String, Option<PathBuf>), IoError> {
    std::fs::create_dir_all(&paths.live).map_err(|e| IoError::new(&paths.live, e))?;
    for dir in [paths.pair_dir.join(LIVE_DIR), paths.live.clone()] {
        if !std::fs::symlink_metadata(&dir).is_ok_and(|m| m.is_dir()) {
            return Err(IoError::other(&dir, "not a folder (a link?): move it away first"));
        }
    }
    let before = std::fs::read_link(paths.live.join(CURRENT)).ok();
    sweep(paths, before.as_deref(), archive)?;
    let stamp = utc_stamp();
    let dir = paths.live.join(&stamp);
    std::fs::create_dir(&dir).map_err(|e| IoError::new(&dir, e))?;
    Ok((dir, stamp, before))
}

/// A generation written into its folder, not yet live: what [`switch`] and [`link`] need.
/// Putting many generations live is three passes, each followed by one sync of the file
/// system for the whole batch ([`atomic::sync_folders`]): [`prepare`] each (the new
/// generation's files), [`switch`] each (`current`), [`link`] each (the names beside the
/// CSR, and the old generation into the archive). A kill between passes leaves every
/// request's `current` on a complete generation, old or new.
#[derive(Debug)]
pub(crate) struct Prepared {
    paths: Paths,
    stamp: String,
    before: Option<PathBuf>,
    files: [bool; 8],
}

/// Writes a new generation beside the live one (made durable by the caller's sync before
/// [`switch`]). Refuses, before writing anything, a file beside the CSR that is in the
/// way of a link: anything but csrbatch's link, or (the key before its first import) the
/// very key file the generation links. Leftovers of a killed install go to the archive.
pub(crate) fn prepare(paths: &Paths, new: &NewGeneration, archive: &Archive) -> Result<Prepared, IoError> {
    for file in LiveFile::ALL.into_iter().filter(|f| new.has(*f)) {
        in_the_way(paths, file, new.key.as_deref())?;
    }
    let (dir, stamp, before) = new_generation_dir(paths, archive)?;
    if let Some(key) = &new.key {
        let dest = dir.join(LiveFile::Key.in_generation());
        std::fs::hard_link(key, &dest).map_err(|e| IoError::new(&dest, e))?;
    }
    let meta = serde_json::to_vec_pretty(&new.info).map_err(|e| IoError::other(dir.join(META), e))?;
    write_new(&dir.join(META), &meta, PUBLIC_MODE)?;
    for (file, bytes) in new.contents() {
        write_new(&dir.join(file.in_generation()), bytes, file.mode())?;
    }
    let files = LiveFile::ALL.map(|f| new.has(f));
    Ok(Prepared { paths: paths.clone(), stamp, before, files })
}

impl Prepared {
    /// The new generation's folder name.
    pub(crate) fn stamp(&self) -> &str {
        &self.stamp
    }
}

/// Makes the prepared generation the live one: one rename of a new `current` link. The
/// caller syncs the file system after the batch.
pub(crate) fn switch(prepared: &Prepared) -> Result<(), IoError> {
    let target = Path::new(&prepared.stamp);
    match prepared.before {
        // Nothing live yet: the link is made where nothing is (a kill leaves no half).
        None => new_link(&prepared.paths.live.join(CURRENT), target),
        Some(_) => replace_link(&prepared.paths.live, CURRENT, target),
    }
}

/// A new link at `path`, where nothing may be (the caller syncs).
fn new_link(path: &Path, target: &Path) -> Result<(), IoError> {
    std::os::unix::fs::symlink(target, path).map_err(|e| IoError::new(path, e))
}

/// After the switch: the links beside the CSR where they are missing (a first import:
/// the key file becomes its link with one rename), a `.p12` link the new generation has
/// not removed, and the generation that was live moved into the archive.
pub(crate) fn link(prepared: &Prepared, archive: &Archive) -> Result<(), IoError> {
    let paths = &prepared.paths;
    for (file, present) in LiveFile::ALL.into_iter().zip(prepared.files) {
        if present {
            ensure_link(paths, file, archive)?;
        } else {
            remove_own_link(paths, file)?;
        }
    }
    if let Some(old) = prepared.before.as_ref().filter(|old| old.as_os_str() != prepared.stamp.as_str()) {
        archive.take_as(&paths.live.join(old), &format!("{}.{}", paths.name, old.display()))?;
    }
    Ok(())
}

/// [`prepare`], [`switch`] and [`link`] for one generation, each made durable.
#[cfg(test)]
pub(crate) fn install(paths: &Paths, new: &NewGeneration, archive: &Archive) -> Result<(), IoError> {
    let prepared = prepare(paths, new, archive)?;
    atomic::sync_folders(&paths.pair_dir)?;
    switch(&prepared)?;
    atomic::sync_folders(&paths.pair_dir)?;
    link(&prepared, archive)?;
    atomic::sync_folders(&paths.pair_dir)
}

/// A new file with exactly `mode` (whatever the umask), never through a link.
fn write_new(path: &Path, bytes: &[u8], mode: u32) -> Result<(), IoError> {
    use std::io::Write;
    use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
    let io = |e| IoError::new(path, e);
    let mut file =
        std::fs::OpenOptions::new().write(true).create_new(true).mode(mode).open(path).map_err(io)?;
    file.set_permissions(std::fs::Permissions::from_mode(mode)).map_err(io)?;
    file.write_all(bytes).map_err(io)
}

/// Refuses a file at `NAME.X` that the link would replace and that is not csrbatch's:
/// another link, a folder, or a regular file (but the key file the generation is made of).
fn in_the_way(paths: &Paths, file: LiveFile, key: Option<&Path>) -> Result<(), IoError> {
    use std::os::unix::fs::MetadataExt;
    let path = paths.link(file);
    let meta = match std::fs::symlink_metadata(&path) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(IoError::new(&path, e)),
        Ok(meta) => meta,
    };
    if meta.file_type().is_symlink() {
        let now = std::fs::read_link(&path).map_err(|e| IoError::new(&path, e))?;
        return if now == paths.target(file) {
            Ok(())
        } else {
            Err(IoError::other(
                &path,
                format!("a link to {}, not csrbatch's: move it away first", now.display()),
            ))
        };
    }
    let the_key = file == LiveFile::Key
        && meta.is_file()
        && key
            .and_then(|k| std::fs::metadata(k).ok())
            .is_some_and(|k| (k.dev(), k.ino()) == (meta.dev(), meta.ino()));
    if the_key {
        return Ok(());
    }
    Err(IoError::other(&path, "is in the way of the certificate's link (not csrbatch's): move it away first"))
}

/// Moves into the archive every generation that is not live (one a killed install left).
fn sweep(paths: &Paths, live: Option<&Path>, archive: &Archive) -> Result<(), IoError> {
    let entries = std::fs::read_dir(&paths.live).map_err(|e| IoError::new(&paths.live, e))?;
    for entry in entries {
        let entry = entry.map_err(|e| IoError::new(&paths.live, e))?;
        let name = entry.file_name();
        let Some(name) = name.to_str() else { continue };
        if name.starts_with(atomic::TMP_PREFIX) {
            std::fs::remove_file(entry.path()).map_err(|e| IoError::new(entry.path(), e))?;
        } else if is_generation_name(name) && live.is_none_or(|l| l.as_os_str() != name) {
            archive.take_as(&entry.path(), &format!("{}.{name}", paths.name))?;
        }
    }
    Ok(())
}

/// Points `dir/link` at `target` with one rename of a new link over it (the caller syncs).
fn replace_link(dir: &Path, link: &str, target: &Path) -> Result<(), IoError> {
    let tmp = dir.join(format!("{}{link}-{}", atomic::TMP_PREFIX, uuid::Uuid::new_v4().simple()));
    std::os::unix::fs::symlink(target, &tmp).map_err(|e| IoError::new(&tmp, e))?;
    let dest = dir.join(link);
    if let Err(e) = std::fs::rename(&tmp, &dest) {
        let _ = std::fs::remove_file(&tmp);
        return Err(IoError::new(&dest, e));
    }
    Ok(())
}

/// Makes `NAME.X` the link into the live generation. A regular file there that is the
/// live generation's (a flat file adopted, or the key before the first import) becomes the
/// link in one rename, its bytes unchanged; another key file is linked into the archive
/// first; anything else that is not the link is refused.
fn ensure_link(paths: &Paths, file: LiveFile, archive: &Archive) -> Result<(), IoError> {
    let path = paths.link(file);
    let target = paths.target(file);
    match std::fs::symlink_metadata(&path) {
        Ok(m) if m.file_type().is_symlink() => {
            let now = std::fs::read_link(&path).map_err(|e| IoError::new(&path, e))?;
            if now == target {
                return Ok(());
            }
            return Err(IoError::other(&path, format!("a link to {}, not csrbatch's", now.display())));
        }
        // The generation holds the same inode (a hard link), so nothing is lost when its
        // name becomes the link. Any other key file is kept.
        Ok(m) if m.is_file() => {
            use std::os::unix::fs::MetadataExt;
            let generation = std::fs::metadata(paths.live_file(file)).map_err(|e| IoError::new(&path, e))?;
            if (m.dev(), m.ino()) != (generation.dev(), generation.ino()) {
                if file != LiveFile::Key {
                    return Err(IoError::other(&path, "is in the way of the certificate's file"));
                }
                archive.keep(&path)?;
            }
        }
        Ok(_) => return Err(IoError::other(&path, "is in the way of the certificate's file")),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return new_link(&path, &target),
        Err(e) => return Err(IoError::new(&path, e)),
    }
    let name = format!("{}{}", paths.name, file.suffix());
    replace_link(&paths.pair_dir, &name, &target)
}

/// Removes `NAME.X` if it is csrbatch's link (a `.p12` that the new generation has not).
fn remove_own_link(paths: &Paths, file: LiveFile) -> Result<(), IoError> {
    let path = paths.link(file);
    match std::fs::read_link(&path) {
        Ok(now) if now == paths.target(file) => {
            std::fs::remove_file(&path).map_err(|e| IoError::new(&path, e))
        }
        _ => Ok(()),
    }
}

/// `--prune` of a certified request that no manifest asks for any more: its generations
/// (keys and certificates) move into the archive as `NAME.live/`, a waiting `next` pair
/// with them, and the links beside the CSR, which point into what moved, are removed.
/// A kill part way leaves the CSR, so the next `--prune` finds the request again.
/// A first certificate's files (flat) move into the archive by their own names, the key
/// with the CSR. Returns the archived `NAME.live` when there was one.
pub(crate) fn retire(paths: &Paths, archive: &Archive) -> Result<Option<String>, IoError> {
    // NAME.crt.pem last: while it is there, a killed prune is found again.
    for file in LiveFile::ALL.into_iter().filter(|f| *f != LiveFile::Cert).chain([LiveFile::Cert]) {
        remove_own_link(paths, file)?;
        let path = paths.link(file);
        if file != LiveFile::Key && std::fs::symlink_metadata(&path).is_ok_and(|m| m.is_file()) {
            archive.take(&path)?;
        }
    }
    for next in [paths.next_csr(), paths.next_key()] {
        if std::fs::symlink_metadata(&next).is_ok() {
            archive.take(&next)?;
        }
    }
    let live = paths.has_live_dir().then(|| format!("{}.live", paths.name));
    if let Some(name) = &live {
        archive.take_as(&paths.live, name)?;
    }
    atomic::sync_dir(&paths.pair_dir)?;
    Ok(live)
}

/// Makes the links of the live generation that are missing (a first import killed
/// between its switch and its links).
/// Nothing for a flat generation: its missing files come from the certificate's import.
pub(crate) fn complete(paths: &Paths, generation: &Generation, archive: &Archive) -> Result<(), IoError> {
    if generation.form == Form::Flat {
        return Ok(());
    }
    for file in LiveFile::ALL {
        if wanted(generation, file) {
            ensure_link(paths, file, archive)?;
        }
    }
    atomic::sync_folders(&paths.pair_dir)
}

fn wanted(generation: &Generation, file: LiveFile) -> bool {
    match file {
        LiveFile::Key => generation.has_key,
        LiveFile::P12 => generation.info.p12_file.is_some(),
        f if f.is_encryption() => generation.info.encryption.is_some(),
        _ => true,
    }
}

/// What a copy of a request's certificate into another folder (`merge --collect`) takes:
/// the live generation's files as `from` holds them (read through `current`, never
/// through a name beside the CSR), each with where it goes in the copy as a regular file
/// (a first certificate's form: the copy has no generations of its own) and whether it
/// is secret (mode 0600). Refused, with the reason, unless the live certificate is the
/// one `recorded` and every file of it is in place, so that a copy is never of a half.
pub(crate) fn copies(
    from: &Paths,
    to: &Paths,
    recorded: &CertificateInfo,
) -> Result<Vec<(PathBuf, PathBuf, bool)>, String> {
    let generation = match read(from, &|fingerprint| Recorded::of(Some(recorded), fingerprint)) {
        Live::Certified(g) => g,
        Live::None => return Err(format!("{} is not there", from.link(LiveFile::Cert).display())),
        Live::Unusable(why) | Live::Changed { why, .. } => return Err(why),
    };
    if generation.info.sha256_fingerprint != recorded.sha256_fingerprint {
        return Err(format!(
            "the live certificate (serial {}) is not the one its summary.json records (serial {})",
            generation.info.serial, recorded.serial
        ));
    }
    // (An import that switched in a new encryption pair and was killed before it wrote
    // summary.json leaves the records naming the old one.)
    let fingerprint = |info: &CertificateInfo| info.encryption.as_ref().map(|e| e.sha256_fingerprint.clone());
    if fingerprint(&generation.info) != fingerprint(recorded) {
        return Err(format!(
            "the live encryption certificate ({}) is not the one its summary.json records ({})",
            generation.info.encryption.as_ref().map_or("none".into(), |e| format!("serial {}", e.serial)),
            recorded.encryption.as_ref().map_or("none".into(), |e| format!("serial {}", e.serial)),
        ));
    }
    if let Some((_, path)) = broken_link(from, &generation) {
        return Err(format!("{} is not the live certificate's file", path.display()));
    }
    if !whole(from, &generation) {
        return Err("its live generation lacks files (an import was killed: run it again)".into());
    }
    // (An encrypted encryption key is not opened: merge has no passphrase.)
    if let Some(damage) = damage(from, &generation, None, true) {
        return Err(format!("{} (changed by hand?)", damage.why()));
    }
    Ok(LiveFile::ALL
        .into_iter()
        .filter(|f| wanted(&generation, *f))
        .map(|f| (generation.file(from, f), to.link(f), f.mode() == KEY_MODE))
        .collect())
}

/// Whether every file of the live generation is there (the names beside the CSR may still
/// be missing links: [`complete`] makes them). A generation adopted from a first import
/// that a kill left incomplete lacks some, until a whole one replaces it.
pub(crate) fn whole(paths: &Paths, generation: &Generation) -> bool {
    LiveFile::ALL
        .into_iter()
        .filter(|f| wanted(generation, *f))
        .all(|f| std::fs::metadata(generation.file(paths, f)).is_ok_and(|m| m.is_file()))
}

/// Whether the live generation's `files` are there as regular files holding these bytes.
pub(crate) fn files_are(paths: &Paths, generation: &Generation, files: &[(LiveFile, &str)]) -> bool {
    files.iter().all(|(file, text)| {
        let path = generation.file(paths, *file);
        std::fs::symlink_metadata(&path).is_ok_and(|m| m.is_file())
            && std::fs::read(&path).is_ok_and(|bytes| bytes == text.as_bytes())
    })
}

/// A live file of the generation, read through `current`, and the name servers read it
/// by (the links are in place), which messages give.
fn read_served(paths: &Paths, generation: &Generation, file: LiveFile) -> Result<(PathBuf, Vec<u8>), String> {
    let named = paths.link(file);
    std::fs::read(generation.file(paths, file))
        .map(|bytes| (named.clone(), bytes))
        .map_err(|e| format!("{}: {e}", named.display()))
}

fn not_followed(full: &Path, leaf: &Path, chain: &Path) -> String {
    format!("{} is not {} followed by {}", full.display(), leaf.display(), chain.display())
}

/// Whether `chain`, the chain in the file `path`, holds the bytes recorded of it
/// (`ChainSha256`), when they were recorded.
fn as_recorded(path: &Path, chain: &[u8], recorded: Option<&String>) -> Result<(), String> {
    match recorded {
        Some(digest) if sha256_hex(chain) != *digest => {
            Err(format!("{} does not hold the chain imported with the certificate", path.display()))
        }
        _ => Ok(()),
    }
}

/// Why the files a server reads of the live generation's signing certificate do not hold
/// together, if they do not (changed by hand): `NAME.fullchain.pem` is `NAME.crt.pem`
/// then `NAME.chain.pem` byte for byte, as import writes them, and `NAME.chain.pem` is
/// the leaf's issuer toward the root, each a CA named by the one before, and holds the
/// bytes recorded of it (`ChainSha256`), so that one emptied or swapped in both files
/// alike is seen too. Names and key identifiers only: the signatures were verified at
/// import, and verifying them again would cost `--check` a quarter more time. (An SM2
/// encryption pair's files: [`encryption_pair_damage`].)
pub(crate) fn served_files(paths: &Paths, generation: &Generation) -> Option<String> {
    let check = || -> Result<(), String> {
        let (leaf_path, leaf) = read_served(paths, generation, LiveFile::Cert)?;
        let (chain_path, chain) = read_served(paths, generation, LiveFile::Chain)?;
        let (full_path, full) = read_served(paths, generation, LiveFile::Fullchain)?;
        if full.len() != leaf.len() + chain.len() || !full.starts_with(&leaf) || !full.ends_with(&chain) {
            return Err(not_followed(&full_path, &leaf_path, &chain_path));
        }
        chain_of(&first_cert(&leaf_path, &leaf)?, &chain_path, &chain)?;
        as_recorded(&chain_path, &chain, generation.info.chain_sha256.as_ref())
    };
    check().err()
}

/// What of a live generation (its links in place) is not as import left it, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Damage {
    /// The files a server reads of the signing certificate ([`served_files`]).
    Served(String),
    /// `NAME.p12` ([`p12_damage`]).
    P12(String),
    /// The SM2 encryption pair ([`encryption_pair_damage`]).
    EncryptionPair(String),
}

impl Damage {
    /// `why` as the damage of `file` (one of those the kind covers).
    pub(crate) fn of_file(file: LiveFile, why: String) -> Damage {
        match file {
            LiveFile::P12 => Damage::P12(why),
            f if f.is_encryption() => Damage::EncryptionPair(why),
            _ => Damage::Served(why),
        }
    }

    pub(crate) fn why(&self) -> &str {
        match self {
            Damage::Served(why) | Damage::P12(why) | Damage::EncryptionPair(why) => why,
        }
    }
}

/// The first damage of a live generation, its served files first (see
/// [`encryption_pair_damage`] for `passphrase` and `sealed_unjudged`).
pub(crate) fn damage(
    paths: &Paths,
    generation: &Generation,
    passphrase: Option<&crate::crypto::Passphrase>,
    sealed_unjudged: bool,
) -> Option<Damage> {
    served_files(paths, generation)
        .map(Damage::Served)
        .or_else(|| p12_damage(paths, generation).map(Damage::P12))
        .or_else(|| {
            encryption_pair_damage(paths, generation, passphrase, sealed_unjudged).map(Damage::EncryptionPair)
        })
}

/// Why the live `NAME.p12` is not the one import wrote (`P12Sha256`), if it is not:
/// Tomcat and IIS read it, and its content is sealed by its passphrase, so its bytes are
/// what is held. Nothing for a `.p12` whose digest was not recorded.
pub(crate) fn p12_damage(paths: &Paths, generation: &Generation) -> Option<String> {
    let recorded = generation.info.p12_sha256.as_ref()?;
    let named = paths.link(LiveFile::P12);
    match std::fs::read(generation.file(paths, LiveFile::P12)) {
        Ok(bytes) if sha256_hex(&bytes) == *recorded => None,
        Ok(_) => Some(format!("{} is not the one imported with the certificate", named.display())),
        Err(e) => Some(format!("{}: {e}", named.display())),
    }
}

/// Why the live SM2 encryption pair is not the one imported, if it is not (changed by
/// hand, or damaged):
/// - `NAME.enc.crt.pem` is the certificate recorded (a linked generation's `meta.json`,
///   or summary.json for a first certificate), so that a whole pair swapped for another
///   the CA issued, which holds together, is seen too;
/// - `NAME.enc.fullchain.pem` is that certificate then its chain, which is
///   `NAME.chain.pem` when it has the signing certificate's issuer (import builds both
///   from the same certificates), and holds the bytes recorded of it (`ChainSha256`);
/// - `NAME.enc.key.pem` is its key: the CA made that key, and no other file holds it. An
///   encrypted key is opened with the folder's passphrase. Without one,
///   `sealed_unjudged` says whether an encrypted key passes unjudged (import into a
///   folder of encrypted keys, which holds such keys to the records) or cannot be read (a
///   folder of plain keys: import writes its encryption keys as the folder's keys are,
///   and generate runs without a passphrase only there).
pub(crate) fn encryption_pair_damage(
    paths: &Paths,
    generation: &Generation,
    passphrase: Option<&crate::crypto::Passphrase>,
    sealed_unjudged: bool,
) -> Option<String> {
    use super::folder::KeyProtection;
    let recorded = generation.info.encryption.as_ref()?;
    let judge = || -> Result<(), String> {
        let (leaf_path, leaf_pem) = read_served(paths, generation, LiveFile::EncCert)?;
        let leaf = first_cert(&leaf_path, &leaf_pem)?;
        if !leaf.sha256_fingerprint_hex().eq_ignore_ascii_case(&recorded.sha256_fingerprint) {
            return Err(format!(
                "{} is not the encryption certificate imported with the certificate",
                leaf_path.display()
            ));
        }
        let (full_path, full) = read_served(paths, generation, LiveFile::EncFullchain)?;
        let Some(rest) = full.strip_prefix(leaf_pem.as_slice()) else {
            return Err(format!("{} does not begin with {}", full_path.display(), leaf_path.display()));
        };
        let (chain_path, chain) = read_served(paths, generation, LiveFile::Chain)?;
        let signing_issuer = first_cert(&chain_path, &chain).ok();
        if signing_issuer.is_some_and(|issuer| leaf.names_as_issuer(&issuer)) {
            if rest != chain.as_slice() {
                return Err(not_followed(&full_path, &leaf_path, &chain_path));
            }
        } else {
            chain_of(&leaf, &full_path, rest)?;
        }
        as_recorded(&full_path, rest, recorded.chain_sha256.as_ref())?;
        let named = paths.link(LiveFile::EncKey);
        let pem = std::fs::read_to_string(generation.file(paths, LiveFile::EncKey))
            .map_err(|e| format!("{}: {e}", named.display()))?;
        if sealed_unjudged
            && passphrase.is_none()
            && KeyProtection::of_pem(&pem) == Some(KeyProtection::Encrypted)
        {
            return Ok(());
        }
        let key = crate::crypto::PrivateKey::from_pkcs8_pem_any(&pem, passphrase)
            .map_err(|e| format!("{}: {e}", named.display()))?;
        if key.public_key_der() == leaf.spki_der() {
            Ok(())
        } else {
            Err(format!("{} is not the key of {}", named.display(), leaf_path.display()))
        }
    };
    judge().err()
}

/// The first certificate of the PEM `bytes` of the file `path`.
fn first_cert(path: &Path, bytes: &[u8]) -> Result<Certificate, String> {
    std::str::from_utf8(bytes)
        .ok()
        .and_then(|pem| first_der(pem, |label| label == "CERTIFICATE"))
        .and_then(|der| Certificate::from_der(&der).ok())
        .ok_or_else(|| no_certificate(path))
}

fn no_certificate(path: &Path) -> String {
    format!("{} holds no certificate csrbatch can read", path.display())
}

/// The certificates of `chain` (PEM, the text of `path`) if it is the chain of `leaf`:
/// every block a certificate, each a CA that the one before names as its issuer.
fn chain_of(leaf: &Certificate, path: &Path, chain: &[u8]) -> Result<Vec<Certificate>, String> {
    let text = std::str::from_utf8(chain).map_err(|_| no_certificate(path))?;
    if text.trim().is_empty() {
        return Ok(Vec::new());
    }
    let mut certs: Vec<Certificate> = Vec::new();
    for block in crate::crypto::pem::blocks(text) {
        let at = |what: String| format!("{}: certificate {} {what}", path.display(), certs.len() + 1);
        let cert = match block {
            Ok(b) if b.label == "CERTIFICATE" => {
                Certificate::from_der(&b.der).map_err(|e| at(format!("cannot be read: {e}")))?
            }
            Ok(b) => return Err(at(format!("is a {}, not a certificate", b.label))),
            Err(e) => return Err(at(format!("cannot be read: {e}"))),
        };
        let child = certs.last().unwrap_or(leaf);
        if !child.names_as_issuer(&cert) {
            return Err(at(format!(
                "({}) is not the issuer of {}",
                cert.subject_text(),
                child.subject_text()
            )));
        }
        if !cert.is_ca() {
            return Err(at(format!("({}) is not a CA certificate", cert.subject_text())));
        }
        certs.push(cert);
    }
    if certs.is_empty() {
        return Err(no_certificate(path));
    }
    Ok(certs)
}

/// Whether every link of the live generation is in place (a first import killed between
/// the switch and the links leaves some missing; the next import makes them).
pub(crate) fn links_complete(paths: &Paths, generation: &Generation) -> bool {
    broken_link(paths, generation).is_none()
}

/// The first file beside the CSR that is not the link into the live generation it should
/// be (missing, or replaced by something else), or for a flat one, not a regular file.
pub(crate) fn broken_link(paths: &Paths, generation: &Generation) -> Option<(LiveFile, PathBuf)> {
    LiveFile::ALL.into_iter().filter(|f| wanted(generation, *f)).map(|f| (f, paths.link(f))).find_map(
        |(f, path)| {
            // A link must lead to a file (an adopted generation may lack one that a kill
            // kept from the first import).
            let ours = match generation.form {
                Form::Flat => std::fs::symlink_metadata(&path).is_ok_and(|m| m.is_file()),
                Form::Linked(_) => paths.is_own_link_to_a_file(f),
            };
            (!ours).then_some((f, path))
        },
    )
}

/// After a promotion: the next CSR becomes `NAME.csr.pem` (the one it replaces is linked
/// into the archive first) and the next key, now the generation's, leaves its waiting name
/// for the archive. Nothing happens when no next pair is there. The caller syncs.
pub(crate) fn promote_csr(paths: &Paths, archive: &Archive) -> Result<(), IoError> {
    let (next_csr, csr, next_key) = (paths.next_csr(), paths.csr(), paths.next_key());
    if std::fs::symlink_metadata(&next_csr).is_ok() {
        if std::fs::symlink_metadata(&csr).is_ok() {
            archive.keep(&csr)?;
        }
        std::fs::rename(&next_csr, &csr).map_err(|e| IoError::new(&csr, e))?;
    }
    if std::fs::symlink_metadata(&next_key).is_ok() {
        archive.take(&next_key)?;
    }
    Ok(())
}

/// Moves into the archive the certificate files left of a request whose new pair
/// replaces one that had lost its key (`--repair`): they are of the old key (a `.p12` holds
/// it: moved, never deleted), and a first import of the new pair's certificate would find
/// them in its way. The key itself is the caller's to keep (it is replaced, a dangling
/// link too). The SM2 encryption files only with `encryption` (the request had them; they
/// are otherwise a request called `NAME.enc`'s). Adds the names moved, relative to the
/// output folder, to `moved`, so that a failure part way still records those.
pub(crate) fn retire_stale(
    paths: &Paths,
    archive: &Archive,
    encryption: bool,
    moved: &mut Vec<String>,
) -> Result<(), IoError> {
    for file in LiveFile::ALL {
        if file == LiveFile::Key || (file.is_encryption() && !encryption) {
            continue;
        }
        let path = paths.link(file);
        if std::fs::symlink_metadata(&path).is_ok() {
            archive.take(&path)?;
            moved.push(paths.relative(file));
        }
    }
    Ok(())
}

/// Whether the folder `pair_dir` holds a certificate for `name` (generations, or a first
/// one's `NAME.crt.pem`): its `NAME.next.*` files are then that request's, not a request
/// called `NAME.next`.
pub(crate) fn is_certified(pair_dir: &Path, name: &str) -> bool {
    std::fs::symlink_metadata(pair_dir.join(LIVE_DIR).join(name)).is_ok_and(|m| m.is_dir())
        || std::fs::symlink_metadata(pair_dir.join(format!("{name}{}", LiveFile::Cert.suffix())))
            .is_ok_and(|m| m.is_file())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::output::{Opening, OutputDir};

    /// SHA-256 of the DER of the first `CERTIFICATE` block, lower-case hex.
    fn pem_fingerprint(pem: &str) -> Option<String> {
        first_der(pem, |label| label == "CERTIFICATE").map(|der| sha256_hex(&der))
    }

    fn pem(body: &[u8]) -> String {
        use base64ct::Encoding;
        format!(
            "-----BEGIN CERTIFICATE-----\n{}\n-----END CERTIFICATE-----\n",
            base64ct::Base64::encode_string(body)
        )
    }

    fn info(paths: &Paths, cert: &str, key: &str) -> CertificateInfo {
        CertificateInfo {
            serial: "01".into(),
            issuer: "CN=Test CA".into(),
            not_before: "2026-01-01T00:00:00Z".into(),
            not_after: "2027-01-01T00:00:00Z".into(),
            sha256_fingerprint: pem_fingerprint(cert).unwrap(),
            key_sha2: key.into(),
            cert_file: paths.relative(LiveFile::Cert),
            chain_file: paths.relative(LiveFile::Chain),
            fullchain_file: paths.relative(LiveFile::Fullchain),
            p12_file: None,
            p12_sha256: None,
            chain_verified: false,
            chain_sha256: None,
            encryption: None,
        }
    }

    fn generation(paths: &Paths, key: Option<&Path>, cert: &str) -> NewGeneration {
        NewGeneration {
            key: key.map(Path::to_path_buf),
            cert_pem: cert.into(),
            chain_pem: String::new(),
            fullchain_pem: cert.into(),
            p12: None,
            encryption: None,
            info: info(paths, cert, "k"),
        }
    }

    #[test]
    fn a_first_import_links_the_key_and_a_promotion_switches_key_and_certificate_together() {
        let dir = tempfile::tempdir().unwrap();
        let out = OutputDir::open(dir.path(), &Opening::default()).unwrap();
        let archive = Archive::new(&out, "T");
        let paths = Paths::new(dir.path(), Layout::Flat, "web");
        std::fs::write(paths.link(LiveFile::Key), "KEY-1").unwrap();
        std::fs::write(paths.csr(), "CSR-1").unwrap();
        assert_eq!(read(&paths, &|_| Recorded::default()), Live::None);

        let (first, _) = real_cert("web.example");
        install(&paths, &generation(&paths, Some(&paths.link(LiveFile::Key)), &first), &archive).unwrap();
        let Live::Certified(g) = read(&paths, &|_| Recorded::default()) else { panic!("not certified") };
        assert!(g.has_key && links_complete(&paths, &g));
        assert_eq!(std::fs::read_to_string(paths.link(LiveFile::Key)).unwrap(), "KEY-1");
        assert_eq!(std::fs::read_to_string(paths.link(LiveFile::Fullchain)).unwrap(), first);
        assert!(std::fs::symlink_metadata(paths.link(LiveFile::Key)).unwrap().file_type().is_symlink());

        // A renewal: the next pair waits, then its certificate makes it live.
        std::fs::write(paths.next_key(), "KEY-2").unwrap();
        std::fs::write(paths.next_csr(), "CSR-2").unwrap();
        let (second, _) = real_cert("web.example");
        install(&paths, &generation(&paths, Some(&paths.next_key()), &second), &archive).unwrap();
        promote_csr(&paths, &archive).unwrap();
        assert_eq!(std::fs::read_to_string(paths.link(LiveFile::Key)).unwrap(), "KEY-2");
        assert_eq!(std::fs::read_to_string(paths.link(LiveFile::Cert)).unwrap(), second);
        assert_eq!(std::fs::read_to_string(paths.csr()).unwrap(), "CSR-2");
        assert!(!paths.next_csr().exists() && !paths.next_key().exists());
        let Live::Certified(g2) = read(&paths, &|_| Recorded::default()) else { panic!("not certified") };
        assert_ne!(g.name(), g2.name());
        // Nothing deleted: the old generation, CSR and the key's first name are archived.
        let archived: Vec<String> = std::fs::read_dir(dir.path().join(".archive/T"))
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        assert!(archived.iter().any(|n| n == &format!("web.{}", g.name())), "{archived:?}");
        assert!(archived.iter().any(|n| n == "web.csr.pem"), "{archived:?}");
        assert!(archived.iter().any(|n| n == "web.next.key.pem"), "{archived:?}");
    }

    /// A real certificate PEM and a CSR of its key (a first certificate is read back by
    /// parsing it, and held to the CSR's key).
    fn real_cert(name: &str) -> (String, String) {
        let key = rcgen::KeyPair::generate().unwrap();
        let params = rcgen::CertificateParams::new(vec![name.to_owned()]).unwrap();
        let csr = params.serialize_request(&key).unwrap().pem().unwrap();
        (params.self_signed(&key).unwrap().pem(), csr)
    }

    #[test]
    fn a_first_certificate_is_flat_and_adopted_before_another_one_switches_in() {
        let dir = tempfile::tempdir().unwrap();
        let out = OutputDir::open(dir.path(), &Opening::default()).unwrap();
        let archive = Archive::new(&out, "T");
        let paths = Paths::new(dir.path(), Layout::Flat, "web");
        std::fs::write(paths.link(LiveFile::Key), "KEY-1").unwrap();
        let regular = |f| std::fs::symlink_metadata(paths.link(f)).unwrap().file_type().is_file();
        let no_record = |_: &str| Recorded::default();

        let (first, csr) = real_cert("web.example");
        std::fs::write(paths.csr(), &csr).unwrap();
        let new = generation(&paths, Some(&paths.link(LiveFile::Key)), &first);
        let staged = stage_flat(&paths, &new).unwrap().expect("new files beside the CSR");
        atomic::sync_folders(dir.path()).unwrap();
        place(staged).unwrap();
        let Live::Certified(g) = read(&paths, &no_record) else { panic!("not certified") };
        assert_eq!(g.form, Form::Flat);
        assert_eq!(g.info.sha256_fingerprint, pem_fingerprint(&first).unwrap());
        assert!(g.has_key && links_complete(&paths, &g) && !paths.live.exists());
        assert!(
            [LiveFile::Key, LiveFile::Cert, LiveFile::Chain, LiveFile::Fullchain].into_iter().all(regular)
        );
        // The same files again are kept; other bytes are not written over.
        assert!(stage_flat(&paths, &new).unwrap().is_some_and(|s| s.is_empty()));
        let (second, _) = real_cert("web.example");
        let other = generation(&paths, Some(&paths.link(LiveFile::Key)), &second);
        assert!(stage_flat(&paths, &other).unwrap().is_none());
        // A certificate for another key put there by hand is not the live one's.
        std::fs::write(paths.link(LiveFile::Cert), &second).unwrap();
        assert!(
            matches!(read(&paths, &no_record), Live::Unusable(why) if why.contains("not a certificate for the key"))
        );
        std::fs::write(paths.link(LiveFile::Cert), &first).unwrap();

        // Adopted: the same inodes, now reached through links into a generation.
        let adopted = adopt(&paths, &g, true, &archive).unwrap();
        atomic::sync_folders(dir.path()).unwrap();
        switch(&adopted).unwrap();
        link(&adopted, &archive).unwrap();
        assert!(!regular(LiveFile::Cert) && !regular(LiveFile::Key));
        assert_eq!(std::fs::read_to_string(paths.link(LiveFile::Cert)).unwrap(), first);
        assert_eq!(std::fs::read_to_string(paths.link(LiveFile::Key)).unwrap(), "KEY-1");
        let Live::Certified(linked) = read(&paths, &no_record) else { panic!("not certified") };
        assert_eq!(linked.form, Form::Linked(adopted.stamp().to_owned()));

        // Then the next pair's certificate switches key and certificate together.
        std::fs::write(paths.next_key(), "KEY-2").unwrap();
        install(&paths, &generation(&paths, Some(&paths.next_key()), &second), &archive).unwrap();
        assert_eq!(std::fs::read_to_string(paths.link(LiveFile::Key)).unwrap(), "KEY-2");
        assert_eq!(std::fs::read_to_string(paths.link(LiveFile::Fullchain)).unwrap(), second);
    }

    #[test]
    fn a_certificate_changed_by_hand_or_a_foreign_link_is_unusable() {
        let dir = tempfile::tempdir().unwrap();
        let out = OutputDir::open(dir.path(), &Opening::default()).unwrap();
        let archive = Archive::new(&out, "T");
        let paths = Paths::new(dir.path(), Layout::Flat, "web");
        std::fs::write(paths.link(LiveFile::Key), "KEY").unwrap();
        let ((one, _), (other, _)) = (real_cert("web.example"), real_cert("web.example"));
        install(&paths, &generation(&paths, Some(&paths.link(LiveFile::Key)), &one), &archive).unwrap();
        std::fs::write(paths.live_file(LiveFile::Cert), &other).unwrap();
        assert!(
            matches!(read(&paths, &|_| Recorded::default()), Live::Changed { why, .. } if why.contains("not the certificate recorded in its meta.json"))
        );
        std::fs::write(paths.live_file(LiveFile::Cert), pem(b"no certificate")).unwrap();
        assert!(
            matches!(read(&paths, &|_| Recorded::default()), Live::Changed { why, recorded } if why.contains("holds no certificate") && recorded.sha256_fingerprint == pem_fingerprint(&one).unwrap())
        );
        std::fs::remove_file(paths.live.join(CURRENT)).unwrap();
        std::os::unix::fs::symlink("/etc", paths.live.join(CURRENT)).unwrap();
        assert!(
            matches!(read(&paths, &|_| Recorded::default()), Live::Unusable(why) if why.contains("not to a generation"))
        );
    }

    #[test]
    fn a_copy_is_refused_when_the_live_encryption_certificate_is_not_the_recorded_one() {
        // What an import that switched in a new encryption pair and was killed before it
        // wrote summary.json leaves: meta.json names one encryption certificate, the
        // records another. merge --collect must not copy the one under the other's record.
        let dir = tempfile::tempdir().unwrap();
        let out = OutputDir::open(dir.path(), &Opening::default()).unwrap();
        let archive = Archive::new(&out, "T");
        let paths = Paths::new(dir.path(), Layout::Flat, "web");
        std::fs::write(paths.link(LiveFile::Key), "KEY").unwrap();
        let (cert, _) = real_cert("web.example");
        let enc = |fingerprint: &str| EncryptionInfo {
            serial: "02".into(),
            not_after: "2027-01-01T00:00:00Z".into(),
            sha256_fingerprint: fingerprint.into(),
            cert_file: paths.relative(LiveFile::EncCert),
            key_file: paths.relative(LiveFile::EncKey),
            chain_sha256: None,
        };
        let mut new = generation(&paths, Some(&paths.link(LiveFile::Key)), &cert);
        new.info.encryption = Some(enc(&"b".repeat(64)));
        install(&paths, &new, &archive).unwrap();
        let mut recorded = new.info.clone();
        recorded.encryption = Some(enc(&"a".repeat(64)));
        let to = Paths::new(&dir.path().join("to"), Layout::Flat, "web");
        let refused = copies(&paths, &to, &recorded).unwrap_err();
        assert!(refused.contains("live encryption certificate"), "{refused}");
    }

    #[test]
    fn a_kill_before_the_switch_leaves_the_old_generation_live_and_the_next_install_sweeps_it() {
        let dir = tempfile::tempdir().unwrap();
        let out = OutputDir::open(dir.path(), &Opening::default()).unwrap();
        let archive = Archive::new(&out, "T");
        let paths = Paths::new(dir.path(), Layout::Fanout, "web");
        std::fs::create_dir_all(&paths.pair_dir).unwrap();
        std::fs::write(paths.link(LiveFile::Key), "KEY").unwrap();
        let (one, _) = real_cert("web.example");
        install(&paths, &generation(&paths, Some(&paths.link(LiveFile::Key)), &one), &archive).unwrap();
        // What a kill mid-install leaves: a generation folder nothing points to.
        std::fs::create_dir(paths.live.join("20990101T000000.000000000Z")).unwrap();
        let Live::Certified(g) = read(&paths, &|_| Recorded::default()) else { panic!() };
        assert_eq!(std::fs::read_to_string(paths.link(LiveFile::Cert)).unwrap(), one);
        let (two, _) = real_cert("web.example");
        install(&paths, &generation(&paths, Some(&paths.live_file(LiveFile::Key)), &two), &archive).unwrap();
        let left: Vec<_> = std::fs::read_dir(&paths.live).unwrap().map(|e| e.unwrap().file_name()).collect();
        assert_eq!(left.len(), 2, "current and the new generation: {left:?}");
        assert_ne!(read(&paths, &|_| Recorded::default()), Live::Certified(g));
        assert_eq!(std::fs::read_to_string(paths.link(LiveFile::Key)).unwrap(), "KEY");
    }
}
