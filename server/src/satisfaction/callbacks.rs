//! Satisfaction callbacks (满意度回访), the county centre's own check on the service: the county
//! administrator's samples (`samples`) and every real-name bad rating (100 % return visits)
//! open callbacks, the administrator assigns each task to a caller (an inspector or
//! county staff), the caller records each call (up to the configured attempts, each on a later
//! working day) and sees the applicant's phone only through an audited reveal, or the applicant
//! answers the same questions in the mini-program. Answers reporting fees, gifts or misconduct
//! tell the county's inspectors. Each change is one transaction, the audit entry last.
use chrono::{DateTime, NaiveDate, Utc};
use entity::{callback_attempts, callback_tasks, cases, staff_accounts, users};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder,
    QuerySelect, Set,
    sea_query::{Expr, OnConflict},
};
use serde_json::json;
use uuid::Uuid;

use crate::{
    auth::{Role, Viewer},
    calendar,
    cases::service::signed_in,
    clock::{CHINA, local_date},
    config::QuestionKind,
    directory::{jurisdiction::Jurisdiction, model::text},
    error::{AppError, AppResult},
    events::{EventDraft, Tx, staff_key},
    moderation::{self, Disposition},
    satisfaction::{
        callback_rules::{AfterCall, CallOutcome, CallbackStatus, after_call},
        model::RatingTextState,
        script::{Answer, check_answers, store},
    },
    state::AppState,
    wechat::sec_check::Scene,
};

/// The China midnight starting `day`, as an instant.
pub(crate) fn start_of(day: NaiveDate) -> DateTime<Utc> {
    day.and_time(chrono::NaiveTime::MIN)
        .and_local_timezone(CHINA)
        .single()
        .map_or_else(
            || day.and_time(chrono::NaiveTime::MIN).and_utc(),
            |t| t.with_timezone(&Utc),
        )
}

pub(crate) fn year_of(day: NaiveDate) -> i32 {
    chrono::Datelike::year(&day)
}

/// County-level staff (the county centre's callers and administrator): FORBIDDEN otherwise.
pub(crate) async fn county_staff(state: &AppState, viewer: &Viewer) -> AppResult<Jurisdiction> {
    signed_in(viewer)?;
    let who = Jurisdiction::of(&state.db, viewer).await?;
    if who.county_id() != Some(who.region.id) {
        return Err(AppError::Forbidden(
            "satisfaction callbacks are the county centre's".into(),
        ));
    }
    Ok(who)
}

/// Opens a task unless the case has one of this source this year; its id when it did.
#[allow(clippy::too_many_arguments)]
pub async fn open_task(
    conn: &impl ConnectionTrait,
    county: Uuid,
    case: Uuid,
    unit: Uuid,
    year: i32,
    source: &str,
    sample: Option<Uuid>,
    rating: Option<Uuid>,
    today: NaiveDate,
    now: DateTime<Utc>,
) -> AppResult<Option<Uuid>> {
    let id = Uuid::now_v7();
    let inserted = callback_tasks::Entity::insert(callback_tasks::ActiveModel {
        id: Set(id),
        county_id: Set(county),
        case_id: Set(case),
        unit_id: Set(unit),
        year: Set(year),
        source: Set(source.into()),
        sample_id: Set(sample),
        rating_id: Set(rating),
        assigned_to: Set(None),
        status: Set(CallbackStatus::Open.as_str().into()),
        attempts: Set(0),
        next_attempt_on: Set(today),
        answers: Set(None),
        misconduct: Set(false),
        answered_at: Set(None),
        answered_by: Set(None),
        created_at: Set(now),
        comment_state: Set(RatingTextState::None.as_str().into()),
        comment_checks: Set(0),
    })
    .on_conflict(
        OnConflict::columns([
            callback_tasks::Column::CaseId,
            callback_tasks::Column::Year,
            callback_tasks::Column::Source,
        ])
        .do_nothing()
        .to_owned(),
    )
    .exec_without_returning(conn)
    .await?;
    Ok((inserted == 1).then_some(id))
}

pub async fn load_task(conn: &impl ConnectionTrait, id: Uuid) -> AppResult<callback_tasks::Model> {
    callback_tasks::Entity::find_by_id(id)
        .one(conn)
        .await?
        .ok_or(AppError::NotFound("callback"))
}

