//! Journey data-export: three messages posted over HTTP are all in the export, whose
//! `message_count` matches the messages it holds (foreign data in it is the scanner's business).

use super::{Context, Step, Steps, User};
use crate::client::{CallError, Netra};

pub const STEPS: &[Step] =
    &[Step::Register, Step::Login, Step::CreateThread, Step::PostMessages, Step::Export];

const MESSAGES: usize = 3;

#[derive(Default)]
pub struct DataExport {
    thread: Option<String>,
    /// The messages posted, which the export must hold.
    sent: Vec<String>,
}

impl Steps for DataExport {
    async fn step(&mut self, ctx: &Context, netra: &Netra, user: &User, step: Step) -> Result<(), CallError> {
        match step {
            Step::CreateThread => {
                self.thread = Some(super::create_thread(ctx, netra, user).await?);
                Ok(())
            }
            Step::PostMessages => {
                let token = &user.logged_in()?.access;
                let thread = self.thread.clone().ok_or_else(|| CallError::wrong("no thread"))?;
                for n in 1..=MESSAGES {
                    let content = format!("export message {n} {}", user.canary);
                    netra.post_message(token, &thread, &content).await?;
                    self.sent.push(content);
                }
                Ok(())
            }
            Step::Export => {
                let export = netra.export(&user.logged_in()?.access).await?;
                let contents: Vec<&str> = export["threads"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .flat_map(|t| t["messages"].as_array().into_iter().flatten())
                    .filter_map(|m| m["content"].as_str())
                    .collect();
                if let Some(missing) = self.sent.iter().find(|m| !contents.contains(&m.as_str())) {
                    return Err(CallError::wrong(format!("export: lacks the message `{missing}`")));
                }
                if export["message_count"].as_u64() != Some(contents.len() as u64) {
                    return Err(CallError::wrong(format!(
                        "export: message_count {} but {} messages in it",
                        export["message_count"],
                        contents.len()
                    )));
                }
                Ok(())
            }
            other => Err(CallError::wrong(format!("{} has no step {}", ctx.journey.name, other.name()))),
        }
    }
}
