//! How the run went as a whole: how it ended, and the open model's schedule (journeys due,
//! started and dropped).

use serde::{Deserialize, Serialize};

/// What ended the run.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, strum::Display)]
#[serde(rename_all = "snake_case")]
#[strum(serialize_all = "snake_case")]
pub enum EndedBy {
    /// Its run time was up.
    RunTime,
    /// Every user ran its iterations.
    Iterations,
    /// SIGINT or SIGTERM.
    Interrupted,
}

impl EndedBy {
    /// What ended the run, in words: `ended by its run time`.
    pub fn words(self) -> &'static str {
        match self {
            EndedBy::RunTime => "its run time",
            EndedBy::Iterations => "its iterations",
            EndedBy::Interrupted => "an interrupt",
        }
    }
}

/// What the schedule asked for and what could be done.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct ArrivalReport {
    pub per_second: f64,
    pub max_in_flight: usize,
    /// Journeys due during the run.
    pub scheduled: u64,
    pub started: u64,
    /// Due while `max_in_flight` journeys were running: not started.
    pub dropped: u64,
    /// The most journeys running at once.
    pub peak_in_flight: usize,
}
