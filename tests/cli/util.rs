//! Test helpers: a unique temporary folder, the real csrbatch binary, the real openssl.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use csrbatch::output::summary::Summary;

pub struct Dir {
    pub tmp: tempfile::TempDir,
}

impl Dir {
    pub fn new() -> Dir {
        Dir { tmp: tempfile::tempdir().expect("temp dir") }
    }

    pub fn path(&self, rel: &str) -> PathBuf {
        self.tmp.path().join(rel)
    }

    pub fn write(&self, rel: &str, text: &str) -> PathBuf {
        let p = self.path(rel);
        if let Some(parent) = p.parent() {
            std::fs::create_dir_all(parent).unwrap();
        }
        std::fs::write(&p, text).unwrap();
        p
    }
}

/// SHA-256 of `bytes`, lower-case hex, as coreutils' `sha256sum` gives it (written to
/// `scratch` for it).
pub fn sha256sum(bytes: &[u8], scratch: &Path) -> String {
    std::fs::write(scratch, bytes).unwrap();
    let run = Command::new("sha256sum").arg(scratch).output().expect("run sha256sum");
    assert!(run.status.success(), "sha256sum: {}", String::from_utf8_lossy(&run.stderr));
    String::from_utf8(run.stdout).unwrap().split_whitespace().next().unwrap().to_owned()
}

pub fn manifests(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/manifests").join(rel)
}

pub fn csrbatch<I, S>(args: I) -> Output
where
    I: IntoIterator<Item = S>,
    S: AsRef<std::ffi::OsStr>,
{
    Command::new(env!("CARGO_BIN_EXE_csrbatch")).args(args).output().expect("run csrbatch")
}

/// Runs `command` with its stdout closed before it writes (as `| head -0` would), stderr
/// captured: a reader that goes away.
pub fn with_stdout_closed(command: &mut Command) -> Output {
    let mut child = command
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("run csrbatch");
    drop(child.stdout.take());
    child.wait_with_output().expect("wait for csrbatch")
}

pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

pub fn read_summary(out: &Path) -> Summary {
    Summary::read(&out.join("summary.json")).expect("summary.json")
}

/// Set (to anything but `0`) by `.ci/run`: a missing outside judge fails its test there.
pub const REQUIRE_JUDGES: &str = "CSRBATCH_REQUIRE_JUDGES";

/// `many.csv` in `dir`: `count` ECC requests, `host{i}.example.com`, no Name.
pub fn many(dir: &Dir, count: usize) -> PathBuf {
    let mut csv = String::from("Algorithm,CommonName,CountryCode,Province,Locality\n");
    for i in 0..count {
        csv.push_str(&format!("ECC,host{i}.example.com,CN,Zhejiang,Hangzhou\n"));
    }
    dir.write("many.csv", &csv)
}

/// `many.csv` in `dir`: `count` requests of `algorithm` named `k{i}`, for `k{i}.example.com`.
pub fn many_named(dir: &Dir, algorithm: &str, count: usize) -> PathBuf {
    let mut csv = String::from("Name,Algorithm,CommonName,CountryCode,Province,Locality\n");
    for i in 0..count {
        csv += &format!("k{i},{algorithm},k{i}.example.com,CN,Zhejiang,Hangzhou\n");
    }
    dir.write("many.csv", &csv)
}

/// Whether the outside judge `what` (a program, or files a program needs) is here. Where it
/// is not, the test says so on the terminal, naming the judge and how to install it, and
/// goes on without it (the caller returns, skipping what it judges), unless
/// [`REQUIRE_JUDGES`] is set: then the absence fails the test, so CI runs every judge.
pub fn judge(what: &str, present: bool, install: &str) -> bool {
    if present {
        return true;
    }
    let required = std::env::var_os(REQUIRE_JUDGES).is_some_and(|v| v != "0");
    let said = format!("{what} is not installed ({install}): what it judges was not checked");
    assert!(!required, "{said}; {REQUIRE_JUDGES} is set, so every judge must run");
    // Straight to the terminal: `eprintln!` would be captured, and a passing test's
    // captured output is never shown.
    let _ = writeln!(std::io::stderr(), "SKIPPED: {said}");
    false
}

/// Whether `program` can be run (it answers `--version`, or `-version` for Java).
pub fn runs(program: &str) -> bool {
    let flag = if program == "java" { "-version" } else { "--version" };
    Command::new(program).arg(flag).output().is_ok()
}

pub fn openssl(args: &[&str]) -> Output {
    Command::new("openssl").args(args).output().expect("the openssl binary must be installed")
}

