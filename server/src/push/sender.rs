//! Sending queued deliveries, many per statement.
//!
//! A round claims a batch of due `queued` rows (`FOR UPDATE SKIP LOCKED` on PostgreSQL, so any
//! number of workers share the queue and never take the same row), and in the same transaction
//! uses their consent credits and records those without one as NO_CONSENT. The messages then go
//! out concurrently, and their outcomes are recorded grouped: one statement for all SENT rows,
//! one per other outcome. What happens after a failure depends on whether WeChat can have taken
//! the message ([`step_after`]): only a request that provably never reached it (no connection,
//! errcode -1 / 45011, a refused token) is sent again; anything ambiguous is UNKNOWN, never resent.
//! A row left `sending` by a stopped worker becomes UNKNOWN after a bound.
use std::{collections::HashMap, time::Duration};

use chrono::{DateTime, Utc};
use entity::{push_consents, push_deliveries, staff_accounts, users};
use futures_util::StreamExt;
use sea_orm::{
    ColumnTrait, Condition, ConnectionTrait, DatabaseBackend, EntityTrait, QueryFilter, QueryOrder,
    QuerySelect,
    sea_query::{CaseStatement, Expr, ExprTrait, LockBehavior, LockType},
};
use serde_json::{Map, Value};
use uuid::Uuid;

use crate::{error::AppResult, push::model::DeliveryStatus, state::AppState, wechat::WechatError};

type Key = (Uuid, Uuid);

fn key_of(row: &push_deliveries::Model) -> Key {
    (row.event_id, row.user_id)
}

/// Rows whose (event, user) is one of `keys`.
fn among(keys: &[Key]) -> sea_orm::sea_query::SimpleExpr {
    Expr::tuple([
        Expr::col(push_deliveries::Column::EventId),
        Expr::col(push_deliveries::Column::UserId),
    ])
    .in_tuples(keys.iter().copied())
}

/// What WeChat's answer to one send means.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Answer {
    Sent(u64),
    /// It provably did not take the message: no connection was made, it answered -1 or 45011,
    /// or it refused our token. Sending again cannot make a duplicate.
    NotTaken(String),
    /// 43101: the resident has no consent left at WeChat.
    NoConsent(String),
    /// Any other errcode: WeChat looked at it and said no (47003 names the field).
    Refused(String),
    /// No answer, or one we cannot read: WeChat may have shown it.
    Ambiguous(String),
}

impl Answer {
    pub fn of(result: Result<u64, WechatError>) -> Self {
        match result {
            Ok(msgid) => Self::Sent(msgid),
            Err(WechatError::Api {
                errcode: 43101,
                errmsg,
            }) => Self::NoConsent(format!("43101 {errmsg}")),
            Err(WechatError::Api { errcode, errmsg }) => {
                Self::Refused(format!("{errcode} {errmsg}"))
            }
            Err(
                error @ (WechatError::Busy(_)
                | WechatError::Unreachable(_)
                | WechatError::TokenRejected(_)),
            ) => Self::NotTaken(error.to_string()),
            Err(error @ (WechatError::InvalidCode(_) | WechatError::LoginBlocked)) => {
                Self::Refused(error.to_string())
            }
            Err(error @ (WechatError::Transport(_) | WechatError::Decode(_))) => {
                Self::Ambiguous(error.to_string())
            }
        }
    }
}

/// What to record for a delivery after its `attempts`-th send.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Step {
    Sent(String),
    /// Back to `queued`, due again after the delay.
    Retry {
        after_ms: u64,
        error: String,
    },
    /// A final status; `refund` gives the consent credit back (nothing reached the resident),
    /// `zero_credits` records WeChat's word that none are left.
    Final {
        status: DeliveryStatus,
        error: String,
        refund: bool,
        zero_credits: bool,
    },
}

