//! The output folder: its typed model (`folder`: state.json, key protection, the
//! journals of unfinished runs, the checks before a run), what earlier runs left
//! (`existing`, read with the one summary reader of [`summary`], whose entries name
//! their request's `place` in its manifest), and the writes: the lock, the CsrId
//! counter, the key/CSR pairs (`atomic`), the archive and the summary. This is the only
//! module that writes; it is driven by a single thread.

pub(crate) mod atomic;
pub(crate) mod certified;
mod error;
pub(crate) mod existing;
pub(crate) mod folder;
pub(crate) mod place;
pub mod summary;

use std::fs::{File, OpenOptions};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::shard::Shard;
pub(crate) use atomic::Replace;
use atomic::{KEY_MODE, PUBLIC_MODE, Staged};
pub(crate) use error::{FolderError, FolderProblem, IoError, OutProblem};
pub(crate) use folder::{FolderState, KeyProtection, ManifestRecord};
pub(crate) use place::ManifestPlace;

/// Hidden folder inside `--out` for csrbatch's own state.
pub(crate) const STATE_DIR: &str = ".csrbatch";
pub(crate) const SUMMARY: &str = "summary.json";
/// Journals of runs, in `STATE_DIR`: `journal-<start time>.jsonl`.
pub(crate) const JOURNAL_PREFIX: &str = "journal-";
/// Where replaced and pruned files go: `.archive/<UTC timestamp>/`.
pub(crate) const ARCHIVE_DIR: &str = ".archive";

/// The output folder, locked for this run.
#[derive(Debug)]
pub(crate) struct OutputDir {
    root: PathBuf,
    layout: Layout,
    /// No `*.pem` was in any pair folder when the lock was taken.
    no_pem_at_start: bool,
    _lock: File,
}

/// The held lock of an output folder (released when dropped).
#[derive(Debug)]
pub(crate) struct FolderLock {
    file: File,
    waited: bool,
}

impl FolderLock {
    /// Whether another run held the folder when this one asked for it.
    pub(crate) fn waited(&self) -> bool {
        self.waited
    }

    /// Opens `root`'s lock file (in its state directory, which must exist) and holds it
    /// as `hold` says, waiting (polled, so that Ctrl-C ends the wait) while another
    /// process holds it in a way that excludes this one.
    fn take(root: &Path, hold: Hold) -> Result<FolderLock, IoError> {
        let lock_path = root.join(STATE_DIR).join("lock");
        let lock = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&lock_path)
            .map_err(|e| IoError::new(&lock_path, e))?;
        let attempt = |lock: &File| match hold {
            Hold::Exclusive => lock.try_lock(),
            Hold::Shared => lock.try_lock_shared(),
        };
        let mut waited = false;
        loop {
            match attempt(&lock) {
                Ok(()) => return Ok(FolderLock { file: lock, waited }),
                Err(std::fs::TryLockError::WouldBlock) => {
                    if !waited {
                        waited = true;
                        crate::progress::err(format_args!(
                            "csrbatch: waiting for another run on {} to finish",
                            root.display()
                        ));
                    }
                    if crate::interrupt::requested() {
                        let interrupted = std::io::Error::from(std::io::ErrorKind::Interrupted);
                        return Err(IoError::new(&lock_path, interrupted));
                    }
                    std::thread::sleep(std::time::Duration::from_millis(50));
                }
                Err(std::fs::TryLockError::Error(e)) => return Err(IoError::new(&lock_path, e)),
            }
        }
    }
}

/// How a folder's lock is held: alone, by a run that writes there, or shared, by
/// readers of the whole folder.
#[derive(Debug, Clone, Copy)]
enum Hold {
    Exclusive,
    Shared,
}

/// Where a request's pair goes inside the output folder.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Layout {
    /// `OUT/NAME.csr.pem`: simple; fine up to some hundred thousand requests.
    #[default]
    Flat,
    /// `OUT/ab/NAME.csr.pem`, `ab` the first byte of SHA-256(lower-case Name) in hex:
    /// 256 folders, so that a million requests make ~7,800 files per folder, not 2 million.
    Fanout,
}

