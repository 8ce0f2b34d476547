//! Progress on stderr while the run goes on: a bar when stderr is a terminal, a plain line every
//! few seconds when it is not, nothing when quiet.

use std::io::IsTerminal;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressStyle};
use tokio::task::JoinHandle;

use crate::config::{Plan, Stop};
use crate::journeys::Live;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Progress {
    Quiet,
    Lines,
    Bar,
}

impl Progress {
    /// A bar on a terminal, lines otherwise; `Quiet` when asked.
    pub fn choose(quiet: bool, no_progress: bool) -> Progress {
        if quiet || no_progress {
            Progress::Quiet
        } else if std::io::stderr().is_terminal() {
            Progress::Bar
        } else {
            Progress::Lines
        }
    }

    pub(super) fn start(self, plan: &Plan, live: Arc<Live>, started: Instant) -> Ticker {
        if self == Progress::Quiet {
            return Ticker(None);
        }
        let total = match plan.stop {
            Stop::After(d) => d.as_secs().max(1),
            Stop::Iterations(n) => (n * plan.users) as u64,
        };
        let users = plan.users;
        let by_time = matches!(plan.stop, Stop::After(_));
        let bar = (self == Progress::Bar).then(|| {
            let bar = ProgressBar::new(total);
            let unit = if by_time { "s" } else { " journeys" };
            let template = format!("{{bar:30}} {{pos}}/{{len}}{unit}  {{msg}}");
            bar.set_style(
                ProgressStyle::with_template(&template).unwrap_or_else(|_| ProgressStyle::default_bar()),
            );
            bar
        });
        let every = if bar.is_some() { Duration::from_millis(200) } else { Duration::from_secs(5) };
        let shown = bar.clone();
        let task = tokio::spawn(async move {
            let mut tick = tokio::time::interval(every);
            tick.tick().await;
            loop {
                tick.tick().await;
                let started_users = live.users_started.load(Ordering::Relaxed);
                let done = live.journeys_done.count();
                let failed = live.journeys_failed.count();
                let elapsed = started.elapsed().as_secs();
                let msg = format!("users {started_users}/{users}  journeys {done}  failed {failed}");
                match &bar {
                    Some(bar) => {
                        bar.set_position(if by_time { elapsed.min(total) } else { done + failed });
                        bar.set_message(msg);
                    }
                    None => eprintln!("[{elapsed:>4}s] {msg}"),
                }
            }
        });
        Ticker(Some((task, shown)))
    }
}

/// The running display; `finish` stops it and clears the bar.
pub struct Ticker(Option<(JoinHandle<()>, Option<ProgressBar>)>);

impl Ticker {
    pub fn finish(self) {
        if let Some((task, bar)) = self.0 {
            task.abort();
            if let Some(bar) = bar {
                bar.finish_and_clear();
            }
        }
    }
}
