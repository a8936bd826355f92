//! The house rule "dependencies point one way", checked: every module of this crate (one per
//! file) and the modules it names (`use` declarations and `crate::…`/`super::…` paths in code)
//! form a graph that must have no cycle. A cycle means two modules each need the other, so
//! neither can be understood, tested or moved alone; break it by moving what both need into a
//! leaf (as `graphql::context` is), or by turning one side round (an event, a registry).
use std::{
    collections::{BTreeMap, BTreeSet},
    path::{Path, PathBuf},
};

/// A module's path inside the crate (`booking::service`; the crate root is empty).
type Module = String;

/// Every `.rs` file under `dir` with its module path (`main.rs`, the binary, is left out).
fn modules(root: &Path) -> BTreeMap<Module, PathBuf> {
    fn walk(dir: &Path, into: &mut Vec<PathBuf>) {
        let Ok(entries) = std::fs::read_dir(dir) else {
            return;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            if path.is_dir() {
                walk(&path, into);
            } else if path.extension().is_some_and(|e| e == "rs") {
                into.push(path);
            }
        }
    }
    let mut files = Vec::new();
    walk(root, &mut files);
    files
        .into_iter()
        .filter_map(|file| {
            let relative = file.strip_prefix(root).ok()?.with_extension("");
            let mut parts: Vec<String> = relative
                .components()
                .map(|c| c.as_os_str().to_string_lossy().into_owned())
                .collect();
            match parts.last().map(String::as_str) {
                Some("main") if parts.len() == 1 => return None,
                Some("lib") if parts.len() == 1 => parts.clear(),
                Some("mod") => {
                    parts.pop();
                }
                _ => {}
            }
            Some((parts.join("::"), file))
        })
        .collect()
}

/// The code of a file without comments, string literals and its `#[cfg(test)]` tail (tests
/// may reach anywhere).
fn code_of(source: &str) -> String {
    let source = source
        .find("#[cfg(test)]\nmod tests")
        .map_or(source, |at| &source[..at]);
    let mut out = String::with_capacity(source.len());
    let mut chars = source.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '/' if chars.peek() == Some(&'/') => {
                for c in chars.by_ref() {
                    if c == '\n' {
                        out.push('\n');
                        break;
                    }
                }
            }
            '"' => {
                let mut escaped = false;
                for c in chars.by_ref() {
                    if escaped {
                        escaped = false;
                    } else if c == '\\' {
                        escaped = true;
                    } else if c == '"' {
                        break;
                    }
                }
                out.push_str("\"\"");
            }
            _ => out.push(c),
        }
    }
    out
}

