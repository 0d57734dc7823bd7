//! The output folder never lies: runs killed or interrupted in the middle of a --rotate,
//! encrypted folders, a writer whose writes fail, a manifest edited during a run.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::util::*;

fn run_in(m: &Path, out: &Path, extra: &[&str]) -> std::process::Output {
    let mut args = vec!["generate".as_ref(), m.as_os_str(), "--out".as_ref(), out.as_os_str(), "-q".as_ref()];
    args.extend(extra.iter().map(std::ffi::OsStr::new));
    csrbatch(args)
}

fn spawn(m: &Path, out: &Path, extra: &[&str]) -> Child {
    Command::new(env!("CARGO_BIN_EXE_csrbatch"))
        .args(["generate".as_ref(), m.as_os_str(), "--out".as_ref(), out.as_os_str(), "-q".as_ref()])
        .args(extra)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

/// Files linked into the archive so far (a --rotate archives each pair before replacing it).
fn archived(out: &Path) -> usize {
    walkdir::WalkDir::new(out.join(".archive"))
        .into_iter()
        .filter_map(Result::ok)
        .filter(|e| e.file_type().is_file())
        .count()
}

fn wait_for(what: impl Fn() -> bool) {
    let start = Instant::now();
    while !what() && start.elapsed() < Duration::from_secs(60) {
        std::thread::sleep(Duration::from_millis(2));
    }
}

fn csr_ids(out: &Path) -> HashMap<String, u64> {
    read_summary(out).csrs.into_iter().map(|e| (e.name, e.csr_id.unwrap())).collect()
}

/// summary.json describes the files: every entry's Csr is its file, every pair is there.
fn assert_summary_is_the_files(out: &Path, count: usize) {
    let s = read_summary(out);
    assert_eq!((s.total, s.succeeded, s.failed, s.csrs.len()), (count, count, 0, count));
    for e in &s.csrs {
        let csr = std::fs::read_to_string(out.join(e.csr_file.as_ref().unwrap())).unwrap();
        assert_eq!(e.csr.as_deref(), Some(csr.as_str()), "{}", e.name);
        assert!(out.join(e.key_file.as_ref().unwrap()).is_file(), "{}", e.name);
    }
    for e in s.csrs.iter().step_by(count / 8) {
        let (key, csr) = (out.join(e.key_file.as_ref().unwrap()), out.join(e.csr_file.as_ref().unwrap()));
        let (from_key, from_csr) = openssl_pubkeys(&key, &csr);
        assert_eq!(from_key, from_csr, "{}", e.name);
        assert!(openssl_verifies(&csr, false).0, "{}", e.name);
    }
}

fn check_code(m: &Path, out: &Path) -> Option<i32> {
    let check =
        csrbatch(["generate".as_ref(), m.as_os_str(), "--out".as_ref(), out.as_os_str(), "--check".as_ref()]);
    check.status.code()
}

#[test]
fn an_interrupted_rotate_is_visible_until_a_run_finishes() {
    const COUNT: usize = 2000;
    let dir = Dir::new();
    let out = dir.path("out");
    let m = many(&dir, COUNT);
    assert!(run_in(&m, &out, &[]).status.success());
    let before = csr_ids(&out);

    // Four --rotate runs, each stopped part-way: SIGKILL early, Ctrl-C (SIGINT), SIGTERM,
    // SIGKILL again. After each, --check fails and plan names the unfinished run.
    let mut interrupted_lines = 0;
    for (signal, at) in [("KILL", 40), ("INT", 400), ("TERM", 200), ("KILL", 1200)] {
        let child = spawn(&m, &out, &["--rotate", "--jobs", "1"]);
        let seen = archived(&out);
        wait_for(|| archived(&out) >= seen + at);
        let status = Command::new("kill").args([&format!("-{signal}"), &child.id().to_string()]).status();
        assert!(status.unwrap().success());
        let output = child.wait_with_output().unwrap();
        let err = stderr(&output);
        if signal != "KILL" {
            assert_eq!(output.status.code(), Some(130), "{signal}: {:?} {err}", output.status);
            let line =
                err.lines().find(|l| l.starts_with("interrupted: ")).unwrap_or_else(|| panic!("{err}"));
            assert!(
                line.ends_with(&format!(" of {COUNT} done; run the same command again to finish")),
                "{line}"
            );
            interrupted_lines += 1;
        }
        assert_eq!(check_code(&m, &out), Some(1), "--check after a {signal} part-way");
        let plan = csrbatch(["plan".as_ref(), m.as_os_str(), "--out".as_ref(), out.as_os_str()]);
        let text = String::from_utf8_lossy(&plan.stdout);
        assert!(text.contains("unfinished run (started "), "{text}");
        assert!(text.contains("run `generate` again to finish"), "{text}");
    }
    assert_eq!(interrupted_lines, 2);

    // A plain run finishes the folder: every pair whose CsrId changed since the last
    // complete summary is reported as something other than unchanged.
    let run = run_in(&m, &out, &[]);
    assert!(run.status.success(), "{}", stderr(&run));
    assert_summary_is_the_files(&out, COUNT);
    let after = read_summary(&out);
    let mut changed = 0;
    for e in &after.csrs {
        let state = e.state.unwrap();
        if before[&e.name] != e.csr_id.unwrap() {
            changed += 1;
            assert_ne!(state.as_str(), "unchanged", "{}: new CsrId, reported unchanged", e.name);
        } else {
            assert_eq!(state.as_str(), "unchanged", "{}", e.name);
        }
    }
    // Each --rotate starts from the top; the last one archived 1,200 files (600 pairs),
    // less the batch it was archiving when it was killed.
    assert!(changed >= 300, "the killed runs rotated pairs: {changed}");
    assert!(changed < COUNT, "no run rotated everything: {changed}");
    assert_eq!(check_code(&m, &out), Some(0));
    assert!(
        tree(&out).iter().all(|f| !f.contains(".csrbatch-tmp-") && !f.contains("journal-")),
        "{:?}",
        tree(&out).iter().filter(|f| f.contains("journal")).collect::<Vec<_>>()
    );
}

#[test]
fn a_pair_a_killed_run_changed_is_not_unchanged_after_a_run_that_found_it_damaged() {
    const COUNT: usize = 2000;
    let dir = Dir::new();
    let out = dir.path("out");
    let m = many(&dir, COUNT);
    assert!(run_in(&m, &out, &[]).status.success());
    let before = read_summary(&out);
    let child = spawn(&m, &out, &["--rotate", "--jobs", "1"]);
    // Batches are archived before their new files land: 600 archived files are batches
    // past the first, which has landed.
    wait_for(|| archived(&out) >= 600);
    assert!(Command::new("kill").args(["-KILL", &child.id().to_string()]).status().unwrap().success());
    child.wait_with_output().unwrap();
    assert_eq!(check_code(&m, &out), Some(1), "killed before it finished");
    // A pair the killed run replaced (its CSR is no longer the summary's) is then damaged
    // for one run: its CSR file a symbolic link, which csrbatch never follows.
    let rotated = before
        .csrs
        .iter()
        .find(|e| {
            let now = std::fs::read_to_string(out.join(e.csr_file.as_ref().unwrap())).unwrap();
            e.csr.as_deref() != Some(now.as_str())
        })
        .expect("the killed run replaced a pair");
    let csr = out.join(rotated.csr_file.as_ref().unwrap());
    let aside = dir.path("aside.csr.pem");
    std::fs::rename(&csr, &aside).unwrap();
    std::os::unix::fs::symlink(&aside, &csr).unwrap();
    let run = run_in(&m, &out, &[]);
    assert_eq!(run.status.code(), Some(1), "{}", stderr(&run));
    let state = |name: &str| {
        read_summary(&out).csrs.into_iter().find(|e| e.name == name).and_then(|e| e.state).unwrap()
    };
    assert_eq!(state(&rotated.name).as_str(), "damaged");
    // Put back, the pair holds a CSR no complete summary has shown: not `unchanged`.
    std::fs::remove_file(&csr).unwrap();
    std::fs::rename(&aside, &csr).unwrap();
    let run = run_in(&m, &out, &[]);
    assert!(run.status.success(), "{}", stderr(&run));
    assert_ne!(state(&rotated.name).as_str(), "unchanged", "{}: a CSR never shown as changed", rotated.name);
    assert_eq!(check_code(&m, &out), Some(0));
}

const PASS: &str = "CSRBATCH_TEST_FOLDER_PASS";

fn keys(out: &Path) -> Vec<(PathBuf, Vec<u8>)> {
    let mut keys: Vec<(PathBuf, Vec<u8>)> = std::fs::read_dir(out)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.to_string_lossy().ends_with(".key.pem"))
        .map(|p| {
            let bytes = std::fs::read(&p).unwrap();
            (p, bytes)
        })
        .collect();
    keys.sort();
    keys
}

