//! `csrbatch bench`: throughput and per-key latency, per algorithm. In memory by default
//! (key generation, CSR, self-check and PEM encoding: everything but the files); with
//! `--out`, whole `generate` runs including files and summary. The bar (stderr, unless
//! `--quiet`) redraws at most ten times a second, a cost too small to show in the figures.

use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

use rayon::prelude::*;
use serde::Serialize;

use super::generate;
use crate::cli::BenchArgs;
use crate::crypto::CryptoError;
use crate::crypto::{self, PrivateKey};
use crate::error::{Error, ExitCode};
use crate::manifest::Origin;
use crate::progress::Progress;
use crate::request::{CountryCode, CsrName, CsrRequest, DnsName, KeyAlgorithm, Params};
use crate::run::thread_pool;
use crate::settings::{Output, Settings};
use crate::words::plural;

/// One algorithm's figures.
#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct Figures {
    pub(crate) algorithm: &'static str,
    pub(crate) key_size: u32,
    pub(crate) count: usize,
    pub(crate) jobs: usize,
    pub(crate) files: bool,
    /// What generated the keys: `ring` (P-256), `sm2`, or for RSA `rsa` or `openssl`
    /// (the `openssl-rsa` build).
    pub(crate) key_backend: &'static str,
    pub(crate) wall_seconds: f64,
    pub(crate) csrs_per_second: f64,
    /// Key generation alone, per key, in milliseconds (in-memory runs only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) keygen_ms: Option<Percentiles>,
    /// The whole request (key, CSR, self-check, PEM), per request (in-memory runs only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) request_ms: Option<Percentiles>,
}

#[derive(Debug, Serialize, PartialEq)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct Percentiles {
    pub(crate) p50: f64,
    pub(crate) p90: f64,
    pub(crate) p99: f64,
    pub(crate) mean: f64,
}

impl Percentiles {
    /// Nearest-rank percentiles of `samples` (milliseconds).
    pub(crate) fn of(mut samples: Vec<f64>) -> Option<Percentiles> {
        if samples.is_empty() {
            return None;
        }
        samples.sort_by(f64::total_cmp);
        let rank = |p: f64| {
            samples[((p / 100.0 * samples.len() as f64).ceil() as usize).clamp(1, samples.len()) - 1]
        };
        let mean = samples.iter().sum::<f64>() / samples.len() as f64;
        Some(Percentiles { p50: rank(50.0), p90: rank(90.0), p99: rank(99.0), mean })
    }
}

/// Runs `csrbatch bench`: the figures of each key type asked for, as a table or (`--json`)
/// one document.
pub fn run(args: &BenchArgs) -> Result<ExitCode, Error> {
    let settings = Settings::bench(args)?;
    let (jobs, json) = (settings.jobs, settings.output == Output::Json);
    let mut all = Vec::new();
    if !json {
        let mode = if settings.bench.out.is_some() {
            "whole generate runs, files included"
        } else {
            "in memory, no files"
        };
        crate::progress::out(format_args!(
            "csrbatch bench: {}, {mode}; RSA keys by {}, SM2 by {}",
            plural(jobs, "job"),
            crate::build_info::rsa_backend(),
            crate::build_info::sm2_backend()
        ))?;
        crate::progress::out(format_args!(
            "{:<9} {:>7} {:>8} {:>10}   {:>26}   {:>26}",
            "", "count", "wall s", "CSRs/s", "keygen ms p50/p90/p99", "request ms p50/p90/p99"
        ))?;
    }
    for &key in &settings.bench.keys {
        let count = settings.bench.count.unwrap_or_else(|| default_count(key));
        let quiet = settings.quiet;
        let figures = match &settings.bench.out {
            Some(out) => with_files(key, count, jobs, &out.join(key.tag()), quiet)?,
            None => in_memory(key, count, jobs, quiet)?,
        };
        if !json {
            let show = |p: &Option<Percentiles>| {
                p.as_ref().map_or("-".to_owned(), |p| format!("{:.2} / {:.2} / {:.2}", p.p50, p.p90, p.p99))
            };
            crate::progress::out(format_args!(
                "{:<9} {:>7} {:>8.2} {:>10.1}   {:>26}   {:>26}",
                key.to_string(),
                figures.count,
                figures.wall_seconds,
                figures.csrs_per_second,
                show(&figures.keygen_ms),
                show(&figures.request_ms)
            ))?;
        }
        all.push(figures);
    }
    if json {
        let text = serde_json::to_string_pretty(&all)
            .map_err(|e| Error::Render { what: "the JSON report", detail: e.to_string() })?;
        crate::progress::out(format_args!("{text}"))?;
    }
    Ok(ExitCode::Success)
}

