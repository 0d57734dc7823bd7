//! Certified requests under the commands that move or rewrite a folder's files: `merge`
//! of shards whose requests have certificates (live, renewed into generations, renewals
//! waiting for theirs; `--collect` carries the shards' archives and refuses a chain
//! changed by hand), a recorded certificate whose files are gone (`--check` must not
//! call that folder up to date; with its key gone too, `--repair` makes a new pair whose
//! first certificate goes in cleanly; a renewed one whose every top-level file was deleted
//! keeps its record until import links its generation again; one whose key alone is gone
//! is refused by import until a new pair replaces it), and `--reencrypt` of a
//! folder with live keys. Judged by openssl on what the real binary wrote.

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

use crate::ca::*;
use crate::import2::*;
use crate::util::*;

/// Two shards of four ECC requests, every request certified in its shard with two
/// thirds of its lifetime spent, then renewed there (`generate` wrote each a next pair):
/// the first request of each shard got its renewal's certificate (a generation, the names
/// beside the CSR links), the others wait for theirs. The first shard's certificates
/// came with a `.p12`. (manifest, shard folders, CA, the waiting requests' Names.)
fn certified_shards(dir: &Dir) -> (PathBuf, [PathBuf; 2], Ca, Vec<String>) {
    let requests: Vec<String> =
        (0..4).map(|i| req(&format!("web{i}"), "ECC", &format!("web{i}.example.com"), "")).collect();
    let m = manifest(dir, &requests);
    let ca = Ca::new();
    let shards = [dir.path("s/0"), dir.path("s/1")];
    let mut waiting = Vec::new();
    for (k, shard) in shards.iter().enumerate() {
        generate_ok(&m, shard, &["--shard", &format!("{k}/2"), "-q"]);
        let mut names: Vec<String> = std::fs::read_dir(shard)
            .unwrap()
            .filter_map(|e| e.unwrap().file_name().to_str()?.strip_suffix(".csr.pem").map(str::to_owned))
            .collect();
        names.sort();
        assert!(!names.is_empty(), "shard {k} holds no request");
        let p12: &[&str] = if k == 0 { &["--p12", "--p12-passphrase-env", "P12_PASS"] } else { &[] };
        let first: Vec<PathBuf> = names
            .iter()
            .map(|n| {
                ca.issue(&shard.join(format!("{n}.csr.pem")), &Issue::valid(Validity::two_thirds_spent()))
                    .fullchain()
            })
            .collect();
        import_ok_with(&first, shard, &ca.root, p12);
        generate_ok(&m, shard, &["--shard", &format!("{k}/2"), "-q"]);
        let renewed = ca.issue(&shard.join(format!("{}.next.csr.pem", names[0])), &Issue::default());
        import_ok_with(&[renewed.fullchain()], shard, &ca.root, p12);
        assert_eq!(entry(shard, &names[0])["State"], "renewed");
        waiting.extend(names[1..].iter().cloned());
    }
    (m, shards, ca, waiting)
}

/// `import FILES --out OUT --ca-bundle ROOT EXTRA...` (the `.p12` passphrase in
/// `P12_PASS`), expecting exit 0.
fn import_ok_with(files: &[PathBuf], out: &Path, root: &Path, extra: &[&str]) {
    let mut args = import_args(files, out, root);
    args.extend(extra.iter().map(|e| os(e)));
    let run = bin_env(&args, &[("P12_PASS", "p12 secret")]);
    assert_eq!(run.status.code(), Some(0), "import {files:?}: {}", stderr(&run));
}

fn merge(shards: &[PathBuf], out: &Path, collect: bool) -> std::process::Output {
    let mut args = vec![os("merge")];
    args.extend(shards.iter().map(|s| s.as_os_str()));
    args.extend([os("--out"), out.as_os_str()]);
    if collect {
        args.push(os("--collect"));
    }
    bin(&args)
}

/// The shard whose summary holds request `name`.
fn shard_of<'a>(shards: &'a [PathBuf], name: &str) -> &'a PathBuf {
    let holds = |s: &PathBuf| summary_json(s)["Csrs"].as_array().unwrap().iter().any(|e| e["Name"] == name);
    shards.iter().find(|s| holds(s)).unwrap_or_else(|| panic!("no shard holds {name}"))
}

fn mode(p: &Path) -> u32 {
    std::fs::metadata(p).unwrap().permissions().mode() & 0o777
}

fn regular(p: &Path) -> bool {
    std::fs::symlink_metadata(p).is_ok_and(|m| m.is_file())
}

fn names_of(m: &Path) -> Vec<String> {
    let text = text(m);
    (0..4).map(|i| format!("web{i}")).filter(|n| text.contains(&format!("Name: {n},"))).collect()
}