fn with_pass(m: &Path, out: &Path, pass: Option<&str>, extra: &[&str]) -> std::process::Output {
    let mut c = Command::new(env!("CARGO_BIN_EXE_csrbatch"));
    c.args(["generate".as_ref(), m.as_os_str(), "--out".as_ref(), out.as_os_str(), "-q".as_ref()])
        .args(extra);
    if let Some(pass) = pass {
        c.args(["--key-passphrase-env", PASS]).env(PASS, pass);
    }
    c.output().unwrap()
}

#[test]
fn an_encrypted_folder_stays_encrypted() {
    let dir = Dir::new();
    let out = dir.path("out");
    let m = dir.write(
        "m.yaml",
        "defaults: {CountryCode: CN, Province: Zhejiang, Locality: Hangzhou}\nrequests:\n  \
         - {Name: a, Algorithm: ECC, CommonName: a.example.com}\n  \
         - {Name: b, Algorithm: SM2, CommonName: b.example.com}\n",
    );
    let made = with_pass(&m, &out, Some("right one"), &[]);
    assert!(made.status.success(), "{}", stderr(&made));
    let before = keys(&out);
    assert_eq!(before.len(), 2);
    let summary = std::fs::read(out.join("summary.json")).unwrap();
    // Edit a subject so that a run would have work to do (resubject) if it ran at all.
    let m =
        dir.write("m.yaml", &std::fs::read_to_string(&m).unwrap().replace("b.example.com", "b2.example.com"));

    for (what, pass, extra, message) in [
        ("no passphrase", None, &[][..], "keys are encrypted: give their passphrase"),
        ("a wrong passphrase", Some("wrong"), &[][..], "wrong passphrase for "),
        ("--repair without a passphrase", None, &["--repair"][..], "keys are encrypted"),
        ("--rotate without a passphrase", None, &["--rotate"][..], "keys are encrypted"),
        ("--check without a passphrase", None, &["--check"][..], "keys are encrypted"),
    ] {
        let run = with_pass(&m, &out, pass, extra);
        assert_eq!(run.status.code(), Some(2), "{what}: {}", stderr(&run));
        assert!(stderr(&run).contains(message), "{what}: {}", stderr(&run));
        assert_eq!(keys(&out), before, "{what}: every key byte-identical");
        assert_eq!(std::fs::read(out.join("summary.json")).unwrap(), summary, "{what}");
        assert!(!out.join(".archive").exists(), "{what}: nothing archived");
    }
    for (path, bytes) in &before {
        assert!(bytes.starts_with(b"-----BEGIN ENCRYPTED PRIVATE KEY-----"), "{}", path.display());
    }
    let plan = csrbatch(["plan".as_ref(), m.as_os_str(), "--out".as_ref(), out.as_os_str()]);
    assert_eq!(plan.status.code(), Some(2), "plan needs the passphrase too");
    // With the right passphrase the run goes on, and keys stay encrypted.
    let run = with_pass(&m, &out, Some("right one"), &[]);
    assert!(run.status.success(), "{}", stderr(&run));
    assert_eq!(keys(&out), before, "resubject keeps the key");
}

