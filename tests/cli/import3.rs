//! `csrbatch import` where its records and its pairing are put to the test: an import
//! stopped between putting certificates live and writing summary.json (plan and `--check`
//! say so until it runs again); requests that share one key; the live certificate given
//! again beside its renewal; a CA certificate for a request's key; `--p12` asked of a
//! certificate already live; `--prune` of a certified request; a `.live` that is a link;
//! a chain or a `.p12` changed by hand.
//! Judged by openssl on what the real binary wrote.

use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::ca::*;
use crate::import2::*;
use crate::util::*;

/// Runs `generate --check` and returns its exit code.
fn check(m: &Path, out: &Path) -> Option<i32> {
    generate(m, out, &["--check"]).status.code()
}

/// The folder as an import leaves it when it is killed after its last switch, before it
/// writes summary.json: every generation live and synced, the summary of before. (The
/// summary is written last, by rename: a kill at any point before that leaves this.)
fn as_if_killed_before_the_summary(out: &Path, summary_before: &[u8]) {
    std::fs::write(out.join("summary.json"), summary_before).unwrap();
}

/// Request `web` (the one `request`) certified with two thirds of its lifetime spent, and
/// the renewal's next pair written: (manifest, out, CA, the live certificate).
fn renewal_waiting(dir: &Dir, request: String) -> (std::path::PathBuf, std::path::PathBuf, Ca, Issued) {
    let m = manifest(dir, &[request]);
    let out = dir.path("out");
    generate_ok(&m, &out, &[]);
    let ca = Ca::new();
    let first = ca.issue(&out.join("web.csr.pem"), &Issue::valid(Validity::two_thirds_spent()));
    import_expect(&[first.fullchain()], &out, &ca.root, &[("web", "imported")]);
    generate_ok(&m, &out, &[]);
    assert_eq!(entry(&out, "web")["State"], "renew");
    (m, out, ca, first)
}

#[test]
fn an_import_stopped_before_its_summary_is_not_up_to_date_until_it_runs_again() {
    let dir = Dir::new();
    let (m, out) = generated(&dir, &[req("web", "ECC", "web.example.com", "")]);
    let ca = Ca::new();
    let first = ca.issue(&out.join("web.csr.pem"), &Issue::default());
    let before = std::fs::read(out.join("summary.json")).unwrap();
    import_expect(&[first.fullchain()], &out, &ca.root, &[("web", "imported")]);
    as_if_killed_before_the_summary(&out, &before);

    // The certificate is live, summary.json does not know it: not up to date.
    assert_eq!(check(&m, &out), Some(1), "--check with the live certificate unrecorded");
    let line = plan_line(&plan(&m, &out, &[]), "web");
    assert!(line.starts_with("imported") && line.contains("did not finish"), "{line}");
    // The import run again finishes it; then the folder is up to date.
    import_expect(&[first.fullchain()], &out, &ca.root, &[("web", "imported")]);
    assert_eq!(entry(&out, "web")["State"], "imported");
    assert_eq!(check(&m, &out), Some(0));

    // Or a generate run in between records what is live, and the import is unchanged.
    as_if_killed_before_the_summary(&out, &before);
    let said = generate_ok(&m, &out, &[]);
    assert!(said.contains("1 imported"), "{said}");
    assert_eq!(fingerprint_of_entry(&out, "web"), cert_facts(&out.join("web.crt.pem")).fingerprint);
    assert_eq!(check(&m, &out), Some(0));
    import_expect(&[first.fullchain()], &out, &ca.root, &[("web", "unchanged")]);
}

#[test]
fn a_promotion_stopped_before_its_summary_is_finished_by_the_import_run_again() {
    let dir = Dir::new();
    let (m, out, ca, _) = renewal_waiting(&dir, req("web", "ECC", "web.example.com", ""));
    let f = |suffix: &str| out.join(format!("web.{suffix}"));
    let second = ca.issue(&f("next.csr.pem"), &Issue::default());
    let before = std::fs::read(out.join("summary.json")).unwrap();
    import_expect(&[second.fullchain()], &out, &ca.root, &[("web", "renewed")]);
    as_if_killed_before_the_summary(&out, &before);

    assert_eq!(check(&m, &out), Some(1), "--check after a promotion it does not record");
    assert_pair(&f("crt.pem"), &f("key.pem"), "the live pair after the stop");
    // The import run again finishes it.
    import_expect(&[second.fullchain()], &out, &ca.root, &[("web", "renewed")]);
    let e = entry(&out, "web");
    assert_eq!(
        (&e["State"], &e["CsrFile"], &e["KeyFile"]),
        (&Value::from("renewed"), &Value::from("web.csr.pem"), &Value::from("web.key.pem")),
        "{e}"
    );
    assert_eq!(fingerprint_of_entry(&out, "web"), cert_facts(&second.leaf).fingerprint);
    assert_eq!(check(&m, &out), Some(0));
}

