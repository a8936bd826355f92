//! Scheduled work: applying approved directory changes on their date, and the booking jobs
//! (no-shows, review deadlines, reminders, waitlist offers, old idempotency keys). Every job is
//! idempotent and claims its rows with guarded updates, so any number of instances may run it.
use std::{sync::Arc, time::Duration};

use crate::{
    booking::jobs::BookingRun, directory::changes::Applied, directory::changes::apply_due_changes,
    state::AppState,
};

/// What one run of the jobs did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Ran {
    pub directory: Applied,
    pub booking: BookingRun,
}

/// Runs the due jobs once; returns what they did (for tests and the log).
pub async fn run_due(state: &AppState) -> crate::error::AppResult<Ran> {
    Ok(Ran {
        directory: apply_due_changes(state).await?,
        booking: crate::booking::jobs::run_due(state).await?,
    })
}

/// Runs the jobs every `interval` until shutdown.
pub async fn run_forever(state: Arc<AppState>, interval: Duration) {
    let mut shutdown = state.shutdown.clone();
    let mut ticker = tokio::time::interval(interval);
    loop {
        tokio::select! {
            _ = ticker.tick() => {
                match run_due(&state).await {
                    Ok(ran) if ran != Ran::default() => tracing::info!(?ran, "scheduled jobs did work"),
                    Ok(_) => {}
                    Err(error) => tracing::error!(error = error.message(), "scheduled job failed"),
                }
            }
            _ = shutdown.changed() => return,
        }
    }
}
