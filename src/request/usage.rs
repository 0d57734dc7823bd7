//! What a CSR may ask for beyond its subject and SANs: KeyUsage, ExtendedKeyUsage and a
//! PKCS#9 challengePassword. Parsing of the manifest text lives here; the DER is the
//! crypto layer's. Usages are kept in sets, so order in a manifest never matters.

use std::collections::BTreeSet;
use std::fmt;
use std::str::FromStr;

use der::asn1::ObjectIdentifier;
use serde::{Deserialize, Serialize};

use super::KeyAlgorithm;
use crate::manifest::Problem;
use crate::manifest::{Field, RawRequest, RawValue};

/// The keyUsage bits a request may ask for (RFC 5280 4.2.1.3), in bit order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum KeyUsage {
    /// Signatures other than on certificates and CRLs (TLS handshakes, documents).
    DigitalSignature,
    /// Also called contentCommitment.
    NonRepudiation,
    /// Key transport: RSA only (an ECC or SM2 key cannot encrypt a key).
    KeyEncipherment,
    /// Data encrypted with the public key: RSA or SM2 (ECDSA P-256 cannot encrypt).
    DataEncipherment,
    /// Diffie-Hellman: ECC and SM2 only.
    KeyAgreement,
}

impl KeyUsage {
    pub(crate) const ALL: [KeyUsage; 5] = [
        KeyUsage::DigitalSignature,
        KeyUsage::NonRepudiation,
        KeyUsage::KeyEncipherment,
        KeyUsage::DataEncipherment,
        KeyUsage::KeyAgreement,
    ];

    pub(crate) fn as_str(self) -> &'static str {
        match self {
            KeyUsage::DigitalSignature => "digitalSignature",
            KeyUsage::NonRepudiation => "nonRepudiation",
            KeyUsage::KeyEncipherment => "keyEncipherment",
            KeyUsage::DataEncipherment => "dataEncipherment",
            KeyUsage::KeyAgreement => "keyAgreement",
        }
    }

    /// Whether a key of this type can do it. keyEncipherment is key transport, which
    /// needs an encryption key: RSA only (the rule; CAs refuse it on EC keys).
    /// dataEncipherment needs public-key encryption: RSA, or SM2 (GM/T 0003.4), not
    /// ECDSA P-256. keyAgreement is Diffie-Hellman: the elliptic-curve keys only.
    pub(crate) fn fits(self, key: KeyAlgorithm) -> bool {
        let rsa = !matches!(key, KeyAlgorithm::Ecc | KeyAlgorithm::Sm2);
        match self {
            KeyUsage::KeyEncipherment => rsa,
            KeyUsage::DataEncipherment => key != KeyAlgorithm::Ecc,
            KeyUsage::KeyAgreement => !rsa,
            KeyUsage::DigitalSignature | KeyUsage::NonRepudiation => true,
        }
    }
}

impl KeyUsage {
    /// Why [`KeyUsage::fits`] says no, for the message.
    fn why_not(self) -> &'static str {
        match self {
            KeyUsage::KeyEncipherment => "key transport needs an RSA key",
            KeyUsage::DataEncipherment => "an ECDSA P-256 key cannot encrypt",
            KeyUsage::KeyAgreement => "an RSA key does no key agreement",
            KeyUsage::DigitalSignature | KeyUsage::NonRepudiation => "",
        }
    }
}

/// The KeyUsage, ExtendedKeyUsage and ChallengePassword fields of a request, each error
/// reported through `fail`. `key` is the request's key type when it is valid.
pub(super) fn parse(
    raw: &RawRequest,
    key: Option<KeyAlgorithm>,
    fail: &mut dyn FnMut(Field, Problem),
) -> CsrExtras {
    let mut extras = CsrExtras::default();
    for item in super::sans_items(raw.get(Field::KeyUsage)) {
        match (item.parse::<KeyUsage>(), key) {
            (Err(()), _) => fail(Field::KeyUsage, Problem::UnknownKeyUsage(item.to_owned())),
            (Ok(usage), Some(key)) if !usage.fits(key) => fail(
                Field::KeyUsage,
                Problem::KeyUsageForKey {
                    usage: usage.as_str(),
                    algorithm: key.algorithm(),
                    why: usage.why_not(),
                },
            ),
            (Ok(usage), _) => {
                extras.key_usage.insert(usage);
            }
        }
    }
    for item in super::sans_items(raw.get(Field::ExtendedKeyUsage)) {
        match item.parse::<ExtendedKeyUsage>() {
            Ok(purpose) => {
                extras.extended_key_usage.insert(purpose);
            }
            Err(()) => fail(Field::ExtendedKeyUsage, Problem::UnknownExtendedKeyUsage(item.to_owned())),
        }
    }
    if let Some(RawValue::Text(text)) = raw.get(Field::ChallengePassword) {
        let text = text.trim();
        let len = text.chars().count();
        if let Some(c) = text.chars().find(|c| c.is_control()) {
            fail(Field::ChallengePassword, Problem::ControlChar(c as u32));
        } else if len > MAX_CHALLENGE_PASSWORD {
            fail(Field::ChallengePassword, Problem::TooLong { max: MAX_CHALLENGE_PASSWORD, len });
        } else {
            // Empty means absent, as for every optional field.
            extras.challenge_password = ChallengePassword::new(text);
        }
    }
    extras
}