#[test]
fn the_renewal_is_taken_over_the_live_certificate_given_beside_it_even_backdated() {
    let dir = Dir::new();
    let (m, out, ca, first) =
        renewal_waiting(&dir, req("web", "RSA", "web.example.com", "www.web.example.com"));
    let f = |suffix: &str| out.join(format!("web.{suffix}"));
    // A CA that backdates: the renewal's NotBefore (70 days ago) is before the live one's
    // (64 days ago), for another key; 60 of its 130 days are left, so it is not expiring.
    let second = ca.issue(&f("next.csr.pem"), &Issue::valid(Validity { from: -70 * DAY, to: 60 * DAY }));
    // In one import, the live one first: the request takes the renewal (for the key of
    // its CSR, though older), and says why the other is not taken.
    let (code, doc, said) = import_json(&[first.fullchain(), second.fullchain()], &out, &ca.root);
    assert_eq!(code, Some(1), "{said}");
    let want = [("web", "refused"), ("web", "renewed")].map(|(n, r)| (n.to_owned(), r.to_owned()));
    assert_eq!(results(&doc), want.to_vec(), "{doc}");
    let reason = doc["Certificates"][0]["Reason"].as_str().unwrap_or_default().to_owned();
    assert!(reason.contains("takes another certificate"), "{doc}");
    assert_live_cert(&out, "web", &second, &ca);
    assert_pair(&f("crt.pem"), &f("key.pem"), "after the renewal");
    assert_eq!(check(&m, &out), Some(0));
}

#[test]
fn a_newer_certificate_whose_chain_is_broken_leaves_the_older_sound_one_to_be_taken() {
    let (ca, elsewhere) = (Ca::new(), Ca::other());
    // Two certificates for the CSR's key and its names, the newer given first: (Name,
    // Result, Reason) of each, and the folder.
    let import_two = |older_from: &Ca, newer_from: &Ca| {
        let dir = Dir::new();
        let (m, out) = generated(&dir, &[req("web", "ECC", "web.example.com", "www.web.example.com")]);
        let csr = out.join("web.csr.pem");
        let older = older_from.issue(&csr, &Issue::valid(Validity { from: -10 * DAY, to: 80 * DAY }));
        let newer = newer_from.issue(&csr, &Issue::default());
        let before = snapshot(&out);
        let (code, doc, said) = import_json(&[newer.fullchain(), older.fullchain()], &out, &ca.root);
        assert_eq!(code, Some(1), "{said}");
        let got = outcomes(&doc);
        assert_eq!(got.len(), 2, "{doc}");
        (got, dir, m, out, before, older)
    };
    // The older under the bundle's root, the newer from a CA the bundle does not hold.
    let (got, _dir, m, out, _, older) = import_two(&ca, &elsewhere);
    assert!(got.contains(&("web".into(), "imported".into(), String::new())), "{got:?}");
    let refused = got.iter().find(|(_, result, _)| result == "refused");
    assert!(refused.is_some_and(|(_, _, why)| why.contains("chain broken")), "{got:?}");
    assert_live_cert(&out, "web", &older, &ca);
    assert_pair(&out.join("web.crt.pem"), &out.join("web.key.pem"), "the sound certificate");
    assert_eq!(check(&m, &out), Some(0));

    // When neither holds, each is refused for its own reason, none for the other's sake.
    let (got, _dir, _, out, before, _) = import_two(&elsewhere, &elsewhere);
    for (name, result, why) in &got {
        assert_eq!((name.as_str(), result.as_str()), ("web", "refused"), "{got:?}");
        assert!(why.contains("chain broken"), "{got:?}");
    }
    assert_eq!(snapshot(&out), before, "nothing written");
}

