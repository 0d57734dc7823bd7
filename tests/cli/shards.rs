//! Shards: one manifest as 1 shard and as 4 (separate processes, some told their shard by
//! the engines' variables), merged, and compared; a merge with a shard missing.

use std::collections::{BTreeSet, HashSet};
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Command;

use crate::util::*;

fn manifest(dir: &Dir) -> std::path::PathBuf {
    let mut csv = String::from("Algorithm,CommonName,CountryCode,Province,Locality\n");
    for i in 0..40 {
        csv.push_str(&format!(
            "{},s{i}.example.com,CN,Zhejiang,Hangzhou\n",
            if i % 3 == 0 { "SM2" } else { "ECC" }
        ));
    }
    dir.write("m/requests.csv", &csv);
    dir.path("m")
}

/// Shard K's output folder in the tests that merge without --manifests.
fn shard_folder(dir: &Dir, k: u32) -> std::path::PathBuf {
    dir.path(&format!("s/{k}"))
}

/// Shards 0/2 and 1/2 of the manifest `m`, into their folders.
fn generate_two_shards(dir: &Dir, m: &Path) {
    for k in 0..2 {
        let shard = format!("{k}/2");
        let o = csrbatch([
            "generate".as_ref(),
            m.as_os_str(),
            "--out".as_ref(),
            shard_folder(dir, k).as_os_str(),
            "--shard".as_ref(),
            shard.as_ref(),
            "-q".as_ref(),
        ]);
        assert!(o.status.success(), "{}", stderr(&o));
    }
}

/// `csrbatch merge` of those shard folders into `out`, with no --manifests.
fn merge_shards(dir: &Dir, out: &str, shards: &[u32]) -> std::process::Output {
    let mut args = vec!["merge".to_owned()];
    args.extend(shards.iter().map(|k| shard_folder(dir, *k).display().to_string()));
    args.extend(["--out".to_owned(), dir.path(out).display().to_string()]);
    csrbatch(&args)
}

/// Every file under `root` but the lock, with its bytes.
fn contents(root: &Path) -> Vec<(String, Vec<u8>)> {
    tree(root)
        .into_iter()
        .filter(|f| root.join(f).is_file() && !f.ends_with("lock"))
        .map(|f| (f.clone(), std::fs::read(root.join(&f)).unwrap()))
        .collect()
}

fn names(out: &Path) -> BTreeSet<String> {
    read_summary(out).csrs.into_iter().map(|e| e.name).collect()
}

