//! Reading PEM text (RFC 7468 framing, RFC 1421 headers) as leniently as OpenSSL does,
//! into typed blocks: a label and the DER it holds. The one PEM reader of the crate: key
//! files, `inspect` and the output folder's key check all read through [`blocks`].
//!
//! What is accepted, and why: files come from every tool there is, and the base64 inside
//! a block is what matters, not how it was laid out.
//! - Any base64 line width: 64 (OpenSSL, RFC 7468), 76 (Python's `base64.encodebytes`,
//!   Java's MIME encoder), one long line. The strict reader of the `der` crate refuses
//!   all but 64, which is why this module exists (`pem-rfc7468` is strict on purpose).
//! - CRLF (or LF) line ends, whitespace around and inside lines, blank lines in the body,
//!   a UTF-8 byte order mark at the start.
//! - Any text before, between and after the blocks (comments, `openssl x509 -text`
//!   output, `Bag Attributes` of `openssl pkcs12`): only a line that is, trimmed,
//!   `-----BEGIN <label>-----` opens a block.
//! - RFC 1421 headers (`Proc-Type: 4,ENCRYPTED`, `DEK-Info: ...`) at the top of a block,
//!   ended by a blank line (or by the first line that is not one): they are returned, not
//!   judged; whoever reads the block decides (key files refuse legacy encryption).
//!
//! What is refused, with the line: a BEGIN line whose END line never comes (before the
//! next BEGIN line or the end), an END line of another label, a character that is not
//! base64, base64 whose length or `=` padding is wrong. A broken block does not hide the
//! blocks after it: reading goes on at the next BEGIN line. Every line is looked at once,
//! so the time is linear in the text on any input (a million BEGIN lines, a gigabyte of
//! one line of garbage), and nothing in here can panic on input.

use std::fmt;

use base64ct::{Base64, Encoding};
use zeroize::Zeroizing;

/// One PEM block of a text.
pub(crate) struct Block {
    /// The label of its BEGIN line: `PRIVATE KEY`, `CERTIFICATE REQUEST`, ...
    pub(crate) label: String,
    /// The line (from 1) of its BEGIN line.
    pub(crate) line: usize,
    /// Its RFC 1421 headers as (name, value), in order; values trimmed, folded lines joined.
    pub(crate) headers: Vec<(String, String)>,
    /// The bytes its base64 encodes (DER for every label this crate reads). Wiped on drop:
    /// a block may be a private key.
    pub(crate) der: Zeroizing<Vec<u8>>,
}

impl Block {
    /// Whether it carries OpenSSL's legacy PEM encryption (`Proc-Type: 4,ENCRYPTED` with
    /// `DEK-Info`): then `der` is ciphertext, not DER.
    pub(crate) fn is_legacy_encrypted(&self) -> bool {
        self.headers.iter().any(|(name, value)| {
            name.eq_ignore_ascii_case("DEK-Info")
                || (name.eq_ignore_ascii_case("Proc-Type") && value.contains("ENCRYPTED"))
        })
    }
}

impl fmt::Debug for Block {
    // No key material: the label, where it is, its header names and how long it is.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let headers: Vec<&str> = self.headers.iter().map(|(name, _)| name.as_str()).collect();
        f.debug_struct("Block")
            .field("label", &self.label)
            .field("line", &self.line)
            .field("headers", &headers)
            .field("der_len", &self.der.len())
            .finish()
    }
}

/// Why a block could not be read. Each names the block (its label and BEGIN line) and
/// reads as the end of a sentence that names the file.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PemError {
    /// A BEGIN line with no END line before the next BEGIN line or the end of the text
    /// (a truncated or cut-and-pasted file).
    #[error("line {begin}: `-----BEGIN {label}-----` has no `-----END {label}-----` line")]
    Unterminated { begin: usize, label: String },
    /// An END line of another label than the BEGIN line of its block.
    #[error("line {line}: `-----END {end}-----` ends the `{label}` block of line {begin}")]
    EndMismatch { begin: usize, label: String, line: usize, end: String },
    /// A character that is not base64 in the body (a stray header, a pasted prompt).
    #[error("line {line}: {found:?} is not base64 (in the `{label}` block of line {begin})")]
    NotBase64 { begin: usize, label: String, line: usize, found: char },
    /// Base64 of a length or `=` padding that encodes no whole bytes (a line lost).
    #[error("line {begin}: the base64 of the `{label}` block is cut short or wrongly padded")]
    Base64 { begin: usize, label: String },
}

