//! CSRs made by any tool: the type of key they carry and whether their signature
//! verifies, for the signature algorithms such CSRs use (RSA PKCS#1 v1.5, ECDSA on P-256
//! and P-384, Ed25519, SM2-with-SM3 under either distinguishing ID). No file I/O.

use std::fmt;

use der::asn1::ObjectIdentifier as Oid;
use der::{Decode, Encode, Header, Reader, SliceReader};
use x509_cert::request::CertReq;

use super::{csr_sm2, oid, verify};
use crate::request::KeyAlgorithm;

/// The key in a SubjectPublicKeyInfo.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum PublicKeyType {
    Rsa {
        bits: u32,
    },
    P256,
    P384,
    Sm2,
    Ed25519,
    /// id-ecPublicKey on another curve (or none named).
    OtherCurve(Option<Oid>),
    Other(Oid),
}

impl PublicKeyType {
    /// Of a DER SubjectPublicKeyInfo; `None` when it is not one.
    pub(crate) fn of_spki(spki: &[u8]) -> Option<PublicKeyType> {
        let info = spki::SubjectPublicKeyInfoRef::try_from(spki).ok()?;
        let curve = info.algorithm.parameters.and_then(|p| p.decode_as::<Oid>().ok());
        Some(match (info.algorithm.oid, curve) {
            (oid::RSA_ENCRYPTION, _) => {
                PublicKeyType::Rsa { bits: rsa_bits(info.subject_public_key.raw_bytes())? }
            }
            (oid::EC_PUBLIC_KEY, Some(oid::SECP256R1)) => PublicKeyType::P256,
            (oid::EC_PUBLIC_KEY, Some(oid::SECP384R1)) => PublicKeyType::P384,
            (oid::EC_PUBLIC_KEY, Some(oid::SM2_CURVE)) => PublicKeyType::Sm2,
            (oid::EC_PUBLIC_KEY, curve) => PublicKeyType::OtherCurve(curve),
            (oid::ED25519, _) => PublicKeyType::Ed25519,
            (other, _) => PublicKeyType::Other(other),
        })
    }

    /// The `Algorithm` parameter (`RSA`, `ECC`, `SM2`), or what the key is otherwise.
    pub(crate) fn algorithm(self) -> String {
        match self {
            PublicKeyType::Rsa { .. } => "RSA".into(),
            PublicKeyType::P256 | PublicKeyType::P384 => "ECC".into(),
            PublicKeyType::Sm2 => "SM2".into(),
            PublicKeyType::Ed25519 => "Ed25519".into(),
            PublicKeyType::OtherCurve(Some(c)) => format!("EC on curve {c}"),
            PublicKeyType::OtherCurve(None) => "EC (no named curve)".into(),
            PublicKeyType::Other(o) => format!("key algorithm {o}"),
        }
    }

    pub(crate) fn key_size(self) -> Option<u32> {
        match self {
            PublicKeyType::Rsa { bits } => Some(bits),
            PublicKeyType::P256 | PublicKeyType::Sm2 | PublicKeyType::Ed25519 => Some(256),
            PublicKeyType::P384 => Some(384),
            PublicKeyType::OtherCurve(_) | PublicKeyType::Other(_) => None,
        }
    }

    /// The `CreateCsr` key type this is, if it is one.
    pub(crate) fn create_csr(self) -> Option<KeyAlgorithm> {
        match self {
            PublicKeyType::Rsa { bits: 2048 } => Some(KeyAlgorithm::Rsa2048),
            PublicKeyType::Rsa { bits: 3072 } => Some(KeyAlgorithm::Rsa3072),
            PublicKeyType::Rsa { bits: 4096 } => Some(KeyAlgorithm::Rsa4096),
            PublicKeyType::P256 => Some(KeyAlgorithm::Ecc),
            PublicKeyType::Sm2 => Some(KeyAlgorithm::Sm2),
            _ => None,
        }
    }
}