#[test]
fn four_shards_merge_into_what_one_run_makes() {
    let dir = Dir::new();
    let m = manifest(&dir);
    let one = csrbatch([
        "generate".as_ref(),
        m.as_os_str(),
        "--out".as_ref(),
        dir.path("one").as_os_str(),
        "-q".as_ref(),
    ]);
    assert!(one.status.success(), "{}", stderr(&one));

    // Four processes at once: --shard, and the variables of Kubernetes, Slurm, AWS Batch.
    type Engine<'a> = (&'a [&'a str], &'a [(&'a str, &'a str)]);
    let engines: [Engine; 4] = [
        (&["--shard", "0/4"], &[]),
        (&[], &[("JOB_COMPLETION_INDEX", "1"), ("CSRBATCH_SHARDS", "4")]),
        (
            &[],
            &[("SLURM_ARRAY_TASK_ID", "3"), ("SLURM_ARRAY_TASK_MIN", "1"), ("SLURM_ARRAY_TASK_COUNT", "4")],
        ),
        (&[], &[("AWS_BATCH_JOB_ARRAY_INDEX", "3"), ("AWS_BATCH_JOB_ARRAY_SIZE", "4")]),
    ];
    let children: Vec<_> = engines
        .iter()
        .enumerate()
        .map(|(k, (args, vars))| {
            let mut c = Command::new(env!("CARGO_BIN_EXE_csrbatch"));
            c.args([
                "generate".as_ref(),
                m.as_os_str(),
                "--out".as_ref(),
                dir.path(&format!("shards/{k}")).as_os_str(),
                "-q".as_ref(),
            ]);
            c.args(*args).envs(vars.iter().copied());
            c.output().unwrap()
        })
        .collect();
    for (k, c) in children.iter().enumerate() {
        assert!(c.status.success(), "shard {k}: {}", stderr(c));
    }
    let shard_names: Vec<BTreeSet<String>> =
        (0..4).map(|k| names(&dir.path(&format!("shards/{k}")))).collect();
    assert!(shard_names.iter().all(|s| !s.is_empty()), "every shard has work: {shard_names:?}");
    let all: BTreeSet<String> = shard_names.iter().flatten().cloned().collect();
    assert_eq!(shard_names.iter().map(BTreeSet::len).sum::<usize>(), all.len(), "no request in two shards");
    assert_eq!(all, names(&dir.path("one")), "the shards together are the one run");

    let shard_dirs: Vec<String> =
        (0..4).map(|k| dir.path(&format!("shards/{k}")).display().to_string()).collect();
    let merged = dir.path("merged");
    let mut args = vec!["merge".to_owned()];
    args.extend(shard_dirs.iter().cloned());
    args.extend([
        "--manifests".into(),
        m.display().to_string(),
        "--out".into(),
        merged.display().to_string(),
    ]);
    let run = csrbatch(&args);
    assert!(run.status.success(), "{}", stderr(&run));
    let s = read_summary(&merged);
    let one = read_summary(&dir.path("one"));
    assert_eq!((s.total, s.succeeded, s.failed), (one.total, one.succeeded, 0));
    assert_eq!(
        s.csrs.iter().map(|e| e.name.clone()).collect::<Vec<_>>(),
        one.csrs.iter().map(|e| e.name.clone()).collect::<Vec<_>>(),
        "manifest order"
    );
    let ids: HashSet<u64> = s.csrs.iter().map(|e| e.csr_id.unwrap()).collect();
    assert_eq!(ids.len(), s.csrs.len(), "CsrIds unique across shards");
    for e in &s.csrs {
        let csr = merged.join(e.csr_file.as_ref().unwrap());
        assert!(e.csr_file.as_ref().unwrap().starts_with("../shards/"), "{:?}", e.csr_file);
        assert!(openssl_verifies(&csr, e.algorithm == "SM2").0, "{}", e.name);
        let (k, c) = openssl_pubkeys(&merged.join(e.key_file.as_ref().unwrap()), &csr);
        assert_eq!(k, c, "{}", e.name);
    }

    // --collect copies the pairs next to the merged summary.
    let collected = dir.path("collected");
    let mut args2 = args.clone();
    let at = args2.len() - 1;
    args2[at] = collected.display().to_string();
    args2.push("--collect".into());
    let run = csrbatch(&args2);
    assert!(run.status.success(), "{}", stderr(&run));
    let s = read_summary(&collected);
    for e in &s.csrs {
        let key = collected.join(e.key_file.as_ref().unwrap());
        assert_eq!(std::fs::metadata(&key).unwrap().permissions().mode() & 0o777, 0o600);
        assert!(openssl_verifies(&collected.join(e.csr_file.as_ref().unwrap()), e.algorithm == "SM2").0);
    }

    // Shard 2 left out: exactly its requests are reported missing, and nothing is merged.
    let mut args = vec!["merge".to_owned()];
    args.extend([0, 1, 3].map(|k| shard_dirs[k].clone()));
    args.extend([
        "--manifests".into(),
        m.display().to_string(),
        "--out".into(),
        dir.path("partial").display().to_string(),
    ]);
    let run = csrbatch(&args);
    assert_eq!(run.status.code(), Some(1));
    let err = stderr(&run);
    let missing: BTreeSet<String> = err
        .lines()
        .filter_map(|l| l.strip_prefix("missing: "))
        .map(|l| l.split(' ').next().unwrap().to_owned())
        .collect();
    assert_eq!(missing, shard_names[2], "{err}");
    assert!(!dir.path("partial/summary.json").exists());

    // The same shard twice: every one of its requests is a duplicate.
    let mut args = vec!["merge".to_owned()];
    args.extend([0, 1, 2, 3, 1].map(|k| shard_dirs[k].clone()));
    args.extend([
        "--manifests".into(),
        m.display().to_string(),
        "--out".into(),
        dir.path("twice").display().to_string(),
    ]);
    let run = csrbatch(&args);
    assert_eq!(run.status.code(), Some(1));
    assert_eq!(stderr(&run).lines().filter(|l| l.starts_with("duplicate: ")).count(), shard_names[1].len());
}

