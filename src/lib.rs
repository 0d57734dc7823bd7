//! csrbatch: PKCS#10 certificate signing requests in bulk, as Alibaba Cloud's `CreateCsr`
//! makes them one at a time: RSA (2048/3072/4096), ECC (P-256) and SM2 (SM2-with-SM3).
//!
//! The pipeline, one module per stage:
//! [`manifest`] (load) -> [`request`] (validate) -> `decide` -> [`crypto`]
//! (generate) -> [`output`] (the folder: write, summary) with [`progress`] for the
//! terminal; [`run`] ties the stages together, [`cmd`] holds the commands.
//! `words` puts counts into words and `build_info` says what this binary was built with.
#![forbid(unsafe_code)]
#![warn(missing_docs, unreachable_pub)]

mod build_info;
mod cert;
pub mod cli;
pub mod cmd;
pub mod crypto;
mod decide;
pub mod error;
mod inspect;
mod interrupt;
mod keyfile;
pub mod manifest;
pub mod output;
mod parallel;
pub mod progress;
pub mod request;
pub mod run;
mod secret;
pub mod settings;
mod shard;
mod words;
