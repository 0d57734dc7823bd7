//! Private key PEM in the forms other tools write and read: PKCS#8 (plain or encrypted),
//! PKCS#1 `RSA PRIVATE KEY` and SEC1 `EC PRIVATE KEY` (P-256 or the SM2 curve), with a
//! typed error for every way reading one can fail. Every form is turned into (or made
//! from) unencrypted PKCS#8 DER; making a signer from that is `key.rs`'s.

use std::fmt;

use der::asn1::{AnyRef, ObjectIdentifier, OctetStringRef};
use der::pem::LineEnding;
use der::{Decode, Encode, SecretDocument};
use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

use super::Passphrase;
use super::oid;
use super::pem::{self, Block, PemError};
use crate::request::KeyAlgorithm;

/// How new private keys are written. A folder keeps the format it was made with.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum KeyFormat {
    /// PKCS#8 `PRIVATE KEY` (or `ENCRYPTED PRIVATE KEY` with a passphrase).
    #[default]
    Pkcs8,
    /// PKCS#1 `RSA PRIVATE KEY` for RSA, SEC1 `EC PRIVATE KEY` with the named curve for
    /// ECC and SM2. Never encrypted: legacy PEM encryption is weak.
    Traditional,
}

impl KeyFormat {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            KeyFormat::Pkcs8 => "pkcs8",
            KeyFormat::Traditional => "traditional",
        }
    }
}

impl fmt::Display for KeyFormat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why a private key file could not be used. Each reads as the end of a sentence that
/// names the file.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum KeyError {
    /// No PEM private key block at all.
    #[error("no PEM private key in it (expected -----BEGIN PRIVATE KEY----- or similar)")]
    NoKey,
    /// The PEM framing or base64 of a block is broken (the error names its line).
    #[error("not valid PEM: {0}")]
    NotPem(PemError),
    /// A PEM label that is not a private key form this tool reads.
    #[error(
        "PEM label `{0}` is not a supported private key (PRIVATE KEY, ENCRYPTED PRIVATE KEY, \
         RSA PRIVATE KEY, EC PRIVATE KEY)"
    )]
    UnsupportedFormat(String),
    /// More than one private key in one file: which one is meant is not clear.
    #[error("it holds {0} private keys; a key file must hold exactly one")]
    SeveralKeys(usize),
    /// OpenSSL's legacy `Proc-Type: 4,ENCRYPTED` PEM encryption (MD5-based key derivation).
    #[error(
        "legacy PEM encryption (Proc-Type: 4,ENCRYPTED) is not supported; convert it with \
         `openssl pkcs8 -topk8 -v2 aes-256-cbc`"
    )]
    LegacyEncryption,
    /// An encrypted PKCS#8 key and no passphrase.
    #[error("it is encrypted; give --key-passphrase-env or --key-passphrase-file")]
    NeedsPassphrase,
    /// The passphrase does not open the key.
    #[error("cannot decrypt it with the passphrase given (wrong passphrase?)")]
    WrongPassphrase,
    /// An encryption scheme the pkcs8 crate does not implement (PBES1, an unknown cipher).
    #[error("its encryption is not supported: {0}")]
    UnsupportedEncryption(String),
    /// A key type other than RSA and EC.
    #[error("key algorithm {0} is not RSA, ECC (P-256) or SM2")]
    UnsupportedAlgorithm(ObjectIdentifier),
    /// An EC key on another curve.
    #[error("curve {0} is neither P-256 (1.2.840.10045.3.1.7) nor SM2 (1.2.156.10197.1.301)")]
    UnsupportedCurve(ObjectIdentifier),
    /// An EC key that does not say its curve.
    #[error("the EC key does not name its curve")]
    NoCurve,
    /// An RSA modulus size CreateCsr does not offer.
    #[error("RSA-{0} is not a CreateCsr key size (2048, 3072, 4096)")]
    UnsupportedKeySize(usize),
    /// The key is of another Algorithm or KeySize than the request's.
    #[error("it is an {found} key, the request asks for {expected}")]
    WrongKeyType {
        /// The key's type and size.
        found: KeyAlgorithm,
        /// The request's.
        expected: KeyAlgorithm,
    },
    /// The DER inside is not a valid key of its kind (the public key does not match, ...).
    #[error("malformed key: {0}")]
    Malformed(String),
}