#[test]
fn an_unencrypted_folder_gets_no_encrypted_key_unless_reencrypt() {
    let dir = Dir::new();
    let out = dir.path("out");
    let m = many(&dir, 3);
    assert!(run_in(&m, &out, &[]).status.success());
    let before = keys(&out);
    let ids = csr_ids(&out);
    let run = with_pass(&m, &out, Some("new one"), &["--rotate"]);
    assert_eq!(run.status.code(), Some(2), "{}", stderr(&run));
    assert!(
        stderr(&run).contains("keys are not encrypted") && stderr(&run).contains("--reencrypt"),
        "{}",
        stderr(&run)
    );
    assert_eq!(keys(&out), before);
    // --reencrypt: the same keys, now encrypted; CSRs and CsrIds stay; originals archived.
    // host0's Province changes too: re-signed with its key, which is encrypted as well.
    let text = std::fs::read_to_string(&m).unwrap().replacen("Zhejiang", "Jiangsu", 1);
    std::fs::write(&m, text).unwrap();
    let run = with_pass(&m, &out, Some("new one"), &["--reencrypt"]);
    assert!(run.status.success(), "{}", stderr(&run));
    let after = csr_ids(&out);
    assert_ne!(after["host0.example.com"], ids["host0.example.com"], "resubject: a new CsrId");
    assert_eq!(after["host1.example.com"], ids["host1.example.com"]);
    assert_eq!(after["host2.example.com"], ids["host2.example.com"]);
    for ((path, old), (_, new)) in before.iter().zip(keys(&out)) {
        assert!(new.starts_with(b"-----BEGIN ENCRYPTED PRIVATE KEY-----"), "{}", path.display());
        let o = Command::new("openssl")
            .args(["pkey", "-in", path.to_str().unwrap(), "-passin", &format!("env:{PASS}"), "-pubout"])
            .env(PASS, "new one")
            .output()
            .unwrap();
        let old_pub = openssl(&["pkey", "-in", &write_tmp(&dir, old), "-pubout"]);
        assert_eq!(o.stdout, old_pub.stdout, "the same key, encrypted");
    }
    assert_eq!(archived(&out), 3 + 1 + 1, "three keys, host0's old CSR and the archive's log");
    // From now on the folder is encrypted: a run without the passphrase is refused.
    assert_eq!(run_in(&m, &out, &[]).status.code(), Some(2));
}

