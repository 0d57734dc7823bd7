//! Reading the shard folders: each one's state and summary (under its shared lock) into an
//! index of every entry by Name, and the order the merged summary takes, from the
//! manifests or from what the entries record of them.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fs::File;
use std::io::{BufReader, BufWriter, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use super::{FolderKind, MergeNote, MergeProblem};
use crate::error::Error;
use crate::manifest::ReadOptions;
use crate::output::folder::{self, FolderState, ManifestRecord};
use crate::output::summary::{self, Entry, Item};
use crate::output::{FolderLock, IoError, ManifestPlace, OutputDir, SUMMARY};
use crate::request::name_key;
use crate::run::Requests;
use crate::shard::Shard;

/// Where one entry is: shard number, byte offset and length of its line in the scratch.
#[derive(Debug, Clone, Copy)]
pub(super) struct Loc {
    pub(crate) shard: u32,
    offset: u64,
    len: u32,
    ok: bool,
    /// Its `Manifest`: the file (an index into [`Index::files`]) and line.
    file: u32,
    line: u64,
}

/// One shard folder, read.
pub(super) struct ShardFolder {
    pub(crate) dir: PathBuf,
    pub(crate) shard: Shard,
    pub(crate) manifests: Vec<ManifestRecord>,
    /// How its pairs are laid out and its keys stored: what `--collect` carries over.
    pub(crate) kind: FolderKind,
    scratch: File,
    /// The shard's lock, held shared while the merge reads it.
    _lock: FolderLock,
}

impl ShardFolder {
    /// The entry at `loc`, read back from this shard's scratch file.
    pub(crate) fn entry(&mut self, loc: Loc) -> Result<Entry, IoError> {
        let io = |e: std::io::Error| IoError::new(std::env::temp_dir(), e);
        self.scratch.seek(SeekFrom::Start(loc.offset)).map_err(io)?;
        let mut buf = vec![0; loc.len as usize];
        self.scratch.read_exact(&mut buf).map_err(io)?;
        serde_json::from_slice(&buf).map_err(|e| io(std::io::Error::other(e)))
    }
}

/// Every entry of every shard, by Name digest.
#[derive(Default)]
pub(super) struct Index {
    locs: HashMap<u128, Vec<Loc>>,
    names: HashMap<u128, String>,
    /// Every CsrId seen: one seen twice is found before anything is written.
    csr_ids: HashSet<u64>,
    files: Vec<String>,
}

impl Index {
    /// The file (interned) and line of a `Manifest`.
    fn place(&mut self, place: &ManifestPlace) -> (u32, u64) {
        let id = match self.files.iter().position(|f| *f == place.file) {
            Some(i) => i,
            None => {
                self.files.push(place.file.clone());
                self.files.len() - 1
            }
        };
        (id as u32, place.line)
    }

    /// The `Manifest` of the entry at `loc`.
    fn place_of(&self, loc: &Loc) -> ManifestPlace {
        ManifestPlace::new(self.files.get(loc.file as usize).cloned().unwrap_or_default(), loc.line)
    }
}

/// Reads one shard folder's state and summary into the index; `None` (with the problem
/// said) when it is not a complete shard.
pub(super) fn read_shard(
    dir: &Path,
    k: u32,
    index: &mut Index,
    problems: &mut Vec<MergeProblem>,
) -> Result<Option<ShardFolder>, IoError> {
    if FolderState::read(dir)?.is_none() {
        problems.push(MergeProblem::NotAFolder { dir: dir.to_path_buf() });
        return Ok(None);
    }
    // Held until the merge is written: a run still writing the shard is waited for, and
    // none starts there until the merge has read (and with --collect, copied) its pairs.
    let lock = OutputDir::lock_to_read(dir)?;
    let Some(state) = FolderState::read(dir)? else {
        problems.push(MergeProblem::StateGone { dir: dir.to_path_buf() });
        return Ok(None);
    };
    let shard = state.shard.unwrap_or(Shard { index: 0, count: 1 });
    let path = dir.join(SUMMARY);
    let file = match File::open(&path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            problems.push(MergeProblem::NoSummary { dir: dir.to_path_buf(), shard });
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
        let about = || (dir.to_path_buf(), entry.name.clone(), entry.manifest.clone());
        if !ok {
            let ((dir, name, place), error) = (about(), entry.error.clone());
            failed.push(MergeProblem::Failed { dir, name, place, error });
        }
        if let Some(csr_id) = entry.csr_id.filter(|id| !index.csr_ids.insert(*id)) {
            let (dir, name, place) = about();
            failed.push(MergeProblem::CsrIdTwice { csr_id, dir, name, place });
        }
        if !shard.holds(&entry.name) {
            let (dir, name, place) = about();
            failed.push(MergeProblem::NotItsShard { dir, shard, name, place });
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
        problems.push(MergeProblem::Unfinished { dir: dir.to_path_buf(), shard });
    }
    let kind = FolderKind::of(dir, &state);
    Ok(Some(ShardFolder {
        dir: dir.to_path_buf(),
        shard,
        manifests: state.manifests,
        kind,
        scratch,
        _lock: lock,
    }))
}

/// Every shard K of N present once, all of the same N.
pub(super) fn check_shards(shards: &[ShardFolder], problems: &mut Vec<MergeProblem>) {
    let counts: HashSet<u32> = shards.iter().map(|s| s.shard.count).collect();
    if counts.len() > 1 {
        let shards = shards.iter().map(|s| (s.dir.clone(), s.shard)).collect();
        problems.push(MergeProblem::DifferentSplits { shards });
        return;
    }
    let Some(&count) = counts.iter().next() else { return };
    let mut held: BTreeMap<u32, Vec<&Path>> = BTreeMap::new();
    for s in shards {
        held.entry(s.shard.index).or_default().push(&s.dir);
    }
    for index in 0..count {
        let shard = Shard { index, count };
        match held.get(&index).map(Vec::as_slice) {
            None => problems.push(MergeProblem::ShardMissing { shard }),
            Some([_]) => {}
            Some(dirs) => {
                let dirs = dirs.iter().map(|d| d.to_path_buf()).collect();
                problems.push(MergeProblem::ShardTwice { shard, dirs });
            }
        }
    }
}

/// The manifests the shards recorded and how they were read, if every one is still there
/// and unchanged and all were read alike; else `None`, having noted what is gone or changed.
pub(super) fn recorded_manifests(
    shards: &[ShardFolder],
    note: &mut dyn FnMut(&MergeNote),
) -> Option<(Vec<PathBuf>, ReadOptions)> {
    let mut records: Vec<&ManifestRecord> = Vec::new();
    for s in shards {
        for r in &s.manifests {
            if !records.iter().any(|x| x.path == r.path && x.sha256 == r.sha256) {
                records.push(r);
            }
        }
    }
    if records.is_empty() {
        note(&MergeNote::NoneRecorded);
        return None;
    }
    let mut usable = true;
    for r in &records {
        match crate::manifest::Fingerprint::of(&r.path) {
            Err(error) => {
                note(&MergeNote::Gone { path: r.path.clone(), error });
                usable = false;
            }
            Ok(now) if now.sha256_hex() != r.sha256 => {
                note(&MergeNote::Changed { path: r.path.clone() });
                usable = false;
            }
            Ok(_) => {}
        }
    }
    // One run reads every manifest with one `--encoding`; shards that differ ran apart.
    let encoding = records.first().and_then(|r| r.encoding);
    if records.iter().any(|r| r.encoding != encoding) {
        note(&MergeNote::Encodings);
        usable = false;
    }
    let mut paths: Vec<PathBuf> = Vec::new();
    for r in records {
        if paths.contains(&r.path) {
            note(&MergeNote::Versions { path: r.path.clone() });
            usable = false;
        } else {
            paths.push(r.path.clone());
        }
    }
    usable.then_some((paths, ReadOptions { encoding }))
}

/// With manifests: the entry of each request, in manifest order; a request no shard
/// holds is missing, one more than one holds a duplicate, and an entry of no request is
/// not in the manifests.
pub(super) fn manifest_order(
    requests: &Requests,
    index: &mut Index,
    dirs: &[PathBuf],
    problems: &mut Vec<MergeProblem>,
) -> Result<Vec<Loc>, Error> {
    let mut order = Vec::with_capacity(requests.len());
    for request in requests.iter() {
        let request = request?;
        let key = name_key(request.name.as_str());
        let locs = index.locs.get(&key).map(Vec::as_slice).unwrap_or_default();
        let held: Vec<&Loc> = locs.iter().filter(|l| l.ok).collect();
        let about = || (request.name.to_string(), ManifestPlace::from(&request.origin));
        match held.as_slice() {
            [one] => order.push(**one),
            [] if locs.is_empty() => {
                let (name, place) = about();
                problems.push(MergeProblem::Missing { name, place });
            }
            [] => {} // its shard's failure is reported already
            many => {
                let (name, place) = about();
                problems.push(MergeProblem::Duplicate { name, place, dirs: shard_dirs(many, dirs) });
            }
        }
        index.names.remove(&key);
    }
    let mut extra: Vec<(&u128, &String)> = index.names.iter().collect();
    extra.sort_by(|a, b| a.1.cmp(b.1));
    problems.extend(extra.into_iter().map(|(key, name)| {
        let first = index.locs.get(key).and_then(|l| l.first());
        MergeProblem::NotInManifests {
            name: name.clone(),
            dir: first.and_then(|l| dirs.get(l.shard as usize)).cloned().unwrap_or_default(),
            place: first.map(|l| index.place_of(l)).unwrap_or_default(),
        }
    }));
    Ok(order)
}

/// Without manifests: every entry the shards hold, each Name once, in manifest order as
/// the entries record it: files in the order the shards recorded them (`given`), then by
/// line.
pub(super) fn proven_order(
    index: &Index,
    dirs: &[PathBuf],
    given: &[String],
    problems: &mut Vec<MergeProblem>,
) -> Vec<Loc> {
    let mut order = Vec::with_capacity(index.locs.len());
    for (key, locs) in &index.locs {
        let held: Vec<&Loc> = locs.iter().filter(|l| l.ok).collect();
        match held.as_slice() {
            [one] => order.push(**one),
            [] => {}
            many => {
                let name = index.names.get(key).map_or("?", String::as_str).to_owned();
                let place = index.place_of(many[0]);
                problems.push(MergeProblem::Duplicate { name, place, dirs: shard_dirs(many, dirs) });
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

/// The folders (as given) of the shards that hold these entries.
fn shard_dirs(locs: &[&Loc], dirs: &[PathBuf]) -> Vec<PathBuf> {
    locs.iter().map(|l| dirs[l.shard as usize].clone()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn manifest_places_are_interned() {
        let mut index = Index::default();
        assert_eq!(index.place(&ManifestPlace::new("m/a.csv", 12)), (0, 12));
        assert_eq!(index.place(&ManifestPlace::new("m/b.yaml", 3)), (1, 3));
        assert_eq!(index.place(&ManifestPlace::new("m/a.csv", 2)), (0, 2));
    }
}
