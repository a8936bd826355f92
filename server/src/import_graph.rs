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
    let chars: Vec<char> = source.chars().collect();
    let mut out = String::with_capacity(source.len());
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        let next = chars.get(i + 1).copied();
        match c {
            // A line comment, to its end.
            '/' if next == Some('/') => {
                while i < chars.len() && chars[i] != '\n' {
                    i += 1;
                }
            }
            // A block comment (they nest).
            '/' if next == Some('*') => {
                let mut depth = 0;
                while i < chars.len() {
                    if chars[i] == '/' && chars.get(i + 1) == Some(&'*') {
                        depth += 1;
                        i += 2;
                    } else if chars[i] == '*' && chars.get(i + 1) == Some(&'/') {
                        depth -= 1;
                        i += 2;
                        if depth == 0 {
                            break;
                        }
                    } else {
                        i += 1;
                    }
                }
                out.push(' ');
            }
            // A raw string: r"…", r#"…"#, br"…".
            'r' if !chars[..i]
                .last()
                .is_some_and(|p| p.is_alphanumeric() || *p == '_')
                && matches!(next, Some('"' | '#')) =>
            {
                let mut j = i + 1;
                let mut hashes = 0;
                while chars.get(j) == Some(&'#') {
                    hashes += 1;
                    j += 1;
                }
                if chars.get(j) != Some(&'"') {
                    out.push(c);
                    i += 1;
                    continue;
                }
                j += 1;
                loop {
                    if j >= chars.len() {
                        break;
                    }
                    if chars[j] == '"' && (1..=hashes).all(|h| chars.get(j + h) == Some(&'#')) {
                        j += 1 + hashes;
                        break;
                    }
                    j += 1;
                }
                out.push_str("\"\"");
                i = j;
                continue;
            }
            '"' => {
                i += 1;
                while i < chars.len() && chars[i] != '"' {
                    if chars[i] == '\\' {
                        i += 1;
                    }
                    i += 1;
                }
                out.push_str("\"\"");
            }
            // A character literal ('x', '\n', '\u{..}'), not a lifetime ('a).
            '\'' if next == Some('\\') => {
                i += 2;
                while i < chars.len() && chars[i] != '\'' {
                    i += 1;
                }
                out.push_str("' '");
            }
            '\'' if chars.get(i + 2) == Some(&'\'') => {
                i += 2;
                out.push_str("' '");
            }
            _ => out.push(c),
        }
        i += 1;
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

/// Every path the code names: the paths of its `use` trees, and the `a::b` paths in the rest
/// of its code (as written: `crate::…`, `super::…`, or relative to a module or an import).
fn named_paths(code: &str) -> (Vec<String>, Vec<String>) {
    let mut uses = Vec::new();
    let mut rest_of_code = String::with_capacity(code.len());
    let mut rest = code;
    while let Some(at) = rest.find("use ") {
        let before = rest[..at].chars().last();
        rest_of_code.push_str(&rest[..at]);
        if before.is_some_and(|c| c.is_alphanumeric() || c == '_') {
            rest_of_code.push_str("use ");
            rest = &rest[at + 4..];
            continue;
        }
        rest = &rest[at + 4..];
        let Some(end) = rest.find(';') else { break };
        uses.extend(expand(&without_renames(&rest[..end])));
        rest = &rest[end..];
    }
    rest_of_code.push_str(rest);
    let code = rest_of_code;
    let mut inline = Vec::new();
    let bytes: Vec<char> = code.chars().collect();
    let is_ident = |c: char| c.is_alphanumeric() || c == '_';
    let mut i = 0;
    while i < bytes.len() {
        if is_ident(bytes[i]) && (i == 0 || !(is_ident(bytes[i - 1]) || bytes[i - 1] == ':')) {
            let start = i;
            let mut end;
            let mut j = i;
            loop {
                while j < bytes.len() && is_ident(bytes[j]) {
                    j += 1;
                }
                end = j;
                if bytes.get(j) == Some(&':')
                    && bytes.get(j + 1) == Some(&':')
                    && bytes.get(j + 2).is_some_and(|c| is_ident(*c))
                {
                    j += 2;
                } else {
                    break;
                }
            }
            let path: String = bytes[start..end].iter().collect();
            if path.contains("::") {
                inline.push(path);
            }
            i = end.max(i + 1);
        } else {
            i += 1;
        }
    }
    (uses, inline)
}

