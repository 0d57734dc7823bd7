//! Certificates the CA sends back, with no file I/O (bytes in, typed values out): read
//! from every form CAs deliver ([`read`]: PEM, DER, PKCS#7 DER or BER, zip), what a
//! certificate says ([`Certificate`]), which asked-for names it lacks ([`missing_names`]),
//! its validity and its chain ([`ChainBuilder`]), and PKCS#12 bundles ([`build_p12`]).
//!
//! Signatures are verified by `crypto` (the one verifier of CSRs and certificates), PEM
//! is read by `crypto::pem`, OIDs come from `crypto::oid`.

mod ber;
mod chain;
mod names;
mod p12;
mod parsed;
mod read;

pub(crate) use chain::{Chain, ChainBuilder, ChainError, Pool, Validity, validity};
pub(crate) use names::missing_names;
pub(crate) use p12::build_p12;
pub(crate) use parsed::{Certificate, days_left, directory_string, general_name, key_usage_names, rfc3339};
pub(crate) use read::{Found, Item, KeyItem, ReadError, find_certificates, read_certificates};

#[cfg(test)]
mod tests;
