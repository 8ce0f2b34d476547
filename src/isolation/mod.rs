//! The isolation checker: proof, under load, that no user sees, changes or receives another
//! user's data.
//!
//! - **Canaries**: each journey's user gets a unique marker (`cnry-` + 16 hex digits) written into
//!   everything it creates (its name, thread titles, messages).
//! - **Ledger** ([`ledger`]): canaries carry their owner (with a keyed check), and every id a
//!   user creates or is given (user, thread, connection ids) is recorded with its owner, in
//!   bounded generations of sharded maps keyed by the id's number.
//! - **Passive scanning**: every body and frame a simulated user receives passes [`scan`] once;
//!   a canary or id owned by another user is a leak finding naming who saw whose data, where.
//! - **Victims and the matrix**: recently created threads for the active probes (which live in
//!   `probes::isolation` and try a victim's thread as another user, with no token and with a
//!   tampered token; allowed is a `bola` finding), and the actor x resource x action matrix of
//!   what they got, for the report.
//!
//! Leak kinds: `list_leak` (a thread list), `export_leak` (the export), `ws_crosstalk` (a
//! WebSocket frame), `data_leak` (any other answer).
//!
//! Plain data: this module sends nothing.

pub mod ledger;
pub mod scan;

use std::collections::{BTreeMap, VecDeque};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use serde::{Deserialize, Serialize};

use crate::client::{Call, Seen, Watcher};
use crate::findings::{Finding, FindingKind, FindingSink};

/// The kinds of leak the scanner names: what a user received decides which.
pub const LEAK_KINDS: [FindingKind; 4] =
    [FindingKind::ListLeak, FindingKind::ExportLeak, FindingKind::WsCrosstalk, FindingKind::DataLeak];

/// Who owns something: a simulated user's number, or a prober (`PROBER` and up).
pub type Actor = u32;
pub const PROBER: Actor = u32::MAX - 16;

/// How many recently created threads the probes choose their victims from.
const RECENT: usize = 1024;

pub struct Isolation {
    canaries: ledger::Canaries,
    ids: ledger::Ids,
    recent_threads: Mutex<VecDeque<(String, Actor)>>,
    scanned: AtomicU64,
    other_turns: AtomicU64,
    leaks: AtomicU64,
    probes: AtomicU64,
    matrix: Mutex<BTreeMap<(String, String, String), Cell>>,
    findings: std::sync::Arc<FindingSink>,
}

/// One row of the isolation matrix.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct Cell {
    pub expected: String,
    pub refused: u64,
    pub allowed: u64,
    /// Neither: rate limited, a transport failure or an unexpected status.
    pub inconclusive: u64,
}

#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct MatrixRow {
    pub actor: String,
    pub resource: String,
    pub action: String,
    #[serde(flatten)]
    pub cell: Cell,
}

/// The isolation section of the report.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct IsolationSummary {
    pub probes: u64,
    pub responses_scanned: u64,
    /// Agent events a user's connection received while waiting for a turn that were not that
    /// turn's (a late reply, another device's turn, another user's misrouted frame, which the
    /// scanner also reports): never taken as the answer, not failures.
    #[serde(default)]
    pub other_turn_events: u64,
    pub leaks: u64,
    pub leaks_per_million: f64,
    pub ledger_ids: usize,
    pub canaries: usize,
    pub matrix: Vec<MatrixRow>,
    /// Why the active probes could not run, if they could not.
    pub setup_error: Option<String>,
    /// Failed attempts to set up a prober (retried with back-off for the whole run).
    #[serde(default)]
    pub setup_failures: u64,
}

impl Isolation {
    pub fn new(findings: std::sync::Arc<FindingSink>) -> Isolation {
        Isolation {
            canaries: ledger::Canaries::default(),
            ids: ledger::Ids::default(),
            recent_threads: Mutex::new(VecDeque::with_capacity(RECENT)),
            scanned: AtomicU64::new(0),
            other_turns: AtomicU64::new(0),
            leaks: AtomicU64::new(0),
            probes: AtomicU64::new(0),
            matrix: Mutex::new(BTreeMap::new()),
            findings,
        }
    }

    /// A fresh canary owned by `owner`.
    pub fn new_canary(&self, owner: Actor) -> String {
        scan::canary(self.canaries.issue(owner))
    }

    /// Records that `id` (a UUID as text) belongs to `owner`; other ids are ignored.
    pub fn own(&self, id: &str, owner: Actor) {
        if let Some(value) = scan::uuid_value(id) {
            self.ids.insert(value, owner);
        }
    }

    /// Records a new thread, which also becomes a possible victim for the probes.
    pub fn thread_created(&self, id: &str, owner: Actor) {
        self.own(id, owner);
        let mut recent = self.recent_threads.lock().unwrap_or_else(|e| e.into_inner());
        if recent.len() == RECENT {
            recent.pop_front();
        }
        recent.push_back((id.to_owned(), owner));
    }

