//! Validation: raw manifest records become [`CsrRequest`]s whose fields are already right.
//! Pure: no I/O, no crypto. Every error of every request is collected, none stops the rest.

mod country;
mod dns;
mod name;
pub mod schema;
mod usage;

pub(crate) use country::CountryCode;
pub(crate) use dns::{DnsName, San};
pub(crate) use name::CsrName;
pub use usage::{ChallengePassword, CsrExtras, ExtendedKeyUsage, KeyUsage};

use std::collections::HashMap;
use std::fmt;

use crate::manifest::{Field, ManifestError, Origin, Problem, RawRequest, RawValue};

/// The key types `CreateCsr` offers: Algorithm and KeySize in one closed enum.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum KeyAlgorithm {
    /// RSA with a 2048-bit modulus.
    Rsa2048,
    /// RSA with a 3072-bit modulus.
    Rsa3072,
    /// RSA with a 4096-bit modulus.
    Rsa4096,
    /// ECDSA on NIST P-256.
    Ecc,
    /// SM2 (GM/T 0003) on its own 256-bit curve.
    Sm2,
}

impl KeyAlgorithm {
    /// Every key type: RSA by size, then ECC, then SM2.
    pub const ALL: [KeyAlgorithm; 5] = [
        KeyAlgorithm::Rsa2048,
        KeyAlgorithm::Rsa3072,
        KeyAlgorithm::Rsa4096,
        KeyAlgorithm::Ecc,
        KeyAlgorithm::Sm2,
    ];

    /// The `Algorithm` parameter, canonical upper case.
    pub(crate) fn algorithm(self) -> &'static str {
        match self {
            KeyAlgorithm::Rsa2048 | KeyAlgorithm::Rsa3072 | KeyAlgorithm::Rsa4096 => "RSA",
            KeyAlgorithm::Ecc => "ECC",
            KeyAlgorithm::Sm2 => "SM2",
        }
    }

    /// The `KeySize` parameter.
    pub(crate) fn key_size(self) -> u32 {
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
    pub(crate) fn from_parts(
        algorithm: &str,
        key_size: Option<&str>,
    ) -> Result<KeyAlgorithm, (Field, Problem)> {
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
    /// The key type and size.
    pub key: KeyAlgorithm,
    pub(crate) common_name: DnsName,
    /// The SAN list as it goes into the CSR: the CommonName first, then `Sans`, no duplicates.
    pub(crate) sans: Vec<San>,
    pub(crate) country: CountryCode,
    pub(crate) province: String,
    pub(crate) locality: String,
    pub(crate) corp_name: Option<String>,
    pub(crate) department: Option<String>,
    /// KeyUsage, ExtendedKeyUsage, ChallengePassword: none unless asked for.
    pub extras: CsrExtras,
}

impl Params {
    /// The `Sans` parameter as given (normalized): the SAN list without the CommonName.
    pub(crate) fn extra_sans(&self) -> &[San] {
        self.sans.get(1..).unwrap_or_default()
    }
}

/// A validated request: nothing after validation checks these fields again.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CsrRequest {
    /// The output file stem: the request's Name, or one derived from its CommonName;
    /// unique in the run, ignoring case.
    pub name: CsrName,
    /// What the key and the CSR are to be.
    pub params: Params,
    pub(crate) origin: Origin,
    /// `KeyFile`: sign with this existing key (never copied, moved or changed) instead of
    /// making one; the path is resolved against the manifest's folder.
    pub(crate) key_file: Option<std::path::PathBuf>,
}

pub(crate) use crate::manifest::field::{MAX_ORG, MAX_PLACE};

/// Validates all requests, then assigns and checks Names across the whole run.
pub fn validate(raw: &[RawRequest]) -> Result<Vec<CsrRequest>, Vec<ManifestError>> {
    let mut errors = Vec::new();
    let mut names = NameRegistry::default();
    let mut checked = Vec::with_capacity(raw.len());
    for r in raw {
        match check(r) {
            Ok(c) => {
                names.add(&c);
                checked.push(c);
            }
            Err(mut e) => errors.append(&mut e),
        }
    }
    match names.resolve() {
        Ok(names) if errors.is_empty() => {
            Ok(checked.into_iter().enumerate().map(|(i, c)| names.request(i, c)).collect())
        }
        Ok(_) => Err(errors),
        Err(mut e) => {
            errors.append(&mut e);
            Err(errors)
        }
    }
}

