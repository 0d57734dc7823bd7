//! Fuzzes the CSV manifest loader and the validator behind it: no input may panic, and
//! every error names a line (but for the few about a whole file).
#![no_main]

use csrbatch::manifest::{Format, Problem, ReadOptions, read_bytes};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let (requests, errors) = read_bytes("f.csv", Format::Csv, data, ReadOptions::default());
    for e in &errors {
        assert!(e.origin.line > 0 || matches!(e.problem, Problem::NoRequests | Problem::Io(_)), "{e}");
    }
    let _ = csrbatch::request::validate(&requests);
});