impl PemError {
    /// The label of the block's BEGIN line: what the block was meant to be.
    pub(crate) fn label(&self) -> &str {
        match self {
            PemError::Unterminated { label, .. }
            | PemError::EndMismatch { label, .. }
            | PemError::NotBase64 { label, .. }
            | PemError::Base64 { label, .. } => label,
        }
    }
}

/// The label of a block, read or not: a broken block still says what it was meant to be.
pub(crate) fn label(block: &Result<Block, PemError>) -> &str {
    match block {
        Ok(block) => &block.label,
        Err(e) => e.label(),
    }
}

/// The PEM blocks of `text`, in order, each read or refused; text outside them is skipped.
/// An empty iterator: no BEGIN line at all.
pub(crate) fn blocks(text: &str) -> Blocks<'_> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    Blocks { lines: text.lines().enumerate(), pending: None }
}

/// The iterator of [`blocks`].
pub(crate) struct Blocks<'a> {
    lines: std::iter::Enumerate<std::str::Lines<'a>>,
    /// A BEGIN line met inside the previous block (which it cut short): (line, label).
    pending: Option<(usize, &'a str)>,
}

impl Iterator for Blocks<'_> {
    type Item = Result<Block, PemError>;

    fn next(&mut self) -> Option<Self::Item> {
        let (begin, label) = match self.pending.take() {
            Some(pending) => pending,
            None => self.lines.by_ref().find_map(|(i, raw)| Some((i + 1, begin_label(trim(raw))?)))?,
        };
        Some(self.block(begin, label))
    }
}

/// Where in a block the reader is: headers may only come first.
#[derive(PartialEq)]
enum Part {
    Start,
    Headers,
    Body,
}

impl<'a> Blocks<'a> {
    /// Reads the block whose BEGIN line (`begin`) has been read, up to its END line.
    fn block(&mut self, begin: usize, label: &'a str) -> Result<Block, PemError> {
        let owned = || label.to_owned();
        let mut part = Part::Start;
        let mut headers: Vec<(String, String)> = Vec::new();
        // The base64 characters, then (decoded in place) the DER.
        let mut body = Zeroizing::new(Vec::new());
        let mut bad: Option<(usize, char)> = None;
        for (i, raw) in self.lines.by_ref() {
            let (n, line) = (i + 1, trim(raw));
            if let Some(next) = begin_label(line) {
                self.pending = Some((n, next));
                return Err(PemError::Unterminated { begin, label: owned() });
            }
            if let Some(end) = end_label(line) {
                if end != label {
                    let end = end.to_owned();
                    return Err(PemError::EndMismatch { begin, label: owned(), line: n, end });
                }
                if let Some((line, found)) = bad {
                    return Err(PemError::NotBase64 { begin, label: owned(), line, found });
                }
                let len = Base64::decode_in_place(&mut body)
                    .map_err(|_| PemError::Base64 { begin, label: owned() })?
                    .len();
                body.truncate(len);
                return Ok(Block { label: owned(), line: begin, headers, der: body });
            }
            // RFC 1421: headers are the first lines, `Name: value`, a folded line starts
            // with a space or tab, and a blank line ends them. ':' is never base64.
            if part != Part::Body {
                if let Some((_, value)) = headers.last_mut().filter(|_| raw.starts_with([' ', '\t'])) {
                    value.push(' ');
                    value.push_str(line);
                    continue;
                }
                if let Some((name, value)) = line.split_once(':') {
                    headers.push((name.trim().to_owned(), value.trim().to_owned()));
                    part = Part::Headers;
                    continue;
                }
                if line.is_empty() {
                    part = if part == Part::Headers { Part::Body } else { Part::Start };
                    continue;
                }
                part = Part::Body;
            }
            if bad.is_some() {
                continue;
            }
            for c in line.chars().filter(|c| !c.is_ascii_whitespace()) {
                if !(c.is_ascii_alphanumeric() || c == '+' || c == '/' || c == '=') {
                    bad = Some((n, c));
                    break;
                }
                // An ASCII character: one byte.
                body.push(c as u8);
            }
        }
        Err(PemError::Unterminated { begin, label: owned() })
    }
}

fn trim(line: &str) -> &str {
    line.trim_matches(|c: char| c.is_ascii_whitespace())
}

fn begin_label(line: &str) -> Option<&str> {
    line.strip_prefix("-----BEGIN ")?.strip_suffix("-----")
}

fn end_label(line: &str) -> Option<&str> {
    line.strip_prefix("-----END ")?.strip_suffix("-----")
}

#[cfg(test)]
#[path = "pem_tests.rs"]
mod tests;
