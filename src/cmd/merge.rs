//! `csrbatch merge`: checks that shard output folders together hold every request exactly
//! once, then writes one summary.json for the whole run (and, with `--collect`, copies the
//! files next to it).
//!
//! What the shard folders prove is always checked: every shard K of N present once, each
//! complete (a summary, no unfinished run, no failed request) and holding only its own
//! requests. The manifests (`--manifests`, else those each shard recorded, read again and
//! compared by SHA-256) then name every missing request. Shard summaries are read with the
//! one summary reader into a scratch file, and entries are read back one at a time, so
//! memory holds a few dozen bytes per request.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fs::File;
use std::io::{BufReader, BufWriter, Read, Seek, SeekFrom, Write};
use std::path::{Component, Path, PathBuf};

use crate::cli::MergeArgs;
use crate::crypto::KeyFormat;
use crate::error::{Error, ExitCode};
use crate::manifest::ReadOptions;
use crate::output::atomic::{self, KEY_MODE, PUBLIC_MODE, Replace};
use crate::output::folder::{self, FolderState, KeyProtection, ManifestRecord};
use crate::output::summary::{self, Entry, Item, SummaryWriter};
use crate::output::{
    FolderError, FolderLock, IoError, Layout, Opening, OutProblem, OutputDir, SUMMARY, utc_stamp,
};
use crate::progress::err;
use crate::request::name_key;
use crate::shard::Shard;
use crate::words::plural;

/// Where one entry is: shard number, byte offset and length of its line in the scratch.
#[derive(Debug, Clone, Copy)]
struct Loc {
    shard: u32,
    offset: u64,
    len: u32,
    ok: bool,
    /// Its `Manifest`: the file (an index into [`Index::files`]) and line.
    file: u32,
    line: u32,
}

/// One shard folder, read.
struct ShardFolder {
    dir: PathBuf,
    shard: Shard,
    manifests: Vec<ManifestRecord>,
    /// How its pairs are laid out and its keys stored: what `--collect` carries over.
    kind: Kind,
    scratch: File,
    /// The shard's lock, held shared while the merge reads it.
    _lock: FolderLock,
}

/// What a folder of pairs must agree on with another to be one folder: layout, key
/// protection and key format (as [`folder::check`] keeps them for a run).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Kind {
    layout: Layout,
    keys: Option<KeyProtection>,
    key_format: KeyFormat,
}

impl Kind {
    /// The folder `root`'s kind. Folders written before the key protection was recorded
    /// tell it by a key file; `keys` is `None` only for a folder that holds no key.
    fn of(root: &Path, state: &FolderState) -> Kind {
        let keys = state.keys.or_else(|| folder::first_key(root, state.layout).map(|(_, p)| p));
        Kind { layout: state.layout, keys, key_format: state.key_format.unwrap_or_default() }
    }

    /// Whether pairs of both can be one folder (a folder without keys goes with any).
    fn agrees(&self, other: &Kind) -> bool {
        let keys = match (self.keys, other.keys) {
            (Some(a), Some(b)) => a == b,
            _ => true,
        };
        self.layout == other.layout && self.key_format == other.key_format && keys
    }
}

impl std::fmt::Display for Kind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let keys = match self.keys {
            Some(KeyProtection::Encrypted) => "encrypted",
            Some(KeyProtection::Unencrypted) => "unencrypted",
            None => "no",
        };
        write!(f, "{} layout, {keys} {} keys", self.layout, self.key_format)
    }
}

/// Every entry of every shard, by Name digest.
#[derive(Default)]
struct Index {
    locs: HashMap<u128, Vec<Loc>>,
    names: HashMap<u128, String>,
    /// Every CsrId seen: one seen twice is found before anything is written.
    csr_ids: HashSet<u64>,
    files: Vec<String>,
}