async fn county_task(
    state: &AppState,
    viewer: &Viewer,
    id: Uuid,
) -> AppResult<(Jurisdiction, callback_tasks::Model)> {
    let who = county_staff(state, viewer).await?;
    let task = load_task(&state.db, id).await?;
    who.ensure_in_county(Some(task.county_id), "callback")?;
    Ok((who, task))
}

/// `assignCallback`: the county administrator gives a task to an inspector or county staff.
pub async fn assign(
    state: &AppState,
    viewer: &Viewer,
    id: Uuid,
    caller: Uuid,
) -> AppResult<callback_tasks::Model> {
    let (who, task) = county_task(state, viewer, id).await?;
    who.ensure_county_admin()?;
    let staff = staff_accounts::Entity::find_by_id(caller)
        .one(&state.db)
        .await?
        .filter(|s| s.active && s.unit_id == Some(task.county_id))
        .ok_or_else(|| {
            AppError::bad_input(
                "callerId",
                "an active inspector or staff member of the county centre",
            )
        })?;
    if staff.role.parse::<Role>()? == Role::Auditor {
        return Err(AppError::bad_input("callerId", "auditors only read"));
    }
    // The county centre's check is not made by someone who worked on the case.
    let case = cases::Entity::find_by_id(task.case_id)
        .one(&state.db)
        .await?
        .ok_or(AppError::NotFound("callback"))?;
    let worked = case.agent_id == Some(caller)
        || entity::case_steps::Entity::find()
            .filter(entity::case_steps::Column::CaseId.eq(task.case_id))
            .filter(entity::case_steps::Column::ActorId.eq(caller))
            .one(&state.db)
            .await?
            .is_some();
    if worked {
        return Err(AppError::bad_input(
            "callerId",
            "someone who worked on the case does not call it back",
        ));
    }
    let now = state.clock.now();
    let mut tx = Tx::begin(state).await?;
    let updated = callback_tasks::Entity::update_many()
        .col_expr(
            callback_tasks::Column::AssignedTo,
            Expr::value(Some(caller)),
        )
        .filter(callback_tasks::Column::Id.eq(id))
        .filter(callback_tasks::Column::Status.eq(CallbackStatus::Open.as_str()))
        .exec(&*tx)
        .await?;
    if updated.rows_affected == 0 {
        return Err(AppError::InvalidTransition("the callback is closed".into()));
    }
    tx.emit_by(
        viewer,
        EventDraft {
            kind: "callback.assigned",
            topic: "satisfaction",
            subject_kind: "callback",
            subject_id: id.to_string(),
            audience: vec![staff_key(caller)],
            payload: json!({"callbackId": id}),
        },
    );
    tx.audit(crate::audit::Pending::action(
        now,
        viewer,
        Some(task.county_id),
        "callback.assigned",
        "callback",
        id,
        json!({"caller": caller}),
    ));
    tx.commit().await?;
    load_task(&state.db, id).await
}

/// The caller of a task: its assignee only.
fn ensure_caller(who: &Jurisdiction, task: &callback_tasks::Model) -> AppResult<()> {
    if task.assigned_to == Some(who.staff_id) {
        Ok(())
    } else {
        Err(AppError::Forbidden("only the caller assigned calls".into()))
    }
}