impl Layout {
    /// (CSR, key) paths relative to the output folder.
    pub(crate) fn relative(self, name: &str) -> (String, String) {
        match self {
            Layout::Flat => (format!("{name}.csr.pem"), format!("{name}.key.pem")),
            Layout::Fanout => {
                use sha2::Digest;
                let digest = sha2::Sha256::digest(name.to_ascii_lowercase().as_bytes());
                let dir = hex::encode(&digest[..1]);
                (format!("{dir}/{name}.csr.pem"), format!("{dir}/{name}.key.pem"))
            }
        }
    }

    /// A file of a request, relative to the output folder: `NAME` + `suffix` in the
    /// request's pair folder (`NAME.crt.pem`, `ab/NAME.next.csr.pem`).
    pub(crate) fn file(self, name: &str, suffix: &str) -> String {
        match self {
            Layout::Flat => format!("{name}{suffix}"),
            Layout::Fanout => {
                let (csr, _) = self.relative(name);
                format!("{}/{name}{suffix}", &csr[..2])
            }
        }
    }

    /// The folder that holds a request's files, relative to the output folder (`""` or `ab`).
    pub(crate) fn pair_folder(self, name: &str) -> String {
        match self {
            Layout::Flat => String::new(),
            Layout::Fanout => self.relative(name).0[..2].to_owned(),
        }
    }

    /// Paths of a request's pair in the folder `root` of this layout: (CSR, key).
    pub(crate) fn pair_paths(self, root: &Path, name: &str) -> (PathBuf, PathBuf) {
        let (csr, key) = self.relative(name);
        (root.join(csr), root.join(key))
    }

    /// The folders that hold pairs, relative to the output folder.
    pub(crate) fn folders(self) -> Vec<String> {
        match self {
            Layout::Flat => vec![String::new()],
            Layout::Fanout => (0..=255u8).map(|b| format!("{b:02x}")).collect(),
        }
    }
}

/// A `--layout` that is none of them.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{0}` is not a layout: flat or fanout")]
pub struct UnknownLayout(String);

impl std::str::FromStr for Layout {
    type Err = UnknownLayout;
    fn from_str(s: &str) -> Result<Layout, UnknownLayout> {
        match s {
            "flat" => Ok(Layout::Flat),
            "fanout" => Ok(Layout::Fanout),
            _ => Err(UnknownLayout(s.to_owned())),
        }
    }
}

impl std::fmt::Display for Layout {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Layout::Flat => "flat",
            Layout::Fanout => "fanout",
        })
    }
}

/// What a run records in the folder's state when it opens it.
#[derive(Debug, Clone, Default)]
pub(crate) struct Opening {
    pub(crate) layout: Layout,
    pub(crate) shard: Option<Shard>,
    /// How this run stores keys; recorded (the folder's keys are kept so from now on).
    pub(crate) keys: Option<KeyProtection>,
    /// How this run writes new keys; recorded (the folder keeps it).
    pub(crate) key_format: Option<crate::crypto::KeyFormat>,
    /// The manifests this run reads (empty: leave what is recorded).
    pub(crate) manifests: Vec<ManifestRecord>,
}

/// The largest CsrId: 2^53 - 1, the largest integer a JavaScript number holds exactly.
pub(crate) const MAX_CSR_ID: u64 = (1 << 53) - 1;

impl OutputDir {
    /// Creates the folder if needed and takes its lock ([`OutputDir::lock`]), then opens it
    /// ([`OutputDir::open_locked`]).
    #[cfg(test)]
    pub(crate) fn open(root: &Path, opening: &Opening) -> Result<OutputDir, IoError> {
        Self::open_locked(root, opening, Self::lock(root)?)
    }

    /// Takes the folder's lock; a second run on the same folder waits here until the first
    /// is done (and says so on stderr). A run that waited checks the folder again: the
    /// other run may have changed what it holds.
    pub(crate) fn lock(root: &Path) -> Result<FolderLock, IoError> {
        let state = root.join(STATE_DIR);
        std::fs::create_dir_all(&state).map_err(|e| IoError::new(&state, e))?;
        FolderLock::take(root, Hold::Exclusive)
    }

