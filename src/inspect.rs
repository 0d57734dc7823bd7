//! `csrbatch inspect`: what a CSR made by any tool asks for, under the `CreateCsr` names,
//! and whether its signature verifies (SM2: under which distinguishing ID). Pure: bytes
//! in, a typed report out; reading files and printing is `cmd::inspect`'s.

use std::fmt::Write as _;

use der::asn1::{BmpString, Ia5StringRef, PrintableStringRef, TeletexStringRef, Utf8StringRef};
use der::{Decode, Encode, Header, SliceReader};
use serde::Serialize;
use x509_cert::ext::Extension;
use x509_cert::ext::pkix::name::GeneralName;
use x509_cert::ext::pkix::{ExtendedKeyUsage, KeyUsage, KeyUsages, SubjectAltName};
use x509_cert::request::CertReq;

use crate::crypto::pem::{self, PemError};
use crate::crypto::{self, PublicKeyType, SM2_DIST_ID, SignatureCheck, oid};
use crate::request;

/// Why bytes could not be inspected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub(crate) enum InspectError {
    /// Neither a PEM `CERTIFICATE REQUEST` block nor DER.
    #[error("no CSR in it (expected PEM -----BEGIN CERTIFICATE REQUEST----- or DER)")]
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

/// One CSR, as `CreateCsr` would have been asked for it. Absent subject fields are null.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct CsrInfo {
    pub(crate) common_name: Option<String>,
    pub(crate) country_code: Option<String>,
    pub(crate) province: Option<String>,
    pub(crate) locality: Option<String>,
    pub(crate) corp_name: Option<String>,
    pub(crate) department: Option<String>,
    /// Subject attributes `CreateCsr` has no name for, as `OID=value`.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub(crate) other_subject: Vec<String>,
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
    /// What a person should know: why a signature was not checked, a wrong ID, ...
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub(crate) notes: Vec<String>,
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
    /// Why the file or one of its CSRs could not be read.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub(crate) errors: Vec<String>,
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
        common_name: None,
        country_code: None,
        province: None,
        locality: None,
        corp_name: None,
        department: None,
        other_subject: Vec::new(),
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
        notes: Vec::new(),
    };
    read_subject(&request, &mut info);
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

fn read_subject(request: &CertReq, info: &mut CsrInfo) {
    for rdn in request.info.subject.as_ref().iter() {
        for atv in rdn.as_ref().iter() {
            let value = directory_string(&atv.value);
            let slot = match atv.oid {
                oid::COUNTRY => &mut info.country_code,
                oid::PROVINCE => &mut info.province,
                oid::LOCALITY => &mut info.locality,
                oid::ORGANIZATION => &mut info.corp_name,
                oid::ORGANIZATIONAL_UNIT => &mut info.department,
                oid::COMMON_NAME => &mut info.common_name,
                other => {
                    info.other_subject.push(format!("{other}={value}"));
                    continue;
                }
            };
            match slot {
                // A second value of one attribute (two OUs, ...) has no CreateCsr field.
                Some(_) => info.other_subject.push(format!("{}={value}", atv.oid)),
                None => *slot = Some(value),
            }
        }
    }
}

/// The text of a DirectoryString (or IA5String), whichever string type it is.
fn directory_string(value: &der::asn1::Any) -> String {
    if let Ok(s) = value.decode_as::<Utf8StringRef<'_>>() {
        return s.as_str().to_owned();
    }
    if let Ok(s) = value.decode_as::<PrintableStringRef<'_>>() {
        return s.as_str().to_owned();
    }
    if let Ok(s) = value.decode_as::<Ia5StringRef<'_>>() {
        return s.as_str().to_owned();
    }
    if let Ok(s) = value.decode_as::<TeletexStringRef<'_>>() {
        return s.as_str().to_owned();
    }
    if let Ok(s) = value.decode_as::<BmpString>() {
        return s.to_string();
    }
    format!("#{}", hex::encode(value.value()))
}

fn read_extension(extension: &Extension, info: &mut CsrInfo) {
    let bytes = extension.extn_value.as_bytes();
    match extension.extn_id {
        oid::SUBJECT_ALT_NAME => match SubjectAltName::from_der(bytes) {
            Ok(names) => info.sans.extend(names.0.iter().map(general_name)),
            Err(e) => info.notes.push(format!("unreadable subjectAltName: {e}")),
        },
        oid::KEY_USAGE => match KeyUsage::from_der(bytes) {
            Ok(usage) => info.key_usage.extend(key_usage_names(usage)),
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

fn general_name(name: &GeneralName) -> String {
    match name {
        GeneralName::DnsName(d) => d.to_string(),
        GeneralName::IpAddress(ip) => match ip.as_bytes() {
            b if b.len() == 4 => {
                <[u8; 4]>::try_from(b).map(|a| std::net::IpAddr::from(a).to_string()).unwrap_or_default()
            }
            b if b.len() == 16 => {
                <[u8; 16]>::try_from(b).map(|a| std::net::IpAddr::from(a).to_string()).unwrap_or_default()
            }
            b => format!("IP:#{}", hex::encode(b)),
        },
        GeneralName::Rfc822Name(m) => format!("email:{m}"),
        GeneralName::UniformResourceIdentifier(u) => format!("URI:{u}"),
        other => format!("{other:?}"),
    }
}

fn key_usage_names(usage: KeyUsage) -> Vec<String> {
    const NAMES: [(KeyUsages, &str); 9] = [
        (KeyUsages::DigitalSignature, "digitalSignature"),
        (KeyUsages::NonRepudiation, "nonRepudiation"),
        (KeyUsages::KeyEncipherment, "keyEncipherment"),
        (KeyUsages::DataEncipherment, "dataEncipherment"),
        (KeyUsages::KeyAgreement, "keyAgreement"),
        (KeyUsages::KeyCertSign, "keyCertSign"),
        (KeyUsages::CRLSign, "cRLSign"),
        (KeyUsages::EncipherOnly, "encipherOnly"),
        (KeyUsages::DecipherOnly, "decipherOnly"),
    ];
    NAMES.iter().filter(|(flag, _)| usage.0.contains(*flag)).map(|(_, name)| (*name).to_owned()).collect()
}

/// The human-readable form of one CSR, a `Field: value` line each, indented.
pub(crate) fn render(info: &CsrInfo) -> String {
    let mut out = String::new();
    let mut line = |field: &str, value: &str| {
        let _ = writeln!(out, "  {:<18} {value}", format!("{field}:"));
    };
    for (field, value) in [
        ("CommonName", &info.common_name),
        ("CountryCode", &info.country_code),
        ("Province", &info.province),
        ("Locality", &info.locality),
        ("CorpName", &info.corp_name),
        ("Department", &info.department),
    ] {
        if let Some(v) = value {
            line(field, v);
        }
    }
    for other in &info.other_subject {
        line("Subject (other)", other);
    }
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
        assert_eq!(info.common_name.as_deref(), Some("www.example.com"));
        assert_eq!(info.locality.as_deref(), Some("杭州"));
        assert_eq!(info.corp_name, None);
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
