//! A throwaway CA for the import tests, driven by the real `openssl` in a temporary folder:
//! a self-signed root and an intermediate (RSA root and ECC intermediate, or both SM2),
//! `openssl ca` issuing for the CSRs csrbatch made (their extensions copied, or a SAN
//! dropped), with any validity window (OpenSSL 3.0's `x509` has no `-not_before`, `ca` has
//! `-startdate`/`-enddate`), and each certificate delivered in every form CAs use: leaf and
//! a separate chain, full chain, DER, PKCS#7 (DER, PEM, and BER with indefinite lengths as
//! Windows and EJBCA write it) and a zip. Also the openssl judges of certificates.

use std::cell::Cell;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{SystemTime, UNIX_EPOCH};

use crate::util::{judge, openssl, openssl_sans, runs};

/// The GM/T 0009 default ID SM2 signatures are made and checked with.
pub const SM2_ID: &str = "distid:1234567812345678";
const DAY: i64 = 86_400;

/// Runs openssl, panicking with its stderr when it fails.
pub fn openssl_ok(args: &[&str]) -> String {
    let o = openssl(args);
    assert!(o.status.success(), "openssl {args:?}: {}", String::from_utf8_lossy(&o.stderr));
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// `YYYYMMDDHHMMSSZ` of a Unix time (UTC), as `openssl ca -startdate` reads it.
pub fn openssl_time(unix: i64) -> String {
    let (days, secs) = (unix.div_euclid(DAY), unix.rem_euclid(DAY));
    // Howard Hinnant's civil_from_days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!("{year:04}{month:02}{day:02}{:02}{:02}{:02}Z", secs / 3600, secs / 60 % 60, secs % 60)
}

fn now() -> i64 {
    i64::try_from(SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs()).unwrap()
}

/// A validity window, in seconds from now.
#[derive(Clone, Copy, Debug)]
pub struct Validity {
    pub from: i64,
    pub to: i64,
}

impl Validity {
    /// 90 days, valid since an hour ago.
    pub fn fresh() -> Validity {
        Validity { from: -3600, to: 90 * DAY - 3600 }
    }
    /// 90 days of which 64 are gone: 26 left, less than a third, so it is `expiring`.
    pub fn two_thirds_spent() -> Validity {
        Validity { from: -64 * DAY, to: 26 * DAY }
    }
    pub fn expired() -> Validity {
        Validity { from: -91 * DAY, to: -DAY }
    }
    pub fn not_yet_valid() -> Validity {
        Validity { from: DAY, to: 91 * DAY }
    }
}

/// How a certificate is issued.
#[derive(Clone, Debug)]
pub struct Issue {
    pub validity: Validity,
    /// The SAN entry (as openssl prints it, `DNS:x` or `IP:x`) the CA leaves out: the
    /// certificate then gets an explicit SAN list instead of the CSR's extensions.
    pub drop_san: Option<String>,
    /// Issue it as a CA certificate (`CA:TRUE`, keyCertSign): a sub-CA's CSR.
    pub ca: bool,
}

impl Default for Issue {
    fn default() -> Issue {
        Issue { validity: Validity::fresh(), drop_san: None, ca: false }
    }
}

impl Issue {
    pub fn valid(validity: Validity) -> Issue {
        Issue { validity, ..Issue::default() }
    }
}

/// The root and the intermediate, in a temporary folder.
pub struct Ca {
    dir: tempfile::TempDir,
    /// The root certificate (self-signed, CA:TRUE): what `--ca-bundle` is given.
    pub root: PathBuf,
    /// The intermediate (CA:TRUE, signed by the root) that issues the leaves.
    pub intermediate: PathBuf,
    root_key: PathBuf,
    intermediate_key: PathBuf,
    pub sm2: bool,
    issued: Cell<usize>,
}

const CA_EXTENSIONS: &str = "[ca_cert]\n\
    basicConstraints = critical,CA:TRUE\n\
    keyUsage = critical,keyCertSign,cRLSign\n\
    subjectKeyIdentifier = hash\n\
    authorityKeyIdentifier = keyid\n";

impl Ca {
    /// An RSA root and a P-256 intermediate.
    pub fn new() -> Ca {
        Ca::make(false, "csrbatch test")
    }

    /// A root and an intermediate that are both SM2, signing SM2-with-SM3 with the
    /// standard ID.
    pub fn sm2() -> Ca {
        Ca::make(true, "csrbatch SM2 test")
    }

    /// Another CA with its own root, which a `--ca-bundle` of this one does not trust.
    pub fn other() -> Ca {
        Ca::make(false, "someone else's")
    }

    fn make(sm2: bool, label: &str) -> Ca {
        let dir = tempfile::tempdir().unwrap();
        let base = dir.path().to_path_buf();
        let p = |f: &str| base.join(f);
        std::fs::create_dir(p("db")).unwrap();
        std::fs::write(p("db/index.txt"), "").unwrap();
        std::fs::write(p("ca-ext.cnf"), CA_EXTENSIONS).unwrap();
        let (root, intermediate) = (p("root.pem"), p("intermediate.pem"));
        let (root_key, intermediate_key) = (p("root.key"), p("intermediate.key"));
        let ca = Ca { root, intermediate, root_key, intermediate_key, sm2, issued: Cell::new(0), dir };
        if sm2 {
            ca.genkey("SM2", &[], &ca.root_key);
            ca.genkey("SM2", &[], &ca.intermediate_key);
        } else {
            ca.genkey("RSA", &["-pkeyopt", "rsa_keygen_bits:2048"], &ca.root_key);
            ca.genkey("EC", &["-pkeyopt", "ec_paramgen_curve:P-256"], &ca.intermediate_key);
        }
        let root_subject = format!("/O={label} CA/CN={label} Root");
        let mut args = vec!["req", "-x509", "-new", "-key", s(&ca.root_key), "-subj", &root_subject];
        args.extend(["-days", "3650", "-out", s(&ca.root)]);
        args.extend(["-addext", "basicConstraints=critical,CA:TRUE"]);
        args.extend(["-addext", "keyUsage=critical,keyCertSign,cRLSign"]);
        args.extend(ca.sm2_sign_args());
        openssl_ok(&args);
        let csr = p("intermediate.csr");
        let subject = format!("/O={label} CA/CN={label} Intermediate");
        let mut args =
            vec!["req", "-new", "-key", s(&ca.intermediate_key), "-subj", &subject, "-out", s(&csr)];
        args.extend(ca.sm2_sign_args());
        openssl_ok(&args);
        let ext = p("ca-ext.cnf");
        let window = Validity { from: -DAY, to: 3650 * DAY };
        ca.sign(&csr, (&ca.root, &ca.root_key), window, (&ext, "ca_cert"), true, &ca.intermediate);
        ca
    }

    /// The intermediate issued again by the root: the same name and key, another serial
    /// (as a CA renews its intermediate; the leaves it issued verify under both).
    pub fn reissued_intermediate(&self) -> PathBuf {
        let out = self.path("intermediate-again.pem");
        let window = Validity { from: -DAY, to: 3650 * DAY };
        let ext = (self.path("ca-ext.cnf"), "ca_cert");
        self.sign(
            &self.path("intermediate.csr"),
            (&self.root, &self.root_key),
            window,
            (&ext.0, ext.1),
            true,
            &out,
        );
        out
    }

    fn genkey(&self, algorithm: &str, opts: &[&str], out: &Path) {
        let mut args = vec!["genpkey", "-algorithm", algorithm];
        args.extend(opts);
        args.extend(["-out", s(out)]);
        openssl_ok(&args);
    }

    fn sm2_sign_args(&self) -> Vec<&'static str> {
        if self.sm2 { vec!["-sm3", "-sigopt", SM2_ID] } else { vec![] }
    }

    fn path(&self, rel: &str) -> PathBuf {
        self.dir.path().join(rel)
    }

    /// `openssl ca` with `issuer` signing `csrs` (one output file, the certificates in
    /// order), for `window`, with the extension section `ext` of a file; `copy` copies the
    /// CSRs' extensions (the SANs) too.
    fn sign_all(
        &self,
        csrs: &[&Path],
        issuer: (&Path, &Path),
        window: Validity,
        ext: (&Path, &str),
        copy: bool,
        out: &Path,
    ) {
        let config = self.path("ca.cnf");
        std::fs::write(&config, ca_config(self.dir.path(), self.sm2, copy)).unwrap();
        let t = now();
        let (start, end) = (openssl_time(t + window.from), openssl_time(t + window.to));
        let mut args = vec!["ca", "-batch", "-notext", "-config", s(&config), "-cert", s(issuer.0)];
        args.extend(["-keyfile", s(issuer.1), "-startdate", &start, "-enddate", &end]);
        args.extend(["-extfile", s(ext.0), "-extensions", ext.1]);
        if self.sm2 {
            args.extend(["-md", "sm3", "-sigopt", SM2_ID, "-vfyopt", SM2_ID]);
        }
        args.push("-infiles");
        args.extend(csrs.iter().map(|c| s(c)));
        // On stdout: `-out` would hold the last certificate only.
        std::fs::write(out, openssl_ok(&args)).unwrap();
    }

    fn sign(
        &self,
        csr: &Path,
        issuer: (&Path, &Path),
        window: Validity,
        ext: (&Path, &str),
        copy: bool,
        out: &Path,
    ) {
        self.sign_all(&[csr], issuer, window, ext, copy, out);
    }

    fn next_folder(&self) -> PathBuf {
        let n = self.issued.get() + 1;
        self.issued.set(n);
        let folder = self.path(&format!("issued-{n}"));
        std::fs::create_dir(&folder).unwrap();
        folder
    }

    /// The leaf extensions: server and client auth; `sans` replaces the CSR's SANs.
    fn leaf_extensions(&self, folder: &Path, sans: Option<&[String]>) -> PathBuf {
        let usage = if self.sm2 { "digitalSignature" } else { "digitalSignature,keyEncipherment" };
        let mut text = format!(
            "[leaf]\nbasicConstraints = critical,CA:FALSE\nkeyUsage = critical,{usage}\n\
             extendedKeyUsage = serverAuth,clientAuth\nsubjectKeyIdentifier = hash\n\
             authorityKeyIdentifier = keyid\n"
        );
        if let Some(sans) = sans {
            text += &format!("subjectAltName = {}\n", sans.join(","));
        }
        let ext = folder.join("leaf.cnf");
        std::fs::write(&ext, text).unwrap();
        ext
    }

    /// Issues a certificate for a CSR csrbatch made, signed by the intermediate.
    pub fn issue(&self, csr: &Path, how: &Issue) -> Issued {
        let folder = self.next_folder();
        let name = csr.file_name().unwrap().to_string_lossy().trim_end_matches(".csr.pem").to_owned();
        let leaf = folder.join("leaf.pem");
        let sans: Option<Vec<String>> = how.drop_san.as_ref().map(|dropped| {
            let all = openssl_sans(csr);
            assert!(all.contains(dropped), "{dropped} is not among the CSR's SANs {all:?}");
            all.into_iter().filter(|e| e != dropped).collect()
        });
        let ext = self.leaf_extensions(&folder, sans.as_deref());
        let issuer = (self.intermediate.as_path(), self.intermediate_key.as_path());
        let section = if how.ca { (self.path("ca-ext.cnf"), "ca_cert") } else { (ext, "leaf") };
        self.sign(csr, issuer, how.validity, (&section.0, section.1), sans.is_none(), &leaf);
        let chain = folder.join("chain.pem");
        std::fs::copy(&self.intermediate, &chain).unwrap();
        Issued { folder, name, leaf, chain }
    }

    /// The SM2 encryption certificate of a dual pair (GM/T 0015): for the SM2 key `enc_key`,
    /// with the subject and SANs of the signing CSR `csr` (a CSR for `enc_key` made with
    /// them, its SANs copied), `keyUsage = critical,keyEncipherment,dataEncipherment,
    /// keyAgreement`, signed by the intermediate. `name` is the request's, as for `issue`.
    pub fn issue_encryption(&self, csr: &Path, enc_key: &Path, how: &Issue) -> Issued {
        assert!(self.sm2, "encryption certificates are issued by the SM2 CA");
        let folder = self.next_folder();
        let name = csr.file_name().unwrap().to_string_lossy().trim_end_matches(".csr.pem").to_owned();
        let enc_csr = folder.join("enc.csr.pem");
        encryption_csr(csr, enc_key, &enc_csr);
        let ext = encryption_extensions(&folder);
        let leaf = folder.join("leaf.pem");
        let issuer = (self.intermediate.as_path(), self.intermediate_key.as_path());
        self.sign(&enc_csr, issuer, how.validity, (&ext, "enc"), true, &leaf);
        let chain = folder.join("chain.pem");
        std::fs::copy(&self.intermediate, &chain).unwrap();
        Issued { folder, name, leaf, chain }
    }

    /// `issue_encryption` for many (signing CSR, encryption key) pairs in one `openssl ca`:
    /// one PEM file of every encryption leaf, in order, then the intermediate.
    pub fn issue_encryption_many(&self, pairs: &[(PathBuf, PathBuf)], validity: Validity) -> PathBuf {
        assert!(self.sm2, "encryption certificates are issued by the SM2 CA");
        let folder = self.next_folder();
        let csrs: Vec<PathBuf> = pairs
            .iter()
            .enumerate()
            .map(|(i, (csr, key))| {
                let enc_csr = folder.join(format!("enc-{i}.csr.pem"));
                encryption_csr(csr, key, &enc_csr);
                enc_csr
            })
            .collect();
        let ext = encryption_extensions(&folder);
        let leaves = folder.join("leaves.pem");
        let refs: Vec<&Path> = csrs.iter().map(PathBuf::as_path).collect();
        let issuer = (self.intermediate.as_path(), self.intermediate_key.as_path());
        self.sign_all(&refs, issuer, validity, (&ext, "enc"), true, &leaves);
        let all = folder.join("all.pem");
        std::fs::write(
            &all,
            std::fs::read_to_string(&leaves).unwrap() + &std::fs::read_to_string(&self.intermediate).unwrap(),
        )
        .unwrap();
        all
    }

    /// Issues certificates for many CSRs in one `openssl ca`: one PEM file holding every
    /// leaf, in the order of `csrs`, then the intermediate (what a bulk download looks like).
    pub fn issue_many(&self, csrs: &[PathBuf], validity: Validity) -> PathBuf {
        let folder = self.next_folder();
        let ext = self.leaf_extensions(&folder, None);
        let leaves = folder.join("leaves.pem");
        let refs: Vec<&Path> = csrs.iter().map(PathBuf::as_path).collect();
        let issuer = (self.intermediate.as_path(), self.intermediate_key.as_path());
        self.sign_all(&refs, issuer, validity, (&ext, "leaf"), true, &leaves);
        let mut text = std::fs::read_to_string(&leaves).unwrap();
        text += &std::fs::read_to_string(&self.intermediate).unwrap();
        let all = folder.join("all.pem");
        std::fs::write(&all, text).unwrap();
        all
    }
}

