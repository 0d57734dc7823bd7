//! The self-check every CSR passes before it is written: parse it back, and confirm that
//! it carries exactly the expected key, subject, extensions and attributes, and that its signature verifies
//! (SM2 with the distinguishing ID). A CSR that fails is a failed request, never a file.

use der::{Decode, Encode, Header, Reader, SliceReader};
use pkcs8::DecodePublicKey;
use x509_cert::ext::Extension;
use x509_cert::request::CertReq;

use super::{csr_sm2, oid, sm2_curve, subject};
use crate::crypto::CryptoError;
use crate::request::{KeyAlgorithm, Params};

fn fail(what: impl Into<String>) -> CryptoError {
    CryptoError::SelfCheck(what.into())
}

/// Checks `der` against the request it was made for and the key's SubjectPublicKeyInfo.
pub(crate) fn check(der: &[u8], params: &Params, spki: &[u8]) -> Result<(), CryptoError> {
    let request = CertReq::from_der(der).map_err(|e| fail(format!("not a DER CertificationRequest: {e}")))?;
    let info = &request.info;

    let encoded = |e: der::Error| fail(e.to_string());
    if info.public_key.to_der().map_err(encoded)? != spki {
        return Err(fail("the public key is not the request's key"));
    }
    check_key_type(params.key, &info.public_key.algorithm)?;
    if info.subject.to_der().map_err(encoded)? != subject::name(params)?.to_der().map_err(encoded)? {
        return Err(fail(format!("subject `{}` is not the one asked for", info.subject)));
    }
    // One comparison of the whole attribute SET; the diagnosis only when it differs.
    if info.attributes.to_der().map_err(encoded)?
        != subject::attributes_set(params)?.to_der().map_err(encoded)?
    {
        let extensions = extension_request(&request)?;
        let want_san = subject::san_extension(params)?.to_der().map_err(encoded)?;
        let sans: Vec<&Extension> =
            extensions.iter().filter(|e| e.extn_id == oid::SUBJECT_ALT_NAME).collect();
        if sans.len() != 1 || sans[0].to_der().map_err(encoded)? != want_san {
            return Err(fail("the subjectAltName extension is not the one asked for"));
        }
        if extensions != subject::extensions(params)? {
            return Err(fail("the keyUsage or extendedKeyUsage extension is not the one asked for"));
        }
        return Err(fail("the attributes (challengePassword) are not the ones asked for"));
    }

    let signed = certification_request_info_bytes(der)?;
    let signature =
        request.signature.as_bytes().ok_or_else(|| fail("signature BIT STRING has unused bits"))?;
    verify_signature(params.key, &request, spki, signed, signature)
}

/// Checks only that `der` is a CSR of the key `spki` whose signature verifies, whatever
/// subject and SANs it asks for.
pub(crate) fn check_signature_only(der: &[u8], key: KeyAlgorithm, spki: &[u8]) -> Result<(), CryptoError> {
    let request = CertReq::from_der(der).map_err(|e| fail(format!("not a DER CertificationRequest: {e}")))?;
    if request.info.public_key.to_der().map_err(|e| fail(e.to_string()))? != spki {
        return Err(fail("the CSR is not the key's"));
    }
    check_key_type(key, &request.info.public_key.algorithm)?;
    let signed = certification_request_info_bytes(der)?;
    let signature =
        request.signature.as_bytes().ok_or_else(|| fail("signature BIT STRING has unused bits"))?;
    verify_signature(key, &request, spki, signed, signature)
}

/// Verifies with ring, given the key as a DER SubjectPublicKeyInfo.
pub(super) fn ring_verify(
    algorithm: &'static dyn ring::signature::VerificationAlgorithm,
    spki: &[u8],
    signed: &[u8],
    signature: &[u8],
) -> Result<(), CryptoError> {
    let spki = spki::SubjectPublicKeyInfoRef::try_from(spki).map_err(|e| fail(e.to_string()))?;
    let key =
        spki.subject_public_key.as_bytes().ok_or_else(|| fail("public key BIT STRING has unused bits"))?;
    ring::signature::UnparsedPublicKey::new(algorithm, key)
        .verify(signed, signature)
        .map_err(|_| fail("signature does not verify"))
}

