//! The terminal: an indicatif bar on stderr while keys are made, shown only when stderr
//! is a terminal, not `TERM=dumb` and not `--quiet` (`NO_COLOR` drops colour, never the
//! bar; the bar has none); the closing line, which is always printed; and [`out`] and
//! [`err`], through which every other line is printed.

use std::collections::BTreeMap;
use std::io::IsTerminal;
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::request::KeyAlgorithm;
use crate::text::plural;

/// Prints a line on stdout. If the reader has gone away (`csrbatch plan ... | head`), the
/// process ends quietly with success, as a pipe's writer does: only reports go to stdout,
/// and they are printed after the work they report on.
pub fn out(line: std::fmt::Arguments<'_>) {
    use std::io::Write;
    if let Err(e) = writeln!(std::io::stdout().lock(), "{line}")
        && e.kind() == std::io::ErrorKind::BrokenPipe
    {
        std::process::exit(0);
    }
}

/// Prints a line on stderr; a stderr that cannot be written to is not a reason to stop.
pub fn err(line: std::fmt::Arguments<'_>) {
    use std::io::Write;
    let _ = writeln!(std::io::stderr().lock(), "{line}");
}

#[derive(Debug)]
pub struct Progress {
    bar: ProgressBar,
    started: Instant,
}

impl Progress {
    pub fn new(total: u64, quiet: bool) -> Progress {
        let term = std::env::var_os("TERM");
        let bar = if !shows_bar(quiet, std::io::stderr().is_terminal(), term.as_deref()) {
            ProgressBar::hidden()
        } else {
            let bar = ProgressBar::with_draw_target(Some(total), ProgressDrawTarget::stderr_with_hz(10));
            bar.set_style(bar_style(total));
            bar.enable_steady_tick(Duration::from_millis(200));
            bar
        };
        Progress { bar, started: Instant::now() }
    }

    pub fn advance(&self, n: usize) {
        self.bar.inc(n as u64);
    }

    pub fn elapsed(&self) -> Duration {
        self.started.elapsed()
    }

    /// Clears the bar; the caller prints its own report.
    pub fn clear(self) {
        self.bar.finish_and_clear();
    }

    /// Clears the bar and prints the closing line.
    pub fn finish(self, done: &BTreeMap<KeyAlgorithm, usize>, failed: usize, notes: &[String]) {
        self.bar.finish_and_clear();
        err(format_args!("{}", closing_line(done, failed, notes, self.started.elapsed())));
    }
}

/// `⠁ [00:00:03] ████░░░░ 12/40 CSRs  4 CSRs/s  ETA 7s`; the noun agrees with the total.
fn bar_style(total: u64) -> ProgressStyle {
    let noun = if total == 1 { "CSR" } else { "CSRs" };
    ProgressStyle::with_template(&format!(
        "{{spinner}} [{{elapsed_precise}}] {{wide_bar}} {{pos}}/{{len}} {noun}  {{rate}}  ETA {{eta}}"
    ))
    .unwrap_or_else(|_| ProgressStyle::default_bar())
    .with_key("rate", |state: &indicatif::ProgressState, w: &mut dyn std::fmt::Write| {
        let _ = write!(w, "{:.0} CSRs/s", state.per_sec());
    })
}

/// Whether a bar is drawn. `NO_COLOR` asks for no colour, not for less information, so
/// it is not consulted; a terminal that cannot move the cursor (`TERM=dumb`) would print
/// every redraw on a line of its own.
pub fn shows_bar(quiet: bool, stderr_is_terminal: bool, term: Option<&std::ffi::OsStr>) -> bool {
    !quiet && stderr_is_terminal && term.is_none_or(|t| t != "dumb")
}

/// `generated 12 CSRs (RSA-2048: 3, ECC-256: 5, SM2-256: 4) in 3.21 s, 3.7 CSRs/s; 2 unchanged`
pub fn closing_line(
    done: &BTreeMap<KeyAlgorithm, usize>,
    failed: usize,
    notes: &[String],
    elapsed: Duration,
) -> String {
    let total: usize = done.values().sum();
    let parts: Vec<String> = done.iter().map(|(k, n)| format!("{k}: {n}")).collect();
    let secs = elapsed.as_secs_f64();
    let rate = if secs > 0.0 { total as f64 / secs } else { 0.0 };
    let mut line = format!("generated {}", plural(total, "CSR"));
    if !parts.is_empty() {
        line.push_str(&format!(" ({})", parts.join(", ")));
    }
    line.push_str(&format!(" in {secs:.2} s, {rate:.1} CSRs/s"));
    for note in notes {
        line.push_str(&format!("; {note}"));
    }
    if failed > 0 {
        line.push_str(&format!("; {failed} FAILED"));
    }
    line
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn closing_line_names_algorithms_time_and_rate() {
        let done = BTreeMap::from([(KeyAlgorithm::Rsa2048, 3), (KeyAlgorithm::Sm2, 1)]);
        assert_eq!(
            closing_line(&done, 2, &[], Duration::from_secs(2)),
            "generated 4 CSRs (RSA-2048: 3, SM2-256: 1) in 2.00 s, 2.0 CSRs/s; 2 FAILED"
        );
        assert_eq!(
            closing_line(&BTreeMap::new(), 0, &["5 unchanged".into()], Duration::ZERO),
            "generated 0 CSRs in 0.00 s, 0.0 CSRs/s; 5 unchanged"
        );
        let one = BTreeMap::from([(KeyAlgorithm::Ecc, 1)]);
        assert!(closing_line(&one, 0, &[], Duration::ZERO).starts_with("generated 1 CSR (ECC-256: 1) in"));
    }

    #[test]
    fn the_bar_needs_a_terminal_that_can_redraw_and_no_quiet() {
        use std::ffi::OsStr;
        let xterm = Some(OsStr::new("xterm-256color"));
        assert!(shows_bar(false, true, xterm));
        assert!(shows_bar(false, true, None), "no TERM at all is not a dumb terminal");
        assert!(!shows_bar(true, true, xterm), "--quiet");
        assert!(!shows_bar(false, false, xterm), "stderr is a file or a pipe");
        assert!(!shows_bar(false, true, Some(OsStr::new("dumb"))));
    }
}
