//! Custody of a proxy case's materials (申报材料移交清单): each material is received into an
//! agent's custody and every move — to another agent, to the approving window, back to the
//! applicant, or lost — closes one custody row and opens the next, so who held it from when
//! to when is never lost. A material lost, or still held long after its case ended, is
//! flagged (an assessment deduction later).
use chrono::{DateTime, Duration, Utc};
use entity::{case_materials, cases, material_custody};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder, Set,
    sea_query::Expr,
};
use serde_json::json;
use uuid::Uuid;

use crate::{
    auth::Viewer,
    cases::{
        model::{CaseAction, CaseKind, CaseRole, CaseStatus, MaterialStatus},
        service::{
            Acting, Move, Step, apply, case_for, kind_of, load_case, lock_case, record, status_of,
        },
    },
    directory::model::text,
    error::{AppError, AppResult},
    events::Tx,
    state::AppState,
};

/// A material handed over by the applicant.
pub struct MaterialInput {
    pub name: String,
    pub original: bool,
    pub copies: i32,
    pub location: Option<String>,
    pub must_return: bool,
}

/// Where a material goes next.
pub enum MaterialMove {
    /// To another agent of the holding unit.
    ToAgent(Uuid),
    /// To the approving window (审批窗口), named in the note.
    HandOn(String),
    /// Back to the applicant.
    Return,
    /// Lost, with what is known.
    Lost(String),
}

fn staff_of_case(acting: &Acting) -> AppResult<()> {
    if matches!(acting.role()?, CaseRole::HandlingAgent | CaseRole::Admin) {
        Ok(())
    } else {
        Err(AppError::Forbidden(
            "the holding unit's staff keep the materials".into(),
        ))
    }
}

/// Receives a material into the acting agent's custody (a proxy case from ENTRUSTED on).
pub async fn receive(
    state: &AppState,
    viewer: &Viewer,
    case_id: Uuid,
    input: MaterialInput,
) -> AppResult<case_materials::Model> {
    let name = text(&input.name, "input.name", 100)?;
    let location = input
        .location
        .as_deref()
        .map(|l| text(l, "input.location", 100))
        .transpose()?;
    if !(1..=99).contains(&input.copies) {
        return Err(AppError::bad_input("input.copies", "1–99"));
    }
    let (case, acting) = case_for(state, viewer, case_id).await?;
    staff_of_case(&acting)?;
    if kind_of(&case)? != CaseKind::Proxy
        || !matches!(
            status_of(&case)?,
            CaseStatus::Entrusted | CaseStatus::MaterialsReceived | CaseStatus::InProgress
        )
    {
        return Err(AppError::InvalidTransition(format!(
            "materials are received on an entrusted proxy case; this one is {}",
            case.status.to_uppercase()
        )));
    }
    let now = state.clock.now();
    let mut tx = Tx::begin(state).await?;
    lock_case(&*tx, &case, now).await?;
    let material = case_materials::ActiveModel {
        id: Set(Uuid::now_v7()),
        case_id: Set(case_id),
        name: Set(name.clone()),
        original: Set(input.original),
        copies: Set(input.copies),
        status: Set(MaterialStatus::Held.as_str().into()),
        location: Set(location),
        must_return: Set(input.must_return),
        holder_staff_id: Set(Some(acting.person)),
        held_since: Set(now),
        received_at: Set(now),
        received_by: Set(acting.person),
        handed_at: Set(None),
        handed_by: Set(None),
        returned_at: Set(None),
        returned_by: Set(None),
    }
    .insert(&*tx)
    .await?;
    custody(
        &*tx,
        &material,
        "staff",
        Some(acting.person),
        None,
        acting.person,
        now,
    )
    .await?;
    let step = Step {
        public_note: Some(format!("已接收材料：{name}")),
        details: json!({"material": material.id, "original": input.original, "copies": input.copies}),
        ..Step::default()
    };
    record(
        &mut tx,
        viewer,
        &case,
        &acting,
        "material_received",
        None,
        step,
        now,
    )
    .await?;
    tx.commit().await?;
    Ok(material)
}

