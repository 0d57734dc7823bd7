//! Re-runs on an existing output folder: every plan state, --check, --rotate, --repair,
//! --prune, a run killed with SIGKILL, two runs at once, encrypted keys, the umask.

use std::collections::HashSet;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::util::*;

const DEFAULTS: &str = "defaults: {CountryCode: CN, Province: Zhejiang, Locality: Hangzhou}\nrequests:\n";

fn manifest(dir: &Dir, requests: &[(&str, &str, &str)]) -> PathBuf {
    let mut text = DEFAULTS.to_owned();
    for (name, algorithm, cn) in requests {
        text.push_str(&format!(
            "  - {{Name: {name}, Algorithm: {algorithm}, KeySize: {}, CommonName: {cn}}}\n",
            if *algorithm == "RSA" { "2048" } else { "256" }
        ));
    }
    dir.write("m.yaml", &text)
}

fn generate(m: &Path, out: &Path, extra: &[&str]) -> std::process::Output {
    let mut args = vec!["generate".as_ref(), m.as_os_str(), "--out".as_ref(), out.as_os_str(), "-q".as_ref()];
    args.extend(extra.iter().map(std::ffi::OsStr::new));
    csrbatch(args)
}

fn states(out: &Path) -> Vec<(String, String)> {
    read_summary(out)
        .csrs
        .into_iter()
        .map(|e| (e.name, e.state.map(|s| s.to_string()).unwrap_or_default()))
        .collect()
}

fn read(path: PathBuf) -> String {
    std::fs::read_to_string(path).unwrap()
}

/// Checks with openssl that every entry's key belongs to its CSR and the CSR verifies,
/// and that the summary's Csr text is the file's.
fn assert_pairs_intact(out: &Path) {
    let s = read_summary(out);
    let mut ids = HashSet::new();
    for e in &s.csrs {
        assert!(e.error.is_none(), "{}: {:?}", e.name, e.error);
        let (csr, key) = (out.join(e.csr_file.as_ref().unwrap()), out.join(e.key_file.as_ref().unwrap()));
        assert_eq!(e.csr.as_deref(), Some(read(csr.clone()).as_str()), "{}", e.name);
        let (from_key, from_csr) = openssl_pubkeys(&key, &csr);
        assert_eq!(from_key, from_csr, "{}: key and CSR do not belong together", e.name);
        assert!(openssl_verifies(&csr, e.algorithm == "SM2").0, "{}", e.name);
        assert!(ids.insert(e.csr_id.unwrap()), "CsrId {:?} twice", e.csr_id);
    }
    assert_eq!((s.total, s.succeeded, s.failed), (s.csrs.len(), s.csrs.len(), 0));
}

