//! DNS names and SAN entries: the syntax rules, and IDNA to ASCII (punycode).

use std::fmt;
use std::net::IpAddr;

use crate::error::Problem;

/// A checked, lower-case ASCII DNS name, possibly with a leading `*.` wildcard label.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct DnsName(String);

impl DnsName {
    /// Longest name in presentation form (RFC 1035 2.3.4, less the trailing dot).
    pub const MAX_LEN: usize = 253;
    const MAX_LABEL: usize = 63;

    /// Checks `input` (trimmed) and converts a Unicode name to its ASCII form.
    pub fn parse(input: &str) -> Result<DnsName, Problem> {
        let input = input.trim();
        let bad = |reason: &str| Problem::DnsName { value: input.to_owned(), reason: reason.to_owned() };
        if input.is_empty() {
            return Err(Problem::Missing);
        }
        let (wildcard, rest) = match input.strip_prefix("*.") {
            Some(rest) => (true, rest),
            None => (false, input),
        };
        if rest.contains('*') {
            return Err(bad("`*` is allowed only as the whole leftmost label (`*.example.com`)"));
        }
        if rest.ends_with('.') {
            return Err(bad("trailing dot"));
        }
        let ascii = if rest.is_ascii() {
            rest.to_ascii_lowercase()
        } else {
            idna::domain_to_ascii(rest).map_err(|_| bad("not a valid internationalized domain name"))?
        };
        for label in ascii.split('.') {
            if label.is_empty() {
                return Err(bad("empty label"));
            }
            if label.len() > Self::MAX_LABEL {
                return Err(bad(&format!("label `{label}` is {} characters, at most 63", label.len())));
            }
            if let Some(c) = label.chars().find(|c| !(c.is_ascii_alphanumeric() || *c == '-')) {
                return Err(bad(&format!("`{}` is not a letter, digit or hyphen", c.escape_default())));
            }
            if label.starts_with('-') || label.ends_with('-') {
                return Err(bad(&format!("label `{label}` starts or ends with a hyphen")));
            }
        }
        let name = if wildcard { format!("*.{ascii}") } else { ascii };
        if name.len() > Self::MAX_LEN {
            return Err(bad(&format!("{} characters, at most {}", name.len(), Self::MAX_LEN)));
        }
        Ok(DnsName(name))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn is_wildcard(&self) -> bool {
        self.0.starts_with("*.")
    }
}

impl fmt::Display for DnsName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// One subjectAltName entry.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum San {
    Dns(DnsName),
    Ip(IpAddr),
}

impl San {
    /// An IPv4/IPv6 address becomes an IP SAN; anything else must be a DNS name.
    pub fn parse(input: &str) -> Result<San, Problem> {
        let input = input.trim();
        match input.parse::<IpAddr>() {
            Ok(ip) => Ok(San::Ip(ip)),
            Err(_) => DnsName::parse(input).map(San::Dns),
        }
    }
}

impl fmt::Display for San {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            San::Dns(d) => d.fmt(f),
            San::Ip(ip) => ip.fmt(f),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reason(input: &str) -> String {
        DnsName::parse(input).unwrap_err().to_string()
    }

    #[test]
    fn accepts_and_normalizes() {
        assert_eq!(DnsName::parse(" WWW.Example.COM ").unwrap().as_str(), "www.example.com");
        assert_eq!(DnsName::parse("*.example.com").unwrap().as_str(), "*.example.com");
        assert!(DnsName::parse("*.example.com").unwrap().is_wildcard());
        assert_eq!(DnsName::parse("localhost").unwrap().as_str(), "localhost");
        assert_eq!(DnsName::parse("a-b.example").unwrap().as_str(), "a-b.example");
    }

    #[test]
    fn unicode_becomes_punycode() {
        assert_eq!(DnsName::parse("例子.中国").unwrap().as_str(), "xn--fsqu00a.xn--fiqs8s");
        assert_eq!(DnsName::parse("*.bücher.example").unwrap().as_str(), "*.xn--bcher-kva.example");
    }

    #[test]
    fn rejects_bad_names() {
        assert!(reason("a..b").contains("empty label"));
        assert!(reason("a_b.example").contains("`_` is not a letter"));
        assert!(reason("foo.*.example").contains("leftmost"));
        assert!(reason("*example.com").contains("leftmost"));
        assert!(reason("-a.example").contains("hyphen"));
        assert!(reason("example.com.").contains("trailing dot"));
        assert!(reason(&format!("{}.com", "a".repeat(64))).contains("at most 63"));
        let long = vec!["a".repeat(60); 5].join(".");
        assert!(reason(&long).contains("at most 253"));
        assert_eq!(DnsName::parse("  ").unwrap_err(), Problem::Missing);
    }

    #[test]
    fn san_ip_or_dns() {
        assert_eq!(San::parse("10.0.0.1").unwrap(), San::Ip("10.0.0.1".parse().unwrap()));
        assert_eq!(San::parse("2001:db8::1").unwrap(), San::Ip("2001:db8::1".parse().unwrap()));
        assert!(matches!(San::parse("b.example").unwrap(), San::Dns(_)));
        assert!(San::parse("b example").is_err());
    }
}
