//! On a real terminal (a pseudo-terminal made by `script`): the progress bar shows unless
//! `-q`, `TERM=dumb` or no terminal; `NO_COLOR` does not hide it.

use std::process::Command;

use crate::util::*;

/// Runs csrbatch with `args` on a pseudo-terminal, with `env` set; all it printed there.
fn on_a_terminal(args: &str, env: &[(&str, &str)]) -> String {
    let command = format!("{} {args}", env!("CARGO_BIN_EXE_csrbatch"));
    let mut script = Command::new("script");
    // -q: no "Script started" lines; -e: csrbatch's exit status; -c: the command; the
    // typescript goes to /dev/null, what the terminal showed to stdout.
    script.args(["-qec", &command, "/dev/null"]).env("TERM", "xterm-256color").env_remove("NO_COLOR");
    for (k, v) in env {
        script.env(k, v);
    }
    let o = script.output().expect("script (util-linux) must be installed");
    assert!(o.status.success(), "{command}: {}{}", String::from_utf8_lossy(&o.stdout), stderr(&o));
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// A bar frame: `12/40 CSRs` (the closing line says `generated 40 CSRs`, without a slash).
fn shows_bar(screen: &str, total: usize) -> bool {
    screen.contains(&format!("/{total} CSRs"))
}

fn manifest(dir: &Dir, count: usize) -> std::path::PathBuf {
    let mut text =
        String::from("defaults: {CountryCode: CN, Province: Zhejiang, Locality: Hangzhou}\nrequests:\n");
    // One RSA key keeps the run long enough for the bar's first frames.
    text.push_str("  - {Algorithm: RSA, KeySize: 2048, CommonName: rsa.example.com}\n");
    for i in 1..count {
        text.push_str(&format!("  - {{Algorithm: ECC, CommonName: h{i}.example.com}}\n"));
    }
    dir.write("m.yaml", &text)
}

#[test]
fn no_color_keeps_the_bar_quiet_and_dumb_terminals_hide_it() {
    let dir = Dir::new();
    let m = manifest(&dir, 40);
    let run = |out: &str, flags: &str, env: &[(&str, &str)]| {
        on_a_terminal(&format!("generate {} --out {} {flags}", m.display(), dir.path(out).display()), env)
    };
    let plain = run("a", "", &[]);
    assert!(shows_bar(&plain, 40), "a terminal shows the bar:\n{plain}");
    let no_color = run("b", "", &[("NO_COLOR", "1")]);
    assert!(shows_bar(&no_color, 40), "NO_COLOR drops colour, not the bar:\n{no_color}");
    assert!(!no_color.contains("\x1b[3"), "no colour escapes with NO_COLOR");
    for (out, flags, env) in
        [("c", "-q", &[][..]), ("d", "--quiet", &[][..]), ("e", "", &[("TERM", "dumb")][..])]
    {
        let screen = run(out, flags, env);
        assert!(!shows_bar(&screen, 40), "{flags} {env:?}: no bar:\n{screen}");
        assert!(screen.contains("generated 40 CSRs"), "the closing line stays:\n{screen}");
    }
    // Not a terminal at all: no bar either.
    let piped = csrbatch(["generate".as_ref(), m.as_os_str(), "--out".as_ref(), dir.path("f").as_os_str()]);
    assert!(piped.status.success() && !shows_bar(&stderr(&piped), 40), "{}", stderr(&piped));
}

#[test]
fn bench_shows_a_bar_unless_quiet() {
    let bench = "bench --algorithm RSA --key-size 2048 --count 4 --jobs 1";
    let screen = on_a_terminal(bench, &[]);
    assert!(shows_bar(&screen, 4), "{screen}");
    let quiet = on_a_terminal(&format!("{bench} -q"), &[]);
    assert!(!shows_bar(&quiet, 4) && quiet.contains("RSA-2048"), "{quiet}");
}

#[test]
fn no_color_drops_the_styling_of_help_and_errors() {
    let styled = on_a_terminal("generate --help", &[]);
    assert!(styled.contains("\x1b["), "a terminal gets styled help:\n{styled}");
    let plain = on_a_terminal("generate --help", &[("NO_COLOR", "1")]);
    assert!(!plain.contains("\x1b[") && plain.contains("Usage: csrbatch generate"), "{plain}");
}
