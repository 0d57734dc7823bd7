//! Keys and CSRs per algorithm, with no file I/O: generate a key, build and sign the
//! CSR, and check the result before anyone writes it.

mod csr_rcgen;
mod csr_sm2;
mod envelope;
mod error;
mod foreign;
mod key;
mod key_pem;
pub(crate) mod oid;
pub(crate) mod pem;
mod rsa_keygen;
mod sm2_curve;
mod sm2_key;
mod subject;
mod verify;

pub(crate) use csr_sm2::DIST_ID as SM2_DIST_ID;
pub(crate) use envelope::Sm2EnvelopedKey;
pub(crate) use error::CryptoError;
pub(crate) use foreign::{
    PublicKeyType, SignatureCheck, check_csr_signature, signature_algorithm_name, signed_bytes,
    verify_signature,
};
pub use key::{Passphrase, PrivateKey};
pub use key_pem::{KeyError, KeyFormat};
pub(crate) use rsa_keygen::BACKEND as RSA_BACKEND;
pub(crate) use sm2_key::BACKEND as SM2_BACKEND;

use der::pem::LineEnding;
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

use crate::request::{KeyAlgorithm, Params};

/// A CSR that passed the self-check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedCsr {
    pub(crate) der: Vec<u8>,
    /// `-----BEGIN CERTIFICATE REQUEST-----` PEM, LF line endings.
    pub pem: String,
    /// Lower-case hex SHA-256 of the DER SubjectPublicKeyInfo (`KeySha2`).
    pub(crate) key_sha2: String,
}

/// A new key and its CSR.
pub struct Generated {
    /// The private key as PEM in the asked format, encrypted when a passphrase was given.
    pub key_pem: Zeroizing<String>,
    /// The CSR, signed with that key.
    pub csr: SignedCsr,
}

impl std::fmt::Debug for Generated {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Generated").field("csr", &self.csr).finish_non_exhaustive()
    }
}

/// `KeySha2`: the lower-case hex SHA-256 of a DER SubjectPublicKeyInfo. The one place it
/// is computed: CSRs, `inspect` and certificates (pairing a certificate with its key).
pub(crate) fn key_sha2(spki: &[u8]) -> String {
    hex::encode(Sha256::digest(spki))
}

/// What generates keys of this type in this build.
pub(crate) fn key_backend(key: KeyAlgorithm) -> &'static str {
    match key {
        KeyAlgorithm::Rsa2048 | KeyAlgorithm::Rsa3072 | KeyAlgorithm::Rsa4096 => RSA_BACKEND,
        KeyAlgorithm::Ecc => "ring",
        KeyAlgorithm::Sm2 => SM2_BACKEND,
    }
}

/// Makes a key of the requested type and a CSR signed with it; the key PEM is encrypted
/// when a passphrase is given.
pub fn generate(params: &Params, passphrase: Option<&Passphrase>) -> Result<Generated, CryptoError> {
    generate_as(params, KeyFormat::Pkcs8, passphrase)
}

/// As [`generate`], the key PEM written in `format` (`Traditional` is never encrypted).
pub fn generate_as(
    params: &Params,
    format: KeyFormat,
    passphrase: Option<&Passphrase>,
) -> Result<Generated, CryptoError> {
    let key = PrivateKey::generate(params.key)?;
    let csr = sign_request(params, &key)?;
    Ok(Generated { key_pem: key.to_pem(format, passphrase)?, csr })
}

/// How a CSR on disk relates to a key and a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PairCheck {
    /// The CSR is the key's, verifies, and asks exactly for `params`.
    Matches(SignedCsr),
    /// The CSR is the key's and verifies, but asks for something else.
    OtherContents,
    /// Not a valid CSR of this key: the reason.
    Broken(String),
}

/// Checks an existing CSR (PEM) against its key and the request.
pub fn check_pair(csr_pem: &str, key: &PrivateKey, params: &Params) -> Result<PairCheck, CryptoError> {
    let der = match der::pem::decode_vec(csr_pem.as_bytes()) {
        Ok(("CERTIFICATE REQUEST", der)) => der,
        Ok((label, _)) => {
            return Ok(PairCheck::Broken(format!("PEM label `{label}`, not CERTIFICATE REQUEST")));
        }
        Err(e) => return Ok(PairCheck::Broken(format!("not PEM: {e}"))),
    };
    let spki = key.public_key_der();
    if key.algorithm() == params.key && verify::check(&der, params, spki).is_ok() {
        let key_sha2 = key_sha2(spki);
        return Ok(PairCheck::Matches(SignedCsr { der, pem: csr_pem.to_owned(), key_sha2 }));
    }
    Ok(match verify::check_signature_only(&der, key.algorithm(), spki) {
        Ok(()) => PairCheck::OtherContents,
        Err(e) => PairCheck::Broken(e.to_string()),
    })
}

/// Builds and signs a CSR for `params` with an existing key, and self-checks it.
pub fn sign_request(params: &Params, key: &PrivateKey) -> Result<SignedCsr, CryptoError> {
    if key.algorithm() != params.key {
        return Err(CryptoError::Sign(format!(
            "a {} key cannot sign a {} request",
            key.algorithm(),
            params.key
        )));
    }
    let der = match params.key {
        KeyAlgorithm::Sm2 => csr_sm2::build(params, key)?,
        _ => csr_rcgen::build(params, key)?,
    };
    let spki = key.public_key_der();
    verify::check(&der, params, spki)?;
    let pem = der::pem::encode_string("CERTIFICATE REQUEST", LineEnding::LF, &der)
        .map_err(|e| CryptoError::Encode(e.to_string()))?;
    Ok(SignedCsr { der, pem, key_sha2: key_sha2(spki) })
}

#[cfg(test)]
mod tests;
