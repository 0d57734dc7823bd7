//! BER to DER, as far as reading certificates needs it: the PKCS#7 files Windows
//! (`certutil`, the MMC export) and EJBCA write use indefinite lengths and constructed
//! OCTET STRINGs, which a DER reader refuses.
//!
//! What it does: every indefinite length becomes a definite, minimal one; every long-form
//! length that could be shorter is written minimally; a constructed string of a universal
//! string type (OCTET STRING, BIT STRING, the character strings) becomes one primitive
//! string, its segments concatenated. What it does not: sort SETs or re-encode BOOLEANs
//! (nothing it is used for needs it). DER in is the same bytes out, so certificates inside
//! a PKCS#7 keep their exact encoding (and so their signature and fingerprint).
//!
//! Bounded: nesting deeper than [`MAX_DEPTH`] is refused; every input byte is read once
//! and copied at most once per level, so the time is linear in the input; a length is
//! checked against what is left before anything is allocated for it; nothing panics.

/// How deep constructed values may nest. A PKCS#7 with certificates in it is about 12.
pub(crate) const MAX_DEPTH: usize = 64;

/// Why bytes are not BER this reader takes.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub(crate) enum BerError {
    /// The input ends inside a value.
    #[error("BER cut short at byte {at}")]
    Truncated {
        /// Where the value that is cut short starts.
        at: usize,
    },
    /// Constructed values nested deeper than [`MAX_DEPTH`].
    #[error("BER nested deeper than {MAX_DEPTH} levels at byte {at}")]
    TooDeep {
        /// Where the value too deep starts.
        at: usize,
    },
    /// A length this reader refuses: indefinite on a primitive value, the reserved 0xFF,
    /// more than 8 length bytes, or a value that overruns its container.
    #[error("BER length not allowed at byte {at}")]
    Length {
        /// Where the value starts.
        at: usize,
    },
    /// A tag number of more than 4 bytes.
    #[error("BER tag too long at byte {at}")]
    Tag {
        /// Where the value starts.
        at: usize,
    },
    /// A constructed string with a segment that is not a string of the same type, or a
    /// BIT STRING whose unused-bits bytes are wrong.
    #[error("a constructed string with a bad segment at byte {at}")]
    Segment {
        /// Where the constructed string starts.
        at: usize,
    },
    /// An end-of-contents marker outside an indefinite length.
    #[error("BER end-of-contents outside an indefinite length at byte {at}")]
    StrayEnd {
        /// Where the marker is.
        at: usize,
    },
    /// Bytes after the value (other than NUL or whitespace padding).
    #[error("{extra} bytes after the end of the BER value")]
    Trailing {
        /// How many.
        extra: usize,
    },
}

/// The DER of the one BER value in `input` (trailing NUL or whitespace padding allowed).
pub(crate) fn to_der(input: &[u8]) -> Result<Vec<u8>, BerError> {
    let mut parser = Parser { input, pos: 0 };
    let mut out = Vec::with_capacity(input.len());
    parser.element(0, &mut out)?;
    let rest = &input[parser.pos..];
    if rest.iter().any(|b| *b != 0 && !b.is_ascii_whitespace()) {
        return Err(BerError::Trailing { extra: rest.len() });
    }
    Ok(out)
}

/// A value's identifier and length octets.
struct Head {
    /// Where the value starts.
    start: usize,
    /// The identifier octets, as written.
    tag: std::ops::Range<usize>,
    /// Universal class.
    universal: bool,
    constructed: bool,
    number: u32,
    /// `None`: indefinite.
    len: Option<usize>,
}

struct Parser<'a> {
    input: &'a [u8],
    pos: usize,
}

