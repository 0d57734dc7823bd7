//! The SM2 signing key: generation from the operating system's CSPRNG and SM2-with-SM3
//! signatures with the GM/T 0009 distinguishing ID, as DER `SEQUENCE { r, s }`.
//!
//! Default: the `sm2` crate. With the `botan-sm2` feature: Botan 3 (its constant-time
//! `pcurves` arithmetic), built from source with only the modules SM2 needs
//! (`.cargo/config.toml`); about 2x faster to make a key and 3x to sign (BENCHMARKS.md).
//! Either way the key files are the `sm2` crate's encodings (`key.rs`), every key read is
//! parsed by the `sm2` crate first, and every CSR is verified by our own verifier
//! (`verify.rs`) before it is written: the backend only makes keys and signatures.

use zeroize::Zeroizing;

use super::csr_sm2::DIST_ID;

/// Which implementation makes SM2 keys and signatures in this build.
pub(crate) const BACKEND: &str = if cfg!(feature = "botan-sm2") { "botan" } else { "sm2" };

pub(super) use imp::Sm2Key;

/// GM/T 0003.1 6.1: an SM2 private key is in [1, n - 2], since signing divides by 1 + d.
/// The `sm2` crate takes n - 1 and fails only when it signs; Botan refuses it. Both builds
/// refuse it here, with the same words.
fn check_signing_scalar(secret: &sm2::SecretKey) -> Result<(), String> {
    let d: sm2::Scalar = *secret.to_nonzero_scalar();
    if bool::from((d + sm2::Scalar::ONE).is_zero()) {
        return Err("an SM2 private key of n - 1 cannot sign (GM/T 0003.1: d is in [1, n - 2])".into());
    }
    Ok(())
}

#[cfg(not(feature = "botan-sm2"))]
mod imp {
    use getrandom::SysRng;
    use p256::elliptic_curve::Generate;
    use signature::Signer;

    use super::{DIST_ID, Zeroizing};

    /// The `sm2` crate's signer: the public key and the ZA hash are computed once.
    pub(in crate::crypto) struct Sm2Key(sm2::dsa::SigningKey);

    impl Sm2Key {
        pub(in crate::crypto) fn generate() -> Result<Sm2Key, String> {
            let secret = sm2::SecretKey::try_generate_from_rng(&mut SysRng).map_err(|e| e.to_string())?;
            Sm2Key::from_secret(&secret)
        }

        pub(in crate::crypto) fn from_secret(secret: &sm2::SecretKey) -> Result<Sm2Key, String> {
            super::check_signing_scalar(secret)?;
            sm2::dsa::SigningKey::new(DIST_ID, secret).map(Sm2Key).map_err(|e| e.to_string())
        }

        pub(in crate::crypto) fn public_key(&self) -> Result<sm2::PublicKey, String> {
            sm2::PublicKey::from_affine(*self.0.verifying_key().as_affine()).map_err(|e| e.to_string())
        }

        pub(in crate::crypto) fn secret_bytes(&self) -> Result<Zeroizing<[u8; 32]>, String> {
            let mut out = Zeroizing::new([0u8; 32]);
            out.copy_from_slice(&self.0.to_bytes());
            Ok(out)
        }

        pub(in crate::crypto) fn sign_der(&self, message: &[u8]) -> Result<Vec<u8>, String> {
            let signature: sm2::dsa::Signature = self.0.try_sign(message).map_err(|e| e.to_string())?;
            Ok(signature.to_der().as_bytes().to_vec())
        }
    }
}

#[cfg(feature = "botan-sm2")]
mod imp {
    use botan::{Privkey, RandomNumberGenerator, Signer};
    use der::Encode;

    use super::{DIST_ID, Zeroizing};
    use crate::crypto::oid;

    /// Botan's `"<user ID>,<hash>"`: an empty ID is not GM/T 0009's default.
    fn params() -> String {
        format!("{DIST_ID},SM3")
    }

