//! SM2 dual certificates (issue 22): `csrbatch import` of an SM2 request's signing
//! certificate beside its encryption certificate and the encryption key, in every form a
//! Chinese CA's key management centre hands it over: a PKCS#8 or SEC1 PEM key, an
//! `SM2EnvelopedKey` (GM/T 0009-2012 §7.4) as DER or base64, a GM/T 0092-2020 `CSRResponse`.
//! The envelopes are made by tests/judges/sm2_envelope.py with the pure-Python gmssl (not
//! csrbatch's code), the certificates by the SM2 test CA (tests/cli/ca.rs), and every outcome
//! is judged by openssl and gmssl: both pairs belong together and verify, the encryption pair
//! encrypts and decrypts, the signing pair signs with the GM/T 0009 ID; refusals leave the
//! folder byte-identical; a renewal switches both pairs together, also under kill -9.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::time::Instant;

use serde_json::Value;

use crate::ca::*;
use crate::import2::{
    DEFAULTS, assert_live_unchanged, bin, copy_folder, count_generations, exists, folder_files, generate,
    generate_ok, import_args, kill_at, kill_points, live_state, os, req, s, text,
};
use crate::util::*;

/// The signing pair's live files and the encryption pair's, as servers name them.
const SIGN_FILES: [&str; 4] = ["key.pem", "crt.pem", "chain.pem", "fullchain.pem"];
const ENC_FILES: [&str; 3] = ["enc.key.pem", "enc.crt.pem", "enc.fullchain.pem"];
const PASS_ENV: &str = "CSRBATCH_DUAL_KEY_PASS";
const PASS: &str = "dual s3cret";

fn envelope_script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/judges/sm2_envelope.py")
}

/// gmssl must be importable: the envelopes are made with it (CI installs it; no skipping).
fn require_gmssl() {
    static CHECKED: OnceLock<()> = OnceLock::new();
    CHECKED.get_or_init(|| {
        let o = Command::new("python3").args(["-c", "import gmssl.sm2, gmssl.sm3, gmssl.sm4"]).output();
        let (ok, said) = match &o {
            Ok(o) => (o.status.success(), String::from_utf8_lossy(&o.stderr).into_owned()),
            Err(e) => (false, format!("python3: {e}")),
        };
        assert!(
            ok,
            "the SM2 envelope judge needs gmssl: pip install gmssl (python3 -m pip install gmssl): {said}"
        );
    });
}

/// Runs tests/judges/sm2_envelope.py, panicking with its stderr when it fails; its stdout.
fn py(args: &[&str]) -> String {
    require_gmssl();
    let o = Command::new("python3").arg(envelope_script()).args(args).output().expect("python3");
    assert!(o.status.success(), "sm2_envelope.py {args:?}: {}", String::from_utf8_lossy(&o.stderr));
    String::from_utf8_lossy(&o.stdout).trim().to_owned()
}

fn random_hex(bytes: usize) -> String {
    openssl_ok(&["rand", "-hex", &bytes.to_string()]).trim().to_owned()
}

/// A manifest of SM2 requests, each with a SAN, and its folder generated (`extra`, `env`).
fn sm2_folder(dir: &Dir, names: &[&str], extra: &[&str], env: &[(&str, &str)]) -> (PathBuf, PathBuf) {
    sm2_folder_at(dir, "out", names, extra, env)
}

fn sm2_folder_at(
    dir: &Dir,
    out: &str,
    names: &[&str],
    extra: &[&str],
    env: &[(&str, &str)],
) -> (PathBuf, PathBuf) {
    let lines: Vec<String> = names
        .iter()
        .map(|n| req(n, "SM2", &format!("{n}.example.com"), &format!("www.{n}.example.com")))
        .collect();
    let m = dir.write("m.yaml", &(DEFAULTS.to_owned() + &lines.concat()));
    let out = dir.path(out);
    let mut args = vec![os("generate"), m.as_os_str(), os("--out"), out.as_os_str(), os("-q")];
    args.extend(extra.iter().map(|e| os(e)));
    let run = csrbatch_env(&args, env);
    assert_eq!(run.status.code(), Some(0), "generate: {}", stderr(&run));
    (m, out)
}

fn csrbatch_env(args: &[&std::ffi::OsStr], env: &[(&str, &str)]) -> std::process::Output {
    let mut c = Command::new(env!("CARGO_BIN_EXE_csrbatch"));
    c.args(args);
    for (k, v) in env {
        c.env(k, v);
    }
    c.output().expect("run csrbatch")
}

/// One request's dual issue: the signing certificate for its CSR, the encryption
/// certificate for a new SM2 key with the same subject and SANs, and that key (PKCS#8).
struct Dual {
    sign: Issued,
    enc: Issued,
    enc_key: PathBuf,
}

fn issue_dual(ca: &Ca, dir: &Dir, csr: &Path, how: &Issue, tag: &str) -> Dual {
    let enc_key = dir.path(&format!("kmc-{tag}.key.pem"));
    sm2_key(&enc_key);
    let sign = ca.issue(csr, how);
    let enc = ca.issue_encryption(csr, &enc_key, how);
    Dual { sign, enc, enc_key }
}

/// How the encryption key is handed over.
#[derive(Clone, Copy, Debug)]
enum Form {
    Pkcs8,
    Sec1,
    EnvelopeDer,
    /// The envelope's base64, wrapped at this many columns (0: one line).
    EnvelopeBase64(usize),
    CsrResponse,
}

/// The files a CA delivers for `dual` in `form`, in a folder of their own named after
/// `name` (`tag` keeps deliveries apart): the envelope is encrypted to `sign_pub` (the
/// request's CSR, whose key is the signing key).
fn deliver(dir: &Dir, tag: &str, dual: &Dual, form: Form, sign_pub: &Path) -> Vec<PathBuf> {
    let folder = dir.path(&format!("delivery-{tag}"));
    std::fs::create_dir_all(&folder).unwrap();
    let copy = |from: &Path, to: &str| {
        let p = folder.join(to);
        std::fs::copy(from, &p).unwrap();
        p
    };
    let sign = copy(&dual.sign.leaf, &format!("{tag}.sign.pem"));
    let chain = copy(&dual.sign.chain, &format!("{tag}.chain.pem"));
    let enc = copy(&dual.enc.leaf, &format!("{tag}.enc.pem"));
    let envelope = folder.join(format!("{tag}.envelope.der"));
    let make_envelope = || py(&["envelope", s(sign_pub), s(&dual.enc_key), s(&envelope)]);
    match form {
        Form::Pkcs8 => vec![sign, chain, enc, copy(&dual.enc_key, &format!("{tag}.enc-key.pem"))],
        Form::Sec1 => {
            let key = folder.join(format!("{tag}.enc-key.sec1.pem"));
            py(&["sec1", s(&dual.enc_key), s(&key)]);
            assert!(text(&key).starts_with("-----BEGIN EC PRIVATE KEY-----"));
            assert_eq!(key_pubkey(&key, None), key_pubkey(&dual.enc_key, None), "openssl reads the SEC1 key");
            vec![sign, chain, enc, key]
        }
        Form::EnvelopeDer => {
            make_envelope();
            vec![sign, chain, enc, envelope]
        }
        Form::EnvelopeBase64(width) => {
            make_envelope();
            let b64 = folder.join(format!("{tag}.envelope.b64"));
            py(&["base64", s(&envelope), s(&b64), "--wrap", &width.to_string()]);
            std::fs::remove_file(&envelope).unwrap();
            vec![sign, chain, enc, b64]
        }
        Form::CsrResponse => {
            make_envelope();
            let response = folder.join(format!("{tag}.csr-response.der"));
            py(&["csrresponse", s(&dual.sign.leaf), s(&envelope), s(&dual.enc.leaf), s(&response)]);
            for p in [&sign, &enc, &envelope] {
                std::fs::remove_file(p).unwrap();
            }
            vec![response, chain]
        }
    }
}

