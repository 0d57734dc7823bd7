//! The exit-code table, one test per row: 0 every request done; 1 some request failed or
//! is damaged, or `--check` found the folder not up to date; 2 nothing was done (bad
//! usage, a manifest error, an output folder that is a file or cannot be created, a
//! passphrase problem, records of the folder that cannot be read); 130 interrupted (see folder.rs, which sends the signal).

use std::path::{Path, PathBuf};

use crate::util::*;

fn one(dir: &Dir) -> PathBuf {
    dir.write("m.csv", "Algorithm,CommonName,CountryCode,Province,Locality\nECC,x.example.com,CN,P,L\n")
}

fn generate(m: &Path, out: &Path, extra: &[&str]) -> std::process::Output {
    let mut args = vec!["generate".as_ref(), m.as_os_str(), "--out".as_ref(), out.as_os_str(), "-q".as_ref()];
    args.extend(extra.iter().map(std::ffi::OsStr::new));
    csrbatch(args)
}

#[test]
fn zero_when_every_request_is_done() {
    let dir = Dir::new();
    let run = generate(&one(&dir), &dir.path("out"), &[]);
    assert_eq!(run.status.code(), Some(0), "{}", stderr(&run));
    assert_eq!(generate(&one(&dir), &dir.path("out"), &["--check"]).status.code(), Some(0));
}

#[test]
fn one_when_a_request_is_damaged() {
    let dir = Dir::new();
    let out = dir.path("out");
    assert!(generate(&one(&dir), &out, &[]).status.success());
    std::fs::write(out.join("x.example.com.csr.pem"), "not a CSR").unwrap();
    let run = generate(&one(&dir), &out, &[]);
    assert_eq!(run.status.code(), Some(1), "{}", stderr(&run));
    assert!(stderr(&run).contains("damaged   x.example.com"), "{}", stderr(&run));
}

#[test]
fn one_when_check_finds_work() {
    let dir = Dir::new();
    let out = dir.path("out");
    assert_eq!(generate(&one(&dir), &out, &["--check"]).status.code(), Some(1), "nothing there yet");
    assert!(!out.exists(), "--check writes nothing");
}

#[test]
fn two_on_bad_usage() {
    let dir = Dir::new();
    let run = csrbatch(["generate".as_ref(), one(&dir).as_os_str(), "--layout".as_ref(), "round".as_ref()]);
    assert_eq!(run.status.code(), Some(2));
    assert_eq!(csrbatch(["merge", "--out", "x"]).status.code(), Some(2), "merge without a shard folder");
}

#[test]
fn two_on_a_manifest_error() {
    let dir = Dir::new();
    let m = dir
        .write("bad.csv", "Algorithm,CommonName,CountryCode,Province,Locality\nECC,x.example.com,ZZ,P,L\n");
    let run = generate(&m, &dir.path("out"), &[]);
    assert_eq!(run.status.code(), Some(2));
    assert!(!dir.path("out").exists());
}

#[test]
fn two_when_out_is_a_file() {
    let dir = Dir::new();
    dir.write("taken", "a file");
    let run = std::process::Command::new(env!("CARGO_BIN_EXE_csrbatch"))
        .current_dir(dir.tmp.path())
        .args(["generate".as_ref(), one(&dir).as_os_str(), "--out".as_ref(), "taken".as_ref()])
        .output()
        .unwrap();
    assert_eq!(run.status.code(), Some(2));
    assert_eq!(stderr(&run).trim(), "error: --out taken: is a file, not a folder", "named as given");
    assert_eq!(std::fs::read_to_string(dir.path("taken")).unwrap(), "a file");
}

#[test]
fn two_when_out_cannot_be_created() {
    let dir = Dir::new();
    dir.write("taken", "a file");
    let run = std::process::Command::new(env!("CARGO_BIN_EXE_csrbatch"))
        .current_dir(dir.tmp.path())
        .args(["generate".as_ref(), one(&dir).as_os_str(), "--out".as_ref(), "taken/certs".as_ref()])
        .output()
        .unwrap();
    assert_eq!(run.status.code(), Some(2), "{}", stderr(&run));
    let err = stderr(&run);
    assert!(err.starts_with("error: --out taken/certs: "), "{err}");
    assert!(!err.contains(".csrbatch"), "no internal path: {err}");
}

#[test]
fn two_on_a_passphrase_problem() {
    let dir = Dir::new();
    let run = generate(&one(&dir), &dir.path("out"), &["--key-passphrase-env", "CSRBATCH_NO_SUCH_VARIABLE"]);
    assert_eq!(run.status.code(), Some(2));
    assert!(stderr(&run).contains("CSRBATCH_NO_SUCH_VARIABLE is not set"), "{}", stderr(&run));
    let empty = dir.write("pass.txt", "\n");
    let run = generate(&one(&dir), &dir.path("out"), &["--key-passphrase-file", empty.to_str().unwrap()]);
    assert_eq!(run.status.code(), Some(2));
    assert!(!dir.path("out").exists());
}

#[test]
fn two_when_the_folders_records_cannot_be_read() {
    let dir = Dir::new();
    let out = dir.path("out");
    assert!(generate(&one(&dir), &out, &[]).status.success());
    std::fs::write(out.join("summary.json"), "{\"Csrs\": [").unwrap();
    // Another manifest than the one recorded: a run that went on would record it.
    let m =
        dir.write("m.csv", "Algorithm,CommonName,CountryCode,Province,Locality\nECC,y.example.com,CN,P,L\n");
    let (before, state) = (tree(&out), std::fs::read(out.join(".csrbatch/state.json")).unwrap());
    for extra in [&[][..], &["--check"], &["--rotate"]] {
        let run = generate(&m, &out, extra);
        assert_eq!(run.status.code(), Some(2), "{extra:?}: {}", stderr(&run));
        assert!(stderr(&run).contains("summary.json: unreadable summary"), "{}", stderr(&run));
    }
    assert_eq!(tree(&out), before, "nothing written");
    assert_eq!(std::fs::read(out.join(".csrbatch/state.json")).unwrap(), state, "state.json untouched");
}

#[test]
fn import_refuses_reencrypt_which_only_generate_does() {
    // import never rewrites keys: a flag it would ignore is a usage error, not a no-op.
    let dir = Dir::new();
    let cert = dir.write("c.pem", "");
    let run = csrbatch([
        "import".as_ref(),
        cert.as_os_str(),
        "--out".as_ref(),
        dir.path("out").as_os_str(),
        "--reencrypt".as_ref(),
    ]);
    assert_eq!(run.status.code(), Some(2), "{}", stderr(&run));
    assert!(stderr(&run).contains("--reencrypt"), "{}", stderr(&run));
    assert!(!dir.path("out").exists(), "nothing written");
}
