//! Reading a `report.json` back (for `report`, `compare` and `merge`): a run folder or the file
//! itself. Anything else (no such file, not JSON, cut short, another tool's JSON, another
//! schema version, histograms that do not decode) is one clear error naming the file.

use std::path::{Path, PathBuf};

use serde_json::Value;

use super::{Report, SCHEMA_VERSION};

/// `path` is a run folder (holding `report.json`) or a report file.
pub fn load(path: &Path) -> Result<Report, String> {
    let file: PathBuf = if path.is_dir() { path.join("report.json") } else { path.to_owned() };
    let shown = file.display();
    let text = std::fs::read_to_string(&file).map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound if path.is_dir() => {
            format!("{} holds no report.json: give a run folder or a report.json", path.display())
        }
        _ => format!("cannot read report {shown}: {e}"),
    })?;
    let value: Value = serde_json::from_str(&text).map_err(|e| {
        if e.is_eof() {
            format!(
                "report {shown} is cut short (line {}): was the run interrupted while writing it?",
                e.line()
            )
        } else {
            format!("report {shown} is not JSON: {e}")
        }
    })?;
    if value.pointer("/tool/name").and_then(Value::as_str) != Some("netra-load") {
        return Err(format!("{shown} is not a netra-load report (no tool.name \"netra-load\")"));
    }
    match value.get("schema_version").and_then(Value::as_u64) {
        Some(v) if v == u64::from(SCHEMA_VERSION) => {}
        Some(v) => {
            return Err(format!(
                "report {shown} has schema version {v}; this netra-load reads version {SCHEMA_VERSION}: use the netra-load that wrote it"
            ));
        }
        None => return Err(format!("report {shown} has no schema_version")),
    }
    serde_json::from_value(value).map_err(|e| format!("report {shown} does not hold a valid report: {e}"))
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
            let e = load(&write(d, name, text)).unwrap_err();
            assert!(e.contains(needle) && e.contains(name) && !e.contains('\n'), "{name}: {e}");
        }
        assert!(load(d).unwrap_err().contains("holds no report.json"));
        assert!(load(&d.join("missing.json")).unwrap_err().contains("cannot read report"));
    }
}
