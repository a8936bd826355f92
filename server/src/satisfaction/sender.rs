//! The delivery worker: claims due deliveries with a guarded update that leases them (a
//! delivery left `sending` by a stopped worker is due again when the lease ends, so none is
//! lost; the receiver deduplicates by `X-Bangban-Delivery`), POSTs each signed, and records
//! what the answer means (`delivery::next_step`): delivered, due again after a backoff, or dead.
//! Any number of workers on any number of instances share the deliveries.
use std::{sync::Arc, time::Duration};

use entity::provincial_deliveries;
use sea_orm::{
    ColumnTrait, Condition, EntityTrait, QueryFilter, QueryOrder, QuerySelect, sea_query::Expr,
};

use uuid::Uuid;

use crate::{
    config::DeliveryTarget,
    error::AppResult,
    satisfaction::delivery::{Answer, Next, ProvincialDeliveryStatus, next_step, signature},
    state::AppState,
};

/// Deliveries claimed per round.
const BATCH: u64 = 32;

/// How long a claimed delivery is left to its worker (at least its timeout).
fn lease(target: &DeliveryTarget) -> chrono::Duration {
    chrono::Duration::milliseconds(i64::try_from(target.timeout_ms).unwrap_or(60_000) + 30_000)
}

/// One round: claims and sends what is due; returns how many were sent.
pub async fn send_due(state: &AppState, http: &reqwest::Client) -> AppResult<usize> {
    let targets = &state.settings.satisfaction.targets;
    let names: Vec<&str> = targets.iter().map(|t| t.name.as_str()).collect();
    let due = provincial_deliveries::Entity::find()
        .filter(provincial_deliveries::Column::Status.is_in([
            ProvincialDeliveryStatus::Queued.as_str(),
            ProvincialDeliveryStatus::Sending.as_str(),
        ]))
        // A target no longer configured keeps its deliveries (not lost), without holding up
        // the others'.
        .filter(provincial_deliveries::Column::Target.is_in(names))
        .filter(provincial_deliveries::Column::NextAt.lte(state.clock.now()))
        .order_by_asc(provincial_deliveries::Column::NextAt)
        .limit(BATCH)
        .all(&state.db)
        .await?;
    let mut sent = 0;
    for delivery in due {
        let Some(target) = targets.iter().find(|t| t.name == delivery.target) else {
            continue;
        };
        // The clock is read for each claim: a lease is counted from when it is taken.
        let now = state.clock.now();
        let claim = Uuid::new_v4();
        let attempts = delivery.attempts + 1;
        let claimed = provincial_deliveries::Entity::update_many()
            .col_expr(
                provincial_deliveries::Column::Status,
                Expr::value(ProvincialDeliveryStatus::Sending.as_str()),
            )
            .col_expr(
                provincial_deliveries::Column::Attempts,
                Expr::value(attempts),
            )
            .col_expr(
                provincial_deliveries::Column::NextAt,
                Expr::value(now + lease(target)),
            )
            .col_expr(
                provincial_deliveries::Column::Claim,
                Expr::value(Some(claim)),
            )
            .col_expr(provincial_deliveries::Column::UpdatedAt, Expr::value(now))
            .filter(provincial_deliveries::Column::Id.eq(delivery.id))
            .filter(provincial_deliveries::Column::Attempts.eq(delivery.attempts))
            .filter(provincial_deliveries::Column::Status.eq(delivery.status.as_str()))
            .filter(provincial_deliveries::Column::NextAt.lte(now))
            .exec(&state.db)
            .await?;
        if claimed.rows_affected == 0 {
            continue;
        }
        let answer = send(http, target, &delivery, state.clock.now().timestamp()).await;
        record(state, &delivery, claim, attempts, target, &answer).await?;
        sent += 1;
    }
    Ok(sent)
}

async fn send(
    http: &reqwest::Client,
    target: &DeliveryTarget,
    delivery: &provincial_deliveries::Model,
    timestamp: i64,
) -> Answer {
    let signed = signature(
        target.secret.expose().as_bytes(),
        timestamp,
        delivery.id,
        &delivery.body,
    );
    let response = http
        .post(&target.url)
        .timeout(Duration::from_millis(target.timeout_ms))
        .header(reqwest::header::CONTENT_TYPE, "application/json")
        .header("X-Bangban-Timestamp", timestamp.to_string())
        .header("X-Bangban-Signature", signed)
        .header("X-Bangban-Delivery", delivery.id.to_string())
        .body(delivery.body.clone())
        .send()
        .await;
    match response {
        Ok(response) => Answer::Status(response.status().as_u16()),
        Err(error) if error.is_timeout() => Answer::NoAnswer("timeout".into()),
        Err(error) if error.is_connect() => Answer::NoAnswer("connection failed".into()),
        Err(_) => Answer::NoAnswer("request failed".into()),
    }
}

