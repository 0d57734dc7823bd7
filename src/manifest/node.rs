//! A YAML node as the manifest reader keeps it: one request (or `defaults:`) at a time,
//! each node with its line; an alias shares its anchor's node (no copy). Every node knows
//! its size and depth with aliases expanded, so budgets are checked in constant time and
//! no tree is deeper than the depth limit (which also bounds the recursion of `Drop`).

use std::sync::Arc;

#[derive(Debug, Clone)]
pub(crate) enum Node {
    Scalar {
        text: String,
        plain: bool,
        line: usize,
    },
    Seq {
        items: Vec<Node>,
        line: usize,
        meta: Meta,
    },
    Map {
        entries: Entries,
        line: usize,
        meta: Meta,
    },
    /// An alias (or an anchored node, held shared): the line where it is written.
    Alias(Arc<Node>, usize),
}

/// Size (nodes) and depth of a collection, aliases expanded; set when it closes.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Meta {
    size: usize,
    depth: usize,
}

/// The keys and values of a mapping, as they arrive (a key, then its value).
#[derive(Debug, Clone, Default)]
pub(crate) struct Entries {
    pairs: Vec<(Node, Node)>,
    key: Option<Box<Node>>,
}

impl Entries {
    /// Adds the next key or value; returns the number of keys so far.
    pub(crate) fn push(&mut self, node: Node) -> usize {
        match self.key.take() {
            None => self.key = Some(Box::new(node)),
            Some(key) => self.pairs.push((*key, node)),
        }
        self.pairs.len() + usize::from(self.key.is_some())
    }

    pub(crate) fn iter(&self) -> impl Iterator<Item = &(Node, Node)> {
        self.pairs.iter()
    }
}

impl Node {
    /// The node an alias stands for.
    pub(crate) fn resolve(&self) -> &Node {
        let mut node = self;
        while let Node::Alias(target, _) = node {
            node = target;
        }
        node
    }

    pub(crate) fn line(&self) -> usize {
        match self {
            Node::Scalar { line, .. }
            | Node::Seq { line, .. }
            | Node::Map { line, .. }
            | Node::Alias(_, line) => *line,
        }
    }

    pub(crate) fn size(&self) -> usize {
        match self {
            Node::Scalar { .. } => 1,
            Node::Seq { meta, .. } | Node::Map { meta, .. } => meta.size,
            Node::Alias(target, _) => target.size(),
        }
    }

    pub(crate) fn depth(&self) -> usize {
        match self {
            Node::Scalar { .. } => 0,
            Node::Seq { meta, .. } | Node::Map { meta, .. } => meta.depth,
            Node::Alias(target, _) => target.depth(),
        }
    }

    /// Settles a collection's size and depth once its last child is in.
    pub(crate) fn close(&mut self) {
        let children: Box<dyn Iterator<Item = &Node>> = match self {
            Node::Seq { items, .. } => Box::new(items.iter()),
            Node::Map { entries, .. } => Box::new(entries.pairs.iter().flat_map(|(k, v)| [k, v])),
            _ => return,
        };
        let (size, depth) = children.fold((1, 0), |(s, d), c| (s + c.size(), d.max(c.depth())));
        let meta = Meta { size, depth: depth + 1 };
        if let Node::Seq { meta: m, .. } | Node::Map { meta: m, .. } = self {
            *m = meta;
        }
    }

    /// How messages name the kind of a node.
    pub(crate) fn kind(&self) -> &'static str {
        match self.resolve() {
            Node::Scalar { text, plain: true, .. } if is_null(text) => "nothing (null)",
            Node::Scalar { text, plain: true, .. } if is_bool(text) => "true/false",
            Node::Scalar { .. } => "text",
            Node::Seq { .. } => "a list",
            Node::Map { .. } => "a mapping",
            Node::Alias(..) => "an alias",
        }
    }
}

/// YAML 1.2 core schema: these plain scalars are null.
pub(super) fn is_null(text: &str) -> bool {
    matches!(text, "" | "~" | "null" | "Null" | "NULL")
}

/// ... and these are booleans (refused where a field wants text).
pub(super) fn is_bool(text: &str) -> bool {
    matches!(text, "true" | "True" | "TRUE" | "false" | "False" | "FALSE")
}
