//! Journey health, for measuring netra-load itself (`bench/`), not Netra: one `GET /health` of
//! the backend, checked, and again: the generator's cost per request on the simplest endpoint,
//! beside `oha` on the same URL.

use super::{Context, Performing, Progress, Step, User};
use crate::client::{CallError, Netra};

pub const STEPS: &[Step] = &[Step::Health];

struct Health;

pub fn start() -> Box<dyn Progress> {
    Box::new(Health)
}

impl Progress for Health {
    fn perform<'a>(
        &'a mut self,
        ctx: &'a Context,
        netra: &'a Netra,
        _: &'a mut User,
        step: Step,
    ) -> Performing<'a> {
        Box::pin(async move {
            match step {
                // Through the same call as every other step: status, JSON and the isolation scanner.
                Step::Health => netra.health().await.map(drop),
                other => Err(CallError::wrong(format!("{} has no step {}", ctx.journey.name, other.name()))),
            }
        })
    }
}
