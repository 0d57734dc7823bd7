//! `csrbatch merge`: checks that shard output folders together hold every request of the
//! manifests exactly once, then writes one summary.json for the whole run (and, with
//! `--collect`, copies the files next to it).
//!
//! Shard summaries are indexed, not loaded: the index keeps where each entry's line is
//! (a few dozen bytes per request), and entries are read back one at a time.

use std::collections::{HashMap, HashSet};
use std::fs::File;
use std::io::{BufRead, BufReader, Read, Seek, SeekFrom};
use std::path::{Component, Path, PathBuf};

use crate::cli::MergeArgs;
use crate::error::{Error, ExitCode, IoError};
use crate::output::atomic::{self, KEY_MODE, PUBLIC_MODE, Replace};
use crate::output::summary::{Entry, SummaryWriter};
use crate::output::{Layout, OutputDir, utc_stamp};
use crate::request::name_key;

/// Where one entry is: shard number, byte offset and length of its line.
#[derive(Debug, Clone, Copy)]
struct Loc {
    shard: u32,
    offset: u64,
    len: u32,
    ok: bool,
}

pub fn run(args: &MergeArgs) -> Result<ExitCode, Error> {
    let requests = super::load_and_validate(&args.manifests)?;
    let mut index: HashMap<u128, Vec<Loc>> = HashMap::with_capacity(requests.len());
    let mut names: HashMap<u128, String> = HashMap::new();
    let mut problems = Vec::new();
    for (shard, dir) in args.shards.iter().enumerate() {
        let path = dir.join(crate::output::SUMMARY);
        match index_summary(&path, shard as u32, &mut index, &mut names, &|n| requests.wants(n)) {
            Ok(()) => {}
            Err(e) => problems.push(format!("{}: {}", dir.display(), e.source)),
        }
    }

    // Every request of the manifests, in order, must be held by exactly one shard.
    let mut order = Vec::with_capacity(requests.len());
    for request in requests.iter() {
        let request = request?;
        let key = name_key(request.name.as_str());
        let locs = index.get(&key).map(Vec::as_slice).unwrap_or_default();
        let held: Vec<&Loc> = locs.iter().filter(|l| l.ok).collect();
        match held.as_slice() {
            [one] => order.push(**one),
            [] if locs.is_empty() => problems.push(format!("missing: {} ({})", request.name, request.origin)),
            [] => problems
                .push(format!("failed: {} ({}): its shard has no CSR for it", request.name, request.origin)),
            many => {
                let dirs: Vec<String> =
                    many.iter().map(|l| args.shards[l.shard as usize].display().to_string()).collect();
                problems.push(format!("duplicate: {} in {}", request.name, dirs.join(", ")));
            }
        }
    }
    let mut extra: Vec<&String> = names.values().collect();
    extra.sort();
    for name in extra {
        problems.push(format!("not in the manifests: {name}"));
    }
    if !problems.is_empty() {
        for p in &problems {
            crate::progress::err(format_args!("{p}"));
        }
        crate::progress::err(format_args!(
            "error: the shards do not hold every request exactly once ({} problem(s)); nothing was merged",
            problems.len()
        ));
        return Ok(ExitCode::Failed);
    }

    let out = OutputDir::open(&args.out, Layout::Flat, None)?;
    let started = utc_stamp();
    let mut summary = SummaryWriter::create(
        out.journal_path(&started),
        out.summary_path(),
        super::request_id(),
        started,
        order.len(),
    )?;
    let mut readers: Vec<Option<File>> = args.shards.iter().map(|_| None).collect();
    let mut ids = HashSet::with_capacity(order.len());
    for loc in order {
        let dir = &args.shards[loc.shard as usize];
        let mut entry = read_entry(dir, &mut readers[loc.shard as usize], loc)?;
        if let Some(id) = entry.csr_id.filter(|id| !ids.insert(*id)) {
            crate::progress::err(format_args!(
                "error: CsrId {id} appears twice ({}); were two shards run with the same index?",
                entry.name
            ));
            return Ok(ExitCode::Failed);
        }
        relocate(&mut entry, dir, out.root(), args.collect)?;
        summary.push(&entry)?;
    }
    let count = summary.counts().0;
    summary.finish(&[])?;
    crate::progress::err(format_args!(
        "merged {count} CSRs from {} shards into {}",
        args.shards.len(),
        out.summary_path().display()
    ));
    Ok(ExitCode::Success)
}

/// Indexes the `Csrs` entries of one shard's summary (one entry a line, as csrbatch
/// writes them). Names no manifest has are collected in `strangers`.
fn index_summary(
    path: &Path,
    shard: u32,
    index: &mut HashMap<u128, Vec<Loc>>,
    strangers: &mut HashMap<u128, String>,
    wants: &dyn Fn(&str) -> bool,
) -> Result<(), IoError> {
    let io = |e: std::io::Error| IoError::new(path, e);
    let mut reader = BufReader::new(File::open(path).map_err(io)?);
    let (mut offset, mut in_csrs, mut line) = (0u64, false, String::new());
    loop {
        line.clear();
        let read = reader.read_line(&mut line).map_err(io)?;
        if read == 0 {
            return Ok(());
        }
        let start = offset;
        offset += read as u64;
        let text = line.trim_end().trim_end_matches(',');
        if text.starts_with("  \"Csrs\": [") {
            in_csrs = true;
        } else if in_csrs && text.trim_start().starts_with('{') {
            let entry: Entry = serde_json::from_str(text.trim_start())
                .map_err(|e| io(std::io::Error::other(format!("line at byte {start}: {e}"))))?;
            let key = name_key(&entry.name);
            if !wants(&entry.name) {
                strangers.insert(key, entry.name.clone());
            }
            let ok = entry.succeeded() && entry.csr_file.is_some();
            index.entry(key).or_default().push(Loc { shard, offset: start, len: read as u32, ok });
        } else if in_csrs && text.starts_with("  ]") {
            in_csrs = false;
        }
    }
}

fn read_entry(dir: &Path, file: &mut Option<File>, loc: Loc) -> Result<Entry, IoError> {
    let path = dir.join(crate::output::SUMMARY);
    let io = |e: std::io::Error| IoError::new(&path, e);
    if file.is_none() {
        *file = Some(File::open(&path).map_err(io)?);
    }
    let Some(f) = file.as_mut() else { unreachable!("opened above") };
    f.seek(SeekFrom::Start(loc.offset)).map_err(io)?;
    let mut buf = vec![0; loc.len as usize];
    f.read_exact(&mut buf).map_err(io)?;
    let text = String::from_utf8_lossy(&buf);
    serde_json::from_str(text.trim().trim_end_matches(',')).map_err(|e| io(std::io::Error::other(e)))
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
}
