//! The crate's modules (`src/<module>`) import each other along arrows that point toward data:
//! no two import each other, directly or around a circle; `reference` (the embedded server) and
//! `metrics` import nothing else of the crate; `report` imports none of `load`, `reference` or
//! `cli`. An import is any `crate::NAME` in the module's files (a `use`, a path in code, a
//! grouped `use crate::{a, b}`), comments aside.
//!
//! `cargo test --test modules -- --nocapture` prints the graph.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

type Graph = BTreeMap<String, BTreeSet<String>>;

fn files(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The identifier at the start of `text`.
fn ident(text: &str) -> &str {
    let end = text.find(|c: char| !(c.is_ascii_alphanumeric() || c == '_')).unwrap_or(text.len());
    &text[..end]
}

/// `line` up to a `//` comment (one outside a string: `"http://..."` is code).
fn without_comment(line: &str) -> &str {
    let mut quoted = false;
    let bytes = line.as_bytes();
    for (i, &b) in bytes.iter().enumerate() {
        match b {
            b'"' if i == 0 || bytes[i - 1] != b'\\' => quoted = !quoted,
            b'/' if !quoted && bytes.get(i + 1) == Some(&b'/') => return &line[..i],
            _ => {}
        }
    }
    line
}

/// The top-level names `text` imports through `crate::`.
fn imports(text: &str) -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    // Comments (line and doc comments) aside: they may name modules without importing them.
    let code: String = text.lines().map(without_comment).collect::<Vec<_>>().join("\n");
    for (at, _) in code.match_indices("crate::") {
        let rest = &code[at + "crate::".len()..];
        if let Some(group) = rest.strip_prefix('{') {
            // The group's top-level names: `{a::{b, c}, d}` imports a and d.
            let mut depth = 0;
            let mut start = 0;
            for (i, c) in group.char_indices() {
                match c {
                    '{' => depth += 1,
                    '}' if depth == 0 => {
                        names.insert(ident(group[start..i].trim()).to_owned());
                        break;
                    }
                    '}' => depth -= 1,
                    ',' if depth == 0 => {
                        names.insert(ident(group[start..i].trim()).to_owned());
                        start = i + 1;
                    }
                    _ => {}
                }
            }
        } else {
            names.insert(ident(rest).to_owned());
        }
    }
    names.retain(|n| !n.is_empty());
    names
}

fn graph() -> Graph {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut modules = BTreeMap::new();
    for entry in std::fs::read_dir(&src).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_stem().unwrap().to_string_lossy().into_owned();
        if name == "lib" || name == "main" {
            continue;
        }
        let mut sources = Vec::new();
        if path.is_dir() {
            files(&path, &mut sources)
        } else {
            sources.push(path)
        }
        modules.insert(name, sources);
    }
    let names: BTreeSet<String> = modules.keys().cloned().collect();
    modules
        .into_iter()
        .map(|(name, sources)| {
            let mut uses = BTreeSet::new();
            for file in sources {
                let text = std::fs::read_to_string(&file).unwrap();
                uses.extend(imports(&text).into_iter().filter(|n| names.contains(n) && *n != name));
            }
            (name, uses)
        })
        .collect()
}

/// A circle through `from`, if there is one: the modules along it.
fn circle(graph: &Graph, from: &str) -> Option<Vec<String>> {
    fn walk(graph: &Graph, at: &str, path: &mut Vec<String>, done: &mut BTreeSet<String>) -> bool {
        for next in &graph[at] {
            if *next == path[0] {
                return true;
            }
            if !path.contains(next) && done.insert(next.clone()) {
                path.push(next.clone());
                if walk(graph, next, path, done) {
                    return true;
                }
                path.pop();
            }
        }
        false
    }
    let mut path = vec![from.to_owned()];
    walk(graph, from, &mut path, &mut BTreeSet::new()).then_some(path)
}

#[test]
fn no_module_imports_around_a_circle_and_arrows_point_toward_data() {
    let graph = graph();
    for (module, uses) in &graph {
        println!("{module:<10} -> {}", uses.iter().cloned().collect::<Vec<_>>().join(", "));
    }
    for module in graph.keys() {
        if let Some(path) = circle(&graph, module) {
            panic!("import circle: {} -> {module}", path.join(" -> "));
        }
    }
    for leaf in ["reference", "metrics"] {
        assert!(graph[leaf].is_empty(), "{leaf} is a leaf, yet imports {:?}", graph[leaf]);
    }
    for never in ["load", "reference", "cli"] {
        assert!(!graph["report"].contains(never), "report imports {never}");
    }
}

#[test]
fn the_scanner_sees_every_form_of_import_and_finds_circles() {
    let text = "use crate::a::B;\nuse crate::{b, c::D};\n// crate::comment\nfn f() { crate::d::e(); }\n\
        let u = \"http://x\"; crate::e::f(); // crate::g\nuse crate::{h::{i, j}, k};";
    let found = ["a", "b", "c", "d", "e", "h", "k"].iter().map(|s| s.to_string()).collect();
    assert_eq!(imports(text), found);
    let graph: Graph = [("a", vec!["b"]), ("b", vec!["c"]), ("c", vec!["a"]), ("d", vec!["a"])]
        .into_iter()
        .map(|(m, uses)| (m.to_owned(), uses.into_iter().map(str::to_owned).collect()))
        .collect();
    assert_eq!(circle(&graph, "a"), Some(vec!["a".into(), "b".into(), "c".into()]));
    assert_eq!(circle(&graph, "d"), None);
}
