//! The terminal: an indicatif bar on stderr while keys are made, shown only when stderr
//! is a terminal, not `TERM=dumb` and not `--quiet` (`NO_COLOR` drops colour, never the
//! bar; the bar has none); the closing line, which is always printed; and `out` and
//! [`err`], through which every other line is printed.

use std::io::IsTerminal;
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

/// Prints a line on stdout. A reader that has gone away (`csrbatch plan ... | head`) is the
/// error (`BrokenPipe`), which `main` ends quietly with success, as a pipe's writer does;
/// any other failure is said on stderr. Only reports go to stdout, and they are printed
/// after the work they report on.
pub(crate) fn out(line: std::fmt::Arguments<'_>) -> std::io::Result<()> {
    use std::io::Write;
    match writeln!(std::io::stdout().lock(), "{line}") {
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Err(e),
        Err(e) => {
            err(format_args!("error: cannot write to stdout: {e}"));
            Ok(())
        }
        Ok(()) => Ok(()),
    }
}

/// Writes a whole document on stdout through a buffer, as [`out`] prints a line (a reader
/// that has gone away ends the process quietly); any other failure is said on stderr.
pub(crate) fn out_document(
    write: impl FnOnce(&mut dyn std::io::Write) -> std::io::Result<()>,
) -> std::io::Result<()> {
    use std::io::Write;
    let mut stdout = std::io::BufWriter::new(std::io::stdout().lock());
    match write(&mut stdout).and_then(|()| stdout.flush()) {
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Err(e),
        Err(e) => {
            err(format_args!("error: cannot write to stdout: {e}"));
            Ok(())
        }
        Ok(()) => Ok(()),
    }
}

/// Prints a line on stderr; a stderr that cannot be written to is not a reason to stop.
pub fn err(line: std::fmt::Arguments<'_>) {
    use std::io::Write;
    let _ = writeln!(std::io::stderr().lock(), "{line}");
}

#[derive(Debug)]
pub(crate) struct Progress {
    bar: ProgressBar,
    started: Instant,
}

impl Progress {
    pub(crate) fn new(total: u64, quiet: bool) -> Progress {
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

    pub(crate) fn advance(&self, n: usize) {
        self.bar.inc(n as u64);
    }

    pub(crate) fn elapsed(&self) -> Duration {
        self.started.elapsed()
    }

    /// Clears the bar and prints the run's closing lines on stderr.
    pub(crate) fn finish(self, lines: &[String]) {
        self.bar.finish_and_clear();
        for line in lines {
            err(format_args!("{line}"));
        }
    }

    /// Takes the bar off the screen (an interrupted or failed run).
    pub(crate) fn clear(&self) {
        self.bar.finish_and_clear();
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
pub(crate) fn shows_bar(quiet: bool, stderr_is_terminal: bool, term: Option<&std::ffi::OsStr>) -> bool {
    !quiet && stderr_is_terminal && term.is_none_or(|t| t != "dumb")
}

#[cfg(test)]
mod tests {
    use super::*;

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