/// A new SM2 key (`openssl genpkey -algorithm SM2`, PKCS#8 PEM): an encryption key as a
/// CA's key management centre makes it.
pub fn sm2_key(out: &Path) {
    openssl_ok(&["genpkey", "-algorithm", "SM2", "-out", s(out)]);
}

/// A CSR for the SM2 key `key` with the subject (same order and string types: openssl's
/// defaults, as csrbatch writes them) and the SANs of the CSR `like`, signed SM2-with-SM3
/// with the GM/T 0009 ID.
fn encryption_csr(like: &Path, key: &Path, out: &Path) {
    let subject = openssl_ok(&["req", "-in", s(like), "-noout", "-subject", "-nameopt", "compat"]);
    let subject = subject.trim().trim_start_matches("subject=").to_owned();
    assert!(subject.starts_with('/'), "a /-separated subject: {subject}");
    let sans = openssl_sans(like).join(",");
    let san_ext = format!("subjectAltName={sans}");
    let mut args = vec!["req", "-new", "-utf8", "-key", s(key), "-subj", &subject, "-out", s(out)];
    args.extend(["-sm3", "-sigopt", SM2_ID]);
    if !sans.is_empty() {
        args.extend(["-addext", &san_ext]);
    }
    openssl_ok(&args);
}