/// `csrbatch import FILES --out OUT --ca-bundle ROOT --json EXTRA`: (exit code, document,
/// stderr).
fn import_run(
    files: &[PathBuf],
    out: &Path,
    root: &Path,
    extra: &[&str],
    env: &[(&str, &str)],
) -> (Option<i32>, Value, String) {
    let mut args = import_args(files, out, root);
    args.push(os("--json"));
    args.extend(extra.iter().map(|e| os(e)));
    let run = csrbatch_env(&args, env);
    let doc: Value = serde_json::from_slice(&run.stdout).unwrap_or_else(|e| {
        panic!("import --json: {e}: {}\n{}", String::from_utf8_lossy(&run.stdout), stderr(&run))
    });
    (run.status.code(), doc, stderr(&run))
}

/// The import's lines for request `name`: (File, Result, Reason).
fn lines_for(doc: &Value, name: &str) -> Vec<(String, String, String)> {
    let field = |c: &Value, k: &str| c[k].as_str().unwrap_or_default().to_owned();
    doc["Certificates"]
        .as_array()
        .unwrap_or_else(|| panic!("no Certificates in {doc}"))
        .iter()
        .filter(|c| c["Name"] == name)
        .map(|c| (field(c, "File"), field(c, "Result"), field(c, "Reason")))
        .collect()
}

/// Exit 0, and for each request two lines (signing, encryption) of result `want`.
fn import_dual_ok(
    files: &[PathBuf],
    out: &Path,
    root: &Path,
    names: &[&str],
    want: &str,
    extra: &[&str],
    env: &[(&str, &str)],
) -> Value {
    let (code, doc, said) = import_run(files, out, root, extra, env);
    assert_eq!(code, Some(0), "import {files:?}: {said}\n{doc}");
    for name in names {
        let results: Vec<String> = lines_for(&doc, name).into_iter().map(|l| l.1).collect();
        assert_eq!(
            results,
            [want, want],
            "{name}: a line for the signing and one for the encryption certificate: {doc}"
        );
    }
    doc
}

/// The live files of request `name` (`files`) are one generation: all regular files
/// beside the CSR (a first certificate), or all links to `.live/NAME/current/...` that
/// resolve into one generation folder.
fn assert_one_generation(out: &Path, name: &str, files: &[&str], what: &str) {
    let mut folders = Vec::new();
    for f in files {
        let link = out.join(format!("{name}.{f}"));
        let meta =
            std::fs::symlink_metadata(&link).unwrap_or_else(|e| panic!("{what}: {}: {e}", link.display()));
        if meta.file_type().is_symlink() {
            let target = std::fs::read_link(&link).unwrap();
            assert!(
                target.to_string_lossy().contains(&format!(".live/{name}/current/")),
                "{what}: {name}.{f} -> {}, not into .live/{name}/current/",
                target.display()
            );
        } else {
            assert!(meta.is_file(), "{what}: {name}.{f} is neither a file nor a link");
            // A regular file is the first certificate's, or (a promotion killed after
            // `current` went to the adopted generation) the live generation that holds its
            // inode. A generation that is not `current` may hold some of them only (an
            // adoption killed part way): its files are still the first certificate's.
            use std::os::unix::fs::MetadataExt;
            let same =
                |p: &Path| std::fs::metadata(p).is_ok_and(|m| (m.dev(), m.ino()) == (meta.dev(), meta.ino()));
            let current = out.join(".live").join(name).join("current");
            let holder = std::fs::read_link(&current)
                .ok()
                .map(|g| out.join(".live").join(name).join(g))
                .filter(|g| same(&g.join(f)));
            folders.push((
                f.to_string(),
                std::fs::canonicalize(holder.unwrap_or_else(|| out.to_path_buf())).unwrap(),
            ));
            continue;
        }
        let resolved = std::fs::canonicalize(&link).unwrap();
        folders.push((f.to_string(), resolved.parent().unwrap().to_path_buf()));
    }
    assert!(
        folders.windows(2).all(|w| w[0].1 == w[1].1),
        "{what}: {name}'s live files are in more than one generation: {folders:?}"
    );
}

fn file_mode(p: &Path) -> u32 {
    std::fs::metadata(p).unwrap().permissions().mode() & 0o777
}

/// gmssl encrypts a random message to the certificate's key (as a peer would, from the
/// certificate), gmssl and openssl decrypt it with the key file.
fn assert_encrypts(crt: &Path, key: &Path, pass: Option<&str>, what: &str) {
    let tmp = tempfile::tempdir().unwrap();
    let plain_key = match pass {
        None => key.to_path_buf(),
        Some(p) => {
            let k = tmp.path().join("plain.key.pem");
            let passin = format!("pass:{p}");
            openssl_ok(&["pkey", "-in", s(key), "-passin", &passin, "-out", s(&k)]);
            k
        }
    };
    let message = random_hex(24);
    let cipher = py(&["encrypt", s(crt), &message]);
    assert_eq!(
        py(&["decrypt", s(&plain_key), &cipher]),
        message,
        "{what}: gmssl round trip through {}",
        key.display()
    );
    let der = tmp.path().join("cipher.der");
    let bytes: Vec<u8> =
        (0..cipher.len()).step_by(2).map(|i| u8::from_str_radix(&cipher[i..i + 2], 16).unwrap()).collect();
    std::fs::write(&der, bytes).unwrap();
    let plain = tmp.path().join("plain.bin");
    openssl_ok(&["pkeyutl", "-decrypt", "-inkey", s(&plain_key), "-in", s(&der), "-out", s(&plain)]);
    let got: String = std::fs::read(&plain).unwrap().iter().map(|b| format!("{b:02x}")).collect();
    assert_eq!(got, message, "{what}: openssl decrypts gmssl's SM2Cipher with {}", key.display());
}

/// openssl signs SM3 with the GM/T 0009 ID with the key and verifies with the certificate's
/// key (and not with `not_with`'s): `dgst -verify` is judged by what it prints.
fn assert_signs(crt: &Path, key: &Path, pass: Option<&str>, not_with: &Path, what: &str) {
    let tmp = tempfile::tempdir().unwrap();
    let (msg, sig, pubkey, other) = (
        tmp.path().join("msg"),
        tmp.path().join("sig"),
        tmp.path().join("pub.pem"),
        tmp.path().join("other.pem"),
    );
    std::fs::write(&msg, random_hex(100)).unwrap();
    let passin = pass.map(|p| format!("pass:{p}"));
    let mut args = vec!["dgst", "-sm3", "-sign", s(key), "-sigopt", SM2_ID, "-out", s(&sig)];
    if let Some(p) = passin.as_deref() {
        args.extend(["-passin", p]);
    }
    args.push(s(&msg));
    openssl_ok(&args);
    std::fs::write(&pubkey, cert_pubkey(crt)).unwrap();
    std::fs::write(&other, cert_pubkey(not_with)).unwrap();
    let verify = |with: &Path| {
        let o =
            openssl(&["dgst", "-sm3", "-verify", s(with), "-sigopt", SM2_ID, "-signature", s(&sig), s(&msg)]);
        String::from_utf8_lossy(&o.stdout).into_owned() + &String::from_utf8_lossy(&o.stderr)
    };
    let said = verify(&pubkey);
    assert!(said.contains("Verified OK") && !said.contains("failure"), "{what}: the signing pair: {said}");
    let said = verify(&other);
    assert!(!said.contains("Verified OK"), "{what}: verified with the encryption key: {said}");
}

