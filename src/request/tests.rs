use std::path::Path;
use std::sync::Arc;

use super::*;

fn raw(line: usize, fields: &[(Field, &str)]) -> RawRequest {
    RawRequest {
        origin: Origin { file: Arc::from(Path::new("m.yaml")), line },
        ordinal: line,
        fields: fields.iter().map(|(f, v)| (*f, RawValue::Text((*v).to_owned()))).collect(),
        field_lines: Vec::new(),
    }
}

fn base(extra: &[(Field, &str)]) -> RawRequest {
    let mut fields = vec![
        (Field::Algorithm, "ecc"),
        (Field::CommonName, "www.example.com"),
        (Field::CountryCode, "cn"),
        (Field::Province, "Zhejiang"),
        (Field::Locality, "Hangzhou"),
    ];
    for (f, v) in extra {
        fields.retain(|(g, _)| g != f);
        fields.push((*f, v));
    }
    raw(3, &fields)
}

fn one(extra: &[(Field, &str)]) -> Result<CsrRequest, Vec<ManifestError>> {
    validate(&[base(extra)]).map(|mut v| v.remove(0))
}

/// The single error for `extra`, which must name the file, line, request and field.
fn error(extra: &[(Field, &str)], field: Field) -> String {
    let errs = one(extra).unwrap_err();
    assert_eq!(errs.len(), 1, "{errs:?}");
    assert_eq!(errs[0].field, Some(field), "{}", errs[0]);
    let msg = errs[0].to_string();
    assert!(msg.starts_with("m.yaml:3: request \""), "{msg}");
    assert!(msg.contains(&format!(": {field}: ")), "{msg}");
    msg
}

#[test]
fn a_good_request_is_normalized() {
    let r = one(&[
        (Field::Sans, "b.example.com, WWW.example.com,10.0.0.1,,"),
        (Field::CorpName, "阿里巴巴（中国）有限公司"),
    ])
    .unwrap();
    assert_eq!(r.params.key, KeyAlgorithm::Ecc);
    assert_eq!(r.params.country.as_str(), "CN");
    assert_eq!(r.name.as_str(), "www.example.com");
    let sans: Vec<String> = r.params.sans.iter().map(ToString::to_string).collect();
    assert_eq!(sans, ["www.example.com", "b.example.com", "10.0.0.1"]);
    assert_eq!(r.params.extra_sans().len(), 2);
    assert_eq!(r.params.corp_name.as_deref(), Some("阿里巴巴（中国）有限公司"));
}

#[test]
fn algorithm_rule() {
    assert!(one(&[(Field::Algorithm, "Sm2")]).is_ok());
    assert!(error(&[(Field::Algorithm, "DSA")], Field::Algorithm).contains("`DSA` is not an algorithm"));
    let msg = error(&[(Field::Algorithm, "")], Field::Algorithm);
    assert!(msg.ends_with("required, but missing"), "{msg}");
}

#[test]
fn key_size_rule() {
    assert_eq!(
        one(&[(Field::Algorithm, "RSA"), (Field::KeySize, "3072")]).unwrap().params.key,
        KeyAlgorithm::Rsa3072
    );
    assert_eq!(one(&[(Field::KeySize, "256")]).unwrap().params.key, KeyAlgorithm::Ecc);
    let msg = error(&[(Field::Algorithm, "RSA"), (Field::KeySize, "1024")], Field::KeySize);
    assert!(msg.ends_with("1024 is not allowed for RSA (2048, 3072, 4096)"), "{msg}");
    assert!(error(&[(Field::Algorithm, "RSA")], Field::KeySize).ends_with("missing"));
    assert!(error(&[(Field::KeySize, "384")], Field::KeySize).contains("not allowed for ECC (256)"));
    assert!(error(&[(Field::Algorithm, "SM2"), (Field::KeySize, "big")], Field::KeySize).contains("for SM2"));
}

#[test]
fn common_name_rule() {
    assert_eq!(
        one(&[(Field::CommonName, "*.例子.中国")]).unwrap().params.common_name.as_str(),
        "*.xn--fsqu00a.xn--fiqs8s"
    );
    assert!(
        error(&[(Field::CommonName, "bad_name.com")], Field::CommonName).contains("not a valid DNS name")
    );
    assert!(error(&[(Field::CommonName, "a.*.com")], Field::CommonName).contains("leftmost"));
    assert!(error(&[(Field::CommonName, "10.1.2.3")], Field::CommonName).contains("is an IP address"));
    let long = format!("{}.{}.com", "a".repeat(40), "b".repeat(30));
    assert!(error(&[(Field::CommonName, &long)], Field::CommonName).contains("at most 64"));
    assert!(error(&[(Field::CommonName, " ")], Field::CommonName).ends_with("missing"));
}