    /// Takes a shared hold of the lock of a folder that exists (one with a state
    /// directory), to read it whole: a run writing there holds the lock alone, so this
    /// waits until no run does, while readers (merges of the same shard) do not wait for
    /// each other.
    pub(crate) fn lock_to_read(root: &Path) -> Result<FolderLock, IoError> {
        FolderLock::take(root, Hold::Shared)
    }

    /// With the lock held: removes the temporary files a killed run may have left, makes
    /// the pair folders and records what this run writes in state.json.
    pub(crate) fn open_locked(
        root: &Path,
        opening: &Opening,
        lock: FolderLock,
    ) -> Result<OutputDir, IoError> {
        let layout = opening.layout;
        let state = root.join(STATE_DIR);
        remove_strays(&state)?;
        let mut no_pem_at_start = true;
        for folder in layout.folders() {
            let folder = root.join(folder);
            std::fs::create_dir_all(&folder).map_err(|e| IoError::new(&folder, e))?;
            no_pem_at_start &= !remove_strays(&folder)?;
        }
        let before = FolderState::read(root)?;
        let mut now =
            before.clone().unwrap_or(FolderState { layout, shard: opening.shard, ..FolderState::default() });
        now.keys = opening.keys.or(now.keys);
        now.key_format = opening.key_format.or(now.key_format);
        if !opening.manifests.is_empty() {
            now.manifests = opening.manifests.clone();
        }
        if before.as_ref() != Some(&now) {
            now.write(root)?;
        }
        Ok(OutputDir { root: root.to_path_buf(), layout, no_pem_at_start, _lock: lock.file })
    }

    /// Whether the pair folders held no `*.pem` at all when this run took the lock: then
    /// no request's files exist but those this run writes, and nobody needs to look for
    /// them (in a large folder, each look for a missing name searches the folder).
    pub(crate) fn no_pem_at_start(&self) -> bool {
        self.no_pem_at_start
    }

    pub(crate) fn root(&self) -> &Path {
        &self.root
    }

    pub(crate) fn layout(&self) -> Layout {
        self.layout
    }

    pub(crate) fn summary_path(&self) -> PathBuf {
        self.root.join(SUMMARY)
    }

    /// This run's journal: `journal-<start>.jsonl`, sorting after those of earlier runs.
    pub(crate) fn journal_path(&self, started: &str) -> PathBuf {
        self.root.join(STATE_DIR).join(format!("{JOURNAL_PREFIX}{started}.jsonl"))
    }

    /// File names of a request's pair, relative to the output folder: (CSR, key).
    pub(crate) fn relative_files(&self, name: &str) -> (String, String) {
        self.layout.relative(name)
    }

    /// Absolute paths of a request's pair: (CSR, key).
    pub(crate) fn pair_paths(&self, name: &str) -> (PathBuf, PathBuf) {
        self.layout.pair_paths(&self.root, name)
    }

    /// The run is recorded in summary.json: the journals of earlier runs are done with.
    pub(crate) fn clear_journals(&self, journals: &[PathBuf]) -> Result<(), IoError> {
        for path in journals {
            match std::fs::remove_file(path) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(IoError::new(path, e)),
            }
        }
        atomic::sync_dir(&self.root.join(STATE_DIR))
    }

    /// Stages a key (mode 0600) and/or a CSR (0644). A file may replace one only where
    /// `replace` says so (after the caller archived it).
    pub(crate) fn stage(
        &self,
        path: &Path,
        text: &str,
        key: bool,
        replace: Replace,
    ) -> Result<Staged, IoError> {
        self.stage_bytes(path, text.as_bytes(), key, replace)
    }

    /// [`OutputDir::stage`] of bytes as they are (a file copied from another folder).
    pub(crate) fn stage_bytes(
        &self,
        path: &Path,
        bytes: &[u8],
        key: bool,
        replace: Replace,
    ) -> Result<Staged, IoError> {
        let mode = if key { KEY_MODE } else { PUBLIC_MODE };
        atomic::stage(path, bytes, mode, replace)
    }
}

