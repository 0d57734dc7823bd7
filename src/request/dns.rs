//! DNS names and SAN entries: the syntax rules, and IDNA to ASCII (punycode).

use std::fmt;
use std::net::IpAddr;

use crate::manifest::Problem;

/// A checked, lower-case ASCII DNS name, possibly with a leading `*.` wildcard label.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) struct DnsName(String);

impl DnsName {
    /// Longest name in presentation form (RFC 1035 2.3.4, less the trailing dot).
    pub(crate) const MAX_LEN: usize = 253;
    const MAX_LABEL: usize = 63;

    /// Checks `input` (trimmed) and converts a Unicode name to its ASCII form.
    pub(crate) fn parse(input: &str) -> Result<DnsName, Problem> {
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
        // CAs (and RFC 1123 2.1, RFC 3696 2) refuse an all-digit top label: `999.1.1.1` is
        // a mistyped IPv4 address, not a name.
        if let Some(last) = ascii.rsplit('.').next().filter(|l| l.bytes().all(|b| b.is_ascii_digit())) {
            return Err(bad(&format!(
                "the last label `{last}` is all digits, so this is no DNS name (a mistyped IP address?)"
            )));
        }
        for label in ascii.split('.').filter(|l| l.starts_with("xn--")) {
            if !punycode_round_trips(label) {
                return Err(bad(&format!(
                    "`{label}` is not valid punycode (it does not round-trip through IDNA)"
                )));
            }
        }
        let name = if wildcard { format!("*.{ascii}") } else { ascii };
        if name.len() > Self::MAX_LEN {
            return Err(bad(&format!("{} characters, at most {}", name.len(), Self::MAX_LEN)));
        }
        Ok(DnsName(name))
    }

    pub(crate) fn as_str(&self) -> &str {
        &self.0
    }

    #[cfg(test)]
    pub(crate) fn is_wildcard(&self) -> bool {
        self.0.starts_with("*.")
    }
}

/// An `xn--` label decodes (RFC 3492) to Unicode that IDNA (UTS 46) encodes back to the
/// same label: what a CA's IDNA check does.
fn punycode_round_trips(label: &str) -> bool {
    let (unicode, decoded) = idna::domain_to_unicode(label);
    decoded.is_ok() && idna::domain_to_ascii(&unicode).is_ok_and(|again| again == label)
}

impl fmt::Display for DnsName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// One subjectAltName entry.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) enum San {
    Dns(DnsName),
    Ip(IpAddr),
}

impl San {
    /// An IPv4/IPv6 address becomes an IP SAN; anything else must be a DNS name.
    pub(crate) fn parse(input: &str) -> Result<San, Problem> {
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
    fn last_label_all_digits_is_no_name() {
        assert!(reason("999.1.1.1").contains("last label `1` is all digits"));
        assert!(reason("example.123").contains("all digits"));
        assert!(reason("*.10").contains("all digits"));
        assert!(DnsName::parse("1.example.com").is_ok());
        assert!(DnsName::parse("example.c0m").is_ok());
    }

    #[test]
    fn xn_labels_must_be_punycode_that_round_trips() {
        assert_eq!(DnsName::parse("xn--fsqu00a.xn--fiqs8s").unwrap().as_str(), "xn--fsqu00a.xn--fiqs8s");
        for bad in ["xn--a.example", "www.xn--abcdefg.example", "xn--xn--bcher-kva.example", "xn--a-ecp.cn"] {
            assert!(reason(bad).contains("is not valid punycode"), "{bad}: {}", reason(bad));
        }
    }

    #[test]
    fn san_ip_or_dns() {
        assert_eq!(San::parse("10.0.0.1").unwrap(), San::Ip("10.0.0.1".parse().unwrap()));
        assert_eq!(San::parse("2001:db8::1").unwrap(), San::Ip("2001:db8::1".parse().unwrap()));
        assert!(matches!(San::parse("b.example").unwrap(), San::Dns(_)));
        assert!(San::parse("b example").is_err());
        assert!(matches!(San::parse("999.1.1.1"), Err(Problem::DnsName { .. })));
    }
}
