//! Samples for satisfaction callbacks: the county administrator draws finished cases of a
//! period, stratified by the unit that handled each, leaving out cases called this year, with a
//! seed of the server's own randomness; the candidates are recorded with the draw, so that the
//! county centre can check any past draw (`verify`): the recorded seed over the recorded
//! candidates picks exactly the recorded cases, and the sample's callbacks are exactly those.
use std::collections::HashSet;

use chrono::NaiveDate;
use entity::{
    callback_sample_candidates, callback_samples, callback_tasks, cases, rating_invitations,
    regions,
};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, Condition, ConnectionTrait, EntityTrait, QueryFilter,
    QuerySelect, Set,
    sea_query::{LockType, Query},
};
use serde_json::json;
use uuid::Uuid;

use crate::{
    auth::{Role, Viewer},
    clock::local_date,
    error::{AppError, AppResult},
    events::{EventDraft, Tx, resident_key},
    satisfaction::{
        callback_rules::{draw, draw_holds, sample_size},
        callbacks::{county_staff, open_task, start_of, year_of},
    },
    state::AppState,
};

/// What the administrator asks for.
pub struct SampleRequest {
    pub from: NaiveDate,
    pub until: NaiveDate,
    pub count: Option<u32>,
    pub percent: Option<u32>,
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
    let now = state.clock.now();
    // One draw of a county at a time, each reading what the one before it opened: the write
    // lock on SQLite (BEGIN IMMEDIATE), the county's row on PostgreSQL. Lock order: the county
    // row, then the sample's rows, the audit append last.
    let mut tx = Tx::begin(state).await?;
    regions::Entity::find()
        .select_only()
        .column(regions::Column::Id)
        .filter(regions::Column::Id.eq(county))
        .lock(LockType::NoKeyUpdate)
        .into_tuple::<Uuid>()
        .one(&*tx)
        .await?;
    // The candidates: the county's cases that ended in the period (their invitation to rate).
    let in_period = Condition::all()
        .add(rating_invitations::Column::CountyId.eq(county))
        .add(rating_invitations::Column::InvitedAt.gte(start_of(request.from)))
        .add(
            rating_invitations::Column::InvitedAt
                .lt(start_of(request.until + chrono::Duration::days(1))),
        );
    let ended_cases = Query::select()
        .column(rating_invitations::Column::CaseId)
        .from(rating_invitations::Entity)
        .cond_where(in_period.clone())
        .to_owned();
    let ended = rating_invitations::Entity::find()
        .filter(in_period)
        .all(&*tx)
        .await?;
    let called: HashSet<Uuid> = callback_tasks::Entity::find()
        .select_only()
        .column(callback_tasks::Column::CaseId)
        .filter(callback_tasks::Column::CaseId.in_subquery(ended_cases.clone()))
        .filter(callback_tasks::Column::Year.eq(year))
        .into_tuple::<Uuid>()
        .all(&*tx)
        .await?
        .into_iter()
        .collect();
    let units: std::collections::HashMap<Uuid, Uuid> = cases::Entity::find()
        .select_only()
        .column(cases::Column::Id)
        .column(cases::Column::UnitId)
        .filter(cases::Column::Id.in_subquery(ended_cases))
        .into_tuple::<(Uuid, Uuid)>()
        .all(&*tx)
        .await?
        .into_iter()
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
    // The server's own randomness: a seed the drawer chose could be tried until it pleased.
    let seed: u64 = rand::random();
    let picked = draw(&candidates, n, seed);
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
    let left_out: Vec<(Uuid, Uuid)> = ended
        .iter()
        .filter(|i| called.contains(&i.case_id))
        .map(|i| (units.get(&i.case_id).copied().unwrap_or(county), i.case_id))
        .collect();
    record_candidates(&*tx, sample.id, &candidates, &picked, false).await?;
    record_candidates(&*tx, sample.id, &left_out, &[], true).await?;
    let applicants: std::collections::HashMap<Uuid, Uuid> =
        ended.iter().map(|i| (i.case_id, i.user_id)).collect();
    let mut opened = 0;
    for case in &picked {
        let unit = units.get(case).copied().unwrap_or(county);
        let opened_task = open_task(
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
        if let Some(task) = opened_task {
            opened += 1;
            if let Some(user) = applicants.get(case) {
                tx.emit(EventDraft {
                    kind: "callback.invited",
                    topic: "satisfaction",
                    subject_kind: "callback",
                    subject_id: task.to_string(),
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

/// How long after a case ends its end may still be recorded (the invitation is written by a
/// reaction moments later): a check does not expect cases ending this close to the draw.
const RECORDING_GRACE_SECONDS: i64 = 60;

/// Candidates written per statement (4 values each, well under every backend's limit).
const CANDIDATES_PER_INSERT: usize = 500;

async fn record_candidates(
    conn: &impl ConnectionTrait,
    sample: Uuid,
    candidates: &[(Uuid, Uuid)],
    picked: &[Uuid],
    called: bool,
) -> AppResult<()> {
    let picked: HashSet<Uuid> = picked.iter().copied().collect();
    for chunk in candidates.chunks(CANDIDATES_PER_INSERT) {
        callback_sample_candidates::Entity::insert_many(chunk.iter().map(|(unit, case)| {
            callback_sample_candidates::ActiveModel {
                sample_id: Set(sample),
                case_id: Set(*case),
                unit_id: Set(*unit),
                drawn: Set(picked.contains(case)),
                called: Set(called),
            }
        }))
        .exec_without_returning(conn)
        .await?;
    }
    Ok(())
}

/// A check of a past draw.
pub struct SampleCheck {
    pub sample: callback_samples::Model,
    /// Candidates recorded (none for a sample drawn before candidates were recorded).
    pub recorded: usize,
    /// The recorded seed over the recorded candidates picks exactly the recorded cases, and
    /// as many candidates are recorded as the draw counted.
    pub reproduced: bool,
    /// The record holds the period's cases (see `verify`).
    pub candidates_match: bool,
    /// The sample's callbacks are exactly its drawn cases (false too when another draw at the
    /// same moment picked one of them first: that case's callback is the other sample's).
    pub tasks_match: bool,
}

/// `verifyCallbackSample`: the county centre's administrators, inspectors and auditors check a
/// past draw.
pub async fn verify(state: &AppState, viewer: &Viewer, id: Uuid) -> AppResult<SampleCheck> {
    let who = county_staff(state, viewer).await?;
    if !matches!(
        who.role,
        Role::CountyAdmin | Role::Inspector | Role::Auditor
    ) {
        return Err(AppError::Forbidden(
            "draws are checked by the county centre's administrators, inspectors and auditors"
                .into(),
        ));
    }
    let sample = callback_samples::Entity::find_by_id(id)
        .one(&state.db)
        .await?
        .filter(|s| s.county_id == who.region.id)
        .ok_or(AppError::NotFound("sample"))?;
    let rows = callback_sample_candidates::Entity::find()
        .filter(callback_sample_candidates::Column::SampleId.eq(id))
        .all(&state.db)
        .await?;
    let candidates: Vec<(Uuid, Uuid, bool)> = rows
        .iter()
        .filter(|c| !c.called)
        .map(|c| (c.unit_id, c.case_id, c.drawn))
        .collect();
    let left_out: HashSet<Uuid> = rows
        .iter()
        .filter(|c| c.called)
        .map(|c| c.case_id)
        .collect();
    let seed = sample.seed.parse::<u64>().ok();
    let drawn: HashSet<Uuid> = candidates.iter().filter(|c| c.2).map(|c| c.1).collect();
    // Nothing recorded for a sample that had candidates: drawn before they were recorded.
    let recorded = usize::try_from(sample.candidates).ok() == Some(candidates.len());
    let reproduced = recorded
        && usize::try_from(sample.drawn).ok() == Some(drawn.len())
        && seed.is_some_and(|seed| draw_holds(&candidates, &sample.requested, seed));
    let tasks: HashSet<Uuid> = callback_tasks::Entity::find()
        .select_only()
        .column(callback_tasks::Column::CaseId)
        .filter(callback_tasks::Column::SampleId.eq(id))
        .into_tuple::<Uuid>()
        .all(&state.db)
        .await?
        .into_iter()
        .collect();
    // The record holds the period's cases: each recorded case ended in the period, every case
    // that ended there before the draw (a minute's grace: a case's end is recorded a moment
    // after it) is recorded, and each left out had a callback that year from elsewhere.
    let ended: Vec<(Uuid, chrono::DateTime<chrono::Utc>)> = rating_invitations::Entity::find()
        .select_only()
        .column(rating_invitations::Column::CaseId)
        .column(rating_invitations::Column::InvitedAt)
        .filter(rating_invitations::Column::CountyId.eq(sample.county_id))
        .filter(rating_invitations::Column::InvitedAt.gte(start_of(sample.from_day)))
        .filter(
            rating_invitations::Column::InvitedAt
                .lt(start_of(sample.until_day + chrono::Duration::days(1))),
        )
        .into_tuple()
        .all(&state.db)
        .await?;
    let settled_before = sample.drawn_at - chrono::Duration::seconds(RECORDING_GRACE_SECONDS);
    let in_period: HashSet<Uuid> = ended.iter().map(|(case, _)| *case).collect();
    let recorded_cases: HashSet<Uuid> = rows.iter().map(|c| c.case_id).collect();
    let called_elsewhere: HashSet<Uuid> = callback_tasks::Entity::find()
        .select_only()
        .column(callback_tasks::Column::CaseId)
        .filter(callback_tasks::Column::CaseId.is_in(left_out.iter().copied()))
        .filter(callback_tasks::Column::Year.eq(year_of(local_date(sample.drawn_at))))
        .filter(
            Condition::any()
                .add(callback_tasks::Column::SampleId.is_null())
                .add(callback_tasks::Column::SampleId.ne(id)),
        )
        .into_tuple::<Uuid>()
        .all(&state.db)
        .await?
        .into_iter()
        .collect();
    let candidates_match = recorded
        && recorded_cases.is_subset(&in_period)
        && ended
            .iter()
            .filter(|(_, at)| *at < settled_before)
            .all(|(case, _)| recorded_cases.contains(case))
        && left_out.is_subset(&called_elsewhere);
    Ok(SampleCheck {
        recorded: candidates.len(),
        reproduced,
        candidates_match,
        tasks_match: recorded && tasks == drawn,
        sample,
    })
}