#[test]
fn every_state_of_the_plan() {
    let dir = Dir::new();
    let out = dir.path("out");
    let first = [
        ("a", "ECC", "a.example.com"),
        ("b", "SM2", "b.example.com"),
        ("c", "ECC", "c.example.com"),
        ("d", "ECC", "d.example.com"),
        ("e", "ECC", "e.example.com"),
    ];
    let m = manifest(&dir, &first);
    assert!(generate(&m, &out, &[]).status.success());
    let before = read_summary(&out);
    let (key_a, key_b, key_c) =
        (read(out.join("a.key.pem")), read(out.join("b.key.pem")), read(out.join("c.key.pem")));
    let csr_b = read(out.join("b.csr.pem"));

    // Unchanged: a second run writes nothing and keeps every CsrId.
    let again = generate(&m, &out, &[]);
    assert!(again.status.success());
    assert!(
        stderr(&again).contains("generated 0 CSRs") && stderr(&again).contains("5 unchanged"),
        "{}",
        stderr(&again)
    );
    let ids = |s: &csrbatch::output::summary::Summary| s.csrs.iter().map(|e| e.csr_id).collect::<Vec<_>>();
    assert_eq!(ids(&read_summary(&out)), ids(&before));
    assert!(states(&out).iter().all(|(_, s)| s == "unchanged"));

    // b: new CommonName (resubject); c: ECC -> SM2 (rekey); d: CSR edited by hand (damaged);
    // e: gone from the manifest (orphaned); f: new.
    let second = [
        ("a", "ECC", "a.example.com"),
        ("b", "SM2", "b2.example.com"),
        ("c", "SM2", "c.example.com"),
        ("d", "ECC", "d.example.com"),
        ("f", "ECC", "f.example.com"),
    ];
    let m = manifest(&dir, &second);
    let edited = read(out.join("d.csr.pem")).replacen("MI", "MJ", 1);
    std::fs::write(out.join("d.csr.pem"), &edited).unwrap();

    let plan = csrbatch(["plan".as_ref(), m.as_os_str(), "--out".as_ref(), out.as_os_str()]);
    let text = String::from_utf8_lossy(&plan.stdout).into_owned();
    assert!(plan.status.success());
    for line in [
        "resubject  b ",
        "rekey      c ",
        "damaged    d ",
        "new        f ",
        "orphaned   e",
        "unchanged 1, new 1, resubject 1, rekey 1, damaged 1, orphaned 1",
    ] {
        assert!(text.contains(line), "`{line}` not in plan:\n{text}");
    }
    assert!(
        !text.lines().any(|l| l.split_whitespace().nth(1) == Some("a")),
        "unchanged is not listed:\n{text}"
    );
    assert_eq!(generate(&m, &out, &["--check"]).status.code(), Some(1), "--check with work to do");
    assert_eq!(read(out.join("d.csr.pem")), edited, "plan and --check write nothing");

    let run = generate(&m, &out, &[]);
    assert_eq!(run.status.code(), Some(1), "a damaged request is a failed request: {}", stderr(&run));
    let got = states(&out);
    assert_eq!(
        got,
        [("a", "unchanged"), ("b", "resubject"), ("c", "rekey"), ("d", "damaged"), ("f", "new")]
            .map(|(n, s)| (n.to_owned(), s.to_owned()))
    );
    let s = read_summary(&out);
    assert_eq!(read(out.join("a.key.pem")), key_a, "unchanged keeps the key");
    assert_eq!(read(out.join("b.key.pem")), key_b, "resubject keeps the key");
    assert_ne!(read(out.join("b.csr.pem")), csr_b, "resubject signs a new CSR");
    assert_ne!(read(out.join("c.key.pem")), key_c, "rekey makes a new key");
    assert_eq!(read(out.join("d.csr.pem")), edited, "damaged is left alone");
    assert!(s.csrs[3].error.as_deref().unwrap().contains("--repair"));
    assert_eq!(s.csrs[0].csr_id, before.csrs[0].csr_id, "unchanged keeps its CsrId");
    assert!(
        s.csrs[1].csr_id > before.csrs.iter().map(|e| e.csr_id).max().unwrap(),
        "a new CSR gets a new CsrId"
    );
    assert_eq!(s.orphaned.len(), 1);
    assert_eq!((s.orphaned[0].name.as_str(), s.orphaned[0].state.as_str()), ("e", "orphaned"));
    assert!(out.join("e.key.pem").exists(), "orphaned files are never deleted");
    // What was replaced is in the archive, with its old CsrId.
    let archived: Vec<PathBuf> =
        std::fs::read_dir(out.join(".archive")).unwrap().map(|e| e.unwrap().path()).collect();
    assert_eq!(archived.len(), 1);
    assert_eq!(read(archived[0].join("b.csr.pem")), csr_b);
    assert_eq!(read(archived[0].join("c.key.pem")), key_c);
    let log = read(archived[0].join("archived.jsonl"));
    assert!(log.contains(&format!("\"CsrId\":{}", before.csrs[2].csr_id.unwrap())), "{log}");

    // --repair regenerates d (archiving the edited CSR), --prune archives e.
    let run = generate(&m, &out, &["--repair", "--prune"]);
    assert!(run.status.success(), "{}", stderr(&run));
    assert_eq!(states(&out)[3], ("d".to_owned(), "repaired".to_owned()));
    assert!(!out.join("e.key.pem").exists() && !out.join("e.csr.pem").exists());
    assert_eq!(read_summary(&out).orphaned[0].state.as_str(), "pruned");
    assert_pairs_intact(&out);
    assert_eq!(generate(&m, &out, &["--check"]).status.code(), Some(0), "--check when all is up to date");

    // --rotate: new keys for all, all old ones archived.
    let old_a = read(out.join("a.key.pem"));
    assert!(generate(&m, &out, &["--rotate"]).status.success());
    assert!(states(&out).iter().all(|(_, s)| s == "rekey"));
    assert_ne!(read(out.join("a.key.pem")), old_a);
    let all_archived: Vec<String> = walkdir::WalkDir::new(out.join(".archive"))
        .into_iter()
        .map(|e| read_dir_entry(e.unwrap().path()))
        .collect();
    assert!(all_archived.contains(&old_a), "the rotated key is archived");
    assert_pairs_intact(&out);
}

