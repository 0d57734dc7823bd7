//! Writing the merged folder through the folder type `generate` writes with: `--out`
//! locked and opened as an [`OutputDir`], the summary journaled by a [`SummaryWriter`],
//! and with `--collect` the pairs copied as `generate` writes its own (staged, one sync a
//! batch, a journal line naming the batch before any file is put in place), and the
//! shards' archives with them.

use std::collections::HashMap;
use std::path::{Component, Path, PathBuf};

use super::shards::{Loc, ShardFolder};
use super::{FolderKind, MergeOutcome, MergeProblem, Merged};
use crate::error::Error;
use crate::output::atomic::{self, Folders, Replace, Staged};
use crate::output::certified;
use crate::output::summary::{Entry, SummaryWriter};
use crate::output::{
    ARCHIVE_DIR, FolderError, FolderState, IoError, Layout, Opening, OutProblem, OutputDir, utc_stamp,
};
use crate::settings::Settings;

/// Entries written per batch, at most: with `--collect`, their files are held open
/// (staged) until the batch's one sync: two a pair, up to ten a certified request (an SM2
/// pair with its encryption pair and a waiting renewal), so a low open-file limit makes
/// batches smaller (see [`batch_size`]).
const BATCH: usize = 128;

/// Files a collected entry may hold open, at most (see [`BATCH`]).
const FILES_AN_ENTRY: usize = 10;

/// Entries a batch, under the open-file limit (raised to its maximum first), less what
/// the run holds open anyway: its own, and each shard's lock and scratch file.
fn batch_size(shards: usize) -> usize {
    let open_files = usize::try_from(atomic::raise_open_file_limit()).unwrap_or(usize::MAX);
    let held = 64 + 2 * shards;
    (open_files.saturating_sub(held) / FILES_AN_ENTRY).clamp(1, BATCH)
}

/// `--collect` makes one folder of the shards' pairs: they must agree on layout, key
/// protection and key format, and so must a folder already at `out` (an encrypted folder
/// never gets unencrypted keys, or the reverse). The kind the collected folder records.
pub(super) fn collected_kind(
    shards: &[ShardFolder],
    out: &Path,
    problems: &mut Vec<MergeProblem>,
) -> Result<Option<FolderKind>, Error> {
    let Some(first) = shards.first() else { return Ok(None) };
    if shards.iter().any(|s| !s.kind.agrees(&first.kind)) {
        let shards = shards.iter().map(|s| (s.dir.clone(), s.kind)).collect();
        problems.push(MergeProblem::KeysDiffer { shards });
        return Ok(None);
    }
    let kind = FolderKind { keys: shards.iter().find_map(|s| s.kind.keys), ..first.kind };
    if let Some(problem) = folder_disagrees(out, &kind)? {
        problems.push(problem);
        return Ok(None);
    }
    Ok(Some(kind))
}

/// The problem, if the folder at `out` holds pairs of another kind than `kind`.
fn folder_disagrees(out: &Path, kind: &FolderKind) -> Result<Option<MergeProblem>, Error> {
    let there = FolderState::read(out)
        .map_err(|e| FolderError::Out { given: out.to_path_buf(), problem: OutProblem::Unreadable(e) })?;
    Ok(there
        .map(|s| FolderKind::of(out, &s))
        .filter(|k| !k.agrees(kind))
        .map(|holds| MergeProblem::OutHoldsOther { out: out.to_path_buf(), holds, shards: *kind }))
}

