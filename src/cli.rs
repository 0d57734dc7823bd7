//! Command-line definitions (clap) and nothing else.

use std::num::NonZeroUsize;
use std::path::PathBuf;

use clap::builder::{PossibleValuesParser, TypedValueParser};
use clap::{Args, Parser, Subcommand};

use crate::manifest::TextEncoding;
use crate::output::Layout;
use crate::shard::Shard;

/// The command line: `csrbatch SUBCOMMAND [ARGS]`.
#[derive(Debug, Parser)]
#[command(
    name = "csrbatch",
    version,
    long_version = crate::build_info::long_version(),
    about = "Create PKCS#10 CSRs (RSA, ECC P-256, SM2) in bulk from YAML/CSV manifests",
    long_about = "Create PKCS#10 certificate signing requests in bulk, as Alibaba Cloud's CreateCsr \
                  does one at a time: one key pair and one CSR per request, on this machine.\n\n\
                  Exit codes: 0 every request done; 1 a request failed or is damaged (--check: the \
                  folder is not up to date); 2 nothing was done: bad usage, a manifest error, an \
                  output folder that is a file or cannot be created, a passphrase problem; \
                  130 interrupted (Ctrl-C, SIGTERM): run the same command again to finish."
)]
pub struct Cli {
    /// The subcommand, with its arguments.
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
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
        csrbatch merge shards/0 shards/1 shards/2 shards/3 --out merged --collect\n\n\
        Without --manifests, merge reads the manifests each shard recorded (where they are gone\n\
        or changed it says so, and checks what the shard folders prove: every shard K of N\n\
        present once, each complete). Exit 1, merging nothing, when a request or a shard is\n\
        missing, failed or held twice."
    )]
    Merge(MergeArgs),
    /// Import the certificates a CA issued: pair each with its request's key (by public
    /// key), check names, validity and chain, and write NAME.crt.pem, NAME.chain.pem,
    /// NAME.fullchain.pem (and NAME.p12) next to the key and CSR.
    #[command(long_about = "Import the certificates a CA issued for the CSRs in --out.\n\n\
        Reads PEM (any number of CERTIFICATE and PKCS7 blocks, text around them), DER, \
        PKCS#7 .p7b/.p7c (DER or BER) and zip files, or folders of them. Each certificate is \
        paired with the request whose key it certifies (by public key, never by file name), \
        and imported only if it covers the request's CommonName and Sans, is within its \
        validity, its chain verifies (issuers from the inputs and --ca-bundle) and it is not \
        older than the request's current certificate. A certificate for a renewal's \
        NAME.next key makes that pair the live one (renewed), switching key and certificate \
        together.\n\
        Exit 0 all imported (or unchanged), 1 a certificate was refused (the rest still go \
        in), 2 bad usage or an unreadable input.")]
    Import(ImportArgs),
    /// Print a shell completion script on stdout.
    #[command(after_help = "Examples:\n  \
        csrbatch completions bash > ~/.local/share/bash-completion/completions/csrbatch\n  \
        csrbatch completions zsh > ~/.zfunc/_csrbatch        # a folder on $fpath\n  \
        csrbatch completions fish > ~/.config/fish/completions/csrbatch.fish")]
    Completions(CompletionsArgs),
    /// Print a man page (roff) on stdout: csrbatch(1), or csrbatch-SUBCOMMAND(1).
    #[command(after_help = "Examples:\n  \
        csrbatch man > ~/.local/share/man/man1/csrbatch.1\n  \
        csrbatch man generate > ~/.local/share/man/man1/csrbatch-generate.1\n  \
        csrbatch man generate | man -l -")]
    Man(ManArgs),
    /// Print the JSON Schema (draft 2020-12) of a manifest, for editors and CI checks.
    #[command(after_help = "Example:\n  csrbatch schema > schema/manifest.schema.json\n\n\
        Then start a YAML manifest with\n  # yaml-language-server: $schema=schema/manifest.schema.json")]
    Schema(SchemaArgs),
    /// Show what CSRs (made by any tool) ask for and whether their signatures are valid.
    #[command(after_help = "Examples:\n  \
        csrbatch inspect out/www.csr.pem\n  \
        csrbatch inspect *.csr --json\n\n\
        Reads PEM (several CSRs per file allowed) or DER. SM2: says which distinguishing ID the\n\
        signature verifies with; CAs expect 1234567812345678.\n\
        Exit 0 every signature valid, 1 one is not, 2 a file cannot be read or holds no CSR.")]
    Inspect(InspectArgs),
}

