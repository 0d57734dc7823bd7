//! What a run would do to the output folder, request by request, without writing: the
//! engine of `csrbatch plan` and `generate --check`. The result is a typed value (serde),
//! for people (cmd/plan.rs prints it) and programs alike.

use std::collections::BTreeMap;

use serde::Serialize;

use super::{Judge, assess, orphans, thread_pool, until_error};
use crate::error::Error;
use crate::output::folder::UnfinishedRun;
use crate::output::summary::State;
use crate::parallel;
use crate::request::CsrRequest;
use crate::settings::Settings;

/// One request's line of the plan.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct Planned {
    pub(crate) name: String,
    /// `file:line` of the request.
    pub(crate) manifest: String,
    pub(crate) state: State,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) reason: Option<crate::decide::Reason>,
    /// The CsrId the request keeps (unchanged; a new CSR gets a new one).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) csr_id: Option<u64>,
    /// The request's live certificate: when it ends.
    #[serde(flatten)]
    pub(crate) due: Option<Due>,
    /// The request's place, typed (`--json` gives file and line apart).
    #[serde(skip)]
    pub(crate) origin: crate::manifest::Origin,
}

/// When a live certificate ends, as `plan` shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct Due {
    /// RFC 3339, UTC.
    pub(crate) not_after: String,
    /// Whole days from now to NotAfter, rounded down: negative once it expired.
    pub(crate) days_left: i64,
    /// NotAfter, to tell which ends first.
    #[serde(skip)]
    pub(crate) at: time::OffsetDateTime,
}

/// The plan as a whole: counts per state, orphans, and the runs that did not finish.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct Plan {
    pub(crate) counts: BTreeMap<State, usize>,
    pub(crate) orphans: Vec<String>,
    /// Runs that stopped before writing their summary: until one finishes, summary.json
    /// does not describe the folder.
    pub(crate) unfinished: Vec<UnfinishedRun>,
    /// Requests with a live certificate, and the one of them that ends first.
    pub(crate) certified: usize,
    pub(crate) soonest: Option<(String, Due)>,
}

impl Plan {
    /// Whether the folder is not up to date: anything not unchanged, or an unfinished run.
    pub(crate) fn pending(&self) -> bool {
        !self.unfinished.is_empty() || self.counts.iter().any(|(s, n)| *s != State::Unchanged && *n > 0)
    }
}

/// Judges every request against the folder, in order, handing each to `each` as it is
/// decided (a million requests are not held), and returns the plan.
pub(crate) fn preview<I>(
    settings: &Settings,
    requests: I,
    wants: &(dyn Fn(&str) -> bool + Sync),
    each: &mut dyn FnMut(&Planned),
) -> Result<Plan, Error>
where
    I: Iterator<Item = Result<CsrRequest, Error>> + Send,
{
    let checked = super::check_folder(settings)?;
    let (out, layout) = (settings.out.as_path(), checked.layout);
    let previous = super::load_previous(settings, layout, wants)?;
    let pool = thread_pool(settings.jobs)?;
    let mut counts: BTreeMap<State, usize> = State::PLANNED.iter().map(|s| (*s, 0)).collect();
    let on = Judge {
        root: out,
        layout,
        previous: &previous,
        flags: settings.flags,
        passphrase: settings.passphrase.as_ref(),
        no_pem_at_start: false,
        now: time::OffsetDateTime::now_utc(),
        renew_before: settings.renew_before,
    };
    let judge = |r: CsrRequest| {
        let assessed = assess(&on, &r);
        // A damaged certificate is not counted as live (its files are not as recorded);
        // a live one beside a damaged next pair is.
        let damaged =
            assessed.decision.reason.as_ref().is_some_and(crate::decide::Reason::is_live_certificate);
        let due = assessed.certificate.as_ref().filter(|_| !damaged);
        let due = due.and_then(|c| {
            let (at, days_left) = crate::decide::days_left(c, on.now)?;
            Some(Due { not_after: c.not_after.clone(), days_left, at })
        });
        let decision = assessed.decision;
        let csr_id = match &decision.action {
            crate::decide::Action::Keep { csr_id, .. } => *csr_id,
            _ => None,
        };
        Planned {
            name: r.name.to_string(),
            manifest: r.origin.to_string(),
            state: decision.state,
            reason: decision.reason,
            csr_id,
            due,
            origin: r.origin,
        }
    };
    let (mut certified, mut soonest): (usize, Option<(String, Due)>) = (0, None);
    let sink = |batch: Vec<Planned>| -> Result<(), Error> {
        for planned in batch {
            *counts.entry(planned.state).or_default() += 1;
            if let Some(due) = &planned.due {
                certified += 1;
                if soonest.as_ref().is_none_or(|(_, s)| due.at < s.at) {
                    soonest = Some((planned.name.clone(), due.clone()));
                }
            }
            each(&planned);
        }
        Ok(())
    };
    let failure = std::sync::Mutex::new(None);
    parallel::ordered_map(&pool, until_error(requests, &failure), settings.jobs * 64, judge, sink)?;
    if let Some(e) = failure.into_inner().unwrap_or_else(|p| p.into_inner()) {
        return Err(e);
    }
    let orphans: Vec<String> = orphans(out, layout, wants, &previous)?.into_iter().map(|o| o.name).collect();
    *counts.entry(State::Orphaned).or_default() += orphans.len();
    Ok(Plan { counts, orphans, unfinished: previous.unfinished, certified, soonest })
}