    /// Botan's name for an SM2 key (1.2.156.10197.1.301.1). Its PKCS#8 says so where ours
    /// says id-ecPublicKey (RFC 5480) with the SM2 curve, so keys cross as the scalar.
    const BOTAN_SM2: der::asn1::ObjectIdentifier =
        der::asn1::ObjectIdentifier::new_unwrap("1.2.156.10197.1.301.1");

    /// Botan's key and the same public key as the `sm2` crate's type (checked on the curve
    /// when converted), from which `key.rs` writes the SubjectPublicKeyInfo.
    pub(in crate::crypto) struct Sm2Key {
        key: Privkey,
        public: sm2::PublicKey,
    }

    fn err(e: botan::Error) -> String {
        format!("Botan: {e:?}")
    }

    /// Botan's system RNG reads getrandom(2) on each call; its default user-space DRBG made
    /// signing 2x slower.
    fn rng() -> Result<RandomNumberGenerator, String> {
        RandomNumberGenerator::new_system().map_err(err)
    }

    impl Sm2Key {
        pub(in crate::crypto) fn generate() -> Result<Sm2Key, String> {
            Sm2Key::from_botan(Privkey::create("SM2", "sm2p256v1", &mut rng()?).map_err(err)?)
        }

        /// The scalar goes over in a PKCS#8 of Botan's form (RFC 5915 ECPrivateKey without
        /// the public key, which Botan computes), held in zeroized memory.
        pub(in crate::crypto) fn from_secret(secret: &sm2::SecretKey) -> Result<Sm2Key, String> {
            super::check_signing_scalar(secret)?;
            let encode = |e: der::Error| e.to_string();
            let mut scalar = Zeroizing::new([0u8; 32]);
            scalar.copy_from_slice(&secret.to_bytes());
            let ec_private_key = Zeroizing::new(
                sec1::EcPrivateKey { private_key: &scalar[..], parameters: None, public_key: None }
                    .to_der()
                    .map_err(encode)?,
            );
            let algorithm =
                pkcs8::AlgorithmIdentifierRef { oid: BOTAN_SM2, parameters: Some((&oid::SM2_CURVE).into()) };
            let octets = der::asn1::OctetStringRef::new(&ec_private_key).map_err(encode)?;
            let info = pkcs8::PrivateKeyInfoRef::new(algorithm, octets);
            let der = Zeroizing::new(info.to_der().map_err(encode)?);
            // No second scalar multiplication to hold Botan's public key to the sm2 crate's:
            // a wrong one would fail the self-check of the CSR or the envelope's key check.
            let key = Sm2Key::from_botan(Privkey::load_der(&der).map_err(err)?)?;
            if *key.secret_bytes()? != *scalar {
                return Err("Botan holds another scalar than the one it was given".into());
            }
            Ok(key)
        }

        fn from_botan(key: Privkey) -> Result<Sm2Key, String> {
            let point = key.pubkey().and_then(|p| p.ec_public_point()).map_err(err)?;
            let public = sm2::PublicKey::from_sec1_bytes(&point).map_err(|e| e.to_string())?;
            Ok(Sm2Key { key, public })
        }

        pub(in crate::crypto) fn public_key(&self) -> Result<sm2::PublicKey, String> {
            Ok(self.public)
        }

        /// The scalar as Botan serializes it: always the 32 bytes of the field, big-endian.
        /// Botan wipes its own copy; this one is wiped here.
        pub(in crate::crypto) fn secret_bytes(&self) -> Result<Zeroizing<[u8; 32]>, String> {
            let raw = Zeroizing::new(self.key.raw_bytes().map_err(err)?);
            let mut out = Zeroizing::new([0u8; 32]);
            if raw.len() != out.len() {
                return Err(format!("Botan gave a {}-byte SM2 private key", raw.len()));
            }
            out.copy_from_slice(&raw);
            Ok(out)
        }

