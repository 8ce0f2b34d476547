//! Journey consistency: the auth service's `/auth/me` and the backend's profile agree on the
//! user's id and email.

use serde_json::Value;

use super::{Context, Step, Steps, User};
use crate::client::{CallError, Netra};

pub const STEPS: &[Step] = &[Step::Register, Step::Login, Step::AuthMe, Step::Profile];

#[derive(Default)]
pub struct Consistency {
    /// What the auth service said, for the backend's answer to be compared with.
    me: Option<Value>,
}

impl Steps for Consistency {
    async fn step(&mut self, ctx: &Context, netra: &Netra, user: &User, step: Step) -> Result<(), CallError> {
        match step {
            Step::AuthMe => {
                self.me = Some(netra.me(&user.logged_in()?.access).await?);
                Ok(())
            }
            Step::Profile => {
                let profile = netra.profile(&user.logged_in()?.access).await?;
                let me = self.me.take().unwrap_or_default();
                if profile["user_id"] != me["id"] || profile["email"] != me["email"] {
                    return Err(CallError::wrong(format!(
                        "profile: the backend says {} / {}, the auth service {} / {}",
                        profile["user_id"], profile["email"], me["id"], me["email"]
                    )));
                }
                Ok(())
            }
            other => Err(CallError::wrong(format!("{} has no step {}", ctx.journey.name, other.name()))),
        }
    }
}
