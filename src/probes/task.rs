//! A background task beside the load, with its stop signal and a grace period (as mini-redis's
//! `shutdown.rs`): the task is told to stop, may finish the work under way, and is cut if it takes
//! longer than the grace period (a probe waiting on a target that stopped answering), so that the
//! run still ends on time.

use std::future::Future;
use std::time::Duration;

use tokio::sync::watch;
use tokio::task::JoinHandle;

/// How long the probes may take to stop once the run is over.
pub const FINISH_WAIT: Duration = Duration::from_secs(1);

/// Handed to the task: tells it when to stop.
#[derive(Clone)]
pub struct Shutdown(watch::Receiver<bool>);

impl Shutdown {
    /// Resolves once the task is told to stop (at once if it was already).
    pub async fn recv(&mut self) {
        let _ = self.0.wait_for(|stop| *stop).await;
    }

    pub fn is_shutdown(&self) -> bool {
        *self.0.borrow()
    }

    /// Sleeps `every`; returns false when told to stop meanwhile (or before).
    pub async fn sleep(&mut self, every: Duration) -> bool {
        tokio::select! {
            () = tokio::time::sleep(every) => !self.is_shutdown(),
            () = self.recv() => false,
        }
    }
}

/// A running background task whose result is `T`.
pub struct Background<T> {
    stop: watch::Sender<bool>,
    task: JoinHandle<T>,
}

/// Why a task gave no result.
#[derive(Debug, PartialEq, Eq)]
pub enum Ended {
    /// Still busy past the grace period: aborted.
    Cut,
    /// It panicked (a bug of ours).
    Failed(String),
}

impl<T: Send + 'static> Background<T> {
    /// Starts `work`, which gets the [`Shutdown`] it must watch.
    pub fn spawn<F, Fut>(work: F) -> Background<T>
    where
        F: FnOnce(Shutdown) -> Fut,
        Fut: Future<Output = T> + Send + 'static,
    {
        let (stop, stopped) = watch::channel(false);
        Background { stop, task: tokio::spawn(work(Shutdown(stopped))) }
    }

    /// Tells the task to stop and waits for its result, at most `grace`.
    pub async fn finish(mut self, grace: Duration) -> Result<T, Ended> {
        let _ = self.stop.send(true);
        match tokio::time::timeout(grace, &mut self.task).await {
            Ok(Ok(result)) => Ok(result),
            Ok(Err(e)) => Err(Ended::Failed(e.to_string())),
            Err(_) => {
                self.task.abort();
                Err(Ended::Cut)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_task_stops_when_told_and_one_that_does_not_is_cut_after_the_grace_period() {
        let ticking = Background::spawn(|mut shutdown| async move {
            let mut ticks = 0u32;
            while shutdown.sleep(Duration::from_millis(1)).await {
                ticks += 1;
            }
            ticks
        });
        tokio::time::sleep(Duration::from_millis(20)).await;
        assert!(ticking.finish(FINISH_WAIT).await.unwrap() > 0);

        let stuck = Background::spawn(|_| std::future::pending::<()>());
        assert_eq!(stuck.finish(Duration::from_millis(10)).await, Err(Ended::Cut));

        let told_first = Background::spawn(|mut shutdown| async move {
            shutdown.recv().await;
            shutdown.is_shutdown()
        });
        assert_eq!(told_first.finish(FINISH_WAIT).await, Ok(true));
    }
}
