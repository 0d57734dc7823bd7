//! The private key of an SM2 encryption pair as Chinese CAs deliver it: a GM/T 0009-2012
//! §7.4 (GB/T 35276-2017 §7.4) `SM2EnvelopedKey`, encrypted to the subscriber's signing key.
//!
//! ```text
//! SM2EnvelopedKey ::= SEQUENCE {
//!   symAlgID               AlgorithmIdentifier,  -- SM4 (ECB)
//!   symEncryptedKey        SM2Cipher,            -- the SM4 key, SM2-encrypted to the signing key
//!   sm2PublicKey           BIT STRING,           -- the encryption public key, 04 || X || Y
//!   sm2EncryptedPrivateKey BIT STRING }          -- the encryption private key, SM4-ECB
//! ```
//!
//! Unwrapping uses vetted code only: the `sm2` crate's SM2 decryption (the `SM2Cipher`
//! DER: C1, C3 = SM3 hash, C2) and the `sm4` crate's block cipher, applied block by block
//! (ECB is no more than that). The unwrapped key must be the envelope's public key.

use der::{Decode, Encode, Tagged};
use pkcs8::EncodePublicKey;
use zeroize::Zeroizing;

use super::PrivateKey;

/// SM4 (1.2.156.10197.1.104) and SM4 in ECB mode (…104.1): what `symAlgID` may name.
const SM4: &str = "1.2.156.10197.1.104";
const SM4_ECB: &str = "1.2.156.10197.1.104.1";

/// Why an envelope cannot be read or opened. Each reads as the end of a sentence naming
/// its file.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub(crate) enum EnvelopeError {
    #[error("not an SM2EnvelopedKey (GM/T 0009): {0}")]
    Malformed(String),
    #[error("its symmetric algorithm is {0}, not SM4")]
    NotSm4(String),
    #[error("the signing key is not an SM2 key")]
    NotSm2,
    /// SM2 decryption failed: the envelope is for another signing key (or damaged).
    #[error("its SM4 key cannot be decrypted with {0}'s signing key (an envelope for another key?)")]
    NotForThisKey(String),
    #[error("its SM4 key is {0} bytes, not 16")]
    BadSymmetricKey(usize),
    /// What SM4 gave back is not the private key of `sm2PublicKey`.
    #[error("the unwrapped private key is not the key of its sm2PublicKey (tampered, or a wrong SM4 key)")]
    KeyMismatch,
}

/// An `SM2EnvelopedKey`, read but not opened.
#[derive(Debug, Clone)]
pub(crate) struct Sm2EnvelopedKey {
    /// The `SM2Cipher`, DER.
    cipher: Vec<u8>,
    /// `sm2PublicKey`: the uncompressed point.
    public_point: Vec<u8>,
    encrypted_private: Vec<u8>,
}

