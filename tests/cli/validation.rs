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
        "error: 4 errors in the manifests; nothing was written".to_owned(),
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
        let run = with_stdout_closed(std::process::Command::new(env!("CARGO_BIN_EXE_csrbatch")).args(args));
        let err = String::from_utf8_lossy(&run.stderr);
        assert!(run.status.success(), "{args:?}: {:?} {err}", run.status);
        assert!(!err.contains("panicked"), "{args:?}: {err}");
    }
}

#[test]
fn a_reader_that_goes_away_does_not_change_what_check_says() {
    // `generate --check | head -1` on a folder that is not up to date: still exit 1.
    let dir = Dir::new();
    let out = dir.path("never-made");
    let run = with_stdout_closed(
        std::process::Command::new(env!("CARGO_BIN_EXE_csrbatch"))
            .args(["generate", "manifests/", "--check", "--out"])
            .arg(&out)
            .current_dir(env!("CARGO_MANIFEST_DIR")),
    );
    let err = String::from_utf8_lossy(&run.stderr);
    assert_eq!(run.status.code(), Some(1), "{err}");
    assert!(!err.contains("panicked"), "{err}");
    assert!(!out.exists(), "--check writes nothing");
}

// --- manifests as people write them: lines, Excel's CSVs, encodings, hostile files ------

/// `validate` on one file; (exit code, stderr and stdout).
fn validate_one(dir: &Dir, name: &str, bytes: &[u8], extra: &[&str]) -> (Option<i32>, String) {
    let path = dir.path(name);
    std::fs::write(&path, bytes).unwrap();
    let mut args: Vec<std::ffi::OsString> = vec!["validate".into(), path.into_os_string()];
    args.extend(extra.iter().map(|a| a.into()));
    let run = csrbatch(&args);
    (run.status.code(), stderr(&run) + &String::from_utf8_lossy(&run.stdout))
}

const HEADER: &str = "Algorithm,KeySize,CommonName,CountryCode,Province,Locality";

#[test]
fn yaml_errors_are_on_the_line_of_their_field() {
    let dir = Dir::new();
    let yaml = "\
defaults: &d
  CountryCode: CN
  Province: Zhejiang
  Locality: Hangzhou
requests:
  - &base
    Algorithm: RSA
    KeySize: 1024
    CommonName: a.example.com
  - <<: *base
    Name: merged
    CommonName: b.example.com
  - {Algorithm: ECC, CommonName: c.example.com,
     CountryCode: XX}
  - Algorithm: SM2
    CommmonName: d.example.com
";
    let (code, err) = validate_one(&dir, "m.yaml", yaml.as_bytes(), &[]);
    assert_eq!(code, Some(2), "{err}");
    for want in [
        "m.yaml:8: request \"a.example.com\": KeySize: 1024 is not allowed for RSA",
        // Through `<<`, the value is where it is written.
        "m.yaml:8: request \"merged\": KeySize: 1024",
        // Flow style: the second line of the mapping.
        "m.yaml:14: request \"c.example.com\": CountryCode: `XX`",
        "m.yaml:16: request \"#4\": unknown field `CommmonName`; did you mean `CommonName`?",
        // Missing: the request's own line.
        "m.yaml:15: request \"#4\": CommonName: required, but missing",
    ] {
        assert!(err.contains(want), "no `{want}` in:\n{err}");
    }
    let typo = b"defaults:\n  Province: P\n\nRequests:\n  - CommonName: a.example\n";
    let (code, err) = validate_one(&dir, "t.yaml", typo, &[]);
    assert_eq!(code, Some(2));
    assert!(err.contains("t.yaml:4: unknown top-level key `Requests`; did you mean `requests`?"), "{err}");
}