fn read_dir_entry(p: &Path) -> String {
    if p.is_file() { read(p.to_path_buf()) } else { String::new() }
}

#[test]
fn a_killed_run_is_finished_by_the_next_one() {
    let dir = Dir::new();
    let out = dir.path("out");
    let m = many(&dir, 400);
    let mut killed_part_way = false;
    for _ in 0..5 {
        let _ = std::fs::remove_dir_all(&out);
        let mut child = Command::new(env!("CARGO_BIN_EXE_csrbatch"))
            .args([
                "generate".as_ref(),
                m.as_os_str(),
                "--out".as_ref(),
                out.as_os_str(),
                "-q".as_ref(),
                "--jobs".as_ref(),
                "1".as_ref(),
            ])
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let start = Instant::now();
        while count_keys(&out) < 60 && start.elapsed() < Duration::from_secs(30) {
            std::thread::sleep(Duration::from_millis(1));
        }
        child.kill().unwrap(); // SIGKILL
        child.wait().unwrap();
        let keys = count_keys(&out);
        if keys < 400 && !out.join("summary.json").exists() {
            killed_part_way = true;
            break;
        }
    }
    assert!(killed_part_way, "could not kill the run part-way");

    let run =
        csrbatch(["generate".as_ref(), m.as_os_str(), "--out".as_ref(), out.as_os_str(), "-q".as_ref()]);
    assert!(run.status.success(), "{}", stderr(&run));
    let err = stderr(&run);
    // The pairs the killed run finished are kept (not made again), and reported as new:
    // no complete summary ever listed them.
    assert!(!err.contains("unchanged") && err.contains("400 new"), "{err}");
    assert!(err.contains("generated ") && !err.contains("generated 400 "), "finished pairs are kept: {err}");
    assert_eq!(count_keys(&out), 400);
    assert!(tree(&out).iter().all(|f| !f.contains(".csrbatch-tmp-")), "stray temporary files are removed");
    assert_pairs_intact(&out);
    let check =
        csrbatch(["generate".as_ref(), m.as_os_str(), "--out".as_ref(), out.as_os_str(), "--check".as_ref()]);
    assert_eq!(check.status.code(), Some(0), "{}", String::from_utf8_lossy(&check.stdout));
}

fn count_keys(out: &Path) -> usize {
    std::fs::read_dir(out).map_or(0, |d| {
        d.filter(|e| e.as_ref().is_ok_and(|e| e.file_name().to_string_lossy().ends_with(".key.pem"))).count()
    })
}

#[test]
fn two_runs_on_one_folder_do_not_interleave() {
    let dir = Dir::new();
    let out = dir.path("out");
    let mut csv = String::from("Algorithm,CommonName,CountryCode,Province,Locality\n");
    for i in 0..300 {
        csv.push_str(&format!(
            "{},h{i}.example.com,CN,Zhejiang,Hangzhou\n",
            if i % 2 == 0 { "ECC" } else { "SM2" }
        ));
    }
    let m = dir.write("m.csv", &csv);
    let spawn = || {
        Command::new(env!("CARGO_BIN_EXE_csrbatch"))
            .args(["generate".as_ref(), m.as_os_str(), "--out".as_ref(), out.as_os_str(), "-q".as_ref()])
            .stderr(Stdio::piped())
            .spawn()
            .unwrap()
    };
    let (one, two) = (spawn(), spawn());
    let (one, two) = (one.wait_with_output().unwrap(), two.wait_with_output().unwrap());
    assert!(one.status.success() && two.status.success(), "{} / {}", stderr(&one), stderr(&two));
    let (e1, e2) = (stderr(&one), stderr(&two));
    // One run made the 300 pairs; the other waited for the lock, then found them unchanged.
    assert!(
        (e1.contains("generated 300 CSRs") && e2.contains("300 unchanged"))
            || (e2.contains("generated 300 CSRs") && e1.contains("300 unchanged")),
        "{e1}\n{e2}"
    );
    assert!(e1.contains("waiting for another run") || e2.contains("waiting for another run"), "{e1}\n{e2}");
    assert_eq!(count_keys(&out), 300);
    assert_pairs_intact(&out);
}

