//! Why a merge writes nothing ([`MergeProblem`], one per shard, request or file at fault),
//! and why it checks without the manifests the shards recorded ([`MergeNote`]).

use std::fmt::Display;
use std::path::PathBuf;

use super::FolderKind;
use crate::output::{IoError, ManifestPlace};
use crate::shard::Shard;

/// One reason the shard folders cannot be merged. Every problem of every shard is found
/// before anything is written, and each is printed on its own line (its Display).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub(crate) enum MergeProblem {
    /// A shard folder could not be read: its state, its summary (one that is not a
    /// summary, or whose `Manifest` is not `file:line`), or the scratch file its entries
    /// are copied to.
    #[error("{}: {error}", dir.display())]
    Unreadable { dir: PathBuf, error: IoError },
    /// A folder given as a shard has no `.csrbatch/state.json`: csrbatch did not make it.
    #[error("{}: not a csrbatch output folder (no .csrbatch/state.json)", dir.display())]
    NotAFolder { dir: PathBuf },
    /// The state of a shard folder went away while the merge waited for its lock.
    #[error("{}: its .csrbatch/state.json is gone", dir.display())]
    StateGone { dir: PathBuf },
    /// A shard's run never wrote its summary.
    #[error("{}: shard {shard} has no summary.json: its run never finished", dir.display())]
    NoSummary { dir: PathBuf, shard: Shard },
    /// A run on the shard stopped after its summary was written (a journal is newer).
    #[error("{}: shard {shard} has an unfinished run: run its `generate` again to finish it", dir.display())]
    Unfinished { dir: PathBuf, shard: Shard },
    /// A request failed in its shard (or its entry names no CSR): `error` is the entry's
    /// `Error`.
    #[error("failed: {name} ({place}) in {}: {}", dir.display(), error.as_deref().unwrap_or("no CSR"))]
    Failed { dir: PathBuf, name: String, place: ManifestPlace, error: Option<String> },
    /// A CsrId already seen in this or another shard: ids are unique only when every
    /// shard ran with its own index.
    #[error(
        "CsrId {csr_id} appears twice ({name} in {}); were two shards run with the same index?",
        dir.display()
    )]
    CsrIdTwice { csr_id: u64, dir: PathBuf, name: String, place: ManifestPlace },
    /// A shard holds a request that belongs to another shard.
    #[error("{}: {name} does not belong to shard {shard}", dir.display())]
    NotItsShard { dir: PathBuf, shard: Shard, name: String, place: ManifestPlace },
    /// The folders are shards of splits into different numbers of shards.
    #[error("the folders are shards of different splits: {}", listed(shards))]
    DifferentSplits { shards: Vec<(PathBuf, Shard)> },
    /// No folder given is this shard.
    #[error("shard {shard} is missing: no folder given holds it")]
    ShardMissing { shard: Shard },
    /// More than one folder given is this shard.
    #[error("shard {shard} is given twice: {}", paths(dirs))]
    ShardTwice { shard: Shard, dirs: Vec<PathBuf> },
    /// `--out` is one of the shard folders (the merge reads it under a shared lock, and
    /// would wait for itself to write there).
    #[error("{}: --out is one of the shard folders: merge into another", dir.display())]
    OutIsShard { dir: PathBuf },
    /// `--collect`: the shards' pairs are of different kinds, so they cannot be one folder.
    #[error("--collect: the shards' keys differ, so they cannot be one folder: {}", listed(shards))]
    KeysDiffer { shards: Vec<(PathBuf, FolderKind)> },
    /// `--collect`: `out` holds pairs of another kind than the shards' (an encrypted
    /// folder never gets unencrypted keys, nor the reverse).
    #[error(
        "--collect: {} holds {holds}; the shards have {shards}: collect into a new folder",
        out.display()
    )]
    OutHoldsOther { out: PathBuf, holds: FolderKind, shards: FolderKind },
    /// A request of the manifests that no shard holds.
    #[error("missing: {name} ({place})")]
    Missing { name: String, place: ManifestPlace },
    /// A request that more than one shard holds (`place`: where the first has it).
    #[error("duplicate: {name} in {}", paths(dirs))]
    Duplicate { name: String, place: ManifestPlace, dirs: Vec<PathBuf> },
    /// A request a shard holds that no manifest has (any more).
    #[error("not in the manifests: {name}")]
    NotInManifests { name: String, dir: PathBuf, place: ManifestPlace },
    /// `--collect`: a file at a pair's path in `out` that is not that pair's file
    /// (another request's pair of the same Name, say); found before anything is copied.
    #[error("clash: {name} ({place}): {} holds another file", path.display())]
    Clash { name: String, place: ManifestPlace, dir: PathBuf, path: PathBuf },
    /// `--collect`: a file of a shard's archive whose place in `out`'s archive holds
    /// another file; found before anything is copied.
    #[error("clash: {} (from the archive of {}) holds another file", path.display(), dir.display())]
    ArchiveClash { dir: PathBuf, path: PathBuf },
    /// `--collect`: a certified request whose live files in its shard are not as the
    /// shard's summary.json records them (`why`): a copy would not be a whole certificate
    /// for its key.
    #[error(
        "certificate: {name} ({place}) in {}: {why} (`csrbatch generate --check` there says more)",
        dir.display()
    )]
    CertificateNotAsRecorded { name: String, place: ManifestPlace, dir: PathBuf, why: String },
}

