//! Integration tests: the real csrbatch binary on real manifests, judged by the real openssl.
#![allow(clippy::unwrap_used)] // tests may panic on a broken fixture

mod bench;
mod extras;
mod generate;
mod inspect;
mod keyfile;
mod keys;
mod rerun;
mod shards;
mod util;
mod validation;
