//! Remote consultation (三级联动, seed §五(四)): a village or township agent asks the county's
//! agents about a case they act on or an item of the county's catalogue; replies are recorded
//! with their times; the consultation is a ledger contact with channel `remote`. The county's
//! agents receive it live (and by push once staff push exists); the asker receives each reply.
use entity::{consultation_replies, consultations, items, ledger_entries, regions, staff_accounts};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder, Set,
    sea_query::Expr,
};
use serde_json::json;
use uuid::Uuid;

use crate::{
    auth::{Role, Viewer},
    cases::{
        model::CaseRole,
        service::{case_for, note},
    },
    directory::jurisdiction::Jurisdiction,
    error::{AppError, AppResult},
    events::{EventDraft, Tx, staff_key},
    state::AppState,
};

/// The county agents (and the county admin) of `county`: who a consultation goes to.
async fn county_desk(conn: &impl ConnectionTrait, county: Uuid) -> AppResult<Vec<Uuid>> {
    Ok(staff_accounts::Entity::find()
        .filter(staff_accounts::Column::UnitId.eq(county))
        .filter(staff_accounts::Column::Active.eq(true))
        .filter(
            staff_accounts::Column::Role
                .is_in([Role::CountyAgent.as_str(), Role::CountyAdmin.as_str()]),
        )
        .all(conn)
        .await?
        .into_iter()
        .map(|s| s.id)
        .collect())
}

fn emit(
    tx: &mut Tx<'_>,
    viewer: &Viewer,
    consultation: &consultations::Model,
    kind: &'static str,
    audience: Vec<Uuid>,
) {
    tx.emit_by(viewer, EventDraft {
        kind,
        topic: "consultation",
        subject_kind: "consultation",
        subject_id: consultation.id.to_string(),
        audience: audience.into_iter().map(staff_key).collect(),
        payload: json!({"case": consultation.case_id, "item": consultation.item_id, "status": consultation.status.to_uppercase()}),
    });
}

/// A village or township agent opens a consultation about a case they act on, or an item.
pub async fn open(
    state: &AppState,
    viewer: &Viewer,
    case_id: Option<Uuid>,
    item_id: Option<Uuid>,
    question: &str,
) -> AppResult<consultations::Model> {
    let who = Jurisdiction::of(&state.db, viewer).await?;
    let question = note(question, "question")?;
    if !matches!(
        who.role,
        Role::VillageAgent | Role::TownshipAgent | Role::TownshipAdmin
    ) {
        return Err(AppError::Forbidden(
            "village and township staff consult the county's agents".into(),
        ));
    }
    let county = who
        .county_id()
        .ok_or_else(|| AppError::Forbidden("this unit lies in no county".into()))?;
    let (case, item) = match (case_id, item_id) {
        (Some(case_id), _) => {
            let (case, acting) = case_for(state, viewer, case_id).await?;
            if !matches!(acting.role()?, CaseRole::HandlingAgent | CaseRole::Admin) {
                return Err(AppError::Forbidden(
                    "consult about a case your unit holds".into(),
                ));
            }
            (Some(case.clone()), Some(case.item_id))
        }
        (None, Some(item)) => {
            let found = items::Entity::find_by_id(item)
                .one(&state.db)
                .await?
                .filter(|i| i.county_id == Some(county))
                .ok_or_else(|| {
                    AppError::bad_input("itemId", "an item of your county's catalogue")
                })?;
            (None, Some(found.id))
        }
        (None, None) => {
            return Err(AppError::bad_input(
                "caseId",
                "name the case or the item asked about",
            ));
        }
    };
    let staff = staff_accounts::Entity::find_by_id(who.staff_id)
        .one(&state.db)
        .await?
        .ok_or(AppError::NotFound("staff member"))?;
    let point = staff
        .service_point_id
        .or(case.as_ref().and_then(|c| c.service_point_id))
        .ok_or_else(|| {
            AppError::bad_input(
                "caseId",
                "a consultation is a ledger contact of a service point: yours or the case's",
            )
        })?;
    let now = state.clock.now();
    let mut tx = Tx::begin(state).await?;
    let entry = ledger_entries::ActiveModel {
        id: Set(Uuid::now_v7()),
        service_point_id: Set(point),
        booking_id: Set(None),
        // Staff talking among themselves: the contact names no applicant (and opens no case).
        user_id: Set(None),
        item_id: Set(item),
        channel: Set("remote".into()),
        outcome: Set("consulted".into()),
        agent_id: Set(Some(who.staff_id)),
        occurred_at: Set(now),
        backfilled: Set(false),
        entered_by: Set(Some(who.staff_id)),
        entered_at: Set(now),
        reason_code: Set(None),
        applicant_name_enc: Set(None),
        note: Set(None),
    }
    .insert(&*tx)
    .await?;
    let consultation = consultations::ActiveModel {
        id: Set(Uuid::now_v7()),
        county_id: Set(county),
        case_id: Set(case.as_ref().map(|c| c.id)),
        item_id: Set(item),
        unit_id: Set(who.region.id),
        opened_by: Set(who.staff_id),
        question: Set(question),
        status: Set("open".into()),
        ledger_entry_id: Set(entry.id),
        created_at: Set(now),
        closed_at: Set(None),
    }
    .insert(&*tx)
    .await?;
    let mut audience = county_desk(&*tx, county).await?;
    audience.push(who.staff_id);
    emit(
        &mut tx,
        viewer,
        &consultation,
        "consultation.opened",
        audience,
    );
    tx.audit(crate::audit::Pending::action(
        now,
        viewer,
        Some(county),
        "consultation.opened",
        "consultation",
        consultation.id,
        json!({"case": consultation.case_id, "item": item}),
    ));
    tx.commit().await?;
    Ok(consultation)
}

