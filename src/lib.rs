//! csrbatch: PKCS#10 certificate signing requests in bulk, as Alibaba Cloud's `CreateCsr`
//! makes them one at a time: RSA (2048/3072/4096), ECC (P-256) and SM2 (SM2-with-SM3).
//!
//! The pipeline, one module per stage:
//! [`manifest`] (load) -> [`request`] (validate) -> [`crypto`] (generate) -> [`output`]
//! (write, summary) with [`progress`] for the terminal; [`cmd`] holds the commands that tie them together.
#![forbid(unsafe_code)]

pub mod cli;
pub mod cmd;
pub mod crypto;
pub mod error;
pub mod inspect;
pub mod keyfile;
pub mod manifest;
pub mod output;
pub mod parallel;
pub mod plan;
pub mod progress;
pub mod request;
pub mod shard;
