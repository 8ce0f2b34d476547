//! The library's entry point driven in-process, as the binary drives it (oha's tests do the
//! same with `oha::run`): a bounded run against the embedded target returns its outcome and the
//! run folder, and bad input is an error before anything runs.

use clap::Parser;
use netra_load::cli::Cli;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_in_process_returns_its_outcome_and_run_folder_and_bad_input_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let reports = dir.path().to_str().unwrap();
    let args = [
        "netra-load",
        "--profile",
        "smoke",
        "--quiet",
        "--no-progress",
        "--seed",
        "3",
        "--report-dir",
        reports,
    ];
    let outcome = netra_load::run(Cli::parse_from(args)).await.expect("the run completes");
    assert_eq!(outcome.exit_code, netra_load::exit::OK);
    let folder = outcome.run_folder.expect("a run writes its folder");
    assert!(folder.starts_with(dir.path()), "{folder:?}");
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(folder.join("report.json")).unwrap()).unwrap();
    assert_eq!(report["journeys"]["signup-chat"]["count"], 10, "smoke: 10 users, one journey each");
    assert_eq!(report["verdict"]["exit_code"], 0);
    for file in ["report.md", "report.html", "junit.xml"] {
        assert!(folder.join(file).is_file(), "{file}");
    }

    let bad = ["netra-load", "--profile", "smok", "--quiet", "--report-dir", reports];
    let e = netra_load::run(Cli::parse_from(bad)).await.expect_err("no such profile");
    assert!(format!("{e:#}").contains("did you mean `smoke`"), "{e:#}");
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1, "bad input writes no report");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_timed_run_in_one_process_runs_too() {
    // A timed run stops Goose by its killswitch at the run time's end: the next run starts
    // clean, not stopped at once.
    let dir = tempfile::tempdir().unwrap();
    for n in 1..=2 {
        let reports = dir.path().join(format!("run{n}"));
        let args = ["netra-load", "--profile", "smoke", "-u", "2", "-t", "2s", "--quiet", "--no-progress"];
        let cli = Cli::parse_from(args.iter().copied().chain(["--report-dir", reports.to_str().unwrap()]));
        let outcome = netra_load::run(cli).await.expect("the run completes");
        let folder = outcome.run_folder.expect("a run writes its folder");
        let report: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(folder.join("report.json")).unwrap()).unwrap();
        let journeys = report["journeys"]["signup-chat"]["count"].as_u64().unwrap_or(0);
        assert!(journeys > 2, "run {n}: {journeys} journeys, exit {}", outcome.exit_code);
        assert_eq!(report["run"]["ended_by"], "run_time", "run {n}");
    }
}
