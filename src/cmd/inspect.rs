//! `csrbatch inspect FILE...`: what each CSR asks for and whether its signature is valid,
//! and what each certificate certifies (subject, SANs, issuer, serial, validity, days
//! left, key, fingerprint). Exit 0 when every CSR signature verifies (SM2: with the
//! standard distinguishing ID) and `--key` is the key of something in each file, 1 when one
//! does not, 2 when a file cannot be read or holds no readable CSR or certificate, or `--key`
//! cannot be opened.

use crate::cli::InspectArgs;
use crate::crypto::PrivateKey;
use crate::error::{Error, ExitCode};
use crate::inspect::{self, FileReport, Report};
use crate::progress;

/// Each `--key` and its DER SubjectPublicKeyInfo, opened with the passphrase if it has one.
fn key_spkis(args: &InspectArgs) -> Result<Vec<inspect::GivenKey>, Error> {
    let passphrase =
        crate::secret::passphrase(args.key_passphrase_env.as_deref(), args.key_passphrase_file.as_deref())?;
    let mut keys = Vec::new();
    for path in &args.key {
        let unusable = |why: &dyn std::fmt::Display| Error::Usage(format!("--key {}: {why}", path.display()));
        let text = std::fs::read_to_string(path).map_err(|e| unusable(&e))?;
        let key = PrivateKey::from_pem(&text, passphrase.as_ref()).map_err(|e| unusable(&e))?;
        let key_sha2 = crate::crypto::key_sha2(key.public_key_der());
        keys.push(inspect::GivenKey { file: path.display().to_string(), key_sha2 });
    }
    Ok(keys)
}

/// Reports on every CSR in `args.files`; the exit code is the worst finding's.
pub fn run(args: &InspectArgs) -> Result<ExitCode, Error> {
    let keys = key_spkis(args)?;
    let now = time::OffsetDateTime::now_utc();
    let mut code = ExitCode::Success;
    let mut files = Vec::with_capacity(args.files.len());
    for path in &args.files {
        let name = path.display().to_string();
        let mut report =
            FileReport { file: name.clone(), csrs: Vec::new(), certificates: Vec::new(), errors: Vec::new() };
        match std::fs::read(path) {
            Ok(bytes) => {
                let contents = inspect::contents(&bytes);
                for (i, der) in contents.csrs.into_iter().enumerate() {
                    match der.and_then(|der| inspect::inspect(&der, i + 1)) {
                        Ok(mut info) => {
                            (info.key_matches, info.matching_key) = inspect::match_key(&keys, &info.key_sha2);
                            report.csrs.push(info);
                        }
                        Err(e) => report.errors.push(e.to_string()),
                    }
                }
                match contents.certificates {
                    Ok(certs) => report.certificates = inspect::inspect_certificates(&certs, now, &keys),
                    Err(e) => report.errors.push(e.to_string()),
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
        // A chain file holds the issuers too: the key must be one of the file's, not all.
        let mut matches = report
            .csrs
            .iter()
            .map(|c| c.key_matches)
            .chain(report.certificates.iter().map(|c| c.key_matches));
        let shown = !report.csrs.is_empty() || !report.certificates.is_empty();
        if !keys.is_empty() && shown && !matches.any(|m| m == Some(true)) {
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
        let several = file.certificates.len() > 1 || !file.csrs.is_empty();
        for (i, cert) in file.certificates.iter().enumerate() {
            let title =
                if several { format!("{} (certificate #{})", file.file, i + 1) } else { file.file.clone() };
            progress::out(format_args!("{title}\n{}", inspect::render_certificate(cert)))?;
        }
    }
    Ok(())
}