pub fn run(args: &MergeArgs) -> Result<ExitCode, Error> {
    let mut problems = Vec::new();
    let mut index = Index::default();
    let mut shards = Vec::new();
    for (k, dir) in args.shards.iter().enumerate() {
        match read_shard(dir, k as u32, &mut index, &mut problems) {
            Ok(Some(s)) => shards.push(s),
            Ok(None) => {}
            Err(e) => problems.push(format!("{}: {e}", dir.display())),
        }
    }
    check_shards(&shards, &mut problems);
    // Its lock is held shared for reading as a shard: writing there would wait for itself.
    if let Some(dir) = args.shards.iter().find(|d| same_folder(d, &args.out)) {
        problems.push(format!("{}: --out is one of the shard folders: merge into another", dir.display()));
    }
    let kind = if args.collect { collected_kind(&shards, &args.out, &mut problems)? } else { None };

    // The manifests: given, or as the shards recorded them (when they are still as they were).
    let paths = if args.manifests.is_empty() {
        recorded_manifests(&shards)
    } else {
        Some((args.manifests.clone(), ReadOptions { encoding: args.encoding }))
    };
    let order = match paths {
        Some((paths, read)) => {
            let requests = crate::run::load_and_validate(&paths, read)?;
            let mut order = Vec::with_capacity(requests.len());
            for request in requests.iter() {
                let request = request?;
                let key = name_key(request.name.as_str());
                let locs = index.locs.get(&key).map(Vec::as_slice).unwrap_or_default();
                let held: Vec<&Loc> = locs.iter().filter(|l| l.ok).collect();
                match held.as_slice() {
                    [one] => order.push(**one),
                    [] if locs.is_empty() => {
                        problems.push(format!("missing: {} ({})", request.name, request.origin))
                    }
                    [] => {} // its shard's failure is reported already
                    many => {
                        let dirs: Vec<String> = many
                            .iter()
                            .map(|l| args.shards[l.shard as usize].display().to_string())
                            .collect();
                        problems.push(format!("duplicate: {} in {}", request.name, dirs.join(", ")));
                    }
                }
                index.names.remove(&key);
            }
            let mut extra: Vec<&String> = index.names.values().collect();
            extra.sort();
            problems.extend(extra.into_iter().map(|name| format!("not in the manifests: {name}")));
            order
        }
        None => {
            err(format_args!(
                "merge: checking what the shard folders prove (every shard present once, each \
                 complete); the manifests cannot name missing requests"
            ));
            let given: Vec<String> = shards
                .iter()
                .flat_map(|s| s.manifests.iter().map(|r| r.given.display().to_string()))
                .collect();
            proven_order(&index, &args.shards, &given, &mut problems)
        }
    };
    if !problems.is_empty() {
        for p in &problems {
            err(format_args!("{p}"));
        }
        err(format_args!(
            "error: the shards do not hold every request exactly once ({}); nothing was merged",
            plural(problems.len(), "problem")
        ));
        return Ok(ExitCode::Failed);
    }
    write_merged(args, &mut shards, order, kind)
}

