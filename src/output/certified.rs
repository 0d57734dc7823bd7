//! A request's certificate in the folder: its live files, the `next` pair that waits for
//! a renewal's certificate, and the promotion that puts a new generation live. The one
//! reader ([`read`]) and the one writer ([`install`], [`promote_csr`]) of these files.
//!
//! Once a request has a certificate, its live files are symbolic links into one
//! generation folder, switched as a whole:
//!
//! ```text
//! NAME.key.pem       -> .live/NAME/current/key.pem
//! NAME.crt.pem       -> .live/NAME/current/crt.pem
//! NAME.chain.pem     -> .live/NAME/current/chain.pem
//! NAME.fullchain.pem -> .live/NAME/current/fullchain.pem
//! NAME.p12           -> .live/NAME/current/bundle.p12      (with --p12)
//! .live/NAME/current -> 20261203T051436.123456789Z         (the live generation)
//! .live/NAME/20261203T051436.123456789Z/   key.pem crt.pem chain.pem fullchain.pem meta.json
//! ```
//!
//! A new generation is written whole and made durable beside the live one, then
//! `current` is replaced with one rename: a server that opens the key and the
//! certificate, or a kill -9 at any moment, finds one generation's key and certificate,
//! never one of each (Kubernetes' AtomicWriter projects volumes the same way). The key of
//! a generation is a hard link of the key file it came from, so no key is ever copied or
//! lost. `NAME.csr.pem` stays a regular file; a renewal's new pair is
//! `NAME.next.key.pem` + `NAME.next.csr.pem` until its certificate is imported.

use std::path::{Path, PathBuf};

use super::atomic::{self, KEY_MODE, PUBLIC_MODE};
use super::summary::CertificateInfo;
use super::{Archive, IoError, Layout, utc_stamp};

/// The folder, beside a request's files, that holds the generations of its certificates.
pub(crate) const LIVE_DIR: &str = ".live";
/// The link in `.live/NAME/` to the live generation.
const CURRENT: &str = "current";
/// What a generation records of its certificate (a [`CertificateInfo`]).
const META: &str = "meta.json";
/// The renewal's pair, beside the live one.
pub(crate) const NEXT_CSR: &str = ".next.csr.pem";
pub(crate) const NEXT_KEY: &str = ".next.key.pem";

/// One of a certified request's live files.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum LiveFile {
    Key,
    Cert,
    Chain,
    Fullchain,
    P12,
    /// SM2: the encryption pair's key, certificate and full chain.
    EncKey,
    EncCert,
    EncFullchain,
}

impl LiveFile {
    pub(crate) const ALL: [LiveFile; 8] = [
        LiveFile::Key,
        LiveFile::Cert,
        LiveFile::Chain,
        LiveFile::Fullchain,
        LiveFile::P12,
        LiveFile::EncKey,
        LiveFile::EncCert,
        LiveFile::EncFullchain,
    ];

    /// Its name inside a generation folder.
    fn in_generation(self) -> &'static str {
        match self {
            LiveFile::Key => "key.pem",
            LiveFile::Cert => "crt.pem",
            LiveFile::Chain => "chain.pem",
            LiveFile::Fullchain => "fullchain.pem",
            LiveFile::P12 => "bundle.p12",
            LiveFile::EncKey => "enc.key.pem",
            LiveFile::EncCert => "enc.crt.pem",
            LiveFile::EncFullchain => "enc.fullchain.pem",
        }
    }

    /// What follows the Name in the file servers read (`NAME.crt.pem`).
    pub(crate) fn suffix(self) -> &'static str {
        match self {
            LiveFile::Key => ".key.pem",
            LiveFile::Cert => ".crt.pem",
            LiveFile::Chain => ".chain.pem",
            LiveFile::Fullchain => ".fullchain.pem",
            LiveFile::P12 => ".p12",
            LiveFile::EncKey => ".enc.key.pem",
            LiveFile::EncCert => ".enc.crt.pem",
            LiveFile::EncFullchain => ".enc.fullchain.pem",
        }
    }

    fn mode(self) -> u32 {
        if matches!(self, LiveFile::Key | LiveFile::P12 | LiveFile::EncKey) { KEY_MODE } else { PUBLIC_MODE }
    }
}

