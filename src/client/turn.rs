//! Which WebSocket events answer one chat turn, written once for every step that waits for a
//! reply: an event of another thread (another user's: cross-talk, the scanner's to report; or
//! another turn of the same user's) is never the answer; where the dialect's replies quote the
//! message (`[api] reply_quotes`, the reference's), the answer is the reply that quotes it, so
//! that a late reply to an earlier turn is not taken for this one, whatever came before it; and
//! once this turn's `agent_started` is seen, progress and failures of other runs are other
//! turns'. Where replies do not quote, the run id of this turn's start is what tells, and events
//! before it are an earlier turn's (a failure on the turn's own thread may come without a start).
//! On the default thread, whose id the client may not know, a failure naming a thread is taken
//! only once this turn has started: a thread-less `error` answers what was sent.

use serde_json::Value;

use super::api::Api;

/// What one frame is to the turn awaited.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Belongs {
    /// Its end: the reply, or a refusal (`error` frames carry no thread: they answer what was
    /// sent last on the connection).
    Completed,
    Failed,
    /// An event of this turn before its end (`agent_started`, `agent_thinking`, ...).
    Progress,
    /// An agent event of another turn or thread: ignored as an answer, counted.
    Other,
    /// Not an agent event (`pong`, ...).
    Unrelated,
}

/// The turn awaited: the message sent and the thread it went to (`None`: the user's default
/// thread, when its id is not known yet).
pub struct TurnOf<'a> {
    thread: Option<&'a str>,
    content: &'a str,
    /// The run of this turn's `agent_started`, once seen.
    run: Option<String>,
}

