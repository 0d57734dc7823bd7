//! More outside judges for SM2 CSRs, beside openssl: BouncyCastle (Java), whose SM3withSM2
//! verifier uses the GM/T 0009 default ID, and Tongsuo. CI installs both
//! (`libbcprov-java libbcpkix-java`, `pip install tongsuopy`); on a machine without one the
//! test says so and is skipped (a failure in CI).

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use crate::util::{Dir, csrbatch, judge, openssl, runs, stderr};

const JARS: [&str; 3] = ["bcprov.jar", "bcpkix.jar", "bcutil.jar"];

/// The class path of BouncyCastle's jars, if Java and they are installed (Debian's
/// `libbcprov-java libbcpkix-java`).
fn bouncycastle() -> Option<String> {
    let jars: Vec<PathBuf> = JARS.iter().map(|jar| Path::new("/usr/share/java").join(jar)).collect();
    let present = runs("java") && jars.iter().all(|j| j.exists());
    let install = "apt-get install default-jdk-headless libbcprov-java libbcpkix-java";
    judge("BouncyCastle (Java and /usr/share/java/bcprov.jar, bcpkix.jar, bcutil.jar)", present, install)
        .then(|| jars.iter().map(|j| j.to_string_lossy().into_owned()).collect::<Vec<_>>().join(":"))
}

/// Runs tests/judges/Sm2CsrVerify.java on the CSRs.
fn bouncycastle_verify(classpath: &str, csrs: &[PathBuf]) -> Output {
    let judge = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/judges/Sm2CsrVerify.java");
    Command::new("java").arg("-cp").arg(classpath).arg(judge).args(csrs).output().expect("run java")
}

/// Three SM2 CSRs csrbatch made (Chinese names, an IP SAN, a wildcard), then one OpenSSL
/// signed with the empty ID, which a judge must refuse: it shows the judge can say no.
fn sm2_csrs_and_an_empty_id_one(dir: &Dir) -> (Vec<PathBuf>, PathBuf) {
    let manifest = dir.write(
        "sm2.yaml",
        "defaults: {CountryCode: CN, Province: Zhejiang, Locality: Hangzhou, Algorithm: SM2}\n\
         requests:\n\
         \x20 - {CommonName: a.example.com, CorpName: 某某市政务服务中心}\n\
         \x20 - {CommonName: b.example.com, Sans: [c.example.com, 192.0.2.7]}\n\
         \x20 - {CommonName: '*.example.com', Department: 信息部}\n",
    );
    let out = dir.path("out");
    let run = csrbatch(["generate".as_ref(), manifest.as_os_str(), "--out".as_ref(), out.as_os_str()]);
    assert!(run.status.success(), "{}", stderr(&run));
    let csrs: Vec<PathBuf> = ["a.example.com", "b.example.com", "wildcard.example.com"]
        .iter()
        .map(|n| out.join(format!("{n}.csr.pem")))
        .collect();

    let key = dir.path("k.pem");
    let empty_id = dir.path("empty-id.csr");
    let k = openssl(&["genpkey", "-algorithm", "SM2", "-out", key.to_str().unwrap()]);
    assert!(k.status.success(), "{}", String::from_utf8_lossy(&k.stderr));
    let r = openssl(&[
        "req",
        "-new",
        "-key",
        key.to_str().unwrap(),
        "-sm3",
        "-subj",
        "/CN=empty.example.com",
        "-out",
        empty_id.to_str().unwrap(),
    ]);
    assert!(r.status.success(), "{}", String::from_utf8_lossy(&r.stderr));
    (csrs, empty_id)
}

#[test]
fn bouncycastle_verifies_every_sm2_csr_with_the_standard_id() {
    let Some(classpath) = bouncycastle() else { return };
    let dir = Dir::new();
    let (csrs, empty_id) = sm2_csrs_and_an_empty_id_one(&dir);
    let mut all = csrs.clone();
    all.push(empty_id.clone());
    let judged = bouncycastle_verify(&classpath, &all);
    let text = String::from_utf8_lossy(&judged.stdout);
    for csr in &csrs {
        let line = format!("{}: valid 1.2.156.10197.1.501 1.2.156.10197.1.301", csr.display());
        assert!(text.lines().any(|l| l == line), "{line} not in:\n{text}{}", stderr(&judged));
    }
    assert!(
        text.lines().any(|l| l.starts_with(&format!("{}: INVALID", empty_id.display()))),
        "the empty-ID CSR must fail:\n{text}"
    );
    assert_eq!(judged.status.code(), Some(1), "one CSR in the batch is invalid");
}

/// A third SM2 judge: Tongsuo, Alibaba's OpenSSL fork (tongsuopy, from PyPI; CI installs
/// it), through tests/judges/sm2_tongsuo_verify.py.
#[test]
fn tongsuo_verifies_every_sm2_csr_with_the_standard_id() {
    let present =
        Command::new("python3").args(["-c", "import tongsuopy"]).output().is_ok_and(|o| o.status.success());
    if !judge("Tongsuo (python3 -c 'import tongsuopy')", present, "python3 -m pip install tongsuopy") {
        return;
    }
    let dir = Dir::new();
    let (csrs, empty_id) = sm2_csrs_and_an_empty_id_one(&dir);
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/judges/sm2_tongsuo_verify.py");
    let judged =
        Command::new("python3").arg(script).args(&csrs).arg(&empty_id).output().expect("run python3");
    let text = String::from_utf8_lossy(&judged.stdout);
    for csr in &csrs {
        let line = format!("{}: valid", csr.display());
        assert!(text.lines().any(|l| l == line), "{line} not in:\n{text}{}", stderr(&judged));
    }
    assert!(
        text.lines().any(|l| l == format!("{}: INVALID (signature does not verify)", empty_id.display())),
        "the empty-ID CSR must fail:\n{text}{}",
        stderr(&judged)
    );
    assert_eq!(judged.status.code(), Some(1), "one CSR in the batch is invalid");
}