#[test]
fn a_chain_changed_by_hand_is_damaged_until_the_certificate_is_imported_again() {
    // What a server sends is NAME.fullchain.pem: a leaf alone there, or another CA's
    // intermediate, fails every client that lacks the intermediate, so --check must not
    // call the folder up to date, even when both chain files were emptied alike (the
    // records hold the chain's digest) and a plain generate ran since (it must not record
    // the damage as the truth). `web` has a first certificate (regular files); `ren` a
    // renewed one (links into its generation, which an edit in place writes through).
    let dir = Dir::new();
    let (m, out) = generated(
        &dir,
        &[req("web", "ECC", "web.example.com", ""), req("ren", "RSA", "ren.example.com", "")],
    );
    let (ca, other) = (Ca::new(), Ca::other());
    let web = ca.issue(&out.join("web.csr.pem"), &Issue::default());
    let first = ca.issue(&out.join("ren.csr.pem"), &Issue::valid(Validity::two_thirds_spent()));
    import_expect(
        &[web.fullchain(), first.fullchain()],
        &out,
        &ca.root,
        &[("web", "imported"), ("ren", "imported")],
    );
    generate_ok(&m, &out, &[]);
    let ren = ca.issue(&out.join("ren.next.csr.pem"), &Issue::default());
    import_expect(&[ren.fullchain()], &out, &ca.root, &[("ren", "renewed")]);
    assert!(out.join("ren.fullchain.pem").is_symlink(), "ren's files are links into a generation");
    assert_eq!(check(&m, &out), Some(0));

    for (name, issued) in [("web", &web), ("ren", &ren)] {
        let file = |suffix: &str| out.join(format!("{name}.{suffix}"));
        let leaf = text(&file("crt.pem"));
        let foreign = text(&other.intermediate);
        // (file, its new text), and what plan must name.
        let edits: [(&[(&str, String)], &str); 4] = [
            (&[("fullchain.pem", leaf.clone())], "fullchain.pem is not"),
            (&[("chain.pem", "junk\n".into())], "fullchain.pem is not"),
            (
                &[("chain.pem", foreign.clone()), ("fullchain.pem", leaf.clone() + &foreign)],
                "is not the issuer of",
            ),
            (
                &[("chain.pem", String::new()), ("fullchain.pem", leaf.clone())],
                "chain.pem does not hold the chain imported",
            ),
        ];
        for (files, said) in edits {
            for (suffix, new) in files {
                std::fs::write(file(suffix), new).unwrap();
            }
            let what = format!("{name}: {:?}", files.iter().map(|f| f.0).collect::<Vec<_>>());
            assert_eq!(check(&m, &out), Some(1), "--check after {what}");
            let run = generate(&m, &out, &[]);
            assert_ne!(run.status.code(), Some(2), "{what}: {}", String::from_utf8_lossy(&run.stderr));
            assert_eq!(check(&m, &out), Some(1), "--check after {what} and a generate");
            let line = plan_line(&plan(&m, &out, &[]), name);
            assert!(
                // It names the file as servers name it (a renewed request's is a link).
                line.starts_with("damaged")
                    && line.contains(said)
                    && line.contains(&format!("out/{name}."))
                    && !line.contains(".live/")
                    && line.contains("import"),
                "{what}: {line}"
            );
            // The same certificate imported again with its chain mends it.
            import_expect(&[issued.fullchain()], &out, &ca.root, &[(name, "imported")]);
            assert_live_cert(&out, name, issued, &ca);
            assert_eq!(check(&m, &out), Some(0), "--check once imported again after {what}");
        }
    }
}

#[test]
fn a_chain_swapped_by_hand_for_the_one_delivered_goes_in_again_and_records_learn_their_digests() {
    // The CA renews its intermediate; someone writes the new one into both chain files by
    // hand. --check says the chain is not the one imported; the delivery with that very
    // chain imported again must record it (a new generation), not call it unchanged.
    let dir = Dir::new();
    let (m, out) = generated(&dir, &[req("web", "ECC", "web.example.com", "")]);
    let ca = Ca::new();
    let issued = ca.issue(&out.join("web.csr.pem"), &Issue::default());
    import_expect(&[issued.fullchain()], &out, &ca.root, &[("web", "imported")]);
    let again = text(&ca.reissued_intermediate());
    let leaf = text(&out.join("web.crt.pem"));
    std::fs::write(out.join("web.chain.pem"), &again).unwrap();
    std::fs::write(out.join("web.fullchain.pem"), leaf.clone() + &again).unwrap();
    assert_eq!(check(&m, &out), Some(1), "--check with the chain swapped");
    let delivered = dir.write("swapped.pem", &(leaf.clone() + &again));
    import_expect(std::slice::from_ref(&delivered), &out, &ca.root, &[("web", "imported")]);
    assert_eq!(text(&out.join("web.chain.pem")), again);
    let (ok, said) =
        openssl_verify_chain(&ca.root, &out.join("web.chain.pem"), &out.join("web.crt.pem"), false);
    assert!(ok, "openssl verify: {said}");
    assert_eq!(check(&m, &out), Some(0), "--check once the delivery is imported");
    import_expect(std::slice::from_ref(&delivered), &out, &ca.root, &[("web", "unchanged")]);

    // A record without the digest (as a folder imported before it was recorded has, or
    // one generate recorded after a killed import): the same import again, unchanged,
    // lets the record learn it, and the entry keeps its state.
    let summary = out.join("summary.json");
    let mut doc = summary_json(&out);
    for e in doc["Csrs"].as_array_mut().unwrap() {
        e["Certificate"].as_object_mut().unwrap().remove("ChainSha256");
    }
    std::fs::write(&summary, serde_json::to_string(&doc).unwrap()).unwrap();
    let state = entry(&out, "web")["State"].clone();
    std::fs::write(out.join("web.chain.pem"), "").unwrap();
    std::fs::write(out.join("web.fullchain.pem"), &leaf).unwrap();
    assert_eq!(check(&m, &out), Some(0), "nothing recorded: the emptied chain is not seen");
    std::fs::write(out.join("web.chain.pem"), &again).unwrap();
    std::fs::write(out.join("web.fullchain.pem"), leaf.clone() + &again).unwrap();
    import_expect(&[delivered], &out, &ca.root, &[("web", "unchanged")]);
    let recorded = &entry(&out, "web");
    assert_eq!(
        recorded["Certificate"]["ChainSha256"],
        sha256sum(again.as_bytes(), &dir.path("digested")).as_str()
    );
    assert_eq!(recorded["State"], state, "the entry keeps its state");
    std::fs::write(out.join("web.chain.pem"), "").unwrap();
    std::fs::write(out.join("web.fullchain.pem"), &leaf).unwrap();
    assert_eq!(check(&m, &out), Some(1), "the emptied chain, once the digest is recorded");
}