/// The judges of one request's imported dual pairs.
fn assert_dual_live(out: &Path, name: &str, dual: &Dual, ca: &Ca, pass: Option<&str>) {
    let f = |suffix: &str| out.join(format!("{name}.{suffix}"));
    let (key, crt, enc_key, enc_crt) = (f("key.pem"), f("crt.pem"), f("enc.key.pem"), f("enc.crt.pem"));
    for file in SIGN_FILES.iter().chain(&ENC_FILES) {
        assert!(exists(&f(file)), "{name}.{file} written");
    }
    assert_one_generation(out, name, &[&SIGN_FILES[..], &ENC_FILES].concat(), name);
    // The certificates are the issued ones, the fullchains leaf then intermediate.
    let intermediate = pem_blocks(&text(&ca.intermediate), "CERTIFICATE");
    for (file, issued) in [("crt.pem", &dual.sign), ("enc.crt.pem", &dual.enc)] {
        let leaf = pem_blocks(&issued.leaf_pem(), "CERTIFICATE");
        assert_eq!(pem_blocks(&text(&f(file)), "CERTIFICATE"), leaf, "{name}.{file} is the issued leaf");
        let full = file.replace("crt.pem", "fullchain.pem");
        let mut both = leaf;
        both.extend(intermediate.iter().cloned());
        assert_eq!(
            pem_blocks(&text(&f(&full)), "CERTIFICATE"),
            both,
            "{name}.{full}: leaf then intermediate"
        );
    }
    assert_eq!(pem_blocks(&text(&f("chain.pem")), "CERTIFICATE"), intermediate, "{name}.chain.pem");
    // The encryption key: mode 0600, PKCS#8 (encrypted in an encrypted folder).
    assert_eq!(file_mode(&enc_key), 0o600, "{name}.enc.key.pem's mode");
    let label = if pass.is_some() { "ENCRYPTED PRIVATE KEY" } else { "PRIVATE KEY" };
    assert!(
        text(&enc_key).starts_with(&format!("-----BEGIN {label}-----\n")),
        "{name}.enc.key.pem is a PKCS#8 `{label}`:\n{}",
        text(&enc_key).lines().next().unwrap_or_default()
    );
    // openssl: each pair is one key's, the two keys differ, the encryption key is the KMC's.
    assert_eq!(cert_pubkey(&crt), key_pubkey(&key, pass), "{name}: the signing pair");
    assert_eq!(cert_pubkey(&enc_crt), key_pubkey(&enc_key, pass), "{name}: the encryption pair");
    assert_eq!(
        key_pubkey(&enc_key, pass),
        key_pubkey(&dual.enc_key, None),
        "{name}: the encryption key handed over"
    );
    assert_ne!(cert_pubkey(&crt), cert_pubkey(&enc_crt), "{name}: two keys");
    for c in [&crt, &enc_crt] {
        let (ok, said) = openssl_verify_chain(&ca.root, &f("chain.pem"), c, true);
        assert!(ok, "{name}: openssl verify {}: {said}", c.display());
    }
    // summary.json.
    let e = entry(out, name);
    let ec = &e["Certificate"]["EncryptionCertificate"];
    let facts = cert_facts(&enc_crt);
    assert_eq!(
        hex_norm(ec["Serial"].as_str().unwrap_or_default()),
        facts.serial,
        "{name}: EncryptionCertificate: {e}"
    );
    assert_eq!(ec["NotAfter"], facts.not_after.as_str(), "{name}: EncryptionCertificate: {e}");
    assert_eq!(ec["CertFile"], format!("{name}.enc.crt.pem"), "{name}: {e}");
    assert_eq!(ec["KeyFile"], format!("{name}.enc.key.pem"), "{name}: {e}");
    assert_eq!(
        hex_norm(e["Certificate"]["Serial"].as_str().unwrap_or_default()),
        cert_facts(&crt).serial,
        "{name}: the Certificate is the signing one: {e}"
    );
    // Use: the encryption pair encrypts, the signing pair signs.
    assert_encrypts(&enc_crt, &enc_key, pass, name);
    assert_signs(&crt, &key, pass, &enc_crt, name);
}

/// A folder of one SM2 request `name`, and the dual pair the SM2 CA issued for it,
/// delivered in `form`.
struct Delivered {
    dir: Dir,
    out: PathBuf,
    ca: Ca,
    dual: Dual,
    files: Vec<PathBuf>,
}

fn delivered(name: &str, form: Form) -> Delivered {
    let dir = Dir::new();
    let (_, out) = sm2_folder(&dir, &[name], &[], &[]);
    let ca = Ca::sm2();
    let csr = out.join(format!("{name}.csr.pem"));
    let dual = issue_dual(&ca, &dir, &csr, &Issue::default(), "1");
    let files = deliver(&dir, "1", &dual, form, &csr);
    Delivered { dir, out, ca, dual, files }
}

/// One request certified with a dual pair delivered in `form`.
fn happy_path(form: Form) {
    let name = "dual";
    let Delivered { dir: _dir, out, ca, dual, files } = delivered(name, form);
    let doc = import_dual_ok(&files, &out, &ca.root, &[name], "imported", &[], &[]);
    let lines = lines_for(&doc, name);
    if !matches!(form, Form::CsrResponse) {
        assert!(
            lines.iter().any(|l| l.0.ends_with("1.enc.pem")),
            "{form:?}: a line names the encryption certificate's file: {doc}"
        );
        assert!(lines.iter().any(|l| l.0.ends_with("1.sign.pem")), "{form:?}: {doc}");
    }
    assert_dual_live(&out, name, &dual, &ca, None);
    assert_eq!(state(&out, name), "imported");
    // The same again: unchanged, nothing written.
    let before = folder_files(&out);
    import_dual_ok(&files, &out, &ca.root, &[name], "unchanged", &[], &[]);
    assert_eq!(snapshot_diff(&before, &folder_files(&out)), Vec::<String>::new(), "{form:?}: unchanged");
}

#[test]
fn dual_the_envelope_judge_makes_what_openssl_and_gmssl_read() {
    py(&["selftest"]);
    let dir = Dir::new();
    let (sign, enc, stranger) = (dir.path("sign.key"), dir.path("enc.key"), dir.path("stranger.key"));
    for k in [&sign, &enc, &stranger] {
        sm2_key(k);
    }
    let sign_pub = dir.path("sign.pub");
    std::fs::write(&sign_pub, key_pubkey(&sign, None)).unwrap();
    let envelope = dir.path("env.der");
    py(&["envelope", s(&sign_pub), s(&enc), s(&envelope)]);
    // The layout: sm4-ecb, an SM2Cipher of 16 bytes, the 65-byte point, 32 wrapped bytes.
    let parsed = openssl_ok(&["asn1parse", "-inform", "DER", "-in", s(&envelope)]);
    assert!(parsed.contains(":sm4-ecb"), "{parsed}");
    let prims: Vec<&str> = parsed.lines().filter(|l| l.contains("prim:")).collect();
    assert!(prims[1].contains("INTEGER") && prims[2].contains("INTEGER"), "{parsed}");
    assert!(
        prims[3].contains("l=  32 prim: OCTET STRING") && prims[4].contains("l=  16 prim: OCTET STRING"),
        "{parsed}"
    );
    assert!(
        prims[5].contains("l=  66 prim: BIT STRING") && prims[6].contains("l=  33 prim: BIT STRING"),
        "{parsed}"
    );
    // openssl decrypts the symEncryptedKey with the signing key (OpenSSL 3 takes SM2Cipher).
    let cipher = dir.path("sym.der");
    py(&["symkey-cipher", s(&envelope), s(&cipher)]);
    let sym = dir.path("sym.bin");
    openssl_ok(&["pkeyutl", "-decrypt", "-inkey", s(&sign), "-in", s(&cipher), "-out", s(&sym)]);
    assert_eq!(std::fs::read(&sym).unwrap().len(), 16, "the SM4 key");
    let o = openssl(&["pkeyutl", "-decrypt", "-inkey", s(&stranger), "-in", s(&cipher)]);
    assert!(!o.status.success(), "another key decrypts the SM4 key");
    // The unwrapped scalar is the encryption key's, as openssl prints it.
    let printed = openssl_ok(&["pkey", "-in", s(&enc), "-noout", "-text"]);
    let priv_hex: String = printed
        .split("priv:")
        .nth(1)
        .and_then(|t| t.split("pub:").next())
        .unwrap()
        .chars()
        .filter(char::is_ascii_hexdigit)
        .collect();
    let scalar = py(&["unwrap", s(&sign), s(&envelope)]);
    assert_eq!(format!("{:0>64}", priv_hex.trim_start_matches("00").to_lowercase()), scalar, "{printed}");
    let tampered = dir.path("tampered.der");
    py(&["envelope", s(&sign_pub), s(&enc), s(&tampered), "--tamper"]);
    assert!(py(&["unwrap", s(&sign), s(&tampered)]).starts_with("MISMATCH"));
    // openssl encrypts, gmssl decrypts.
    let plain = dir.write("plain.bin", "sixteen bytes!!!");
    let c = dir.path("c.der");
    openssl_ok(&["pkeyutl", "-encrypt", "-pubin", "-inkey", s(&sign_pub), "-in", s(&plain), "-out", s(&c)]);
    let hex: String = std::fs::read(&c).unwrap().iter().map(|b| format!("{b:02x}")).collect();
    assert_eq!(py(&["decrypt", s(&sign), &hex]), "7369787465656e206279746573212121");
}