/// The encryption leaf's extensions (the SANs are copied from its CSR).
fn encryption_extensions(folder: &Path) -> PathBuf {
    let ext = folder.join("enc.cnf");
    std::fs::write(
        &ext,
        "[enc]\nbasicConstraints = critical,CA:FALSE\n\
         keyUsage = critical,keyEncipherment,dataEncipherment,keyAgreement\n\
         subjectKeyIdentifier = hash\nauthorityKeyIdentifier = keyid\n",
    )
    .unwrap();
    ext
}

fn ca_config(dir: &Path, sm2: bool, copy: bool) -> String {
    format!(
        "[ca]\ndefault_ca = this\n[this]\ndatabase = {db}/index.txt\nnew_certs_dir = {db}\n\
         rand_serial = yes\nunique_subject = no\ndefault_md = {md}\npolicy = anything\n\
         preserve = yes\nemail_in_dn = no\ncopy_extensions = {copy}\n\
         [anything]\ncountryName = optional\nstateOrProvinceName = optional\n\
         localityName = optional\norganizationName = optional\norganizationalUnitName = optional\n\
         commonName = optional\nemailAddress = optional\n",
        db = dir.join("db").display(),
        md = if sm2 { "sm3" } else { "sha256" },
        copy = if copy { "copy" } else { "none" },
    )
}

