//! PKCS#12 (`.p12`, `.pfx`): a key, its certificate and the chain, for IIS, Tomcat and
//! Java keystores, with p12-keystore.
//!
//! Default: OpenSSL 3's algorithms, PBES2 (PBKDF2-HMAC-SHA256, AES-256-CBC) for the key
//! and the certificates, and an HMAC-SHA256 MAC. Legacy: PBE-SHA1-3DES and an HMAC-SHA1
//! MAC, which Windows Server 2016, the macOS Keychain and Java 8 before 8u301 read.
//! [`ITERATIONS`] for both, as OpenSSL.

use p12_keystore::{EncryptionAlgorithm, KeyStore, KeyStoreEntry, MacAlgorithm, PrivateKeyChain};

use super::Certificate;
use crate::crypto::{PrivateKey, PublicKeyType};

/// PBKDF2 and MAC iterations (OpenSSL 3's `PKCS12_DEFAULT_ITER`).
pub(crate) const ITERATIONS: u32 = 2048;

/// Why a PKCS#12 could not be made.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub(crate) enum P12Error {
    /// The key is not an unencrypted PKCS#8 key csrbatch reads.
    #[error("the key cannot be read: {detail}")]
    Key {
        /// Why.
        detail: String,
    },
    /// The key is not the certificate's.
    #[error("the key is not the certificate's key")]
    KeyMismatch,
    /// SM2: no PKCS#12 reader takes SM2 keys, so none is made.
    #[error("no .p12 for an SM2 key (no PKCS#12 reader takes one)")]
    Sm2,
    /// The passphrase is empty.
    #[error("the .p12 passphrase is empty")]
    EmptyPassphrase,
    /// p12-keystore refused.
    #[error("PKCS#12: {detail}")]
    Build {
        /// What it said.
        detail: String,
    },
}

/// A PKCS#12 of the key (unencrypted PKCS#8 DER), its certificate `leaf` and `chain`
/// (the intermediates, issuer first), encrypted and MACed with `passphrase`: OpenSSL 3's
/// algorithms, or with `legacy` 3DES and a SHA-1 MAC. The key must be the leaf's.
pub(crate) fn build_p12(
    key_pkcs8_der: &[u8],
    leaf: &Certificate,
    chain: &[Certificate],
    passphrase: &str,
    legacy: bool,
) -> Result<Vec<u8>, P12Error> {
    if passphrase.is_empty() {
        return Err(P12Error::EmptyPassphrase);
    }
    let key =
        PrivateKey::from_pkcs8_der_any(key_pkcs8_der).map_err(|e| P12Error::Key { detail: e.to_string() })?;
    if key.public_key_der() != leaf.spki_der() {
        return Err(P12Error::KeyMismatch);
    }
    if leaf.public_key_type() == Some(PublicKeyType::Sm2) {
        return Err(P12Error::Sm2);
    }
    let build = |e: p12_keystore::error::Error| P12Error::Build { detail: e.to_string() };
    let cert = |c: &Certificate| p12_keystore::Certificate::from_der(c.der()).map_err(build);
    let mut certs = vec![cert(leaf)?];
    for c in chain {
        certs.push(cert(c)?);
    }
    let key = p12_keystore::PrivateKey::from_der(key_pkcs8_der).map_err(build)?;
    // The localKeyId ties the key to its certificate: 20 bytes of its SHA-256 fingerprint.
    let local_key_id = leaf.sha256_fingerprint()[..20].to_vec();
    let entry = PrivateKeyChain::new(local_key_id, key, certs);
    let alias = leaf.common_name().unwrap_or_else(|| "certificate".to_owned());
    let mut store = KeyStore::new();
    store.add_entry(&alias, KeyStoreEntry::PrivateKeyChain(entry));
    let (encryption, mac) = if legacy {
        (EncryptionAlgorithm::PbeWithShaAnd3KeyTripleDesCbc, MacAlgorithm::HmacSha1)
    } else {
        (EncryptionAlgorithm::PbeWithHmacSha256AndAes256, MacAlgorithm::HmacSha256)
    };
    store
        .writer(passphrase)
        .encryption_algorithm(encryption)
        .encryption_iterations(ITERATIONS)
        .mac_algorithm(mac)
        .mac_iterations(ITERATIONS)
        .write()
        .map_err(build)
}