impl Sm2EnvelopedKey {
    /// Reads the DER; checks the structure and that the symmetric algorithm is SM4.
    pub(crate) fn from_der(der: &[u8]) -> Result<Sm2EnvelopedKey, EnvelopeError> {
        let bad = |e: &dyn std::fmt::Display| EnvelopeError::Malformed(e.to_string());
        let outer = der::asn1::AnyRef::from_der(der).map_err(|e| bad(&e))?;
        if outer.tag() != der::Tag::Sequence {
            return Err(bad(&"not a SEQUENCE"));
        }
        let mut reader = der::SliceReader::new(outer.value()).map_err(|e| bad(&e))?;
        let mut next = || -> Result<der::asn1::AnyRef<'_>, EnvelopeError> {
            der::Reader::decode(&mut reader).map_err(|e: der::Error| bad(&e))
        };
        let (alg, cipher, public, private) = (next()?, next()?, next()?, next()?);
        let alg_oid = der::asn1::AnyRef::from_der(alg.value())
            .and_then(|a| a.decode_as::<der::asn1::ObjectIdentifier>())
            .map_err(|e| bad(&e))?
            .to_string();
        if alg_oid != SM4 && alg_oid != SM4_ECB {
            return Err(EnvelopeError::NotSm4(alg_oid));
        }
        if cipher.tag() != der::Tag::Sequence {
            return Err(bad(&"symEncryptedKey is not an SM2Cipher SEQUENCE"));
        }
        let bits = |any: der::asn1::AnyRef<'_>, what: &str| -> Result<Vec<u8>, EnvelopeError> {
            let b =
                any.decode_as::<der::asn1::BitStringRef<'_>>().map_err(|e| bad(&format!("{what}: {e}")))?;
            b.as_bytes().map(<[u8]>::to_vec).ok_or_else(|| bad(&format!("{what}: not whole bytes")))
        };
        let mut public_point = bits(public, "sm2PublicKey")?;
        // Some writers leave out the 04 of an uncompressed point.
        if public_point.len() == 64 {
            public_point.insert(0, 0x04);
        }
        let encrypted_private = bits(private, "sm2EncryptedPrivateKey")?;
        if encrypted_private.is_empty() || encrypted_private.len() % 16 != 0 {
            return Err(bad(&format!(
                "sm2EncryptedPrivateKey is {} bytes, not whole SM4 blocks",
                encrypted_private.len()
            )));
        }
        let cipher = cipher.to_der().map_err(|e| bad(&e))?;
        Ok(Sm2EnvelopedKey { cipher, public_point, encrypted_private })
    }

    /// Whether `der` is shaped like an envelope: a SEQUENCE that starts with an SM4
    /// AlgorithmIdentifier (tells it from a certificate or a key in a file of unknown form).
    pub(crate) fn looks_like(der: &[u8]) -> bool {
        let Ok(outer) = der::asn1::AnyRef::from_der(der) else { return false };
        let Ok(mut reader) = der::SliceReader::new(outer.value()) else { return false };
        let first: Result<der::asn1::AnyRef<'_>, _> = der::Reader::decode(&mut reader);
        first
            .and_then(|alg| der::asn1::AnyRef::from_der(alg.value()))
            .and_then(|a| a.decode_as::<der::asn1::ObjectIdentifier>())
            .is_ok_and(|oid| oid.to_string().starts_with(SM4))
    }

    /// The SubjectPublicKeyInfo DER of `sm2PublicKey` (what certificates hold): pairs the
    /// envelope with its encryption certificate by `KeySha2`.
    pub(crate) fn public_key_der(&self) -> Result<Vec<u8>, EnvelopeError> {
        let bad = |e: &dyn std::fmt::Display| EnvelopeError::Malformed(format!("sm2PublicKey: {e}"));
        let public = sm2::PublicKey::from_sec1_bytes(&self.public_point).map_err(|e| bad(&e))?;
        Ok(public.to_public_key_der().map_err(|e| bad(&e))?.into_vec())
    }

    /// Opens the envelope with the signing key it was made for (`name` is the request's,
    /// for the message): SM2 decryption of the SM4 key, SM4-ECB of the private key, then
    /// the check that the key is `sm2PublicKey`'s.
    pub(crate) fn unwrap(&self, signing: &PrivateKey, name: &str) -> Result<PrivateKey, EnvelopeError> {
        use cipher::{BlockCipherDecrypt, KeyInit};
        let signer = signing.as_sm2().ok_or(EnvelopeError::NotSm2)?;
        let scalar = signer.secret_bytes().map_err(|_| EnvelopeError::NotSm2)?;
        let decrypting =
            sm2::pke::DecryptingKey::from_bytes(&(*scalar).into()).map_err(|_| EnvelopeError::NotSm2)?;
        let sym_key = Zeroizing::new(
            decrypting
                .decrypt_der(&self.cipher)
                .map_err(|_| EnvelopeError::NotForThisKey(name.to_owned()))?,
        );
        if sym_key.len() != 16 {
            return Err(EnvelopeError::BadSymmetricKey(sym_key.len()));
        }
        let sm4 =
            sm4::Sm4::new_from_slice(&sym_key).map_err(|_| EnvelopeError::BadSymmetricKey(sym_key.len()))?;
        let mut plain = Zeroizing::new(self.encrypted_private.clone());
        for block in plain.chunks_exact_mut(16) {
            sm4.decrypt_block(block.try_into().map_err(|_| EnvelopeError::KeyMismatch)?);
        }
        // The 32-byte scalar, or GM/T 0016's 64 bytes with the scalar in the low half.
        let scalar = match plain.len() {
            32 => &plain[..],
            64 if plain[..32].iter().all(|b| *b == 0) => &plain[32..],
            _ => return Err(EnvelopeError::KeyMismatch),
        };
        let secret = sm2::SecretKey::from_slice(scalar).map_err(|_| EnvelopeError::KeyMismatch)?;
        let key = PrivateKey::from_sm2_secret(&secret).map_err(|_| EnvelopeError::KeyMismatch)?;
        if self.public_key_der()? != key.public_key_der() {
            return Err(EnvelopeError::KeyMismatch);
        }
        Ok(key)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::request::KeyAlgorithm;
    use p256::elliptic_curve::Generate;
    use p256::elliptic_curve::sec1::ToSec1Point;
    use pkcs8::DecodePublicKey;

    /// Builds an envelope the way the standard says, with the crates' encryption (the
    /// CLI tests build theirs with Python's gmssl, independently of this code).
    fn envelope(sign: &PrivateKey, enc: &sm2::SecretKey, tamper: bool) -> Vec<u8> {
        use cipher::{BlockCipherEncrypt, KeyInit};
        let sign_public = sm2::PublicKey::from_public_key_der(sign.public_key_der()).unwrap();
        let sym = [7u8; 16];
        let encrypting = sm2::pke::EncryptingKey::new(sign_public);
        let cipher = encrypting.encrypt_der(&mut getrandom::SysRng, &sym).unwrap();
        let mut private = enc.to_bytes().to_vec();
        let sm4 = sm4::Sm4::new_from_slice(&sym).unwrap();
        for block in private.chunks_exact_mut(16) {
            sm4.encrypt_block(block.try_into().unwrap());
        }
        if tamper {
            private[3] ^= 1;
        }
        let point = enc.public_key().to_sec1_point(false);
        let alg = der::asn1::ObjectIdentifier::new_unwrap(SM4_ECB);
        let parts: Vec<Vec<u8>> = vec![
            [vec![0x30, 2 + alg.as_bytes().len() as u8], alg.to_der().unwrap()].concat(),
            cipher,
            der::asn1::BitStringRef::from_bytes(point.as_bytes()).unwrap().to_der().unwrap(),
            der::asn1::BitStringRef::from_bytes(&private).unwrap().to_der().unwrap(),
        ];
        let body: Vec<u8> = parts.concat();
        let mut out = vec![0x30];
        der::Length::try_from(body.len()).unwrap().encode_to_vec(&mut out).unwrap();
        out.extend(body);
        out
    }

    #[test]
    fn an_envelope_opens_with_its_signing_key_only_and_a_tampered_one_is_refused() {
        let sign = PrivateKey::generate(KeyAlgorithm::Sm2).unwrap();
        let other = PrivateKey::generate(KeyAlgorithm::Sm2).unwrap();
        let enc = sm2::SecretKey::try_generate_from_rng(&mut getrandom::SysRng).unwrap();
        let der = envelope(&sign, &enc, false);
        assert!(Sm2EnvelopedKey::looks_like(&der));
        let env = Sm2EnvelopedKey::from_der(&der).unwrap();
        let key = env.unwrap(&sign, "web").unwrap();
        assert_eq!(key.public_key_der(), enc.public_key().to_public_key_der().unwrap().as_bytes());
        assert_eq!(env.public_key_der().unwrap(), key.public_key_der());
        assert_eq!(env.unwrap(&other, "web").unwrap_err(), EnvelopeError::NotForThisKey("web".into()));
        let tampered = Sm2EnvelopedKey::from_der(&envelope(&sign, &enc, true)).unwrap();
        assert_eq!(tampered.unwrap(&sign, "web").unwrap_err(), EnvelopeError::KeyMismatch);
        let ecc = PrivateKey::generate(KeyAlgorithm::Ecc).unwrap();
        assert_eq!(env.unwrap(&ecc, "web").unwrap_err(), EnvelopeError::NotSm2);
        assert!(!Sm2EnvelopedKey::looks_like(sign.public_key_der()));
        assert!(matches!(Sm2EnvelopedKey::from_der(&der[..der.len() - 1]), Err(EnvelopeError::Malformed(_))));
    }
}