/// One issued certificate and its deliveries (files made on demand in its folder).
pub struct Issued {
    folder: PathBuf,
    /// The request's Name (from the CSR's file name).
    pub name: String,
    /// The leaf alone, PEM.
    pub leaf: PathBuf,
    /// The intermediate, PEM: the chain a CA sends next to the leaf.
    pub chain: PathBuf,
}

/// One way a CA hands a certificate over: the files to give `csrbatch import`.
pub struct Delivery {
    pub form: &'static str,
    pub files: Vec<PathBuf>,
}

impl Issued {
    fn file(&self, rel: &str) -> PathBuf {
        self.folder.join(rel)
    }

    /// The leaf, PEM text.
    pub fn leaf_pem(&self) -> String {
        std::fs::read_to_string(&self.leaf).unwrap()
    }

    /// Leaf then intermediate, in one PEM file, with text around the blocks as openssl's
    /// `-text` output and some CAs' downloads have.
    pub fn fullchain(&self) -> PathBuf {
        let out = self.file("fullchain.pem");
        let text = format!(
            "Subject: the leaf\n{}\nIssuer follows\n{}\n",
            self.leaf_pem(),
            std::fs::read_to_string(&self.chain).unwrap()
        );
        std::fs::write(&out, text).unwrap();
        out
    }

    /// The leaf and the intermediate as DER, one certificate per file.
    pub fn der(&self) -> Vec<PathBuf> {
        let (leaf, chain) = (self.file("leaf.der"), self.file("chain.der"));
        openssl_ok(&["x509", "-in", s(&self.leaf), "-outform", "DER", "-out", s(&leaf)]);
        openssl_ok(&["x509", "-in", s(&self.chain), "-outform", "DER", "-out", s(&chain)]);
        vec![leaf, chain]
    }

    /// PKCS#7 certs-only holding the leaf and the intermediate, DER (`.p7b`).
    pub fn p7b(&self) -> PathBuf {
        let out = self.file("certs.p7b");
        openssl_ok(&[
            "crl2pkcs7",
            "-nocrl",
            "-certfile",
            s(&self.leaf),
            "-certfile",
            s(&self.chain),
            "-outform",
            "DER",
            "-out",
            s(&out),
        ]);
        out
    }

    /// The same PKCS#7, PEM (`-----BEGIN PKCS7-----`, `.p7c`).
    pub fn p7b_pem(&self) -> PathBuf {
        let out = self.file("certs.p7c");
        openssl_ok(&["pkcs7", "-inform", "DER", "-in", s(&self.p7b()), "-out", s(&out)]);
        out
    }

    /// The PKCS#7 in BER, its outer constructed elements with indefinite lengths.
    pub fn ber_p7b(&self) -> PathBuf {
        let out = self.file("certs-ber.p7b");
        std::fs::write(&out, indefinite(&std::fs::read(self.p7b()).unwrap(), 3)).unwrap();
        out
    }