#[test]
fn merge_collect_carries_live_certificates_and_waiting_renewals() {
    let dir = Dir::new();
    let (m, shards, ca, waiting) = certified_shards(&dir);
    // An archived key a group may read (0640), and a link as `--prune` archives a
    // request's `.live/NAME/current`: copied as they are.
    let archive0 = shards[0].join(".archive");
    let group_key = snapshot(&archive0).into_keys().find(|p| p.ends_with("key.pem")).unwrap();
    std::fs::set_permissions(archive0.join(&group_key), std::fs::Permissions::from_mode(0o640)).unwrap();
    // Of a server's group, which the copy keeps (root may give it; others keep the
    // group's bits off, as a unit test of `stage_copy` checks).
    let group = if rustix::process::geteuid().is_root() {
        4242
    } else {
        std::fs::metadata(archive0.join(&group_key)).unwrap().gid()
    };
    std::os::unix::fs::lchown(archive0.join(&group_key), None, Some(group)).unwrap();
    std::fs::create_dir_all(archive0.join("T/gone.live/G")).unwrap();
    std::os::unix::fs::symlink("G", archive0.join("T/gone.live/current")).unwrap();
    let merged = dir.path("merged");
    let run = merge(&shards, &merged, true);
    assert_eq!(run.status.code(), Some(0), "merge --collect: {}", stderr(&run));
    assert_eq!(mode(&merged.join(".archive").join(&group_key)), 0o640);
    assert_eq!(std::fs::metadata(merged.join(".archive").join(&group_key)).unwrap().gid(), group);
    assert_eq!(std::fs::read_link(merged.join(".archive/T/gone.live/current")).unwrap(), Path::new("G"));
    for name in names_of(&m) {
        let shard = shard_of(&shards, &name);
        let f = |root: &Path, suffix: &str| root.join(format!("{name}.{suffix}"));
        // The live pair belongs together in the copy, as regular files of the shard's bytes.
        for file in ["key.pem", "crt.pem", "chain.pem", "fullchain.pem", "csr.pem"] {
            assert!(regular(&f(&merged, file)), "{name}.{file} is a regular file in the copy");
            assert_eq!(text(&f(&merged, file)), text(&f(shard, file)), "{name}.{file}");
        }
        assert_pair(&f(&merged, "crt.pem"), &f(&merged, "key.pem"), &name);
        let (ok, said) =
            openssl_verify_chain(&ca.root, &f(&merged, "chain.pem"), &f(&merged, "crt.pem"), false);
        assert!(ok, "{name}: openssl verify: {said}");
        assert_eq!(mode(&f(&merged, "key.pem")), 0o600, "{name}.key.pem");
        if exists(&f(shard, "p12")) {
            assert_eq!(std::fs::read(f(&merged, "p12")).unwrap(), std::fs::read(f(shard, "p12")).unwrap());
            assert_eq!(mode(&f(&merged, "p12")), 0o600, "{name}.p12");
        }
        // The summary says what the shard's did.
        let (ours, theirs) = (entry(&merged, &name), entry(shard, &name));
        for field in ["State", "Certificate", "CsrFile", "KeyFile", "CsrId", "KeySha2"] {
            assert_eq!(ours[field], theirs[field], "{name}: {field}");
        }
        // A renewal waiting for its certificate waits in the copy: its next pair is there,
        // and is not the live one.
        let next = (f(&merged, "next.key.pem"), f(&merged, "next.csr.pem"));
        assert_eq!(exists(&next.0), waiting.contains(&name), "{name}.next.key.pem");
        if waiting.contains(&name) {
            assert_eq!(key_pubkey(&next.0, None), csr_pubkey(&next.1), "{name}: the next pair");
            assert_ne!(key_pubkey(&next.0, None), cert_pubkey(&f(&merged, "crt.pem")), "{name}: a new key");
            assert_eq!(mode(&next.0), 0o600, "{name}.next.key.pem");
        }
    }
    // Each shard's archive (the first certificates' files, their keys among them, that
    // the renewals replaced) is in the copy's, at the same paths, with its modes: the
    // shards can go.
    let copied = snapshot(&merged.join(".archive"));
    let mut keys = 0;
    for shard in &shards {
        for (rel, file) in snapshot(&shard.join(".archive")) {
            if let Entry::File { mode, .. } = &file {
                assert_eq!(copied.get(&rel), Some(&file), "{}: {rel}", shard.display());
                keys += usize::from(rel.ends_with("key.pem") && *mode == 0o600);
            }
        }
    }
    assert!(keys >= 2, "the first certificates' keys: {:?}", tree(&merged.join(".archive")));

    // The copy is a folder of its own: plan finds nothing damaged, the waiting renewals
    // pending; the certificate of one promotes it there.
    let said = plan(&m, &merged, &[]);
    assert!(said.contains(" damaged 0,") && !said.lines().any(|l| l.starts_with("damaged")), "{said}");
    for name in &waiting {
        assert!(plan_line(&said, name).starts_with("pending"), "{said}");
    }
    let name = &waiting[0];
    let renewal = ca.issue(&merged.join(format!("{name}.next.csr.pem")), &Issue::default());
    import_expect(&[renewal.fullchain()], &merged, &ca.root, &[(name, "renewed")]);
    assert_live_cert(&merged, name, &renewal, &ca);
    assert_pair(&merged.join(format!("{name}.crt.pem")), &merged.join(format!("{name}.key.pem")), name);
    // Merged again over its own copy: the same files (the shards' own), nothing refused.
    let run = merge(&shards, &dir.path("merged2"), true);
    assert_eq!(run.status.code(), Some(0), "{}", stderr(&run));
    let run = merge(&shards, &dir.path("merged2"), true);
    assert_eq!(run.status.code(), Some(0), "again into the same folder: {}", stderr(&run));

    // A file of the copy's archive changed: the next collect there is refused, naming it,
    // with nothing written.
    let again = dir.path("merged2");
    let (rel, _) = snapshot(&shards[0].join(".archive"))
        .into_iter()
        .find(|(_, e)| matches!(e, Entry::File { .. }))
        .unwrap();
    std::fs::write(again.join(".archive").join(&rel), "other bytes\n").unwrap();
    let before = snapshot(&again);
    let run = merge(&shards, &again, true);
    assert_eq!(run.status.code(), Some(1), "{}", stderr(&run));
    assert!(stderr(&run).contains("clash:") && stderr(&run).contains(&rel), "{}", stderr(&run));
    assert_eq!(snapshot_diff(&before, &snapshot(&again)), Vec::<String>::new(), "nothing written");

    // Two shards' archives with other bytes at the same path: refused before anything is
    // written, into a new folder too.
    for (k, shard) in shards.iter().enumerate() {
        std::fs::create_dir_all(shard.join(".archive/T")).unwrap();
        std::fs::write(shard.join(".archive/T/same-name.txt"), format!("shard {k}\n")).unwrap();
    }
    let fresh = dir.path("fresh");
    let run = merge(&shards, &fresh, true);
    assert_eq!(run.status.code(), Some(1), "{}", stderr(&run));
    assert!(stderr(&run).contains("clash:") && stderr(&run).contains("same-name.txt"), "{}", stderr(&run));
    assert!(!exists(&fresh.join("summary.json")) && !exists(&fresh.join(".archive")), "{:?}", tree(&fresh));
}

