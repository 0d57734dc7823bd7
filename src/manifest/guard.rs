//! A guard on the characters fed to the YAML parser.
//!
//! saphyr's scanner (like libyaml's) reads ahead until it knows whether a flow collection
//! is a mapping key, and for every token it walks its stack of possible keys, one per open
//! flow level. saphyr caps that stack at 255 levels ("recursion limit exceeded"), so it is
//! linear, but 255 levels make every later token cost 255 steps, and the read-ahead holds
//! whatever it has read (a 100 MB scalar, a whole JSON-style document) before the parser
//! says anything. The parser's events are checked for depth (see `yaml.rs`), but the
//! read-ahead happens before any event. So this guard follows the characters with a small
//! lexer (quotes, comments, flow indicators) and refuses, in linear time, when the flow
//! collections opened since the last event go deeper than [`MAX_DEPTH`], or when more
//! than [`MAX_LOOKAHEAD`] characters were read ahead of it.
//!
//! The guard's count may only err upward (a spurious refusal, never a missed one): an
//! opening `[`/`{` always counts, even where it might be quoted; a closing one counts only
//! where the lexer is sure it is not inside a quoted scalar or comment.

use std::io::Read;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use super::Problem;
use super::limits::{MAX_DEPTH, MAX_LOOKAHEAD};
use super::text::{Chars, TextFault};

/// What the consumer of events and the guard inside the parser share.
#[derive(Debug, Default)]
pub(crate) struct Shared {
    /// Bumped by the consumer at every event: the guard starts a new window.
    pub(crate) epoch: AtomicU64,
    /// Why the characters ended early (a bad byte, or a limit), if they did.
    pub(crate) fault: Mutex<Option<TextFault>>,
}

impl Shared {
    pub(crate) fn fault(&self) -> Option<TextFault> {
        self.fault.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Lex {
    /// Where a node may start (after `[`, `{`, `,`, `: `, `- `, at a line start, ...).
    Start,
    /// Inside a plain scalar.
    Plain,
    /// After a line break inside a plain scalar: it may go on, so a quote is not a start.
    PlainBreak,
    /// `-`, `?` or `:` just seen: an indicator if blank follows.
    Indicator,
    Double,
    DoubleEscape,
    Single,
    SingleQuote,
    AfterQuoted,
    Comment,
}

pub(crate) struct Guarded<R> {
    chars: Chars<R>,
    shared: Arc<Shared>,
    epoch: u64,
    /// Flow collections opened minus (surely) closed in this window; an upper bound.
    depth: usize,
    read: usize,
    /// Unsure where quotes are: closing brackets no longer count in this window.
    unsure: bool,
    lex: Lex,
    blank_before: bool,
    line: usize,
    /// The characters ended early (a fault): no more, ever.
    stopped: bool,
}

impl<R: Read> Guarded<R> {
    pub(crate) fn new(chars: Chars<R>, shared: Arc<Shared>) -> Guarded<R> {
        Guarded {
            chars,
            shared,
            epoch: 0,
            depth: 0,
            read: 0,
            unsure: false,
            lex: Lex::Start,
            blank_before: true,
            line: 1,
            stopped: false,
        }
    }

    fn trip(&mut self, what: &'static str, max: usize) {
        self.stopped = true;
        let fault = TextFault { line: self.line, problem: Problem::Limit { what, max } };
        *self.shared.fault.lock().unwrap_or_else(|p| p.into_inner()) = Some(fault);
    }

    fn step(&mut self, c: char) {
        // The common case first: a letter or digit inside a plain scalar changes nothing.
        if self.lex == Lex::Plain && c.is_ascii_alphanumeric() {
            self.blank_before = false;
            return;
        }
        let blank = matches!(c, ' ' | '\t' | '\n' | '\r');
        let mut lex = self.lex;
        loop {
            lex = match (lex, c) {
                (Lex::Comment, '\n' | '\r') => Lex::Start,
                (Lex::Comment, _) => Lex::Comment,
                (Lex::DoubleEscape, _) => Lex::Double,
                (Lex::Double, '\\') => Lex::DoubleEscape,
                (Lex::Double, '"') => Lex::AfterQuoted,
                (Lex::Single, '\'') => Lex::SingleQuote,
                (Lex::SingleQuote, '\'') => Lex::Single,
                (Lex::SingleQuote, _) => {
                    lex = Lex::AfterQuoted;
                    continue;
                }
                (Lex::Double | Lex::Single, _) => lex,
                (Lex::Indicator, _) => {
                    lex = if blank || matches!(c, ',' | '[' | ']' | '{' | '}') {
                        Lex::Start
                    } else {
                        Lex::Plain
                    };
                    continue;
                }
                (_, '[' | '{') => {
                    self.depth += 1;
                    Lex::Start
                }
                (_, ']' | '}') => {
                    if !self.unsure {
                        self.depth = self.depth.saturating_sub(1);
                    }
                    Lex::AfterQuoted
                }
                (_, ',') => Lex::Start,
                (Lex::Start, '"') => Lex::Double,
                (Lex::Start, '\'') => Lex::Single,
                (_, '"' | '\'') => {
                    // A quote inside a plain scalar, or right after a quoted one.
                    self.unsure |= self.depth > 0;
                    Lex::Plain
                }
                (_, '#') if self.blank_before => Lex::Comment,
                (Lex::Start | Lex::AfterQuoted, '!' | '&' | '*' | '|' | '>' | '%' | '@' | '`') => {
                    // Tags may hold brackets; block scalars hold anything: stop trusting `]`.
                    self.unsure |= self.depth > 0;
                    Lex::Plain
                }
                (Lex::AfterQuoted, ':') => Lex::Start,
                (Lex::Start, '-' | '?' | ':') => Lex::Indicator,
                (Lex::Plain | Lex::PlainBreak, ':') => Lex::Indicator,
                (Lex::Plain | Lex::PlainBreak, '\n' | '\r') => Lex::PlainBreak,
                (Lex::PlainBreak, ' ' | '\t') => Lex::PlainBreak,
                (state, _) if blank => state,
                (_, _) => Lex::Plain,
            };
            break;
        }
        self.lex = lex;
        self.blank_before = blank;
    }
}

impl<R: Read> Iterator for Guarded<R> {
    type Item = char;

    #[inline]
    fn next(&mut self) -> Option<char> {
        if self.stopped {
            return None;
        }
        let epoch = self.shared.epoch.load(Ordering::Relaxed);
        if epoch != self.epoch {
            self.epoch = epoch;
            self.depth = 0;
            self.read = 0;
            self.unsure = false;
        }
        let Some(c) = self.chars.next() else {
            self.stopped = true;
            if let Some(f) = self.chars.fault() {
                *self.shared.fault.lock().unwrap_or_else(|p| p.into_inner()) = Some(f.clone());
            }
            return None;
        };
        self.read += 1;
        if c == '\n' {
            self.line += 1;
        }
        self.step(c);
        if self.depth > MAX_DEPTH {
            self.trip("collections nested too deep", MAX_DEPTH);
            return None;
        }
        if self.read > MAX_LOOKAHEAD {
            self.trip(
                "a single scalar or flow collection is too long (write large manifests in block style, `- ` items)",
                MAX_LOOKAHEAD,
            );
            return None;
        }
        Some(c)
    }
}
