//! A real nginx (Debian's `/usr/sbin/nginx`) serving a certificate and key on 127.0.0.1,
//! judged by `openssl s_client`: the handshake verifies against the test root and the
//! hostname, and which certificate was served (its fingerprint). nginx runs in the
//! foreground with its config, pid file, logs and temporary folders in a temp dir of its
//! own, and is stopped by its pid when the value is dropped (also when a test panics).

use std::io::Write;
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use rustix::process::{Pid, Signal, kill_process};

use crate::ca::{Ca, Issue, hex_norm, openssl_ok};
use crate::util::{Dir, judge};

pub const NGINX: &str = "/usr/sbin/nginx";

/// Whether nginx is here (a judge: CI installs it).
pub fn nginx() -> bool {
    judge("nginx (/usr/sbin/nginx)", Path::new(NGINX).exists(), "apt-get install nginx-light")
}

/// A running nginx master process (and its one worker).
pub struct Nginx {
    child: Child,
    pub port: u16,
    dir: tempfile::TempDir,
}

impl Nginx {
    /// Starts nginx serving `fullchain` and `key` for `server_name` on a free port of
    /// 127.0.0.1, once it accepts connections.
    pub fn start(fullchain: &Path, key: &Path, server_name: &str) -> Nginx {
        let mut failures = String::new();
        // A free port can be taken between our probe and nginx's bind: try again.
        for _ in 0..3 {
            match Nginx::try_start(fullchain, key, server_name) {
                Ok(n) => return n,
                Err(said) => failures += &said,
            }
        }
        panic!("nginx did not start:\n{failures}");
    }

