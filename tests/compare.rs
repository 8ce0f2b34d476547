//! `netra-load compare`: a run against itself passes; a clean run against one with 50 ms of
//! added latency fails, naming the figures that regressed; mismatched or bad reports exit 2.

mod support;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use support::{BIN, run, text};

fn one_run(dir: &Path, extra: &[&str]) -> PathBuf {
    let args = [&["--profile", "smoke", "--users", "8", "--iterations", "3"][..], extra].concat();
    let out = run(dir, &args);
    assert!(matches!(out.status.code(), Some(0 | 1)), "{}", text(&out.stderr));
    std::fs::read_dir(dir.join("reports")).unwrap().next().unwrap().unwrap().path()
}

fn compare(args: &[&Path], extra: &[&str]) -> Output {
    Command::new(BIN).arg("compare").args(args).args(extra).output().unwrap()
}

#[test]
fn a_run_compared_with_itself_passes_and_added_latency_fails_by_name() {
    let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let clean = one_run(a.path(), &[]);
    let slow = one_run(b.path(), &["--target-fault", "latency=50ms"]);

    let same = compare(&[&clean, &clean], &["--format", "md"]);
    let md = text(&same.stdout);
    assert_eq!(same.status.code(), Some(0), "{md}");
    assert!(!md.contains("Set-up:"), "a run is set up as itself: {md}");
    assert!(
        md.contains("no regression") && md.contains("| signup-chat p50 |") && md.contains("24 / 24"),
        "{md}"
    );

    let worse = compare(&[&clean, &slow], &["--max-regression", "10%"]);
    let out = text(&worse.stdout);
    assert_eq!(worse.status.code(), Some(1), "{out}");
    // A fault is the target behaving differently, as a new release may: shown, compared.
    assert!(out.contains("faults: differs: none vs latency=50ms"), "{out}");
    let verdict = out.lines().last().unwrap();
    for figure in ["signup-chat p50", "signup-chat / history p50", "signup-chat / create_thread p95"] {
        assert!(verdict.contains(figure), "`{figure}` not named in: {verdict}");
    }
    assert!(!verdict.contains("chat errors"), "no error rate regressed: {verdict}");
    // The other way round the backend's figures improved. (The auth service's were not slowed:
    // on a shared machine their tails may move past 10 % either way, so they are not checked.)
    let back = compare(&[&slow, &clean], &[]);
    let verdict = text(&back.stdout).lines().last().unwrap().to_owned();
    assert!(!verdict.contains("signup-chat p50") && !verdict.contains("history p50"), "{verdict}");
    assert!(text(&back.stdout).contains("improved"));
    // 50 ms more is within a minute's noise floor: no figure regresses.
    let floor = compare(&[&clean, &slow], &["--min-change", "1m"]);
    assert_eq!(floor.status.code(), Some(0), "{}", text(&floor.stdout));
    assert!(
        text(&floor.stdout).contains("no regression (latency +10% and 60.000s"),
        "{}",
        text(&floor.stdout)
    );
    // Too few samples are shown, not judged.
    let few = compare(&[&clean, &slow], &["--min-samples", "1000"]);
    assert_eq!(few.status.code(), Some(0), "{}", text(&few.stdout));
    assert!(text(&few.stdout).contains("too few samples"));
}

#[test]
fn bad_or_mismatched_reports_are_refused_with_one_line() {
    let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let smoke = one_run(a.path(), &[]);
    let out = run(b.path(), &["--profile", "token-refresh", "--users", "2", "--iterations", "1"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stdout));
    let other = std::fs::read_dir(b.path().join("reports")).unwrap().next().unwrap().unwrap().path();
    let broken = a.path().join("broken.json");
    std::fs::write(&broken, "{\"tool\": ").unwrap();
    for (args, needle) in [
        (vec![smoke.as_path(), other.as_path()], "profile smoke vs token-refresh"),
        (vec![smoke.as_path(), broken.as_path()], "cut short"),
        (vec![smoke.as_path(), a.path()], "holds no report.json"),
    ] {
        let out = compare(&args, &[]);
        let stderr = text(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{stderr}");
        assert!(stderr.contains(needle) && stderr.trim_end().lines().count() == 1, "{stderr}");
    }
    // merge refuses the same inputs the same way.
    for (args, needle) in [
        (vec![smoke.as_path(), other.as_path()], "different profiles"),
        (vec![smoke.as_path(), broken.as_path()], "cut short"),
    ] {
        let out = Command::new(BIN).arg("merge").args(&args).args(["-o", "unused"]).output().unwrap();
        let stderr = text(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{stderr}");
        assert!(stderr.contains(needle) && stderr.trim_end().lines().count() == 1, "{stderr}");
    }
    let out = compare(&[&smoke, &smoke], &["--max-regression", "ten"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("not a percentage"));
}

/// `compare` says "no regression" only between runs of one load: users, segments or personas
/// that differ are refused with what differs (one line, exit 2, before any figure), and compared
/// when forced, the differences shown above the figures.
#[test]
fn runs_of_different_loads_are_refused_unless_forced() {
    let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let whole = one_run(a.path(), &[]);
    let half = one_run(b.path(), &["--segment", "1/2"]);
    let out = compare(&[&whole, &half], &[]);
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.trim_end().lines().count() == 1 && text(&out.stdout).is_empty(), "{stderr}");
    assert!(stderr.contains("segment whole run vs segment 1/2") && stderr.contains("--force"), "{stderr}");
    let forced = compare(&[&whole, &half], &["--force"]);
    let stdout = text(&forced.stdout);
    assert!(matches!(forced.status.code(), Some(0 | 1)), "{}", text(&forced.stderr));
    assert!(
        stdout.contains("segment: DIFFERS (compared with --force): whole run vs segment 1/2"),
        "{stdout}"
    );
    let ids: Vec<String> = [&whole, &half]
        .iter()
        .map(|dir| {
            let r: serde_json::Value =
                serde_json::from_str(&std::fs::read_to_string(dir.join("report.json")).unwrap()).unwrap();
            r["run"]["run_id"].as_str().unwrap().to_owned()
        })
        .collect();
    assert_ne!(ids[0], ids[1], "every run has its own id");
    assert!(stdout.contains(&ids[0]) && stdout.contains(&ids[1]), "both runs named by id: {stdout}");
}