#[test]
fn merge_without_collect_points_at_the_shards_certificate_files() {
    let dir = Dir::new();
    let (m, shards, _ca, _) = certified_shards(&dir);
    let merged = dir.path("merged");
    let run = merge(&shards, &merged, false);
    assert_eq!(run.status.code(), Some(0), "merge: {}", stderr(&run));
    for name in names_of(&m) {
        let shard = shard_of(&shards, &name);
        let (ours, theirs) = (entry(&merged, &name), entry(shard, &name));
        for field in ["CertFile", "ChainFile", "FullchainFile", "P12File"] {
            let Some(rel) = theirs["Certificate"][field].as_str() else { continue };
            let pointed = merged.join(ours["Certificate"][field].as_str().unwrap());
            assert_eq!(
                std::fs::read(&pointed).unwrap_or_default(),
                std::fs::read(shard.join(rel)).unwrap(),
                "{name}: {field} {} is the shard's file",
                pointed.display()
            );
        }
    }
}

#[test]
fn a_recorded_certificate_whose_files_are_gone_is_damaged_until_imported_again() {
    let dir = Dir::new();
    let m = manifest(&dir, &[req("web", "ECC", "web.example.com", "www.web.example.com")]);
    let out = dir.path("out");
    generate_ok(&m, &out, &["-q"]);
    let ca = Ca::new();
    let issued = ca.issue(&out.join("web.csr.pem"), &Issue::default());
    import_expect(&[issued.fullchain()], &out, &ca.root, &[("web", "imported")]);
    let first_entry = entry(&out, "web");
    let recorded = first_entry["Certificate"].clone();
    assert_eq!(generate(&m, &out, &["--check"]).status.code(), Some(0));
    // plan shows when it ends (issued for 90 days, an hour ago).
    let said = plan(&m, &out, &[]);
    assert!(said.contains("1 live certificate; the first to end: web, expires in 89 days"), "{said}");
    let json = bin(&[os("plan"), m.as_os_str(), os("--out"), out.as_os_str(), os("--json")]);
    let doc: serde_json::Value = serde_json::from_slice(&json.stdout).unwrap();
    assert_eq!(doc["Requests"][0]["NotAfter"], recorded["NotAfter"], "{doc}");
    assert_eq!(doc["Requests"][0]["DaysLeft"], 89, "{doc}");

    // Gone: a copy of the folder will not be collected from it, --check and plan say so,
    // and generate keeps the record (a run that forgot it would make the next --check say
    // up to date).
    std::fs::remove_file(out.join("web.crt.pem")).unwrap();
    let copy = dir.path("copy");
    let run = merge(std::slice::from_ref(&out), &copy, true);
    assert_eq!(run.status.code(), Some(1), "{}", stderr(&run));
    assert!(
        stderr(&run).contains("certificate: web") && stderr(&run).contains("web.crt.pem"),
        "{}",
        stderr(&run)
    );
    assert!(!exists(&copy.join("web.key.pem")), "nothing collected");
    for round in 0..2 {
        let check = generate(&m, &out, &["--check"]);
        assert_eq!(check.status.code(), Some(1), "round {round}: --check: {}", stderr(&check));
        let said = plan(&m, &out, &[]);
        let line = plan_line(&said, "web");
        assert!(line.starts_with("damaged") && line.contains("web.crt.pem is not there"), "{line}");
        assert!(!said.contains("live certificate"), "a lost certificate is not live: {said}");
        let run = generate(&m, &out, &["-q"]);
        assert_eq!(run.status.code(), Some(1), "round {round}: generate: {}", stderr(&run));
        assert_eq!(entry(&out, "web")["Certificate"], recorded, "round {round}: the record stays");
        assert!(
            entry(&out, "web")["Error"].as_str().unwrap_or_default().contains("web.crt.pem is not there"),
            "{}",
            entry(&out, "web")
        );
    }
    // --repair does not touch a certified request's live files either.
    let before = folder_files(&out);
    generate(&m, &out, &["--repair", "-q"]);
    assert_eq!(snapshot_diff(&before, &folder_files(&out)), Vec::<String>::new());

    // Recorded as damaged now: merge names it as a failed request.
    let run = merge(std::slice::from_ref(&out), &copy, true);
    assert_eq!(run.status.code(), Some(1), "{}", stderr(&run));
    assert!(
        stderr(&run).contains("failed: web") && stderr(&run).contains("web.crt.pem is not there"),
        "{}",
        stderr(&run)
    );

    // The certificate imported again: whole, and up to date.
    import_expect(&[issued.fullchain()], &out, &ca.root, &[("web", "imported")]);
    assert_live_cert(&out, "web", &issued, &ca);
    assert_pair(&out.join("web.crt.pem"), &out.join("web.key.pem"), "web");
    assert_eq!(generate(&m, &out, &["--check"]).status.code(), Some(0), "--check once it is back");
    // The entry is whole again (generate left it without its pair): before any generate,
    // it is the entry of the first import, and merge collects it.
    let back = entry(&out, "web");
    assert!(back["Error"].is_null(), "{back}");
    assert_eq!(back["Certificate"], recorded, "{back}");
    for field in ["KeySha2", "CsrFile", "KeyFile", "Csr", "HasPrivateKey", "CsrId"] {
        assert_eq!(back[field], first_entry[field], "{field}: {back}");
    }
    let again = dir.path("again");
    let run = merge(std::slice::from_ref(&out), &again, true);
    assert_eq!(run.status.code(), Some(0), "merge once it is back: {}", stderr(&run));
    assert_pair(&again.join("web.crt.pem"), &again.join("web.key.pem"), "web in the copy");
    generate_ok(&m, &out, &["-q"]);
    assert_eq!(entry(&out, "web")["State"], "unchanged");
    assert!(entry(&out, "web")["Error"].is_null(), "{}", entry(&out, "web"));
}