/// The modulus size of a PKCS#1 RSAPublicKey, `SEQUENCE { n INTEGER, e INTEGER }`, read
/// by hand: the `rsa` crate refuses moduli above 4096 bits, which other tools make.
fn rsa_bits(der: &[u8]) -> Option<u32> {
    let mut reader = SliceReader::new(der).ok()?;
    let n: der::asn1::UintRef<'_> = reader
        .sequence(|r| {
            let n = r.decode()?;
            let _e: der::asn1::UintRef<'_> = r.decode()?;
            Ok::<_, der::Error>(n)
        })
        .ok()?;
    let bytes = n.as_bytes();
    let first = *bytes.first()?;
    Some(u32::try_from(bytes.len()).ok()? * 8 - first.leading_zeros())
}

/// The name of a signature algorithm, or its OID.
pub(crate) fn signature_algorithm_name(algorithm: Oid) -> String {
    let name = match algorithm {
        oid::SHA256_WITH_RSA => "sha256WithRSAEncryption",
        oid::SHA1_WITH_RSA => "sha1WithRSAEncryption",
        oid::SHA384_WITH_RSA => "sha384WithRSAEncryption",
        oid::SHA512_WITH_RSA => "sha512WithRSAEncryption",
        oid::RSASSA_PSS => "RSASSA-PSS",
        oid::ECDSA_WITH_SHA256 => "ecdsa-with-SHA256",
        oid::ECDSA_WITH_SHA1 => "ecdsa-with-SHA1",
        oid::ECDSA_WITH_SHA384 => "ecdsa-with-SHA384",
        oid::ECDSA_WITH_SHA512 => "ecdsa-with-SHA512",
        oid::SM2_WITH_SM3 => "SM2-with-SM3",
        oid::ED25519 => "Ed25519",
        other => return other.to_string(),
    };
    name.to_owned()
}

/// Whether a CSR's signature verifies under its own public key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum SignatureCheck {
    /// Valid (SM2: with the standard distinguishing ID `1234567812345678`).
    Valid,
    /// SM2 only: valid with an empty distinguishing ID and not with the standard one, as
    /// `openssl req` signs without `-sigopt distid:1234567812345678`.
    EmptySm2Id,
    /// Does not verify.
    Invalid,
    /// A signature algorithm (or key) this tool cannot check: the reason.
    Unsupported(String),
}

impl fmt::Display for SignatureCheck {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SignatureCheck::Valid => f.write_str("valid"),
            SignatureCheck::EmptySm2Id => f.write_str("valid only with an empty SM2 distinguishing ID"),
            SignatureCheck::Invalid => f.write_str("invalid"),
            SignatureCheck::Unsupported(why) => write!(f, "not checked: {why}"),
        }
    }
}

/// Checks the signature of a DER CertificationRequest, whoever made it.
pub(crate) fn check_csr_signature(der: &[u8]) -> SignatureCheck {
    let Ok(request) = CertReq::from_der(der) else {
        return SignatureCheck::Unsupported("not a DER CertificationRequest".into());
    };
    let Ok(spki) = request.info.public_key.to_der() else {
        return SignatureCheck::Unsupported("the public key cannot be encoded".into());
    };
    let Some(signed) = signed_bytes(der) else {
        return SignatureCheck::Unsupported("the CertificationRequestInfo cannot be found".into());
    };
    let Some(signature) = request.signature.as_bytes() else {
        return SignatureCheck::Invalid;
    };
    verify_signature(&spki, request.algorithm.oid, signed, signature)
}

