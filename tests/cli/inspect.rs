//! `csrbatch inspect` on CSRs made by openssl: RSA, ECC, SM2 with and without the
//! standard distinguishing ID, a signature with one byte flipped, DER, several per file.

use std::path::PathBuf;

use serde_json::Value;

use crate::util::{Dir, csrbatch, openssl, rewrap, stderr, with_stdout_closed};

fn ok(args: &[&str]) {
    let o = openssl(args);
    assert!(o.status.success(), "openssl {args:?}: {}", String::from_utf8_lossy(&o.stderr));
}

/// openssl-made keys and CSRs: (csr, key).
fn openssl_csrs(dir: &Dir) -> Vec<(&'static str, PathBuf)> {
    let p = |n: &str| dir.path(n).to_str().unwrap().to_owned();
    ok(&["genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048", "-out", &p("rsa.key")]);
    ok(&["genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out", &p("ec.key")]);
    ok(&["genpkey", "-algorithm", "SM2", "-out", &p("sm2.key")]);
    let subj = "/C=CN/ST=Zhejiang/L=Hangzhou/O=Example Org/OU=IT/CN=www.example.com";
    let san = "subjectAltName=DNS:www.example.com,DNS:api.example.com,IP:192.0.2.7";
    let common = ["-subj", subj, "-addext", san];
    let req = |key: &str, out: &str, extra: &[&str]| {
        let mut args = vec!["req", "-new", "-key", key, "-out", out];
        args.extend(common);
        args.extend(extra);
        ok(&args);
    };
    req(
        &p("rsa.key"),
        &p("rsa.csr"),
        &[
            "-addext",
            "keyUsage=critical,digitalSignature,keyEncipherment",
            "-addext",
            "extendedKeyUsage=serverAuth,clientAuth",
        ],
    );
    req(&p("ec.key"), &p("ec.csr"), &["-addext", "extendedKeyUsage=serverAuth"]);
    req(&p("sm2.key"), &p("sm2-std.csr"), &["-sm3", "-sigopt", "distid:1234567812345678"]);
    req(&p("sm2.key"), &p("sm2-empty.csr"), &["-sm3"]);
    vec![
        ("rsa", dir.path("rsa.csr")),
        ("ec", dir.path("ec.csr")),
        ("sm2-std", dir.path("sm2-std.csr")),
        ("sm2-empty", dir.path("sm2-empty.csr")),
    ]
}

fn inspect_json(files: &[&PathBuf]) -> (i32, Value) {
    let mut args: Vec<String> = vec!["inspect".into(), "--json".into()];
    args.extend(files.iter().map(|f| f.to_str().unwrap().to_owned()));
    let o = csrbatch(&args);
    let json = serde_json::from_slice(&o.stdout).unwrap_or_else(|e| panic!("{e}: {}", stderr(&o)));
    (o.status.code().unwrap(), json)
}

fn spki_sha256(csr: &std::path::Path) -> String {
    let pem = openssl(&["req", "-in", csr.to_str().unwrap(), "-noout", "-pubkey"]).stdout;
    let dir = Dir::new();
    let pub_pem = dir.write("pub.pem", &String::from_utf8(pem).unwrap());
    let o = openssl(&[
        "pkey",
        "-pubin",
        "-in",
        pub_pem.to_str().unwrap(),
        "-outform",
        "DER",
        "-out",
        dir.path("pub.der").to_str().unwrap(),
    ]);
    assert!(o.status.success());
    let o = openssl(&["dgst", "-sha256", "-r", dir.path("pub.der").to_str().unwrap()]);
    String::from_utf8(o.stdout).unwrap().split_whitespace().next().unwrap().to_owned()
}

