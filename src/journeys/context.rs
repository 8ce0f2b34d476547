//! What every step of one persona shares: the client, the run's recorder, findings and isolation
//! ledger, the persona's settings, and the run's end. Built once per persona by the load
//! engine, before any user starts.

use std::sync::Arc;
use std::sync::atomic::AtomicUsize;

use crate::client::Netra;
use crate::findings::{Finding, FindingKind, FindingSink};
use crate::isolation::Isolation;
use crate::metrics::{Counter, Gauge, Recorder};

use super::{Journey, Step};

/// What the deployment's limits are expected to be, for the rate-limit checks.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Expect {
    /// Requests a fresh user may send at once before a 429.
    pub burst: u32,
    /// Chat messages a free user may send a day.
    pub free_quota: u32,
}

/// Counters the progress display (and the stamps of findings) read while the run goes on.
#[derive(Debug, Default)]
pub struct Live {
    /// Shared with the run's [`FindingSink`]: the load at the moment of a finding.
    pub users_started: Arc<AtomicUsize>,
    /// Added to at every journey's end or start: one slot per thread ([`Counter`]).
    pub journeys_done: Counter,
    pub journeys_failed: Counter,
    /// Journeys begun (their first step started).
    pub journeys_started: Counter,
    /// Work waiting on the target now: steps in flight and users backing off after a failure,
    /// less the steps waiting on purpose (a token's expiry, `Retry-After`). The collector
    /// samples it to tell a target that stopped answering from one with nothing to do.
    pub waiting: Gauge,
}

pub struct Context {
    pub journey: &'static Journey,
    /// The journey's steps this persona runs, in order (the plan's: register only where the
    /// dialect registers).
    pub steps: Vec<Step>,
    pub netra: Netra,
    pub recorder: Recorder,
    pub live: Arc<Live>,
    pub findings: Arc<FindingSink>,
    pub isolation: Arc<Isolation>,
    /// Steps whose valid requests failed with a 5xx or a broken exchange, to replay after the
    /// load.
    pub suspects: Arc<super::concurrency::Suspects>,
    /// The persona's place in the profile (its figures are kept by it).
    pub persona: usize,
    pub plan_tier: String,
    /// What the deployment's limits are expected to be.
    pub expect: Expect,
    /// Makes emails unique to this run.
    pub run_tag: String,
    /// Added to the engine's user numbers (a segment's users are numbered as in the whole run).
    pub first_user: usize,
    /// Set when the run is over: steps in flight are cut, so that the run ends on time even
    /// when the target hangs.
    pub end: Arc<super::RunEnd>,
}

impl Context {
    /// A finding of `kind` by simulated user `user` at `endpoint`, stamped with the time and the
    /// load at this moment (the caller adds the evidence and reports it).
    pub fn finding(&self, kind: FindingKind, user: usize, endpoint: &str) -> Finding {
        self.findings.stamp(kind, vec![format!("user {user}")], endpoint)
    }

    /// The plan tier this journey's users register with: the persona's, or free for the
    /// journeys that check the free tier's limits.
    pub fn tier(&self) -> &str {
        if self.journey.free_tier { "free" } else { &self.plan_tier }
    }
}
