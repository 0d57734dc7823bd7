//! `--json` on validate, plan and generate: stdout is one JSON document (parsed whole by
//! serde_json, so nothing else is there), with each request and each error, on good and
//! bad manifests, on a re-run, a damaged pair, an interrupted run; exit codes unchanged.

use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::util::*;

const GOOD: &str = "defaults: {CountryCode: CN, Province: Zhejiang, Locality: Hangzhou}\n\
                    requests:\n  \
                    - {Algorithm: ECC, CommonName: www.example.com}\n  \
                    - {Name: api, Algorithm: RSA, KeySize: 2048, CommonName: api.example.com}\n";

/// Two bad fields, each on its request's only line (so the line is the field's line).
const BAD_YAML: &str = "defaults: {CountryCode: CN, Province: Zhejiang, Locality: Hangzhou}\n\
                        requests:\n  \
                        - {Name: fine, Algorithm: ECC, CommonName: fine.example.com}\n  \
                        - {Name: weak, Algorithm: RSA, KeySize: 1024, CommonName: weak.example.com}\n";
const BAD_CSV: &str = "Name,Algorithm,CommonName,CountryCode,Province,Locality\n\
                       ok,ECC,ok.example.com,CN,Zhejiang,Hangzhou\n\
                       nowhere,SM2,nowhere.example.com,XX,Zhejiang,Hangzhou\n";

/// Runs csrbatch; stdout must be exactly one JSON document.
fn run_json(args: &[&std::ffi::OsStr]) -> (Output, Value) {
    let mut all: Vec<&std::ffi::OsStr> = args.to_vec();
    all.push("--json".as_ref());
    let output = csrbatch(all);
    let doc = serde_json::from_slice(&output.stdout).unwrap_or_else(|e| {
        panic!("stdout is not one JSON document: {e}\n{}", String::from_utf8_lossy(&output.stdout))
    });
    (output, doc)
}

fn cmd(command: &str, m: &Path, out: Option<&Path>) -> (Output, Value) {
    let mut args: Vec<&std::ffi::OsStr> = vec![command.as_ref(), m.as_os_str()];
    if let Some(out) = out {
        args.extend(["--out".as_ref(), out.as_os_str(), "-q".as_ref()]);
        if command == "plan" {
            args.pop(); // plan has no bar to quieten
        }
    }
    run_json(&args)
}

fn names(doc: &Value) -> Vec<&str> {
    doc["Requests"].as_array().unwrap().iter().map(|r| r["Name"].as_str().unwrap()).collect()
}

fn file_of(m: &Path) -> String {
    m.display().to_string()
}

#[test]
fn validate_lists_every_request_with_its_place() {
    let dir = Dir::new();
    let m = dir.write("web.yaml", GOOD);
    let (output, doc) = cmd("validate", &m, None);
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    assert_eq!(
        (&doc["Version"], &doc["Command"], &doc["ExitCode"]),
        (&json!(1), &json!("validate"), &json!(0))
    );
    assert_eq!(doc["Total"], 2);
    assert_eq!(
        doc["Requests"],
        json!([
            {"Name": "www.example.com", "File": file_of(&m), "Line": 3},
            {"Name": "api", "File": file_of(&m), "Line": 4},
        ])
    );
    assert_eq!(doc["Errors"], json!([]));
}

/// The manifest errors of `command` on the bad manifests: exit 2, each error with the
/// place of its bad field, the human messages on stderr, nothing in the output folder.
fn assert_bad_manifests_reported(command: &str) {
    let dir = Dir::new();
    let yaml = dir.write("m/bad.yaml", BAD_YAML);
    let csv = dir.write("m/bad.csv", BAD_CSV);
    let out = dir.path("out");
    let (output, doc) = cmd(command, &dir.path("m"), (command != "validate").then_some(out.as_path()));
    assert_eq!(output.status.code(), Some(2), "{command}: {}", stderr(&output));
    assert_eq!((&doc["Command"], &doc["ExitCode"], &doc["Total"]), (&json!(command), &json!(2), &json!(0)));
    assert_eq!(doc["Requests"], json!([]), "{command}: no request is reported when nothing is done");
    let errors = doc["Errors"].as_array().unwrap();
    assert_eq!(errors.len(), 2, "{command}: {errors:?}");
    // Folders are walked in sorted order: bad.csv before bad.yaml.
    let (country, key_size) = (&errors[0], &errors[1]);
    assert_eq!(
        (&country["File"], &country["Line"], &country["Request"], &country["Field"]),
        (&json!(file_of(&csv)), &json!(3), &json!("nowhere"), &json!("CountryCode")),
        "{command}: {country}"
    );
    assert!(country["Message"].as_str().unwrap().contains("`XX` is not an ISO 3166-1"), "{country}");
    assert_eq!(
        (&key_size["File"], &key_size["Line"], &key_size["Request"], &key_size["Field"]),
        (&json!(file_of(&yaml)), &json!(4), &json!("weak"), &json!("KeySize")),
        "{command}: {key_size}"
    );
    let message = key_size["Message"].as_str().unwrap();
    assert!(message.starts_with("1024 is not allowed for RSA"), "the place is not repeated: {message}");
    // People still get the errors, on stderr.
    let err = stderr(&output);
    assert!(err.contains(&format!("{}:4: request \"weak\": KeySize: 1024", yaml.display())), "{err}");
    assert!(!out.exists(), "{command}: nothing is written");
}

