//! The open model (`--arrival-rate R/s`): journeys start on a fixed schedule, the k-th due at
//! `k / R` seconds, whatever the completions, as k6's constant-arrival-rate does. A journey's
//! latency counts from when it was due, so a target that stalls is charged for every journey
//! that should have started meanwhile (no coordinated omission). A journey due while
//! `max_in_flight` are still running is not started: it is counted as dropped.
//!
//! Each journey is a fresh simulated user, numbered by its place in the schedule; personas take
//! their turns by weight.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use crate::config::PersonaPlan;
use crate::journeys::{Context, Done, Live, Run, run_step};
use crate::metrics::ArrivalReport;

#[derive(Clone, Copy, Debug)]
pub struct Schedule {
    pub per_second: f64,
    pub max_in_flight: usize,
    pub run_time: Duration,
}

/// Personas in turn by weight: `[a, a, b]` for weights 2 and 1.
fn rota(contexts: &[(&PersonaPlan, Arc<Context>)]) -> Vec<Arc<Context>> {
    contexts.iter().flat_map(|(p, ctx)| std::iter::repeat_n(ctx.clone(), p.weight.max(1))).collect()
}

pub async fn run(
    schedule: Schedule,
    contexts: &[(&PersonaPlan, Arc<Context>)],
    live: &Arc<Live>,
    started: Instant,
) -> ArrivalReport {
    let rota = rota(contexts);
    let in_flight = Arc::new(AtomicUsize::new(0));
    let mut report = ArrivalReport {
        per_second: schedule.per_second,
        max_in_flight: schedule.max_in_flight,
        ..ArrivalReport::default()
    };
    let mut tasks = tokio::task::JoinSet::new();
    let interval = Duration::from_secs_f64(1.0 / schedule.per_second);
    for k in 0u64.. {
        let due = started + interval.mul_f64(k as f64);
        if due >= started + schedule.run_time || rota[0].end.is_over() {
            break;
        }
        tokio::time::sleep_until(due.into()).await;
        report.scheduled += 1;
        let running = in_flight.load(Ordering::Relaxed);
        if running >= schedule.max_in_flight {
            report.dropped += 1;
            continue;
        }
        report.started += 1;
        report.peak_in_flight = report.peak_in_flight.max(running + 1);
        in_flight.fetch_add(1, Ordering::Relaxed);
        live.users_started.fetch_max(running + 1, Ordering::Relaxed);
        let ctx = rota[(k as usize) % rota.len()].clone();
        let in_flight = in_flight.clone();
        tasks.spawn(async move {
            journey(&ctx, k as usize, due).await;
            in_flight.fetch_sub(1, Ordering::Relaxed);
        });
        // Reap finished journeys as we go: memory stays bounded by those in flight.
        while tasks.try_join_next().is_some() {}
    }
    // The journeys still running end by themselves or are cut at the run's end.
    while tasks.join_next().await.is_some() {}
    report
}

/// One journey of a fresh user numbered `k`, timed from `due`.
async fn journey(ctx: &Context, k: usize, due: Instant) {
    let mut run = Run::begin(ctx, ctx.first_user + k, 1, due, 0);
    for &step in &ctx.steps {
        match run_step(ctx, &mut run, step, k).await {
            Done::Ok | Done::Skipped => {}
            Done::Failed | Done::Cut => break,
        }
    }
    run.close().await;
}
