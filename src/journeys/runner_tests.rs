//! The step runner's rules, on a journey of the tests' own whose steps succeed, fail, do not
//! apply or never answer, against no network at all.

use std::sync::Arc;
use std::time::{Duration, Instant};

use super::*;
use crate::client::{Api, Failure, Netra, Provisioning};
use crate::findings::FindingSink;
use crate::isolation::Isolation;
use crate::journeys::{Expect, Journey, Live, Needs, RunEnd, Steps, start};
use crate::metrics::{Collector, Snapshot};

/// Profile succeeds, History fails at once (no await: the spinning case), Export does not
/// apply, ListThreads and Hold never answer.
#[derive(Default)]
struct Scripted;

impl Steps for Scripted {
    async fn step(&mut self, _: &Context, _: &Netra, _: &User, step: Step) -> Result<(), CallError> {
        match step {
            Step::Profile => Ok(()),
            Step::History => Err(CallError::new(Failure::Status(500), "history: 500")),
            Step::ListThreads | Step::Hold => std::future::pending().await,
            _ => Err(CallError::wrong("not scripted")),
        }
    }

    fn applies(&self, step: Step) -> bool {
        step != Step::Export
    }
}

const fn journey(steps: &'static [Step]) -> Journey {
    let needs = Needs { auth_alone: None, sessions: false, fresh_users: false };
    Journey {
        name: "scripted",
        steps,
        start: start::<Scripted>,
        needs,
        finds: &[],
        cohort: true,
        free_tier: false,
    }
}

static FAILING: Journey = journey(&[Step::Profile, Step::History, Step::ListThreads]);
static PASSING: Journey = journey(&[Step::Export, Step::Profile]);
static HANGING: Journey = journey(&[Step::ListThreads]);
static HOLDING: Journey = journey(&[Step::Profile, Step::Hold]);

/// A context for `journey` (users provisioned by dev login, should a step log in), and its
/// run's end.
fn context(journey: &'static Journey) -> (Context, Arc<RunEnd>) {
    context_with(journey, Provisioning::DevLogin)
}

fn context_with(journey: &'static Journey, provisioning: Provisioning) -> (Context, Arc<RunEnd>) {
    let started = Instant::now();
    let live = Arc::new(Live::default());
    let findings = Arc::new(FindingSink::new(started, live.users_started.clone()));
    let api = Api { provisioning, ..Api::default() };
    let netra = Netra::new("http://127.0.0.1:1", Some("http://127.0.0.1:1"), Duration::from_secs(1))
        .unwrap()
        .with_api(api);
    let end = Arc::new(RunEnd::default());
    let ctx = Context {
        journey,
        steps: journey.steps.to_vec(),
        netra,
        recorder: Collector::spawn(started, crate::metrics::Gauges::fixed(1)),
        live,
        isolation: Arc::new(Isolation::new(findings.clone())),
        findings,
        persona: 0,
        plan_tier: "free".into(),
        expect: Expect { burst: 20, free_quota: 10 },
        run_tag: "test".into(),
        suspects: Default::default(),
        first_user: 0,
        end: end.clone(),
    };
    (ctx, end)
}

async fn run_all(ctx: &Context, run: &mut Run) -> Vec<Done> {
    let mut done = Vec::new();
    for &step in &ctx.steps {
        done.push(run_step(ctx, run, step, 0).await);
    }
    done
}

fn step_counts(snap: &Snapshot, step: &str) -> Option<(u64, u64)> {
    let series = &snap.journeys.get(&(0, "scripted"))?.steps;
    series.iter().find(|(name, _)| *name == step).map(|(_, s)| (s.histogram.count(), s.failures))
}

#[tokio::test]
async fn a_failed_step_fails_its_journey_skips_the_rest_and_the_back_off_doubles_to_its_cap() {
    let (ctx, _stop) = context(&FAILING);
    let mut run = Run::begin(&ctx, 7, 1, Instant::now(), 0);
    assert_eq!(run_all(&ctx, &mut run).await, [Done::Ok, Done::Failed, Done::Skipped]);
    assert_eq!(run.failures_in_row(), 1);
    let backoffs: Vec<u64> = (1..=7)
        .map(|failures| Run::begin(&ctx, 7, 1, Instant::now(), failures).backoff().as_millis() as u64)
        .collect();
    assert_eq!(backoffs, [200, 400, 800, 1600, 3200, 3200, 3200]);
    // A new journey after the failure begins again with its first step, the count carried over.
    let mut next = run.next(&ctx, Instant::now());
    assert_eq!((next.user.number, next.user.iteration, next.failures_in_row()), (7, 2, 1));
    assert_eq!(run_step(&ctx, &mut next, Step::Profile, 0).await, Done::Ok);
    assert_eq!(next.failures_in_row(), 1, "only a completed journey resets the count");
    let snap = ctx.recorder.finish().await;
    assert_eq!(step_counts(&snap, "profile"), Some((2, 0)));
    assert_eq!(step_counts(&snap, "history"), Some((0, 1)));
    assert_eq!(step_counts(&snap, "list_threads"), None, "a skipped step is not recorded");
    let journey = &snap.journeys[&(0, "scripted")].total;
    assert_eq!((journey.histogram.count(), journey.failures), (0, 1));
    let history = &snap.errors[&("history", "http_500".into())];
    assert_eq!(history.count, 1);
    assert!(!history.sample.starts_with("history"), "the step is its own column: {}", history.sample);
    assert_eq!(ctx.live.journeys_failed.count(), 1);
}