/// `openssl req -verify`, judged by what it prints: it exits 0 even on "verify failure".
pub fn openssl_verifies(csr: &Path, sm2: bool) -> (bool, String) {
    let path = csr.to_str().unwrap();
    let mut args = vec!["req", "-in", path, "-noout", "-verify"];
    if sm2 {
        args.extend(["-sm3", "-vfyopt", "distid:1234567812345678"]);
    }
    let o = openssl(&args);
    let text = format!("{}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr));
    let ok = o.status.success() && text.contains("verify OK") && !text.contains("verify failure");
    (ok, text)
}

/// The subject as `C=..,ST=..,...`, in the CSR's order, UTF-8, unescaped.
pub fn openssl_subject(csr: &Path) -> String {
    let o = openssl(&[
        "req",
        "-in",
        csr.to_str().unwrap(),
        "-noout",
        "-subject",
        "-nameopt",
        "utf8,sep_comma_plus",
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    String::from_utf8(o.stdout).unwrap().trim().trim_start_matches("subject=").to_owned()
}

/// The SAN entries as openssl prints them, normalized: `DNS:x` or `IP:<canonical>`.
pub fn openssl_sans(csr: &Path) -> Vec<String> {
    let o = openssl(&["req", "-in", csr.to_str().unwrap(), "-noout", "-text"]);
    let text = String::from_utf8(o.stdout).unwrap();
    let mut lines = text.lines();
    lines.by_ref().find(|l| l.contains("X509v3 Subject Alternative Name"));
    let Some(line) = lines.next() else {
        return Vec::new();
    };
    line.trim()
        .split(", ")
        .map(|item| match item.strip_prefix("IP Address:") {
            Some(ip) => format!("IP:{}", ip.parse::<std::net::IpAddr>().expect("openssl prints an IP")),
            None => item.to_owned(),
        })
        .collect()
}

/// The public key PEM of a key file (`openssl pkey -pubout`) and of a CSR (`req -pubkey`).
pub fn openssl_pubkeys(key: &Path, csr: &Path) -> (String, String) {
    let k = openssl(&["pkey", "-in", key.to_str().unwrap(), "-pubout"]);
    let c = openssl(&["req", "-in", csr.to_str().unwrap(), "-noout", "-pubkey"]);
    assert!(k.status.success(), "openssl pkey: {}", String::from_utf8_lossy(&k.stderr));
    (String::from_utf8(k.stdout).unwrap(), String::from_utf8(c.stdout).unwrap())
}

/// Every file in a folder tree, relative, sorted.
pub fn tree(root: &Path) -> Vec<String> {
    let mut out: Vec<String> = walkdir::WalkDir::new(root)
        .min_depth(1)
        .into_iter()
        .map(|e| e.unwrap().path().strip_prefix(root).unwrap().to_string_lossy().into_owned())
        .collect();
    out.sort();
    out
}

/// PEM as openssl writes it, laid out again as other tools write PEM: the base64 of each
/// block wrapped at `width` columns (76: Python's `base64.encodebytes` and Java's MIME
/// encoder; 0: one line), every line ended by `eol`, `text` before, between and after the
/// blocks. Only the layout changes: the base64 characters stay as they were.
pub fn rewrap(pem: &str, width: usize, eol: &str, text: &str) -> String {
    let mut out = format!("{text}{eol}");
    let mut body = String::new();
    for line in pem.lines() {
        if line.starts_with("-----BEGIN ") {
            out += &format!("{line}{eol}");
        } else if line.starts_with("-----END ") {
            let width = if width == 0 { body.len() } else { width };
            for chunk in body.as_bytes().chunks(width) {
                out += &format!("{}{eol}", std::str::from_utf8(chunk).unwrap());
            }
            out += &format!("{line}{eol}{text}{eol}");
            body.clear();
        } else {
            body += line.trim();
        }
    }
    out
}

/// One path of a folder tree as a snapshot holds it.
#[derive(Debug, PartialEq, Eq)]
pub enum Entry {
    Dir { mode: u32 },
    File { mode: u32, bytes: Vec<u8> },
    Link { target: PathBuf },
}

/// Every path under `root` (relative) with its contents: a folder's mode, a file's mode
/// and bytes, a symbolic link's target (never followed).
pub type Snapshot = std::collections::BTreeMap<String, Entry>;

pub fn snapshot(root: &Path) -> Snapshot {
    use std::os::unix::fs::PermissionsExt;
    let mut out = Snapshot::new();
    for e in walkdir::WalkDir::new(root).min_depth(1).follow_links(false) {
        let e = e.unwrap();
        let rel = e.path().strip_prefix(root).unwrap().to_string_lossy().into_owned();
        let meta = std::fs::symlink_metadata(e.path()).unwrap();
        let mode = meta.permissions().mode() & 0o7777;
        let entry = if meta.file_type().is_symlink() {
            Entry::Link { target: std::fs::read_link(e.path()).unwrap() }
        } else if meta.is_dir() {
            Entry::Dir { mode }
        } else {
            Entry::File { mode, bytes: std::fs::read(e.path()).unwrap() }
        };
        out.insert(rel, entry);
    }
    out
}

/// The paths where two snapshots differ, for an assertion's message.
pub fn snapshot_diff(before: &Snapshot, after: &Snapshot) -> Vec<String> {
    let mut paths: Vec<&String> = before.keys().chain(after.keys()).collect();
    paths.sort();
    paths.dedup();
    paths
        .into_iter()
        .filter(|p| before.get(*p) != after.get(*p))
        .map(|p| match (before.contains_key(p), after.contains_key(p)) {
            (true, false) => format!("{p}: removed"),
            (false, true) => format!("{p}: added"),
            _ => format!("{p}: changed"),
        })
        .collect()
}
