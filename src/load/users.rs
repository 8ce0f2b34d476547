//! The closed model: Goose users, each running its persona's journey again and again, one Goose
//! transaction per step (timed by netra-load itself: Goose's own metrics are off). A failed
//! journey backs off before the next (doubling with failures in a row) so that a dead target is
//! not hammered.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use goose::prelude::*;

use crate::journeys::{Context, Done, Run, Step, run_step, stopped};

/// Goose session data must be `Clone`: the journey in progress lives behind a per-user mutex
/// (never contended: one user runs one transaction at a time); `None` before its first journey.
#[derive(Clone, Default)]
struct Session(Arc<tokio::sync::Mutex<Option<Run>>>);

/// A Goose transaction running `step` with `ctx`.
pub fn transaction(ctx: Arc<Context>, step: Step) -> Transaction {
    let name = step.name();
    Transaction::new(Arc::new(move |user: &mut GooseUser| {
        let ctx = ctx.clone();
        Box::pin(async move { goose_step(&ctx, user, step).await })
    }))
    .set_name(name)
}

async fn goose_step(ctx: &Context, user: &mut GooseUser, step: Step) -> TransactionResult {
    if user.get_session_data::<Session>().is_none() {
        user.set_session_data(Session::default());
        ctx.live.users_started.fetch_add(1, Ordering::Relaxed);
    }
    if *ctx.stop.borrow() {
        // Goose stops its users a moment after the run's end: until then, no new work (and no
        // spinning either).
        tokio::time::sleep(Duration::from_millis(50)).await;
        return Ok(());
    }
    let session = user.get_session_data_unchecked::<Session>().clone();
    let mut current = session.0.lock().await;
    if step == ctx.steps[0] {
        let (iteration, failures) = match current.as_mut() {
            Some(last) => {
                last.close().await;
                (last.user.iteration + 1, last.failures_in_row())
            }
            None => (1, 0),
        };
        let number = ctx.first_user + user.weighted_users_index;
        let next = Run::begin(ctx, number, iteration, Instant::now(), failures);
        *current = Some(match current.as_ref() {
            Some(last) => next.same_account_as(ctx, last),
            None => next,
        });
    }
    let Some(run) = current.as_mut() else { return Ok(()) };
    // Every step is timed and its failures counted by netra-load itself (Goose's own metrics are
    // off), so Goose is always told the transaction went through.
    if let Done::Failed = run_step(ctx, run, step, user.weighted_users_index).await {
        let backoff = run.backoff();
        drop(current);
        // Backing off after a failure is work the target owes too: an outage stays one.
        let _waiting = crate::journeys::runner::Waiting::new(&ctx.live);
        tokio::select! {
            () = tokio::time::sleep(backoff) => {}
            () = stopped(&ctx.stop) => {}
        }
    }
    Ok(())
}