impl fmt::Display for KeyUsage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for KeyUsage {
    type Err = ();
    /// The RFC 5280 names, ignoring case; `contentCommitment` is `nonRepudiation`.
    fn from_str(s: &str) -> Result<KeyUsage, ()> {
        if s.eq_ignore_ascii_case("contentCommitment") {
            return Ok(KeyUsage::NonRepudiation);
        }
        KeyUsage::ALL.into_iter().find(|k| k.as_str().eq_ignore_ascii_case(s)).ok_or(())
    }
}

/// An extendedKeyUsage purpose (RFC 5280 4.2.1.12): a named one or any other OID.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ExtendedKeyUsage {
    /// `serverAuth` (1.3.6.1.5.5.7.3.1): TLS server.
    ServerAuth,
    /// `clientAuth` (1.3.6.1.5.5.7.3.2): TLS client.
    ClientAuth,
    /// `codeSigning` (1.3.6.1.5.5.7.3.3).
    CodeSigning,
    /// `emailProtection` (1.3.6.1.5.5.7.3.4): S/MIME.
    EmailProtection,
    /// `timeStamping` (1.3.6.1.5.5.7.3.8).
    TimeStamping,
    /// `OCSPSigning` (1.3.6.1.5.5.7.3.9): signs OCSP responses.
    OcspSigning,
    /// A purpose given as a dotted OID that has none of the names above.
    Oid(ObjectIdentifier),
}

/// id-kp (RFC 5280 4.2.1.12): 1.3.6.1.5.5.7.3.N.
const NAMED: [(ExtendedKeyUsage, &str, ObjectIdentifier); 6] = [
    (ExtendedKeyUsage::ServerAuth, "serverAuth", ObjectIdentifier::new_unwrap("1.3.6.1.5.5.7.3.1")),
    (ExtendedKeyUsage::ClientAuth, "clientAuth", ObjectIdentifier::new_unwrap("1.3.6.1.5.5.7.3.2")),
    (ExtendedKeyUsage::CodeSigning, "codeSigning", ObjectIdentifier::new_unwrap("1.3.6.1.5.5.7.3.3")),
    (ExtendedKeyUsage::EmailProtection, "emailProtection", ObjectIdentifier::new_unwrap("1.3.6.1.5.5.7.3.4")),
    (ExtendedKeyUsage::TimeStamping, "timeStamping", ObjectIdentifier::new_unwrap("1.3.6.1.5.5.7.3.8")),
    (ExtendedKeyUsage::OcspSigning, "OCSPSigning", ObjectIdentifier::new_unwrap("1.3.6.1.5.5.7.3.9")),
];

impl ExtendedKeyUsage {
    pub(crate) fn oid(self) -> ObjectIdentifier {
        match self {
            ExtendedKeyUsage::Oid(oid) => oid,
            named => NAMED
                .iter()
                .find(|(k, _, _)| *k == named)
                .map_or(ObjectIdentifier::new_unwrap("0.0"), |n| n.2),
        }
    }

    /// The purpose of an OID: the named one when there is one, so that `serverAuth` and
    /// `1.3.6.1.5.5.7.3.1` are the same purpose.
    pub(crate) fn from_oid(oid: ObjectIdentifier) -> ExtendedKeyUsage {
        NAMED.iter().find(|n| n.2 == oid).map_or(ExtendedKeyUsage::Oid(oid), |n| n.0)
    }
}

impl fmt::Display for ExtendedKeyUsage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ExtendedKeyUsage::Oid(oid) => write!(f, "{oid}"),
            named => f.write_str(NAMED.iter().find(|n| n.0 == *named).map_or("?", |n| n.1)),
        }
    }
}

impl FromStr for ExtendedKeyUsage {
    type Err = ();
    /// A name (ignoring case) or a dotted OID of at least three arcs.
    fn from_str(s: &str) -> Result<ExtendedKeyUsage, ()> {
        if let Some(n) = NAMED.iter().find(|n| n.1.eq_ignore_ascii_case(s)) {
            return Ok(n.0);
        }
        let dotted = s.split('.').count() >= 3 && s.bytes().all(|b| b.is_ascii_digit() || b == b'.');
        match ObjectIdentifier::new(s) {
            Ok(oid) if dotted => Ok(ExtendedKeyUsage::from_oid(oid)),
            _ => Err(()),
        }
    }
}

