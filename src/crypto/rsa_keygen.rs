//! RSA key generation, e = 65537, as unencrypted PKCS#8 DER.
//!
//! Default: primes from crypto-primes (two sieve stages, then Baillie-PSW) searched by
//! every idle rayon worker ([`primes`]), checked against FIPS 186-5 A.1.3, and made into a
//! key by the `rsa` crate's own constructor, which validates it; randomness from
//! `getrandom`. With the `openssl-rsa` feature: OpenSSL's `RSA_generate_key` from a
//! vendored OpenSSL build (its DRBG is seeded from the operating system), the same code
//! pyca/cryptography runs, 1.3x to 2x faster per core than the pure-Rust big integers
//! (README, "Benchmarks"); its search runs on one thread (see `generate` below).

use zeroize::Zeroizing;

use crate::crypto::CryptoError;

#[cfg(not(feature = "openssl-rsa"))]
mod deep_sieve;
#[cfg(not(feature = "openssl-rsa"))]
mod primes;

fn keygen(e: impl std::fmt::Display) -> CryptoError {
    CryptoError::KeyGen(e.to_string())
}

/// Which implementation makes RSA keys in this build.
pub(crate) const BACKEND: &str = if cfg!(feature = "openssl-rsa") { "openssl" } else { "rsa" };

#[cfg(not(feature = "openssl-rsa"))]
pub(crate) fn generate(bits: u32) -> Result<Zeroizing<Vec<u8>>, CryptoError> {
    use pkcs8::EncodePrivateKey;
    let key = generate_key(bits, &|| {})?;
    Ok(Zeroizing::new(key.to_pkcs8_der().map_err(keygen)?.as_bytes().to_vec()))
}

/// An RSA key with an exactly `bits`-bit modulus (FIPS 186-5 A.1.3): p and q are searched
/// at once (`rayon::join`: on a busy pool one thread does both, one after the other), a
/// pair is kept only if it passes [`primes::check_pair`], and the key is built by
/// `rsa::PrivateKey::from_p_q`, which computes d = e^-1 mod lcm(p - 1, q - 1) and
/// validates the key (n = pq, de = 1 mod p - 1 and q - 1, distinct primes).
#[cfg(not(feature = "openssl-rsa"))]
fn generate_key(bits: u32, tested: &(dyn Fn() + Sync)) -> Result<rsa::PrivateKey, CryptoError> {
    use crypto_bigint::BoxedUint;
    use rsa::traits::{PrivateKeyParts, PublicKeyParts};
    loop {
        let (p, q) = rayon::join(|| primes::find_prime(bits, tested), || primes::find_prime(bits, tested));
        let (p, q) = (p?, q?);
        // Only TooClose can fail here (each prime passed check_prime): 1 pair in ~2^99.
        if primes::check_pair(&p, &q, bits).is_err() {
            continue;
        }
        let key = rsa::PrivateKey::from_p_q(p, q, BoxedUint::from(primes::E)).map_err(keygen)?;
        if key.n().as_ref().bit_width() != bits {
            // Cannot happen: both primes have their top two bits set.
            return Err(keygen(format!("the modulus is not {bits} bits")));
        }
        // FIPS 186-5 A.1.1: 2^(nlen/2) < d; d < lcm(p - 1, q - 1) by construction.
        if key.d().bit_width() <= bits / 2 {
            continue;
        }
        return Ok(key);
    }
}

/// OpenSSL's `RSA_generate_key_ex` searches each prime on the calling thread: its
/// `BN_GENCB` callback only reports progress (it can stop a search, not share one), and
/// `BN_generate_prime_ex` is the same serial search, so a parallel search would have to
/// run several of them at once and cancel the losers through the callback, then assemble
/// the key from p and q by hand (`RSA_set0_factors`/`_crt_params`, d computed outside
/// OpenSSL's checked key generation). That trades OpenSSL's own key generation for our
/// glue, so this backend stays one key per thread.
#[cfg(feature = "openssl-rsa")]
pub(crate) fn generate(bits: u32) -> Result<Zeroizing<Vec<u8>>, CryptoError> {
    let rsa = openssl::rsa::Rsa::generate(bits).map_err(keygen)?;
    let key = openssl::pkey::PKey::from_rsa(rsa).map_err(keygen)?;
    Ok(Zeroizing::new(key.private_key_to_pkcs8().map_err(keygen)?))
}

#[cfg(test)]
#[cfg(not(feature = "openssl-rsa"))]
mod tests {
    use super::*;
    use rsa::traits::{PrivateKeyParts, PublicKeyParts};

    /// Every rule of FIPS 186-5 A.1.3 (and what `rsa` validates) on one key, checked from
    /// the key's own parts.
    fn assert_sound(key: &rsa::PrivateKey, bits: u32) {
        let [p, q] = key.primes() else { panic!("{} primes", key.primes().len()) };
        assert_eq!(key.n().as_ref().bit_width(), bits);
        assert_eq!(key.e(), &crypto_bigint::BoxedUint::from(65_537u32));
        assert_eq!(primes::check_pair(p.as_ref(), q.as_ref(), bits), Ok(()));
        assert!(key.d().bit_width() > bits / 2);
        key.validate().unwrap();
    }

    #[test]
    fn many_small_keys_pass_every_check_on_a_shared_pool() {
        let pool = rayon::ThreadPoolBuilder::new().num_threads(4).build().unwrap();
        // 24 keys at once on four workers: the searches compete for and steal from
        // each other, as in a batch.
        pool.install(|| {
            use rayon::prelude::*;
            let keys: Vec<_> = (0..24).into_par_iter().map(|_| generate_key(1024, &|| {}).unwrap()).collect();
            let mut moduli: Vec<_> = keys.iter().map(|k| k.n().as_ref().clone()).collect();
            for key in &keys {
                assert_sound(key, 1024);
            }
            moduli.sort();
            moduli.dedup();
            assert_eq!(moduli.len(), keys.len(), "two keys share a modulus");
        });
    }

    #[test]
    fn one_key_uses_every_worker() {
        let pool = rayon::ThreadPoolBuilder::new().num_threads(2).build().unwrap();
        let workers = std::sync::Mutex::new(std::collections::BTreeSet::new());
        let note = || {
            workers.lock().unwrap().insert(rayon::current_thread_index());
        };
        let key = pool.install(|| generate_key(2048, &note)).unwrap();
        assert_sound(&key, 2048);
        assert_eq!(*workers.lock().unwrap(), [Some(0), Some(1)].into_iter().collect());
    }

    /// The outside judge: OpenSSL's `rsa -check` (primality of p and q, n = pq, d, the CRT
    /// values) on PKCS#8 files made by `generate`.
    #[test]
    fn openssl_accepts_the_keys() {
        let dir = tempfile::tempdir().unwrap();
        for (i, bits) in [2048, 2048, 3072, 4096].into_iter().enumerate() {
            let der = generate(bits).unwrap();
            let path = dir.path().join(format!("{i}.der"));
            std::fs::write(&path, der.as_slice()).unwrap();
            let out = std::process::Command::new("openssl")
                .args(["rsa", "-check", "-noout", "-text", "-inform", "DER", "-in"])
                .arg(&path)
                .output()
                .expect("openssl runs");
            let stdout = String::from_utf8_lossy(&out.stdout);
            assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
            assert!(stdout.contains("RSA key ok"), "{stdout}");
            assert!(stdout.contains(&format!("Private-Key: ({bits} bit, 2 primes)")), "{stdout}");
            assert!(stdout.contains("publicExponent: 65537 (0x10001)"), "{stdout}");
        }
    }
}
