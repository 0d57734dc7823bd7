//! `csrbatch inspect`: what a CSR made by any tool asks for, under the `CreateCsr` names,
//! and whether its signature verifies (SM2: under which distinguishing ID). Pure: bytes
//! in, a typed report out; reading files and printing is `cmd::inspect`'s.

use std::fmt::Write as _;

use der::{Decode, Encode, Header, SliceReader};
use serde::Serialize;
use time::OffsetDateTime;
use x509_cert::ext::Extension;
use x509_cert::ext::pkix::{ExtendedKeyUsage, KeyUsage, SubjectAltName};
use x509_cert::request::CertReq;

use crate::cert::{self, Certificate, directory_string, general_name, key_usage_names};

use crate::crypto::pem::{self, PemError};
use crate::crypto::{self, PublicKeyType, SM2_DIST_ID, SignatureCheck, oid};
use crate::request;

/// Why bytes could not be inspected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub(crate) enum InspectError {
    /// Neither a PEM `CERTIFICATE REQUEST` block nor DER (nor a certificate).
    #[error(
        "no CSR or certificate in it (expected PEM -----BEGIN CERTIFICATE REQUEST----- or \
         CERTIFICATE or PKCS7, DER, a .p7b or a zip)"
    )]
    NoCsr,
    /// A CSR's PEM block that does not decode (the error names its line).
    #[error("CSR #{index}: not valid PEM: {error}")]
    Pem { index: usize, error: PemError },
    /// DER that is not a PKCS#10 CertificationRequest.
    #[error("CSR #{index}: not a PKCS#10 CertificationRequest: {detail}")]
    NotCsr { index: usize, detail: String },
}

/// Which SM2 distinguishing ID the signature verifies with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub(crate) enum DistinguishingId {
    /// `1234567812345678`, the GM/T 0009 default that CAs expect.
    #[serde(rename = "1234567812345678")]
    Standard,
    /// The empty ID (`openssl req` without `-sigopt distid:...`): CAs reject it.
    #[serde(rename = "empty")]
    Empty,
    /// Neither: the signature is invalid.
    #[serde(rename = "neither")]
    Neither,
}

/// A subject name under the `CreateCsr` names (CSRs and certificates alike). Absent
/// fields are null.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct SubjectNames {
    pub(crate) common_name: Option<String>,
    pub(crate) country_code: Option<String>,
    pub(crate) province: Option<String>,
    pub(crate) locality: Option<String>,
    pub(crate) corp_name: Option<String>,
    pub(crate) department: Option<String>,
    /// Subject attributes `CreateCsr` has no name for, as `OID=value`.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub(crate) other_subject: Vec<String>,
}

/// One CSR, as `CreateCsr` would have been asked for it. Absent subject fields are null.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct CsrInfo {
    /// The subject, under the `CreateCsr` names.
    #[serde(flatten)]
    pub(crate) subject: SubjectNames,
    /// DNS names and IP addresses as written; other name types prefixed (`email:`, `URI:`).
    pub(crate) sans: Vec<String>,
    pub(crate) algorithm: String,
    pub(crate) key_size: Option<u32>,
    /// Lower-case hex SHA-256 of the DER SubjectPublicKeyInfo, as in summary.json.
    pub(crate) key_sha2: String,
    pub(crate) key_usage: Vec<String>,
    pub(crate) extended_key_usage: Vec<String>,
    /// Whether a challengePassword attribute is present (its value is not shown).
    pub(crate) challenge_password: bool,
    pub(crate) signature_algorithm: String,
    /// Valid under the CSR's own key (SM2: with the standard distinguishing ID).
    pub(crate) signature_valid: bool,
    /// SM2 only: which distinguishing ID the signature verifies with.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) sm2_distinguishing_id: Option<DistinguishingId>,
    /// With `--key`: whether one of them is the CSR's key.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) key_matches: Option<bool>,
    /// The `--key` that is its key.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) matching_key: Option<String>,
    /// What a person should know: why a signature was not checked, a wrong ID, ...
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub(crate) notes: Vec<String>,
}

