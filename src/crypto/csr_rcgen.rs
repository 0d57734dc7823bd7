//! RSA (sha256WithRSAEncryption) and ECC P-256 (ecdsa-with-SHA256) CSRs through rcgen.

use rcgen::string::{Ia5String, PrintableString};
use rcgen::{CertificateParams, DistinguishedName, DnType, DnValue, KeyPair, SanType};

use super::{PrivateKey, oid, subject};
use crate::error::CryptoError;
use crate::request::{KeyAlgorithm, Params, San};

fn encode_err(e: impl std::fmt::Display) -> CryptoError {
    CryptoError::Encode(e.to_string())
}

/// Builds and signs the CSR; returns its DER.
pub fn build(params: &Params, key: &PrivateKey) -> Result<Vec<u8>, CryptoError> {
    let algorithm = match key.algorithm() {
        KeyAlgorithm::Rsa2048 | KeyAlgorithm::Rsa3072 | KeyAlgorithm::Rsa4096 => &rcgen::PKCS_RSA_SHA256,
        KeyAlgorithm::Ecc => &rcgen::PKCS_ECDSA_P256_SHA256,
        KeyAlgorithm::Sm2 => return Err(CryptoError::Sign("rcgen cannot sign SM2".into())),
    };
    let pem = key.to_pkcs8_pem()?;
    let key_pair = KeyPair::from_pkcs8_pem_and_sign_algo(&pem, algorithm)
        .map_err(|e| CryptoError::Sign(e.to_string()))?;

    let mut dn = DistinguishedName::new();
    for (oid, text) in subject::attributes(params) {
        let (kind, value) = match oid {
            oid::COUNTRY => (
                DnType::CountryName,
                DnValue::PrintableString(PrintableString::try_from(text).map_err(encode_err)?),
            ),
            oid::PROVINCE => (DnType::StateOrProvinceName, DnValue::Utf8String(text.into())),
            oid::LOCALITY => (DnType::LocalityName, DnValue::Utf8String(text.into())),
            oid::ORGANIZATION => (DnType::OrganizationName, DnValue::Utf8String(text.into())),
            oid::ORGANIZATIONAL_UNIT => (DnType::OrganizationalUnitName, DnValue::Utf8String(text.into())),
            _ => (DnType::CommonName, DnValue::Utf8String(text.into())),
        };
        dn.push(kind, value);
    }
    let mut csr_params = CertificateParams::default();
    csr_params.distinguished_name = dn;
    csr_params.subject_alt_names = params
        .sans
        .iter()
        .map(|san| match san {
            San::Dns(d) => Ia5String::try_from(d.as_str()).map(SanType::DnsName).map_err(encode_err),
            San::Ip(ip) => Ok(SanType::IpAddress(*ip)),
        })
        .collect::<Result<_, _>>()?;
    let csr = csr_params.serialize_request(&key_pair).map_err(|e| CryptoError::Sign(e.to_string()))?;
    Ok(csr.der().to_vec())
}
