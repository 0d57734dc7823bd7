//! csrbatch: parse arguments, call the library, print errors, exit with the right code.
#![forbid(unsafe_code)]

use clap::Parser;
use csrbatch::cli::{Cli, Command};
use csrbatch::cmd;
use csrbatch::error::Error;

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    let result = match &cli.command {
        Command::Generate(args) => cmd::generate::run(args),
        Command::Plan(args) => cmd::plan::run(args),
        Command::Validate(args) => cmd::validate::run(args),
        Command::Bench(args) => cmd::bench::run(args),
        Command::Merge(args) => cmd::merge::run(args),
        Command::Import(args) => cmd::import::run(args),
        Command::Completions(args) => cmd::completions::run(args),
        Command::Man(args) => cmd::man::run(args),
        Command::Schema(args) => cmd::schema::run(args),
        Command::Inspect(args) => cmd::inspect::run(args),
    };
    match result {
        Ok(code) => code.into(),
        // The reader of stdout went away (`csrbatch plan | head`): end quietly, as a pipe's
        // writer does (ripgrep's main does the same).
        Err(err) if err.is_closed_stdout() => std::process::ExitCode::SUCCESS,
        Err(err) => {
            if let Error::Manifests(errors) = &err {
                for e in errors {
                    csrbatch::progress::err(format_args!("{e}"));
                }
            }
            if let Error::Interrupted { .. } = &err {
                csrbatch::progress::err(format_args!("{err}"));
            } else {
                csrbatch::progress::err(format_args!("error: {err}"));
            }
            err.exit_code().into()
        }
    }
}