    /// A recently created thread, chosen at random.
    pub fn victim(&self) -> Option<(String, Actor)> {
        let recent = self.recent_threads.lock().unwrap_or_else(|e| e.into_inner());
        if recent.is_empty() {
            return None;
        }
        recent.get(rand::random_range(0..recent.len())).cloned()
    }

    /// Someone's data in `body` that a prober who sent only the id `asked` could not know: the
    /// first canary of any user's, else the first id of any user's other than `asked`, with its
    /// owner. (The prober owns nothing: whatever it is shown of the users' is theirs.)
    pub fn foreign_data(&self, body: &[u8], asked: &str) -> Option<(Actor, String)> {
        if let Some((value, owner)) =
            scan::canaries(body).find_map(|v| self.canaries.owner(v).map(|owner| (v, owner)))
        {
            return Some((owner, format!("the canary {}", scan::canary(value))));
        }
        let asked = scan::uuid_value(asked);
        scan::uuids(body)
            .filter(|v| Some(*v) != asked)
            .find_map(|v| self.ids.owner(v).map(|owner| (owner, format!("the id {}", uuid_text(v)))))
    }

    /// Counts one probe outcome in the matrix.
    pub fn tally(&self, actor: &str, resource: &str, action: &str, expected: &str, outcome: Outcome) {
        self.probes.fetch_add(1, Ordering::Relaxed);
        let mut matrix = self.matrix.lock().unwrap_or_else(|e| e.into_inner());
        let cell = matrix.entry((actor.into(), resource.into(), action.into())).or_default();
        if cell.expected.is_empty() {
            cell.expected = expected.into();
        }
        match outcome {
            Outcome::Refused => cell.refused += 1,
            Outcome::Allowed => cell.allowed += 1,
            Outcome::Inconclusive => cell.inconclusive += 1,
        }
    }

    /// A finding of `kind` at `endpoint` by the probes, stamped (see [`FindingSink::stamp`]).
    pub fn stamp(&self, kind: FindingKind, endpoint: &str) -> Finding {
        self.findings.stamp(kind, vec!["the prober".into()], endpoint)
    }

    pub fn report(&self, finding: Finding) {
        self.findings.report(finding);
    }

    /// Answers scanned and isolation probes sent so far (any answer): what live metrics read
    /// while the run lasts, without the matrix's lock.
    pub fn exercised(&self) -> (u64, u64) {
        (self.scanned.load(Ordering::Relaxed), self.probes.load(Ordering::Relaxed))
    }

    pub fn summary(&self) -> IsolationSummary {
        let scanned = self.scanned.load(Ordering::Relaxed);
        let leaks = self.leaks.load(Ordering::Relaxed);
        let matrix = self.matrix.lock().unwrap_or_else(|e| e.into_inner());
        IsolationSummary {
            probes: self.probes.load(Ordering::Relaxed),
            responses_scanned: scanned,
            other_turn_events: self.other_turns.load(Ordering::Relaxed),
            leaks,
            leaks_per_million: if scanned == 0 { 0.0 } else { leaks as f64 * 1e6 / scanned as f64 },
            ledger_ids: usize::try_from(self.ids.recorded()).unwrap_or(usize::MAX),
            canaries: usize::try_from(self.canaries.issued()).unwrap_or(usize::MAX),
            matrix: matrix
                .iter()
                .map(|((actor, resource, action), cell)| MatrixRow {
                    actor: actor.clone(),
                    resource: resource.clone(),
                    action: action.clone(),
                    cell: cell.clone(),
                })
                .collect(),
            setup_error: None,
            setup_failures: 0,
        }
    }

    /// One leak: one body or frame, whatever evidence it carries. Grouped by kind and endpoint
    /// (method and path template), where it was seen said in the evidence.
    fn leak(&self, viewer: Actor, owner: Actor, seen: Seen<'_>, evidence: String) {
        self.leaks.fetch_add(1, Ordering::Relaxed);
        let (kind, what, endpoint) = match seen {
            Seen::Frame { what } => (FindingKind::WsCrosstalk, what, "WS /ws".to_owned()),
            Seen::Answer { call, path } => {
                let kind = match call {
                    Call::ListThreads => FindingKind::ListLeak,
                    Call::Export => FindingKind::ExportLeak,
                    _ => FindingKind::DataLeak,
                };
                (kind, call.into(), format!("{} {}", call.method(), template(path)))
            }
            Seen::Other { what, method, path } => {
                (FindingKind::DataLeak, what, format!("{method} {}", template(path)))
            }
        };
        let (viewer, owner) = (actor_name(viewer), actor_name(owner));
        let users = vec![format!("{viewer} (viewer)"), format!("{owner} (owner)")];
        let mut f = self.findings.stamp(kind, users, &endpoint);
        f.expected = format!("{viewer} receives only its own data");
        f.observed = format!("{viewer} received {evidence} of {owner} (at {what})");
        f.reproducer = format!(
            "# as {viewer} (its own token, <access token of {viewer}>), {endpoint} ({what}): the answer holds {evidence} of {owner}"
        );
        self.findings.report(f);
    }
}

