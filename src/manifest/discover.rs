//! Finding manifests: a path is a manifest file, or a folder walked for `*.yaml`, `*.yml`
//! and `*.csv` in sorted order, hidden entries skipped.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use walkdir::{DirEntry, WalkDir};

use super::Format;
use super::{ManifestError, Problem};

/// The manifest files named by `paths`, each once, in the order given (folders sorted).
pub(crate) fn discover(paths: &[PathBuf]) -> (Vec<PathBuf>, Vec<ManifestError>) {
    let mut files = Vec::new();
    let mut errors = Vec::new();
    let mut seen = HashSet::new();
    let mut push = |file: PathBuf, files: &mut Vec<PathBuf>| {
        // The same file reached twice (named and inside a named folder) is read once.
        let key = std::fs::canonicalize(&file).unwrap_or_else(|_| file.clone());
        if seen.insert(key) {
            files.push(file);
        }
    };
    for path in paths {
        let fail = |problem| ManifestError::file(Arc::from(path.as_path()), 0, problem);
        match std::fs::metadata(path) {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => errors.push(fail(Problem::NotFound)),
            Err(e) => errors.push(fail(Problem::Io(e.to_string()))),
            Ok(meta) if meta.is_dir() => {
                let before = files.len();
                walk(path, &mut files, &mut errors, &mut push);
                if files.len() == before {
                    errors.push(fail(Problem::NoManifests));
                }
            }
            Ok(_) if Format::of(path).is_some() => push(path.clone(), &mut files),
            Ok(_) => errors.push(fail(Problem::NotAManifest)),
        }
    }
    (files, errors)
}

fn walk(
    root: &Path,
    files: &mut Vec<PathBuf>,
    errors: &mut Vec<ManifestError>,
    push: &mut impl FnMut(PathBuf, &mut Vec<PathBuf>),
) {
    let walker = WalkDir::new(root)
        .follow_links(true)
        .sort_by_file_name()
        .into_iter()
        .filter_entry(|e| e.depth() == 0 || !is_hidden(e));
    for entry in walker {
        match entry {
            Ok(e) if e.file_type().is_file() && Format::of(e.path()).is_some() => push(e.into_path(), files),
            Ok(_) => {}
            Err(e) => {
                let at = e.path().unwrap_or(root);
                errors.push(ManifestError::file(Arc::from(at), 0, Problem::Io(e.to_string())));
            }
        }
    }
}

fn is_hidden(entry: &DirEntry) -> bool {
    entry.file_name().to_str().is_some_and(|s| s.starts_with('.'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn walks_sorted_skips_hidden_and_other_files() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        std::fs::create_dir_all(root.join("sub")).unwrap();
        std::fs::create_dir_all(root.join(".git")).unwrap();
        for f in ["b.yaml", "a.csv", "sub/c.yml", ".hidden.yaml", ".git/x.yaml", "notes.txt"] {
            std::fs::write(root.join(f), "").unwrap();
        }
        let (files, errors) = discover(&[root.to_path_buf(), root.join("b.yaml")]);
        assert!(errors.is_empty(), "{errors:?}");
        let names: Vec<_> =
            files.iter().map(|p| p.strip_prefix(root).unwrap().to_str().unwrap().to_owned()).collect();
        assert_eq!(names, ["a.csv", "b.yaml", "sub/c.yml"]);
    }

    #[test]
    fn missing_path_and_empty_folder_are_errors() {
        let dir = tempfile::tempdir().unwrap();
        let (files, errors) = discover(&[dir.path().join("nope.yaml"), dir.path().to_path_buf()]);
        assert!(files.is_empty());
        assert_eq!(errors.len(), 2);
        assert_eq!(errors[0].problem, Problem::NotFound);
        assert_eq!(errors[1].problem, Problem::NoManifests);
    }

    #[test]
    fn a_named_file_must_be_a_manifest() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("x.json");
        std::fs::write(&f, "{}").unwrap();
        let (_, errors) = discover(&[f]);
        assert_eq!(errors[0].problem, Problem::NotAManifest);
    }
}