#[test]
fn csv_lines_are_physical_with_bom_crlf_and_multi_line_cells() {
    let dir = Dir::new();
    let csv = format!(
        "\u{feff}{HEADER},CorpName\r\nECC,,a.example.com,CN,P,L,\"two\r\nlines\"\r\nRSA,1024,b.example.com,CN,P,L,x\r\n"
    );
    let (code, err) = validate_one(&dir, "excel.csv", csv.as_bytes(), &[]);
    assert_eq!(code, Some(2), "{err}");
    // Line 2 holds a cell with a line break (an error too: a control character), so the
    // second record starts on physical line 4.
    assert!(
        err.contains("excel.csv:2: request \"a.example.com\": CorpName: contains a control character"),
        "{err}"
    );
    assert!(err.contains("excel.csv:4: request \"b.example.com\": KeySize: 1024"), "{err}");
}

#[test]
fn semicolon_and_tab_separated_csvs_are_read() {
    let dir = Dir::new();
    for (name, sep) in [("semi.csv", ";"), ("tab.csv", "\t")] {
        let text = format!("{HEADER}\nECC,,a.example.com,DE,Bayern,München\nSM2,256,b.example.com,CN,P,L\n")
            .replace(',', sep);
        let (code, out) = validate_one(&dir, name, text.as_bytes(), &[]);
        assert_eq!(code, Some(0), "{name}: {out}");
        assert!(out.contains("2 requests valid"), "{name}: {out}");
    }
    // A comma inside a quoted cell does not make a semicolon file a comma file.
    let text = format!("{}\nECC;;a.example.com;DE;\"Bayern, Süd\";L\n", HEADER.replace(',', ";"));
    let (code, out) = validate_one(&dir, "quoted.csv", text.as_bytes(), &[]);
    assert_eq!(code, Some(0), "{out}");
}

#[test]
fn gb18030_csv_needs_encoding_and_then_reads() {
    let dir = Dir::new();
    let text = format!("{HEADER},CorpName\nECC,,a.example.com,CN,浙江,杭州,阿里巴巴\n");
    let (bytes, _, _) = encoding_rs::GB18030.encode(&text);
    let (code, err) = validate_one(&dir, "gbk.csv", &bytes, &[]);
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("gbk.csv:2: not valid UTF-8"), "{err}");
    assert!(err.contains("save as 'CSV UTF-8' or pass --encoding gb18030"), "{err}");
    let (code, out) = validate_one(&dir, "gbk.csv", &bytes, &["--encoding", "gb18030"]);
    assert_eq!(code, Some(0), "{out}");
    let (code, out) = validate_one(&dir, "gbk.csv", &bytes, &["--encoding", "klingon"]);
    assert_eq!(code, Some(2), "{out}");
    assert!(out.contains("unknown encoding `klingon`"), "{out}");
    // The same for YAML, and for plan (--encoding is one option of generate, plan, validate).
    let yaml =
        "- {Algorithm: ECC, CommonName: a.example.com, CountryCode: CN, Province: 浙江, Locality: 杭州}\n";
    let (ybytes, _, _) = encoding_rs::GB18030.encode(yaml);
    let (code, out) = validate_one(&dir, "gbk.yaml", &ybytes, &["--encoding", "gbk"]);
    assert_eq!(code, Some(0), "{out}");
    let out = dir.path("out");
    let gbk = dir.path("gbk.csv");
    let run = csrbatch([
        "plan".as_ref(),
        gbk.as_os_str(),
        "--encoding".as_ref(),
        "gb18030".as_ref(),
        "--out".as_ref(),
        out.as_os_str(),
    ]);
    assert!(run.status.success(), "{}", stderr(&run));
}

#[test]
fn mistyped_addresses_and_bad_punycode_are_refused_naming_field_and_value() {
    let dir = Dir::new();
    let text = format!(
        "{HEADER},Sans\nECC,,a.example.com,CN,P,L,999.1.1.1\nECC,,999.1.1.1,CN,P,L,\nECC,,xn--a.example.com,CN,P,L,\nECC,,c.example.com,CN,P,L,\"ok.example.com,www.xn--abcdefg.cn\"\n"
    );
    let (code, err) = validate_one(&dir, "dns.csv", text.as_bytes(), &[]);
    assert_eq!(code, Some(2), "{err}");
    for want in [
        "dns.csv:2: request \"a.example.com\": Sans: `999.1.1.1` is not a valid DNS name: the last label `1` is all digits",
        "dns.csv:3: request \"999.1.1.1\": CommonName: `999.1.1.1` is not a valid DNS name",
        "dns.csv:4: request \"xn--a.example.com\": CommonName: `xn--a.example.com` is not a valid DNS name: `xn--a` is not valid punycode",
        "dns.csv:5: request \"c.example.com\": Sans: `www.xn--abcdefg.cn` is not a valid DNS name",
    ] {
        assert!(err.contains(want), "no `{want}` in:\n{err}");
    }
}