/// `csrbatch ARGS...` with the key passphrase in `KP`.
fn with_passphrase(args: &[&std::ffi::OsStr]) -> std::process::Output {
    bin_env(args, &[("KP", "a passphrase of the folder")])
}

#[test]
fn reencrypt_leaves_a_certified_live_key_as_it_is_until_its_renewal() {
    let dir = Dir::new();
    let m = manifest(
        &dir,
        &[
            req("live", "ECC", "live.example.com", ""),
            req("waiting", "ECC", "waiting.example.com", ""),
            req("plain", "ECC", "plain.example.com", ""),
        ],
    );
    let out = dir.path("out");
    generate_ok(&m, &out, &["-q"]);
    let ca = Ca::new();
    let first = ca.issue(&out.join("live.csr.pem"), &Issue::default());
    let old = ca.issue(&out.join("waiting.csr.pem"), &Issue::valid(Validity::two_thirds_spent()));
    import_expect(
        &[first.fullchain(), old.fullchain()],
        &out,
        &ca.root,
        &[("live", "imported"), ("waiting", "imported")],
    );
    // `waiting` is renewed: its next pair (unencrypted, as the folder is) waits.
    generate_ok(&m, &out, &["-q"]);
    assert_eq!(entry(&out, "waiting")["State"], "renew");
    let next_key = out.join("waiting.next.key.pem");
    let next_public = key_pubkey(&next_key, None);
    let live_keys = ["live", "waiting"].map(|n| std::fs::read(out.join(format!("{n}.key.pem"))).unwrap());
    let pass = ["--key-passphrase-env", "KP"].map(os);
    let generate_args = |extra: &[&'static str]| {
        let mut args = vec![os("generate"), m.as_os_str(), os("--out"), out.as_os_str()];
        args.extend(pass);
        args.extend(extra.iter().map(|e| os(e)));
        args
    };

    // The live keys are what servers read: left as they are, and said so; the other key
    // and the waiting next key (the same key) are encrypted.
    let run = with_passphrase(&generate_args(&["--reencrypt"]));
    assert_eq!(run.status.code(), Some(0), "{}", stderr(&run));
    assert!(stderr(&run).contains("2 live keys of certified requests left unencrypted"), "{}", stderr(&run));
    for (name, bytes) in ["live", "waiting"].iter().zip(&live_keys) {
        assert_eq!(&std::fs::read(out.join(format!("{name}.key.pem"))).unwrap(), bytes, "{name}: untouched");
    }
    assert!(text(&out.join("plain.key.pem")).starts_with("-----BEGIN ENCRYPTED PRIVATE KEY-----"));
    assert!(text(&next_key).starts_with("-----BEGIN ENCRYPTED PRIVATE KEY-----"), "the next key");
    assert_eq!(key_pubkey(&next_key, Some("a passphrase of the folder")), next_public, "the same next key");
    // Not damage (it would tell the user to --reencrypt again, forever): the renewal waits.
    let check = with_passphrase(&generate_args(&["--check"]));
    let said = String::from_utf8_lossy(&check.stdout).into_owned() + &stderr(&check);
    assert!(said.contains(" damaged 0,") && said.contains("pending    waiting"), "--check: {said}");

    // The live request's renewal key is encrypted too, and each becomes the live key once
    // its certificate comes.
    let run = with_passphrase(&generate_args(&["--renew-before", "100d", "-q"]));
    assert_eq!(run.status.code(), Some(0), "{}", stderr(&run));
    assert_eq!(entry(&out, "live")["State"], "renew");
    assert!(text(&out.join("live.next.key.pem")).starts_with("-----BEGIN ENCRYPTED PRIVATE KEY-----"));
    let renewals =
        ["live", "waiting"].map(|n| ca.issue(&out.join(format!("{n}.next.csr.pem")), &Issue::default()));
    let files: Vec<PathBuf> = renewals.iter().map(Issued::fullchain).collect();
    import_expect(&files, &out, &ca.root, &[("live", "renewed"), ("waiting", "renewed")]);
    for name in ["live", "waiting"] {
        let key = out.join(format!("{name}.key.pem"));
        assert!(text(&key).starts_with("-----BEGIN ENCRYPTED PRIVATE KEY-----"), "{name}: the live key now");
        assert_eq!(
            key_pubkey(&key, Some("a passphrase of the folder")),
            cert_pubkey(&out.join(format!("{name}.crt.pem"))),
            "{name}: the live pair belongs together"
        );
    }
    let check = with_passphrase(&generate_args(&["--check"]));
    assert_eq!(check.status.code(), Some(0), "--check: {}", stderr(&check));
}