    /// A zip as CAs deliver per server type (deflate): `NAME_nginx/NAME.pem` the leaf and
    /// `NAME_nginx/NAME.crt` the chain, and the chain once more under a hostile entry name
    /// (`../../NAME.escape.pem`) that no written path may come from.
    pub fn zip(&self) -> PathBuf {
        let out = self.file(&format!("{}.zip", self.name));
        let script = "import sys, zipfile\n\
            out, name, leaf, chain = sys.argv[1:]\n\
            read = lambda p: open(p, 'rb').read()\n\
            with zipfile.ZipFile(out, 'w', zipfile.ZIP_DEFLATED) as z:\n\
            \x20   z.writestr(f'{name}_nginx/{name}.pem', read(leaf))\n\
            \x20   z.writestr(f'{name}_nginx/{name}.crt', read(chain))\n\
            \x20   z.writestr(f'../../{name}.escape.pem', read(chain))\n";
        let o = Command::new("python3")
            .args(["-c", script, s(&out), &self.name, s(&self.leaf), s(&self.chain)])
            .output()
            .expect("python3");
        assert!(o.status.success(), "zip: {}", String::from_utf8_lossy(&o.stderr));
        out
    }

    /// Every form: leaf + chain, fullchain, DER, p7b (DER and PEM), BER p7b, and the zip
    /// when python3 is here to make it.
    pub fn deliveries(&self) -> Vec<Delivery> {
        let mut all = vec![
            Delivery { form: "leaf + chain", files: vec![self.leaf.clone(), self.chain.clone()] },
            Delivery { form: "fullchain", files: vec![self.fullchain()] },
            Delivery { form: "DER", files: self.der() },
            Delivery { form: "p7b", files: vec![self.p7b()] },
            Delivery { form: "PEM p7b", files: vec![self.p7b_pem()] },
            Delivery { form: "BER p7b", files: vec![self.ber_p7b()] },
        ];
        if python3() {
            all.push(Delivery { form: "zip", files: vec![self.zip()] });
        }
        all
    }
}

/// Whether python3 (which makes the zips and runs pyca) is here.
pub fn python3() -> bool {
    judge("python3", runs("python3"), "apt-get install python3")
}

/// The DER `der` with each constructed element down to `depth` levels (0: the outermost)
/// written with an indefinite length (`0x80` ... `00 00`); deeper elements (the
/// certificates of a PKCS#7 at depth 3) stay as they are.
pub fn indefinite(der: &[u8], depth: usize) -> Vec<u8> {
    let mut out = Vec::new();
    let mut rest = der;
    while !rest.is_empty() {
        let (tag, header, len) = tlv(rest);
        let content = &rest[header..header + len];
        if tag & 0x20 != 0 {
            out.push(tag);
            out.push(0x80);
            if depth > 0 {
                out.extend(indefinite(content, depth - 1));
            } else {
                out.extend(content);
            }
            out.extend([0, 0]);
        } else {
            out.extend(&rest[..header + len]);
        }
        rest = &rest[header + len..];
    }
    out
}

/// (tag, header length, content length) of the DER element at the start of `b`.
fn tlv(b: &[u8]) -> (u8, usize, usize) {
    assert!(b[0] & 0x1f != 0x1f, "high tag numbers are not in a PKCS#7");
    match b[1] {
        n @ 0..0x80 => (b[0], 2, usize::from(n)),
        0x80 => panic!("already indefinite"),
        n => {
            let k = usize::from(n & 0x7f);
            let len = b[2..2 + k].iter().fold(0, |acc, &x| (acc << 8) | usize::from(x));
            (b[0], 2 + k, len)
        }
    }
}

/// The base64 bodies of the PEM blocks labelled `label` in `text`, in order.
pub fn pem_blocks(text: &str, label: &str) -> Vec<String> {
    let (begin, end) = (format!("-----BEGIN {label}-----"), format!("-----END {label}-----"));
    let mut blocks = Vec::new();
    let mut body: Option<String> = None;
    for line in text.lines() {
        let line = line.trim();
        if line == begin {
            body = Some(String::new());
        } else if line == end {
            blocks.extend(body.take());
        } else if let Some(b) = body.as_mut() {
            b.push_str(line);
        }
    }
    blocks
}

/// `openssl x509 -pubkey -noout`: the certificate's public key, PEM.
pub fn cert_pubkey(cert: &Path) -> String {
    openssl_ok(&["x509", "-in", s(cert), "-noout", "-pubkey"])
}

/// `openssl pkey -pubout`: the public key of a private key file (encrypted with `pass`).
pub fn key_pubkey(key: &Path, pass: Option<&str>) -> String {
    let pass = pass.map(|p| format!("pass:{p}"));
    let mut args = vec!["pkey", "-in", s(key), "-pubout"];
    if let Some(p) = pass.as_deref() {
        args.extend(["-passin", p]);
    }
    openssl_ok(&args)
}

/// `openssl req -pubkey`: the public key of a CSR.
pub fn csr_pubkey(csr: &Path) -> String {
    openssl_ok(&["req", "-in", s(csr), "-noout", "-pubkey"])
}

/// Whether the certificate is for the key, judged by openssl.
pub fn cert_matches_key(cert: &Path, key: &Path, pass: Option<&str>) -> bool {
    cert_pubkey(cert) == key_pubkey(key, pass)
}