fn malformed(e: impl fmt::Display) -> KeyError {
    KeyError::Malformed(e.to_string())
}

/// The private key of a PEM text as unencrypted PKCS#8 DER. Blocks other than private
/// keys (`EC PARAMETERS`, certificates) are skipped; `SM2 PRIVATE KEY` (what `openssl ec`
/// writes for SM2 keys) is read as the SEC1 form it is. A block that cannot be read is an
/// error wherever it is in the file: it may have been the key.
pub(crate) fn pkcs8_of_pem(text: &str, passphrase: Option<&Passphrase>) -> Result<SecretDocument, KeyError> {
    const KEYS: [&str; 5] =
        ["PRIVATE KEY", "ENCRYPTED PRIVATE KEY", "RSA PRIVATE KEY", "EC PRIVATE KEY", "SM2 PRIVATE KEY"];
    let blocks: Vec<Block> = pem::blocks(text).collect::<Result<_, _>>().map_err(KeyError::NotPem)?;
    let keys: Vec<&Block> = blocks.iter().filter(|b| b.label.ends_with("PRIVATE KEY")).collect();
    let block = match keys.as_slice() {
        [] => {
            return Err(match blocks.iter().find(|b| b.label != "EC PARAMETERS") {
                Some(b) => KeyError::UnsupportedFormat(b.label.clone()),
                None => KeyError::NoKey,
            });
        }
        [one] => *one,
        many => return Err(KeyError::SeveralKeys(many.len())),
    };
    let label = block.label.as_str();
    if !KEYS.contains(&label) {
        return Err(KeyError::UnsupportedFormat(label.to_owned()));
    }
    if block.is_legacy_encrypted() {
        return Err(KeyError::LegacyEncryption);
    }
    let der = block.der.as_slice();
    match label {
        "PRIVATE KEY" => SecretDocument::try_from(der).map_err(malformed),
        "ENCRYPTED PRIVATE KEY" => decrypt(der, passphrase),
        "RSA PRIVATE KEY" => wrap(der, oid::RSA_ENCRYPTION, None),
        _ => {
            let sec1 = sec1::EcPrivateKey::from_der(der).map_err(malformed)?;
            let curve = sec1.parameters.and_then(|p| p.named_curve()).ok_or(KeyError::NoCurve)?;
            wrap(der, oid::EC_PUBLIC_KEY, Some(curve))
        }
    }
}

fn decrypt(der: &[u8], passphrase: Option<&Passphrase>) -> Result<SecretDocument, KeyError> {
    let pass = passphrase.ok_or(KeyError::NeedsPassphrase)?;
    let info = pkcs8::EncryptedPrivateKeyInfoRef::try_from(der).map_err(malformed)?;
    let doc = info.decrypt(pass.as_bytes()).map_err(|e| match e {
        pkcs8::Error::EncryptedPrivateKey(pkcs8::pkcs5::Error::DecryptFailed) => KeyError::WrongPassphrase,
        other => KeyError::UnsupportedEncryption(other.to_string()),
    })?;
    // A wrong passphrase passes the CBC padding check about once in 256 tries; what comes
    // out is then no PrivateKeyInfo.
    pkcs8::PrivateKeyInfoRef::try_from(doc.as_bytes()).map_err(|_| KeyError::WrongPassphrase)?;
    Ok(doc)
}

/// A PKCS#1 or SEC1 key as the PKCS#8 PrivateKeyInfo holding it unchanged.
fn wrap(
    inner: &[u8],
    algorithm: ObjectIdentifier,
    curve: Option<ObjectIdentifier>,
) -> Result<SecretDocument, KeyError> {
    let parameters = match &curve {
        Some(curve) => Some(AnyRef::from(curve)),
        // rsaEncryption's parameters are NULL (RFC 8017 A.1).
        None => Some(AnyRef::NULL),
    };
    let info = pkcs8::PrivateKeyInfoRef::new(
        pkcs8::AlgorithmIdentifierRef { oid: algorithm, parameters },
        OctetStringRef::new(inner).map_err(malformed)?,
    );
    SecretDocument::encode_msg(&info).map_err(malformed)
}