/// The paths a `use` tree names: `a::{b, c::{d, e}}` → `a::b`, `a::c::d`, `a::c::e`.
fn expand(tree: &str) -> Vec<String> {
    let tree: String = tree.chars().filter(|c| !c.is_whitespace()).collect();
    let Some(open) = tree.find('{') else {
        return vec![tree];
    };
    let prefix = &tree[..open];
    let inner = tree[open + 1..]
        .strip_suffix('}')
        .unwrap_or(&tree[open + 1..]);
    let mut parts = Vec::new();
    let (mut depth, mut start) = (0, 0);
    for (i, c) in inner.char_indices() {
        match c {
            '{' => depth += 1,
            '}' => depth -= 1,
            ',' if depth == 0 => {
                parts.push(&inner[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    parts.push(&inner[start..]);
    parts
        .into_iter()
        .filter(|p| !p.is_empty())
        .flat_map(|p| expand(p).into_iter().map(move |e| format!("{prefix}{e}")))
        .collect()
}

/// A `use` tree without its renames (`a as b` → `a`).
fn without_renames(tree: &str) -> String {
    let words: Vec<&str> = tree.split_whitespace().collect();
    let mut out = String::new();
    let mut skip = false;
    for (i, word) in words.iter().enumerate() {
        if skip {
            // The new name, and whatever punctuation follows it.
            skip = false;
            out.push_str(word.trim_start_matches(|c: char| c.is_alphanumeric() || c == '_'));
            continue;
        }
        if *word == "as" && i > 0 {
            skip = true;
            continue;
        }
        out.push_str(word);
        out.push(' ');
    }
    out
}

/// Every path the code names from this crate, as written (`crate::…`, `super::…`, `self::…`).
fn named_paths(code: &str) -> Vec<String> {
    let mut paths = Vec::new();
    // `use` declarations, whole trees.
    let mut rest = code;
    while let Some(at) = rest.find("use ") {
        let before = rest[..at].chars().last();
        rest = &rest[at + 4..];
        if before.is_some_and(|c| c.is_alphanumeric() || c == '_') {
            continue;
        }
        let Some(end) = rest.find(';') else { break };
        paths.extend(expand(&without_renames(&rest[..end])));
        rest = &rest[end..];
    }
    // Paths in code: `crate::a::b(…)`, `super::c::D`.
    for start in ["crate::", "super::"] {
        let mut from = 0;
        while let Some(at) = code[from..].find(start) {
            let begin = from + at;
            let before = code[..begin].chars().last();
            let end = code[begin..]
                .find(|c: char| !(c.is_alphanumeric() || c == '_' || c == ':'))
                .map_or(code.len(), |e| begin + e);
            // A bare `crate::` opens a `use` tree, already read above.
            if end > begin + start.len()
                && !before.is_some_and(|c| c.is_alphanumeric() || c == '_' || c == ':')
            {
                paths.push(code[begin..end].trim_end_matches(':').to_string());
            }
            from = end.max(begin + start.len());
        }
    }
    paths
}

/// The module a path names from inside `from` (declared in `file`): the longest known prefix.
fn target(
    path: &str,
    from: &str,
    is_mod_file: bool,
    known: &BTreeMap<Module, PathBuf>,
) -> Option<Module> {
    let mut segments: Vec<&str> = path.split("::").collect();
    let mut base: Vec<&str> = if from.is_empty() {
        Vec::new()
    } else {
        from.split("::").collect()
    };
    match segments.first().copied() {
        Some("crate") => {
            base.clear();
            segments.remove(0);
        }
        Some("super") => {
            // In `a/b.rs` (module a::b) `super` is `a`; in `a/b/mod.rs` (a::b) too.
            let _ = is_mod_file;
            base.pop();
            segments.remove(0);
            while segments.first() == Some(&"super") {
                base.pop();
                segments.remove(0);
            }
        }
        Some("self") => {
            segments.remove(0);
        }
        _ => return None,
    }
    let mut best = None;
    for n in 0..=segments.len() {
        let candidate: Vec<&str> = base
            .iter()
            .copied()
            .chain(segments[..n].iter().copied())
            .collect();
        let candidate = candidate.join("::");
        if known.contains_key(&candidate) {
            best = Some(candidate);
        }
    }
    best
}

/// Modules that name every room by design and are named by them: the composition root
/// (`lib.rs`, which assembles the rooms and their registries) and the state it hands to every
/// service. Their own imports are not dependencies of the rooms; everything else must be acyclic.
const COMPOSITION: [&str; 2] = ["", "state"];

/// Each module's dependencies on other modules of the crate.
pub(crate) fn graph(root: &Path) -> BTreeMap<Module, BTreeSet<Module>> {
    let known = modules(root);
    let mut edges = BTreeMap::new();
    for (module, file) in &known {
        let source = std::fs::read_to_string(file).unwrap_or_default();
        let is_mod_file = file
            .file_name()
            .is_some_and(|n| n == "mod.rs" || n == "lib.rs");
        let mut to = BTreeSet::new();
        if COMPOSITION.contains(&module.as_str()) {
            edges.insert(module.clone(), to);
            continue;
        }
        for path in named_paths(&code_of(&source)) {
            if let Some(t) = target(&path, module, is_mod_file, &known)
                && t != *module
            {
                to.insert(t);
            }
        }
        edges.insert(module.clone(), to);
    }
    edges
}

/// The groups of modules that depend on one another (Tarjan's strongly connected components of
/// more than one module).
pub(crate) fn cycles(graph: &BTreeMap<Module, BTreeSet<Module>>) -> Vec<Vec<Module>> {
    struct State<'a> {
        graph: &'a BTreeMap<Module, BTreeSet<Module>>,
        index: BTreeMap<&'a str, usize>,
        low: BTreeMap<&'a str, usize>,
        stack: Vec<&'a str>,
        on_stack: BTreeSet<&'a str>,
        next: usize,
        found: Vec<Vec<Module>>,
    }
    fn visit<'a>(s: &mut State<'a>, v: &'a str) {
        s.index.insert(v, s.next);
        s.low.insert(v, s.next);
        s.next += 1;
        s.stack.push(v);
        s.on_stack.insert(v);
        let graph = s.graph;
        for w in graph.get(v).into_iter().flatten() {
            let w = w.as_str();
            if !s.index.contains_key(w) {
                visit(s, w);
                let low = s.low[v].min(s.low[w]);
                s.low.insert(v, low);
            } else if s.on_stack.contains(w) {
                let low = s.low[v].min(s.index[w]);
                s.low.insert(v, low);
            }
        }
        if s.low[v] == s.index[v] {
            let mut group = Vec::new();
            while let Some(w) = s.stack.pop() {
                s.on_stack.remove(w);
                group.push(w.to_string());
                if w == v {
                    break;
                }
            }
            if group.len() > 1 {
                group.sort();
                s.found.push(group);
            }
        }
    }
    let mut state = State {
        graph,
        index: BTreeMap::new(),
        low: BTreeMap::new(),
        stack: Vec::new(),
        on_stack: BTreeSet::new(),
        next: 0,
        found: Vec::new(),
    };
    for v in graph.keys() {
        if !state.index.contains_key(v.as_str()) {
            visit(&mut state, v);
        }
    }
    state.found.sort();
    state.found
}

#[cfg(test)]
mod tests {
    use super::*;

    fn edges(list: &[(&str, &[&str])]) -> BTreeMap<Module, BTreeSet<Module>> {
        list.iter()
            .map(|(from, to)| (from.to_string(), to.iter().map(|t| t.to_string()).collect()))
            .collect()
    }

    #[test]
    fn use_trees_expand_to_every_path() {
        assert_eq!(
            expand(&without_renames("crate::{a::{b, c::D}, e as f, g::*}")),
            ["crate::a::b", "crate::a::c::D", "crate::e", "crate::g::*"].map(String::from)
        );
        assert_eq!(expand("super::x::Y"), ["super::x::Y"].map(String::from));
    }

    #[test]
    fn paths_resolve_to_the_longest_known_module() {
        let known: BTreeMap<Module, PathBuf> = ["", "booking", "booking::service", "events"]
            .into_iter()
            .map(|m| (m.to_string(), PathBuf::new()))
            .collect();
        for (path, from, to) in [
            (
                "crate::booking::service::book",
                "events",
                Some("booking::service"),
            ),
            ("crate::booking::Thing", "events", Some("booking")),
            (
                "super::service::book",
                "booking::admission",
                Some("booking::service"),
            ),
            ("super::Thing", "booking::service", Some("booking")),
            ("crate::state::AppState", "events", Some("")),
            ("std::sync::Arc", "events", None),
        ] {
            assert_eq!(
                target(path, from, false, &known).as_deref(),
                to,
                "{path} from {from}"
            );
        }
    }

    #[test]
    fn comments_strings_and_tests_name_nothing() {
        let code = code_of(
            "use crate::a::B; // crate::c::D\nfn f() { let _ = \"crate::e\"; crate::g::h(); }\n#[cfg(test)]\nmod tests { use crate::z; }",
        );
        let mut paths = named_paths(&code);
        paths.sort();
        paths.dedup();
        assert_eq!(paths, ["crate::a::B", "crate::g::h"].map(String::from));
    }

    #[test]
    fn mutual_dependencies_are_found_and_one_way_ones_are_not() {
        let found = cycles(&edges(&[
            ("a", &["b"]),
            ("b", &["c"]),
            ("c", &["a"]),
            ("d", &["a"]),
            ("e", &["f"]),
            ("f", &[]),
        ]));
        assert_eq!(found, vec![vec!["a".to_string(), "b".into(), "c".into()]]);
    }

    #[test]
    fn the_crate_has_no_import_cycles() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
        let graph = graph(&root);
        assert!(
            graph.len() > 40,
            "the modules were not found under {root:?}"
        );
        let found = cycles(&graph);
        let report: Vec<String> = found
            .iter()
            .map(|group| {
                let members: BTreeSet<&String> = group.iter().collect();
                let detail: Vec<String> = group
                    .iter()
                    .map(|m| {
                        let to: Vec<&str> = graph[m]
                            .iter()
                            .filter(|t| members.contains(t))
                            .map(String::as_str)
                            .collect();
                        format!(
                            "  {} -> {}",
                            if m.is_empty() { "(crate)" } else { m },
                            to.join(", ")
                        )
                    })
                    .collect();
                detail.join("\n")
            })
            .collect();
        assert!(
            found.is_empty(),
            "{} group(s) of modules depend on one another:\n{}",
            found.len(),
            report.join("\n\n")
        );
    }
}
