//! One X.509 certificate: its exact DER, and what csrbatch reads from it.

use std::fmt;
use std::net::IpAddr;

use base64ct::{Base64, Encoding};
use der::asn1::{
    BmpString, Ia5StringRef, ObjectIdentifier as Oid, PrintableStringRef, TeletexStringRef, Utf8StringRef,
};
use der::{Decode, Encode};
use sha2::{Digest, Sha256};
use time::OffsetDateTime;
use x509_cert::ext::pkix::name::GeneralName;
use x509_cert::ext::pkix::{
    AuthorityKeyIdentifier, BasicConstraints, ExtendedKeyUsage, KeyUsage, KeyUsages, SubjectAltName,
    SubjectKeyIdentifier,
};
use x509_cert::name::Name;

use crate::crypto::{self, PublicKeyType, SignatureCheck, oid};

/// An X.509 certificate that parsed (strict DER, RFC 5280 profile). It owns its DER, which
/// is never re-encoded: the fingerprint, the signature and every file written are of
/// exactly the bytes that were read.
#[derive(Clone)]
pub(crate) struct Certificate {
    der: Vec<u8>,
    parsed: x509_cert::Certificate,
    fingerprint: [u8; 32],
    spki: Vec<u8>,
    subject: Vec<u8>,
    issuer: Vec<u8>,
}

impl fmt::Debug for Certificate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Certificate")
            .field("subject", &self.subject_text())
            .field("issuer", &self.issuer_text())
            .field("sha256", &self.sha256_fingerprint_hex())
            .finish()
    }
}

impl PartialEq for Certificate {
    fn eq(&self, other: &Certificate) -> bool {
        self.der == other.der
    }
}

impl Eq for Certificate {}

impl Certificate {
    /// Parses one DER certificate (exactly: nothing after it).
    pub(crate) fn from_der(der: &[u8]) -> Result<Certificate, der::Error> {
        let parsed = x509_cert::Certificate::from_der(der)?;
        let tbs = parsed.tbs_certificate();
        let spki = tbs.subject_public_key_info().to_der()?;
        let subject = tbs.subject().to_der()?;
        let issuer = tbs.issuer().to_der()?;
        let fingerprint = Sha256::digest(der).into();
        Ok(Certificate { der: der.to_vec(), parsed, fingerprint, spki, subject, issuer })
    }

    /// The DER, as read.
    pub(crate) fn der(&self) -> &[u8] {
        &self.der
    }

    /// A `-----BEGIN CERTIFICATE-----` block, base64 in 64 columns, LF line ends.
    pub(crate) fn to_pem(&self) -> String {
        let body = Base64::encode_string(&self.der);
        let mut pem = String::with_capacity(body.len() + body.len() / 64 + 60);
        pem.push_str("-----BEGIN CERTIFICATE-----\n");
        for line in body.as_bytes().chunks(64) {
            // Base64 is ASCII.
            pem.push_str(std::str::from_utf8(line).unwrap_or_default());
            pem.push('\n');
        }
        pem.push_str("-----END CERTIFICATE-----\n");
        pem
    }

    /// The DER SubjectPublicKeyInfo.
    pub(crate) fn spki_der(&self) -> &[u8] {
        &self.spki
    }

    /// Lower-case hex SHA-256 of the DER SubjectPublicKeyInfo: the `KeySha2` of the key's
    /// CSR in summary.json (the same function computes both).
    pub(crate) fn spki_sha256_hex(&self) -> String {
        crypto::key_sha2(&self.spki)
    }

    /// SHA-256 of the DER.
    pub(crate) fn sha256_fingerprint(&self) -> [u8; 32] {
        self.fingerprint
    }

    /// Lower-case hex SHA-256 of the DER, as `openssl x509 -fingerprint -sha256` (without colons).
    pub(crate) fn sha256_fingerprint_hex(&self) -> String {
        hex::encode(self.fingerprint)
    }

    /// The serial number in lower-case hex, without the sign byte DER adds (as openssl shows it).
    pub(crate) fn serial_hex(&self) -> String {
        let bytes = self.parsed.tbs_certificate().serial_number().as_bytes();
        let skip = bytes.iter().take_while(|b| **b == 0).count().min(bytes.len().saturating_sub(1));
        hex::encode(&bytes[skip..])
    }