/// Lower-case hex without colons or leading zeros (serials are integers).
pub fn hex_norm(text: &str) -> String {
    let hex: String = text.trim().chars().filter(|c| *c != ':').flat_map(char::to_lowercase).collect();
    hex.trim_start_matches('0').to_owned()
}

/// What openssl says about a certificate: serial (hex), notBefore and notAfter (RFC 3339),
/// SHA-256 fingerprint (hex), all normalized for comparison with summary.json.
pub struct CertFacts {
    pub serial: String,
    pub not_before: String,
    pub not_after: String,
    pub fingerprint: String,
}

pub fn cert_facts(cert: &Path) -> CertFacts {
    let text = openssl_ok(&[
        "x509",
        "-in",
        s(cert),
        "-noout",
        "-serial",
        "-startdate",
        "-enddate",
        "-dateopt",
        "iso_8601",
        "-fingerprint",
        "-sha256",
    ]);
    let field = |prefix: &str| -> String {
        text.lines()
            .find_map(|l| l.strip_prefix(prefix))
            .unwrap_or_else(|| panic!("{prefix} in {text}"))
            .to_owned()
    };
    CertFacts {
        serial: hex_norm(&field("serial=")),
        not_before: field("notBefore=").replace(' ', "T"),
        not_after: field("notAfter=").replace(' ', "T"),
        fingerprint: hex_norm(&field("sha256 Fingerprint=")),
    }
}

