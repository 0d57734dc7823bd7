//! `csrbatch generate`: validate every request, then bring the output folder in line
//! with them (`--check`: only say whether it is).

use crate::cli::GenerateArgs;
use crate::error::{Error, ExitCode};
use crate::request::CsrRequest;
use crate::run;
use crate::settings::{Output, Settings};

use super::export::{Exporter, exporter};
use super::json::JsonCommand;

/// Runs `csrbatch generate`; with `--check`, only says (by the exit code) whether the
/// folder is up to date.
pub fn run(args: &GenerateArgs) -> Result<ExitCode, Error> {
    let mut export = exporter(JsonCommand::Generate, Output::of(args.json));
    let result = generate(args, export.as_mut());
    export.finish(result)
}

fn generate(args: &GenerateArgs, export: &mut dyn Exporter) -> Result<ExitCode, Error> {
    let settings = Settings::generate(args)?;
    // Validation opens every KeyFile with the passphrase.
    let requests = run::load_and_validate_with(&settings.paths, settings.read, settings.key_files())?;
    let total = settings.shard.map_or(requests.len(), |s| requests.count_in(s));
    let mine = requests.iter().filter(|r| settings.holds(r));
    let wants = |n: &str| requests.wants(n);
    if settings.check {
        let pending = super::plan::report(&settings, mine, &wants, export)?;
        return Ok(if pending { ExitCode::Failed } else { ExitCode::Success });
    }
    // From here Ctrl-C (or SIGTERM) asks the run to stop taking work, the first time.
    crate::interrupt::install();
    let records = requests.records();
    let done = run::generate::execute_each(mine, total, &wants, &settings, records, &mut |o, e| {
        export.generated(o, e)
    });
    export.generate_done(total, done.as_ref().ok());
    Ok(done?.exit_code())
}

/// Runs `generate` on requests made in memory (bench), recording no manifests.
pub(crate) fn execute<I>(
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