#[test]
fn requests_that_share_a_key_file_each_take_the_certificate_for_their_names() {
    let dir = Dir::new();
    std::fs::create_dir(dir.path("keys")).unwrap();
    openssl_genkey_ec(&dir.path("keys/shared.key"));
    let line = |name: &str, cn: &str| {
        format!(
            "  - {{Name: {name}, Algorithm: ECC, KeySize: 256, CommonName: {cn}, KeyFile: keys/shared.key}}\n"
        )
    };
    let m = dir.write(
        "m.yaml",
        &format!("{DEFAULTS}{}{}", line("api", "api.example.com"), line("www", "www.example.com")),
    );
    let out = dir.path("out");
    generate_ok(&m, &out, &[]);
    let ca = Ca::new();
    let api = ca.issue(&out.join("api.csr.pem"), &Issue::default());
    let www = ca.issue(&out.join("www.csr.pem"), &Issue::default());
    // The www certificate first: pairing goes by the names, not by the order.
    import_expect(
        &[www.fullchain(), api.fullchain()],
        &out,
        &ca.root,
        &[("www", "imported"), ("api", "imported")],
    );
    assert_live_cert(&out, "api", &api, &ca);
    assert_live_cert(&out, "www", &www, &ca);
    for name in ["api", "www"] {
        assert_pair(&out.join(format!("{name}.crt.pem")), &dir.path("keys/shared.key"), name);
    }
    assert_eq!(check(&m, &out), Some(0));
}

#[test]
fn a_ca_certificate_for_a_requests_key_is_that_requests_not_chain_material() {
    let dir = Dir::new();
    let (_, out) = generated(&dir, &[req("subca", "ECC", "issuing-ca-1.example.com", "")]);
    let ca = Ca::new();
    let issued = ca.issue(&out.join("subca.csr.pem"), &Issue { ca: true, ..Issue::default() });
    let text =
        openssl_ok(&["x509", "-in", issued.leaf.to_str().unwrap(), "-noout", "-ext", "basicConstraints"]);
    assert!(text.contains("CA:TRUE"), "{text}");
    import_expect(&[issued.fullchain()], &out, &ca.root, &[("subca", "imported")]);
    assert_live_cert(&out, "subca", &issued, &ca);
    assert_pair(&out.join("subca.crt.pem"), &out.join("subca.key.pem"), "the sub-CA");
}

/// `import FILES --out OUT --p12` (no `--ca-bundle`; passphrase `p12 secret`), expecting
/// exit 0 and these results.
fn import_p12(files: &[PathBuf], out: &Path, want: &[(&str, &str)]) {
    let mut args: Vec<&std::ffi::OsStr> = vec![os("import")];
    args.extend(files.iter().map(|f| f.as_os_str()));
    args.extend(["--out", s(out), "--p12", "--p12-passphrase-env", "P12_PASS", "--json"].map(os));
    let run = std::process::Command::new(env!("CARGO_BIN_EXE_csrbatch"))
        .args(&args)
        .env("P12_PASS", "p12 secret")
        .output()
        .unwrap();
    assert_eq!(run.status.code(), Some(0), "{}", stderr(&run));
    let doc: Value = serde_json::from_slice(&run.stdout).unwrap();
    let want: Vec<(String, String)> = want.iter().map(|(n, r)| ((*n).to_owned(), (*r).to_owned())).collect();
    assert_eq!(results(&doc), want, "{doc}");
}

