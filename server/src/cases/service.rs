//! What every case use case shares: loading a case, deciding who the viewer is to it (the
//! applicant, the holding unit's agent, an administrator over it, or a watcher), applying a move
//! of the state machine with a guarded update, and writing its step, event and audit entry in
//! the same transaction.
//!
//! Lock order (see ARCHITECTURE.md): the acting person's row → the case's counter (opening
//! only) → the case row (its guarded update) → its children (steps, materials, transfers) →
//! the audit append, last, at the commit.
use chrono::{DateTime, Utc};
use entity::{case_pauses, case_steps, cases, staff_accounts};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, Set,
    sea_query::{Expr, SimpleExpr},
};
use serde_json::{Value, json};
use uuid::Uuid;

use crate::{
    auth::{Role, Viewer},
    calendar,
    cases::{
        deadline::{self, Deadline, Pause},
        model::{CaseAction, CaseKind, CaseRole, CaseStatus},
        state::transition,
    },
    directory::{jurisdiction::Jurisdiction, regions::region},
    error::{AppError, AppResult},
    events::{EventDraft, Tx, resident_key, staff_key},
    state::AppState,
};

/// The longest public or internal note on a step.
pub const NOTE_MAX: usize = 1000;

/// A case by id; NOT_FOUND `case` when there is none.
pub async fn load_case(conn: &impl ConnectionTrait, id: Uuid) -> AppResult<cases::Model> {
    cases::Entity::find_by_id(id)
        .one(conn)
        .await?
        .ok_or(AppError::NotFound("case"))
}

/// Who the viewer is to a case.
#[derive(Clone, Debug)]
pub struct Acting {
    /// The role they act in; None for staff who may watch but not act (inspectors, auditors,
    /// agents of a unit above or beside the holder).
    pub role: Option<CaseRole>,
    /// The staff member's jurisdiction (None for the applicant).
    pub who: Option<Jurisdiction>,
    /// The person acting (the resident or the staff member).
    pub person: Uuid,
}

impl Acting {
    /// The role, or FORBIDDEN for a watcher.
    pub fn role(&self) -> AppResult<CaseRole> {
        self.role.ok_or_else(|| {
            AppError::Forbidden(
                "only the holding unit's agents and administrators over it act on a case".into(),
            )
        })
    }

    /// The staff member acting; FORBIDDEN for the applicant.
    pub fn staff(&self) -> AppResult<&Jurisdiction> {
        self.who
            .as_ref()
            .ok_or_else(|| AppError::Forbidden("staff only".into()))
    }

    pub fn is_staff(&self) -> bool {
        self.who.is_some()
    }
}

fn is_agent(role: Role) -> bool {
    matches!(
        role,
        Role::VillageAgent | Role::TownshipAgent | Role::CountyAgent
    )
}

/// Who the viewer is to `case`: its applicant; staff whose jurisdiction covers the unit that
/// holds it, the unit that opened it, or a unit a pending transfer is addressed to. Anyone else
/// gets NOT_FOUND `case` (its existence is not told); anonymous callers UNAUTHENTICATED.
pub async fn access(state: &AppState, viewer: &Viewer, case: &cases::Model) -> AppResult<Acting> {
    match viewer {
        Viewer::Anonymous => Err(AppError::Unauthenticated("log in first".into())),
        Viewer::Resident { user_id, .. } => {
            if case.user_id == Some(*user_id) {
                Ok(Acting {
                    role: Some(CaseRole::Applicant),
                    who: None,
                    person: *user_id,
                })
            } else {
                Err(AppError::NotFound("case"))
            }
        }
        Viewer::Staff { .. } => {
            let who = Jurisdiction::of(&state.db, viewer).await?;
            let holder = region(&state.db, case.unit_id).await?;
            let covers_holder = who.covers(&holder);
            let visible = covers_holder
                || who.covers(&region(&state.db, case.origin_unit_id).await?)
                || pending_to_covered(&state.db, case.id, &who).await?;
            if !visible {
                return Err(AppError::NotFound("case"));
            }
            let role = if who.region.id == case.unit_id && is_agent(who.role) {
                Some(CaseRole::HandlingAgent)
            } else if who.is_admin() && covers_holder {
                Some(CaseRole::Admin)
            } else {
                None
            };
            Ok(Acting {
                role,
                person: who.staff_id,
                who: Some(who),
            })
        }
    }
}