/// Why a merge checks only what the shard folders prove: the manifests they recorded
/// cannot name missing requests. Said on stderr as the merge goes; not a problem.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub(crate) enum MergeNote {
    /// The shards recorded no manifest (made before manifests were recorded, or in memory).
    #[error("the shard folders record no manifests (give --manifests to check against them)")]
    NoneRecorded,
    /// A recorded manifest cannot be read any more.
    #[error("manifest {} is gone ({error})", path.display())]
    Gone { path: PathBuf, error: std::io::Error },
    /// A recorded manifest is not what the shards read (its SHA-256 differs).
    #[error("manifest {} changed since the shards ran (SHA-256)", path.display())]
    Changed { path: PathBuf },
    /// The shards read their manifests with different `--encoding`s: they ran apart.
    #[error("the shards read their manifests with different --encoding")]
    Encodings,
    /// The shards recorded different contents of one manifest.
    #[error("the shards ran from different versions of {}", path.display())]
    Versions { path: PathBuf },
    /// So the merge checks what the shards prove, and no more.
    #[error(
        "checking what the shard folders prove (every shard present once, each complete); \
         the manifests cannot name missing requests"
    )]
    ProvenOnly,
}

/// `a, b, c`: folders as given.
fn paths(dirs: &[PathBuf]) -> String {
    dirs.iter().map(|d| d.display().to_string()).collect::<Vec<_>>().join(", ")
}