#[test]
fn deep_nesting_and_alias_bombs_are_refused() {
    let dir = Dir::new();
    let laughs: String = std::iter::once("a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n".to_owned())
        .chain((1..12).map(|i| format!("a{i}: &a{i} [{}]\n", vec![format!("*a{}", i - 1); 10].join(", "))))
        .chain(std::iter::once("requests: [*a11]\n".to_owned()))
        .collect();
    let keys: Vec<String> = (0..100_000).map(|i| format!("k{i}: v")).collect();
    let cases: [(&str, String, &str); 6] = [
        (
            "brackets.yaml",
            "[".repeat(100_000),
            "brackets.yaml:1: collections nested too deep (the limit is 32)",
        ),
        ("braces.yaml", "{a: ".repeat(100_000), "braces.yaml:1: collections nested too deep"),
        (
            "blocks.yaml",
            (0..200).map(|i| format!("{}-\n", "  ".repeat(i))).collect(),
            "collections nested too deep",
        ),
        ("laughs.yaml", laughs, "too many nodes"),
        (
            "scalar.yaml",
            format!("- Name: {}\n", "x".repeat(3_000_000)),
            "scalar.yaml:1: a scalar is too long",
        ),
        ("keys.yaml", format!("- {{{}}}\n", keys.join(", ")), "a mapping has too many keys"),
    ];
    for (name, text, want) in cases {
        let (code, err) = validate_one(&dir, name, text.as_bytes(), &[]);
        assert_eq!(code, Some(2), "{name}: {err}");
        assert!(err.contains(want), "{name}: no `{want}` in:\n{err}");
        assert!(!err.contains("panicked"), "{name}: {err}");
    }
}

#[test]
fn yaml_and_csv_of_the_same_requests_give_the_same_summary_apart_from_ids() {
    let dir = Dir::new();
    let (mut yaml, mut csv) = (
        String::from("defaults: {CountryCode: CN, Province: P, Locality: L}\nrequests:\n"),
        format!("{HEADER},Sans\n"),
    );
    for i in 0..60 {
        let alg = ["ECC", "SM2"][i % 2];
        yaml.push_str(&format!("  - Algorithm: {alg}\n    CommonName: h{i}.example.com\n    Sans: [s{i}.example.com, 10.0.0.{i}]\n"));
        csv.push_str(&format!("{alg},,h{i}.example.com,CN,P,L,\"s{i}.example.com,10.0.0.{i}\"\n"));
    }
    let mut summaries = Vec::new();
    for (name, text) in [("m.yaml", yaml), ("m.csv", csv)] {
        let manifest = dir.write(name, &text);
        let out = dir.path(&format!("out-{name}"));
        let run = csrbatch([
            "generate".as_ref(),
            manifest.as_os_str(),
            "--out".as_ref(),
            out.as_os_str(),
            "--quiet".as_ref(),
        ]);
        assert!(run.status.success(), "{name}: {}", stderr(&run));
        summaries.push(read_summary(&out));
    }
    let strip = |s: &csrbatch::output::summary::Summary| -> Vec<String> {
        s.csrs
            .iter()
            .map(|e| {
                let mut e = e.clone();
                (e.csr_id, e.request_id, e.key_sha2, e.csr, e.manifest) =
                    (None, String::new(), None, None, Default::default());
                serde_json::to_string(&e).unwrap()
            })
            .collect()
    };
    assert_eq!(summaries[0].total, 60);
    assert_eq!(strip(&summaries[0]), strip(&summaries[1]));
}