/// Whether `signature` over `message` verifies under the key `spki` (a DER
/// SubjectPublicKeyInfo) with the signature `algorithm`: the one check of CSRs and
/// certificates from any tool (RSA PKCS#1 v1.5 with SHA-256/384/512, ECDSA P-256/P-384
/// with SHA-256/384, Ed25519, SM2-with-SM3 with the GM/T 0009 distinguishing ID).
pub(crate) fn verify_signature(
    spki: &[u8],
    algorithm: Oid,
    message: &[u8],
    signature: &[u8],
) -> SignatureCheck {
    let key = PublicKeyType::of_spki(spki);
    let ring_alg: &'static dyn ring::signature::VerificationAlgorithm = match (key, algorithm) {
        (Some(PublicKeyType::Sm2), oid::SM2_WITH_SM3) => return sm2_check(spki, message, signature),
        // ring checks RSA keys of 1024 to 8192 bits only: outside that, say so, never "invalid".
        (Some(PublicKeyType::Rsa { bits }), _) if !(1024..=8192).contains(&bits) => {
            return SignatureCheck::Unsupported(format!("RSA-{bits} signatures are not checked"));
        }
        // Keys below 2048 bits are weak, but whether the signature holds is still a fact.
        (Some(PublicKeyType::Rsa { bits }), oid::SHA256_WITH_RSA) if bits < 2048 => {
            &ring::signature::RSA_PKCS1_1024_8192_SHA256_FOR_LEGACY_USE_ONLY
        }
        (Some(PublicKeyType::Rsa { bits }), oid::SHA512_WITH_RSA) if bits < 2048 => {
            &ring::signature::RSA_PKCS1_1024_8192_SHA512_FOR_LEGACY_USE_ONLY
        }
        (Some(PublicKeyType::Rsa { .. }), oid::SHA256_WITH_RSA) => {
            &ring::signature::RSA_PKCS1_2048_8192_SHA256
        }
        (Some(PublicKeyType::Rsa { .. }), oid::SHA384_WITH_RSA) => {
            &ring::signature::RSA_PKCS1_2048_8192_SHA384
        }
        (Some(PublicKeyType::Rsa { .. }), oid::SHA512_WITH_RSA) => {
            &ring::signature::RSA_PKCS1_2048_8192_SHA512
        }
        (Some(PublicKeyType::P256), oid::ECDSA_WITH_SHA256) => &ring::signature::ECDSA_P256_SHA256_ASN1,
        (Some(PublicKeyType::P256), oid::ECDSA_WITH_SHA384) => &ring::signature::ECDSA_P256_SHA384_ASN1,
        (Some(PublicKeyType::P384), oid::ECDSA_WITH_SHA256) => &ring::signature::ECDSA_P384_SHA256_ASN1,
        (Some(PublicKeyType::P384), oid::ECDSA_WITH_SHA384) => &ring::signature::ECDSA_P384_SHA384_ASN1,
        (Some(PublicKeyType::Ed25519), oid::ED25519) => &ring::signature::ED25519,
        (Some(PublicKeyType::Rsa { bits }), _) if bits < 2048 => {
            return SignatureCheck::Unsupported(format!("RSA-{bits} is too small to be checked"));
        }
        _ => {
            let key = key.map_or_else(|| "an unreadable key".to_owned(), |k| k.algorithm());
            return SignatureCheck::Unsupported(format!(
                "{} with {key} is not an algorithm csrbatch checks",
                signature_algorithm_name(algorithm)
            ));
        }
    };
    match verify::ring_verify(ring_alg, spki, message, signature) {
        Ok(()) => SignatureCheck::Valid,
        Err(_) => SignatureCheck::Invalid,
    }
}

/// SM2: the standard ID first; then the empty ID, to say why a CA would refuse it.
fn sm2_check(spki: &[u8], signed: &[u8], signature: &[u8]) -> SignatureCheck {
    use pkcs8::DecodePublicKey;
    let (Ok(public), Ok(sig)) =
        (sm2::PublicKey::from_public_key_der(spki), sm2::dsa::Signature::from_der(signature))
    else {
        return SignatureCheck::Invalid;
    };
    if verify::sm2_verify(&public, csr_sm2::DIST_ID, signed, &sig).is_ok() {
        SignatureCheck::Valid
    } else if verify::sm2_verify(&public, "", signed, &sig).is_ok() {
        SignatureCheck::EmptySm2Id
    } else {
        SignatureCheck::Invalid
    }
}

/// The exact bytes that were signed in a CSR or a certificate: the first element of the
/// outer SEQUENCE (CertificationRequestInfo, TBSCertificate), as written.
pub(crate) fn signed_bytes(der: &[u8]) -> Option<&[u8]> {
    let mut reader = SliceReader::new(der).ok()?;
    Header::decode(&mut reader).ok()?;
    reader.tlv_bytes().ok()
}