/// Writes the merged summary (and with `--collect`, the pairs, into a folder that records
/// the shards' `kind`).
pub(super) fn write_merged(
    settings: &Settings,
    shards: &mut [ShardFolder],
    order: Vec<Loc>,
    kind: Option<FolderKind>,
) -> Result<MergeOutcome, Error> {
    let given = &settings.out;
    if std::fs::metadata(given).is_ok_and(|m| !m.is_dir()) {
        return Err(FolderError::Out { given: given.clone(), problem: OutProblem::NotAFolder }.into());
    }
    std::fs::create_dir_all(given)
        .map_err(|e| FolderError::Out { given: given.clone(), problem: OutProblem::CannotCreate(e) })?;
    let opening = kind.map_or_else(Opening::default, |k| Opening {
        layout: k.layout,
        keys: k.keys,
        key_format: Some(k.key_format),
        ..Opening::default()
    });
    // The folder's kind was checked before its lock was taken; a run there since (one this
    // merge waited for) may have changed it, so it is checked again under the lock.
    let lock = OutputDir::lock(given)?;
    if let Some(kind) = &kind
        && let Some(problem) = folder_disagrees(given, kind)?
    {
        return Ok(MergeOutcome::OutChanged(problem));
    }
    let at = settings
        .merge
        .shards
        .iter()
        .enumerate()
        .filter_map(|(k, d)| Some((k as u32, shards.iter().position(|s| &s.dir == d)?)))
        .collect();
    let mut shards = ByIndex { shards, at };
    if settings.merge.collect {
        let mut clashes = clashes(given, opening.layout, &order, &mut shards)?;
        clashes.extend(archive_clashes(given, shards.shards)?);
        if !clashes.is_empty() {
            return Ok(MergeOutcome::Clashes(clashes));
        }
    }
    let out = OutputDir::open_locked(given, &opening, lock)?;
    let started = utc_stamp();
    let mut summary = SummaryWriter::create(
        out.journal_path(&started),
        out.summary_path(),
        crate::run::request_id(),
        started,
        order.len(),
    )?;
    let size = if settings.merge.collect { batch_size(settings.merge.shards.len()) } else { BATCH };
    for batch in order.chunks(size) {
        write_batch(&out, &mut summary, batch, settings.merge.collect, &mut shards)?;
    }
    if settings.merge.collect {
        for shard in shards.shards.iter() {
            copy_archive(&out, &shard.dir, size)?;
        }
    }
    let csrs = summary.counts().0;
    summary.finish(&[])?;
    Ok(MergeOutcome::Merged(Merged {
        csrs,
        shards: settings.merge.shards.len(),
        summary: out.summary_path(),
    }))
}

/// The shards read, by their place among the folders given (what a [`Loc`] names).
struct ByIndex<'a> {
    shards: &'a mut [ShardFolder],
    at: HashMap<u32, usize>,
}

impl ByIndex<'_> {
    fn of(&mut self, loc: &Loc) -> &mut ShardFolder {
        &mut self.shards[self.at[&loc.shard]]
    }
}

/// Journals a batch of entries. With `--collect` their pairs are copied first, as
/// `generate` writes pairs: each file staged beside its place, the Names of the batch
/// journaled as pending, one sync for the files and that line, then each file named; a
/// merge killed midway leaves whole files only, and a journal that tells the next run of
/// the folder which pairs may be half there. Without, each entry points at its shard's
/// files.
fn write_batch(
    out: &OutputDir,
    summary: &mut SummaryWriter,
    batch: &[Loc],
    collect: bool,
    shards: &mut ByIndex<'_>,
) -> Result<(), IoError> {
    let mut entries = Vec::with_capacity(batch.len());
    let mut staged = Vec::new();
    let mut pending = Vec::new();
    for loc in batch {
        let shard = shards.of(loc);
        let mut entry = shard.entry(*loc)?;
        if collect {
            if copy_pair(out, &shard.dir, &mut entry, &mut staged)? {
                pending.push(entry.name.clone());
            }
        } else {
            point_at_shard(&mut entry, &shard.dir, out.root())?;
        }
        entries.push(entry);
    }
    if !pending.is_empty() {
        summary.begin_batch(&pending.iter().map(String::as_str).collect::<Vec<_>>())?;
    }
    for landed in atomic::commit_with(staged, &[summary.journal_file()], Folders::WithNextSync) {
        landed?;
    }
    for entry in &entries {
        summary.push(entry)?;
    }
    summary.flush()
}

/// The entry's files that are the shard's own, each with whether it is the key: the CSR,
/// and the key unless it is absolute (an absolute KeyFile is the user's own key, from the
/// `KeyFile` field: it stays where it is and is never copied).
fn own_files(entry: &mut Entry) -> impl Iterator<Item = (&mut String, bool)> {
    let key = entry.key_file.as_mut().filter(|k| is_own_key(k));
    entry.csr_file.as_mut().map(|c| (c, false)).into_iter().chain(key.map(|k| (k, true)))
}

/// Whether the entry's `KeyFile` is the shard's own (relative), not the user's.
fn is_own_key(key_file: &str) -> bool {
    !Path::new(key_file).is_absolute()
}