/// One certificate: its subject under the `CreateCsr` names, and what it certifies.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct CertInfo {
    /// The subject, under the `CreateCsr` names.
    #[serde(flatten)]
    pub(crate) subject: SubjectNames,
    /// Every subjectAltName entry, as for CSRs.
    pub(crate) sans: Vec<String>,
    /// RFC 4514 (`CN=...,O=...`).
    pub(crate) issuer: String,
    /// Lower-case hex, as openssl shows it.
    pub(crate) serial: String,
    /// RFC 3339, UTC.
    pub(crate) not_before: String,
    /// RFC 3339, UTC.
    pub(crate) not_after: String,
    /// Whole days from now to NotAfter (negative once expired).
    pub(crate) days_left: i64,
    /// `valid`, `expired` or `not yet valid`, now.
    pub(crate) validity: String,
    /// basicConstraints cA.
    pub(crate) is_ca: bool,
    pub(crate) algorithm: String,
    pub(crate) key_size: Option<u32>,
    /// Lower-case hex SHA-256 of the DER SubjectPublicKeyInfo, as in summary.json.
    pub(crate) key_sha2: String,
    /// Lower-case hex SHA-256 of the DER certificate.
    pub(crate) sha256_fingerprint: String,
    pub(crate) key_usage: Vec<String>,
    pub(crate) extended_key_usage: Vec<String>,
    pub(crate) signature_algorithm: String,
    /// Self-issued and its signature verifies under its own key (a root).
    pub(crate) self_signed: bool,
    /// The certificate of the same file (from 1) whose key verifies its signature: the
    /// chain as the file holds it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) issued_by: Option<usize>,
    /// With `--key`: whether one of them is the certificate's key.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) key_matches: Option<bool>,
    /// The `--key` that is its key.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) matching_key: Option<String>,
}

/// The `--json` document.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct Report {
    pub(crate) files: Vec<FileReport>,
    /// Every CSR of every file was read and its signature is valid.
    pub(crate) all_valid: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct FileReport {
    pub(crate) file: String,
    pub(crate) csrs: Vec<CsrInfo>,
    /// Its certificates (PEM, DER, PKCS#7 or zip), in the order written.
    pub(crate) certificates: Vec<CertInfo>,
    /// Why the file or one of its CSRs could not be read.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub(crate) errors: Vec<String>,
}

/// What a file holds: its CSRs and its certificates.
#[derive(Debug)]
pub(crate) struct Contents {
    /// Each CSR's DER, or why it cannot be read.
    pub(crate) csrs: Vec<Result<Vec<u8>, InspectError>>,
    /// The certificates, or why they cannot be read.
    pub(crate) certificates: Result<Vec<Certificate>, cert::ReadError>,
}

/// PEM labels of certificates (alone or in a PKCS#7).
fn is_certificate_label(label: &str) -> bool {
    matches!(
        label,
        "CERTIFICATE" | "X509 CERTIFICATE" | "TRUSTED CERTIFICATE" | "PKCS7" | "PKCS #7 SIGNED DATA" | "CMS"
    )
}

/// The CSRs and certificates of a file's bytes. PEM: its CSR blocks (see [`split`]) and
/// its `CERTIFICATE`/`PKCS7` blocks ([`cert::read_certificates`]). Otherwise certificates
/// (DER, PKCS#7, zip) when they read, else DER CSRs as [`split`] reads them.
pub(crate) fn contents(bytes: &[u8]) -> Contents {
    let text = String::from_utf8_lossy(bytes);
    let (mut any_pem, mut any_csr, mut any_cert) = (false, false, false);
    for block in pem::blocks(&text) {
        let label = pem::label(&block);
        any_pem = true;
        any_csr |= matches!(label, "CERTIFICATE REQUEST" | "NEW CERTIFICATE REQUEST");
        any_cert |= is_certificate_label(label);
    }
    if !any_pem {
        return match cert::read_certificates(bytes) {
            Ok(certs) => Contents { csrs: Vec::new(), certificates: Ok(certs) },
            // A zip holds no CSR: its error is the one to show.
            Err(e) if bytes.starts_with(b"PK") => Contents { csrs: Vec::new(), certificates: Err(e) },
            Err(_) => Contents { csrs: split(bytes), certificates: Ok(Vec::new()) },
        };
    }
    Contents {
        csrs: if any_csr || !any_cert { split(bytes) } else { Vec::new() },
        certificates: if any_cert { cert::read_certificates(bytes) } else { Ok(Vec::new()) },
    }
}

