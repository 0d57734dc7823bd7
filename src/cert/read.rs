//! Certificates out of the bytes of a file, in every form CAs deliver them: PEM (any
//! number of `CERTIFICATE` and `PKCS7` blocks, in any order, with text around them, read
//! by the one lax PEM reader), a DER certificate (or several back to back), a DER or BER
//! PKCS#7 certs-only SignedData (`.p7b`, `.p7c`), and a zip of such files.
//!
//! Zips are read in memory: only stored and deflate entries; every entry is read like a
//! file; an entry's uncompressed size is capped ([`ZIP_ENTRY_LIMIT`]) and so is the sum
//! ([`ZIP_TOTAL_LIMIT`]), counted as the bytes come out of the decompressor, never from
//! what the zip claims; a zip inside the zip is not opened. An entry's name is only ever
//! shown in messages, never used as a path. Entries without any certificate (a
//! README.txt, a key) are skipped.

use std::fmt;
use std::io::Read;

use super::{Certificate, ber};
use crate::crypto::Sm2EnvelopedKey;
use crate::crypto::oid;
use crate::crypto::pem::{self, PemError};

/// The most bytes one zip entry may decompress to.
pub(crate) const ZIP_ENTRY_LIMIT: u64 = 64 << 20;
/// The most bytes all entries of one zip may decompress to.
pub(crate) const ZIP_TOTAL_LIMIT: u64 = 256 << 20;
/// The most entries one zip may have.
pub(crate) const ZIP_ENTRIES_LIMIT: usize = 100_000;

/// Where in a file something was.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Place {
    /// The file is DER (or BER).
    Der,
    /// The n-th (from 1) of DER certificates back to back.
    DerIndex(usize),
    /// The PEM block whose BEGIN line is this line.
    PemBlock(usize),
}

impl fmt::Display for Place {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Place::Der => f.write_str("the DER"),
            Place::DerIndex(n) => write!(f, "DER certificate #{n}"),
            Place::PemBlock(line) => write!(f, "the PEM block of line {line}"),
        }
    }
}

/// Why a file's certificates could not be read. Each reads as the end of a sentence
/// that names the file.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub(crate) enum ReadError {
    /// Nothing that holds a certificate.
    #[error(
        "no certificate in it (expected PEM CERTIFICATE or PKCS7 blocks, a DER certificate, \
         a DER or BER PKCS#7 .p7b, or a zip of them)"
    )]
    NoCertificates,
    /// A `CERTIFICATE` or `PKCS7` PEM block that does not decode.
    #[error("not valid PEM: {0}")]
    Pem(PemError),
    /// Bytes that should be a certificate and are not.
    #[error("{at}: not an X.509 certificate: {detail}")]
    NotCertificate {
        /// Where.
        at: Place,
        /// What the DER reader said.
        detail: String,
    },
    /// Bytes that should be a certs-only PKCS#7 and are not.
    #[error("{at}: not a PKCS#7 certificate bundle: {detail}")]
    Pkcs7 {
        /// Where.
        at: Place,
        /// What is wrong.
        detail: String,
    },
    /// A zip that cannot be read.
    #[error("not a readable zip: {detail}")]
    Zip {
        /// What the zip reader said.
        detail: String,
    },
    /// More entries than [`ZIP_ENTRIES_LIMIT`].
    #[error("the zip has more than {limit} entries")]
    ZipTooManyEntries {
        /// The limit.
        limit: usize,
    },
    /// All entries together decompress to more than [`ZIP_TOTAL_LIMIT`].
    #[error("the zip's entries decompress to more than {limit} bytes (a zip bomb?)")]
    ZipTooLarge {
        /// The limit.
        limit: u64,
    },
    /// One entry of a zip, and what is wrong with it.
    #[error("zip entry `{entry}`: {problem}")]
    ZipEntry {
        /// The entry's name, control characters escaped (shown, never used as a path).
        entry: String,
        /// What is wrong.
        problem: EntryProblem,
    },
}

/// What is wrong with one zip entry.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub(crate) enum EntryProblem {
    /// It decompresses to more than [`ZIP_ENTRY_LIMIT`].
    #[error("decompresses to more than {limit} bytes (a zip bomb?)")]
    TooLarge {
        /// The limit.
        limit: u64,
    },
    /// Encrypted.
    #[error("encrypted (unpack it first)")]
    Encrypted,
    /// Compressed with another method than stored or deflate.
    #[error("compressed with {method} (only stored and deflate are read)")]
    Compression {
        /// The method's name.
        method: String,
    },
    /// A zip itself: not opened.
    #[error("a zip inside the zip is not opened (unpack it first)")]
    NestedZip,
    /// The entry cannot be decompressed.
    #[error("cannot be read: {detail}")]
    Unreadable {
        /// What the zip reader said.
        detail: String,
    },
    /// Read, but what it holds is broken.
    #[error("{0}")]
    Content(Box<ReadError>),
}