/// Reads one shard folder's state and summary into the index; `None` (with the problem
/// said) when it is not a complete shard.
fn read_shard(
    dir: &Path,
    k: u32,
    index: &mut Index,
    problems: &mut Vec<String>,
) -> Result<Option<ShardFolder>, IoError> {
    if FolderState::read(dir)?.is_none() {
        problems.push(format!("{}: not a csrbatch output folder (no .csrbatch/state.json)", dir.display()));
        return Ok(None);
    }
    // Held until the merge is written: a run still writing the shard is waited for, and
    // none starts there until the merge has read (and with --collect, copied) its pairs.
    let lock = OutputDir::lock_to_read(dir)?;
    let Some(state) = FolderState::read(dir)? else {
        problems.push(format!("{}: its .csrbatch/state.json is gone", dir.display()));
        return Ok(None);
    };
    let shard = state.shard.unwrap_or(Shard { index: 0, count: 1 });
    let path = dir.join(SUMMARY);
    let file = match File::open(&path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            problems.push(format!(
                "{}: shard {shard} has no summary.json: its run never finished",
                dir.display()
            ));
            return Ok(None);
        }
        Err(e) => return Err(IoError::new(&path, e)),
    };
    let scratch_io = |e: std::io::Error| IoError::new(std::env::temp_dir(), e);
    let scratch = tempfile::tempfile().map_err(scratch_io)?;
    let mut out = BufWriter::new(scratch.try_clone().map_err(scratch_io)?);
    let mut offset = 0u64;
    let mut failed = Vec::new();
    let header = summary::read_summary(BufReader::new(file), &mut |item| {
        let Item::Entry(entry) = item else { return Ok(()) };
        let mut line = serde_json::to_vec(&entry)?;
        line.push(b'\n');
        out.write_all(&line)?;
        let key = name_key(&entry.name);
        let ok = entry.succeeded() && entry.csr_file.is_some();
        if !ok {
            let why = entry.error.as_deref().unwrap_or("no CSR");
            failed.push(format!("failed: {} ({}) in {}: {why}", entry.name, entry.manifest, dir.display()));
        }
        if let Some(id) = entry.csr_id.filter(|id| !index.csr_ids.insert(*id)) {
            failed.push(format!(
                "CsrId {id} appears twice ({} in {}); were two shards run with the same index?",
                entry.name,
                dir.display()
            ));
        }
        if !shard.holds(&entry.name) {
            failed.push(format!("{}: {} does not belong to shard {shard}", dir.display(), entry.name));
        }
        let (file, line_no) = index.place(&entry.manifest);
        let loc = Loc { shard: k, offset, len: line.len() as u32, ok, file, line: line_no };
        offset += line.len() as u64;
        index.locs.entry(key).or_default().push(loc);
        index.names.entry(key).or_insert_with(|| entry.name.clone());
        Ok(())
    })
    .map_err(|e| IoError::other(&path, format!("unreadable summary: {e}")))?;
    out.flush().map_err(scratch_io)?;
    problems.append(&mut failed);
    let unfinished = folder::journals_after(dir, &header.written)?;
    if !unfinished.is_empty() {
        problems.push(format!(
            "{}: shard {shard} has an unfinished run: run its `generate` again to finish it",
            dir.display()
        ));
    }
    let kind = Kind::of(dir, &state);
    Ok(Some(ShardFolder {
        dir: dir.to_path_buf(),
        shard,
        manifests: state.manifests,
        kind,
        scratch,
        _lock: lock,
    }))
}

impl Index {
    /// The file (interned) and line of a `Manifest` text `file:line`.
    fn place(&mut self, manifest: &str) -> (u32, u32) {
        let (file, line) = manifest.rsplit_once(':').unwrap_or((manifest, "0"));
        let id = match self.files.iter().position(|f| f == file) {
            Some(i) => i,
            None => {
                self.files.push(file.to_owned());
                self.files.len() - 1
            }
        };
        (id as u32, line.parse().unwrap_or(0))
    }
}

/// Every shard K of N present once, all of the same N.
fn check_shards(shards: &[ShardFolder], problems: &mut Vec<String>) {
    let counts: HashSet<u32> = shards.iter().map(|s| s.shard.count).collect();
    if counts.len() > 1 {
        let list: Vec<String> = shards.iter().map(|s| format!("{} ({})", s.dir.display(), s.shard)).collect();
        problems.push(format!("the folders are shards of different splits: {}", list.join(", ")));
        return;
    }
    let Some(&count) = counts.iter().next() else { return };
    let mut held: BTreeMap<u32, Vec<&Path>> = BTreeMap::new();
    for s in shards {
        held.entry(s.shard.index).or_default().push(&s.dir);
    }
    for k in 0..count {
        match held.get(&k).map(Vec::as_slice) {
            None => problems.push(format!("shard {k}/{count} is missing: no folder given holds it")),
            Some([_]) => {}
            Some(dirs) => {
                let dirs: Vec<String> = dirs.iter().map(|d| d.display().to_string()).collect();
                problems.push(format!("shard {k}/{count} is given twice: {}", dirs.join(", ")));
            }
        }
    }
}

