//! Integration tests: the real csrbatch binary on real manifests, judged by the real openssl.
#![allow(clippy::unwrap_used)] // tests may panic on a broken fixture

mod bench;
mod ca;
mod docs;
mod dual;
mod exit_codes;
mod extras;
mod folder;
mod generate;
mod import;
mod import2;
mod import3;
mod inspect;
mod json;
mod judges;
mod keyfile;
mod keys;
mod merge_certs;
mod nginx;
mod rerun;
mod shards;
#[cfg(target_os = "linux")] // util-linux `script` makes the pseudo-terminal
mod terminal;
mod util;
mod validation;