/// UNAUTHENTICATED for an anonymous caller: asked before anything is looked up, so that
/// nothing answers NOT_FOUND to someone not signed in.
pub fn signed_in(viewer: &Viewer) -> AppResult<()> {
    match viewer {
        Viewer::Anonymous => Err(AppError::Unauthenticated("log in first".into())),
        _ => Ok(()),
    }
}

/// Loads a case and who the viewer is to it.
pub async fn case_for(
    state: &AppState,
    viewer: &Viewer,
    id: Uuid,
) -> AppResult<(cases::Model, Acting)> {
    signed_in(viewer)?;
    let case = load_case(&state.db, id).await?;
    let acting = access(state, viewer, &case).await?;
    Ok((case, acting))
}

pub fn kind_of(case: &cases::Model) -> AppResult<CaseKind> {
    case.kind.parse()
}

pub fn status_of(case: &cases::Model) -> AppResult<CaseStatus> {
    case.status.parse()
}

/// Locks the case row for a change that is not a move (its children, its clock), guarded on
/// what was read: CONFLICT when the status or the holding unit changed meanwhile. Lock order:
/// the case row before its children.
pub async fn lock_case(
    conn: &impl ConnectionTrait,
    case: &cases::Model,
    now: DateTime<Utc>,
) -> AppResult<()> {
    let locked = cases::Entity::update_many()
        .col_expr(cases::Column::UpdatedAt, Expr::value(now))
        .filter(cases::Column::Id.eq(case.id))
        .filter(cases::Column::Status.eq(case.status.as_str()))
        .filter(cases::Column::UnitId.eq(case.unit_id))
        .exec(conn)
        .await?;
    if locked.rows_affected == 0 {
        return Err(AppError::Conflict(
            "someone else changed this case first".into(),
        ));
    }
    Ok(())
}

/// A step of the trail about to be written.
#[derive(Default)]
pub struct Step {
    /// Shown to the applicant on their timeline.
    pub public_note: Option<String>,
    /// Staff only.
    pub internal_note: Option<String>,
    /// What the step records (reference numbers, services, checks): staff only.
    pub details: Value,
    /// Units whose agents also hear of the step (a transfer's other side).
    pub also_units: Vec<Uuid>,
}

/// One move of the state machine: the action, what else the case row gets, and its step.
pub struct Move {
    pub action: CaseAction,
    /// The step's name on the trail and the event's kind (`case.<name>`).
    pub name: &'static str,
    pub set: Vec<(cases::Column, SimpleExpr)>,
    pub step: Step,
}

impl Move {
    pub fn new(action: CaseAction, name: &'static str) -> Self {
        Self {
            action,
            name,
            set: Vec::new(),
            step: Step::default(),
        }
    }

    pub fn set(mut self, column: cases::Column, value: impl Into<SimpleExpr>) -> Self {
        self.set.push((column, value.into()));
        self
    }

    pub fn step(mut self, step: Step) -> Self {
        self.step = step;
        self
    }
}

