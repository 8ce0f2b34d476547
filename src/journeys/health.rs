//! Journey health, for measuring netra-load itself (`bench/`), not Netra: one `GET /health` of
//! the backend, checked, and again: the generator's cost per request on the simplest endpoint,
//! beside `oha` on the same URL.

use super::{Context, Step, Steps, User};
use crate::client::{CallError, Netra};

pub const STEPS: &[Step] = &[Step::Health];

#[derive(Default)]
pub struct Health;

impl Steps for Health {
    async fn step(&mut self, ctx: &Context, netra: &Netra, _: &User, step: Step) -> Result<(), CallError> {
        match step {
            // Through the same call as every other step: status, JSON and the isolation scanner.
            Step::Health => netra.health().await.map(drop),
            other => Err(CallError::wrong(format!("{} has no step {}", ctx.journey.name, other.name()))),
        }
    }
}