#[test]
fn sans_rule() {
    let r = one(&[(Field::Sans, "www.example.com,*.example.com,::1")]).unwrap();
    assert_eq!(r.params.sans.len(), 3);
    assert!(error(&[(Field::Sans, "ok.example,bad..example")], Field::Sans).contains("`bad..example`"));
}

#[test]
fn country_rule() {
    assert!(error(&[(Field::CountryCode, "XX")], Field::CountryCode).contains("not an ISO 3166-1"));
    assert!(error(&[(Field::CountryCode, "China")], Field::CountryCode).contains("`China`"));
}

#[test]
fn province_locality_rules() {
    assert!(error(&[(Field::Province, "")], Field::Province).ends_with("missing"));
    assert!(
        error(&[(Field::Locality, &"x".repeat(129))], Field::Locality)
            .contains("129 characters, at most 128")
    );
    assert!(one(&[(Field::Locality, &"杭".repeat(128))]).is_ok());
    assert!(error(&[(Field::Province, "a\nb")], Field::Province).contains("control character"));
}

#[test]
fn corp_and_department_rules() {
    assert!(one(&[(Field::CorpName, &"x".repeat(64)), (Field::Department, "IT")]).is_ok());
    assert!(error(&[(Field::CorpName, &"x".repeat(65))], Field::CorpName).contains("at most 64"));
    assert!(error(&[(Field::Department, &"部".repeat(65))], Field::Department).contains("at most 64"));
}

#[test]
fn name_rule() {
    assert_eq!(one(&[(Field::Name, "web-1")]).unwrap().name.as_str(), "web-1");
    assert!(error(&[(Field::Name, "../x")], Field::Name).contains("only letters"));
    assert!(error(&[(Field::Name, "..")], Field::Name).contains("folders"));
    assert!(error(&[(Field::Name, &"n".repeat(51))], Field::Name).contains("longer than 50"));
}

#[test]
fn every_error_of_a_request_is_reported() {
    let errs =
        validate(&[raw(7, &[(Field::Algorithm, "RSA"), (Field::KeySize, "1"), (Field::CountryCode, "QQ")])])
            .unwrap_err();
    let fields: Vec<_> = errs.iter().map(|e| e.field).collect();
    assert_eq!(
        fields,
        [
            Some(Field::KeySize),
            Some(Field::CommonName),
            Some(Field::CountryCode),
            Some(Field::Province),
            Some(Field::Locality)
        ]
    );
    assert!(errs[0].to_string().starts_with("m.yaml:7: request \"#7\": KeySize"), "{}", errs[0]);
}

#[test]
fn derived_names_get_the_algorithm_only_when_needed() {
    let reqs = validate(&[
        base(&[(Field::CommonName, "*.example.com")]),
        base(&[(Field::CommonName, "*.example.com"), (Field::Algorithm, "SM2")]),
        base(&[(Field::CommonName, "api.example.com")]),
    ])
    .unwrap();
    let names: Vec<&str> = reqs.iter().map(|r| r.name.as_str()).collect();
    assert_eq!(names, ["wildcard.example.com", "wildcard.example.com_sm2", "api.example.com"]);
}

#[test]
fn duplicate_names_name_both_places() {
    let mut second = base(&[(Field::Name, "WEB")]);
    second.origin.line = 9;
    let errs = validate(&[base(&[(Field::Name, "web")]), second]).unwrap_err();
    assert_eq!(errs.len(), 1);
    assert_eq!(
        errs[0].to_string(),
        "m.yaml:9: request \"WEB\": Name: Name `WEB` is also used by the request at m.yaml:3"
    );
    // Same CommonName and algorithm twice, no Name: the derived Names clash.
    let errs = validate(&[base(&[]), base(&[])]).unwrap_err();
    assert!(errs[0].to_string().contains("Name `www.example.com` is also used"), "{}", errs[0]);
}