#[test]
fn dual_the_sm2_ca_issues_an_encryption_certificate_with_the_signing_subject() {
    let dir = Dir::new();
    let (_, out) = sm2_folder(&dir, &["subj"], &[], &[]);
    let ca = Ca::sm2();
    let csr = out.join("subj.csr.pem");
    let dual = issue_dual(&ca, &dir, &csr, &Issue::default(), "1");
    let der_subject = |cert: &Path| {
        let der = dir.path("x.der");
        openssl_ok(&["x509", "-in", s(cert), "-outform", "DER", "-out", s(&der)]);
        openssl_ok(&["asn1parse", "-inform", "DER", "-in", s(&der), "-strparse", "4"])
    };
    let subject =
        |cert: &Path| openssl_ok(&["x509", "-in", s(cert), "-noout", "-subject", "-nameopt", "RFC2253"]);
    assert_eq!(subject(&dual.enc.leaf), subject(&dual.sign.leaf));
    // The same string types too: the TBS's strings (issuer, subject) line by line, the
    // extensions' OCTET STRINGs and the key's BIT STRING left out.
    let strings = |t: String| -> Vec<String> {
        t.lines()
            .filter(|l| l.contains("STRING") && !l.contains("BIT STRING") && !l.contains("OCTET STRING"))
            .map(|l| l.split_once("prim:").unwrap().1.to_owned())
            .collect()
    };
    let (a, b) = (strings(der_subject(&dual.enc.leaf)), strings(der_subject(&dual.sign.leaf)));
    assert_eq!(a, b, "the subject's strings");
    assert!(a.iter().any(|l| l.contains("UTF8STRING") && l.contains("subj.example.com")), "{a:?}");
    let t = openssl_ok(&[
        "x509",
        "-in",
        s(&dual.enc.leaf),
        "-noout",
        "-ext",
        "keyUsage,subjectAltName,basicConstraints",
    ]);
    assert!(
        t.contains("critical") && t.contains("Key Encipherment, Data Encipherment, Key Agreement"),
        "{t}"
    );
    assert!(t.contains("DNS:subj.example.com") && t.contains("DNS:www.subj.example.com"), "{t}");
    assert!(t.contains("CA:FALSE"), "{t}");
    assert!(cert_matches_key(&dual.enc.leaf, &dual.enc_key, None));
    let (ok, said) = openssl_verify_chain(&ca.root, &dual.enc.chain, &dual.enc.leaf, true);
    assert!(ok, "{said}");
    // Many at once: in order, then the intermediate.
    let k2 = dir.path("k2.pem");
    sm2_key(&k2);
    let all = ca.issue_encryption_many(
        &[(csr.clone(), dual.enc_key.clone()), (csr.clone(), k2.clone())],
        Validity::fresh(),
    );
    let blocks = pem_blocks(&text(&all), "CERTIFICATE");
    assert_eq!(blocks.len(), 3);
    for (i, k) in [&dual.enc_key, &k2].iter().enumerate() {
        let leaf = dir.path(&format!("many-{i}.pem"));
        std::fs::write(&leaf, pem("CERTIFICATE", &blocks[i])).unwrap();
        assert!(cert_matches_key(&leaf, k, None), "{i}");
    }
}

#[test]
fn dual_pkcs8_pem_key() {
    happy_path(Form::Pkcs8);
}

#[test]
fn dual_sec1_pem_key() {
    happy_path(Form::Sec1);
}

#[test]
fn dual_envelope_der() {
    happy_path(Form::EnvelopeDer);
}

#[test]
fn dual_envelope_base64_wrapped_and_one_line() {
    happy_path(Form::EnvelopeBase64(76));
    happy_path(Form::EnvelopeBase64(0));
}

#[test]
fn dual_csr_response_der() {
    happy_path(Form::CsrResponse);
}

#[test]
fn dual_delivered_in_folders_with_other_requests() {
    // Two SM2 requests and their deliveries (a PKCS#8 key, an envelope) in one folder tree
    // given to import: each key goes to its own request.
    let dir = Dir::new();
    let (_, out) = sm2_folder(&dir, &["fa", "fb"], &[], &[]);
    let ca = Ca::sm2();
    let a = issue_dual(&ca, &dir, &out.join("fa.csr.pem"), &Issue::default(), "a");
    let b = issue_dual(&ca, &dir, &out.join("fb.csr.pem"), &Issue::default(), "b");
    let fa = deliver(&dir, "a", &a, Form::Pkcs8, &out.join("fa.csr.pem"));
    let fb = deliver(&dir, "b", &b, Form::EnvelopeDer, &out.join("fb.csr.pem"));
    let all = dir.path("all");
    std::fs::create_dir_all(all.join("x/y")).unwrap();
    for (i, f) in fa.iter().chain(&fb).enumerate() {
        let sub = if i % 2 == 0 { all.join("x") } else { all.join("x/y") };
        std::fs::copy(f, sub.join(f.file_name().unwrap())).unwrap();
    }
    import_dual_ok(&[all], &out, &ca.root, &["fa", "fb"], "imported", &[], &[]);
    assert_dual_live(&out, "fa", &a, &ca, None);
    assert_dual_live(&out, "fb", &b, &ca, None);
}

#[test]
fn dual_a_key_given_for_no_certificate_is_named_and_not_used() {
    // A second SM2 key among the deliveries, for no certificate given (a wrong file): the
    // import goes on as without it, and the run names the file it did nothing with.
    let name = "stray";
    let Delivered { dir, out, ca, dual, mut files } = delivered(name, Form::Pkcs8);
    let other = dir.path("other.key.pem");
    sm2_key(&other);
    files.push(other.clone());
    let doc = import_dual_ok(&files, &out, &ca.root, &[name], "imported", &[], &[]);
    assert_eq!(doc["UnusedKeys"], serde_json::json!([s(&other)]), "{doc}");
    assert_dual_live(&out, name, &dual, &ca, None);
    let other_pub = key_pubkey(&other, None);
    for rel in folder_files(&out).keys().filter(|rel| rel.ends_with(".key.pem")) {
        assert_ne!(key_pubkey(&out.join(rel), None), other_pub, "{rel} is the unused key");
    }
    // Again, as text: every certificate unchanged, exit 0, the key named on stderr.
    let run = csrbatch_env(&import_args(&files, &out, &ca.root), &[]);
    let said = stderr(&run);
    assert_eq!(run.status.code(), Some(0), "{said}");
    let want = format!(
        "csrbatch: {}: a private key that no encryption certificate given is for: not used",
        s(&other)
    );
    assert!(said.lines().any(|l| l == want), "want {want:?} in:\n{said}");
    assert!(said.contains("0 imported, 2 unchanged"), "{said}");
}

