//! Consent credits and deliveries. A delivery row is written before a message is sent and moves
//! `queued → sending → sent | no_consent | failed_*` with guarded updates, so each (event, user)
//! is sent at most once whatever the worker's fate.
use chrono::Utc;
use entity::{push_consents, push_deliveries, users};
use sea_orm::{
    ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect, Set,
    sea_query::{Expr, ExprTrait, OnConflict},
};
use serde_json::{Map, Value};
use uuid::Uuid;

use crate::{
    auth::Viewer,
    config::TemplateSettings,
    error::{AppError, AppResult},
    events::Envelope,
    push::fit::fit_value,
    state::AppState,
    wechat::WechatError,
};

/// What `wx.requestSubscribeMessage` answered for one template.
#[derive(Clone, Copy, Debug, PartialEq, Eq, async_graphql::Enum)]
pub enum ConsentAnswer {
    /// `accept`: one more message may be sent (long-term templates: any number).
    Accept,
    /// `reject`
    Reject,
    /// `ban`: the template is banned by WeChat.
    Ban,
    /// `filter`: filtered by WeChat (e.g. a title the user has blocked).
    Filter,
}

/// The delivery status of one message.
#[derive(Clone, Copy, Debug, PartialEq, Eq, async_graphql::Enum)]
pub enum DeliveryStatus {
    /// Waiting for the push worker.
    Queued,
    /// Handed to WeChat; the answer is being recorded.
    Sending,
    /// WeChat accepted it (`msgid` set).
    Sent,
    /// No consent credit for the template (or WeChat answered 43101): not sent.
    NoConsent,
    /// WeChat stayed busy or unreachable after the retries, or the send was interrupted; not resent.
    FailedTemporary,
    /// WeChat refused it (e.g. 47003 invalid data, the field named in `lastError`).
    FailedPermanent,
}

impl DeliveryStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Queued => "queued",
            Self::Sending => "sending",
            Self::Sent => "sent",
            Self::NoConsent => "no_consent",
            Self::FailedTemporary => "failed_temporary",
            Self::FailedPermanent => "failed_permanent",
        }
    }
    pub fn parse(s: &str) -> Self {
        match s {
            "sending" => Self::Sending,
            "sent" => Self::Sent,
            "no_consent" => Self::NoConsent,
            "failed_temporary" => Self::FailedTemporary,
            "failed_permanent" => Self::FailedPermanent,
            _ => Self::Queued,
        }
    }
}

/// A resident reports what the consent popup answered; each `accept` adds one credit.
pub async fn record_consent(
    state: &AppState,
    viewer: &Viewer,
    answers: &[(String, ConsentAnswer)],
) -> AppResult<Vec<push_consents::Model>> {
    let Viewer::Resident { user_id, .. } = viewer else {
        return Err(match viewer {
            Viewer::Anonymous => AppError::Unauthenticated("log in first".into()),
            _ => AppError::Forbidden("consent is given by residents".into()),
        });
    };
    if answers.is_empty() || answers.len() > 20 {
        return Err(AppError::bad_input("results", "report 1 to 20 answers"));
    }
    let mut templates = Vec::new();
    for (index, (template_id, _)) in answers.iter().enumerate() {
        let template = state.settings.push.template(template_id).ok_or_else(|| {
            AppError::bad_input(
                format!("results[{index}].templateId"),
                "not a template of this mini-program",
            )
        })?;
        templates.push(template.clone());
    }
    let now = state.clock.now();
    let txn = crate::db::begin_write(&state.db).await?;
    for ((template_id, answer), template) in answers.iter().zip(&templates) {
        let added = i32::from(*answer == ConsentAnswer::Accept);
        push_consents::Entity::insert(push_consents::ActiveModel {
            user_id: Set(*user_id),
            template_id: Set(template_id.clone()),
            credits: Set(added),
            long_term: Set(template.long_term && *answer == ConsentAnswer::Accept),
            updated_at: Set(now),
        })
        .on_conflict(
            OnConflict::columns([
                push_consents::Column::UserId,
                push_consents::Column::TemplateId,
            ])
            .value(
                push_consents::Column::Credits,
                Expr::col((push_consents::Entity, push_consents::Column::Credits)).add(added),
            )
            .value(push_consents::Column::UpdatedAt, Expr::value(now))
            .to_owned(),
        )
        .exec_without_returning(&txn)
        .await?;
        if template.long_term {
            // A long-term subscription follows the latest answer.
            push_consents::Entity::update_many()
                .col_expr(
                    push_consents::Column::LongTerm,
                    Expr::value(*answer == ConsentAnswer::Accept),
                )
                .filter(push_consents::Column::UserId.eq(*user_id))
                .filter(push_consents::Column::TemplateId.eq(template_id.as_str()))
                .exec(&txn)
                .await?;
        }
    }
    let rows = push_consents::Entity::find()
        .filter(push_consents::Column::UserId.eq(*user_id))
        .order_by_asc(push_consents::Column::TemplateId)
        .all(&txn)
        .await?;
    txn.commit().await?;
    Ok(rows)
}

