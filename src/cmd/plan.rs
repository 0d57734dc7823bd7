//! `csrbatch plan` (and `generate --check`): what a run would do to the output folder,
//! a line per request that is not unchanged, then counts per state. Writes nothing.

use crate::cli::PlanArgs;
use crate::error::{Error, ExitCode};
use crate::request::CsrRequest;
use crate::run;
use crate::settings::{Output, Settings};

use super::export::{Exporter, exporter};
use super::json::JsonCommand;

/// Prints what `generate` would do to the output folder.
pub fn run(args: &PlanArgs) -> Result<ExitCode, Error> {
    let mut export = exporter(JsonCommand::Plan, Output::of(args.json));
    let result = plan(args, export.as_mut()).map(|_| ExitCode::Success);
    export.finish(result)
}

fn plan(args: &PlanArgs, export: &mut dyn Exporter) -> Result<bool, Error> {
    let settings = Settings::plan(args)?;
    let requests = run::load_and_validate_with(&settings.paths, settings.read, settings.key_files())?;
    report(&settings, requests.iter().filter(|r| settings.holds(r)), &|n: &str| requests.wants(n), export)
}

/// Plans the run (`plan`, `generate --check`) and reports it; whether anything is to do.
pub(crate) fn report<I>(
    settings: &Settings,
    requests: I,
    wants: &(dyn Fn(&str) -> bool + Sync),
    export: &mut dyn Exporter,
) -> Result<bool, Error>
where
    I: Iterator<Item = Result<CsrRequest, Error>> + Send,
{
    let plan = run::preview::preview(settings, requests, wants, &mut |p| export.planned(p))?;
    let pending = plan.pending();
    export.plan_done(plan);
    Ok(pending)
}