/// Who may read a consultation: its asker and staff covering the asker's unit, and the county's
/// staff. NOT_FOUND otherwise.
async fn readable(
    state: &AppState,
    viewer: &Viewer,
    id: Uuid,
) -> AppResult<(consultations::Model, Jurisdiction)> {
    let who = Jurisdiction::of(&state.db, viewer).await?;
    let consultation = consultations::Entity::find_by_id(id)
        .one(&state.db)
        .await?
        .ok_or(AppError::NotFound("consultation"))?;
    let unit = regions::Entity::find_by_id(consultation.unit_id)
        .one(&state.db)
        .await?
        .ok_or(AppError::NotFound("consultation"))?;
    let county_staff = who.region.id == consultation.county_id;
    if !(county_staff || who.covers(&unit)) {
        return Err(AppError::NotFound("consultation"));
    }
    Ok((consultation, who))
}

/// A county agent (or the county admin) replies; the asker may add to it. Each reply is kept
/// with its time.
pub async fn reply(
    state: &AppState,
    viewer: &Viewer,
    id: Uuid,
    body: &str,
) -> AppResult<consultation_replies::Model> {
    let body = note(body, "body")?;
    let (consultation, who) = readable(state, viewer, id).await?;
    let county_desk_member = who.region.id == consultation.county_id
        && matches!(who.role, Role::CountyAgent | Role::CountyAdmin);
    if !county_desk_member && who.staff_id != consultation.opened_by {
        return Err(AppError::Forbidden(
            "the county's agents answer; the asker may add to the question".into(),
        ));
    }
    let now = state.clock.now();
    let mut tx = Tx::begin(state).await?;
    // The consultation's row first, guarded on its being open.
    let open = consultations::Entity::update_many()
        .col_expr(consultations::Column::Status, Expr::value("open"))
        .filter(consultations::Column::Id.eq(id))
        .filter(consultations::Column::Status.eq("open"))
        .exec(&*tx)
        .await?;
    if open.rows_affected == 0 {
        return Err(AppError::InvalidTransition(
            "the consultation is closed".into(),
        ));
    }
    let row = consultation_replies::ActiveModel {
        id: Set(Uuid::now_v7()),
        consultation_id: Set(id),
        author_id: Set(who.staff_id),
        body: Set(body),
        at: Set(now),
    }
    .insert(&*tx)
    .await?;
    let mut audience = county_desk(&*tx, consultation.county_id).await?;
    audience.push(consultation.opened_by);
    emit(
        &mut tx,
        viewer,
        &consultation,
        "consultation.replied",
        audience,
    );
    tx.audit(crate::audit::Pending::action(
        now,
        viewer,
        Some(consultation.county_id),
        "consultation.replied",
        "consultation",
        id,
        json!({}),
    ));
    tx.commit().await?;
    Ok(row)
}

