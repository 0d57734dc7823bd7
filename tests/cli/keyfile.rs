//! `KeyFile` (CSRs for keys users already have, made by openssl in every form) and
//! `--key-format traditional`, end to end through the binary, judged by openssl.

use std::path::Path;

use crate::util::{Dir, csrbatch, openssl, openssl_pubkeys, openssl_verifies, read_summary, rewrap, stderr};

fn ok(args: &[&str]) {
    let o = openssl(args);
    assert!(o.status.success(), "openssl {args:?}: {}", String::from_utf8_lossy(&o.stderr));
}

fn generate(manifest: &Path, out: &Path, extra: &[&str]) -> std::process::Output {
    let mut args = vec!["generate", manifest.to_str().unwrap(), "--out", out.to_str().unwrap(), "-q"];
    args.extend(extra);
    csrbatch(&args)
}

/// Keys in every form openssl writes, in `keys/` beside the manifest.
fn make_keys(dir: &Dir) {
    std::fs::create_dir_all(dir.path("keys")).unwrap();
    let p = |n: &str| dir.path(&format!("keys/{n}")).to_str().unwrap().to_owned();
    ok(&["genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048", "-out", &p("rsa.p8")]);
    ok(&["rsa", "-in", &p("rsa.p8"), "-traditional", "-out", &p("rsa.p1")]);
    ok(&["genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out", &p("ec.p8")]);
    ok(&["ec", "-in", &p("ec.p8"), "-out", &p("ec.sec1")]);
    ok(&["genpkey", "-algorithm", "SM2", "-out", &p("sm2.p8")]);
    ok(&["ec", "-in", &p("sm2.p8"), "-out", &p("sm2.sm2label")]);
    let sec1 =
        std::fs::read_to_string(p("sm2.sm2label")).unwrap().replace("SM2 PRIVATE KEY", "EC PRIVATE KEY");
    dir.write("keys/sm2.sec1", &sec1);
    ok(&["genpkey", "-algorithm", "SM2", "-aes256", "-pass", "pass:open sesame", "-out", &p("sm2.enc")]);
}