/// The rule, pure: resend only what WeChat provably did not take, with exponential backoff
/// (base, 2·base, 4·base …), up to `max_attempts` sends.
pub fn step_after(answer: Answer, attempts: u32, max_attempts: u32, base_ms: u64) -> Step {
    let last = |status, error, refund| Step::Final {
        status,
        error,
        refund,
        zero_credits: false,
    };
    match answer {
        Answer::Sent(msgid) => Step::Sent(msgid.to_string()),
        Answer::NotTaken(error) if attempts < std::cmp::max(max_attempts, 1) => Step::Retry {
            after_ms: base_ms.saturating_mul(2u64.saturating_pow(attempts.saturating_sub(1))),
            error,
        },
        Answer::NotTaken(error) => last(DeliveryStatus::FailedTemporary, error, true),
        Answer::NoConsent(error) => Step::Final {
            status: DeliveryStatus::NoConsent,
            error,
            refund: false,
            zero_credits: true,
        },
        Answer::Refused(error) => last(DeliveryStatus::FailedPermanent, error, true),
        Answer::Ambiguous(error) => last(DeliveryStatus::Unknown, error, false),
    }
}

/// A claimed delivery, ready to send.
struct Claimed {
    row: push_deliveries::Model,
    openid: String,
}

/// Claims and sends one batch; returns how many deliveries it handled.
pub async fn send_batch(state: &AppState, limit: u64) -> AppResult<usize> {
    let Some(wechat) = state.wechat.clone() else {
        return Ok(0);
    };
    let (claimed, handled) = claim(state, limit).await?;
    let settings = &state.settings.push;
    let answers: Vec<(push_deliveries::Model, Answer)> = futures_util::stream::iter(claimed)
        .map(|claimed| {
            let wechat = wechat.clone();
            async move {
                let template =
                    settings.template_of(&claimed.row.template_id, &claimed.row.recipient);
                let data: Option<Map<String, Value>> = claimed
                    .row
                    .data
                    .as_deref()
                    .and_then(|d| serde_json::from_str(d).ok());
                let answer = match data {
                    Some(data) => Answer::of(
                        wechat
                            .send_subscribe_message(
                                &claimed.openid,
                                &claimed.row.template_id,
                                template.and_then(|t| t.page.as_deref()),
                                &data,
                                &settings.miniprogram_state,
                            )
                            .await,
                    ),
                    None => Answer::Refused("the template data is missing".into()),
                };
                (claimed.row, answer)
            }
        })
        .buffer_unordered(settings.concurrency.max(1))
        .collect()
        .await;
    // What WeChat answered must be written: a database that blinks now would otherwise leave
    // sent and retryable messages `sending`, to be closed as UNKNOWN (never retried).
    let mut wait = std::time::Duration::from_millis(200);
    let mut tries = 0;
    loop {
        match record(state, answers.clone()).await {
            Ok(()) => break,
            Err(error) if tries < 5 => {
                tries += 1;
                tracing::warn!(
                    error = error.message(),
                    "could not record WeChat's answers; trying again"
                );
                tokio::time::sleep(wait).await;
                wait *= 2;
            }
            Err(error) => return Err(error),
        }
    }
    Ok(handled)
}

