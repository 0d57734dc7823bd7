//! Validation: raw manifest records become [`CsrRequest`]s whose fields are already right.
//! Pure: no I/O, no crypto. Every error of every request is collected, none stops the rest.

mod country;
mod dns;
mod name;

pub use country::CountryCode;
pub use dns::{DnsName, San};
pub use name::CsrName;

use std::collections::HashMap;
use std::fmt;

use crate::error::{ManifestError, Problem};
use crate::manifest::{Field, Origin, RawRequest, RawValue};

/// The key types `CreateCsr` offers: Algorithm and KeySize in one closed enum.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum KeyAlgorithm {
    Rsa2048,
    Rsa3072,
    Rsa4096,
    /// ECDSA on NIST P-256.
    Ecc,
    /// SM2 (GM/T 0003) on its own 256-bit curve.
    Sm2,
}

impl KeyAlgorithm {
    pub const ALL: [KeyAlgorithm; 5] = [
        KeyAlgorithm::Rsa2048,
        KeyAlgorithm::Rsa3072,
        KeyAlgorithm::Rsa4096,
        KeyAlgorithm::Ecc,
        KeyAlgorithm::Sm2,
    ];

    /// The `Algorithm` parameter, canonical upper case.
    pub fn algorithm(self) -> &'static str {
        match self {
            KeyAlgorithm::Rsa2048 | KeyAlgorithm::Rsa3072 | KeyAlgorithm::Rsa4096 => "RSA",
            KeyAlgorithm::Ecc => "ECC",
            KeyAlgorithm::Sm2 => "SM2",
        }
    }

    /// The `KeySize` parameter.
    pub fn key_size(self) -> u32 {
        match self {
            KeyAlgorithm::Rsa2048 => 2048,
            KeyAlgorithm::Rsa3072 => 3072,
            KeyAlgorithm::Rsa4096 => 4096,
            KeyAlgorithm::Ecc | KeyAlgorithm::Sm2 => 256,
        }
    }

    /// Short lower-case tag used in derived Names: `rsa2048`, `ecc`, `sm2`.
    pub fn tag(self) -> &'static str {
        match self {
            KeyAlgorithm::Rsa2048 => "rsa2048",
            KeyAlgorithm::Rsa3072 => "rsa3072",
            KeyAlgorithm::Rsa4096 => "rsa4096",
            KeyAlgorithm::Ecc => "ecc",
            KeyAlgorithm::Sm2 => "sm2",
        }
    }

    /// Algorithm (any case) and KeySize (absent: 256 for ECC and SM2, required for RSA).
    pub fn from_parts(algorithm: &str, key_size: Option<&str>) -> Result<KeyAlgorithm, (Field, Problem)> {
        let algorithm = algorithm.trim();
        let (name, allowed, choices): (&'static str, &'static str, &[KeyAlgorithm]) =
            match algorithm.to_ascii_uppercase().as_str() {
                "RSA" => (
                    "RSA",
                    "2048, 3072, 4096",
                    &[KeyAlgorithm::Rsa2048, KeyAlgorithm::Rsa3072, KeyAlgorithm::Rsa4096],
                ),
                "ECC" => ("ECC", "256", &[KeyAlgorithm::Ecc]),
                "SM2" => ("SM2", "256", &[KeyAlgorithm::Sm2]),
                "" => return Err((Field::Algorithm, Problem::Missing)),
                _ => {
                    return Err((Field::Algorithm, Problem::UnknownAlgorithm(algorithm.to_owned())));
                }
            };
        let Some(size) = key_size.map(str::trim).filter(|s| !s.is_empty()) else {
            return match choices {
                [only] => Ok(*only),
                _ => Err((Field::KeySize, Problem::Missing)),
            };
        };
        choices.iter().copied().find(|k| size.parse::<u32>().ok() == Some(k.key_size())).ok_or_else(|| {
            (Field::KeySize, Problem::KeySize { algorithm: name, value: size.to_owned(), allowed })
        })
    }
}

