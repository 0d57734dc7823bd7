//! The cert module against certificates the real `openssl` makes at test time: a root,
//! an intermediate and a leaf for RSA, ECC P-256 and SM2, delivered as PEM, DER, PKCS#7
//! (DER, PEM, and BER with indefinite lengths) and zip; and refusals.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use time::OffsetDateTime;

use super::p12::P12Error;
use super::read::{EntryProblem, Place, ZIP_ENTRY_LIMIT};
use super::*;
use crate::crypto::{PrivateKey, PublicKeyType};

const SM2: &str = "-sm3 -sigopt distid:1234567812345678";
const SM2_X509: &str = "-sm3 -sigopt distid:1234567812345678 -vfyopt distid:1234567812345678";

/// The throwaway CA's folder, made once per test binary.
fn ca() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        // Beside the test binary (target/debug/), remade on every run: nothing left in /tmp.
        let exe = std::env::current_exe().expect("the test binary");
        let dir = exe.parent().and_then(Path::parent).expect("target/debug").join("cert-test-ca");
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("the test CA folder");
        let script = format!(
            r#"
set -e
cat > ext.cnf <<'EOF'
[ca]
basicConstraints = critical,CA:TRUE
keyUsage = critical,keyCertSign,cRLSign
[leaf]
basicConstraints = CA:FALSE
keyUsage = critical,digitalSignature,keyEncipherment
EOF
cat > ca.cnf <<'EOF'
[ca]
default_ca = dflt
[dflt]
database = index.txt
new_certs_dir = newcerts
serial = serial
default_md = sha256
policy = any
unique_subject = no
copy_extensions = copy
[any]
commonName = supplied
[v3_ca]
basicConstraints = critical,CA:TRUE
EOF
mkdir newcerts; : > index.txt; echo 1000 > serial
for alg in rsa ec sm2; do
  case $alg in
    rsa) gen="-algorithm RSA -pkeyopt rsa_keygen_bits:2048"; req=-sha256; x509=-sha256;;
    ec) gen="-algorithm EC -pkeyopt ec_paramgen_curve:P-256"; req=-sha256; x509=-sha256;;
    sm2) gen="-algorithm EC -pkeyopt ec_paramgen_curve:SM2"; req="{SM2}"; x509="{SM2_X509}";;
  esac
  for who in root int leaf; do openssl genpkey $gen -out $alg-$who.key 2>/dev/null; done
  openssl req -x509 -key $alg-root.key $req -subj "/O=csrbatch test/CN=$alg Root" -days 3650 \
    -addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign,cRLSign -out $alg-root.pem
  openssl req -new -key $alg-int.key $req -subj "/O=csrbatch test/CN=$alg Intermediate" -out $alg-int.csr
  openssl x509 -req -in $alg-int.csr -CA $alg-root.pem -CAkey $alg-root.key -set_serial 2 $x509 \
    -extfile ext.cnf -extensions ca -days 1825 -out $alg-int.pem 2>/dev/null
  openssl req -new -key $alg-leaf.key $req -subj "/C=CN/O=Example/CN=www.$alg.example" \
    -addext "subjectAltName=DNS:www.$alg.example,DNS:api.$alg.example,IP:192.0.2.7" -out $alg-leaf.csr
  openssl x509 -req -in $alg-leaf.csr -CA $alg-int.pem -CAkey $alg-int.key -set_serial 0x0abc $x509 \
    -copy_extensions copy -extfile ext.cnf -extensions leaf -days 90 -out $alg-leaf.pem 2>/dev/null