/// Removes `.csrbatch-tmp-*` files (never folders or links) left by a killed run; says
/// whether the folder holds anything named `*.pem` (of whatever type), or certificate
/// generations (`.live/`): its top-level links deleted, those are still a request's files.
fn remove_strays(folder: &Path) -> Result<bool, IoError> {
    let entries = std::fs::read_dir(folder).map_err(|e| IoError::new(folder, e))?;
    let mut pem = false;
    for entry in entries {
        let entry = entry.map_err(|e| IoError::new(folder, e))?;
        let name = entry.file_name();
        let name = name.to_string_lossy();
        pem |= name.ends_with(".pem") || name == certified::LIVE_DIR;
        if name.starts_with(atomic::TMP_PREFIX) && entry.file_type().is_ok_and(|t| t.is_file()) {
            std::fs::remove_file(entry.path()).map_err(|e| IoError::new(entry.path(), e))?;
        }
    }
    Ok(pem)
}

/// Hands out CsrIds in order, reserving them in blocks in `state.json` before use, so
/// that a crash can leave gaps but an id is never given twice.
#[derive(Debug)]
pub(crate) struct CsrIds {
    root: PathBuf,
    state: FolderState,
    next: u64,
    /// Added to every id: the shard's id space (0 without shards).
    base: u64,
    /// How many more ids the run expects to hand out: a reservation is no bigger, so a run
    /// that uses what it said needs no write to give ids back.
    expected: u64,
}

impl CsrIds {
    const BLOCK: u64 = 1024;

    /// Starts above the counter in `state.json` and above every sequence number `seen` in
    /// records; every id handed out is `base` plus a sequence number below 2^40.
    pub(crate) fn open(out: &OutputDir, seen: u64, base: u64) -> Result<CsrIds, IoError> {
        let mut state = FolderState::read(&out.root)?.unwrap_or_default();
        state.layout = out.layout;
        state.last_csr_id = state.last_csr_id.max(seen);
        Ok(CsrIds { root: out.root.clone(), next: state.last_csr_id + 1, state, base, expected: 0 })
    }

    /// Reserves no more than `count` ids at a time (a block at most) while the run expects
    /// to hand them out; past that, whole blocks.
    pub(crate) fn expecting(mut self, count: u64) -> CsrIds {
        self.expected = count;
        self
    }

    /// At the end of a run that finished, gives back the ids reserved but not used.
    pub(crate) fn release(mut self) -> Result<(), IoError> {
        if self.state.last_csr_id < self.next {
            return Ok(());
        }
        self.state.last_csr_id = self.next - 1;
        self.state.write(&self.root)
    }

    /// Makes sure the next `count` ids are reserved. A new reservation comes back staged,
    /// for the caller to commit with its batch, before any of these ids is handed out:
    /// the batch's sync then makes it durable without a sync of its own. If that commit
    /// fails, the run must stop (the ids are reserved here, not on disk).
    pub(crate) fn reserve(&mut self, count: u64) -> Result<Option<Staged>, IoError> {
        let wanted = self.next.saturating_add(count).saturating_sub(1);
        if count == 0 || wanted <= self.state.last_csr_id {
            return Ok(None);
        }
        self.extend(wanted)?;
        self.state.stage(&self.root).map(Some)
    }

    /// Raises the reservation to cover `wanted` (and the block the run expects), within
    /// the id space.
    fn extend(&mut self, wanted: u64) -> Result<(), IoError> {
        let block = if self.expected == 0 { Self::BLOCK } else { self.expected.min(Self::BLOCK) };
        let to = (self.state.last_csr_id + block).max(wanted).min((1 << crate::shard::ID_SHARD_SHIFT) - 1);
        if wanted > to {
            return Err(IoError::other(FolderState::path(&self.root), "no CsrId is left in this id space"));
        }
        self.state.last_csr_id = to;
        Ok(())
    }

    pub(crate) fn next_id(&mut self) -> Result<u64, IoError> {
        if self.next > self.state.last_csr_id {
            self.extend(self.next)?;
            self.state.write(&self.root)?;
        }
        self.next += 1;
        self.expected = self.expected.saturating_sub(1);
        let id = self.base + self.next - 1;
        debug_assert!(id <= MAX_CSR_ID);
        Ok(id)
    }
}

