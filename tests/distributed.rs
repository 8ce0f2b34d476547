//! A distributed run: four `--segment I/4` processes against one standalone target, merged.
//! The merged report has the segments' users and journeys summed, percentiles from the added
//! histograms, cohorts from all the segments' completions, and is judged again.

mod support;

use std::process::{Command, Stdio};

use netra_load::metrics::Histogram;
use serde_json::Value;
use support::{BIN, spawn_target, text};

/// Segment `i` of `n` of smoke against `target`, its reports under `dir/seg{i}`.
fn segment(
    target: &support::Target,
    dir: &std::path::Path,
    i: usize,
    n: usize,
    extra: &[&str],
) -> std::process::Child {
    Command::new(BIN)
        .args(["--profile", "smoke", "--no-progress", "--quiet", "--segment", &format!("{i}/{n}")])
        .args(["--auth-url", &target.auth_url, "--backend-url", &target.backend_url])
        .args(["--report-dir", dir.join(format!("seg{i}")).to_str().unwrap()])
        .args(extra)
        .stdout(Stdio::null())
        .spawn()
        .unwrap()
}

/// `netra-load merge INPUTS -o OUT EXTRA...`.
fn merged_into<P: AsRef<std::ffi::OsStr>>(
    inputs: &[P],
    out: &std::path::Path,
    extra: &[&str],
) -> std::process::Output {
    Command::new(BIN).arg("merge").args(inputs).arg("-o").arg(out).args(extra).output().unwrap()
}

/// Waits for every segment (each ends 0 or 1: a result) and returns their run folders, in order.
fn finished(children: Vec<std::process::Child>, dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let n = children.len();
    for mut child in children {
        assert!(matches!(child.wait().unwrap().code(), Some(0 | 1)));
    }
    (0..n)
        .map(|i| std::fs::read_dir(dir.join(format!("seg{i}"))).unwrap().next().unwrap().unwrap().path())
        .collect()
}

#[test]
fn four_segments_merge_into_the_whole_run() {
    let target = spawn_target();
    let dir = tempfile::tempdir().unwrap();
    let children: Vec<_> = (0..4)
        .map(|i| segment(&target, dir.path(), i, 4, &["--users", "12", "--iterations", "2", "--seed", "7"]))
        .collect();
    // A segment of 3 users cannot show the 10-user cohort: 1 (missed), never 2 or 3.
    let folders = finished(children, dir.path());
    let segments: Vec<Value> = folders
        .iter()
        .map(|f| serde_json::from_str(&std::fs::read_to_string(f.join("report.json")).unwrap()).unwrap())
        .collect();
    let users: u64 = segments.iter().map(|r| r["run"]["users"].as_u64().unwrap()).sum();
    assert_eq!(users, 12);
    assert!(segments.iter().all(|r| r["run"]["users"] == 3), "an equal share each");

    let merged_dir = dir.path().join("merged");
    let out = merged_into(&folders, &merged_dir, &[]);
    assert_eq!(out.status.code(), Some(0), "{}{}", text(&out.stdout), text(&out.stderr));
    let merged: Value =
        serde_json::from_str(&std::fs::read_to_string(merged_dir.join("report.json")).unwrap()).unwrap();
    support::assert_schema(&merged);
    assert_eq!(merged["run"]["users"], 12);
    assert_eq!(merged["run"]["merged_from"], serde_json::json!(["0/4", "1/4", "2/4", "3/4"]));
    let journeys = |r: &Value| r["journeys"]["signup-chat"]["count"].as_u64().unwrap();
    assert_eq!(journeys(&merged), segments.iter().map(journeys).sum::<u64>());
    assert_eq!(journeys(&merged), 24);
    let mut whole = Histogram::default();
    for r in &segments {
        whole.add(
            &Histogram::from_base64(r["journeys"]["signup-chat"]["histogram"].as_str().unwrap()).unwrap(),
        );
    }
    let j = &merged["journeys"]["signup-chat"];
    assert_eq!(
        (j["p50_us"].as_u64(), j["p99_us"].as_u64()),
        (Some(whole.quantile(0.5)), Some(whole.quantile(0.99)))
    );
    // The 10-user cohort exists only in the whole: judged again, met.
    assert!(merged["cohorts"]["10"]["completed_us"].as_u64().is_some(), "{}", merged["cohorts"]);
    assert_eq!(merged["verdict"]["exit_code"], 0);
    for file in ["report.md", "report.html", "junit.xml"] {
        assert!(merged_dir.join(file).is_file(), "{file}");
    }
    let in_windows: u64 = merged["timeline"]["windows"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|w| w["journeys"]["signup-chat"]["count"].as_u64())
        .sum();
    assert_eq!(in_windows, 24, "windows added across segments");

    // The same segment twice, or another profile's report: refused.
    let twice =
        Command::new(BIN).arg("merge").args([&folders[0], &folders[0]]).args(["-o", "x"]).output().unwrap();
    assert_eq!(twice.status.code(), Some(2));
    assert!(text(&twice.stderr).contains("segment 0/4 (started"), "{}", text(&twice.stderr));
    assert!(text(&twice.stderr).contains("is given twice"), "{}", text(&twice.stderr));
}