/// Where one request's certificate files are.
#[derive(Debug, Clone)]
pub(crate) struct Paths {
    /// The folder of the request's pair.
    pair_dir: PathBuf,
    name: String,
    layout: Layout,
    /// `pair_dir/.live/NAME`.
    live: PathBuf,
}

impl Paths {
    pub(crate) fn new(root: &Path, layout: Layout, name: &str) -> Paths {
        let pair_dir = root.join(layout.pair_folder(name));
        let live = pair_dir.join(LIVE_DIR).join(name);
        Paths { pair_dir, name: name.to_owned(), layout, live }
    }

    /// The file a server reads: `NAME.crt.pem` beside the CSR.
    pub(crate) fn link(&self, file: LiveFile) -> PathBuf {
        self.pair_dir.join(format!("{}{}", self.name, file.suffix()))
    }

    /// The same, relative to the output folder (as summary.json names files).
    pub(crate) fn relative(&self, file: LiveFile) -> String {
        self.layout.file(&self.name, file.suffix())
    }

    /// What the link of `file` points to, relative to the pair folder.
    fn target(&self, file: LiveFile) -> PathBuf {
        Path::new(LIVE_DIR).join(&self.name).join(CURRENT).join(file.in_generation())
    }

    /// The live generation's `file`, read through `current` (never through the link
    /// beside the CSR, which a user may have replaced).
    pub(crate) fn live_file(&self, file: LiveFile) -> PathBuf {
        self.live.join(CURRENT).join(file.in_generation())
    }

    pub(crate) fn csr(&self) -> PathBuf {
        self.pair_dir.join(format!("{}.csr.pem", self.name))
    }

    pub(crate) fn next_csr(&self) -> PathBuf {
        self.pair_dir.join(format!("{}{NEXT_CSR}", self.name))
    }

    pub(crate) fn next_key(&self) -> PathBuf {
        self.pair_dir.join(format!("{}{NEXT_KEY}", self.name))
    }

    /// Whether `.live/NAME` is there (as a folder): the request was certified.
    pub(crate) fn has_live_dir(&self) -> bool {
        has_live_dir(&self.pair_dir, &self.name)
    }

    /// The next pair's files relative to the output folder: (CSR, key).
    pub(crate) fn next_relative(&self) -> (String, String) {
        (self.layout.file(&self.name, NEXT_CSR), self.layout.file(&self.name, NEXT_KEY))
    }
}

/// What the folder holds of a request's certificate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Live {
    /// No certificate was ever imported for it.
    None,
    /// The live generation.
    Certified(Box<Generation>),
    /// `.live/NAME` is there but not as csrbatch leaves it: the reason.
    Unusable(String),
}

/// The live generation of a certified request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Generation {
    /// Its folder's name in `.live/NAME/`.
    pub(crate) name: String,
    pub(crate) info: CertificateInfo,
    /// The generation holds the key (not a `KeyFile` request's).
    pub(crate) has_key: bool,
}

