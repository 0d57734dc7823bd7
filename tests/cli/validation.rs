//! Every validation rule fails with `FILE:LINE: request NAME: FIELD: ...`, exit code 2,
//! and nothing written: the output folder is neither created nor touched.

use crate::util::*;

const GOOD: &str = "  Algorithm: ECC\n  CommonName: ok.example.com\n  CountryCode: CN\n  Province: Zhejiang\n  Locality: Hangzhou\n";

/// A YAML manifest whose second request (at line 7) is GOOD with `field: value` changed.
fn yaml_with(field: &str, value: Option<&str>) -> String {
    let mut second: String = GOOD
        .replace("ok.example.com", "two.example.com")
        .lines()
        .filter(|l| !l.trim_start().starts_with(&format!("{field}:")))
        .map(|l| format!("{l}\n"))
        .collect();
    if let Some(v) = value {
        second.push_str(&format!("  {field}: {v}\n"));
    }
    format!("# two requests\n-{}", &GOOD[1..]) + "\n-" + &second[1..]
}

/// (what is checked, field, value or None to remove it, text the message must contain)
const CASES: &[(&str, &str, Option<&str>, &str)] = &[
    ("algorithm", "Algorithm", Some("DSA"), "Algorithm: `DSA` is not an algorithm"),
    ("algorithm required", "Algorithm", None, "Algorithm: required, but missing"),
    ("key size", "KeySize", Some("384"), "KeySize: 384 is not allowed for ECC (256)"),
    ("common name required", "CommonName", None, "CommonName: required, but missing"),
    (
        "common name dns",
        "CommonName",
        Some("bad_host.example.com"),
        "CommonName: `bad_host.example.com` is not a valid DNS name",
    ),
    ("common name wildcard", "CommonName", Some("'www.*.example.com'"), "leftmost label"),
    (
        "common name length",
        "CommonName",
        Some("aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa.bbbbbbbbbbbbbbbbbbbbbbbbbb.com"),
        "CommonName: 70 characters, at most 64",
    ),
    (
        "common name label",
        "CommonName",
        Some("aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa.com"),
        "at most 63",
    ),
    ("common name ip", "CommonName", Some("192.0.2.1"), "CommonName: `192.0.2.1` is an IP address"),
    (
        "sans",
        "Sans",
        Some("good.example.com,bad..example.com"),
        "Sans: `bad..example.com` is not a valid DNS name",
    ),
    ("country required", "CountryCode", None, "CountryCode: required, but missing"),
    ("country iso", "CountryCode", Some("XX"), "CountryCode: `XX` is not an ISO 3166-1 alpha-2 country code"),
    ("province required", "Province", None, "Province: required, but missing"),
    ("province length", "Province", Some(LONG_129), "Province: 129 characters, at most 128"),
    ("locality required", "Locality", Some("''"), "Locality: required, but missing"),
    ("corp name length", "CorpName", Some(LONG_65), "CorpName: 65 characters, at most 64"),
    ("department length", "Department", Some(LONG_65), "Department: 65 characters, at most 64"),
    ("name chars", "Name", Some("../../etc/passwd"), "Name: `../../etc/passwd` is not a valid Name"),
    ("name dotdot", "Name", Some("'..'"), "Name: `..` is not a valid Name"),
    ("name length", "Name", Some(LONG_65), "Name: `"),
    (
        "name duplicate",
        "Name",
        Some("ok.example.com"),
        "Name: Name `ok.example.com` is also used by the request at",
    ),
    (
        "unknown field",
        "CommmonName",
        Some("x.example.com"),
        "unknown field `CommmonName`; did you mean `CommonName`?",
    ),
];

const LONG_65: &str = "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx";
const LONG_129: &str = "yyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyy";

#[test]
fn every_rule_has_a_failing_case_that_names_file_line_and_field() {
    assert_eq!(LONG_65.len(), 65);
    assert_eq!(LONG_129.len(), 129);
    for (what, field, value, message) in CASES {
        let dir = Dir::new();
        let text = yaml_with(field, *value);
        let manifest = dir.write("web.yaml", &text);
        let out = dir.path("out");
        let run = csrbatch(["generate".as_ref(), manifest.as_os_str(), "--out".as_ref(), out.as_os_str()]);
        let err = stderr(&run);
        assert_eq!(run.status.code(), Some(2), "{what}: {err}");
        // The message names the manifest, the line of the field (the last line, where it was
        // written) or for a missing field the request's line 8, the request and the field.
        let line = if value.is_some() { text.lines().count() } else { 8 };
        let location = format!("{}:{line}", manifest.display());
        let line = err
            .lines()
            .find(|l| l.contains(message))
            .unwrap_or_else(|| panic!("{what}: no `{message}` in:\n{err}"));
        assert!(line.contains(&location) && line.contains(": request \""), "{what}: `{line}`");
        assert!(err.contains("nothing was written"), "{what}: {err}");
        assert!(!out.exists(), "{what}: the output folder was created");
    }
}

