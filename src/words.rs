//! Words in messages: a count and its noun in the right number (`1 CSR`, `2 CSRs`).
//! Every user-facing message that counts something goes through [`plural`].

use std::fmt;

/// A count with its noun, singular for exactly one and plural otherwise (`0 CSRs`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Counted<'a> {
    pub(crate) count: u64,
    pub(crate) noun: &'a str,
}

/// `plural(1, "CSR")` shows `1 CSR`, `plural(2, "CSR")` `2 CSRs`, `plural(3, "entry")`
/// `3 entries`. The noun is given in the singular.
pub(crate) fn plural<'a>(count: impl TryInto<u64>, noun: &'a str) -> Counted<'a> {
    Counted { count: count.try_into().unwrap_or(u64::MAX), noun }
}

impl fmt::Display for Counted<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.count == 1 {
            return write!(f, "1 {}", self.noun);
        }
        let (drop, ending) = suffix(self.noun);
        write!(f, "{} {}{ending}", self.count, &self.noun[..self.noun.len() - drop])
    }
}

/// How the singular turns plural: `(letters dropped, ending added)`, the English rules
/// for the nouns messages use: entry -> entries, pass -> passes, CSR -> CSRs, key -> keys.
fn suffix(noun: &str) -> (usize, &'static str) {
    let lower = noun.to_ascii_lowercase();
    let bytes = lower.as_bytes();
    let consonant_y =
        bytes.len() >= 2 && bytes[bytes.len() - 1] == b'y' && !b"aeiou".contains(&bytes[bytes.len() - 2]);
    // An all-capitals acronym (CSR, PEM) only ever takes `s`.
    let acronym = noun.len() > 1 && noun.bytes().all(|b| b.is_ascii_uppercase() || b.is_ascii_digit());
    if acronym {
        (0, "s")
    } else if consonant_y {
        (1, "ies")
    } else if ["s", "x", "z", "ch", "sh"].iter().any(|end| lower.ends_with(end)) {
        (0, "es")
    } else {
        (0, "s")
    }
}

#[cfg(test)]
mod tests {
    use super::plural;

    #[test]
    fn one_is_singular_everything_else_plural() {
        assert_eq!(plural(1usize, "CSR").to_string(), "1 CSR");
        assert_eq!(plural(2usize, "CSR").to_string(), "2 CSRs");
        assert_eq!(plural(0u32, "request").to_string(), "0 requests");
        assert_eq!(plural(1u64, "request").to_string(), "1 request");
        assert_eq!(plural(4usize, "job").to_string(), "4 jobs");
        assert_eq!(plural(1usize, "job").to_string(), "1 job");
    }

    #[test]
    fn english_endings() {
        assert_eq!(plural(3usize, "entry").to_string(), "3 entries");
        assert_eq!(plural(3usize, "key").to_string(), "3 keys", "a vowel before y keeps it");
        assert_eq!(plural(2usize, "pass").to_string(), "2 passes");
        assert_eq!(plural(2usize, "batch").to_string(), "2 batches");
        assert_eq!(plural(2usize, "shard").to_string(), "2 shards");
        assert_eq!(plural(2usize, "error").to_string(), "2 errors");
        assert_eq!(plural(5usize, "PEM").to_string(), "5 PEMs");
        assert_eq!(plural(1usize, "entry").to_string(), "1 entry");
    }
}
