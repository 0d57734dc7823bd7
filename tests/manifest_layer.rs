//! The manifest layer at library level: YAML and CSV read alike, the JSON Schema agrees
//! with the loader, and mutated manifests never panic, always name a line, and cost time
//! linear in their size.
#![allow(clippy::unwrap_used)] // tests may panic on a broken fixture

use std::path::Path;

use csrbatch::manifest::{Format, ManifestError, Problem, RawRequest, ReadOptions, read_bytes};
use csrbatch::request::{self, CsrRequest};

fn read(format: Format, bytes: &[u8]) -> (Vec<RawRequest>, Vec<ManifestError>) {
    let name = match format {
        Format::Yaml => "m.yaml",
        Format::Csv => "m.csv",
    };
    read_bytes(name, format, bytes, ReadOptions::default())
}

/// The same `n` requests as YAML (block style, `defaults:`) and as CSV.
fn same_requests(n: usize) -> (String, String) {
    let mut yaml = String::from("defaults:\n  CountryCode: CN\n  Province: Zhejiang\nrequests:\n");
    let mut csv =
        String::from("Name,Algorithm,KeySize,CommonName,Sans,CountryCode,Province,Locality,CorpName\n");
    for i in 0..n {
        let (alg, size) = [("RSA", "2048"), ("ECC", ""), ("SM2", "256"), ("rsa", "4096")][i % 4];
        let corp = if i % 3 == 0 { "阿里巴巴（中国）有限公司" } else { "" };
        yaml.push_str(&format!("  - Name: r{i}\n    Algorithm: {alg}\n"));
        if !size.is_empty() {
            yaml.push_str(&format!("    KeySize: {size}\n"));
        }
        yaml.push_str(&format!(
            "    CommonName: h{i}.example.com\n    Sans: [a{i}.example.com, 10.0.{}.{}]\n    Locality: Hangzhou\n",
            i / 256 % 256,
            i % 256
        ));
        if !corp.is_empty() {
            yaml.push_str(&format!("    CorpName: {corp}\n"));
        }
        csv.push_str(&format!(
            "r{i},{alg},{size},h{i}.example.com,\"a{i}.example.com,10.0.{}.{}\",CN,Zhejiang,Hangzhou,{corp}\n",
            i / 256 % 256,
            i % 256
        ));
    }
    (yaml, csv)
}

fn validated(format: Format, text: &str) -> Vec<CsrRequest> {
    let (raw, errors) = read(format, text.as_bytes());
    assert!(errors.is_empty(), "{:?}", &errors[..errors.len().min(3)]);
    request::validate(&raw).unwrap()
}

#[test]
fn yaml_and_csv_of_the_same_200000_requests_are_the_same_requests() {
    let (yaml, csv) = same_requests(200_000);
    let (from_yaml, from_csv) = (validated(Format::Yaml, &yaml), validated(Format::Csv, &csv));
    assert_eq!(from_yaml.len(), 200_000);
    assert_eq!(from_yaml.len(), from_csv.len());
    for (y, c) in from_yaml.iter().zip(&from_csv) {
        assert_eq!((&y.name, &y.params), (&c.name, &c.params));
    }
}

// --- the JSON Schema -------------------------------------------------------------------

