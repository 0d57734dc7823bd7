//! Whether a certificate covers the names its request asked for (RFC 6125).

use std::net::IpAddr;

use super::Certificate;

/// The names of `wanted` (the request's CommonName and Sans, as written in its CSR) that
/// `cert` does not cover, in the order asked, each once.
///
/// A DNS name is covered by a subjectAltName dNSName, or by the CommonName when the
/// certificate has no subjectAltName extension at all (RFC 6125 6.4.4); case-insensitive,
/// a trailing dot ignored. A wildcard covers exactly one left-most label:
/// `*.example.com` covers `www.example.com`, not `a.b.example.com` nor `example.com`; a
/// wildcard asked for needs the same wildcard. An IP address is covered by an iPAddress
/// entry of the same address (or, as some CAs write it, a dNSName of its text).
pub(crate) fn missing_names(cert: &Certificate, wanted: &[&str]) -> Vec<String> {
    let dns: Vec<String> = if cert.has_san() {
        cert.dns_names().iter().map(|n| normal(n)).collect()
    } else {
        cert.common_name().iter().map(|n| normal(n)).collect()
    };
    let ips = cert.ip_addresses();
    let mut missing: Vec<String> = Vec::new();
    for name in wanted {
        let want = normal(name);
        if want.is_empty() || missing.iter().any(|m| normal(m) == want) {
            continue;
        }
        let covered = match want.parse::<IpAddr>() {
            Ok(ip) => ips.contains(&ip) || dns.iter().any(|d| d.parse::<IpAddr>() == Ok(ip)),
            Err(_) => dns.iter().any(|presented| covers(presented, &want)),
        };
        if !covered {
            missing.push((*name).to_owned());
        }
    }
    missing
}

fn normal(name: &str) -> String {
    let name = name.trim();
    name.strip_suffix('.').unwrap_or(name).to_ascii_lowercase()
}

/// Whether the presented identifier (normalised) covers the wanted name (normalised).
fn covers(presented: &str, wanted: &str) -> bool {
    if presented == wanted {
        return true;
    }
    if wanted.starts_with('*') {
        return false;
    }
    let Some(suffix) = presented.strip_prefix("*.") else {
        return false;
    };
    // A wildcard over at least two labels (`*.example.com`, never `*.com` nor `*`).
    if !suffix.contains('.') || suffix.contains('*') {
        return false;
    }
    match wanted.split_once('.') {
        Some((label, rest)) => !label.is_empty() && rest == suffix,
        None => false,
    }
}

#[cfg(test)]
mod tests {
    use super::covers;

    #[test]
    fn wildcards_cover_one_left_most_label() {
        assert!(covers("*.example.com", "www.example.com"));
        assert!(!covers("*.example.com", "a.b.example.com"));
        assert!(!covers("*.example.com", "example.com"));
        assert!(!covers("*.com", "example.com"));
        assert!(!covers("www.example.com", "*.example.com"));
        assert!(covers("*.example.com", "*.example.com"));
        assert!(!covers("*.example.com", "*.b.example.com"));
        assert!(!covers("w*.example.com", "www.example.com"));
    }
}
