//! Working a rectification order (差评整改): the call-back that verifies a real-name bad
//! rating, then the classification (立行立改 / 限期整改 / 解释说明), the result and the reply,
//! which reaches the rater (event, push, live) and opens their second rating. Each change is a
//! guarded update on the status it was decided from (CONFLICT when someone moved it first),
//! with its event and the audit entry last, in one transaction.
use entity::{ratings, rectifications};
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, sea_query::Expr};
use serde_json::json;
use uuid::Uuid;

use crate::{
    auth::Viewer,
    cases::service::{note, signed_in},
    error::{AppError, AppResult},
    events::{EventDraft, Tx, resident_key},
    satisfaction::{
        access::staff_acting_on_order,
        audience::unit_staff,
        model::{RectificationClassification, RectificationStatus},
        rules::{RectificationAction, rectification_step},
    },
    state::AppState,
};

/// An order by id: NOT_FOUND `rectification` when there is none.
pub async fn load_order(conn: &impl ConnectionTrait, id: Uuid) -> AppResult<rectifications::Model> {
    rectifications::Entity::find_by_id(id)
        .one(conn)
        .await?
        .ok_or(AppError::NotFound("rectification"))
}

/// The rating an order is about.
pub async fn rating_of(
    conn: &impl ConnectionTrait,
    order: &rectifications::Model,
) -> AppResult<ratings::Model> {
    ratings::Entity::find_by_id(order.rating_id)
        .one(conn)
        .await?
        .ok_or_else(|| {
            AppError::internal(anyhow::anyhow!("rectification {} has no rating", order.id))
        })
}

/// `verifyRectification`: the call-back to a real-name rater, reached or not, with its note.
pub async fn verify(
    state: &AppState,
    viewer: &Viewer,
    id: Uuid,
    reached: bool,
    raw_note: &str,
) -> AppResult<rectifications::Model> {
    signed_in(viewer)?;
    let note = note(raw_note, "note")?;
    let order = load_order(&state.db, id).await?;
    let who = staff_acting_on_order(&state.db, viewer, &order).await?;
    let rating = rating_of(&state.db, &order).await?;
    let from = order.status.parse::<RectificationStatus>()?;
    let to = rectification_step(from, RectificationAction::Verify, rating.anonymous)
        .map_err(|m| AppError::InvalidTransition(m.into()))?;
    let now = state.clock.now();
    let mut tx = Tx::begin(state).await?;
    guarded(&order, from)
        .col_expr(rectifications::Column::Status, Expr::value(to.as_str()))
        .col_expr(rectifications::Column::Reached, Expr::value(Some(reached)))
        .col_expr(
            rectifications::Column::Verification,
            Expr::value(Some(note)),
        )
        .col_expr(rectifications::Column::VerifiedAt, Expr::value(Some(now)))
        .col_expr(
            rectifications::Column::VerifiedBy,
            Expr::value(Some(who.staff_id)),
        )
        .exec(&*tx)
        .await
        .map_err(AppError::from)
        .and_then(moved)?;
    tx.emit_by(
        viewer,
        EventDraft {
            kind: "rectification.verified",
            topic: "satisfaction",
            subject_kind: "rectification",
            subject_id: order.id.to_string(),
            audience: unit_staff(&*tx, order.unit_id).await?,
            payload: json!({"rectificationId": order.id, "status": to.as_str().to_uppercase(), "reached": reached}),
        },
    );
    tx.audit(crate::audit::Pending::action(
        now,
        viewer,
        Some(order.county_id),
        "rectification.verified",
        "rectification",
        order.id,
        json!({"reached": reached}),
    ));
    tx.commit().await?;
    load_order(&state.db, id).await
}

/// `resolveRectification`: the classification, what was done and the reply to the rater.
pub async fn resolve(
    state: &AppState,
    viewer: &Viewer,
    id: Uuid,
    classification: RectificationClassification,
    raw_result: &str,
    raw_reply: &str,
) -> AppResult<rectifications::Model> {
    signed_in(viewer)?;
    let result = note(raw_result, "result")?;
    let reply = note(raw_reply, "reply")?;
    let order = load_order(&state.db, id).await?;
    let who = staff_acting_on_order(&state.db, viewer, &order).await?;
    let rating = rating_of(&state.db, &order).await?;
    let from = order.status.parse::<RectificationStatus>()?;
    let to = rectification_step(from, RectificationAction::Resolve, rating.anonymous)
        .map_err(|m| AppError::InvalidTransition(m.into()))?;
    let now = state.clock.now();
    let mut tx = Tx::begin(state).await?;
    guarded(&order, from)
        .col_expr(rectifications::Column::Status, Expr::value(to.as_str()))
        .col_expr(
            rectifications::Column::Classification,
            Expr::value(Some(classification.as_str())),
        )
        .col_expr(rectifications::Column::Result, Expr::value(Some(result)))
        .col_expr(
            rectifications::Column::Reply,
            Expr::value(Some(reply.clone())),
        )
        .col_expr(rectifications::Column::ResolvedAt, Expr::value(Some(now)))
        .col_expr(
            rectifications::Column::ResolvedBy,
            Expr::value(Some(who.staff_id)),
        )
        .exec(&*tx)
        .await
        .map_err(AppError::from)
        .and_then(moved)?;
    // The rater hears the reply under their rating (never under the case when anonymous);
    // a first rating's reply opens the second rating, a second's opens nothing more.
    let mut payload = json!({
        "ratingId": rating.id,
        "classification": classification.as_str().to_uppercase(),
        "reply": reply,
    });
    if rating.round == 1 {
        payload["secondRatingBy"] = json!(
            now + chrono::Duration::days(state.settings.satisfaction.second_rating_window_days)
        );
    }
    tx.emit(EventDraft {
        kind: "rating.replied",
        topic: "satisfaction",
        subject_kind: "rating",
        subject_id: rating.id.to_string(),
        audience: vec![resident_key(rating.user_id)],
        payload,
    });
    tx.emit_by(
        viewer,
        EventDraft {
            kind: "rectification.resolved",
            topic: "satisfaction",
            subject_kind: "rectification",
            subject_id: order.id.to_string(),
            audience: unit_staff(&*tx, order.unit_id).await?,
            payload: json!({"rectificationId": order.id, "status": to.as_str().to_uppercase(), "classification": classification.as_str().to_uppercase()}),
        },
    );
    let resolved = load_order(&*tx, id).await?;
    crate::satisfaction::delivery::queue_rectification(&*tx, state, &resolved, &rating).await?;
    tx.audit(crate::audit::Pending::action(
        now,
        viewer,
        Some(order.county_id),
        "rectification.resolved",
        "rectification",
        order.id,
        json!({"classification": classification.as_str()}),
    ));
    tx.commit().await?;
    load_order(&state.db, id).await
}

/// The update of `order` guarded on the status it was decided from.
fn guarded(
    order: &rectifications::Model,
    from: RectificationStatus,
) -> sea_orm::UpdateMany<rectifications::Entity> {
    rectifications::Entity::update_many()
        .filter(rectifications::Column::Id.eq(order.id))
        .filter(rectifications::Column::Status.eq(from.as_str()))
}

/// CONFLICT when the guarded update found the order moved on.
fn moved(result: sea_orm::UpdateResult) -> AppResult<()> {
    if result.rows_affected == 0 {
        Err(AppError::Conflict(
            "someone else changed this rectification first".into(),
        ))
    } else {
        Ok(())
    }
}
