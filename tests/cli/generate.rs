//! `csrbatch generate` end to end: every algorithm and size, proven by openssl.

use std::collections::HashSet;
use std::os::unix::fs::PermissionsExt;

use sha2::{Digest, Sha256};

use crate::util::*;

/// What the test manifests ask for: Name -> (subject as openssl prints it, SANs).
fn expected() -> Vec<(&'static str, &'static str, Vec<&'static str>)> {
    let o = "O=阿里巴巴（中国）有限公司";
    vec![
        (
            "rsa2048",
            "C=CN,ST=Zhejiang,L=Hangzhou,{o},OU=Web,CN=www.example.com",
            vec!["DNS:www.example.com", "DNS:example.com", "DNS:static.example.com", "IP:192.0.2.1"],
        ),
        (
            "rsa3072",
            "C=CN,ST=Zhejiang,L=Hangzhou,{o},CN=api.example.com",
            vec!["DNS:api.example.com", "IP:2001:db8::1"],
        ),
        ("rsa4096", "C=CN,ST=Zhejiang,L=Hangzhou,{o},CN=vault.example.com", vec!["DNS:vault.example.com"]),
        (
            "wildcard.example.com",
            "C=CN,ST=Zhejiang,L=Hangzhou,{o},OU=信息部,CN=*.example.com",
            vec!["DNS:*.example.com", "DNS:a.example.com", "DNS:b.example.com"],
        ),
        (
            "wildcard.example.com_sm2",
            "C=CN,ST=Zhejiang,L=Hangzhou,O=某某市政务服务中心,CN=*.example.com",
            vec!["DNS:*.example.com", "DNS:xn--zfr164b.xn--fsqu00a.xn--fiqs8s", "IP:10.0.0.7"],
        ),
        ("bom.example.org", "C=DE,ST=Bayern,L=München,CN=bom.example.org", vec!["DNS:bom.example.org"]),
        (
            "csv-ecc",
            "C=US,ST=California,L=San Francisco,O=Example, Inc.,CN=shop.example.net",
            vec!["DNS:shop.example.net", "DNS:m.shop.example.net", "DNS:pay.example.net"],
        ),
        ("csv-sm2", "C=CN,ST=Beijing,L=Beijing,CN=intranet.example.cn", vec!["DNS:intranet.example.cn"]),
    ]
    .into_iter()
    .map(|(n, s, sans)| (n, Box::leak(s.replace("{o}", o).into_boxed_str()) as &str, sans))
    .collect()
}

#[test]
fn every_algorithm_passes_openssl_and_matches_the_manifest() {
    let dir = Dir::new();
    let out = dir.path("out");
    let run = csrbatch([
        "generate".as_ref(),
        manifests("").as_os_str(),
        "--out".as_ref(),
        out.as_os_str(),
        "-q".as_ref(),
    ]);
    assert!(run.status.success(), "{}", stderr(&run));
    assert!(
        stderr(&run)
            .contains("generated 8 CSRs (RSA-2048: 1, RSA-3072: 1, RSA-4096: 1, ECC-256: 3, SM2-256: 2)"),
        "{}",
        stderr(&run)
    );

    let summary = read_summary(&out);
    let names: Vec<&str> = summary.csrs.iter().map(|e| e.name.as_str()).collect();
    let want = expected();
    assert_eq!(
        names,
        want.iter().map(|w| w.0).collect::<Vec<_>>(),
        "manifest order: files sorted, requests in order"
    );

    for (name, subject, sans) in want {
        let csr = out.join(format!("{name}.csr.pem"));
        let key = out.join(format!("{name}.key.pem"));
        let sm2 = summary.csrs.iter().any(|e| e.name == name && e.algorithm == "SM2");
        let (ok, text) = openssl_verifies(&csr, sm2);
        assert!(ok, "{name}: openssl req -verify: {text}");
        assert_eq!(openssl_subject(&csr), subject, "{name}");
        assert_eq!(openssl_sans(&csr), sans, "{name}");
        let (from_key, from_csr) = openssl_pubkeys(&key, &csr);
        assert!(from_key.starts_with("-----BEGIN PUBLIC KEY-----"), "{name}");
        assert_eq!(from_key, from_csr, "{name}: the key file's public key is the CSR's");
        assert_eq!(std::fs::metadata(&key).unwrap().permissions().mode() & 0o777, 0o600, "{name}");
        assert_eq!(std::fs::metadata(&csr).unwrap().permissions().mode() & 0o777, 0o644, "{name}");
        assert!(
            std::fs::read_to_string(&key).unwrap().starts_with("-----BEGIN PRIVATE KEY-----\n"),
            "{name}: PKCS#8"
        );
    }
}