#[test]
fn encrypted_keys_round_trip_through_openssl() {
    let dir = Dir::new();
    let out = dir.path("out");
    let m = manifest(
        &dir,
        &[("r", "RSA", "r.example.com"), ("s", "SM2", "s.example.com"), ("e", "ECC", "e.example.com")],
    );
    let run = Command::new(env!("CARGO_BIN_EXE_csrbatch"))
        .args([
            "generate".as_ref(),
            m.as_os_str(),
            "--out".as_ref(),
            out.as_os_str(),
            "--key-passphrase-env".as_ref(),
            "CSRBATCH_TEST_PASS".as_ref(),
        ])
        .env("CSRBATCH_TEST_PASS", "s3cret passphrase")
        .output()
        .unwrap();
    assert!(run.status.success(), "{}", stderr(&run));
    for name in ["r", "s", "e"] {
        let key = out.join(format!("{name}.key.pem"));
        assert!(read(key.clone()).starts_with("-----BEGIN ENCRYPTED PRIVATE KEY-----"));
        let o = Command::new("openssl")
            .args(["pkey", "-in", key.to_str().unwrap(), "-passin", "env:CSRBATCH_TEST_PASS", "-pubout"])
            .env("CSRBATCH_TEST_PASS", "s3cret passphrase")
            .output()
            .unwrap();
        assert!(o.status.success(), "{name}: {}", String::from_utf8_lossy(&o.stderr));
        let csr = openssl(&[
            "req",
            "-in",
            out.join(format!("{name}.csr.pem")).to_str().unwrap(),
            "-noout",
            "-pubkey",
        ]);
        assert_eq!(o.stdout, csr.stdout, "{name}");
        let wrong = Command::new("openssl")
            .args(["pkey", "-in", key.to_str().unwrap(), "-passin", "pass:wrong", "-pubout"])
            .output()
            .unwrap();
        assert!(!wrong.status.success(), "{name}: the key is really encrypted");
    }
    // A re-run that changes a subject reads the encrypted key back (from a file this time).
    let key_s = read(out.join("s.key.pem"));
    let m = manifest(
        &dir,
        &[("r", "RSA", "r.example.com"), ("s", "SM2", "s2.example.com"), ("e", "ECC", "e.example.com")],
    );
    let pass_file = dir.write("pass.txt", "s3cret passphrase\n");
    let run = generate(&m, &out, &["--key-passphrase-file", pass_file.to_str().unwrap()]);
    assert!(run.status.success(), "{}", stderr(&run));
    assert_eq!(
        states(&out),
        [("r", "unchanged"), ("s", "resubject"), ("e", "unchanged")]
            .map(|(n, s)| (n.to_owned(), s.to_owned()))
    );
    assert_eq!(read(out.join("s.key.pem")), key_s);
    assert!(openssl_verifies(&out.join("s.csr.pem"), true).0);
    // Without the passphrase: bad usage, before anything is read or written.
    let summary = read(out.join("summary.json"));
    let run = generate(&m, &out, &[]);
    assert_eq!(run.status.code(), Some(2), "{}", stderr(&run));
    assert!(stderr(&run).contains("keys are encrypted"), "{}", stderr(&run));
    assert_eq!(read(out.join("s.key.pem")), key_s);
    assert_eq!(read(out.join("summary.json")), summary);
}

#[test]
fn key_files_are_0600_whatever_the_umask() {
    let dir = Dir::new();
    let out = dir.path("out");
    let m = manifest(&dir, &[("u", "ECC", "u.example.com"), ("v", "SM2", "v.example.com")]);
    for umask in ["000", "077", "022"] {
        let _ = std::fs::remove_dir_all(&out);
        let run = Command::new("sh")
            .args([
                "-c",
                &format!("umask {umask}; exec \"$0\" generate \"$1\" --out \"$2\" -q"),
                env!("CARGO_BIN_EXE_csrbatch"),
                m.to_str().unwrap(),
                out.to_str().unwrap(),
            ])
            .output()
            .unwrap();
        assert!(run.status.success(), "{}", stderr(&run));
        for name in ["u", "v"] {
            let mode = |f: &str| std::fs::metadata(out.join(f)).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode(&format!("{name}.key.pem")), 0o600, "umask {umask}");
            assert_eq!(mode(&format!("{name}.csr.pem")), 0o644, "umask {umask}");
        }
    }
}

#[test]
fn a_symbolic_link_at_a_destination_is_never_followed() {
    let dir = Dir::new();
    let out = dir.path("out");
    let target = dir.write("elsewhere.pem", "not yours");
    std::fs::create_dir_all(&out).unwrap();
    std::os::unix::fs::symlink(&target, out.join("l.key.pem")).unwrap();
    let m = manifest(&dir, &[("l", "ECC", "l.example.com")]);
    let run = generate(&m, &out, &[]);
    assert_eq!(run.status.code(), Some(1));
    assert!(read_summary(&out).csrs[0].error.as_deref().unwrap().contains("symbolic link"));
    assert_eq!(read(target.clone()), "not yours");
    let run = generate(&m, &out, &["--repair"]);
    assert!(run.status.success(), "{}", stderr(&run));
    assert_eq!(read(target), "not yours", "the link is replaced, not written through");
    assert!(!std::fs::symlink_metadata(out.join("l.key.pem")).unwrap().file_type().is_symlink());
}

