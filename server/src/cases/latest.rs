//! A case's latest steps, newest first, at most [`LATEST_STEPS`]: kept on the case's row
//! (`latest_steps` for staff, `latest_public_steps` for the applicant, JSON), rewritten from
//! `case_steps` by [`refresh`] in the transaction that writes a step, so that a list reads a
//! page of cases with their steps in its one statement. A case not written since those columns
//! came, or whose step was written by a writer that does not keep them (a trigger forgets them
//! then, see the migration), has them NULL; its steps are read from `case_steps`
//! ([`of_cases`], for a page at once). A leaf: it knows entities and sea-orm only.
use std::collections::HashMap;

use chrono::{DateTime, Utc};
use entity::{case_steps, cases};
use sea_orm::{
    ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter, QuerySelect,
    sea_query::{
        Alias, Asterisk, Expr, ExprTrait, LockType, Order, Query, SelectStatement, WindowStatement,
    },
};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::rows::{Positioned, select_columns};

/// How many steps a list shows of each case.
pub const LATEST_STEPS: u64 = 3;

/// The latest steps of each of `ids` (only the public ones, those with a public note, when
/// `public_only`), newest first; a case without any is absent.
pub async fn of_cases(
    conn: &impl ConnectionTrait,
    ids: Vec<Uuid>,
    public_only: bool,
) -> Result<HashMap<Uuid, Vec<case_steps::Model>>, DbErr> {
    let mut out: HashMap<Uuid, Vec<case_steps::Model>> = HashMap::new();
    if ids.is_empty() {
        return Ok(out);
    }
    let ranked = ranked(
        Expr::col(case_steps::Column::CaseId).is_in(ids),
        public_only,
    );
    let mut query = Query::select();
    query
        .column(Asterisk)
        .from_subquery(ranked, Alias::new("ranked"))
        .and_where(Expr::col(Alias::new("rank")).lte(LATEST_STEPS))
        .order_by(Alias::new("rank"), Order::Asc);
    let backend = conn.get_database_backend();
    for row in conn.query_all_raw(backend.build(&query)).await? {
        let step = case_steps::Model::at(&row, 0)?;
        out.entry(step.case_id).or_default().push(step);
    }
    Ok(out)
}

/// Every step of the cases `of_cases` picks, numbered newest first per case (`rank`).
fn ranked(of_cases: Expr, public_only: bool) -> SelectStatement {
    let mut ranked = Query::select();
    // Named columns, so an outer `*` has them in `Column::iter()` order.
    select_columns::<case_steps::Entity>(&mut ranked);
    ranked
        .expr_window_as(
            Expr::cust("ROW_NUMBER()"),
            WindowStatement::partition_by(case_steps::Column::CaseId)
                .order_by(case_steps::Column::At, Order::Desc)
                .order_by(case_steps::Column::Id, Order::Desc)
                .to_owned(),
            Alias::new("rank"),
        )
        .from(case_steps::Entity)
        .and_where(of_cases);
    if public_only {
        ranked.and_where(Expr::col(case_steps::Column::PublicNote).is_not_null());
    }
    ranked
}

/// A step as kept on its case's row: every column of `case_steps`, by serde's remote derive,
/// so the entity gains no serialisation of its own and the compiler holds this list to its
/// fields (the applicant's list keeps none of staff's: see [`refresh`]). A column added to
/// `case_steps` later is an `Option` (absent in older JSON reads as None), or its migration
/// forgets what rows keep.
#[derive(Serialize, Deserialize)]
#[serde(remote = "case_steps::Model")]
struct KeptStep {
    id: Uuid,
    case_id: Uuid,
    at: DateTime<Utc>,
    action: String,
    from_status: Option<String>,
    to_status: Option<String>,
    actor_kind: String,
    actor_id: Option<Uuid>,
    unit_id: Option<Uuid>,
    public_note: Option<String>,
    internal_note: Option<String>,
    details: String,
}

