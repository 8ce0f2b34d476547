//! Memory per simulated user must not grow: users holding a WebSocket against a standalone
//! target, 100 then 1000 of them; the generator's peak RSS (from its report) at 1000 may grow
//! by at most a quarter of the average per-user memory at 100 for every further user. (A
//! ratio, never an absolute size: measured sizes are in docs/performance.md.)

mod support;

use support::{report, run, spawn_target, text};

fn peak_kib(users: &str, target: &support::Target) -> f64 {
    let dir = tempfile::tempdir().unwrap();
    let args = [
        "--profile",
        concat!(env!("CARGO_MANIFEST_DIR"), "/bench/idle.toml"),
        "--users",
        users,
        "--run-time",
        "3s",
    ];
    let urls = ["--auth-url", target.auth_url.as_str(), "--backend-url", target.backend_url.as_str()];
    let out = run(dir.path(), &[&args[..], &urls].concat());
    assert_eq!(out.status.code(), Some(0), "{}{}", text(&out.stdout), text(&out.stderr));
    let r = report(dir.path());
    let j = &r["journeys"]["idle-chat"];
    assert_eq!(
        j["count"].as_u64(),
        users.parse().ok(),
        "every user held its WebSocket to the end: {}",
        r["errors"]
    );
    r["run"]["peak_rss_kib"].as_f64().expect("peak RSS in the report (Linux)")
}

#[test]
fn per_user_memory_at_1000_users_stays_within_the_100_user_average() {
    let target = spawn_target();
    let (small, large) = (peak_kib("100", &target), peak_kib("1000", &target));
    let average_at_100 = small / 100.0;
    let marginal = (large - small) / 900.0;
    assert!(
        marginal * 4.0 <= average_at_100,
        "each user past 100 costs {marginal:.0} KiB; the average at 100 is {average_at_100:.0} KiB"
    );
}