/// In one transaction: the due rows, claimed (`sending`, one more attempt), their credits used
/// (first sends only: a retried message still holds its credit), and those without a credit
/// closed as NO_CONSENT. Returns what is to be sent and how many rows were handled.
async fn claim(state: &AppState, limit: u64) -> AppResult<(Vec<Claimed>, usize)> {
    let now = Utc::now();
    let txn = crate::db::begin_write(&state.db).await?;
    let mut due = push_deliveries::Entity::find()
        .filter(push_deliveries::Column::Status.eq(DeliveryStatus::Queued.as_str()))
        .filter(
            Condition::any()
                .add(push_deliveries::Column::NextAttemptAt.is_null())
                .add(push_deliveries::Column::NextAttemptAt.lte(now)),
        )
        .order_by_asc(push_deliveries::Column::NextAttemptAt)
        .limit(limit);
    if state.db.get_database_backend() == DatabaseBackend::Postgres {
        due = due.lock_with_behavior(LockType::Update, LockBehavior::SkipLocked);
    }
    let rows = due.all(&txn).await?;
    if rows.is_empty() {
        txn.commit().await?;
        return Ok((Vec::new(), 0));
    }
    let keys: Vec<Key> = rows.iter().map(key_of).collect();
    push_deliveries::Entity::update_many()
        .col_expr(
            push_deliveries::Column::Status,
            Expr::value(DeliveryStatus::Sending.as_str()),
        )
        .col_expr(
            push_deliveries::Column::Attempts,
            Expr::col(push_deliveries::Column::Attempts).add(1),
        )
        .col_expr(push_deliveries::Column::ClaimedAt, Expr::value(Some(now)))
        .col_expr(push_deliveries::Column::UpdatedAt, Expr::value(now))
        .filter(among(&keys))
        .exec(&txn)
        .await?;
    let first_sends: Vec<&push_deliveries::Model> =
        rows.iter().filter(|r| r.attempts == 0).collect();
    let without_credit = use_credits(&txn, &first_sends).await?;
    if !without_credit.is_empty() {
        push_deliveries::Entity::update_many()
            .col_expr(
                push_deliveries::Column::Status,
                Expr::value(DeliveryStatus::NoConsent.as_str()),
            )
            .col_expr(push_deliveries::Column::Attempts, Expr::value(0))
            .col_expr(
                push_deliveries::Column::LastError,
                Expr::value("no consent credit for the template"),
            )
            .filter(among(&without_credit))
            .exec(&txn)
            .await?;
    }
    let openids = openids_of(&txn, &rows).await?;
    // Template data is read before the claim commits: a failure here leaves the rows queued
    // (nothing sent, no credit spent) instead of claimed and then closed as UNKNOWN.
    let rows = with_data(&txn, state, rows).await?;
    txn.commit().await?;
    let handled = rows.len();
    let mut claimed = Vec::new();
    let mut gone = Vec::new();
    for row in rows {
        if without_credit.contains(&key_of(&row)) {
            continue;
        }
        match openids.get(&(row.staff_id, row.user_id)) {
            Some(openid) => claimed.push(Claimed {
                openid: openid.clone(),
                row,
            }),
            None => gone.push(row),
        }
    }
    // An account deleted since the event, or a staff member who unbound WeChat or left:
    // nothing to send to.
    let gone: Vec<(push_deliveries::Model, Answer)> = gone
        .into_iter()
        .map(|row| {
            let why = if row.recipient == STAFF {
                "the staff member no longer has WeChat bound"
            } else {
                "the account no longer exists"
            };
            (row, Answer::Refused(why.into()))
        })
        .collect();
    record(state, gone).await?;
    Ok((claimed, handled))
}

const STAFF: &str = "staff";

/// Where each claimed row goes: the openid of its WeChat user, keyed by (staff account, user);
/// a staff row only while its staff account is active and still bound to that WeChat user
/// (a WeChat unbound or passed on to a colleague gets none of the first account's messages).
/// At most two statements.
async fn openids_of(
    conn: &impl ConnectionTrait,
    rows: &[push_deliveries::Model],
) -> AppResult<HashMap<(Option<Uuid>, Uuid), String>> {
    let found: HashMap<Uuid, String> = users::Entity::find()
        .select_only()
        .column(users::Column::Id)
        .column(users::Column::Openid)
        .filter(users::Column::Id.is_in(rows.iter().map(|r| r.user_id)))
        .into_tuple::<(Uuid, String)>()
        .all(conn)
        .await?
        .into_iter()
        .collect();
    let staff: Vec<Uuid> = rows.iter().filter_map(|r| r.staff_id).collect();
    let bound: Vec<(Uuid, Option<Uuid>)> = if staff.is_empty() {
        Vec::new()
    } else {
        staff_accounts::Entity::find()
            .select_only()
            .column(staff_accounts::Column::Id)
            .column(staff_accounts::Column::WechatUserId)
            .filter(staff_accounts::Column::Id.is_in(staff))
            .filter(staff_accounts::Column::Active.eq(true))
            .into_tuple()
            .all(conn)
            .await?
    };
    let mut openids = HashMap::new();
    for row in rows {
        let Some(openid) = found.get(&row.user_id) else {
            continue;
        };
        let reachable = match row.staff_id {
            None => row.recipient != STAFF,
            Some(staff) => bound.contains(&(staff, Some(row.user_id))),
        };
        if reachable {
            openids.insert((row.staff_id, row.user_id), openid.clone());
        }
    }
    Ok(openids)
}

