//! Validity periods and chains: from a leaf up through its issuers, every link's
//! signature verified, every issuer a CA within its validity, up to a self-signed root or
//! a root of the bundle the user trusts.
//!
//! Built for many leaves under few issuers (10,000 certificates of one intermediate): the
//! issuers are indexed by subject, and a link between two CA certificates (intermediate
//! to root) is verified once and remembered by the pair of fingerprints, so each leaf
//! costs its own signature only. [`ChainBuilder`] is `Sync`: leaves may be verified from
//! many threads at once.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use time::OffsetDateTime;

use super::Certificate;
use crate::crypto::SignatureCheck;

/// The longest chain followed (leaf included), against loops and absurd inputs.
pub(crate) const MAX_CHAIN: usize = 10;

/// Where a moment falls in a certificate's validity period.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Validity {
    /// Before notBefore.
    NotYetValid,
    /// From notBefore to notAfter, both included (RFC 5280 4.1.2.5).
    Valid,
    /// After notAfter.
    Expired,
}

impl Validity {
    /// `not yet valid`, `valid`, `expired`: the words of the refusals.
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Validity::NotYetValid => "not yet valid",
            Validity::Valid => "valid",
            Validity::Expired => "expired",
        }
    }
}

/// Where `now` falls in `cert`'s validity period.
pub(crate) fn validity(cert: &Certificate, now: OffsetDateTime) -> Validity {
    if now < cert.not_before() {
        Validity::NotYetValid
    } else if now > cert.not_after() {
        Validity::Expired
    } else {
        Validity::Valid
    }
}

/// Candidate issuers, indexed by the DER of their subject name; each certificate once.
#[derive(Debug, Default, Clone)]
pub(crate) struct Pool {
    by_subject: HashMap<Vec<u8>, Vec<Arc<Certificate>>>,
    len: usize,
}

impl Pool {
    /// A pool of these certificates (duplicates kept once).
    pub(crate) fn new(certs: impl IntoIterator<Item = Certificate>) -> Pool {
        let mut pool = Pool::default();
        for cert in certs {
            pool.insert(cert);
        }
        pool
    }

    /// Adds a certificate, unless it is already in.
    pub(crate) fn insert(&mut self, cert: Certificate) {
        let same = self.by_subject.entry(cert.subject_der().to_vec()).or_default();
        if !same.iter().any(|c| c.sha256_fingerprint() == cert.sha256_fingerprint()) {
            same.push(Arc::new(cert));
            self.len += 1;
        }
    }

    /// Whether it holds this very certificate.
    pub(crate) fn contains(&self, cert: &Certificate) -> bool {
        self.issuers_named(cert.subject_der())
            .iter()
            .any(|c| c.sha256_fingerprint() == cert.sha256_fingerprint())
    }

    /// The certificates whose subject is `name` (DER).
    fn issuers_named(&self, name: &[u8]) -> &[Arc<Certificate>] {
        self.by_subject.get(name).map_or(&[], Vec::as_slice)
    }
}

/// A chain that holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Chain {
    /// From the leaf's issuer toward the root; never a self-signed root (a bundle root
    /// that is not self-signed, a cross-signed intermediate the user trusts, stays in).
    pub(crate) intermediates: Vec<Certificate>,
    /// Whether it reached a root of the bundle.
    pub(crate) anchored: bool,
}

/// Why a chain does not hold. Each reads as the end of `chain broken: ...`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub(crate) enum ChainError {
    /// No certificate of the inputs or the bundle is named as the issuer.
    #[error("the issuer {issuer} was not found (give the intermediate certificates with the leaf)")]
    IssuerNotFound {
        /// The issuer name that was looked for.
        issuer: String,
    },
    /// The issuers named were found, and none of their keys verifies the signature.
    #[error("the signature of {subject} does not verify under its issuer's key")]
    BadSignature {
        /// The subject of the certificate whose signature fails.
        subject: String,
    },
    /// The issuer is not a CA (basicConstraints cA is not true).
    #[error("the issuer {subject} is not a CA certificate (no basicConstraints CA:TRUE)")]
    NotCa {
        /// The issuer's subject.
        subject: String,
    },
    /// The issuer is expired or not yet valid.
    #[error("the issuer {subject} is {}", validity.as_str())]
    IssuerNotValid {
        /// The issuer's subject.
        subject: String,
        /// Where now falls in its validity.
        validity: Validity,
    },
    /// With a bundle: an issuer that is neither given nor in the bundle.
    #[error(
        "not issued under --ca-bundle: the issuer {issuer} of {of} is neither among the certificates \
         given nor in the bundle (give the intermediate certificates with the leaf)"
    )]
    IssuerNotInBundle {
        /// The issuer name that was looked for.
        issuer: String,
        /// The certificate whose issuer it is.
        of: String,
    },
    /// With a bundle: the chain ends at a root that is not one of its roots.
    #[error("not issued under --ca-bundle: the chain ends at {root}, which is not in the bundle")]
    NotUnderBundle {
        /// The subject of the last certificate of the chain.
        root: String,
    },
    /// More than [`MAX_CHAIN`] certificates (or a loop).
    #[error("longer than {MAX_CHAIN} certificates")]
    TooLong,
}