#[tokio::test]
async fn a_users_next_journey_counts_against_its_existing_accounts_bucket_and_a_fresh_ones_does_not() {
    let account = crate::client::Account { email: "a@example.com".into(), password: "pw".into() };
    let existing = Provisioning::Login(Arc::new([account]));
    for (provisioning, same_bucket) in [(existing, true), (Provisioning::DevLogin, false)] {
        let (ctx, _end) = context_with(&PASSING, provisioning);
        let run = Run::begin(&ctx, 3, 1, Instant::now(), 0);
        let budget = run.netra.budget().unwrap().clone();
        let next = run.next(&ctx, Instant::now());
        let next_budget = next.netra.budget().unwrap();
        assert_eq!(Arc::ptr_eq(&budget, next_budget), same_bucket, "same bucket: {same_bucket}");
    }
}

#[tokio::test]
async fn steps_that_do_not_apply_are_skipped_untimed_and_the_last_step_completes_the_journey() {
    let (ctx, _stop) = context(&PASSING);
    let mut run = Run::begin(&ctx, 1, 1, Instant::now(), 3);
    // Export does not apply to this journey.
    assert_eq!(run_all(&ctx, &mut run).await, [Done::Skipped, Done::Ok]);
    assert_eq!(run.failures_in_row(), 0, "a completed journey resets the back-off");
    let snap = ctx.recorder.finish().await;
    // Untimed, but counted as not applying: the coverage ledger tells it from a step never reached.
    assert_eq!(step_counts(&snap, "export"), Some((0, 0)));
    let export = &snap.journeys[&(0, "scripted")].steps.iter().find(|(s, _)| *s == "export").unwrap().1;
    assert_eq!(export.not_applicable, 1);
    assert_eq!(snap.journeys[&(0, "scripted")].total.histogram.count(), 1);
    assert_eq!(snap.completions.len(), 1, "a cohort journey's completion is timed");
}

#[tokio::test]
async fn steps_in_flight_at_the_end_are_cut_and_fail_only_when_they_waited_long() {
    for (wait, unanswered) in
        [(Duration::from_millis(20), false), (UNANSWERED + Duration::from_millis(100), true)]
    {
        let (ctx, stop) = context(&HANGING);
        let mut run = Run::begin(&ctx, 1, 1, Instant::now(), 0);
        let ender = tokio::spawn(async move {
            tokio::time::sleep(wait).await;
            stop.end();
        });
        assert_eq!(run_step(&ctx, &mut run, Step::ListThreads, 0).await, Done::Cut);
        ender.await.unwrap();
        let snap = ctx.recorder.finish().await;
        // Only a step cut without blame is counted as cut; one that waited long failed.
        let cut = snap.observed.get("steps_cut_at_end").map_or(0, |o| o.count);
        assert_eq!(cut, u64::from(!unanswered));
        let failed = snap.journeys.get(&(0, "scripted")).map_or(0, |j| j.total.failures);
        assert_eq!(
            (snap.errors.keys().any(|(_, kind)| kind == "unanswered_at_end"), failed),
            (unanswered, u64::from(unanswered))
        );
    }
}

#[tokio::test]
async fn a_step_meant_to_last_until_the_end_is_done_then() {
    let (ctx, stop) = context(&HOLDING);
    let mut run = Run::begin(&ctx, 1, 1, Instant::now(), 0);
    assert_eq!(run_step(&ctx, &mut run, Step::Profile, 0).await, Done::Ok);
    let ender = tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(20)).await;
        stop.end();
    });
    assert_eq!(run_step(&ctx, &mut run, Step::Hold, 0).await, Done::Ok);
    ender.await.unwrap();
    let snap = ctx.recorder.finish().await;
    assert_eq!(step_counts(&snap, "hold"), Some((1, 0)));
    assert_eq!(snap.journeys[&(0, "scripted")].total.histogram.count(), 1, "the journey completed");
    assert!(!snap.observed.contains_key("steps_cut_at_end"));
}