#[test]
fn dual_encrypted_folder_writes_an_encrypted_encryption_key() {
    let dir = Dir::new();
    let env = [(PASS_ENV, PASS)];
    let flag = ["--key-passphrase-env", PASS_ENV];
    let (_, out) = sm2_folder(&dir, &["sec"], &flag, &env);
    assert!(text(&out.join("sec.key.pem")).starts_with("-----BEGIN ENCRYPTED PRIVATE KEY-----"));
    let ca = Ca::sm2();
    let csr = out.join("sec.csr.pem");
    let dual = issue_dual(&ca, &dir, &csr, &Issue::default(), "1");
    // The envelope: unwrapping it needs the signing key, which the passphrase opens.
    let files = deliver(&dir, "1", &dual, Form::EnvelopeDer, &csr);
    import_dual_ok(&files, &out, &ca.root, &["sec"], "imported", &flag, &env);
    assert_dual_live(&out, "sec", &dual, &ca, Some(PASS));
    let enc_key = out.join("sec.enc.key.pem");
    let o = openssl(&["pkey", "-in", s(&enc_key), "-passin", "pass:not it", "-noout"]);
    assert!(!o.status.success(), "sec.enc.key.pem opens with another passphrase");
    // Never written decrypted anywhere in the folder.
    for e in walkdir::WalkDir::new(&out).into_iter().map(|e| e.unwrap()) {
        if e.file_type().is_file() {
            let body = String::from_utf8_lossy(&std::fs::read(e.path()).unwrap()).into_owned();
            for plain in ["BEGIN PRIVATE KEY", "BEGIN EC PRIVATE KEY", "BEGIN SM2 PRIVATE KEY"] {
                assert!(!body.contains(plain), "{}: a decrypted key", e.path().display());
            }
        }
    }
    // The PKCS#8 key form into an encrypted folder: written encrypted too.
    let (_, out2) = sm2_folder_at(&dir, "out2", &["sec"], &flag, &env);
    let csr2 = out2.join("sec.csr.pem");
    let dual2 = issue_dual(&ca, &dir, &csr2, &Issue::default(), "2");
    let files2 = deliver(&dir, "2", &dual2, Form::Pkcs8, &csr2);
    import_dual_ok(&files2, &out2, &ca.root, &["sec"], "imported", &flag, &env);
    assert_dual_live(&out2, "sec", &dual2, &ca, Some(PASS));
}

/// Imports `files` expecting exit 1, every line of `name` refused, one of them with a
/// Reason holding each of `reasons`, and the folder byte-identical.
fn assert_dual_refused(out: &Path, files: &[PathBuf], root: &Path, name: &str, reasons: &[&str], what: &str) {
    let before = snapshot(out);
    let (code, doc, said) = import_run(files, out, root, &[], &[]);
    assert_eq!(code, Some(1), "{what}: exit 1: {said}\n{doc}");
    let lines = lines_for(&doc, name);
    assert!(lines.len() >= 2, "{what}: both of {name}'s lines: {doc}");
    assert!(lines.iter().all(|l| l.1 == "refused"), "{what}: every line of {name} refused: {doc}");
    assert!(
        lines.iter().any(|l| reasons.iter().all(|r| l.2.contains(r))),
        "{what}: a Reason with {reasons:?}: {doc}"
    );
    assert_eq!(snapshot_diff(&before, &snapshot(out)), Vec::<String>::new(), "{what}: the folder changed");
}

#[test]
fn dual_refusals_leave_the_folder_byte_identical() {
    let dir = Dir::new();
    let (_, out) = sm2_folder(&dir, &["ref"], &[], &[]);
    let ca = Ca::sm2();
    let csr = out.join("ref.csr.pem");
    let dual = issue_dual(&ca, &dir, &csr, &Issue::default(), "1");
    let base = deliver(&dir, "base", &dual, Form::Pkcs8, &csr);
    let (sign, chain, enc) = (base[0].clone(), base[1].clone(), base[2].clone());

    // An envelope encrypted to another signing key.
    let stranger = dir.path("stranger.key.pem");
    sm2_key(&stranger);
    let foreign = dir.path("foreign.envelope.der");
    py(&["envelope", s(&stranger), s(&dual.enc_key), s(&foreign)]);
    assert_dual_refused(
        &out,
        &[sign.clone(), chain.clone(), enc.clone(), foreign.clone()],
        &ca.root,
        "ref",
        &["foreign.envelope.der", "cannot be decrypted with ref's signing key"],
        "an envelope for another signing key",
    );

    // sm2EncryptedPrivateKey tampered: what unwraps is not the envelope's sm2PublicKey.
    let tampered = dir.path("tampered.envelope.der");
    py(&["envelope", s(&csr), s(&dual.enc_key), s(&tampered), "--tamper"]);
    assert!(py(&["unwrap", s(&out.join("ref.key.pem")), s(&tampered)]).starts_with("MISMATCH"));
    assert_dual_refused(
        &out,
        &[sign.clone(), chain.clone(), enc.clone(), tampered],
        &ca.root,
        "ref",
        &["tampered.envelope.der"],
        "a tampered sm2EncryptedPrivateKey",
    );

    // The encryption certificate is for another key than the envelope's (and the key
    // file's): no key is given for it.
    let other_key = dir.path("other-enc.key.pem");
    sm2_key(&other_key);
    let other_env = dir.path("other.envelope.der");
    py(&["envelope", s(&csr), s(&other_key), s(&other_env)]);
    assert_dual_refused(
        &out,
        &[sign.clone(), chain.clone(), enc.clone(), other_env],
        &ca.root,
        "ref",
        &["no private key given for the encryption certificate"],
        "an encryption certificate for another key than the envelope's",
    );
    let other_pem = dir.path("other-enc.pem");
    std::fs::copy(&other_key, &other_pem).unwrap();
    assert_dual_refused(
        &out,
        &[sign.clone(), chain.clone(), enc.clone(), other_pem],
        &ca.root,
        "ref",
        &["no private key given for the encryption certificate"],
        "an encryption certificate for another key than the key file's",
    );

    // After all that, the right delivery goes in.
    import_dual_ok(&base, &out, &ca.root, &["ref"], "imported", &[], &[]);
    assert_dual_live(&out, "ref", &dual, &ca, None);
}

#[test]
fn dual_renewal_switches_both_pairs_together() {
    let dir = Dir::new();
    let (m, out) = sm2_folder(&dir, &["ren"], &[], &[]);
    let f = |suffix: &str| out.join(format!("ren.{suffix}"));
    let ca = Ca::sm2();
    let spent = Issue::valid(Validity::two_thirds_spent());
    let first = issue_dual(&ca, &dir, &f("csr.pem"), &spent, "1");
    let files = deliver(&dir, "1", &first, Form::EnvelopeDer, &f("csr.pem"));
    import_dual_ok(&files, &out, &ca.root, &["ren"], "imported", &[], &[]);
    assert_dual_live(&out, "ren", &first, &ca, None);

    // Expiring: generate writes the next pair and leaves every live file.
    let check = generate(&m, &out, &["--check"]);
    assert_eq!(check.status.code(), Some(1), "--check: {}", stderr(&check));
    let live: Vec<(String, Vec<u8>)> = SIGN_FILES
        .iter()
        .chain(&ENC_FILES)
        .map(|file| (file.to_string(), std::fs::read(f(file)).unwrap()))
        .collect();
    // Links, or (a first certificate) regular files: the same afterwards.
    let link_of = |file: &str| std::fs::read_link(f(file)).ok();
    let links: Vec<Option<PathBuf>> = ENC_FILES.iter().map(|file| link_of(file)).collect();
    let live_before = live_state(&out, "ren");
    generate_ok(&m, &out, &["-q"]);
    assert_eq!(state(&out, "ren"), "renew");
    assert_live_unchanged(&out, "ren", &live_before, "the renewal's generate");
    for (file, bytes) in &live {
        assert_eq!(&std::fs::read(f(file)).unwrap(), bytes, "the renewal's generate: ren.{file}");
    }
    let links_after: Vec<Option<PathBuf>> = ENC_FILES.iter().map(|file| link_of(file)).collect();
    assert_eq!(links, links_after, "the renewal's generate: the encryption links");
    let next_pub = csr_pubkey(&f("next.csr.pem"));
    assert_eq!(key_pubkey(&f("next.key.pem"), None), next_pub);

    // The signing certificate alone for the next key: the encryption pair must come too.
    let second = issue_dual(&ca, &dir, &f("next.csr.pem"), &Issue::default(), "2");
    let alone = deliver(&dir, "alone", &second, Form::Pkcs8, &f("next.csr.pem"));
    let before = snapshot(&out);
    let (code, doc, said) = import_run(&alone[..2], &out, &ca.root, &[], &[]);
    assert_eq!(code, Some(1), "a renewal without its encryption pair: {said}\n{doc}");
    assert_eq!(snapshot_diff(&before, &snapshot(&out)), Vec::<String>::new(), "refused: nothing written");

    // All of it: an envelope to the NEXT key; both renewed, switched together.
    let files = deliver(&dir, "2", &second, Form::EnvelopeDer, &f("next.csr.pem"));
    import_dual_ok(&files, &out, &ca.root, &["ren"], "renewed", &[], &[]);
    assert_dual_live(&out, "ren", &second, &ca, None);
    assert_eq!(key_pubkey(&f("key.pem"), None), next_pub, "the live signing key is the next key");
    assert_ne!(key_pubkey(&f("enc.key.pem"), None), key_pubkey(&first.enc_key, None), "a new encryption key");
    assert!(!exists(&f("next.csr.pem")) && !exists(&f("next.key.pem")), "the next pair became live");
    assert_eq!(state(&out, "ren"), "renewed");
    let check = generate(&m, &out, &["--check"]);
    assert_eq!(check.status.code(), Some(0), "--check after the renewal: {}", stderr(&check));
}