/// `csrbatch inspect`'s arguments.
#[derive(Debug, Args)]
pub struct InspectArgs {
    /// CSR or certificate files: PEM or DER, certificates also as PKCS#7 (.p7b) or a zip.
    #[arg(required = true, value_name = "FILE")]
    pub(crate) files: Vec<PathBuf>,
    /// Print one JSON document instead of text.
    #[arg(long)]
    pub(crate) json: bool,
    /// Say whether this private key (PEM) is the key of each CSR and certificate; exit 1
    /// when none is. Repeat it for several keys (an SM2 signing and encryption pair): each
    /// CSR and certificate names the one that is its key.
    #[arg(long, value_name = "FILE")]
    pub(crate) key: Vec<PathBuf>,
    /// The passphrase of an encrypted --key, from this environment variable.
    #[arg(long, value_name = "VAR", conflicts_with = "key_passphrase_file", requires = "key")]
    pub(crate) key_passphrase_env: Option<String>,
    /// As --key-passphrase-env, with the passphrase in this file (one trailing newline ignored).
    #[arg(long, value_name = "FILE", requires = "key")]
    pub(crate) key_passphrase_file: Option<PathBuf>,
}

/// `csrbatch completions`'s arguments.
#[derive(Debug, Args)]
pub struct CompletionsArgs {
    /// The shell the script is for.
    #[arg(value_enum)]
    pub(crate) shell: clap_complete::Shell,
}

/// `csrbatch man`'s arguments.
#[derive(Debug, Args)]
pub struct ManArgs {
    /// The subcommand whose page to print [default: the csrbatch(1) overview].
    #[arg(value_name = "SUBCOMMAND")]
    pub(crate) subcommand: Option<String>,
}

/// What a command shows on the terminal while it works.
#[derive(Debug, Args, Default, Clone, Copy)]
pub(crate) struct ProgressArgs {
    /// No progress bar (the closing line and reports are still printed).
    #[arg(long, short)]
    pub(crate) quiet: bool,
}

/// `csrbatch schema`'s arguments.
#[derive(Debug, Args)]
pub struct SchemaArgs {}

/// `csrbatch merge`'s arguments.
#[derive(Debug, Args)]
pub struct MergeArgs {
    /// The shards' output folders.
    #[arg(required = true, value_name = "DIR")]
    pub(crate) shards: Vec<PathBuf>,
    /// The manifests the shards were run on (files or folders) [default: the ones each
    /// shard recorded in its folder].
    #[arg(long, num_args = 1.., value_name = "PATH")]
    pub(crate) manifests: Vec<PathBuf>,
    /// Folder for the merged summary.json.
    #[arg(long, value_name = "DIR")]
    pub(crate) out: PathBuf,
    /// Also copy every key and CSR into --out (keys keep mode 0600).
    #[arg(long)]
    pub(crate) collect: bool,
    /// The encoding of the --manifests given [default: the one each shard recorded, else UTF-8].
    #[arg(long, value_name = "ENC", requires = "manifests")]
    pub(crate) encoding: Option<TextEncoding>,
}

/// `csrbatch import`'s arguments.
#[derive(Debug, Args)]
pub struct ImportArgs {
    /// Certificate files (PEM, DER, PKCS#7, zip), or folders walked for them.
    #[arg(required = true, value_name = "PATH")]
    pub(crate) paths: Vec<PathBuf>,
    /// The output folder whose requests the certificates are for.
    #[arg(long, default_value = "out", value_name = "DIR")]
    pub(crate) out: PathBuf,
    /// Trusted roots (PEM): every chain must end at one of them.
    #[arg(long, value_name = "FILE")]
    pub(crate) ca_bundle: Option<PathBuf>,
    /// Also write NAME.p12 (key + leaf + chain; AES-256-CBC, PBKDF2-SHA256, MAC SHA-256).
    #[arg(long)]
    pub(crate) p12: bool,
    /// Write NAME.p12 with 3DES and a SHA-1 MAC instead, for Windows Server 2016, the
    /// macOS Keychain and Java 8 before 8u301.
    #[arg(long)]
    pub(crate) p12_legacy: bool,
    /// The .p12 passphrase is in this environment variable.
    #[arg(long, value_name = "VAR", conflicts_with = "p12_passphrase_file")]
    pub(crate) p12_passphrase_env: Option<String>,
    /// The .p12 passphrase is in this file (one trailing newline ignored).
    #[arg(long, value_name = "FILE")]
    pub(crate) p12_passphrase_file: Option<PathBuf>,
    #[command(flatten)]
    pub(crate) keys: KeyArgs,
    /// Print one JSON document on stdout: each certificate's result, and the counts.
    #[arg(long)]
    pub(crate) json: bool,
    #[command(flatten)]
    pub(crate) progress: ProgressArgs,
}