impl fmt::Display for KeyAlgorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}-{}", self.algorithm(), self.key_size())
    }
}

/// Everything a request asks for except its Name: the key type and the CSR's contents.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Params {
    pub key: KeyAlgorithm,
    pub common_name: DnsName,
    /// The SAN list as it goes into the CSR: the CommonName first, then `Sans`, no duplicates.
    pub sans: Vec<San>,
    pub country: CountryCode,
    pub province: String,
    pub locality: String,
    pub corp_name: Option<String>,
    pub department: Option<String>,
}

impl Params {
    /// The `Sans` parameter as given (normalized): the SAN list without the CommonName.
    pub fn extra_sans(&self) -> &[San] {
        self.sans.get(1..).unwrap_or_default()
    }
}

/// A validated request: nothing after validation checks these fields again.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CsrRequest {
    pub name: CsrName,
    pub params: Params,
    pub origin: Origin,
}

/// Longest Province and Locality (X.520 ub-state-name, ub-locality-name).
pub const MAX_PLACE: usize = 128;
/// Longest CorpName, Department (X.520 ub-organization-name, ub-organizational-unit-name)
/// and CommonName (ub-common-name).
pub const MAX_ORG: usize = 64;

/// Validates all requests, then assigns and checks Names across the whole run.
pub fn validate(raw: &[RawRequest]) -> Result<Vec<CsrRequest>, Vec<ManifestError>> {
    let mut errors = Vec::new();
    let mut checked = Vec::with_capacity(raw.len());
    for r in raw {
        match check(r) {
            Ok(c) => checked.push(c),
            Err(mut e) => errors.append(&mut e),
        }
    }
    match assign_names(checked) {
        Ok(requests) if errors.is_empty() => Ok(requests),
        Ok(_) => Err(errors),
        Err(mut e) => {
            errors.append(&mut e);
            Err(errors)
        }
    }
}

struct Checked<'a> {
    raw: &'a RawRequest,
    name: Option<CsrName>,
    params: Params,
}

/// Applies every field rule to one request; all of its errors are returned together.
fn check(raw: &RawRequest) -> Result<Checked<'_>, Vec<ManifestError>> {
    let label = raw.label();
    let mut errors = Vec::new();
    let mut fail = |field, problem| errors.push(ManifestError::field(&raw.origin, &label, field, problem));
    let text = |field| match raw.get(field) {
        Some(RawValue::Text(t)) => Some(t.as_str()),
        _ => None,
    };

    let key = KeyAlgorithm::from_parts(text(Field::Algorithm).unwrap_or(""), text(Field::KeySize))
        .map_err(|(field, problem)| fail(field, problem))
        .ok();
    let common_name = match text(Field::CommonName).map(DnsName::parse).unwrap_or(Err(Problem::Missing)) {
        Ok(cn) if cn.as_str().parse::<std::net::IpAddr>().is_ok() => {
            fail(Field::CommonName, Problem::IpCommonName(cn.to_string()));
            None
        }
        Ok(cn) if cn.as_str().len() > MAX_ORG => {
            fail(Field::CommonName, Problem::TooLong { max: MAX_ORG, len: cn.as_str().len() });
            None
        }
        Ok(cn) => Some(cn),
        Err(p) => {
            fail(Field::CommonName, p);
            None
        }
    };
    let extra: Vec<San> = sans_items(raw.get(Field::Sans))
        .filter_map(|item| San::parse(item).map_err(|p| fail(Field::Sans, p)).ok())
        .collect();
    let country = CountryCode::parse(text(Field::CountryCode).unwrap_or(""))
        .map_err(|p| fail(Field::CountryCode, p))
        .ok();
    let mut required = |field, max| match free_text(text(field), max) {
        Ok(Some(t)) => Some(t),
        Ok(None) => {
            fail(field, Problem::Missing);
            None
        }
        Err(p) => {
            fail(field, p);
            None
        }
    };
    let province = required(Field::Province, MAX_PLACE);
    let locality = required(Field::Locality, MAX_PLACE);
    let corp_name = free_text(text(Field::CorpName), MAX_ORG).map_err(|p| fail(Field::CorpName, p)).ok();
    let department = free_text(text(Field::Department), MAX_ORG).map_err(|p| fail(Field::Department, p)).ok();
    let name = text(Field::Name).map(|n| CsrName::parse(n).map_err(|p| fail(Field::Name, p)).ok());

    match (key, common_name, country, province, locality, corp_name, department, name) {
        (
            Some(key),
            Some(common_name),
            Some(country),
            Some(province),
            Some(locality),
            Some(corp_name),
            Some(department),
            name,
        ) if errors.is_empty() => {
            let mut sans = vec![San::Dns(common_name.clone())];
            for san in extra {
                if !sans.contains(&san) {
                    sans.push(san);
                }
            }
            let params =
                Params { key, common_name, sans, country, province, locality, corp_name, department };
            Ok(Checked { raw, name: name.flatten(), params })
        }
        _ => Err(errors),
    }
}