/// Reads what the folder holds of a request's certificate, without changing anything.
pub(crate) fn read(paths: &Paths) -> Live {
    // `.live` and `.live/NAME` are folders csrbatch made: a link there could lead the
    // writes out of the output folder.
    for dir in [paths.pair_dir.join(LIVE_DIR), paths.live.clone()] {
        match std::fs::symlink_metadata(&dir) {
            Ok(m) if m.is_dir() => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Live::None,
            Ok(_) => return Live::Unusable(format!("{} is not a folder", dir.display())),
            Err(e) => return Live::Unusable(format!("{}: {e}", dir.display())),
        }
    }
    let current = paths.live.join(CURRENT);
    let target = match std::fs::read_link(&current) {
        // A first import killed before it switched: nothing is live yet.
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Live::None,
        Err(e) => return Live::Unusable(format!("{}: {e}", current.display())),
        Ok(target) => target,
    };
    let name = match target.to_str() {
        Some(name) if is_generation_name(name) => name.to_owned(),
        _ => {
            return Live::Unusable(format!(
                "{} points to {}, not to a generation csrbatch wrote",
                current.display(),
                target.display()
            ));
        }
    };
    let dir = paths.live.join(&name);
    let meta = dir.join(META);
    let info: CertificateInfo = match std::fs::read(&meta) {
        Ok(bytes) => match serde_json::from_slice(&bytes) {
            Ok(info) => info,
            Err(e) => return Live::Unusable(format!("{}: {e}", meta.display())),
        },
        Err(e) => return Live::Unusable(format!("{}: {e}", meta.display())),
    };
    let cert = dir.join(LiveFile::Cert.in_generation());
    match std::fs::read_to_string(&cert).map(|pem| pem_fingerprint(&pem)) {
        Ok(Some(fingerprint)) if fingerprint == info.sha256_fingerprint => {}
        Ok(_) => {
            return Live::Unusable(format!(
                "{} is not the certificate recorded in its meta.json (changed by hand?)",
                cert.display()
            ));
        }
        Err(e) => return Live::Unusable(format!("{}: {e}", cert.display())),
    }
    let has_key =
        std::fs::symlink_metadata(dir.join(LiveFile::Key.in_generation())).is_ok_and(|m| m.is_file());
    Live::Certified(Box::new(Generation { name, info, has_key }))
}

/// SHA-256 of the DER of the first `CERTIFICATE` block, lower-case hex.
fn pem_fingerprint(pem: &str) -> Option<String> {
    use sha2::Digest;
    let block = crate::crypto::pem::blocks(pem).filter_map(Result::ok).find(|b| b.label == "CERTIFICATE")?;
    Some(hex::encode(sha2::Sha256::digest(&block.der)))
}

/// The names csrbatch gives generations: [`utc_stamp`]s.
fn is_generation_name(name: &str) -> bool {
    name.len() > 16
        && name.ends_with('Z')
        && name.bytes().all(|b| b.is_ascii_digit() || b == b'T' || b == b'Z' || b == b'.')
}

/// A generation to put live.
#[derive(Debug)]
pub(crate) struct NewGeneration {
    /// The key file to hard-link into it (a real file, not a link); `None` for a
    /// `KeyFile` request, whose key stays the user's.
    pub(crate) key: Option<PathBuf>,
    pub(crate) cert_pem: String,
    pub(crate) chain_pem: String,
    pub(crate) fullchain_pem: String,
    pub(crate) p12: Option<Vec<u8>>,
    /// SM2: the encryption pair (key PEM as the folder stores keys, leaf, full chain).
    pub(crate) encryption: Option<EncryptionPair>,
    pub(crate) info: CertificateInfo,
}

/// An SM2 encryption pair of a generation.
#[derive(Debug)]
pub(crate) struct EncryptionPair {
    pub(crate) key_pem: zeroize::Zeroizing<String>,
    pub(crate) cert_pem: String,
    pub(crate) fullchain_pem: String,
}

impl NewGeneration {
    fn has(&self, file: LiveFile) -> bool {
        match file {
            LiveFile::Key => self.key.is_some(),
            LiveFile::P12 => self.p12.is_some(),
            LiveFile::EncKey | LiveFile::EncCert | LiveFile::EncFullchain => self.encryption.is_some(),
            _ => true,
        }
    }
}

/// A generation written into its folder, not yet live: what [`switch`] and [`link`] need.
/// Putting many generations live is three passes, each followed by one sync of the file
/// system for the whole batch ([`atomic::sync_folders`]): [`prepare`] each (the new
/// generation's files), [`switch`] each (`current`), [`link`] each (the names beside the
/// CSR, and the old generation into the archive). A kill between passes leaves every
/// request's `current` on a complete generation, old or new.
#[derive(Debug)]
pub(crate) struct Prepared {
    paths: Paths,
    stamp: String,
    before: Option<PathBuf>,
    files: [bool; 8],
}