/// One kept step, as an element of the kept JSON array.
#[derive(Serialize, Deserialize)]
struct Kept(#[serde(with = "KeptStep")] case_steps::Model);

/// Locks the case's row until the transaction ends, before a step of it is written (every
/// writer of a step has locked it already, by its guarded update: this makes [`refresh`]'s
/// reading safe by itself). `FOR NO KEY UPDATE` on PostgreSQL, as an `UPDATE` of the row
/// takes; SQLite has one writer at a time already.
pub async fn lock_for_step(conn: &impl ConnectionTrait, case_id: Uuid) -> Result<(), DbErr> {
    cases::Entity::find()
        .select_only()
        .column(cases::Column::Id)
        .filter(cases::Column::Id.eq(case_id))
        .lock(LockType::NoKeyUpdate)
        .into_tuple::<Uuid>()
        .one(conn)
        .await
        .map(|_| ())
}

/// Rewrites the case's kept latest steps from `case_steps`, inside the transaction that wrote
/// a step (after [`lock_for_step`], so no other writer's step can be missed). The applicant's
/// list keeps only what they may see of a step: no internal note, details or actor.
pub async fn refresh(conn: &impl ConnectionTrait, case_id: Uuid) -> Result<(), DbErr> {
    let mut kept = Vec::with_capacity(2);
    for public_only in [false, true] {
        let steps = of_cases(conn, vec![case_id], public_only)
            .await?
            .remove(&case_id)
            .unwrap_or_default();
        let steps: Vec<Kept> = steps
            .into_iter()
            .map(|mut step| {
                if public_only {
                    step.internal_note = None;
                    step.details = "{}".into();
                    step.actor_id = None;
                }
                Kept(step)
            })
            .collect();
        kept.push(serde_json::to_string(&steps).map_err(|e| DbErr::Custom(e.to_string()))?);
    }
    let public = kept.pop();
    let all = kept.pop();
    cases::Entity::update_many()
        .col_expr(cases::Column::LatestSteps, Expr::value(all))
        .col_expr(cases::Column::LatestPublicSteps, Expr::value(public))
        .filter(cases::Column::Id.eq(case_id))
        .exec(conn)
        .await
        .map(|_| ())
}

/// The latest steps kept on a case's row, newest first: the public ones when `public_only`;
/// None when the row keeps none yet (read them with [`of_cases`]).
pub fn kept(
    case: &cases::Model,
    public_only: bool,
) -> Result<Option<Vec<case_steps::Model>>, DbErr> {
    let text = if public_only {
        &case.latest_public_steps
    } else {
        &case.latest_steps
    };
    let Some(text) = text else {
        return Ok(None);
    };
    let steps: Vec<Kept> =
        serde_json::from_str(text).map_err(|e| DbErr::Custom(format!("kept steps: {e}")))?;
    Ok(Some(steps.into_iter().map(|kept| kept.0).collect()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn step() -> case_steps::Model {
        case_steps::Model {
            id: Uuid::now_v7(),
            case_id: Uuid::now_v7(),
            at: DateTime::parse_from_rfc3339("2026-02-16T09:30:00.123456Z")
                .unwrap()
                .with_timezone(&Utc),
            action: "service_given".into(),
            from_status: None,
            to_status: Some("in_service".into()),
            actor_kind: "staff".into(),
            actor_id: Some(Uuid::now_v7()),
            unit_id: Some(Uuid::now_v7()),
            public_note: Some("已讲解政策".into()),
            internal_note: Some("内部备注".into()),
            details: r#"{"service":"policy_advice"}"#.into(),
        }
    }

    fn keeping(steps: Vec<case_steps::Model>, public: bool) -> cases::Model {
        let text = serde_json::to_string(&steps.into_iter().map(Kept).collect::<Vec<_>>()).unwrap();
        let mut case = blank_case();
        if public {
            case.latest_public_steps = Some(text);
        } else {
            case.latest_steps = Some(text);
        }
        case
    }

    fn blank_case() -> cases::Model {
        let now = Utc::now();
        cases::Model {
            id: Uuid::now_v7(),
            number: "x".into(),
            county_id: Uuid::now_v7(),
            year: 2026,
            kind: "help".into(),
            status: "in_service".into(),
            origin: "booking".into(),
            booking_id: None,
            ledger_entry_id: None,
            user_id: None,
            enterprise_name: None,
            credit_code: None,
            item_id: Uuid::now_v7(),
            origin_unit_id: Uuid::now_v7(),
            unit_id: Uuid::now_v7(),
            service_point_id: None,
            agent_id: None,
            promised_days: 5,
            accepted_on: None,
            due_on: None,
            due_provisional: false,
            due_flag: "on_track".into(),
            waiting_since: None,
            reason_code: None,
            explanation: None,
            submitted_ref: None,
            termination_reason: None,
            outcome: None,
            delivery: None,
            created_at: now,
            updated_at: now,
            closed_at: None,
            latest_steps: None,
            latest_public_steps: None,
        }
    }

    #[test]
    fn a_kept_step_reads_back_as_it_was_written() {
        let steps = vec![step(), step()];
        let case = keeping(steps.clone(), false);
        assert_eq!(kept(&case, false).unwrap(), Some(steps));
        assert_eq!(
            kept(&case, true).unwrap(),
            None,
            "the other list is not kept"
        );
    }

    #[test]
    fn an_optional_column_missing_from_older_json_reads_as_none_and_bad_json_is_an_error() {
        let mut case = blank_case();
        let mut value = serde_json::to_value(vec![Kept(step())]).unwrap();
        value[0].as_object_mut().unwrap().remove("internal_note");
        case.latest_steps = Some(value.to_string());
        let read = kept(&case, false).unwrap().unwrap();
        assert_eq!(read[0].internal_note, None);
        case.latest_steps = Some("[{\"id\": 1}]".into());
        assert!(kept(&case, false).is_err());
    }
}
