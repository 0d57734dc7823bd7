//! `csrbatch generate`: validate every request, then bring the output folder in line
//! with them (`--check`: only say whether it is).

use crate::cli::GenerateArgs;
use crate::error::{Error, ExitCode};
use crate::request::CsrRequest;
use crate::run;
use crate::settings::Settings;

use super::json::{self, Document, JsonCommand};

/// What `bench` drives: the run's settings.
pub fn run(args: &GenerateArgs) -> Result<ExitCode, Error> {
    if args.json {
        return json::emit(JsonCommand::Generate, |doc| generate(args, Some(doc)));
    }
    generate(args, None)
}

/// The run, reporting to people (`doc` is `None`) or into the `--json` document.
fn generate(args: &GenerateArgs, doc: Option<&mut Document>) -> Result<ExitCode, Error> {
    let settings = Settings::generate(args)?;
    // Validation opens every KeyFile with the passphrase.
    let requests = run::load_and_validate_with(&settings.paths, settings.read, settings.key_files())?;
    let shard = settings.shard;
    let total = shard.map_or(requests.len(), |s| requests.count_in(s));
    let mine = requests.iter().filter(|r| settings.holds(r));
    let wants = |n: &str| requests.wants(n);
    if settings.check {
        let pending = match doc {
            Some(doc) => json::plan(doc, &settings, mine, &wants)?,
            None => super::plan::print(&settings, mine, &wants)?.pending(),
        };
        return Ok(if pending { ExitCode::Failed } else { ExitCode::Success });
    }
    // From here Ctrl-C (or SIGTERM) asks the run to stop taking work, the first time.
    crate::interrupt::install();
    let records = requests.records();
    match doc {
        Some(doc) => json::generate(doc, total, |each| {
            run::generate::execute_each(mine, total, &wants, &settings, records, each)
        }),
        None => Ok(run::generate::execute(mine, total, &wants, &settings, records)?.exit_code()),
    }
}

/// Runs `generate` on requests made in memory (bench), recording no manifests.
pub fn execute<I>(
    requests: I,
    total: usize,
    wants: &(dyn Fn(&str) -> bool + Sync),
    settings: &Settings,
) -> Result<ExitCode, Error>
where
    I: Iterator<Item = Result<CsrRequest, Error>> + Send,
{
    run::generate::execute(requests, total, wants, settings, Vec::new()).map(|r| r.exit_code())
}