#[test]
fn an_existing_output_folder_is_not_touched() {
    let dir = Dir::new();
    let out = dir.path("out");
    dir.write("out/keep.txt", "untouched");
    let before = tree(&out);
    let manifest = dir.write("bad.yaml", &yaml_with("KeySize", Some("1024")));
    let run = csrbatch(["generate".as_ref(), manifest.as_os_str(), "--out".as_ref(), out.as_os_str()]);
    assert_eq!(run.status.code(), Some(2));
    assert_eq!(tree(&out), before);
    assert_eq!(std::fs::read_to_string(out.join("keep.txt")).unwrap(), "untouched");
}

#[test]
fn all_errors_of_all_manifests_are_reported_together() {
    let dir = Dir::new();
    dir.write("m/a.yaml", &yaml_with("CountryCode", Some("ZZ")));
    dir.write("m/b.csv", "Algorithm,KeySize,CommonName,CountryCode,Province,Locality\nRSA,1024,x.example.com,CN,P,L\nECC,,y.example.com,CN,,L\n");
    dir.write("m/c.csv", "Algoritm,CommonName\nRSA,z.example.com\n");
    let run = csrbatch(["validate".as_ref(), dir.path("m").as_os_str()]);
    assert_eq!(run.status.code(), Some(2));
    let err = stderr(&run);
    let m = dir.path("m");
    for want in [
        format!("{}:12: request \"two.example.com\": CountryCode: `ZZ`", m.join("a.yaml").display()),
        format!(
            "{}:2: request \"x.example.com\": KeySize: 1024 is not allowed for RSA (2048, 3072, 4096)",
            m.join("b.csv").display()
        ),
        format!(
            "{}:3: request \"y.example.com\": Province: required, but missing",
            m.join("b.csv").display()
        ),
        format!("{}:1: unknown field `Algoritm`; did you mean `Algorithm`?", m.join("c.csv").display()),
        "error: 4 error(s) in the manifests; nothing was written".to_owned(),
    ] {
        assert!(err.contains(&want), "missing `{want}` in:\n{err}");
    }
}

#[test]
fn validate_accepts_the_examples_and_writes_nothing() {
    let dir = Dir::new();
    let run = std::process::Command::new(env!("CARGO_BIN_EXE_csrbatch"))
        .current_dir(dir.tmp.path())
        .args(["validate".as_ref(), manifests("").as_os_str()])
        .output()
        .unwrap();
    assert!(run.status.success(), "{}", stderr(&run));
    assert_eq!(String::from_utf8_lossy(&run.stdout).trim(), "8 requests valid");
    assert!(tree(dir.tmp.path()).is_empty());
}

#[test]
fn broken_files_are_errors_not_panics() {
    let dir = Dir::new();
    let cases: &[(&str, &[u8], &str)] = &[
        ("syntax.yaml", b"- CommonName: [unclosed\n", "syntax error"),
        ("scalar.yaml", b"just text\n", "expected a list of requests"),
        ("binary.csv", b"Algorithm\n\xff\xfe\n", "not valid UTF-8"),
        ("ragged.csv", b"Algorithm,CommonName\nECC\n", "syntax error"),
        ("empty.yaml", b"", "the manifest holds no request"),
        ("notes.txt", b"hello", "not a manifest"),
        ("missing.yaml", b"", "no such file or folder"),
    ];
    for (name, bytes, message) in cases {
        let path = if *name == "missing.yaml" { dir.path(name) } else { dir.tmp.path().join(name) };
        if *name != "missing.yaml" {
            std::fs::write(&path, bytes).unwrap();
        }
        let run = csrbatch(["validate".as_ref(), path.as_os_str()]);
        let err = stderr(&run);
        assert_eq!(run.status.code(), Some(2), "{name}: {err}");
        assert!(err.contains(message) && err.contains(&path.display().to_string()), "{name}: {err}");
        assert!(!err.contains("panicked"), "{name}: {err}");
    }
}

#[test]
fn a_reader_that_goes_away_is_not_a_panic() {
    // `csrbatch plan ... | head -1`: the pipe closes before csrbatch prints.
    for args in [
        &["plan", "manifests/", "--out", "no-such-folder"][..],
        &["bench", "--algorithm", "ECC", "--count", "5"],
    ] {
        let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_csrbatch"))
            .args(args)
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        drop(child.stdout.take());
        let run = child.wait_with_output().unwrap();
        let err = String::from_utf8_lossy(&run.stderr);
        assert!(run.status.success(), "{args:?}: {:?} {err}", run.status);
        assert!(!err.contains("panicked"), "{args:?}: {err}");
    }
}