#[test]
fn merge_collect_keeps_within_a_low_open_file_limit_and_copies_what_is_there() {
    // 40 certified requests with a .p12 and a waiting renewal: eight files each to copy,
    // under a limit of 256 open files (batches of 128 would hold 1,024 open).
    let dir = Dir::new();
    let requests: Vec<String> =
        (0..40).map(|i| req(&format!("r{i}"), "ECC", &format!("r{i}.example.com"), "")).collect();
    let m = manifest(&dir, &requests);
    let out = dir.path("out");
    generate_ok(&m, &out, &["-q"]);
    let ca = Ca::new();
    let names: Vec<String> = (0..40).map(|i| format!("r{i}")).collect();
    let csrs: Vec<PathBuf> = names.iter().map(|n| out.join(format!("{n}.csr.pem"))).collect();
    let issued = ca.issue_many(&csrs, Validity::two_thirds_spent());
    import_ok_with(&[issued], &out, &ca.root, &["--p12", "--p12-passphrase-env", "P12_PASS"]);
    generate_ok(&m, &out, &["-q"]);
    // A waiting renewal whose live CSR is gone (the next pair replaces it at promotion).
    std::fs::remove_file(out.join("r7.csr.pem")).unwrap();
    let said = plan(&m, &out, &[]);
    assert!(plan_line(&said, "r7").starts_with("pending"), "{said}");

    let merged = dir.path("merged");
    let run = std::process::Command::new("sh")
        .args(["-c", "ulimit -n 256 && exec \"$0\" merge \"$1\" --out \"$2\" --collect"])
        .args([env!("CARGO_BIN_EXE_csrbatch"), s(&out), s(&merged)])
        .output()
        .unwrap();
    assert_eq!(run.status.code(), Some(0), "merge --collect under ulimit -n 256: {}", stderr(&run));
    for name in &names {
        let f = |suffix: &str| merged.join(format!("{name}.{suffix}"));
        assert_pair(&f("crt.pem"), &f("key.pem"), name);
        assert!(regular(&f("p12")) && regular(&f("next.key.pem")) && regular(&f("next.csr.pem")), "{name}");
        assert_eq!(exists(&f("csr.pem")), name != "r7", "{name}.csr.pem");
    }
    let said = plan(&m, &merged, &[]);
    assert!(said.contains(" damaged 0,") && said.contains("pending 40"), "{said}");
}

