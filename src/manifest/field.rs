//! The manifest fields: one table ([`fields!`]) gives each `CreateCsr` parameter its name,
//! its kind of value and whether it is required. The loaders, the validator's messages and
//! the JSON Schema (`csrbatch schema`) all read this table, so they cannot drift apart.
//!
//! Adding a field is one line in the table (plus its rule in `request::check`, and a
//! `ValueKind` if none of the present ones fits).

use std::fmt;

use super::Problem;

/// What a field's value is, as the loaders and the schema see it (the full rule lives in
/// `request`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ValueKind {
    /// Free text, at most `max` characters (UTF8String in the subject).
    Text { max: usize },
    /// `RSA`, `ECC` or `SM2`, any case.
    Algorithm,
    /// A key size in bits: a number (YAML) or digits (CSV).
    KeySize,
    /// A DNS name (Unicode allowed, converted to punycode), at most `max` characters.
    DnsName { max: usize },
    /// DNS names and IP addresses: comma-separated text, or (YAML) a list of texts.
    NameList,
    /// An ISO 3166-1 alpha-2 code, any case.
    Country,
    /// The output file stem: at most `max` of `[A-Za-z0-9_.-]`.
    FileStem { max: usize },
    /// Names out of `names` (any case; `dotted_oid`: a dotted OID too): comma-separated
    /// text, or (YAML) a list of texts.
    Usages { names: &'static [&'static str], dotted_oid: bool },
    /// A secret sent in the CSR (the PKCS#9 challengePassword), at most `max` characters.
    Secret { max: usize },
    /// A file path, relative to the manifest's folder.
    Path,
}

impl ValueKind {
    /// Whether a YAML list is accepted for this field.
    pub(crate) fn takes_list(self) -> bool {
        matches!(self, ValueKind::NameList | ValueKind::Usages { .. })
    }
}

/// One row of the table.
#[derive(Debug, Clone, Copy)]
pub(crate) struct FieldSpec {
    pub(crate) kind: ValueKind,
    /// Required in every request (after `defaults:` are applied).
    pub(crate) required: bool,
    /// One line for the schema's `description` (editors show it on hover).
    pub(crate) doc: &'static str,
}

/// Longest Province and Locality (X.520 ub-state-name, ub-locality-name).
pub(crate) const MAX_PLACE: usize = 128;
/// Longest CorpName, Department (X.520 ub-organization-name, ub-organizational-unit-name)
/// and CommonName (ub-common-name).
pub(crate) const MAX_ORG: usize = 64;
/// Longest Name (`CreateCsr`'s rule).
pub(crate) const MAX_NAME: usize = 50;
/// Longest ChallengePassword (PKCS#9 ub-challengePassword).
pub(crate) const MAX_CHALLENGE_PASSWORD: usize = 255;
/// The KeyUsage names (RFC 5280 4.2.1.3) csrbatch offers; `contentCommitment` is
/// `nonRepudiation`'s other name.
pub(crate) const KEY_USAGES: &[&str] = &[
    "digitalSignature",
    "nonRepudiation",
    "contentCommitment",
    "keyEncipherment",
    "dataEncipherment",
    "keyAgreement",
];
/// The named ExtendedKeyUsage purposes (RFC 5280 4.2.1.12); any dotted OID is allowed too.
pub(crate) const EXTENDED_KEY_USAGES: &[&str] =
    &["serverAuth", "clientAuth", "codeSigning", "emailProtection", "timeStamping", "OCSPSigning"];

macro_rules! fields {
    ($($field:ident => $kind:expr, $required:expr, $doc:literal;)*) => {
        /// The `CreateCsr` parameter names, spelled exactly as the API spells them.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub enum Field { $(#[doc = $doc] $field,)* }

        impl Field {
            pub(crate) const ALL: &'static [Field] = &[$(Field::$field,)*];

            pub(crate) fn as_str(self) -> &'static str {
                match self { $(Field::$field => stringify!($field),)* }
            }

            pub(crate) fn spec(self) -> FieldSpec {
                match self {
                    $(Field::$field => FieldSpec { kind: $kind, required: $required, doc: $doc },)*
                }
            }
        }
    };
}