/// Writes a new generation beside the live one (made durable by the caller's sync before
/// [`switch`]). Refuses, before writing anything, a file beside the CSR that is in the
/// way of a link: anything but csrbatch's link, or (the key before its first import) the
/// very key file the generation links. Leftovers of a killed install go to the archive.
pub(crate) fn prepare(paths: &Paths, new: &NewGeneration, archive: &Archive) -> Result<Prepared, IoError> {
    for file in LiveFile::ALL.into_iter().filter(|f| new.has(*f)) {
        in_the_way(paths, file, new.key.as_deref())?;
    }
    std::fs::create_dir_all(&paths.live).map_err(|e| IoError::new(&paths.live, e))?;
    for dir in [paths.pair_dir.join(LIVE_DIR), paths.live.clone()] {
        if !std::fs::symlink_metadata(&dir).is_ok_and(|m| m.is_dir()) {
            return Err(IoError::other(&dir, "not a folder (a link?): move it away first"));
        }
    }
    let before = std::fs::read_link(paths.live.join(CURRENT)).ok();
    sweep(paths, before.as_deref(), archive)?;
    let stamp = utc_stamp();
    let dir = paths.live.join(&stamp);
    std::fs::create_dir(&dir).map_err(|e| IoError::new(&dir, e))?;
    if let Some(key) = &new.key {
        let dest = dir.join(LiveFile::Key.in_generation());
        std::fs::hard_link(key, &dest).map_err(|e| IoError::new(&dest, e))?;
    }
    let meta = serde_json::to_vec_pretty(&new.info).map_err(|e| IoError::other(dir.join(META), e))?;
    write_new(&dir.join(META), &meta, PUBLIC_MODE)?;
    for (file, bytes) in [
        (LiveFile::Cert, new.cert_pem.as_bytes()),
        (LiveFile::Chain, new.chain_pem.as_bytes()),
        (LiveFile::Fullchain, new.fullchain_pem.as_bytes()),
        (LiveFile::P12, new.p12.as_deref().unwrap_or_default()),
        (LiveFile::EncKey, new.encryption.as_ref().map_or(&b""[..], |e| e.key_pem.as_bytes())),
        (LiveFile::EncCert, new.encryption.as_ref().map_or(&b""[..], |e| e.cert_pem.as_bytes())),
        (LiveFile::EncFullchain, new.encryption.as_ref().map_or(&b""[..], |e| e.fullchain_pem.as_bytes())),
    ] {
        if new.has(file) {
            write_new(&dir.join(file.in_generation()), bytes, file.mode())?;
        }
    }
    let files = LiveFile::ALL.map(|f| new.has(f));
    Ok(Prepared { paths: paths.clone(), stamp, before, files })
}

/// Makes the prepared generation the live one: one rename of a new `current` link. The
/// caller syncs the file system after the batch.
pub(crate) fn switch(prepared: &Prepared) -> Result<(), IoError> {
    let target = Path::new(&prepared.stamp);
    match prepared.before {
        // Nothing live yet: the link is made where nothing is (a kill leaves no half).
        None => new_link(&prepared.paths.live.join(CURRENT), target),
        Some(_) => replace_link(&prepared.paths.live, CURRENT, target),
    }
}

/// A new link at `path`, where nothing may be (the caller syncs).
fn new_link(path: &Path, target: &Path) -> Result<(), IoError> {
    std::os::unix::fs::symlink(target, path).map_err(|e| IoError::new(path, e))
}

/// After the switch: the links beside the CSR where they are missing (a first import:
/// the key file becomes its link with one rename), a `.p12` link the new generation has
/// not removed, and the generation that was live moved into the archive.
pub(crate) fn link(prepared: &Prepared, archive: &Archive) -> Result<(), IoError> {
    let paths = &prepared.paths;
    for (file, present) in LiveFile::ALL.into_iter().zip(prepared.files) {
        if present {
            ensure_link(paths, file, archive)?;
        } else {
            remove_own_link(paths, file)?;
        }
    }
    if let Some(old) = prepared.before.as_ref().filter(|old| old.as_os_str() != prepared.stamp.as_str()) {
        archive.take_as(&paths.live.join(old), &format!("{}.{}", paths.name, old.display()))?;
    }
    Ok(())
}

