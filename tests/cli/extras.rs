//! KeyUsage, ExtendedKeyUsage and ChallengePassword from manifests (YAML lists, CSV comma
//! strings, `defaults:`): in the CSRs as openssl reads them, in summary.json, compared as
//! sets on re-runs; bad values are exit 2 with nothing written.

use crate::util::{Dir, csrbatch, openssl, openssl_verifies, read_summary, stderr};

const MANIFEST: &str = "defaults:
  CountryCode: CN
  Province: Zhejiang
  Locality: Hangzhou
  ExtendedKeyUsage: [serverAuth, clientAuth]
requests:
  - CommonName: sm2.example.com
    Algorithm: SM2
    KeyUsage: digitalSignature,nonRepudiation
    ChallengePassword: hello-123
  - CommonName: rsa.example.com
    Algorithm: RSA
    KeySize: 2048
    KeyUsage: [digitalSignature, keyEncipherment]
";

fn text_of(csr: &std::path::Path) -> String {
    String::from_utf8(openssl(&["req", "-in", csr.to_str().unwrap(), "-noout", "-text"]).stdout).unwrap()
}

#[test]
fn extensions_reach_the_csrs_the_summary_and_the_resubject_rule() {
    let dir = Dir::new();
    let m = dir.write("m.yaml", MANIFEST);
    let out = dir.path("out");
    let run = |extra: &[&str]| {
        let mut args = vec!["generate", m.to_str().unwrap(), "--out", out.to_str().unwrap(), "-q"];
        args.extend(extra);
        csrbatch(&args)
    };
    let o = run(&[]);
    assert!(o.status.success(), "{}", stderr(&o));
    let sm2 = out.join("sm2.example.com.csr.pem");
    let rsa = out.join("rsa.example.com.csr.pem");
    assert!(openssl_verifies(&sm2, true).0, "SM2 with extensions verifies with distid 1234567812345678");
    assert!(openssl_verifies(&rsa, false).0);
    let t = text_of(&sm2);
    for want in [
        "Digital Signature, Non Repudiation",
        "TLS Web Server Authentication, TLS Web Client Authentication",
        "challengePassword",
        "hello-123",
    ] {
        assert!(t.contains(want), "{want}: {t}");
    }
    let t = text_of(&rsa);
    assert!(
        t.contains("X509v3 Key Usage: critical") && t.contains("Digital Signature, Key Encipherment"),
        "{t}"
    );
    assert!(!t.contains("challengePassword"), "{t}");
    let summary = read_summary(&out);
    let json = serde_json::to_value(&summary.csrs).unwrap();
    assert_eq!(json[0]["KeyUsage"], serde_json::json!(["digitalSignature", "nonRepudiation"]));
    assert_eq!(json[0]["ExtendedKeyUsage"], serde_json::json!(["serverAuth", "clientAuth"]));
    assert_eq!(json[0]["HasChallengePassword"], true);
    assert_eq!(json[1]["HasChallengePassword"], serde_json::Value::Null);

    // The same sets in another order and spelling: nothing to do.
    let reordered = MANIFEST
        .replace("[serverAuth, clientAuth]", "\"1.3.6.1.5.5.7.3.2, serverauth\"")
        .replace("digitalSignature,nonRepudiation", "[nonRepudiation, digitalSignature]");
    std::fs::write(&m, reordered).unwrap();
    let o = run(&["--check"]);
    assert_eq!(o.status.code(), Some(0), "{}{}", String::from_utf8_lossy(&o.stdout), stderr(&o));
    // One usage fewer: a new CSR with the same key.
    let key_before = std::fs::read(out.join("sm2.example.com.key.pem")).unwrap();
    std::fs::write(&m, MANIFEST.replace("digitalSignature,nonRepudiation", "digitalSignature")).unwrap();
    let o = run(&[]);
    assert!(o.status.success(), "{}", stderr(&o));
    let states: Vec<_> = read_summary(&out).csrs.iter().map(|e| e.state.unwrap().as_str()).collect();
    assert_eq!(states, ["resubject", "unchanged"]);
    assert_eq!(std::fs::read(out.join("sm2.example.com.key.pem")).unwrap(), key_before);
    assert!(!text_of(&sm2).contains("Non Repudiation"));
}