    /// The issuer's name, RFC 4514 style (`CN=...,O=...`, most specific first).
    pub(crate) fn issuer_text(&self) -> String {
        self.parsed.tbs_certificate().issuer().to_string()
    }

    /// The subject's name, RFC 4514 style.
    pub(crate) fn subject_text(&self) -> String {
        self.parsed.tbs_certificate().subject().to_string()
    }

    /// The subject Name.
    pub(crate) fn subject(&self) -> &Name {
        self.parsed.tbs_certificate().subject()
    }

    /// The DER of the subject Name (what issuers are looked up by).
    pub(crate) fn subject_der(&self) -> &[u8] {
        &self.subject
    }

    /// The DER of the issuer Name.
    pub(crate) fn issuer_der(&self) -> &[u8] {
        &self.issuer
    }

    /// The subject's (last, most specific) CommonName.
    pub(crate) fn common_name(&self) -> Option<String> {
        let mut cn = None;
        for atv in self.subject().iter() {
            if atv.oid == oid::COMMON_NAME {
                cn = Some(directory_string(&atv.value));
            }
        }
        cn
    }

    fn san(&self) -> Option<SubjectAltName> {
        self.parsed.tbs_certificate().get_extension::<SubjectAltName>().ok().flatten().map(|(_, san)| san)
    }

    /// Whether it has a subjectAltName extension (then the CN names nothing: RFC 6125 6.4.4).
    pub(crate) fn has_san(&self) -> bool {
        self.parsed.tbs_certificate().filter_extensions::<SubjectAltName>().next().is_some()
    }

    /// The dNSName entries of its subjectAltName, as written.
    pub(crate) fn dns_names(&self) -> Vec<String> {
        let names = self.san().map(|s| s.0).unwrap_or_default();
        names
            .iter()
            .filter_map(|n| match n {
                GeneralName::DnsName(d) => Some(d.to_string()),
                _ => None,
            })
            .collect()
    }

    /// The iPAddress entries of its subjectAltName.
    pub(crate) fn ip_addresses(&self) -> Vec<IpAddr> {
        let names = self.san().map(|s| s.0).unwrap_or_default();
        names
            .iter()
            .filter_map(|n| match n {
                GeneralName::IpAddress(ip) => ip_address(ip.as_bytes()),
                _ => None,
            })
            .collect()
    }

    /// Every subjectAltName entry as `inspect` shows it: DNS names and IP addresses as
    /// written, other types prefixed (`email:`, `URI:`).
    pub(crate) fn sans_text(&self) -> Vec<String> {
        self.san().map(|s| s.0.iter().map(general_name).collect()).unwrap_or_default()
    }

    /// notBefore.
    pub(crate) fn not_before(&self) -> OffsetDateTime {
        to_offset(self.parsed.tbs_certificate().validity().not_before)
    }

    /// notAfter.
    pub(crate) fn not_after(&self) -> OffsetDateTime {
        to_offset(self.parsed.tbs_certificate().validity().not_after)
    }

    /// Whether basicConstraints says cA (an unreadable or repeated extension: no).
    pub(crate) fn is_ca(&self) -> bool {
        matches!(self.parsed.tbs_certificate().get_extension::<BasicConstraints>(), Ok(Some((_, bc))) if bc.ca)
    }

