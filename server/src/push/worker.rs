//! The push worker: a member of the `push` consumer group. It acknowledges an event once every
//! recipient's delivery is final, dead-letters it when WeChat stays unavailable or the event keeps
//! coming back, and takes over events a stopped worker left unacknowledged.
use std::{sync::Arc, time::Duration};

use futures_util::StreamExt;

use crate::{
    events::broker::Delivery,
    push::service::{Handled, deliver},
    state::AppState,
};

pub const GROUP: &str = "push";

/// Handles what one read of the group returns; returns how many events were handled.
pub async fn run_once(state: &AppState, consumer: &str, block: Duration) -> anyhow::Result<usize> {
    let settings = &state.settings.push;
    let deliveries: Vec<Delivery> = state
        .broker
        .read_group(
            GROUP,
            consumer,
            32,
            block,
            Duration::from_millis(settings.reclaim_after_ms),
        )
        .await?;
    let count = deliveries.len();
    // Deliveries are independent (one event each; a message is claimed before it is sent), so
    // several go out at once.
    let results: Vec<anyhow::Result<()>> = futures_util::stream::iter(deliveries)
        .map(|delivery| handle(state, delivery))
        .buffer_unordered(settings.concurrency.max(1))
        .collect()
        .await;
    for result in results {
        result?;
    }
    Ok(count)
}

async fn handle(state: &AppState, delivery: Delivery) -> anyhow::Result<()> {
    let settings = &state.settings.push;
    if delivery.times_delivered > settings.max_deliveries {
        state
            .broker
            .dead_letter(GROUP, &delivery, "delivered too many times")
            .await?;
        return Ok(());
    }
    match deliver(state, &delivery.envelope).await {
        Ok(Handled::Done) => state.broker.ack(GROUP, &delivery).await?,
        Ok(Handled::Temporary) => {
            state
                .broker
                .dead_letter(GROUP, &delivery, "WeChat unavailable after retries")
                .await?
        }
        Err(error) => {
            // Left unacknowledged: redelivered after `reclaim_after_ms`.
            tracing::warn!(error = error.message(), event_id = %delivery.envelope.id, "push delivery failed; will retry");
        }
    }
    Ok(())
}

/// Runs until shutdown.
pub async fn run_forever(state: Arc<AppState>, consumer: String) {
    let mut shutdown = state.shutdown.clone();
    let mut failures: u32 = 0;
    loop {
        if *shutdown.borrow() {
            return;
        }
        let round = tokio::select! {
            round = run_once(&state, &consumer, Duration::from_secs(2)) => round,
            _ = shutdown.changed() => return,
        };
        match round {
            Ok(_) => failures = 0,
            Err(error) => {
                failures += 1;
                if failures == 1 || failures.is_multiple_of(20) {
                    tracing::warn!(%error, "push worker waiting for the broker");
                }
                tokio::time::sleep(Duration::from_millis(200 * u64::from(failures.min(10)))).await;
            }
        }
    }
}