/// Rows queued before template data was stored with them get it fitted from their event now.
async fn with_data(
    conn: &impl ConnectionTrait,
    state: &AppState,
    mut rows: Vec<push_deliveries::Model>,
) -> AppResult<Vec<push_deliveries::Model>> {
    let missing: Vec<Uuid> = rows
        .iter()
        .filter(|r| r.data.is_none())
        .map(|r| r.event_id)
        .collect();
    if missing.is_empty() {
        return Ok(rows);
    }
    let payloads: HashMap<Uuid, String> = entity::events::Entity::find()
        .select_only()
        .column(entity::events::Column::Id)
        .column(entity::events::Column::Payload)
        .filter(entity::events::Column::Id.is_in(missing))
        .into_tuple::<(Uuid, String)>()
        .all(conn)
        .await?
        .into_iter()
        .collect();
    for row in rows.iter_mut().filter(|r| r.data.is_none()) {
        let template = state
            .settings
            .push
            .template_of(&row.template_id, &row.recipient);
        let payload: Option<Value> = payloads
            .get(&row.event_id)
            .and_then(|p| serde_json::from_str(p).ok());
        if let (Some(template), Some(payload)) = (template, payload)
            && let Ok(data) = crate::push::service::template_data(template, &payload)
        {
            row.data = Some(Value::Object(data).to_string());
        }
    }
    Ok(rows)
}

/// Uses one credit per delivery (long-term templates need none), one guarded statement per
/// template and round; returns the deliveries that found none. Two deliveries for the same
/// person and template in one batch take two credits, in two rounds.
async fn use_credits(
    conn: &impl ConnectionTrait,
    rows: &[&push_deliveries::Model],
) -> AppResult<Vec<Key>> {
    let mut by_template: HashMap<&str, Vec<&push_deliveries::Model>> = HashMap::new();
    for row in rows {
        by_template.entry(&row.template_id).or_default().push(row);
    }
    let mut without = Vec::new();
    for (template_id, mut waiting) in by_template {
        let mut refused: Vec<Uuid> = Vec::new();
        while !waiting.is_empty() {
            let mut round = Vec::new();
            let mut later = Vec::new();
            for row in waiting {
                if round
                    .iter()
                    .any(|r: &&push_deliveries::Model| r.user_id == row.user_id)
                {
                    later.push(row);
                } else {
                    round.push(row);
                }
            }
            let users: Vec<Uuid> = round.iter().map(|r| r.user_id).collect();
            let granted: Vec<Uuid> = push_consents::Entity::update_many()
                .col_expr(
                    push_consents::Column::Credits,
                    Expr::cust("credits - CASE WHEN long_term THEN 0 ELSE 1 END"),
                )
                .filter(push_consents::Column::TemplateId.eq(template_id))
                .filter(push_consents::Column::UserId.is_in(users))
                .filter(
                    Condition::any()
                        .add(push_consents::Column::LongTerm.eq(true))
                        .add(push_consents::Column::Credits.gt(0)),
                )
                .exec_with_returning(conn)
                .await?
                .into_iter()
                .map(|c| c.user_id)
                .collect();
            for row in round {
                if !granted.contains(&row.user_id) {
                    without.push(key_of(row));
                    refused.push(row.user_id);
                }
            }
            // Someone without a credit for this template has none for their other deliveries
            // with it either (other templates have credits of their own).
            let (none, rest): (Vec<_>, Vec<_>) = later
                .into_iter()
                .partition(|r| refused.contains(&r.user_id));
            without.extend(none.into_iter().map(key_of));
            waiting = rest;
        }
    }
    Ok(without)
}

