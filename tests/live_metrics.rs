//! `--metrics-addr`: the live Prometheus exposition of a bounded run against the embedded target,
//! scraped with plain HTTP while the run lasts, then by a real Prometheus server (Debian's
//! `prometheus`, on loopback, started and stopped here). Without the binary that test says it
//! is skipped, unless `NETRA_LOAD_REQUIRE_PROMETHEUS=1` (CI) makes that a failure.

mod support;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use support::{BIN, report, text};

/// A short wait between polls (never a wait for readiness by itself).
const POLL: Duration = Duration::from_millis(100);

/// Journeys completed and failed in a report (what `netra_load_journeys_total` counts).
fn journeys_in(report: &serde_json::Value) -> u64 {
    let journeys = report["journeys"].as_object().unwrap().values();
    journeys.map(|j| j["count"].as_u64().unwrap() + j["failures"].as_u64().unwrap()).sum()
}

/// A `netra-load run` child with its stderr read by a thread, killed on drop.
struct Run {
    child: Child,
    stderr: mpsc::Receiver<String>,
    seen: Vec<String>,
}

impl Drop for Run {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Run {
    fn start(dir: &Path, args: &[&str]) -> Run {
        let report_dir = dir.join("reports");
        let mut child = Command::new(BIN)
            .args([
                "run",
                "--profile",
                "smoke",
                "--no-progress",
                "--report-dir",
                report_dir.to_str().unwrap(),
            ])
            .args(args)
            .env_remove("NETRA_JWT_SECRET")
            .current_dir(dir)
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("the binary runs");
        let stderr = child.stderr.take().unwrap();
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                let _ = tx.send(line);
            }
        });
        Run { child, stderr: rx, seen: Vec::new() }
    }

    /// The address of the `metrics: serving ... at http://ADDR/metrics` line.
    fn metrics_addr(&mut self) -> SocketAddr {
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            let Ok(line) = self.stderr.recv_timeout(POLL) else { continue };
            self.seen.push(line.clone());
            if let Some(url) = line.strip_prefix("metrics: serving Prometheus metrics at http://") {
                return url.trim_end_matches("/metrics").parse().expect("a socket address");
            }
        }
        panic!("no metrics address printed; stderr: {:?}", self.seen);
    }

    /// Waits (bounded) for the run to end; its exit code.
    fn wait(&mut self, within: Duration) -> i32 {
        let deadline = Instant::now() + within;
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                self.seen.extend(self.stderr.try_iter());
                return status.code().unwrap_or(-1);
            }
            assert!(Instant::now() < deadline, "the run did not end within {within:?}");
            std::thread::sleep(POLL);
        }
    }

    fn running(&mut self) -> bool {
        self.child.try_wait().unwrap().is_none()
    }
}

/// One HTTP/1.0 GET (no chunked answers, the connection closes): status, headers, body.
fn get(addr: SocketAddr, path: &str) -> Option<(u16, String, String)> {
    let mut stream = TcpStream::connect_timeout(&addr, Duration::from_secs(2)).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    write!(stream, "GET {path} HTTP/1.0\r\nHost: {addr}\r\n\r\n").ok()?;
    let mut answer = String::new();
    stream.read_to_string(&mut answer).ok()?;
    let (head, body) = answer.split_once("\r\n\r\n")?;
    let status = head.split_whitespace().nth(1)?.parse().ok()?;
    Some((status, head.to_lowercase(), body.to_owned()))
}

/// The families every exposition has once a journey completed (`netra_load_errors` appears with
/// the first failure).
const FAMILIES: [&str; 7] = [
    "netra_load_journeys",
    "netra_load_steps",
    "netra_load_step_duration_seconds",
    "netra_load_journey_duration_seconds",
    "netra_load_active_users",
    "netra_load_findings",
    "netra_load_checks_exercised",
];

/// Checks the exposition's shape (every sample `name{labels} value`, under a `# TYPE`, ending
/// with `# EOF`) and returns its families (`# TYPE` lines) and the sum of `family`'s `_total`
/// samples.
fn parse(exposition: &str, family: &str) -> (Vec<String>, f64) {
    assert!(exposition.ends_with("# EOF\n"), "no EOF: {exposition}");
    let mut typed = Vec::new();
    let mut total = 0.0;
    for line in exposition.lines() {
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            typed.push(rest.split_whitespace().next().unwrap().to_owned());
            continue;
        }
        if line.starts_with('#') {
            continue;
        }
        let (series, value) = line.rsplit_once(' ').unwrap_or_else(|| panic!("no value: {line}"));
        let value: f64 = value.parse().unwrap_or_else(|_| panic!("not a number: {line}"));
        let name = series.split('{').next().unwrap();
        assert!(name.starts_with("netra_load_"), "{line}");
        assert!(typed.iter().any(|t| name.starts_with(t.as_str())), "a sample before its TYPE: {line}");
        if series.contains('{') {
            assert!(series.ends_with('}'), "{line}");
        }
        if name == format!("{family}_total") {
            total += value;
        }
    }
    (typed, total)
}