/// The CSRs of a file's bytes: every `CERTIFICATE REQUEST` (or `NEW CERTIFICATE REQUEST`)
/// PEM block, read or not, other blocks and text around them skipped; or, without any PEM
/// block, one or more DER CSRs back to back.
pub(crate) fn split(bytes: &[u8]) -> Vec<Result<Vec<u8>, InspectError>> {
    let text = String::from_utf8_lossy(bytes);
    let mut out = Vec::new();
    let mut any_pem = false;
    for block in pem::blocks(&text) {
        any_pem = true;
        if !matches!(pem::label(&block), "CERTIFICATE REQUEST" | "NEW CERTIFICATE REQUEST") {
            continue;
        }
        let index = out.len() + 1;
        out.push(
            block
                .map(|mut b| std::mem::take(&mut *b.der))
                .map_err(|error| InspectError::Pem { index, error }),
        );
    }
    if !any_pem {
        return split_der(bytes);
    }
    if out.is_empty() {
        out.push(Err(InspectError::NoCsr));
    }
    out
}

fn split_der(bytes: &[u8]) -> Vec<Result<Vec<u8>, InspectError>> {
    let mut out = Vec::new();
    let mut rest = bytes;
    while !rest.is_empty() {
        let index = out.len() + 1;
        let len = SliceReader::new(rest)
            .and_then(|mut r| {
                let header = Header::decode(&mut r)?;
                header.encoded_len()? + header.length()
            })
            .ok()
            .and_then(|l| usize::try_from(l).ok())
            .filter(|l| *l <= rest.len());
        let Some(len) = len else {
            let detail = "not DER (nor PEM)".to_owned();
            out.push(Err(if index == 1 {
                InspectError::NoCsr
            } else {
                InspectError::NotCsr { index, detail }
            }));
            break;
        };
        out.push(Ok(rest[..len].to_vec()));
        rest = &rest[len..];
    }
    if out.is_empty() {
        out.push(Err(InspectError::NoCsr));
    }
    out
}

/// Reads one DER CSR; `index` (1-based) names it in errors.
pub(crate) fn inspect(der: &[u8], index: usize) -> Result<CsrInfo, InspectError> {
    let not_csr = |e: der::Error| InspectError::NotCsr { index, detail: e.to_string() };
    let request = CertReq::from_der(der).map_err(not_csr)?;
    let spki = request.info.public_key.to_der().map_err(not_csr)?;
    let key = PublicKeyType::of_spki(&spki);
    let mut info = CsrInfo {
        subject: subject_names(&request.info.subject),
        sans: Vec::new(),
        algorithm: key.map_or_else(|| "unreadable public key".to_owned(), PublicKeyType::algorithm),
        key_size: key.and_then(PublicKeyType::key_size),
        key_sha2: crypto::key_sha2(&spki),
        key_usage: Vec::new(),
        extended_key_usage: Vec::new(),
        challenge_password: false,
        signature_algorithm: crypto::signature_algorithm_name(request.algorithm.oid),
        signature_valid: false,
        sm2_distinguishing_id: None,
        key_matches: None,
        matching_key: None,
        notes: Vec::new(),
    };
    for attribute in request.info.attributes.iter() {
        match attribute.oid {
            oid::EXTENSION_REQUEST => {
                for value in attribute.values.iter() {
                    match value.decode_as::<Vec<Extension>>() {
                        Ok(extensions) => extensions.iter().for_each(|e| read_extension(e, &mut info)),
                        Err(e) => info.notes.push(format!("unreadable extensionRequest: {e}")),
                    }
                }
            }
            oid::CHALLENGE_PASSWORD => info.challenge_password = true,
            other => info.notes.push(format!("attribute {other} present")),
        }
    }
    if let Some(k) = key.filter(|k| k.create_csr().is_none()) {
        let size = k.key_size().map(|s| format!("-{s}")).unwrap_or_default();
        info.notes.push(format!("{}{size} is not a CreateCsr key type", k.algorithm()));
    }
    let check = crypto::check_csr_signature(der);
    info.signature_valid = check == SignatureCheck::Valid;
    if key == Some(PublicKeyType::Sm2) {
        info.sm2_distinguishing_id = Some(match check {
            SignatureCheck::Valid => DistinguishingId::Standard,
            SignatureCheck::EmptySm2Id => DistinguishingId::Empty,
            SignatureCheck::Invalid | SignatureCheck::Unsupported(_) => DistinguishingId::Neither,
        });
    }
    match check {
        SignatureCheck::Valid | SignatureCheck::Invalid => {}
        SignatureCheck::EmptySm2Id => info.notes.push(format!(
            "the SM2 signature verifies only with an empty distinguishing ID; CAs expect \
             {SM2_DIST_ID} (openssl: sign with -sigopt distid:{SM2_DIST_ID})"
        )),
        SignatureCheck::Unsupported(why) => info.notes.push(format!("signature not checked: {why}")),
    }
    Ok(info)
}

