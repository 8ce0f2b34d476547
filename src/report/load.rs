//! Reading a `report.json` back (for `report`, `compare` and `merge`): a run folder or the file
//! itself. Anything else (no such file, not JSON, cut short, another tool's JSON, another
//! schema version, histograms that do not decode) is one clear error naming the file
//! ([`LoadError`]).

use std::path::{Path, PathBuf};

use serde_json::Value;

use super::{Report, SCHEMA_VERSION};

/// Why a report file could not be read back; each names the file (or the folder).
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error("{} holds no report.json: give a run folder or a report.json", .0.display())]
    NoReport(PathBuf),
    #[error("cannot read report {}: {error}", path.display())]
    Unreadable { path: PathBuf, error: std::io::Error },
    #[error("report {} is cut short (line {line}): was the run interrupted while writing it?", path.display())]
    CutShort { path: PathBuf, line: usize },
    #[error("report {} is not JSON: {error}", path.display())]
    NotJson { path: PathBuf, error: serde_json::Error },
    #[error("{} is not a netra-load report (no tool.name \"netra-load\")", .0.display())]
    NotOurs(PathBuf),
    #[error(
        "report {} has schema version {found}; this netra-load reads version {SCHEMA_VERSION}: use the netra-load that wrote it",
        path.display()
    )]
    OtherSchema { path: PathBuf, found: u64 },
    #[error("report {} has no schema_version", .0.display())]
    NoSchema(PathBuf),
    #[error("report {} does not hold a valid report: {error}", path.display())]
    Invalid { path: PathBuf, error: serde_json::Error },
}

/// `path` is a run folder (holding `report.json`) or a report file.
pub fn load(path: &Path) -> Result<Report, LoadError> {
    let file: PathBuf = if path.is_dir() { path.join("report.json") } else { path.to_owned() };
    let text = std::fs::read_to_string(&file).map_err(|error| match error.kind() {
        std::io::ErrorKind::NotFound if path.is_dir() => LoadError::NoReport(path.to_owned()),
        _ => LoadError::Unreadable { path: file.clone(), error },
    })?;
    let value: Value = serde_json::from_str(&text).map_err(|error| {
        if error.is_eof() {
            LoadError::CutShort { path: file.clone(), line: error.line() }
        } else {
            LoadError::NotJson { path: file.clone(), error }
        }
    })?;
    if value.pointer("/tool/name").and_then(Value::as_str) != Some("netra-load") {
        return Err(LoadError::NotOurs(file));
    }
    match value.get("schema_version").and_then(Value::as_u64) {
        Some(v) if v == u64::from(SCHEMA_VERSION) => {}
        Some(found) => return Err(LoadError::OtherSchema { path: file, found }),
        None => return Err(LoadError::NoSchema(file)),
    }
    serde_json::from_value(value).map_err(|error| LoadError::Invalid { path: file, error })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
        let path = dir.join(name);
        std::fs::write(&path, text).unwrap();
        path
    }

    #[test]
    fn bad_reports_are_one_clear_error_each() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        let cases = [
            ("a.json", "not json at all", "is not JSON"),
            ("b.json", "{\"tool\": {\"name\": \"netra-load\"", "cut short"),
            ("c.json", "{\"tool\": {\"name\": \"k6\"}}", "not a netra-load report"),
            ("d.json", "{\"tool\": {\"name\": \"netra-load\"}, \"schema_version\": 9}", "schema version 9"),
            ("e.json", "{\"tool\": {\"name\": \"netra-load\"}, \"schema_version\": 1}", "valid report"),
        ];
        for (name, text, needle) in cases {
            let e = load(&write(d, name, text)).unwrap_err().to_string();
            assert!(e.contains(needle) && e.contains(name) && !e.contains('\n'), "{name}: {e}");
        }
        assert!(load(d).unwrap_err().to_string().contains("holds no report.json"));
        assert!(load(&d.join("missing.json")).unwrap_err().to_string().contains("cannot read report"));
    }
}
