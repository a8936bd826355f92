//! Consent credits and deliveries. A delivery row is written in the same transaction as its
//! event (`queue_deliveries`, called by `events::Tx`), so PostgreSQL holds the record of every
//! message to send whatever Redis keeps; the sender (`push::sender`) claims rows and moves them
//! `queued → sending → sent | no_consent | failed_* | unknown`, so each (event, user) is sent at
//! most once.
use std::collections::{HashMap, HashSet};

use chrono::Utc;
use entity::{push_consents, push_deliveries, staff_accounts};
use sea_orm::{
    ColumnTrait, Condition, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect,
    Set,
    sea_query::{Expr, ExprTrait, OnConflict},
};
use serde_json::{Map, Value};
use uuid::Uuid;

use crate::{
    auth::Viewer,
    config::{Recipients, TemplateSettings},
    error::{AppError, AppResult},
    events::Envelope,
    push::{
        fit::fit_value,
        model::{ConsentAnswer, DeliveryStatus},
    },
    state::AppState,
};

/// Whose consent credits these are: a resident's own, or those of the WeChat user a staff
/// member bound (credits are kept per WeChat user and template, as WeChat keeps them per
/// openid).
async fn consent_holder(state: &AppState, viewer: &Viewer) -> AppResult<Uuid> {
    match viewer {
        Viewer::Resident { user_id, .. } => Ok(*user_id),
        Viewer::Staff { staff_id, .. } => {
            let staff = staff_accounts::Entity::find_by_id(*staff_id)
                .one(&state.db)
                .await?
                .filter(|s| s.active)
                .ok_or_else(|| {
                    AppError::Unauthenticated("the account is no longer active".into())
                })?;
            staff.wechat_user_id.ok_or_else(|| {
                AppError::Forbidden(
                    "bind WeChat with bindStaffWechat before consenting to staff pushes".into(),
                )
            })
        }
        Viewer::Anonymous => Err(AppError::Unauthenticated("log in first".into())),
    }
}

/// A resident, or a staff member with WeChat bound, reports what the consent popup answered;
/// each `accept` adds one credit.
pub async fn record_consent(
    state: &AppState,
    viewer: &Viewer,
    answers: &[(String, ConsentAnswer)],
) -> AppResult<Vec<push_consents::Model>> {
    let holder = consent_holder(state, viewer).await?;
    let user_id = &holder;
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
        actors: &[Option<String>],
    ) -> AppResult<usize> {
        queue_deliveries(txn, state, written, actors).await
    }

    fn committed(&self, state: &AppState, _queued: usize) {
        state.push_wake.notify_one();
    }
}

