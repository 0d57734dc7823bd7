//! Private keys: generation from the operating system's CSPRNG, reading every PEM form
//! `key_pem` knows, writing PKCS#8 or the traditional forms, and the
//! SubjectPublicKeyInfo. `Debug` never prints key material.

use std::fmt;

use der::pem::LineEnding;
use p256::elliptic_curve;
use pkcs8::{DecodePrivateKey, EncodePublicKey};
use zeroize::Zeroizing;

use super::key_pem::{self, KeyError, KeyFormat};
use super::oid;
use super::sm2_key::Sm2Key;
use crate::crypto::CryptoError;
use crate::request::KeyAlgorithm;

/// A passphrase for encrypted PKCS#8 keys; wiped on drop, never printed.
#[derive(Clone)]
pub struct Passphrase(Zeroizing<String>);

impl Passphrase {
    /// An empty passphrase is refused: it would encrypt in name only.
    pub fn new(text: String) -> Option<Passphrase> {
        let text = Zeroizing::new(text);
        (!text.is_empty()).then_some(Passphrase(text))
    }

    pub(super) fn as_bytes(&self) -> &[u8] {
        self.0.as_bytes()
    }

    /// The passphrase itself, for a format that takes text (PKCS#12).
    pub(crate) fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Passphrase {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Passphrase(..)")
    }
}

/// A private key of one of the `CreateCsr` key types.
pub struct PrivateKey {
    algorithm: KeyAlgorithm,
    inner: Inner,
    /// Computed once: for EC keys each is a scalar multiplication.
    spki: Vec<u8>,
    pkcs8: Zeroizing<Vec<u8>>,
}

/// Each key is kept as the signer of its CSRs, set up once.
enum Inner {
    /// RSA and P-256: rcgen's key pair (ring signs).
    Rcgen(Box<rcgen::KeyPair>),
    /// SM2: the backend's signer (`sm2_key.rs`).
    Sm2(Box<Sm2Key>),
}