/// `openssl verify -CAfile root -untrusted chain leaf`: (verified, what it said). SM2
/// chains are judged link by link: OpenSSL 3.0's `verify` applies `-vfyopt distid:` to the
/// certificate it is given only, so each link is verified as that certificate, with its
/// issuer as the one trusted (`-partial_chain`), and the top one against the root.
pub fn openssl_verify_chain(root: &Path, chain: &Path, leaf: &Path, sm2: bool) -> (bool, String) {
    let run = |args: &[&str]| {
        let o = openssl(args);
        let said = format!("{}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr));
        (o.status.success() && said.contains(": OK"), said)
    };
    if !sm2 {
        return run(&["verify", "-CAfile", s(root), "-untrusted", s(chain), s(leaf)]);
    }
    let chain_text = std::fs::read_to_string(chain).unwrap();
    let blocks = pem_blocks(&chain_text, "CERTIFICATE");
    let tmp = tempfile::tempdir().unwrap();
    let mut certs: Vec<PathBuf> = vec![leaf.to_path_buf()];
    for (i, b) in blocks.iter().enumerate() {
        let p = tmp.path().join(format!("{i}.pem"));
        std::fs::write(&p, pem("CERTIFICATE", b)).unwrap();
        certs.push(p);
    }
    let mut said = String::new();
    for pair in certs.windows(2) {
        let (ok, text) =
            run(&["verify", "-vfyopt", SM2_ID, "-partial_chain", "-CAfile", s(&pair[1]), s(&pair[0])]);
        said += &text;
        if !ok {
            return (false, said);
        }
    }
    let top = certs.last().unwrap();
    let (ok, text) = run(&["verify", "-vfyopt", SM2_ID, "-CAfile", s(root), s(top)]);
    (ok, said + &text)
}

/// A PEM block from its base64 body.
pub fn pem(label: &str, body: &str) -> String {
    let mut out = format!("-----BEGIN {label}-----\n");
    for chunk in body.as_bytes().chunks(64) {
        out += std::str::from_utf8(chunk).unwrap();
        out.push('\n');
    }
    out + &format!("-----END {label}-----\n")
}

/// A copy of a PEM certificate with one byte of its signature flipped (the last byte of
/// the DER is the signature's last).
pub fn tampered(cert: &Path, out: &Path) {
    let der = out.with_extension("der");
    openssl_ok(&["x509", "-in", s(cert), "-outform", "DER", "-out", s(&der)]);
    let mut bytes = std::fs::read(&der).unwrap();
    *bytes.last_mut().unwrap() ^= 0x01;
    std::fs::write(&der, bytes).unwrap();
    openssl_ok(&["x509", "-inform", "DER", "-in", s(&der), "-out", s(out)]);
}

/// summary.json of `out`, as JSON (fields the library's Summary type does not read too).
pub fn summary_json(out: &Path) -> serde_json::Value {
    serde_json::from_slice(&std::fs::read(out.join("summary.json")).unwrap()).unwrap()
}

/// The summary entry of request `name`.
pub fn entry(out: &Path, name: &str) -> serde_json::Value {
    let s = summary_json(out);
    s["Csrs"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["Name"] == name)
        .unwrap_or_else(|| panic!("{name} in {s}"))
        .clone()
}

/// The `State` of request `name` in summary.json.
pub fn state(out: &Path, name: &str) -> String {
    entry(out, name)["State"].as_str().unwrap_or_default().to_owned()
}

#[cfg(test)]
mod fixtures {
    //! The CA and its deliveries judged on their own, by openssl and python's zipfile.

    use super::*;
    use crate::util::{Dir, csrbatch, stderr};

    fn requests(dir: &Dir) -> PathBuf {
        let m = dir.write(
            "m.yaml",
            "defaults: {CountryCode: CN, Province: Zhejiang, Locality: Hangzhou}\nrequests:\n\
             \x20 - {Name: fx-rsa, Algorithm: RSA, KeySize: 2048, CommonName: r.example.com, Sans: [www.r.example.com, 192.0.2.7]}\n\
             \x20 - {Name: fx-ecc, Algorithm: ECC, KeySize: 256, CommonName: e.example.com}\n\
             \x20 - {Name: fx-sm2, Algorithm: SM2, KeySize: 256, CommonName: s.example.com}\n",
        );
        let out = dir.path("out");
        let run =
            csrbatch(["generate".as_ref(), m.as_os_str(), "--out".as_ref(), out.as_os_str(), "-q".as_ref()]);
        assert!(run.status.success(), "{}", stderr(&run));
        out
    }

    fn x509_text(cert: &Path) -> String {
        openssl_ok(&["x509", "-in", s(cert), "-noout", "-text"])
    }

    fn checkend(cert: &Path, secs: i64) -> bool {
        openssl(&["x509", "-in", s(cert), "-noout", "-checkend", &secs.to_string()]).status.success()
    }

    #[test]
    fn openssl_time_is_utc_civil_time() {
        assert_eq!(openssl_time(0), "19700101000000Z");
        assert_eq!(openssl_time(951_782_400), "20000229000000Z");
        assert_eq!(openssl_time(1_798_761_599), "20261231235959Z");
        assert_eq!(openssl_time(-1), "19691231235959Z");
    }

    #[test]
    fn the_throwaway_ca_issues_what_openssl_verifies() {
        let dir = Dir::new();
        let out = requests(&dir);
        let (ca, sm2) = (Ca::new(), Ca::sm2());
        for (c, what) in [(&ca, "RSA/ECC CA"), (&sm2, "SM2 CA")] {
            let t = x509_text(&c.root);
            assert!(t.contains("CA:TRUE") && t.contains("Root"), "{what} root: {t}");
            let t = x509_text(&c.intermediate);
            assert!(t.contains("CA:TRUE") && t.contains("Issuer: O = "), "{what} intermediate: {t}");
        }
        assert!(x509_text(&sm2.intermediate).contains("SM2-with-SM3"));
        for (name, c, is_sm2) in [("fx-rsa", &ca, false), ("fx-ecc", &ca, false), ("fx-sm2", &sm2, true)] {
            let csr = out.join(format!("{name}.csr.pem"));
            let issued = c.issue(&csr, &Issue::default());
            assert_eq!(issued.name, name);
            let (ok, said) = openssl_verify_chain(&c.root, &issued.chain, &issued.leaf, is_sm2);
            assert!(ok, "{name}: {said}");
            assert!(cert_matches_key(&issued.leaf, &out.join(format!("{name}.key.pem")), None), "{name}");
            let t = x509_text(&issued.leaf);
            assert!(t.contains("CA:FALSE") && t.contains("TLS Web Server Authentication"), "{name}: {t}");
            // The CSR's SANs are copied.
            let sans = openssl_sans(&csr);
            let leaf_sans = openssl_ok(&["x509", "-in", s(&issued.leaf), "-noout", "-ext", "subjectAltName"]);
            for san in &sans {
                let printed = san.replacen("IP:", "IP Address:", 1);
                assert!(leaf_sans.contains(&printed), "{name}: {printed} in {leaf_sans}");
            }
            if is_sm2 {
                // Signed with the standard ID: openssl's default (empty) ID does not verify it.
                let o = openssl(&["verify", "-partial_chain", "-CAfile", s(&issued.chain), s(&issued.leaf)]);
                assert!(!o.status.success(), "SM2 leaf verified without the GM/T 0009 ID");
                assert!(t.contains("SM2-with-SM3"), "{t}");
            }
            // Tampered: the flipped signature byte fails openssl.
            let bad = dir.path(&format!("{name}-tampered.pem"));
            tampered(&issued.leaf, &bad);
            assert!(
                !openssl_verify_chain(&c.root, &issued.chain, &bad, is_sm2).0,
                "{name}: tampered verifies"
            );
            assert_eq!(cert_pubkey(&bad), cert_pubkey(&issued.leaf), "only the signature changed");
        }

        // Validity windows, and a dropped SAN.
        let csr = out.join("fx-rsa.csr.pem");
        let two_thirds = ca.issue(&csr, &Issue::valid(Validity::two_thirds_spent()));
        assert!(checkend(&two_thirds.leaf, 25 * DAY) && !checkend(&two_thirds.leaf, 27 * DAY));
        let f = cert_facts(&two_thirds.leaf);
        let start = openssl_time(now() - 64 * DAY);
        assert_eq!(&f.not_before[..10].replace('-', ""), &start[..8], "{}", f.not_before);
        assert!(openssl_verify_chain(&ca.root, &two_thirds.chain, &two_thirds.leaf, false).0);
        let expired = ca.issue(&csr, &Issue::valid(Validity::expired()));
        let (ok, said) = openssl_verify_chain(&ca.root, &expired.chain, &expired.leaf, false);
        assert!(!ok && said.contains("expired"), "{said}");
        let early = ca.issue(&csr, &Issue::valid(Validity::not_yet_valid()));
        let (ok, said) = openssl_verify_chain(&ca.root, &early.chain, &early.leaf, false);
        assert!(!ok && said.contains("not yet valid"), "{said}");
        let dropped =
            ca.issue(&csr, &Issue { drop_san: Some("DNS:www.r.example.com".into()), ..Issue::default() });
        let sans = openssl_ok(&["x509", "-in", s(&dropped.leaf), "-noout", "-ext", "subjectAltName"]);
        assert!(sans.contains("DNS:r.example.com") && sans.contains("IP Address:192.0.2.7"), "{sans}");
        assert!(!sans.contains("www.r.example.com"), "{sans}");
        assert!(openssl_verify_chain(&ca.root, &dropped.chain, &dropped.leaf, false).0);

        // Many at once: every leaf in order, then the intermediate.
        let csrs: Vec<PathBuf> =
            ["fx-rsa", "fx-ecc"].iter().map(|n| out.join(format!("{n}.csr.pem"))).collect();
        let all = ca.issue_many(&csrs, Validity::fresh());
        let blocks = pem_blocks(&std::fs::read_to_string(&all).unwrap(), "CERTIFICATE");
        assert_eq!(blocks.len(), 3);
        assert_eq!(
            blocks[2],
            pem_blocks(&std::fs::read_to_string(&ca.intermediate).unwrap(), "CERTIFICATE")[0]
        );
        for (i, name) in ["fx-rsa", "fx-ecc"].iter().enumerate() {
            let leaf = dir.path(&format!("many-{i}.pem"));
            std::fs::write(&leaf, pem("CERTIFICATE", &blocks[i])).unwrap();
            assert!(cert_matches_key(&leaf, &out.join(format!("{name}.key.pem")), None), "{name}");
        }
        // Another CA's root does not verify this one's certificates.
        let other = Ca::other();
        assert!(!openssl_verify_chain(&other.root, &two_thirds.chain, &two_thirds.leaf, false).0);
    }

    #[test]
    fn every_delivery_form_reads_in_openssl() {
        let dir = Dir::new();
        let out = requests(&dir);
        let ca = Ca::new();
        let issued = ca.issue(&out.join("fx-ecc.csr.pem"), &Issue::default());
        let leaf = pem_blocks(&issued.leaf_pem(), "CERTIFICATE");
        let inter = pem_blocks(&std::fs::read_to_string(&ca.intermediate).unwrap(), "CERTIFICATE");
        let both: Vec<String> = leaf.iter().chain(&inter).cloned().collect();
        let printed = |args: &[&str]| pem_blocks(&openssl_ok(args), "CERTIFICATE");

        let full = issued.fullchain();
        assert_eq!(pem_blocks(&std::fs::read_to_string(&full).unwrap(), "CERTIFICATE"), both);
        let der = issued.der();
        assert_eq!(printed(&["x509", "-inform", "DER", "-in", s(&der[0])]), leaf);
        assert_eq!(printed(&["x509", "-inform", "DER", "-in", s(&der[1])]), inter);
        let p7b = issued.p7b();
        assert_eq!(printed(&["pkcs7", "-inform", "DER", "-in", s(&p7b), "-print_certs"]), both);
        let p7c = issued.p7b_pem();
        assert!(std::fs::read_to_string(&p7c).unwrap().starts_with("-----BEGIN PKCS7-----"));
        assert_eq!(printed(&["pkcs7", "-in", s(&p7c), "-print_certs"]), both);

        // BER: indefinite lengths at the outer levels, the certificates untouched.
        let ber = std::fs::read(issued.ber_p7b()).unwrap();
        assert_eq!(&ber[..2], &[0x30, 0x80], "ContentInfo has an indefinite length");
        assert_eq!(&ber[ber.len() - 2..], &[0, 0], "ended by end-of-contents");
        assert_ne!(ber, std::fs::read(&p7b).unwrap());
        let parsed = openssl_ok(&["asn1parse", "-inform", "DER", "-in", s(&issued.ber_p7b())]);
        let inf = parsed.lines().filter(|l| l.contains("l=inf")).count();
        assert!(inf >= 4, "indefinite-length elements:\n{parsed}");
        assert!(parsed.contains(":pkcs7-signedData"), "{parsed}");
        assert_eq!(printed(&["pkcs7", "-inform", "DER", "-in", s(&issued.ber_p7b()), "-print_certs"]), both);

        // The zip: deflate entries, nginx-style names, one hostile name.
        if !python3() {
            return;
        }
        let zip = issued.zip();
        let list = "import sys, zipfile\n\
            for i in zipfile.ZipFile(sys.argv[1]).infolist(): print(i.compress_type, i.filename)\n";
        let o = Command::new("python3").args(["-c", list, s(&zip)]).output().unwrap();
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        assert_eq!(
            String::from_utf8_lossy(&o.stdout),
            "8 fx-ecc_nginx/fx-ecc.pem\n8 fx-ecc_nginx/fx-ecc.crt\n8 ../../fx-ecc.escape.pem\n"
        );
        let forms: Vec<&str> = issued.deliveries().iter().map(|d| d.form).collect();
        assert_eq!(forms, ["leaf + chain", "fullchain", "DER", "p7b", "PEM p7b", "BER p7b", "zip"]);
    }
}
