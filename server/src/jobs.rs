//! Scheduled work: applying approved directory changes on their date. Every job is idempotent
//! and claims its rows with guarded updates, so any number of instances may run it.
use std::{sync::Arc, time::Duration};

use crate::{directory::changes::apply_due_changes, state::AppState};

/// Runs the due jobs once; returns what was applied (for tests and the log).
pub async fn run_due(
    state: &AppState,
) -> crate::error::AppResult<crate::directory::changes::Applied> {
    apply_due_changes(state).await
}

/// Runs the jobs every `interval` until shutdown.
pub async fn run_forever(state: Arc<AppState>, interval: Duration) {
    let mut shutdown = state.shutdown.clone();
    let mut ticker = tokio::time::interval(interval);
    loop {
        tokio::select! {
            _ = ticker.tick() => {
                match run_due(&state).await {
                    Ok(applied) if applied != Default::default() => tracing::info!(?applied, "applied due directory changes"),
                    Ok(_) => {}
                    Err(error) => tracing::error!(error = error.message(), "scheduled job failed"),
                }
            }
            _ = shutdown.changed() => return,
        }
    }
}