/// A subject name under the `CreateCsr` names; what has none goes to `other_subject`.
pub(crate) fn subject_names(name: &x509_cert::name::Name) -> SubjectNames {
    let mut names = SubjectNames::default();
    for rdn in name.as_ref().iter() {
        for atv in rdn.as_ref().iter() {
            let value = directory_string(&atv.value);
            let slot = match atv.oid {
                oid::COUNTRY => &mut names.country_code,
                oid::PROVINCE => &mut names.province,
                oid::LOCALITY => &mut names.locality,
                oid::ORGANIZATION => &mut names.corp_name,
                oid::ORGANIZATIONAL_UNIT => &mut names.department,
                oid::COMMON_NAME => &mut names.common_name,
                other => {
                    names.other_subject.push(format!("{other}={value}"));
                    continue;
                }
            };
            match slot {
                // A second value of one attribute (two OUs, ...) has no CreateCsr field.
                Some(_) => names.other_subject.push(format!("{}={value}", atv.oid)),
                None => *slot = Some(value),
            }
        }
    }
    names
}

fn read_extension(extension: &Extension, info: &mut CsrInfo) {
    let bytes = extension.extn_value.as_bytes();
    match extension.extn_id {
        oid::SUBJECT_ALT_NAME => match SubjectAltName::from_der(bytes) {
            Ok(names) => info.sans.extend(names.0.iter().map(general_name)),
            Err(e) => info.notes.push(format!("unreadable subjectAltName: {e}")),
        },
        oid::KEY_USAGE => match KeyUsage::from_der(bytes) {
            Ok(usage) => info.key_usage.extend(key_usage_names(usage).into_iter().map(str::to_owned)),
            Err(e) => info.notes.push(format!("unreadable keyUsage: {e}")),
        },
        oid::EXT_KEY_USAGE => match ExtendedKeyUsage::from_der(bytes) {
            Ok(usage) => info
                .extended_key_usage
                .extend(usage.0.iter().map(|oid| request::ExtendedKeyUsage::from_oid(*oid).to_string())),
            Err(e) => info.notes.push(format!("unreadable extendedKeyUsage: {e}")),
        },
        other => info.notes.push(format!("extension {other} present")),
    }
}

/// Reads the certificates of one file at `now`; `key` is the DER SubjectPublicKeyInfo of
/// `--key`. A certificate's issuer is looked for among the others of the file.
pub(crate) fn inspect_certificates(
    certs: &[Certificate],
    now: OffsetDateTime,
    keys: &[GivenKey],
) -> Vec<CertInfo> {
    certs
        .iter()
        .map(|c| {
            let mut info = inspect_certificate(c, certs, now);
            (info.key_matches, info.matching_key) = match_key(keys, &info.key_sha2);
            info
        })
        .collect()
}

fn inspect_certificate(c: &Certificate, file: &[Certificate], now: OffsetDateTime) -> CertInfo {
    let key_type = c.public_key_type();
    let signed_by = |issuer: &Certificate| c.check_signed_by(issuer.spki_der()) == SignatureCheck::Valid;
    let self_signed = c.is_self_issued() && signed_by(c);
    let issued_by = if self_signed {
        None
    } else {
        file.iter().position(|i| i.subject_der() == c.issuer_der() && i != c && signed_by(i)).map(|i| i + 1)
    };
    CertInfo {
        subject: subject_names(c.subject()),
        sans: c.sans_text(),
        issuer: c.issuer_text(),
        serial: c.serial_hex(),
        not_before: cert::rfc3339(c.not_before()),
        not_after: cert::rfc3339(c.not_after()),
        days_left: cert::days_left(c.not_after(), now),
        validity: cert::validity(c, now).as_str().to_owned(),
        is_ca: c.is_ca(),
        algorithm: key_type.map_or_else(|| "unreadable public key".to_owned(), PublicKeyType::algorithm),
        key_size: key_type.and_then(PublicKeyType::key_size),
        key_sha2: c.spki_sha256_hex(),
        sha256_fingerprint: c.sha256_fingerprint_hex(),
        key_usage: c.key_usage().unwrap_or_default().into_iter().map(str::to_owned).collect(),
        extended_key_usage: c.extended_key_usage(),
        signature_algorithm: crypto::signature_algorithm_name(c.signature_algorithm()),
        self_signed,
        issued_by,
        key_matches: None,
        matching_key: None,
    }
}