/// A path with its ids as `{id}`: a UUID, a number, a long hex string or a canary.
pub fn template(path: &str) -> String {
    let id = |seg: &str| {
        uuid::Uuid::parse_str(seg).is_ok()
            || (!seg.is_empty() && seg.bytes().all(|b| b.is_ascii_digit()))
            || (seg.len() >= 16 && seg.bytes().all(|b| b.is_ascii_hexdigit()))
            || seg.starts_with("cnry-")
    };
    path.split('/').map(|seg| if id(seg) { "{id}" } else { seg }).collect::<Vec<_>>().join("/")
}

fn actor_name(actor: Actor) -> String {
    if actor >= PROBER { "the prober".into() } else { format!("user {actor}") }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    Refused,
    Allowed,
    Inconclusive,
}

impl Watcher for Isolation {
    /// One leak per body or frame, whatever it holds: its first foreign canary (else id) names
    /// the owner, and the rest are counted in the evidence.
    fn saw(&self, viewer: Actor, seen: Seen<'_>, body: &[u8]) {
        self.scanned.fetch_add(1, Ordering::Relaxed);
        let canaries = scan::canaries(body).filter_map(|v| {
            self.canaries
                .owner(v)
                .filter(|o| *o != viewer)
                .map(|o| (o, format!("the canary {}", scan::canary(v))))
        });
        let ids = scan::uuids(body).filter_map(|v| {
            self.ids.owner(v).filter(|o| *o != viewer).map(|o| (o, format!("the id {}", uuid_text(v))))
        });
        let mut foreign = canaries.chain(ids);
        let Some((owner, first)) = foreign.next() else { return };
        let more = foreign.count();
        let evidence = match more {
            0 => first,
            n => format!("{first} (and {n} more foreign canaries or ids)"),
        };
        self.leak(viewer, owner, seen, evidence);
    }

    fn other_turn(&self, _viewer: Actor) {
        self.other_turns.fetch_add(1, Ordering::Relaxed);
    }
}

fn uuid_text(value: u128) -> String {
    let h = format!("{value:032x}");
    format!("{}-{}-{}-{}-{}", &h[..8], &h[8..12], &h[12..16], &h[16..20], &h[20..])
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::sync::atomic::AtomicUsize;

    #[test]
    fn one_leak_per_body_grouped_by_method_and_path_template_with_roles() {
        let sink = Arc::new(FindingSink::new(std::time::Instant::now(), Arc::new(AtomicUsize::new(2))));
        let iso = Isolation::new(sink.clone());
        let canary = iso.new_canary(7);
        let thread = "6f1c2d3e-4a5b-4c6d-8e7f-0a1b2c3d4e5f";
        iso.own(thread, 7);
        // Canary and thread id in one frame: one misrouted frame, one event.
        let frame = format!(
            r#"{{"type":"agent_completed","payload":{{"thread_id":"{thread}","result":{{"content":"{canary}"}}}}}}"#
        );
        iso.saw(3, Seen::Frame { what: "first_reply" }, frame.as_bytes());
        // The same path through two step labels: one finding, counted twice.
        let path = format!("/api/threads/{thread}/messages");
        let body = format!(r#"{{"content":"{canary}"}}"#);
        iso.saw(3, Seen::Answer { call: Call::History, path: &path }, body.as_bytes());
        iso.saw(3, Seen::Other { what: "check", method: "GET", path: &path }, body.as_bytes());
        let all = sink.all();
        assert_eq!(iso.summary().leaks, 3);
        let endpoints: Vec<(&str, u64)> = all.iter().map(|f| (f.endpoint.as_str(), f.count)).collect();
        assert_eq!(endpoints, [("GET /api/threads/{id}/messages", 2), ("WS /ws", 1)], "{all:?}");
        assert_eq!(all[1].users, ["user 3 (viewer)", "user 7 (owner)"]);
        assert!(all[1].observed.contains("(and 1 more foreign canaries or ids)"), "{}", all[1].observed);
        // What a user owns is no leak to it.
        iso.saw(7, Seen::Frame { what: "first_reply" }, frame.as_bytes());
        assert_eq!(iso.summary().leaks, 3);
    }

    #[test]
    fn path_templates_replace_ids_only() {
        assert_eq!(
            template("/api/threads/6f1c2d3e-4a5b-4c6d-8e7f-0a1b2c3d4e5f/messages"),
            "/api/threads/{id}/messages"
        );
        assert_eq!(template("/api/threads/42"), "/api/threads/{id}");
        assert_eq!(template("/api/users/profile"), "/api/users/profile");
        assert_eq!(template("/api/threads/"), "/api/threads/");
    }
}