/// Builds and verifies chains against one set of inputs and an optional bundle, at one
/// moment.
#[derive(Debug)]
pub(crate) struct ChainBuilder {
    inputs: Pool,
    bundle: Option<Pool>,
    now: OffsetDateTime,
    /// (child, issuer) fingerprints of CA-to-CA links already checked, and the outcome;
    /// (root, root) for a self-signature.
    links: RwLock<HashMap<Link, bool>>,
}

/// A link between two certificates: (child, issuer) SHA-256 fingerprints.
type Link = ([u8; 32], [u8; 32]);

impl ChainBuilder {
    /// Issuers are looked for among `inputs` and `bundle`; with a bundle, every chain must
    /// end at one of its certificates. Issuers must be valid at `now`.
    pub(crate) fn new(inputs: Pool, bundle: Option<Pool>, now: OffsetDateTime) -> ChainBuilder {
        ChainBuilder { inputs, bundle, now, links: RwLock::new(HashMap::new()) }
    }

    /// The chain of `leaf`. The leaf's own validity is not judged here ([`validity`]).
    pub(crate) fn build(&self, leaf: &Certificate) -> Result<Chain, ChainError> {
        let in_bundle = |c: &Certificate| self.bundle.as_ref().is_some_and(|b| b.contains(c));
        if in_bundle(leaf) {
            return Ok(Chain { intermediates: Vec::new(), anchored: true });
        }
        if leaf.is_self_issued() && self.signed_by(leaf, leaf) {
            return self.end(Vec::new(), leaf);
        }
        let mut intermediates: Vec<Certificate> = Vec::new();
        let mut current = leaf.clone();
        for _ in 1..MAX_CHAIN {
            let issuer = match self.issuer_of(&current) {
                Ok(issuer) => issuer,
                // Without a bundle a chain may stop at an intermediate whose issuer (the
                // root, which servers do not send) is not given: the leaf's own signature
                // was verified, and `anchored` says it reached no root.
                Err(ChainError::IssuerNotFound { .. })
                    if self.bundle.is_none() && !intermediates.is_empty() =>
                {
                    return Ok(Chain { intermediates, anchored: false });
                }
                Err(ChainError::IssuerNotFound { issuer }) if self.bundle.is_some() => {
                    return Err(ChainError::IssuerNotInBundle { issuer, of: current.subject_text() });
                }
                Err(e) => return Err(e),
            };
            if self.bundle.as_ref().is_some_and(|b| b.contains(&issuer)) {
                if !(issuer.is_self_issued() && self.signed_by(&issuer, &issuer)) {
                    intermediates.push(issuer);
                }
                return Ok(Chain { intermediates, anchored: true });
            }
            if issuer.is_self_issued() && self.signed_by(&issuer, &issuer) {
                return self.end(intermediates, &issuer);
            }
            intermediates.push(issuer.clone());
            current = issuer;
        }
        Err(ChainError::TooLong)
    }

    /// The chain ends at the self-signed `root` (not in the bundle).
    fn end(&self, intermediates: Vec<Certificate>, root: &Certificate) -> Result<Chain, ChainError> {
        match self.bundle {
            Some(_) => Err(ChainError::NotUnderBundle { root: root.subject_text() }),
            None => Ok(Chain { intermediates, anchored: false }),
        }
    }

    /// The issuer of `cert` that signed it, is a CA and is valid now: from the bundle
    /// first, then the inputs. When none does, the most telling reason.
    fn issuer_of(&self, cert: &Certificate) -> Result<Certificate, ChainError> {
        let bundle = self.bundle.as_ref().map_or(&[][..], |b| b.issuers_named(cert.issuer_der()));
        let inputs = self.inputs.issuers_named(cert.issuer_der());
        let mut refusal: Option<ChainError> = None;
        for candidate in bundle.iter().chain(inputs) {
            // A certificate is not its own issuer here (self-signed ones end the chain).
            if candidate.sha256_fingerprint() == cert.sha256_fingerprint() {
                continue;
            }
            if !self.signed_by(cert, candidate) {
                refusal.get_or_insert(ChainError::BadSignature { subject: cert.subject_text() });
                continue;
            }
            if !candidate.is_ca() {
                refusal = Some(ChainError::NotCa { subject: candidate.subject_text() });
                continue;
            }
            let validity = validity(candidate, self.now);
            if validity != Validity::Valid {
                refusal = Some(ChainError::IssuerNotValid { subject: candidate.subject_text(), validity });
                continue;
            }
            return Ok((**candidate).clone());
        }
        Err(refusal.unwrap_or_else(|| ChainError::IssuerNotFound { issuer: cert.issuer_text() }))
    }

    /// Whether `issuer`'s key verifies `cert`'s signature; remembered when `cert` is a CA
    /// (its link is shared by every leaf under it).
    fn signed_by(&self, cert: &Certificate, issuer: &Certificate) -> bool {
        let verify = || cert.check_signed_by(issuer.spki_der()) == SignatureCheck::Valid;
        if !cert.is_ca() {
            return verify();
        }
        let key = (cert.sha256_fingerprint(), issuer.sha256_fingerprint());
        if let Some(known) = self.links.read().ok().and_then(|l| l.get(&key).copied()) {
            return known;
        }
        let valid = verify();
        if let Ok(mut links) = self.links.write() {
            links.insert(key, valid);
        }
        valid
    }

    /// How many links are remembered (for tests: each CA link is verified once).
    #[cfg(test)]
    pub(crate) fn remembered_links(&self) -> usize {
        self.links.read().map_or(0, |l| l.len())
    }
}