/// RSA keys are rsaEncryption; P-256 and SM2 keys are id-ecPublicKey with their curve.
fn check_key_type(key: KeyAlgorithm, algorithm: &spki::AlgorithmIdentifierOwned) -> Result<(), CryptoError> {
    let curve = match key {
        KeyAlgorithm::Rsa2048 | KeyAlgorithm::Rsa3072 | KeyAlgorithm::Rsa4096 => {
            return if algorithm.oid == oid::RSA_ENCRYPTION {
                Ok(())
            } else {
                Err(fail("the key is not an RSA key"))
            };
        }
        KeyAlgorithm::Ecc => oid::SECP256R1,
        KeyAlgorithm::Sm2 => oid::SM2_CURVE,
    };
    let named = algorithm.parameters.as_ref().and_then(|p| p.decode_as::<der::asn1::ObjectIdentifier>().ok());
    if algorithm.oid == oid::EC_PUBLIC_KEY && named == Some(curve) {
        Ok(())
    } else {
        Err(fail(format!("the key is not id-ecPublicKey on curve {curve}")))
    }
}

/// The exact bytes that were signed: the first element of the outer SEQUENCE, as written.
fn certification_request_info_bytes(der: &[u8]) -> Result<&[u8], CryptoError> {
    let parse = |e: der::Error| fail(e.to_string());
    let mut reader = SliceReader::new(der).map_err(parse)?;
    Header::decode(&mut reader).map_err(parse)?;
    reader.tlv_bytes().map_err(parse)
}

/// The extensions of the one extensionRequest attribute.
fn extension_request(request: &CertReq) -> Result<Vec<Extension>, CryptoError> {
    let mut requests = request.info.attributes.iter().filter(|a| a.oid == oid::EXTENSION_REQUEST);
    let attr = match (requests.next(), requests.next()) {
        (Some(a), None) if a.values.len() == 1 => a,
        _ => return Err(fail("expected exactly one extensionRequest attribute")),
    };
    let value = attr.values.iter().next().ok_or_else(|| fail("empty extensionRequest"))?;
    value.decode_as::<Vec<Extension>>().map_err(|e| fail(format!("extensionRequest: {e}")))
}

fn verify_signature(
    key: KeyAlgorithm,
    request: &CertReq,
    spki: &[u8],
    signed: &[u8],
    signature: &[u8],
) -> Result<(), CryptoError> {
    let bad = |e: &dyn std::fmt::Display| fail(format!("signature does not verify: {e}"));
    let algorithm = &request.algorithm;
    let want = match key {
        KeyAlgorithm::Rsa2048 | KeyAlgorithm::Rsa3072 | KeyAlgorithm::Rsa4096 => oid::SHA256_WITH_RSA,
        KeyAlgorithm::Ecc => oid::ECDSA_WITH_SHA256,
        KeyAlgorithm::Sm2 => oid::SM2_WITH_SM3,
    };
    if algorithm.oid != want {
        return Err(fail(format!("signature algorithm {} where {want} was expected", algorithm.oid)));
    }
    match key {
        // RSA and ECDSA through ring: a vetted constant-time implementation, several times
        // faster here than the pure-Rust verifiers (the self-check runs once per CSR).
        KeyAlgorithm::Rsa2048 | KeyAlgorithm::Rsa3072 | KeyAlgorithm::Rsa4096 => {
            ring_verify(&ring::signature::RSA_PKCS1_2048_8192_SHA256, spki, signed, signature)
        }
        KeyAlgorithm::Ecc => ring_verify(&ring::signature::ECDSA_P256_SHA256_ASN1, spki, signed, signature),
        KeyAlgorithm::Sm2 => {
            if algorithm.parameters.is_some() {
                return Err(fail("SM2-with-SM3 must have no parameters"));
            }
            let public = sm2::PublicKey::from_public_key_der(spki).map_err(|e| bad(&e))?;
            let sig = sm2::dsa::Signature::from_der(signature).map_err(|e| bad(&e))?;
            sm2_verify(&public, csr_sm2::DIST_ID, signed, &sig)
                .map_err(|()| fail("signature does not verify"))
        }
    }
}