/// Applies a move inside `tx`: the state machine decides the new status; the guarded
/// `UPDATE … WHERE id = ? AND status = <from>` writes it, or answers CONFLICT when someone
/// else moved the case first; then the step, the event and the audit entry. Returns the new
/// status.
pub async fn apply(
    tx: &mut Tx<'_>,
    viewer: &Viewer,
    case: &cases::Model,
    acting: &Acting,
    mv: Move,
    now: DateTime<Utc>,
) -> AppResult<CaseStatus> {
    let from = status_of(case)?;
    let to = transition(kind_of(case)?, from, mv.action, acting.role()?)?;
    let mut update = cases::Entity::update_many()
        .col_expr(cases::Column::Status, Expr::value(to.as_str()))
        .col_expr(cases::Column::UpdatedAt, Expr::value(now));
    if !to.is_open() {
        update = update.col_expr(
            cases::Column::WaitingSince,
            Expr::value(Option::<chrono::NaiveDate>::None),
        );
    }
    if matches!(
        to,
        CaseStatus::Closed | CaseStatus::Terminated | CaseStatus::Refused
    ) {
        update = update.col_expr(cases::Column::ClosedAt, Expr::value(Some(now)));
    }
    for (column, value) in mv.set {
        update = update.col_expr(column, value);
    }
    // Guarded on what the decision was made from: the status and the unit holding the case (a
    // transfer accepted meanwhile takes the case from the one acting).
    let updated = update
        .filter(cases::Column::Id.eq(case.id))
        .filter(cases::Column::Status.eq(from.as_str()))
        .filter(cases::Column::UnitId.eq(case.unit_id))
        .exec(&**tx)
        .await?;
    if updated.rows_affected == 0 {
        let now_status = load_case(&**tx, case.id).await?.status;
        return Err(AppError::Conflict(format!(
            "someone else changed this case first; it is now {}",
            now_status.to_uppercase()
        )));
    }
    if !to.is_open() {
        close_open_pause(&**tx, case.id, crate::clock::local_date(now)).await?;
        // A transfer still waiting for an answer goes with the case's end.
        entity::case_transfers::Entity::update_many()
            .col_expr(
                entity::case_transfers::Column::Status,
                Expr::value(crate::cases::model::TransferStatus::Withdrawn.as_str()),
            )
            .col_expr(
                entity::case_transfers::Column::RespondedAt,
                Expr::value(Some(now)),
            )
            .filter(entity::case_transfers::Column::CaseId.eq(case.id))
            .filter(
                entity::case_transfers::Column::Status
                    .eq(crate::cases::model::TransferStatus::Pending.as_str()),
            )
            .exec(&**tx)
            .await?;
    }
    record(
        tx,
        viewer,
        case,
        acting,
        mv.name,
        Some((from, to)),
        mv.step,
        now,
    )
    .await?;
    Ok(to)
}

/// Writes a step of the trail with its event and audit entry (for a transition, or a fact
/// recorded without one: a service given, a material moved).
#[allow(clippy::too_many_arguments)]
pub async fn record(
    tx: &mut Tx<'_>,
    viewer: &Viewer,
    case: &cases::Model,
    acting: &Acting,
    name: &'static str,
    moved: Option<(CaseStatus, CaseStatus)>,
    step: Step,
    now: DateTime<Utc>,
) -> AppResult<()> {
    let status = moved.map_or_else(|| case.status.clone(), |(_, to)| to.as_str().to_string());
    let public = step.public_note.is_some();
    crate::cases::latest::lock_for_step(&**tx, case.id).await?;
    case_steps::ActiveModel {
        id: Set(Uuid::now_v7()),
        case_id: Set(case.id),
        at: Set(now),
        action: Set(name.to_string()),
        from_status: Set(moved.map(|(from, _)| from.as_str().to_string())),
        to_status: Set(moved.map(|(_, to)| to.as_str().to_string())),
        actor_kind: Set(match viewer {
            Viewer::Staff { .. } => "staff",
            Viewer::Resident { .. } => "resident",
            Viewer::Anonymous => "system",
        }
        .to_string()),
        actor_id: Set((!matches!(viewer, Viewer::Anonymous)).then_some(acting.person)),
        unit_id: Set(Some(case.unit_id)),
        public_note: Set(step.public_note.clone()),
        internal_note: Set(step.internal_note),
        details: Set(if step.details.is_null() {
            "{}".to_string()
        } else {
            step.details.to_string()
        }),
    }
    .insert(&**tx)
    .await?;
    crate::cases::latest::refresh(&**tx, case.id).await?;
    let hears = crate::cases::state::applicant_hears(public, moved.is_some());
    let audience = audience(&**tx, case, &step.also_units, hears).await?;
    emit(tx, viewer, case, name, &status, audience);
    tx.audit(crate::audit::Pending::action(
        now,
        viewer,
        Some(case.county_id),
        format!("case.{name}"),
        "case",
        case.id,
        json!({"number": case.number, "status": status}),
    ));
    Ok(())
}