#[test]
fn openssl_csrs_are_read_under_the_create_csr_names() {
    let dir = Dir::new();
    let csrs = openssl_csrs(&dir);
    for (what, csr) in &csrs {
        let (code, json) = inspect_json(&[csr]);
        let info = &json["Files"][0]["Csrs"][0];
        assert_eq!(json["Files"][0]["Csrs"].as_array().unwrap().len(), 1, "{what}");
        assert_eq!(info["CommonName"], "www.example.com", "{what}");
        assert_eq!(info["CountryCode"], "CN", "{what}");
        assert_eq!(info["Province"], "Zhejiang", "{what}");
        assert_eq!(info["Locality"], "Hangzhou", "{what}");
        assert_eq!(info["CorpName"], "Example Org", "{what}");
        assert_eq!(info["Department"], "IT", "{what}");
        assert_eq!(
            info["Sans"],
            serde_json::json!(["www.example.com", "api.example.com", "192.0.2.7"]),
            "{what}"
        );
        assert_eq!(info["KeySha2"], spki_sha256(csr), "{what}");
        let (algorithm, signature, valid, id) = match *what {
            "rsa" => ("RSA", "sha256WithRSAEncryption", true, Value::Null),
            "ec" => ("ECC", "ecdsa-with-SHA256", true, Value::Null),
            "sm2-std" => ("SM2", "SM2-with-SM3", true, "1234567812345678".into()),
            _ => ("SM2", "SM2-with-SM3", false, "empty".into()),
        };
        assert_eq!(info["Algorithm"], algorithm, "{what}");
        assert_eq!(info["KeySize"], if algorithm == "RSA" { 2048 } else { 256 }, "{what}");
        assert_eq!(info["SignatureAlgorithm"], signature, "{what}");
        assert_eq!(info["SignatureValid"], valid, "{what}");
        assert_eq!(info["Sm2DistinguishingId"], id, "{what}");
        assert_eq!(code, if valid { 0 } else { 1 }, "{what}");
        assert_eq!(json["AllValid"], valid, "{what}");
    }
    let (_, json) = inspect_json(&[&csrs[0].1]);
    let rsa = &json["Files"][0]["Csrs"][0];
    assert_eq!(rsa["KeyUsage"], serde_json::json!(["digitalSignature", "keyEncipherment"]));
    assert_eq!(rsa["ExtendedKeyUsage"], serde_json::json!(["serverAuth", "clientAuth"]));
    assert_eq!(rsa["ChallengePassword"], false);

    // The human form says what is wrong with an empty-ID SM2 CSR and what CAs expect.
    let o = csrbatch(["inspect", csrs[3].1.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(1));
    let text = String::from_utf8(o.stdout).unwrap();
    assert!(text.contains("SignatureValid:    NO with distinguishing ID 1234567812345678"), "{text}");
    assert!(text.contains("only with an empty distinguishing ID; CAs expect 1234567812345678"), "{text}");
    let o = csrbatch(["inspect", csrs[2].1.to_str().unwrap(), csrs[0].1.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(String::from_utf8(o.stdout).unwrap().contains("CommonName:        www.example.com"));
}

#[test]
fn a_flipped_signature_byte_is_invalid_and_der_and_bundles_are_read() {
    let dir = Dir::new();
    let csrs = openssl_csrs(&dir);
    for (what, csr) in &csrs[..3] {
        let der_path = dir.path(&format!("{what}.der"));
        ok(&["req", "-in", csr.to_str().unwrap(), "-outform", "DER", "-out", der_path.to_str().unwrap()]);
        let (code, json) = inspect_json(&[&der_path]);
        assert_eq!((code, &json["Files"][0]["Csrs"][0]["SignatureValid"]), (0, &Value::Bool(true)), "{what}");
        let mut der = std::fs::read(&der_path).unwrap();
        let at = der.len() - 4; // inside the signature, the last element
        der[at] ^= 0x01;
        let flipped = dir.path(&format!("{what}-flipped.der"));
        std::fs::write(&flipped, &der).unwrap();
        let (code, json) = inspect_json(&[&flipped]);
        assert_eq!(code, 1, "{what}");
        assert_eq!(json["Files"][0]["Csrs"][0]["SignatureValid"], false, "{what}");
        assert_eq!(json["Files"][0]["Csrs"][0]["CommonName"], "www.example.com", "{what}");
        // openssl agrees that it is broken.
        let o = openssl(&["req", "-in", flipped.to_str().unwrap(), "-inform", "DER", "-noout", "-verify"]);
        let said = format!("{}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr));
        assert!(!said.contains("verify OK"), "{what}: {said}");
    }
    // Several PEM CSRs in one file, with text around them.
    let bundle: String =
        csrs.iter().map(|(w, c)| format!("# {w}\n{}", std::fs::read_to_string(c).unwrap())).collect();
    let bundle_path = dir.write("bundle.pem", &bundle);
    let (code, json) = inspect_json(&[&bundle_path]);
    assert_eq!(code, 1, "the empty-ID SM2 CSR is in the bundle");
    let valid: Vec<_> =
        json["Files"][0]["Csrs"].as_array().unwrap().iter().map(|c| c["SignatureValid"].clone()).collect();
    assert_eq!(valid, [true, true, true, false]);
}

#[test]
fn openssl_csrs_laid_out_as_other_tools_write_pem_read_the_same() {
    let dir = Dir::new();
    let csrs = openssl_csrs(&dir);
    let note = "Requested by: ops (ticket 42)";
    for (what, csr) in &csrs {
        let made = std::fs::read_to_string(csr).unwrap();
        let (code, want) = inspect_json(&[csr]);
        // 76 columns and CRLF (Python's base64.encodebytes on Windows), one long line.
        for (width, eol) in [(76, "\r\n"), (0, "\n")] {
            let laid_out = dir.write(&format!("{what}-{width}.csr"), &rewrap(&made, width, eol, note));
            // openssl reads the file as the same request.
            let der =
                |path: &PathBuf| openssl(&["req", "-in", path.to_str().unwrap(), "-outform", "DER"]).stdout;
            assert!(!der(csr).is_empty() && der(&laid_out) == der(csr), "{what} {width}");
            let (got_code, got) = inspect_json(&[&laid_out]);
            assert_eq!(got["Files"][0]["Csrs"], want["Files"][0]["Csrs"], "{what} {width}");
            assert_eq!(got["Files"][0]["Csrs"][0]["KeySha2"], spki_sha256(&laid_out), "{what} {width}");
            assert_eq!(got_code, code, "{what} {width}");
        }
    }
    // All four in one file, text before, between and after them.
    let all: String = csrs.iter().map(|(_, c)| std::fs::read_to_string(c).unwrap()).collect();
    let bundle = dir.write("bundle-76.pem", &rewrap(&all, 76, "\r\n", note));
    let (code, json) = inspect_json(&[&bundle]);
    let valid: Vec<_> =
        json["Files"][0]["Csrs"].as_array().unwrap().iter().map(|c| c["SignatureValid"].clone()).collect();
    assert_eq!((code, valid), (1, vec![true.into(), true.into(), true.into(), false.into()]));
    // Cut short: the error names the block's line.
    let text = rewrap(&std::fs::read_to_string(&csrs[0].1).unwrap(), 76, "\r\n", note);
    let cut = dir.write("cut.csr", &text[..text.find("-----END").unwrap()]);
    let (code, json) = inspect_json(&[&cut]);
    assert_eq!(code, 2);
    assert_eq!(
        json["Files"][0]["Errors"][0],
        "CSR #1: not valid PEM: line 2: `-----BEGIN CERTIFICATE REQUEST-----` has no \
         `-----END CERTIFICATE REQUEST-----` line"
    );
}

#[test]
fn unreadable_input_is_exit_2() {
    let dir = Dir::new();
    let not_csr = dir.write("key.pem", "-----BEGIN PRIVATE KEY-----\nMAA=\n-----END PRIVATE KEY-----\n");
    let garbage = dir.write(
        "garbage.csr",
        "-----BEGIN CERTIFICATE REQUEST-----\nMAA=\n-----END CERTIFICATE REQUEST-----\n",
    );
    let missing = dir.path("missing.csr");
    for args in [
        vec!["inspect", missing.to_str().unwrap()],
        vec!["inspect", not_csr.to_str().unwrap()],
        vec!["inspect", garbage.to_str().unwrap()],
    ] {
        let o = csrbatch(&args);
        assert_eq!(o.status.code(), Some(2), "{args:?}: {}", stderr(&o));
        assert!(stderr(&o).contains("error: "), "{args:?}");
    }
    let o = csrbatch(["inspect", "--json", garbage.to_str().unwrap()]);
    let json: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert!(json["Files"][0]["Errors"][0].as_str().unwrap().contains("not a PKCS#10 CertificationRequest"));
}

#[test]
fn a_reader_that_goes_away_does_not_change_the_verdict() {
    // `csrbatch inspect bad.der | head -0`: still exit 1 for an invalid signature, no panic.
    let dir = Dir::new();
    let csrs = openssl_csrs(&dir);
    let der_path = dir.path("ec-closed.der");
    ok(&["req", "-in", csrs[1].1.to_str().unwrap(), "-outform", "DER", "-out", der_path.to_str().unwrap()]);
    let mut der = std::fs::read(&der_path).unwrap();
    let at = der.len() - 4;
    der[at] ^= 0x01;
    std::fs::write(&der_path, &der).unwrap();
    for json in [false, true] {
        let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_csrbatch"));
        cmd.arg("inspect").arg(&der_path);
        if json {
            cmd.arg("--json");
        }
        let run = with_stdout_closed(&mut cmd);
        let err = String::from_utf8_lossy(&run.stderr);
        assert_eq!(run.status.code(), Some(1), "json {json}: {err}");
        assert!(!err.contains("panicked"), "{err}");
    }
}

/// openssl's lower-case SHA-256 fingerprint (no colons) and serial of a PEM certificate.
fn openssl_fingerprint_and_serial(cert: &std::path::Path) -> (String, String) {
    let c = cert.to_str().unwrap();
    let text = |args: &[&str]| String::from_utf8(openssl(args).stdout).unwrap();
    let fp = text(&["x509", "-in", c, "-noout", "-fingerprint", "-sha256"]);
    let serial = text(&["x509", "-in", c, "-noout", "-serial"]);
    (
        fp.trim().rsplit('=').next().unwrap().replace(':', "").to_ascii_lowercase(),
        serial.trim().trim_start_matches("serial=").to_ascii_lowercase(),
    )
}

#[test]
fn certificates_and_chains_are_inspected_in_every_form_with_the_key() {
    let dir = Dir::new();
    let p = |n: &str| dir.path(n).to_str().unwrap().to_owned();
    let ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes"];
    let ca_ext = ["-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign"];
    let mut root = vec!["req", "-x509", "-keyout", "root.key", "-out", "root.pem", "-days", "3650"];
    root.extend(ec);
    root.extend(["-subj", "/O=Test CA/CN=Test Root"]);
    root.extend(ca_ext);
    let mut int_req =
        vec!["req", "-new", "-keyout", "int.key", "-out", "int.csr", "-subj", "/O=Test CA/CN=Test Int"];
    int_req.extend(ec);
    let mut leaf_req = vec!["req", "-new", "-keyout", "leaf.key", "-out", "leaf.csr"];
    leaf_req.extend(ec);
    leaf_req.extend([
        "-subj",
        "/C=CN/ST=Zhejiang/L=Hangzhou/O=Example Org/OU=IT/CN=www.example.com",
        "-addext",
        "subjectAltName=DNS:www.example.com,DNS:api.example.com",
    ]);
    std::fs::write(dir.path("ca.ext"), "basicConstraints=critical,CA:TRUE\nkeyUsage=critical,keyCertSign\n")
        .unwrap();
    let steps: Vec<Vec<String>> = vec![
        root.iter().map(|s| s.to_string()).collect(),
        int_req.iter().map(|s| s.to_string()).collect(),
        "x509 -req -in int.csr -CA root.pem -CAkey root.key -set_serial 2 -extfile ca.ext -days 1825 -out int.pem"
            .split(' ')
            .map(str::to_owned)
            .collect(),
        leaf_req.iter().map(|s| s.to_string()).collect(),
        "x509 -req -in leaf.csr -CA int.pem -CAkey int.key -set_serial 0x0abc -copy_extensions copy -days 90 -out leaf.pem"
            .split(' ')
            .map(str::to_owned)
            .collect(),
        "crl2pkcs7 -nocrl -certfile leaf.pem -certfile int.pem -outform DER -out chain.p7b"
            .split(' ')
            .map(str::to_owned)
            .collect(),
        "pkcs8 -topk8 -in leaf.key -v2 aes-256-cbc -passout pass:k3y -out leaf-enc.key"
            .split(' ')
            .map(str::to_owned)
            .collect(),
    ];
    for step in &steps {
        let o = std::process::Command::new("openssl").args(step).current_dir(dir.path("")).output().unwrap();
        assert!(o.status.success(), "openssl {step:?}: {}", String::from_utf8_lossy(&o.stderr));
    }
    let leaf = std::fs::read_to_string(dir.path("leaf.pem")).unwrap();
    let int = std::fs::read_to_string(dir.path("int.pem")).unwrap();
    let chain = dir.write("fullchain.pem", &format!("leaf:\n{leaf}\nissued by:\n{int}"));
    // 76 columns, as Python's base64.encodebytes writes it.
    let script = "import base64,ssl,sys; der=ssl.PEM_cert_to_DER_cert(open(sys.argv[1]).read()); \
                  open(sys.argv[2],'w').write('-----BEGIN CERTIFICATE-----\\n'+base64.encodebytes(der).decode()+'-----END CERTIFICATE-----\\n')";
    let o = std::process::Command::new("python3")
        .args(["-c", script, &p("leaf.pem"), &p("leaf-76.pem")])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(std::fs::read_to_string(dir.path("leaf-76.pem")).unwrap().lines().any(|l| l.len() == 76));

    let (code, json) = inspect_json(&[&chain]);
    assert_eq!(code, 0, "{json}");
    let file = &json["Files"][0];
    assert_eq!(file["Csrs"].as_array().unwrap().len(), 0);
    let certs = file["Certificates"].as_array().unwrap();
    assert_eq!(certs.len(), 2);
    let c = &certs[0];
    assert_eq!(c["CommonName"], "www.example.com");
    assert_eq!(c["CorpName"], "Example Org");
    assert_eq!(c["Locality"], "Hangzhou");
    assert_eq!(c["Sans"], serde_json::json!(["www.example.com", "api.example.com"]));
    assert_eq!(c["Issuer"], "CN=Test Int,O=Test CA");
    let (fingerprint, serial) = openssl_fingerprint_and_serial(&dir.path("leaf.pem"));
    assert_eq!(
        (c["Sha256Fingerprint"].as_str().unwrap(), c["Serial"].as_str().unwrap()),
        (&*fingerprint, &*serial)
    );
    assert_eq!(c["KeySha2"], spki_sha256(&dir.path("leaf.csr")));
    assert_eq!((c["Algorithm"].as_str(), c["KeySize"].as_u64()), (Some("ECC"), Some(256)));
    assert!(matches!(c["DaysLeft"].as_i64(), Some(89 | 90)), "{c}");
    assert_eq!(c["Validity"], "valid");
    assert!(c["NotAfter"].as_str().unwrap().ends_with('Z'));
    assert_eq!((&c["IsCa"], &c["IssuedBy"]), (&Value::Bool(false), &Value::from(2)));
    assert_eq!((&certs[1]["IsCa"], &certs[1]["CommonName"]), (&Value::Bool(true), &Value::from("Test Int")));
    // The same certificates from the 76-column PEM, DER and the p7b.
    let o = openssl(&["x509", "-in", &p("leaf.pem"), "-outform", "DER", "-out", &p("leaf.der")]);
    assert!(o.status.success());
    for other in ["leaf-76.pem", "leaf.der"] {
        let (code, got) = inspect_json(&[&dir.path(other)]);
        assert_eq!(code, 0, "{other}");
        let mut want = c.clone();
        want.as_object_mut().unwrap().remove("IssuedBy");
        assert_eq!(got["Files"][0]["Certificates"][0], want, "{other}");
    }
    let (code, got) = inspect_json(&[&dir.path("chain.p7b")]);
    assert_eq!((code, &got["Files"][0]["Certificates"]), (0, &file["Certificates"]));
    // A CSR file is read as before, with no certificates.
    let (code, got) = inspect_json(&[&dir.path("leaf.csr")]);
    assert_eq!(code, 0);
    assert_eq!(
        (got["Files"][0]["Csrs"].as_array().unwrap().len(), &got["Files"][0]["Certificates"]),
        (1, &serde_json::json!([]))
    );
    // --key: the leaf's key (encrypted, with its passphrase from the environment) matches.
    let run = |key: &str, json: bool| {
        let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_csrbatch"));
        cmd.args([
            "inspect",
            chain.to_str().unwrap(),
            "--key",
            &p(key),
            "--key-passphrase-env",
            "INSPECT_KEY_PW",
        ]);
        if json {
            cmd.arg("--json");
        }
        cmd.env("INSPECT_KEY_PW", "k3y").output().unwrap()
    };
    let o = run("leaf-enc.key", true);
    let json: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert_eq!(json["Files"][0]["Certificates"][0]["KeyMatches"], true);
    assert_eq!(json["Files"][0]["Certificates"][1]["KeyMatches"], false);
    let o = run("leaf-enc.key", false);
    let text = String::from_utf8(o.stdout).unwrap();
    for want in [
        "(certificate #1)",
        "CommonName:        www.example.com",
        "Issuer:            CN=Test Int,O=Test CA",
        "DaysLeft:",
        "Sha256Fingerprint: ",
        "KeyMatches:        yes (",
        "IssuedBy:          certificate #2",
    ] {
        assert!(text.contains(want), "{want}: {text}");
    }
    // Another key: exit 1; a key that cannot be opened: exit 2.
    let o = run("root.key", true);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    let o = csrbatch(["inspect", chain.to_str().unwrap(), "--key", &p("leaf-enc.key")]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(stderr(&o).contains("--key"), "{}", stderr(&o));
}
