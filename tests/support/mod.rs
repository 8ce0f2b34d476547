//! Helpers shared by the tests that run the binary: a bounded run in a temp folder, and its
//! report.
#![allow(dead_code)] // each test binary uses its own subset

use std::path::Path;
use std::process::{Command, Output};

use serde_json::Value;

pub const BIN: &str = env!("CARGO_BIN_EXE_netra-load");

pub fn run(dir: &Path, args: &[&str]) -> Output {
    let report_dir = dir.join("reports");
    Command::new(BIN)
        .args(args)
        .args(["--no-progress", "--report-dir", report_dir.to_str().unwrap()])
        .env_remove("NETRA_JWT_SECRET")
        .current_dir(dir)
        .output()
        .expect("the binary runs")
}

/// The only run folder under `dir/reports`.
pub fn run_folder(dir: &Path) -> std::path::PathBuf {
    let runs: Vec<_> = std::fs::read_dir(dir.join("reports")).unwrap().map(|e| e.unwrap().path()).collect();
    assert_eq!(runs.len(), 1, "{runs:?}");
    runs.into_iter().next().unwrap()
}

/// The only report.json under `dir/reports`.
pub fn report(dir: &Path) -> Value {
    let runs: Vec<_> = std::fs::read_dir(dir.join("reports")).unwrap().map(|e| e.unwrap().path()).collect();
    assert_eq!(runs.len(), 1, "{runs:?}");
    assert!(runs[0].join("report.md").is_file());
    serde_json::from_str(&std::fs::read_to_string(runs[0].join("report.json")).unwrap()).unwrap()
}

pub fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// The validator of `schema/report.schema.json`.
pub fn schema() -> jsonschema::Validator {
    let schema: Value = serde_json::from_str(include_str!("../../schema/report.schema.json")).unwrap();
    jsonschema::validator_for(&schema).expect("the schema is valid")
}

pub fn assert_schema(report: &Value) {
    let problems: Vec<String> =
        schema().iter_errors(report).map(|e| format!("{e} at {}", e.instance_path())).collect();
    assert!(problems.is_empty(), "report.json breaks its schema: {problems:?}");
}

/// A `netra-load target` process on port 0 (no secret given), killed on drop.
pub struct Target {
    pub child: std::process::Child,
    pub auth_url: String,
    pub backend_url: String,
}

impl Drop for Target {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn spawn_target() -> Target {
    spawn_target_with(&[])
}

pub fn spawn_target_with(extra: &[&str]) -> Target {
    spawn_target_at("127.0.0.1:0", "127.0.0.1:0", extra)
}

/// A target on these addresses (a restarted target takes its predecessor's ports back).
pub fn spawn_target_at(auth: &str, backend: &str, extra: &[&str]) -> Target {
    use std::io::{BufRead, BufReader};
    let mut child = Command::new(BIN)
        .args(["target", "--auth-addr", auth, "--backend-addr", backend])
        .args(extra)
        .env_remove("NETRA_JWT_SECRET")
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let mut target = Target { child, auth_url: String::new(), backend_url: String::new() };
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    let mut urls = Vec::new();
    while urls.len() < 2 {
        let line = rx.recv_timeout(std::time::Duration::from_secs(20)).expect("the target prints its URLs");
        if let Some(url) = line.split_whitespace().find(|w| w.starts_with("http://")) {
            urls.push(url.to_owned());
        }
    }
    target.backend_url = urls.pop().unwrap();
    target.auth_url = urls.pop().unwrap();
    target
}

/// Every file under `dir`, as text.
pub fn all_text(dir: &Path) -> String {
    let mut out = String::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            out.push_str(&all_text(&path));
        } else {
            out.push_str(&String::from_utf8_lossy(&std::fs::read(&path).unwrap()));
        }
    }
    out
}
