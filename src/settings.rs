//! The options of a command, resolved once from its command line and the environment (as
//! ripgrep's `HiArgs`): the passphrase read, the shard found, the encoding, the jobs and
//! the rules between flags checked, here and nowhere else. Every command reads one
//! [`Settings`] and none changes it afterwards.

use std::path::PathBuf;

use crate::cli::{BenchArgs, GenerateArgs, ImportArgs, KeyArgs, MergeArgs, PlanArgs, RunArgs, ValidateArgs};
use crate::crypto::{KeyFormat, Passphrase};
use crate::decide::Flags;
use crate::error::Error;
use crate::keyfile::KeyFileCheck;
use crate::manifest::{Field, ReadOptions};
use crate::output::Layout;
use crate::output::folder::Wanted;
use crate::request::{CsrRequest, KeyAlgorithm};
use crate::shard::Shard;

/// How a command reports: lines for people, or one JSON document for programs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) enum Output {
    #[default]
    Text,
    Json,
}

impl Output {
    /// As `--json` says.
    pub(crate) fn of(json: bool) -> Output {
        if json { Output::Json } else { Output::Text }
    }
}

/// Everything a command was asked to do, resolved. Fields a command has no flag for keep
/// their defaults.
#[derive(Debug)]
pub struct Settings {
    /// The manifests (files or folders) the command reads.
    pub(crate) paths: Vec<PathBuf>,
    /// How the manifests are read (`--encoding`).
    pub(crate) read: ReadOptions,
    /// `--out` as the user gave it (messages name it so).
    pub(crate) out: PathBuf,
    pub(crate) jobs: usize,
    pub(crate) layout: Layout,
    pub(crate) flags: Flags,
    pub(crate) prune: bool,
    /// This run's shard (its requests, its CsrId space, the folder's shard).
    pub(crate) shard: Option<Shard>,
    pub(crate) passphrase: Option<Passphrase>,
    /// `--key-format`, if given; else the folder's (see [`crate::output::folder::check`]).
    pub(crate) key_format: Option<KeyFormat>,
    /// `--renew-before`: certificates this close to their end are expiring too.
    pub(crate) renew_before: Option<time::Duration>,
    /// `--check`: plan, and exit 1 unless everything is unchanged.
    pub(crate) check: bool,
    pub(crate) quiet: bool,
    pub(crate) output: Output,
    /// Print the closing line (bench runs print their own table instead).
    pub(crate) closing_line: bool,
    /// `bench`: the key types to measure, how many requests each (`None`: its default),
    /// and where to write (`None`: in memory).
    pub(crate) bench: Bench,
    /// `merge`: the shard folders and whether to copy their pairs. (`paths` are the
    /// manifests given with `--manifests`; none: those each shard recorded.)
    pub(crate) merge: Merge,
    /// `import`: the trusted roots and the .p12 to make. (`paths` are the certificates.)
    pub(crate) import: Import,
}

/// What `import` checks against and writes.
#[derive(Debug, Default)]
pub(crate) struct Import {
    /// `--ca-bundle`: chains must end at one of its roots.
    pub(crate) ca_bundle: Option<PathBuf>,
    /// `--p12` / `--p12-legacy`, with its passphrase.
    pub(crate) p12: Option<P12>,
}

/// A `.p12` to write per request.
#[derive(Debug)]
pub(crate) struct P12 {
    /// 3DES and a SHA-1 MAC (`--p12-legacy`) instead of AES-256 and SHA-256.
    pub(crate) legacy: bool,
    pub(crate) passphrase: Passphrase,
}

/// What `merge` joins.
#[derive(Debug, Default)]
pub(crate) struct Merge {
    /// The shards' output folders, as given (messages name them so).
    pub(crate) shards: Vec<PathBuf>,
    /// `--collect`: copy every pair into `--out` too.
    pub(crate) collect: bool,
}

/// What `bench` measures.
#[derive(Debug, Default)]
pub(crate) struct Bench {
    pub(crate) keys: Vec<KeyAlgorithm>,
    pub(crate) count: Option<usize>,
    pub(crate) out: Option<PathBuf>,
}

impl Settings {
    /// All defaults: a fresh run into `out` on `jobs` threads, no bar, no closing line.
    pub fn plain(out: PathBuf, jobs: usize) -> Settings {
        Settings {
            paths: Vec::new(),
            read: ReadOptions::default(),
            out,
            jobs,
            layout: Layout::default(),
            flags: Flags::default(),
            prune: false,
            shard: None,
            passphrase: None,
            key_format: None,
            renew_before: None,
            check: false,
            quiet: true,
            output: Output::Text,
            closing_line: false,
            bench: Bench::default(),
            merge: Merge::default(),
            import: Import::default(),
        }
    }

