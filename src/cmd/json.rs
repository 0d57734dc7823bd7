//! `--json` on `validate`, `plan` and `generate`: the one JSON document each prints on
//! stdout, as typed serde values with summary.json's PascalCase field names. One error
//! type, [`JsonError`], serves all three commands and every kind of error.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use serde::Serialize;

use crate::error::Error;
use crate::manifest::ManifestError;
use crate::manifest::Origin;
use crate::output::folder::UnfinishedRun;
use crate::output::summary::{Entry, State};
use crate::request::CsrRequest;
use crate::run::preview::Planned;
use crate::run::report::{Made, Report};

/// The document's `Version`. Fields may be added within a version; it is raised when one
/// changes its meaning or goes away, so that a program can refuse what it does not know.
pub(crate) const FORMAT_VERSION: u32 = 1;

/// Which command printed the document.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum JsonCommand {
    Validate,
    Plan,
    Generate,
}

/// What `--json` prints: one document, written once the command is done (or stopped).
#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct Document {
    pub(crate) version: u32,
    pub(crate) command: JsonCommand,
    /// The exit code the process ends with.
    pub(crate) exit_code: u8,
    /// The requests of the run (of its shard): all valid, or 0 when a manifest has errors.
    pub(crate) total: usize,
    /// `plan`, `generate`: requests per state, orphans included (every planned state is
    /// present, 0 or not). Empty for `validate`.
    pub(crate) counts: BTreeMap<State, usize>,
    /// Each request, in manifest order: what validation named it, what the plan or the
    /// run did with it. An interrupted `generate` lists the requests that landed.
    pub(crate) requests: Vec<JsonRequest>,
    /// Every error: in a manifest, of a request that failed or is damaged, of the run.
    pub(crate) errors: Vec<JsonError>,
    /// `plan`: Names whose files or records no manifest asks for any more (`generate`
    /// counts them in `Counts`; summary.json lists them).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) orphans: Option<Vec<String>>,
    /// `plan`: runs that stopped before writing their summary.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) unfinished: Option<Vec<UnfinishedRun>>,
    /// `generate`: requests done without an `Error`, and with one (failed or damaged), as
    /// summary.json counts them.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) succeeded: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) failed: Option<usize>,
    /// `generate`: CSRs made per key type.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) made: Option<Vec<Made>>,
    /// `generate`: how long the run took.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) seconds: Option<f64>,
}

/// One request's outcome.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct JsonRequest {
    pub(crate) name: String,
    /// The manifest as it was given (shared by its requests: a million are held until
    /// the document is printed).
    #[serde(serialize_with = "display_path")]
    pub(crate) file: Arc<Path>,
    pub(crate) line: usize,
    /// `plan`: what a run would do; `generate`: what it did (absent for `validate`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) state: Option<State>,
    /// `generate`: the CSR's CsrId; `plan`: the CsrId an unchanged request keeps.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) csr_id: Option<u64>,
    /// `plan`: why the request is in its state, when that needs saying.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) reason: Option<crate::decide::Reason>,
    /// `plan`: the live certificate's `NotAfter` and `DaysLeft`.
    #[serde(flatten)]
    pub(crate) due: Option<crate::run::preview::Due>,
    /// `generate`: why the request failed or is damaged.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) error: Option<String>,
}

/// One error, wherever it came from. The place is given as far as it is known; `Message`
/// says what is wrong without repeating the place.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct JsonError {
    pub(crate) file: Option<String>,
    pub(crate) line: Option<usize>,
    pub(crate) request: Option<String>,
    pub(crate) field: Option<String>,
    pub(crate) message: String,
}

/// A path as messages write it (a file name that is not UTF-8 is not an error here).
fn display_path<S: serde::Serializer>(path: &Arc<Path>, s: S) -> Result<S::Ok, S::Error> {
    s.collect_str(&path.display())
}