/// `Sans` as a comma-separated string (as in the API) or a list; empty items are skipped.
fn sans_items(value: Option<&RawValue>) -> impl Iterator<Item = &str> {
    let items: Vec<&str> = match value {
        None => Vec::new(),
        Some(RawValue::Text(t)) => t.split(',').collect(),
        Some(RawValue::List(l)) => l.iter().flat_map(|s| s.split(',')).collect(),
    };
    items.into_iter().map(str::trim).filter(|s| !s.is_empty())
}

/// Optional free text: trimmed, empty means absent, no control characters, at most `max`
/// characters (not bytes: `阿里巴巴` is four).
fn free_text(value: Option<&str>, max: usize) -> Result<Option<String>, Problem> {
    let Some(t) = value.map(str::trim).filter(|t| !t.is_empty()) else {
        return Ok(None);
    };
    if let Some(c) = t.chars().find(|c| c.is_control()) {
        return Err(Problem::ControlChar(c as u32));
    }
    let len = t.chars().count();
    if len > max {
        return Err(Problem::TooLong { max, len });
    }
    Ok(Some(t.to_owned()))
}

/// Gives every request its Name and makes sure no two share one (ignoring case).
/// Explicit Names are placed first, so a derived Name never takes one a user chose.
/// A derived Name gets `_<algorithm>` only when the request holding the plain one has
/// another key type; two requests alike in CommonName and key type are a duplicate.
fn assign_names(checked: Vec<Checked<'_>>) -> Result<Vec<CsrRequest>, Vec<ManifestError>> {
    let mut errors = Vec::new();
    let mut taken: HashMap<String, (Origin, KeyAlgorithm)> = HashMap::with_capacity(checked.len());
    let mut claim = |c: &Checked<'_>, name: &CsrName, taken: &mut HashMap<String, (Origin, KeyAlgorithm)>| {
        if let Some((other, _)) = taken.get(&name.fold()) {
            let problem = Problem::DuplicateName { name: name.to_string(), other: other.clone() };
            errors.push(ManifestError::field(&c.raw.origin, &c.raw.label(), Field::Name, problem));
        } else {
            taken.insert(name.fold(), (c.raw.origin.clone(), c.params.key));
        }
    };
    for c in &checked {
        if let Some(name) = &c.name {
            claim(c, name, &mut taken);
        }
    }
    let mut requests = Vec::with_capacity(checked.len());
    for c in &checked {
        let name = match &c.name {
            Some(name) => name.clone(),
            None => {
                let plain = CsrName::derive(&c.params.common_name, c.params.key, false);
                let name = match taken.get(&plain.fold()) {
                    Some((_, key)) if *key != c.params.key => {
                        CsrName::derive(&c.params.common_name, c.params.key, true)
                    }
                    _ => plain,
                };
                claim(c, &name, &mut taken);
                name
            }
        };
        requests.push(CsrRequest { name, params: c.params.clone(), origin: c.raw.origin.clone() });
    }
    if errors.is_empty() { Ok(requests) } else { Err(errors) }
}

#[cfg(test)]
mod tests;