const MANY: usize = 50;

/// The dual deliveries of requests `k0..` for `csrs`: the signing leaves in one file, the
/// encryption leaves in another, an envelope per request (to `csrs`' keys); the new
/// encryption keys' public keys by index.
fn many_duals(dir: &Dir, ca: &Ca, csrs: &[PathBuf], validity: Validity, tag: &str) -> (PathBuf, Vec<String>) {
    let folder = dir.path(&format!("many-{tag}"));
    std::fs::create_dir_all(&folder).unwrap();
    let keys: Vec<PathBuf> = (0..csrs.len()).map(|i| dir.path(&format!("kmc-{tag}-{i}.pem"))).collect();
    for k in &keys {
        sm2_key(k);
    }
    let pubs = keys.iter().map(|k| key_pubkey(k, None)).collect();
    let sign = ca.issue_many(csrs, validity);
    std::fs::copy(&sign, folder.join("signing.pem")).unwrap();
    let pairs: Vec<(PathBuf, PathBuf)> = csrs.iter().cloned().zip(keys.iter().cloned()).collect();
    let enc = ca.issue_encryption_many(&pairs, validity);
    std::fs::copy(&enc, folder.join("encryption.pem")).unwrap();
    let list: String = csrs
        .iter()
        .zip(&keys)
        .enumerate()
        .map(|(i, (c, k))| format!("{} {} {}\n", s(c), s(k), s(&folder.join(format!("k{i}.envelope.der")))))
        .collect();
    let list_file = dir.path(&format!("envelopes-{tag}.txt"));
    std::fs::write(&list_file, list).unwrap();
    py(&["envelopes", s(&list_file)]);
    (folder, pubs)
}

/// Every request's two live pairs belong together and are in one generation, and both are
/// the old ones or both the new ones: how many are the new ones.
fn assert_dual_pairs(out: &Path, sign_next: &[String], enc_next: &[String], what: &str) -> usize {
    let mut promoted = 0;
    for i in 0..sign_next.len() {
        let name = format!("k{i}");
        let f = |suffix: &str| out.join(format!("{name}.{suffix}"));
        let (crt, key) = (cert_pubkey(&f("crt.pem")), key_pubkey(&f("key.pem"), None));
        let (enc_crt, enc_key) = (cert_pubkey(&f("enc.crt.pem")), key_pubkey(&f("enc.key.pem"), None));
        assert_eq!(crt, key, "{what}: {name}: the signing key and certificate do not belong together");
        assert_eq!(
            enc_crt, enc_key,
            "{what}: {name}: the encryption key and certificate do not belong together"
        );
        assert_one_generation(out, &name, &[&SIGN_FILES[..], &ENC_FILES].concat(), what);
        let (sign_new, enc_new) = (crt == sign_next[i], enc_crt == enc_next[i]);
        assert_eq!(sign_new, enc_new, "{what}: {name}: one pair renewed without the other");
        promoted += usize::from(sign_new);
    }
    promoted
}

#[test]
fn dual_kill_9_during_a_promotion_keeps_both_pairs_together() {
    let dir = Dir::new();
    let m = many_named(&dir, "SM2", MANY);
    let template = dir.path("template");
    generate_ok(&m, &template, &["-q"]);
    let ca = Ca::sm2();
    let csrs: Vec<PathBuf> = (0..MANY).map(|i| template.join(format!("k{i}.csr.pem"))).collect();
    let (first, _) = many_duals(&dir, &ca, &csrs, Validity::two_thirds_spent(), "1");
    let names: Vec<String> = (0..MANY).map(|i| format!("k{i}")).collect();
    let refs: Vec<&str> = names.iter().map(String::as_str).collect();
    import_dual_ok(&[first], &template, &ca.root, &refs, "imported", &[], &[]);
    generate_ok(&m, &template, &["-q"]);
    let next_csrs: Vec<PathBuf> = (0..MANY).map(|i| template.join(format!("k{i}.next.csr.pem"))).collect();
    let sign_next: Vec<String> = next_csrs.iter().map(|c| csr_pubkey(c)).collect();
    let (renewal, enc_next) = many_duals(&dir, &ca, &next_csrs, Validity::fresh(), "2");
    let root = ca.root.clone();
    let spawn = |out: &Path| {
        Command::new(env!("CARGO_BIN_EXE_csrbatch"))
            .arg("import")
            .arg(&renewal)
            .args([os("--out"), out.as_os_str(), os("--ca-bundle"), root.as_os_str(), os("-q")])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap()
    };

    let out = dir.path("out");
    copy_folder(&template, &out);
    let start = Instant::now();
    let status = spawn(&out).wait().unwrap();
    let whole = start.elapsed();
    assert!(status.success(), "the uninterrupted promoting import");
    assert_eq!(assert_dual_pairs(&out, &sign_next, &enc_next, "uninterrupted"), MANY);

    let generations = count_generations(&template);
    let mut part_way = 0;
    let points = kill_points(whole, 2, &[0.2, 0.5, 0.8]);
    for (point, what) in points {
        copy_folder(&template, &out);
        let mut child = spawn(&out);
        kill_at(&mut child, point, &out, generations);
        let promoted = assert_dual_pairs(&out, &sign_next, &enc_next, &what);
        let begun = count_generations(&out) > generations;
        let unfinished = (0..MANY).any(|i| out.join(format!("k{i}.next.csr.pem")).exists());
        part_way += usize::from(begun && (promoted < MANY || unfinished));

        let run = bin(&[
            os("import"),
            renewal.as_os_str(),
            os("--out"),
            out.as_os_str(),
            os("--ca-bundle"),
            root.as_os_str(),
        ]);
        assert_eq!(run.status.code(), Some(0), "{what}: the re-run: {}", stderr(&run));
        assert_eq!(
            assert_dual_pairs(&out, &sign_next, &enc_next, &format!("{what}, re-run")),
            MANY,
            "{what}: all promoted"
        );
        for i in 0..MANY {
            assert!(
                !exists(&out.join(format!("k{i}.next.key.pem"))),
                "{what}: k{i}: the next pair became live"
            );
        }
    }
    assert!(part_way > 0, "no kill landed part-way through the promotion (whole import: {whole:?})");
}