/// A file `--collect` copies: from the shard, to its place in `out`, and whether it is
/// secret (mode 0600).
struct Carried {
    from: PathBuf,
    to: PathBuf,
    secret: bool,
}

/// What `--collect` copies of an entry, each to its place for the entry's Name in `out`
/// (never a path from the entry's text): the pair it names; for a certified request
/// (issue 21) its live CSR, its live generation (key, certificate, chain, `.p12`, SM2
/// encryption pair) as the copy's first certificate, and the `next` pair when the entry
/// names one (a renewal waiting for its certificate), so that in the copy too the live
/// key and certificate belong together. The reason, when the shard's live certificate is
/// not the one its summary records or not whole.
fn carried(out: &Path, layout: Layout, shard: &Path, entry: &Entry) -> Result<Vec<Carried>, String> {
    let name = entry.name.as_str();
    let Some(recorded) = &entry.certificate else {
        let (csr_to, key_to) = layout.pair_paths(out, name);
        let csr = entry.csr_file.as_ref().map(|c| Carried { from: shard.join(c), to: csr_to, secret: false });
        let key = entry.key_file.as_ref().filter(|k| is_own_key(k));
        let key = key.map(|k| Carried { from: shard.join(k), to: key_to, secret: true });
        return Ok(csr.into_iter().chain(key).collect());
    };
    let (from, to) = (certified::Paths::new(shard, layout, name), certified::Paths::new(out, layout, name));
    // The live CSR, unless a repair left only the next pair's (promoted with it).
    let mut files = Vec::new();
    if std::fs::symlink_metadata(from.csr()).is_ok() {
        files.push(Carried { from: from.csr(), to: to.csr(), secret: false });
    }
    for (from, to, secret) in certified::copies(&from, &to, recorded)? {
        files.push(Carried { from, to, secret });
    }
    let (next_csr, next_key) = from.next_relative();
    if entry.csr_file.as_deref() == Some(next_csr.as_str()) {
        files.push(Carried { from: from.next_csr(), to: to.next_csr(), secret: false });
    }
    if entry.key_file.as_deref() == Some(next_key.as_str()) {
        files.push(Carried { from: from.next_key(), to: to.next_key(), secret: true });
    }
    Ok(files)
}

/// What keeps `--collect` from copying: a file at a copy's path in `out` that is not the
/// shard's file (another request's pair of the same Name, say), or a certified request
/// whose live files in its shard are not as its summary records them. Found before
/// anything is copied, so that a refused merge leaves no partial copy behind.
fn clashes(
    out: &Path,
    layout: Layout,
    order: &[Loc],
    shards: &mut ByIndex<'_>,
) -> Result<Vec<MergeProblem>, IoError> {
    let mut clashes = Vec::new();
    for loc in order {
        let shard = shards.of(loc);
        let entry = shard.entry(*loc)?;
        let files = match carried(out, layout, &shard.dir, &entry) {
            Ok(files) => files,
            Err(why) => {
                clashes.push(MergeProblem::CertificateNotAsRecorded {
                    name: entry.name.clone(),
                    place: entry.manifest.clone(),
                    dir: shard.dir.clone(),
                    why,
                });
                continue;
            }
        };
        for Carried { from, to, .. } in files {
            if !may_copy(&from, &to)? {
                clashes.push(MergeProblem::Clash {
                    name: entry.name.clone(),
                    place: entry.manifest.clone(),
                    dir: shard.dir.clone(),
                    path: to,
                });
            }
        }
    }
    Ok(clashes)
}

/// Whether `from` may be copied to `to`: nothing is there, or the same bytes (a merge run
/// again). `from` is read, so that every file to copy is there before anything is copied.
fn may_copy(from: &Path, to: &Path) -> Result<bool, IoError> {
    std::fs::metadata(from).map_err(|e| IoError::new(from, e))?;
    match there(to)? {
        None => Ok(true),
        Some(meta) => same_bytes(&meta, to, from),
    }
}

/// What is at `to` (not followed, if a link), or `None`: nothing.
fn there(to: &Path) -> Result<Option<std::fs::Metadata>, IoError> {
    match std::fs::symlink_metadata(to) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(IoError::new(to, e)),
        Ok(meta) => Ok(Some(meta)),
    }
}