#[test]
fn validate_reports_manifest_errors_with_file_line_request_and_field() {
    assert_bad_manifests_reported("validate");
}

#[test]
fn plan_reports_manifest_errors_with_file_line_request_and_field() {
    assert_bad_manifests_reported("plan");
}

#[test]
fn generate_reports_manifest_errors_with_file_line_request_and_field() {
    assert_bad_manifests_reported("generate");
}

#[test]
fn plan_then_generate_then_a_rerun_report_each_state_and_csr_id() {
    let dir = Dir::new();
    let m = dir.write("web.yaml", GOOD);
    let out = dir.path("out");

    let (output, plan) = cmd("plan", &m, Some(&out));
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    assert_eq!((&plan["Command"], &plan["Total"]), (&json!("plan"), &json!(2)));
    assert_eq!(plan["Counts"]["new"], 2);
    assert_eq!(plan["Counts"]["unchanged"], 0);
    assert_eq!(
        plan["Requests"][0],
        json!({"Name": "www.example.com", "File": file_of(&m), "Line": 3, "State": "new"})
    );
    assert_eq!((&plan["Orphans"], &plan["Errors"]), (&json!([]), &json!([])));
    assert!(!out.exists(), "plan writes nothing");

    let (output, first) = cmd("generate", &m, Some(&out));
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    assert!(stderr(&output).starts_with("generated 2 CSRs"), "the closing line stays on stderr");
    assert_eq!(
        (&first["Command"], &first["ExitCode"], &first["Total"]),
        (&json!("generate"), &json!(0), &json!(2))
    );
    assert_eq!(first["Counts"]["new"], 2);
    assert_eq!((&first["Succeeded"], &first["Failed"]), (&json!(2), &json!(0)));
    assert_eq!(first["Made"], json!([{"Key": "RSA-2048", "Count": 1}, {"Key": "ECC-256", "Count": 1}]));
    let summary = read_summary(&out);
    for (r, e) in first["Requests"].as_array().unwrap().iter().zip(&summary.csrs) {
        assert_eq!((r["Name"].as_str(), r["State"].as_str()), (Some(e.name.as_str()), Some("new")));
        assert_eq!(r["CsrId"].as_u64(), e.csr_id, "{r}");
        assert_eq!(format!("{}:{}", r["File"].as_str().unwrap(), r["Line"]), e.manifest);
    }
    assert_eq!(names(&first), ["www.example.com", "api"]);

    for command in ["generate", "plan"] {
        let (output, again) = cmd(command, &m, Some(&out));
        assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
        assert_eq!(again["Counts"]["unchanged"], 2, "{command}");
        assert_eq!(again["Counts"]["new"], 0, "{command}");
        for (r, before) in
            again["Requests"].as_array().unwrap().iter().zip(first["Requests"].as_array().unwrap())
        {
            assert_eq!(r["State"], "unchanged", "{command}: {r}");
            assert_eq!(r["CsrId"], before["CsrId"], "{command}: the CsrId is kept");
        }
    }

    // --check --json: the plan, in a document of `generate`, and exit 1 when out of date.
    dir.write("web.yaml", &GOOD.replace("api.example.com", "api2.example.com"));
    let (output, check) = run_json(&[
        "generate".as_ref(),
        m.as_os_str(),
        "--out".as_ref(),
        out.as_os_str(),
        "--check".as_ref(),
    ]);
    assert_eq!(output.status.code(), Some(1), "{}", stderr(&output));
    assert_eq!((&check["Command"], &check["ExitCode"]), (&json!("generate"), &json!(1)));
    assert_eq!(check["Requests"][1]["State"], "resubject", "{check}");
    assert_eq!(check["Counts"]["resubject"], 1);
}

#[test]
fn orphans_are_named_by_plan_and_counted_by_generate() {
    let dir = Dir::new();
    let m = dir.write("web.yaml", GOOD);
    let out = dir.path("out");
    assert_eq!(cmd("generate", &m, Some(&out)).0.status.code(), Some(0));
    let only_www = GOOD.lines().take(3).collect::<Vec<_>>().join("\n") + "\n";
    dir.write("web.yaml", &only_www);
    let (output, plan) = cmd("plan", &m, Some(&out));
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    assert_eq!(
        (&plan["Orphans"], &plan["Counts"]["orphaned"], &plan["Total"]),
        (&json!(["api"]), &json!(1), &json!(1))
    );
    let (output, run) = cmd("generate", &m, Some(&out));
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    assert_eq!((&run["Counts"]["orphaned"], &run["Counts"]["unchanged"]), (&json!(1), &json!(1)));
    assert_eq!(names(&run), ["www.example.com"]);
}