/// A `--key` given to inspect: its file and `KeySha2`.
pub(crate) struct GivenKey {
    pub(crate) file: String,
    pub(crate) key_sha2: String,
}

/// With `--key`s: whether one is the key of `key_sha2`, and which.
pub(crate) fn match_key(keys: &[GivenKey], key_sha2: &str) -> (Option<bool>, Option<String>) {
    if keys.is_empty() {
        return (None, None);
    }
    let found = keys.iter().find(|k| k.key_sha2 == key_sha2).map(|k| k.file.clone());
    (Some(found.is_some()), found)
}

fn render_subject(subject: &SubjectNames, line: &mut impl FnMut(&str, &str)) {
    for (field, value) in [
        ("CommonName", &subject.common_name),
        ("CountryCode", &subject.country_code),
        ("Province", &subject.province),
        ("Locality", &subject.locality),
        ("CorpName", &subject.corp_name),
        ("Department", &subject.department),
    ] {
        if let Some(v) = value {
            line(field, v);
        }
    }
    for other in &subject.other_subject {
        line("Subject (other)", other);
    }
}

/// The human-readable form of one certificate, a `Field: value` line each, indented.
pub(crate) fn render_certificate(info: &CertInfo) -> String {
    let mut out = String::new();
    let mut line = |field: &str, value: &str| {
        let _ = writeln!(out, "  {:<18} {value}", format!("{field}:"));
    };
    render_subject(&info.subject, &mut line);
    line("Sans", &if info.sans.is_empty() { "(none)".to_owned() } else { info.sans.join(", ") });
    line("Issuer", &info.issuer);
    line("Serial", &info.serial);
    line("NotBefore", &info.not_before);
    line("NotAfter", &info.not_after);
    line("DaysLeft", &format!("{} ({})", info.days_left, info.validity));
    line("Algorithm", &info.algorithm);
    line("KeySize", &info.key_size.map_or_else(|| "?".to_owned(), |s| s.to_string()));
    line("KeySha2", &info.key_sha2);
    line("Sha256Fingerprint", &info.sha256_fingerprint);
    if info.is_ca {
        line("CA", "yes (basicConstraints CA:TRUE)");
    }
    if !info.key_usage.is_empty() {
        line("KeyUsage", &info.key_usage.join(", "));
    }
    if !info.extended_key_usage.is_empty() {
        line("ExtendedKeyUsage", &info.extended_key_usage.join(", "));
    }
    line("Signature", &info.signature_algorithm);
    if info.self_signed {
        line("IssuedBy", "itself (self-signed)");
    } else if let Some(n) = info.issued_by {
        line("IssuedBy", &format!("certificate #{n} of this file (signature verified)"));
    }
    if let Some(matches) = info.key_matches {
        let yes = format!("yes ({})", info.matching_key.as_deref().unwrap_or("--key"));
        line("KeyMatches", if matches { &yes } else { "NO (no --key is its key)" });
    }
    out
}