/// One short run of smoke (`--segment` when given), its run folder.
fn one_run(dir: &std::path::Path, segment: Option<&str>) -> std::path::PathBuf {
    let mut args = vec!["--profile", "smoke", "--users", "4", "--iterations", "1", "--quiet"];
    if let Some(s) = segment {
        args.extend(["--segment", s]);
    }
    let out = support::run(dir, &args);
    assert!(matches!(out.status.code(), Some(0 | 1)), "{}", text(&out.stderr));
    std::fs::read_dir(dir.join("reports")).unwrap().next().unwrap().unwrap().path()
}

/// `merge` adds up only what makes one run: the same report twice, a segment beside a whole
/// run, a split with segments missing are refused (one line, exit 2); `--allow-partial` merges
/// the segments there are into a PARTIAL verdict (exit 5); an `-o` folder holding files is kept
/// unless `--force`.
#[test]
fn merge_refuses_sets_that_are_not_one_whole_run() {
    let dirs: Vec<_> = (0..3).map(|_| tempfile::tempdir().unwrap()).collect();
    let first = one_run(dirs[0].path(), Some("0/2"));
    let second = one_run(dirs[1].path(), Some("1/2"));
    let whole = one_run(dirs[2].path(), None);
    let out_dir = dirs[0].path().join("merged");
    let merge = |inputs: &[&std::path::PathBuf], extra: &[&str]| merged_into(inputs, &out_dir, extra);
    for (inputs, needle) in [
        (vec![&whole, &whole], "the whole run started"),
        (vec![&first, &whole], "merge the segments of one run, or whole runs"),
        (vec![&first], "segments 1/2 of 2 are missing"),
    ] {
        let out = merge(&inputs, &[]);
        let stderr = text(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{inputs:?}: {stderr}");
        assert!(stderr.contains(needle) && stderr.trim_end().lines().count() == 1, "{inputs:?}: {stderr}");
        assert!(!out_dir.exists(), "a refused merge writes nothing");
    }
    // Two segments of two different common starts are two runs.
    let started = |folder: &std::path::Path, at: &str| {
        let mut r: Value =
            serde_json::from_str(&std::fs::read_to_string(folder.join("report.json")).unwrap()).unwrap();
        r["run"]["start_at"] = at.into();
        let path = folder.with_extension("started.json");
        std::fs::write(&path, r.to_string()).unwrap();
        path
    };
    let (a, b) = (started(&first, "2026-01-01T00:00:00.000Z"), started(&second, "2026-01-01T00:05:00.000Z"));
    let out = merge(&[&a, &b], &[]);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("are of different runs"), "{}", text(&out.stderr));
    // Segments a day apart share no second: each counts from its own start (no day of empty
    // windows in front of the later one).
    let mut r: Value =
        serde_json::from_str(&std::fs::read_to_string(second.join("report.json")).unwrap()).unwrap();
    r["run"]["started_at_ms"] = (r["run"]["started_at_ms"].as_u64().unwrap() + 86_400_000).into();
    let late = second.with_extension("late.json");
    std::fs::write(&late, r.to_string()).unwrap();
    let apart = dirs[1].path().join("apart");
    let out = merged_into(&[&first, &late], &apart, &["--quiet"]);
    assert!(matches!(out.status.code(), Some(0 | 1)), "{}", text(&out.stderr));
    let r: Value =
        serde_json::from_str(&std::fs::read_to_string(apart.join("report.json")).unwrap()).unwrap();
    assert!(r["timeline"]["windows"].as_array().unwrap().len() < 10, "{}", r["timeline"]["windows"]);
    assert_eq!(r["run"]["start_spread_ms"].as_u64().unwrap() / 1000 / 3600, 24);
    let partial = merge(&[&first], &["--allow-partial", "--quiet"]);
    assert_eq!(partial.status.code(), Some(5), "{}", text(&partial.stderr));
    let r: Value =
        serde_json::from_str(&std::fs::read_to_string(out_dir.join("report.json")).unwrap()).unwrap();
    support::assert_schema(&r);
    assert_eq!(
        (&r["verdict"]["outcome"], &r["run"]["missing_segments"]),
        (&"PARTIAL".into(), &serde_json::json!(["1/2"]))
    );
    let junit = std::fs::read_to_string(out_dir.join("junit.xml")).unwrap();
    assert!(
        junit.contains("every segment of the run merged") && junit.contains("PARTIAL: segments 1/2 missing")
    );
    // The folder now holds a report: not replaced without --force.
    let again = merge(&[&first, &second], &["--quiet"]);
    assert_eq!(again.status.code(), Some(2));
    assert!(text(&again.stderr).contains("already holds files"), "{}", text(&again.stderr));
    let forced = merge(&[&first, &second], &["--quiet", "--force"]);
    assert!(matches!(forced.status.code(), Some(0 | 1)), "{}", text(&forced.stderr));
    let r: Value =
        serde_json::from_str(&std::fs::read_to_string(out_dir.join("report.json")).unwrap()).unwrap();
    assert!(
        r["run"].get("missing_segments").is_none() && r["verdict"]["outcome"] != "PARTIAL",
        "{}",
        r["verdict"]
    );
}

