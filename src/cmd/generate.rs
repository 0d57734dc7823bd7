//! `csrbatch generate`: validate every request, then bring the output folder in line
//! with them (`--check`: only say whether it is).

use crate::cli::GenerateArgs;
use crate::error::{Error, ExitCode};
use crate::request::CsrRequest;
use crate::run::{self, Settings};

/// What `bench` drives: the run's settings.
pub use crate::run::Settings as Options;

pub fn run(args: &GenerateArgs) -> Result<ExitCode, Error> {
    let requests = run::load_and_validate(&args.run.paths)?;
    let shard = run::shard(args.shard, args.shards)?;
    let mut settings = Settings::resolve(&args.run, shard)?;
    settings.quiet = args.progress.quiet;
    let total = shard.map_or(requests.len(), |s| requests.count_in(s));
    let mine = requests.iter().filter(|r| settings.holds(r));
    if args.check {
        let plan = super::plan::print(&settings, mine, &|n: &str| requests.wants(n))?;
        return Ok(if plan.pending() { ExitCode::Failed } else { ExitCode::Success });
    }
    // From here Ctrl-C (or SIGTERM) asks the run to stop taking work, the first time.
    crate::interrupt::install();
    let report =
        run::generate::execute(mine, total, &|n: &str| requests.wants(n), &settings, requests.records())?;
    Ok(report.exit_code())
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