#[test]
fn a_certificate_gone_with_its_key_is_a_pair_that_repair_makes_new() {
    let dir = Dir::new();
    let m =
        manifest(&dir, &[req("web", "ECC", "web.example.com", ""), req("api", "ECC", "api.example.com", "")]);
    let out = dir.path("out");
    generate_ok(&m, &out, &["-q"]);
    let ca = Ca::new();
    let issued: Vec<Issued> = ["web", "api"]
        .iter()
        .map(|n| ca.issue(&out.join(format!("{n}.csr.pem")), &Issue::default()))
        .collect();
    let fullchains: Vec<PathBuf> = issued.iter().map(Issued::fullchain).collect();
    let p12_args = ["--p12", "--p12-passphrase-env", "P12_PASS"];
    import_ok_with(&fullchains, &out, &ca.root, &p12_args);
    let old_p12 = std::fs::read(out.join("web.p12")).unwrap();
    std::fs::remove_file(out.join("web.crt.pem")).unwrap();
    std::fs::remove_file(out.join("web.key.pem")).unwrap();
    let others =
        |out: &Path| folder_files(out).into_iter().filter(|(f, _)| f.starts_with("api.")).collect::<Vec<_>>();
    let api_before = others(&out);

    // Nothing a server could use is left: damaged as a pair without its key is.
    let line = plan_line(&plan(&m, &out, &[]), "web");
    assert!(line.starts_with("damaged") && line.contains("web.key.pem is missing"), "{line}");
    assert_eq!(generate(&m, &out, &["--check"]).status.code(), Some(1));
    // A plain run first (it records the pair as damaged, without the certificate): what
    // --repair clears away is judged by the files, not by that record.
    assert_eq!(generate(&m, &out, &["-q"]).status.code(), Some(1));
    assert!(entry(&out, "web")["Certificate"].is_null(), "{}", entry(&out, "web"));
    let said = generate_ok(&m, &out, &["--repair", "-q"]);
    assert_eq!(entry(&out, "web")["State"], "repaired", "{said}");
    assert!(entry(&out, "web")["Certificate"].is_null(), "a new pair has no certificate yet");
    let (key, csr) = (out.join("web.key.pem"), out.join("web.csr.pem"));
    assert_eq!(key_pubkey(&key, None), csr_pubkey(&csr), "the new pair");
    assert_ne!(csr_pubkey(&csr), cert_pubkey(&issued[0].leaf), "a new key");
    assert_eq!(generate(&m, &out, &["--check"]).status.code(), Some(0));
    // What was left of the old certificate (of the old key: the .p12 holds it) went into
    // the archive, not away; the other request is untouched.
    for gone in ["web.chain.pem", "web.fullchain.pem", "web.p12"] {
        assert!(!exists(&out.join(gone)), "{gone} of the old key is still beside the new pair");
    }
    let archive = std::fs::read_dir(out.join(".archive")).unwrap().next().unwrap().unwrap().path();
    assert_eq!(std::fs::read(archive.join("web.p12")).unwrap(), old_p12, "the old .p12 is kept");
    let noted = std::fs::read_to_string(archive.join("archived.jsonl")).unwrap();
    assert!(
        noted.contains(r#""CertificateFiles":["web.chain.pem","web.fullchain.pem","web.p12"]"#),
        "{noted}"
    );
    assert_eq!(api_before, others(&out), "the other request is untouched");

    // The new pair's first certificate goes in, with its own .p12, judged by openssl.
    let new = ca.issue(&csr, &Issue::default());
    import_ok_with(&[new.fullchain()], &out, &ca.root, &p12_args);
    assert_eq!(entry(&out, "web")["State"], "imported");
    assert_pair(&out.join("web.crt.pem"), &key, "web");
    let (ok, said) =
        openssl_verify_chain(&ca.root, &out.join("web.chain.pem"), &out.join("web.crt.pem"), false);
    assert!(ok, "{said}");
    crate::import::assert_p12(
        &out.join("web.p12"),
        "p12 secret",
        &out.join("web.crt.pem"),
        &key,
        None,
        false,
    );
    assert_eq!(generate(&m, &out, &["--check"]).status.code(), Some(0));
}

#[test]
fn a_renewed_request_whose_top_level_files_were_all_deleted_keeps_its_certificate() {
    let dir = Dir::new();
    let m = manifest(&dir, &[req("web", "ECC", "web.example.com", "")]);
    let out = dir.path("out");
    generate_ok(&m, &out, &["-q"]);
    let ca = Ca::new();
    let first = ca.issue(&out.join("web.csr.pem"), &Issue::valid(Validity::two_thirds_spent()));
    import_expect(&[first.fullchain()], &out, &ca.root, &[("web", "imported")]);
    generate_ok(&m, &out, &["-q"]);
    let renewed = ca.issue(&out.join("web.next.csr.pem"), &Issue::default());
    import_expect(&[renewed.fullchain()], &out, &ca.root, &[("web", "renewed")]);
    let whole = entry(&out, "web");
    let recorded = whole["Certificate"].clone();

    // Its links deleted, the CSR left: damaged, and the import that links the generation
    // again makes the entry whole, as it was.
    for file in ["key", "crt", "chain", "fullchain"] {
        std::fs::remove_file(out.join(format!("web.{file}.pem"))).unwrap();
    }
    assert_eq!(generate(&m, &out, &["-q"]).status.code(), Some(1));
    assert_eq!(entry(&out, "web")["State"], "damaged");
    import_expect(&[renewed.fullchain()], &out, &ca.root, &[("web", "unchanged")]);
    assert_pair(&out.join("web.crt.pem"), &out.join("web.key.pem"), "web");
    let back = entry(&out, "web");
    assert!(back["Error"].is_null(), "{back}");
    for field in ["Certificate", "KeySha2", "CsrFile", "KeyFile", "Csr", "HasPrivateKey", "CsrId"] {
        assert_eq!(back[field], whole[field], "{field}: {back}");
    }
    assert_eq!(generate(&m, &out, &["--check"]).status.code(), Some(0));

    // Every *.pem beside the generations deleted (the links and the CSR): the folder is
    // not a new one, and generate keeps the certificate's record and says why it is damaged.
    for e in std::fs::read_dir(&out).unwrap() {
        let path = e.unwrap().path();
        if path.extension().is_some_and(|x| x == "pem") {
            std::fs::remove_file(path).unwrap();
        }
    }
    let link = "web.key.pem is not the link into the live certificate's generation";
    let run = generate(&m, &out, &["-q"]);
    assert_eq!(run.status.code(), Some(1), "{}", stderr(&run));
    assert!(!exists(&out.join("web.key.pem")), "no new key beside the generation's");
    let now = entry(&out, "web");
    assert_eq!(now["Certificate"], recorded, "{now}");
    assert!(now["Error"].as_str().unwrap_or_default().contains(link), "{now}");
    assert!(plan_line(&plan(&m, &out, &[]), "web").contains(link));

    // Import puts the links back, to the generation's key and certificate.
    import_expect(&[renewed.fullchain()], &out, &ca.root, &[("web", "unchanged")]);
    assert_pair(&out.join("web.crt.pem"), &out.join("web.key.pem"), "web");
    assert_eq!(cert_pubkey(&out.join("web.crt.pem")), cert_pubkey(&renewed.leaf));
    let line = plan_line(&plan(&m, &out, &[]), "web");
    assert!(line.starts_with("damaged") && line.contains("web.csr.pem is missing"), "{line}");
}

/// A live certificate whose key was deleted (the first certificate's `NAME.key.pem`, and a
/// renewed generation's `key.pem`) serves nothing: import of it again is refused, naming
/// the missing key and the way on (it said "unchanged", exit 0, before), with nothing
/// written; `--repair` makes a new pair, and its certificate goes in as a renewal.
#[test]
fn a_live_certificate_whose_key_is_gone_is_refused_until_a_new_pair_replaces_it() {
    let dir = Dir::new();
    let m =
        manifest(&dir, &[req("web", "ECC", "web.example.com", ""), req("api", "RSA", "api.example.com", "")]);
    let out = dir.path("out");
    generate_ok(&m, &out, &["-q"]);
    let ca = Ca::new();
    let web = ca.issue(&out.join("web.csr.pem"), &Issue::default());
    let api_first = ca.issue(&out.join("api.csr.pem"), &Issue::valid(Validity::two_thirds_spent()));
    import_expect(
        &[web.fullchain(), api_first.fullchain()],
        &out,
        &ca.root,
        &[("web", "imported"), ("api", "imported")],
    );
    generate_ok(&m, &out, &["-q"]);
    let api = ca.issue(&out.join("api.next.csr.pem"), &Issue::default());
    import_expect(&[api.fullchain()], &out, &ca.root, &[("api", "renewed")]);
    assert!(std::fs::symlink_metadata(out.join("api.key.pem")).unwrap().file_type().is_symlink());

    std::fs::remove_file(out.join("web.key.pem")).unwrap();
    std::fs::remove_file(out.join(".live/api/current/key.pem")).unwrap();
    let lives = [web.fullchain(), api.fullchain()];
    let before = folder_files(&out);
    let (code, doc, said) = import_json(&lives, &out, &ca.root);
    assert_eq!(code, Some(1), "{said}\n{doc}");
    let refused = outcomes(&doc);
    assert_eq!(refused.len(), 2, "{doc}");
    for (name, result, reason) in refused {
        let key = if name == "web" { "web.key.pem" } else { ".live/api/current/key.pem" };
        assert_eq!(result, "refused", "{doc}");
        assert!(reason.contains(key) && reason.contains("is missing"), "{name}: {reason}");
        assert!(reason.contains("generate --repair"), "{name}: {reason}");
    }
    assert_eq!(snapshot_diff(&before, &folder_files(&out)), Vec::<String>::new(), "nothing written");
    assert_eq!(generate(&m, &out, &["--check"]).status.code(), Some(1));

    // --repair: a new pair for each; the old certificate again now names it.
    generate(&m, &out, &["--repair", "-q"]);
    for name in ["web", "api"] {
        assert!(exists(&out.join(format!("{name}.next.key.pem"))), "{name}: {:?}", tree(&out));
    }
    let (code, doc, said) = import_json(&lives, &out, &ca.root);
    assert_eq!(code, Some(1), "{said}\n{doc}");
    for (name, result, reason) in outcomes(&doc) {
        assert_eq!(result, "refused", "{doc}");
        let next =
            format!("import the certificate for {}", out.join(format!("{name}.next.csr.pem")).display());
        assert!(reason.contains(&next), "{name}: {reason}");
    }
    let next: Vec<PathBuf> = ["web", "api"]
        .iter()
        .map(|n| ca.issue(&out.join(format!("{n}.next.csr.pem")), &Issue::default()).fullchain())
        .collect();
    import_expect(&next, &out, &ca.root, &[("web", "renewed"), ("api", "renewed")]);
    for name in ["web", "api"] {
        assert_pair(&out.join(format!("{name}.crt.pem")), &out.join(format!("{name}.key.pem")), name);
        let (ok, said) = openssl_verify_chain(
            &ca.root,
            &out.join(format!("{name}.chain.pem")),
            &out.join(format!("{name}.crt.pem")),
            false,
        );
        assert!(ok, "{name}: {said}");
    }
    assert_eq!(generate(&m, &out, &["--check"]).status.code(), Some(0));
}

#[test]
fn merge_collect_refuses_a_chain_emptied_by_hand_in_its_shard() {
    // Both chain files emptied alike still hold together by their bytes; the chain
    // recorded (ChainSha256) says it is not the one imported, and a copy of it would
    // carry the damage into the merged folder's records as if it were whole.
    let dir = Dir::new();
    let (_, shards, _, waiting) = certified_shards(&dir);
    let name = &waiting[0];
    let shard = shard_of(&shards, name);
    let f = |suffix: &str| shard.join(format!("{name}.{suffix}"));
    let (chain, full) = (text(&f("chain.pem")), text(&f("fullchain.pem")));
    std::fs::write(f("chain.pem"), "").unwrap();
    std::fs::write(f("fullchain.pem"), text(&f("crt.pem"))).unwrap();
    let merged = dir.path("merged");
    let run = merge(&shards, &merged, true);
    let said = stderr(&run);
    assert_eq!(run.status.code(), Some(1), "merge --collect: {said}");
    assert!(
        said.contains(&format!("{name}.chain.pem does not hold the chain imported"))
            && said.contains("nothing was merged"),
        "{said}"
    );
    assert!(!merged.join("summary.json").exists(), "nothing merged");
    // Put back as imported, the same merge copies it.
    std::fs::write(f("chain.pem"), chain).unwrap();
    std::fs::write(f("fullchain.pem"), full).unwrap();
    let run = merge(&shards, &merged, true);
    assert_eq!(run.status.code(), Some(0), "merge --collect: {}", stderr(&run));
    assert_eq!(text(&merged.join(format!("{name}.chain.pem"))), text(&f("chain.pem")));
}