/// The human-readable form of one CSR, a `Field: value` line each, indented.
pub(crate) fn render(info: &CsrInfo) -> String {
    let mut out = String::new();
    let mut line = |field: &str, value: &str| {
        let _ = writeln!(out, "  {:<18} {value}", format!("{field}:"));
    };
    render_subject(&info.subject, &mut line);
    line("Sans", &if info.sans.is_empty() { "(none)".to_owned() } else { info.sans.join(", ") });
    line("Algorithm", &info.algorithm);
    line("KeySize", &info.key_size.map_or_else(|| "?".to_owned(), |s| s.to_string()));
    line("KeySha2", &info.key_sha2);
    if !info.key_usage.is_empty() {
        line("KeyUsage", &info.key_usage.join(", "));
    }
    if !info.extended_key_usage.is_empty() {
        line("ExtendedKeyUsage", &info.extended_key_usage.join(", "));
    }
    if info.challenge_password {
        line("ChallengePassword", "present");
    }
    line("Signature", &info.signature_algorithm);
    let valid = match (info.signature_valid, info.sm2_distinguishing_id) {
        (true, Some(_)) => format!("yes (SM2 distinguishing ID {SM2_DIST_ID})"),
        (true, None) => "yes".to_owned(),
        (false, Some(DistinguishingId::Empty)) => format!("NO with distinguishing ID {SM2_DIST_ID}"),
        (false, _) => "NO".to_owned(),
    };
    line("SignatureValid", &valid);
    if let Some(matches) = info.key_matches {
        let yes = format!("yes ({})", info.matching_key.as_deref().unwrap_or("--key"));
        line("KeyMatches", if matches { &yes } else { "NO (no --key is its key)" });
    }
    for note in &info.notes {
        line("Note", note);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn split_finds_pem_blocks_and_der_runs() {
        assert_eq!(split(b""), vec![Err(InspectError::NoCsr)]);
        assert_eq!(split(b"hello"), vec![Err(InspectError::NoCsr)]);
        let two = [0x30u8, 0x01, 0x05, 0x30, 0x00];
        assert_eq!(split(&two), vec![Ok(vec![0x30, 0x01, 0x05]), Ok(vec![0x30, 0x00])]);
        let truncated = [0x30u8, 0x05, 0x01];
        assert_eq!(split(&truncated), vec![Err(InspectError::NoCsr)]);
        let pem = "x\n-----BEGIN CERTIFICATE-----\nMAA=\n-----END CERTIFICATE-----\n\
                   -----BEGIN CERTIFICATE REQUEST-----\nMAA=\n-----END CERTIFICATE REQUEST-----\n";
        assert_eq!(split(pem.as_bytes()), vec![Ok(vec![0x30, 0x00])]);
        assert!(matches!(inspect(&[0x30, 0x00], 1), Err(InspectError::NotCsr { index: 1, .. })));
    }

    #[test]
    fn our_own_csr_reads_back_under_the_create_csr_names() {
        use crate::manifest::{Field, Origin, RawRequest, RawValue};
        let fields = [
            (Field::Algorithm, "SM2"),
            (Field::CommonName, "www.example.com"),
            (Field::Sans, "192.0.2.1,2001:db8::1"),
            (Field::CountryCode, "CN"),
            (Field::Province, "Zhejiang"),
            (Field::Locality, "杭州"),
            (Field::Department, "IT"),
        ];
        let raw = RawRequest {
            origin: Origin { file: std::sync::Arc::from(std::path::Path::new("t.yaml")), line: 1 },
            ordinal: 1,
            fields: fields.iter().map(|(f, v)| (*f, RawValue::Text((*v).into()))).collect(),
            field_lines: Vec::new(),
        };
        let mut params = request::validate(&[raw]).unwrap().remove(0).params;
        params.extras.key_usage = [request::KeyUsage::DigitalSignature].into();
        params.extras.challenge_password = request::ChallengePassword::new("pw");
        let made = crypto::generate(&params, None).unwrap();
        let info = inspect(&made.csr.der, 1).unwrap();
        assert_eq!(info.subject.common_name.as_deref(), Some("www.example.com"));
        assert_eq!(info.subject.locality.as_deref(), Some("杭州"));
        assert_eq!(info.subject.corp_name, None);
        assert_eq!(info.sans, ["www.example.com", "192.0.2.1", "2001:db8::1"]);
        assert_eq!((info.algorithm.as_str(), info.key_size), ("SM2", Some(256)));
        assert_eq!(info.key_sha2, made.csr.key_sha2);
        assert_eq!(info.key_usage, ["digitalSignature"]);
        assert!(info.challenge_password && info.signature_valid);
        assert_eq!(info.sm2_distinguishing_id, Some(DistinguishingId::Standard));
        assert!(info.notes.is_empty(), "{:?}", info.notes);
        let json = serde_json::to_value(&info).unwrap();
        assert_eq!(json["Sm2DistinguishingId"], "1234567812345678");
        assert_eq!(json["SignatureAlgorithm"], "SM2-with-SM3");
        assert!(render(&info).contains("SignatureValid:    yes (SM2 distinguishing ID 1234567812345678)"));
        // One bit of the signature flipped: read, but not valid.
        let mut der = made.csr.der.clone();
        let at = der.len() - 3;
        der[at] ^= 0x01;
        let bad = inspect(&der, 1).unwrap();
        assert!(!bad.signature_valid);
        assert_eq!(bad.sm2_distinguishing_id, Some(DistinguishingId::Neither));
    }
}
