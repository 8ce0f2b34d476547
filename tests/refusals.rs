//! Bad input is refused before the load (issue 19): one line on stderr naming the flag or key and
//! its value, exit 2, nothing on stdout (no summary: no user started), and no report folder
//! written. And `netra-load report RUN` writes into the run folder (or `-o FILE`) and says where,
//! never HTML to a terminal.

mod support;

use std::os::fd::FromRawFd;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use support::{BIN, text};

fn netra(dir: &Path, args: &[&str]) -> Output {
    Command::new(BIN).args(args).env_remove("NETRA_JWT_SECRET").current_dir(dir).output().unwrap()
}

/// What is in `dir`, by name.
fn listing(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

/// Asserts exit 2, one line on stderr with every needle, nothing on stdout, and nothing new in
/// `dir` (where the run's `--report-dir` points unless `args` gives one).
fn refused_in(dir: &Path, args: &[&str], needles: &[&str]) {
    let before = listing(dir);
    let mut all: Vec<&str> = args.to_vec();
    let reports = dir.join("reports");
    let is_run = !["merge", "report", "compare", "target"].contains(&args[0]);
    if is_run {
        all.push("--no-progress");
        if !args.contains(&"--report-dir") {
            all.extend(["--report-dir", reports.to_str().unwrap()]);
        }
    }
    let out = netra(dir, &all);
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
    assert_eq!(stderr.trim_end().lines().count(), 1, "one line for {args:?}, got: {stderr}");
    for needle in needles {
        assert!(stderr.contains(needle), "{args:?}: `{needle}` not in: {stderr}");
    }
    assert_eq!(text(&out.stdout), "", "{args:?}: no user started, no summary");
    assert_eq!(listing(dir), before, "{args:?}: nothing written");
}

fn refused(args: &[&str], needles: &[&str]) {
    let dir = tempfile::tempdir().unwrap();
    refused_in(dir.path(), args, needles);
}

#[test]
fn a_report_dir_under_a_file_is_refused_before_the_load() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("afile"), "").unwrap();
    let under = dir.path().join("afile").join("reports");
    let under = under.to_str().unwrap();
    refused_in(dir.path(), &["-u", "1", "-t", "2s", "--report-dir", under], &["--report-dir", under]);
    // A folder still to be made is made and written to, then removed: nothing is left behind.
    let deep = dir.path().join("new").join("reports");
    // A port that was free a moment ago: nothing answers there.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap();
    let auth_url = format!("http://{closed}");
    refused_in(
        dir.path(),
        &["--profile", "token-refresh", "--report-dir", deep.to_str().unwrap(), "--auth-url", &auth_url],
        &["cannot reach the auth service"],
    );
}

#[test]
fn a_read_only_report_dir_is_refused_before_the_load() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let ro = dir.path().join("ro");
    std::fs::create_dir(&ro).unwrap();
    std::fs::set_permissions(&ro, std::fs::Permissions::from_mode(0o555)).unwrap();
    if std::fs::write(ro.join("probe"), "").is_ok() {
        // root writes anyway: the folder is writable for this user, nothing to refuse.
        eprintln!("skipped: a read-only folder is writable for this user (root)");
        return;
    }
    refused_in(dir.path(), &["-u", "1", "-t", "2s", "--report-dir", ro.to_str().unwrap()], &["--report-dir"]);
    assert!(listing(&ro).is_empty());
}

#[test]
fn durations_beyond_their_limits_are_refused_with_the_flag_value_and_limit() {
    refused(&["-t", "1000y"], &["--run-time", "1000y", "7d"]);
    refused(&["target", "--access-ttl", "100y"], &["--access-ttl", "100y", "30d"]);
    refused(&["target", "--refresh-ttl", "2y"], &["--refresh-ttl", "2y", "365d"]);
    refused(&["target", "--agent-latency", "2h"], &["--agent-latency", "2h", "1m"]);
    refused(&["target", "--fault", "latency=2d"], &["--fault", "latency=2d", "1d"]);
}

/// A profile with one persona and `extra` on top.
fn profile(dir: &Path, extra: &str) -> PathBuf {
    let path = dir.join("p.toml");
    std::fs::write(&path, format!("{extra}\n[[persona]]\nname = \"a\"\njourney = \"signup-chat\"\n"))
        .unwrap();
    path
}

