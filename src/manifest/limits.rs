//! The limits that keep a hostile manifest from stalling the tool or exhausting memory.
//! Each is far above what a real manifest needs; each refusal names `file:line`.

/// Collections inside collections (a manifest needs 4: top, `requests`, request, `Sans`).
pub(crate) const MAX_DEPTH: usize = 32;
/// Keys in one mapping (a request has at most a dozen fields).
pub(crate) const MAX_KEYS: usize = 64;
/// Bytes in one scalar (no field takes more than 253 characters).
pub(crate) const MAX_SCALAR: usize = 64 * 1024;
/// Nodes in one request (or `defaults:`), aliases expanded: bounds a `Sans` list too.
pub(crate) const MAX_NODES: usize = 10_000;
/// Nodes that aliases may bring in over a whole file: this many, plus
/// [`ALIAS_RATIO`] times the nodes actually written (so `<<: *base` in every request is
/// fine, and a billion laughs is not).
pub(crate) const ALIAS_BASE: usize = 100_000;
pub(crate) const ALIAS_RATIO: usize = 16;
/// Nodes kept for anchors over a whole file.
pub(crate) const MAX_ANCHORED: usize = 1_000_000;
/// Characters the YAML parser may read ahead of the last event: bounds the memory of a
/// scalar before it can be measured, and of a document written as one flow collection.
pub(crate) const MAX_LOOKAHEAD: usize = 8 * 1024 * 1024;
