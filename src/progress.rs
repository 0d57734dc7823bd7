//! The terminal: an indicatif bar on stderr while keys are made, shown only when stderr
//! is a terminal and not `--quiet`, `NO_COLOR` or `TERM=dumb`; the closing line, which is
//! always printed; and [`out`] and [`err`], through which every other line is printed.

use std::io::IsTerminal;
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

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
        let bar = if quiet || !std::io::stderr().is_terminal() || dumb_terminal() {
            ProgressBar::hidden()
        } else {
            let bar = ProgressBar::with_draw_target(Some(total), ProgressDrawTarget::stderr_with_hz(10));
            let style = ProgressStyle::with_template(
                "{spinner} [{elapsed_precise}] {wide_bar} {pos}/{len} CSRs  {rate}  ETA {eta}",
            )
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .with_key("rate", |state: &indicatif::ProgressState, w: &mut dyn std::fmt::Write| {
                let _ = write!(w, "{:.0} CSRs/s", state.per_sec());
            });
            bar.set_style(style);
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

    /// Clears the bar and prints the run's closing lines on stderr.
    pub fn finish(self, lines: &[String]) {
        self.bar.finish_and_clear();
        for line in lines {
            err(format_args!("{line}"));
        }
    }

    /// Takes the bar off the screen (an interrupted or failed run).
    pub fn clear(&self) {
        self.bar.finish_and_clear();
    }
}

fn dumb_terminal() -> bool {
    std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty())
        || std::env::var("TERM").is_ok_and(|t| t == "dumb")
}
