//! Criterion benchmarks: key generation and CSR building per algorithm, and a whole
//! `generate` of a fixed manifest (benches/bench-manifest.yaml) into a fresh folder.
//!
//! `cargo bench --bench pipeline` (add `-- keygen` etc. to filter). RSA key generation
//! time varies a lot from key to key, so its groups take more samples than criterion's
//! minimum would suggest; read medians, not means.

use std::path::Path;
use std::time::Duration;

use criterion::{BatchSize, Criterion, criterion_group, criterion_main};
use csrbatch::crypto::{self, PrivateKey};
use csrbatch::request::{CsrRequest, KeyAlgorithm};
use csrbatch::run::{generate, load_and_validate};
use csrbatch::settings::Settings;

fn requests() -> Vec<CsrRequest> {
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR")).join("benches/bench-manifest.yaml");
    let requests = load_and_validate(&[manifest], Default::default()).expect("the bench manifest is valid");
    requests.iter().collect::<Result<_, _>>().expect("the bench manifest is readable")
}

fn request_for(key: KeyAlgorithm) -> CsrRequest {
    let mut r = requests().into_iter().next().expect("one request");
    r.params.key = key;
    r
}

fn keygen(c: &mut Criterion) {
    let mut g = c.benchmark_group("keygen");
    for key in KeyAlgorithm::ALL {
        if matches!(key, KeyAlgorithm::Rsa3072 | KeyAlgorithm::Rsa4096) {
            g.sample_size(10).measurement_time(Duration::from_secs(20));
        } else {
            g.sample_size(if key == KeyAlgorithm::Rsa2048 { 30 } else { 100 });
        }
        g.bench_function(key.to_string(), |b| b.iter(|| PrivateKey::generate(key).expect("keygen")));
    }
    g.finish();
}

fn csr(c: &mut Criterion) {
    let mut g = c.benchmark_group("csr");
    for key in [KeyAlgorithm::Rsa2048, KeyAlgorithm::Ecc, KeyAlgorithm::Sm2] {
        let request = request_for(key);
        let private = PrivateKey::generate(key).expect("keygen");
        // Build, sign and self-check (parse back, verify) one CSR with an existing key.
        g.bench_function(format!("{key}/sign+check"), |b| {
            b.iter(|| crypto::sign_request(&request.params, &private).expect("csr"))
        });
        let signed = crypto::sign_request(&request.params, &private).expect("csr");
        g.bench_function(format!("{key}/check-only"), |b| {
            b.iter(|| crypto::check_pair(&signed.pem, &private, &request.params).expect("check"))
        });
    }
    g.finish();
}

fn whole_generate(c: &mut Criterion) {
    let requests = requests();
    let mut g = c.benchmark_group("generate");
    g.sample_size(10);
    g.bench_function(format!("bench-manifest ({} requests, files)", requests.len()), |b| {
        b.iter_batched(
            || tempfile::tempdir().expect("temp dir"),
            |dir| {
                let jobs = std::thread::available_parallelism().map_or(1, |n| n.get());
                let settings = Settings::plain(dir.path().join("out"), jobs);
                let all = requests.iter().cloned().map(Ok);
                generate::execute(all, requests.len(), &|_: &str| true, &settings, Vec::new())
                    .expect("generate");
                dir
            },
            BatchSize::PerIteration,
        )
    });
    g.finish();
}

/// The self-check with Botan's SM2 verifier instead of ours (ARCHITECTURE, SM2 keys): a
/// public key loaded and a verifier made per CSR, since each CSR has a key of its own.
/// Compare with `csr/SM2-256/check-only`, which also decodes the PEM and checks every name.
#[cfg(feature = "botan-sm2")]
fn botan_verify(c: &mut Criterion) {
    use botan::{Privkey, Pubkey, RandomNumberGenerator, Signer, Verifier};
    const PARAMS: &str = "1234567812345678,SM3";
    let mut rng = RandomNumberGenerator::new_system().expect("rng");
    let key = Privkey::create("SM2", "sm2p256v1", &mut rng).expect("key");
    let spki = key.pubkey().and_then(|p| p.der_encode()).expect("public key");
    let private = PrivateKey::generate(KeyAlgorithm::Sm2).expect("keygen");
    let message = crypto::sign_request(&request_for(KeyAlgorithm::Sm2).params, &private).expect("csr").pem;
    let mut signer = Signer::new_with_der_formatted_signatures(&key, PARAMS).expect("signer");
    signer.update(message.as_bytes()).expect("update");
    let signature = signer.finish(&mut rng).expect("sign");
    c.bench_function("csr/SM2-256/botan-verify", |b| {
        b.iter(|| {
            let public = Pubkey::load_der(&spki).expect("load");
            let mut verifier =
                Verifier::new_with_der_formatted_signatures(&public, PARAMS).expect("verifier");
            verifier.update(message.as_bytes()).expect("update");
            assert!(verifier.finish(&signature).expect("verify"));
        })
    });
}

#[cfg(not(feature = "botan-sm2"))]
criterion_group!(benches, keygen, csr, whole_generate);
#[cfg(feature = "botan-sm2")]
criterion_group!(benches, keygen, csr, whole_generate, botan_verify);
criterion_main!(benches);