#[test]
fn key_algorithm_display_and_parts() {
    for k in KeyAlgorithm::ALL {
        assert_eq!(KeyAlgorithm::from_parts(k.algorithm(), Some(&k.key_size().to_string())), Ok(k));
    }
    assert_eq!(KeyAlgorithm::Rsa4096.to_string(), "RSA-4096");
}

#[test]
fn the_settled_names_answer_for_explicit_and_derived_names_in_any_case() {
    let mut registry = NameRegistry::default();
    let requests = [
        base(&[(Field::Name, "Web-1")]),
        base(&[(Field::CommonName, "*.example.com")]),
        base(&[(Field::CommonName, "*.example.com"), (Field::Algorithm, "SM2")]),
    ];
    for r in &requests {
        registry.add(&check(r).unwrap());
    }
    let names = registry.resolve().unwrap();
    assert_eq!(names.len(), 3);
    for name in ["web-1", "WEB-1", "wildcard.example.com", "Wildcard.Example.com_SM2"] {
        assert!(names.wants(name), "{name}");
    }
    for name in ["web-2", "www.example.com", "wildcard.example.com_rsa2048", ""] {
        assert!(!names.wants(name), "{name}");
    }
    assert_eq!(names.count_where(|_| true), 3);
    assert_eq!(names.count_where(|k| k == name_key("WEB-1")), 1);
}

#[test]
fn usages_are_sets_from_lists_or_comma_strings() {
    let r = one(&[(Field::KeyUsage, "keyAgreement, digitalSignature,digitalSignature")]).unwrap();
    assert_eq!(r.params.extras.key_usage, [KeyUsage::DigitalSignature, KeyUsage::KeyAgreement].into());
    let mut listed = base(&[]);
    listed
        .fields
        .push((Field::ExtendedKeyUsage, RawValue::List(vec!["clientAuth".into(), "serverAuth".into()])));
    let a = validate(&[listed]).unwrap().remove(0);
    let b = one(&[(Field::ExtendedKeyUsage, "serverAuth,1.3.6.1.5.5.7.3.2")]).unwrap();
    assert_eq!(a.params, b.params, "the same set, whatever the order or spelling");
    let c = one(&[(Field::ChallengePassword, " pw ")]).unwrap();
    assert_eq!(c.params.extras.challenge_password.as_ref().map(ChallengePassword::as_str), Some("pw"));
    assert!(one(&[(Field::ChallengePassword, "")]).unwrap().params.extras.is_empty());
}

#[test]
fn usage_rules_name_the_field() {
    assert!(error(&[(Field::KeyUsage, "keyCertSign")], Field::KeyUsage).contains("is not a key usage"));
    let msg = error(&[(Field::KeyUsage, "digitalSignature,keyEncipherment")], Field::KeyUsage);
    assert!(
        msg.ends_with("keyEncipherment cannot be asked for with an ECC key (key transport needs an RSA key)"),
        "{msg}"
    );
    let msg = error(&[(Field::Algorithm, "SM2"), (Field::KeyUsage, "keyEncipherment")], Field::KeyUsage);
    assert!(msg.contains("with an SM2 key"), "{msg}");
    let rsa = [(Field::Algorithm, "RSA"), (Field::KeySize, "2048"), (Field::KeyUsage, "keyEncipherment")];
    assert!(one(&rsa).is_ok());
    assert!(
        error(&[(Field::ExtendedKeyUsage, "anyPurpose")], Field::ExtendedKeyUsage).contains("dotted OID")
    );
    let long = "x".repeat(256);
    assert!(error(&[(Field::ChallengePassword, &long)], Field::ChallengePassword).contains("at most 255"));
    assert!(error(&[(Field::ChallengePassword, "a\tb")], Field::ChallengePassword).contains("control"));
}

#[test]
fn key_file_is_relative_to_the_manifest_folder() {
    let mut r = base(&[(Field::KeyFile, " keys/www.pem ")]);
    r.origin.file = Arc::from(Path::new("conf/web.yaml"));
    let r = validate(&[r]).unwrap().remove(0);
    assert_eq!(r.key_file.as_deref(), Some(Path::new("conf/keys/www.pem")));
    let r = one(&[(Field::KeyFile, "/etc/k.pem")]).unwrap();
    assert_eq!(r.key_file.as_deref(), Some(Path::new("/etc/k.pem")));
    assert_eq!(one(&[]).unwrap().key_file, None);
}
