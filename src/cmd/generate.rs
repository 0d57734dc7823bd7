//! `csrbatch generate`: validate every request, then bring the output folder in line
//! with them (`--check`: only say whether it is).

use crate::cli::GenerateArgs;
use crate::error::{Error, ExitCode};
use crate::keyfile::KeyFileCheck;
use crate::request::CsrRequest;
use crate::run::{self, Settings};

use super::json::{self, Document, JsonCommand};

/// What `bench` drives: the run's settings.
pub use crate::run::Settings as Options;

pub fn run(args: &GenerateArgs) -> Result<ExitCode, Error> {
    if args.json {
        return json::emit(JsonCommand::Generate, |doc| generate(args, Some(doc)));
    }
    generate(args, None)
}

/// The run, reporting to people (`doc` is `None`) or into the `--json` document.
fn generate(args: &GenerateArgs, doc: Option<&mut Document>) -> Result<ExitCode, Error> {
    // The passphrase first: validation opens every KeyFile with it.
    let passphrase = run::passphrase(&args.run.keys)?;
    let keys = KeyFileCheck::Open { passphrase: passphrase.as_ref(), out: &args.run.out };
    let requests = run::load_and_validate_with(&args.run.paths, args.run.read_options(), keys)?;
    let shard = run::shard(args.shard, args.shards)?;
    let mut settings = Settings::resolve(&args.run, shard)?;
    settings.quiet = args.progress.quiet;
    settings.key_format = args.key_format;
    let total = shard.map_or(requests.len(), |s| requests.count_in(s));
    let mine = requests.iter().filter(|r| settings.holds(r));
    let wants = |n: &str| requests.wants(n);
    if args.check {
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
