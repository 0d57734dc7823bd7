//! `csrbatch merge`: joins shard output folders into one summary (with `--collect`, one
//! folder); the work is `run::merge`. This prints what it found and maps it to
//! the exit code: 0 merged, 1 nothing merged (a problem is named on each line).

use crate::cli::MergeArgs;
use crate::error::{Error, ExitCode};
use crate::progress::err;
use crate::run::merge::{self, MergeOutcome, MergeProblem};
use crate::settings::Settings;
use crate::words::plural;

/// Runs `csrbatch merge`: 0 when merged, 1 when a problem kept it from merging.
pub fn run(args: &MergeArgs) -> Result<ExitCode, Error> {
    let settings = Settings::merge(args);
    let outcome = merge::merge(&settings, &mut |note| err(format_args!("merge: {note}")))?;
    let (problems, closing) = match outcome {
        MergeOutcome::Merged(merged) => {
            err(format_args!(
                "merged {} from {} into {}",
                plural(merged.csrs, "CSR"),
                plural(merged.shards, "shard"),
                merged.summary.display()
            ));
            return Ok(ExitCode::Success);
        }
        MergeOutcome::Incomplete(problems) => {
            let closing = format!(
                "the shards do not hold every request exactly once ({}); nothing was merged",
                plural(problems.len(), "problem")
            );
            (problems, closing)
        }
        MergeOutcome::OutChanged(problem) => (vec![problem], "nothing was merged".to_owned()),
        MergeOutcome::Clashes(clashes) => {
            let uncopyable =
                clashes.iter().filter(|p| matches!(p, MergeProblem::CertificateNotAsRecorded { .. })).count();
            let files = clashes.len() - uncopyable;
            let mut said = Vec::new();
            if files > 0 {
                said.push(format!(
                    "{} in {} already, not the shards' own",
                    plural(files, "file"),
                    settings.out.display()
                ));
            }
            if uncopyable > 0 {
                said.push(format!("{} not whole in its shard", plural(uncopyable, "certificate")));
            }
            (clashes, format!("{}: nothing was merged", said.join("; ")))
        }
    };
    for problem in &problems {
        err(format_args!("{problem}"));
    }
    err(format_args!("error: {closing}"));
    Ok(ExitCode::Failed)
}
