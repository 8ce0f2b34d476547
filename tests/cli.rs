//! The `netra-load` binary: `target` serves until Ctrl-C on the addresses it prints, never shows
//! the secret, and refuses bad values and busy ports with one line and exit 2.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Output, Stdio};
use std::sync::mpsc;
use std::time::Duration;

const BIN: &str = env!("CARGO_BIN_EXE_netra-load");
const WAIT: Duration = Duration::from_secs(20);

fn run(args: &[&str]) -> Output {
    Command::new(BIN).args(args).env_remove("NETRA_JWT_SECRET").output().expect("the binary runs")
}

/// Asserts exit 2 with exactly one line on stderr containing every `needle`.
fn refused(args: &[&str], needles: &[&str]) {
    let out = run(args);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
    assert_eq!(stderr.trim_end().lines().count(), 1, "one line for {args:?}, got: {stderr}");
    for needle in needles {
        assert!(stderr.contains(needle), "{args:?}: `{needle}` not in: {stderr}");
    }
}

#[test]
fn bad_values_get_one_line_and_exit_2() {
    refused(&["target", "--burst", "0"], &["--burst"]);
    refused(&["target", "--rate-limit", "60"], &["60", "e.g. 60/min"]);
    refused(&["target", "--fault", "idorr"], &["unknown fault `idorr`", "list-leak"]);
    refused(&["target", "--fault", "latency"], &["latency=50ms"]);
    refused(&["target", "--access-ttl", "soon"], &["soon"]);
    refused(&["target", "--auth-addr", "localhost"], &["--auth-addr"]);
    refused(&["target", "--fault", "no-rate-limit", "--fault", "shared-rate-limit"], &["contradict"]);
    refused(&["target", "--jwt-secret", ""], &["empty"]);
    refused(&["target", "--no-such-flag"], &["--no-such-flag"]);
}

#[test]
fn a_port_in_use_is_named_with_exit_2() {
    let busy = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = busy.local_addr().unwrap().to_string();
    refused(&["target", "--auth-addr", &addr, "--backend-addr", "127.0.0.1:0"], &[&addr, "--auth-addr"]);
    refused(&["target", "--auth-addr", "127.0.0.1:0", "--backend-addr", &addr], &[&addr, "--backend-addr"]);
}

/// A running `netra-load target`; killed and reaped on drop, so a failing test leaves no process.
struct Served(Child);

impl Drop for Served {
    fn drop(&mut self) {
        if self.0.try_wait().ok().flatten().is_none() {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
}

/// Starts `netra-load target` on port 0 and reads stdout up to "serving until Ctrl-C".
fn serve(extra: &[&str], secret_env: Option<&str>) -> (Served, Vec<String>) {
    let mut cmd = Command::new(BIN);
    cmd.args(["target", "--auth-addr", "127.0.0.1:0", "--backend-addr", "127.0.0.1:0"]).args(extra);
    cmd.env_remove("NETRA_JWT_SECRET").stdout(Stdio::piped()).stderr(Stdio::piped());
    if let Some(secret) = secret_env {
        cmd.env("NETRA_JWT_SECRET", secret);
    }
    let mut child = Served(cmd.spawn().expect("the binary starts"));
    let stdout = child.0.stdout.take().unwrap();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let mut lines = Vec::new();
    loop {
        let line = rx.recv_timeout(WAIT).expect("the target prints its banner in time");
        let done = line.contains("serving until Ctrl-C");
        lines.push(line);
        if done {
            return (child, lines);
        }
    }
}

fn url(lines: &[String], label: &str) -> String {
    let line =
        lines.iter().find(|l| l.starts_with(label)).unwrap_or_else(|| panic!("no `{label}` in {lines:?}"));
    line.split_whitespace().find(|w| w.starts_with("http://")).unwrap().to_owned()
}

fn interrupt_and_wait(mut served: Served) -> std::process::ExitStatus {
    let child = &mut served.0;
    let pid = child.id().to_string();
    assert!(Command::new("kill").args(["-INT", &pid]).status().unwrap().success());
    let deadline = std::time::Instant::now() + WAIT;
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status;
        }
        assert!(std::time::Instant::now() < deadline, "the target did not stop on Ctrl-C");
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[tokio::test]
async fn target_serves_both_services_until_ctrl_c_and_never_prints_the_secret() {
    let secret = "flag-secret-value-123";
    let (child, lines) = serve(&["--jwt-secret", secret, "--fault", "latency=1ms"], None);
    let banner = lines.join("\n");
    assert!(!banner.contains(secret), "{banner}");
    assert!(banner.contains("faults:       latency=1ms"), "{banner}");
    let http = reqwest::Client::builder().no_proxy().build().unwrap();
    let (auth, backend) = (url(&lines, "auth service:"), url(&lines, "backend:"));
    for (base, service) in [(&auth, "auth-service"), (&backend, "netra-backend")] {
        let body: serde_json::Value =
            http.get(format!("{base}/health")).send().await.unwrap().json().await.unwrap();
        assert_eq!(body["service"], service);
    }
    // Tokens are signed with the given secret.
    let reg = serde_json::json!({"email": "cli@example.com", "password": "long-enough"});
    let pair: serde_json::Value =
        http.post(format!("{auth}/auth/register")).json(&reg).send().await.unwrap().json().await.unwrap();
    let key = jsonwebtoken::DecodingKey::from_secret(secret.as_bytes());
    let mut validation = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::HS256);
    validation.set_issuer(&["netra-auth-service"]);
    let token = pair["access_token"].as_str().unwrap();
    assert!(jsonwebtoken::decode::<serde_json::Value>(token, &key, &validation).is_ok());

    let status = interrupt_and_wait(child);
    assert_eq!(status.code(), Some(0));
}

#[test]
fn the_secret_comes_from_the_environment_or_is_random() {
    let (child, lines) = serve(&[], Some("env-secret-value-456"));
    let banner = lines.join("\n");
    assert!(
        banner.contains("jwt secret:   set (hidden)") && !banner.contains("env-secret-value-456"),
        "{banner}"
    );
    assert_eq!(interrupt_and_wait(child).code(), Some(0));
    let (child, lines) = serve(&[], None);
    assert!(lines.iter().any(|l| l == "jwt secret:   random"), "{lines:?}");
    interrupt_and_wait(child);
}

#[test]
fn help_lists_the_target_flags_without_secret_values() {
    let out =
        Command::new(BIN).args(["target", "--help"]).env("NETRA_JWT_SECRET", "help-secret").output().unwrap();
    assert_eq!(out.status.code(), Some(0));
    let help = String::from_utf8_lossy(&out.stdout);
    for flag in [
        "--auth-addr",
        "--backend-addr",
        "--jwt-secret",
        "--access-ttl",
        "--refresh-ttl",
        "--rate-limit",
        "--burst",
        "--agent-latency",
        "--fault",
    ] {
        assert!(help.contains(flag), "{flag} missing from help");
    }
    assert!(!help.contains("help-secret"));
}