impl From<&ManifestError> for JsonError {
    fn from(e: &ManifestError) -> Self {
        JsonError {
            file: Some(e.origin.file.display().to_string()),
            // Line 0 means the error is about the whole file.
            line: Some(e.origin.line).filter(|l| *l > 0),
            request: e.request.clone(),
            field: e.field.map(|f| f.to_string()),
            message: e.problem.to_string(),
        }
    }
}

impl JsonError {
    /// The errors an [`Error`] stands for: each manifest error, or the error itself.
    pub(crate) fn all(err: &Error) -> Vec<JsonError> {
        let plain = |file: Option<String>, message: String| JsonError {
            file,
            line: None,
            request: None,
            field: None,
            message,
        };
        match err {
            Error::Manifests(errors) => errors.iter().map(JsonError::from).collect(),
            Error::ManifestChanged { file, change } => vec![plain(
                Some(file.display().to_string()),
                format!("{change} since csrbatch validated it; stopped before writing any of its requests"),
            )],
            other => vec![plain(None, other.to_string())],
        }
    }
}

impl JsonRequest {
    fn at(origin: &Origin, name: String) -> JsonRequest {
        JsonRequest {
            name,
            file: origin.file.clone(),
            line: origin.line,
            state: None,
            csr_id: None,
            reason: None,
            due: None,
            error: None,
        }
    }

    pub(super) fn validated(request: &CsrRequest) -> JsonRequest {
        JsonRequest::at(&request.origin, request.name.to_string())
    }

    pub(super) fn planned(p: &Planned) -> JsonRequest {
        JsonRequest {
            state: Some(p.state),
            csr_id: p.csr_id,
            reason: p.reason.clone(),
            due: p.due.clone(),
            ..JsonRequest::at(&p.origin, p.name.clone())
        }
    }

    fn generated(origin: &Origin, e: &Entry) -> JsonRequest {
        JsonRequest {
            state: e.state,
            csr_id: e.csr_id,
            error: e.error.clone(),
            ..JsonRequest::at(origin, e.name.clone())
        }
    }
}

impl Document {
    pub(super) fn new(command: JsonCommand) -> Document {
        Document {
            version: FORMAT_VERSION,
            command,
            exit_code: 0,
            total: 0,
            counts: BTreeMap::new(),
            requests: Vec::new(),
            errors: Vec::new(),
            orphans: None,
            unfinished: None,
            succeeded: None,
            failed: None,
            made: None,
            seconds: None,
        }
    }

    /// Prints the document on stdout, pretty (so that it cannot pass for JSON Lines).
    pub(super) fn print(&self) -> Result<(), Error> {
        Ok(crate::progress::out_document(|w| {
            serde_json::to_writer_pretty(&mut *w, self)?;
            writeln!(w)
        })?)
    }

    /// Records a request `generate` journaled; one that failed or is damaged is an error too.
    pub(super) fn generated(&mut self, origin: &Origin, entry: &Entry) {
        let request = JsonRequest::generated(origin, entry);
        if let Some(message) = &request.error {
            self.errors.push(JsonError {
                file: Some(request.file.display().to_string()),
                line: Some(request.line),
                request: Some(request.name.clone()),
                field: None,
                message: message.clone(),
            });
        }
        self.requests.push(request);
    }

    /// `generate`: counts the requests that landed (all of them unless it stopped).
    pub(super) fn count_generated(&mut self, report: Option<&Report>) {
        let mut counts: BTreeMap<State, usize> = State::PLANNED.iter().map(|s| (*s, 0)).collect();
        for r in &self.requests {
            *counts.entry(r.state.unwrap_or(State::New)).or_default() += 1;
        }
        let failed = self.requests.iter().filter(|r| r.error.is_some()).count();
        self.succeeded = Some(self.requests.len() - failed);
        self.failed = Some(failed);
        if let Some(report) = report {
            let orphans = if report.pruned { State::Pruned } else { State::Orphaned };
            *counts.entry(orphans).or_default() += report.orphans;
        }
        self.counts = counts;
    }
}
