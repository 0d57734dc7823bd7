//! The error of making or reading back one request's key or CSR.

/// Failure to make one request's key or CSR. Foreign error types are rendered to text
/// so that they stay out of this crate's API.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CryptoError {
    #[error("key generation failed: {0}")]
    KeyGen(String),
    #[error("encoding failed: {0}")]
    Encode(String),
    #[error("signing failed: {0}")]
    Sign(String),
    /// The CSR did not pass our own check before it would have been written.
    #[error("self-check of the CSR failed: {0}")]
    SelfCheck(String),
    /// A stored key or CSR could not be read back.
    #[error("cannot read {what}: {detail}")]
    Parse { what: &'static str, detail: String },
}