#[test]
fn p12_asked_of_a_certificate_already_live_makes_a_generation_with_one() {
    let dir = Dir::new();
    let (_, out) = generated(&dir, &[req("web", "RSA", "web.example.com", "")]);
    let ca = Ca::new();
    let issued = ca.issue(&out.join("web.csr.pem"), &Issue::default());
    import_expect(&[issued.fullchain()], &out, &ca.root, &[("web", "imported")]);
    assert!(!exists(&out.join("web.p12")));
    import_p12(&[issued.fullchain()], &out, &[("web", "imported")]);
    let p12 = out.join("web.p12");
    let info = openssl_ok(&["pkcs12", "-in", p12.to_str().unwrap(), "-passin", "pass:p12 secret", "-nokeys"]);
    assert_eq!(pem_blocks(&info, "CERTIFICATE")[0], pem_blocks(&issued.leaf_pem(), "CERTIFICATE")[0]);
    assert_eq!(entry(&out, "web")["Certificate"]["P12File"], "web.p12");
    assert_pair(&out.join("web.crt.pem"), &out.join("web.key.pem"), "after the new generation");
}

#[test]
fn a_p12_changed_by_hand_is_damaged_until_imported_again_with_p12() {
    // Tomcat and IIS read NAME.p12; its content is sealed by its passphrase, so what is
    // held is its bytes (P12Sha256). `flat` has it from its first import (a regular
    // file), `lnk` from a --p12 asked later (a link into a generation). A valid PKCS#12
    // of the same key and certificate that openssl made is still not the one imported.
    // (`lnk`: a first certificate, then a reissue with --p12, which goes in as a generation.)
    let dir = Dir::new();
    let (m, out) = generated(
        &dir,
        &[req("flat", "RSA", "flat.example.com", ""), req("lnk", "ECC", "lnk.example.com", "")],
    );
    let ca = Ca::new();
    let issue = |n: &str| ca.issue(&out.join(format!("{n}.csr.pem")), &Issue::default());
    let (flat, first) = (issue("flat"), issue("lnk"));
    let import_p12 = |files: &[PathBuf], want: &[(&str, &str)]| import_p12(files, &out, want);
    import_p12(&[flat.fullchain()], &[("flat", "imported")]);
    import_expect(&[first.fullchain()], &out, &ca.root, &[("lnk", "imported")]);
    let lnk = issue("lnk");
    import_p12(&[lnk.fullchain()], &[("lnk", "imported")]);
    assert!(!out.join("flat.p12").is_symlink() && out.join("lnk.p12").is_symlink());
    assert_eq!(check(&m, &out), Some(0));
    // A first certificate's .p12 gone: still the certificate's .p12, damaged, and a plain generate keeps its record.
    std::fs::remove_file(out.join("flat.p12")).unwrap();
    assert_eq!(check(&m, &out), Some(1), "--check with flat.p12 gone");
    assert_ne!(generate(&m, &out, &[]).status.code(), Some(2));
    assert_eq!(check(&m, &out), Some(1), "--check with flat.p12 gone, after a generate");
    assert!(entry(&out, "flat")["Certificate"]["P12Sha256"].is_string(), "the record keeps its digest");
    import_p12(&[flat.fullchain()], &[("flat", "imported")]);
    assert_eq!(check(&m, &out), Some(0), "--check once flat.p12 is back");
    assert!(!out.join("flat.p12").is_symlink(), "written again as a first certificate's file");
    for (name, issued) in [("flat", &flat), ("lnk", &lnk)] {
        let f = |suffix: &str| out.join(format!("{name}.{suffix}"));
        let recorded = entry(&out, name)["Certificate"]["P12Sha256"].clone();
        assert_eq!(recorded, sha256sum(&std::fs::read(f("p12")).unwrap(), &dir.path("digested")).as_str());
        let theirs = dir.path(&format!("{name}-openssl.p12"));
        openssl_ok(&[
            "pkcs12",
            "-export",
            "-inkey",
            s(&f("key.pem")),
            "-in",
            s(&f("crt.pem")),
            "-certfile",
            s(&f("chain.pem")),
            "-passout",
            "pass:p12 secret",
            "-out",
            s(&theirs),
        ]);
        std::fs::write(f("p12"), std::fs::read(&theirs).unwrap()).unwrap();
        assert_eq!(check(&m, &out), Some(1), "--check with {name}.p12 replaced");
        let line = plan_line(&plan(&m, &out, &[]), name);
        assert!(
            line.starts_with("damaged")
                && line.contains(&format!("out/{name}.p12 is not the one imported"))
                && line.contains("--p12"),
            "{line}"
        );
        import_p12(&[issued.fullchain()], &[(name, "imported")]);
        let bags = openssl_ok(&["pkcs12", "-in", s(&f("p12")), "-passin", "pass:p12 secret", "-nokeys"]);
        assert_eq!(pem_blocks(&bags, "CERTIFICATE")[0], pem_blocks(&issued.leaf_pem(), "CERTIFICATE")[0]);
        assert_pair(&f("crt.pem"), &f("key.pem"), name);
        assert_eq!(check(&m, &out), Some(0), "--check once {name} is imported again");
    }
}

