//! `csrbatch man [SUBCOMMAND]`: a man page in roff, made by clap_mangen from the same
//! definitions (and help texts) that parse the command line.

use clap::CommandFactory;

use crate::cli::{Cli, ManArgs};
use crate::error::{Error, ExitCode};

/// Prints the man page of `args.subcommand`, or csrbatch(1).
pub fn run(args: &ManArgs) -> Result<ExitCode, Error> {
    let page = page(args.subcommand.as_deref())?;
    crate::progress::out(format_args!("{}", page.trim_end_matches('\n')))?;
    Ok(ExitCode::Success)
}

/// csrbatch(1), or csrbatch-SUBCOMMAND(1) for `Some(SUBCOMMAND)`.
pub(crate) fn page(subcommand: Option<&str>) -> Result<String, Error> {
    let mut cli = Cli::command();
    // Building settles each subcommand's display name (`csrbatch-generate`), which is the
    // page's title, and the version every page carries.
    cli.build();
    let command = match subcommand {
        None => cli,
        Some(name) => cli.find_subcommand(name).cloned().ok_or_else(|| {
            let names: Vec<&str> =
                cli.get_subcommands().map(clap::Command::get_name).filter(|n| *n != "help").collect();
            Error::Usage(format!("man: no subcommand `{name}`; there are {}", names.join(", ")))
        })?,
    };
    let mut buf = Vec::new();
    // Every page's footer names the program and its version, the subcommands' too.
    clap_mangen::Man::new(command)
        .source(format!("csrbatch {}", env!("CARGO_PKG_VERSION")))
        .render(&mut buf)
        .map_err(|e| Error::Render { what: "the man page", detail: e.to_string() })?;
    Ok(String::from_utf8_lossy(&buf).into_owned())
}

#[cfg(test)]
mod tests {
    use super::page;

    #[test]
    fn overview_and_subcommand_pages_have_their_own_titles() {
        let overview = page(None).unwrap();
        assert!(overview.contains(".TH csrbatch 1"), "{}", &overview[..200.min(overview.len())]);
        let generate = page(Some("generate")).unwrap();
        assert!(generate.contains(".TH csrbatch-generate 1"), "{}", &generate[..200.min(generate.len())]);
        assert!(generate.contains("key\\-passphrase\\-env"));
        assert!(page(Some("frobnicate")).unwrap_err().to_string().contains("generate, plan"));
    }
}