/// `.archive/<UTC timestamp>/`: where files go before they are replaced (a hard link:
/// the file stays in place until the new one is renamed over it) or pruned (moved).
#[derive(Debug)]
pub(crate) struct Archive {
    dir: PathBuf,
    /// Whether the folder was made; held while a file is put in, so that workers that
    /// archive at once never pick the same name.
    created: std::sync::Mutex<bool>,
}

impl Archive {
    pub(crate) fn new(out: &OutputDir, started: &str) -> Archive {
        Archive { dir: out.root.join(ARCHIVE_DIR).join(started), created: std::sync::Mutex::new(false) }
    }

    /// Runs `put` with the archive folder made and no other put under way.
    fn with<T>(&self, put: impl FnOnce() -> Result<T, IoError>) -> Result<T, IoError> {
        let mut created = self.created.lock().unwrap_or_else(|p| p.into_inner());
        if !*created {
            std::fs::create_dir_all(&self.dir).map_err(|e| IoError::new(&self.dir, e))?;
            *created = true;
        }
        put()
    }

    /// Keeps a copy (hard link) of `path` in the archive; `path` itself is not touched.
    pub(crate) fn keep(&self, path: &Path) -> Result<(), IoError> {
        self.with(|| {
            let dest = self.dest(path)?;
            std::fs::hard_link(path, &dest).map_err(|e| IoError::new(&dest, e))
        })
    }

    /// Moves `path` into the archive.
    pub(crate) fn take(&self, path: &Path) -> Result<(), IoError> {
        self.with(|| {
            let dest = self.dest(path)?;
            std::fs::rename(path, &dest).map_err(|e| IoError::new(&dest, e))
        })
    }

    /// Moves `path` (a file or a folder) into the archive as `name`.
    pub(crate) fn take_as(&self, path: &Path, name: &str) -> Result<(), IoError> {
        self.with(|| {
            let dest = self.dest(Path::new(name))?;
            std::fs::rename(path, &dest).map_err(|e| IoError::new(&dest, e))
        })
    }

    /// Records what was archived and why, and makes the archive durable.
    pub(crate) fn note(&self, entry: &serde_json::Value) -> Result<(), IoError> {
        self.note_all(std::slice::from_ref(entry))
    }

    /// [`Archive::note`] of many entries, with one sync.
    pub(crate) fn note_all(&self, entries: &[serde_json::Value]) -> Result<(), IoError> {
        self.with(|| {
            let path = self.dir.join("archived.jsonl");
            let mut lines = Vec::new();
            for entry in entries {
                serde_json::to_writer(&mut lines, entry)
                    .map_err(|e| IoError::new(&path, std::io::Error::other(e)))?;
                lines.push(b'\n');
            }
            let mut file = OpenOptions::new()
                .create(true)
                .append(true)
                .open(&path)
                .map_err(|e| IoError::new(&path, e))?;
            std::io::Write::write_all(&mut file, &lines)
                .and_then(|()| file.sync_all())
                .map_err(|e| IoError::new(&path, e))?;
            atomic::sync_dir(&self.dir)
        })
    }

    pub(crate) fn sync(&self) -> Result<(), IoError> {
        let created = *self.created.lock().unwrap_or_else(|p| p.into_inner());
        if created { atomic::sync_dir(&self.dir) } else { Ok(()) }
    }

    fn dest(&self, path: &Path) -> Result<PathBuf, IoError> {
        let name =
            path.file_name().ok_or_else(|| IoError::new(path, std::io::Error::other("no file name")))?;
        let mut dest = self.dir.join(name);
        let mut n = 1;
        while std::fs::symlink_metadata(&dest).is_ok() {
            n += 1;
            dest = self.dir.join(format!("{}.{n}", name.to_string_lossy()));
        }
        Ok(dest)
    }
}