fields! {
    Algorithm => ValueKind::Algorithm, true, "Key algorithm: RSA, ECC (NIST P-256) or SM2 (any case).";
    KeySize => ValueKind::KeySize, false, "Key size in bits: RSA 2048, 3072 or 4096 (required); ECC and SM2 256 (may be omitted).";
    CommonName => ValueKind::DnsName { max: MAX_ORG }, true, "The subject CN: a DNS name, `*.` only as the whole leftmost label; Unicode is converted to punycode.";
    Sans => ValueKind::NameList, false, "More DNS names or IPv4/IPv6 addresses: comma-separated, or a list. The CommonName is always the first SAN.";
    CountryCode => ValueKind::Country, true, "ISO 3166-1 alpha-2 country code (subject C).";
    Province => ValueKind::Text { max: MAX_PLACE }, true, "Subject ST.";
    Locality => ValueKind::Text { max: MAX_PLACE }, true, "Subject L.";
    CorpName => ValueKind::Text { max: MAX_ORG }, false, "Subject O.";
    Department => ValueKind::Text { max: MAX_ORG }, false, "Subject OU.";
    Name => ValueKind::FileStem { max: MAX_NAME }, false, "The output file stem; derived from the CommonName when absent. Unique across a run, ignoring case.";
    KeyUsage => ValueKind::Usages { names: KEY_USAGES, dotted_oid: false }, false, "keyUsage extension (critical): digitalSignature, nonRepudiation, keyEncipherment (RSA only), dataEncipherment (not ECC), keyAgreement (ECC and SM2 only); comma-separated, or a list.";
    ExtendedKeyUsage => ValueKind::Usages { names: EXTENDED_KEY_USAGES, dotted_oid: true }, false, "extendedKeyUsage extension: serverAuth, clientAuth, codeSigning, emailProtection, timeStamping, OCSPSigning or a dotted OID; comma-separated, or a list.";
    ChallengePassword => ValueKind::Secret { max: MAX_CHALLENGE_PASSWORD }, false, "PKCS#9 challengePassword attribute of the CSR (only the CSR holds it; summary.json says HasChallengePassword).";
    KeyFile => ValueKind::Path, false, "An existing private key (PEM PKCS#8, encrypted PKCS#8, PKCS#1 or SEC1) to sign the CSR with, relative to the manifest's folder; never changed, moved or copied.";
}

impl Field {
    /// Exact, case-sensitive lookup; on a miss, the error suggests the nearest name.
    pub(crate) fn parse(name: &str) -> Result<Field, Problem> {
        Field::ALL
            .iter()
            .copied()
            .find(|f| f.as_str() == name)
            .ok_or_else(|| Problem::UnknownField { name: name.to_owned(), suggestion: Field::nearest(name) })
    }

    /// The known name closest to `name`, if it is close enough to be a likely typo.
    fn nearest(name: &str) -> Option<Field> {
        // A long key is no typo of a field name; comparing it would cost its length squared.
        if name.len() > 64 {
            return None;
        }
        let names: Vec<&'static str> = Field::ALL.iter().map(|f| f.as_str()).collect();
        let best = nearest(name, &names)?;
        Field::ALL.iter().copied().find(|f| f.as_str() == best)
    }
}

/// Of `choices`, the one closest to `name` (ignoring case), if close enough to be a typo.
pub(crate) fn nearest(name: &str, choices: &[&'static str]) -> Option<&'static str> {
    if name.len() > 64 {
        return None;
    }
    let lower = name.to_ascii_lowercase();
    choices
        .iter()
        .map(|c| (strsim::damerau_levenshtein(&lower, &c.to_ascii_lowercase()), *c))
        .min_by_key(|(d, _)| *d)
        .filter(|(d, c)| *d <= 2.max(c.len() / 3))
        .map(|(_, c)| c)
}

impl fmt::Display for Field {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn field_names_round_trip() {
        for f in Field::ALL {
            assert_eq!(Field::parse(f.as_str()).ok(), Some(*f));
        }
    }

    #[test]
    fn unknown_field_suggests_nearest() {
        let err = Field::parse("CommmonName").unwrap_err();
        assert_eq!(err.to_string(), "unknown field `CommmonName`; did you mean `CommonName`?");
        let err = Field::parse("commonname").unwrap_err();
        assert!(err.to_string().contains("did you mean `CommonName`"), "{err}");
        let err = Field::parse("Colour").unwrap_err();
        assert!(!err.to_string().contains("did you mean"), "{err}");
        assert!(!Field::parse(&"x".repeat(100_000)).unwrap_err().to_string().contains("did you mean"));
    }

    #[test]
    fn only_sans_and_the_usages_take_a_list() {
        let lists: Vec<Field> = Field::ALL.iter().copied().filter(|f| f.spec().kind.takes_list()).collect();
        assert_eq!(lists, [Field::Sans, Field::KeyUsage, Field::ExtendedKeyUsage]);
    }
}
