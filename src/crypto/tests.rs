use std::path::Path;
use std::sync::Arc;

use super::*;
use crate::manifest::{Field, Origin, RawRequest, RawValue};
use crate::request::validate;

fn params(algorithm: &str, key_size: &str) -> Params {
    let fields = [
        (Field::Algorithm, algorithm),
        (Field::KeySize, key_size),
        (Field::CommonName, "*.例子.example"),
        (Field::Sans, "api.example.com,192.0.2.7,2001:db8::1"),
        (Field::CountryCode, "CN"),
        (Field::Province, "Zhejiang"),
        (Field::Locality, "Hangzhou"),
        (Field::CorpName, "阿里巴巴"),
        (Field::Department, "IT"),
    ];
    let raw = RawRequest {
        origin: Origin { file: Arc::from(Path::new("t.yaml")), line: 1 },
        ordinal: 1,
        fields: fields.iter().map(|(f, v)| (*f, RawValue::Text((*v).into()))).collect(),
        field_lines: Vec::new(),
    };
    validate(&[raw]).unwrap().remove(0).params
}

#[test]
fn every_algorithm_signs_a_csr_that_passes_the_self_check() {
    for (alg, size) in [("RSA", "2048"), ("ECC", "256"), ("SM2", "256")] {
        let p = params(alg, size);
        let g = generate(&p, None).unwrap();
        assert!(g.csr.pem.starts_with("-----BEGIN CERTIFICATE REQUEST-----\n"), "{alg}");
        assert_eq!(g.csr.key_sha2.len(), 64);
        let key = PrivateKey::from_pkcs8_pem(&g.key_pem, p.key, None).unwrap();
        verify::check(&g.csr.der, &p, key.public_key_der()).unwrap();
    }
}

#[test]
fn self_check_rejects_a_flipped_signature_bit() {
    for (alg, size) in [("RSA", "2048"), ("ECC", "256"), ("SM2", "256")] {
        let p = params(alg, size);
        let key = PrivateKey::generate(p.key).unwrap();
        let csr = sign_request(&p, &key).unwrap();
        let spki = key.public_key_der();
        let mut der = csr.der.clone();
        // The signature is the last element: flip a bit near the end (inside r/s or the RSA block).
        let at = der.len() - 5;
        der[at] ^= 0x01;
        let err = verify::check(&der, &p, spki).unwrap_err();
        assert!(matches!(err, CryptoError::SelfCheck(_)), "{alg}: {err}");
    }
}

#[test]
fn self_check_rejects_other_contents_and_other_keys() {
    let p = params("ECC", "256");
    let key = PrivateKey::generate(p.key).unwrap();
    let csr = sign_request(&p, &key).unwrap();
    let mut other = p.clone();
    other.locality = "Shanghai".into();
    assert!(
        verify::check(&csr.der, &other, key.public_key_der()).unwrap_err().to_string().contains("subject")
    );
    let mut fewer = p.clone();
    fewer.sans.pop();
    assert!(
        verify::check(&csr.der, &fewer, key.public_key_der())
            .unwrap_err()
            .to_string()
            .contains("subjectAltName")
    );
    let stranger = PrivateKey::generate(p.key).unwrap();
    let stranger = stranger.public_key_der();
    assert!(verify::check(&csr.der, &p, stranger).unwrap_err().to_string().contains("not the request's key"));
}

#[test]
fn a_key_of_another_type_cannot_sign() {
    let key = PrivateKey::generate(KeyAlgorithm::Ecc).unwrap();
    assert!(sign_request(&params("SM2", "256"), &key).is_err());
}

#[test]
fn check_pair_tells_matches_other_contents_and_broken() {
    let p = params("SM2", "256");
    let key = PrivateKey::generate(p.key).unwrap();
    let csr = sign_request(&p, &key).unwrap();
    assert!(matches!(check_pair(&csr.pem, &key, &p).unwrap(), PairCheck::Matches(_)));
    let mut moved = p.clone();
    moved.province = "Jiangsu".into();
    assert_eq!(check_pair(&csr.pem, &key, &moved).unwrap(), PairCheck::OtherContents);
    let stranger = PrivateKey::generate(p.key).unwrap();
    assert!(matches!(check_pair(&csr.pem, &stranger, &p).unwrap(), PairCheck::Broken(_)));
    // One character of the base64 changed: a CSR edited by hand.
    let mut edited = csr.pem.clone().into_bytes();
    let at = edited.len() - 80;
    edited[at] = if edited[at] == b'A' { b'B' } else { b'A' };
    let edited = String::from_utf8(edited).unwrap();
    assert!(matches!(check_pair(&edited, &key, &p).unwrap(), PairCheck::Broken(_)));
}

#[test]
fn extensions_and_attributes_pass_the_self_check_and_are_checked() {
    use crate::request::{ChallengePassword, KeyUsage};
    for (alg, size) in [("RSA", "2048"), ("ECC", "256"), ("SM2", "256")] {
        let mut p = params(alg, size);
        p.extras.key_usage = [KeyUsage::DigitalSignature, KeyUsage::NonRepudiation].into();
        p.extras.extended_key_usage =
            ["serverAuth", "1.3.6.1.4.1.99999.7"].iter().map(|s| s.parse().unwrap()).collect();
        p.extras.challenge_password = ChallengePassword::new("密码 and text");
        let key = PrivateKey::generate(p.key).unwrap();
        let csr = sign_request(&p, &key).unwrap();
        assert!(matches!(check_pair(&csr.pem, &key, &p).unwrap(), PairCheck::Matches(_)), "{alg}");
        // Each of the three, changed, is other contents (a resubject), never a match.
        let mut fewer = p.clone();
        fewer.extras.key_usage.remove(&KeyUsage::NonRepudiation);
        let mut no_eku = p.clone();
        no_eku.extras.extended_key_usage.clear();
        let mut other_password = p.clone();
        other_password.extras.challenge_password = ChallengePassword::new("other");
        for (i, q) in [fewer, no_eku, other_password, params(alg, size)].iter().enumerate() {
            assert_eq!(check_pair(&csr.pem, &key, q).unwrap(), PairCheck::OtherContents, "{alg} case {i}");
            assert!(verify::check(&csr.der, q, key.public_key_der()).is_err(), "{alg} case {i}");
        }
    }
}

#[test]
fn rcgen_challenge_password_arcs_are_the_oid() {
    let arcs: Vec<u64> = oid::CHALLENGE_PASSWORD.arcs().map(u64::from).collect();
    assert_eq!(arcs, csr_rcgen::CHALLENGE_PASSWORD);
}