/// The module a path names from inside module `from`: the longest known prefix.
fn target(path: &str, from: &str, known: &BTreeMap<Module, PathBuf>) -> Option<Module> {
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
        let mut to = BTreeSet::new();
        if COMPOSITION.contains(&module.as_str()) {
            edges.insert(module.clone(), to);
            continue;
        }
        let (uses, inline) = named_paths(&code_of(&source));
        // What a name brought in by `use` stands for (`calendar` → `crate::calendar`).
        let mut aliases: BTreeMap<String, String> = BTreeMap::new();
        for path in &uses {
            if let Some(last) = path.rsplit("::").next()
                && last != "*"
                && last != "self"
            {
                aliases.insert(last.to_string(), path.clone());
            }
            if let Some(stem) = path.strip_suffix("::self")
                && let Some(last) = stem.rsplit("::").next()
            {
                aliases.insert(last.to_string(), stem.to_string());
            }
        }
        let absolute = |path: &str| -> Option<String> {
            let first = path.split("::").next()?;
            if matches!(first, "crate" | "super" | "self") {
                return Some(path.to_string());
            }
            // A child module, named without `self::`.
            let child = if module.is_empty() {
                first.to_string()
            } else {
                format!("{module}::{first}")
            };
            if known.contains_key(&child) {
                return Some(format!(
                    "crate::{}",
                    if module.is_empty() {
                        path.to_string()
                    } else {
                        format!("{module}::{path}")
                    }
                ));
            }
            let alias = aliases.get(first)?;
            let tail = &path[first.len()..];
            Some(format!("{alias}{tail}"))
        };
        for path in uses.iter().chain(&inline) {
            let Some(path) = absolute(path) else { continue };
            // An alias may itself be relative (`use reactions::x` in a mod.rs).
            let path = match path.split("::").next() {
                Some("crate" | "super" | "self") => path,
                _ => match absolute(&path) {
                    Some(p) => p,
                    None => continue,
                },
            };
            if let Some(t) = target(&path, module, &known)
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
                target(path, from, &known).as_deref(),
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
        let (uses, inline) = named_paths(&code);
        assert_eq!(uses, ["crate::a::B"].map(String::from));
        assert_eq!(inline, ["crate::g::h"].map(String::from));
    }

    #[test]
    fn quotes_in_character_literals_raw_strings_and_block_comments_do_not_hide_code() {
        let code = code_of(
            "let q = '\"'; let r = r#\"crate::x \"quoted\"\"#; /* crate::y /* nested */ */ let e = '\\''; crate::z::f(); 'a: loop {}",
        );
        let (_, inline) = named_paths(&code);
        assert_eq!(inline, ["crate::z::f"].map(String::from));
    }

    #[test]
    fn relative_paths_resolve_through_child_modules_and_imports() {
        let dir = std::env::temp_dir().join(format!("import-graph-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.join("a")).unwrap();
        std::fs::write(dir.join("lib.rs"), "mod a;\nmod b;\n").unwrap();
        // a (mod.rs) calls its child without `self::`; the child names its parent back.
        std::fs::write(dir.join("a/mod.rs"), "mod c;\nfn f() { c::g(); }\n").unwrap();
        std::fs::write(dir.join("a/c.rs"), "use super::Thing;\n").unwrap();
        // b names a module it imported: `use crate::a; a::c::g()`.
        std::fs::write(dir.join("b.rs"), "use crate::a;\nfn h() { a::c::g(); }\n").unwrap();
        let graph = graph(&dir);
        assert!(graph["a"].contains("a::c"), "{graph:?}");
        assert!(graph["b"].contains("a::c"), "{graph:?}");
        assert_eq!(cycles(&graph), vec![vec!["a".to_string(), "a::c".into()]]);
        let _ = std::fs::remove_dir_all(&dir);
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