#[test]
fn prune_of_a_certified_request_moves_its_generations_into_the_archive() {
    // web has its first certificate (regular files), lnk a second one (links into its
    // generations); both are pruned, api stays.
    let dir = Dir::new();
    let names = ["web", "lnk", "api"];
    let m = manifest(&dir, &names.map(|n| req(n, "ECC", &format!("{n}.example.com"), "")));
    let out = dir.path("out");
    generate_ok(&m, &out, &[]);
    let ca = Ca::new();
    let issued: Vec<PathBuf> = names
        .iter()
        .map(|n| ca.issue(&out.join(format!("{n}.csr.pem")), &Issue::default()).fullchain())
        .collect();
    import_expect(&issued, &out, &ca.root, &[("web", "imported"), ("lnk", "imported"), ("api", "imported")]);
    let again = ca.issue(&out.join("lnk.csr.pem"), &Issue::default());
    import_expect(&[again.fullchain()], &out, &ca.root, &[("lnk", "imported")]);
    assert!(std::fs::symlink_metadata(out.join("lnk.crt.pem")).unwrap().file_type().is_symlink());
    let key_pub = |n: &str| key_pubkey(&out.join(format!("{n}.key.pem")), None);
    let (web_pub, lnk_pub) = (key_pub("web"), key_pub("lnk"));
    let api_before = live_state(&out, "api");

    let m = manifest(&dir, &[req("api", "ECC", "api.example.com", "")]);
    let said = generate_ok(&m, &out, &["--prune"]);
    assert!(said.contains("pruned"), "{said}");
    let left: Vec<String> = snapshot(&out)
        .into_keys()
        .filter(|p| !p.starts_with(".archive") && ["web", "lnk"].iter().any(|n| p.contains(n)))
        .collect();
    assert_eq!(left, Vec::<String>::new(), "nothing of web or lnk is left beside api");
    let archived: Vec<String> = snapshot(&out).into_keys().filter(|p| p.starts_with(".archive")).collect();
    let find = |want: &dyn Fn(&str) -> bool, what: &str| {
        let found = archived.iter().find(|p| want(p));
        out.join(found.unwrap_or_else(|| panic!("no archived {what} in {archived:?}")))
    };
    // web's key and certificate in the archive by their own names, still a pair.
    let web_key = find(&|p| p.ends_with("/web.key.pem"), "web.key.pem");
    assert_eq!(key_pubkey(&web_key, None), web_pub);
    assert_pair(&web_key.with_file_name("web.crt.pem"), &web_key, "web's archived pair");
    // lnk's key in its archived generation, with that generation's certificate.
    let lnk_key =
        find(&|p| p.contains("lnk.live/") && p.ends_with("/key.pem") && !p.contains("current"), "lnk key");
    assert_eq!(key_pubkey(&lnk_key, None), lnk_pub);
    assert_pair(&lnk_key.with_file_name("crt.pem"), &lnk_key, "lnk's archived generation");
    assert_live_unchanged(&out, "api", &api_before, "--prune of web and lnk");
    assert_eq!(check(&m, &out), Some(0));
}

#[test]
fn a_live_folder_that_is_a_link_out_of_the_folder_is_refused_and_nothing_is_written_there() {
    let dir = Dir::new();
    let (_, out) = generated(&dir, &[req("web", "ECC", "web.example.com", "")]);
    let elsewhere = dir.path("elsewhere");
    std::fs::create_dir(&elsewhere).unwrap();
    std::os::unix::fs::symlink(&elsewhere, out.join(".live")).unwrap();
    let ca = Ca::new();
    let issued = ca.issue(&out.join("web.csr.pem"), &Issue::default());
    let before = snapshot(dir.tmp.path());
    let (code, doc, said) = import_json(&[issued.fullchain()], &out, &ca.root);
    assert_eq!(code, Some(1), "{said}\n{doc}");
    let reason = doc["Certificates"][0]["Reason"].as_str().unwrap_or_default().to_owned();
    assert!(reason.contains(".live") && reason.contains("not a folder"), "{doc}");
    assert_eq!(snapshot_diff(&before, &snapshot(dir.tmp.path())), Vec::<String>::new());
}