/// Every certificate in `bytes`, in the order they are written (a PKCS#7's as listed);
/// keys beside them are skipped.
pub(crate) fn read_certificates(bytes: &[u8]) -> Result<Vec<Certificate>, ReadError> {
    let mut certs = Vec::new();
    for found in find_certificates(bytes)? {
        if let Item::Certificate(cert) = found.parse()? {
            certs.push(*cert);
        }
    }
    if certs.is_empty() {
        return Err(ReadError::NoCertificates);
    }
    Ok(certs)
}

/// What a file given to `import` holds, one by one.
pub(crate) enum Item {
    Certificate(Box<Certificate>),
    /// The private key of an SM2 encryption certificate, as CAs deliver it.
    Key(KeyItem),
}

/// An encryption pair's private key as delivered.
pub(crate) enum KeyItem {
    /// A PEM private key (PKCS#8, encrypted PKCS#8 or SEC1), its text.
    Pem(zeroize::Zeroizing<String>),
    /// A GM/T 0009 `SM2EnvelopedKey`, DER (on its own, or out of a GM/T 0092 CSRResponse).
    Envelope(Vec<u8>),
}

/// What a [`Found`] is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum FoundKind {
    Certificate,
    /// A PEM private key with this label.
    PemKey(&'static str),
    Envelope,
}

/// The DER of every certificate (and SM2 encryption key) in `bytes`, in order, not yet parsed: a parsed
/// certificate takes many times its DER in memory, so a big `.p7b` is parsed a part at a
/// time ([`Found::parse`]). The forms are told apart and their framing checked here.
pub(crate) fn find_certificates(bytes: &[u8]) -> Result<Vec<Found>, ReadError> {
    if is_zip(bytes) {
        return read_zip(bytes);
    }
    read_file(bytes)
}

/// One certificate's DER as found, and where (for the error if it does not parse).
#[derive(Debug, Clone)]
pub(crate) struct Found {
    kind: FoundKind,
    der: zeroize::Zeroizing<Vec<u8>>,
    at: Place,
    /// The n-th (from 1) certificate of a PKCS#7 at `at`.
    in_pkcs7: Option<usize>,
    /// The zip entry it came from (its name as shown).
    entry: Option<String>,
}

impl Found {
    fn new(der: &[u8], at: Place) -> Found {
        Found {
            kind: FoundKind::Certificate,
            der: zeroize::Zeroizing::new(der.to_vec()),
            at,
            in_pkcs7: None,
            entry: None,
        }
    }

    fn key(kind: FoundKind, der: &[u8], at: Place) -> Found {
        Found { kind, ..Found::new(der, at) }
    }

    /// How many bytes of DER it holds.
    pub(crate) fn der_len(&self) -> usize {
        self.der.len()
    }

    /// The certificate (its DER kept exactly as read), or the key.
    pub(crate) fn parse(&self) -> Result<Item, ReadError> {
        match self.kind {
            FoundKind::Certificate => {}
            FoundKind::Envelope => return Ok(Item::Key(KeyItem::Envelope(self.der.to_vec()))),
            FoundKind::PemKey(label) => {
                let pem = der::pem::encode_string(label, der::pem::LineEnding::LF, &self.der)
                    .map_err(|e| ReadError::NotCertificate { at: self.at.clone(), detail: e.to_string() })?;
                return Ok(Item::Key(KeyItem::Pem(zeroize::Zeroizing::new(pem))));
            }
        }
        Certificate::from_der(&self.der).map(|c| Item::Certificate(Box::new(c))).map_err(|e| {
            let at = self.at.clone();
            let error = match self.in_pkcs7 {
                Some(index) => ReadError::Pkcs7 { at, detail: format!("certificate #{index}: {e}") },
                None => ReadError::NotCertificate { at, detail: e.to_string() },
            };
            match &self.entry {
                Some(entry) => ReadError::ZipEntry {
                    entry: entry.clone(),
                    problem: EntryProblem::Content(Box::new(error)),
                },
                None => error,
            }
        })
    }
}

fn is_zip(bytes: &[u8]) -> bool {
    bytes.starts_with(b"PK\x03\x04") || bytes.starts_with(b"PK\x05\x06")
}

