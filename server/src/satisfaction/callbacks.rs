//! Satisfaction callbacks (满意度回访), the county centre's own check on the service: the county
//! administrator draws a stratified sample of finished cases for a period (reproducible from
//! its recorded seed; cases called this year left out), every real-name bad rating adds its
//! case (100 % return visits), the administrator assigns each task to a caller (an inspector or
//! county staff), the caller records each call (up to the configured attempts, each on a later
//! working day) and sees the applicant's phone only through an audited reveal, or the applicant
//! answers the same questions in the mini-program. Answers reporting fees, gifts or misconduct
//! tell the county's inspectors. Each change is one transaction, the audit entry last.
use chrono::{DateTime, NaiveDate, Utc};
use entity::{
    callback_attempts, callback_samples, callback_tasks, cases, rating_invitations, staff_accounts,
    users,
};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder,
    QuerySelect, Set,
    sea_query::{Expr, OnConflict},
};
use serde_json::{Value, json};
use uuid::Uuid;

use crate::{
    auth::{Role, Viewer},
    calendar,
    cases::service::signed_in,
    clock::{CHINA, local_date},
    directory::{jurisdiction::Jurisdiction, model::text},
    error::{AppError, AppResult},
    events::{EventDraft, Tx, resident_key, staff_key},
    moderation::{self, Disposition},
    satisfaction::callback_rules::{
        AfterCall, Answer, CallOutcome, CallbackStatus, after_call, check_answers, draw,
        sample_size,
    },
    state::AppState,
    wechat::sec_check::Scene,
};

/// The China midnight starting `day`, as an instant.
fn start_of(day: NaiveDate) -> DateTime<Utc> {
    day.and_time(chrono::NaiveTime::MIN)
        .and_local_timezone(CHINA)
        .single()
        .map_or_else(
            || day.and_time(chrono::NaiveTime::MIN).and_utc(),
            |t| t.with_timezone(&Utc),
        )
}

fn year_of(day: NaiveDate) -> i32 {
    chrono::Datelike::year(&day)
}

/// County-level staff (the county centre's callers and administrator): FORBIDDEN otherwise.
async fn county_staff(state: &AppState, viewer: &Viewer) -> AppResult<Jurisdiction> {
    signed_in(viewer)?;
    let who = Jurisdiction::of(&state.db, viewer).await?;
    if who.county_id() != Some(who.region.id) {
        return Err(AppError::Forbidden(
            "satisfaction callbacks are the county centre's".into(),
        ));
    }
    Ok(who)
}

/// What the administrator asks for.
pub struct SampleRequest {
    pub from: NaiveDate,
    pub until: NaiveDate,
    pub count: Option<u32>,
    pub percent: Option<u32>,
    pub seed: Option<u64>,
}