/// Enough keys for stable medians without taking minutes (RSA key generation time varies a
/// lot from key to key).
fn default_count(key: KeyAlgorithm) -> usize {
    match key {
        KeyAlgorithm::Rsa2048 => 100,
        KeyAlgorithm::Rsa3072 => 30,
        KeyAlgorithm::Rsa4096 => 12,
        KeyAlgorithm::Ecc | KeyAlgorithm::Sm2 => 4000,
    }
}

fn in_memory(key: KeyAlgorithm, count: usize, jobs: usize, quiet: bool) -> Result<Figures, Error> {
    let pool = thread_pool(jobs)?;
    let requests: Vec<CsrRequest> = (0..count).map(|i| synthetic(key, i)).collect::<Result<_, _>>()?;
    let progress = Progress::new(count as u64, quiet);
    let started = Instant::now();
    let samples: Vec<Result<(f64, f64), CryptoError>> = pool.install(|| {
        requests
            .par_iter()
            .map(|r| {
                let t0 = Instant::now();
                let private = PrivateKey::generate(r.params.key)?;
                let keygen = t0.elapsed().as_secs_f64() * 1e3;
                let csr = crypto::sign_request(&r.params, &private)?;
                let pem = private.to_pkcs8_pem()?;
                std::hint::black_box((csr, pem));
                let request = t0.elapsed().as_secs_f64() * 1e3;
                progress.advance(1);
                Ok((keygen, request))
            })
            .collect()
    });
    let wall = started.elapsed().as_secs_f64();
    progress.clear();
    let samples: Vec<(f64, f64)> = samples.into_iter().collect::<Result<_, _>>()?;
    Ok(Figures {
        algorithm: key.algorithm(),
        key_size: key.key_size(),
        count,
        jobs,
        files: false,
        key_backend: crypto::key_backend(key),
        wall_seconds: wall,
        csrs_per_second: count as f64 / wall,
        keygen_ms: Percentiles::of(samples.iter().map(|s| s.0).collect()),
        request_ms: Percentiles::of(samples.iter().map(|s| s.1).collect()),
    })
}

fn with_files(
    key: KeyAlgorithm,
    count: usize,
    jobs: usize,
    out: &Path,
    quiet: bool,
) -> Result<Figures, Error> {
    let requests: Vec<CsrRequest> = (0..count).map(|i| synthetic(key, i)).collect::<Result<_, _>>()?;
    let options = Settings { quiet, ..Settings::plain(out.to_path_buf(), jobs) };
    let started = Instant::now();
    let total = requests.len();
    let code = generate::execute(requests.into_iter().map(Ok), total, &|_: &str| true, &options)?;
    let wall = started.elapsed().as_secs_f64();
    if code != ExitCode::Success {
        return Err(Error::BenchFailed { out: out.to_path_buf() });
    }
    Ok(Figures {
        algorithm: key.algorithm(),
        key_size: key.key_size(),
        count,
        jobs,
        files: true,
        key_backend: crypto::key_backend(key),
        wall_seconds: wall,
        csrs_per_second: count as f64 / wall,
        keygen_ms: None,
        request_ms: None,
    })
}

/// A valid request `bench-<i>.example.com` for the benchmark.
fn synthetic(key: KeyAlgorithm, i: usize) -> Result<CsrRequest, Error> {
    let invalid = |e: crate::manifest::Problem| Error::Usage(e.to_string());
    let common_name = DnsName::parse(&format!("bench-{i}.example.com")).map_err(invalid)?;
    let params = Params {
        key,
        sans: vec![crate::request::San::Dns(common_name.clone())],
        common_name,
        country: CountryCode::parse("CN").map_err(invalid)?,
        province: "Zhejiang".into(),
        locality: "Hangzhou".into(),
        corp_name: Some("csrbatch bench".into()),
        department: None,
        extras: Default::default(),
    };
    let name = CsrName::parse(&format!("bench-{i}")).map_err(invalid)?;
    let origin = Origin { file: Arc::from(Path::new("bench")), line: i + 1 };
    Ok(CsrRequest { name, params, origin, key_file: None })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_rank_percentiles() {
        let p = Percentiles::of((1..=100).map(f64::from).collect()).unwrap();
        assert_eq!((p.p50, p.p90, p.p99, p.mean), (50.0, 90.0, 99.0, 50.5));
        let one = Percentiles::of(vec![7.0]).unwrap();
        assert_eq!((one.p50, one.p99), (7.0, 7.0));
        assert!(Percentiles::of(Vec::new()).is_none());
    }
}
