//! RSA key generation, e = 65537, as unencrypted PKCS#8 DER.
//!
//! Default: the `rsa` crate (crypto-primes: a sieve, then Baillie-PSW), randomness from
//! `getrandom`. With the `openssl-rsa` feature: OpenSSL's `RSA_generate_key` from a
//! vendored OpenSSL build (its DRBG is seeded from the operating system), which is the
//! same code pyca/cryptography runs and generates 2048- to 4096-bit keys 1.3x to 2x faster
//! per core than the pure-Rust big integers (README, "Benchmarks").

use zeroize::Zeroizing;

use crate::error::CryptoError;

fn keygen(e: impl std::fmt::Display) -> CryptoError {
    CryptoError::KeyGen(e.to_string())
}

/// Which implementation makes RSA keys in this build.
pub const BACKEND: &str = if cfg!(feature = "openssl-rsa") { "openssl" } else { "rsa" };

#[cfg(not(feature = "openssl-rsa"))]
pub fn generate(bits: u32) -> Result<Zeroizing<Vec<u8>>, CryptoError> {
    use pkcs8::EncodePrivateKey;
    let key = rsa::PrivateKey::new(&mut getrandom::SysRng, bits as usize).map_err(keygen)?;
    Ok(Zeroizing::new(key.to_pkcs8_der().map_err(keygen)?.as_bytes().to_vec()))
}

#[cfg(feature = "openssl-rsa")]
pub fn generate(bits: u32) -> Result<Zeroizing<Vec<u8>>, CryptoError> {
    let rsa = openssl::rsa::Rsa::generate(bits).map_err(keygen)?;
    let key = openssl::pkey::PKey::from_rsa(rsa).map_err(keygen)?;
    Ok(Zeroizing::new(key.private_key_to_pkcs8().map_err(keygen)?))
}