#[test]
fn reencrypt_leaves_a_first_certificates_live_key_as_it_is() {
    // A first certificate's key is a regular file, and live: --reencrypt never rewrites it
    // (a server would read a key it cannot open).
    let dir = Dir::new();
    let m =
        manifest(&dir, &[req("web", "ECC", "web.example.com", ""), req("new", "ECC", "new.example.com", "")]);
    let out = dir.path("out");
    generate_ok(&m, &out, &["-q"]);
    let ca = Ca::new();
    let web = ca.issue(&out.join("web.csr.pem"), &Issue::default());
    import_expect(&[web.fullchain()], &out, &ca.root, &[("web", "imported")]);
    let (live_key, other_key) = (std::fs::read(out.join("web.key.pem")).unwrap(), out.join("new.key.pem"));
    let pass = dir.write("pass.txt", "a passphrase of the folder\n");
    generate_ok(&m, &out, &["-q", "--reencrypt", "--key-passphrase-file", pass.to_str().unwrap()]);
    assert_eq!(std::fs::read(out.join("web.key.pem")).unwrap(), live_key, "the live key is as it was");
    assert!(
        std::fs::read_to_string(&other_key).unwrap().contains("ENCRYPTED PRIVATE KEY"),
        "the uncertified request's key is rewritten encrypted"
    );
    assert_pair(&out.join("web.crt.pem"), &out.join("web.key.pem"), "after --reencrypt");
}

#[test]
fn a_key_file_in_the_folder_stays_the_users_through_a_reissue() {
    // A KeyFile naming the folder's own NAME.key.pem: the first certificate's files go
    // beside it, and a reissue's generation leaves that key where it is, a regular file.
    let dir = Dir::new();
    let m = manifest(&dir, &[req("kf", "ECC", "kf.example.com", "")]);
    let out = dir.path("out");
    generate_ok(&m, &out, &["-q"]);
    let key_path = out.join("kf.key.pem");
    let key = std::fs::read(&key_path).unwrap();
    let text = std::fs::read_to_string(&m).unwrap();
    let with_key_file =
        text.replacen("{Name: kf,", &format!("{{Name: kf, KeyFile: {},", key_path.display()), 1);
    assert_ne!(with_key_file, text, "the manifest names kf: {text}");
    std::fs::write(&m, with_key_file).unwrap();
    generate_ok(&m, &out, &["-q"]);
    let ca = Ca::new();
    for round in 1..=2 {
        let issued = ca.issue(&out.join("kf.csr.pem"), &Issue::default());
        import_expect(&[issued.fullchain()], &out, &ca.root, &[("kf", "imported")]);
        let meta = std::fs::symlink_metadata(&key_path).unwrap();
        assert!(meta.is_file(), "round {round}: the KeyFile is still a regular file");
        assert_eq!(std::fs::read(&key_path).unwrap(), key, "round {round}: the KeyFile's bytes");
        assert_pair(&out.join("kf.crt.pem"), &key_path, &format!("round {round}"));
    }
    assert!(
        std::fs::symlink_metadata(out.join("kf.crt.pem")).unwrap().file_type().is_symlink(),
        "the reissue went in as a generation"
    );
    assert_eq!(check(&m, &out), Some(0));
}

#[test]
fn a_meta_json_edited_by_hand_cannot_put_off_a_renewal() {
    // A linked generation's meta.json records what import did; the certificate itself
    // says when it expires. Dates edited in meta.json must not make an expiring
    // certificate pass `--check`, nor go into summary.json.
    let dir = Dir::new();
    let (m, out) = generated(&dir, &[req("due", "ECC", "due.example.com", "")]);
    let ca = Ca::new();
    let issue = || ca.issue(&out.join("due.csr.pem"), &Issue::valid(Validity::two_thirds_spent()));
    import_expect(&[issue().fullchain()], &out, &ca.root, &[("due", "imported")]);
    let reissued = issue();
    import_expect(&[reissued.fullchain()], &out, &ca.root, &[("due", "imported")]);
    assert!(out.join("due.crt.pem").is_symlink(), "the reissue is a generation of its own");
    assert_eq!(check(&m, &out), Some(1), "--check with two thirds of the lifetime spent");
    let meta_path = out.join(".live/due/current/meta.json");
    let mut meta: Value = serde_json::from_str(&text(&meta_path)).unwrap();
    assert!(meta["NotAfter"].is_string(), "{meta}");
    meta["NotBefore"] = "2026-01-01T00:00:00Z".into();
    meta["NotAfter"] = "2099-01-01T00:00:00Z".into();
    std::fs::write(&meta_path, serde_json::to_string_pretty(&meta).unwrap()).unwrap();
    assert_eq!(check(&m, &out), Some(1), "--check with meta.json's dates edited");
    let facts = cert_facts(&reissued.leaf);
    let line = plan_line(&plan(&m, &out, &[]), "due");
    assert!(line.starts_with("expiring") && line.contains(&facts.not_after), "{line}");
    // The renewal's next pair, and the certificate's own dates in the records.
    generate_ok(&m, &out, &[]);
    assert_eq!(entry(&out, "due")["State"], "renew");
    let recorded = entry(&out, "due")["Certificate"].clone();
    assert_eq!(recorded["NotAfter"], facts.not_after.as_str(), "{recorded}");
    assert_eq!(recorded["NotBefore"], facts.not_before.as_str(), "{recorded}");
}