/// The asker or the county admin closes the consultation.
pub async fn close(state: &AppState, viewer: &Viewer, id: Uuid) -> AppResult<consultations::Model> {
    let (consultation, who) = readable(state, viewer, id).await?;
    let county_admin = who.region.id == consultation.county_id && who.role == Role::CountyAdmin;
    if !county_admin && who.staff_id != consultation.opened_by {
        return Err(AppError::Forbidden(
            "the asker or the county admin closes it".into(),
        ));
    }
    let now = state.clock.now();
    let mut tx = Tx::begin(state).await?;
    let closed = consultations::Entity::update_many()
        .col_expr(consultations::Column::Status, Expr::value("closed"))
        .col_expr(consultations::Column::ClosedAt, Expr::value(Some(now)))
        .filter(consultations::Column::Id.eq(id))
        .filter(consultations::Column::Status.eq("open"))
        .exec(&*tx)
        .await?;
    if closed.rows_affected == 0 {
        return Err(AppError::InvalidTransition(
            "the consultation is closed already".into(),
        ));
    }
    let closed = consultations::Model {
        status: "closed".into(),
        closed_at: Some(now),
        ..consultation
    };
    emit(
        &mut tx,
        viewer,
        &closed,
        "consultation.closed",
        vec![closed.opened_by],
    );
    tx.audit(crate::audit::Pending::action(
        now,
        viewer,
        Some(closed.county_id),
        "consultation.closed",
        "consultation",
        id,
        json!({}),
    ));
    tx.commit().await?;
    Ok(closed)
}

/// Staff: the consultations they may read, newest first: the county's staff see the county's;
/// others those asked from units in their jurisdiction.
pub async fn list(
    state: &AppState,
    viewer: &Viewer,
    open_only: bool,
) -> AppResult<Vec<consultations::Model>> {
    let who = Jurisdiction::of(&state.db, viewer).await?;
    let mut query = consultations::Entity::find().order_by_desc(consultations::Column::CreatedAt);
    if who.county_id() == Some(who.region.id) {
        query = query.filter(consultations::Column::CountyId.eq(who.region.id));
    } else {
        let units = sea_orm::sea_query::Query::select()
            .column(regions::Column::Id)
            .from(regions::Entity)
            .and_where(regions::Column::Path.starts_with(&who.region.path))
            .to_owned();
        query = query.filter(consultations::Column::UnitId.in_subquery(units));
    }
    if open_only {
        query = query.filter(consultations::Column::Status.eq("open"));
    }
    Ok(sea_orm::QuerySelect::limit(query, 200)
        .all(&state.db)
        .await?)
}

/// A consultation's replies, oldest first (for those who may read it).
pub async fn replies(
    state: &AppState,
    viewer: &Viewer,
    id: Uuid,
) -> AppResult<Vec<consultation_replies::Model>> {
    readable(state, viewer, id).await?;
    Ok(consultation_replies::Entity::find()
        .filter(consultation_replies::Column::ConsultationId.eq(id))
        .order_by_asc(consultation_replies::Column::At)
        .all(&state.db)
        .await?)
}

/// For `subjectEvents`: NOT_FOUND unless the viewer may read the consultation.
pub async fn ensure_can_view(state: &AppState, viewer: &Viewer, id: Uuid) -> AppResult<()> {
    readable(state, viewer, id).await.map(|_| ())
}