#[test]
fn bad_usages_are_exit_2_naming_the_field_and_nothing_is_written() {
    let dir = Dir::new();
    let m = dir.write(
        "m.csv",
        "Algorithm,CommonName,CountryCode,Province,Locality,KeyUsage,ExtendedKeyUsage\n\
         ECC,a.example,CN,Zhejiang,Hangzhou,\"digitalSignature,keyEncipherment\",serverAuth\n\
         SM2,b.example,CN,Zhejiang,Hangzhou,digitalSignature,webAuth\n",
    );
    let out = dir.path("out");
    let o = csrbatch(["generate", m.to_str().unwrap(), "--out", out.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2));
    let err = stderr(&o);
    assert!(
        err.contains(
            "m.csv:2: request \"a.example\": KeyUsage: keyEncipherment cannot be asked for with an ECC key"
        ),
        "{err}"
    );
    assert!(
        err.contains(
            "m.csv:3: request \"b.example\": ExtendedKeyUsage: `webAuth` is not an extended key usage"
        ),
        "{err}"
    );
    assert!(!out.exists());
}

#[test]
fn errors_of_the_new_fields_are_on_their_own_lines_in_requests_and_defaults() {
    let dir = Dir::new();
    let m = dir.write(
        "m.yaml",
        "defaults:
  CountryCode: CN
  Province: Zhejiang
  Locality: Hangzhou
  KeyUsage: [digitalSignature, signEverything]
requests:
  - CommonName: a.example
    Algorithm: ECC
    ExtendedKeyUsage:
      - serverAuth
      - 1.2.x
    ChallengePassword: \"bad\\ttab\"
    KeyFile: keys/none.pem
",
    );
    let out = dir.path("out");
    for command in ["validate", "generate", "plan"] {
        let mut args = vec![command, m.to_str().unwrap()];
        if command != "validate" {
            args.extend(["--out", out.to_str().unwrap()]);
        }
        let o = csrbatch(&args);
        assert_eq!(o.status.code(), Some(2), "{command}");
        let err = stderr(&o);
        for want in [
            "m.yaml:5: request \"a.example\": KeyUsage: `signEverything` is not a key usage",
            "m.yaml:9: request \"a.example\": ExtendedKeyUsage: `1.2.x` is not an extended key usage",
            "m.yaml:12: request \"a.example\": ChallengePassword: contains a control character (U+0009)",
        ] {
            assert!(err.contains(want), "{command}: `{want}` missing:\n{err}");
        }
        assert!(!out.exists());
    }
    // With the other fields right, the KeyFile error is on its own line too.
    let fixed = std::fs::read_to_string(&m)
        .unwrap()
        .replace(", signEverything", "")
        .replace("      - 1.2.x\n", "")
        .replace("bad\\ttab", "fine");
    std::fs::write(&m, fixed).unwrap();
    let o = csrbatch(["validate", m.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2));
    let err = stderr(&o);
    assert!(err.contains("m.yaml:12: request \"a.example\": KeyFile: "), "{err}");
    assert!(err.contains("keys/none.pem: cannot read it"), "{err}");
}

#[test]
fn json_documents_never_carry_the_challenge_password() {
    const SECRET: &str = "Zq7-challenge-secret";
    let dir = Dir::new();
    let good = MANIFEST.replace("hello-123", SECRET);
    let m = dir.write("m.yaml", &good);
    let out = dir.path("out");
    let o_str = out.to_str().unwrap();
    let m_str = m.to_str().unwrap();
    let runs: [&[&str]; 4] = [
        &["validate", m_str, "--json"],
        &["plan", m_str, "--out", o_str, "--json"],
        &["generate", m_str, "--out", o_str, "-q", "--json"],
        &["generate", m_str, "--out", o_str, "--check", "--json"],
    ];
    for args in runs {
        let o = csrbatch(args);
        assert_eq!(o.status.code(), Some(0), "{args:?}: {}", stderr(&o));
        let doc = String::from_utf8(o.stdout.clone()).unwrap();
        assert!(doc.contains("\"Requests\""), "{args:?}: {doc}");
        assert!(!doc.contains(SECRET) && !stderr(&o).contains(SECRET), "{args:?}: {doc}");
    }
    // The CSR does hold it (that is what the attribute is for).
    assert!(text_of(&out.join("sm2.example.com.csr.pem")).contains(SECRET));
    // A password that breaks a rule: the error says which rule, not the password.
    let long = format!("{SECRET}{}", "x".repeat(300));
    let m = dir.write("bad.yaml", &MANIFEST.replace("hello-123", &long));
    for command in ["validate", "plan", "generate"] {
        let mut args = vec![command, m.to_str().unwrap(), "--json"];
        if command != "validate" {
            args.extend(["--out", o_str]);
        }
        let o = csrbatch(&args);
        assert_eq!(o.status.code(), Some(2), "{command}");
        let doc = String::from_utf8(o.stdout.clone()).unwrap();
        assert!(doc.contains("ChallengePassword"), "{command}: {doc}");
        assert!(!doc.contains(SECRET) && !stderr(&o).contains(SECRET), "{command}: {doc}");
    }
}