/// A request that passed every field rule; its Name is settled across the run by
/// [`NameRegistry`].
#[derive(Debug, Clone)]
pub(crate) struct Checked {
    pub(crate) name: Option<CsrName>,
    pub(crate) params: Params,
    pub(crate) origin: Origin,
    label: String,
    /// The line of the `Name` field (the request's line when derived).
    name_line: usize,
    /// `KeyFile`: the user's own key, resolved against the manifest's folder.
    pub(crate) key_file: Option<std::path::PathBuf>,
    /// Where `KeyFile` is written (its own line, or the request's), for its errors.
    pub(crate) key_file_origin: Origin,
}

impl Checked {
    /// How messages call this request: its Name, else its CommonName, else `#N`.
    pub(crate) fn label(&self) -> &str {
        &self.label
    }
}

/// Applies every field rule to one request; all of its errors are returned together.
pub(crate) fn check(raw: &RawRequest) -> Result<Checked, Vec<ManifestError>> {
    let label = raw.label();
    let mut errors = Vec::new();
    // An error names the line of its field; a missing field, the request's line.
    let mut fail =
        |field, problem| errors.push(ManifestError::field(&raw.origin_of(field), &label, field, problem));
    let text = |field| match raw.get(field) {
        Some(RawValue::Text(t)) => Some(t.as_str()),
        _ => None,
    };

    let key = KeyAlgorithm::from_parts(text(Field::Algorithm).unwrap_or(""), text(Field::KeySize))
        .map_err(|(field, problem)| fail(field, problem))
        .ok();
    let cn_text = text(Field::CommonName).map(str::trim);
    let common_name = match cn_text.map(DnsName::parse).unwrap_or(Err(Problem::Missing)) {
        _ if cn_text.is_some_and(|t| t.parse::<std::net::IpAddr>().is_ok()) => {
            fail(Field::CommonName, Problem::IpCommonName(cn_text.unwrap_or_default().to_owned()));
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
    let extras = usage::parse(raw, key, &mut fail);
    // Relative to the manifest's folder; whether it is a usable key is checked (with I/O)
    // by `keyfile` before any key is made.
    let key_file = text(Field::KeyFile)
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .map(|t| raw.origin.file.parent().unwrap_or(std::path::Path::new("")).join(t));

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
                Params { key, common_name, sans, country, province, locality, corp_name, department, extras };
            let name_line = raw.origin_of(Field::Name).line;
            let key_file_origin = raw.origin_of(Field::KeyFile);
            Ok(Checked {
                name: name.flatten(),
                params,
                origin: raw.origin.clone(),
                label,
                name_line,
                key_file,
                key_file_origin,
            })
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

/// Where a request is, in 8 bytes: an index into the registry's file list and a line.
#[derive(Debug, Clone, Copy)]
struct Place {
    file: u32,
    line: u32,
}

/// A request without a Name of its own, waiting for the explicit Names to be known.
#[derive(Debug)]
struct Unnamed {
    index: u32,
    key: KeyAlgorithm,
    place: Place,
    common_name: Box<str>,
}

/// Gives every request its Name and makes sure no two share one (ignoring case), across
/// the whole run, keeping a few dozen bytes per request (a million requests ~ 100 MB).
/// Explicit Names are placed first, so a derived Name never takes one a user chose. A
/// derived Name gets `_<algorithm>` only when the request holding the plain one has
/// another key type; two requests alike in CommonName and key type are a duplicate.
#[derive(Debug, Default)]
pub(crate) struct NameRegistry {
    files: Vec<std::sync::Arc<std::path::Path>>,
    taken: HashMap<u128, (Place, KeyAlgorithm)>,
    unnamed: Vec<Unnamed>,
    count: usize,
    errors: Vec<ManifestError>,
}

/// The Names settled: which derived ones carry the algorithm, and every Name in use.
#[derive(Debug)]
pub(crate) struct Names {
    suffixed: Vec<bool>,
    /// The digest of every Name, sorted: 16 bytes a request (a hash set would take twice
    /// that, or more).
    taken: Vec<u128>,
}

/// A 128-bit digest of a Name folded to lower case (the first 16 bytes of its SHA-256,
/// little-endian): the registry keeps no Name text, and shards split on it.
pub(crate) fn name_key(name: &str) -> u128 {
    use sha2::Digest;
    let digest = sha2::Sha256::digest(name.to_ascii_lowercase().as_bytes());
    let mut first = [0u8; 16];
    first.copy_from_slice(&digest[..16]);
    u128::from_le_bytes(first)
}

impl NameRegistry {
    fn place(&mut self, origin: &Origin) -> Place {
        let file = match self.files.iter().rposition(|f| *f == origin.file) {
            Some(i) => i,
            None => {
                self.files.push(origin.file.clone());
                self.files.len() - 1
            }
        };
        Place { file: file as u32, line: origin.line as u32 }
    }

    fn origin(&self, place: Place) -> Origin {
        Origin { file: self.files[place.file as usize].clone(), line: place.line as usize }
    }

    fn claim(&mut self, name: &CsrName, place: Place, key: KeyAlgorithm, label: &str) {
        match self.taken.get(&name_key(name.as_str())) {
            Some((other, _)) => {
                let problem = Problem::DuplicateName { name: name.to_string(), other: self.origin(*other) };
                self.errors.push(ManifestError::field(&self.origin(place), label, Field::Name, problem));
            }
            None => {
                self.taken.insert(name_key(name.as_str()), (place, key));
            }
        }
    }

    /// How many requests are registered: the number the next one gets.
    pub(crate) fn len(&self) -> usize {
        self.count
    }

    /// Registers the next request of the run (requests are numbered in the order added).
    pub(crate) fn add(&mut self, c: &Checked) {
        let place = self.place(&c.origin);
        let index = self.count as u32;
        self.count += 1;
        match &c.name {
            Some(name) => {
                let place = Place { line: c.name_line as u32, ..place };
                self.claim(name, place, c.params.key, &c.label)
            }
            None => self.unnamed.push(Unnamed {
                index,
                key: c.params.key,
                place,
                common_name: c.params.common_name.as_str().into(),
            }),
        }
    }

    /// Derives the missing Names, in order, once every explicit Name is known.
    pub(crate) fn resolve(mut self) -> Result<Names, Vec<ManifestError>> {
        let mut suffixed = vec![false; self.count];
        // Room for every derived Name at once: growing the table would hold the old one
        // and one twice its size at the same time (the run's peak memory, at a million).
        self.taken.reserve(self.unnamed.len());
        for u in std::mem::take(&mut self.unnamed) {
            // The CommonName was checked when the request was added.
            let Ok(cn) = DnsName::parse(&u.common_name) else { continue };
            let plain = CsrName::derive(&cn, u.key, false);
            let with_algorithm =
                matches!(self.taken.get(&name_key(plain.as_str())), Some((_, key)) if *key != u.key);
            let name = if with_algorithm { CsrName::derive(&cn, u.key, true) } else { plain };
            suffixed[u.index as usize] = with_algorithm;
            self.claim(&name, u.place, u.key, &u.common_name);
        }
        if self.errors.is_empty() {
            let mut taken = Vec::with_capacity(self.taken.len());
            taken.extend(self.taken.into_keys());
            taken.sort_unstable();
            Ok(Names { suffixed, taken })
        } else {
            Err(self.errors)
        }
    }
}

impl Names {
    /// The `index`-th request of the run (as numbered by [`NameRegistry::add`]), named.
    pub(crate) fn request(&self, index: usize, c: Checked) -> CsrRequest {
        let name = self.name(index, &c);
        CsrRequest { name, params: c.params, origin: c.origin, key_file: c.key_file }
    }

    /// The Name the `index`-th request has: its own, or the one derived for it.
    pub(crate) fn name(&self, index: usize, c: &Checked) -> CsrName {
        match &c.name {
            Some(name) => name.clone(),
            None => {
                CsrName::derive(&c.params.common_name, c.params.key, self.suffixed.get(index) == Some(&true))
            }
        }
    }

    /// How many requests the run has.
    pub(crate) fn len(&self) -> usize {
        self.suffixed.len()
    }

    /// How many Names' keys (see [`name_key`]) satisfy `f`.
    pub(crate) fn count_where(&self, f: impl Fn(u128) -> bool) -> usize {
        self.taken.iter().filter(|k| f(**k)).count()
    }

    /// Whether some request of the run has this Name (ignoring case).
    pub(crate) fn wants(&self, name: &str) -> bool {
        self.taken.binary_search(&name_key(name)).is_ok()
    }
}

#[cfg(test)]
mod tests;
