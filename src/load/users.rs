//! The closed model: Goose users, each running its persona's journey again and again, one Goose
//! transaction per step (timed by netra-load itself: Goose's own metrics are off). A failed
//! journey backs off before the next (doubling with failures in a row) so that a dead target is
//! not hammered.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use goose::prelude::*;

use crate::journeys::{Context, Done, Run, Step, run_step};

/// Goose session data must be `Clone`: what a user keeps from step to step, behind one `Arc`:
/// its persona's context and the journey in progress, behind a mutex (never contended: one user
/// runs one transaction at a time; `None` before its first journey).
#[derive(Clone)]
struct Session(Arc<UserState>);

struct UserState {
    ctx: Arc<Context>,
    current: tokio::sync::Mutex<Option<Run>>,
}

/// A Goose transaction running `step` with `ctx`.
pub fn transaction(ctx: Arc<Context>, step: Step) -> Transaction {
    let name = step.name();
    Transaction::new(Arc::new(move |user: &mut GooseUser| {
        // The context is the user's own from its first step on: no step after it touches the
        // count of this shared one.
        let session = match user.get_session_data::<Session>() {
            Some(session) => session.clone(),
            None => {
                ctx.live.users_started.fetch_add(1, Ordering::Relaxed);
                let state = UserState { ctx: ctx.clone(), current: tokio::sync::Mutex::new(None) };
                let session = Session(Arc::new(state));
                user.set_session_data(session.clone());
                session
            }
        };
        Box::pin(async move { goose_step(&session.0, user, step).await })
    }))
    .set_name(name)
}

async fn goose_step(state: &UserState, user: &GooseUser, step: Step) -> TransactionResult {
    let ctx = &*state.ctx;
    if ctx.end.is_over() {
        // Goose stops its users a moment after the run's end: until then, no new work (and no
        // spinning either).
        tokio::time::sleep(Duration::from_millis(50)).await;
        return Ok(());
    }
    let mut current = state.current.lock().await;
    if step == ctx.steps[0] {
        // Closed in place: a step dropped meanwhile (Goose stopping) leaves the journey kept.
        if let Some(last) = current.as_mut() {
            last.close().await;
        }
        let next = match current.take() {
            Some(last) => last.next(ctx, Instant::now()),
            None => Run::begin(ctx, ctx.first_user + user.weighted_users_index, 1, Instant::now(), 0),
        };
        *current = Some(next);
    }
    let Some(run) = current.as_mut() else { return Ok(()) };
    // Every step is timed and its failures counted by netra-load itself (Goose's own metrics are
    // off), so Goose is always told the transaction went through.
    if let Done::Failed = run_step(ctx, run, step, user.weighted_users_index).await {
        let backoff = run.backoff();
        let waiter = run.waiter().clone();
        drop(current);
        // Backing off after a failure is work the target owes too: an outage stays one.
        let _waiting = crate::journeys::runner::Waiting::new(&ctx.live);
        tokio::select! {
            () = tokio::time::sleep(backoff) => {}
            () = ctx.end.over(&waiter) => {}
        }
    }
    Ok(())
}