/// `csrbatch bench`'s arguments.
#[derive(Debug, Args)]
pub struct BenchArgs {
    /// RSA, ECC or SM2 [default: all]; RSA without --key-size means all three sizes.
    #[arg(long, value_name = "A", ignore_case = true,
          value_parser = PossibleValuesParser::new(["RSA", "ECC", "SM2"]))]
    pub(crate) algorithm: Option<String>,
    /// Key size, with --algorithm.
    #[arg(long, value_name = "N")]
    pub(crate) key_size: Option<u32>,
    /// Requests per algorithm [default: RSA-2048 100, RSA-3072 30, RSA-4096 12, ECC/SM2 4000].
    #[arg(long, value_name = "N")]
    pub(crate) count: Option<usize>,
    /// Worker threads [default: all cores].
    #[arg(long, value_name = "N")]
    pub(crate) jobs: Option<NonZeroUsize>,
    /// Print the figures as JSON.
    #[arg(long)]
    pub(crate) json: bool,
    /// Run whole `generate`s (files, summary) into DIR/<algorithm>/ instead of in memory.
    #[arg(long, value_name = "DIR")]
    pub(crate) out: Option<PathBuf>,
    #[command(flatten)]
    pub(crate) progress: ProgressArgs,
}

/// Where the private keys' passphrase comes from (never from the command line itself).
#[derive(Debug, Args, Default)]
pub(crate) struct KeyArgs {
    /// Encrypt keys (PKCS#8, PBES2 scrypt + AES-256-CBC) with the passphrase in this
    /// environment variable; re-runs read keys back with it.
    #[arg(long, value_name = "VAR", conflicts_with = "key_passphrase_file")]
    pub(crate) key_passphrase_env: Option<String>,
    /// As --key-passphrase-env, with the passphrase in this file (one trailing newline ignored).
    #[arg(long, value_name = "FILE")]
    pub(crate) key_passphrase_file: Option<PathBuf>,
}

/// What a run may do to files already in the output folder.
#[derive(Debug, Args, Default)]
pub(crate) struct ReplaceArgs {
    /// New keys (and CSRs) for every request, even unchanged ones; old files are archived.
    #[arg(long)]
    pub(crate) rotate: bool,
    /// Regenerate damaged requests (missing, unreadable or mismatched files) after archiving them.
    #[arg(long)]
    pub(crate) repair: bool,
    /// Move files of requests no manifest asks for any more into the archive.
    #[arg(long)]
    pub(crate) prune: bool,
    /// A certificate is also expiring within this long of its NotAfter (`30d`, `72h`);
    /// without it, when less than a third of its lifetime is left.
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    pub(crate) renew_before: Option<time::Duration>,
    /// Renewals sign the new CSR with the live key instead of making a new key.
    #[arg(long)]
    pub(crate) reuse_key: bool,
    /// Allow this run to change how the folder's keys are stored: encrypt a folder's
    /// unencrypted keys with the passphrase given (the originals go to the archive).
    #[arg(long)]
    pub(crate) reencrypt: bool,
}

/// What `generate` and `plan` share: the manifests, the output folder and how to treat it.
#[derive(Debug, Args)]
pub(crate) struct RunArgs {
    /// Manifest files, or folders walked for *.yaml, *.yml and *.csv.
    #[arg(required = true, value_name = "PATH")]
    pub(crate) paths: Vec<PathBuf>,
    /// Output folder.
    #[arg(long, default_value = "out", value_name = "DIR")]
    pub(crate) out: PathBuf,
    /// Worker threads [default: all cores].
    #[arg(long, value_name = "N")]
    pub(crate) jobs: Option<NonZeroUsize>,
    /// `flat` (OUT/NAME.*.pem) or `fanout` (OUT/ab/NAME.*.pem, 256 folders; for hundreds of
    /// thousands of requests). A folder keeps the layout it was first written with.
    // The possible values are spelled out so that completions and man pages offer them.
    #[arg(long, default_value = "flat", value_name = "LAYOUT",
          value_parser = PossibleValuesParser::new(["flat", "fanout"]).try_map(|s| s.parse::<Layout>()))]
    pub(crate) layout: Layout,
    /// Read the manifests in this encoding (gb18030, gbk, big5, shift_jis, windows-1252,
    /// ...) instead of UTF-8, as Excel saves a CSV on a Windows that is not set to UTF-8.
    #[arg(long, value_name = "ENC")]
    pub(crate) encoding: Option<TextEncoding>,
    #[command(flatten)]
    pub(crate) replace: ReplaceArgs,
    #[command(flatten)]
    pub(crate) keys: KeyArgs,
}

