//! The request Name: the `CreateCsr` rule (at most 50 of `[A-Za-z0-9_.-]`), derivation
//! from the CommonName when absent, and uniqueness across the whole run. The Name is
//! the stem of the output file names, so the rule is also what keeps files inside `--out`.

use std::fmt;

use super::KeyAlgorithm;
use super::dns::DnsName;
use crate::manifest::Problem;

/// A checked request Name, safe to use as a file name stem.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct CsrName(String);

impl CsrName {
    pub(crate) const MAX_LEN: usize = 50;

    pub(crate) fn parse(input: &str) -> Result<CsrName, Problem> {
        let value = input.trim();
        let bad = |reason| Err(Problem::Name { value: value.to_owned(), reason });
        if value.is_empty() {
            return Err(Problem::Missing);
        }
        if value.chars().count() > Self::MAX_LEN {
            return bad("longer than 50 characters");
        }
        if !value.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-')) {
            return bad("only letters, digits, `_`, `.` and `-` are allowed");
        }
        if value == "." || value == ".." {
            return bad("`.` and `..` name folders, not files");
        }
        Ok(CsrName(value.to_owned()))
    }

    /// The Name for a request that gives none: the CommonName, `*` spelled `wildcard`,
    /// with `_<algorithm>` appended when `with_algorithm` (to tell apart requests for one
    /// name with several algorithms), cut to 50 characters.
    pub(crate) fn derive(common_name: &DnsName, key: KeyAlgorithm, with_algorithm: bool) -> CsrName {
        let base = match common_name.as_str().strip_prefix('*') {
            Some(rest) => format!("wildcard{rest}"),
            None => common_name.as_str().to_owned(),
        };
        let suffix = if with_algorithm { format!("_{}", key.tag()) } else { String::new() };
        let keep = Self::MAX_LEN - suffix.len();
        // A DnsName is ASCII, so cutting at a byte index is cutting at a character.
        let mut name: String = base.chars().take(keep).collect();
        name.push_str(&suffix);
        CsrName(name)
    }

    pub(crate) fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for CsrName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn valid_names() {
        for ok in ["www", "a.b-c_d", &"x".repeat(50), "..a"] {
            assert_eq!(CsrName::parse(ok).unwrap().as_str(), ok);
        }
    }

    #[test]
    fn invalid_names() {
        for (bad, why) in [
            (&"x".repeat(51)[..], "longer than 50"),
            ("a/b", "only letters"),
            ("../etc", "only letters"),
            ("a b", "only letters"),
            ("名字", "only letters"),
            (".", "folders"),
            ("..", "folders"),
        ] {
            let err = CsrName::parse(bad).unwrap_err().to_string();
            assert!(err.contains(why), "{bad}: {err}");
        }
    }

    #[test]
    fn derived_names() {
        let cn = DnsName::parse("*.example.com").unwrap();
        assert_eq!(CsrName::derive(&cn, KeyAlgorithm::Ecc, false).as_str(), "wildcard.example.com");
        assert_eq!(
            CsrName::derive(&cn, KeyAlgorithm::Rsa3072, true).as_str(),
            "wildcard.example.com_rsa3072"
        );
        let long = DnsName::parse(&format!("{}.example.com", "a".repeat(60))).unwrap();
        let derived = CsrName::derive(&long, KeyAlgorithm::Sm2, true);
        assert_eq!(derived.as_str().len(), 50);
        assert!(derived.as_str().ends_with("_sm2"));
        assert!(CsrName::parse(derived.as_str()).is_ok());
    }
}