    /// The keyUsage bits by their RFC 5280 names; `None` without the extension.
    pub(crate) fn key_usage(&self) -> Option<Vec<&'static str>> {
        match self.parsed.tbs_certificate().get_extension::<KeyUsage>() {
            Ok(Some((_, usage))) => Some(key_usage_names(usage)),
            _ => None,
        }
    }

    /// The extendedKeyUsage purposes (`serverAuth`, ..., or the OID).
    pub(crate) fn extended_key_usage(&self) -> Vec<String> {
        match self.parsed.tbs_certificate().get_extension::<ExtendedKeyUsage>() {
            Ok(Some((_, usage))) => {
                usage.0.iter().map(|o| crate::request::ExtendedKeyUsage::from_oid(*o).to_string()).collect()
            }
            _ => Vec::new(),
        }
    }

    /// Whether `issuer` is the certificate this one names as its issuer: its subject is
    /// this one's issuer name and, when both say, its subjectKeyIdentifier is this one's
    /// authorityKeyIdentifier (a CA's older or newer key under the same name is not).
    /// The names only: the signature is [`Certificate::check_signed_by`]'s.
    pub(crate) fn names_as_issuer(&self, issuer: &Certificate) -> bool {
        let tbs = self.parsed.tbs_certificate();
        let authority = match tbs.get_extension::<AuthorityKeyIdentifier>() {
            Ok(Some((_, aki))) => aki.key_identifier,
            _ => None,
        };
        let subject = match issuer.parsed.tbs_certificate().get_extension::<SubjectKeyIdentifier>() {
            Ok(Some((_, ski))) => Some(ski.0),
            _ => None,
        };
        self.issuer == issuer.subject
            && match (authority, subject) {
                (Some(a), Some(s)) => a == s,
                _ => true,
            }
    }

    /// Whether subject and issuer are the same name (a root, or a self-issued key rollover).
    pub(crate) fn is_self_issued(&self) -> bool {
        self.subject == self.issuer
    }

    /// The type of its public key; `None` when the SubjectPublicKeyInfo cannot be read.
    pub(crate) fn public_key_type(&self) -> Option<PublicKeyType> {
        PublicKeyType::of_spki(&self.spki)
    }

    /// The signature algorithm of its own signature.
    pub(crate) fn signature_algorithm(&self) -> Oid {
        self.parsed.signature_algorithm().oid
    }

    /// Whether its signature verifies under `issuer_spki` (SM2: with the GM/T 0009 ID).
    pub(crate) fn check_signed_by(&self, issuer_spki: &[u8]) -> SignatureCheck {
        let (Some(tbs), Some(signature)) =
            (crypto::signed_bytes(&self.der), self.parsed.signature().as_bytes())
        else {
            return SignatureCheck::Invalid;
        };
        // RFC 5280 4.1.1.2: the outer algorithm must be the one inside what was signed.
        if self.parsed.signature_algorithm() != self.parsed.tbs_certificate().signature() {
            return SignatureCheck::Invalid;
        }
        crypto::verify_signature(issuer_spki, self.signature_algorithm(), tbs, signature)
    }
}

fn to_offset(t: x509_cert::time::Time) -> OffsetDateTime {
    let secs = i64::try_from(t.to_unix_duration().as_secs()).unwrap_or(i64::MAX);
    OffsetDateTime::from_unix_timestamp(secs).unwrap_or(OffsetDateTime::UNIX_EPOCH)
}

/// Whole days from `now` to `not_after`, rounded down: -1 on the day after it (what
/// `plan` and `inspect` show as `DaysLeft`).
pub(crate) fn days_left(not_after: OffsetDateTime, now: OffsetDateTime) -> i64 {
    (not_after - now).whole_seconds().div_euclid(86_400)
}

/// RFC 3339 in UTC, to the second: `2026-12-03T05:00:00Z`.
pub(crate) fn rfc3339(t: OffsetDateTime) -> String {
    let t = t.to_offset(time::UtcOffset::UTC);
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}Z",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second()
    )
}

/// The text of a DirectoryString (or IA5String), whichever string type it is; other
/// values as `#` and their hex.
pub(crate) fn directory_string(value: &der::asn1::Any) -> String {
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

fn ip_address(bytes: &[u8]) -> Option<IpAddr> {
    match bytes.len() {
        4 => <[u8; 4]>::try_from(bytes).ok().map(IpAddr::from),
        16 => <[u8; 16]>::try_from(bytes).ok().map(IpAddr::from),
        _ => None,
    }
}

/// A subjectAltName entry as text: DNS names and IP addresses as written, other name
/// types prefixed (`email:`, `URI:`).
pub(crate) fn general_name(name: &GeneralName) -> String {
    match name {
        GeneralName::DnsName(d) => d.to_string(),
        GeneralName::IpAddress(ip) => match ip_address(ip.as_bytes()) {
            Some(ip) => ip.to_string(),
            None => format!("IP:#{}", hex::encode(ip.as_bytes())),
        },
        GeneralName::Rfc822Name(m) => format!("email:{m}"),
        GeneralName::UniformResourceIdentifier(u) => format!("URI:{u}"),
        other => format!("{other:?}"),
    }
}

/// The keyUsage bits set, by their RFC 5280 names.
pub(crate) fn key_usage_names(usage: KeyUsage) -> Vec<&'static str> {
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
    NAMES.iter().filter(|(flag, _)| usage.0.contains(*flag)).map(|(_, name)| *name).collect()
}
