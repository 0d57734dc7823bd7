//! The commands, one file each: each turns its command line into calls of the library
//! ([`crate::run`] for the stages) and prints what they return. `main.rs` only parses
//! arguments and prints errors.

pub mod bench;
pub mod completions;
pub(crate) mod export;
pub mod generate;
pub mod import;
pub mod inspect;
pub(crate) mod json;
pub mod man;
pub mod merge;
pub mod plan;
pub mod schema;
pub mod validate;