/// YAML text to JSON with anchors resolved (no merge keys: the examples use none), via
/// the same parser the loader uses.
fn yaml_to_json(text: &str) -> serde_json::Value {
    use saphyr_parser::{Event, Parser, ScalarStyle};
    use serde_json::Value;
    let mut anchors: std::collections::HashMap<usize, Value> = Default::default();
    let mut stack: Vec<(Value, Option<String>, usize)> = Vec::new();
    let mut root = Value::Null;
    for event in Parser::new_from_str(text) {
        let (event, _) = event.unwrap();
        let (value, anchor) = match event {
            Event::Scalar(s, style, anchor, _) => {
                let v = if style != ScalarStyle::Plain {
                    Value::String(s.into_owned())
                } else if let Ok(n) = s.parse::<i64>() {
                    Value::from(n)
                } else if matches!(&*s, "" | "~" | "null") {
                    Value::Null
                } else {
                    Value::String(s.into_owned())
                };
                (v, anchor)
            }
            Event::Alias(id) => (anchors[&id].clone(), 0),
            Event::SequenceStart(anchor, _) => {
                stack.push((Value::Array(vec![]), None, anchor));
                continue;
            }
            Event::MappingStart(anchor, _) => {
                stack.push((Value::Object(Default::default()), None, anchor));
                continue;
            }
            Event::SequenceEnd | Event::MappingEnd => {
                let (v, _, anchor) = stack.pop().unwrap();
                (v, anchor)
            }
            _ => continue,
        };
        if anchor != 0 {
            anchors.insert(anchor, value.clone());
        }
        match stack.last_mut() {
            None => root = value,
            Some((Value::Array(items), _, _)) => items.push(value),
            Some((Value::Object(map), key, _)) => match key.take() {
                None => *key = Some(value.as_str().map(str::to_owned).unwrap_or_else(|| value.to_string())),
                Some(k) => {
                    map.insert(k, value);
                }
            },
            Some(_) => {}
        }
    }
    root
}

fn csv_to_json(text: &str) -> serde_json::Value {
    let mut reader = csv::Reader::from_reader(text.trim_start_matches('\u{feff}').as_bytes());
    let headers = reader.headers().unwrap().clone();
    let rows: Vec<serde_json::Value> = reader
        .records()
        .map(|r| {
            let r = r.unwrap();
            let map: serde_json::Map<String, serde_json::Value> = headers
                .iter()
                .zip(r.iter())
                .filter(|(_, v)| !v.is_empty())
                .map(|(h, v)| (h.to_owned(), serde_json::Value::String(v.to_owned())))
                .collect();
            serde_json::Value::Object(map)
        })
        .collect();
    serde_json::Value::Array(rows)
}

fn validator() -> jsonschema::Validator {
    jsonschema::draft202012::new(&request::schema::schema()).unwrap()
}

#[test]
fn the_committed_schema_is_what_csrbatch_schema_prints() {
    let committed =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("schema/manifest.schema.json"))
            .unwrap();
    assert!(
        committed == request::schema::schema_text(),
        "schema/manifest.schema.json is stale: run `csrbatch schema > schema/manifest.schema.json`"
    );
}

#[test]
fn every_example_manifest_is_valid_against_the_schema() {
    let v = validator();
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut seen = 0;
    for dir in ["manifests", "tests/manifests"] {
        for entry in std::fs::read_dir(root.join(dir)).unwrap() {
            let path = entry.unwrap().path();
            let text = std::fs::read_to_string(&path).unwrap();
            let doc = match path.extension().and_then(|e| e.to_str()) {
                Some("yaml" | "yml") => yaml_to_json(&text),
                Some("csv") => csv_to_json(&text),
                _ => continue,
            };
            let errors: Vec<String> = v.iter_errors(&doc).map(|e| e.to_string()).collect();
            assert!(errors.is_empty(), "{}: {errors:?}", path.display());
            // And the loader agrees.
            let format = Format::of(&path).unwrap();
            let (raw, errs) = read(format, text.as_bytes());
            assert!(errs.is_empty() && request::validate(&raw).is_ok(), "{}: {errs:?}", path.display());
            seen += 1;
        }
    }
    assert!(seen >= 5, "{seen}");
}