/// Records a send's answer, guarded on its claim (a later claim of the same delivery — after
/// this one's lease ran out, or a redrive — wins; this answer is then dropped).
async fn record(
    state: &AppState,
    delivery: &provincial_deliveries::Model,
    claim: Uuid,
    attempts: i32,
    target: &DeliveryTarget,
    answer: &Answer,
) -> AppResult<()> {
    let now = state.clock.now();
    let next = next_step(
        answer,
        attempts,
        target.max_attempts,
        Duration::from_millis(target.retry_base_ms),
    );
    let (status, error, http_status) = match answer {
        Answer::Status(code) => (
            next.clone(),
            (!(200..300).contains(code)).then(|| format!("HTTP {code}")),
            Some(i32::from(*code)),
        ),
        Answer::NoAnswer(why) => (next.clone(), Some(why.clone()), None),
    };
    let mut update = provincial_deliveries::Entity::update_many()
        .col_expr(provincial_deliveries::Column::LastError, Expr::value(error))
        .col_expr(
            provincial_deliveries::Column::LastStatus,
            Expr::value(http_status),
        )
        .col_expr(provincial_deliveries::Column::UpdatedAt, Expr::value(now));
    update = match status {
        Next::Delivered => update
            .col_expr(
                provincial_deliveries::Column::Status,
                Expr::value(ProvincialDeliveryStatus::Delivered.as_str()),
            )
            .col_expr(
                provincial_deliveries::Column::DeliveredAt,
                Expr::value(Some(now)),
            ),
        Next::RetryAfter(delay) => update
            .col_expr(
                provincial_deliveries::Column::Status,
                Expr::value(ProvincialDeliveryStatus::Queued.as_str()),
            )
            .col_expr(
                provincial_deliveries::Column::NextAt,
                Expr::value(now + delay),
            ),
        Next::Dead => {
            tracing::warn!(target = %target.name, delivery = %delivery.id, attempts, "a provincial delivery is dead-lettered");
            update.col_expr(
                provincial_deliveries::Column::Status,
                Expr::value(ProvincialDeliveryStatus::Dead.as_str()),
            )
        }
    };
    update
        .filter(
            Condition::all()
                .add(provincial_deliveries::Column::Id.eq(delivery.id))
                .add(provincial_deliveries::Column::Claim.eq(claim))
                .add(
                    provincial_deliveries::Column::Status
                        .eq(ProvincialDeliveryStatus::Sending.as_str()),
                ),
        )
        .exec(&state.db)
        .await?;
    Ok(())
}

/// Runs until shutdown: a round, then a wait for the next poll.
pub async fn run_forever(state: Arc<AppState>) {
    let poll = Duration::from_millis(state.settings.satisfaction.delivery_poll_ms.max(10));
    // Redirects are not followed: a 3xx is no delivery (it is tried again), and the signed
    // headers go nowhere but the configured URL.
    let http = match reqwest::Client::builder()
        .connect_timeout(Duration::from_secs(3))
        .redirect(reqwest::redirect::Policy::none())
        // Straight to the platform: an environment proxy would see plain-HTTP local targets.
        .no_proxy()
        .build()
    {
        Ok(http) => http,
        Err(error) => {
            tracing::error!(%error, "the delivery worker cannot build its HTTP client");
            return;
        }
    };
    let mut shutdown = state.shutdown.clone();
    let mut failures: u32 = 0;
    loop {
        if *shutdown.borrow() {
            return;
        }
        match send_due(&state, &http).await {
            Ok(_) => failures = 0,
            Err(error) => {
                failures += 1;
                if failures == 1 || failures.is_multiple_of(20) {
                    tracing::warn!(
                        error = error.message(),
                        "the delivery worker cannot reach the database; will retry"
                    );
                }
            }
        }
        tokio::select! {
            _ = tokio::time::sleep(poll) => {}
            _ = shutdown.changed() => {}
        }
    }
}