/// `recordCallbackAttempt`.
pub async fn record_attempt(
    state: &AppState,
    viewer: &Viewer,
    id: Uuid,
    outcome: CallOutcome,
    note: Option<&str>,
    answers: Option<Vec<(String, Answer)>>,
) -> AppResult<callback_tasks::Model> {
    let note = note.map(|n| text(n, "note", 1000)).transpose()?;
    let (who, task) = county_task(state, viewer, id).await?;
    ensure_caller(&who, &task)?;
    let checked = match (outcome, answers) {
        (CallOutcome::Reached, Some(answers)) => Some(
            check_answers(&state.settings.satisfaction.callback_script, &answers)
                .map_err(|(key, why)| AppError::bad_input(format!("answers.{key}"), why))?,
        ),
        (CallOutcome::Reached, None) => {
            return Err(AppError::bad_input(
                "answers",
                "a reached call records the answers",
            ));
        }
        (_, Some(_)) => {
            return Err(AppError::bad_input(
                "answers",
                "only a reached call has answers",
            ));
        }
        (_, None) => None,
    };
    if task.status != CallbackStatus::Open.as_str() {
        return Err(AppError::InvalidTransition("the callback is closed".into()));
    }
    let now = state.clock.now();
    let today = local_date(now);
    if task.next_attempt_on > today {
        return Err(AppError::InvalidTransition(format!(
            "call again from {} (attempts are on different working days)",
            task.next_attempt_on
        )));
    }
    let calendar = calendar::service::load(&state.db).await?;
    if !calendar.is_workday(today).value {
        return Err(AppError::InvalidTransition(
            "callbacks are made on working days".into(),
        ));
    }
    let attempts = task.attempts + 1;
    let step = after_call(
        outcome,
        attempts,
        state.settings.satisfaction.callback_attempts,
        calendar.add_working_days(today, 1).value,
    );
    let mut tx = Tx::begin(state).await?;
    let mut update = callback_tasks::Entity::update_many()
        .col_expr(callback_tasks::Column::Attempts, Expr::value(attempts));
    update = match step {
        AfterCall::Again(day) => {
            update.col_expr(callback_tasks::Column::NextAttemptOn, Expr::value(day))
        }
        AfterCall::Closed(status) => {
            update.col_expr(callback_tasks::Column::Status, Expr::value(status.as_str()))
        }
    };
    let misconduct = checked.as_ref().is_some_and(|(_, m)| *m);
    if let Some((stored, misconduct)) = &checked {
        update = update
            .col_expr(
                callback_tasks::Column::Answers,
                Expr::value(Some(store(stored))),
            )
            // What the caller wrote down is their record, not the applicant's own text.
            .col_expr(
                callback_tasks::Column::CommentState,
                Expr::value(
                    if stored.iter().any(|a| a.kind == QuestionKind::Text) {
                        RatingTextState::Published
                    } else {
                        RatingTextState::None
                    }
                    .as_str(),
                ),
            )
            .col_expr(callback_tasks::Column::Misconduct, Expr::value(*misconduct))
            .col_expr(callback_tasks::Column::AnsweredAt, Expr::value(Some(now)))
            .col_expr(
                callback_tasks::Column::AnsweredBy,
                Expr::value(Some(who.staff_id)),
            );
    }
    let updated = update
        .filter(callback_tasks::Column::Id.eq(id))
        .filter(callback_tasks::Column::Status.eq(CallbackStatus::Open.as_str()))
        .filter(callback_tasks::Column::Attempts.eq(task.attempts))
        // Still theirs: a caller reassigned meanwhile records nothing.
        .filter(callback_tasks::Column::AssignedTo.eq(who.staff_id))
        .exec(&*tx)
        .await?;
    if updated.rows_affected == 0 {
        return Err(AppError::Conflict(
            "someone else recorded this callback first".into(),
        ));
    }
    callback_attempts::ActiveModel {
        id: Set(Uuid::now_v7()),
        task_id: Set(id),
        at: Set(now),
        outcome: Set(outcome.as_str().into()),
        caller_id: Set(who.staff_id),
        note: Set(note),
    }
    .insert(&*tx)
    .await?;
    if misconduct && let Some((stored, _)) = &checked {
        report_misconduct(&mut tx, &task, Some(who.staff_id), stored, now).await?;
    }
    tx.audit(crate::audit::Pending::action(
        now,
        viewer,
        Some(task.county_id),
        "callback.attempt",
        "callback",
        id,
        json!({"outcome": outcome.as_str(), "attempts": attempts}),
    ));
    tx.commit().await?;
    load_task(&state.db, id).await
}