/// [`prepare`], [`switch`] and [`link`] for one generation, each made durable.
#[cfg(test)]
pub(crate) fn install(paths: &Paths, new: &NewGeneration, archive: &Archive) -> Result<(), IoError> {
    let prepared = prepare(paths, new, archive)?;
    atomic::sync_folders(&paths.pair_dir)?;
    switch(&prepared)?;
    atomic::sync_folders(&paths.pair_dir)?;
    link(&prepared, archive)?;
    atomic::sync_folders(&paths.pair_dir)
}

/// A new file with exactly `mode` (whatever the umask), never through a link.
fn write_new(path: &Path, bytes: &[u8], mode: u32) -> Result<(), IoError> {
    use std::io::Write;
    use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
    let io = |e| IoError::new(path, e);
    let mut file =
        std::fs::OpenOptions::new().write(true).create_new(true).mode(mode).open(path).map_err(io)?;
    file.set_permissions(std::fs::Permissions::from_mode(mode)).map_err(io)?;
    file.write_all(bytes).map_err(io)
}

/// Refuses a file at `NAME.X` that the link would replace and that is not csrbatch's:
/// another link, a folder, or a regular file (but the key file the generation is made of).
fn in_the_way(paths: &Paths, file: LiveFile, key: Option<&Path>) -> Result<(), IoError> {
    use std::os::unix::fs::MetadataExt;
    let path = paths.link(file);
    let meta = match std::fs::symlink_metadata(&path) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(IoError::new(&path, e)),
        Ok(meta) => meta,
    };
    if meta.file_type().is_symlink() {
        let now = std::fs::read_link(&path).map_err(|e| IoError::new(&path, e))?;
        return if now == paths.target(file) {
            Ok(())
        } else {
            Err(IoError::other(
                &path,
                format!("a link to {}, not csrbatch's: move it away first", now.display()),
            ))
        };
    }
    let the_key = file == LiveFile::Key
        && meta.is_file()
        && key
            .and_then(|k| std::fs::metadata(k).ok())
            .is_some_and(|k| (k.dev(), k.ino()) == (meta.dev(), meta.ino()));
    if the_key {
        return Ok(());
    }
    Err(IoError::other(&path, "is in the way of the certificate's link (not csrbatch's): move it away first"))
}

/// Moves into the archive every generation that is not live (one a killed install left).
fn sweep(paths: &Paths, live: Option<&Path>, archive: &Archive) -> Result<(), IoError> {
    let entries = std::fs::read_dir(&paths.live).map_err(|e| IoError::new(&paths.live, e))?;
    for entry in entries {
        let entry = entry.map_err(|e| IoError::new(&paths.live, e))?;
        let name = entry.file_name();
        let Some(name) = name.to_str() else { continue };
        if name.starts_with(atomic::TMP_PREFIX) {
            std::fs::remove_file(entry.path()).map_err(|e| IoError::new(entry.path(), e))?;
        } else if is_generation_name(name) && live.is_none_or(|l| l.as_os_str() != name) {
            archive.take_as(&entry.path(), &format!("{}.{name}", paths.name))?;
        }
    }
    Ok(())
}

/// Points `dir/link` at `target` with one rename of a new link over it (the caller syncs).
fn replace_link(dir: &Path, link: &str, target: &Path) -> Result<(), IoError> {
    let tmp = dir.join(format!("{}{link}-{}", atomic::TMP_PREFIX, uuid::Uuid::new_v4().simple()));
    std::os::unix::fs::symlink(target, &tmp).map_err(|e| IoError::new(&tmp, e))?;
    let dest = dir.join(link);
    if let Err(e) = std::fs::rename(&tmp, &dest) {
        let _ = std::fs::remove_file(&tmp);
        return Err(IoError::new(&dest, e));
    }
    Ok(())
}