async fn custody(
    conn: &impl ConnectionTrait,
    material: &case_materials::Model,
    holder: &str,
    holder_staff: Option<Uuid>,
    note: Option<String>,
    recorded_by: Uuid,
    now: DateTime<Utc>,
) -> AppResult<()> {
    material_custody::Entity::update_many()
        .col_expr(material_custody::Column::UntilAt, Expr::value(Some(now)))
        .filter(material_custody::Column::MaterialId.eq(material.id))
        .filter(material_custody::Column::UntilAt.is_null())
        .exec(conn)
        .await?;
    material_custody::ActiveModel {
        id: Set(Uuid::now_v7()),
        material_id: Set(material.id),
        case_id: Set(material.case_id),
        holder: Set(holder.into()),
        holder_staff_id: Set(holder_staff),
        note: Set(note),
        from_at: Set(now),
        until_at: Set(None),
        recorded_by: Set(recorded_by),
    }
    .insert(conn)
    .await?;
    Ok(())
}

/// Proxy: the materials are all in custody (at least one received): ENTRUSTED → MATERIALS_RECEIVED.
pub async fn confirm_received(
    state: &AppState,
    viewer: &Viewer,
    case_id: Uuid,
) -> AppResult<cases::Model> {
    let (case, acting) = case_for(state, viewer, case_id).await?;
    let now = state.clock.now();
    let mut tx = Tx::begin(state).await?;
    lock_case(&*tx, &case, now).await?;
    let held = case_materials::Entity::find()
        .filter(case_materials::Column::CaseId.eq(case_id))
        .all(&*tx)
        .await?;
    if held.is_empty() && status_of(&case)? == CaseStatus::Entrusted {
        return Err(AppError::InvalidTransition(
            "receive the materials (申报材料移交清单) first".into(),
        ));
    }
    let mv = Move::new(CaseAction::ReceiveMaterials, "materials_received").step(Step {
        public_note: Some(format!("申报材料已全部接收（{} 件）", held.len())),
        ..Step::default()
    });
    apply(&mut tx, viewer, &case, &acting, mv, now).await?;
    tx.commit().await?;
    load_case(&state.db, case_id).await
}

/// Moves a material on: to another agent, to the window, back to the applicant, or lost.
/// Returns are recorded on ended cases too (what must go back after a termination).
pub async fn move_material(
    state: &AppState,
    viewer: &Viewer,
    material_id: Uuid,
    to: MaterialMove,
) -> AppResult<case_materials::Model> {
    viewer.require_staff()?;
    let material = case_materials::Entity::find_by_id(material_id)
        .one(&state.db)
        .await?
        .ok_or(AppError::NotFound("material"))?;
    let (case, acting) = case_for(state, viewer, material.case_id)
        .await
        .map_err(crate::error::hidden_as_not_found("material"))?;
    staff_of_case(&acting)?;
    if material.status != MaterialStatus::Held.as_str() {
        return Err(AppError::InvalidTransition(format!(
            "the material is {}; only a held material moves",
            material.status.to_uppercase()
        )));
    }
    let open = status_of(&case)?.is_open();
    if !open && !matches!(to, MaterialMove::Return | MaterialMove::Lost(_)) {
        return Err(AppError::InvalidTransition(
            "the case has ended: its materials only go back to the applicant".into(),
        ));
    }
    let now = state.clock.now();
    let (status, holder, holder_staff, note, public) = match to {
        MaterialMove::ToAgent(agent) => {
            let staff = entity::staff_accounts::Entity::find_by_id(agent)
                .one(&state.db)
                .await?
                .filter(|s| {
                    s.active
                        && s.unit_id == Some(case.unit_id)
                        && matches!(
                            s.role.as_str(),
                            "village_agent" | "township_agent" | "county_agent"
                        )
                })
                .ok_or_else(|| {
                    AppError::bad_input(
                        "input.agentId",
                        "an active agent of the unit holding the case",
                    )
                })?;
            (
                MaterialStatus::Held,
                "staff",
                Some(staff.id),
                None,
                format!("材料「{}」已移交本单位代办人员保管", material.name),
            )
        }
        MaterialMove::HandOn(window) => {
            let window = text(&window, "input.window", 100)?;
            (
                MaterialStatus::HandedOn,
                "window",
                None,
                Some(window),
                format!("材料「{}」已报送审批窗口", material.name),
            )
        }
        MaterialMove::Return => (
            MaterialStatus::Returned,
            "applicant",
            None,
            None,
            format!("材料「{}」已退还申请人", material.name),
        ),
        MaterialMove::Lost(what) => {
            let what = text(&what, "input.note", 500)?;
            (
                MaterialStatus::Lost,
                "lost",
                None,
                Some(what),
                format!("材料「{}」登记遗失", material.name),
            )
        }
    };
    let mut tx = Tx::begin(state).await?;
    lock_case(&*tx, &case, now).await?;
    let mut update = case_materials::Entity::update_many()
        .col_expr(case_materials::Column::Status, Expr::value(status.as_str()))
        .col_expr(
            case_materials::Column::HolderStaffId,
            Expr::value(holder_staff),
        )
        .col_expr(case_materials::Column::HeldSince, Expr::value(now));
    update = match status {
        MaterialStatus::HandedOn => update
            .col_expr(case_materials::Column::HandedAt, Expr::value(Some(now)))
            .col_expr(
                case_materials::Column::HandedBy,
                Expr::value(Some(acting.person)),
            ),
        MaterialStatus::Returned => update
            .col_expr(case_materials::Column::ReturnedAt, Expr::value(Some(now)))
            .col_expr(
                case_materials::Column::ReturnedBy,
                Expr::value(Some(acting.person)),
            ),
        _ => update,
    };
    let moved = update
        .filter(case_materials::Column::Id.eq(material_id))
        .filter(case_materials::Column::Status.eq(MaterialStatus::Held.as_str()))
        .filter(match material.holder_staff_id {
            Some(holder) => case_materials::Column::HolderStaffId.eq(holder),
            None => case_materials::Column::HolderStaffId.is_null(),
        })
        .exec(&*tx)
        .await?;
    if moved.rows_affected == 0 {
        return Err(AppError::Conflict(
            "someone else moved this material first".into(),
        ));
    }
    custody(
        &*tx,
        &material,
        holder,
        holder_staff,
        note,
        acting.person,
        now,
    )
    .await?;
    let step = Step {
        public_note: Some(public),
        details: json!({"material": material.id, "to": status.as_str()}),
        ..Step::default()
    };
    record(
        &mut tx,
        viewer,
        &case,
        &acting,
        "material_moved",
        None,
        step,
        now,
    )
    .await?;
    tx.commit().await?;
    case_materials::Entity::find_by_id(material_id)
        .one(&state.db)
        .await?
        .ok_or(AppError::NotFound("material"))
}

