//! The CSR's contents as DER, built from typed values (never from an RFC 4514 string):
//! the subject Name in the order C, ST, L, O, OU, CN, and the subjectAltName extension.
//! The SM2 builder writes these; the self-check compares every CSR against them.

use der::asn1::{Any, Ia5String, OctetString, PrintableStringRef, Utf8StringRef};
use der::{Decode, Encode};
use x509_cert::attr::AttributeTypeAndValue;
use x509_cert::ext::Extension;
use x509_cert::ext::pkix::SubjectAltName;
use x509_cert::ext::pkix::name::GeneralName;
use x509_cert::name::{Name, RdnSequence, RelativeDistinguishedName};

use super::oid;
use crate::error::CryptoError;
use crate::request::{Params, San};

fn encode_err(e: der::Error) -> CryptoError {
    CryptoError::Encode(e.to_string())
}

/// The subject attributes in order; absent optional fields are left out.
/// CountryCode is a PrintableString (RFC 5280 Appendix A); the rest are UTF8String.
pub fn attributes(params: &Params) -> Vec<(der::asn1::ObjectIdentifier, &str)> {
    #[deny(unused)]
    let Params { key: _, common_name, sans: _, country, province, locality, corp_name, department } = params;
    let mut out = vec![
        (oid::COUNTRY, country.as_str()),
        (oid::PROVINCE, province.as_str()),
        (oid::LOCALITY, locality.as_str()),
    ];
    if let Some(o) = corp_name {
        out.push((oid::ORGANIZATION, o.as_str()));
    }
    if let Some(ou) = department {
        out.push((oid::ORGANIZATIONAL_UNIT, ou.as_str()));
    }
    out.push((oid::COMMON_NAME, common_name.as_str()));
    out
}

/// The subject Name, one attribute per RDN.
pub fn name(params: &Params) -> Result<Name, CryptoError> {
    let mut rdns = RdnSequence::default();
    for (oid, text) in attributes(params) {
        let value = if oid == oid::COUNTRY {
            Any::encode_from(&PrintableStringRef::new(text).map_err(encode_err)?)
        } else {
            Any::encode_from(&Utf8StringRef::new(text).map_err(encode_err)?)
        }
        .map_err(encode_err)?;
        let rdn = RelativeDistinguishedName::try_from(vec![AttributeTypeAndValue { oid, value }])
            .map_err(encode_err)?;
        rdns.push(rdn);
    }
    // Through DER rather than x509-cert's `hazmat` constructor: same bytes, no escape hatch.
    Name::from_der(&rdns.to_der().map_err(encode_err)?).map_err(encode_err)
}

/// The non-critical subjectAltName extension: DNS names and IP addresses, CommonName first.
pub fn san_extension(params: &Params) -> Result<Extension, CryptoError> {
    let names = params
        .sans
        .iter()
        .map(|san| match san {
            San::Dns(d) => Ia5String::new(d.as_str()).map(GeneralName::DnsName).map_err(encode_err),
            San::Ip(ip) => Ok(GeneralName::from(*ip)),
        })
        .collect::<Result<Vec<_>, _>>()?;
    let value = SubjectAltName(names).to_der().map_err(encode_err)?;
    Ok(Extension {
        extn_id: oid::SUBJECT_ALT_NAME,
        critical: false,
        extn_value: OctetString::new(value).map_err(encode_err)?,
    })
}