impl Serialize for ExtendedKeyUsage {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for ExtendedKeyUsage {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        text.parse().map_err(|()| serde::de::Error::custom(format!("`{text}` is not an extended key usage")))
    }
}

/// The PKCS#9 challengePassword (RFC 2985 5.4.1): 1 to 255 characters, no control
/// characters. `Debug` does not print it.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct ChallengePassword(String);

/// ub-challengePassword (RFC 2985).
pub(crate) const MAX_CHALLENGE_PASSWORD: usize = crate::manifest::field::MAX_CHALLENGE_PASSWORD;

impl ChallengePassword {
    /// `None` when empty, too long or holding a control character: the caller says which.
    pub fn new(text: &str) -> Option<ChallengePassword> {
        let len = text.chars().count();
        let fine = (1..=MAX_CHALLENGE_PASSWORD).contains(&len) && !text.chars().any(char::is_control);
        fine.then(|| ChallengePassword(text.to_owned()))
    }

    pub(crate) fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for ChallengePassword {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ChallengePassword(..)")
    }
}

/// A request's extensions and attributes beyond subject and SANs; empty by default.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct CsrExtras {
    /// The keyUsage bits; empty: the CSR has no keyUsage extension.
    pub key_usage: BTreeSet<KeyUsage>,
    /// The extendedKeyUsage purposes; empty: no extendedKeyUsage extension.
    pub extended_key_usage: BTreeSet<ExtendedKeyUsage>,
    /// The challengePassword attribute, if asked for.
    pub challenge_password: Option<ChallengePassword>,
}

impl CsrExtras {
    /// Whether nothing is asked for: the CSR holds only its subject and SANs.
    pub fn is_empty(&self) -> bool {
        self.key_usage.is_empty() && self.extended_key_usage.is_empty() && self.challenge_password.is_none()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_usage_names_round_trip_ignoring_case() {
        for k in KeyUsage::ALL {
            assert_eq!(k.as_str().parse(), Ok(k));
            assert_eq!(k.as_str().to_ascii_uppercase().parse(), Ok(k));
        }
        assert_eq!("contentCommitment".parse(), Ok(KeyUsage::NonRepudiation));
        assert_eq!("keyCertSign".parse::<KeyUsage>(), Err(()));
        assert!(!KeyUsage::KeyEncipherment.fits(KeyAlgorithm::Sm2));
        assert!(KeyUsage::KeyEncipherment.fits(KeyAlgorithm::Rsa3072));
        assert!(!KeyUsage::KeyAgreement.fits(KeyAlgorithm::Rsa2048));
        assert!(!KeyUsage::DataEncipherment.fits(KeyAlgorithm::Ecc));
        assert!(KeyUsage::DigitalSignature.fits(KeyAlgorithm::Ecc));
    }

    #[test]
    fn extended_key_usage_names_and_oids_are_one_purpose() {
        assert_eq!("serverauth".parse(), Ok(ExtendedKeyUsage::ServerAuth));
        assert_eq!("1.3.6.1.5.5.7.3.1".parse(), Ok(ExtendedKeyUsage::ServerAuth));
        assert_eq!("OCSPSigning".parse(), Ok(ExtendedKeyUsage::OcspSigning));
        let custom: ExtendedKeyUsage = "1.3.6.1.4.1.311.10.3.12".parse().unwrap();
        assert_eq!(custom.to_string(), "1.3.6.1.4.1.311.10.3.12");
        for bad in ["", "anyPurpose", "1.3", "1..3", "1.3.x", "3.1.2"] {
            assert_eq!(bad.parse::<ExtendedKeyUsage>(), Err(()), "{bad}");
        }
        for (k, name, oid) in NAMED {
            assert_eq!(k.to_string(), name);
            assert_eq!(k.oid(), oid);
        }
        assert_eq!(serde_json::to_string(&ExtendedKeyUsage::OcspSigning).unwrap(), "\"OCSPSigning\"");
    }

    #[test]
    fn the_field_table_names_the_usages_the_types_take() {
        // The schema offers these names; each must parse, and each usage be offered.
        use crate::manifest::field::{EXTENDED_KEY_USAGES, KEY_USAGES};
        for name in KEY_USAGES {
            assert!(name.parse::<KeyUsage>().is_ok(), "{name}");
        }
        for k in KeyUsage::ALL {
            assert!(KEY_USAGES.contains(&k.as_str()), "{k}");
        }
        let named: Vec<&str> = NAMED.iter().map(|n| n.1).collect();
        assert_eq!(named, EXTENDED_KEY_USAGES);
    }

    #[test]
    fn challenge_password_bounds_and_debug() {
        assert!(ChallengePassword::new("").is_none());
        assert!(ChallengePassword::new("a\nb").is_none());
        assert!(ChallengePassword::new(&"x".repeat(256)).is_none());
        let p = ChallengePassword::new(&"密".repeat(255)).unwrap();
        assert_eq!(format!("{p:?}"), "ChallengePassword(..)");
    }
}
