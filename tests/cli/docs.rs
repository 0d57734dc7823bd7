//! The manual around the binary: completion scripts the shells accept and that complete,
//! man pages groff renders without a warning, `--version`.

use std::io::Write;
use std::process::{Command, Stdio};

use crate::util::*;

/// Runs `program args...` with `input` on stdin; (exit ok, stdout, stderr).
fn run_with_input(program: &str, args: &[&str], input: &[u8]) -> Option<(bool, String, String)> {
    let mut child = match Command::new(program)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
    {
        Ok(child) => child,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return None,
        Err(e) => panic!("{program}: {e}"),
    };
    child.stdin.take().unwrap().write_all(input).unwrap();
    let o = child.wait_with_output().unwrap();
    Some((
        o.status.success(),
        String::from_utf8_lossy(&o.stdout).into_owned(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    ))
}

/// A shell or renderer that judges the manual: skipped, loudly, where it is not installed.
fn installed(program: &str, package: &str) -> bool {
    judge(program, runs(program), &format!("apt-get install {package}"))
}

fn script(shell: &str) -> tempfile::NamedTempFile {
    let run = csrbatch(["completions", shell]);
    assert!(run.status.success(), "{}", stderr(&run));
    assert!(!run.stdout.is_empty());
    let mut file = tempfile::NamedTempFile::new().unwrap();
    file.write_all(&run.stdout).unwrap();
    file
}

#[test]
fn bash_completion_parses_and_completes_subcommands_flags_and_shells() {
    let file = script("bash");
    let path = file.path().to_str().unwrap();
    let syntax = Command::new("bash").args(["-n", path]).output().unwrap();
    assert!(syntax.status.success(), "bash -n: {}", String::from_utf8_lossy(&syntax.stderr));
    // What bash would offer after `csrbatch gen<TAB>`, `csrbatch generate --key-p<TAB>`
    // and `csrbatch completions <TAB>`: the function the script registers, called as
    // bash's completion machinery calls it.
    let complete = |words: &str, cword: usize| {
        let program = format!(
            "source {path}; COMP_WORDS=({words}); COMP_CWORD={cword}; \
             _csrbatch csrbatch \"${{COMP_WORDS[{cword}]}}\" \"${{COMP_WORDS[{}]}}\"; \
             printf '%s\\n' \"${{COMPREPLY[@]}}\"",
            cword - 1
        );
        let o = Command::new("bash").args(["-c", &program]).output().unwrap();
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        String::from_utf8(o.stdout).unwrap()
    };
    assert_eq!(complete("csrbatch gen", 1).trim(), "generate");
    assert_eq!(complete("csrbatch generate --key-p", 2), "--key-passphrase-env\n--key-passphrase-file\n");
    assert_eq!(complete("csrbatch generate --layout ''", 3), "flat\nfanout\n");
    let shells = complete("csrbatch completions ''", 2);
    for shell in ["bash", "zsh", "fish", "powershell", "elvish"] {
        assert!(shells.lines().any(|l| l == shell), "{shell} missing in {shells}");
    }
}

#[test]
fn zsh_and_fish_completions_parse() {
    if installed("zsh", "zsh") {
        let file = script("zsh");
        let o = Command::new("zsh").arg("-n").arg(file.path()).output().unwrap();
        assert!(o.status.success(), "zsh -n: {}", String::from_utf8_lossy(&o.stderr));
    }
    if installed("fish", "fish") {
        let file = script("fish");
        let o = Command::new("fish").arg("-n").arg(file.path()).output().unwrap();
        assert!(o.status.success(), "fish -n: {}", String::from_utf8_lossy(&o.stderr));
        // fish itself completes from the script.
        let program = format!("source {}; complete -C 'csrbatch gen'", file.path().display());
        let o = Command::new("fish").args(["-c", &program]).output().unwrap();
        assert!(String::from_utf8_lossy(&o.stdout).starts_with("generate\t"), "{o:?}");
    }
    for shell in ["powershell", "elvish"] {
        let run = csrbatch(["completions", shell]);
        assert!(run.status.success() && String::from_utf8_lossy(&run.stdout).contains("merge"));
    }
    assert_eq!(csrbatch(["completions", "tcsh"]).status.code(), Some(2));
}

#[test]
fn man_pages_render_without_warnings() {
    if !installed("groff", "groff-base") {
        return;
    }
    use clap::CommandFactory;
    let cli = csrbatch::cli::Cli::command();
    let mut pages = vec![("csrbatch".to_owned(), None)];
    for sub in cli.get_subcommands().map(clap::Command::get_name) {
        pages.push((format!("csrbatch-{sub}"), Some(sub)));
    }
    assert!(pages.len() >= 8, "every subcommand has a page: {pages:?}");
    for (title, sub) in pages {
        let run = match sub {
            None => csrbatch(["man"]),
            Some(sub) => csrbatch(["man", sub]),
        };
        assert!(run.status.success(), "{}", stderr(&run));
        // groff with every warning turned on (-ww) is the judge (`man -l` runs it); -P-cbou:
        // plain text, no bold or underline by overstriking.
        let (ok, text, warnings) =
            run_with_input("groff", &["-man", "-Tutf8", "-ww", "-P-cbou"], &run.stdout).expect("groff runs");
        assert!(ok && warnings.is_empty(), "{title}: groff: {warnings}");
        assert!(text.contains("NAME") && text.contains(&format!("{title}(1)")), "{title}:\n{text}");
        assert!(text.contains("SYNOPSIS") && text.contains("--help"), "{title}:\n{text}");
    }
    let generate = String::from_utf8(csrbatch(["man", "generate"]).stdout).unwrap();
    assert!(generate.contains("key\\-passphrase\\-file"), "the options are on the page");
    let run = csrbatch(["man", "frobnicate"]);
    assert_eq!(run.status.code(), Some(2));
    assert!(stderr(&run).contains("no subcommand `frobnicate`"), "{}", stderr(&run));
}

#[test]
fn version_names_the_rsa_and_sm2_backends() {
    let run = csrbatch(["--version"]);
    assert!(run.status.success());
    let text = String::from_utf8(run.stdout).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines[0], format!("csrbatch {}", env!("CARGO_PKG_VERSION")));
    let backend =
        if cfg!(feature = "openssl-rsa") { "RSA keys: OpenSSL 3." } else { "RSA keys: rsa crate 0." };
    assert!(lines[1].starts_with(backend), "{text}");
    let sm2 = if cfg!(feature = "botan-sm2") { "SM2 keys: Botan 3." } else { "SM2 keys: sm2 crate 0." };
    assert!(lines[2].starts_with(sm2), "{text}");
    // -V stays the one-line form scripts parse.
    let short = String::from_utf8(csrbatch(["-V"]).stdout).unwrap();
    assert_eq!(short.trim(), format!("csrbatch {}", env!("CARGO_PKG_VERSION")));
}

#[test]
fn the_readme_shows_every_subcommand() {
    use clap::CommandFactory;
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).unwrap();
    for sub in csrbatch::cli::Cli::command().get_subcommands() {
        let usage = format!("csrbatch {}", sub.get_name());
        assert!(readme.contains(&usage), "README.md has no `{usage}`");
    }
    // The first commands a reader sees are the ones .ci/run executes.
    let first = readme.split("```sh\n").nth(1).and_then(|b| b.split("```").next()).unwrap();
    let commands: Vec<&str> = first.lines().map(|l| l.split('#').next().unwrap().trim()).collect();
    assert_eq!(commands, ["cargo run --release -- generate manifests/", "cargo test"]);
}