#[test]
fn dual_inspect_with_both_keys_says_which_key_is_whose() {
    let dir = Dir::new();
    let (_, out) = sm2_folder(&dir, &["ins"], &[], &[]);
    let ca = Ca::sm2();
    let csr = out.join("ins.csr.pem");
    let dual = issue_dual(&ca, &dir, &csr, &Issue::default(), "1");
    let files = deliver(&dir, "1", &dual, Form::Pkcs8, &csr);
    import_dual_ok(&files, &out, &ca.root, &["ins"], "imported", &[], &[]);
    let f = |suffix: &str| out.join(format!("ins.{suffix}"));
    let run = bin(&[
        os("inspect"),
        f("crt.pem").as_os_str(),
        f("enc.crt.pem").as_os_str(),
        os("--key"),
        f("key.pem").as_os_str(),
        os("--key"),
        f("enc.key.pem").as_os_str(),
    ]);
    let said = String::from_utf8_lossy(&run.stdout).into_owned();
    assert_eq!(run.status.code(), Some(0), "{said}{}", stderr(&run));
    // Each file's block: from the line naming it to the next file's.
    let block = |file: &str, next: Option<&str>| -> String {
        let start = said.find(file).unwrap_or_else(|| panic!("{file} in:\n{said}"));
        let rest = &said[start..];
        let end = next.and_then(|n| rest[1..].find(n).map(|e| e + 1)).unwrap_or(rest.len());
        rest[..end].to_owned()
    };
    let sign_block = block(s(&f("crt.pem")), Some(s(&f("enc.crt.pem"))));
    let enc_block = block(s(&f("enc.crt.pem")), None);
    let key_line = |b: &str| -> String {
        b.lines()
            .find(|l| l.contains("KeyMatches"))
            .unwrap_or_else(|| panic!("KeyMatches in:\n{b}"))
            .to_owned()
    };
    let (sl, el) = (key_line(&sign_block), key_line(&enc_block));
    assert!(
        sl.contains("yes") && sl.contains("ins.key.pem") && !sl.contains("ins.enc.key.pem"),
        "the signing certificate's: {sl}\n{said}"
    );
    assert!(
        el.contains("yes") && el.contains("ins.enc.key.pem"),
        "the encryption certificate's: {el}\n{said}"
    );
}

#[test]
fn dual_an_import_killed_before_its_last_encryption_file_or_its_chain_cut_is_mended_by_the_next() {
    // What a kill between NAME.enc.crt.pem and NAME.enc.fullchain.pem leaves: the same
    // delivery again writes the missing file, and --check is clean only then.
    let dir = Dir::new();
    let (m, out) = sm2_folder(&dir, &["cut"], &[], &[]);
    let ca = Ca::sm2();
    let csr = out.join("cut.csr.pem");
    let dual = issue_dual(&ca, &dir, &csr, &Issue::default(), "1");
    let files = deliver(&dir, "1", &dual, Form::Pkcs8, &csr);
    import_dual_ok(&files, &out, &ca.root, &["cut"], "imported", &[], &[]);
    let fullchain = out.join("cut.enc.fullchain.pem");
    let bytes = std::fs::read(&fullchain).unwrap();
    // What the records hold each chain to, by sha256sum: NAME.chain.pem, and what follows
    // the encryption certificate in its full chain.
    let sha256sum = |bytes: &[u8]| sha256sum(bytes, &dir.path("digested"));
    let enc_chain =
        bytes.strip_prefix(std::fs::read(out.join("cut.enc.crt.pem")).unwrap().as_slice()).unwrap();
    let recorded = &crate::ca::entry(&out, "cut")["Certificate"];
    assert_eq!(
        recorded["ChainSha256"],
        sha256sum(&std::fs::read(out.join("cut.chain.pem")).unwrap()).as_str()
    );
    assert_eq!(recorded["EncryptionCertificate"]["ChainSha256"], sha256sum(enc_chain).as_str());
    std::fs::remove_file(&fullchain).unwrap();
    assert_eq!(generate(&m, &out, &["--check"]).status.code(), Some(1), "--check with a file missing");
    import_dual_ok(&files, &out, &ca.root, &["cut"], "imported", &[], &[]);
    assert_eq!(std::fs::read(&fullchain).unwrap(), bytes, "the missing file, written again");
    assert_dual_live(&out, "cut", &dual, &ca, None);
    assert_eq!(generate(&m, &out, &["--check"]).status.code(), Some(0), "--check once finished");
    // The encryption certificate alone where its full chain should be: damaged, and the
    // delivery imported again mends it.
    std::fs::copy(out.join("cut.enc.crt.pem"), &fullchain).unwrap();
    assert_eq!(generate(&m, &out, &["--check"]).status.code(), Some(1), "--check with the chain cut");
    let line = crate::import2::plan_line(&crate::import2::plan(&m, &out, &[]), "cut");
    assert!(line.starts_with("damaged") && line.contains("enc.fullchain.pem"), "{line}");
    import_dual_ok(&files, &out, &ca.root, &["cut"], "imported", &[], &[]);
    assert_eq!(std::fs::read(&fullchain).unwrap(), bytes, "the full chain, written again");
    assert_dual_live(&out, "cut", &dual, &ca, None);
    assert_eq!(generate(&m, &out, &["--check"]).status.code(), Some(0), "--check once mended");
}

#[test]
fn dual_an_encryption_key_changed_by_hand_is_damaged_until_its_delivery_is_imported_again() {
    // The CA made NAME.enc.key.pem and no other file holds it: another key there, or one
    // that no longer reads, must not pass `--check` as up to date, and the CA's delivery
    // imported again puts the key back (a new generation), in a plain and in an
    // encrypted folder (opened with its passphrase).
    let dir = Dir::new();
    let ca = Ca::sm2();
    let env = [(PASS_ENV, PASS)];
    let flag = ["--key-passphrase-env", PASS_ENV];
    for (at, extra, env) in [("plain", &[][..], &[][..]), ("sealed", &flag[..], &env[..])] {
        let (m, out) = sm2_folder_at(&dir, at, &["ek"], extra, env);
        let csr = out.join("ek.csr.pem");
        let dual = issue_dual(&ca, &dir, &csr, &Issue::default(), at);
        let files = deliver(&dir, at, &dual, Form::Pkcs8, &csr);
        import_dual_ok(&files, &out, &ca.root, &["ek"], "imported", extra, env);
        let pass = (!env.is_empty()).then_some(PASS);
        assert_dual_live(&out, "ek", &dual, &ca, pass);
        let run = |command: &str, args: &[&str]| {
            let mut all = vec![os(command), m.as_os_str(), os("--out"), out.as_os_str()];
            all.extend(args.iter().chain(extra).map(|a| os(a)));
            csrbatch_env(&all, env)
        };
        let check = || run("generate", &["--check"]).status.code();
        assert_eq!(check(), Some(0), "{at}: --check once imported");
        // Another SM2 key, stored as the folder stores keys; then junk.
        let other = dir.path(&format!("{at}-other.key"));
        openssl_ok(&["genpkey", "-algorithm", "SM2", "-out", s(&other)]);
        let other_pem = match pass {
            None => text(&other),
            Some(p) => openssl_ok(&[
                "pkcs8",
                "-topk8",
                "-in",
                s(&other),
                "-v2",
                "aes-256-cbc",
                "-passout",
                &format!("pass:{p}"),
            ]),
        };
        let enc_key = out.join("ek.enc.key.pem");
        // In a folder of plain keys, an encrypted one cannot be read (import writes the
        // encryption key as the folder's keys are).
        let sealed = match pass {
            None => {
                openssl_ok(&["pkcs8", "-topk8", "-in", s(&other), "-v2", "aes-256-cbc", "-passout", "pass:x"])
            }
            Some(_) => other_pem.clone(),
        };
        let edits = [
            (other_pem.as_str(), "is not the key of"),
            ("junk\n", "ek.enc.key.pem: "),
            (&sealed, if pass.is_none() { "ek.enc.key.pem: " } else { "is not the key of" }),
        ];
        for (new, said) in edits {
            std::fs::write(&enc_key, new).unwrap();
            assert_eq!(check(), Some(1), "{at}: --check with {said}");
            let plan = String::from_utf8(run("plan", &[]).stdout).unwrap();
            let line = crate::import2::plan_line(&plan, "ek");
            assert!(
                line.starts_with("damaged")
                    && line.contains(said)
                    && line.contains(&format!("{at}/ek.enc.key.pem"))
                    && line.contains("import the encryption certificate again"),
                "{at}: {line}"
            );
            import_dual_ok(&files, &out, &ca.root, &["ek"], "imported", extra, env);
            assert_dual_live(&out, "ek", &dual, &ca, pass);
            assert_eq!(check(), Some(0), "{at}: --check once imported again");
        }
    }
}