#[test]
fn sm2_csrs_carry_the_gmt_0009_distinguishing_id() {
    let dir = Dir::new();
    let out = dir.path("out");
    let run = csrbatch([
        "generate".as_ref(),
        manifests("requests.csv").as_os_str(),
        "--out".as_ref(),
        out.as_os_str(),
    ]);
    assert!(run.status.success(), "{}", stderr(&run));
    let csr = out.join("csv-sm2.csr.pem");
    assert!(openssl_verifies(&csr, true).0);
    // The same CSR must fail with another ID: the signature really binds 1234567812345678.
    let other = openssl(&[
        "req",
        "-in",
        csr.to_str().unwrap(),
        "-noout",
        "-verify",
        "-sm3",
        "-vfyopt",
        "distid:1234567812345679",
    ]);
    let text =
        format!("{}{}", String::from_utf8_lossy(&other.stdout), String::from_utf8_lossy(&other.stderr));
    assert!(!text.contains("verify OK"), "{text}");
    let dump = openssl(&["req", "-in", csr.to_str().unwrap(), "-noout", "-text"]);
    let dump = String::from_utf8_lossy(&dump.stdout);
    assert!(dump.contains("Signature Algorithm: SM2-with-SM3"), "{dump}");
    assert!(dump.contains("ASN1 OID: SM2"), "{dump}");
    assert!(dump.contains("Public Key Algorithm: id-ecPublicKey"), "{dump}");
}

#[test]
fn summary_matches_the_files_on_disk() {
    let dir = Dir::new();
    let out = dir.path("out");
    let run = csrbatch([
        "generate".as_ref(),
        manifests("requests.csv").as_os_str(),
        manifests("excel-bom.csv").as_os_str(),
        "--out".as_ref(),
        out.as_os_str(),
        "--jobs".as_ref(),
        "2".as_ref(),
    ]);
    assert!(run.status.success(), "{}", stderr(&run));
    let s = read_summary(&out);
    assert_eq!((s.total, s.succeeded, s.failed), (3, 3, 0));
    assert!(is_request_id(&s.request_id), "{}", s.request_id);
    let mut ids = HashSet::new();
    let mut request_ids = HashSet::new();
    for e in &s.csrs {
        let csr_file = out.join(e.csr_file.as_ref().unwrap());
        let key_file = out.join(e.key_file.as_ref().unwrap());
        assert_eq!(e.csr.as_deref().unwrap(), std::fs::read_to_string(&csr_file).unwrap(), "{}", e.name);
        let spki = openssl(&["pkey", "-in", key_file.to_str().unwrap(), "-pubout", "-outform", "DER"]).stdout;
        assert_eq!(e.key_sha2.as_deref().unwrap(), hex::encode(Sha256::digest(&spki)), "{}", e.name);
        let id = e.csr_id.unwrap();
        assert!(id > 0 && id < (1 << 53));
        assert!(ids.insert(id), "CsrId {id} twice");
        assert!(is_request_id(&e.request_id) && request_ids.insert(e.request_id.clone()));
        assert!(e.has_private_key && e.error.is_none());
    }
    assert_eq!(s.csrs[0].manifest, format!("{}:2", manifests("requests.csv").display()));
    assert_eq!(s.csrs[2].manifest, format!("{}:2", manifests("excel-bom.csv").display()));
    assert_eq!(
        (s.csrs[0].sans.as_str(), s.csrs[0].country_code.as_str()),
        ("m.shop.example.net,pay.example.net", "US")
    );
    assert_eq!(s.csrs[0].corp_name.as_deref(), Some("Example, Inc."));
}

fn is_request_id(s: &str) -> bool {
    uuid::Uuid::parse_str(s).is_ok_and(|u| u.get_version_num() == 4) && s == s.to_ascii_uppercase()
}

#[test]
fn help_and_version() {
    let v = csrbatch(["--version"]);
    assert!(v.status.success());
    assert!(String::from_utf8_lossy(&v.stdout).starts_with("csrbatch "));
    for sub in ["generate", "validate"] {
        let h = csrbatch([sub, "--help"]);
        assert!(h.status.success());
        assert!(String::from_utf8_lossy(&h.stdout).contains("Example"), "{sub} --help has an example");
    }
    assert_eq!(csrbatch(["generate"]).status.code(), Some(2), "missing PATH is bad usage");
    assert_eq!(csrbatch(["frobnicate"]).status.code(), Some(2));
}
