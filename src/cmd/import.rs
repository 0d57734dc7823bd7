//! `csrbatch import PATH... --out DIR`: put the certificates a CA issued live beside their
//! keys. Exit 0 when every certificate was imported (or was live already), 1 when one was
//! refused (the others still went in), 2 on bad usage or an unreadable input.

use crate::cli::ImportArgs;
use crate::error::{Error, ExitCode};
use crate::progress;
use crate::run::import::{self, Outcome, Report};
use crate::settings::{Output, Settings};

/// Runs `csrbatch import`.
pub fn run(args: &ImportArgs) -> Result<ExitCode, Error> {
    let settings = Settings::import(args)?;
    let report = import::import(&settings)?;
    let code = if report.refused() { ExitCode::Failed } else { ExitCode::Success };
    let printed = match settings.output {
        Output::Json => progress::out_document(|w| {
            serde_json::to_writer_pretty(&mut *w, &report)?;
            writeln!(w)
        })
        .map_err(Error::from),
        Output::Text => {
            print_text(&report);
            Ok(())
        }
    };
    match printed {
        Ok(()) => Ok(code),
        Err(e) if e.is_closed_stdout() => Ok(code),
        Err(e) => Err(e),
    }
}

/// Each refusal with its file and reason, then the counts (stderr, like generate's).
fn print_text(report: &Report) {
    for line in report.certificates.iter().filter(|c| c.result == Outcome::Refused) {
        let reason = line.reason.as_ref().map(ToString::to_string).unwrap_or_default();
        progress::err(format_args!("csrbatch: {}: refused: {reason}", line.file));
    }
    for file in &report.unused_keys {
        progress::err(format_args!(
            "csrbatch: {file}: a private key that no encryption certificate given is for: not used"
        ));
    }
    if report.sm2_without_p12 {
        progress::err(format_args!("csrbatch: SM2 requests get no .p12: nothing reads an SM2 PKCS#12"));
    }
    progress::err(format_args!("csrbatch: {}", report.closing_line()));
}