/// A file that is not a zip.
fn read_file(bytes: &[u8]) -> Result<Vec<Found>, ReadError> {
    match read_pem(bytes)? {
        Some(certs) => Ok(certs),
        None => match base64_text(bytes) {
            // An envelope or a CSRResponse as base64 text (how CAs hand them out).
            Some(der) if Sm2EnvelopedKey::looks_like(&der) || csr_response(&der).is_some() => read_der(&der),
            _ => read_der(bytes),
        },
    }
}

/// The bytes of a file that is base64 text and nothing else (any line width).
fn base64_text(bytes: &[u8]) -> Option<Vec<u8>> {
    use base64ct::Encoding;
    if bytes.first() == Some(&0x30) || !bytes.is_ascii() {
        return None;
    }
    let text: Vec<u8> = bytes.iter().copied().filter(|b| !b.is_ascii_whitespace()).collect();
    base64ct::Base64::decode_vec(std::str::from_utf8(&text).ok()?).ok()
}

/// A CSRResponse's parts, DER: (signing certificate, envelope, encryption certificate).
type CsrResponse<'a> = (&'a [u8], Option<Vec<u8>>, Option<Vec<u8>>);

/// A GM/T 0092-2020 `CSRResponse ::= SEQUENCE { signCertificate Certificate, [0]
/// SM2EnvelopedKey, [1] Certificate }` ([0] and [1] EXPLICIT or IMPLICIT, both
/// optional): (signing certificate, envelope, encryption certificate), DER.
fn csr_response(bytes: &[u8]) -> Option<CsrResponse<'_>> {
    let (0x30, body, header) = tlv(bytes)? else { return None };
    if header + body.len() != bytes.len() {
        return None;
    }
    let (sign, mut rest) = first_tlv(body)?;
    // A certificate's second element is a SEQUENCE (its signature algorithm); here a tag.
    if sign.first() != Some(&0x30) || rest.first().is_none_or(|t| *t != 0xa0 && *t != 0xa1) {
        return None;
    }
    let (mut envelope, mut encryption) = (None, None);
    while !rest.is_empty() {
        let (tag, content, header) = tlv(rest)?;
        rest = &rest[header + content.len()..];
        // EXPLICIT: the content is the whole SEQUENCE; IMPLICIT: its fields.
        let whole = match first_tlv(content) {
            Some((inner, after)) if inner.first() == Some(&0x30) && after.is_empty() => inner.to_vec(),
            _ => {
                let mut der = vec![0x30];
                der::Encode::encode_to_vec(&der::Length::try_from(content.len()).ok()?, &mut der).ok()?;
                der.extend_from_slice(content);
                der
            }
        };
        match tag {
            0xa0 => envelope = Some(whole),
            0xa1 => encryption = Some(whole),
            _ => return None,
        }
    }
    Some((sign, envelope, encryption))
}

/// `None` when there is no PEM block at all.
fn read_pem(bytes: &[u8]) -> Result<Option<Vec<Found>>, ReadError> {
    // Binary is not PEM: skip the (lossy) text conversion of a DER file.
    if bytes.first().is_some_and(|b| *b == 0x30) && bytes.get(1).is_some_and(|b| !b.is_ascii()) {
        return Ok(None);
    }
    let text = String::from_utf8_lossy(bytes);
    let mut any = false;
    let mut certs = Vec::new();
    for block in pem::blocks(&text) {
        any = true;
        let kind = match pem::label(&block) {
            "CERTIFICATE" | "X509 CERTIFICATE" => Kind::Certificate,
            "TRUSTED CERTIFICATE" => Kind::Trusted,
            "PKCS7" | "PKCS #7 SIGNED DATA" | "CMS" => Kind::Pkcs7,
            "PRIVATE KEY" => Kind::Key("PRIVATE KEY"),
            "ENCRYPTED PRIVATE KEY" => Kind::Key("ENCRYPTED PRIVATE KEY"),
            "EC PRIVATE KEY" => Kind::Key("EC PRIVATE KEY"),
            _ => continue,
        };
        let block = block.map_err(ReadError::Pem)?;
        let at = Place::PemBlock(block.line);
        match kind {
            Kind::Certificate => certs.push(Found::new(&block.der, at)),
            // OpenSSL's trusted form: the certificate, then its trust settings.
            Kind::Trusted => {
                let der = first_tlv(&block.der).map_or(&block.der[..], |(tlv, _)| tlv);
                certs.push(Found::new(der, at));
            }
            Kind::Pkcs7 => certs.extend(pkcs7(&block.der, at)?),
            Kind::Key(label) => certs.push(Found::key(FoundKind::PemKey(label), &block.der, at)),
        }
    }
    if !any {
        return Ok(None);
    }
    if certs.is_empty() {
        return Err(ReadError::NoCertificates);
    }
    Ok(Some(certs))
}