#[test]
fn shard_arguments_are_checked() {
    let dir = Dir::new();
    let m = manifest(&dir);
    let bad = csrbatch(["generate".as_ref(), m.as_os_str(), "--shard".as_ref(), "4/4".as_ref()]);
    assert_eq!(bad.status.code(), Some(2));
    assert!(stderr(&bad).contains("does not exist"), "{}", stderr(&bad));
    let k8s = Command::new(env!("CARGO_BIN_EXE_csrbatch"))
        .args(["generate".as_ref(), m.as_os_str(), "--out".as_ref(), dir.path("o").as_os_str()])
        .env("JOB_COMPLETION_INDEX", "0")
        .output()
        .unwrap();
    assert_eq!(k8s.status.code(), Some(2));
    assert!(stderr(&k8s).contains("--shards"), "{}", stderr(&k8s));
    assert!(!dir.path("o").exists());

    // One folder holds one shard: a second shard there would rewrite the first's summary.
    let shared = dir.path("shared");
    let run = |shard: &str| {
        csrbatch([
            "generate".as_ref(),
            m.as_os_str(),
            "--out".as_ref(),
            shared.as_os_str(),
            "--shard".as_ref(),
            shard.as_ref(),
            "-q".as_ref(),
        ])
    };
    assert!(run("0/2").status.success());
    let clash = run("1/2");
    assert_eq!(clash.status.code(), Some(2));
    assert!(stderr(&clash).contains("holds shard 0/2, not shard 1/2"), "{}", stderr(&clash));
    assert!(run("0/2").status.success(), "the same shard again is a re-run");
}

/// Rewrites a summary.json with another JSON layout, as `jq` or Python would.
fn relayout(summary: &Path, indent: &str) {
    let script = format!(
        "import json,sys; p=sys.argv[1]; d=json.load(open(p)); json.dump(d, open(p,'w'), indent={indent}, sort_keys=True)"
    );
    let o = Command::new("python3").args(["-c", &script, summary.to_str().unwrap()]).output().unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
}