#[test]
fn the_exposition_grows_during_the_run_and_stops_with_it() {
    let dir = tempfile::tempdir().unwrap();
    let mut run = Run::start(dir.path(), &["-u", "2", "-t", "3s", "--metrics-addr", "127.0.0.1:0"]);
    let addr = run.metrics_addr();
    assert_ne!(addr.port(), 0, "the real port is printed");
    let mut scrapes: Vec<(f64, f64)> = Vec::new();
    let mut families = Vec::new();
    let mut active = 0.0_f64;
    // Scrape until two scrapes show journeys completed and growing, while the run lasts.
    while run.running() {
        if let Some((status, head, body)) = get(addr, "/metrics") {
            assert_eq!(status, 200, "{head}");
            assert!(
                head.contains("content-type: application/openmetrics-text; version=1.0.0; charset=utf-8"),
                "{head}"
            );
            let (typed, journeys) = parse(&body, "netra_load_journeys");
            scrapes.push((journeys, parse(&body, "netra_load_checks_exercised").1));
            families = typed;
            let gauge = body.lines().find_map(|l| l.strip_prefix("netra_load_active_users "));
            active = active.max(gauge.unwrap().parse().unwrap());
            let grew = scrapes.windows(2).any(|w| w[0].0 > 0.0 && w[1].0 > w[0].0);
            if grew && active > 0.0 {
                break;
            }
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    let last = scrapes.last().copied().unwrap_or_default();
    assert!(
        scrapes.windows(2).any(|w| w[0].0 > 0.0 && w[1].0 > w[0].0),
        "journeys did not grow: {scrapes:?}"
    );
    assert!(scrapes.windows(2).all(|w| w[1].0 >= w[0].0), "a counter went down: {scrapes:?}");
    assert!(last.1 > 0.0, "no check exercised: {scrapes:?}");
    for family in FAMILIES {
        assert!(families.iter().any(|t| t == family), "no {family} in {families:?}");
    }
    assert_eq!(active, 2.0, "both users showed as active");

    assert_eq!(run.wait(Duration::from_secs(60)), 0, "stderr: {:?}", run.seen);
    // The report counts at least what was scraped before its end.
    let report = report(dir.path());
    let done = journeys_in(&report);
    assert!(done as f64 >= last.0, "report {done} < scraped {}", last.0);
    assert!(
        TcpStream::connect_timeout(&addr, Duration::from_secs(1)).is_err(),
        "the server stopped with the run"
    );
}

#[test]
fn an_address_that_cannot_be_served_is_refused_before_any_user_starts() {
    let dir = tempfile::tempdir().unwrap();
    let taken = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap().to_string();
    let out = support::run(
        dir.path(),
        &["run", "--profile", "smoke", "-u", "1", "-t", "1s", "--metrics-addr", &addr],
    );
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert_eq!(err.trim().lines().count(), 1, "one line: {err}");
    assert!(err.starts_with(&format!("error: cannot serve metrics on --metrics-addr {addr}")), "{err}");
    assert!(!dir.path().join("reports").exists(), "no run happened");

    let out = support::run(dir.path(), &["run", "--profile", "smoke", "--metrics-addr", "localhost"]);
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert_eq!(err.trim().lines().count(), 1, "one line: {err}");
    assert!(err.contains("--metrics-addr") && err.contains("localhost"), "{err}");
}

/// `prometheus` on PATH, if installed.
fn prometheus_binary() -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path).map(|dir| dir.join("prometheus")).find(|p| p.is_file())
}

/// A Prometheus server, killed on drop.
struct Prometheus {
    child: Child,
    addr: SocketAddr,
    log: PathBuf,
}

impl Drop for Prometheus {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Prometheus {
    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// An instant query's result: the first sample's value, if any.
    fn query(&self, promql: &str) -> Option<f64> {
        let (status, _, body) = get(self.addr, &format!("/api/v1/query?query={}", percent(promql)))?;
        if status != 200 {
            return None;
        }
        let answer: serde_json::Value = serde_json::from_str(&body).ok()?;
        let value = &answer["data"]["result"][0]["value"][1];
        value.as_str()?.parse().ok()
    }