/// Whether `to` (of metadata `meta`) is a file of `from`'s bytes.
fn same_bytes(meta: &std::fs::Metadata, to: &Path, from: &Path) -> Result<bool, IoError> {
    Ok(meta.is_file()
        && std::fs::read(to).ok() == Some(std::fs::read(from).map_err(|e| IoError::new(from, e))?))
}

/// A file or link of a shard's archive and its place in `out`'s archive.
struct Archived {
    from: PathBuf,
    to: PathBuf,
    /// A file's mode and group, or a link.
    what: ArchivedKind,
}

enum ArchivedKind {
    /// Kept as they are (a key's 0600, or the 0640 of a server's group), with the
    /// group's bits off where the merging user may not give that group
    /// ([`atomic::stage_copy`]): a copy is never readable by more than its source.
    File { mode: u32, gid: u32 },
    /// A link, made again with the same target (never followed: a pruned request's
    /// `.live/NAME/current` points to its generation beside it).
    Link(PathBuf),
}

/// What `--collect` copies of a shard's archive (`.archive/`: what its runs replaced or
/// pruned, old keys among them, and each run's `archived.jsonl`): every file and link, to
/// the same path in `out`'s archive, so that each run's folder stays as that run left it
/// and the collected folder holds all its shards hold.
fn archived(out: &Path, shard: &Path) -> Result<Vec<Archived>, IoError> {
    use std::os::unix::fs::{MetadataExt, PermissionsExt};
    let root = shard.join(ARCHIVE_DIR);
    match std::fs::symlink_metadata(&root) {
        Ok(m) if m.is_dir() => {}
        Ok(_) => return Ok(Vec::new()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(IoError::new(&root, e)),
    }
    let mut found = Vec::new();
    // (walkdir follows no link unless told to.)
    for item in walkdir::WalkDir::new(&root).sort_by_file_name() {
        let item = item.map_err(|e| IoError::other(&root, e))?;
        let from = item.path().to_path_buf();
        let what = if item.file_type().is_file() {
            let meta = item.metadata().map_err(|e| IoError::other(&from, e))?;
            ArchivedKind::File { mode: meta.permissions().mode() & 0o777, gid: meta.gid() }
        } else if item.file_type().is_symlink() {
            ArchivedKind::Link(std::fs::read_link(&from).map_err(|e| IoError::new(&from, e))?)
        } else {
            continue;
        };
        let rel = from.strip_prefix(&root).map_err(|e| IoError::other(&from, e))?;
        let to = out.join(ARCHIVE_DIR).join(rel);
        found.push(Archived { from, to, what });
    }
    Ok(found)
}

/// Whether `to` holds the archived item already: the same bytes, or a link to the same
/// target. `None`: nothing is there.
fn holds(to: &Path, item: &Archived) -> Result<Option<bool>, IoError> {
    let Some(meta) = there(to)? else { return Ok(None) };
    Ok(Some(match &item.what {
        ArchivedKind::File { .. } => same_bytes(&meta, to, &item.from)?,
        ArchivedKind::Link(target) => {
            meta.is_symlink() && std::fs::read_link(to).ok().as_ref() == Some(target)
        }
    }))
}

/// What keeps the shards' archives from being copied: a file or link in `out`'s archive,
/// or of another shard's archive at the same path, that is not the same.
fn archive_clashes(out: &Path, shards: &[ShardFolder]) -> Result<Vec<MergeProblem>, IoError> {
    let mut clashes = Vec::new();
    let mut first: HashMap<PathBuf, Archived> = HashMap::new();
    for shard in shards {
        for item in archived(out, &shard.dir)? {
            // Every file to copy can be read before anything is copied.
            if let ArchivedKind::File { .. } = item.what {
                std::fs::File::open(&item.from).map_err(|e| IoError::new(&item.from, e))?;
            }
            let same = match first.get(&item.to) {
                Some(earlier) => holds(&earlier.from, &item)?.unwrap_or(false),
                None => holds(&item.to, &item)?.unwrap_or(true),
            };
            if !same {
                clashes.push(MergeProblem::ArchiveClash { dir: shard.dir.clone(), path: item.to.clone() });
            }
            first.entry(item.to.clone()).or_insert(item);
        }
    }
    Ok(clashes)
}

/// Copies a shard's archive into `out`'s (see [`archived`]), `size` files a sync; what is
/// there already (a merge run again, or another shard's same file) is the same, as
/// [`archive_clashes`] found.
fn copy_archive(out: &OutputDir, shard: &Path, size: usize) -> Result<(), IoError> {
    for part in archived(out.root(), shard)?.chunks(size.max(1)) {
        let mut staged = Vec::new();
        let mut links = Vec::new();
        for item in part {
            if holds(&item.to, item)?.is_some() {
                continue;
            }
            let dir = item.to.parent().unwrap_or(out.root());
            std::fs::create_dir_all(dir).map_err(|e| IoError::new(dir, e))?;
            match &item.what {
                &ArchivedKind::File { mode, gid } => {
                    let bytes = std::fs::read(&item.from).map_err(|e| IoError::new(&item.from, e))?;
                    staged.push(atomic::stage_copy(&item.to, &bytes, mode, gid, Replace::Never)?);
                }
                ArchivedKind::Link(target) => links.push((target, &item.to)),
            }
        }
        for landed in atomic::commit_with(staged, &[], Folders::WithNextSync) {
            landed?;
        }
        for (target, to) in links {
            std::os::unix::fs::symlink(target, to).map_err(|e| IoError::new(to, e))?;
        }
    }
    Ok(())
}

/// Stages copies of what the entry carries (see [`carried`]) into `out` and points the
/// entry at its pair there; whether anything was staged (a merge run again over the same
/// folder finds its own copies there, which [`clashes`] found to be the same files).
fn copy_pair(
    out: &OutputDir,
    shard: &Path,
    entry: &mut Entry,
    staged: &mut Vec<Staged>,
) -> Result<bool, IoError> {
    let files = carried(out.root(), out.layout(), shard, entry).map_err(|why| IoError::other(shard, why))?;
    let mut any = false;
    for Carried { from, to, secret } in files {
        let bytes = std::fs::read(&from).map_err(|e| IoError::new(&from, e))?;
        if !std::fs::read(&to).is_ok_and(|b| b == bytes) {
            staged.push(out.stage_bytes(&to, &bytes, secret, Replace::Never)?);
            any = true;
        }
    }
    // A certified entry names its files as the shard does (one layout): the live ones,
    // or the `next` pair.
    if entry.certificate.is_none() {
        let (csr_rel, key_rel) = out.relative_files(&entry.name);
        for (rel, key) in own_files(entry) {
            rel.clone_from(if key { &key_rel } else { &csr_rel });
        }
    }
    Ok(any)
}

/// Points the entry's files at where they are in the shard's folder, by a path relative
/// to the merged folder `out`: its pair, and its certificate's files.
fn point_at_shard(entry: &mut Entry, shard: &Path, out: &Path) -> Result<(), IoError> {
    let point = |rel: &mut String| -> Result<(), IoError> {
        let from = shard.join(&*rel);
        *rel = relative_path(out, &from).map_err(|e| IoError::new(&from, e))?.to_string_lossy().into_owned();
        Ok(())
    };
    if let Some(c) = entry.certificate.as_mut() {
        for rel in [&mut c.cert_file, &mut c.chain_file, &mut c.fullchain_file] {
            point(rel)?;
        }
        c.p12_file.iter_mut().try_for_each(point)?;
        if let Some(e) = c.encryption.as_mut() {
            point(&mut e.cert_file)?;
            point(&mut e.key_file)?;
        }
    }
    for (rel, _) in own_files(entry) {
        point(rel)?;
    }
    Ok(())
}

/// `to` as seen from the folder `from` (both made absolute).
fn relative_path(from: &Path, to: &Path) -> std::io::Result<PathBuf> {
    let from = std::path::absolute(from)?;
    let to = std::path::absolute(to)?;
    let (a, b): (Vec<Component>, Vec<Component>) = (from.components().collect(), to.components().collect());
    let common = a.iter().zip(&b).take_while(|(x, y)| x == y).count();
    let mut rel = PathBuf::new();
    for _ in common..a.len() {
        rel.push("..");
    }
    for c in &b[common..] {
        rel.push(c);
    }
    Ok(rel)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relative_paths_between_folders() {
        assert_eq!(
            relative_path(Path::new("/a/merged"), Path::new("/a/s0/x.pem")).unwrap(),
            Path::new("../s0/x.pem")
        );
        assert_eq!(relative_path(Path::new("/a"), Path::new("/a/b/c")).unwrap(), Path::new("b/c"));
    }
}