/// The template data for an event: each keyword from its payload field (or literal), fitted.
pub fn template_data(
    template: &TemplateSettings,
    payload: &Value,
) -> Result<Map<String, Value>, String> {
    let mut data = Map::new();
    for (keyword, source) in &template.data {
        let raw = match source.strip_prefix('=') {
            Some(literal) => literal.to_string(),
            None => match payload.get(source) {
                Some(Value::String(s)) => s.clone(),
                Some(Value::Null) | None => String::new(),
                Some(other) => other.to_string(),
            },
        };
        let value = fit_value(keyword, &raw)?;
        data.insert(keyword.clone(), serde_json::json!({ "value": value }));
    }
    Ok(data)
}

/// The outcome of handling one event for the push group.
#[derive(Debug, PartialEq, Eq)]
pub enum Handled {
    /// Every recipient reached a final state (or there was nothing to send).
    Done,
    /// WeChat stayed unavailable for at least one recipient: dead-letter the event.
    Temporary,
}

/// What a status change records besides the status.
#[derive(Default)]
struct Note {
    error: Option<String>,
    msgid: Option<String>,
    /// Sends made (set once the sending is over).
    attempts: Option<u32>,
}

impl Note {
    fn error(error: impl Into<String>) -> Self {
        Self {
            error: Some(error.into()),
            ..Self::default()
        }
    }
}

async fn set_status(
    conn: &impl ConnectionTrait,
    event_id: Uuid,
    user_id: Uuid,
    from: DeliveryStatus,
    to: DeliveryStatus,
    note: Note,
) -> AppResult<bool> {
    let Note {
        error,
        msgid,
        attempts,
    } = note;
    let mut update = push_deliveries::Entity::update_many()
        .col_expr(push_deliveries::Column::Status, Expr::value(to.as_str()))
        .col_expr(push_deliveries::Column::UpdatedAt, Expr::value(Utc::now()))
        .filter(push_deliveries::Column::EventId.eq(event_id))
        .filter(push_deliveries::Column::UserId.eq(user_id))
        .filter(push_deliveries::Column::Status.eq(from.as_str()));
    if let Some(attempts) = attempts {
        update = update.col_expr(
            push_deliveries::Column::Attempts,
            Expr::value(i32::try_from(attempts).unwrap_or(i32::MAX)),
        );
    }
    if let Some(error) = error {
        update = update.col_expr(
            push_deliveries::Column::LastError,
            Expr::value(error.chars().take(300).collect::<String>()),
        );
    }
    if let Some(msgid) = msgid {
        update = update.col_expr(push_deliveries::Column::Msgid, Expr::value(msgid));
    }
    Ok(update.exec(conn).await?.rows_affected == 1)
}

async fn refund(conn: &impl ConnectionTrait, user_id: Uuid, template_id: &str) -> AppResult<()> {
    push_consents::Entity::update_many()
        .col_expr(
            push_consents::Column::Credits,
            Expr::col(push_consents::Column::Credits).add(1),
        )
        .filter(push_consents::Column::UserId.eq(user_id))
        .filter(push_consents::Column::TemplateId.eq(template_id))
        .filter(push_consents::Column::LongTerm.eq(false))
        .exec(conn)
        .await?;
    Ok(())
}

