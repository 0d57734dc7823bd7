//! `csrbatch plan` (and `generate --check`): what a run would do to the output folder,
//! a line per request that is not unchanged, then counts per state. Writes nothing.

use crate::cli::PlanArgs;
use crate::error::{Error, ExitCode};
use crate::output::summary::State;
use crate::progress::out;
use crate::request::CsrRequest;
use crate::run;
use crate::run::plan::Plan;
use crate::settings::Settings;
use crate::text::plural;

use super::json::{self, JsonCommand};

pub fn run(args: &PlanArgs) -> Result<ExitCode, Error> {
    if args.json {
        return json::emit(JsonCommand::Plan, |doc| {
            let settings = Settings::plan(args)?;
            let requests = validate(&settings)?;
            let mine = requests.iter().filter(|r| settings.holds(r));
            json::plan(doc, &settings, mine, &|n: &str| requests.wants(n))?;
            Ok(ExitCode::Success)
        });
    }
    let settings = Settings::plan(args)?;
    let requests = validate(&settings)?;
    print(&settings, requests.iter().filter(|r| settings.holds(r)), &|n: &str| requests.wants(n))?;
    Ok(ExitCode::Success)
}

fn validate(settings: &Settings) -> Result<run::Requests, Error> {
    run::load_and_validate_with(&settings.paths, settings.read, settings.key_files())
}

pub fn print<I>(
    settings: &Settings,
    requests: I,
    wants: &(dyn Fn(&str) -> bool + Sync),
) -> Result<Plan, Error>
where
    I: Iterator<Item = Result<CsrRequest, Error>> + Send,
{
    // A reader that goes away (`plan | head`) stops the printing, not the plan: the exit
    // code (`generate --check`) still says whether the folder is up to date.
    let closed = std::cell::Cell::new(false);
    let say = |line: std::fmt::Arguments<'_>| {
        if !closed.get() && out(line).is_err() {
            closed.set(true);
        }
    };
    let mut each = |p: &run::plan::Planned| {
        if p.state != State::Unchanged {
            let reason = p.reason.as_ref().map(|r| format!("  {r}")).unwrap_or_default();
            say(format_args!("{:<10} {}  ({}){reason}", p.state, p.name, p.manifest));
        }
    };
    let plan = run::plan::plan(settings, requests, wants, &mut each)?;
    for orphan in &plan.orphans {
        say(format_args!("{:<10} {orphan}", State::Orphaned));
    }
    for run in &plan.unfinished {
        let writing = match run.in_flight {
            0 => String::new(),
            n => format!(" (and was writing {n} more when it stopped)"),
        };
        say(format_args!(
            "unfinished run (started {}): it changed {}{writing}; summary.json does not show \
             them yet: run `generate` again to finish",
            run.started,
            plural(run.changed, "pair"),
        ));
    }
    let line: Vec<String> = plan.counts.iter().map(|(s, n)| format!("{s} {n}")).collect();
    say(format_args!("{}", line.join(", ")));
    Ok(plan)
}