/// A case's materials, oldest first, for those who may read the case.
pub async fn of_case(
    state: &AppState,
    viewer: &Viewer,
    case_id: Uuid,
) -> AppResult<Vec<case_materials::Model>> {
    case_for(state, viewer, case_id).await?;
    Ok(case_materials::Entity::find()
        .filter(case_materials::Column::CaseId.eq(case_id))
        .order_by_asc(case_materials::Column::ReceivedAt)
        .all(&state.db)
        .await?)
}

/// A material's custody rows, oldest first.
pub async fn custody_of(
    conn: &impl ConnectionTrait,
    material_id: Uuid,
) -> AppResult<Vec<material_custody::Model>> {
    Ok(material_custody::Entity::find()
        .filter(material_custody::Column::MaterialId.eq(material_id))
        .order_by_asc(material_custody::Column::FromAt)
        .all(conn)
        .await?)
}

/// When the case ended (its completion, or its close, refusal or termination); None while it
/// is open. Materials still held are judged from then.
pub async fn ended_at(
    conn: &impl ConnectionTrait,
    case: &cases::Model,
    status: CaseStatus,
) -> AppResult<Option<DateTime<Utc>>> {
    if status.is_open() {
        return Ok(None);
    }
    let completed = entity::case_steps::Entity::find()
        .filter(entity::case_steps::Column::CaseId.eq(case.id))
        .filter(entity::case_steps::Column::Action.eq("completed"))
        .one(conn)
        .await?
        .map(|step| step.at);
    Ok(completed.or(case.closed_at))
}

/// Why a material is flagged, if it is: lost, or still held `idle_days` after its case ended.
pub fn flag(
    material: &case_materials::Model,
    case_status: CaseStatus,
    case_ended_at: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
    idle_days: i64,
) -> Option<&'static str> {
    if material.status == MaterialStatus::Lost.as_str() {
        return Some("LOST");
    }
    let ended = !case_status.is_open();
    let since = case_ended_at
        .unwrap_or(material.held_since)
        .max(material.held_since);
    (material.status == MaterialStatus::Held.as_str()
        && ended
        && now - since > Duration::days(idle_days))
    .then_some("NOT_HANDED_ON")
}