/// Uses one consent credit (long-term templates need none); false when there is none. One
/// guarded statement, so concurrent sends never use the same credit twice.
async fn take_credit(
    conn: &impl ConnectionTrait,
    user_id: Uuid,
    template_id: &str,
) -> AppResult<bool> {
    let taken = push_consents::Entity::update_many()
        .col_expr(
            push_consents::Column::Credits,
            Expr::cust("credits - CASE WHEN long_term THEN 0 ELSE 1 END"),
        )
        .filter(push_consents::Column::UserId.eq(user_id))
        .filter(push_consents::Column::TemplateId.eq(template_id))
        .filter(
            sea_orm::Condition::any()
                .add(push_consents::Column::LongTerm.eq(true))
                .add(push_consents::Column::Credits.gt(0)),
        )
        .exec(conn)
        .await?;
    Ok(taken.rows_affected == 1)
}

/// Sends the event's subscribe message to each resident in its audience who has an openid,
/// once. Idempotent: a redelivered event finds its delivery rows and sends nothing again.
pub async fn deliver(state: &AppState, envelope: &Envelope) -> AppResult<Handled> {
    let Some(template) = state.settings.push.template_for(&envelope.kind).cloned() else {
        return Ok(Handled::Done);
    };
    let Some(wechat) = state.wechat.clone() else {
        return Ok(Handled::Done);
    };
    let mut outcome = Handled::Done;
    for key in &envelope.audience {
        let Some(user_id) = key
            .strip_prefix("resident:")
            .and_then(|id| Uuid::parse_str(id).ok())
        else {
            continue;
        };
        let Some(user) = users::Entity::find_by_id(user_id).one(&state.db).await? else {
            continue;
        };
        let now = state.clock.now();
        push_deliveries::Entity::insert(push_deliveries::ActiveModel {
            event_id: Set(envelope.id),
            user_id: Set(user_id),
            template_id: Set(template.template_id.clone()),
            subject_id: Set(envelope.subject_id.clone()),
            status: Set(DeliveryStatus::Queued.as_str().into()),
            attempts: Set(0),
            last_error: Set(None),
            msgid: Set(None),
            created_at: Set(now),
            updated_at: Set(now),
        })
        .on_conflict(
            OnConflict::columns([
                push_deliveries::Column::EventId,
                push_deliveries::Column::UserId,
            ])
            .do_nothing()
            .to_owned(),
        )
        .exec_without_returning(&state.db)
        .await?;
        let data = match template_data(&template, &envelope.payload) {
            Ok(data) => data,
            Err(field_error) => {
                set_status(
                    &state.db,
                    envelope.id,
                    user_id,
                    DeliveryStatus::Queued,
                    DeliveryStatus::FailedPermanent,
                    Note::error(field_error),
                )
                .await?;
                continue;
            }
        };
        // Claimed (`sending`) before anything leaves, then a credit is used: a stop in between
        // leaves a `sending` row, which is never resent.
        let claimed = set_status(
            &state.db,
            envelope.id,
            user_id,
            DeliveryStatus::Queued,
            DeliveryStatus::Sending,
            Note::default(),
        )
        .await?;
        if !claimed {
            // Handled before — unless a worker stopped between sending and recording, in which
            // case the message may have gone out: never send twice; record what is known.
            set_status(
                &state.db,
                envelope.id,
                user_id,
                DeliveryStatus::Sending,
                DeliveryStatus::FailedTemporary,
                Note::error("interrupted while sending; not resent to avoid a duplicate"),
            )
            .await?;
            continue;
        }
        if !take_credit(&state.db, user_id, &template.template_id).await? {
            set_status(
                &state.db,
                envelope.id,
                user_id,
                DeliveryStatus::Sending,
                DeliveryStatus::NoConsent,
                Note::error("no consent credit for the template"),
            )
            .await?;
            continue;
        }

        let settings = &state.settings.push;
        let mut attempt = 0;
        let result = loop {
            attempt += 1;
            let sent = wechat
                .send_subscribe_message(
                    &user.openid,
                    &template.template_id,
                    template.page.as_deref(),
                    &data,
                    &settings.miniprogram_state,
                )
                .await;
            match sent {
                Err(WechatError::Busy(_) | WechatError::Transport(_))
                    if attempt < std::cmp::max(settings.max_attempts, 1) =>
                {
                    tokio::time::sleep(std::time::Duration::from_millis(
                        settings.retry_base_ms * 2u64.pow(attempt - 1),
                    ))
                    .await;
                }
                other => break other,
            }
        };
        let (to, error, msgid) = match result {
            Ok(msgid) => (DeliveryStatus::Sent, None, Some(msgid.to_string())),
            Err(WechatError::Api {
                errcode: 43101,
                errmsg,
            }) => {
                // WeChat's word is final: the user has no credit left.
                push_consents::Entity::update_many()
                    .col_expr(push_consents::Column::Credits, Expr::value(0))
                    .filter(push_consents::Column::UserId.eq(user_id))
                    .filter(push_consents::Column::TemplateId.eq(template.template_id.as_str()))
                    .exec(&state.db)
                    .await?;
                (
                    DeliveryStatus::NoConsent,
                    Some(format!("43101 {errmsg}")),
                    None,
                )
            }
            Err(WechatError::Api {
                errcode: 47003,
                errmsg,
            }) => {
                refund(&state.db, user_id, &template.template_id).await?;
                (
                    DeliveryStatus::FailedPermanent,
                    Some(format!("47003 {errmsg}")),
                    None,
                )
            }
            Err(error @ (WechatError::Busy(_) | WechatError::Transport(_))) => {
                refund(&state.db, user_id, &template.template_id).await?;
                outcome = Handled::Temporary;
                (
                    DeliveryStatus::FailedTemporary,
                    Some(error.to_string()),
                    None,
                )
            }
            Err(error) => {
                refund(&state.db, user_id, &template.template_id).await?;
                (
                    DeliveryStatus::FailedPermanent,
                    Some(error.to_string()),
                    None,
                )
            }
        };
        set_status(
            &state.db,
            envelope.id,
            user_id,
            DeliveryStatus::Sending,
            to,
            Note {
                error,
                msgid,
                attempts: Some(attempt),
            },
        )
        .await?;
    }
    Ok(outcome)
}

