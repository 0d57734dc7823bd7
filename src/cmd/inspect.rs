//! `csrbatch inspect FILE...`: what each CSR asks for and whether its signature is valid.
//! Exit 0 when every signature verifies (SM2: with the standard distinguishing ID), 1
//! when one does not, 2 when a file cannot be read or holds no readable CSR.

use crate::cli::InspectArgs;
use crate::error::{Error, ExitCode};
use crate::inspect::{self, FileReport, Report};
use crate::progress;

/// Reports on every CSR in `args.files`; the exit code is the worst finding's.
pub fn run(args: &InspectArgs) -> Result<ExitCode, Error> {
    let mut code = ExitCode::Success;
    let mut files = Vec::with_capacity(args.files.len());
    for path in &args.files {
        let name = path.display().to_string();
        let mut report = FileReport { file: name.clone(), csrs: Vec::new(), errors: Vec::new() };
        match std::fs::read(path) {
            Ok(bytes) => {
                for (i, der) in inspect::split(&bytes).into_iter().enumerate() {
                    match der.and_then(|der| inspect::inspect(&der, i + 1)) {
                        Ok(info) => report.csrs.push(info),
                        Err(e) => report.errors.push(e.to_string()),
                    }
                }
            }
            Err(e) => report.errors.push(format!("cannot read: {e}")),
        }
        if !report.errors.is_empty() {
            code = code.merge(ExitCode::Usage);
        }
        if report.csrs.iter().any(|c| !c.signature_valid) {
            code = code.merge(ExitCode::Failed);
        }
        files.push(report);
    }
    let report = Report { all_valid: code == ExitCode::Success, files };
    let printed = if args.json {
        progress::out_document(|w| {
            serde_json::to_writer_pretty(&mut *w, &report)?;
            writeln!(w)
        })
        .map_err(Error::from)
    } else {
        print_text(&report)
    };
    match printed {
        // A reader that went away (`inspect ... | head`) does not change the verdict.
        Ok(()) => Ok(code),
        Err(e) if e.is_closed_stdout() => Ok(code),
        Err(e) => Err(e),
    }
}

fn print_text(report: &Report) -> Result<(), Error> {
    for file in &report.files {
        for error in &file.errors {
            progress::err(format_args!("error: {}: {error}", file.file));
        }
        let several = file.csrs.len() > 1;
        for (i, csr) in file.csrs.iter().enumerate() {
            let title = if several { format!("{} (CSR #{})", file.file, i + 1) } else { file.file.clone() };
            progress::out(format_args!("{title}\n{}", inspect::render(csr)))?;
        }
    }
    Ok(())
}
