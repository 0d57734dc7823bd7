use super::*;

fn run(text: &str) -> (Vec<RawRequest>, Vec<ManifestError>) {
    parse(&Arc::from(Path::new("m.yaml")), text)
}

fn text(r: &RawRequest, f: Field) -> Option<&str> {
    match r.get(f) {
        Some(RawValue::Text(t)) => Some(t),
        _ => None,
    }
}

fn line(r: &RawRequest, f: Field) -> usize {
    r.origin_of(f).line
}

#[test]
fn plain_list_with_lines() {
    let (reqs, errs) = run(
        "# comment\n- CommonName: a.example\n  Algorithm: RSA\n  KeySize: 2048\n\n- CommonName: b.example\n  Sans: [x.example, 10.0.0.1]\n",
    );
    assert!(errs.is_empty(), "{errs:?}");
    assert_eq!(reqs.len(), 2);
    assert_eq!(reqs[0].origin.line, 2);
    assert_eq!(reqs[1].origin.line, 6);
    assert_eq!((line(&reqs[0], Field::KeySize), line(&reqs[1], Field::Sans)), (4, 7));
    assert_eq!(text(&reqs[0], Field::KeySize), Some("2048"));
    assert_eq!(reqs[1].get(Field::Sans), Some(&RawValue::List(vec!["x.example".into(), "10.0.0.1".into()])));
}

#[test]
fn defaults_fill_unset_fields_only() {
    let (reqs, errs) = run(
        "defaults:\n  Algorithm: ECC\n  Province: Zhejiang\nrequests:\n  - CommonName: a.example\n  - CommonName: b.example\n    Algorithm: SM2\n",
    );
    assert!(errs.is_empty(), "{errs:?}");
    assert_eq!((reqs[0].origin.line, reqs[1].origin.line), (5, 6));
    assert_eq!(text(&reqs[0], Field::Algorithm), Some("ECC"));
    assert_eq!(line(&reqs[0], Field::Algorithm), 2, "a default keeps its own line");
    assert_eq!(text(&reqs[1], Field::Algorithm), Some("SM2"));
    assert_eq!(text(&reqs[1], Field::Province), Some("Zhejiang"));
}

#[test]
fn defaults_after_requests_still_apply() {
    let (reqs, errs) = run("requests:\n  - CommonName: a.example\ndefaults:\n  Province: P\n");
    assert!(errs.is_empty(), "{errs:?}");
    assert_eq!(text(&reqs[0], Field::Province), Some("P"));
}

#[test]
fn merge_keys_are_applied() {
    let (reqs, errs) =
        run("- &base\n  Algorithm: ECC\n  CommonName: a.example\n- <<: *base\n  CommonName: b.example\n");
    assert!(errs.is_empty(), "{errs:?}");
    assert_eq!(text(&reqs[1], Field::Algorithm), Some("ECC"));
    assert_eq!(text(&reqs[1], Field::CommonName), Some("b.example"));
    assert_eq!((line(&reqs[1], Field::Algorithm), line(&reqs[1], Field::CommonName)), (2, 5));
}

#[test]
fn merge_list_first_wins_and_own_keys_win() {
    let (reqs, errs) = run(
        "defaults: {}\nx: 1\nrequests:\n- CorpName: &c C1\n  Province: &p P1\n- <<: [{Province: A, CorpName: B}, {Province: Z, Locality: L}]\n  CorpName: own\n",
    );
    assert_eq!(errs.len(), 1, "{errs:?}");
    assert_eq!(text(&reqs[1], Field::Province), Some("A"));
    assert_eq!(text(&reqs[1], Field::CorpName), Some("own"));
    assert_eq!(text(&reqs[1], Field::Locality), Some("L"));
}

#[test]
fn unknown_field_names_its_own_line() {
    let (_, errs) = run("- CommonName: a.example\n- Name: bee\n  CommmonName: b.example\n");
    assert_eq!(errs.len(), 1);
    assert_eq!(
        errs[0].to_string(),
        "m.yaml:3: request \"bee\": unknown field `CommmonName`; did you mean `CommonName`?"
    );
}

#[test]
fn flow_style_fields_have_their_lines() {
    let (reqs, errs) = run("- {CommonName: a.example,\n   KeySize: 2048,\n   Sans: [a,\n     b]}\n");
    assert!(errs.is_empty(), "{errs:?}");
    assert_eq!(
        (line(&reqs[0], Field::CommonName), line(&reqs[0], Field::KeySize), line(&reqs[0], Field::Sans)),
        (1, 2, 3)
    );
}

#[test]
fn wrong_types_and_shapes() {
    let (_, errs) = run("- CommonName: [a, b]\n  Province: {x: 1}\n  Locality: true\n");
    assert_eq!(errs.len(), 3, "{errs:?}");
    assert!(
        errs[0].to_string().contains("m.yaml:1: request \"#1\": CommonName: expected text, found a list"),
        "{}",
        errs[0]
    );
    assert!(errs[1].to_string().starts_with("m.yaml:2:"), "{}", errs[1]);
    assert!(errs[2].to_string().contains("found true/false"), "{}", errs[2]);
    let (_, errs) = run("hello");
    assert!(errs[0].to_string().starts_with("m.yaml:1: expected a list of requests"), "{}", errs[0]);
    let (_, errs) = run("requests: []\nextra: 1\n");
    assert!(errs[0].to_string().contains("unknown top-level key `extra`"));
    let (_, errs) = run("");
    assert_eq!(errs[0].problem, Problem::NoRequests);
    let (_, errs) = run("- a: 1\n---\n- b: 2\n");
    assert!(errs.iter().any(|e| e.to_string().contains("one YAML document")), "{errs:?}");
}

#[test]
fn top_level_typo_is_on_its_line_with_a_suggestion() {
    let (_, errs) = run("defaults:\n  Province: P\n\nrequest:\n  - CommonName: a.example\n");
    assert_eq!(errs[0].to_string(), "m.yaml:4: unknown top-level key `request`; did you mean `requests`?");
    assert!(errs[1].to_string().contains("no `requests:` list"), "{errs:?}");
}

#[test]
fn syntax_error_has_a_line() {
    let (_, errs) = run("- CommonName: a\n  Province: [unclosed\n");
    assert!(matches!(errs[0].problem, Problem::Syntax(_)));
    assert!(errs[0].origin.line > 0);
}

#[test]
fn duplicate_field_is_an_error() {
    let (_, errs) = run("- CommonName: a\n  CommonName: b\n");
    assert_eq!(errs.len(), 1, "{errs:?}");
    assert!(errs[0].to_string().starts_with("m.yaml:2:"), "{}", errs[0]);
}