impl Parser<'_> {
    fn byte(&mut self, start: usize) -> Result<u8, BerError> {
        let b = *self.input.get(self.pos).ok_or(BerError::Truncated { at: start })?;
        self.pos += 1;
        Ok(b)
    }

    fn head(&mut self) -> Result<Head, BerError> {
        let start = self.pos;
        let first = self.byte(start)?;
        let constructed = first & 0x20 != 0;
        let universal = first >> 6 == 0;
        let mut number = u32::from(first & 0x1f);
        if number == 0x1f {
            number = 0;
            for i in 0.. {
                if i == 4 {
                    return Err(BerError::Tag { at: start });
                }
                let b = self.byte(start)?;
                number = (number << 7) | u32::from(b & 0x7f);
                if b & 0x80 == 0 {
                    break;
                }
            }
        }
        let tag = start..self.pos;
        let first_len = self.byte(start)?;
        let len = match first_len {
            0x80 if constructed => None,
            0x80 | 0xff => return Err(BerError::Length { at: start }),
            short if short < 0x80 => Some(usize::from(short)),
            long => {
                let count = usize::from(long & 0x7f);
                if count > 8 {
                    return Err(BerError::Length { at: start });
                }
                let mut value: u64 = 0;
                for _ in 0..count {
                    value = (value << 8) | u64::from(self.byte(start)?);
                }
                Some(usize::try_from(value).map_err(|_| BerError::Length { at: start })?)
            }
        };
        if let Some(len) = len
            && len > self.input.len() - self.pos
        {
            return Err(BerError::Truncated { at: start });
        }
        Ok(Head { start, tag, universal, constructed, number, len })
    }

    fn at_end_of_contents(&self) -> bool {
        self.input.get(self.pos..self.pos + 2) == Some(&[0, 0])
    }

    /// Reads one value and appends its DER to `out`.
    fn element(&mut self, depth: usize, out: &mut Vec<u8>) -> Result<(), BerError> {
        if depth > MAX_DEPTH {
            return Err(BerError::TooDeep { at: self.pos });
        }
        if self.at_end_of_contents() {
            return Err(BerError::StrayEnd { at: self.pos });
        }
        let head = self.head()?;
        if !head.constructed {
            // A definite length is set for every primitive value (head refuses 0x80).
            let len = head.len.unwrap_or(0);
            out.extend_from_slice(&self.input[head.tag.clone()]);
            push_len(out, len);
            out.extend_from_slice(&self.input[self.pos..self.pos + len]);
            self.pos += len;
            return Ok(());
        }
        let mut content = Vec::new();
        match head.len {
            Some(len) => {
                let end = self.pos + len;
                while self.pos < end {
                    self.element(depth + 1, &mut content)?;
                }
                if self.pos != end {
                    return Err(BerError::Length { at: head.start });
                }
            }
            None => loop {
                if self.at_end_of_contents() {
                    self.pos += 2;
                    break;
                }
                if self.pos >= self.input.len() {
                    return Err(BerError::Truncated { at: head.start });
                }
                self.element(depth + 1, &mut content)?;
            },
        }
        if head.universal && is_string(head.number) {
            // The number is below 31 (is_string): a one-byte primitive tag.
            let tag = u8::try_from(head.number).map_err(|_| BerError::Segment { at: head.start })?;
            let flat = flatten(tag, &content).ok_or(BerError::Segment { at: head.start })?;
            out.push(tag);
            push_len(out, flat.len());
            out.extend_from_slice(&flat);
        } else {
            out.extend_from_slice(&self.input[head.tag.clone()]);
            push_len(out, content.len());
            out.extend_from_slice(&content);
        }
        Ok(())
    }
}

/// The universal types that BER may write as constructed strings (X.690 8.21).
fn is_string(number: u32) -> bool {
    matches!(number, 3 | 4 | 7 | 12 | 18..=28 | 30)
}

/// The content of one primitive string from the DER segments of a constructed one (each
/// already made primitive of the same `tag`). BIT STRING: only the last segment may have
/// unused bits.
fn flatten(tag: u8, mut segments: &[u8]) -> Option<Vec<u8>> {
    let mut flat = Vec::with_capacity(segments.len());
    let bits = tag == 3;
    if bits {
        flat.push(0);
    }
    let mut last_unused = 0;
    while !segments.is_empty() {
        if segments[0] != tag || last_unused != 0 {
            return None;
        }
        let (len, header) = read_len(segments.get(1..)?)?;
        let body = segments.get(1 + header..1 + header + len)?;
        if bits {
            let (&unused, data) = body.split_first()?;
            if unused > 7 || (data.is_empty() && unused != 0) {
                return None;
            }
            last_unused = unused;
            flat.extend_from_slice(data);
        } else {
            flat.extend_from_slice(body);
        }
        segments = &segments[1 + header + len..];
    }
    if bits {
        flat[0] = last_unused;
    }
    Some(flat)
}

/// A DER length (as [`push_len`] writes it) and how many bytes it took.
fn read_len(bytes: &[u8]) -> Option<(usize, usize)> {
    let first = *bytes.first()?;
    if first < 0x80 {
        return Some((usize::from(first), 1));
    }
    let count = usize::from(first & 0x7f);
    let mut len = 0usize;
    for b in bytes.get(1..1 + count)? {
        len = len.checked_mul(256)? | usize::from(*b);
    }
    Some((len, 1 + count))
}

