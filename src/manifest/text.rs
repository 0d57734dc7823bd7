//! Manifest bytes to UTF-8 text, read in chunks (a file is never held whole): UTF-8 checked
//! as it goes, or decoded from a legacy encoding (`--encoding gb18030`) with encoding_rs.
//! A bad byte is reported on its own line. The reader also knows on which physical line
//! each byte it delivered lies, which is how CSV records get their line right whatever the
//! line endings (LF, CRLF, CR) and however many line breaks a quoted cell holds.

use std::collections::VecDeque;
use std::fmt;
use std::io::{self, Read};
use std::str::FromStr;

use super::Problem;

/// A text encoding by its WHATWG label (`gb18030`, `gbk`, `big5`, `shift_jis`,
/// `windows-1252`, `utf-8`, ...), as `--encoding` takes it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(try_from = "String", into = "String")]
pub(crate) struct TextEncoding(&'static encoding_rs::Encoding);

impl From<TextEncoding> for String {
    fn from(e: TextEncoding) -> String {
        e.name().to_owned()
    }
}

impl TryFrom<String> for TextEncoding {
    type Error = String;

    fn try_from(label: String) -> Result<Self, String> {
        label.parse()
    }
}

impl TextEncoding {
    pub(crate) fn name(self) -> &'static str {
        self.0.name()
    }
}

impl FromStr for TextEncoding {
    type Err = String;

    fn from_str(label: &str) -> Result<Self, String> {
        encoding_rs::Encoding::for_label(label.trim().as_bytes()).map(TextEncoding).ok_or_else(|| {
            format!(
                "unknown encoding `{label}`; use a label such as gb18030, gbk, big5, shift_jis, euc-kr, windows-1252, utf-8"
            )
        })
    }
}

impl fmt::Display for TextEncoding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// How manifests are read: the options every loader takes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ReadOptions {
    /// `None`: UTF-8 (a byte-order mark is skipped); otherwise decode from this encoding.
    pub(crate) encoding: Option<TextEncoding>,
}

/// A fault of the bytes, with the physical line (1-based) of the first bad byte.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct TextFault {
    pub(crate) line: usize,
    pub(crate) problem: Problem,
}

impl fmt::Display for TextFault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "line {}: {}", self.line, self.problem)
    }
}

impl std::error::Error for TextFault {}

const CHUNK: usize = 64 * 1024;

/// UTF-8 text from `R`, chunk by chunk.
pub(crate) struct TextReader<R> {
    inner: R,
    decoder: Option<(encoding_rs::Decoder, &'static str)>,
    /// Raw bytes read but not yet turned into text (an incomplete character at the end).
    raw: Vec<u8>,
    raw_eof: bool,
    /// Text ready to hand out, and how much of it has been.
    text: String,
    taken: usize,
    /// Offsets (in the text delivered) and lengths (1, or 2 for CRLF) of the line breaks
    /// not yet asked about.
    breaks: Option<VecDeque<(u64, u64)>>,
    /// Where the last line break asked about ends.
    after_break: u64,
    lines_before: usize,
    /// Line breaks in everything turned into text so far, and the text's length.
    lines: usize,
    delivered: u64,
    /// The text delivered so far ends with a CR (a CRLF may be split between chunks).
    cr_before: bool,
    started: bool,
    fault: Option<TextFault>,
}

impl<R: Read> TextReader<R> {
    /// `track_lines`: remember line breaks so that [`TextReader::line_at`] works.
    pub(crate) fn new(inner: R, options: ReadOptions, track_lines: bool) -> TextReader<R> {
        TextReader {
            inner,
            decoder: options.encoding.map(|e| (e.0.new_decoder(), e.0.name())),
            raw: Vec::with_capacity(CHUNK),
            raw_eof: false,
            text: String::new(),
            taken: 0,
            breaks: track_lines.then(VecDeque::new),
            after_break: 0,
            lines_before: 0,
            lines: 0,
            delivered: 0,
            cr_before: false,
            started: false,
            fault: None,
        }
    }

    /// The physical line (1-based) of the first text at or after `offset` that is not a
    /// line break: the csv crate gives a record's start as the end of the record before
    /// it (on the LF of a CRLF, before any blank lines). Offsets must be asked in
    /// increasing order (line breaks before one are forgotten).
    pub(crate) fn line_at(&mut self, offset: u64) -> usize {
        let Some(breaks) = self.breaks.as_mut() else { return 0 };
        while let Some(&(at, len)) = breaks.front().filter(|(at, _)| *at < offset) {
            breaks.pop_front();
            self.lines_before += 1;
            self.after_break = at + len;
        }
        let mut at = offset.max(self.after_break);
        while let Some(&(_, len)) = breaks.front().filter(|(b, _)| *b == at) {
            breaks.pop_front();
            self.lines_before += 1;
            at += len;
            self.after_break = at;
        }
        self.lines_before + 1
    }