enum Kind {
    Certificate,
    Trusted,
    Pkcs7,
    Key(&'static str),
}

/// A DER certificate, DER certificates back to back, or a DER/BER PKCS#7.
fn read_der(bytes: &[u8]) -> Result<Vec<Found>, ReadError> {
    if bytes.first() != Some(&0x30) {
        return Err(ReadError::NoCertificates);
    }
    if looks_like_pkcs7(bytes) {
        return pkcs7(bytes, Place::Der);
    }
    if Sm2EnvelopedKey::looks_like(bytes) {
        return Ok(vec![Found::key(FoundKind::Envelope, bytes, Place::Der)]);
    }
    if let Some((sign, envelope, encryption)) = csr_response(bytes) {
        let mut found = vec![Found::new(sign, Place::Der)];
        found.extend(envelope.map(|e| Found::key(FoundKind::Envelope, &e, Place::Der)));
        found.extend(encryption.map(|c| Found::new(&c, Place::Der)));
        return Ok(found);
    }
    let mut certs = Vec::new();
    let mut rest = bytes;
    while !is_padding(rest) {
        let index = certs.len() + 1;
        let at = if index == 1 && first_tlv(rest).is_some_and(|(_, r)| is_padding(r)) {
            Place::Der
        } else {
            Place::DerIndex(index)
        };
        let Some((tlv, after)) = first_tlv(rest) else {
            return Err(ReadError::NotCertificate {
                at,
                detail: "not DER (a length overruns the file)".into(),
            });
        };
        certs.push(Found::new(tlv, at));
        rest = after;
    }
    Ok(certs)
}

/// Trailing NULs or whitespace (a newline after a DER file).
fn is_padding(bytes: &[u8]) -> bool {
    bytes.iter().all(|b| *b == 0 || b.is_ascii_whitespace())
}

/// Whether a SEQUENCE (BER too) starts with the signedData OID: a ContentInfo.
fn looks_like_pkcs7(bytes: &[u8]) -> bool {
    let skip = match bytes.get(1) {
        Some(0x80) => 2,
        Some(b) if *b < 0x80 => 2,
        Some(b) => 2 + usize::from(b & 0x7f),
        None => return false,
    };
    let want = oid::SIGNED_DATA.as_bytes();
    bytes.get(skip) == Some(&0x06)
        && bytes.get(skip + 1).map(|l| usize::from(*l)) == Some(want.len())
        && bytes.get(skip + 2..skip + 2 + want.len()) == Some(want)
}

/// The first definite-length TLV of DER `bytes` and what follows it.
fn first_tlv(bytes: &[u8]) -> Option<(&[u8], &[u8])> {
    let (_, content, header) = tlv(bytes)?;
    let total = header + content.len();
    Some((&bytes[..total], &bytes[total..]))
}

/// (tag, content, header length) of the DER value at the start of `bytes` (one-byte tags).
fn tlv(bytes: &[u8]) -> Option<(u8, &[u8], usize)> {
    let tag = *bytes.first()?;
    let first = *bytes.get(1)?;
    let (len, header) = if first < 0x80 {
        (usize::from(first), 2)
    } else {
        let count = usize::from(first & 0x7f);
        if count == 0 || count > 8 {
            return None;
        }
        let mut len = 0usize;
        for b in bytes.get(2..2 + count)? {
            len = len.checked_mul(256)? | usize::from(*b);
        }
        (len, 2 + count)
    };
    let content = bytes.get(header..header.checked_add(len)?)?;
    Some((tag, content, header))
}

/// The certificates of a certs-only PKCS#7 ContentInfo (RFC 5652 5.1), DER or BER:
/// `SEQUENCE { signedData, [0] EXPLICIT SEQUENCE { version, digestAlgorithms,
/// encapContentInfo, [0] IMPLICIT certificates OPTIONAL, ... } }`. Only the
/// certificates are read; other CertificateChoices (attribute certificates) are skipped.
fn pkcs7(bytes: &[u8], at: Place) -> Result<Vec<Found>, ReadError> {
    let bad = |detail: &str| ReadError::Pkcs7 { at: at.clone(), detail: detail.to_owned() };
    let der = ber::to_der(bytes).map_err(|e| bad(&e.to_string()))?;
    let (0x30, info, _) = tlv(&der).ok_or_else(|| bad("not DER"))? else {
        return Err(bad("not a ContentInfo SEQUENCE"));
    };
    let (0x06, content_type, header) = tlv(info).ok_or_else(|| bad("no content type"))? else {
        return Err(bad("no content type"));
    };
    if content_type != oid::SIGNED_DATA.as_bytes() {
        return Err(bad("the content type is not signedData"));
    }
    let rest = &info[header + content_type.len()..];
    let (0xa0, explicit, _) = tlv(rest).ok_or_else(|| bad("no content"))? else {
        return Err(bad("no [0] content"));
    };
    let (0x30, mut signed_data, _) = tlv(explicit).ok_or_else(|| bad("no SignedData"))? else {
        return Err(bad("the content is not a SignedData SEQUENCE"));
    };
    let mut certs = Vec::new();
    let mut field = 0;
    while let Some((tag, content, header)) = tlv(signed_data) {
        signed_data = &signed_data[header + content.len()..];
        field += 1;
        // version, digestAlgorithms, encapContentInfo come first; then [0] certificates.
        if field <= 3 || tag != 0xa0 {
            continue;
        }
        let mut set = content;
        while !set.is_empty() {
            let (tag, choice, header) = tlv(set).ok_or_else(|| bad("a certificate overruns the set"))?;
            let whole = &set[..header + choice.len()];
            set = &set[header + choice.len()..];
            if tag == 0x30 {
                let index = certs.len() + 1;
                certs.push(Found { in_pkcs7: Some(index), ..Found::new(whole, at.clone()) });
            }
        }
    }
    if certs.is_empty() {
        return Err(bad("it holds no certificate"));
    }
    Ok(certs)
}

/// An entry's name to show: lossy UTF-8, control characters escaped.
fn shown(raw: &[u8]) -> String {
    String::from_utf8_lossy(raw).chars().flat_map(|c| c.escape_debug()).collect()
}

fn read_zip(bytes: &[u8]) -> Result<Vec<Found>, ReadError> {
    let mut archive = zip::ZipArchive::new(std::io::Cursor::new(bytes))
        .map_err(|e| ReadError::Zip { detail: e.to_string() })?;
    if archive.len() > ZIP_ENTRIES_LIMIT {
        return Err(ReadError::ZipTooManyEntries { limit: ZIP_ENTRIES_LIMIT });
    }
    let mut total: u64 = 0;
    let mut certs = Vec::new();
    for index in 0..archive.len() {
        let (entry, skip) = {
            let raw = archive.by_index_raw(index).map_err(|e| ReadError::Zip { detail: e.to_string() })?;
            let entry = shown(raw.name_raw());
            let problem = match raw.compression() {
                _ if raw.encrypted() => Some(EntryProblem::Encrypted),
                zip::CompressionMethod::Stored | zip::CompressionMethod::Deflated => None,
                other => Some(EntryProblem::Compression { method: format!("{other:?}") }),
            };
            if let Some(problem) = problem {
                return Err(ReadError::ZipEntry { entry, problem });
            }
            (entry, raw.is_dir() || raw.is_symlink())
        };
        if skip {
            continue;
        }
        let failed = |problem| ReadError::ZipEntry { entry: entry.clone(), problem };
        let file = archive
            .by_index(index)
            .map_err(|e| failed(EntryProblem::Unreadable { detail: e.to_string() }))?;
        // The capacity is not taken from the size the zip claims.
        let mut data = Vec::new();
        file.take(ZIP_ENTRY_LIMIT + 1)
            .read_to_end(&mut data)
            .map_err(|e| failed(EntryProblem::Unreadable { detail: e.to_string() }))?;
        let len = data.len() as u64;
        if len > ZIP_ENTRY_LIMIT {
            return Err(failed(EntryProblem::TooLarge { limit: ZIP_ENTRY_LIMIT }));
        }
        total += len;
        if total > ZIP_TOTAL_LIMIT {
            return Err(ReadError::ZipTooLarge { limit: ZIP_TOTAL_LIMIT });
        }
        if is_zip(&data) {
            return Err(failed(EntryProblem::NestedZip));
        }
        match read_file(&data) {
            Ok(found) => certs.extend(found.into_iter().map(|f| Found { entry: Some(entry.clone()), ..f })),
            Err(ReadError::NoCertificates) => {}
            Err(e) => return Err(failed(EntryProblem::Content(Box::new(e)))),
        }
    }
    if certs.is_empty() {
        return Err(ReadError::NoCertificates);
    }
    Ok(certs)
}
