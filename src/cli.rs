//! Command-line definitions (clap) and nothing else.

use std::num::NonZeroUsize;
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

use crate::output::Layout;
use crate::shard::Shard;

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
    /// Validate manifests, then make a key and a CSR for every request that needs one.
    #[command(after_help = "Examples:\n  \
        csrbatch generate manifests/\n  \
        csrbatch generate web.yaml api.csv --out certs --jobs 4\n  \
        csrbatch generate manifests/ --out certs --check   # CI: exit 1 if certs/ is not up to date\n  \
        KEYPASS=... csrbatch generate manifests/ --key-passphrase-env KEYPASS\n\n\
        Writes NAME.key.pem (mode 0600), NAME.csr.pem and summary.json into --out. On an existing\n\
        folder, requests that did not change keep their files; replaced files go to --out/.archive/.")]
    Generate(GenerateArgs),
    /// Show what `generate` would do to the output folder; write nothing.
    #[command(after_help = "Example:\n  csrbatch plan manifests/ --out certs")]
    Plan(PlanArgs),
    /// Load and validate manifests only: print every error, write nothing.
    #[command(after_help = "Example:\n  csrbatch validate manifests/ && echo valid")]
    Validate(ValidateArgs),
    /// Measure throughput (CSRs/s) and per-key latency (p50/p90/p99) per algorithm.
    #[command(after_help = "Examples:\n  \
        csrbatch bench                                   # all five algorithm/size pairs, in memory\n  \
        csrbatch bench --algorithm RSA --key-size 3072 --count 50 --jobs 1\n  \
        csrbatch bench --algorithm ECC --count 20000 --out /tmp/bench --json   # with files")]
    Bench(BenchArgs),
    /// Check that shard output folders together hold every request exactly once, and write
    /// one summary.json for the whole run.
    #[command(
        after_help = "Example (after `csrbatch generate m/ --shard K/4 --out shards/K` for K = 0..3):\n  \
        csrbatch merge shards/0 shards/1 shards/2 shards/3 --manifests m/ --out merged --collect\n\n\
        Exit 1, merging nothing, when a request is missing, failed or held twice."
    )]
    Merge(MergeArgs),
    /// Show what CSRs (made by any tool) ask for and whether their signatures are valid.
    #[command(after_help = "Examples:\n  \
        csrbatch inspect out/www.csr.pem\n  \
        csrbatch inspect *.csr --json\n\n\
        Reads PEM (several CSRs per file allowed) or DER. SM2: says which distinguishing ID the\n\
        signature verifies with; CAs expect 1234567812345678.\n\
        Exit 0 every signature valid, 1 one is not, 2 a file cannot be read or holds no CSR.")]
    Inspect(InspectArgs),
}

#[derive(Debug, Args)]
pub struct InspectArgs {
    /// CSR files, PEM or DER.
    #[arg(required = true, value_name = "FILE")]
    pub files: Vec<PathBuf>,
    /// Print one JSON document instead of text.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct MergeArgs {
    /// The shards' output folders.
    #[arg(required = true, value_name = "DIR")]
    pub shards: Vec<PathBuf>,
    /// The manifests the shards were run on (files or folders).
    #[arg(long, required = true, num_args = 1.., value_name = "PATH")]
    pub manifests: Vec<PathBuf>,
    /// Folder for the merged summary.json.
    #[arg(long, value_name = "DIR")]
    pub out: PathBuf,
    /// Also copy every key and CSR into --out (keys keep mode 0600).
    #[arg(long)]
    pub collect: bool,
}

#[derive(Debug, Args)]
pub struct BenchArgs {
    /// RSA, ECC or SM2 [default: all]; RSA without --key-size means all three sizes.
    #[arg(long, value_name = "A")]
    pub algorithm: Option<String>,
    /// Key size, with --algorithm.
    #[arg(long, value_name = "N")]
    pub key_size: Option<u32>,
    /// Requests per algorithm [default: RSA-2048 100, RSA-3072 30, RSA-4096 12, ECC/SM2 4000].
    #[arg(long, value_name = "N")]
    pub count: Option<usize>,
    /// Worker threads [default: all cores].
    #[arg(long, value_name = "N")]
    pub jobs: Option<NonZeroUsize>,
    /// Print the figures as JSON.
    #[arg(long)]
    pub json: bool,
    /// Run whole `generate`s (files, summary) into DIR/<algorithm>/ instead of in memory.
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
}

