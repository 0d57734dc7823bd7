//! The module graph of `src/` has no cycles: at every level of the tree, the submodules of
//! one module depend on each other in one direction only (a module counts with everything
//! under it: `crate::output::FolderError` names `output`; a parent and its own children
//! are one unit, so a child may use its parent and a parent re-export its children). Read
//! from the source as text: every `crate::` path (in `use` trees too) and every file-level
//! `use super::` is an edge to the module it names.
#![allow(clippy::unwrap_used)] // a test: a broken source tree may panic

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

type Module = Vec<String>;

/// Every module file of the library: its module path (`output/folder.rs` is
/// `["output", "folder"]`, `output/mod.rs` is `["output"]`) and its text.
fn modules(src: &Path) -> BTreeMap<Module, String> {
    let mut out = BTreeMap::new();
    for entry in walkdir::WalkDir::new(src) {
        let entry = entry.unwrap();
        let path = entry.path();
        if path.extension().is_none_or(|e| e != "rs") || path == src.join("main.rs") {
            continue;
        }
        let rel = path.strip_prefix(src).unwrap().with_extension("");
        let mut module: Module = rel.iter().map(|c| c.to_string_lossy().into_owned()).collect();
        if matches!(module.last().map(String::as_str), Some("mod" | "lib")) {
            module.pop();
        }
        out.insert(module, std::fs::read_to_string(path).unwrap());
    }
    out
}