    /// The next chunk of text, `None` at the end. After a fault, always the fault.
    pub(crate) fn chunk(&mut self) -> Result<Option<&str>, TextFault> {
        if self.taken >= self.text.len() {
            self.text.clear();
            self.taken = 0;
            self.refill()?;
        }
        let rest = &self.text[self.taken..];
        self.taken = self.text.len();
        Ok((!rest.is_empty()).then_some(rest))
    }

    fn refill(&mut self) -> Result<(), TextFault> {
        if let Some(f) = &self.fault {
            return Err(f.clone());
        }
        while self.text.is_empty() && !(self.raw_eof && self.raw.is_empty()) {
            let had = self.raw.len();
            if !self.raw_eof {
                self.raw.resize(had + CHUNK, 0);
                let n = loop {
                    match self.inner.read(&mut self.raw[had..]) {
                        Ok(n) => break n,
                        Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                        Err(e) => {
                            self.raw.truncate(had);
                            return Err(self.fail(Problem::Io(e.to_string())));
                        }
                    }
                };
                self.raw.truncate(had + n);
                self.raw_eof = n == 0;
            }
            if self.decoder.is_some() { self.decode()? } else { self.validate()? }
        }
        if !self.started && self.decoder.is_none() {
            // A UTF-8 byte-order mark (as Excel writes one) is not content.
            if let Some(rest) = self.text.strip_prefix('\u{feff}') {
                self.text = rest.to_owned();
            }
        }
        self.started = true;
        self.count_breaks();
        Ok(())
    }

    /// UTF-8 input: the valid prefix becomes text; an incomplete character waits for more.
    fn validate(&mut self) -> Result<(), TextFault> {
        let (valid, bad) = match std::str::from_utf8(&self.raw) {
            Ok(_) => (self.raw.len(), false),
            Err(e) => (e.valid_up_to(), e.error_len().is_some() || self.raw_eof),
        };
        // The valid prefix is UTF-8 by the check above.
        self.text.push_str(std::str::from_utf8(&self.raw[..valid]).unwrap_or_default());
        self.raw.drain(..valid);
        if bad {
            let line = self.lines + 1 + breaks_in(self.text.as_bytes());
            return self.defer(line, Problem::NotUtf8);
        }
        Ok(())
    }

    /// Legacy input through encoding_rs; a malformed sequence is an error, never U+FFFD.
    fn decode(&mut self) -> Result<(), TextFault> {
        let Some((decoder, name)) = self.decoder.as_mut() else { return Ok(()) };
        let name = *name;
        let room = decoder.max_utf8_buffer_length_without_replacement(self.raw.len()).unwrap_or(4 * CHUNK);
        self.text.reserve(room.max(16));
        let (result, read) =
            decoder.decode_to_string_without_replacement(&self.raw, &mut self.text, self.raw_eof);
        self.raw.drain(..read);
        if let encoding_rs::DecoderResult::Malformed(..) = result {
            let line = self.lines + 1 + breaks_in(self.text.as_bytes());
            return self.defer(line, Problem::BadEncoding(name));
        }
        if self.raw_eof && matches!(result, encoding_rs::DecoderResult::InputEmpty) {
            self.raw.clear();
        }
        Ok(())
    }

    fn count_breaks(&mut self) {
        let bytes = self.text.as_bytes();
        let base = self.delivered;
        let mut count = 0;
        // A CRLF counts once, at its CR (even when a chunk ends between the two).
        for (i, &c) in bytes.iter().enumerate() {
            let at = base + i as u64;
            let len = match c {
                b'\n' if i == 0 && self.cr_before => {
                    if let Some((_, len)) = self.breaks.as_mut().and_then(|b| b.back_mut()) {
                        *len = 2;
                    }
                    continue;
                }
                b'\n' if i > 0 && bytes[i - 1] == b'\r' => continue,
                b'\n' => 1,
                b'\r' => 1 + u64::from(bytes.get(i + 1) == Some(&b'\n')),
                _ => continue,
            };
            count += 1;
            if let Some(b) = self.breaks.as_mut() {
                b.push_back((at, len));
            }
        }
        self.lines += count;
        self.delivered += bytes.len() as u64;
        self.cr_before = bytes.last() == Some(&b'\r');
    }

    /// The text before a bad byte is still handed out; the fault comes after it.
    fn defer(&mut self, line: usize, problem: Problem) -> Result<(), TextFault> {
        let fault = self.fault_at(line, problem);
        self.raw.clear();
        self.raw_eof = true;
        if self.text.is_empty() { Err(fault) } else { Ok(()) }
    }

    fn fail(&mut self, problem: Problem) -> TextFault {
        let line = self.lines + 1;
        self.fault_at(line, problem)
    }

    fn fault_at(&mut self, line: usize, problem: Problem) -> TextFault {
        let fault = TextFault { line, problem };
        self.fault = Some(fault.clone());
        fault
    }
}

/// Line breaks (LF, CRLF, lone CR) in `bytes`.
fn breaks_in(bytes: &[u8]) -> usize {
    bytes
        .iter()
        .enumerate()
        .filter(|(i, c)| **c == b'\n' || (**c == b'\r' && bytes.get(i + 1) != Some(&b'\n')))
        .count()
}

/// As `Read`, for the csv crate: a fault comes out as an `io::Error` wrapping [`TextFault`].
impl<R: Read> Read for TextReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.taken >= self.text.len() {
            self.text.clear();
            self.taken = 0;
            self.refill().map_err(|f| io::Error::new(io::ErrorKind::InvalidData, f))?;
        }
        let rest = &self.text.as_bytes()[self.taken..];
        let n = rest.len().min(buf.len());
        buf[..n].copy_from_slice(&rest[..n]);
        self.taken += n;
        Ok(n)
    }
}