/// Records the outcomes grouped: every SENT row in one statement, the others one statement per
/// (status, error, delay); then the credits given back or zeroed. Only rows still `sending` (or
/// marked UNKNOWN meanwhile, for a late SENT) are changed.
async fn record(state: &AppState, answers: Vec<(push_deliveries::Model, Answer)>) -> AppResult<()> {
    if answers.is_empty() {
        return Ok(());
    }
    let settings = &state.settings.push;
    let now = Utc::now();
    let mut sent: Vec<(Key, String)> = Vec::new();
    let mut groups: HashMap<(DeliveryStatus, String, u64), Vec<Key>> = HashMap::new();
    let mut refunds: Vec<(String, Uuid)> = Vec::new();
    let mut zeroes: Vec<(String, Uuid)> = Vec::new();
    for (row, answer) in answers {
        let attempts = u32::try_from(row.attempts + 1).unwrap_or(u32::MAX);
        match step_after(
            answer,
            attempts,
            settings.max_attempts,
            settings.retry_base_ms,
        ) {
            Step::Sent(msgid) => sent.push((key_of(&row), msgid)),
            Step::Retry { after_ms, error } => groups
                .entry((DeliveryStatus::Queued, error, after_ms))
                .or_default()
                .push(key_of(&row)),
            Step::Final {
                status,
                error,
                refund,
                zero_credits,
            } => {
                groups
                    .entry((status, error, 0))
                    .or_default()
                    .push(key_of(&row));
                if refund {
                    refunds.push((row.template_id.clone(), row.user_id));
                }
                if zero_credits {
                    zeroes.push((row.template_id.clone(), row.user_id));
                }
            }
        }
    }
    let txn = crate::db::begin_write(&state.db).await?;
    if !sent.is_empty() {
        let keys: Vec<Key> = sent.iter().map(|(k, _)| *k).collect();
        let mut msgid = CaseStatement::new();
        for ((event_id, user_id), id) in &sent {
            msgid = msgid.case(
                push_deliveries::Column::EventId
                    .eq(*event_id)
                    .and(push_deliveries::Column::UserId.eq(*user_id)),
                Expr::val(id.clone()),
            );
        }
        push_deliveries::Entity::update_many()
            .col_expr(
                push_deliveries::Column::Status,
                Expr::value(DeliveryStatus::Sent.as_str()),
            )
            .col_expr(push_deliveries::Column::Msgid, msgid.into())
            .col_expr(push_deliveries::Column::UpdatedAt, Expr::value(now))
            .filter(among(&keys))
            .filter(push_deliveries::Column::Status.is_in([
                DeliveryStatus::Sending.as_str(),
                DeliveryStatus::Unknown.as_str(),
            ]))
            .exec(&txn)
            .await?;
    }
    for ((status, error, after_ms), keys) in groups {
        let mut update = push_deliveries::Entity::update_many()
            .col_expr(
                push_deliveries::Column::Status,
                Expr::value(status.as_str()),
            )
            .col_expr(
                push_deliveries::Column::LastError,
                Expr::value(error.chars().take(300).collect::<String>()),
            )
            .col_expr(push_deliveries::Column::UpdatedAt, Expr::value(now));
        if status == DeliveryStatus::Queued {
            let due: DateTime<Utc> =
                now + chrono::Duration::milliseconds(i64::try_from(after_ms).unwrap_or(i64::MAX));
            update = update.col_expr(
                push_deliveries::Column::NextAttemptAt,
                Expr::value(Some(due)),
            );
        }
        update
            .filter(among(&keys))
            .filter(push_deliveries::Column::Status.eq(DeliveryStatus::Sending.as_str()))
            .exec(&txn)
            .await?;
    }
    adjust_credits(&txn, &refunds, "credits + 1").await?;
    adjust_credits(&txn, &zeroes, "0").await?;
    txn.commit().await?;
    Ok(())
}

/// Sets `credits = <expr>` for each (template, user), one statement per template and round
/// (a person twice in the list gets two rounds, so `credits + 1` counts both).
async fn adjust_credits(
    conn: &impl ConnectionTrait,
    pairs: &[(String, Uuid)],
    expr: &'static str,
) -> AppResult<()> {
    let mut pending: Vec<(String, Uuid)> = pairs.to_vec();
    while !pending.is_empty() {
        let mut round: HashMap<String, Vec<Uuid>> = HashMap::new();
        let mut later = Vec::new();
        for (template, user) in pending {
            let users = round.entry(template.clone()).or_default();
            if users.contains(&user) {
                later.push((template, user));
            } else {
                users.push(user);
            }
        }
        for (template, users) in round {
            push_consents::Entity::update_many()
                .col_expr(push_consents::Column::Credits, Expr::cust(expr))
                .filter(push_consents::Column::TemplateId.eq(template))
                .filter(push_consents::Column::UserId.is_in(users))
                .filter(push_consents::Column::LongTerm.eq(false))
                .exec(conn)
                .await?;
        }
        pending = later;
    }
    Ok(())
}