#[test]
fn merge_reads_any_json_layout_and_needs_no_manifests() {
    let dir = Dir::new();
    let m = manifest(&dir);
    let shard_dir = |k: u32| shard_folder(&dir, k);
    for k in 0..2 {
        let run = csrbatch([
            "generate".as_ref(),
            m.as_os_str(),
            "--out".as_ref(),
            shard_dir(k).as_os_str(),
            "--shard".as_ref(),
            format!("{k}/2").as_ref(),
            "-q".as_ref(),
        ]);
        assert!(run.status.success(), "{}", stderr(&run));
    }
    let before: Vec<_> = (0..2).map(|k| read_summary(&shard_dir(k))).collect();
    let plan = csrbatch([
        "plan".as_ref(),
        m.as_os_str(),
        "--out".as_ref(),
        shard_dir(0).as_os_str(),
        "--shard".as_ref(),
        "0/2".as_ref(),
    ]);
    let text = String::from_utf8_lossy(&plan.stdout);
    assert!(text.contains(&format!("unchanged {}, new 0,", before[0].csrs.len())), "{text}{}", stderr(&plan));
    relayout(&shard_dir(0).join("summary.json"), "4");
    relayout(&shard_dir(1).join("summary.json"), "None");
    let text = std::fs::read_to_string(shard_dir(0).join("summary.json")).unwrap();
    assert!(!text.contains("\n  \"Csrs\": [") && text.contains("\n    \"Csrs\": ["), "re-laid out");
    assert_eq!((0..2).map(|k| read_summary(&shard_dir(k))).collect::<Vec<_>>(), before);

    // A plain re-run reads the re-laid-out summary: everything unchanged, CsrIds kept.
    let again = csrbatch([
        "generate".as_ref(),
        m.as_os_str(),
        "--out".as_ref(),
        shard_dir(1).as_os_str(),
        "--shard".as_ref(),
        "1/2".as_ref(),
        "--check".as_ref(),
    ]);
    assert_eq!(again.status.code(), Some(0), "{}", String::from_utf8_lossy(&again.stdout));
    relayout(&shard_dir(1).join("summary.json"), "None");

    // No --manifests: the shards recorded theirs.
    let merge = |out: &str, shards: &[u32]| merge_shards(&dir, out, shards);
    let run = merge("merged", &[0, 1]);
    assert!(run.status.success(), "{}", stderr(&run));
    let merged = read_summary(&dir.path("merged"));
    assert_eq!(merged.total, 40);
    let order: Vec<String> = merged.csrs.iter().map(|e| e.common_name.clone()).collect();
    assert_eq!(order, (0..40).map(|i| format!("s{i}.example.com")).collect::<Vec<_>>(), "manifest order");

    // A shard left out: its requests are named (the manifests are still there).
    let run = merge("partial", &[0]);
    assert_eq!(run.status.code(), Some(1));
    let missing = stderr(&run).lines().filter(|l| l.starts_with("missing: ")).count();
    assert_eq!(missing, before[1].csrs.len(), "{}", stderr(&run));
    assert!(stderr(&run).contains("shard 1/2 is missing"), "{}", stderr(&run));
    assert!(!dir.path("partial/summary.json").exists());

    // The manifests gone: merge says so, and still merges what the shards prove.
    std::fs::rename(&m, dir.path("elsewhere")).unwrap();
    let run = merge("proven", &[0, 1]);
    assert!(run.status.success(), "{}", stderr(&run));
    assert!(stderr(&run).contains("is gone"), "{}", stderr(&run));
    let proven = read_summary(&dir.path("proven"));
    let order: Vec<String> = proven.csrs.iter().map(|e| e.common_name.clone()).collect();
    assert_eq!(order, (0..40).map(|i| format!("s{i}.example.com")).collect::<Vec<_>>(), "manifest order");
    let run = merge("proven-partial", &[1]);
    assert_eq!(run.status.code(), Some(1));
    assert!(stderr(&run).contains("shard 0/2 is missing: no folder given holds it"), "{}", stderr(&run));

    // --manifests still overrides.
    let run = csrbatch([
        "merge".as_ref(),
        shard_dir(0).as_os_str(),
        shard_dir(1).as_os_str(),
        "--manifests".as_ref(),
        dir.path("elsewhere").as_os_str(),
        "--out".as_ref(),
        dir.path("given").as_os_str(),
    ]);
    assert!(run.status.success(), "{}", stderr(&run));
}

#[test]
fn merge_reads_recorded_manifests_in_the_encoding_the_shards_used() {
    // A GB18030 CSV (Excel on Chinese Windows): the shards read it with --encoding, and
    // merge, with no --manifests, reads it the same way to name a missing request.
    let dir = Dir::new();
    let mut csv = String::from("Algorithm,CommonName,CountryCode,Province,Locality\n");
    for i in 0..12 {
        csv.push_str(&format!("ECC,g{i}.example.com,CN,浙江,杭州\n"));
    }
    let (bytes, _, unmappable) = encoding_rs::GB18030.encode(&csv);
    assert!(!unmappable);
    let m = dir.path("m.csv");
    std::fs::write(&m, &bytes).unwrap();
    let shard_dir = |k: u32| shard_folder(&dir, k);
    for k in 0..2 {
        let run = csrbatch([
            "generate".as_ref(),
            m.as_os_str(),
            "--encoding".as_ref(),
            "gb18030".as_ref(),
            "--shard".as_ref(),
            format!("{k}/2").as_ref(),
            "--out".as_ref(),
            shard_dir(k).as_os_str(),
        ]);
        assert!(run.status.success(), "{}", stderr(&run));
    }
    let merge = |out: &str, shards: &[u32]| merge_shards(&dir, out, shards);
    let run = merge("merged", &[0, 1]);
    assert!(run.status.success(), "{}", stderr(&run));
    assert!(!stderr(&run).contains("cannot name missing requests"), "{}", stderr(&run));
    let merged = read_summary(&dir.path("merged"));
    assert_eq!(merged.total, 12);
    assert!(merged.csrs.iter().all(|e| e.province == "浙江"), "decoded as GB18030");
    // Shard 1 left out: its requests are named from the re-read manifest.
    let held = read_summary(&shard_dir(1)).csrs.len();
    let run = merge("partial", &[0]);
    assert_eq!(run.status.code(), Some(1));
    let missing = stderr(&run).lines().filter(|l| l.starts_with("missing: ")).count();
    assert_eq!(missing, held, "{}", stderr(&run));
}