    /// Whether Prometheus takes `promql` (an empty result is fine); its error otherwise.
    fn check(&self, promql: &str) -> Result<(), String> {
        let (status, _, body) = get(self.addr, &format!("/api/v1/query?query={}", percent(promql)))
            .ok_or_else(|| "no answer".to_owned())?;
        let answer: serde_json::Value = serde_json::from_str(&body).map_err(|e| e.to_string())?;
        match (status, answer["status"].as_str()) {
            (200, Some("success")) => Ok(()),
            _ => Err(format!("{status}: {body}")),
        }
    }
}

fn percent(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// A free loopback port (bound, then let go).
fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

#[test]
fn a_real_prometheus_scrapes_the_run() {
    let Some(binary) = prometheus_binary() else {
        if std::env::var("NETRA_LOAD_REQUIRE_PROMETHEUS").is_ok_and(|v| v == "1") {
            panic!(
                "prometheus is not installed but NETRA_LOAD_REQUIRE_PROMETHEUS=1: apt-get install prometheus"
            );
        }
        eprintln!(
            "skipped: prometheus not installed (Debian: apt-get install prometheus; NETRA_LOAD_REQUIRE_PROMETHEUS=1 makes this a failure)"
        );
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    // Prometheus starts first (its start-up overlaps the run's), scraping where the run will serve.
    let metrics_addr: SocketAddr = ([127, 0, 0, 1], free_port()).into();
    let config = dir.path().join("prometheus.yml");
    std::fs::write(
        &config,
        format!(
            "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\nscrape_configs:\n  - job_name: netra-load\n    static_configs:\n      - targets: ['{metrics_addr}']\n"
        ),
    )
    .unwrap();
    let addr: SocketAddr = ([127, 0, 0, 1], free_port()).into();
    let log = dir.path().join("prometheus.log");
    let log_file = std::fs::File::create(&log).unwrap();
    let child = Command::new(binary)
        .arg(format!("--config.file={}", config.display()))
        .arg(format!("--storage.tsdb.path={}", dir.path().join("tsdb").display()))
        .arg(format!("--web.listen-address={addr}"))
        .stdout(log_file.try_clone().unwrap())
        .stderr(log_file)
        .spawn()
        .expect("prometheus starts");
    let prometheus = Prometheus { child, addr, log };

    let mut run =
        Run::start(dir.path(), &["-u", "2", "-t", "6s", "--metrics-addr", &metrics_addr.to_string()]);
    assert_eq!(run.metrics_addr(), metrics_addr);
    // The journeys Prometheus saw, at the most (a range query stays answerable after the run's
    // end, when the target's series go stale).
    let journeys = "sum(max_over_time(netra_load_journeys_total[5m]))";
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut seen = None;
    while Instant::now() < deadline {
        seen = prometheus.query(journeys).filter(|v| *v > 0.0);
        if seen.is_some() {
            break;
        }
        std::thread::sleep(Duration::from_millis(250));
    }
    let seen = seen.unwrap_or_else(|| panic!("prometheus saw no journeys; its log:\n{}", prometheus.log()));
    eprintln!("prometheus: {journeys} = {seen}");
    assert_eq!(
        prometheus.query("max_over_time(up{job=\"netra-load\"}[5m])"),
        Some(1.0),
        "{}",
        prometheus.log()
    );
    let steps = prometheus.query("sum(max_over_time(netra_load_step_duration_seconds_count[5m]))");
    assert!(steps.is_some_and(|n| n > 0.0), "step histograms: {steps:?}");

    // The dashboard of docs/ asks what Prometheus can answer.
    let dashboard: serde_json::Value =
        serde_json::from_str(include_str!("../docs/grafana-dashboard.json")).expect("the dashboard is JSON");
    let panels = dashboard["panels"].as_array().unwrap();
    let queries: Vec<&str> = panels
        .iter()
        .flat_map(|p| p["targets"].as_array().unwrap())
        .map(|t| t["expr"].as_str().unwrap())
        .collect();
    assert!(queries.len() >= 6, "{queries:?}");
    for query in queries {
        let query = query.replace("$__rate_interval", "5s");
        prometheus.check(&query).unwrap_or_else(|e| panic!("dashboard query `{query}`: {e}"));
    }

    assert_eq!(run.wait(Duration::from_secs(60)), 0, "stderr: {:?}", run.seen);
    let report = report(dir.path());
    let done = journeys_in(&report);
    assert!(seen > 0.0 && seen <= done as f64, "prometheus saw {seen}, the report counts {done}");
}
