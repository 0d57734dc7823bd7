//! Command-line definitions (clap) and nothing else.

use std::num::NonZeroUsize;
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(
    name = "csrbatch",
    version,
    about = "Create PKCS#10 CSRs (RSA, ECC P-256, SM2) in bulk from YAML/CSV manifests",
    long_about = "Create PKCS#10 certificate signing requests in bulk, as Alibaba Cloud's CreateCsr \
                  does one at a time: one key pair and one CSR per request, on this machine.\n\n\
                  Exit codes: 0 all requests done; 1 a request failed while generating or writing; \
                  2 bad usage or a manifest error (then nothing is written)."
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Validate manifests, then make a key and a CSR for every request.
    #[command(after_help = "Examples:\n  \
        csrbatch generate manifests/\n  \
        csrbatch generate web.yaml api.csv --out certs --jobs 4\n\n\
        Writes NAME.key.pem (mode 0600), NAME.csr.pem and summary.json into --out.")]
    Generate(GenerateArgs),
    /// Load and validate manifests only: print every error, write nothing.
    #[command(after_help = "Example:\n  csrbatch validate manifests/ && echo valid")]
    Validate(ValidateArgs),
}

#[derive(Debug, Args)]
pub struct GenerateArgs {
    /// Manifest files, or folders walked for *.yaml, *.yml and *.csv.
    #[arg(required = true, value_name = "PATH")]
    pub paths: Vec<PathBuf>,
    /// Output folder.
    #[arg(long, default_value = "out", value_name = "DIR")]
    pub out: PathBuf,
    /// Worker threads for key generation [default: all cores].
    #[arg(long, value_name = "N")]
    pub jobs: Option<NonZeroUsize>,
    /// No progress bar (the closing line is still printed).
    #[arg(long, short)]
    pub quiet: bool,
}

#[derive(Debug, Args)]
pub struct ValidateArgs {
    /// Manifest files, or folders walked for *.yaml, *.yml and *.csv.
    #[arg(required = true, value_name = "PATH")]
    pub paths: Vec<PathBuf>,
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    #[test]
    fn cli_definition_is_consistent() {
        super::Cli::command().debug_assert();
    }
}
