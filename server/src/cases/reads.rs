//! Reading cases: one case, a resident's own cases, staff's cases in their jurisdiction (plus
//! those waiting to be received by a unit in it), newest first with opaque cursors, and a
//! case's trail. What a page refers to (items, units, agents) is read in one batch per kind,
//! never one query per case.
use std::collections::HashMap;

use chrono::{DateTime, Utc};
use entity::{case_steps, case_transfers, cases, items, regions, staff_accounts};
use sea_orm::{
    ColumnTrait, Condition, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder, QueryResult,
    sea_query::{Alias, Expr, ExprTrait, Order, Query, SelectStatement},
};
use uuid::Uuid;

use crate::{
    auth::Viewer,
    cases::{
        model::{CaseStatus, DueFlag, TransferStatus},
        service::case_for,
    },
    directory::jurisdiction::Jurisdiction,
    error::{AppError, AppResult},
    rows::{Positioned, select_columns},
    state::AppState,
};

/// A case with what its readers see about it, read in batches.
#[derive(Clone, Debug)]
pub struct CaseView {
    pub case: cases::Model,
    pub item_name: String,
    pub unit_name: String,
    /// The agent's working name (never their personal data).
    pub agent_name: Option<String>,
    /// Staff reading (internal notes and details are theirs only).
    pub staff_reader: bool,
}

/// One page of cases, newest first.
pub struct CasePage {
    pub cases: Vec<CaseView>,
    /// Pass as `after` for the next page; None at the end.
    pub next: Option<String>,
}

/// What staff narrow the list by.
#[derive(Default)]
pub struct CaseFilter {
    pub status: Option<CaseStatus>,
    pub unit_id: Option<Uuid>,
    pub agent_id: Option<Uuid>,
    pub item_id: Option<Uuid>,
    pub overdue: Option<bool>,
    pub from: Option<DateTime<Utc>>,
    pub to: Option<DateTime<Utc>>,
}

fn page_size(first: i32) -> AppResult<u64> {
    match u64::try_from(first) {
        Ok(n @ 1..=100) => Ok(n),
        _ => Err(AppError::bad_input("first", "1–100")),
    }
}

async fn page(
    conn: &impl ConnectionTrait,
    condition: Condition,
    first: i32,
    after: Option<&str>,
    staff_reader: bool,
) -> AppResult<CasePage> {
    let first = page_size(first)?;
    // One statement for the page and every name it shows: the cases joined to their item,
    // unit and agent.
    let mut query = named();
    query
        .cond_where(condition)
        .order_by((cases::Entity, cases::Column::CreatedAt), Order::Desc)
        .order_by((cases::Entity, cases::Column::Id), Order::Desc);
    if let Some(after) = after {
        let (at, id) = crate::db::parse_page_cursor(after)?;
        query.cond_where(
            Condition::any().add(cases::Column::CreatedAt.lt(at)).add(
                Condition::all()
                    .add(cases::Column::CreatedAt.eq(at))
                    .add(cases::Column::Id.lt(id)),
            ),
        );
    }
    query.limit(first + 1);
    let backend = conn.get_database_backend();
    let mut rows = conn
        .query_all_raw(backend.build(&query))
        .await?
        .iter()
        .map(|row| named_view(row, staff_reader))
        .collect::<AppResult<Vec<CaseView>>>()?;
    let more = rows.len() as u64 > first;
    rows.truncate(usize::try_from(first).unwrap_or(usize::MAX));
    let next = if more {
        rows.last()
            .map(|c| crate::db::page_cursor(c.case.created_at, c.case.id))
    } else {
        None
    };
    Ok(CasePage { cases: rows, next })
}

/// Every column of `cases` with the names a reader sees: the item's business name
/// (`item_name`), the holding unit's (`unit_name`) and the agent's working name
/// (`agent_name`).
fn named() -> SelectStatement {
    let mut query = Query::select();
    select_columns::<cases::Entity>(&mut query);
    query
        .expr_as(
            Expr::col((items::Entity, items::Column::BusinessName)),
            Alias::new("item_name"),
        )
        .expr_as(
            Expr::col((regions::Entity, regions::Column::Name)),
            Alias::new("unit_name"),
        )
        .expr_as(
            Expr::col((staff_accounts::Entity, staff_accounts::Column::DisplayName)),
            Alias::new("agent_name"),
        )
        .from(cases::Entity)
        .left_join(
            items::Entity,
            Expr::col((items::Entity, items::Column::Id))
                .equals((cases::Entity, cases::Column::ItemId)),
        )
        .left_join(
            regions::Entity,
            Expr::col((regions::Entity, regions::Column::Id))
                .equals((cases::Entity, cases::Column::UnitId)),
        )
        .left_join(
            staff_accounts::Entity,
            Expr::col((staff_accounts::Entity, staff_accounts::Column::Id))
                .equals((cases::Entity, cases::Column::AgentId)),
        );
    query
}

fn named_view(row: &QueryResult, staff_reader: bool) -> AppResult<CaseView> {
    // The names follow the case's columns, in the order `named` selects them.
    let names = cases::Model::FIELDS.len();
    let name = |offset: usize| row.try_get_by_index::<Option<String>>(names + offset);
    Ok(CaseView {
        case: cases::Model::at(row, 0)?,
        item_name: name(0)?.unwrap_or_default(),
        unit_name: name(1)?.unwrap_or_default(),
        agent_name: name(2)?,
        staff_reader,
    })
}

