//! The CSR's contents as DER, built from typed values (never from an RFC 4514 string):
//! the subject Name in the order C, ST, L, O, OU, CN, the extensions (subjectAltName,
//! then keyUsage and extendedKeyUsage when asked for) and the attributes
//! (extensionRequest, challengePassword). The SM2 builder writes these, the rcgen builder
//! is handed the extensions rcgen does not write itself, and the self-check compares
//! every CSR against them.

use der::asn1::{Any, Ia5String, OctetString, PrintableStringRef, SetOfVec, Utf8StringRef};
use der::flagset::FlagSet;
use der::{Decode, Encode};
use x509_cert::attr::{Attribute, AttributeTypeAndValue};
use x509_cert::ext::Extension;
use x509_cert::ext::pkix::name::GeneralName;
use x509_cert::ext::pkix::{ExtendedKeyUsage, KeyUsage, KeyUsages, SubjectAltName};
use x509_cert::name::{Name, RdnSequence, RelativeDistinguishedName};

use super::oid;
use crate::crypto::CryptoError;
use crate::request::{self, ChallengePassword, Params, San};

fn encode_err(e: der::Error) -> CryptoError {
    CryptoError::Encode(e.to_string())
}

/// The subject attributes in order; absent optional fields are left out.
/// CountryCode is a PrintableString (RFC 5280 Appendix A); the rest are UTF8String.
pub(crate) fn attributes(params: &Params) -> Vec<(der::asn1::ObjectIdentifier, &str)> {
    #[deny(unused)]
    let Params {
        key: _,
        common_name,
        sans: _,
        country,
        province,
        locality,
        corp_name,
        department,
        extras: _,
    } = params;
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
pub(crate) fn name(params: &Params) -> Result<Name, CryptoError> {
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
pub(crate) fn san_extension(params: &Params) -> Result<Extension, CryptoError> {
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

/// The keyUsage extension (critical, as RFC 5280 4.2.1.3 asks of CAs), if any usage is asked for.
pub(crate) fn key_usage_extension(params: &Params) -> Result<Option<Extension>, CryptoError> {
    if params.extras.key_usage.is_empty() {
        return Ok(None);
    }
    let flags = params.extras.key_usage.iter().fold(FlagSet::<KeyUsages>::default(), |set, usage| {
        set | match usage {
            request::KeyUsage::DigitalSignature => KeyUsages::DigitalSignature,
            request::KeyUsage::NonRepudiation => KeyUsages::NonRepudiation,
            request::KeyUsage::KeyEncipherment => KeyUsages::KeyEncipherment,
            request::KeyUsage::DataEncipherment => KeyUsages::DataEncipherment,
            request::KeyUsage::KeyAgreement => KeyUsages::KeyAgreement,
        }
    });
    let value = KeyUsage(flags).to_der().map_err(encode_err)?;
    Ok(Some(Extension {
        extn_id: oid::KEY_USAGE,
        critical: true,
        extn_value: OctetString::new(value).map_err(encode_err)?,
    }))
}

/// The non-critical extendedKeyUsage extension, purposes in OID order, if any is asked for.
pub(crate) fn extended_key_usage_extension(params: &Params) -> Result<Option<Extension>, CryptoError> {
    if params.extras.extended_key_usage.is_empty() {
        return Ok(None);
    }
    let mut oids: Vec<_> = params.extras.extended_key_usage.iter().map(|k| k.oid()).collect();
    oids.sort();
    oids.dedup();
    let value = ExtendedKeyUsage(oids).to_der().map_err(encode_err)?;
    Ok(Some(Extension {
        extn_id: oid::EXT_KEY_USAGE,
        critical: false,
        extn_value: OctetString::new(value).map_err(encode_err)?,
    }))
}

/// Every extension of the request, in the order written: subjectAltName, keyUsage,
/// extendedKeyUsage.
pub(crate) fn extensions(params: &Params) -> Result<Vec<Extension>, CryptoError> {
    let mut out = vec![san_extension(params)?];
    out.extend(key_usage_extension(params)?);
    out.extend(extended_key_usage_extension(params)?);
    Ok(out)
}

/// The challengePassword attribute: one DirectoryString, a PrintableString when the
/// password fits one (what OpenSSL writes), else a UTF8String.
pub(crate) fn challenge_password_attribute(password: &ChallengePassword) -> Result<Attribute, CryptoError> {
    let text = password.as_str();
    let value = match PrintableStringRef::new(text) {
        Ok(p) => Any::encode_from(&p),
        Err(_) => Any::encode_from(&Utf8StringRef::new(text).map_err(encode_err)?),
    }
    .map_err(encode_err)?;
    let mut values = SetOfVec::new();
    values.insert(value).map_err(encode_err)?;
    Ok(Attribute { oid: oid::CHALLENGE_PASSWORD, values })
}

/// The CertificationRequestInfo's attributes: the extensionRequest, and the
/// challengePassword when there is one (a DER SET OF, sorted by encoding).
pub(crate) fn attributes_set(params: &Params) -> Result<SetOfVec<Attribute>, CryptoError> {
    let mut request_attr = SetOfVec::new();
    request_attr.insert(Any::encode_from(&extensions(params)?).map_err(encode_err)?).map_err(encode_err)?;
    let mut attributes = SetOfVec::new();
    attributes.insert(Attribute { oid: oid::EXTENSION_REQUEST, values: request_attr }).map_err(encode_err)?;
    if let Some(password) = &params.extras.challenge_password {
        attributes.insert(challenge_password_attribute(password)?).map_err(encode_err)?;
    }
    Ok(attributes)
}