/// Appends a minimal DER length.
fn push_len(out: &mut Vec<u8>, len: usize) {
    if len < 0x80 {
        // Below 0x80: one byte.
        out.push(len as u8);
        return;
    }
    let bytes = len.to_be_bytes();
    let skip = bytes.iter().take_while(|b| **b == 0).count();
    // At most 8 bytes: the count fits in the low 7 bits.
    out.push(0x80 | (bytes.len() - skip) as u8);
    out.extend_from_slice(&bytes[skip..]);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn der_is_unchanged_and_indefinite_lengths_become_definite() {
        let der = [0x30, 0x06, 0x02, 0x01, 0x05, 0x04, 0x01, 0xaa];
        assert_eq!(to_der(&der).unwrap(), der);
        let ber = [0x30, 0x80, 0x02, 0x01, 0x05, 0x04, 0x01, 0xaa, 0x00, 0x00];
        assert_eq!(to_der(&ber).unwrap(), der);
        // A non-minimal long-form length is made minimal.
        let long = [0x30, 0x82, 0x00, 0x06, 0x02, 0x01, 0x05, 0x04, 0x01, 0xaa];
        assert_eq!(to_der(&long).unwrap(), der);
        // A constructed OCTET STRING, indefinite, inside [0] indefinite.
        let ber = [0xa0, 0x80, 0x24, 0x80, 0x04, 0x01, 0x01, 0x04, 0x02, 0x02, 0x03, 0x00, 0x00, 0x00, 0x00];
        assert_eq!(to_der(&ber).unwrap(), [0xa0, 0x05, 0x04, 0x03, 0x01, 0x02, 0x03]);
        // A constructed BIT STRING: the unused bits of the last segment.
        let ber = [0x23, 0x08, 0x03, 0x02, 0x00, 0xff, 0x03, 0x02, 0x04, 0xf0];
        assert_eq!(to_der(&ber).unwrap(), [0x03, 0x03, 0x04, 0xff, 0xf0]);
        // Padding after the value is allowed; other bytes are not.
        assert_eq!(to_der(&[0x05, 0x00, 0x00, b'\n']).unwrap(), [0x05, 0x00]);
        assert_eq!(to_der(&[0x05, 0x00, 0x01]), Err(BerError::Trailing { extra: 1 }));
        // A length above 127 is written in long form.
        let mut big = vec![0x04, 0x81, 200];
        big.extend([7u8; 200]);
        assert_eq!(to_der(&big).unwrap(), big);
    }

    #[test]
    fn refusals_name_what_is_wrong() {
        assert_eq!(to_der(&[]), Err(BerError::Truncated { at: 0 }));
        assert_eq!(to_der(&[0x30, 0x80, 0x05, 0x00]), Err(BerError::Truncated { at: 0 }));
        assert_eq!(to_der(&[0x04, 0x80, 0x00, 0x00]), Err(BerError::Length { at: 0 }));
        assert_eq!(to_der(&[0x04, 0x05, 0x00]), Err(BerError::Truncated { at: 0 }));
        assert_eq!(to_der(&[0x00, 0x00]), Err(BerError::StrayEnd { at: 0 }));
        // A child that overruns its parent.
        assert_eq!(to_der(&[0x30, 0x01, 0x04, 0x01, 0x00]), Err(BerError::Length { at: 0 }));
        // Segments of another type, and a BIT STRING segment with unused bits before the last.
        assert_eq!(to_der(&[0x24, 0x03, 0x02, 0x01, 0x00]), Err(BerError::Segment { at: 0 }));
        let bad = [0x23, 0x08, 0x03, 0x02, 0x01, 0xfe, 0x03, 0x02, 0x00, 0xf0];
        assert_eq!(to_der(&bad), Err(BerError::Segment { at: 0 }));
        // Too deep: a million open indefinite SEQUENCEs are refused at once, not recursed.
        let deep: Vec<u8> = std::iter::repeat_n([0x30u8, 0x80], 1_000_000).flatten().collect();
        assert!(matches!(to_der(&deep), Err(BerError::TooDeep { .. })));
        let nested: Vec<u8> = std::iter::repeat_n([0x30u8, 0x80], MAX_DEPTH)
            .flatten()
            .chain(std::iter::repeat_n(0u8, 2 * MAX_DEPTH))
            .collect();
        assert!(to_der(&nested).is_ok());
    }

    #[test]
    fn garbage_never_panics() {
        let mut state = 0x2545_f491_4f6c_dd1du64;
        for len in 0..2000 {
            let bytes: Vec<u8> = (0..len % 300)
                .map(|_| {
                    state ^= state << 13;
                    state ^= state >> 7;
                    state ^= state << 17;
                    // Mostly structure bytes, to get past the first header.
                    [0x30, 0x80, 0x00, 0x04, 0x24, 0x03, 0x23, 0x81, (state >> 8) as u8][(state % 9) as usize]
                })
                .collect();
            let _ = to_der(&bytes);
        }
    }
}
