//! `csrbatch plan` (and `generate --check`): what a run would do to the output folder,
//! a line per request that is not unchanged, then counts per state. Writes nothing.

use std::collections::BTreeMap;
use std::path::Path;

use super::{assess, orphans, thread_pool};
use crate::cli::PlanArgs;
use crate::crypto::Passphrase;
use crate::error::{Error, ExitCode};
use crate::output::{Layout, existing};
use crate::parallel;
use crate::plan::{Flags, State};
use crate::request::CsrRequest;

pub fn run(args: &PlanArgs) -> Result<ExitCode, Error> {
    let args = &args.run;
    let passphrase = super::passphrase(&args.keys)?;
    let requests =
        super::load_and_validate_with(&args.paths, crate::keyfile::KeyFileCheck::Open(passphrase.as_ref()))?;
    let jobs = args.jobs.map_or_else(super::default_jobs, |n| n.get());
    let flags = Flags { rotate: args.replace.rotate, repair: args.replace.repair };
    let layout = crate::output::check_folder(&args.out, args.layout, None)?;
    print_plan(
        &args.out,
        layout,
        requests.iter(),
        &|n: &str| requests.wants(n),
        flags,
        passphrase.as_ref(),
        jobs,
    )?;
    Ok(ExitCode::Success)
}

/// Prints the plan; true when anything is not unchanged (orphans included).
#[allow(clippy::too_many_arguments)]
pub fn print_plan<I>(
    out: &Path,
    layout: Layout,
    requests: I,
    wants: &(dyn Fn(&str) -> bool + Sync),
    flags: Flags,
    passphrase: Option<&Passphrase>,
    jobs: usize,
) -> Result<bool, Error>
where
    I: Iterator<Item = Result<CsrRequest, Error>> + Send,
{
    let previous = existing::load_previous(out, wants)?;
    let pool = thread_pool(jobs)?;
    let mut counts: BTreeMap<State, usize> = State::ALL.iter().map(|s| (*s, 0)).collect();
    let judge = |r: CsrRequest| {
        (
            r.name.to_string(),
            r.origin.to_string(),
            assess(out, layout, &r, &previous, flags, passphrase, false).0,
        )
    };
    let print = |batch: Vec<(String, String, crate::plan::Decision)>| -> Result<(), Error> {
        for (name, origin, decision) in batch {
            *counts.entry(decision.state).or_default() += 1;
            if decision.state != State::Unchanged {
                let reason = decision.reason.as_deref().map(|r| format!("  {r}")).unwrap_or_default();
                crate::progress::out(format_args!("{:<10} {name}  ({origin}){reason}", decision.state));
            }
        }
        Ok(())
    };
    let failure = std::sync::Mutex::new(None);
    parallel::ordered_map(&pool, super::until_error(requests, &failure), jobs * 64, judge, print)?;
    if let Some(e) = failure.into_inner().unwrap_or_else(|p| p.into_inner()) {
        return Err(e);
    }
    let orphans = orphans(out, layout, wants, &previous)?;
    for orphan in &orphans {
        crate::progress::out(format_args!("{:<10} {}", State::Orphaned, orphan.name));
    }
    *counts.entry(State::Orphaned).or_default() += orphans.len();
    let line: Vec<String> = counts.iter().map(|(s, n)| format!("{s} {n}")).collect();
    crate::progress::out(format_args!("{}", line.join(", ")));
    Ok(counts.iter().any(|(s, n)| *s != State::Unchanged && *n > 0))
}
