//! Scheduled work. Each room registers its own jobs ([`ScheduledJobs`], assembled in `lib.rs`),
//! so a new room adds jobs without editing this file. Every job is idempotent and claims its
//! rows with guarded updates, so any number of instances may run it; a room whose jobs fail is
//! logged, counted (`bangban_job_failures_total`) and tried again on the next run, and the
//! other rooms run regardless.
use std::{collections::BTreeMap, sync::Arc, time::Duration};

use async_trait::async_trait;

use crate::{error::AppResult, state::AppState};

/// What one room's jobs did in one run: a count per job (`no_shows`, `staff_changes`, …).
pub type Counts = BTreeMap<&'static str, u64>;

/// The counts of jobs that each ran whatever the others did, or the first failure among them
/// (every job is retried next run): one failing (WeChat down, say) must not starve the rest.
pub fn counts_or_first_failure(
    results: impl IntoIterator<Item = (&'static str, AppResult<u64>)>,
) -> AppResult<Counts> {
    let mut counts = Counts::new();
    let mut failed = None;
    for (name, result) in results {
        match result {
            Ok(n) => {
                counts.insert(name, n);
            }
            Err(error) => {
                tracing::error!(job = name, error = error.message(), "job failed");
                failed.get_or_insert(error);
            }
        }
    }
    match failed {
        Some(error) => Err(error),
        None => Ok(counts),
    }
}

/// One room's scheduled jobs.
#[async_trait]
pub trait ScheduledJobs: Send + Sync + 'static {
    /// The room's name in reports and logs (`booking`, `directory`).
    fn room(&self) -> &'static str;

    /// Runs the room's due jobs once; what each did. The room decides the order of its own
    /// jobs and whether one failing stops the others.
    async fn run_due(&self, state: &AppState) -> AppResult<Counts>;
}

/// Every room's scheduled jobs, run in registration order.
#[derive(Clone, Default)]
pub struct Schedule {
    rooms: Vec<Arc<dyn ScheduledJobs>>,
}

impl Schedule {
    pub fn new(rooms: Vec<Arc<dyn ScheduledJobs>>) -> Self {
        Self { rooms }
    }
}

/// What one run of the jobs did, by room.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Ran(BTreeMap<&'static str, Counts>);

impl Ran {
    /// How many things `job` of `room` did (0 when it did nothing or did not run).
    pub fn count(&self, room: &str, job: &str) -> u64 {
        self.0
            .get(room)
            .and_then(|counts| counts.get(job))
            .copied()
            .unwrap_or(0)
    }

    /// Whether any job did anything.
    pub fn did_work(&self) -> bool {
        self.0.values().flat_map(BTreeMap::values).any(|n| *n > 0)
    }
}

/// Runs every room's due jobs once; returns what they did (for tests and the log). A room
/// whose jobs fail is logged and counted, and the others still run; the run then answers the
/// first failure (everything is tried again on the next run).
pub async fn run_due(state: &AppState) -> AppResult<Ran> {
    let mut ran = Ran::default();
    let mut failed = None;
    for room in &state.schedule.rooms {
        match room.run_due(state).await {
            Ok(counts) => {
                ran.0.insert(room.room(), counts);
            }
            Err(error) => {
                state.metrics.job_failed(room.room());
                tracing::error!(
                    room = room.room(),
                    error = error.message(),
                    "scheduled jobs failed"
                );
                failed.get_or_insert(error);
            }
        }
    }
    match failed {
        Some(error) => Err(error),
        None => Ok(ran),
    }
}

/// Runs the jobs every `interval` until shutdown.
pub async fn run_forever(state: Arc<AppState>, interval: Duration) {
    let mut shutdown = state.shutdown.clone();
    let mut ticker = tokio::time::interval(interval);
    loop {
        tokio::select! {
            _ = ticker.tick() => {
                match run_due(&state).await {
                    Ok(ran) if ran.did_work() => tracing::info!(?ran, "scheduled jobs did work"),
                    Ok(_) => {}
                    Err(error) => tracing::error!(error = error.message(), "scheduled jobs failed"),
                }
            }
            _ = shutdown.changed() => return,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_run_reports_each_rooms_counts_and_whether_anything_was_done() {
        let mut ran = Ran::default();
        assert!(!ran.did_work());
        ran.0
            .insert("booking", Counts::from([("no_shows", 0), ("reminders", 0)]));
        assert!(!ran.did_work());
        ran.0
            .insert("directory", Counts::from([("staff_changes", 2)]));
        assert!(ran.did_work());
        assert_eq!(ran.count("directory", "staff_changes"), 2);
        assert_eq!(ran.count("booking", "no_shows"), 0);
        assert_eq!(ran.count("cases", "anything"), 0);
    }
}