#[test]
fn a_damaged_pair_is_a_request_outcome_and_an_error() {
    let dir = Dir::new();
    let m = dir.write("web.yaml", GOOD);
    let out = dir.path("out");
    assert_eq!(cmd("generate", &m, Some(&out)).0.status.code(), Some(0));
    std::fs::remove_file(out.join("api.key.pem")).unwrap();
    let (output, doc) = cmd("generate", &m, Some(&out));
    assert_eq!(output.status.code(), Some(1), "{}", stderr(&output));
    assert_eq!(
        (&doc["ExitCode"], &doc["Counts"]["damaged"], &doc["Counts"]["unchanged"]),
        (&json!(1), &json!(1), &json!(1))
    );
    assert_eq!((&doc["Succeeded"], &doc["Failed"]), (&json!(1), &json!(1)));
    assert_eq!(read_summary(&out).failed, 1, "counted as summary.json counts");
    let api = &doc["Requests"][1];
    assert_eq!((&api["Name"], &api["State"]), (&json!("api"), &json!("damaged")));
    assert!(api["Error"].as_str().unwrap().contains("api.key.pem is missing"), "{api}");
    let errors = doc["Errors"].as_array().unwrap();
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert_eq!(
        (&errors[0]["File"], &errors[0]["Line"], &errors[0]["Request"], &errors[0]["Field"]),
        (&json!(file_of(&m)), &json!(4), &json!("api"), &Value::Null)
    );
    assert_eq!(errors[0]["Message"], api["Error"]);
}

#[test]
fn an_error_about_a_whole_file_has_no_line_request_or_field() {
    let dir = Dir::new();
    let empty = dir.write("empty.yaml", "");
    let (output, doc) = cmd("validate", &empty, None);
    assert_eq!(output.status.code(), Some(2), "{}", stderr(&output));
    let error = &doc["Errors"][0];
    assert_eq!(
        (&error["File"], &error["Line"], &error["Request"], &error["Field"]),
        (&json!(file_of(&empty)), &Value::Null, &Value::Null, &Value::Null),
        "{error}"
    );
    assert!(error["Message"].as_str().unwrap().contains("no request"), "{error}");
}

#[test]
fn an_error_outside_the_manifests_has_a_message_and_no_place() {
    let dir = Dir::new();
    let m = dir.write("web.yaml", GOOD);
    let file = dir.write("a-file", "not a folder");
    for command in ["plan", "generate"] {
        let (output, doc) = cmd(command, &m, Some(&file));
        assert_eq!(output.status.code(), Some(2), "{}", stderr(&output));
        let message = format!("--out {}: is a file, not a folder", file.display());
        assert_eq!(
            doc["Errors"],
            json!([{"File": null, "Line": null, "Request": null, "Field": null, "Message": message}]),
            "{command}"
        );
        assert!(stderr(&output).contains(&message), "{command}: stderr keeps the message");
    }
}

#[test]
fn an_interrupted_generate_still_prints_what_landed() {
    const COUNT: usize = 3000;
    let dir = Dir::new();
    let (m, out) = (many(&dir, COUNT), dir.path("out"));
    let child = Command::new(env!("CARGO_BIN_EXE_csrbatch"))
        .args(["generate".as_ref(), m.as_os_str(), "--out".as_ref(), out.as_os_str()])
        .args(["-q", "--jobs", "1", "--json"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let pairs = || std::fs::read_dir(&out).map_or(0, |d| d.count());
    let start = Instant::now();
    while pairs() < 40 && start.elapsed() < Duration::from_secs(60) {
        std::thread::sleep(Duration::from_millis(2));
    }
    assert!(Command::new("kill").args(["-INT", &child.id().to_string()]).status().unwrap().success());
    let output = child.wait_with_output().unwrap();
    assert_eq!(output.status.code(), Some(130), "{}", stderr(&output));
    let doc: Value = serde_json::from_slice(&output.stdout).expect("one JSON document");
    assert_eq!((&doc["ExitCode"], &doc["Total"]), (&json!(130), &json!(COUNT)));
    let landed = doc["Requests"].as_array().unwrap();
    assert!(!landed.is_empty() && landed.len() < COUNT, "{} of {COUNT} landed", landed.len());
    assert_eq!(doc["Counts"]["new"], landed.len());
    assert_eq!((&doc["Succeeded"], &doc["Failed"]), (&json!(landed.len()), &json!(0)));
    for r in landed {
        let name = r["Name"].as_str().unwrap();
        assert!(
            out.join(format!("{name}.csr.pem")).is_file() && out.join(format!("{name}.key.pem")).is_file(),
            "{r}"
        );
        assert!(r["CsrId"].is_u64(), "{r}");
    }
    let message = doc["Errors"][0]["Message"].as_str().unwrap();
    assert_eq!(
        message,
        format!("interrupted: {} of {COUNT} done; run the same command again to finish", landed.len())
    );
}