/// `--collect` makes one folder of the shards' pairs: they must agree on layout, key
/// protection and key format, and so must a folder already at `out` (an encrypted folder
/// never gets unencrypted keys, or the reverse). The kind the collected folder records.
fn collected_kind(
    shards: &[ShardFolder],
    out: &Path,
    problems: &mut Vec<String>,
) -> Result<Option<Kind>, Error> {
    let Some(first) = shards.first() else { return Ok(None) };
    if shards.iter().any(|s| !s.kind.agrees(&first.kind)) {
        let list: Vec<String> = shards.iter().map(|s| format!("{} ({})", s.dir.display(), s.kind)).collect();
        problems.push(format!(
            "--collect: the shards' keys differ, so they cannot be one folder: {}",
            list.join(", ")
        ));
        return Ok(None);
    }
    let kind = Kind { keys: shards.iter().find_map(|s| s.kind.keys), ..first.kind };
    if let Some(problem) = folder_disagrees(out, &kind)? {
        problems.push(problem);
        return Ok(None);
    }
    Ok(Some(kind))
}

/// The problem, if the folder at `out` holds pairs of another kind than `kind`.
fn folder_disagrees(out: &Path, kind: &Kind) -> Result<Option<String>, Error> {
    let there = FolderState::read(out)
        .map_err(|e| FolderError::Out { given: out.to_path_buf(), problem: OutProblem::Unreadable(e) })?;
    Ok(there.map(|s| Kind::of(out, &s)).filter(|k| !k.agrees(kind)).map(|there| {
        format!(
            "--collect: {} holds {there}; the shards have {kind}: collect into a new folder",
            out.display()
        )
    }))
}

/// The manifests the shards recorded and how they were read, if every one is still there
/// and unchanged and all were read alike; else `None`, having said what is gone or changed.
fn recorded_manifests(shards: &[ShardFolder]) -> Option<(Vec<PathBuf>, ReadOptions)> {
    let mut records: Vec<&ManifestRecord> = Vec::new();
    for s in shards {
        for r in &s.manifests {
            if !records.iter().any(|x| x.path == r.path && x.sha256 == r.sha256) {
                records.push(r);
            }
        }
    }
    if records.is_empty() {
        err(format_args!(
            "merge: the shard folders record no manifests (give --manifests to check against them)"
        ));
        return None;
    }
    let mut usable = true;
    for r in &records {
        match crate::manifest::Fingerprint::of(&r.path) {
            Err(e) => {
                err(format_args!("merge: manifest {} is gone ({e})", r.path.display()));
                usable = false;
            }
            Ok(now) if now.sha256_hex() != r.sha256 => {
                err(format_args!(
                    "merge: manifest {} changed since the shards ran (SHA-256)",
                    r.path.display()
                ));
                usable = false;
            }
            Ok(_) => {}
        }
    }
    // One run reads every manifest with one `--encoding`; shards that differ ran apart.
    let encoding = records.first().and_then(|r| r.encoding);
    if records.iter().any(|r| r.encoding != encoding) {
        err(format_args!("merge: the shards read their manifests with different --encoding"));
        usable = false;
    }
    let mut paths: Vec<PathBuf> = Vec::new();
    for r in records {
        if paths.contains(&r.path) {
            err(format_args!("merge: the shards ran from different versions of {}", r.path.display()));
            usable = false;
        } else {
            paths.push(r.path.clone());
        }
    }
    usable.then_some((paths, ReadOptions { encoding }))
}