        pub(in crate::crypto) fn sign_der(&self, message: &[u8]) -> Result<Vec<u8>, String> {
            let mut signer = Signer::new_with_der_formatted_signatures(&self.key, &params()).map_err(err)?;
            signer.update(message).map_err(err)?;
            signer.finish(&mut rng()?).map_err(err)
        }
    }
}

#[cfg(test)]
mod tests {
    use signature::Verifier;

    use super::*;

    /// Whatever the backend, its signatures verify under the `sm2` crate's verifier with
    /// the GM/T 0009 ID (and not under another ID), and a key read back from its scalar is
    /// the same key.
    #[test]
    fn signatures_verify_with_the_sm2_crate_and_keys_cross_as_scalars() {
        for round in 0..20u8 {
            let key = Sm2Key::generate().unwrap();
            let public = key.public_key().unwrap();
            let message: Vec<u8> = (0..=round).map(|i| i ^ round.wrapping_mul(7)).collect();
            let der = key.sign_der(&message).unwrap();
            let signature = sm2::dsa::Signature::from_der(&der).unwrap();
            let verifier = sm2::dsa::VerifyingKey::new(DIST_ID, public).unwrap();
            assert!(verifier.verify(&message, &signature).is_ok(), "round {round}");
            let other = sm2::dsa::VerifyingKey::new("1234567812345679", public).unwrap();
            assert!(other.verify(&message, &signature).is_err(), "round {round}: another ID");

            let secret = sm2::SecretKey::from_bytes(&(*key.secret_bytes().unwrap()).into()).unwrap();
            assert_eq!(secret.public_key(), public, "round {round}: the scalar is the key's");
            let back = Sm2Key::from_secret(&secret).unwrap();
            assert_eq!(back.public_key().unwrap(), public);
            assert_eq!(*back.secret_bytes().unwrap(), *key.secret_bytes().unwrap());
        }
    }

    /// Scalars with leading zero bytes (1, 2^8 - 1, 2^128 + 1) and the largest, n - 2, cross
    /// to the backend and back whole, and the public key is the `sm2` crate's for each.
    /// n - 1 is no SM2 signing key (GM/T 0003.1 6.1: d in [1, n - 2], as 1 + d must be
    /// invertible), and both backends refuse it.
    #[test]
    fn small_and_edge_scalars_round_trip() {
        let mut scalars = vec![[0u8; 32]; 4];
        scalars[0][31] = 1;
        scalars[1][31] = 0xff;
        scalars[2][15] = 1;
        scalars[2][31] = 1;
        // n - 2 (n is GM/T 0003.5's order).
        scalars[3] = hex::decode("fffffffeffffffffffffffffffffffff7203df6b21c6052b53bbf40939d54121")
            .unwrap()
            .try_into()
            .unwrap();
        for bytes in scalars {
            let secret = sm2::SecretKey::from_bytes(&bytes.into()).unwrap();
            let key = Sm2Key::from_secret(&secret).unwrap();
            assert_eq!(*key.secret_bytes().unwrap(), bytes);
            assert_eq!(key.public_key().unwrap(), secret.public_key());
            let der = key.sign_der(b"edge").unwrap();
            let signature = sm2::dsa::Signature::from_der(&der).unwrap();
            let verifier = sm2::dsa::VerifyingKey::new(DIST_ID, secret.public_key()).unwrap();
            assert!(verifier.verify(b"edge", &signature).is_ok());
        }
        let n_minus_1 =
            hex::decode("fffffffeffffffffffffffffffffffff7203df6b21c6052b53bbf40939d54122").unwrap();
        let secret = sm2::SecretKey::from_slice(&n_minus_1).unwrap();
        let refused = Sm2Key::from_secret(&secret).err().unwrap_or_default();
        assert!(refused.contains("n - 1 cannot sign"), "{refused}");
    }
}
