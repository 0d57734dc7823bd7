//! Object identifiers this crate writes or checks, each with the document that assigns it:
//! the one table of them (CSR building, the self-check, `inspect`, CSRs from other tools).

use der::asn1::ObjectIdentifier as Oid;

// X.520 attribute types, in the subject order csrbatch writes: C, ST, L, O, OU, CN.
pub(crate) const COUNTRY: Oid = Oid::new_unwrap("2.5.4.6");
pub(crate) const PROVINCE: Oid = Oid::new_unwrap("2.5.4.8");
pub(crate) const LOCALITY: Oid = Oid::new_unwrap("2.5.4.7");
pub(crate) const ORGANIZATION: Oid = Oid::new_unwrap("2.5.4.10");
pub(crate) const ORGANIZATIONAL_UNIT: Oid = Oid::new_unwrap("2.5.4.11");
pub(crate) const COMMON_NAME: Oid = Oid::new_unwrap("2.5.4.3");

/// id-ce-subjectAltName (RFC 5280 4.2.1.6).
pub(crate) const SUBJECT_ALT_NAME: Oid = Oid::new_unwrap("2.5.29.17");
/// id-ce-keyUsage (RFC 5280 4.2.1.3).
pub(crate) const KEY_USAGE: Oid = Oid::new_unwrap("2.5.29.15");
/// id-ce-extKeyUsage (RFC 5280 4.2.1.12).
pub(crate) const EXT_KEY_USAGE: Oid = Oid::new_unwrap("2.5.29.37");
/// id-signedData (RFC 5652 5.1): the content of a certs-only PKCS#7 (`.p7b`, `.p7c`).
pub(crate) const SIGNED_DATA: Oid = Oid::new_unwrap("1.2.840.113549.1.7.2");
/// pkcs-9-at-challengePassword (RFC 2985 5.4.1).
pub(crate) const CHALLENGE_PASSWORD: Oid = Oid::new_unwrap("1.2.840.113549.1.9.7");
/// pkcs-9-at-extensionRequest (RFC 2985 5.4.2).
pub(crate) const EXTENSION_REQUEST: Oid = Oid::new_unwrap("1.2.840.113549.1.9.14");

/// sha256WithRSAEncryption (RFC 4055).
pub(crate) const SHA256_WITH_RSA: Oid = Oid::new_unwrap("1.2.840.113549.1.1.11");
/// ecdsa-with-SHA256 (RFC 5758).
pub(crate) const ECDSA_WITH_SHA256: Oid = Oid::new_unwrap("1.2.840.10045.4.3.2");
/// SM2-with-SM3 (GM/T 0006), no parameters.
pub(crate) const SM2_WITH_SM3: Oid = Oid::new_unwrap("1.2.156.10197.1.501");

/// rsaEncryption (RFC 8017).
pub(crate) const RSA_ENCRYPTION: Oid = Oid::new_unwrap("1.2.840.113549.1.1.1");
/// id-ecPublicKey (RFC 5480), used for both P-256 and SM2 keys.
pub(crate) const EC_PUBLIC_KEY: Oid = Oid::new_unwrap("1.2.840.10045.2.1");
/// secp256r1 / NIST P-256 (RFC 5480).
pub(crate) const SECP256R1: Oid = Oid::new_unwrap("1.2.840.10045.3.1.7");
/// secp384r1 / NIST P-384 (RFC 5480).
pub(crate) const SECP384R1: Oid = Oid::new_unwrap("1.3.132.0.34");
/// id-Ed25519 (RFC 8410).
pub(crate) const ED25519: Oid = Oid::new_unwrap("1.3.101.112");
/// The SM2 curve (GM/T 0006).
pub(crate) const SM2_CURVE: Oid = Oid::new_unwrap("1.2.156.10197.1.301");

// Signature algorithms of CSRs other tools make, which `inspect` names or checks.
/// sha1WithRSAEncryption (RFC 8017).
pub(crate) const SHA1_WITH_RSA: Oid = Oid::new_unwrap("1.2.840.113549.1.1.5");
/// sha384WithRSAEncryption (RFC 4055).
pub(crate) const SHA384_WITH_RSA: Oid = Oid::new_unwrap("1.2.840.113549.1.1.12");
/// sha512WithRSAEncryption (RFC 4055).
pub(crate) const SHA512_WITH_RSA: Oid = Oid::new_unwrap("1.2.840.113549.1.1.13");
/// id-RSASSA-PSS (RFC 4055).
pub(crate) const RSASSA_PSS: Oid = Oid::new_unwrap("1.2.840.113549.1.1.10");
/// ecdsa-with-SHA1 (RFC 3279).
pub(crate) const ECDSA_WITH_SHA1: Oid = Oid::new_unwrap("1.2.840.10045.4.1");
/// ecdsa-with-SHA384 (RFC 5758).
pub(crate) const ECDSA_WITH_SHA384: Oid = Oid::new_unwrap("1.2.840.10045.4.3.3");
/// ecdsa-with-SHA512 (RFC 5758).
pub(crate) const ECDSA_WITH_SHA512: Oid = Oid::new_unwrap("1.2.840.10045.4.3.4");