/// (Name, Algorithm and KeySize lines, key file in keys/).
type Request = (&'static str, &'static str, &'static str);

const REQUESTS: [Request; 8] = [
    ("rsa-p8", "RSA\n    KeySize: 2048", "rsa.p8"),
    ("rsa-p1", "RSA\n    KeySize: 2048", "rsa.p1"),
    ("ec-p8", "ECC", "ec.p8"),
    ("ec-sec1", "ECC", "ec.sec1"),
    ("sm2-p8", "SM2", "sm2.p8"),
    ("sm2-sec1", "SM2", "sm2.sec1"),
    ("sm2-label", "SM2", "sm2.sm2label"),
    ("sm2-enc", "SM2", "sm2.enc"),
];

fn manifest(requests: &[Request]) -> String {
    let mut m =
        String::from("defaults:\n  CountryCode: CN\n  Province: Zhejiang\n  Locality: Hangzhou\nrequests:\n");
    for (name, algorithm, key) in requests {
        m += &format!(
            "  - Name: {name}\n    CommonName: {name}.example.com\n    Algorithm: {algorithm}\n    KeyFile: keys/{key}\n    KeyUsage: digitalSignature\n"
        );
    }
    m
}

#[test]
fn csrs_for_openssl_keys_in_every_form_and_the_keys_are_left_alone() {
    let dir = Dir::new();
    make_keys(&dir);
    let m = dir.write("m.yaml", &manifest(&REQUESTS));
    let pass = dir.write("pass", "open sesame\n");
    let out = dir.path("out");
    let keys_before: Vec<Vec<u8>> =
        REQUESTS.iter().map(|(_, _, k)| std::fs::read(dir.path(&format!("keys/{k}"))).unwrap()).collect();
    let o = generate(&m, &out, &["--key-passphrase-file", pass.to_str().unwrap()]);
    assert!(o.status.success(), "{}", stderr(&o));
    let summary = read_summary(&out);
    for (i, (name, _, key)) in REQUESTS.iter().enumerate() {
        let csr = out.join(format!("{name}.csr.pem"));
        let key_path = dir.path(&format!("keys/{key}"));
        assert!(openssl_verifies(&csr, name.starts_with("sm2")).0, "{name}");
        let (from_key, from_csr) = if *name == "sm2-enc" {
            let k = openssl(&[
                "pkey",
                "-in",
                key_path.to_str().unwrap(),
                "-passin",
                "pass:open sesame",
                "-pubout",
            ]);
            let c = openssl(&["req", "-in", csr.to_str().unwrap(), "-noout", "-pubkey"]);
            (String::from_utf8(k.stdout).unwrap(), String::from_utf8(c.stdout).unwrap())
        } else {
            openssl_pubkeys(&key_path, &csr)
        };
        assert!(from_key.contains("BEGIN PUBLIC KEY"), "{name}");
        assert_eq!(from_key, from_csr, "{name}: the CSR carries the user's key");
        assert!(!out.join(format!("{name}.key.pem")).exists(), "{name}: the key is never copied");
        let entry = summary.csrs.iter().find(|e| e.name == *name).unwrap();
        assert_eq!(entry.key_file.as_deref(), Some(key_path.to_str().unwrap()), "{name}");
        assert!(entry.has_private_key && entry.key_sha2.is_some(), "{name}");
        assert_eq!(
            std::fs::read(&key_path).unwrap(),
            keys_before[i],
            "{name}: the key file is byte-identical"
        );
    }
    // Re-run: unchanged while key and request are.
    let o = generate(&m, &out, &["--key-passphrase-file", pass.to_str().unwrap(), "--check"]);
    assert_eq!(o.status.code(), Some(0), "{}{}", String::from_utf8_lossy(&o.stdout), stderr(&o));
    // A changed key file is a new CSR for the new key (rekey); the other requests stay.
    ok(&[
        "genpkey",
        "-algorithm",
        "EC",
        "-pkeyopt",
        "ec_paramgen_curve:P-256",
        "-out",
        dir.path("keys/ec.p8").to_str().unwrap(),
    ]);
    let o = generate(&m, &out, &["--key-passphrase-file", pass.to_str().unwrap()]);
    assert!(o.status.success(), "{}", stderr(&o));
    let summary = read_summary(&out);
    for e in &summary.csrs {
        let want = if e.name == "ec-p8" { "rekey" } else { "unchanged" };
        assert_eq!(e.state.map(|s| s.as_str()), Some(want), "{}", e.name);
    }
    let (from_key, from_csr) = openssl_pubkeys(&dir.path("keys/ec.p8"), &out.join("ec-p8.csr.pem"));
    assert_eq!(from_key, from_csr);
}

#[test]
fn an_unusable_key_file_is_exit_2_naming_it_and_nothing_is_written() {
    let dir = Dir::new();
    make_keys(&dir);
    let out = dir.path("out");
    let pass = dir.write("pass", "wrong\n");
    let cases: [(&[Request], &[&str], &str); 4] = [
        (
            &[("a", "RSA\n    KeySize: 2048", "ec.p8")],
            &[],
            "/keys/ec.p8: it is an ECC-256 key, the request asks for RSA-2048",
        ),
        (
            &[("a", "RSA\n    KeySize: 3072", "rsa.p1")],
            &[],
            "it is an RSA-2048 key, the request asks for RSA-3072",
        ),
        (&[("a", "SM2", "missing.pem")], &[], "/keys/missing.pem: cannot read it"),
        (
            &[("a", "SM2", "sm2.enc")],
            &["--key-passphrase-file"],
            "cannot decrypt it with the passphrase given",
        ),
    ];
    for (requests, extra, want) in cases {
        let text = manifest(requests);
        // The error is on the KeyFile field's own line.
        let line = text.lines().position(|l| l.contains("KeyFile:")).unwrap() + 1;
        let at = format!("m.yaml:{line}: request \"a\": KeyFile: ");
        let m = dir.write("m.yaml", &text);
        let mut args: Vec<&str> = extra.to_vec();
        if !extra.is_empty() {
            args.push(pass.to_str().unwrap());
        }
        for command in ["generate", "plan"] {
            let mut full = vec![command, m.to_str().unwrap(), "--out", out.to_str().unwrap()];
            full.extend(&args);
            let o = csrbatch(&full);
            assert_eq!(o.status.code(), Some(2), "{command} {want}: {}", stderr(&o));
            let err = stderr(&o);
            assert!(err.contains(&at), "{at}: {err}");
            assert!(err.contains(want), "{want}: {err}");
            assert!(!out.exists(), "nothing written");
        }
    }
}

#[test]
fn traditional_keys_are_pkcs1_and_sec1_read_by_openssl_and_the_folder_keeps_the_format() {
    let dir = Dir::new();
    let m = dir.write(
        "m.yaml",
        "defaults: {CountryCode: CN, Province: Zhejiang, Locality: Hangzhou}\nrequests:\n\
         - {CommonName: rsa.example.com, Algorithm: RSA, KeySize: 2048}\n\
         - {CommonName: ecc.example.com, Algorithm: ECC}\n\
         - {CommonName: sm2.example.com, Algorithm: SM2}\n",
    );
    let out = dir.path("out");
    let pass = dir.write("pass", "p\n");
    let o =
        generate(&m, &out, &["--key-format", "traditional", "--key-passphrase-file", pass.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2), "traditional keys are never encrypted");
    assert!(
        stderr(&o).contains("--key-format traditional cannot be combined with a key passphrase"),
        "{}",
        stderr(&o)
    );
    assert!(!out.exists());
    let o = generate(&m, &out, &["--key-format", "traditional"]);
    assert!(o.status.success(), "{}", stderr(&o));
    for (name, label, says) in [
        ("rsa.example.com", "RSA PRIVATE KEY", "Private-Key: (2048 bit, 2 primes)"),
        ("ecc.example.com", "EC PRIVATE KEY", "ASN1 OID: prime256v1"),
        ("sm2.example.com", "EC PRIVATE KEY", "ASN1 OID: SM2"),
    ] {
        let key = out.join(format!("{name}.key.pem"));
        let csr = out.join(format!("{name}.csr.pem"));
        let text = std::fs::read_to_string(&key).unwrap();
        assert!(text.starts_with(&format!("-----BEGIN {label}-----\n")), "{name}: {text}");
        let shown = openssl(&["pkey", "-in", key.to_str().unwrap(), "-noout", "-text"]);
        assert!(String::from_utf8_lossy(&shown.stdout).contains(says), "{name}");
        let (from_key, from_csr) = openssl_pubkeys(&key, &csr);
        assert_eq!(from_key, from_csr, "{name}");
    }
    // Re-runs read the traditional keys: unchanged, with or without the option.
    for extra in [&[][..], &["--key-format", "traditional"][..]] {
        let mut args = extra.to_vec();
        args.push("--check");
        let o = generate(&m, &out, &args);
        assert_eq!(
            o.status.code(),
            Some(0),
            "{extra:?}: {}{}",
            String::from_utf8_lossy(&o.stdout),
            stderr(&o)
        );
    }
    let o = generate(&m, &out, &["--key-format", "pkcs8"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("its keys are written with --key-format traditional"), "{}", stderr(&o));
    // A new request in that folder gets a traditional key too.
    let more = std::fs::read_to_string(&m).unwrap() + "- {CommonName: new.example.com, Algorithm: SM2}\n";
    std::fs::write(&m, more).unwrap();
    assert!(generate(&m, &out, &[]).status.success());
    let text = std::fs::read_to_string(out.join("new.example.com.key.pem")).unwrap();
    assert!(text.starts_with("-----BEGIN EC PRIVATE KEY-----\n"));
}

#[test]
fn key_files_work_with_shards_and_merge_never_copies_them() {
    let dir = Dir::new();
    make_keys(&dir);
    let m = dir.write("m.yaml", &manifest(&REQUESTS[..6]));
    let shards: Vec<_> = (0..2).map(|k| dir.path(&format!("s{k}"))).collect();
    for (k, out) in shards.iter().enumerate() {
        let o = generate(&m, out, &["--shard", &format!("{k}/2")]);
        assert!(o.status.success(), "{}", stderr(&o));
    }
    let merged = dir.path("merged");
    let o = csrbatch([
        "merge",
        shards[0].to_str().unwrap(),
        shards[1].to_str().unwrap(),
        "--manifests",
        m.to_str().unwrap(),
        "--out",
        merged.to_str().unwrap(),
        "--collect",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let summary = read_summary(&merged);
    assert_eq!(summary.csrs.len(), 6);
    for e in &summary.csrs {
        let key = e.key_file.as_deref().unwrap();
        assert!(Path::new(key).is_absolute() && key.contains("/keys/"), "{}: {key}", e.name);
        assert!(merged.join(e.csr_file.as_deref().unwrap()).exists(), "{}", e.name);
    }
    assert!(crate::util::tree(&merged).iter().all(|f| !f.ends_with(".key.pem")), "no key copied");
}

#[test]
fn switching_to_a_key_file_archives_the_folders_key_and_back_needs_repair() {
    let dir = Dir::new();
    make_keys(&dir);
    let generated = "requests:\n  - {CommonName: a.example.com, Algorithm: SM2, CountryCode: CN, Province: Z, Locality: H}\n";
    let m = dir.write("m.yaml", generated);
    let out = dir.path("out");
    assert!(generate(&m, &out, &[]).status.success());
    let old_key = std::fs::read(out.join("a.example.com.key.pem")).unwrap();
    std::fs::write(&m, generated.replace("Locality: H}", "Locality: H, KeyFile: keys/sm2.p8}")).unwrap();
    let o = generate(&m, &out, &[]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(read_summary(&out).csrs[0].state.map(|s| s.as_str()), Some("rekey"));
    assert!(
        !out.join("a.example.com.key.pem").exists(),
        "the folder's old key is not left beside the new CSR"
    );
    let archived: Vec<_> =
        crate::util::tree(&out).into_iter().filter(|f| f.ends_with("a.example.com.key.pem")).collect();
    assert_eq!(archived.len(), 1, "it is in the archive");
    assert_eq!(std::fs::read(out.join(&archived[0])).unwrap(), old_key);
    let (from_key, from_csr) = openssl_pubkeys(&dir.path("keys/sm2.p8"), &out.join("a.example.com.csr.pem"));
    assert_eq!(from_key, from_csr);
    // Without the KeyFile again, the folder has a CSR and no key: damaged until --repair.
    std::fs::write(&m, generated).unwrap();
    let o = generate(&m, &out, &[]);
    assert_eq!(o.status.code(), Some(1));
    assert_eq!(read_summary(&out).csrs[0].state.map(|s| s.as_str()), Some("damaged"));
    assert!(generate(&m, &out, &["--repair"]).status.success());
    assert!(out.join("a.example.com.key.pem").exists());
}

#[test]
fn a_csv_key_file_is_relative_to_the_manifests_folder_and_kept_out_of_reencrypt() {
    let dir = Dir::new();
    make_keys(&dir);
    // The manifest in a subfolder: its KeyFile is relative to that folder, not to the cwd.
    let m = dir.write(
        "sub/m.csv",
        "Name,Algorithm,CommonName,CountryCode,Province,Locality,KeyFile,KeyUsage\n\
         ec,ECC,ec.example,CN,Zhejiang,Hangzhou,../keys/ec.sec1,\"digitalSignature,keyAgreement\"\n\
         made,SM2,made.example,CN,Zhejiang,Hangzhou,,digitalSignature\n",
    );
    let out = dir.path("out");
    let before = std::fs::read(dir.path("keys/ec.sec1")).unwrap();
    let o = generate(&m, &out, &[]);
    assert!(o.status.success(), "{}", stderr(&o));
    let (from_key, from_csr) = openssl_pubkeys(&dir.path("keys/ec.sec1"), &out.join("ec.csr.pem"));
    assert_eq!(from_key, from_csr);
    let summary = read_summary(&out);
    let ec = summary.csrs.iter().find(|e| e.name == "ec").unwrap();
    assert!(Path::new(ec.key_file.as_deref().unwrap()).is_absolute());
    assert!(!out.join("ec.key.pem").exists() && out.join("made.key.pem").exists());
    // --reencrypt encrypts the folder's keys, never the user's.
    let pass = dir.write("pass", "pw\n");
    let o = generate(&m, &out, &["--key-passphrase-file", pass.to_str().unwrap(), "--reencrypt"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(std::fs::read_to_string(out.join("made.key.pem")).unwrap().contains("ENCRYPTED PRIVATE KEY"));
    assert_eq!(std::fs::read(dir.path("keys/ec.sec1")).unwrap(), before);
    assert!(!out.join("ec.key.pem").exists());
    let states: Vec<_> = read_summary(&out).csrs.iter().map(|e| e.state.unwrap().as_str()).collect();
    assert_eq!(states, ["unchanged", "unchanged"]);
}

#[test]
fn a_key_file_inside_the_output_folder_must_be_the_requests_own_key() {
    let dir = Dir::new();
    let request = |name: &str, key: &str| {
        format!(
            "  - {{Name: {name}, CommonName: {name}.example.com, Algorithm: ECC, CountryCode: CN, Province: Z, Locality: H{key}}}\n"
        )
    };
    let m = dir.write("m.yaml", &format!("requests:\n{}", request("a", "")));
    let out = dir.path("out");
    assert!(generate(&m, &out, &[]).status.success());
    let before = crate::util::tree(&out);
    let key = std::fs::read(out.join("a.key.pem")).unwrap();
    // b signs with a's key in the folder: once a is gone from the manifest, `--prune` would
    // archive that key as an orphan's; so it is refused before anything is written.
    std::fs::write(&m, format!("requests:\n{}", request("b", ", KeyFile: out/a.key.pem"))).unwrap();
    for extra in [&[][..], &["--prune"]] {
        let o = generate(&m, &out, extra);
        assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
        let said = stderr(&o);
        assert!(said.contains("KeyFile") && said.contains("inside the output folder"), "{said}");
        assert!(said.contains("m.yaml:2"), "{said}");
    }
    let o = csrbatch(["plan", m.to_str().unwrap(), "--out", out.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert_eq!(crate::util::tree(&out), before, "nothing written");
    assert_eq!(std::fs::read(out.join("a.key.pem")).unwrap(), key);
    // Its own key in the folder is a KeyFile like any other (renewal with the same key).
    std::fs::write(&m, format!("requests:\n{}", request("a", ", KeyFile: out/a.key.pem"))).unwrap();
    let o = generate(&m, &out, &["--prune"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(std::fs::read(out.join("a.key.pem")).unwrap(), key);
}

#[test]
fn a_key_file_inside_the_output_folder_is_held_to_the_name_the_request_gets() {
    let dir = Dir::new();
    let request = |algorithm: &str, key: &str| {
        format!(
            "  - {{CommonName: a.example.com, Algorithm: {algorithm}, CountryCode: CN, Province: Z, Locality: H{key}}}\n"
        )
    };
    // Of two unnamed requests for one CommonName, the second gets its algorithm appended.
    let both = format!("requests:\n{}{}", request("ECC", ""), request("SM2", ""));
    let m = dir.write("m.yaml", &both);
    let out = dir.path("out");
    assert!(generate(&m, &out, &[]).status.success());
    let own = ", KeyFile: out/a.example.com_sm2.key.pem";
    std::fs::write(&m, format!("requests:\n{}{}", request("ECC", ""), request("SM2", own))).unwrap();
    let o = generate(&m, &out, &[]);
    assert!(o.status.success(), "its own key, under the Name it still has: {}", stderr(&o));
    // Alone, the request is `a.example.com`: that key is another Name's, which --prune archives.
    let before = crate::util::tree(&out);
    std::fs::write(&m, format!("requests:\n{}", request("SM2", own))).unwrap();
    let o = generate(&m, &out, &["--prune"]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(stderr(&o).contains("inside the output folder"), "{}", stderr(&o));
    assert_eq!(crate::util::tree(&out), before, "nothing written");
}

/// What a text around a key says, in a file openssl still reads.
const NOTE: &str = "Key of the web tier: see ticket 42 (-----BEGIN-----)";

#[test]
fn openssl_keys_laid_out_as_other_tools_write_pem_are_key_files() {
    let dir = Dir::new();
    make_keys(&dir);
    let p = |n: &str| dir.path(&format!("keys/{n}")).to_str().unwrap().to_owned();
    // Two blocks, EC PARAMETERS and the SEC1 key, as `openssl ecparam -genkey` writes them.
    ok(&["ecparam", "-name", "prime256v1", "-genkey", "-out", &p("ec.ecparam")]);
    // 76 columns and CRLF (Python's base64.encodebytes on Windows), one long line.
    for (made, name, width, eol) in
        [("rsa.p8", "rsa", 76, "\r\n"), ("ec.ecparam", "ec", 0, "\n"), ("sm2.enc", "sm2", 76, "\r\n")]
    {
        let made = std::fs::read_to_string(p(made)).unwrap();
        dir.write(&format!("keys/{name}.pem"), &rewrap(&made, width, eol, NOTE));
    }
    const WRAPPED: [Request; 3] =
        [("rsa", "RSA\n    KeySize: 2048", "rsa.pem"), ("ec", "ECC", "ec.pem"), ("sm2", "SM2", "sm2.pem")];
    let m = dir.write("m.yaml", &manifest(&WRAPPED));
    let pass = dir.write("pass", "open sesame\n");
    let out = dir.path("out");
    let before: Vec<Vec<u8>> = WRAPPED.iter().map(|(_, _, k)| std::fs::read(p(k)).unwrap()).collect();
    let o = generate(&m, &out, &["--key-passphrase-file", pass.to_str().unwrap()]);
    assert!(o.status.success(), "{}", stderr(&o));
    for (i, (name, _, key)) in WRAPPED.iter().enumerate() {
        let csr = out.join(format!("{name}.csr.pem"));
        assert!(openssl_verifies(&csr, *name == "sm2").0, "{name}");
        // openssl reads the laid-out file too: the key in it is the one the CSR carries.
        let k = openssl(&["pkey", "-in", &p(key), "-passin", "pass:open sesame", "-pubout"]);
        assert!(k.status.success(), "{name}: openssl pkey: {}", String::from_utf8_lossy(&k.stderr));
        let c = openssl(&["req", "-in", csr.to_str().unwrap(), "-noout", "-pubkey"]);
        let from_key = String::from_utf8(k.stdout).unwrap();
        assert!(from_key.contains("BEGIN PUBLIC KEY"), "{name}");
        assert_eq!(from_key, String::from_utf8(c.stdout).unwrap(), "{name}: the CSR carries the key");
        assert_eq!(std::fs::read(p(key)).unwrap(), before[i], "{name}: the key file is byte-identical");
    }
    let o = generate(&m, &out, &["--key-passphrase-file", pass.to_str().unwrap(), "--check"]);
    assert_eq!(o.status.code(), Some(0), "{}{}", String::from_utf8_lossy(&o.stdout), stderr(&o));
}

#[test]
fn a_legacy_encrypted_or_cut_short_key_file_is_exit_2_saying_why() {
    let dir = Dir::new();
    make_keys(&dir);
    let p = |n: &str| dir.path(&format!("keys/{n}")).to_str().unwrap().to_owned();
    // OpenSSL's legacy (MD5-derived key) encryption: Proc-Type and DEK-Info headers.
    ok(&["rsa", "-in", &p("rsa.p8"), "-traditional", "-aes128", "-passout", "pass:x", "-out", &p("legacy")]);
    assert!(std::fs::read_to_string(p("legacy")).unwrap().contains("Proc-Type: 4,ENCRYPTED"));
    // Laid out at 76 columns, then its last lines lost.
    let made = std::fs::read_to_string(p("rsa.p8")).unwrap();
    let wrapped = rewrap(&made, 76, "\r\n", NOTE);
    let cut = &wrapped[..wrapped.find("-----END").unwrap() - 100];
    dir.write("keys/cut", cut);
    let out = dir.path("out");
    for (key, want) in [
        ("legacy", "legacy PEM encryption (Proc-Type: 4,ENCRYPTED) is not supported; convert it with"),
        (
            "cut",
            "not valid PEM: line 2: `-----BEGIN PRIVATE KEY-----` has no `-----END PRIVATE KEY-----` line",
        ),
    ] {
        let m = dir.write("m.yaml", &manifest(&[("a", "RSA\n    KeySize: 2048", key)]));
        let o = generate(&m, &out, &["--key-passphrase-file", dir.write("pass", "x\n").to_str().unwrap()]);
        assert_eq!(o.status.code(), Some(2), "{key}: {}", stderr(&o));
        assert!(stderr(&o).contains(&format!("/keys/{key}: {want}")), "{key}: {}", stderr(&o));
        assert!(!out.exists(), "nothing written");
    }
}