#[test]
fn collect_makes_one_folder_only_of_shards_whose_keys_agree() {
    let dir = Dir::new();
    let m = manifest(&dir);
    let generate = |k: u32, extra: &[&str]| {
        let mut c = Command::new(env!("CARGO_BIN_EXE_csrbatch"));
        c.args(["generate".as_ref(), m.as_os_str(), "--out".as_ref(), shard_folder(&dir, k).as_os_str()])
            .args(["--shard", &format!("{k}/2"), "-q"])
            .args(extra)
            .env("CSRBATCH_TEST_PASS", "correct horse");
        let o = c.output().unwrap();
        assert!(o.status.success(), "{}", stderr(&o));
    };
    generate(0, &["--key-passphrase-env", "CSRBATCH_TEST_PASS"]);
    generate(1, &[]);
    let collect = |out: &str| {
        let mut args = vec!["merge".to_owned()];
        args.extend((0..2).map(|k| shard_folder(&dir, k).display().to_string()));
        args.extend(["--out".to_owned(), dir.path(out).display().to_string(), "--collect".to_owned()]);
        csrbatch(&args)
    };
    // Encrypted and unencrypted keys are never collected into one folder.
    let o = collect("mixed");
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert!(stderr(&o).contains("keys differ"), "{}", stderr(&o));
    assert!(!dir.path("mixed").exists(), "nothing merged, no key copied");
    // Made alike, they collect into a folder that records it: a run there without the
    // passphrase is refused before anything is touched.
    std::fs::remove_dir_all(shard_folder(&dir, 1)).unwrap();
    generate(1, &["--key-passphrase-env", "CSRBATCH_TEST_PASS", "--layout", "fanout"]);
    assert!(stderr(&collect("mixed")).contains("layout"), "layouts differ too");
    std::fs::remove_dir_all(shard_folder(&dir, 1)).unwrap();
    generate(1, &["--key-passphrase-env", "CSRBATCH_TEST_PASS"]);
    let o = collect("merged");
    assert!(o.status.success(), "{}", stderr(&o));
    let merged = dir.path("merged");
    let before = tree(&merged);
    let key = before.iter().find(|f| f.ends_with(".key.pem")).expect("keys collected");
    assert!(
        std::fs::read_to_string(merged.join(key)).unwrap().starts_with("-----BEGIN ENCRYPTED PRIVATE KEY")
    );
    let o =
        csrbatch(["generate".as_ref(), m.as_os_str(), "--out".as_ref(), merged.as_os_str(), "-q".as_ref()]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert_eq!(tree(&merged), before);
    // A shard folder from before the key protection was recorded tells it by its keys;
    // a folder of a plain merge (no keys) takes the collected pairs.
    let state = shard_folder(&dir, 1).join(".csrbatch/state.json");
    let mut recorded: serde_json::Value = serde_json::from_slice(&std::fs::read(&state).unwrap()).unwrap();
    assert!(recorded.as_object_mut().unwrap().remove("Keys").is_some());
    std::fs::write(&state, serde_json::to_vec(&recorded).unwrap()).unwrap();
    let plain_merge = merge_shards(&dir, "again", &[0, 1]);
    assert!(plain_merge.status.success(), "{}", stderr(&plain_merge));
    let o = collect("again");
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(tree(&dir.path("again")).iter().any(|f| f.ends_with(".key.pem")));
    // Nor are they collected into a folder of unencrypted keys.
    let plain = dir.path("plain");
    let o =
        csrbatch(["generate".as_ref(), m.as_os_str(), "--out".as_ref(), plain.as_os_str(), "-q".as_ref()]);
    assert!(o.status.success(), "{}", stderr(&o));
    let before = tree(&plain);
    let o = collect("plain");
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert!(stderr(&o).contains("collect into a new folder"), "{}", stderr(&o));
    assert_eq!(tree(&plain), before);
}

/// The folder's kind is judged again under its lock: a run there that `--collect` waited
/// for may have made it a folder of another kind (here, of encrypted keys).
#[test]
fn collect_judges_the_folder_again_once_it_holds_its_lock() {
    let dir = Dir::new();
    let m = manifest(&dir);
    generate_two_shards(&dir, &m);
    // The folder holds other requests than the shards, so the old code would have put the
    // shards' unencrypted keys beside its encrypted ones.
    dir.write(
        "other/requests.csv",
        "Algorithm,CommonName,CountryCode,Province,Locality\nECC,o0.example.com,CN,Zhejiang,Hangzhou\n",
    );
    let late = dir.path("late");
    let o = Command::new(env!("CARGO_BIN_EXE_csrbatch"))
        .args([
            "generate".as_ref(),
            dir.path("other").as_os_str(),
            "--out".as_ref(),
            late.as_os_str(),
            "-q".as_ref(),
        ])
        .args(["--key-passphrase-env", "CSRBATCH_TEST_PASS"])
        .env("CSRBATCH_TEST_PASS", "correct horse")
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    let before = contents(&late);
    // Until the lock is taken, the folder says nothing of its keys (no state.json, as if
    // the other run had not written it yet): the first look lets the merge go on.
    let state = late.join(".csrbatch/state.json");
    let aside = dir.path("state.json.aside");
    std::fs::rename(&state, &aside).unwrap();
    let lock = std::fs::OpenOptions::new().write(true).open(late.join(".csrbatch/lock")).unwrap();
    lock.lock().unwrap();
    let mut merge = Command::new(env!("CARGO_BIN_EXE_csrbatch"))
        .arg("merge")
        .args([shard_folder(&dir, 0), shard_folder(&dir, 1)])
        .args(["--out".as_ref(), late.as_os_str(), "--collect".as_ref()])
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut said = until_it_waits(&mut merge);
    std::fs::rename(&aside, &state).unwrap();
    drop(lock);
    let mut rest = String::new();
    std::io::Read::read_to_string(&mut said, &mut rest).unwrap();
    let status = merge.wait().unwrap();
    assert_eq!(status.code(), Some(1), "{rest}");
    assert!(rest.contains("collect into a new folder"), "{rest}");
    assert!(contents(&late) == before, "no unencrypted key came into the encrypted folder, nothing changed");
}

#[test]
fn a_csr_id_held_twice_is_refused_before_anything_is_collected() {
    let dir = Dir::new();
    let m = manifest(&dir);
    generate_two_shards(&dir, &m);
    // The last entry of shard 1 claims the first CsrId of shard 0.
    let id = read_summary(&shard_folder(&dir, 0)).csrs[0].csr_id.unwrap();
    let path = shard_folder(&dir, 1).join("summary.json");
    let mut summary: serde_json::Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    let csrs = summary["Csrs"].as_array_mut().unwrap();
    let last = csrs.len() - 1;
    csrs[last]["CsrId"] = id.into();
    std::fs::write(&path, serde_json::to_vec(&summary).unwrap()).unwrap();
    let mut args = vec!["merge".to_owned()];
    args.extend((0..2).map(|k| shard_folder(&dir, k).display().to_string()));
    args.extend(["--out".to_owned(), dir.path("merged").display().to_string(), "--collect".to_owned()]);
    let o = csrbatch(&args);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert!(stderr(&o).contains(&format!("CsrId {id} appears twice")), "{}", stderr(&o));
    assert!(!dir.path("merged").exists(), "nothing collected");
}

/// Reads `child`'s stderr until a line says it waits for another run; panics (killing it)
/// if it ends first. Returns the reader, for the rest.
fn until_it_waits(child: &mut std::process::Child) -> std::io::BufReader<std::process::ChildStderr> {
    use std::io::BufRead;
    let mut said = std::io::BufReader::new(child.stderr.take().unwrap());
    let mut line = String::new();
    while !line.contains("waiting for another run") {
        line.clear();
        if said.read_line(&mut line).unwrap() == 0 {
            let _ = child.kill();
            panic!("merge ended without waiting for the lock");
        }
    }
    said
}

/// A shard whose run still holds its lock is not read half-done: merge waits for the run
/// (here the test holds the lock, with the shard's summary not yet written, as a run that
/// is still going would), then merges what the finished run left.
#[test]
fn merge_waits_for_a_shard_whose_run_holds_its_lock() {
    let dir = Dir::new();
    let m = manifest(&dir);
    generate_two_shards(&dir, &m);
    let shard = shard_folder(&dir, 1);
    let summary = shard.join("summary.json");
    let aside = dir.path("summary.json.aside");
    std::fs::rename(&summary, &aside).unwrap();
    let lock = std::fs::OpenOptions::new().write(true).open(shard.join(".csrbatch/lock")).unwrap();
    lock.lock().unwrap();
    let mut merge = Command::new(env!("CARGO_BIN_EXE_csrbatch"))
        .arg("merge")
        .args([shard_folder(&dir, 0), shard_folder(&dir, 1)])
        .args(["--out".as_ref(), dir.path("merged").as_os_str()])
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut said = until_it_waits(&mut merge);
    // The run finishes: its summary lands, then it lets the folder go.
    std::fs::rename(&aside, &summary).unwrap();
    drop(lock);
    let mut rest = String::new();
    std::io::Read::read_to_string(&mut said, &mut rest).unwrap();
    assert_eq!(merge.wait().unwrap().code(), Some(0), "{rest}");
    assert_eq!(names(&dir.path("merged")).len(), 40, "{rest}");
}

/// A shard with a journal newer than its summary is a run that never finished (killed
/// once it had opened its journal): named and refused, nothing merged.
#[test]
fn merge_refuses_a_shard_with_an_unfinished_run() {
    let dir = Dir::new();
    let m = manifest(&dir);
    generate_two_shards(&dir, &m);
    let shard = shard_folder(&dir, 1);
    let written = read_summary(&shard).written;
    assert!(!written.is_empty());
    let later = format!("9999{}", &written[4..]); // stamps sort by time: this is after it
    std::fs::write(shard.join(format!(".csrbatch/journal-{later}.jsonl")), b"").unwrap();
    let o = merge_shards(&dir, "merged", &[0, 1]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    let said = stderr(&o);
    assert!(said.contains(&format!("{}: shard 1/2 has an unfinished run", shard.display())), "{said}");
    assert!(!dir.path("merged/summary.json").exists(), "nothing merged");
}

/// With --collect, a file already in the target at a pair's path that is not that pair
/// (another request of the same Name) is found before anything is copied: exit 1, the
/// target byte-identical, no partial copy left.
#[test]
fn collect_finds_a_name_that_clashes_in_the_target_before_copying_anything() {
    let dir = Dir::new();
    let m = manifest(&dir);
    generate_two_shards(&dir, &m);
    // The target holds its own s39.example.com: another key, another CSR.
    dir.write(
        "other/requests.csv",
        "Algorithm,CommonName,CountryCode,Province,Locality\nECC,s39.example.com,CN,Zhejiang,Hangzhou\n",
    );
    let target = dir.path("target");
    let o = csrbatch([
        "generate".as_ref(),
        dir.path("other").as_os_str(),
        "--out".as_ref(),
        target.as_os_str(),
        "-q".as_ref(),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let before = contents(&target);
    let mut args = vec!["merge".to_owned()];
    args.extend((0..2).map(|k| shard_folder(&dir, k).display().to_string()));
    args.extend(["--out".to_owned(), target.display().to_string(), "--collect".to_owned()]);
    let o = csrbatch(&args);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    let said = stderr(&o);
    assert!(said.contains("clash: s39.example.com"), "{said}");
    assert!(said.contains(&target.join("s39.example.com.key.pem").display().to_string()), "{said}");
    assert!(contents(&target) == before, "nothing copied, nothing changed:\n{:?}", tree(&target));
}

/// Merging into one of the shard folders is refused (it would wait for itself).
#[test]
fn merge_into_one_of_its_shards_is_refused() {
    let dir = Dir::new();
    let m = manifest(&dir);
    generate_two_shards(&dir, &m);
    let before = std::fs::read(shard_folder(&dir, 0).join("summary.json")).unwrap();
    let o = merge_shards(&dir, "s/0", &[0, 1]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert!(stderr(&o).contains("--out is one of the shard folders"), "{}", stderr(&o));
    assert_eq!(std::fs::read(shard_folder(&dir, 0).join("summary.json")).unwrap(), before);
}
