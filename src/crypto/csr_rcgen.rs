//! RSA (sha256WithRSAEncryption) and ECC P-256 (ecdsa-with-SHA256) CSRs through rcgen.

use der::Encode;
use rcgen::string::{Ia5String, PrintableString};
use rcgen::{Attribute, CertificateParams, CustomExtension, DistinguishedName, DnType, DnValue, SanType};

use super::{PrivateKey, oid, subject};
use crate::crypto::CryptoError;
use crate::request::{Params, San};

/// pkcs-9-at-challengePassword, as rcgen wants an attribute type: `oid::CHALLENGE_PASSWORD`'s arcs.
pub(super) const CHALLENGE_PASSWORD: &[u64] = &[1, 2, 840, 113549, 1, 9, 7];

fn encode_err(e: impl std::fmt::Display) -> CryptoError {
    CryptoError::Encode(e.to_string())
}

/// Builds and signs the CSR; returns its DER.
pub(crate) fn build(params: &Params, key: &PrivateKey) -> Result<Vec<u8>, CryptoError> {
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
    // keyUsage and extendedKeyUsage as custom extensions, with the exact DER the SM2 path
    // and the self-check use (rcgen's own KeyUsage writer has no nonRepudiation name and
    // its EKU set differs); rcgen writes them after the subjectAltName, in this order.
    for extension in [subject::key_usage_extension(params)?, subject::extended_key_usage_extension(params)?]
        .into_iter()
        .flatten()
    {
        let arcs: Vec<u64> = extension.extn_id.arcs().map(u64::from).collect();
        let mut custom =
            CustomExtension::from_oid_content(&arcs, extension.extn_value.into_bytes().into_vec());
        custom.set_criticality(extension.critical);
        csr_params.custom_extensions.push(custom);
    }
    let attributes = match &params.extras.challenge_password {
        Some(password) => {
            let attribute = subject::challenge_password_attribute(password)?;
            vec![Attribute {
                oid: CHALLENGE_PASSWORD,
                values: attribute.values.to_der().map_err(encode_err)?,
            }]
        }
        None => Vec::new(),
    };
    let csr = csr_params
        .serialize_request_with_attributes(key_pair, attributes)
        .map_err(|e| CryptoError::Sign(e.to_string()))?;
    Ok(csr.der().to_vec())
}