impl PrivateKey {
    /// A fresh key; every byte of randomness comes from the operating system's CSPRNG.
    /// RSA: e = 65537, from the `rsa` crate (or OpenSSL with the `openssl-rsa` feature).
    /// P-256: ring's generator (several times faster than `p256`'s). SM2: the `sm2` crate.
    pub fn generate(algorithm: KeyAlgorithm) -> Result<PrivateKey, CryptoError> {
        let keygen = |e: &dyn fmt::Display| CryptoError::KeyGen(e.to_string());
        match algorithm {
            KeyAlgorithm::Rsa2048 | KeyAlgorithm::Rsa3072 | KeyAlgorithm::Rsa4096 => {
                let pkcs8 = super::rsa_keygen::generate(algorithm.key_size())?;
                PrivateKey::from_rcgen_pkcs8(algorithm, pkcs8, &rcgen::PKCS_RSA_SHA256)
                    .map_err(|e| keygen(&e))
            }
            KeyAlgorithm::Ecc => {
                let pair =
                    rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).map_err(|e| keygen(&e))?;
                Ok(PrivateKey::from_rcgen(algorithm, pair))
            }
            KeyAlgorithm::Sm2 => PrivateKey::from_sm2(Sm2Key::generate().map_err(|e| keygen(&e))?),
        }
    }

    /// Reads a key PEM of any supported form (see [`PrivateKey::from_pem`]) and checks it
    /// is of the `expected` type; errors as [`CryptoError::Parse`].
    pub(crate) fn from_pkcs8_pem(
        pem: &str,
        expected: KeyAlgorithm,
        passphrase: Option<&Passphrase>,
    ) -> Result<PrivateKey, CryptoError> {
        PrivateKey::from_pem_for(pem, expected, passphrase).map_err(|e| parse_err(&e))
    }

    /// Reads a key PEM of whichever supported type and form it is; errors as
    /// [`CryptoError::Parse`]. Re-runs read keys of both `--key-format`s through this.
    pub(crate) fn from_pkcs8_pem_any(
        pem: &str,
        passphrase: Option<&Passphrase>,
    ) -> Result<PrivateKey, CryptoError> {
        PrivateKey::from_pem(pem, passphrase).map_err(|e| parse_err(&e))
    }

    /// Reads a private key PEM: PKCS#8, encrypted PKCS#8 (needs `passphrase`), PKCS#1
    /// `RSA PRIVATE KEY` or SEC1 `EC PRIVATE KEY` (P-256 or SM2). The key type comes from
    /// the key itself.
    pub fn from_pem(pem: &str, passphrase: Option<&Passphrase>) -> Result<PrivateKey, KeyError> {
        PrivateKey::from_pkcs8_der_any(key_pem::pkcs8_of_pem(pem, passphrase)?.as_bytes())
    }

    /// As [`PrivateKey::from_pem`], refusing a key of another type than `expected`.
    pub fn from_pem_for(
        pem: &str,
        expected: KeyAlgorithm,
        passphrase: Option<&Passphrase>,
    ) -> Result<PrivateKey, KeyError> {
        let key = PrivateKey::from_pem(pem, passphrase)?;
        if key.algorithm != expected {
            return Err(KeyError::WrongKeyType { found: key.algorithm, expected });
        }
        Ok(key)
    }

    /// The key type comes from the PrivateKeyInfo's algorithm: rsaEncryption (and its
    /// modulus size), or id-ecPublicKey with the P-256 or SM2 curve.
    pub(crate) fn from_pkcs8_der_any(der: &[u8]) -> Result<PrivateKey, KeyError> {
        let bad = |e: &dyn fmt::Display| KeyError::Malformed(e.to_string());
        let info = pkcs8::PrivateKeyInfoRef::try_from(der).map_err(|e| bad(&e))?;
        let curve = info.algorithm.parameters_oid().ok();
        match (info.algorithm.oid, curve) {
            (oid::RSA_ENCRYPTION, _) => {
                let key = rsa::PrivateKey::from_pkcs8_der(der).map_err(|e| bad(&e))?;
                let algorithm = match rsa::traits::PublicKeyParts::size(&key) * 8 {
                    2048 => KeyAlgorithm::Rsa2048,
                    3072 => KeyAlgorithm::Rsa3072,
                    4096 => KeyAlgorithm::Rsa4096,
                    bits => return Err(KeyError::UnsupportedKeySize(bits)),
                };
                let pkcs8 = Zeroizing::new(der.to_vec());
                PrivateKey::from_rcgen_pkcs8(algorithm, pkcs8, &rcgen::PKCS_RSA_SHA256)
            }
            (oid::EC_PUBLIC_KEY, Some(oid::SECP256R1)) => {
                // Every RFC 5915 form is read here (ring insists on the public key being
                // present) and written as the one form ring reads. No scalar
                // multiplication in p256 unless the file has no public key: ring, which
                // signs, derives the public key from the scalar (with its P-256 code,
                // several times faster) and refuses a file whose own one differs.
                let ec = sec1::EcPrivateKey::try_from(info.private_key.as_bytes()).map_err(|e| bad(&e))?;
                if let Some(sec1::EcParameters::NamedCurve(curve)) = ec.parameters
                    && curve != oid::SECP256R1
                {
                    return Err(KeyError::UnsupportedCurve(curve));
                }
                let key = p256::SecretKey::from_slice(ec.private_key)
                    .map_err(|_| KeyError::Malformed("the P-256 scalar is out of range".into()))?;
                let public = match ec.public_key {
                    Some(point) => p256::PublicKey::from_sec1_bytes(point).map_err(|e| bad(&e))?,
                    None => key.public_key(),
                };
                let (_, pkcs8) = ec_encodings(&key.to_bytes(), &public).map_err(|e| bad(&e))?;
                let pkcs8 = Zeroizing::new(pkcs8.as_bytes().to_vec());
                PrivateKey::from_rcgen_pkcs8(KeyAlgorithm::Ecc, pkcs8, &rcgen::PKCS_ECDSA_P256_SHA256)
            }
            (oid::EC_PUBLIC_KEY, Some(oid::SM2_CURVE)) => {
                let key = sm2::SecretKey::from_pkcs8_der(der).map_err(|e| bad(&e))?;
                PrivateKey::from_sm2(Sm2Key::from_secret(&key).map_err(|e| bad(&e))?).map_err(|e| bad(&e))
            }
            (oid::EC_PUBLIC_KEY, Some(other)) => Err(KeyError::UnsupportedCurve(other)),
            (oid::EC_PUBLIC_KEY, None) => Err(KeyError::NoCurve),
            (other, _) => Err(KeyError::UnsupportedAlgorithm(other)),
        }
    }

    /// An RSA or P-256 key from its PKCS#8 DER, as the rcgen key pair that signs with it.
    fn from_rcgen_pkcs8(
        algorithm: KeyAlgorithm,
        pkcs8: Zeroizing<Vec<u8>>,
        sign: &'static rcgen::SignatureAlgorithm,
    ) -> Result<PrivateKey, KeyError> {
        let der = rustls_pki_types::PrivatePkcs8KeyDer::from(pkcs8.as_slice());
        let pair = rcgen::KeyPair::from_pkcs8_der_and_sign_algo(&der, sign)
            .map_err(|e| KeyError::Malformed(e.to_string()))?;
        Ok(PrivateKey::from_rcgen(algorithm, pair))
    }

    fn from_rcgen(algorithm: KeyAlgorithm, pair: rcgen::KeyPair) -> PrivateKey {
        use rcgen::PublicKeyData;
        let spki = pair.subject_public_key_info();
        let pkcs8 = Zeroizing::new(pair.serialize_der());
        PrivateKey { algorithm, inner: Inner::Rcgen(Box::new(pair)), spki, pkcs8 }
    }

    /// An SM2 key from its secret scalar (an encryption key unwrapped from its envelope).
    pub(crate) fn from_sm2_secret(secret: &sm2::SecretKey) -> Result<PrivateKey, CryptoError> {
        PrivateKey::from_sm2(Sm2Key::from_secret(secret).map_err(|e| CryptoError::Encode(e.to_string()))?)
    }

    fn from_sm2(signer: Sm2Key) -> Result<PrivateKey, CryptoError> {
        let encode = |e: &dyn fmt::Display| CryptoError::Encode(e.to_string());
        let public = signer.public_key().map_err(|e| encode(&e))?;
        let secret = signer.secret_bytes().map_err(|e| encode(&e))?;
        // In [1, n - 1], or no key file is written (no scalar multiplication: the CSR's
        // self-check holds the public key to the signatures this scalar makes).
        sm2::SecretKey::from_slice(&secret[..]).map_err(|e| encode(&e))?;
        let (spki, pkcs8) = ec_encodings(&secret[..], &public).map_err(|e| encode(&e))?;
        let pkcs8 = Zeroizing::new(pkcs8.as_bytes().to_vec());
        Ok(PrivateKey { algorithm: KeyAlgorithm::Sm2, inner: Inner::Sm2(Box::new(signer)), spki, pkcs8 })
    }

    /// The key's type and size.
    pub fn algorithm(&self) -> KeyAlgorithm {
        self.algorithm
    }

    /// The key as unencrypted PKCS#8 DER, for a container that encrypts it (PKCS#12).
    pub(crate) fn pkcs8_der(&self) -> &[u8] {
        &self.pkcs8
    }

    /// The key as unencrypted PKCS#8 PEM (`-----BEGIN PRIVATE KEY-----`), LF line endings.
    pub(crate) fn to_pkcs8_pem(&self) -> Result<Zeroizing<String>, CryptoError> {
        der::pem::encode_string("PRIVATE KEY", LineEnding::LF, &self.pkcs8)
            .map(Zeroizing::new)
            .map_err(|e| CryptoError::Encode(e.to_string()))
    }

    /// The key as PEM for its file: encrypted PKCS#8 (PBES2: scrypt, AES-256-CBC; fresh
    /// salt and IV from the OS CSPRNG) when a passphrase is given, else unencrypted.
    pub(crate) fn to_file_pem(
        &self,
        passphrase: Option<&Passphrase>,
    ) -> Result<Zeroizing<String>, CryptoError> {
        self.to_pem(KeyFormat::Pkcs8, passphrase)
    }

    /// The key as PEM in `format`. `Traditional` with a passphrase is refused: the only
    /// encryption those forms have is OpenSSL's legacy MD5-based one.
    pub fn to_pem(
        &self,
        format: KeyFormat,
        passphrase: Option<&Passphrase>,
    ) -> Result<Zeroizing<String>, CryptoError> {
        let encode = |e: &dyn fmt::Display| CryptoError::Encode(e.to_string());
        match (format, passphrase) {
            (KeyFormat::Pkcs8, None) => self.to_pkcs8_pem(),
            (KeyFormat::Traditional, None) => key_pem::traditional_pem(&self.pkcs8).map_err(|e| encode(&e)),
            (KeyFormat::Traditional, Some(_)) => {
                Err(CryptoError::Encode("traditional key files cannot be encrypted; use pkcs8".into()))
            }
            (KeyFormat::Pkcs8, Some(pass)) => {
                let info =
                    pkcs8::PrivateKeyInfoRef::try_from(self.pkcs8.as_slice()).map_err(|e| encode(&e))?;
                let encrypted = info.encrypt(pass.0.as_bytes()).map_err(|e| encode(&e))?;
                encrypted
                    .to_pem(
                        <pkcs8::EncryptedPrivateKeyInfoRef as der::pem::PemLabel>::PEM_LABEL,
                        LineEnding::LF,
                    )
                    .map_err(|e| encode(&e))
            }
        }
    }

    /// The DER SubjectPublicKeyInfo that goes into the CSR.
    pub fn public_key_der(&self) -> &[u8] {
        &self.spki
    }

    /// The SM2 signer (distinguishing ID `1234567812345678`); `None` for other key types.
    pub(super) fn as_sm2(&self) -> Option<&Sm2Key> {
        match &self.inner {
            Inner::Sm2(k) => Some(k),
            Inner::Rcgen(_) => None,
        }
    }

    /// rcgen's key pair of an RSA or P-256 key; `None` for SM2.
    pub(super) fn as_rcgen(&self) -> Option<&rcgen::KeyPair> {
        match &self.inner {
            Inner::Rcgen(k) => Some(k),
            Inner::Sm2(_) => None,
        }
    }
}