fn write_tmp(dir: &Dir, bytes: &[u8]) -> String {
    let p = dir.path("old.key.pem");
    std::fs::write(&p, bytes).unwrap();
    p.display().to_string()
}

#[test]
fn a_writer_whose_writes_fail_loses_no_pair_and_the_next_run_completes() {
    const COUNT: usize = 600;
    let dir = Dir::new();
    let out = dir.path("out");
    let m = many(&dir, COUNT);
    // Files may grow to 64 KiB: keys and CSRs fit, the journal does not for long. SIGXFSZ
    // is ignored (inherited through exec), so the write fails with EFBIG instead.
    let run = Command::new("sh")
        .args([
            "-c",
            "trap '' XFSZ; exec prlimit --fsize=65536 \"$0\" generate \"$1\" --out \"$2\" -q --jobs 1",
            env!("CARGO_BIN_EXE_csrbatch"),
            m.to_str().unwrap(),
            out.to_str().unwrap(),
        ])
        .output()
        .unwrap();
    assert_eq!(run.status.code(), Some(1), "a failed write is a failed run: {}", stderr(&run));
    assert!(stderr(&run).contains("File too large"), "{}", stderr(&run));
    let names: Vec<String> = std::fs::read_dir(&out)
        .unwrap()
        .filter_map(|e| e.unwrap().file_name().into_string().ok())
        .filter_map(|n| n.strip_suffix(".key.pem").map(str::to_owned))
        .collect();
    assert!(!names.is_empty() && names.len() < COUNT, "stopped part-way: {}", names.len());
    for name in &names {
        let (key, csr) = (out.join(format!("{name}.key.pem")), out.join(format!("{name}.csr.pem")));
        assert!(csr.is_file(), "{name}: a key without its CSR");
        let (k, c) = openssl_pubkeys(&key, &csr);
        assert_eq!(k, c, "{name}");
    }
    assert_eq!(check_code(&m, &out), Some(1));
    let run = run_in(&m, &out, &[]);
    assert!(run.status.success(), "{}", stderr(&run));
    assert_summary_is_the_files(&out, COUNT);
    let kept = read_summary(&out).csrs.iter().filter(|e| names.contains(&e.name)).count();
    assert_eq!(kept, names.len(), "every finished pair is in the summary");
    assert!(stderr(&run).contains(&format!("generated {} CSRs", COUNT - names.len())), "{}", stderr(&run));
}