/// Opens the complaint record a callback's answers report (fees, gifts, misconduct), with the
/// caller as its source (None: the applicant answered themselves), for the complaints room's
/// inspectors; and tells the county's inspectors of the callback.
async fn report_misconduct(
    tx: &mut Tx<'_>,
    task: &callback_tasks::Model,
    caller: Option<Uuid>,
    answers: &[crate::satisfaction::script::KeptAnswer],
    now: chrono::DateTime<chrono::Utc>,
) -> AppResult<()> {
    let reports: Vec<(String, String)> = answers
        .iter()
        .filter(|a| a.misconduct)
        .map(|a| (a.key.clone(), a.question.clone()))
        .collect();
    crate::complaints::intake::from_callback(tx, task, caller, &reports, now).await?;
    let inspectors: Vec<String> = staff_accounts::Entity::find()
        .filter(staff_accounts::Column::Role.eq(Role::Inspector.as_str()))
        .filter(staff_accounts::Column::Active.eq(true))
        .filter(staff_accounts::Column::UnitId.eq(task.county_id))
        .all(&**tx)
        .await?
        .into_iter()
        .map(|s| staff_key(s.id))
        .collect();
    tx.emit(EventDraft {
        kind: "callback.misconduct_reported",
        topic: "satisfaction",
        subject_kind: "callback",
        subject_id: task.id.to_string(),
        audience: inspectors,
        // Not the complaint's id: county-centre staff follow a callback, and the complaint
        // would be tied to the case's applicant without the audited reveal.
        payload: json!({"callbackId": task.id, "unitId": task.unit_id}),
    });
    Ok(())
}

/// `answerCallback`: the applicant answers the questionnaire in the mini-program.
pub async fn answer_self(
    state: &AppState,
    viewer: &Viewer,
    id: Uuid,
    answers: Vec<(String, Answer)>,
) -> AppResult<callback_tasks::Model> {
    let Viewer::Resident { user_id, .. } = viewer else {
        signed_in(viewer)?;
        return Err(AppError::Forbidden(
            "the applicant answers their own callback".into(),
        ));
    };
    let task = load_task(&state.db, id).await?;
    let case = cases::Entity::find_by_id(task.case_id)
        .one(&state.db)
        .await?
        .filter(|c| c.user_id == Some(*user_id))
        .ok_or(AppError::NotFound("callback"))?;
    let (mut stored, misconduct) =
        check_answers(&state.settings.satisfaction.callback_script, &answers)
            .map_err(|(key, why)| AppError::bad_input(format!("answers.{key}"), why))?;
    if task.status != CallbackStatus::Open.as_str() {
        return Err(AppError::InvalidTransition("the callback is closed".into()));
    }
    // The applicant's comment is their free text: checked before it is stored; one WeChat
    // could not pass is kept apart, unseen by staff.
    let mut comment_state = RatingTextState::None;
    if let Some(answer) = stored.iter_mut().find(|a| a.kind == QuestionKind::Text) {
        let comment = answer.value.as_str().unwrap_or_default().to_string();
        state
            .limiter
            .check(
                &format!("text-check:{user_id}"),
                state.settings.satisfaction.text_checks_per_user_per_hour,
                std::time::Duration::from_secs(3600),
            )
            .await?;
        let verdict = moderation::check(
            state,
            &state.db,
            *user_id,
            &comment,
            Scene::Comment,
            std::time::Duration::from_millis(state.settings.satisfaction.text_check_timeout_ms),
        )
        .await?;
        comment_state = match moderation::disposition(verdict) {
            Disposition::Publish => RatingTextState::Published,
            Disposition::Reject { .. } => {
                return Err(moderation::rejected(&format!("answers.{}", answer.key)));
            }
            Disposition::Hold { .. } => RatingTextState::Held,
            Disposition::Recheck => RatingTextState::Unchecked,
        };
        answer.unchecked = !comment_state.shown();
    }
    let now = state.clock.now();
    let mut tx = Tx::begin(state).await?;
    let updated = callback_tasks::Entity::update_many()
        .col_expr(
            callback_tasks::Column::Status,
            Expr::value(CallbackStatus::SelfAnswered.as_str()),
        )
        .col_expr(
            callback_tasks::Column::Answers,
            Expr::value(Some(store(&stored))),
        )
        .col_expr(
            callback_tasks::Column::CommentState,
            Expr::value(comment_state.as_str()),
        )
        .col_expr(callback_tasks::Column::Misconduct, Expr::value(misconduct))
        .col_expr(callback_tasks::Column::AnsweredAt, Expr::value(Some(now)))
        .filter(callback_tasks::Column::Id.eq(id))
        .filter(callback_tasks::Column::Status.eq(CallbackStatus::Open.as_str()))
        .exec(&*tx)
        .await?;
    if updated.rows_affected == 0 {
        return Err(AppError::Conflict(
            "the callback was closed meanwhile".into(),
        ));
    }
    if misconduct {
        report_misconduct(&mut tx, &task, None, &stored, now).await?;
    }
    tx.audit(crate::audit::Pending::action(
        now,
        viewer,
        Some(case.county_id),
        "callback.self_answered",
        "callback",
        id,
        json!({}),
    ));
    tx.commit().await?;
    load_task(&state.db, id).await
}