/// The paths a `use` tree or an expression names after `crate::`, starting at `text`
/// (which follows the `crate::`): `a::B`, or every leaf of `{a::B, c::{d, e}}`.
fn paths_after(text: &str) -> Vec<Vec<String>> {
    let ident = |s: &str| s.chars().take_while(|c| c.is_alphanumeric() || *c == '_').count();
    let mut prefix = Vec::new();
    let mut rest = text;
    loop {
        let n = ident(rest);
        if n == 0 {
            break;
        }
        prefix.push(rest[..n].to_owned());
        match rest[n..].strip_prefix("::") {
            Some(more) => rest = more,
            None => return vec![prefix],
        }
    }
    let Some(group) = rest.strip_prefix('{') else { return vec![prefix] };
    // Split the group at its top-level commas, up to its closing brace.
    let (mut depth, mut start, mut items) = (0usize, 0usize, Vec::new());
    for (i, c) in group.char_indices() {
        match c {
            '{' => depth += 1,
            '}' if depth == 0 => {
                items.push(&group[start..i]);
                break;
            }
            '}' => depth -= 1,
            ',' if depth == 0 => {
                items.push(&group[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    let mut out = Vec::new();
    for item in items {
        for tail in paths_after(item.trim()) {
            out.push(prefix.iter().cloned().chain(tail).collect());
        }
    }
    if out.is_empty() { vec![prefix] } else { out }
}

/// The longest prefix of `path` that is a module.
fn module_of(path: &[String], modules: &BTreeMap<Module, String>) -> Module {
    (0..=path.len()).rev().map(|n| path[..n].to_vec()).find(|m| modules.contains_key(m)).unwrap_or_default()
}

/// Edges between files: module -> the modules it names, itself and its own submodules
/// left out.
fn file_edges(modules: &BTreeMap<Module, String>) -> BTreeMap<Module, BTreeSet<Module>> {
    let mut graph = BTreeMap::new();
    for (module, text) in modules {
        let mut named = Vec::new();
        for (at, _) in text.match_indices("crate::") {
            let before = text[..at].chars().last();
            if before.is_some_and(|c| c.is_alphanumeric() || c == '_' || c == '$') {
                continue; // `$crate::` or `mycrate::`
            }
            named.extend(paths_after(&text[at + "crate::".len()..]));
        }
        // A file's own `use super::...` (not an inline module's, which is indented).
        let parent = &module[..module.len().saturating_sub(1)];
        for line in text.lines() {
            if let Some(rest) =
                line.strip_prefix("use super::").or_else(|| line.strip_prefix("pub use super::"))
            {
                named.extend(paths_after(rest).into_iter().map(|p| [parent, &p].concat()));
            }
        }
        let targets: BTreeSet<Module> = named
            .iter()
            .map(|p| module_of(p, modules))
            .filter(|target| !target.starts_with(module))
            .collect();
        graph.insert(module.clone(), targets);
    }
    graph
}

/// The graph of each module's submodules: for every edge between files under one module
/// `m` but under two different children of it, an edge between those children (keyed by
/// `m`; the children are full module paths). An edge between a module and one of its
/// ancestors is inside one unit and is left out.
fn sibling_graphs(
    files: &BTreeMap<Module, BTreeSet<Module>>,
) -> BTreeMap<Module, BTreeMap<Module, BTreeSet<Module>>> {
    let mut graphs: BTreeMap<Module, BTreeMap<Module, BTreeSet<Module>>> = BTreeMap::new();
    for (from, targets) in files {
        for to in targets {
            let common = from.iter().zip(to).take_while(|(a, b)| a == b).count();
            if common == from.len() || common == to.len() {
                continue;
            }
            let (a, b) = (from[..=common].to_vec(), to[..=common].to_vec());
            graphs.entry(from[..common].to_vec()).or_default().entry(a).or_default().insert(b);
        }
    }
    graphs
}

/// A cycle of the graph, if it has one (depth-first search, iterative).
fn find_cycle(graph: &BTreeMap<Module, BTreeSet<Module>>) -> Option<Vec<Module>> {
    #[derive(Clone, Copy, PartialEq)]
    enum Mark {
        Open,
        Done,
    }
    let mut marks: BTreeMap<&Module, Mark> = BTreeMap::new();
    for start in graph.keys() {
        if marks.contains_key(start) {
            continue;
        }
        let mut stack: Vec<(&Module, Vec<&Module>)> = vec![(start, graph[start].iter().collect())];
        marks.insert(start, Mark::Open);
        while let Some((node, pending)) = stack.last_mut() {
            let node = *node;
            match pending.pop() {
                Some(next) => match marks.get(next) {
                    Some(Mark::Open) => {
                        let from = stack.iter().position(|(m, _)| *m == next).unwrap();
                        let mut cycle: Vec<Module> =
                            stack[from..].iter().map(|(m, _)| (*m).clone()).collect();
                        cycle.push(next.clone());
                        return Some(cycle);
                    }
                    Some(Mark::Done) => {}
                    None => {
                        marks.insert(next, Mark::Open);
                        let edges = graph.get(next).map(|e| e.iter().collect()).unwrap_or_default();
                        stack.push((next, edges));
                    }
                },
                None => {
                    marks.insert(node, Mark::Done);
                    stack.pop();
                }
            }
        }
    }
    None
}

fn show(cycle: &[Module]) -> String {
    cycle
        .iter()
        .map(|m| if m.is_empty() { "lib".to_owned() } else { m.join("::") })
        .collect::<Vec<_>>()
        .join(" -> ")
}

/// Every cycle among the submodules of any module, as text.
fn cycles(modules: &BTreeMap<Module, String>) -> Vec<String> {
    sibling_graphs(&file_edges(modules)).values().filter_map(find_cycle).map(|c| show(&c)).collect()
}

#[test]
fn the_module_graph_has_no_cycles() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let modules = modules(&src);
    assert!(modules.len() > 40, "the library's modules were found: {}", modules.len());
    // The reading sees the edges it must: error composes the layers below it.
    let edges = file_edges(&modules);
    let error = &edges[&vec!["error".to_owned()]];
    assert!(
        error.contains(&vec!["output".to_owned()]) && error.contains(&vec!["crypto".to_owned()]),
        "{error:?}"
    );
    let cycles = cycles(&modules);
    assert!(cycles.is_empty(), "modules that import each other in a circle:\n{}", cycles.join("\n"));
}

#[test]
fn a_cycle_is_found_where_there_is_one() {
    let text = |s: &str| s.to_owned();
    let module =
        |m: &str, t: &str| (m.split('/').filter(|p| !p.is_empty()).map(text).collect::<Module>(), text(t));
    let acyclic: BTreeMap<Module, String> = [
        module("", "pub mod a; pub mod b; pub mod c;"),
        module("a", "pub mod inner; pub use inner::Z;\nuse crate::b::{self, X};"),
        module("a/inner", "use super::W;\nuse crate::c::Y;\npub struct Z;"),
        module("b", "use crate::{c::Y, c::V};"),
        module("c", "pub struct Y;"),
    ]
    .into_iter()
    .collect();
    assert!(cycles(&acyclic).is_empty(), "{:?}", cycles(&acyclic));
    assert_eq!(
        file_edges(&acyclic)[&vec![text("a"), text("inner")]],
        BTreeSet::from([vec![text("a")], vec![text("c")]])
    );
    // c names what a's child defines (through a's re-export), and a's child names c.
    let mut cyclic = acyclic.clone();
    cyclic.insert(vec![text("c")], text("pub struct Y;\nfn f() -> crate::a::Z { todo!() }"));
    assert_eq!(cycles(&cyclic), ["a -> c -> a"]);
    // Siblings inside one folder module, as manifest/node and manifest/yaml were.
    let mut siblings = acyclic;
    siblings.insert(vec![text("a"), text("one")], text("use super::two::T;"));
    siblings.insert(vec![text("a"), text("two")], text("use super::one::U;"));
    assert_eq!(cycles(&siblings), ["a::one -> a::two -> a::one"]);
    assert_eq!(paths_after("{a::B, c::{d, e::F}};"), [vec!["a", "B"], vec!["c", "d"], vec!["c", "e", "F"]]);
}