#[test]
fn profile_durations_and_intervals_are_bounded() {
    for (extra, needles) in [
        ("[run]\nrun_time = \"1000y\"", &["[run] run_time", "1000y", "7d"]),
        ("[isolation]\nprobe_every = \"0ms\"", &["[isolation] probe_every", "0ms", "10ms"]),
        ("[probes]\njwt_every = \"1ms\"", &["[probes] jwt_every", "1ms", "1s"]),
        ("[target]\naccess_ttl = \"0s\"", &["access_ttl", "0s", "1s"]),
        ("[target]\nagent_latency = \"1h\"", &["agent_latency", "1h", "1m"]),
        (
            "[api]\nprovisioning = \"mint\"\n[api.mint]\nlifetime = \"1000d\"",
            &["[api.mint] lifetime", "1000d", "30d"],
        ),
    ] {
        let dir = tempfile::tempdir().unwrap();
        let path = profile(dir.path(), extra);
        refused_in(dir.path(), &["--profile", path.to_str().unwrap()], needles);
    }
}

#[test]
fn ports_outside_1_to_65535_are_refused_naming_the_url() {
    let bad = "http://127.0.0.1:99999";
    refused(&["--auth-url", bad], &["--auth-url", bad, "1 to 65535"]);
    refused(
        &["--auth-url", "http://127.0.0.1:1", "--backend-url", bad],
        &["--backend-url", bad, "1 to 65535"],
    );
    refused(&["--auth-url", "http://127.0.0.1:0"], &["--auth-url", "http://127.0.0.1:0", "port 0"]);
    refused(&["--metrics-addr", "127.0.0.1:99999"], &["--metrics-addr", "127.0.0.1:99999"]);
    let dir = tempfile::tempdir().unwrap();
    let path = profile(dir.path(), &format!("[api]\nauth_url = \"{bad}\""));
    refused_in(dir.path(), &["--profile", path.to_str().unwrap()], &["[api] auth_url", bad, "1 to 65535"]);
}

#[test]
fn faults_the_embedded_target_cannot_start_with_are_refused_with_their_range() {
    refused(&["--target-fault", "latency=6s"], &["--target-fault", "latency=6s", "0 to 4s"]);
    refused(&["--target-fault", "ws-handshake=20s"], &["ws-handshake=20s", "0 to 5s"]);
    refused(&["--target-fault", "hang=0s"], &["hang=0s", "1s or more"]);
    refused(&["--target-fault", "stall=5s/10s"], &["stall=5s/10s", "up to 4s"]);
    refused(
        &["--target-fault", "latency=3s", "--target-fault", "stall=2s/8s"],
        &["latency and stall", "0 to 4s"],
    );
}

#[test]
fn an_embedded_target_that_fails_its_start_up_check_is_named_not_its_url() {
    // s1 has no register endpoint: the preflight fails on the embedded target's own URL.
    let needles = ["the embedded target failed its start-up check", "--provisioning dev-login"];
    refused(&["--profile", "netra-s1", "--provisioning", "register"], &needles);
}

#[test]
fn a_missing_argument_is_named_on_the_one_line() {
    refused(&["merge", "x"], &["required", "--output <DIR>"]);
    refused(&["merge"], &["--output <DIR>", "<REPORT>"]);
    refused(&["report"], &["<RUN_DIR_OR_JSON>"]);
}

#[test]
fn an_invalid_choice_lists_the_valid_values_on_the_one_line() {
    refused(&["report", "x", "--format", "pdf"], &["pdf", "html, md, junit"]);
    refused(&["--provisioning", "bogus"], &["bogus", "register, login, dev-login, mint"]);
}

#[test]
fn the_jwt_secret_flag_recommends_the_environment() {
    for command in ["run", "target"] {
        let out = Command::new(BIN).args([command, "--help"]).output().unwrap();
        let help = text(&out.stdout);
        let at = help.find("--jwt-secret").expect("--jwt-secret in the help");
        let entry: Vec<&str> = help[at..(at + 400).min(help.len())].split_whitespace().collect();
        let entry = entry.join(" ");
        assert!(
            entry.contains("Prefer the environment variable NETRA_JWT_SECRET") && entry.contains("`ps`"),
            "{entry}"
        );
    }
}

/// A finished run's folder under `dir/reports`: one user, one journey.
fn one_run(dir: &Path) -> PathBuf {
    let out = support::run(dir, &["--profile", "smoke", "--users", "1", "--iterations", "1", "--quiet"]);
    assert!(matches!(out.status.code(), Some(0 | 1 | 4)), "{}", text(&out.stderr));
    support::run_folder(dir)
}

