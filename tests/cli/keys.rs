//! The crypto layer with keys made by the real `openssl` in every form users bring
//! (PKCS#8, encrypted PKCS#8, PKCS#1, SEC1 for P-256 and SM2), keys written in the
//! `traditional` format, and CSR extensions and attributes, all judged by `openssl`.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use csrbatch::crypto::{self, KeyError, KeyFormat, Passphrase, PrivateKey};
use csrbatch::manifest::{Field, Origin, RawRequest, RawValue};
use csrbatch::request::{ChallengePassword, KeyAlgorithm, KeyUsage, Params};

use crate::util::{Dir, openssl, openssl_pubkeys, openssl_verifies};

fn params(algorithm: &str, key_size: &str) -> Params {
    let fields = [
        (Field::Algorithm, algorithm),
        (Field::KeySize, key_size),
        (Field::CommonName, "www.example.com"),
        (Field::Sans, "api.example.com,192.0.2.7"),
        (Field::CountryCode, "CN"),
        (Field::Province, "Zhejiang"),
        (Field::Locality, "Hangzhou"),
        (Field::CorpName, "Example"),
    ];
    let raw = RawRequest {
        origin: Origin { file: Arc::from(Path::new("t.yaml")), line: 1 },
        ordinal: 1,
        fields: fields.iter().map(|(f, v)| (*f, RawValue::Text((*v).into()))).collect(),
        field_lines: Vec::new(),
    };
    csrbatch::request::validate(&[raw]).unwrap().remove(0).params
}

/// The request with every extension and attribute: the usages its key type allows,
/// two named purposes and one dotted OID, and a challengePassword.
fn with_extras(mut p: Params) -> Params {
    let rsa = !matches!(p.key, KeyAlgorithm::Ecc | KeyAlgorithm::Sm2);
    p.extras.key_usage = [KeyUsage::DigitalSignature, KeyUsage::NonRepudiation]
        .into_iter()
        .chain(rsa.then_some(KeyUsage::KeyEncipherment))
        .chain((!rsa).then_some(KeyUsage::KeyAgreement))
        .collect();
    p.extras.extended_key_usage =
        ["clientAuth", "serverAuth", "1.3.6.1.4.1.311.10.3.12"].iter().map(|s| s.parse().unwrap()).collect();
    p.extras.challenge_password = ChallengePassword::new("s3cret-Chall");
    p
}

fn run_ok(args: &[&str]) {
    let o = openssl(args);
    assert!(o.status.success(), "openssl {args:?}: {}", String::from_utf8_lossy(&o.stderr));
}

fn text_of(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap()
}