#[test]
fn the_schema_refuses_what_the_loader_refuses() {
    let v = validator();
    let good = "- {Algorithm: RSA, KeySize: 2048, CommonName: a.example, CountryCode: CN, Province: P, Locality: L}\n";
    assert!(v.is_valid(&yaml_to_json(good)));
    for (what, bad) in [
        ("unknown field", good.replace("Province", "Provence")),
        ("bad Algorithm", good.replace("RSA", "DSA")),
        ("RSA 1024", good.replace("2048", "1024")),
        ("RSA without KeySize", good.replace("KeySize: 2048, ", "")),
        ("ECC 384", good.replace("RSA, KeySize: 2048", "ECC, KeySize: 384")),
        ("missing Locality", good.replace(", Locality: L", "")),
        ("bad country", good.replace("CN", "XX")),
        ("long Name", good.replace("Algorithm", &format!("Name: {}, Algorithm", "n".repeat(51)))),
        ("top-level typo", format!("request:\n{good}")),
    ] {
        assert!(!v.is_valid(&yaml_to_json(&bad)), "{what}: accepted");
        let (raw, errs) = read(Format::Yaml, bad.as_bytes());
        assert!(!errs.is_empty() || request::validate(&raw).is_err(), "{what}: the loader accepted it");
    }
    // The issue-14 fields: lists or comma strings of usages, a password, a key file.
    let extras = good.replace(
        "Locality: L}",
        "Locality: L, KeyUsage: [digitalSignature, keyEncipherment], ExtendedKeyUsage: [serverAuth, 1.3.6.1.4.1.311.10.3.12], ChallengePassword: pw, KeyFile: k.pem}",
    );
    assert!(v.is_valid(&yaml_to_json(&extras)), "{extras}");
    let (raw, errs) = read(Format::Yaml, extras.as_bytes());
    assert!(errs.is_empty() && request::validate(&raw).is_ok(), "{errs:?}");
    assert!(
        v.is_valid(&yaml_to_json(&extras.replace("[digitalSignature, keyEncipherment]", "digitalSignature")))
    );
    for (what, bad) in [
        ("unknown key usage", extras.replace("keyEncipherment]", "keyCertSign]")),
        ("unknown extended key usage", extras.replace("serverAuth,", "webAuth,")),
        ("short OID", extras.replace("1.3.6.1.4.1.311.10.3.12", "1.3")),
        (
            "long ChallengePassword",
            extras.replace("ChallengePassword: pw", &format!("ChallengePassword: {}", "p".repeat(256))),
        ),
    ] {
        assert!(!v.is_valid(&yaml_to_json(&bad)), "{what}: accepted");
        let (raw, errs) = read(Format::Yaml, bad.as_bytes());
        assert!(!errs.is_empty() || request::validate(&raw).is_err(), "{what}: the loader accepted it");
    }
    // Required fields may come from `defaults:`.
    let with_defaults = "defaults: {CountryCode: cn, Province: P, Locality: L}\nrequests:\n- {Algorithm: ecc, CommonName: a.example}\n";
    assert!(v.is_valid(&yaml_to_json(with_defaults)));
    assert!(!v.is_valid(&yaml_to_json(&with_defaults.replace("Locality: L", "Department: D"))));
}

// --- mutated manifests -----------------------------------------------------------------

/// A small deterministic generator (xorshift), so a failure is reproducible from its seed.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

const SPICE: &[&[u8]] = &[
    b"[",
    b"]",
    b"{",
    b"}",
    b":",
    b": ",
    b"- ",
    b"\n",
    b"\r\n",
    b"\r",
    b"\"",
    b"'",
    b"#",
    b"&a ",
    b"*a",
    b"<<: ",
    b",",
    b";",
    b"\t",
    b"\xef\xbb\xbf",
    b"\xff",
    b"\xe4\xb8",
    b"!!str ",
    b"|\n",
    b"---\n",
    b"~",
    b"\\",
    b"xn--",
    b"999.1.1.1",
    b"  ",
    b"\x00",
];

fn mutate(seed: &[u8], rng: &mut Rng) -> Vec<u8> {
    let mut out = seed.to_vec();
    for _ in 0..1 + rng.below(8) {
        let at = rng.below(out.len() + 1);
        match rng.below(5) {
            0 => {
                let s = SPICE[rng.below(SPICE.len())];
                out.splice(at..at, s.iter().copied());
            }
            1 => {
                let end = (at + rng.below(16)).min(out.len());
                out.drain(at..end);
            }
            2 if at < out.len() => out[at] ^= 1 << rng.below(8),
            3 => {
                let end = (at + rng.below(64)).min(out.len());
                let chunk: Vec<u8> = out[at..end].to_vec();
                out.splice(at..at, chunk);
            }
            _ => {
                let s = SPICE[rng.below(SPICE.len())].repeat(1 + rng.below(64));
                out.splice(at..at, s);
            }
        }
    }
    out
}