/// SubjectPublicKeyInfo and PKCS#8 of an EC key with one scalar multiplication (the
/// crates' own encoders each compute the public key again). The PKCS#8 is the one
/// elliptic-curve writes: RFC 5915 ECPrivateKey with the public key, curve in the
/// AlgorithmIdentifier.
fn ec_encodings<C>(
    secret: &[u8],
    public: &elliptic_curve::PublicKey<C>,
) -> Result<(Vec<u8>, der::SecretDocument), pkcs8::Error>
where
    C: elliptic_curve::CurveArithmetic + pkcs8::AssociatedOid,
    elliptic_curve::AffinePoint<C>:
        elliptic_curve::sec1::FromSec1Point<C> + elliptic_curve::sec1::ToSec1Point<C>,
    elliptic_curve::FieldBytesSize<C>: elliptic_curve::sec1::ModulusSize,
{
    use der::Encode;
    use elliptic_curve::sec1::ToSec1Point;
    let spki = public.to_public_key_der()?.into_vec();
    let point = public.to_sec1_point(false);
    let ec_private_key = Zeroizing::new(
        sec1::EcPrivateKey { private_key: secret, parameters: None, public_key: Some(point.as_bytes()) }
            .to_der()?,
    );
    let algorithm =
        pkcs8::AlgorithmIdentifierRef { oid: oid::EC_PUBLIC_KEY, parameters: Some((&C::OID).into()) };
    let info = pkcs8::PrivateKeyInfoRef::new(algorithm, der::asn1::OctetStringRef::new(&ec_private_key)?);
    Ok((spki, der::SecretDocument::encode_msg(&info)?))
}