/// The views of some cases (read again with their names, in one statement).
pub async fn views(
    conn: &impl ConnectionTrait,
    rows: Vec<cases::Model>,
    staff_reader: bool,
) -> AppResult<Vec<CaseView>> {
    if rows.is_empty() {
        return Ok(Vec::new());
    }
    let ids: Vec<Uuid> = rows.iter().map(|c| c.id).collect();
    let mut query = named();
    query.and_where(Expr::col((cases::Entity, cases::Column::Id)).is_in(ids.clone()));
    let backend = conn.get_database_backend();
    let mut found: HashMap<Uuid, CaseView> = HashMap::new();
    for row in conn.query_all_raw(backend.build(&query)).await? {
        let view = named_view(&row, staff_reader)?;
        found.insert(view.case.id, view);
    }
    ids.iter()
        .map(|id| {
            found
                .remove(id)
                .ok_or_else(|| AppError::internal(anyhow::anyhow!("case view lost")))
        })
        .collect()
}

/// One case, for its applicant or staff who may see it.
pub async fn one(state: &AppState, viewer: &Viewer, id: Uuid) -> AppResult<CaseView> {
    let (case, acting) = case_for(state, viewer, id).await?;
    let mut views = views(&state.db, vec![case], acting.is_staff()).await?;
    views
        .pop()
        .ok_or_else(|| AppError::internal(anyhow::anyhow!("case view lost")))
}

/// Residents: their own cases, newest first.
pub async fn mine(
    state: &AppState,
    viewer: &Viewer,
    first: i32,
    after: Option<&str>,
) -> AppResult<CasePage> {
    let user = viewer.require_resident("residents only; staff list cases with `cases`")?;
    page(
        &state.db,
        Condition::all().add(cases::Column::UserId.eq(user)),
        first,
        after,
        false,
    )
    .await
}

/// Staff: cases held or opened by units in their jurisdiction, and those a pending transfer
/// addresses to one, narrowed by the filter.
pub async fn list(
    state: &AppState,
    viewer: &Viewer,
    filter: &CaseFilter,
    first: i32,
    after: Option<&str>,
) -> AppResult<CasePage> {
    let who = Jurisdiction::of(&state.db, viewer).await?;
    let units = Query::select()
        .column(regions::Column::Id)
        .from(regions::Entity)
        .and_where(regions::Column::Path.starts_with(&who.region.path))
        .to_owned();
    let pending = Query::select()
        .column(case_transfers::Column::CaseId)
        .from(case_transfers::Entity)
        .and_where(case_transfers::Column::Status.eq(TransferStatus::Pending.as_str()))
        .and_where(case_transfers::Column::ToUnit.in_subquery(units.clone()))
        .to_owned();
    let mut condition = Condition::all().add(
        Condition::any()
            .add(cases::Column::UnitId.in_subquery(units.clone()))
            .add(cases::Column::OriginUnitId.in_subquery(units))
            .add(cases::Column::Id.in_subquery(pending)),
    );
    if let Some(status) = filter.status {
        condition = condition.add(cases::Column::Status.eq(status.as_str()));
    }
    if let Some(unit) = filter.unit_id {
        let region = crate::directory::regions::region(&state.db, unit)
            .await
            .map_err(crate::error::hidden_as_not_found("region"))?;
        who.ensure_covers(&region, "region")?;
        condition = condition.add(cases::Column::UnitId.eq(unit));
    }
    if let Some(agent) = filter.agent_id {
        condition = condition.add(cases::Column::AgentId.eq(agent));
    }
    if let Some(item) = filter.item_id {
        condition = condition.add(cases::Column::ItemId.eq(item));
    }
    if let Some(overdue) = filter.overdue {
        let flag = cases::Column::DueFlag.eq(DueFlag::Overdue.as_str());
        condition = condition.add(if overdue {
            flag
        } else {
            cases::Column::DueFlag.ne(DueFlag::Overdue.as_str())
        });
    }
    if let (Some(from), Some(to)) = (filter.from, filter.to)
        && to < from
    {
        return Err(AppError::bad_input("filter.to", "not before `from`"));
    }
    if let Some(from) = filter.from {
        condition = condition.add(cases::Column::CreatedAt.gte(from));
    }
    if let Some(to) = filter.to {
        condition = condition.add(cases::Column::CreatedAt.lte(to));
    }
    page(&state.db, condition, first, after, true).await
}

/// A case's trail, oldest first: every step for staff; for the applicant, only the steps with
/// a public note (internal notes and details are removed by the API type).
pub async fn trail(
    state: &AppState,
    viewer: &Viewer,
    case_id: Uuid,
) -> AppResult<(Vec<case_steps::Model>, bool)> {
    let (_, acting) = case_for(state, viewer, case_id).await?;
    let mut query = case_steps::Entity::find()
        .filter(case_steps::Column::CaseId.eq(case_id))
        .order_by_asc(case_steps::Column::At)
        .order_by_asc(case_steps::Column::Id);
    if !acting.is_staff() {
        query = query.filter(case_steps::Column::PublicNote.is_not_null());
    }
    Ok((query.all(&state.db).await?, acting.is_staff()))
}