fn seeds() -> Vec<(Format, Vec<u8>)> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut seeds = Vec::new();
    for dir in ["manifests", "tests/manifests"] {
        for entry in std::fs::read_dir(root.join(dir)).unwrap() {
            let path = entry.unwrap().path();
            if let Some(format) = Format::of(&path) {
                seeds.push((format, std::fs::read(&path).unwrap()));
            }
        }
    }
    seeds
}

/// Every error names a line, but for the few that are about a whole file.
fn assert_located(errors: &[ManifestError], input: &[u8]) {
    for e in errors {
        let whole_file = matches!(e.problem, Problem::NoRequests | Problem::Io(_));
        assert!(
            e.origin.line > 0 || whole_file,
            "no line in `{e}` for input {:?}",
            String::from_utf8_lossy(input)
        );
        let lines = input.split(|b| *b == b'\n' || *b == b'\r').count();
        assert!(e.origin.line <= lines + 1, "line {} past the end ({lines}) in `{e}`", e.origin.line);
    }
}

#[test]
fn mutated_manifests_never_panic_and_every_error_names_a_line() {
    let seeds = seeds();
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let (mut read_some, mut refused_some) = (0, 0);
    for round in 0..3000 {
        let (format, seed) = &seeds[round % seeds.len()];
        let input = mutate(seed, &mut rng);
        for f in [*format, Format::Yaml, Format::Csv] {
            let (requests, errors) = read(f, &input);
            assert_located(&errors, &input);
            read_some += usize::from(!requests.is_empty());
            refused_some += usize::from(!errors.is_empty());
            // The validator takes whatever the loader produced.
            if let Err(errors) = request::validate(&requests) {
                assert_located(&errors, &input);
            }
        }
    }
    // The mutations neither all break the manifests nor all leave them readable.
    assert!(read_some > 1000 && refused_some > 1000, "{read_some} read, {refused_some} refused");
}

/// The least of a few runs of each input, in nanoseconds, the runs taking turns: other
/// tests run on the same cores, and the least of alternating runs is what the reader costs.
fn costs(format: Format, small: &[u8], large: &[u8]) -> (u128, u128) {
    let time = |input: &[u8]| {
        let start = std::time::Instant::now();
        let _ = read(format, input);
        start.elapsed().as_nanos()
    };
    (0..7).fold((u128::MAX, u128::MAX), |(a, b), _| (a.min(time(small)), b.min(time(large))))
}

#[test]
fn time_grows_linearly_with_hostile_input() {
    type Make = fn(usize) -> String;
    let cases: &[(&str, Make)] = &[
        ("nested [", |n| "[".repeat(n)),
        ("nested { key", |n| "{a: ".repeat(n)),
        ("quote gadgets", |n| "[ \"]\" ".repeat(n)),
        ("a long flow mapping", |n| {
            format!("- {{{}}}\n", (0..n).map(|i| format!("k{i}: v")).collect::<Vec<_>>().join(", "))
        }),
        ("a long scalar", |n| format!("- Name: {}\n", "x".repeat(n * 8))),
        ("many aliases", |n| format!("- &b {{Algorithm: ECC}}\n{}", "- *b\n".repeat(n / 8))),
        ("many requests", |n| {
            (0..n / 40).map(|i| format!("- {{CommonName: h{i}.example, Algorithm: ECC}}\n")).collect()
        }),
    ];
    for (what, make) in cases {
        let (small, large) = (make(20_000), make(160_000));
        let (a, b) = costs(Format::Yaml, small.as_bytes(), large.as_bytes());
        // 8x the input: linear is ~8x the time; quadratic would be ~64x. Generous: 24x,
        // with the small run's floor at 1 ms for inputs refused after a few characters.
        let ratio = b as f64 / a.max(1_000_000) as f64;
        assert!(ratio < 24.0, "{what}: 8x the input took {ratio:.1}x the time ({a} ns -> {b} ns)");
    }
}