#[test]
fn a_first_certificate_emptied_or_replaced_by_a_link_keeps_its_record_and_its_live_key() {
    // NAME.crt.pem emptied, or replaced by a link (csrbatch never follows one): damaged,
    // and every generate keeps the record, so the request never passes for one without a
    // certificate, whose live key `--rotate` would replace. Put back, the file is the
    // recorded certificate again (its chain verified, its digest), not one put there by hand.
    let dir = Dir::new();
    let (m, out) = generated(&dir, &[req("web", "ECC", "web.example.com", "")]);
    let ca = Ca::new();
    let issued = ca.issue(&out.join("web.csr.pem"), &Issue::default());
    import_expect(&[issued.fullchain()], &out, &ca.root, &[("web", "imported")]);
    let cert = out.join("web.crt.pem");
    let pem = std::fs::read(&cert).unwrap();
    let key = std::fs::read(out.join("web.key.pem")).unwrap();
    let recorded = entry(&out, "web")["Certificate"].clone();
    assert_eq!(recorded["ChainVerified"], true, "{recorded}");
    let elsewhere = dir.path("web.crt.pem.copy");
    std::fs::write(&elsewhere, &pem).unwrap();
    let empty = || std::fs::write(&cert, b"").unwrap();
    let link = || {
        std::fs::remove_file(&cert).unwrap();
        std::os::unix::fs::symlink(&elsewhere, &cert).unwrap();
    };
    let edits: [(&str, &dyn Fn()); 2] = [("emptied", &empty), ("a link", &link)];
    for (what, edit) in edits {
        edit();
        assert_eq!(check(&m, &out), Some(1), "--check with web.crt.pem {what}");
        for extra in [&[][..], &["--rotate"][..]] {
            assert_ne!(generate(&m, &out, extra).status.code(), Some(2), "{what}: generate {extra:?}");
            assert_eq!(
                entry(&out, "web")["Certificate"],
                recorded,
                "{what}: generate {extra:?} keeps the record"
            );
            assert_eq!(std::fs::read(out.join("web.key.pem")).unwrap(), key, "{what}: the live key");
            assert_eq!(check(&m, &out), Some(1), "{what}: --check after generate {extra:?}");
        }
        let line = plan_line(&plan(&m, &out, &[]), "web");
        assert!(line.starts_with("damaged") && line.contains("web.crt.pem"), "{what}: {line}");
        std::fs::remove_file(&cert).unwrap();
        std::fs::write(&cert, &pem).unwrap();
        assert_eq!(check(&m, &out), Some(0), "{what}: --check with the file back");
        generate_ok(&m, &out, &[]);
        assert_eq!(entry(&out, "web")["Certificate"], recorded, "{what}: the record once the file is back");
    }
    // Emptied again, the way on that the plan gives: remove it, import the certificate again.
    empty();
    let line = plan_line(&plan(&m, &out, &[]), "web");
    assert!(line.contains("remove it, then import the certificate again"), "{line}");
    std::fs::remove_file(&cert).unwrap();
    import_expect(&[issued.fullchain()], &out, &ca.root, &[("web", "imported")]);
    assert_eq!(std::fs::read(&cert).unwrap(), pem);
    assert_eq!(check(&m, &out), Some(0), "--check once imported again");
}

#[test]
fn a_generations_certificate_changed_by_hand_keeps_its_record() {
    // Written through the link into the generation: damaged, and its meta.json's record
    // stays the entry's through every generate, until the file is put back.
    let dir = Dir::new();
    let (m, out) = generated(&dir, &[req("gen", "ECC", "gen.example.com", "")]);
    let ca = Ca::new();
    let issue = || ca.issue(&out.join("gen.csr.pem"), &Issue::default());
    import_expect(&[issue().fullchain()], &out, &ca.root, &[("gen", "imported")]);
    import_expect(&[issue().fullchain()], &out, &ca.root, &[("gen", "imported")]);
    let cert = out.join("gen.crt.pem");
    assert!(cert.is_symlink(), "the reissue is a generation of its own");
    let recorded = entry(&out, "gen")["Certificate"].clone();
    let pem = std::fs::read(&cert).unwrap();
    for (what, bytes) in
        [("another certificate", std::fs::read(issue().leaf).unwrap()), ("junk", b"junk\n".to_vec())]
    {
        std::fs::write(&cert, &bytes).unwrap(); // through the link
        assert_eq!(check(&m, &out), Some(1), "--check with {what} in gen.crt.pem");
        assert_ne!(generate(&m, &out, &[]).status.code(), Some(2));
        assert_eq!(entry(&out, "gen")["Certificate"], recorded, "{what}: the record kept");
        assert_eq!(entry(&out, "gen")["State"], "damaged");
        std::fs::write(&cert, &pem).unwrap();
        assert_eq!(check(&m, &out), Some(0), "{what}: --check with the certificate back");
    }
}
