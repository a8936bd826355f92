//! The push worker: claims queued deliveries from the database and sends them (see
//! `push::sender`). Any number of workers, on any number of instances, share the queue. It is
//! woken by this instance's commits that queued deliveries and otherwise polls; Redis plays no
//! part in what must be sent, so losing Redis loses no push.
use std::{sync::Arc, time::Duration};

use crate::{push::sender, state::AppState};

/// Deliveries claimed per round.
const BATCH: u64 = 64;

/// One round: sends a batch, or — with nothing due — closes deliveries left `sending` by a
/// stopped worker and waits up to `block` for new ones. Returns how many were handled.
pub async fn run_once(state: &AppState, consumer: &str, block: Duration) -> anyhow::Result<usize> {
    let handled = sender::send_batch(state, BATCH)
        .await
        .map_err(|e| anyhow::anyhow!(e.message()))?;
    if handled == 0 {
        let closed = sender::close_interrupted(state, BATCH)
            .await
            .map_err(|e| anyhow::anyhow!(e.message()))?;
        if closed > 0 {
            tracing::warn!(
                consumer,
                closed,
                "deliveries interrupted mid-send marked UNKNOWN"
            );
        }
        let mut shutdown = state.shutdown.clone();
        tokio::select! {
            _ = state.push_wake.notified() => {}
            _ = tokio::time::sleep(block) => {}
            _ = shutdown.changed() => {}
        }
    }
    Ok(handled)
}

/// Runs until shutdown.
pub async fn run_forever(state: Arc<AppState>, consumer: String) {
    let shutdown = state.shutdown.clone();
    let mut failures: u32 = 0;
    loop {
        if *shutdown.borrow() {
            return;
        }
        // A round is never cut short: its claimed messages are sent and recorded before the
        // worker stops (a round lasts at most a few WeChat timeouts).
        let round = run_once(&state, &consumer, Duration::from_millis(500)).await;
        match round {
            Ok(_) => failures = 0,
            Err(error) => {
                failures += 1;
                if failures == 1 || failures.is_multiple_of(20) {
                    tracing::warn!(%error, "push worker cannot reach the database; will retry");
                }
                tokio::time::sleep(Duration::from_millis(200 * u64::from(failures.min(10)))).await;
            }
        }
    }
}