impl<R: Read> TextReader<R> {
    /// The first line of the text (without consuming it), at most 64 KiB of it.
    pub(crate) fn first_line(&mut self) -> Result<&str, TextFault> {
        if self.text.is_empty() {
            self.refill()?;
        }
        let text = &self.text[self.taken..];
        let end = text.find(['\n', '\r']).unwrap_or(text.len());
        Ok(&text[..end])
    }
}

/// The characters of a [`TextReader`], for the YAML parser (which takes a `char`
/// iterator). A fault ends the characters; the reader keeps it for [`Chars::fault`].
pub(crate) struct Chars<R> {
    reader: TextReader<R>,
    chunk: String,
    pos: usize,
    fault: Option<TextFault>,
}

impl<R: Read> Chars<R> {
    pub(crate) fn new(reader: TextReader<R>) -> Chars<R> {
        Chars { reader, chunk: String::new(), pos: 0, fault: None }
    }

    pub(crate) fn fault(&self) -> Option<&TextFault> {
        self.fault.as_ref()
    }
}

impl<R: Read> Iterator for Chars<R> {
    type Item = char;

    #[inline]
    fn next(&mut self) -> Option<char> {
        // ASCII without decoding; `pos` is always at a character boundary.
        if let Some(&b) = self.chunk.as_bytes().get(self.pos)
            && b.is_ascii()
        {
            self.pos += 1;
            return Some(char::from(b));
        }
        if let Some(c) = self.chunk.get(self.pos..).and_then(|rest| rest.chars().next()) {
            self.pos += c.len_utf8();
            return Some(c);
        }
        if self.fault.is_some() {
            return None;
        }
        match self.reader.chunk() {
            Ok(Some(text)) => {
                self.chunk.clear();
                self.chunk.push_str(text);
                self.pos = 0;
                self.next()
            }
            Ok(None) => None,
            Err(f) => {
                self.fault = Some(f);
                None
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn all(bytes: &[u8], options: ReadOptions) -> Result<String, TextFault> {
        let mut r = TextReader::new(bytes, options, false);
        let mut out = String::new();
        while let Some(t) = r.chunk()? {
            out.push_str(t);
        }
        Ok(out)
    }

    #[test]
    fn utf8_with_bom_and_a_bad_byte_on_its_line() {
        assert_eq!(all("\u{feff}a\nb".as_bytes(), ReadOptions::default()).unwrap(), "a\nb");
        let f = all(b"a\r\nb\r\nc\xffd\n", ReadOptions::default()).unwrap_err();
        assert_eq!((f.line, f.problem), (3, Problem::NotUtf8));
        let f = all(b"a\n\xe4\xb8", ReadOptions::default()).unwrap_err();
        assert_eq!(f.line, 2, "a cut-off character at the end");
    }

    #[test]
    fn a_character_split_between_reads_is_whole() {
        let mut text = "x".repeat(CHUNK - 1).into_bytes();
        text.extend("中文\n".as_bytes());
        assert!(all(&text, ReadOptions::default()).unwrap().ends_with("中文\n"));
    }

    #[test]
    fn gb18030_decodes() {
        let (bytes, _, _) = encoding_rs::GB18030.encode("省份\n浙江\n");
        let gb = ReadOptions { encoding: Some("gb18030".parse().unwrap()) };
        assert_eq!(all(&bytes, gb).unwrap(), "省份\n浙江\n");
        let f = all(&bytes, ReadOptions::default()).unwrap_err();
        assert_eq!(f.line, 1);
        let sjis = ReadOptions { encoding: Some("shift_jis".parse().unwrap()) };
        let f = all(b"ok\n\x82\n", sjis).unwrap_err();
        assert_eq!((f.line, f.problem), (2, Problem::BadEncoding("Shift_JIS")));
        assert!("klingon".parse::<TextEncoding>().is_err());
    }

    #[test]
    fn line_of_an_offset() {
        let mut r = TextReader::new(&b"a\r\nbb\rc\nd"[..], ReadOptions::default(), true);
        let mut sink = Vec::new();
        r.read_to_end(&mut sink).unwrap();
        assert_eq!([r.line_at(0), r.line_at(2), r.line_at(6), r.line_at(8)], [1, 2, 3, 4]);
    }

    #[test]
    fn chars_end_at_a_fault() {
        let mut c = Chars::new(TextReader::new(&b"ab\n\xff"[..], ReadOptions::default(), false));
        assert_eq!(c.by_ref().collect::<String>(), "ab\n");
        assert_eq!(c.fault().map(|f| f.line), Some(2));
    }
}