/// A pseudo-terminal: the master (kept open while the slave is used) and the slave.
fn terminal() -> Option<(std::fs::File, std::fs::File)> {
    // SAFETY: plain libc calls on a descriptor this function owns; the name buffer is ours.
    unsafe {
        let master = libc::posix_openpt(libc::O_RDWR | libc::O_NOCTTY);
        if master < 0 {
            return None;
        }
        let master_file = std::fs::File::from_raw_fd(master);
        if libc::grantpt(master) != 0 || libc::unlockpt(master) != 0 {
            return None;
        }
        let mut name = [0 as libc::c_char; 128];
        if libc::ptsname_r(master, name.as_mut_ptr(), name.len()) != 0 {
            return None;
        }
        let path = std::ffi::CStr::from_ptr(name.as_ptr()).to_str().ok()?.to_owned();
        use std::os::unix::fs::OpenOptionsExt;
        let slave = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .custom_flags(libc::O_NOCTTY)
            .open(path)
            .ok()?;
        Some((master_file, slave))
    }
}

#[test]
fn report_writes_into_the_run_folder_or_the_file_and_says_where() {
    let dir = tempfile::tempdir().unwrap();
    let folder = one_run(dir.path());
    let written = |name: &str| std::fs::read(folder.join(name)).unwrap();
    let (html, md) = (written("report.html"), written("report.md"));
    std::fs::remove_file(folder.join("report.html")).unwrap();
    std::fs::remove_file(folder.join("report.md")).unwrap();

    // A run folder: its report.html, one line on stdout saying where.
    let out = netra(dir.path(), &["report", folder.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout), format!("wrote {}\n", folder.join("report.html").display()));
    assert_eq!(written("report.html"), html);
    // A report.json: its folder.
    let json = folder.join("report.json");
    let out = netra(dir.path(), &["report", json.to_str().unwrap(), "--format", "md"]);
    assert_eq!(text(&out.stdout), format!("wrote {}\n", folder.join("report.md").display()));
    assert_eq!(written("report.md"), md);
    // -o FILE.
    let file = dir.path().join("ci.xml");
    let out = netra(
        dir.path(),
        &["report", json.to_str().unwrap(), "--format", "junit", "-o", file.to_str().unwrap()],
    );
    assert_eq!(text(&out.stdout), format!("wrote {}\n", file.display()));
    assert_eq!(std::fs::read(&file).unwrap(), written("junit.xml"));
    // -o - to a pipe: the page itself.
    let out = netra(dir.path(), &["report", folder.to_str().unwrap(), "-o", "-"]);
    assert_eq!(out.stdout, html);

    // A run folder that cannot take the file: named, with what to try.
    std::fs::remove_file(folder.join("report.md")).unwrap();
    std::fs::create_dir(folder.join("report.md")).unwrap();
    let out = netra(dir.path(), &["report", folder.to_str().unwrap(), "--format", "md"]);
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("cannot write") && stderr.contains("-o FILE"), "{stderr}");
    assert_eq!(stderr.trim_end().lines().count(), 1, "{stderr}");

    // -o - to a terminal: refused, HTML never goes there.
    let Some((_master, slave)) = terminal() else {
        eprintln!("skipped the terminal case: no pseudo-terminal here");
        return;
    };
    let out = Command::new(BIN)
        .args(["report", folder.to_str().unwrap(), "-o", "-"])
        .stdout(slave)
        .output()
        .unwrap();
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert_eq!(stderr.trim_end().lines().count(), 1, "{stderr}");
    assert!(stderr.contains("terminal") && stderr.contains("-o report.html"), "{stderr}");
}

/// `--start-at` takes a time to come (a few seconds late at most) within a day, in RFC 3339 or
/// epoch seconds.
#[test]
fn a_common_start_in_the_past_or_far_ahead_or_not_a_time_is_refused() {
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs();
    let ahead = (now + 3 * 24 * 3600).to_string();
    for (at, needle) in [
        ("1", "ago: a common start must be in the future"),
        ("2020-01-01T00:00:00Z", "ago: a common start must be in the future"),
        (ahead.as_str(), "more than 1day ahead"),
        ("soon", "is not a time"),
    ] {
        refused(&["-u", "1", "-t", "2s", "--start-at", at], &["--start-at", needle]);
    }
}