/// Keys as openssl makes them: (file, algorithm, passphrase it is encrypted with).
fn openssl_keys(dir: &Dir) -> Vec<(PathBuf, KeyAlgorithm, Option<&'static str>)> {
    let p = |name: &str| dir.path(name).to_str().unwrap().to_owned();
    run_ok(&["genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048", "-out", &p("rsa.p8")]);
    run_ok(&["rsa", "-in", &p("rsa.p8"), "-traditional", "-out", &p("rsa.p1")]);
    run_ok(&["genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:3072", "-out", &p("rsa3072.p8")]);
    run_ok(&["genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out", &p("ec.p8")]);
    run_ok(&["ec", "-in", &p("ec.p8"), "-out", &p("ec.sec1")]);
    // `ecparam -genkey` writes an `EC PARAMETERS` block before the key.
    run_ok(&["ecparam", "-name", "prime256v1", "-genkey", "-out", &p("ec-params.sec1")]);
    run_ok(&["genpkey", "-algorithm", "SM2", "-out", &p("sm2.p8")]);
    // `openssl ec` labels SM2 keys `SM2 PRIVATE KEY`; the same DER as `EC PRIVATE KEY` is
    // what other SM2 libraries read.
    run_ok(&["ec", "-in", &p("sm2.p8"), "-out", &p("sm2-label.sec1")]);
    let relabelled = text_of(&dir.path("sm2-label.sec1")).replace("SM2 PRIVATE KEY", "EC PRIVATE KEY");
    dir.write("sm2.sec1", &relabelled);
    run_ok(&[
        "pkcs8",
        "-topk8",
        "-in",
        &p("ec.p8"),
        "-v2",
        "aes-256-cbc",
        "-passout",
        "pass:open sesame",
        "-out",
        &p("ec.enc"),
    ]);
    run_ok(&["genpkey", "-algorithm", "SM2", "-aes256", "-pass", "pass:open sesame", "-out", &p("sm2.enc")]);
    vec![
        (dir.path("rsa.p8"), KeyAlgorithm::Rsa2048, None),
        (dir.path("rsa.p1"), KeyAlgorithm::Rsa2048, None),
        (dir.path("rsa3072.p8"), KeyAlgorithm::Rsa3072, None),
        (dir.path("ec.p8"), KeyAlgorithm::Ecc, None),
        (dir.path("ec.sec1"), KeyAlgorithm::Ecc, None),
        (dir.path("ec-params.sec1"), KeyAlgorithm::Ecc, None),
        (dir.path("sm2.p8"), KeyAlgorithm::Sm2, None),
        (dir.path("sm2-label.sec1"), KeyAlgorithm::Sm2, None),
        (dir.path("sm2.sec1"), KeyAlgorithm::Sm2, None),
        (dir.path("ec.enc"), KeyAlgorithm::Ecc, Some("open sesame")),
        (dir.path("sm2.enc"), KeyAlgorithm::Sm2, Some("open sesame")),
    ]
}

fn request_for(key: KeyAlgorithm) -> Params {
    match key {
        KeyAlgorithm::Rsa2048 => params("RSA", "2048"),
        KeyAlgorithm::Rsa3072 => params("RSA", "3072"),
        KeyAlgorithm::Rsa4096 => params("RSA", "4096"),
        KeyAlgorithm::Ecc => params("ECC", "256"),
        KeyAlgorithm::Sm2 => params("SM2", "256"),
    }
}