    /// `generate`: the shard from `--shard` or the engine's variables.
    pub(crate) fn generate(args: &GenerateArgs) -> Result<Settings, Error> {
        let shard = shard(args.shard, args.shards)?;
        let settings = Settings {
            key_format: args.key_format,
            check: args.check,
            quiet: args.progress.quiet,
            output: output(args.json),
            ..Settings::run(&args.run, shard)?
        };
        // OpenSSL's legacy PEM encryption is all the traditional forms have: never used.
        if settings.key_format == Some(KeyFormat::Traditional) && settings.passphrase.is_some() {
            return Err(Error::Usage(
                "--key-format traditional cannot be combined with a key passphrase: the \
                 traditional forms have only OpenSSL's legacy PEM encryption, which is weak; use pkcs8"
                    .into(),
            ));
        }
        Ok(settings)
    }

    /// `plan`: the shard from `--shard` or the engine's variables, as `generate` finds it.
    pub(crate) fn plan(args: &PlanArgs) -> Result<Settings, Error> {
        let shard = shard(args.shard, None)?;
        Ok(Settings { output: output(args.json), ..Settings::run(&args.run, shard)? })
    }

    /// `import`: the p12 passphrase is read here, never taken from the command line.
    pub(crate) fn import(args: &ImportArgs) -> Result<Settings, Error> {
        let p12_passphrase = crate::secret::passphrase(
            args.p12_passphrase_env.as_deref(),
            args.p12_passphrase_file.as_deref(),
        )?;
        let p12 = match (args.p12 || args.p12_legacy, p12_passphrase) {
            (false, _) => None,
            (true, Some(passphrase)) => Some(P12 { legacy: args.p12_legacy, passphrase }),
            (true, None) => {
                return Err(Error::Usage(
                    "--p12 needs its passphrase: --p12-passphrase-env VAR or --p12-passphrase-file FILE"
                        .into(),
                ));
            }
        };
        Ok(Settings {
            paths: args.paths.clone(),
            passphrase: passphrase(&args.keys)?,
            quiet: args.progress.quiet,
            output: output(args.json),
            closing_line: true,
            import: Import { ca_bundle: args.ca_bundle.clone(), p12 },
            ..Settings::plain(args.out.clone(), default_jobs())
        })
    }

    /// `validate`.
    pub(crate) fn validate(args: &ValidateArgs) -> Settings {
        Settings {
            paths: args.paths.clone(),
            read: ReadOptions { encoding: args.encoding },
            output: output(args.json),
            ..Settings::plain(PathBuf::new(), 1)
        }
    }

    /// `merge`: `--manifests` (read with `--encoding`) are the paths.
    pub(crate) fn merge(args: &MergeArgs) -> Settings {
        Settings {
            paths: args.manifests.clone(),
            read: ReadOptions { encoding: args.encoding },
            merge: Merge { shards: args.shards.clone(), collect: args.collect },
            ..Settings::plain(args.out.clone(), 1)
        }
    }

    /// `bench`: the key types asked for (all five without `--algorithm`).
    pub(crate) fn bench(args: &BenchArgs) -> Result<Settings, Error> {
        let jobs = args.jobs.map_or_else(default_jobs, |n| n.get());
        let keys = bench_keys(args)?;
        let out = args.out.clone();
        if let Some(out) = &out
            && std::fs::read_dir(out).is_ok_and(|mut d| d.next().is_some())
        {
            return Err(Error::Usage(format!(
                "bench --out {}: the folder must be new or empty",
                out.display()
            )));
        }
        Ok(Settings {
            quiet: args.progress.quiet,
            output: output(args.json),
            bench: Bench { keys, count: args.count, out },
            ..Settings::plain(PathBuf::new(), jobs)
        })
    }

    /// The flags `generate` and `plan` share.
    fn run(args: &RunArgs, shard: Option<Shard>) -> Result<Settings, Error> {
        Ok(Settings {
            paths: args.paths.clone(),
            read: args.read_options(),
            layout: args.layout,
            flags: Flags {
                rotate: args.replace.rotate,
                repair: args.replace.repair,
                reencrypt: args.replace.reencrypt,
                reuse_key: args.replace.reuse_key,
                live_key: false,
            },
            renew_before: args.replace.renew_before,
            prune: args.replace.prune,
            shard,
            passphrase: passphrase(&args.keys)?,
            quiet: false,
            closing_line: true,
            ..Settings::plain(args.out.clone(), args.jobs.map_or_else(default_jobs, |n| n.get()))
        })
    }