fn parse_err(e: &dyn fmt::Display) -> CryptoError {
    CryptoError::Parse { what: "the private key", detail: e.to_string() }
}

impl fmt::Debug for PrivateKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PrivateKey").field("algorithm", &self.algorithm).finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use pkcs8::EncodePrivateKey;

    #[test]
    fn pkcs8_round_trip_and_debug_hides_the_key() {
        for alg in [KeyAlgorithm::Ecc, KeyAlgorithm::Sm2, KeyAlgorithm::Rsa2048] {
            let key = PrivateKey::generate(alg).unwrap();
            let pem = key.to_pkcs8_pem().unwrap();
            assert!(pem.starts_with("-----BEGIN PRIVATE KEY-----\n"));
            let back = PrivateKey::from_pkcs8_pem(&pem, alg, None).unwrap();
            assert_eq!(back.public_key_der(), key.public_key_der());
            assert_eq!(format!("{key:?}"), format!("PrivateKey {{ algorithm: {alg:?}, .. }}"));
        }
    }

    #[test]
    fn ec_pkcs8_is_what_the_curve_crates_write() {
        // ring's P-256 PKCS#8 is byte for byte the form p256 writes, public key included.
        let key = PrivateKey::generate(KeyAlgorithm::Ecc).unwrap();
        let k = p256::SecretKey::from_pkcs8_der(&key.pkcs8).unwrap();
        assert_eq!(key.pkcs8.as_slice(), k.to_pkcs8_der().unwrap().as_bytes());
        assert_eq!(key.public_key_der(), k.public_key().to_public_key_der().unwrap().as_bytes());
        // A key read back from that form keeps it exactly.
        let back = PrivateKey::from_pkcs8_der_any(&key.pkcs8).unwrap();
        assert_eq!(back.pkcs8.as_slice(), key.pkcs8.as_slice());
        let key = PrivateKey::generate(KeyAlgorithm::Sm2).unwrap();
        let Inner::Sm2(k) = &key.inner else { unreachable!() };
        let secret = sm2::SecretKey::from_bytes(&(*k.secret_bytes().unwrap()).into()).unwrap();
        assert_eq!(key.pkcs8.as_slice(), secret.to_pkcs8_der().unwrap().as_bytes());
        assert_eq!(key.public_key_der(), secret.public_key().to_public_key_der().unwrap().as_bytes());
    }

    #[test]
    fn a_sec1_key_whose_public_key_is_another_keys_is_refused() {
        use der::Encode;
        let (a, b) = (
            PrivateKey::generate(KeyAlgorithm::Ecc).unwrap(),
            PrivateKey::generate(KeyAlgorithm::Ecc).unwrap(),
        );
        let a = p256::SecretKey::from_pkcs8_der(&a.pkcs8).unwrap();
        let b = p256::SecretKey::from_pkcs8_der(&b.pkcs8).unwrap();
        let b_point = elliptic_curve::sec1::ToSec1Point::to_sec1_point(&b.public_key(), false);
        let tampered = sec1::EcPrivateKey {
            private_key: &a.to_bytes(),
            parameters: Some(sec1::EcParameters::NamedCurve(oid::SECP256R1)),
            public_key: Some(b_point.as_bytes()),
        };
        let pem =
            der::pem::encode_string("EC PRIVATE KEY", LineEnding::LF, &tampered.to_der().unwrap()).unwrap();
        assert!(matches!(PrivateKey::from_pem(&pem, None), Err(KeyError::Malformed(_))));
        // The same key with its own public key reads.
        let a_point = elliptic_curve::sec1::ToSec1Point::to_sec1_point(&a.public_key(), false);
        let honest = sec1::EcPrivateKey { public_key: Some(a_point.as_bytes()), ..tampered };
        let pem =
            der::pem::encode_string("EC PRIVATE KEY", LineEnding::LF, &honest.to_der().unwrap()).unwrap();
        assert_eq!(PrivateKey::from_pem(&pem, None).unwrap().algorithm(), KeyAlgorithm::Ecc);
    }

    /// A P-256 key whose file holds its public point compressed, or no point at all, reads
    /// as the same key: the SubjectPublicKeyInfo is the uncompressed one either way.
    #[test]
    fn a_p256_key_reads_with_its_point_compressed_or_absent() {
        use der::Encode;
        let key = PrivateKey::generate(KeyAlgorithm::Ecc).unwrap();
        let secret = p256::SecretKey::from_pkcs8_der(&key.pkcs8).unwrap();
        let compressed = elliptic_curve::sec1::ToSec1Point::to_sec1_point(&secret.public_key(), true);
        for point in [Some(compressed.as_bytes()), None] {
            let sec1 = sec1::EcPrivateKey {
                private_key: &secret.to_bytes(),
                parameters: Some(sec1::EcParameters::NamedCurve(oid::SECP256R1)),
                public_key: point,
            };
            let pem =
                der::pem::encode_string("EC PRIVATE KEY", LineEnding::LF, &sec1.to_der().unwrap()).unwrap();
            let back = PrivateKey::from_pem(&pem, None).unwrap();
            assert_eq!(back.public_key_der(), key.public_key_der(), "point {:?}", point.map(<[u8]>::len));
            assert_eq!(back.pkcs8.as_slice(), key.pkcs8.as_slice());
        }
    }

    #[test]
    fn keys_are_distinct() {
        let a = PrivateKey::generate(KeyAlgorithm::Ecc).unwrap();
        let b = PrivateKey::generate(KeyAlgorithm::Ecc).unwrap();
        assert_ne!(a.public_key_der(), b.public_key_der());
    }

    #[test]
    fn a_key_of_the_wrong_type_is_refused() {
        let pem = PrivateKey::generate(KeyAlgorithm::Ecc).unwrap().to_pkcs8_pem().unwrap();
        assert!(PrivateKey::from_pkcs8_pem(&pem, KeyAlgorithm::Rsa2048, None).is_err());
        assert!(PrivateKey::from_pkcs8_pem(&pem, KeyAlgorithm::Sm2, None).is_err());
        assert!(PrivateKey::from_pkcs8_pem("garbage", KeyAlgorithm::Ecc, None).is_err());
    }

    #[test]
    fn encrypted_keys_need_the_right_passphrase() {
        let pass = Passphrase::new("correct horse".into()).unwrap();
        let key = PrivateKey::generate(KeyAlgorithm::Sm2).unwrap();
        let pem = key.to_file_pem(Some(&pass)).unwrap();
        assert!(pem.starts_with("-----BEGIN ENCRYPTED PRIVATE KEY-----\n"));
        let back = PrivateKey::from_pkcs8_pem(&pem, KeyAlgorithm::Sm2, Some(&pass)).unwrap();
        assert_eq!(back.public_key_der(), key.public_key_der());
        let wrong = Passphrase::new("wrong".into()).unwrap();
        let err = PrivateKey::from_pkcs8_pem(&pem, KeyAlgorithm::Sm2, Some(&wrong)).unwrap_err();
        assert!(err.to_string().contains("cannot decrypt"), "{err}");
        assert!(
            PrivateKey::from_pkcs8_pem(&pem, KeyAlgorithm::Sm2, None)
                .unwrap_err()
                .to_string()
                .contains("encrypted")
        );
        assert!(Passphrase::new(String::new()).is_none());
        assert_eq!(format!("{pass:?}"), "Passphrase(..)");
    }
}