/// A UTC timestamp for folder and file names: `20261127T024501Z`.
pub(crate) fn utc_stamp() -> String {
    let t = time::OffsetDateTime::now_utc();
    format!(
        "{:04}{:02}{:02}T{:02}{:02}{:02}.{:09}Z",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second(),
        t.nanosecond()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csr_ids_are_never_reused_even_across_crashes() {
        let dir = tempfile::tempdir().unwrap();
        let out = OutputDir::open(dir.path(), &Opening::default()).unwrap();
        let mut ids = CsrIds::open(&out, 0, 0).unwrap();
        assert_eq!((ids.next_id().unwrap(), ids.next_id().unwrap()), (1, 2));
        // A run that dies here has reserved a block: the next run starts after it.
        let mut again = CsrIds::open(&out, 0, 0).unwrap();
        assert_eq!(again.next_id().unwrap(), CsrIds::BLOCK + 1);
        let mut seen = CsrIds::open(&out, 5000, 0).unwrap();
        assert_eq!(seen.next_id().unwrap(), 5001);
        // A run that finishes gives back what it did not use.
        seen.release().unwrap();
        assert_eq!(CsrIds::open(&out, 0, 0).unwrap().next_id().unwrap(), 5002);
        // A shard's ids carry the shard in their top bits.
        // (The run just above reserved a block and did not finish: its ids are skipped.)
        let mut shard = CsrIds::open(&out, 0, 3 << 40).unwrap();
        assert_eq!(shard.next_id().unwrap(), (3 << 40) + 5001 + CsrIds::BLOCK + 1);
    }

    #[test]
    fn a_reservation_is_staged_for_the_batch_to_commit() {
        let dir = tempfile::tempdir().unwrap();
        let out = OutputDir::open(dir.path(), &Opening::default()).unwrap();
        let on_disk = || FolderState::read(dir.path()).unwrap().unwrap().last_csr_id;
        let mut ids = CsrIds::open(&out, 0, 0).unwrap().expecting(10);
        let staged = ids.reserve(4).unwrap().expect("nothing was reserved yet");
        assert_eq!(on_disk(), 0, "staged, not yet committed");
        assert!(atomic::commit(vec![staged]).pop().unwrap().is_ok());
        assert_eq!(on_disk(), 10, "the ids the run expects, in one reservation");
        assert!(ids.reserve(10).unwrap().is_none(), "already reserved");
        let taken: Vec<u64> = (0..10).map(|_| ids.next_id().unwrap()).collect();
        assert_eq!(taken, (1..=10).collect::<Vec<_>>());
        assert_eq!(on_disk(), 10, "no write while the reservation lasts");
        let more = ids.reserve(3).unwrap().expect("past the reservation");
        assert!(atomic::commit(vec![more]).pop().unwrap().is_ok());
        assert_eq!(on_disk(), 10 + CsrIds::BLOCK, "past what was expected, a whole block");
    }

    #[test]
    fn a_run_that_says_how_many_ids_it_needs_reserves_no_more() {
        let dir = tempfile::tempdir().unwrap();
        let out = OutputDir::open(dir.path(), &Opening::default()).unwrap();
        let mut ids = CsrIds::open(&out, 0, 0).unwrap().expecting(3);
        let taken: Vec<u64> = (0..3).map(|_| ids.next_id().unwrap()).collect();
        assert_eq!(taken, [1, 2, 3]);
        assert_eq!(FolderState::read(dir.path()).unwrap().unwrap().last_csr_id, 3, "3 reserved, not a block");
        // One more than expected: a whole block, as without a count.
        assert_eq!(ids.next_id().unwrap(), 4);
        assert_eq!(FolderState::read(dir.path()).unwrap().unwrap().last_csr_id, 3 + CsrIds::BLOCK);
        // Without release (a run that died), the next run starts after the reservation.
        assert_eq!(CsrIds::open(&out, 0, 0).unwrap().next_id().unwrap(), 4 + CsrIds::BLOCK);
    }

    #[test]
    fn archive_keeps_a_link_and_moves_on_take() {
        let dir = tempfile::tempdir().unwrap();
        let out = OutputDir::open(dir.path(), &Opening::default()).unwrap();
        let file = dir.path().join("a.key.pem");
        std::fs::write(&file, "k").unwrap();
        let archive = Archive::new(&out, "T");
        archive.keep(&file).unwrap();
        archive.keep(&file).unwrap();
        assert_eq!(std::fs::read_to_string(&file).unwrap(), "k");
        let kept = dir.path().join(".archive/T/a.key.pem");
        assert_eq!(std::fs::read_to_string(&kept).unwrap(), "k");
        assert!(dir.path().join(".archive/T/a.key.pem.2").exists());
        archive.take(&file).unwrap();
        assert!(!file.exists());
        assert!(dir.path().join(".archive/T/a.key.pem.3").exists());
    }

    #[test]
    fn fanout_spreads_pairs_over_256_folders() {
        let (csr, key) = Layout::Fanout.relative("Web-1");
        assert_eq!(&csr[..3], &key[..3]);
        assert!(csr.ends_with("/Web-1.csr.pem") && csr.len() == "ab/Web-1.csr.pem".len());
        assert_eq!(Layout::Fanout.relative("web-1").0[..2], csr[..2], "case does not move a pair");
        assert_eq!(Layout::Flat.relative("a"), ("a.csr.pem".to_owned(), "a.key.pem".to_owned()));
        let spread: std::collections::HashSet<String> =
            (0..2000).map(|i| Layout::Fanout.relative(&format!("n{i}")).0[..2].to_owned()).collect();
        assert_eq!(spread.len(), 256);
    }

    #[test]
    fn only_a_folder_without_any_pem_counts_as_empty() {
        let open = |dir: &tempfile::TempDir, layout| {
            OutputDir::open(dir.path(), &Opening { layout, ..Opening::default() }).unwrap().no_pem_at_start()
        };
        let dir = tempfile::tempdir().unwrap();
        assert!(open(&dir, Layout::Flat));
        std::fs::write(dir.path().join(format!("{}x", atomic::TMP_PREFIX)), b"stray").unwrap();
        std::fs::write(dir.path().join("notes.txt"), b"").unwrap();
        assert!(open(&dir, Layout::Flat), "strays (removed) and other files do not count");
        assert!(!dir.path().join(format!("{}x", atomic::TMP_PREFIX)).exists());
        std::fs::create_dir(dir.path().join("web.key.pem")).unwrap();
        assert!(!open(&dir, Layout::Flat), "anything named *.pem does, even a folder");

        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join(certified::LIVE_DIR).join("web")).unwrap();
        assert!(!open(&dir, Layout::Flat), "certificate generations count, their links gone");

        let dir = tempfile::tempdir().unwrap();
        assert!(open(&dir, Layout::Fanout));
        std::fs::write(dir.path().join("7f/web.csr.pem"), b"").unwrap();
        assert!(!open(&dir, Layout::Fanout), "fanout looks in every subfolder");
    }

    #[test]
    fn a_folder_keeps_its_layout_and_shard() {
        let dir = tempfile::tempdir().unwrap();
        let shard = Some(Shard::new(1, 4).unwrap());
        drop(
            OutputDir::open(dir.path(), &Opening { layout: Layout::Fanout, shard, ..Opening::default() })
                .unwrap(),
        );
        assert!(dir.path().join("ff").is_dir());
        let wanted = |layout, shard| folder::Wanted {
            layout,
            shard,
            passphrase: None,
            reencrypt: false,
            key_format: None,
        };
        assert_eq!(folder::check(dir.path(), wanted(Layout::Fanout, shard)).unwrap().layout, Layout::Fanout);
        let err = folder::check(dir.path(), wanted(Layout::Flat, shard)).unwrap_err().to_string();
        assert!(err.contains("--layout fanout"), "{err}");
        let err = folder::check(dir.path(), wanted(Layout::Fanout, Some(Shard::new(2, 4).unwrap())))
            .unwrap_err()
            .to_string();
        assert!(err.contains("holds shard 1/4, not shard 2/4"), "{err}");
        let err = folder::check(dir.path(), wanted(Layout::Fanout, None)).unwrap_err().to_string();
        assert!(err.contains("not a whole run"), "{err}");
    }

    #[test]
    fn stray_temporary_files_are_removed_on_open() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join(".csrbatch-tmp-abc"), "x").unwrap();
        std::fs::write(dir.path().join("keep.pem"), "x").unwrap();
        drop(OutputDir::open(dir.path(), &Opening::default()).unwrap());
        assert!(!dir.path().join(".csrbatch-tmp-abc").exists());
        assert!(dir.path().join("keep.pem").exists());
    }
}