/// The key of a PKCS#8 DER as PEM in `format`: PKCS#8 as is, or PKCS#1 `RSA PRIVATE KEY`
/// (the RSAPrivateKey PKCS#8 holds) or SEC1 `EC PRIVATE KEY` with the curve named inside
/// (RFC 5915 recommends it, and OpenSSL, Go and the SM2 libraries look for it there).
pub(crate) fn traditional_pem(pkcs8: &[u8]) -> Result<Zeroizing<String>, KeyError> {
    let info = pkcs8::PrivateKeyInfoRef::try_from(pkcs8).map_err(malformed)?;
    let inner = info.private_key.as_bytes();
    let (label, der) = match info.algorithm.oid {
        oid::RSA_ENCRYPTION => ("RSA PRIVATE KEY", Zeroizing::new(inner.to_vec())),
        oid::EC_PUBLIC_KEY => {
            let curve = info.algorithm.parameters_oid().map_err(|_| KeyError::NoCurve)?;
            let mut key = sec1::EcPrivateKey::from_der(inner).map_err(malformed)?;
            key.parameters = Some(sec1::EcParameters::NamedCurve(curve));
            ("EC PRIVATE KEY", Zeroizing::new(key.to_der().map_err(malformed)?))
        }
        other => return Err(KeyError::UnsupportedAlgorithm(other)),
    };
    der::pem::encode_string(label, LineEnding::LF, &der).map(Zeroizing::new).map_err(malformed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blocks_are_found_and_others_skipped() {
        let text = "junk\n-----BEGIN EC PARAMETERS-----\nBggqhkjOPQMBBw==\n-----END EC PARAMETERS-----\n\
                    -----BEGIN CERTIFICATE-----\nAA==\n-----END CERTIFICATE-----\n";
        let blocks: Vec<String> = pem::blocks(text).map(|b| b.unwrap().label).collect();
        assert_eq!(blocks, ["EC PARAMETERS", "CERTIFICATE"]);
        assert_eq!(pkcs8_of_pem(text, None).unwrap_err(), KeyError::UnsupportedFormat("CERTIFICATE".into()));
        assert_eq!(pkcs8_of_pem("", None).unwrap_err(), KeyError::NoKey);
        assert!(matches!(pkcs8_of_pem("-----BEGIN PRIVATE KEY-----\nAA", None), Err(KeyError::NotPem(_))));
        let two = "-----BEGIN PRIVATE KEY-----\nAA==\n-----END PRIVATE KEY-----\n".repeat(2);
        assert_eq!(pkcs8_of_pem(&two, None).unwrap_err(), KeyError::SeveralKeys(2));
        let dsa = "-----BEGIN DSA PRIVATE KEY-----\nAA==\n-----END DSA PRIVATE KEY-----\n";
        assert_eq!(
            pkcs8_of_pem(dsa, None).unwrap_err(),
            KeyError::UnsupportedFormat("DSA PRIVATE KEY".into())
        );
        let legacy = "-----BEGIN RSA PRIVATE KEY-----\nProc-Type: 4,ENCRYPTED\nDEK-Info: AES-128-CBC,00\n\nAA==\n\
                      -----END RSA PRIVATE KEY-----\n";
        assert_eq!(pkcs8_of_pem(legacy, None).unwrap_err(), KeyError::LegacyEncryption);
    }

    #[test]
    fn a_broken_block_anywhere_is_an_error_naming_its_line() {
        // A certificate cut short after the key: it could have been a second key.
        let text = "-----BEGIN PRIVATE KEY-----\nAA==\n-----END PRIVATE KEY-----\n-----BEGIN CERTIFICATE-----\nAA==\n";
        let err = pkcs8_of_pem(text, None).unwrap_err();
        assert_eq!(err, KeyError::NotPem(PemError::Unterminated { begin: 4, label: "CERTIFICATE".into() }));
        assert!(err.to_string().starts_with("not valid PEM: line 4: `-----BEGIN CERTIFICATE-----`"), "{err}");
        // Base64 that is right but DER that is not a key.
        let junk = "-----BEGIN PRIVATE KEY-----\nAA==\n-----END PRIVATE KEY-----\n";
        assert!(matches!(pkcs8_of_pem(junk, None), Err(KeyError::Malformed(_))));
    }

    #[test]
    fn key_format_names() {
        assert_eq!(serde_json::to_string(&KeyFormat::Traditional).unwrap(), "\"traditional\"");
        use clap::ValueEnum;
        assert_eq!(KeyFormat::from_str("pkcs8", false), Ok(KeyFormat::Pkcs8));
        assert_eq!(KeyFormat::Traditional.to_string(), "traditional");
    }
}
