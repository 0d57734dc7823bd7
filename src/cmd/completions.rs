//! `csrbatch completions SHELL`: the shell's completion script, made by clap_complete from
//! the same definitions that parse the command line, so it cannot fall behind them.

use clap::CommandFactory;

use crate::cli::{Cli, CompletionsArgs};
use crate::error::{Error, ExitCode};

/// Prints the completion script for `args.shell`.
pub fn run(args: &CompletionsArgs) -> Result<ExitCode, Error> {
    crate::progress::out(format_args!("{}", script(args.shell).trim_end_matches('\n')))?;
    Ok(ExitCode::Success)
}

/// The completion script for `shell`.
pub(crate) fn script(shell: clap_complete::Shell) -> String {
    let mut buf = Vec::new();
    // Into memory first: clap_complete panics when its writer fails, and stdout may be a
    // closed pipe (`csrbatch completions bash | head`), which `out` handles.
    clap_complete::generate(shell, &mut Cli::command(), "csrbatch", &mut buf);
    String::from_utf8_lossy(&buf).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap_complete::Shell;

    #[test]
    fn every_script_knows_every_subcommand_and_flag() {
        for shell in [Shell::Bash, Shell::Zsh, Shell::Fish, Shell::PowerShell, Shell::Elvish] {
            let text = script(shell);
            // Flags without their dashes: fish writes `-l layout`.
            for word in ["generate", "validate", "merge", "completions", "key-passphrase-env", "layout"] {
                assert!(text.contains(word), "{shell}: no {word}");
            }
        }
    }
}