/// What `openssl req -text` prints about a CSR.
fn openssl_text(csr: &Path) -> String {
    let o = openssl(&["req", "-in", csr.to_str().unwrap(), "-noout", "-text"]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    String::from_utf8(o.stdout).unwrap()
}

/// The extensions and attributes `with_extras` asks for, as openssl prints them.
fn assert_extras_shown(text: &str, rsa: bool, what: &str) {
    let usage = if rsa {
        "Digital Signature, Non Repudiation, Key Encipherment"
    } else {
        "Digital Signature, Non Repudiation, Key Agreement"
    };
    for want in [
        "X509v3 Key Usage: critical",
        usage,
        "X509v3 Extended Key Usage",
        "TLS Web Server Authentication, TLS Web Client Authentication, 1.3.6.1.4.1.311.10.3.12",
        "challengePassword",
        "s3cret-Chall",
        "DNS:www.example.com, DNS:api.example.com, IP Address:192.0.2.7",
    ] {
        assert!(text.contains(want), "{what}: `{want}` missing from openssl req -text:\n{text}");
    }
}

#[test]
fn openssl_keys_in_every_form_sign_csrs_openssl_accepts() {
    let dir = Dir::new();
    for (file, algorithm, pass) in openssl_keys(&dir) {
        let what = file.file_name().unwrap().to_string_lossy().into_owned();
        let before = std::fs::read(&file).unwrap();
        let pass = pass.map(|p| Passphrase::new(p.into()).unwrap());
        let key =
            PrivateKey::from_pem(&text_of(&file), pass.as_ref()).unwrap_or_else(|e| panic!("{what}: {e}"));
        assert_eq!(key.algorithm(), algorithm, "{what}");
        for p in [request_for(algorithm), with_extras(request_for(algorithm))] {
            let csr = crypto::sign_request(&p, &key).unwrap_or_else(|e| panic!("{what}: {e}"));
            let csr_path = dir.write(&format!("{what}.csr"), &csr.pem);
            let sm2 = algorithm == KeyAlgorithm::Sm2;
            let (ok, out) = openssl_verifies(&csr_path, sm2);
            assert!(ok, "{what}: {out}");
            // The key openssl reads from the user's file is the CSR's.
            let (from_key, from_csr) = if pass.is_some() {
                let k = openssl(&[
                    "pkey",
                    "-in",
                    file.to_str().unwrap(),
                    "-passin",
                    "pass:open sesame",
                    "-pubout",
                ]);
                let c = openssl(&["req", "-in", csr_path.to_str().unwrap(), "-noout", "-pubkey"]);
                (String::from_utf8(k.stdout).unwrap(), String::from_utf8(c.stdout).unwrap())
            } else {
                openssl_pubkeys(&file, &csr_path)
            };
            assert!(from_key.contains("BEGIN PUBLIC KEY"), "{what}");
            assert_eq!(from_key, from_csr, "{what}");
            if !p.extras.is_empty() {
                assert_extras_shown(
                    &openssl_text(&csr_path),
                    !matches!(algorithm, KeyAlgorithm::Ecc | KeyAlgorithm::Sm2),
                    &what,
                );
            }
        }
        assert_eq!(std::fs::read(&file).unwrap(), before, "{what}: the key file was changed");
    }
}

#[test]
fn traditional_keys_are_read_by_openssl_and_match_their_csrs() {
    let dir = Dir::new();
    for (p, label, openssl_says) in [
        (params("RSA", "2048"), "RSA PRIVATE KEY", "Private-Key: (2048 bit, 2 primes)"),
        (params("ECC", "256"), "EC PRIVATE KEY", "ASN1 OID: prime256v1"),
        (params("SM2", "256"), "EC PRIVATE KEY", "ASN1 OID: SM2"),
    ] {
        let what = p.key.to_string();
        let made = crypto::generate_as(&with_extras(p.clone()), KeyFormat::Traditional, None).unwrap();
        assert!(
            made.key_pem.starts_with(&format!("-----BEGIN {label}-----\n")),
            "{what}: {}",
            &made.key_pem[..40]
        );
        assert!(!made.key_pem.contains("SM2 PRIVATE KEY"));
        let key_path = dir.write(&format!("{}.key", p.key.tag()), &made.key_pem);
        let csr_path = dir.write(&format!("{}.csr", p.key.tag()), &made.csr.pem);
        let shown = openssl(&["pkey", "-in", key_path.to_str().unwrap(), "-noout", "-text"]);
        assert!(shown.status.success(), "{what}: {}", String::from_utf8_lossy(&shown.stderr));
        assert!(String::from_utf8_lossy(&shown.stdout).contains(openssl_says), "{what}");
        let (from_key, from_csr) = openssl_pubkeys(&key_path, &csr_path);
        assert_eq!(from_key, from_csr, "{what}");
        // SEC1 names its curve inside the key (RFC 5915 parameters [0]): `openssl ec` reads it.
        if label == "EC PRIVATE KEY" {
            let o = openssl(&["asn1parse", "-in", key_path.to_str().unwrap()]);
            let dump = String::from_utf8_lossy(&o.stdout);
            assert!(
                dump.contains("cont [ 0 ]") && (dump.contains(":prime256v1") || dump.contains(":sm2")),
                "{dump}"
            );
        }
        assert!(openssl_verifies(&csr_path, p.key == KeyAlgorithm::Sm2).0, "{what}");
        // And csrbatch reads its own traditional keys back (re-runs).
        let back = PrivateKey::from_pem_for(&made.key_pem, p.key, None).unwrap();
        assert_eq!(back.to_pem(KeyFormat::Traditional, None).unwrap(), made.key_pem, "{what}");
        // PKCS#8 <-> traditional is lossless: openssl's PKCS#8 of our key is our PKCS#8.
        let p8 = openssl(&["pkey", "-in", key_path.to_str().unwrap()]);
        let theirs = PrivateKey::from_pem(&String::from_utf8(p8.stdout).unwrap(), None).unwrap();
        assert_eq!(theirs.public_key_der(), back.public_key_der(), "{what}");
    }
    let pass = Passphrase::new("x".into()).unwrap();
    let key = PrivateKey::generate(KeyAlgorithm::Ecc).unwrap();
    assert!(key.to_pem(KeyFormat::Traditional, Some(&pass)).is_err(), "traditional keys are never encrypted");
}

#[test]
fn sm2_csrs_with_extensions_verify_with_the_standard_id_only() {
    let dir = Dir::new();
    let p = with_extras(params("SM2", "256"));
    let made = crypto::generate(&p, None).unwrap();
    let csr = dir.write("sm2.csr", &made.csr.pem);
    assert!(openssl_verifies(&csr, true).0);
    let text = openssl_text(&csr);
    assert_extras_shown(&text, false, "SM2");
    // With the empty ID openssl uses by default, the signature must not verify.
    let o = openssl(&["req", "-in", csr.to_str().unwrap(), "-noout", "-verify", "-sm3"]);
    let out = format!("{}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr));
    assert!(!out.contains("verify OK"), "{out}");
}

#[test]
fn bad_key_files_have_typed_errors() {
    let dir = Dir::new();
    let p = |name: &str| dir.path(name).to_str().unwrap().to_owned();
    run_ok(&["genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-384", "-out", &p("p384")]);
    run_ok(&["genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:1024", "-out", &p("rsa1024")]);
    run_ok(&["genpkey", "-algorithm", "ED25519", "-out", &p("ed")]);
    run_ok(&["ec", "-in", &p("p384"), "-out", &p("p384.sec1")]);
    run_ok(&["genpkey", "-algorithm", "SM2", "-aes256", "-pass", "pass:right", "-out", &p("sm2.enc")]);
    run_ok(&[
        "rsa",
        "-in",
        &p("rsa1024"),
        "-traditional",
        "-aes128",
        "-passout",
        "pass:x",
        "-out",
        &p("legacy"),
    ]);
    let read = |name: &str, pass: Option<&str>| {
        let pass = pass.map(|s| Passphrase::new(s.into()).unwrap());
        PrivateKey::from_pem(&text_of(&dir.path(name)), pass.as_ref()).map(|k| k.algorithm())
    };
    let p384 = "1.3.132.0.34".parse().unwrap();
    assert_eq!(read("p384", None), Err(KeyError::UnsupportedCurve(p384)));
    assert_eq!(read("p384.sec1", None), Err(KeyError::UnsupportedCurve(p384)));
    assert_eq!(read("rsa1024", None), Err(KeyError::UnsupportedKeySize(1024)));
    assert_eq!(read("ed", None), Err(KeyError::UnsupportedAlgorithm("1.3.101.112".parse().unwrap())));
    assert_eq!(read("sm2.enc", None), Err(KeyError::NeedsPassphrase));
    assert_eq!(read("sm2.enc", Some("wrong")), Err(KeyError::WrongPassphrase));
    assert_eq!(read("sm2.enc", Some("right")), Ok(KeyAlgorithm::Sm2));
    assert_eq!(read("legacy", Some("x")), Err(KeyError::LegacyEncryption));
    let sm2 = PrivateKey::from_pem_for(
        &text_of(&dir.path("sm2.enc")),
        KeyAlgorithm::Ecc,
        Passphrase::new("right".into()).as_ref(),
    );
    assert_eq!(
        sm2.unwrap_err(),
        KeyError::WrongKeyType { found: KeyAlgorithm::Sm2, expected: KeyAlgorithm::Ecc }
    );
    let message =
        KeyError::WrongKeyType { found: KeyAlgorithm::Sm2, expected: KeyAlgorithm::Ecc }.to_string();
    assert_eq!(message, "it is an SM2-256 key, the request asks for ECC-256");
}