/// Without manifests: every entry the shards hold, each Name once, in manifest order as
/// the entries record it: files in the order the shards recorded them (`given`), then by
/// line.
fn proven_order(index: &Index, dirs: &[PathBuf], given: &[String], problems: &mut Vec<String>) -> Vec<Loc> {
    let mut order = Vec::with_capacity(index.locs.len());
    for (key, locs) in &index.locs {
        let held: Vec<&Loc> = locs.iter().filter(|l| l.ok).collect();
        match held.as_slice() {
            [one] => order.push(**one),
            [] => {}
            many => {
                let name = index.names.get(key).map_or("?", String::as_str);
                let dirs: Vec<String> =
                    many.iter().map(|l| dirs[l.shard as usize].display().to_string()).collect();
                problems.push(format!("duplicate: {name} in {}", dirs.join(", ")));
            }
        }
    }
    let rank: Vec<usize> = index
        .files
        .iter()
        .enumerate()
        .map(|(i, f)| given.iter().position(|g| g == f).unwrap_or(given.len() + i))
        .collect();
    order.sort_by_key(|l| (rank[l.file as usize], l.line));
    order
}

/// Writes the merged summary (and with `--collect`, the pairs, into a folder that records
/// the shards' `kind`).
fn write_merged(
    args: &MergeArgs,
    shards: &mut [ShardFolder],
    order: Vec<Loc>,
    kind: Option<Kind>,
) -> Result<ExitCode, Error> {
    if std::fs::metadata(&args.out).is_ok_and(|m| !m.is_dir()) {
        return Err(FolderError::Out { given: args.out.clone(), problem: OutProblem::NotAFolder }.into());
    }
    std::fs::create_dir_all(&args.out)
        .map_err(|e| FolderError::Out { given: args.out.clone(), problem: OutProblem::CannotCreate(e) })?;
    let opening = kind.map_or_else(Opening::default, |k| Opening {
        layout: k.layout,
        keys: k.keys,
        key_format: Some(k.key_format),
        ..Opening::default()
    });
    // The folder's kind was checked before its lock was taken; a run there since (one this
    // merge waited for) may have changed it, so it is checked again under the lock.
    let lock = OutputDir::lock(&args.out)?;
    if let Some(kind) = &kind
        && let Some(problem) = folder_disagrees(&args.out, kind)?
    {
        err(format_args!("{problem}"));
        err(format_args!("error: nothing was merged"));
        return Ok(ExitCode::Failed);
    }
    let by_index: HashMap<u32, usize> = args
        .shards
        .iter()
        .enumerate()
        .filter_map(|(k, d)| Some((k as u32, shards.iter().position(|s| &s.dir == d)?)))
        .collect();
    if args.collect {
        let clashes = clashes(&args.out, shards, &by_index, &order)?;
        if !clashes.is_empty() {
            for clash in &clashes {
                err(format_args!("{clash}"));
            }
            err(format_args!(
                "error: {} in {} already, not the shards' own: nothing was merged",
                plural(clashes.len(), "file"),
                args.out.display()
            ));
            return Ok(ExitCode::Failed);
        }
    }
    let out = OutputDir::open_locked(&args.out, &opening, lock)?;
    let started = utc_stamp();
    let mut summary = SummaryWriter::create(
        out.journal_path(&started),
        out.summary_path(),
        crate::run::request_id(),
        started,
        order.len(),
    )?;
    for loc in order {
        let shard = &mut shards[by_index[&loc.shard]];
        let mut entry = read_entry(&mut shard.scratch, loc)?;
        relocate(&mut entry, &shard.dir, out.root(), args.collect)?;
        summary.push(&entry)?;
    }
    let count = summary.counts().0;
    summary.finish(&[])?;
    err(format_args!(
        "merged {} from {} into {}",
        plural(count, "CSR"),
        plural(args.shards.len(), "shard"),
        out.summary_path().display()
    ));
    Ok(ExitCode::Success)
}

