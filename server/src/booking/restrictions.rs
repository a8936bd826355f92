//! The no-show rule's restrictions: the resident sees theirs and may appeal once; the county
//! administration lifts or upholds it (audited, and the resident is told).
use chrono::{DateTime, Utc};
use entity::booking_restrictions;
use sea_orm::{
    ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder, sea_query::Expr,
};
use serde_json::json;
use uuid::Uuid;

use crate::{
    auth::Viewer,
    directory::{jurisdiction::Jurisdiction, model::text, regions::county_of_point},
    error::{AppError, AppResult},
    events::{EventDraft, Tx, resident_key},
    state::AppState,
};

/// Restrictions in these states still suspend online booking (an upheld appeal changes nothing).
pub const RESTRICTING: [&str; 3] = ["active", "appealed", "upheld"];

/// An active restriction of online booking (the no-show rule) that applies at a service point,
/// if any: a restriction is the rule of one county and suspends online booking in that county.
pub async fn active_restriction(
    conn: &impl ConnectionTrait,
    user_id: Uuid,
    point_id: Uuid,
    now: DateTime<Utc>,
) -> AppResult<Option<booking_restrictions::Model>> {
    Ok(booking_restrictions::Entity::find()
        .filter(booking_restrictions::Column::UserId.eq(user_id))
        .filter(booking_restrictions::Column::CountyId.in_subquery(county_of_point(point_id)))
        .filter(booking_restrictions::Column::Status.is_in(RESTRICTING))
        .filter(booking_restrictions::Column::Until.gt(now))
        .one(conn)
        .await?)
}

/// The resident's restrictions, newest first.
pub async fn mine(
    state: &AppState,
    viewer: &Viewer,
) -> AppResult<Vec<booking_restrictions::Model>> {
    let user_id = viewer.require_resident("residents only")?;
    Ok(booking_restrictions::Entity::find()
        .filter(booking_restrictions::Column::UserId.eq(user_id))
        .order_by_desc(booking_restrictions::Column::StartsAt)
        .all(&state.db)
        .await?)
}

async fn load(state: &AppState, id: Uuid) -> AppResult<booking_restrictions::Model> {
    booking_restrictions::Entity::find_by_id(id)
        .one(&state.db)
        .await?
        .ok_or(AppError::NotFound("restriction"))
}

/// The resident appeals an active restriction (once).
pub async fn appeal(
    state: &AppState,
    viewer: &Viewer,
    id: Uuid,
    reason: &str,
) -> AppResult<booking_restrictions::Model> {
    let Viewer::Resident { user_id, .. } = viewer else {
        return Err(match viewer {
            Viewer::Anonymous => AppError::Unauthenticated("log in first".into()),
            _ => AppError::NotFound("restriction"),
        });
    };
    let restriction = Some(load(state, id).await?)
        .filter(|r| r.user_id == *user_id)
        .ok_or(AppError::NotFound("restriction"))?;
    let reason = text(reason, "reason", 500)?;
    let now = state.clock.now();
    if restriction.until <= now {
        return Err(AppError::InvalidTransition(
            "the restriction has ended".into(),
        ));
    }
    let mut tx = Tx::begin(state).await?;
    let done = booking_restrictions::Entity::update_many()
        .col_expr(
            booking_restrictions::Column::Status,
            Expr::value("appealed"),
        )
        .col_expr(
            booking_restrictions::Column::Appeal,
            Expr::value(Some(reason)),
        )
        .col_expr(
            booking_restrictions::Column::AppealedAt,
            Expr::value(Some(now)),
        )
        .filter(booking_restrictions::Column::Id.eq(id))
        .filter(booking_restrictions::Column::Status.eq("active"))
        .exec(&*tx)
        .await?;
    if done.rows_affected == 0 {
        return Err(AppError::InvalidTransition(format!(
            "the restriction is {}; it can be appealed once while active",
            restriction.status
        )));
    }
    tx.emit(EventDraft {
        kind: "restriction.appealed",
        topic: "booking",
        subject_kind: "restriction",
        subject_id: id.to_string(),
        audience: vec![resident_key(restriction.user_id)],
        payload: json!({"status": "appealed"}),
    });
    tx.commit().await?;
    load(state, id).await
}

/// County administrators: their county's appeals waiting for a decision, oldest first.
pub async fn appeals(
    state: &AppState,
    viewer: &Viewer,
) -> AppResult<Vec<booking_restrictions::Model>> {
    let who = Jurisdiction::of(&state.db, viewer).await?;
    who.ensure_county_admin()?;
    Ok(booking_restrictions::Entity::find()
        .filter(booking_restrictions::Column::CountyId.is_in(who.counties(&state.db).await?))
        .filter(booking_restrictions::Column::Status.eq("appealed"))
        .order_by_asc(booking_restrictions::Column::AppealedAt)
        .all(&state.db)
        .await?)
}

/// A county administrator lifts or upholds an appealed restriction of their county, with a
/// reason (audited); another county's answers NOT_FOUND.
pub async fn decide(
    state: &AppState,
    viewer: &Viewer,
    id: Uuid,
    lift: bool,
    decision: &str,
) -> AppResult<booking_restrictions::Model> {
    let who = Jurisdiction::of(&state.db, viewer).await?;
    who.ensure_county_admin()?;
    let decision = text(decision, "decision", 500)?;
    let restriction = load(state, id).await?;
    who.ensure_in_county(restriction.county_id, "restriction")?;
    let now = state.clock.now();
    let status = if lift { "lifted" } else { "upheld" };
    let mut tx = Tx::begin(state).await?;
    let done = booking_restrictions::Entity::update_many()
        .col_expr(booking_restrictions::Column::Status, Expr::value(status))
        .col_expr(
            booking_restrictions::Column::Decision,
            Expr::value(Some(decision.clone())),
        )
        .col_expr(
            booking_restrictions::Column::DecidedBy,
            Expr::value(Some(who.staff_id)),
        )
        .col_expr(
            booking_restrictions::Column::DecidedAt,
            Expr::value(Some(now)),
        )
        .filter(booking_restrictions::Column::Id.eq(id))
        .filter(booking_restrictions::Column::Status.eq("appealed"))
        .exec(&*tx)
        .await?;
    if done.rows_affected == 0 {
        return Err(AppError::InvalidTransition(format!(
            "only an appealed restriction is decided; this one is {}",
            restriction.status
        )));
    }
    tx.audit(crate::audit::Pending::action(
        now,
        viewer,
        restriction.county_id,
        format!("restriction.{status}"),
        "restriction",
        id,
        json!({"decision": decision}),
    ));
    tx.emit(EventDraft {
        kind: "restriction.decided",
        topic: "booking",
        subject_kind: "restriction",
        subject_id: id.to_string(),
        audience: vec![resident_key(restriction.user_id)],
        payload: json!({"status": status, "decision": decision}),
    });
    tx.commit().await?;
    load(state, id).await
}
