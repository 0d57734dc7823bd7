//! What this binary is: its version and the libraries that make its RSA and SM2 keys, as
//! `--version` and `bench` print them.

use std::sync::OnceLock;

/// The `rsa` crate release the default build links. Cargo.lock decides it; the unit test
/// below fails when the two part.
#[cfg(not(feature = "openssl-rsa"))]
const RSA_CRATE_VERSION: &str = "0.10.0";

/// `rsa crate 0.10.0`, or `OpenSSL 3.6.3` for a build with `--features openssl-rsa`.
pub(crate) fn rsa_backend() -> &'static str {
    static TEXT: OnceLock<String> = OnceLock::new();
    TEXT.get_or_init(describe_rsa_backend)
}

#[cfg(not(feature = "openssl-rsa"))]
fn describe_rsa_backend() -> String {
    format!("rsa crate {RSA_CRATE_VERSION}")
}

/// OpenSSL's own answer (`OpenSSL 3.6.3 30 Sep 2025`), up to the version number: the
/// library compiled into the binary, not whatever `openssl` is on the PATH.
#[cfg(feature = "openssl-rsa")]
fn describe_rsa_backend() -> String {
    openssl::version::version().split_whitespace().take(2).collect::<Vec<_>>().join(" ")
}

/// The `sm2` crate release the default build links (checked against Cargo.lock below).
#[cfg(not(feature = "botan-sm2"))]
const SM2_CRATE_VERSION: &str = "0.14.0";

/// `sm2 crate 0.14.0`, or `Botan 3.13.0` for a build with `--features botan-sm2`.
pub(crate) fn sm2_backend() -> &'static str {
    static TEXT: OnceLock<String> = OnceLock::new();
    TEXT.get_or_init(describe_sm2_backend)
}

#[cfg(not(feature = "botan-sm2"))]
fn describe_sm2_backend() -> String {
    format!("sm2 crate {SM2_CRATE_VERSION}")
}

/// Botan's own answer: the library compiled into the binary.
#[cfg(feature = "botan-sm2")]
fn describe_sm2_backend() -> String {
    match botan::Version::current() {
        Ok(v) => format!("Botan {}.{}.{}", v.major, v.minor, v.patch),
        Err(_) => "Botan".to_owned(),
    }
}

/// What `csrbatch --version` prints after the program name.
pub(crate) fn long_version() -> &'static str {
    static TEXT: OnceLock<String> = OnceLock::new();
    TEXT.get_or_init(|| {
        format!("{}\nRSA keys: {}\nSM2 keys: {}", env!("CARGO_PKG_VERSION"), rsa_backend(), sm2_backend())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The version Cargo.lock records for `package`.
    fn locked(package: &str) -> String {
        let lock = include_str!(concat!(env!("CARGO_MANIFEST_DIR"), "/Cargo.lock"));
        let entry = format!("name = \"{package}\"\nversion = \"");
        let start = lock.find(&entry).map(|i| i + entry.len()).expect("package in Cargo.lock");
        lock[start..].split('"').next().unwrap_or_default().to_owned()
    }

    #[cfg(not(feature = "openssl-rsa"))]
    #[test]
    fn names_the_rsa_crate_release_in_cargo_lock() {
        assert_eq!(rsa_backend(), format!("rsa crate {}", locked("rsa")));
    }

    #[cfg(feature = "openssl-rsa")]
    #[test]
    fn names_the_vendored_openssl_release() {
        // openssl-src's version is `300.6.1+3.6.3`: the part after `+` is OpenSSL's.
        let src = locked("openssl-src");
        let openssl = src.split('+').nth(1).expect("openssl-src version has +OPENSSL");
        assert_eq!(rsa_backend(), format!("OpenSSL {openssl}"));
    }

    #[cfg(not(feature = "botan-sm2"))]
    #[test]
    fn names_the_sm2_crate_release_in_cargo_lock() {
        assert_eq!(sm2_backend(), format!("sm2 crate {}", locked("sm2")));
    }

    #[cfg(feature = "botan-sm2")]
    #[test]
    fn names_the_vendored_botan_release() {
        // botan-src's version is `0.31300.1`: Botan 3.13.0, as MMmmpp.
        let src = locked("botan-src");
        let n: u32 = src.split('.').nth(1).and_then(|n| n.parse().ok()).expect("botan-src 0.MMmmpp.x");
        assert_eq!(sm2_backend(), format!("Botan {}.{}.{}", n / 10000, n / 100 % 100, n % 100));
    }

    #[test]
    fn long_version_is_the_package_version_then_the_backends() {
        let text = long_version();
        let want = format!(
            "{}\nRSA keys: {}\nSM2 keys: {}",
            env!("CARGO_PKG_VERSION"),
            rsa_backend(),
            sm2_backend()
        );
        assert_eq!(text, want);
    }
}