done
# A wildcard leaf and a CN-only leaf (no subjectAltName), under the ECC intermediate.
openssl req -new -key ec-leaf.key -subj "/CN=*.wild.example" -addext "subjectAltName=DNS:*.wild.example" -out wild.csr
openssl x509 -req -in wild.csr -CA ec-int.pem -CAkey ec-int.key -set_serial 3 -copy_extensions copy -days 9 -out wild.pem 2>/dev/null
openssl req -new -key ec-leaf.key -subj "/CN=cn-only.example" -out cn.csr
openssl x509 -req -in cn.csr -CA ec-int.pem -CAkey ec-int.key -set_serial 4 -days 9 -out cn.pem 2>/dev/null
# Not a CA (CA:FALSE) that signs a leaf anyway.
openssl req -new -key ec-int.key -subj "/O=csrbatch test/CN=Not A CA" -out notca.csr
openssl x509 -req -in notca.csr -CA ec-int.pem -CAkey ec-int.key -set_serial 5 -extfile ext.cnf -extensions leaf -days 9 -out notca.pem 2>/dev/null
openssl x509 -req -in ec-leaf.csr -CA notca.pem -CAkey ec-int.key -set_serial 6 -copy_extensions copy -days 9 -out under-notca.pem 2>/dev/null
# An expired intermediate (2020) with its own subject, and a leaf under it.
openssl req -new -key ec-int.key -subj "/O=csrbatch test/CN=Expired Intermediate" -out old.csr
openssl ca -batch -config ca.cnf -cert ec-root.pem -keyfile ec-root.key -in old.csr -out old.pem \
  -startdate 20200101000000Z -enddate 20210101000000Z -notext -extensions v3_ca 2>/dev/null
openssl x509 -req -in ec-leaf.csr -CA old.pem -CAkey ec-int.key -set_serial 7 -copy_extensions copy -days 9 -out under-old.pem 2>/dev/null
# The forms CAs deliver.
cat ec-leaf.pem ec-int.pem > ec-chain.pem
openssl x509 -in ec-leaf.pem -outform DER -out ec-leaf.der
openssl crl2pkcs7 -nocrl -certfile ec-leaf.pem -certfile ec-int.pem -certfile ec-root.pem -outform DER -out ec.p7b
openssl crl2pkcs7 -nocrl -certfile rsa-leaf.pem -certfile rsa-int.pem -out rsa.p7b.pem
python3 - <<'EOF'
import base64, zipfile
der = open('ec-leaf.der', 'rb').read()
open('ec-leaf-76.pem', 'w').write('-----BEGIN CERTIFICATE-----\n' + base64.encodebytes(der).decode() + '-----END CERTIFICATE-----\n')
z = zipfile.ZipFile('bundle.zip', 'w', zipfile.ZIP_DEFLATED)
z.write('rsa-leaf.pem', 'nginx/www.rsa.example.pem')
z.write('rsa-int.pem', '../../etc/chain.crt', compress_type=zipfile.ZIP_STORED)
z.write('ec.p7b', 'iis/ec.p7b')
z.writestr('README.txt', 'Your certificate is attached.\n')
z.writestr('keys/', '')
z.close()
"#
        );
        let out = Command::new("bash").arg("-c").arg(&script).current_dir(&dir).output().expect("bash");
        assert!(out.status.success(), "the test CA failed:\n{}", String::from_utf8_lossy(&out.stderr));
        dir
    })
}

fn bytes(name: &str) -> Vec<u8> {
    std::fs::read(ca().join(name)).unwrap_or_else(|e| panic!("{name}: {e}"))
}

fn cert(name: &str) -> Certificate {
    let mut certs = read_certificates(&bytes(name)).unwrap();
    assert_eq!(certs.len(), 1, "{name}");
    certs.remove(0)
}