/// `drawCallbackSample`: the sample and the tasks it opened.
pub async fn draw_sample(
    state: &AppState,
    viewer: &Viewer,
    request: SampleRequest,
) -> AppResult<(callback_samples::Model, u64)> {
    let who = county_staff(state, viewer).await?;
    who.ensure_county_admin()?;
    if request.until < request.from || (request.until - request.from).num_days() > 366 {
        return Err(AppError::bad_input(
            "until",
            "on or after `from`, at most 366 days later",
        ));
    }
    let county = who.region.id;
    let today = local_date(state.clock.now());
    let year = year_of(today);
    // The candidates: the county's cases that ended in the period (their invitation to rate).
    let ended = rating_invitations::Entity::find()
        .filter(rating_invitations::Column::CountyId.eq(county))
        .filter(rating_invitations::Column::InvitedAt.gte(start_of(request.from)))
        .filter(
            rating_invitations::Column::InvitedAt
                .lt(start_of(request.until + chrono::Duration::days(1))),
        )
        .all(&state.db)
        .await?;
    let ids: Vec<Uuid> = ended.iter().map(|i| i.case_id).collect();
    let called: std::collections::HashSet<Uuid> = callback_tasks::Entity::find()
        .filter(callback_tasks::Column::CaseId.is_in(ids.clone()))
        .filter(callback_tasks::Column::Year.eq(year))
        .all(&state.db)
        .await?
        .into_iter()
        .map(|t| t.case_id)
        .collect();
    let units: std::collections::HashMap<Uuid, Uuid> = cases::Entity::find()
        .filter(cases::Column::Id.is_in(ids))
        .all(&state.db)
        .await?
        .into_iter()
        .map(|c| (c.id, c.unit_id))
        .collect();
    let candidates: Vec<(Uuid, Uuid)> = ended
        .iter()
        .filter(|i| !called.contains(&i.case_id))
        .filter_map(|i| Some((*units.get(&i.case_id)?, i.case_id)))
        .collect();
    let n = sample_size(request.count, request.percent, candidates.len()).map_err(|m| {
        let field = if request.percent.is_some() && request.count.is_none() {
            "percent"
        } else {
            "count"
        };
        AppError::bad_input(field, m)
    })?;
    let seed = request.seed.unwrap_or_else(rand::random);
    let picked = draw(&candidates, n, seed);
    let now = state.clock.now();
    let mut tx = Tx::begin(state).await?;
    let sample = callback_samples::ActiveModel {
        id: Set(Uuid::now_v7()),
        county_id: Set(county),
        from_day: Set(request.from),
        until_day: Set(request.until),
        seed: Set(seed.to_string()),
        requested: Set(match (request.count, request.percent) {
            (Some(n), _) => format!("count:{n}"),
            (_, Some(p)) => format!("percent:{p}"),
            _ => String::new(),
        }),
        candidates: Set(i32::try_from(candidates.len()).unwrap_or(i32::MAX)),
        drawn: Set(i32::try_from(picked.len()).unwrap_or(i32::MAX)),
        drawn_by: Set(who.staff_id),
        drawn_at: Set(now),
    }
    .insert(&*tx)
    .await?;
    let applicants: std::collections::HashMap<Uuid, Uuid> =
        ended.iter().map(|i| (i.case_id, i.user_id)).collect();
    let mut opened = 0;
    for case in &picked {
        let unit = units.get(case).copied().unwrap_or(county);
        let inserted = open_task(
            &*tx,
            county,
            *case,
            unit,
            year,
            "sample",
            Some(sample.id),
            None,
            today,
            now,
        )
        .await?;
        if inserted {
            opened += 1;
            if let Some(user) = applicants.get(case) {
                tx.emit(EventDraft {
                    kind: "callback.invited",
                    topic: "satisfaction",
                    subject_kind: "callback",
                    subject_id: task_of(&*tx, *case, year).await?.to_string(),
                    audience: vec![resident_key(*user)],
                    payload: json!({"caseId": case}),
                });
            }
        }
    }
    tx.audit(crate::audit::Pending::action(
        now,
        viewer,
        Some(county),
        "callback.sample_drawn",
        "callback_sample",
        sample.id,
        json!({"seed": seed.to_string(), "candidates": candidates.len(), "drawn": picked.len()}),
    ));
    tx.commit().await?;
    Ok((sample, opened))
}

/// Opens a task unless the case has one of this source this year; whether it did.
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
) -> AppResult<bool> {
    let inserted = callback_tasks::Entity::insert(callback_tasks::ActiveModel {
        id: Set(Uuid::now_v7()),
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
    Ok(inserted == 1)
}

/// The sampled task of a case in a year (just opened).
async fn task_of(conn: &impl ConnectionTrait, case: Uuid, year: i32) -> AppResult<Uuid> {
    callback_tasks::Entity::find()
        .filter(callback_tasks::Column::CaseId.eq(case))
        .filter(callback_tasks::Column::Year.eq(year))
        .filter(callback_tasks::Column::Source.eq("sample"))
        .one(conn)
        .await?
        .map(|t| t.id)
        .ok_or(AppError::NotFound("callback"))
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
            check_answers(&answers)
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
                Expr::value(Some(stored.to_string())),
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
    if misconduct {
        report_misconduct(&mut tx, &task).await?;
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

/// Tells the county's inspectors that a callback's answers report fees, gifts or misconduct
/// (a complaint record is opened for them once the complaints room exists).
async fn report_misconduct(tx: &mut Tx<'_>, task: &callback_tasks::Model) -> AppResult<()> {
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
    let (mut stored, misconduct) = check_answers(&answers)
        .map_err(|(key, why)| AppError::bad_input(format!("answers.{key}"), why))?;
    if task.status != CallbackStatus::Open.as_str() {
        return Err(AppError::InvalidTransition("the callback is closed".into()));
    }
    // The applicant's comment is their free text: checked before it is stored; one WeChat
    // could not pass is kept apart, unseen by staff.
    if let Some(Value::String(comment)) = stored.get("comments").cloned() {
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
        match moderation::disposition(verdict) {
            Disposition::Publish => {}
            Disposition::Reject { .. } => return Err(moderation::rejected("answers.comments")),
            Disposition::Hold { .. } | Disposition::Recheck => {
                if let Some(map) = stored.as_object_mut() {
                    map.remove("comments");
                    map.insert("_comments_unchecked".into(), Value::String(comment));
                }
            }
        }
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
            Expr::value(Some(stored.to_string())),
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
        report_misconduct(&mut tx, &task).await?;
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