/// The files `--collect` would copy over: a file at a pair's path in `out` that is not
/// that pair's file (another request's pair of the same Name, say). Found before anything
/// is copied, so that a refused merge leaves no partial copy behind.
fn clashes(
    out: &Path,
    shards: &mut [ShardFolder],
    by_index: &HashMap<u32, usize>,
    order: &[Loc],
) -> Result<Vec<String>, IoError> {
    let mut clashes = Vec::new();
    for loc in order {
        let shard = &mut shards[by_index[&loc.shard]];
        let entry = read_entry(&mut shard.scratch, *loc)?;
        for (file, key) in [(&entry.csr_file, false), (&entry.key_file, true)] {
            let Some(rel) = file.as_deref() else { continue };
            if key && Path::new(rel).is_absolute() {
                continue;
            }
            let (from, to) = (shard.dir.join(rel), out.join(rel));
            let same = match std::fs::symlink_metadata(&to) {
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => true,
                Err(e) => return Err(IoError::new(&to, e)),
                Ok(m) => {
                    m.is_file()
                        && std::fs::read(&to).ok()
                            == Some(std::fs::read(&from).map_err(|e| IoError::new(&from, e))?)
                }
            };
            if !same {
                clashes.push(format!(
                    "clash: {} ({}): {} holds another file",
                    entry.name,
                    entry.manifest,
                    to.display()
                ));
            }
        }
    }
    Ok(clashes)
}

/// Whether both paths name one folder (`b` need not exist).
fn same_folder(a: &Path, b: &Path) -> bool {
    match (std::fs::canonicalize(a), std::fs::canonicalize(b)) {
        (Ok(a), Ok(b)) => a == b,
        _ => false,
    }
}

fn read_entry(file: &mut File, loc: Loc) -> Result<Entry, IoError> {
    let io = |e: std::io::Error| IoError::new(std::env::temp_dir(), e);
    file.seek(SeekFrom::Start(loc.offset)).map_err(io)?;
    let mut buf = vec![0; loc.len as usize];
    file.read_exact(&mut buf).map_err(io)?;
    serde_json::from_slice(&buf).map_err(|e| io(std::io::Error::other(e)))
}

/// Points the entry's files at where they are from the merged folder: copied into it
/// (`--collect`), or in the shard's folder, by a relative path.
fn relocate(entry: &mut Entry, shard: &Path, out: &Path, collect: bool) -> Result<(), IoError> {
    for (file, key) in [(&mut entry.csr_file, false), (&mut entry.key_file, true)] {
        let Some(rel) = file.as_mut() else { continue };
        // An absolute KeyFile is the user's own key (the `KeyFile` field): it stays where
        // it is and is never copied.
        if key && Path::new(&*rel).is_absolute() {
            continue;
        }
        let from = shard.join(&*rel);
        if collect {
            let to = out.join(&*rel);
            if let Some(parent) = to.parent() {
                std::fs::create_dir_all(parent).map_err(|e| IoError::new(parent, e))?;
            }
            let bytes = std::fs::read(&from).map_err(|e| IoError::new(&from, e))?;
            match atomic::write_file(&to, &bytes, if key { KEY_MODE } else { PUBLIC_MODE }, Replace::Never) {
                Ok(()) => {}
                // A merge run again over the same folder finds its own copies.
                Err(e) if std::fs::read(&to).is_ok_and(|b| b == bytes) => drop(e),
                Err(e) => return Err(e),
            }
        } else {
            *rel =
                relative_path(out, &from).map_err(|e| IoError::new(&from, e))?.to_string_lossy().into_owned();
        }
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

    #[test]
    fn manifest_places_are_interned() {
        let mut index = Index::default();
        assert_eq!(index.place("m/a.csv:12"), (0, 12));
        assert_eq!(index.place("m/b.yaml:3"), (1, 3));
        assert_eq!(index.place("m/a.csv:2"), (0, 2));
    }
}