    fn try_start(fullchain: &Path, key: &Path, server_name: &str) -> Result<Nginx, String> {
        let dir = tempfile::tempdir().unwrap();
        let port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let d = dir.path().display();
        // As root the master would hand the workers to `nobody`; as anyone else the
        // directive is ignored. The current user either way.
        let user = if rustix::process::geteuid().is_root() { "user root;\n" } else { "" };
        let conf = format!(
            "{user}worker_processes 1;\nerror_log {d}/error.log info;\n\
             events {{ worker_connections 64; }}\n\
             http {{\n  access_log {d}/access.log;\n  client_body_temp_path {d}/body;\n\
             \x20 proxy_temp_path {d}/proxy;\n  fastcgi_temp_path {d}/fastcgi;\n\
             \x20 uwsgi_temp_path {d}/uwsgi;\n  scgi_temp_path {d}/scgi;\n\
             \x20 server {{\n    listen 127.0.0.1:{port} ssl;\n    server_name {server_name};\n\
             \x20   ssl_certificate {};\n    ssl_certificate_key {};\n\
             \x20   location / {{ return 200 \"ok\\n\"; }}\n  }}\n}}\n",
            fullchain.display(),
            key.display(),
        );
        let conf_file = dir.path().join("nginx.conf");
        std::fs::write(&conf_file, conf).unwrap();
        let child = Command::new(NGINX)
            .arg("-p")
            .arg(dir.path())
            .arg("-c")
            .arg(&conf_file)
            .arg("-e")
            .arg(dir.path().join("error.log"))
            .arg("-g")
            .arg(format!("daemon off; pid {d}/nginx.pid;"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("run nginx");
        let mut n = Nginx { child, port, dir };
        let start = Instant::now();
        loop {
            if let Some(status) = n.child.try_wait().unwrap() {
                return Err(format!("nginx exited ({status}): {}\n", n.error_log()));
            }
            if TcpStream::connect(("127.0.0.1", port)).is_ok() {
                return Ok(n);
            }
            if start.elapsed() > Duration::from_secs(20) {
                return Err(format!("nginx did not listen in 20 s: {}\n", n.error_log()));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// The master's pid.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The pids of the master's children (the worker).
    pub fn worker_pids(&self) -> Vec<u32> {
        let mut pids = Vec::new();
        for e in std::fs::read_dir("/proc").unwrap().flatten() {
            let Ok(pid) = e.file_name().to_string_lossy().parse::<u32>() else { continue };
            if let Some((_, ppid)) = proc_stat(pid)
                && ppid == self.pid()
            {
                pids.push(pid);
            }
        }
        pids
    }

    pub fn error_log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("error.log")).unwrap_or_default()
    }

    /// The handshake with this server, for `server_name`, trusting `root` alone.
    pub fn handshake(&self, server_name: &str, root: &Path) -> Handshake {
        handshake(self.port, server_name, root)
    }
}

impl Drop for Nginx {
    fn drop(&mut self) {
        // TERM: the master stops its worker and exits; KILL if it has not in 10 s.
        let pid = Pid::from_raw(i32::try_from(self.pid()).unwrap()).unwrap();
        let _ = kill_process(pid, Signal::TERM);
        let start = Instant::now();
        while self.child.try_wait().ok().flatten().is_none() {
            if start.elapsed() > Duration::from_secs(10) {
                let _ = kill_process(pid, Signal::KILL);
                let _ = self.child.wait();
                break;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}

/// (state, parent pid) from `/proc/PID/stat`, if the process exists.
fn proc_stat(pid: u32) -> Option<(char, u32)> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // `pid (comm) state ppid ...`; comm may hold spaces and parentheses.
    let rest = &stat[stat.rfind(')')? + 2..];
    let mut fields = rest.split(' ');
    let state = fields.next()?.chars().next()?;
    Some((state, fields.next()?.parse().ok()?))
}

/// Whether a process runs (exists and is not a zombie waiting for its parent).
pub fn alive(pid: u32) -> bool {
    proc_stat(pid).is_some_and(|(state, _)| state != 'Z' && state != 'X')
}

/// What `openssl s_client` said of a handshake.
pub struct Handshake {
    /// It printed `Verify return code: 0 (ok)` after a completed, verified handshake.
    pub verified: bool,
    /// SHA-256 fingerprint (lower-case hex) of the leaf the server sent.
    pub leaf_fingerprint: Option<String>,
    pub said: String,
}

/// `openssl s_client -connect 127.0.0.1:PORT -servername NAME -CAfile ROOT
/// -verify_return_error -verify_hostname NAME`, stdin closed.
pub fn handshake(port: u16, server_name: &str, root: &Path) -> Handshake {
    let o = Command::new("openssl")
        .args(["s_client", "-connect", &format!("127.0.0.1:{port}"), "-servername", server_name])
        .args(["-CAfile", root.to_str().unwrap(), "-verify_return_error", "-verify_hostname", server_name])
        .stdin(Stdio::null())
        .output()
        .expect("openssl s_client");
    let stdout = String::from_utf8_lossy(&o.stdout).into_owned();
    let said = format!("{stdout}{}", String::from_utf8_lossy(&o.stderr));
    let leaf_fingerprint = crate::ca::pem_blocks(&stdout, "CERTIFICATE").first().map(|b| {
        let mut x509 = Command::new("openssl")
            .args(["x509", "-noout", "-fingerprint", "-sha256"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        x509.stdin.take().unwrap().write_all(crate::ca::pem("CERTIFICATE", b).as_bytes()).unwrap();
        let out = x509.wait_with_output().unwrap();
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        hex_norm(text.trim().trim_start_matches("sha256 Fingerprint="))
    });
    // A failed handshake prints `Verify return code: 0 (ok)` too (of a session that never
    // was): what counts is the exit code and `Verification: OK` with it.
    let verified = o.status.success()
        && said.contains("Verification: OK")
        && said.contains("Verify return code: 0 (ok)")
        && !said.contains("Verification error");
    Handshake { verified, leaf_fingerprint, said }
}

/// An openssl-made key and CSR with `cn` as CommonName and SAN, in `dir`.
fn openssl_request(dir: &Dir, cn: &str) -> (PathBuf, PathBuf) {
    let (key, csr) = (dir.path("server.key.pem"), dir.path("server.csr.pem"));
    openssl_ok(&[
        "genpkey",
        "-algorithm",
        "EC",
        "-pkeyopt",
        "ec_paramgen_curve:P-256",
        "-out",
        key.to_str().unwrap(),
    ]);
    let (subj, san) = (format!("/CN={cn}"), format!("subjectAltName=DNS:{cn}"));
    openssl_ok(&[
        "req",
        "-new",
        "-key",
        key.to_str().unwrap(),
        "-subj",
        &subj,
        "-addext",
        &san,
        "-out",
        csr.to_str().unwrap(),
    ]);
    (key, csr)
}

#[test]
fn the_nginx_harness_serves_what_it_is_given_and_stops_by_its_pid() {
    if !nginx() {
        return;
    }
    let dir = Dir::new();
    let ca = Ca::new();
    let (key, csr) = openssl_request(&dir, "harness.example.com");
    let issued = ca.issue(&csr, &Issue::default());
    let fullchain = issued.fullchain();
    let server = Nginx::start(&fullchain, &key, "harness.example.com");
    let shake = server.handshake("harness.example.com", &ca.root);
    assert!(shake.verified, "{}\n{}", shake.said, server.error_log());
    let want = crate::ca::cert_facts(&issued.leaf).fingerprint;
    assert_eq!(shake.leaf_fingerprint.as_deref(), Some(want.as_str()), "the served leaf");
    // The judge can say no: another root, another hostname.
    let other = Ca::other();
    let shake = server.handshake("harness.example.com", &other.root);
    assert!(!shake.verified, "an untrusted root: {}", shake.said);
    assert!(!server.handshake("elsewhere.example.com", &ca.root).verified, "a wrong hostname");

    let (master, workers) = (server.pid(), server.worker_pids());
    assert!(alive(master) && !workers.is_empty(), "{workers:?}");
    drop(server);
    assert!(!alive(master), "the master is stopped");
    assert!(workers.iter().all(|w| !alive(*w)), "the workers are stopped: {workers:?}");

    // A test that panics while nginx runs stops it too (the value is dropped on unwind).
    let (tx, rx) = std::sync::mpsc::channel();
    let (chain, key2) = (fullchain.clone(), key.clone());
    let panicked = std::thread::spawn(move || {
        let server = Nginx::start(&chain, &key2, "harness.example.com");
        tx.send((server.pid(), server.worker_pids())).unwrap();
        panic!("a test failing while nginx runs (expected by this test)");
    })
    .join();
    assert!(panicked.is_err());
    let (master, workers) = rx.recv().unwrap();
    assert!(!alive(master) && workers.iter().all(|w| !alive(*w)), "stopped after a panic");
}