    /// How validation opens each `KeyFile`: with this run's passphrase, knowing `--out`.
    pub(crate) fn key_files(&self) -> KeyFileCheck<'_> {
        KeyFileCheck::Open { passphrase: self.passphrase.as_ref(), out: &self.out }
    }

    /// What this run asks of the output folder, for [`crate::output::folder::check`].
    pub(crate) fn wanted(&self) -> Wanted<'_> {
        Wanted {
            layout: self.layout,
            shard: self.shard,
            passphrase: self.passphrase.as_ref(),
            reencrypt: self.flags.reencrypt,
            key_format: self.key_format,
        }
    }

    /// Whether the request is this run's (its shard's).
    pub(crate) fn holds(&self, request: &Result<CsrRequest, Error>) -> bool {
        match (self.shard, request) {
            (Some(shard), Ok(r)) => shard.holds(r.name.as_str()),
            _ => true,
        }
    }
}

fn output(json: bool) -> Output {
    Output::of(json)
}

/// The key types `bench` measures: all five, or those of `--algorithm` (and `--key-size`).
fn bench_keys(args: &BenchArgs) -> Result<Vec<KeyAlgorithm>, Error> {
    let Some(algorithm) = &args.algorithm else {
        return match args.key_size {
            None => Ok(KeyAlgorithm::ALL.to_vec()),
            Some(_) => Err(Error::Usage("--key-size needs --algorithm".into())),
        };
    };
    let size = args.key_size.map(|s| s.to_string());
    match KeyAlgorithm::from_parts(algorithm, size.as_deref()) {
        Ok(key) => Ok(vec![key]),
        // `--algorithm RSA` alone: every RSA size.
        Err(_) if size.is_none() && algorithm.eq_ignore_ascii_case("rsa") => {
            Ok(vec![KeyAlgorithm::Rsa2048, KeyAlgorithm::Rsa3072, KeyAlgorithm::Rsa4096])
        }
        Err((field, problem)) => {
            let flag = if field == Field::KeySize { "key-size" } else { "algorithm" };
            Err(Error::Usage(format!("--{flag}: {problem}")))
        }
    }
}

/// The shard of a run: `--shard`, else the engine's variables.
fn shard(given: Option<Shard>, shards: Option<u32>) -> Result<Option<Shard>, Error> {
    match given {
        Some(shard) => Ok(Some(shard)),
        None => Shard::from_env(|v| std::env::var(v).ok(), shards).map_err(Error::Shard),
    }
}

/// The key passphrase, from an environment variable or a file (never the command line).
fn passphrase(args: &KeyArgs) -> Result<Option<Passphrase>, Error> {
    let env = args.key_passphrase_env.as_deref();
    Ok(crate::secret::passphrase(env, args.key_passphrase_file.as_deref())?)
}

/// All cores.
pub(crate) fn default_jobs() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    fn generate(args: &[&str]) -> Result<Settings, Error> {
        let cli =
            crate::cli::Cli::try_parse_from([&["csrbatch", "generate", "m.yaml"], args].concat()).unwrap();
        let crate::cli::Command::Generate(args) = cli.command else { unreachable!() };
        Settings::generate(&args)
    }

    #[test]
    fn traditional_keys_take_no_passphrase() {
        let pass = tempfile::NamedTempFile::new().unwrap();
        std::fs::write(pass.path(), "p\n").unwrap();
        let file = pass.path().to_str().unwrap();
        let err = generate(&["--key-format", "traditional", "--key-passphrase-file", file]).unwrap_err();
        assert!(matches!(err, Error::Usage(_)) && err.to_string().contains("traditional"), "{err}");
        let ok = generate(&["--key-format", "pkcs8", "--key-passphrase-file", file]).unwrap();
        assert!(ok.passphrase.is_some() && ok.key_format == Some(KeyFormat::Pkcs8));
        assert!(generate(&["--key-format", "traditional"]).is_ok());
    }

    #[test]
    fn settings_are_resolved_once_from_the_flags() {
        let s = generate(&["--out", "certs", "--jobs", "3", "-q", "--check", "--shard", "1/4", "--json"])
            .unwrap();
        assert_eq!(
            (s.out.as_path(), s.jobs, s.quiet, s.check),
            (std::path::Path::new("certs"), 3, true, true)
        );
        assert_eq!((s.shard.map(|s| s.to_string()), s.output), (Some("1/4".to_owned()), Output::Json));
    }
}
