//! `csrbatch bench`: the figures it prints are measurements of real work.

use crate::util::*;

#[test]
fn bench_json_reports_every_selected_algorithm() {
    let run = csrbatch(["bench", "--algorithm", "SM2", "--count", "50", "--jobs", "1", "--json"]);
    assert!(run.status.success(), "{}", stderr(&run));
    let figures: serde_json::Value = serde_json::from_slice(&run.stdout).unwrap();
    let f = &figures[0];
    assert_eq!(
        (f["Algorithm"].as_str(), f["KeySize"].as_u64(), f["Count"].as_u64()),
        (Some("SM2"), Some(256), Some(50))
    );
    assert!(f["CsrsPerSecond"].as_f64().unwrap() > 0.0);
    let p = &f["RequestMs"];
    let (p50, p90, p99) =
        (p["P50"].as_f64().unwrap(), p["P90"].as_f64().unwrap(), p["P99"].as_f64().unwrap());
    assert!(0.0 < p50 && p50 <= p90 && p90 <= p99, "{p}");
    assert!(f["KeygenMs"]["P50"].as_f64().unwrap() <= p50);

    let run = csrbatch(["bench", "--algorithm", "RSA", "--count", "1", "--json"]);
    let figures: serde_json::Value = serde_json::from_slice(&run.stdout).unwrap();
    let sizes: Vec<u64> =
        figures.as_array().unwrap().iter().map(|f| f["KeySize"].as_u64().unwrap()).collect();
    assert_eq!(sizes, [2048, 3072, 4096], "--algorithm RSA alone measures every size");
}

#[test]
fn rsa_backend_is_the_one_this_build_was_made_with() {
    let run = csrbatch(["bench", "--algorithm", "RSA", "--key-size", "2048", "--count", "2", "--json"]);
    assert!(run.status.success(), "{}", stderr(&run));
    let figures: serde_json::Value = serde_json::from_slice(&run.stdout).unwrap();
    let want = if cfg!(feature = "openssl-rsa") { "openssl" } else { "rsa" };
    assert_eq!(figures[0]["KeyBackend"], want);
    // The table's heading and --version name the library and its release.
    let library = if cfg!(feature = "openssl-rsa") { "OpenSSL 3." } else { "rsa crate 0." };
    let run = csrbatch(["bench", "--algorithm", "ECC", "--count", "2", "--jobs", "1"]);
    let text = String::from_utf8_lossy(&run.stdout).into_owned();
    assert!(text.starts_with("csrbatch bench: 1 job, in memory"), "{text}");
    let sm2 = if cfg!(feature = "botan-sm2") { "Botan 3." } else { "sm2 crate 0." };
    assert!(text.contains(&format!("RSA keys by {library}")), "{text}");
    assert!(text.contains(&format!(", SM2 by {sm2}")), "{text}");
    let version = String::from_utf8_lossy(&csrbatch(["--version"]).stdout).into_owned();
    let want_version = format!("csrbatch {}\nRSA keys: {library}", env!("CARGO_PKG_VERSION"));
    assert!(version.starts_with(&want_version), "{version}");

    // SM2's backend is the one this build was made with, in --json too.
    let run = csrbatch(["bench", "--algorithm", "SM2", "--count", "4", "--json"]);
    assert!(run.status.success(), "{}", stderr(&run));
    let figures: serde_json::Value = serde_json::from_slice(&run.stdout).unwrap();
    assert_eq!(figures[0]["KeyBackend"], if cfg!(feature = "botan-sm2") { "botan" } else { "sm2" });
}

#[test]
fn bench_with_out_makes_real_files() {
    let dir = Dir::new();
    let out = dir.path("b");
    let run = csrbatch([
        "bench".as_ref(),
        "--algorithm".as_ref(),
        "ECC".as_ref(),
        "--count".as_ref(),
        "20".as_ref(),
        "--out".as_ref(),
        out.as_os_str(),
    ]);
    assert!(run.status.success(), "{}", stderr(&run));
    assert!(String::from_utf8_lossy(&run.stdout).contains("ECC-256"));
    let s = read_summary(&out.join("ecc"));
    assert_eq!(s.succeeded, 20);
    assert!(openssl_verifies(&out.join("ecc/bench-7.csr.pem"), false).0);
    let again = csrbatch([
        "bench".as_ref(),
        "--algorithm".as_ref(),
        "ECC".as_ref(),
        "--out".as_ref(),
        out.as_os_str(),
    ]);
    assert_eq!(again.status.code(), Some(2), "a used folder would measure nothing");
    assert_eq!(csrbatch(["bench", "--key-size", "2048"]).status.code(), Some(2));
    assert_eq!(csrbatch(["bench", "--algorithm", "DSA"]).status.code(), Some(2));
}