impl RunArgs {
    /// How the manifests are to be read.
    pub(crate) fn read_options(&self) -> crate::manifest::ReadOptions {
        crate::manifest::ReadOptions { encoding: self.encoding }
    }
}

/// `csrbatch generate`'s arguments.
#[derive(Debug, Args)]
pub struct GenerateArgs {
    #[command(flatten)]
    pub(crate) run: RunArgs,
    #[command(flatten)]
    pub(crate) progress: ProgressArgs,
    /// Print the plan and exit 1 if anything is not unchanged; write nothing.
    #[arg(long)]
    pub(crate) check: bool,
    /// Run only shard K of N (0-based), chosen by a stable hash of each request's Name.
    /// Without it, the shard comes from JOB_COMPLETION_INDEX (with --shards or
    /// CSRBATCH_SHARDS), SLURM_ARRAY_TASK_ID/_COUNT or AWS_BATCH_JOB_ARRAY_INDEX/_SIZE.
    #[arg(long, value_name = "K/N")]
    pub(crate) shard: Option<Shard>,
    /// The number of shards, for a Kubernetes Indexed Job (JOB_COMPLETION_INDEX).
    #[arg(long, value_name = "N")]
    pub(crate) shards: Option<u32>,
    /// Print one JSON document on stdout (not JSON Lines): the counts, each request's
    /// outcome, each error. Messages stay on stderr; the exit codes are the same.
    #[arg(long)]
    pub(crate) json: bool,
    /// How new keys are written: `pkcs8` (PRIVATE KEY) or `traditional` (PKCS#1 RSA PRIVATE
    /// KEY, SEC1 EC PRIVATE KEY for ECC and SM2; never encrypted). [default: the folder's
    /// format, pkcs8 for a new folder]. A folder keeps the format it was first written with.
    #[arg(long, value_enum, value_name = "FORMAT")]
    pub(crate) key_format: Option<crate::crypto::KeyFormat>,
}

/// `csrbatch plan`'s arguments.
#[derive(Debug, Args)]
pub struct PlanArgs {
    #[command(flatten)]
    pub(crate) run: RunArgs,
    /// Plan shard K of N (0-based) in a shard's folder (as `generate --shard K/N`).
    #[arg(long, value_name = "K/N")]
    pub(crate) shard: Option<Shard>,
    /// Print one JSON document on stdout (not JSON Lines): the counts, each request's
    /// outcome, each error. Messages stay on stderr; the exit codes are the same.
    #[arg(long)]
    pub(crate) json: bool,
}

/// `csrbatch validate`'s arguments.
#[derive(Debug, Args)]
pub struct ValidateArgs {
    /// Manifest files, or folders walked for *.yaml, *.yml and *.csv.
    #[arg(required = true, value_name = "PATH")]
    pub(crate) paths: Vec<PathBuf>,
    /// Print one JSON document on stdout (not JSON Lines): the counts, each request's
    /// outcome, each error. Messages stay on stderr; the exit codes are the same.
    #[arg(long)]
    pub(crate) json: bool,
    /// Read the manifests in this encoding (gb18030, gbk, big5, shift_jis, windows-1252,
    /// ...) instead of UTF-8.
    #[arg(long, value_name = "ENC")]
    pub(crate) encoding: Option<TextEncoding>,
}

/// A `--renew-before` DURATION: a whole number of days, hours, minutes or seconds
/// (`30d`, `72h`, `90m`, `3600s`).
pub(crate) fn parse_duration(text: &str) -> Result<time::Duration, String> {
    let wrong = || format!("`{text}` is not a duration: a whole number and d, h, m or s (30d, 72h)");
    let split = text.len().checked_sub(1).filter(|&i| text.is_char_boundary(i)).ok_or_else(wrong)?;
    let (number, unit) = text.split_at(split);
    let n: i64 = number.parse().ok().filter(|n| *n > 0 && *n < 100_000_000).ok_or_else(wrong)?;
    Ok(match unit {
        "d" => time::Duration::days(n),
        "h" => time::Duration::hours(n),
        "m" => time::Duration::minutes(n),
        "s" => time::Duration::seconds(n),
        _ => return Err(wrong()),
    })
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    #[test]
    fn cli_definition_is_consistent() {
        super::Cli::command().debug_assert();
    }
}