/// The viewer's own deliveries, newest first.
pub async fn my_deliveries(
    state: &AppState,
    viewer: &Viewer,
    first: u64,
) -> AppResult<Vec<push_deliveries::Model>> {
    let Viewer::Resident { user_id, .. } = viewer else {
        return Err(match viewer {
            Viewer::Anonymous => AppError::Unauthenticated("log in first".into()),
            _ => AppError::Forbidden("residents only".into()),
        });
    };
    Ok(push_deliveries::Entity::find()
        .filter(push_deliveries::Column::UserId.eq(*user_id))
        .order_by_desc(push_deliveries::Column::CreatedAt)
        .limit(first)
        .all(&state.db)
        .await?)
}

/// Deliveries about a subject the staff viewer may see.
pub async fn subject_deliveries(
    state: &AppState,
    viewer: &Viewer,
    subject_id: &str,
) -> AppResult<Vec<push_deliveries::Model>> {
    if !matches!(viewer, Viewer::Staff { .. }) {
        return Err(match viewer {
            Viewer::Anonymous => AppError::Unauthenticated("log in first".into()),
            _ => AppError::Forbidden("staff only".into()),
        });
    }
    crate::events::graphql::ensure_can_view_subject(state, viewer, subject_id).await?;
    Ok(push_deliveries::Entity::find()
        .filter(push_deliveries::Column::SubjectId.eq(subject_id))
        .order_by_desc(push_deliveries::Column::CreatedAt)
        .all(&state.db)
        .await?)
}