impl<'a> TurnOf<'a> {
    pub fn new(thread: Option<&'a str>, content: &'a str) -> TurnOf<'a> {
        TurnOf { thread, content, run: None }
    }

    pub fn classify(&mut self, api: &Api, frame: &Value) -> Belongs {
        let kind = frame["type"].as_str().unwrap_or_default();
        let payload = &frame["payload"];
        let done = api.turn_done.iter().any(|k| k == kind);
        let failed = api.turn_failed.iter().any(|k| k == kind);
        if !(done || failed || kind.starts_with("agent_") || kind.starts_with("tool_")) {
            return Belongs::Unrelated;
        }
        let thread = payload.get("thread_id").and_then(Value::as_str);
        if let (Some(ours), Some(theirs)) = (self.thread, thread)
            && ours != theirs
        {
            return Belongs::Other;
        }
        let run = payload.get("run_id").and_then(Value::as_str);
        if done && api.reply_quotes {
            // The quote tells the answer, whatever start came before it (a start still queued
            // from an earlier turn may have been taken for this one's).
            let reply = payload["result"]["content"].as_str().unwrap_or_default();
            return if reply.contains(self.content) { Belongs::Completed } else { Belongs::Other };
        }
        match (&self.run, run) {
            // An event of another run than this turn's start: another turn's.
            (Some(mine), Some(theirs)) if mine != theirs => return Belongs::Other,
            // A start is taken as this turn's on a known thread, or where nothing else could tell
            // (no quotes, the default thread): another user's misrouted start then fools the step.
            (None, Some(theirs))
                if kind == "agent_started" && (self.thread.is_some() || !api.reply_quotes) =>
            {
                self.run = Some(theirs.to_owned());
                return Belongs::Progress;
            }
            // Without quotes, an agent event before this turn's start is of a turn begun earlier;
            // a failure may come with no start, and is this turn's on its thread.
            (None, Some(_)) if !api.reply_quotes && (!failed || self.thread.is_none()) => {
                return Belongs::Other;
            }
            _ => {}
        }
        if failed {
            // A failure naming a thread on the default thread cannot be told from another user's
            // misrouted one: only a thread-less `error` (a refusal of what was sent) answers there.
            if self.thread.is_none() && thread.is_some() && self.run.is_none() {
                return Belongs::Other;
            }
            return Belongs::Failed;
        }
        if done {
            return Belongs::Completed;
        }
        Belongs::Progress
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn event(kind: &str, thread: &str, run: &str, reply: &str) -> Value {
        json!({"type": kind, "payload": {"thread_id": thread, "run_id": run, "result": {"content": reply}}})
    }

    #[test]
    fn only_this_turns_events_answer_it() {
        let api = Api::default();
        let mut turn = TurnOf::new(Some("t1"), "hello cnry-1");
        assert_eq!(turn.classify(&api, &json!({"type": "pong", "payload": {}})), Belongs::Unrelated);
        // Another user's reply, misrouted: never the answer.
        assert_eq!(turn.classify(&api, &event("agent_completed", "t9", "r9", "hi cnry-9")), Belongs::Other);
        assert_eq!(turn.classify(&api, &event("agent_started", "t1", "r1", "")), Belongs::Progress);
        // A late reply to an earlier message of the same thread: not this turn's.
        assert_eq!(turn.classify(&api, &event("agent_completed", "t1", "r0", "re: before")), Belongs::Other);
        assert_eq!(
            turn.classify(&api, &event("agent_completed", "t1", "r1", "re: hello cnry-1")),
            Belongs::Completed
        );
        let error =
            json!({"type": "error", "payload": {"code": "QUOTA_EXCEEDED", "message": "quota exceeded"}});
        assert_eq!(turn.classify(&api, &error), Belongs::Failed);
    }

    #[test]
    fn without_quoting_the_run_of_this_turns_start_decides() {
        let api = Api { reply_quotes: false, ..Api::default() };
        let mut turn = TurnOf::new(Some("t1"), "hello");
        // The rest of a turn begun before this one (a dropped connection's, another device's).
        assert_eq!(turn.classify(&api, &event("agent_completed", "t1", "r0", "anything")), Belongs::Other);
        assert_eq!(turn.classify(&api, &event("agent_started", "t1", "r1", "")), Belongs::Progress);
        assert_eq!(turn.classify(&api, &event("agent_completed", "t1", "r0", "anything")), Belongs::Other);
        assert_eq!(
            turn.classify(&api, &event("agent_completed", "t1", "r1", "anything")),
            Belongs::Completed
        );
        // On the default thread the first start after sending is taken as this turn's.
        let mut default = TurnOf::new(None, "hello");
        assert_eq!(default.classify(&api, &event("agent_started", "t2", "r2", "")), Belongs::Progress);
        assert_eq!(default.classify(&api, &event("agent_completed", "t9", "r9", "x")), Belongs::Other);
        assert_eq!(default.classify(&api, &event("agent_completed", "t2", "r2", "x")), Belongs::Completed);
    }

    #[test]
    fn on_the_default_thread_the_quote_tells_the_turn() {
        let api = Api::default();
        let mut turn = TurnOf::new(None, "quota probe 1 cnry-a");
        // Another user's start and reply, misrouted: a start alone proves nothing here.
        assert_eq!(turn.classify(&api, &event("agent_started", "t9", "r9", "")), Belongs::Progress);
        let foreign = event("agent_completed", "t9", "r9", "quota probe 11 cnry-b");
        assert_eq!(turn.classify(&api, &foreign), Belongs::Other);
        // "quota probe 1" is in "quota probe 11": the canary after the number keeps them apart.
        let later = event("agent_completed", "t2", "r3", "re: quota probe 11 cnry-a");
        assert_eq!(turn.classify(&api, &later), Belongs::Other);
        let own = event("agent_completed", "t2", "r2", "re: quota probe 1 cnry-a");
        assert_eq!(turn.classify(&api, &own), Belongs::Completed);
    }

    #[test]
    fn a_start_or_a_failure_of_another_turn_neither_hides_the_answer_nor_fails_the_turn() {
        let api = Api::default();
        let error = |thread: Option<&str>, run: &str| json!({"type": "agent_error", "payload": {"thread_id": thread, "run_id": run, "message": "x"}});
        // A reconnect: the interrupted turn's start is still queued and taken first.
        let mut turn = TurnOf::new(Some("t1"), "after cnry-1");
        assert_eq!(turn.classify(&api, &event("agent_started", "t1", "r0", "")), Belongs::Progress);
        assert_eq!(turn.classify(&api, &event("agent_started", "t1", "r1", "")), Belongs::Other);
        assert_eq!(turn.classify(&api, &error(Some("t9"), "r9")), Belongs::Other);
        assert_eq!(
            turn.classify(&api, &event("agent_completed", "t1", "r1", "re: after cnry-1")),
            Belongs::Completed
        );
        // Once this turn started, another run's failure is another turn's.
        let mut started = TurnOf::new(Some("t1"), "hi");
        assert_eq!(started.classify(&api, &event("agent_started", "t1", "r1", "")), Belongs::Progress);
        assert_eq!(started.classify(&api, &error(Some("t1"), "r0")), Belongs::Other);
        assert_eq!(started.classify(&api, &error(Some("t1"), "r1")), Belongs::Failed);
        // On the default thread, a failure naming a thread may be anyone's; a refusal is not.
        let mut default = TurnOf::new(None, "quota probe 11 cnry-a");
        assert_eq!(default.classify(&api, &error(Some("t9"), "r9")), Belongs::Other);
        let refusal = json!({"type": "error", "payload": {"code": "QUOTA_EXCEEDED", "message": "quota"}});
        assert_eq!(default.classify(&api, &refusal), Belongs::Failed);
        // Without quotes, a failure on the turn's own thread may come with no start.
        let plain = Api { reply_quotes: false, ..Api::default() };
        let mut unquoted = TurnOf::new(Some("t1"), "hi");
        assert_eq!(unquoted.classify(&plain, &error(Some("t1"), "r1")), Belongs::Failed);
    }
}