fn openssl(args: &[&str]) -> String {
    let out = Command::new("openssl").args(args).current_dir(ca()).output().expect("openssl");
    assert!(out.status.success(), "openssl {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// openssl's SHA-256 fingerprint of a PEM certificate file, lower-case hex.
fn openssl_fingerprint(file: &str) -> String {
    let out = openssl(&["x509", "-in", file, "-noout", "-fingerprint", "-sha256"]);
    out.trim().rsplit('=').next().unwrap_or_default().replace(':', "").to_ascii_lowercase()
}

fn now() -> OffsetDateTime {
    OffsetDateTime::now_utc()
}

/// A DER value with every constructed value down to `levels` rewritten to an indefinite
/// length (as Windows and EJBCA write PKCS#7), what is below kept verbatim.
fn indefinite(der: &[u8], levels: usize) -> Vec<u8> {
    let mut out = Vec::new();
    let mut rest = der;
    while !rest.is_empty() {
        let (tag, content, header) = tlv(rest);
        if tag & 0x20 != 0 && levels > 0 {
            out.extend([tag, 0x80]);
            out.extend(indefinite(content, levels - 1));
            out.extend([0, 0]);
        } else {
            out.extend(&rest[..header + content.len()]);
        }
        rest = &rest[header + content.len()..];
    }
    out
}

fn tlv(der: &[u8]) -> (u8, &[u8], usize) {
    let first = der[1];
    let (len, header) = if first < 0x80 {
        (usize::from(first), 2)
    } else {
        let n = usize::from(first & 0x7f);
        (der[2..2 + n].iter().fold(0usize, |a, b| a * 256 + usize::from(*b)), 2 + n)
    };
    (der[0], &der[header..header + len], header)
}

#[test]
fn every_form_a_ca_delivers_is_read() {
    let leaf = cert("ec-leaf.pem");
    let int = cert("ec-int.pem");
    let root = cert("ec-root.pem");
    assert_eq!(leaf.sha256_fingerprint_hex(), openssl_fingerprint("ec-leaf.pem"));
    // PEM chain with text around the blocks (as `openssl x509 -text` leaves it).
    let mut text = b"Subject: CN=www.ec.example\r\nsome words\n".to_vec();
    text.extend(bytes("ec-chain.pem"));
    text.extend(b"\n-----BEGIN PRIVATE KEY-----\nMAA=\n-----END PRIVATE KEY-----\ntrailing\n");
    assert_eq!(read_certificates(&text).unwrap(), [leaf.clone(), int.clone()]);
    // Base64 at 76 columns (Python's base64.encodebytes), DER, DER back to back.
    assert_eq!(read_certificates(&bytes("ec-leaf-76.pem")).unwrap(), std::slice::from_ref(&leaf));
    assert_eq!(read_certificates(&bytes("ec-leaf.der")).unwrap(), std::slice::from_ref(&leaf));
    let mut two = int.der().to_vec();
    two.extend(leaf.der());
    two.push(b'\n');
    assert_eq!(read_certificates(&two).unwrap(), [int.clone(), leaf.clone()]);
    // PKCS#7: DER, PEM, BER with indefinite lengths down to the certificates.
    let p7b = bytes("ec.p7b");
    assert_eq!(read_certificates(&p7b).unwrap(), [leaf.clone(), int.clone(), root.clone()]);
    let ber = indefinite(&p7b, 4);
    assert_ne!(ber, p7b);
    assert!(ber.windows(2).any(|w| w == [0x30, 0x80]));
    assert_eq!(read_certificates(&ber).unwrap(), [leaf.clone(), int.clone(), root.clone()]);
    assert_eq!(
        read_certificates(&bytes("rsa.p7b.pem")).unwrap(),
        [cert("rsa-leaf.pem"), cert("rsa-int.pem")]
    );
    // PEM PKCS7 and CERTIFICATE blocks mixed, in any order.
    let mut mixed = bytes("rsa.p7b.pem");
    mixed.extend(bytes("ec-leaf.pem"));
    assert_eq!(read_certificates(&mixed).unwrap().len(), 3);
    // A zip: deflate and stored entries, a README and a folder skipped, names never paths.
    let zipped = read_certificates(&bytes("bundle.zip")).unwrap();
    assert_eq!(zipped, [cert("rsa-leaf.pem"), cert("rsa-int.pem"), leaf, int, root]);
}

#[test]
fn refusals_say_what_is_wrong() {
    assert_eq!(read_certificates(b""), Err(ReadError::NoCertificates));
    assert_eq!(read_certificates(b"just words"), Err(ReadError::NoCertificates));
    assert_eq!(read_certificates(&bytes("ec-leaf.csr")), Err(ReadError::NoCertificates));
    let cut = "x\n-----BEGIN CERTIFICATE-----\nMIIB\n";
    assert!(matches!(read_certificates(cut.as_bytes()), Err(ReadError::Pem(_))));
    let not = "-----BEGIN CERTIFICATE-----\nMAA=\n-----END CERTIFICATE-----\n";
    let e = read_certificates(not.as_bytes()).unwrap_err();
    assert!(matches!(e, ReadError::NotCertificate { at: Place::PemBlock(1), .. }), "{e}");
    assert!(e.to_string().starts_with("the PEM block of line 1: not an X.509 certificate"), "{e}");
    let mut p7b = bytes("ec.p7b");
    p7b.truncate(p7b.len() - 10);
    assert!(matches!(read_certificates(&p7b), Err(ReadError::Pkcs7 { at: Place::Der, .. })));
    // Zips: an encrypted-looking, nested, bomb and unreadable entry each name the entry.
    let dir = ca();
    let script = r#"
import zipfile
z = zipfile.ZipFile('nested.zip', 'w', zipfile.ZIP_DEFLATED)
z.write('bundle.zip', 'inner/\x1bbundle.zip')
z.close()
z = zipfile.ZipFile('bomb.zip', 'w', zipfile.ZIP_DEFLATED)
z.writestr('big.pem', b'\0' * (65 << 20))
z.close()
z = zipfile.ZipFile('bzip.zip', 'w', zipfile.ZIP_BZIP2)
z.write('ec-leaf.pem', 'leaf.pem')
z.close()
z = zipfile.ZipFile('broken.zip', 'w', zipfile.ZIP_STORED)
z.writestr('bad.pem', '-----BEGIN CERTIFICATE-----\nMAA=\n-----END CERTIFICATE-----\n')
z.close()
z = zipfile.ZipFile('empty.zip', 'w')
z.writestr('README.txt', 'nothing here')
z.close()
"#;
    let out = Command::new("python3").arg("-c").arg(script).current_dir(dir).output().expect("python3");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let e = read_certificates(&bytes("nested.zip")).unwrap_err();
    assert_eq!(
        e,
        ReadError::ZipEntry { entry: "inner/\\u{1b}bundle.zip".into(), problem: EntryProblem::NestedZip }
    );
    let e = read_certificates(&bytes("bomb.zip")).unwrap_err();
    assert_eq!(
        e,
        ReadError::ZipEntry {
            entry: "big.pem".into(),
            problem: EntryProblem::TooLarge { limit: ZIP_ENTRY_LIMIT }
        }
    );
    let e = read_certificates(&bytes("bzip.zip")).unwrap_err();
    assert!(
        matches!(&e, ReadError::ZipEntry { entry, problem: EntryProblem::Compression { .. } } if entry == "leaf.pem"),
        "{e}"
    );
    let e = read_certificates(&bytes("broken.zip")).unwrap_err();
    assert!(e.to_string().starts_with("zip entry `bad.pem`: the PEM block of line 1: not an X.509"), "{e}");
    assert_eq!(read_certificates(&bytes("empty.zip")), Err(ReadError::NoCertificates));
    assert!(matches!(read_certificates(b"PK\x03\x04garbage"), Err(ReadError::Zip { .. })));
}

#[test]
fn garbage_and_truncations_never_panic() {
    let p7b = bytes("ec.p7b");
    let ber = indefinite(&p7b, 4);
    let zip = bytes("bundle.zip");
    for input in [&p7b, &ber, &zip] {
        for len in (0..input.len()).step_by(7) {
            let _ = read_certificates(&input[..len]);
        }
        let mut flipped = input.clone();
        for at in (0..flipped.len()).step_by(13) {
            flipped[at] ^= 0x5a;
            let _ = read_certificates(&flipped);
            flipped[at] ^= 0x5a;
        }
    }
    let mut state = 0x9e37_79b9_7f4a_7c15u64;
    for len in 0..500usize {
        let mut data: Vec<u8> = (0..len)
            .map(|_| {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                (state >> 24) as u8
            })
            .collect();
        let _ = read_certificates(&data);
        for prefix in [&b"PK\x03\x04"[..], &[0x30, 0x80], &[0x30, 0x82, 0x01, 0x00, 0x06, 0x09]] {
            data.splice(0..0, prefix.iter().copied());
            let _ = read_certificates(&data);
        }
    }
}

#[test]
fn a_certificate_says_what_openssl_says() {
    let leaf = cert("ec-leaf.pem");
    assert_eq!(leaf.subject_text(), "CN=www.ec.example,O=Example,C=CN");
    assert_eq!(leaf.issuer_text(), "CN=ec Intermediate,O=csrbatch test");
    // As openssl shows it (`serial=0ABC`), lower case.
    let serial = openssl(&["x509", "-in", "ec-leaf.pem", "-noout", "-serial"]);
    assert_eq!(serial.trim().trim_start_matches("serial=").to_ascii_lowercase(), "0abc");
    assert_eq!(leaf.serial_hex(), "0abc");
    assert_eq!(leaf.common_name().as_deref(), Some("www.ec.example"));
    assert_eq!(leaf.dns_names(), ["www.ec.example", "api.ec.example"]);
    assert_eq!(leaf.sans_text(), ["www.ec.example", "api.ec.example", "192.0.2.7"]);
    assert!(!leaf.is_ca() && !leaf.is_self_issued());
    assert_eq!(leaf.key_usage(), Some(vec!["digitalSignature", "keyEncipherment"]));
    assert_eq!(leaf.public_key_type(), Some(PublicKeyType::P256));
    assert_eq!(cert("rsa-leaf.pem").public_key_type(), Some(PublicKeyType::Rsa { bits: 2048 }));
    assert_eq!(cert("sm2-leaf.pem").public_key_type(), Some(PublicKeyType::Sm2));
    let root = cert("ec-root.pem");
    assert!(root.is_ca() && root.is_self_issued());
    let lifetime = leaf.not_after() - leaf.not_before();
    assert_eq!(lifetime.whole_days(), 90);
    assert_eq!(validity(&leaf, now()), Validity::Valid);
    assert_eq!(validity(&leaf, leaf.not_before() - time::Duration::seconds(1)), Validity::NotYetValid);
    assert_eq!(validity(&leaf, leaf.not_after()), Validity::Valid);
    assert_eq!(validity(&leaf, leaf.not_after() + time::Duration::seconds(1)), Validity::Expired);
    let old = cert("old.pem");
    assert_eq!(rfc3339(old.not_before()), "2020-01-01T00:00:00Z");
    assert_eq!(rfc3339(old.not_after()), "2021-01-01T00:00:00Z");
    assert_eq!(validity(&old, now()), Validity::Expired);
    // to_pem: 64 columns, and openssl reads it back to the same certificate.
    let pem = leaf.to_pem();
    assert!(pem.lines().all(|l| l.len() <= 64));
    std::fs::write(ca().join("again.pem"), &pem).unwrap();
    assert_eq!(openssl_fingerprint("again.pem"), leaf.sha256_fingerprint_hex());
}

#[test]
fn the_spki_digest_is_key_sha2_of_the_key() {
    for alg in ["rsa", "ec", "sm2"] {
        let leaf = cert(&format!("{alg}-leaf.pem"));
        let key_pem = String::from_utf8(bytes(&format!("{alg}-leaf.key"))).unwrap();
        let key = PrivateKey::from_pem(&key_pem, None).unwrap();
        assert_eq!(leaf.spki_der(), key.public_key_der(), "{alg}");
        assert_eq!(leaf.spki_sha256_hex(), crate::crypto::key_sha2(key.public_key_der()), "{alg}");
        // And it is what openssl says the public key is.
        let der = Command::new("sh")
            .arg("-c")
            .arg(format!("openssl x509 -in {alg}-leaf.pem -noout -pubkey | openssl pkey -pubin -outform DER"))
            .current_dir(ca())
            .output()
            .unwrap()
            .stdout;
        assert_eq!(der, leaf.spki_der(), "{alg}");
    }
}

#[test]
fn missing_names_follow_rfc_6125() {
    let leaf = cert("ec-leaf.pem");
    let wanted = [
        "WWW.ec.example",
        "api.ec.example.",
        "192.0.2.7",
        "new.ec.example",
        "198.51.100.1",
        "new.ec.example",
    ];
    assert_eq!(missing_names(&leaf, &wanted), ["new.ec.example", "198.51.100.1"]);
    // The CN does not count when there is a subjectAltName.
    assert!(missing_names(&leaf, &["www.ec.example"]).is_empty());
    let wild = cert("wild.pem");
    assert!(missing_names(&wild, &["a.wild.example", "*.wild.example"]).is_empty());
    assert_eq!(
        missing_names(&wild, &["a.b.wild.example", "wild.example"]),
        ["a.b.wild.example", "wild.example"]
    );
    let cn_only = cert("cn.pem");
    assert!(!cn_only.has_san());
    assert!(missing_names(&cn_only, &["CN-only.example"]).is_empty());
    assert_eq!(missing_names(&cn_only, &["other.example"]), ["other.example"]);
    // A wanted wildcard needs the wildcard.
    assert_eq!(missing_names(&leaf, &["*.ec.example"]), ["*.ec.example"]);
}

fn pool(names: &[&str]) -> Pool {
    Pool::new(names.iter().map(|n| cert(n)))
}

#[test]
fn chains_hold_for_rsa_ecc_and_sm2() {
    for alg in ["rsa", "ec", "sm2"] {
        let (leaf, int, root) =
            (cert(&format!("{alg}-leaf.pem")), format!("{alg}-int.pem"), format!("{alg}-root.pem"));
        // Root among the inputs, no bundle: verified to the self-signed root, not anchored.
        let builder = ChainBuilder::new(pool(&[&int, &root]), None, now());
        let chain = builder.build(&leaf).unwrap_or_else(|e| panic!("{alg}: {e}"));
        assert_eq!(chain, Chain { intermediates: vec![cert(&int)], anchored: false }, "{alg}");
        // The root in the bundle: anchored, and the root is never in the chain.
        let builder = ChainBuilder::new(pool(&[&int]), Some(pool(&[&root])), now());
        assert_eq!(builder.build(&leaf).unwrap(), Chain { intermediates: vec![cert(&int)], anchored: true });
        // A bundle of another root: refused, whether our root is among the inputs or not.
        let other = if alg == "rsa" { "ec-root.pem" } else { "rsa-root.pem" };
        let builder = ChainBuilder::new(pool(&[&int, &root]), Some(pool(&[other])), now());
        assert!(matches!(builder.build(&leaf), Err(ChainError::NotUnderBundle { .. })), "{alg}");
        let builder = ChainBuilder::new(pool(&[&int]), Some(pool(&[other])), now());
        assert!(matches!(builder.build(&leaf), Err(ChainError::IssuerNotInBundle { .. })), "{alg}");
    }
    // The outside judge agrees for RSA and ECC (openssl verify does not take SM2's ID here).
    for alg in ["rsa", "ec"] {
        let out = openssl(&[
            "verify",
            "-CAfile",
            &format!("{alg}-root.pem"),
            "-untrusted",
            &format!("{alg}-int.pem"),
            &format!("{alg}-leaf.pem"),
        ]);
        assert!(out.contains("OK"), "{out}");
    }
}

#[test]
fn broken_chains_are_refused_with_the_reason() {
    let leaf = cert("ec-leaf.pem");
    let all = ChainBuilder::new(pool(&["ec-int.pem", "ec-root.pem", "notca.pem", "old.pem"]), None, now());
    // A flipped signature byte in the leaf.
    let mut der = leaf.der().to_vec();
    let at = der.len() - 5;
    der[at] ^= 0x01;
    let tampered = Certificate::from_der(&der).unwrap();
    let e = all.build(&tampered).unwrap_err();
    assert_eq!(e, ChainError::BadSignature { subject: "CN=www.ec.example,O=Example,C=CN".into() });
    assert!(e.to_string().contains("signature"));
    // The intermediate missing.
    let e = ChainBuilder::new(pool(&["ec-root.pem"]), Some(pool(&["ec-root.pem"])), now())
        .build(&leaf)
        .unwrap_err();
    assert_eq!(
        e,
        ChainError::IssuerNotInBundle {
            issuer: "CN=ec Intermediate,O=csrbatch test".into(),
            of: "CN=www.ec.example,O=Example,C=CN".into()
        }
    );
    // Without a bundle, the leaf's issuer must be given (its signature verified); only the
    // root above an intermediate may be missing.
    let e = ChainBuilder::new(pool(&["ec-root.pem"]), None, now()).build(&leaf).unwrap_err();
    assert_eq!(e, ChainError::IssuerNotFound { issuer: "CN=ec Intermediate,O=csrbatch test".into() });
    let chain = ChainBuilder::new(pool(&["ec-int.pem"]), None, now()).build(&leaf).unwrap();
    assert_eq!(chain, Chain { intermediates: vec![cert("ec-int.pem")], anchored: false });
    // An expired intermediate.
    let e = all.build(&cert("under-old.pem")).unwrap_err();
    assert!(matches!(e, ChainError::IssuerNotValid { validity: Validity::Expired, .. }), "{e}");
    // An issuer that is not a CA.
    let e = all.build(&cert("under-notca.pem")).unwrap_err();
    assert!(matches!(e, ChainError::NotCa { .. }), "{e}");
    // The leaf's issuer with a tampered signature of its own (intermediate -> root).
    let mut int = cert("ec-int.pem").der().to_vec();
    let at = int.len() - 5;
    int[at] ^= 0x01;
    let bad_int = Certificate::from_der(&int).unwrap();
    let builder = ChainBuilder::new(Pool::new([bad_int, cert("ec-root.pem")]), None, now());
    let e = builder.build(&leaf).unwrap_err();
    assert_eq!(e, ChainError::BadSignature { subject: "CN=ec Intermediate,O=csrbatch test".into() });
}

#[test]
fn ca_links_are_verified_once_and_the_builder_is_shared_across_threads() {
    fn is_sync<T: Sync + Send>(_: &T) {}
    use rayon::prelude::*;
    let leaf = cert("ec-leaf.pem");
    let builder = ChainBuilder::new(pool(&["ec-int.pem", "ec-root.pem"]), None, now());
    is_sync(&builder);
    let chains: Vec<_> = (0..256).into_par_iter().map(|_| builder.build(&leaf)).collect();
    assert!(chains.iter().all(|c| c.as_ref().is_ok_and(|c| c.intermediates.len() == 1)));
    // Intermediate -> root and the root's self-signature; leaf links are not kept.
    assert_eq!(builder.remembered_links(), 2);
}

#[test]
fn p12_opens_in_openssl_with_the_key_and_chain() {
    for (alg, legacy) in [("rsa", false), ("rsa", true), ("ec", false), ("ec", true)] {
        let leaf = cert(&format!("{alg}-leaf.pem"));
        let int = cert(&format!("{alg}-int.pem"));
        let key_pem = String::from_utf8(bytes(&format!("{alg}-leaf.key"))).unwrap();
        let pkcs8 = der::pem::decode_vec(key_pem.as_bytes()).unwrap().1;
        let p12 = build_p12(&pkcs8, &leaf, std::slice::from_ref(&int), "s3cret pass", legacy).unwrap();
        let file = format!("{alg}-{legacy}.p12");
        std::fs::write(ca().join(&file), &p12).unwrap();
        let mut args = vec!["pkcs12", "-in", &file, "-passin", "pass:s3cret pass", "-info", "-nokeys"];
        if legacy {
            args.push("-legacy");
        }
        let Ok(out) = Command::new("openssl").args(&args).current_dir(ca()).output() else {
            panic!("openssl")
        };
        let (info, stderr) = (String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
        assert!(out.status.success(), "{file}: {stderr}");
        if legacy {
            assert!(stderr.contains("pbeWithSHA1And3-KeyTripleDES-CBC"), "{file}: {stderr}");
            assert!(stderr.contains("MAC: sha1"), "{file}: {stderr}");
        } else {
            assert!(stderr.contains("PBES2, PBKDF2, AES-256-CBC"), "{file}: {stderr}");
            assert!(stderr.contains("hmacWithSHA256") && stderr.contains("MAC: sha256"), "{file}: {stderr}");
            assert!(stderr.contains("Iteration 2048"), "{file}: {stderr}");
        }
        let got = read_certificates(info.as_bytes()).unwrap();
        assert!(got.contains(&leaf) && got.contains(&int) && got.len() == 2, "{file}");
        // The key that comes back is the leaf's.
        let mut args = vec!["pkcs12", "-in", &file, "-passin", "pass:s3cret pass", "-nodes", "-nocerts"];
        if legacy {
            args.push("-legacy");
        }
        let key_out = openssl(&args);
        let key = PrivateKey::from_pem(&key_out, None).unwrap();
        assert_eq!(key.public_key_der(), leaf.spki_der(), "{file}");
    }
    let ec_key = der::pem::decode_vec(&bytes("ec-leaf.key")).unwrap().1;
    let rsa_leaf = cert("rsa-leaf.pem");
    assert_eq!(build_p12(&ec_key, &rsa_leaf, &[], "pw", false), Err(P12Error::KeyMismatch));
    assert_eq!(build_p12(&ec_key, &cert("ec-leaf.pem"), &[], "", false), Err(P12Error::EmptyPassphrase));
    let sm2_key = der::pem::decode_vec(&bytes("sm2-leaf.key")).unwrap().1;
    assert_eq!(build_p12(&sm2_key, &cert("sm2-leaf.pem"), &[], "pw", false), Err(P12Error::Sm2));
}