/// `a (x), b (y)`: folders as given, each with what it is.
fn listed<T: Display>(items: &[(PathBuf, T)]) -> String {
    items.iter().map(|(d, what)| format!("{} ({what})", d.display())).collect::<Vec<_>>().join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crypto::KeyFormat;
    use crate::output::{KeyProtection, Layout};

    fn shard(index: u32, count: u32) -> Shard {
        Shard { index, count }
    }

    #[test]
    fn problems_read_as_merge_has_always_said_them() {
        let dir = || PathBuf::from("s/1");
        let place = || ManifestPlace::new("m/web.yaml", 12);
        let name = || "www".to_owned();
        let kind = |keys| FolderKind { layout: Layout::Flat, keys, key_format: KeyFormat::Pkcs8 };
        let cases: Vec<(MergeProblem, &str)> = vec![
            (
                MergeProblem::Unreadable { dir: dir(), error: IoError::other("s/1/summary.json", "bad") },
                "s/1: s/1/summary.json: bad",
            ),
            (
                MergeProblem::NotAFolder { dir: dir() },
                "s/1: not a csrbatch output folder (no .csrbatch/state.json)",
            ),
            (MergeProblem::StateGone { dir: dir() }, "s/1: its .csrbatch/state.json is gone"),
            (
                MergeProblem::NoSummary { dir: dir(), shard: shard(1, 4) },
                "s/1: shard 1/4 has no summary.json: its run never finished",
            ),
            (
                MergeProblem::Unfinished { dir: dir(), shard: shard(1, 4) },
                "s/1: shard 1/4 has an unfinished run: run its `generate` again to finish it",
            ),
            (
                MergeProblem::Failed { dir: dir(), name: name(), place: place(), error: Some("boom".into()) },
                "failed: www (m/web.yaml:12) in s/1: boom",
            ),
            (
                MergeProblem::Failed { dir: dir(), name: name(), place: place(), error: None },
                "failed: www (m/web.yaml:12) in s/1: no CSR",
            ),
            (
                MergeProblem::CsrIdTwice { csr_id: 7, dir: dir(), name: name(), place: place() },
                "CsrId 7 appears twice (www in s/1); were two shards run with the same index?",
            ),
            (
                MergeProblem::NotItsShard { dir: dir(), shard: shard(1, 4), name: name(), place: place() },
                "s/1: www does not belong to shard 1/4",
            ),
            (
                MergeProblem::DifferentSplits {
                    shards: vec![("a".into(), shard(0, 2)), ("b".into(), shard(1, 3))],
                },
                "the folders are shards of different splits: a (0/2), b (1/3)",
            ),
            (
                MergeProblem::ShardMissing { shard: shard(2, 4) },
                "shard 2/4 is missing: no folder given holds it",
            ),
            (
                MergeProblem::ShardTwice { shard: shard(0, 2), dirs: vec!["a".into(), "b".into()] },
                "shard 0/2 is given twice: a, b",
            ),
            (
                MergeProblem::OutIsShard { dir: dir() },
                "s/1: --out is one of the shard folders: merge into another",
            ),
            (
                MergeProblem::KeysDiffer {
                    shards: vec![
                        ("a".into(), kind(Some(KeyProtection::Encrypted))),
                        ("b".into(), kind(Some(KeyProtection::Unencrypted))),
                    ],
                },
                "--collect: the shards' keys differ, so they cannot be one folder: \
                 a (flat layout, encrypted pkcs8 keys), b (flat layout, unencrypted pkcs8 keys)",
            ),
            (
                MergeProblem::OutHoldsOther {
                    out: "m".into(),
                    holds: FolderKind { layout: Layout::Fanout, ..kind(None) },
                    shards: kind(Some(KeyProtection::Unencrypted)),
                },
                "--collect: m holds fanout layout, no pkcs8 keys; the shards have flat layout, \
                 unencrypted pkcs8 keys: collect into a new folder",
            ),
            (MergeProblem::Missing { name: name(), place: place() }, "missing: www (m/web.yaml:12)"),
            (
                MergeProblem::Duplicate { name: name(), place: place(), dirs: vec!["s/0".into(), dir()] },
                "duplicate: www in s/0, s/1",
            ),
            (
                MergeProblem::NotInManifests { name: name(), dir: dir(), place: place() },
                "not in the manifests: www",
            ),
            (
                MergeProblem::Clash {
                    name: name(),
                    place: place(),
                    dir: dir(),
                    path: "m/www.key.pem".into(),
                },
                "clash: www (m/web.yaml:12): m/www.key.pem holds another file",
            ),
            (
                MergeProblem::CertificateNotAsRecorded {
                    name: name(),
                    place: place(),
                    dir: dir(),
                    why: "s/1/www.crt.pem is not there".into(),
                },
                "certificate: www (m/web.yaml:12) in s/1: s/1/www.crt.pem is not there \
                 (`csrbatch generate --check` there says more)",
            ),
        ];
        for (problem, text) in cases {
            assert_eq!(problem.to_string(), text, "{problem:?}");
        }
    }

    #[test]
    fn notes_say_why_the_manifests_are_not_used() {
        let gone = MergeNote::Gone { path: "/m.yaml".into(), error: std::io::ErrorKind::NotFound.into() };
        assert_eq!(gone.to_string(), "manifest /m.yaml is gone (entity not found)");
        assert_eq!(
            MergeNote::Changed { path: "/m.yaml".into() }.to_string(),
            "manifest /m.yaml changed since the shards ran (SHA-256)"
        );
        assert_eq!(
            MergeNote::ProvenOnly.to_string(),
            "checking what the shard folders prove (every shard present once, each complete); the \
             manifests cannot name missing requests"
        );
    }
}