#[test]
fn a_segment_without_users_and_a_bad_segment_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let out = support::run(dir.path(), &["--profile", "smoke", "--users", "2", "--segment", "0/4"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("has no user"), "{}", text(&out.stderr));
    let out = support::run(dir.path(), &["--profile", "smoke", "--segment", "4/4"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("0 <= I < N"), "{}", text(&out.stderr));
}

/// `--start-at`: the run checks its target, waits, and starts its users at the instant given
/// (the second the report says it started is that second), which the report keeps.
#[test]
fn a_segment_starts_its_users_at_the_common_start() {
    let dir = tempfile::tempdir().unwrap();
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs();
    let at =
        humantime::format_rfc3339_seconds(std::time::UNIX_EPOCH + std::time::Duration::from_secs(now + 2));
    let at = at.to_string();
    let out = support::run(
        dir.path(),
        &["--profile", "smoke", "--users", "2", "--iterations", "1", "--segment", "0/2", "--start-at", &at],
    );
    assert!(matches!(out.status.code(), Some(0 | 1)), "{}", text(&out.stderr));
    assert!(text(&out.stderr).contains("waiting"), "the wait is said: {}", text(&out.stderr));
    let folder = std::fs::read_dir(dir.path().join("reports")).unwrap().next().unwrap().unwrap().path();
    let r: Value =
        serde_json::from_str(&std::fs::read_to_string(folder.join("report.json")).unwrap()).unwrap();
    support::assert_schema(&r);
    assert_eq!(r["run"]["start_at"].as_str().unwrap().get(..19), at.get(..19), "{}", r["run"]);
    assert_eq!(r["run"]["started_at"].as_str(), Some(at.as_str()), "users started at the common start");
}

/// Two segments against one target, merged on the wall clock: given one `--start-at` they start
/// together and the merged first second holds both segments' first second of work; one of them
/// starting 2 s later (its own `--start-at`, the other none) shows there, 2 s on, with the
/// spread of the starts said. Segments of two different common starts are two runs: refused.
#[test]
fn segments_line_up_on_the_wall_clock() {
    let target = spawn_target();
    // Seconds from now, on the clock.
    let at = |secs: u64| {
        let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs();
        (now + secs).to_string()
    };
    let segments = |starts: [Option<String>; 2]| -> (Vec<Value>, Value, String) {
        let dir = tempfile::tempdir().unwrap();
        let children: Vec<_> = starts
            .iter()
            .enumerate()
            .map(|(i, start)| {
                let mut extra = vec!["--users", "4", "--run-time", "3s"];
                if let Some(start) = start {
                    extra.extend(["--start-at", start.as_str()]);
                }
                segment(&target, dir.path(), i, 2, &extra)
            })
            .collect();
        let folders = finished(children, dir.path());
        let read = |f: &std::path::Path| -> Value {
            serde_json::from_str(&std::fs::read_to_string(f.join("report.json")).unwrap()).unwrap()
        };
        let merged_dir = dir.path().join("merged");
        let out = merged_into(&folders, &merged_dir, &[]);
        assert!(matches!(out.status.code(), Some(0 | 1)), "{}", text(&out.stderr));
        (folders.iter().map(|f| read(f)).collect(), read(&merged_dir), text(&out.stdout))
    };
    let begun = |r: &Value, i: usize| r["timeline"]["windows"][i]["begun"].as_u64().unwrap_or(0);

    let (parts, merged, summary) = segments([Some(at(2)), Some(at(2))]);
    assert!(begun(&parts[0], 0) > 0 && begun(&parts[1], 0) > 0);
    assert_eq!(begun(&merged, 0), begun(&parts[0], 0) + begun(&parts[1], 0), "one second, both segments");
    let spread = merged["run"]["start_spread_ms"].as_u64().unwrap();
    assert!(spread < 500, "started together: {spread} ms apart");
    assert!(summary.contains("merged from 2 reports started within"), "{summary}");

    // Segment 0 starts at once, segment 1 two seconds later.
    let (parts, merged, _) = segments([None, Some(at(3))]);
    let spread = merged["run"]["start_spread_ms"].as_u64().unwrap();
    assert!((1000..5000).contains(&spread), "{spread} ms");
    let late = (spread as f64 / 1000.0).round() as usize;
    assert_eq!(begun(&merged, 0), begun(&parts[0], 0), "the first second is segment 0's alone");
    assert_eq!(
        begun(&merged, late),
        begun(&parts[0], late) + begun(&parts[1], 0),
        "segment 1 from {late} s on"
    );
}
