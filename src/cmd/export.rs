//! How `validate`, `plan` and `generate` report, chosen once per command (`--json` or
//! not) behind one trait, as hyperfine chooses its exporters: [`Lines`] for people on
//! stdout, or [`JsonExporter`]'s one document for programs ([`super::json`]). The commands
//! hand both the same records as the stages make them.

use std::cell::Cell;

use crate::error::{Error, ExitCode};
use crate::manifest::Origin;
use crate::output::summary::{Entry, State};
use crate::progress::out;
use crate::request::CsrRequest;
use crate::run::preview::{Plan, Planned};
use crate::run::report::Report;
use crate::settings::Output;
use crate::words::plural;

use super::json::{Document, JsonCommand, JsonError, JsonRequest};

/// What a command reports, as its stages go.
pub(crate) trait Exporter {
    /// `validate`: a request that passed.
    fn validated(&mut self, request: &CsrRequest);
    /// `validate`: every request passed.
    fn validation_done(&mut self, count: usize) -> Result<(), Error>;
    /// `plan`, `generate --check`: one request's line, as it is decided.
    fn planned(&mut self, planned: &Planned);
    /// `plan`, `generate --check`: the plan as a whole.
    fn plan_done(&mut self, plan: Plan);
    /// `generate`: a request's entry, as soon as it is journaled (kept if the run stops).
    fn generated(&mut self, origin: &Origin, entry: &Entry);
    /// `generate`: the run ended, with its report if it finished.
    fn generate_done(&mut self, total: usize, report: Option<&Report>);
    /// The command's end: prints what is left to print and passes the result on.
    fn finish(self: Box<Self>, result: Result<ExitCode, Error>) -> Result<ExitCode, Error>;
}

/// The exporter for `command`, as `output` says.
pub(crate) fn exporter(command: JsonCommand, output: Output) -> Box<dyn Exporter> {
    match output {
        Output::Text => Box::new(Lines::default()),
        Output::Json => Box::new(JsonExporter::new(command)),
    }
}

/// Lines for people: the plan's changes, orphans, unfinished runs and counts; `N valid`.
/// (`generate` says what it did on stderr, in its closing line.) Once stdout's reader has
/// gone away (`plan | head`), nothing more is printed and the command goes on.
#[derive(Debug, Default)]
pub(crate) struct Lines {
    closed: Cell<bool>,
}

impl Lines {
    fn say(&self, line: std::fmt::Arguments<'_>) {
        if !self.closed.get() && out(line).is_err() {
            self.closed.set(true);
        }
    }
}

impl Exporter for Lines {
    fn validated(&mut self, _: &CsrRequest) {}

    fn validation_done(&mut self, count: usize) -> Result<(), Error> {
        Ok(out(format_args!("{} valid", plural(count, "request")))?)
    }

    fn planned(&mut self, p: &Planned) {
        if p.state != State::Unchanged {
            let reason = p.reason.as_ref().map(|r| format!("  {r}")).unwrap_or_default();
            self.say(format_args!("{:<10} {}  ({}){reason}", p.state, p.name, p.manifest));
        }
    }

    fn plan_done(&mut self, plan: Plan) {
        for orphan in &plan.orphans {
            self.say(format_args!("{:<10} {orphan}", State::Orphaned));
        }
        for run in &plan.unfinished {
            let writing = match run.in_flight {
                0 => String::new(),
                n => format!(" (and was writing {n} more when it stopped)"),
            };
            self.say(format_args!(
                "unfinished run (started {}): it changed {}{writing}; summary.json does not show \
                 them yet: run `generate` again to finish",
                run.started,
                plural(run.changed, "pair"),
            ));
        }
        // The certificate states are counted once a folder has them.
        let line: Vec<String> = plan
            .counts
            .iter()
            .filter(|(s, n)| **n > 0 || !s.of_certificates())
            .map(|(s, n)| format!("{s} {n}"))
            .collect();
        self.say(format_args!("{}", line.join(", ")));
        if let Some((name, due)) = &plan.soonest {
            let when = match usize::try_from(due.days_left) {
                Ok(0) => "expires within a day".to_owned(),
                Ok(days) => format!("expires in {}", plural(days, "day")),
                Err(_) => "expired".to_owned(),
            };
            self.say(format_args!(
                "{}; the first to end: {name}, {when} (NotAfter {})",
                plural(plan.certified, "live certificate"),
                due.not_after
            ));
        }
    }

    fn generated(&mut self, _: &Origin, _: &Entry) {}

    fn generate_done(&mut self, _: usize, _: Option<&Report>) {}

    fn finish(self: Box<Self>, result: Result<ExitCode, Error>) -> Result<ExitCode, Error> {
        result
    }
}

/// `--json`: the document, filled as the command goes and printed at its end whatever
/// the outcome, with the error (if any) in `Errors`. The result is passed on, so that
/// `main` prints the error on stderr too and exits with the same code.
#[derive(Debug)]
pub(crate) struct JsonExporter {
    doc: Document,
}

impl JsonExporter {
    pub(crate) fn new(command: JsonCommand) -> JsonExporter {
        JsonExporter { doc: Document::new(command) }
    }
}

impl Exporter for JsonExporter {
    fn validated(&mut self, request: &CsrRequest) {
        self.doc.requests.push(JsonRequest::validated(request));
    }

    fn validation_done(&mut self, count: usize) -> Result<(), Error> {
        self.doc.total = count;
        Ok(())
    }

    fn planned(&mut self, planned: &Planned) {
        self.doc.requests.push(JsonRequest::planned(planned));
    }

    fn plan_done(&mut self, plan: Plan) {
        self.doc.total = self.doc.requests.len();
        self.doc.counts = plan.counts;
        self.doc.orphans = Some(plan.orphans);
        self.doc.unfinished = Some(plan.unfinished);
    }

    fn generated(&mut self, origin: &Origin, entry: &Entry) {
        self.doc.generated(origin, entry);
    }

    /// What landed is kept when the run stopped early (interrupted, or the disk failed).
    fn generate_done(&mut self, total: usize, report: Option<&Report>) {
        self.doc.total = total;
        self.doc.count_generated(report);
        if let Some(report) = report {
            self.doc.made = Some(report.made_list());
            self.doc.seconds = Some(report.seconds);
        }
    }

    fn finish(mut self: Box<Self>, result: Result<ExitCode, Error>) -> Result<ExitCode, Error> {
        self.doc.exit_code = match &result {
            Ok(code) => *code as u8,
            Err(e) => e.exit_code() as u8,
        };
        if let Err(e) = &result {
            self.doc.errors.extend(JsonError::all(e));
        }
        // A reader that went away does not change what the command's exit code says.
        let _closed = self.doc.print();
        result
    }
}