/// Makes `NAME.X` the link into the live generation. A regular file there (the key before
/// the first import) is linked into the archive first, then replaced by the link in one
/// rename; anything else that is not the link is refused.
fn ensure_link(paths: &Paths, file: LiveFile, archive: &Archive) -> Result<(), IoError> {
    let path = paths.link(file);
    let target = paths.target(file);
    match std::fs::symlink_metadata(&path) {
        Ok(m) if m.file_type().is_symlink() => {
            let now = std::fs::read_link(&path).map_err(|e| IoError::new(&path, e))?;
            if now == target {
                return Ok(());
            }
            return Err(IoError::other(&path, format!("a link to {}, not csrbatch's", now.display())));
        }
        // The key before its first import: the generation holds the same inode (a hard
        // link), so nothing is lost when its name becomes the link. Any other file is kept.
        Ok(m) if m.is_file() && file == LiveFile::Key => {
            use std::os::unix::fs::MetadataExt;
            let generation = std::fs::metadata(paths.live_file(file)).map_err(|e| IoError::new(&path, e))?;
            if (m.dev(), m.ino()) != (generation.dev(), generation.ino()) {
                archive.keep(&path)?;
            }
        }
        Ok(_) => return Err(IoError::other(&path, "is in the way of the certificate's file")),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return new_link(&path, &target),
        Err(e) => return Err(IoError::new(&path, e)),
    }
    let name = format!("{}{}", paths.name, file.suffix());
    replace_link(&paths.pair_dir, &name, &target)
}

/// Removes `NAME.X` if it is csrbatch's link (a `.p12` that the new generation has not).
fn remove_own_link(paths: &Paths, file: LiveFile) -> Result<(), IoError> {
    let path = paths.link(file);
    match std::fs::read_link(&path) {
        Ok(now) if now == paths.target(file) => {
            std::fs::remove_file(&path).map_err(|e| IoError::new(&path, e))
        }
        _ => Ok(()),
    }
}

/// `--prune` of a certified request that no manifest asks for any more: its generations
/// (keys and certificates) move into the archive as `NAME.live/`, a waiting `next` pair
/// with them, and the links beside the CSR, which point into what moved, are removed.
/// A kill part way leaves the CSR, so the next `--prune` finds the request again.
pub(crate) fn retire(paths: &Paths, archive: &Archive) -> Result<(), IoError> {
    for file in LiveFile::ALL {
        remove_own_link(paths, file)?;
    }
    for next in [paths.next_csr(), paths.next_key()] {
        if std::fs::symlink_metadata(&next).is_ok() {
            archive.take(&next)?;
        }
    }
    archive.take_as(&paths.live, &format!("{}.live", paths.name))?;
    atomic::sync_dir(&paths.pair_dir)
}

/// Makes the links of the live generation that are missing (a first import killed
/// between its switch and its links).
pub(crate) fn complete(paths: &Paths, generation: &Generation, archive: &Archive) -> Result<(), IoError> {
    for file in LiveFile::ALL {
        if wanted(generation, file) {
            ensure_link(paths, file, archive)?;
        }
    }
    atomic::sync_folders(&paths.pair_dir)
}

fn wanted(generation: &Generation, file: LiveFile) -> bool {
    match file {
        LiveFile::Key => generation.has_key,
        LiveFile::P12 => generation.info.p12_file.is_some(),
        LiveFile::EncKey | LiveFile::EncCert | LiveFile::EncFullchain => generation.info.encryption.is_some(),
        _ => true,
    }
}

/// Whether every link of the live generation is in place (a first import killed between
/// the switch and the links leaves some missing; the next import makes them).
pub(crate) fn links_complete(paths: &Paths, generation: &Generation) -> bool {
    broken_link(paths, generation).is_none()
}

/// The first file beside the CSR that is not the link into the live generation it should
/// be (missing, or replaced by something else).
pub(crate) fn broken_link(paths: &Paths, generation: &Generation) -> Option<PathBuf> {
    LiveFile::ALL.into_iter().filter(|f| wanted(generation, *f)).map(|f| (f, paths.link(f))).find_map(
        |(f, path)| {
            let ours = std::fs::read_link(&path).is_ok_and(|t| t == paths.target(f));
            (!ours).then_some(path)
        },
    )
}