/// The people a case's events are for: its applicant (when `applicant` — see
/// `state::applicant_hears`), its agent and the agents of the unit holding it, and `also` (a
/// transfer's receiving unit, say).
pub async fn audience(
    conn: &impl ConnectionTrait,
    case: &cases::Model,
    also_units: &[Uuid],
    applicant: bool,
) -> AppResult<Vec<String>> {
    let mut keys = Vec::new();
    if let Some(user) = case.user_id.filter(|_| applicant) {
        keys.push(resident_key(user));
    }
    if let Some(agent) = case.agent_id {
        keys.push(staff_key(agent));
    }
    let mut units = vec![case.unit_id];
    units.extend_from_slice(also_units);
    let staff: Vec<Uuid> = staff_accounts::Entity::find()
        .filter(staff_accounts::Column::UnitId.is_in(units))
        .filter(staff_accounts::Column::Active.eq(true))
        .all(conn)
        .await?
        .into_iter()
        .filter(|s| s.role.parse::<Role>().is_ok_and(is_agent))
        .map(|s| s.id)
        .collect();
    keys.extend(staff.into_iter().map(staff_key));
    Ok(keys)
}

/// Queues the event of a step: `case.<name>`, about the case, with no personal data, caused
/// by `viewer`.
pub fn emit(
    tx: &mut Tx<'_>,
    viewer: &Viewer,
    case: &cases::Model,
    name: &'static str,
    status: &str,
    audience: Vec<String>,
) {
    tx.emit_by(
        viewer,
        EventDraft {
            kind: event_kind(name),
            topic: "case",
            subject_kind: "case",
            subject_id: case.id.to_string(),
            audience,
            payload: json!({"number": case.number, "status": status.to_uppercase(), "step": name}),
        },
    );
}