#[test]
fn dual_an_encryption_pair_swapped_or_gone_is_damaged_until_imported_again() {
    // The records hold the encryption pair imported with a signing certificate: summary.json
    // for a first certificate, a linked generation's meta.json after. Another pair the CA
    // issued, written over it by hand, holds together (its key is its certificate's, its
    // full chain the certificate then the chain), so only the records show that it is not
    // the pair imported. A certificate gone is damaged too, its record kept by generate.
    let dir = Dir::new();
    let (m, out) = sm2_folder(&dir, &["sw"], &[], &[]);
    let csr = out.join("sw.csr.pem");
    let f = |suffix: &str| out.join(format!("sw.{suffix}"));
    let ca = Ca::sm2();
    let first = issue_dual(&ca, &dir, &csr, &Issue::default(), "1");
    let first_delivery = deliver(&dir, "1", &first, Form::Pkcs8, &csr);
    import_dual_ok(&first_delivery, &out, &ca.root, &["sw"], "imported", &[], &[]);
    let read_pair = |at: &Path| -> Vec<Vec<u8>> {
        ENC_FILES.iter().map(|file| std::fs::read(at.join(format!("sw.{file}"))).unwrap()).collect()
    };
    let write_pair = |pair: &[Vec<u8>]| {
        for (file, bytes) in ENC_FILES.iter().zip(pair) {
            std::fs::write(f(file), bytes).unwrap(); // through a link, as `cp` writes
        }
    };
    let first_pair = read_pair(&out);
    // A second pair for the same signing key, as import writes it (into a copy).
    let second = issue_dual(&ca, &dir, &csr, &Issue::default(), "2");
    let second_delivery = deliver(&dir, "2", &second, Form::Pkcs8, &csr);
    let copy = dir.path("copy");
    copy_folder(&out, &copy);
    import_dual_ok(&second_delivery, &copy, &ca.root, &["sw"], "imported", &[], &[]);
    let second_pair = read_pair(&copy);
    let check = || generate(&m, &out, &["--check"]).status.code();
    assert_eq!(check(), Some(0), "--check once the first pair is imported");
    let damaged = |what: &str, said: &str| {
        assert_eq!(check(), Some(1), "--check with {what}");
        let line = crate::import2::plan_line(&crate::import2::plan(&m, &out, &[]), "sw");
        assert!(
            line.starts_with("damaged")
                && line.contains(said)
                && line.contains("import the encryption certificate again"),
            "{what}: {line}"
        );
    };
    let recorded_fingerprint = || {
        let summary = summary_json(&out);
        let enc = &summary["Csrs"][0]["Certificate"]["EncryptionCertificate"];
        hex_norm(
            enc["Sha256Fingerprint"].as_str().unwrap_or_else(|| panic!("no encryption record: {summary}")),
        )
    };

    // A first certificate's pair: the second one over it, then the first back.
    assert!(!f("enc.crt.pem").is_symlink());
    write_pair(&second_pair);
    assert_eq!(key_pubkey(&f("enc.key.pem"), None), cert_pubkey(&f("enc.crt.pem")), "openssl: a pair");
    damaged(
        "the second pair over a first certificate's",
        "sw.enc.crt.pem is not the encryption certificate imported",
    );
    write_pair(&first_pair);
    assert_eq!(check(), Some(0), "--check with the first pair back");
    // Its certificate gone: damaged, and a plain generate keeps the record.
    std::fs::remove_file(f("enc.crt.pem")).unwrap();
    damaged(
        "a first certificate's encryption certificate gone",
        "sw.enc.crt.pem is not there as a regular file",
    );
    assert_ne!(generate(&m, &out, &[]).status.code(), Some(2));
    damaged(
        "the encryption certificate gone, after a generate",
        "sw.enc.crt.pem is not there as a regular file",
    );
    assert_eq!(recorded_fingerprint(), cert_facts(&first.enc.leaf).fingerprint, "the record is kept");
    import_dual_ok(&first_delivery, &out, &ca.root, &["sw"], "imported", &[], &[]);
    assert_dual_live(&out, "sw", &first, &ca, None);
    assert_eq!(check(), Some(0), "--check once the first pair is imported again");

    // A linked generation's pair (the second one's), the first one written back over it.
    import_dual_ok(&second_delivery, &out, &ca.root, &["sw"], "imported", &[], &[]);
    assert_dual_live(&out, "sw", &second, &ca, None);
    assert!(f("enc.crt.pem").is_symlink(), "the second pair is a linked generation");
    assert_eq!(check(), Some(0), "--check once the second pair is imported");
    write_pair(&first_pair);
    assert!(f("enc.crt.pem").is_symlink(), "the links stay");
    damaged(
        "the first pair written back into a generation",
        "sw.enc.crt.pem is not the encryption certificate imported",
    );
    assert_eq!(
        recorded_fingerprint(),
        cert_facts(&second.enc.leaf).fingerprint,
        "the records hold the second"
    );
    import_dual_ok(&second_delivery, &out, &ca.root, &["sw"], "imported", &[], &[]);
    assert_dual_live(&out, "sw", &second, &ca, None);
    assert_eq!(check(), Some(0), "--check once the second pair is imported again");
}

#[test]
fn dual_an_import_of_a_new_encryption_pair_killed_before_its_summary_is_not_up_to_date() {
    // The same signing certificate with a new encryption pair: a generation of its own.
    // Killed after its switch, before summary.json (written last, by rename): the records
    // still name the old encryption certificate, so the folder is not up to date until
    // the import runs again.
    let dir = Dir::new();
    let (m, out) = sm2_folder(&dir, &["kp"], &[], &[]);
    let csr = out.join("kp.csr.pem");
    let ca = Ca::sm2();
    let first = issue_dual(&ca, &dir, &csr, &Issue::default(), "1");
    import_dual_ok(
        &deliver(&dir, "1", &first, Form::Pkcs8, &csr),
        &out,
        &ca.root,
        &["kp"],
        "imported",
        &[],
        &[],
    );
    let second = issue_dual(&ca, &dir, &csr, &Issue::default(), "2");
    let mixed = Dual { sign: first.sign, enc: second.enc, enc_key: second.enc_key };
    let files = deliver(&dir, "mixed", &mixed, Form::Pkcs8, &csr);
    let check = || generate(&m, &out, &["--check"]).status.code();
    assert_eq!(check(), Some(0));
    let summary_before = std::fs::read(out.join("summary.json")).unwrap();
    let (code, doc, said) = import_run(&files, &out, &ca.root, &[], &[]);
    assert_eq!(code, Some(0), "{said}\n{doc}");
    assert!(out.join("kp.enc.crt.pem").is_symlink(), "the new encryption pair is a generation");
    std::fs::write(out.join("summary.json"), &summary_before).unwrap();
    assert_eq!(check(), Some(1), "--check with the records naming the old encryption certificate");
    let line = crate::import2::plan_line(&crate::import2::plan(&m, &out, &[]), "kp");
    assert!(line.starts_with("imported") && line.contains("an import did not finish"), "{line}");
    let (code, doc, said) = import_run(&files, &out, &ca.root, &[], &[]);
    assert_eq!(code, Some(0), "{said}\n{doc}");
    assert_eq!(check(), Some(0), "--check once the import ran again");
    let summary = summary_json(&out);
    let recorded = &summary["Csrs"][0]["Certificate"]["EncryptionCertificate"]["Sha256Fingerprint"];
    assert_eq!(hex_norm(recorded.as_str().unwrap_or_default()), cert_facts(&mixed.enc.leaf).fingerprint);
}
