//! Consent credits and deliveries. A delivery row is written in the same transaction as its
//! event (`queue_deliveries`, called by `events::Tx`), so PostgreSQL holds the record of every
//! message to send whatever Redis keeps; the sender (`push::sender`) claims rows and moves them
//! `queued → sending → sent | no_consent | failed_* | unknown`, so each (event, user) is sent at
//! most once.
use chrono::Utc;
use entity::{push_consents, push_deliveries};
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
    push::{
        fit::fit_value,
        model::{ConsentAnswer, DeliveryStatus},
    },
    state::AppState,
};

/// A resident reports what the consent popup answered; each `accept` adds one credit.
pub async fn record_consent(
    state: &AppState,
    viewer: &Viewer,
    answers: &[(String, ConsentAnswer)],
) -> AppResult<Vec<push_consents::Model>> {
    let user_id = &viewer.require_resident("consent is given by residents")?;
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

/// The push room's part of every event transaction: its delivery rows (see
/// [`queue_deliveries`]), and a wake for the push worker once they are committed.
pub struct PushDeliveries;

#[async_trait::async_trait]
impl crate::events::Recorder for PushDeliveries {
    async fn record(
        &self,
        txn: &sea_orm::DatabaseTransaction,
        state: &AppState,
        written: &[Envelope],
    ) -> AppResult<usize> {
        queue_deliveries(txn, state, written).await
    }

    fn committed(&self, state: &AppState, _queued: usize) {
        state.push_wake.notify_one();
    }
}

/// Inside the event's transaction: one delivery row per resident in the audience of each
/// event that has a template, with the template data fitted now (a value that cannot be fitted
/// makes the row FAILED_PERMANENT at once, naming the keyword). One INSERT for all of them.
/// Returns how many rows were queued to send.
pub async fn queue_deliveries(
    conn: &impl ConnectionTrait,
    state: &AppState,
    envelopes: &[Envelope],
) -> AppResult<usize> {
    if state.wechat.is_none() {
        return Ok(0);
    }
    // Wall time: retries and claims are scheduled on it, whatever the domain clock says.
    let now = Utc::now();
    let mut rows = Vec::new();
    let mut queued = 0;
    for envelope in envelopes {
        let Some(template) = state.settings.push.template_for(&envelope.kind) else {
            continue;
        };
        let data = template_data(template, &envelope.payload);
        for key in &envelope.audience {
            let Some(user_id) = key
                .strip_prefix("resident:")
                .and_then(|id| Uuid::parse_str(id).ok())
            else {
                continue;
            };
            let (status, data, error) = match &data {
                Ok(data) => {
                    queued += 1;
                    (
                        DeliveryStatus::Queued,
                        Some(Value::Object(data.clone()).to_string()),
                        None,
                    )
                }
                Err(field) => (DeliveryStatus::FailedPermanent, None, Some(field.clone())),
            };
            rows.push(push_deliveries::ActiveModel {
                event_id: Set(envelope.id),
                user_id: Set(user_id),
                template_id: Set(template.template_id.clone()),
                subject_id: Set(envelope.subject_id.clone()),
                status: Set(status.as_str().into()),
                attempts: Set(0),
                last_error: Set(error),
                msgid: Set(None),
                created_at: Set(now),
                updated_at: Set(now),
                data: Set(data),
                next_attempt_at: Set(Some(now)),
                claimed_at: Set(None),
            });
        }
    }
    if rows.is_empty() {
        return Ok(0);
    }
    push_deliveries::Entity::insert_many(rows)
        .on_conflict(
            OnConflict::columns([
                push_deliveries::Column::EventId,
                push_deliveries::Column::UserId,
            ])
            .do_nothing()
            .to_owned(),
        )
        .exec_without_returning(conn)
        .await?;
    Ok(queued)
}

/// The viewer's own deliveries, newest first.
pub async fn my_deliveries(
    state: &AppState,
    viewer: &Viewer,
    first: u64,
) -> AppResult<Vec<push_deliveries::Model>> {
    let user_id = &viewer.require_resident("residents only")?;
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
    state
        .subjects
        .ensure_can_view(state, viewer, subject_id)
        .await?;
    Ok(push_deliveries::Entity::find()
        .filter(push_deliveries::Column::SubjectId.eq(subject_id))
        .order_by_desc(push_deliveries::Column::CreatedAt)
        .all(&state.db)
        .await?)
}
