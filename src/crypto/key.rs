//! Private keys: generation from the operating system's CSPRNG, PKCS#8 in and out, and
//! the SubjectPublicKeyInfo. `Debug` never prints key material.

use std::fmt;

use der::pem::LineEnding;
use getrandom::SysRng;
use p256::elliptic_curve::Generate;
use pkcs8::{DecodePrivateKey, EncodePrivateKey, EncodePublicKey};
use zeroize::Zeroizing;

use crate::error::CryptoError;
use crate::request::KeyAlgorithm;

/// A private key of one of the `CreateCsr` key types.
pub struct PrivateKey {
    algorithm: KeyAlgorithm,
    inner: Inner,
}

enum Inner {
    Rsa(Box<rsa::PrivateKey>),
    Ecc(p256::SecretKey),
    Sm2(sm2::SecretKey),
}

impl PrivateKey {
    /// A fresh key. RSA uses e = 65537; every byte of randomness comes from `getrandom`.
    pub fn generate(algorithm: KeyAlgorithm) -> Result<PrivateKey, CryptoError> {
        let keygen = |e: &dyn fmt::Display| CryptoError::KeyGen(e.to_string());
        let inner = match algorithm {
            KeyAlgorithm::Rsa2048 | KeyAlgorithm::Rsa3072 | KeyAlgorithm::Rsa4096 => {
                let bits = algorithm.key_size() as usize;
                Inner::Rsa(Box::new(
                    rsa::PrivateKey::new(&mut SysRng, bits).map_err(|e| keygen(&e))?,
                ))
            }
            KeyAlgorithm::Ecc => Inner::Ecc(
                p256::SecretKey::try_generate_from_rng(&mut SysRng).map_err(|e| keygen(&e))?,
            ),
            KeyAlgorithm::Sm2 => Inner::Sm2(
                sm2::SecretKey::try_generate_from_rng(&mut SysRng).map_err(|e| keygen(&e))?,
            ),
        };
        Ok(PrivateKey { algorithm, inner })
    }

    /// Reads an unencrypted PKCS#8 PEM key and checks it is of the `expected` type.
    pub fn from_pkcs8_pem(pem: &str, expected: KeyAlgorithm) -> Result<PrivateKey, CryptoError> {
        let parse = |e: &dyn fmt::Display| CryptoError::Parse {
            what: "the private key",
            detail: e.to_string(),
        };
        let inner = match expected {
            KeyAlgorithm::Rsa2048 | KeyAlgorithm::Rsa3072 | KeyAlgorithm::Rsa4096 => {
                let key = rsa::PrivateKey::from_pkcs8_pem(pem).map_err(|e| parse(&e))?;
                let bits = rsa::traits::PublicKeyParts::size(&key) * 8;
                if bits != expected.key_size() as usize {
                    return Err(parse(&format!(
                        "an RSA-{bits} key where {expected} was expected"
                    )));
                }
                Inner::Rsa(Box::new(key))
            }
            KeyAlgorithm::Ecc => {
                Inner::Ecc(p256::SecretKey::from_pkcs8_pem(pem).map_err(|e| parse(&e))?)
            }
            KeyAlgorithm::Sm2 => {
                Inner::Sm2(sm2::SecretKey::from_pkcs8_pem(pem).map_err(|e| parse(&e))?)
            }
        };
        Ok(PrivateKey {
            algorithm: expected,
            inner,
        })
    }

    pub fn algorithm(&self) -> KeyAlgorithm {
        self.algorithm
    }

    /// The key as unencrypted PKCS#8 PEM (`-----BEGIN PRIVATE KEY-----`), LF line endings.
    pub fn to_pkcs8_pem(&self) -> Result<Zeroizing<String>, CryptoError> {
        let encoded = match &self.inner {
            Inner::Rsa(k) => k.to_pkcs8_pem(LineEnding::LF),
            Inner::Ecc(k) => k.to_pkcs8_pem(LineEnding::LF),
            Inner::Sm2(k) => k.to_pkcs8_pem(LineEnding::LF),
        };
        encoded.map_err(|e| CryptoError::Encode(e.to_string()))
    }

    /// The DER SubjectPublicKeyInfo that goes into the CSR.
    pub fn public_key_der(&self) -> Result<Vec<u8>, CryptoError> {
        let encoded = match &self.inner {
            Inner::Rsa(k) => k.to_public_key().to_public_key_der(),
            Inner::Ecc(k) => k.public_key().to_public_key_der(),
            Inner::Sm2(k) => k.public_key().to_public_key_der(),
        };
        encoded
            .map(|d| d.into_vec())
            .map_err(|e| CryptoError::Encode(e.to_string()))
    }

    /// The SM2 secret, for the SM2 signer; `None` for other key types.
    pub(super) fn as_sm2(&self) -> Option<&sm2::SecretKey> {
        match &self.inner {
            Inner::Sm2(k) => Some(k),
            _ => None,
        }
    }
}

impl fmt::Debug for PrivateKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PrivateKey")
            .field("algorithm", &self.algorithm)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pkcs8_round_trip_and_debug_hides_the_key() {
        for alg in [KeyAlgorithm::Ecc, KeyAlgorithm::Sm2, KeyAlgorithm::Rsa2048] {
            let key = PrivateKey::generate(alg).unwrap();
            let pem = key.to_pkcs8_pem().unwrap();
            assert!(pem.starts_with("-----BEGIN PRIVATE KEY-----\n"));
            let back = PrivateKey::from_pkcs8_pem(&pem, alg).unwrap();
            assert_eq!(
                back.public_key_der().unwrap(),
                key.public_key_der().unwrap()
            );
            assert_eq!(
                format!("{key:?}"),
                format!("PrivateKey {{ algorithm: {alg:?}, .. }}")
            );
        }
    }

    #[test]
    fn keys_are_distinct() {
        let a = PrivateKey::generate(KeyAlgorithm::Ecc).unwrap();
        let b = PrivateKey::generate(KeyAlgorithm::Ecc).unwrap();
        assert_ne!(a.public_key_der().unwrap(), b.public_key_der().unwrap());
    }

    #[test]
    fn a_key_of_the_wrong_type_is_refused() {
        let pem = PrivateKey::generate(KeyAlgorithm::Ecc)
            .unwrap()
            .to_pkcs8_pem()
            .unwrap();
        assert!(PrivateKey::from_pkcs8_pem(&pem, KeyAlgorithm::Rsa2048).is_err());
        assert!(PrivateKey::from_pkcs8_pem("garbage", KeyAlgorithm::Ecc).is_err());
    }
}
