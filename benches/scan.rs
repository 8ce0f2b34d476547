//! Cost of the isolation scanner per response: `cargo bench --bench scan`.
//!
//! The ledger holds the ids and canaries of 1000 live users plus 100,000 more ids (a long run's
//! worth); each response shape netra-load receives (a thread list, a history, a WebSocket frame,
//! an export) is scanned as its owner would receive it, so every lookup runs and none reports.

use std::sync::Arc;
use std::time::Instant;

use netra_load::client::{Call, Seen, Watcher};
use netra_load::findings::FindingSink;
use netra_load::isolation::Isolation;

fn uuid(n: u64) -> String {
    let h = format!("{:032x}", u128::from(n) * 0x9e37_79b9_7f4a_7c15);
    format!("{}-{}-4{}-8{}-{}", &h[..8], &h[8..12], &h[13..16], &h[17..20], &h[20..32])
}

fn main() {
    let sink = FindingSink::new(Instant::now(), Arc::default());
    let iso = Isolation::new(Arc::new(sink));
    let users = 1000u32;
    let mut canaries = Vec::new();
    for user in 0..users {
        canaries.push(iso.new_canary(user));
        iso.own(&uuid(u64::from(user)), user);
        iso.thread_created(&uuid(1_000_000 + u64::from(user)), user);
    }
    for n in 0..100_000u64 {
        iso.own(&uuid(2_000_000 + n), (n % u64::from(users)) as u32);
    }
    let (viewer, user_id, thread) = (7u32, uuid(7), uuid(1_000_007));
    let canary = &canaries[7];
    let thread_json = format!(
        r#"{{"id":"{thread}","title":"netra-load journey 1 {canary}","created_at":1795682640,"updated_at":1795682640,"message_count":2,"metadata":{{"user_id":"{user_id}"}}}}"#
    );
    let message = |role: &str, n: u64| {
        format!(
            r#"{{"id":"{}","thread_id":"{thread}","role":"{role}","content":"hello from nl-1234abcd-u7-i1@example.com #1 {canary}","created_at":1795682640}}"#,
            uuid(3_000_000 + n)
        )
    };
    let shapes = [
        ("thread list", format!("[{thread_json}]")),
        (
            "history",
            format!(
                r#"{{"thread_id":"{thread}","total":2,"messages":[{},{}]}}"#,
                message("user", 1),
                message("assistant", 2)
            ),
        ),
        (
            "ws agent_completed",
            format!(
                r#"{{"type":"agent_completed","payload":{{"thread_id":"{thread}","run_id":"{}","result":{{"content":"You said: \"hello {canary}\""}}}}}}"#,
                uuid(9_000_004)
            ),
        ),
        (
            "export",
            format!(
                r#"{{"export_id":"{}","user_id":"{user_id}","message_count":2,"threads":[{thread_json}]}}"#,
                uuid(9_000_005)
            ),
        ),
    ];
    let rounds = 200_000;
    println!("isolation scanner, ledger of {} ids for {users} users (+100k):", users * 2 + 100_000);
    for (name, body) in &shapes {
        let started = Instant::now();
        for _ in 0..rounds {
            let seen = Seen::Answer { call: Call::History, path: "/bench" };
            iso.saw(viewer, seen, std::hint::black_box(body.as_bytes()));
        }
        let ns = started.elapsed().as_nanos() as f64 / f64::from(rounds);
        println!("  {name:<20} {:>5} bytes: {ns:>7.0} ns per response", body.len());
    }
    assert_eq!(iso.summary().leaks, 0, "the owner's own data is no leak");
}