/// SM2 signature verification, GM/T 0003.2-2012 section 7 (B3 to B7), with SM3 and the
/// sm2 crate's field arithmetic, in variable time: every input (the CSR and its public key)
/// is public. `[s]G + [t]PA` is `sm2_curve`'s, in Jacobian coordinates: about 0.1 ms here,
/// where the constant-time `sm2::dsa::VerifyingKey` took 0.3 ms, half of an SM2 request.
/// The test `sm2_verify_agrees_with_the_sm2_crate` holds it to that verifier, and the
/// interop tests hold every CSR to OpenSSL's.
pub(super) fn sm2_verify(
    public: &sm2::PublicKey,
    dist_id: &str,
    msg: &[u8],
    sig: &sm2::dsa::Signature,
) -> Result<(), ()> {
    use primeorder::PrimeCurveParams;
    use sm2::elliptic_curve::ops::Reduce;
    use sm2::elliptic_curve::sec1::ToSec1Point;
    use sm3::{Digest, Sm3};

    // B3, B4: e = SM3(ZA || M), ZA = SM3(ENTL || ID || a || b || xG || yG || xA || yA).
    let entl = u16::try_from(dist_id.len() * 8).map_err(drop)?;
    let point = public.as_affine().to_sec1_point(false);
    let (Some(xa), Some(ya)) = (point.x(), point.y()) else { return Err(()) };
    let za = Sm3::new()
        .chain_update(entl.to_be_bytes())
        .chain_update(dist_id)
        .chain_update(sm2::Sm2::EQUATION_A.to_bytes())
        .chain_update(sm2::Sm2::EQUATION_B.to_bytes())
        .chain_update(sm2::Sm2::GENERATOR.0.to_bytes())
        .chain_update(sm2::Sm2::GENERATOR.1.to_bytes())
        .chain_update(xa)
        .chain_update(ya)
        .finalize();
    let e = <sm2::Scalar as Reduce<sm2::FieldBytes>>::reduce(
        &Sm3::new().chain_update(za).chain_update(msg).finalize(),
    );
    // B1, B2: r and s are in [1, n-1] (NonZeroScalar, checked when parsed).
    let (r, s) = (*sig.r(), *sig.s());
    // B5: t = r + s mod n, not 0.
    let t = r + s;
    if bool::from(t.is_zero()) {
        return Err(());
    }
    // B6, B7: (x1, y1) = [s]G + [t]PA is not the point at infinity, and e + x1 = r mod n.
    if sm2_curve::lincomb_x_is(&s, &t, public.as_affine(), &(r - e)) { Ok(()) } else { Err(()) }
}

#[cfg(test)]
mod tests {
    use signature::{Signer, Verifier};

    use super::*;

    /// The variable-time verifier says yes exactly when the sm2 crate's does: on real
    /// signatures, under other IDs, other messages, other keys, and every r or s changed.
    #[test]
    fn sm2_verify_agrees_with_the_sm2_crate() {
        use sm2::elliptic_curve::Generate;
        let mut rng = getrandom::SysRng;
        for round in 0..40u8 {
            let secret = sm2::SecretKey::try_generate_from_rng(&mut rng).unwrap();
            let public = secret.public_key();
            let other = sm2::SecretKey::try_generate_from_rng(&mut rng).unwrap().public_key();
            let signer = sm2::dsa::SigningKey::new(csr_sm2::DIST_ID, &secret).unwrap();
            let msg: Vec<u8> = (0..=round).map(|i| i.wrapping_mul(31) ^ round).collect();
            let sig: sm2::dsa::Signature = signer.sign(&msg);
            let (r, s) = (sig.r().to_bytes(), sig.s().to_bytes());
            let mut forged_r = r;
            forged_r[31] ^= 1 << (round % 8);
            let mut forged_s = s;
            forged_s[usize::from(round) % 32] ^= 0x80;
            let cases = [
                (public, csr_sm2::DIST_ID, msg.clone(), sig),
                (public, "1234567812345679", msg.clone(), sig),
                (public, csr_sm2::DIST_ID, [msg.as_slice(), b"x"].concat(), sig),
                (other, csr_sm2::DIST_ID, msg.clone(), sig),
                (
                    public,
                    csr_sm2::DIST_ID,
                    msg.clone(),
                    sm2::dsa::Signature::from_scalars(forged_r, s).unwrap(),
                ),
                (
                    public,
                    csr_sm2::DIST_ID,
                    msg.clone(),
                    sm2::dsa::Signature::from_scalars(r, forged_s).unwrap(),
                ),
                (public, csr_sm2::DIST_ID, msg.clone(), sm2::dsa::Signature::from_scalars(s, r).unwrap()),
            ];
            for (i, (key, id, m, sig)) in cases.into_iter().enumerate() {
                let theirs = sm2::dsa::VerifyingKey::new(id, key).unwrap().verify(&m, &sig).is_ok();
                let ours = sm2_verify(&key, id, &m, &sig).is_ok();
                assert_eq!(ours, theirs, "round {round}, case {i}");
                assert_eq!(ours, i == 0, "round {round}, case {i}: only the real signature verifies");
            }
        }
    }
}