/// Every step's event kind (a closed list, so push templates can be configured per kind).
pub fn event_kind(name: &'static str) -> &'static str {
    match name {
        "opened" => "case.opened",
        "accepted" => "case.accepted",
        "refused" => "case.refused",
        "service_started" => "case.service_started",
        "service_given" => "case.service_given",
        "submitted" => "case.submitted",
        "returned" => "case.returned",
        "resumed" => "case.resumed",
        "clock_stopped" => "case.clock_stopped",
        "clock_restarted" => "case.clock_restarted",
        "entrustment_prepared" => "case.entrustment_prepared",
        "entrustment_confirmed" => "case.entrustment_confirmed",
        "entrusted" => "case.entrusted",
        "material_received" => "case.material_received",
        "material_moved" => "case.material_moved",
        "materials_received" => "case.materials_received",
        "progress_started" => "case.progress_started",
        "transfer_requested" => "case.transfer_requested",
        "transfer_accepted" => "case.transfer_accepted",
        "transfer_refused" => "case.transfer_refused",
        "transfer_withdrawn" => "case.transfer_withdrawn",
        "transfer_overdue" => "case.transfer_overdue",
        "completed" => "case.completed",
        "delivered" => "case.delivered",
        "archived" => "case.archived",
        "closed" => "case.closed",
        "terminated" => "case.terminated",
        "plan_set" => "case.plan_set",
        "milestone_acknowledged" => "case.milestone_acknowledged",
        "milestone_progress" => "case.milestone_progress",
        "milestone_reported" => "case.milestone_reported",
        "milestone_overdue" => "case.milestone_overdue",
        "due_soon" => "case.due_soon",
        "overdue" => "case.overdue",
        _ => "case.updated",
    }
}

/// Ends an open pause of the clock on `day` (the case closed, or the applicant answered).
pub async fn close_open_pause(
    conn: &impl ConnectionTrait,
    case_id: Uuid,
    day: chrono::NaiveDate,
) -> AppResult<u64> {
    Ok(case_pauses::Entity::update_many()
        .col_expr(case_pauses::Column::UntilDay, Expr::value(Some(day)))
        .filter(case_pauses::Column::CaseId.eq(case_id))
        .filter(case_pauses::Column::UntilDay.is_null())
        .exec(conn)
        .await?
        .rows_affected)
}

/// The case's deadline from its acceptance, promised days and recorded pauses.
pub async fn reckon_deadline(
    conn: &impl ConnectionTrait,
    case_id: Uuid,
    accepted: chrono::NaiveDate,
    promised: i32,
) -> AppResult<crate::calendar::model::Reckoned<Deadline>> {
    let calendar = calendar::service::load(conn).await?;
    let pauses: Vec<Pause> = case_pauses::Entity::find()
        .filter(case_pauses::Column::CaseId.eq(case_id))
        .all(conn)
        .await?
        .into_iter()
        .map(|p| Pause {
            from: p.from_day,
            until: p.until_day,
        })
        .collect();
    Ok(deadline::deadline(
        &calendar,
        accepted,
        i64::from(promised),
        &pauses,
    ))
}

/// Writes the reckoned deadline onto the case row (inside the caller's transaction, after
/// the row's guarded update).
pub async fn store_deadline(conn: &impl ConnectionTrait, case: &cases::Model) -> AppResult<()> {
    let Some(accepted) = case.accepted_on else {
        return Ok(());
    };
    let reckoned = reckon_deadline(conn, case.id, accepted, case.promised_days).await?;
    let due = match reckoned.value {
        Deadline::Due(day) => Some(day),
        Deadline::Stopped { .. } => None,
    };
    cases::Entity::update_many()
        .col_expr(cases::Column::DueOn, Expr::value(due))
        .col_expr(
            cases::Column::DueProvisional,
            Expr::value(reckoned.provisional),
        )
        // A new deadline is judged afresh by the next run of the deadline job.
        .col_expr(
            cases::Column::DueFlag,
            Expr::value(crate::cases::model::DueFlag::OnTrack.as_str()),
        )
        .filter(cases::Column::Id.eq(case.id))
        .exec(conn)
        .await?;
    Ok(())
}

/// A note: trimmed, 1–[`NOTE_MAX`] characters, no control characters.
pub fn note(raw: &str, field: &str) -> AppResult<String> {
    crate::directory::model::text(raw, field, NOTE_MAX)
}

/// An optional note.
pub fn optional_note(raw: Option<&str>, field: &str) -> AppResult<Option<String>> {
    raw.map(|r| note(r, field)).transpose()
}

/// Whether a pending transfer of the case is addressed to a unit inside `who`'s jurisdiction.
pub async fn pending_to_covered(
    conn: &impl ConnectionTrait,
    case_id: Uuid,
    who: &Jurisdiction,
) -> AppResult<bool> {
    let pending = entity::case_transfers::Entity::find()
        .filter(entity::case_transfers::Column::CaseId.eq(case_id))
        .filter(
            entity::case_transfers::Column::Status
                .eq(crate::cases::model::TransferStatus::Pending.as_str()),
        )
        .all(conn)
        .await?;
    for transfer in pending {
        if who.covers(&region(conn, transfer.to_unit).await?) {
            return Ok(true);
        }
    }
    Ok(false)
}

/// Starts a unit's holding of a case.
pub async fn hold(
    conn: &impl ConnectionTrait,
    case_id: Uuid,
    unit_id: Uuid,
    now: DateTime<Utc>,
) -> AppResult<()> {
    entity::case_holdings::Entity::update_many()
        .col_expr(
            entity::case_holdings::Column::UntilAt,
            Expr::value(Some(now)),
        )
        .filter(entity::case_holdings::Column::CaseId.eq(case_id))
        .filter(entity::case_holdings::Column::UntilAt.is_null())
        .exec(conn)
        .await?;
    entity::case_holdings::ActiveModel {
        id: Set(Uuid::now_v7()),
        case_id: Set(case_id),
        unit_id: Set(unit_id),
        from_at: Set(now),
        until_at: Set(None),
    }
    .insert(conn)
    .await?;
    Ok(())
}
