//! Journey consistency: the auth service's `/auth/me` and the backend's profile agree on the
//! user's id and email.

use serde_json::Value;

use super::{Context, Performing, Progress, Step, User};
use crate::client::{CallError, Netra};

pub const STEPS: &[Step] = &[Step::Register, Step::Login, Step::AuthMe, Step::Profile];

#[derive(Default)]
struct Consistency {
    /// What the auth service said, for the backend's answer to be compared with.
    me: Option<Value>,
}

pub fn start() -> Box<dyn Progress> {
    Box::<Consistency>::default()
}

impl Progress for Consistency {
    fn perform<'a>(
        &'a mut self,
        ctx: &'a Context,
        netra: &'a Netra,
        user: &'a mut User,
        step: Step,
    ) -> Performing<'a> {
        Box::pin(async move {
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
        })
    }
}
