//! SM2 CSRs, built with x509-cert's types because rcgen cannot sign SM2.
//!
//! - subjectPKInfo: id-ecPublicKey with namedCurve 1.2.156.10197.1.301 (GM/T 0006).
//! - signatureAlgorithm: SM2-with-SM3, 1.2.156.10197.1.501, parameters absent.
//! - signature: DER `SEQUENCE { r INTEGER, s INTEGER }` (GM/T 0009 7.2), not the raw
//!   64-byte r||s, computed over ZA || M where ZA uses the distinguishing ID
//!   `1234567812345678` (GM/T 0009 5.3 default).

use der::asn1::BitString;
use der::{Decode, Encode};
use spki::{AlgorithmIdentifierOwned, SubjectPublicKeyInfoOwned};
use x509_cert::request::{CertReq, CertReqInfo, Version};

use super::{PrivateKey, oid, subject};
use crate::crypto::CryptoError;
use crate::request::Params;

/// The signer's distinguishing ID (GM/T 0009-2012 default user ID).
pub(crate) const DIST_ID: &str = "1234567812345678";

fn encode_err(e: impl std::fmt::Display) -> CryptoError {
    CryptoError::Encode(e.to_string())
}

/// Builds and signs the CSR; returns its DER.
pub(crate) fn build(params: &Params, key: &PrivateKey) -> Result<Vec<u8>, CryptoError> {
    let signer = key.as_sm2().ok_or_else(|| CryptoError::Sign("not an SM2 key".into()))?;

    let attributes = subject::attributes_set(params)?;
    let info = CertReqInfo {
        version: Version::V1,
        subject: subject::name(params)?,
        public_key: SubjectPublicKeyInfoOwned::from_der(key.public_key_der()).map_err(encode_err)?,
        attributes,
    };
    let to_be_signed = info.to_der().map_err(encode_err)?;
    let signature = signer.sign_der(&to_be_signed).map_err(CryptoError::Sign)?;
    let request = CertReq {
        info,
        algorithm: AlgorithmIdentifierOwned { oid: oid::SM2_WITH_SM3, parameters: None },
        signature: BitString::from_bytes(&signature).map_err(encode_err)?,
    };
    request.to_der().map_err(encode_err)
}
