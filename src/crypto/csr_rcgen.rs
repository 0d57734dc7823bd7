//! RSA (sha256WithRSAEncryption) and ECC P-256 (ecdsa-with-SHA256) CSRs through rcgen.

use rcgen::string::{Ia5String, PrintableString};
use rcgen::{CertificateParams, DistinguishedName, DnType, DnValue, SanType};

use super::{PrivateKey, oid, subject};
use crate::error::CryptoError;
use crate::request::{Params, San};

fn encode_err(e: impl std::fmt::Display) -> CryptoError {
    CryptoError::Encode(e.to_string())
}

/// Builds and signs the CSR; returns its DER.
pub fn build(params: &Params, key: &PrivateKey) -> Result<Vec<u8>, CryptoError> {
    let key_pair = key.as_rcgen().ok_or_else(|| CryptoError::Sign("rcgen cannot sign SM2".into()))?;

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
    let csr = csr_params.serialize_request(key_pair).map_err(|e| CryptoError::Sign(e.to_string()))?;
    Ok(csr.der().to_vec())
}