/// Where the private keys' passphrase comes from (never from the command line itself).
#[derive(Debug, Args, Default)]
pub struct KeyArgs {
    /// Encrypt keys (PKCS#8, PBES2 scrypt + AES-256-CBC) with the passphrase in this
    /// environment variable; re-runs read keys back with it.
    #[arg(long, value_name = "VAR", conflicts_with = "key_passphrase_file")]
    pub key_passphrase_env: Option<String>,
    /// As --key-passphrase-env, with the passphrase in this file (one trailing newline ignored).
    #[arg(long, value_name = "FILE")]
    pub key_passphrase_file: Option<PathBuf>,
}

/// What a run may do to files already in the output folder.
#[derive(Debug, Args, Default)]
pub struct ReplaceArgs {
    /// New keys (and CSRs) for every request, even unchanged ones; old files are archived.
    #[arg(long)]
    pub rotate: bool,
    /// Regenerate damaged requests (missing, unreadable or mismatched files) after archiving them.
    #[arg(long)]
    pub repair: bool,
    /// Move files of requests no manifest asks for any more into the archive.
    #[arg(long)]
    pub prune: bool,
}

/// What `generate` and `plan` share: the manifests, the output folder and how to treat it.
#[derive(Debug, Args)]
pub struct RunArgs {
    /// Manifest files, or folders walked for *.yaml, *.yml and *.csv.
    #[arg(required = true, value_name = "PATH")]
    pub paths: Vec<PathBuf>,
    /// Output folder.
    #[arg(long, default_value = "out", value_name = "DIR")]
    pub out: PathBuf,
    /// Worker threads [default: all cores].
    #[arg(long, value_name = "N")]
    pub jobs: Option<NonZeroUsize>,
    /// `flat` (OUT/NAME.*.pem) or `fanout` (OUT/ab/NAME.*.pem, 256 folders; for hundreds of
    /// thousands of requests). A folder keeps the layout it was first written with.
    #[arg(long, default_value = "flat", value_name = "LAYOUT")]
    pub layout: Layout,
    #[command(flatten)]
    pub replace: ReplaceArgs,
    #[command(flatten)]
    pub keys: KeyArgs,
}

#[derive(Debug, Args)]
pub struct GenerateArgs {
    #[command(flatten)]
    pub run: RunArgs,
    /// No progress bar (the closing line is still printed).
    #[arg(long, short)]
    pub quiet: bool,
    /// Print the plan and exit 1 if anything is not unchanged; write nothing.
    #[arg(long)]
    pub check: bool,
    /// Run only shard K of N (0-based), chosen by a stable hash of each request's Name.
    /// Without it, the shard comes from JOB_COMPLETION_INDEX (with --shards or
    /// CSRBATCH_SHARDS), SLURM_ARRAY_TASK_ID/_COUNT or AWS_BATCH_JOB_ARRAY_INDEX/_SIZE.
    #[arg(long, value_name = "K/N")]
    pub shard: Option<Shard>,
    /// The number of shards, for a Kubernetes Indexed Job (JOB_COMPLETION_INDEX).
    #[arg(long, value_name = "N")]
    pub shards: Option<u32>,
    /// How new keys are written: `pkcs8` (PRIVATE KEY) or `traditional` (PKCS#1 RSA PRIVATE
    /// KEY, SEC1 EC PRIVATE KEY for ECC and SM2; never encrypted). [default: the folder's
    /// format, pkcs8 for a new folder]. A folder keeps the format it was first written with.
    #[arg(long, value_enum, value_name = "FORMAT")]
    pub key_format: Option<crate::crypto::KeyFormat>,
}

#[derive(Debug, Args)]
pub struct PlanArgs {
    #[command(flatten)]
    pub run: RunArgs,
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
