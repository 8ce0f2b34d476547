//! Journey data-export: three messages posted over HTTP at once are all in the export, whose
//! `message_count` matches the messages it holds (foreign data in it is the scanner's business);
//! and the usage the deployment reports for the user (`[api] usage`, the quota's `used`) grew
//! by exactly the messages it accepted: a count that falls short under concurrent messages is a
//! lost update (`usage_miscounted`).

use futures_util::future::join_all;

use super::{Context, Step, Steps, User};
use crate::client::{CallError, Netra};
use crate::findings::{FindingKind, curl};

pub const STEPS: &[Step] =
    &[Step::Register, Step::Login, Step::CreateThread, Step::PostMessages, Step::Export, Step::Usage];

const MESSAGES: usize = 3;

#[derive(Default)]
pub struct DataExport {
    thread: Option<String>,
    /// The messages posted, which the export must hold.
    sent: Vec<String>,
    /// The user's usage before the messages (`None`: the deployment reports none), and the UTC
    /// day it was read on.
    usage_before: Option<u64>,
    day: u64,
}

/// The UTC day now: the usage counts a day's messages.
fn utc_day() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs() / 86_400)
}

/// Reads of the usage, a quarter of a second apart, before a count that falls short is believed:
/// a deployment may count a moment later.
const USAGE_READS: u32 = 3;

impl Steps for DataExport {
    /// The usage is checked where the deployment reports it.
    fn applies(&self, step: Step) -> bool {
        step != Step::Usage || self.usage_before.is_some()
    }

    async fn step(&mut self, ctx: &Context, netra: &Netra, user: &User, step: Step) -> Result<(), CallError> {
        match step {
            Step::CreateThread => {
                self.thread = Some(super::create_thread(ctx, netra, user).await?);
                Ok(())
            }
            Step::PostMessages => {
                let token = &user.logged_in()?.access;
                let thread = self.thread.clone().ok_or_else(|| CallError::wrong("no thread"))?;
                (self.usage_before, self.day) = (netra.usage(token).await?, utc_day());
                // At once: a usage counter updated by read-then-write loses messages here.
                let contents: Vec<String> =
                    (1..=MESSAGES).map(|n| format!("export message {n} {}", user.canary)).collect();
                let posts = contents.iter().map(|content| netra.post_message(token, &thread, content));
                for posted in join_all(posts).await {
                    posted?;
                }
                self.sent = contents;
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
            Step::Usage => self.usage(ctx, netra, user).await,
            other => Err(CallError::wrong(format!("{} has no step {}", ctx.journey.name, other.name()))),
        }
    }
}

impl DataExport {
    async fn usage(&self, ctx: &Context, netra: &Netra, user: &User) -> Result<(), CallError> {
        let before = self.usage_before.unwrap_or_default();
        let accepted = self.sent.len() as u64;
        let expected = before.saturating_add(accepted);
        let token = &user.logged_in()?.access;
        let mut after = 0;
        for read in 1..=USAGE_READS {
            let Some(now) = netra.usage(token).await? else { return Ok(()) };
            after = now;
            // Counting more than the messages (other usage too) is the deployment's business.
            if after >= expected || read == USAGE_READS {
                break;
            }
            let next = std::time::Instant::now() + std::time::Duration::from_millis(250);
            super::runner::wait_on_purpose(ctx, user, next).await;
        }
        // A day that rolled over meanwhile starts the count again: no evidence either way.
        if after >= expected || utc_day() != self.day {
            return Ok(());
        }
        let endpoint = format!("POST {}", netra.api().messages);
        let mut f = ctx.finding(FindingKind::UsageMiscounted, user.number, &endpoint);
        f.expected = format!("the usage reported ({}) grows by each message accepted", netra.api().usage);
        f.observed = format!(
            "{accepted} messages posted at once were accepted (201); the usage went from {before} to {after} (read {USAGE_READS} times, a quarter of a second apart)"
        );
        let url = netra.backend_url(&netra.api().messages);
        let bearer = format!("<access token of user {}>", user.number);
        let body = format!(r#"{{"{}": "hello"}}"#, netra.api().post_field);
        let post = curl("POST", &url, Some(&bearer), Some(&body));
        let usage = curl("GET", &netra.backend_url(&netra.api().usage), Some(&bearer), None);
        f.reproducer = format!("for i in 1 2 3; do {post} & done; wait; {usage}");
        ctx.findings.report(f);
        Ok(())
    }
}