/// `revealCallbackPhone`: the assigned caller reads the applicant's bound phone (audited with
/// the reason); None when they bound none.
pub async fn reveal_phone(
    state: &AppState,
    viewer: &Viewer,
    id: Uuid,
    reason: &str,
) -> AppResult<Option<String>> {
    let reason = text(reason, "reason", 200)?;
    let (who, task) = county_task(state, viewer, id).await?;
    if task.assigned_to != Some(who.staff_id) {
        return Err(AppError::Forbidden(
            "only the caller assigned sees the number".into(),
        ));
    }
    if task.status != CallbackStatus::Open.as_str() {
        return Err(AppError::InvalidTransition("the callback is closed".into()));
    }
    let case = cases::Entity::find_by_id(task.case_id)
        .one(&state.db)
        .await?
        .ok_or(AppError::NotFound("callback"))?;
    let sealed = match case.user_id {
        Some(user) => users::Entity::find_by_id(user)
            .one(&state.db)
            .await?
            .and_then(|u| u.phone_enc),
        None => None,
    };
    let phone = sealed
        .map(|v| state.cipher.decrypt(&v))
        .transpose()
        .map_err(AppError::internal)?;
    let txn = crate::db::begin_write(&state.db).await?;
    crate::audit::Pending::action(
        state.clock.now(),
        viewer,
        Some(task.county_id),
        "pii.reveal",
        "callback",
        id,
        json!({"field": "Phone", "reason": reason}),
    )
    .append(&txn)
    .await?;
    txn.commit().await?;
    Ok(phone)
}

/// The county's tasks: all for its administrator and inspectors (who act on misconduct
/// reports), those assigned to them for other callers;
/// newest first, at most 200.
pub async fn tasks(
    state: &AppState,
    viewer: &Viewer,
    status: Option<CallbackStatus>,
) -> AppResult<Vec<callback_tasks::Model>> {
    let who = county_staff(state, viewer).await?;
    let mut query =
        callback_tasks::Entity::find().filter(callback_tasks::Column::CountyId.eq(who.region.id));
    if !matches!(who.role, Role::CountyAdmin | Role::Inspector) {
        query = query.filter(callback_tasks::Column::AssignedTo.eq(who.staff_id));
    }
    if let Some(status) = status {
        query = query.filter(callback_tasks::Column::Status.eq(status.as_str()));
    }
    Ok(query
        .order_by_desc(callback_tasks::Column::CreatedAt)
        .limit(200)
        .all(&state.db)
        .await?)
}

/// Residents: the open callbacks of their cases (to answer in the mini-program).
pub async fn mine(state: &AppState, viewer: &Viewer) -> AppResult<Vec<callback_tasks::Model>> {
    let Viewer::Resident { user_id, .. } = viewer else {
        signed_in(viewer)?;
        return Err(AppError::Forbidden("residents only".into()));
    };
    let own = sea_orm::sea_query::Query::select()
        .column(cases::Column::Id)
        .from(cases::Entity)
        .cond_where(cases::Column::UserId.eq(*user_id))
        .to_owned();
    Ok(callback_tasks::Entity::find()
        .filter(callback_tasks::Column::CaseId.in_subquery(own))
        .filter(callback_tasks::Column::Status.eq(CallbackStatus::Open.as_str()))
        .order_by_desc(callback_tasks::Column::CreatedAt)
        .limit(50)
        .all(&state.db)
        .await?)
}

/// Who may follow a callback's events: its case's applicant, and the county centre's staff.
pub async fn ensure_can_view(state: &AppState, viewer: &Viewer, id: Uuid) -> AppResult<()> {
    if let Viewer::Resident { user_id, .. } = viewer {
        let task = load_task(&state.db, id).await?;
        return cases::Entity::find_by_id(task.case_id)
            .one(&state.db)
            .await?
            .filter(|c| c.user_id == Some(*user_id))
            .map(|_| ())
            .ok_or(AppError::NotFound("callback"));
    }
    county_task(state, viewer, id).await.map(|_| ())
}
