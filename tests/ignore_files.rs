//! The ignore files keep build output and run folders out, and never a source: a `target`
//! pattern that matches at any depth (GitHub's Rust `.gitignore` has one, Docker's `**/target` is
//! another) would silently drop a module or test folder of that name from a commit or an image.

use std::path::{Path, PathBuf};

const ROOT: &str = env!("CARGO_MANIFEST_DIR");

/// Every file a build, its tests or a reader of the repository needs.
fn sources() -> Vec<PathBuf> {
    fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() { walk(&path, out) } else { out.push(path) }
        }
    }
    let root = Path::new(ROOT);
    let mut files = Vec::new();
    for dir in ["src", "tests", "benches", "bench", "profiles", "schema", "docs", "deploy", ".ci"] {
        walk(&root.join(dir), &mut files);
    }
    files.extend(["Cargo.toml", "Cargo.lock", "README.md", "rustfmt.toml"].map(|f| root.join(f)));
    files.into_iter().map(|f| f.strip_prefix(root).unwrap().to_owned()).collect()
}

/// The patterns of an ignore file, without comments and blank lines.
fn patterns(file: &str) -> Vec<String> {
    let text = std::fs::read_to_string(Path::new(ROOT).join(file)).unwrap();
    text.lines().map(str::trim).filter(|l| !l.is_empty() && !l.starts_with('#')).map(str::to_owned).collect()
}

/// Whether `pattern` (without wildcards but a trailing `/*`) drops `file`. `anywhere`: a pattern
/// with no slash matches a name at any depth, as in `.gitignore`; in `.dockerignore` patterns are
/// paths from the context's root.
fn drops(pattern: &str, file: &Path, anywhere: bool) -> bool {
    let path = pattern.trim_start_matches('/').trim_end_matches("/*").trim_end_matches('/');
    let anchored = pattern.starts_with('/') || path.contains('/') || !anywhere;
    if anchored { file.starts_with(path) } else { file.iter().any(|part| part == path) }
}

fn check(file: &str, anywhere: bool, must_hold: &[&str]) {
    let patterns = patterns(file);
    for pattern in &patterns {
        assert!(
            !pattern.contains("**")
                && !pattern.trim_end_matches("/*").contains('*')
                && !pattern.starts_with('!'),
            "{file}: `{pattern}`: keep patterns literal paths (this test reads them so)"
        );
        let dropped: Vec<PathBuf> = sources().into_iter().filter(|s| drops(pattern, s, anywhere)).collect();
        assert!(dropped.is_empty(), "{file}: `{pattern}` drops sources: {dropped:?}");
    }
    for needed in must_hold {
        assert!(patterns.iter().any(|p| p == needed), "{file} lacks `{needed}`: {patterns:?}");
    }
}

#[test]
fn build_output_is_ignored_and_no_source_is() {
    check(".gitignore", true, &["/target"]);
    check(".dockerignore", false, &["target", "reports/*"]);
    // The rule itself: an unanchored `target` in a .gitignore would drop src/target and the like.
    assert!(drops("target", Path::new("src/target/mod.rs"), true));
    assert!(!drops("/target", Path::new("src/target/mod.rs"), true));
    assert!(!drops("target", Path::new("src/target/mod.rs"), false));
}