/// Inside the event's transaction: one delivery row per person in the audience of each event
/// that has a template for them — residents (`resident:<id>`) by the residents' template,
/// staff (`staff:<id>`, active, with WeChat bound) by the staff template — with the template
/// data fitted now (a value that cannot be fitted makes the row FAILED_PERMANENT at once,
/// naming the keyword). One INSERT for all of them, and one read of the staff who can be
/// reached when a staff template applies. A staff member who caused an event (`actors[i]`
/// for `envelopes[i]`) is not pushed about it; a resident is (the confirmation of their own
/// booking is a record they keep). Returns how many rows were queued to send.
pub async fn queue_deliveries(
    conn: &impl ConnectionTrait,
    state: &AppState,
    envelopes: &[Envelope],
    actors: &[Option<String>],
) -> AppResult<usize> {
    if state.wechat.is_none() {
        return Ok(0);
    }
    // Wall time: retries and claims are scheduled on it, whatever the domain clock says.
    let now = Utc::now();
    let push = &state.settings.push;
    let mut wanted = Vec::new();
    for (n, envelope) in envelopes.iter().enumerate() {
        let actor = actors.get(n).and_then(Option::as_deref);
        for recipients in [Recipients::Residents, Recipients::Staff] {
            let Some(template) = push.template_for(&envelope.kind, recipients) else {
                continue;
            };
            let people: Vec<Uuid> = envelope
                .audience
                .iter()
                .filter(|key| !(recipients == Recipients::Staff && Some(key.as_str()) == actor))
                .filter_map(|key| recipient_of(key, recipients))
                .collect();
            if !people.is_empty() {
                wanted.push((envelope, template, recipients, people));
            }
        }
    }
    let staff: Vec<Uuid> = wanted
        .iter()
        .filter(|w| w.2 == Recipients::Staff)
        .flat_map(|w| w.3.iter().copied())
        .collect();
    // Staff are reached through the WeChat user they bound.
    let reachable: HashMap<Uuid, Uuid> = if staff.is_empty() {
        HashMap::new()
    } else {
        staff_accounts::Entity::find()
            .select_only()
            .column(staff_accounts::Column::Id)
            .column(staff_accounts::Column::WechatUserId)
            .filter(staff_accounts::Column::Id.is_in(staff))
            .filter(staff_accounts::Column::Active.eq(true))
            .filter(staff_accounts::Column::WechatUserId.is_not_null())
            .into_tuple::<(Uuid, Option<Uuid>)>()
            .all(conn)
            .await?
            .into_iter()
            .filter_map(|(staff, user)| user.map(|user| (staff, user)))
            .collect()
    };
    let mut rows = Vec::new();
    let mut queued = 0;
    // One message per (event, WeChat user): a person who is both the applicant and a staff
    // member hearing of the same event gets the resident's message (residents come first).
    let mut addressed: HashSet<(Uuid, Uuid)> = HashSet::new();
    for (envelope, template, recipients, people) in wanted {
        let data = template_data(template, &envelope.payload);
        for person in people {
            let (user, staff_id) = match recipients {
                Recipients::Residents => (person, None),
                Recipients::Staff => match reachable.get(&person) {
                    Some(user) => (*user, Some(person)),
                    None => continue,
                },
            };
            if !addressed.insert((envelope.id, user)) {
                continue;
            }
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
                user_id: Set(user),
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
                recipient: Set(recipients.as_str().into()),
                staff_id: Set(staff_id),
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

/// The person an audience key names, when they are of the kind `recipients` wants.
fn recipient_of(key: &str, recipients: Recipients) -> Option<Uuid> {
    let prefix = match recipients {
        Recipients::Residents => "resident:",
        Recipients::Staff => "staff:",
    };
    key.strip_prefix(prefix)
        .and_then(|id| Uuid::parse_str(id).ok())
}

/// The viewer's own deliveries (a resident's, or a staff member's), newest first.
pub async fn my_deliveries(
    state: &AppState,
    viewer: &Viewer,
    first: u64,
) -> AppResult<Vec<push_deliveries::Model>> {
    let mine = match viewer {
        Viewer::Resident { user_id, .. } => Condition::all()
            .add(push_deliveries::Column::UserId.eq(*user_id))
            .add(push_deliveries::Column::Recipient.eq(Recipients::Residents.as_str())),
        // A staff member's own messages, whichever WeChat they went to (and none sent for
        // whoever held that WeChat before or after).
        Viewer::Staff { staff_id, .. } => {
            Condition::all().add(push_deliveries::Column::StaffId.eq(*staff_id))
        }
        Viewer::Anonymous => return Err(AppError::Unauthenticated("log in first".into())),
    };
    Ok(push_deliveries::Entity::find()
        .filter(mine)
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
    let sight = state
        .subjects
        .ensure_can_view(state, viewer, subject_id)
        .await?;
    let mut query =
        push_deliveries::Entity::find().filter(push_deliveries::Column::SubjectId.eq(subject_id));
    if let Some(recipient) = sight.push_recipient() {
        query = query.filter(push_deliveries::Column::Recipient.eq(recipient));
    }
    Ok(query
        .order_by_desc(push_deliveries::Column::CreatedAt)
        .all(&state.db)
        .await?)
}