#[test]
fn a_manifest_edited_during_a_run_stops_it_before_any_of_its_requests() {
    let dir = Dir::new();
    let out = dir.path("out");
    let mut csv = String::from("Algorithm,CommonName,CountryCode,Province,Locality\n");
    for i in 0..3000 {
        csv.push_str(&format!("ECC,a{i}.example.com,CN,Zhejiang,Hangzhou\n"));
    }
    dir.write("m/a.csv", &csv);
    let b = dir
        .write("m/b.csv", "Algorithm,CommonName,CountryCode,Province,Locality\nECC,b0.example.com,CN,P,L\n");
    let child = spawn(&dir.path("m"), &out, &["--jobs", "1"]);
    wait_for(|| std::fs::read_dir(&out).is_ok_and(|d| d.count() > 20));
    std::fs::write(&b, "Algorithm,CommonName,CountryCode,Province,Locality\nECC,b0.example.com,CN,P,L\nECC,b1.example.com,CN,P,L\n").unwrap();
    let output = child.wait_with_output().unwrap();
    let err = stderr(&output);
    assert_eq!(output.status.code(), Some(2), "{err}");
    assert!(err.contains(&format!("{}: its size changed since csrbatch validated it", b.display())), "{err}");
    assert!(!out.join("b0.example.com.key.pem").exists(), "nothing of the changed file is written");
    assert!(out.join("a0.example.com.key.pem").exists());
    // The next run, on the manifests as they are now, finishes the folder.
    let run = run_in(&dir.path("m"), &out, &[]);
    assert!(run.status.success(), "{}", stderr(&run));
    assert_summary_is_the_files(&out, 3002);
}

#[test]
fn failed_and_damaged_requests_are_named() {
    let dir = Dir::new();
    let out = dir.path("out");
    let m = many(&dir, 30);
    assert!(run_in(&m, &out, &[]).status.success());
    for i in 0..25 {
        std::fs::remove_file(out.join(format!("host{i}.example.com.csr.pem"))).unwrap();
    }
    let run = run_in(&m, &out, &[]);
    assert_eq!(run.status.code(), Some(1));
    let err = stderr(&run);
    let listed: Vec<&str> = err.lines().filter(|l| l.starts_with("damaged ")).collect();
    assert_eq!(listed.len(), 20, "{err}");
    assert!(listed[0].starts_with(&format!("damaged   host0.example.com  ({}:2): ", m.display())), "{err}");
    assert!(listed[0].ends_with("host0.example.com.csr.pem is missing"), "{err}");
    assert!(err.contains("... and 5 more"), "{err}");
    let closing = err.lines().last().unwrap();
    assert!(
        closing.starts_with("generated 0 CSRs") && closing.contains("5 unchanged; 25 damaged"),
        "{closing}"
    );
    let run = run_in(&m, &out, &["--repair"]);
    let closing = stderr(&run).lines().last().unwrap().to_owned();
    assert!(closing.contains("5 unchanged; 25 repaired"), "{closing}");
    std::fs::write(
        dir.path("one.csv"),
        "Algorithm,CommonName,CountryCode,Province,Locality\nECC,x.example.com,CN,P,L\n",
    )
    .unwrap();
    let run = run_in(&dir.path("one.csv"), &dir.path("o2"), &[]);
    assert!(
        stderr(&run).starts_with("generated 1 CSR (ECC-256: 1) in") && stderr(&run).contains("; 1 new"),
        "{}",
        stderr(&run)
    );
}

#[test]
fn ctrl_c_ends_a_wait_for_the_folder_lock() {
    let dir = Dir::new();
    let out = dir.path("out");
    let m = many(&dir, 3000);
    let first = spawn(&m, &out, &["--jobs", "1"]);
    wait_for(|| std::fs::read_dir(&out).is_ok_and(|d| d.count() > 10));
    let mut second = spawn(&m, &out, &[]);
    // Once it says it waits, it has validated the manifest and listens for Ctrl-C (a fixed
    // sleep here was too short on a loaded machine: SIGINT came before its handler).
    let mut said = std::io::BufReader::new(second.stderr.take().unwrap());
    let mut text = String::new();
    while !text.contains("waiting for another run") {
        let read = std::io::BufRead::read_line(&mut said, &mut text).unwrap();
        assert!(read > 0, "the second run ended without waiting: {text}");
    }
    let sent = Command::new("kill").args(["-INT", &second.id().to_string()]).status().unwrap();
    assert!(sent.success());
    let waited = Instant::now();
    std::io::Read::read_to_string(&mut said, &mut text).unwrap();
    let status = second.wait().unwrap();
    assert_eq!(status.code(), Some(130), "{text}");
    assert!(text.contains("waiting for another run"), "{text}");
    assert!(text.contains("interrupted: 0 of 3000 done"), "{text}");
    assert!(waited.elapsed() < Duration::from_secs(5), "the wait ended at once");
    let first = first.wait_with_output().unwrap();
    assert!(first.status.success(), "the run holding the lock is not disturbed: {}", stderr(&first));
    assert_summary_is_the_files(&out, 3000);
}