/// Rows left `sending` longer than any send can take (a worker stopped mid-send): UNKNOWN,
/// never resent. Returns how many.
pub async fn close_interrupted(state: &AppState, batch: u64) -> AppResult<u64> {
    // A claimed row may wait for the sends ahead of it in its batch (waves of `concurrency`),
    // each up to a token refresh and a send: the bound covers all of that.
    let waves = batch.div_ceil(state.settings.push.concurrency.max(1) as u64) + 1;
    let per_send = state.settings.wechat.timeout_ms.saturating_mul(2);
    let bound = Duration::from_millis(std::cmp::max(
        state.settings.push.reclaim_after_ms,
        waves.saturating_mul(per_send).saturating_add(1_000),
    ));
    let cutoff = Utc::now() - chrono::Duration::from_std(bound).unwrap_or_default();
    let closed = push_deliveries::Entity::update_many()
        .col_expr(
            push_deliveries::Column::Status,
            Expr::value(DeliveryStatus::Unknown.as_str()),
        )
        .col_expr(
            push_deliveries::Column::LastError,
            Expr::value("the worker stopped while sending; not resent to avoid a duplicate"),
        )
        .col_expr(push_deliveries::Column::UpdatedAt, Expr::value(Utc::now()))
        .filter(push_deliveries::Column::Status.eq(DeliveryStatus::Sending.as_str()))
        .filter(push_deliveries::Column::ClaimedAt.lt(cutoff))
        .exec(&state.db)
        .await?;
    Ok(closed.rows_affected)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fin(status: DeliveryStatus, error: &str, refund: bool, zero: bool) -> Step {
        Step::Final {
            status,
            error: error.into(),
            refund,
            zero_credits: zero,
        }
    }

    #[test]
    fn only_what_wechat_provably_did_not_take_is_sent_again() {
        let busy = || WechatError::Busy(-1);
        let cases: Vec<(Result<u64, WechatError>, u32, Step)> = vec![
            (Ok(7), 1, Step::Sent("7".into())),
            (
                Err(busy()),
                1,
                Step::Retry {
                    after_ms: 100,
                    error: busy().to_string(),
                },
            ),
            (
                Err(busy()),
                2,
                Step::Retry {
                    after_ms: 200,
                    error: busy().to_string(),
                },
            ),
            (
                Err(WechatError::Busy(45011)),
                3,
                Step::Retry {
                    after_ms: 400,
                    error: WechatError::Busy(45011).to_string(),
                },
            ),
            (
                Err(busy()),
                4,
                fin(
                    DeliveryStatus::FailedTemporary,
                    &busy().to_string(),
                    true,
                    false,
                ),
            ),
            (
                Err(WechatError::Unreachable("connection failed".into())),
                1,
                Step::Retry {
                    after_ms: 100,
                    error: "WeChat unreachable: connection failed".into(),
                },
            ),
            (
                Err(WechatError::TokenRejected(40001)),
                1,
                Step::Retry {
                    after_ms: 100,
                    error: WechatError::TokenRejected(40001).to_string(),
                },
            ),
            // A timeout or a 5xx: WeChat may have shown it. Never again.
            (
                Err(WechatError::Transport("timeout".into())),
                1,
                fin(
                    DeliveryStatus::Unknown,
                    "no answer from WeChat: timeout",
                    false,
                    false,
                ),
            ),
            (
                Err(WechatError::Transport("HTTP 502 Bad Gateway".into())),
                1,
                fin(
                    DeliveryStatus::Unknown,
                    "no answer from WeChat: HTTP 502 Bad Gateway",
                    false,
                    false,
                ),
            ),
            (
                Err(WechatError::Decode("no msgid".into())),
                1,
                fin(
                    DeliveryStatus::Unknown,
                    "unexpected WeChat answer: no msgid",
                    false,
                    false,
                ),
            ),
            (
                Err(WechatError::Api {
                    errcode: 43101,
                    errmsg: "user refuse to accept the msg".into(),
                }),
                1,
                fin(
                    DeliveryStatus::NoConsent,
                    "43101 user refuse to accept the msg",
                    false,
                    true,
                ),
            ),
            (
                Err(WechatError::Api {
                    errcode: 47003,
                    errmsg: "argument invalid! data.thing1.value".into(),
                }),
                1,
                fin(
                    DeliveryStatus::FailedPermanent,
                    "47003 argument invalid! data.thing1.value",
                    true,
                    false,
                ),
            ),
        ];
        for (result, attempts, expected) in cases {
            let answer = Answer::of(result);
            assert_eq!(
                step_after(answer.clone(), attempts, 4, 100),
                expected,
                "{answer:?} after {attempts} sends"
            );
        }
    }
}