#[test]
fn fanout_layout_spreads_pairs_and_is_kept() {
    let dir = Dir::new();
    let out = dir.path("out");
    let requests: Vec<(String, &str, String)> = (0..30)
        .map(|i| (format!("f{i}"), if i % 2 == 0 { "ECC" } else { "SM2" }, format!("f{i}.example.com")))
        .collect();
    let refs: Vec<(&str, &str, &str)> =
        requests.iter().map(|(n, a, c)| (n.as_str(), *a, c.as_str())).collect();
    let m = manifest(&dir, &refs);
    let run = generate(&m, &out, &["--layout", "fanout"]);
    assert!(run.status.success(), "{}", stderr(&run));
    let s = read_summary(&out);
    let folders: HashSet<&str> = s.csrs.iter().map(|e| &e.csr_file.as_deref().unwrap()[..2]).collect();
    assert!(folders.len() > 10, "30 pairs over many folders: {folders:?}");
    for e in &s.csrs {
        let (csr, key) = (e.csr_file.as_deref().unwrap(), e.key_file.as_deref().unwrap());
        assert_eq!(csr[..3], key[..3], "a pair shares its folder");
        assert!(csr.ends_with(&format!("/{}.csr.pem", e.name)) && out.join(csr).is_file());
    }
    assert_pairs_intact(&out);
    // The folder keeps its layout: asking for another is bad usage, and nothing is touched.
    let flat = generate(&m, &out, &[]);
    assert_eq!(flat.status.code(), Some(2));
    assert!(stderr(&flat).contains("--layout fanout"), "{}", stderr(&flat));
    let again = generate(&m, &out, &["--layout", "fanout"]);
    assert!(again.status.success() && stderr(&again).contains("30 unchanged"), "{}", stderr(&again));
    // Orphans are found inside the fan-out folders too.
    let m = manifest(&dir, &refs[1..]);
    let plan = csrbatch([
        "plan".as_ref(),
        m.as_os_str(),
        "--out".as_ref(),
        out.as_os_str(),
        "--layout".as_ref(),
        "fanout".as_ref(),
    ]);
    assert!(
        String::from_utf8_lossy(&plan.stdout).contains("orphaned   f0\n"),
        "{}",
        String::from_utf8_lossy(&plan.stdout)
    );
}

#[test]
fn a_csr_changed_by_hand_stays_damaged_until_repair() {
    let dir = Dir::new();
    let m = manifest(&dir, &[("a", "ECC", "a.example.com"), ("b", "SM2", "b.example.com")]);
    let out = dir.path("out");
    assert!(generate(&m, &out, &[]).status.success());
    let id = |name: &str| read_summary(&out).csrs.into_iter().find(|e| e.name == name).unwrap().csr_id;
    let (a_id, b_id) = (id("a"), id("b"));
    // A CSR for the same key and subject, made by openssl: valid, but not the one recorded.
    let key = out.join("a.key.pem");
    let csr = out.join("a.csr.pem");
    let o = openssl(&[
        "req",
        "-new",
        "-key",
        key.to_str().unwrap(),
        "-subj",
        "/C=CN/ST=Zhejiang/L=Hangzhou/CN=a.example.com",
        "-addext",
        "subjectAltName=DNS:a.example.com",
        "-out",
        csr.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let by_hand = std::fs::read(&csr).unwrap();
    for _ in 0..3 {
        let o = generate(&m, &out, &[]);
        assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
        assert_eq!(states(&out), [("a".into(), "damaged".into()), ("b".into(), "unchanged".into())]);
        assert_eq!((id("a"), id("b")), (a_id, b_id), "a damaged pair keeps its CsrId");
        assert_eq!(generate(&m, &out, &["--check"]).status.code(), Some(1));
        assert_eq!(std::fs::read(&csr).unwrap(), by_hand, "left alone");
    }
    let o = generate(&m, &out, &["--repair"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(states(&out)[0].1, "repaired");
    assert_ne!(id("a"), a_id, "a new CSR, a new CsrId");
    assert!(generate(&m, &out, &["--check"]).status.success());
}
