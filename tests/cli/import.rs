//! `csrbatch import` (issue 21): certificates from the throwaway CA (tests/cli/ca.rs), in
//! every form CAs deliver, paired with the folder's keys, judged by outside tools: openssl
//! (verify, the key against the certificate, pkcs12), pyca and Java's keytool (the `.p12`),
//! nginx and `openssl s_client` (a real handshake, before and after a renewal); refusals
//! that leave the folder byte-identical; renewal end to end; kill -9 during a promotion.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::Instant;

use serde_json::Value;

use crate::ca::*;
use crate::import2::{copy_folder, count_generations, kill_at, kill_points};
use crate::nginx::{Nginx, nginx};
use crate::util::*;

const DEFAULTS: &str = "defaults: {CountryCode: CN, Province: Zhejiang, Locality: Hangzhou}\nrequests:\n";

/// A request of a test manifest: Name, Algorithm, CommonName, Sans (YAML list text).
type Req<'a> = (&'a str, &'a str, &'a str, &'a str);

fn manifest(dir: &Dir, requests: &[Req]) -> PathBuf {
    let mut text = DEFAULTS.to_owned();
    for (name, algorithm, cn, sans) in requests {
        let size = if *algorithm == "RSA" { "2048" } else { "256" };
        let sans = if sans.is_empty() { String::new() } else { format!(", Sans: [{sans}]") };
        text += &format!(
            "  - {{Name: {name}, Algorithm: {algorithm}, KeySize: {size}, CommonName: {cn}{sans}}}\n"
        );
    }
    dir.write("m.yaml", &text)
}

fn run_with(args: &[&std::ffi::OsStr], env: &[(&str, &str)]) -> Output {
    let mut c = Command::new(env!("CARGO_BIN_EXE_csrbatch"));
    c.args(args);
    for (k, v) in env {
        c.env(k, v);
    }
    c.output().expect("run csrbatch")
}

fn generate(m: &Path, out: &Path, extra: &[&str], env: &[(&str, &str)]) -> Output {
    let mut args = vec!["generate".as_ref(), m.as_os_str(), "--out".as_ref(), out.as_os_str()];
    args.extend(extra.iter().map(std::ffi::OsStr::new));
    run_with(&args, env)
}

fn generate_ok(m: &Path, out: &Path) {
    let run = generate(m, out, &["-q"], &[]);
    assert!(run.status.success(), "generate: {}", stderr(&run));
}

/// `csrbatch import FILES... --out OUT EXTRA...`.
fn import(files: &[PathBuf], out: &Path, extra: &[&str], env: &[(&str, &str)]) -> Output {
    let mut args = vec!["import".as_ref()];
    args.extend(files.iter().map(|f| f.as_os_str()));
    args.extend(["--out".as_ref(), out.as_os_str()]);
    args.extend(extra.iter().map(std::ffi::OsStr::new));
    run_with(&args, env)
}

fn import_ok(files: &[PathBuf], out: &Path, bundle: &Path) -> String {
    let run = import(files, out, &["--ca-bundle", bundle.to_str().unwrap()], &[]);
    assert_eq!(run.status.code(), Some(0), "import {files:?}: {}", stderr(&run));
    stderr(&run)
}