/// After a promotion: the next CSR becomes `NAME.csr.pem` (the one it replaces is linked
/// into the archive first) and the next key, now the generation's, leaves its waiting name
/// for the archive. Nothing happens when no next pair is there. The caller syncs.
pub(crate) fn promote_csr(paths: &Paths, archive: &Archive) -> Result<(), IoError> {
    let (next_csr, csr, next_key) = (paths.next_csr(), paths.csr(), paths.next_key());
    if std::fs::symlink_metadata(&next_csr).is_ok() {
        if std::fs::symlink_metadata(&csr).is_ok() {
            archive.keep(&csr)?;
        }
        std::fs::rename(&next_csr, &csr).map_err(|e| IoError::new(&csr, e))?;
    }
    if std::fs::symlink_metadata(&next_key).is_ok() {
        archive.take(&next_key)?;
    }
    Ok(())
}

/// Whether the folder `pair_dir` holds certificate generations for `name`: its
/// `NAME.next.*` files are then that request's, not a request called `NAME.next`.
pub(crate) fn has_live_dir(pair_dir: &Path, name: &str) -> bool {
    std::fs::symlink_metadata(pair_dir.join(LIVE_DIR).join(name)).is_ok_and(|m| m.is_dir())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::output::{Opening, OutputDir};

    fn pem(body: &[u8]) -> String {
        use base64ct::Encoding;
        format!(
            "-----BEGIN CERTIFICATE-----\n{}\n-----END CERTIFICATE-----\n",
            base64ct::Base64::encode_string(body)
        )
    }

    fn info(paths: &Paths, cert: &str, key: &str) -> CertificateInfo {
        CertificateInfo {
            serial: "01".into(),
            issuer: "CN=Test CA".into(),
            not_before: "2026-01-01T00:00:00Z".into(),
            not_after: "2027-01-01T00:00:00Z".into(),
            sha256_fingerprint: pem_fingerprint(cert).unwrap(),
            key_sha2: key.into(),
            cert_file: paths.relative(LiveFile::Cert),
            chain_file: paths.relative(LiveFile::Chain),
            fullchain_file: paths.relative(LiveFile::Fullchain),
            p12_file: None,
            chain_verified: false,
            encryption: None,
        }
    }

    fn generation(paths: &Paths, key: Option<&Path>, cert: &str) -> NewGeneration {
        NewGeneration {
            key: key.map(Path::to_path_buf),
            cert_pem: cert.into(),
            chain_pem: String::new(),
            fullchain_pem: cert.into(),
            p12: None,
            encryption: None,
            info: info(paths, cert, "k"),
        }
    }

    #[test]
    fn a_first_import_links_the_key_and_a_promotion_switches_key_and_certificate_together() {
        let dir = tempfile::tempdir().unwrap();
        let out = OutputDir::open(dir.path(), &Opening::default()).unwrap();
        let archive = Archive::new(&out, "T");
        let paths = Paths::new(dir.path(), Layout::Flat, "web");
        std::fs::write(paths.link(LiveFile::Key), "KEY-1").unwrap();
        std::fs::write(paths.csr(), "CSR-1").unwrap();
        assert_eq!(read(&paths), Live::None);

        let first = pem(b"cert one");
        install(&paths, &generation(&paths, Some(&paths.link(LiveFile::Key)), &first), &archive).unwrap();
        let Live::Certified(g) = read(&paths) else { panic!("not certified") };
        assert!(g.has_key && links_complete(&paths, &g));
        assert_eq!(std::fs::read_to_string(paths.link(LiveFile::Key)).unwrap(), "KEY-1");
        assert_eq!(std::fs::read_to_string(paths.link(LiveFile::Fullchain)).unwrap(), first);
        assert!(std::fs::symlink_metadata(paths.link(LiveFile::Key)).unwrap().file_type().is_symlink());

        // A renewal: the next pair waits, then its certificate makes it live.
        std::fs::write(paths.next_key(), "KEY-2").unwrap();
        std::fs::write(paths.next_csr(), "CSR-2").unwrap();
        let second = pem(b"cert two");
        install(&paths, &generation(&paths, Some(&paths.next_key()), &second), &archive).unwrap();
        promote_csr(&paths, &archive).unwrap();
        assert_eq!(std::fs::read_to_string(paths.link(LiveFile::Key)).unwrap(), "KEY-2");
        assert_eq!(std::fs::read_to_string(paths.link(LiveFile::Cert)).unwrap(), second);
        assert_eq!(std::fs::read_to_string(paths.csr()).unwrap(), "CSR-2");
        assert!(!paths.next_csr().exists() && !paths.next_key().exists());
        let Live::Certified(g2) = read(&paths) else { panic!("not certified") };
        assert_ne!(g.name, g2.name);
        // Nothing deleted: the old generation, CSR and the key's first name are archived.
        let archived: Vec<String> = std::fs::read_dir(dir.path().join(".archive/T"))
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        assert!(archived.iter().any(|n| n == &format!("web.{}", g.name)), "{archived:?}");
        assert!(archived.iter().any(|n| n == "web.csr.pem"), "{archived:?}");
        assert!(archived.iter().any(|n| n == "web.next.key.pem"), "{archived:?}");
    }

    #[test]
    fn a_certificate_changed_by_hand_or_a_foreign_link_is_unusable() {
        let dir = tempfile::tempdir().unwrap();
        let out = OutputDir::open(dir.path(), &Opening::default()).unwrap();
        let archive = Archive::new(&out, "T");
        let paths = Paths::new(dir.path(), Layout::Flat, "web");
        std::fs::write(paths.link(LiveFile::Key), "KEY").unwrap();
        install(&paths, &generation(&paths, Some(&paths.link(LiveFile::Key)), &pem(b"one")), &archive)
            .unwrap();
        std::fs::write(paths.live_file(LiveFile::Cert), pem(b"other")).unwrap();
        assert!(matches!(read(&paths), Live::Unusable(why) if why.contains("changed by hand")));
        std::fs::remove_file(paths.live.join(CURRENT)).unwrap();
        std::os::unix::fs::symlink("/etc", paths.live.join(CURRENT)).unwrap();
        assert!(matches!(read(&paths), Live::Unusable(why) if why.contains("not to a generation")));
    }

    #[test]
    fn a_kill_before_the_switch_leaves_the_old_generation_live_and_the_next_install_sweeps_it() {
        let dir = tempfile::tempdir().unwrap();
        let out = OutputDir::open(dir.path(), &Opening::default()).unwrap();
        let archive = Archive::new(&out, "T");
        let paths = Paths::new(dir.path(), Layout::Fanout, "web");
        std::fs::create_dir_all(&paths.pair_dir).unwrap();
        std::fs::write(paths.link(LiveFile::Key), "KEY").unwrap();
        let one = pem(b"one");
        install(&paths, &generation(&paths, Some(&paths.link(LiveFile::Key)), &one), &archive).unwrap();
        // What a kill mid-install leaves: a generation folder nothing points to.
        std::fs::create_dir(paths.live.join("20990101T000000.000000000Z")).unwrap();
        let Live::Certified(g) = read(&paths) else { panic!() };
        assert_eq!(std::fs::read_to_string(paths.link(LiveFile::Cert)).unwrap(), one);
        let two = pem(b"two");
        install(&paths, &generation(&paths, Some(&paths.live_file(LiveFile::Key)), &two), &archive).unwrap();
        let left: Vec<_> = std::fs::read_dir(&paths.live).unwrap().map(|e| e.unwrap().file_name()).collect();
        assert_eq!(left.len(), 2, "current and the new generation: {left:?}");
        assert_ne!(read(&paths), Live::Certified(g));
        assert_eq!(std::fs::read_to_string(paths.link(LiveFile::Key)).unwrap(), "KEY");
    }
}