#[test]
fn a_plain_key_in_an_encrypted_folder_is_not_up_to_date_until_reencrypt() {
    // As an interrupted --reencrypt leaves it: the folder's keys are encrypted, one is not.
    let dir = Dir::new();
    let out = dir.path("out");
    let m = many(&dir, 3);
    assert!(with_pass(&m, &out, Some("pass"), &[]).status.success());
    let key = out.join("host1.example.com.key.pem");
    let plain = Command::new("openssl")
        .args(["pkey", "-in"])
        .arg(&key)
        .args(["-passin", "pass:pass"])
        .output()
        .unwrap();
    assert!(plain.status.success(), "{}", String::from_utf8_lossy(&plain.stderr));
    std::fs::write(&key, &plain.stdout).unwrap();

    let check = with_pass(&m, &out, Some("pass"), &["--check"]);
    assert_eq!(check.status.code(), Some(1), "{}", stderr(&check));
    assert!(String::from_utf8_lossy(&check.stdout).contains("is not encrypted"), "{:?}", check);
    let run = with_pass(&m, &out, Some("pass"), &[]);
    assert_eq!(run.status.code(), Some(1), "damaged, left alone: {}", stderr(&run));
    assert_eq!(std::fs::read(&key).unwrap(), plain.stdout, "left as it is");

    let run = with_pass(&m, &out, Some("pass"), &["--reencrypt"]);
    assert!(run.status.success(), "{}", stderr(&run));
    assert!(std::fs::read_to_string(&key).unwrap().starts_with("-----BEGIN ENCRYPTED PRIVATE KEY-----"));
    assert_eq!(with_pass(&m, &out, Some("pass"), &["--check"]).status.code(), Some(0));
}

#[test]
fn reencrypt_without_a_passphrase_is_a_usage_error_and_touches_nothing() {
    let dir = Dir::new();
    let out = dir.path("out");
    let m = many(&dir, 2);
    assert!(with_pass(&m, &out, None, &["--key-format", "traditional"]).status.success());
    let before: Vec<Vec<u8>> = tree(&out)
        .iter()
        .filter(|f| f.ends_with(".key.pem"))
        .map(|f| std::fs::read(out.join(f)).unwrap())
        .collect();
    let run = with_pass(&m, &out, None, &["--reencrypt"]);
    assert_eq!(run.status.code(), Some(2), "{}", stderr(&run));
    let after: Vec<Vec<u8>> = tree(&out)
        .iter()
        .filter(|f| f.ends_with(".key.pem"))
        .map(|f| std::fs::read(out.join(f)).unwrap())
        .collect();
    assert_eq!(before, after);
    assert!(String::from_utf8_lossy(&after[0]).starts_with("-----BEGIN EC PRIVATE KEY-----"));
}

#[test]
fn a_run_that_waited_for_the_lock_checks_the_folder_again() {
    // Run B (with a passphrase) finds a new folder and waits for its lock; meanwhile the
    // holder makes it an unencrypted folder. B must not then add encrypted keys to it.
    let dir = Dir::new();
    let out = dir.path("out");
    let m = many(&dir, 2);
    std::fs::create_dir_all(out.join(".csrbatch")).unwrap();
    let holder = Command::new("python3")
        .arg("-c")
        .arg(
            "import fcntl, sys, time, json\n\
             lock = open(sys.argv[1] + '/.csrbatch/lock', 'a')\n\
             fcntl.flock(lock, fcntl.LOCK_EX)\n\
             print('locked', flush=True)\n\
             time.sleep(1.5)\n\
             json.dump({'LastCsrId': 0, 'Layout': 'flat', 'Keys': 'unencrypted'},\n\
                       open(sys.argv[1] + '/.csrbatch/state.json', 'w'))\n",
        )
        .arg(&out)
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut holder = holder;
    let mut line = String::new();
    std::io::BufRead::read_line(&mut std::io::BufReader::new(holder.stdout.take().unwrap()), &mut line)
        .unwrap();
    assert_eq!(line.trim(), "locked");
    let run = with_pass(&m, &out, Some("pass"), &[]);
    assert!(holder.wait().unwrap().success());
    assert_eq!(run.status.code(), Some(2), "{}", stderr(&run));
    assert!(stderr(&run).contains("waiting for another run"), "{}", stderr(&run));
    assert!(!tree(&out).iter().any(|f| f.ends_with(".pem")), "{:?}", tree(&out));
}