fn bytes(p: &Path) -> Vec<u8> {
    std::fs::read(p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

fn text(p: &Path) -> String {
    String::from_utf8(bytes(p)).unwrap()
}

/// One file holding several roots: what `--ca-bundle` is given when two CAs issued.
fn bundle(dir: &Dir, roots: &[&Path]) -> PathBuf {
    let all: String = roots.iter().map(|r| text(r)).collect();
    dir.write("bundle.pem", &all)
}

/// Everything a run may not change: every path of the folder with its bytes, modes and
/// link targets, except that summary.json may be written again with the same content (a
/// new `Written` stamp and `RequestId`, as a generate re-run does).
fn assert_folder_unchanged(out: &Path, before: &Snapshot, before_summary: &Value, what: &str) {
    let after = snapshot(out);
    let diff: Vec<String> =
        snapshot_diff(before, &after).into_iter().filter(|d| d != "summary.json: changed").collect();
    assert!(diff.is_empty(), "{what}: the folder changed: {diff:?}");
    let strip = |v: &Value| {
        let mut v = v.clone();
        for stamp in ["Written", "RequestId"] {
            v.as_object_mut().unwrap().remove(stamp);
        }
        v
    };
    assert_eq!(strip(&summary_json(out)), strip(before_summary), "{what}: summary.json's content changed");
}

/// The judges of one imported request: the files exist with the issued leaf and the
/// intermediate (never the root); openssl verifies the chain and pairs certificate and
/// key; summary.json's `Certificate` says what openssl says.
fn assert_imported(out: &Path, issued: &Issued, ca: &Ca, pass: Option<&str>) {
    let name = &issued.name;
    let f = |suffix: &str| out.join(format!("{name}.{suffix}"));
    let (crt, chain, fullchain, key) = (f("crt.pem"), f("chain.pem"), f("fullchain.pem"), f("key.pem"));
    let leaf = pem_blocks(&issued.leaf_pem(), "CERTIFICATE");
    let intermediate = pem_blocks(&text(&ca.intermediate), "CERTIFICATE");
    assert_eq!(pem_blocks(&text(&crt), "CERTIFICATE"), leaf, "{name}.crt.pem is the leaf");
    assert_eq!(
        pem_blocks(&text(&chain), "CERTIFICATE"),
        intermediate,
        "{name}.chain.pem: the intermediate, no root"
    );
    let both: Vec<String> = leaf.iter().chain(&intermediate).cloned().collect();
    assert_eq!(
        pem_blocks(&text(&fullchain), "CERTIFICATE"),
        both,
        "{name}.fullchain.pem: leaf, intermediate"
    );
    let (ok, said) = openssl_verify_chain(&ca.root, &chain, &crt, ca.sm2);
    assert!(ok, "{name}: openssl verify: {said}");
    assert_eq!(cert_pubkey(&crt), key_pubkey(&key, pass), "{name}: the certificate is for the key");

    let e = entry(out, name);
    let c = &e["Certificate"];
    let facts = cert_facts(&crt);
    let field =
        |k: &str| c[k].as_str().unwrap_or_else(|| panic!("{name}: Certificate.{k} in {c}")).to_owned();
    assert_eq!(hex_norm(&field("Serial")), facts.serial, "{name}: Serial");
    assert_eq!(hex_norm(&field("Sha256Fingerprint")), facts.fingerprint, "{name}: Sha256Fingerprint");
    assert_eq!(field("NotBefore"), facts.not_before, "{name}: NotBefore");
    assert_eq!(field("NotAfter"), facts.not_after, "{name}: NotAfter");
    assert_eq!(c["KeySha2"], e["KeySha2"], "{name}: KeySha2");
    assert!(field("Issuer").contains("Intermediate"), "{name}: Issuer {}", field("Issuer"));
    for (k, file) in [("CertFile", "crt.pem"), ("ChainFile", "chain.pem"), ("FullchainFile", "fullchain.pem")]
    {
        assert_eq!(field(k), format!("{name}.{file}"), "{name}: {k}");
    }
    assert_eq!(c["ChainVerified"], Value::Bool(true), "{name}: ChainVerified");
}

/// Three requests (RSA with SANs of both kinds, ECC, SM2) generated by csrbatch, and the
/// CAs that issue for them: (manifest, CA of RSA and ECC, SM2 CA, bundle of both roots).
fn three_requests(dir: &Dir) -> (PathBuf, Ca, Ca, PathBuf) {
    let m = manifest(
        dir,
        &[
            ("imp-rsa", "RSA", "rsa.example.com", "www.rsa.example.com, 192.0.2.7"),
            ("imp-ecc", "ECC", "ecc.example.com", "api.ecc.example.com"),
            ("imp-sm2", "SM2", "sm2.example.com", ""),
        ],
    );
    let (ca, sm2) = (Ca::new(), Ca::sm2());
    let all = bundle(dir, &[&ca.root, &sm2.root]);
    (m, ca, sm2, all)
}

#[test]
fn import_every_delivery_form_judged_by_openssl() {
    let dir = Dir::new();
    let (m, ca, sm2, all) = three_requests(&dir);
    let template = dir.path("template");
    generate_ok(&m, &template);
    let issue = |name: &str, ca: &Ca| ca.issue(&template.join(format!("{name}.csr.pem")), &Issue::default());
    let issued = [(issue("imp-rsa", &ca), &ca), (issue("imp-ecc", &ca), &ca), (issue("imp-sm2", &sm2), &sm2)];
    let forms: Vec<Vec<Delivery>> = issued.iter().map(|(i, _)| i.deliveries()).collect();
    for k in 0..forms[0].len() {
        let form = forms[0][k].form;
        let out = dir.path(&format!("out-{k}"));
        copy_folder(&template, &out);
        let files: Vec<PathBuf> = forms.iter().flat_map(|f| f[k].files.clone()).collect();
        let said = import_ok(&files, &out, &all);
        assert!(said.contains("3 imported") && said.contains("0 refused"), "{form}: {said}");
        for (i, ca) in &issued {
            assert_imported(&out, i, ca, None);
        }
        // No written path comes from a zip entry's name (the zip has `../../NAME.escape.pem`).
        for (i, _) in &issued {
            let escaped = format!("{}.escape.pem", i.name);
            assert!(!tree(dir.tmp.path()).iter().any(|f| f.ends_with(&escaped)), "{form}: {escaped} written");
            assert!(!out.join("..").join("..").join(&escaped).exists(), "{form}: {escaped} written");
        }

        // The same import again: unchanged, and not a byte written.
        let (before, before_summary) = (snapshot(&out), summary_json(&out));
        let run = import(&files, &out, &["--ca-bundle", all.to_str().unwrap(), "--json"], &[]);
        assert_eq!(run.status.code(), Some(0), "{form} again: {}", stderr(&run));
        let doc: Value =
            serde_json::from_slice(&run.stdout).unwrap_or_else(|e| panic!("--json: {e}: {run:?}"));
        let results: Vec<&str> = doc["Certificates"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|c| c["Name"].is_string()) // leaves; chain material pairs with no request
            .filter_map(|c| c["Result"].as_str())
            .collect();
        assert_eq!(results, ["unchanged"; 3], "{form} again: {doc}");
        assert_folder_unchanged(&out, &before, &before_summary, &format!("{form} imported again"));
    }
}

/// A folder of `m` and the fullchain of each of its RSA and ECC requests, imported.
fn imported_folder(m: &Path, out: &Path, ca: &Ca, names: &[&str]) {
    generate_ok(m, out);
    let files: Vec<PathBuf> = names
        .iter()
        .map(|n| ca.issue(&out.join(format!("{n}.csr.pem")), &Issue::default()).fullchain())
        .collect();
    let run = import(&files, out, &["--ca-bundle", ca.root.to_str().unwrap()], &[]);
    assert_eq!(run.status.code(), Some(0), "import: {}", stderr(&run));
}

/// The key and certificates in a `.p12`, judged by openssl, pyca and keytool.
pub(crate) fn assert_p12(
    p12: &Path,
    pass: &str,
    crt: &Path,
    key: &Path,
    key_pass: Option<&str>,
    legacy: bool,
) {
    let what = p12.display().to_string();
    assert_eq!(std::fs::metadata(p12).unwrap().permissions().mode() & 0o777, 0o600, "{what}: mode");
    let want_pub = key_pubkey(key, key_pass);
    let want_fp = cert_facts(crt).fingerprint;
    let env_pass = [("CSRBATCH_TEST_P12", pass)];
    let pkcs12 = |extra: &[&str]| {
        let mut c = Command::new("openssl");
        c.args(["pkcs12", "-in", p12.to_str().unwrap(), "-passin", "env:CSRBATCH_TEST_P12"]).args(extra);
        if legacy {
            c.arg("-legacy");
        }
        let o = c.envs(env_pass).output().unwrap();
        assert!(
            o.status.success(),
            "{what}: openssl pkcs12 {extra:?}: {}",
            String::from_utf8_lossy(&o.stderr)
        );
        format!("{}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr))
    };
    // The algorithms the issue names: OpenSSL 3's defaults, or 3DES with a SHA-1 MAC.
    let info = pkcs12(&["-info", "-noout"]);
    if legacy {
        assert!(info.contains("MAC: sha1") && info.contains("TripleDES"), "{what}: {info}");
    } else {
        assert!(
            info.contains("MAC: sha256") && info.contains("AES-256-CBC") && info.contains("PBKDF2"),
            "{what}: {info}"
        );
        assert!(!info.contains("TripleDES") && !info.contains("RC2"), "{what}: {info}");
    }
    let certs = pkcs12(&["-nokeys"]);
    assert_eq!(pem_blocks(&certs, "CERTIFICATE").len(), 2, "{what}: leaf and intermediate: {certs}");
    let keys = pkcs12(&["-nocerts", "-nodes"]);
    let key_file = p12.with_extension("judged-key.pem");
    std::fs::write(&key_file, keys).unwrap();
    assert_eq!(key_pubkey(&key_file, None), want_pub, "{what}: openssl: the key in it is the key");
    std::fs::remove_file(&key_file).unwrap();

    if judge("pyca/cryptography (python3)", pyca(), "pip install cryptography") {
        let script = "import sys, hashlib\n\
            from cryptography.hazmat.primitives import serialization as s\n\
            from cryptography.hazmat.primitives.serialization import pkcs12\n\
            key, cert, more = pkcs12.load_key_and_certificates(open(sys.argv[1], 'rb').read(), sys.argv[2].encode())\n\
            print(hashlib.sha256(cert.public_bytes(s.Encoding.DER)).hexdigest())\n\
            print(len(more))\n\
            print(key.public_key().public_bytes(s.Encoding.PEM, s.PublicFormat.SubjectPublicKeyInfo).decode(), end='')\n";
        let o = Command::new("python3").args(["-c", script, p12.to_str().unwrap(), pass]).output().unwrap();
        let out = String::from_utf8_lossy(&o.stdout).into_owned();
        assert!(o.status.success(), "{what}: pyca: {}", String::from_utf8_lossy(&o.stderr));
        let mut lines = out.splitn(3, '\n');
        assert_eq!(lines.next().map(hex_norm), Some(want_fp.clone()), "{what}: pyca: the leaf");
        assert_eq!(lines.next(), Some("1"), "{what}: pyca: one more certificate (the intermediate)");
        assert_eq!(lines.next(), Some(want_pub.as_str()), "{what}: pyca: the key");
    }
    if judge(
        "keytool (a JDK)",
        runs("keytool") || Path::new("/usr/bin/keytool").exists(),
        "apt-get install default-jdk-headless",
    ) {
        let o = Command::new("keytool")
            .args([
                "-list",
                "-v",
                "-storetype",
                "PKCS12",
                "-keystore",
                p12.to_str().unwrap(),
                "-storepass",
                pass,
            ])
            .output()
            .unwrap();
        let said = String::from_utf8_lossy(&o.stdout).into_owned();
        assert!(o.status.success(), "{what}: keytool: {said}{}", String::from_utf8_lossy(&o.stderr));
        assert!(
            said.contains("PrivateKeyEntry") && said.contains("Certificate chain length: 2"),
            "{what}: {said}"
        );
        let fp = said.lines().find_map(|l| l.trim().strip_prefix("SHA256: ")).unwrap_or_default();
        assert_eq!(hex_norm(fp), want_fp, "{what}: keytool: the leaf first");
    }
}

fn pyca() -> bool {
    Command::new("python3")
        .args(["-c", "import cryptography.hazmat.primitives.serialization.pkcs12"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

#[test]
fn p12_bundles_open_in_openssl_pyca_and_keytool() {
    let dir = Dir::new();
    let (m, ca, sm2, all) = three_requests(&dir);
    for legacy in [false, true] {
        let out = dir.path(if legacy { "legacy" } else { "modern" });
        generate_ok(&m, &out);
        let files = vec![
            ca.issue(&out.join("imp-rsa.csr.pem"), &Issue::default()).fullchain(),
            ca.issue(&out.join("imp-ecc.csr.pem"), &Issue::default()).fullchain(),
            sm2.issue(&out.join("imp-sm2.csr.pem"), &Issue::default()).fullchain(),
        ];
        let pass = "p12 s3cret";
        let env = [("CSRBATCH_TEST_P12", pass)];
        let mut flags =
            vec!["--ca-bundle", all.to_str().unwrap(), "--p12", "--p12-passphrase-env", "CSRBATCH_TEST_P12"];
        if legacy {
            flags.push("--p12-legacy");
        }
        // --p12 without a passphrase: bad usage, before anything is read or written.
        let (before, before_summary) = (snapshot(&out), summary_json(&out));
        let run = import(&files, &out, &flags[..3], &env);
        assert_eq!(run.status.code(), Some(2), "--p12 without a passphrase: {}", stderr(&run));
        assert!(stderr(&run).contains("passphrase"), "{}", stderr(&run));
        assert_folder_unchanged(&out, &before, &before_summary, "--p12 without a passphrase");

        let run = import(&files, &out, &flags, &env);
        assert_eq!(run.status.code(), Some(0), "import --p12: {}", stderr(&run));
        for name in ["imp-rsa", "imp-ecc"] {
            let p12 = out.join(format!("{name}.p12"));
            let (crt, key) = (out.join(format!("{name}.crt.pem")), out.join(format!("{name}.key.pem")));
            assert_p12(&p12, pass, &crt, &key, None, legacy);
            assert_eq!(entry(&out, name)["Certificate"]["P12File"], format!("{name}.p12"), "{name}: P12File");
        }
        // SM2: no .p12 (nothing reads one), and the run says so once.
        assert!(!out.join("imp-sm2.p12").exists(), "an SM2 request gets no .p12");
        assert!(entry(&out, "imp-sm2")["Certificate"].get("P12File").is_none());
        let said = stderr(&run);
        let lines = said
            .lines()
            .filter(|l| {
                let l = l.to_lowercase();
                l.contains("sm2") && (l.contains("p12") || l.contains("pkcs#12") || l.contains("pkcs12"))
            })
            .count();
        assert_eq!(lines, 1, "the run says once that SM2 gets no .p12:\n{said}");
    }
}

#[test]
fn p12_of_an_encrypted_folder_uses_its_key_passphrase() {
    let dir = Dir::new();
    let m = manifest(
        &dir,
        &[("enc-ecc", "ECC", "enc.example.com", ""), ("enc-rsa", "RSA", "encr.example.com", "")],
    );
    let out = dir.path("out");
    let ca = Ca::new();
    let env = [("CSRBATCH_TEST_KEY", "key s3cret"), ("CSRBATCH_TEST_P12", "p12 s3cret")];
    let keyflag = ["--key-passphrase-env", "CSRBATCH_TEST_KEY"];
    let run = generate(&m, &out, &[&["-q"][..], &keyflag].concat(), &env);
    assert!(run.status.success(), "{}", stderr(&run));
    let files: Vec<PathBuf> = ["enc-ecc", "enc-rsa"]
        .iter()
        .map(|n| ca.issue(&out.join(format!("{n}.csr.pem")), &Issue::default()).fullchain())
        .collect();
    let root = ca.root.to_str().unwrap();
    let flags = ["--ca-bundle", root, "--p12", "--p12-passphrase-env", "CSRBATCH_TEST_P12"];
    let run = import(&files, &out, &[&flags[..], &keyflag].concat(), &env);
    assert_eq!(run.status.code(), Some(0), "{}", stderr(&run));
    for name in ["enc-ecc", "enc-rsa"] {
        let (crt, key) = (out.join(format!("{name}.crt.pem")), out.join(format!("{name}.key.pem")));
        assert!(
            text(&key).starts_with("-----BEGIN ENCRYPTED PRIVATE KEY-----"),
            "{name}: the key stays encrypted"
        );
        assert_p12(&out.join(format!("{name}.p12")), "p12 s3cret", &crt, &key, Some("key s3cret"), false);
    }
    // The keys were never written decrypted anywhere in the folder.
    for e in walkdir::WalkDir::new(&out).into_iter().map(|e| e.unwrap()) {
        if e.file_type().is_file() {
            let body = String::from_utf8_lossy(&bytes(e.path())).into_owned();
            for plain in ["BEGIN PRIVATE KEY", "BEGIN EC PRIVATE KEY", "BEGIN RSA PRIVATE KEY"] {
                assert!(!body.contains(plain), "{}: a decrypted key", e.path().display());
            }
        }
    }
}

#[test]
fn nginx_serves_the_imported_fullchain_and_key() {
    if !nginx() {
        return;
    }
    let dir = Dir::new();
    let m = manifest(
        &dir,
        &[
            ("web-rsa", "RSA", "rsa.example.com", "www.rsa.example.com"),
            ("web-ecc", "ECC", "ecc.example.com", ""),
        ],
    );
    let out = dir.path("out");
    let ca = Ca::new();
    imported_folder(&m, &out, &ca, &["web-rsa", "web-ecc"]);
    for (name, cn) in [("web-rsa", "rsa.example.com"), ("web-ecc", "ecc.example.com")] {
        let server = Nginx::start(
            &out.join(format!("{name}.fullchain.pem")),
            &out.join(format!("{name}.key.pem")),
            cn,
        );
        let shake = server.handshake(cn, &ca.root);
        assert!(shake.verified, "{name}: {}\n{}", shake.said, server.error_log());
        let want = cert_facts(&out.join(format!("{name}.crt.pem"))).fingerprint;
        assert_eq!(shake.leaf_fingerprint, Some(want), "{name}: nginx serves NAME.crt.pem");
    }
}

/// Imports `files` expecting one refusal, of `file`, for one of `reasons`; exit 1 and the
/// folder unchanged.
fn assert_refused(out: &Path, files: &[PathBuf], bundle: &Path, file: &Path, reasons: &[&str]) {
    let (before, before_summary) = (snapshot(out), summary_json(out));
    let run = import(files, out, &["--ca-bundle", bundle.to_str().unwrap()], &[]);
    let said = stderr(&run);
    let file_name = file.file_name().unwrap().to_string_lossy().into_owned();
    assert_eq!(run.status.code(), Some(1), "{file_name}: {said}");
    let line = said.lines().find(|l| l.contains(&file_name) && l.contains("refused"));
    let line = line.unwrap_or_else(|| panic!("no `{file_name}: refused` line in:\n{said}"));
    assert!(reasons.iter().any(|r| line.contains(r)), "{file_name}: one of {reasons:?} in `{line}`");
    assert_folder_unchanged(out, &before, &before_summary, &file_name);
}

#[test]
fn refusals_name_the_file_and_the_reason_and_change_nothing() {
    let dir = Dir::new();
    let m = manifest(&dir, &[("ref-a", "ECC", "a.example.com", "www.a.example.com, mail.a.example.com")]);
    let out = dir.path("out");
    generate_ok(&m, &out);
    let (ca, other) = (Ca::new(), Ca::other());
    let csr = out.join("ref-a.csr.pem");
    let named = |from: &Path, name: &str| {
        let to = dir.path(name);
        std::fs::copy(from, &to).unwrap();
        to
    };
    let chain = ca.intermediate.clone();

    // A certificate for a key that is not in the folder.
    let stranger_key = dir.path("stranger.key");
    let stranger_csr = dir.path("stranger.csr.pem");
    openssl_ok(&[
        "genpkey",
        "-algorithm",
        "EC",
        "-pkeyopt",
        "ec_paramgen_curve:P-256",
        "-out",
        stranger_key.to_str().unwrap(),
    ]);
    openssl_ok(&[
        "req",
        "-new",
        "-key",
        stranger_key.to_str().unwrap(),
        "-subj",
        "/CN=a.example.com",
        "-out",
        stranger_csr.to_str().unwrap(),
    ]);
    let no_key = named(&ca.issue(&stranger_csr, &Issue::default()).leaf, "no-key.pem");
    assert_refused(&out, &[no_key.clone(), chain.clone()], &ca.root, &no_key, &["no key in the folder"]);

    // A CA that dropped a SAN.
    let how = Issue { drop_san: Some("DNS:mail.a.example.com".into()), ..Issue::default() };
    let dropped = named(&ca.issue(&csr, &how).leaf, "dropped-san.pem");
    assert_refused(
        &out,
        &[dropped.clone(), chain.clone()],
        &ca.root,
        &dropped,
        &["names missing: mail.a.example.com"],
    );

    // Outside its validity period.
    let expired = named(&ca.issue(&csr, &Issue::valid(Validity::expired())).leaf, "expired.pem");
    assert_refused(&out, &[expired.clone(), chain.clone()], &ca.root, &expired, &["expired"]);
    let early = named(&ca.issue(&csr, &Issue::valid(Validity::not_yet_valid())).leaf, "early.pem");
    assert_refused(&out, &[early.clone(), chain.clone()], &ca.root, &early, &["not yet valid"]);

    // The intermediate missing: the leaf alone, under --ca-bundle with the root only.
    let good = ca.issue(&csr, &Issue::default());
    let alone = named(&good.leaf, "leaf-alone.pem");
    assert_refused(
        &out,
        std::slice::from_ref(&alone),
        &ca.root,
        &alone,
        &["chain broken", "not issued under --ca-bundle"],
    );

    // Another CA's certificate, its chain complete, under this CA's bundle.
    let foreign = other.issue(&csr, &Issue::default());
    let foreign_leaf = named(&foreign.leaf, "foreign.pem");
    assert_refused(
        &out,
        &[foreign_leaf.clone(), other.intermediate.clone()],
        &ca.root,
        &foreign_leaf,
        &["not issued under --ca-bundle"],
    );

    // A flipped signature byte.
    let flipped = dir.path("flipped.pem");
    tampered(&good.leaf, &flipped);
    assert_refused(&out, &[flipped.clone(), chain.clone()], &ca.root, &flipped, &["signature"]);

    // After all that, the good certificate still goes in.
    let said = import_ok(&[good.fullchain()], &out, &ca.root);
    assert!(said.contains("1 imported"), "{said}");
    assert_imported(&out, &good, &ca, None);

    // Older than the certificate now imported for that key.
    let older = Issue::valid(Validity { from: -2 * 86_400, to: 88 * 86_400 });
    let older = named(&ca.issue(&csr, &older).leaf, "older.pem");
    assert_refused(
        &out,
        &[older.clone(), chain.clone()],
        &ca.root,
        &older,
        &["older than the certificate already imported"],
    );
}

#[test]
fn a_refusal_does_not_stop_the_rest() {
    let dir = Dir::new();
    let m = manifest(
        &dir,
        &[
            ("mix-a", "ECC", "a.example.com", ""),
            ("mix-b", "ECC", "b.example.com", ""),
            ("mix-c", "RSA", "c.example.com", ""),
        ],
    );
    let out = dir.path("out");
    generate_ok(&m, &out);
    let ca = Ca::new();
    let good_a = ca.issue(&out.join("mix-a.csr.pem"), &Issue::default());
    let bad_b = ca.issue(&out.join("mix-b.csr.pem"), &Issue::valid(Validity::expired()));
    let good_c = ca.issue(&out.join("mix-c.csr.pem"), &Issue::default());
    let b_file = dir.path("b-expired.pem");
    std::fs::copy(&bad_b.leaf, &b_file).unwrap();
    let files = vec![good_a.fullchain(), b_file, good_c.leaf.clone(), good_c.chain.clone()];
    let run = import(&files, &out, &["--ca-bundle", ca.root.to_str().unwrap(), "--json"], &[]);
    assert_eq!(run.status.code(), Some(1), "{}", stderr(&run));
    let doc: Value = serde_json::from_slice(&run.stdout).unwrap_or_else(|e| panic!("--json: {e}: {run:?}"));
    let result = |name: &str| {
        let all = doc["Certificates"].as_array().unwrap();
        let c = all.iter().find(|c| c["Name"] == name).unwrap_or_else(|| panic!("{name} in {doc}"));
        (c["Result"].as_str().unwrap().to_owned(), c["Reason"].as_str().unwrap_or_default().to_owned())
    };
    assert_eq!(result("mix-a").0, "imported");
    assert_eq!(result("mix-c").0, "imported");
    let (b, reason) = result("mix-b");
    assert!(b == "refused" && reason.contains("expired"), "{b}: {reason}");
    assert_imported(&out, &good_a, &ca, None);
    assert_imported(&out, &good_c, &ca, None);
    assert!(!out.join("mix-b.crt.pem").exists() && entry(&out, "mix-b").get("Certificate").is_none());
}

/// The live files of a certified request, and its generations under `.live/NAME/`.
fn live_snapshot(out: &Path, name: &str) -> Snapshot {
    let live = format!(".live/{name}");
    snapshot(out)
        .into_iter()
        .filter(|(p, _)| {
            ["key.pem", "crt.pem", "chain.pem", "fullchain.pem", "p12"]
                .iter()
                .any(|f| *p == format!("{name}.{f}"))
                || p.starts_with(&live)
        })
        .collect()
}

#[test]
fn renewal_end_to_end_with_nginx() {
    let dir = Dir::new();
    let m = manifest(&dir, &[("renew-me", "ECC", "renew.example.com", "www.renew.example.com")]);
    let out = dir.path("out");
    let ca = Ca::new();
    let (name, cn) = ("renew-me", "renew.example.com");
    let f = |suffix: &str| out.join(format!("{name}.{suffix}"));
    generate_ok(&m, &out);
    let old = ca.issue(&f("csr.pem"), &Issue::valid(Validity::two_thirds_spent()));
    let said = import_ok(&[old.fullchain()], &out, &ca.root);
    assert!(said.contains("1 imported"), "{said}");
    assert_imported(&out, &old, &ca, None);
    let old_fp = cert_facts(&f("crt.pem")).fingerprint;
    let old_serial = cert_facts(&f("crt.pem")).serial;
    let serving = nginx().then(|| Nginx::start(&f("fullchain.pem"), &f("key.pem"), cn));
    if let Some(server) = &serving {
        let shake = server.handshake(cn, &ca.root);
        assert!(
            shake.verified && shake.leaf_fingerprint.as_deref() == Some(old_fp.as_str()),
            "{}",
            shake.said
        );
    }

    // Less than a third of its lifetime left: expiring.
    let check = generate(&m, &out, &["--check"], &[]);
    assert_eq!(check.status.code(), Some(1), "--check with an expiring certificate: {}", stderr(&check));
    let plan = csrbatch(["plan".as_ref(), m.as_os_str(), "--out".as_ref(), out.as_os_str()]);
    assert!(String::from_utf8_lossy(&plan.stdout).contains("expiring"), "plan: {plan:?}");

    // generate writes the next pair, the live files untouched.
    let live = live_snapshot(&out, name);
    let run = generate(&m, &out, &["-q"], &[]);
    assert!(run.status.success(), "{}", stderr(&run));
    assert_eq!(state(&out, name), "renew");
    assert_eq!(snapshot_diff(&live, &live_snapshot(&out, name)), Vec::<String>::new(), "the live files");
    let (next_key, next_csr) = (f("next.key.pem"), f("next.csr.pem"));
    for p in [&next_key, &next_csr] {
        assert!(std::fs::symlink_metadata(p).unwrap().is_file(), "{} is a regular file", p.display());
    }
    assert!(openssl_verifies(&next_csr, false).0);
    let new_pub = csr_pubkey(&next_csr);
    assert_eq!(key_pubkey(&next_key, None), new_pub, "the next key is the next CSR's");
    assert_ne!(new_pub, cert_pubkey(&f("crt.pem")), "a new key");

    // Again: pending, and nothing written.
    let (before, before_summary) = (snapshot(&out), summary_json(&out));
    let run = generate(&m, &out, &["-q"], &[]);
    assert!(run.status.success(), "{}", stderr(&run));
    assert_eq!(state(&out, name), "pending");
    let diff: Vec<String> = snapshot_diff(&before, &snapshot(&out))
        .into_iter()
        .filter(|d| d != "summary.json: changed" && !d.starts_with(".csrbatch/"))
        .collect();
    assert!(diff.is_empty(), "a pending re-run writes nothing: {diff:?}");
    assert_eq!(before_summary["Csrs"][0]["Certificate"], summary_json(&out)["Csrs"][0]["Certificate"]);

    // The certificate for the next key: renewed.
    let new = ca.issue(&next_csr, &Issue::default());
    let run = import(&[new.fullchain()], &out, &["--ca-bundle", ca.root.to_str().unwrap()], &[]);
    assert_eq!(run.status.code(), Some(0), "{}", stderr(&run));
    assert!(stderr(&run).contains("1 renewed"), "{}", stderr(&run));
    assert_eq!(pem_blocks(&text(&f("crt.pem")), "CERTIFICATE"), pem_blocks(&new.leaf_pem(), "CERTIFICATE"));
    assert_eq!(key_pubkey(&f("key.pem"), None), new_pub, "the live key is the new key");
    assert_eq!(cert_pubkey(&f("crt.pem")), new_pub);
    let (ok, said) = openssl_verify_chain(&ca.root, &f("chain.pem"), &f("crt.pem"), false);
    assert!(ok, "{said}");
    assert!(!next_key.exists() && !next_csr.exists(), "the next pair became live");
    let c = &entry(&out, name)["Certificate"];
    assert_eq!(hex_norm(c["Sha256Fingerprint"].as_str().unwrap()), cert_facts(&new.leaf).fingerprint);
    // The old live files are archived, and recorded with their serial.
    let archived: Vec<PathBuf> = walkdir::WalkDir::new(out.join(".archive"))
        .into_iter()
        .map(|e| e.unwrap().into_path())
        .filter(|p| p.is_file())
        .collect();
    let old_leaf = pem_blocks(&old.leaf_pem(), "CERTIFICATE");
    assert!(
        archived.iter().any(|p| pem_blocks(&text(p), "CERTIFICATE") == old_leaf),
        "the old certificate is archived"
    );
    let log: String =
        archived.iter().filter(|p| p.ends_with("archived.jsonl")).map(|p| text(p).to_lowercase()).collect();
    assert!(
        hex_norm(&log.replace(':', "")).contains(&old_serial) || log.contains(&old_serial),
        "archived.jsonl: {log}"
    );

    // nginx, restarted, serves the new certificate, and it verifies.
    if let Some(server) = serving {
        drop(server);
        let server = Nginx::start(&f("fullchain.pem"), &f("key.pem"), cn);
        let shake = server.handshake(cn, &ca.root);
        assert!(shake.verified, "{}\n{}", shake.said, server.error_log());
        assert_eq!(
            shake.leaf_fingerprint,
            Some(cert_facts(&new.leaf).fingerprint),
            "the new certificate is served"
        );
        assert_ne!(shake.leaf_fingerprint, Some(old_fp));
    }
    let check = generate(&m, &out, &["--check"], &[]);
    assert_eq!(check.status.code(), Some(0), "--check after the renewal: {}", stderr(&check));
}

const MANY: usize = 200;

/// For every request, openssl: NAME.key.pem and NAME.crt.pem belong together; returns how
/// many are on the next key (promoted).
fn assert_live_pairs_match(out: &Path, next_pubs: &[String], what: &str) -> usize {
    let mut promoted = 0;
    for (i, next) in next_pubs.iter().enumerate() {
        let (crt, key) = (out.join(format!("k{i}.crt.pem")), out.join(format!("k{i}.key.pem")));
        let (c, k) = (cert_pubkey(&crt), key_pubkey(&key, None));
        assert_eq!(c, k, "{what}: k{i}: the live key and certificate do not belong together");
        promoted += usize::from(&c == next);
    }
    promoted
}

#[test]
fn kill_9_during_a_promotion_keeps_key_and_certificate_together() {
    let dir = Dir::new();
    let m = many_named(&dir, "ECC", MANY);
    let template = dir.path("template");
    generate_ok(&m, &template);
    let ca = Ca::new();
    let csrs: Vec<PathBuf> = (0..MANY).map(|i| template.join(format!("k{i}.csr.pem"))).collect();
    let first = ca.issue_many(&csrs, Validity::two_thirds_spent());
    import_ok(&[first], &template, &ca.root);
    generate_ok(&m, &template);
    let next_csrs: Vec<PathBuf> = (0..MANY).map(|i| template.join(format!("k{i}.next.csr.pem"))).collect();
    let next_pubs: Vec<String> = next_csrs.iter().map(|c| csr_pubkey(c)).collect();
    let renewals = vec![ca.issue_many(&next_csrs, Validity::fresh())];
    let root = ca.root.to_str().unwrap().to_owned();
    let spawn = |out: &Path| {
        Command::new(env!("CARGO_BIN_EXE_csrbatch"))
            .arg("import")
            .args(&renewals)
            .args(["--out".as_ref(), out.as_os_str(), "--ca-bundle".as_ref(), root.as_ref(), "-q".as_ref()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap()
    };

    // How long a whole promoting import takes here, to kill it part-way.
    let out = dir.path("out");
    copy_folder(&template, &out);
    let start = Instant::now();
    let status = spawn(&out).wait().unwrap();
    let whole = start.elapsed();
    assert!(status.success());
    assert_eq!(assert_live_pairs_match(&out, &next_pubs, "uninterrupted"), MANY);

    let generations = count_generations(&template);
    let mut part_way = 0;
    let points = kill_points(whole, 3, &[0.1, 0.3, 0.5, 0.8]);
    for (point, what) in points {
        copy_folder(&template, &out);
        let mut child = spawn(&out);
        kill_at(&mut child, point, &out, generations);
        let promoted = assert_live_pairs_match(&out, &next_pubs, &what);
        // Part-way: the import had begun writing (new generations there) and had not
        // finished (pairs not switched, or switched with their CSRs not yet promoted).
        let begun = count_generations(&out) > generations;
        let unfinished = (0..MANY).any(|i| out.join(format!("k{i}.next.csr.pem")).exists());
        part_way += usize::from(begun && (promoted < MANY || unfinished));

        // A re-run finishes the promotion.
        let run = import(&renewals, &out, &["--ca-bundle", &root], &[]);
        assert_eq!(run.status.code(), Some(0), "{what}: the re-run: {}", stderr(&run));
        assert_eq!(
            assert_live_pairs_match(&out, &next_pubs, &format!("{what}, re-run")),
            MANY,
            "{what}: all promoted"
        );
        for i in 0..MANY {
            assert!(
                !out.join(format!("k{i}.next.key.pem")).exists(),
                "{what}: k{i}: the next pair became live"
            );
        }
    }
    assert!(part_way > 0, "no kill landed part-way through the promotion (whole import: {whole:?})");
    // (Each kill point is judged above whatever it hit: every live key matches its certificate.)
}

#[test]
fn the_p12_judges_accept_what_openssl_makes() {
    // The judges of assert_p12, checked on `openssl pkcs12 -export` bundles (OpenSSL 3's
    // defaults, and -legacy), so a failure of the import tests is import's, not theirs.
    let dir = Dir::new();
    let m = manifest(&dir, &[("pj-ecc", "ECC", "pj.example.com", "")]);
    let out = dir.path("out");
    generate_ok(&m, &out);
    let ca = Ca::new();
    let issued = ca.issue(&out.join("pj-ecc.csr.pem"), &Issue::default());
    let key = out.join("pj-ecc.key.pem");
    for legacy in [false, true] {
        let p12 = dir.path(if legacy { "legacy.p12" } else { "modern.p12" });
        let (k, c, ch, o) = (
            key.to_str().unwrap(),
            issued.leaf.to_str().unwrap(),
            issued.chain.to_str().unwrap(),
            p12.to_str().unwrap(),
        );
        let mut args = vec![
            "pkcs12",
            "-export",
            "-inkey",
            k,
            "-in",
            c,
            "-certfile",
            ch,
            "-passout",
            "pass:p12 s3cret",
            "-out",
            o,
        ];
        if legacy {
            args.push("-legacy");
        }
        openssl_ok(&args);
        std::fs::set_permissions(&p12, std::fs::Permissions::from_mode(0o600)).unwrap();
        assert_p12(&p12, "p12 s3cret", &issued.leaf, &key, None, legacy);
    }
}
