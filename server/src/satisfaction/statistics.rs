//! Satisfaction statistics for staff in their jurisdiction (seed §五(一)): per unit (every unit
//! that held the rated case), agent (every agent who worked on it, within the agents' units in
//! scope) or item and period, the ratings counted (an upheld appeal excludes one), the satisfaction
//! rate (非常满意, 满意, 基本满意 over the ratings counted) and the bad-rating rate, and per unit the
//! rectification on-time rate (resolved by the due day, over the orders resolved or overdue).
//! Anonymous ratings count for their unit only: by agent or item they would narrow the case
//! down. Callbacks' results per unit: reached rate, refusals, misconduct reports and the
//! measuring question's answers by level, and the coverage of finished cases. The tallies are
//! pure (`tally`, `on_time`, `callback_tally`, `add_coverage`).
use std::collections::{BTreeMap, HashMap, HashSet};

use chrono::{DateTime, NaiveDate, Utc};
use entity::{
    cases, items, rating_attributions, rating_invitations, ratings, rectifications, regions,
    staff_accounts,
};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QuerySelect, sea_query::Query};
use uuid::Uuid;

use crate::{
    auth::{Role, Viewer},
    cases::service::signed_in,
    directory::jurisdiction::Jurisdiction,
    error::{AppError, AppResult},
    satisfaction::{
        access::scope_path,
        callback_rules::CallbackStatus,
        model::{RatingLevel, RectificationStatus},
        script::{KeptAnswer, read_stored},
    },
    state::AppState,
};

crate::stored_enum! {
    /// What the statistics are grouped by.
    pub enum SatisfactionGrouping {
        /// The rated unit.
        Unit = "unit",
        /// Each agent who worked on the case (real-name ratings).
        Agent = "agent",
        /// The catalogue item (real-name ratings).
        Item = "item",
    }
}

/// The counts of one group.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Tally {
    /// Ratings counted (not excluded).
    pub ratings: u64,
    /// Ratings excluded by an upheld appeal.
    pub excluded: u64,
    /// Counted ratings of the top three levels.
    pub satisfied: u64,
    /// Counted bad ratings.
    pub bad: u64,
    /// Orders resolved by their due day.
    pub on_time: u64,
    /// Orders resolved late or still open past their due day.
    pub late: u64,
}

impl Tally {
    fn rate(part: u64, whole: u64) -> Option<f64> {
        #[allow(clippy::cast_precision_loss)]
        (whole > 0).then(|| part as f64 / whole as f64)
    }

    pub fn satisfaction_rate(&self) -> Option<f64> {
        Self::rate(self.satisfied, self.ratings)
    }

    pub fn bad_rate(&self) -> Option<f64> {
        Self::rate(self.bad, self.ratings)
    }

    pub fn on_time_rate(&self) -> Option<f64> {
        Self::rate(self.on_time, self.on_time + self.late)
    }
}

/// Pure: the tallies of (group, level, excluded) rows.
pub fn tally(rows: impl IntoIterator<Item = (Uuid, RatingLevel, bool)>) -> BTreeMap<Uuid, Tally> {
    let mut out: BTreeMap<Uuid, Tally> = BTreeMap::new();
    for (group, level, excluded) in rows {
        let entry = out.entry(group).or_default();
        if excluded {
            entry.excluded += 1;
            continue;
        }
        entry.ratings += 1;
        if level.is_bad() {
            entry.bad += 1;
        } else {
            entry.satisfied += 1;
        }
    }
    out
}

/// Pure: whether an order was (or is) on time on `today`: Some(true) resolved by its due day,
/// Some(false) resolved later or open past it, None still open and not due.
pub fn on_time(
    status: RectificationStatus,
    due_on: NaiveDate,
    resolved_on: Option<NaiveDate>,
    today: NaiveDate,
) -> Option<bool> {
    match (status, resolved_on) {
        (RectificationStatus::Resolved, Some(day)) => Some(day <= due_on),
        _ if today > due_on => Some(false),
        _ => None,
    }
}

/// One group's line.
pub struct Line {
    pub key: Uuid,
    pub name: String,
    pub tally: Tally,
}

/// `satisfactionStatistics`.
pub async fn statistics(
    state: &AppState,
    viewer: &Viewer,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    unit_id: Option<Uuid>,
    by: SatisfactionGrouping,
) -> AppResult<Vec<Line>> {
    signed_in(viewer)?;
    if to <= from || to - from > chrono::Duration::days(400) {
        return Err(AppError::bad_input(
            "to",
            "after `from`, at most 400 days later",
        ));
    }
    let who = Jurisdiction::of(&state.db, viewer).await?;
    let scope = scope_path(&state.db, &who, unit_id).await?;
    let units = Query::select()
        .column(regions::Column::Id)
        .from(regions::Entity)
        .cond_where(regions::Column::Path.starts_with(&scope))
        .to_owned();
    let county = who.county_id().unwrap_or_default();
    // The period's ratings of the county: real-name ones only by agent or item (an anonymous
    // rating counts for its rated unit alone).
    let mut in_period = Query::select()
        .column(ratings::Column::Id)
        .from(ratings::Entity)
        .and_where(ratings::Column::CountyId.eq(county))
        .and_where(ratings::Column::RatedAt.gte(from))
        .and_where(ratings::Column::RatedAt.lt(to))
        .to_owned();
    if by != SatisfactionGrouping::Unit {
        in_period.and_where(ratings::Column::Anonymous.eq(false));
    }
    // Whom in the viewer's scope each counts for: every unit that held its case, every agent
    // who worked on it (by the agent's unit: a township sees its own agents only).
    let in_scope = match by {
        SatisfactionGrouping::Agent => rating_attributions::Column::AgentId.in_subquery(
            Query::select()
                .column(staff_accounts::Column::Id)
                .from(staff_accounts::Entity)
                .and_where(staff_accounts::Column::UnitId.in_subquery(units.clone()))
                .to_owned(),
        ),
        _ => rating_attributions::Column::UnitId.in_subquery(units.clone()),
    };
    let attributed: Vec<(Uuid, Option<Uuid>, Option<Uuid>)> = rating_attributions::Entity::find()
        .select_only()
        .column(rating_attributions::Column::RatingId)
        .column(rating_attributions::Column::UnitId)
        .column(rating_attributions::Column::AgentId)
        .filter(rating_attributions::Column::RatingId.in_subquery(in_period.clone()))
        .filter(in_scope.clone())
        .into_tuple()
        .all(&state.db)
        .await?;
    let rated = ratings::Entity::find()
        .filter(
            ratings::Column::Id.in_subquery(
                Query::select()
                    .column(rating_attributions::Column::RatingId)
                    .from(rating_attributions::Entity)
                    .and_where(rating_attributions::Column::RatingId.in_subquery(in_period))
                    .and_where(in_scope)
                    .to_owned(),
            ),
        )
        .all(&state.db)
        .await?;
    let by_id: HashMap<Uuid, &ratings::Model> = rated.iter().map(|r| (r.id, r)).collect();
    let level = |r: &ratings::Model| r.level.parse::<RatingLevel>();
    let rows: Vec<(Uuid, &ratings::Model)> = match by {
        SatisfactionGrouping::Unit => attributed
            .iter()
            .filter_map(|(rating, unit, _)| Some(((*unit)?, *by_id.get(rating)?)))
            .collect(),
        SatisfactionGrouping::Agent => attributed
            .iter()
            .filter_map(|(rating, _, agent)| Some(((*agent)?, *by_id.get(rating)?)))
            .collect(),
        // Once per rating, however many units in scope it counts for.
        SatisfactionGrouping::Item => rated.iter().map(|r| (r.item_id, r)).collect(),
    };
    let mut tallies = tally(
        rows.into_iter()
            .map(|(group, r)| Ok((group, level(r)?, r.excluded)))
            .collect::<AppResult<Vec<_>>>()?,
    );
    if by == SatisfactionGrouping::Unit {
        let today = crate::clock::local_date(state.clock.now());
        let orders = rectifications::Entity::find()
            .filter(rectifications::Column::CountyId.eq(county))
            .filter(rectifications::Column::UnitId.in_subquery(units))
            .filter(rectifications::Column::CreatedAt.gte(from))
            .filter(rectifications::Column::CreatedAt.lt(to))
            .all(&state.db)
            .await?;
        // An order of a rating an upheld appeal excluded does not count either.
        let excluded: std::collections::HashSet<Uuid> =
            rated.iter().filter(|r| r.excluded).map(|r| r.id).collect();
        for order in orders
            .into_iter()
            .filter(|o| !excluded.contains(&o.rating_id))
        {
            let resolved = order.resolved_at.map(crate::clock::local_date);
            let entry = tallies.entry(order.unit_id).or_default();
            match on_time(order.status.parse()?, order.due_on, resolved, today) {
                Some(true) => entry.on_time += 1,
                Some(false) => entry.late += 1,
                None => {}
            }
        }
    }
    let keys: Vec<Uuid> = tallies.keys().copied().collect();
    let names: HashMap<Uuid, String> = match by {
        SatisfactionGrouping::Unit => regions::Entity::find()
            .filter(regions::Column::Id.is_in(keys))
            .all(&state.db)
            .await?
            .into_iter()
            .map(|r| (r.id, r.name))
            .collect(),
        SatisfactionGrouping::Item => items::Entity::find()
            .filter(items::Column::Id.is_in(keys))
            .all(&state.db)
            .await?
            .into_iter()
            .map(|i| (i.id, i.business_name))
            .collect(),
        SatisfactionGrouping::Agent => staff_accounts::Entity::find()
            .filter(staff_accounts::Column::Id.is_in(keys))
            .all(&state.db)
            .await?
            .into_iter()
            .map(|s| (s.id, s.display_name))
            .collect(),
    };
    Ok(tallies
        .into_iter()
        .map(|(key, tally)| Line {
            name: names.get(&key).cloned().unwrap_or_default(),
            key,
            tally,
        })
        .collect())
}

/// One unit's callbacks in a period.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CallbackTally {
    /// Callbacks opened.
    pub tasks: u64,
    /// Answered on the phone or in the mini-program.
    pub reached: u64,
    /// Closed unreachable.
    pub unreachable: u64,
    /// Reached, declined.
    pub refused: u64,
    /// Still open.
    pub open: u64,
    /// Answers reporting fees, gifts or misconduct.
    pub misconduct: u64,
    /// The answers to the question measuring satisfaction (服务态度 by default), by level
    /// (best first).
    pub attitude: [u64; 5],
    /// The unit's cases that ended in the period (completed or terminated).
    pub finished: u64,
    /// Of those, the cases with a callback (sampled or a bad rating's, whenever opened).
    pub covered: u64,
}

impl CallbackTally {
    /// `reached / (tasks − open)`: of the callbacks closed, how many reached the applicant.
    pub fn reached_rate(&self) -> Option<f64> {
        Tally::rate(self.reached, self.tasks - self.open)
    }

    /// `covered / finished`: the callback coverage of the period's finished cases.
    pub fn coverage(&self) -> Option<f64> {
        Tally::rate(self.covered, self.finished)
    }
}

/// Pure: adds to each unit's tally its finished cases, each (unit, has a callback); a unit with
/// finished cases and no callback gets a tally of its own.
pub fn add_coverage(
    tallies: &mut BTreeMap<Uuid, CallbackTally>,
    finished: impl IntoIterator<Item = (Uuid, bool)>,
) {
    for (unit, covered) in finished {
        let entry = tallies.entry(unit).or_default();
        entry.finished += 1;
        entry.covered += u64::from(covered);
    }
}

/// Pure: the tallies of (unit, status, misconduct, attitude) rows.
pub fn callback_tally(
    rows: impl IntoIterator<Item = (Uuid, CallbackStatus, bool, Option<RatingLevel>)>,
) -> BTreeMap<Uuid, CallbackTally> {
    let mut out: BTreeMap<Uuid, CallbackTally> = BTreeMap::new();
    for (unit, status, misconduct, attitude) in rows {
        let entry = out.entry(unit).or_default();
        entry.tasks += 1;
        match status {
            CallbackStatus::Answered | CallbackStatus::SelfAnswered => entry.reached += 1,
            CallbackStatus::Unreachable => entry.unreachable += 1,
            CallbackStatus::Refused => entry.refused += 1,
            CallbackStatus::Open => entry.open += 1,
        }
        entry.misconduct += u64::from(misconduct);
        if let Some(i) =
            attitude.and_then(|level| RatingLevel::ALL.iter().position(|l| *l == level))
        {
            entry.attitude[i] += 1;
        }
    }
    out
}

/// `callbackResults`: per unit under the viewer (or `unit_id`), the callbacks opened in the
/// period (China dates, both included), for the county centre's administrators, inspectors and
/// auditors.
pub async fn callback_results(
    state: &AppState,
    viewer: &Viewer,
    from: NaiveDate,
    until: NaiveDate,
    unit_id: Option<Uuid>,
) -> AppResult<Vec<(Uuid, String, CallbackTally)>> {
    signed_in(viewer)?;
    if until < from || (until - from).num_days() >= 366 {
        return Err(AppError::bad_input(
            "until",
            "on or after `from`, at most 366 days",
        ));
    }
    let who = Jurisdiction::of(&state.db, viewer).await?;
    // The county centre's check: one unit's figures over a short period would tell its staff
    // what one applicant answered.
    if who.county_id() != Some(who.region.id)
        || !matches!(
            who.role,
            Role::CountyAdmin | Role::Inspector | Role::Auditor
        )
    {
        return Err(AppError::Forbidden(
            "callback results are the county centre's administrators', inspectors' and auditors'"
                .into(),
        ));
    }
    let day_start = |day: NaiveDate| {
        day.and_time(chrono::NaiveTime::MIN)
            .and_local_timezone(crate::clock::CHINA)
            .single()
            .map_or_else(
                || day.and_time(chrono::NaiveTime::MIN).and_utc(),
                |t| t.with_timezone(&Utc),
            )
    };
    let (from, to) = (
        day_start(from),
        day_start(until + chrono::Duration::days(1)),
    );
    let scope = scope_path(&state.db, &who, unit_id).await?;
    let units = Query::select()
        .column(regions::Column::Id)
        .from(regions::Entity)
        .cond_where(regions::Column::Path.starts_with(&scope))
        .to_owned();
    let county = who.county_id().unwrap_or_default();
    // Coverage: the cases of these units that ended in the period, and which have a callback.
    let ended = Query::select()
        .column(rating_invitations::Column::CaseId)
        .from(rating_invitations::Entity)
        .and_where(rating_invitations::Column::CountyId.eq(county))
        .and_where(rating_invitations::Column::InvitedAt.gte(from))
        .and_where(rating_invitations::Column::InvitedAt.lt(to))
        .to_owned();
    let finished: Vec<(Uuid, Uuid)> = cases::Entity::find()
        .select_only()
        .column(cases::Column::Id)
        .column(cases::Column::UnitId)
        .filter(cases::Column::Id.in_subquery(ended.clone()))
        .filter(cases::Column::UnitId.in_subquery(units.clone()))
        .into_tuple()
        .all(&state.db)
        .await?;
    let covered: HashSet<Uuid> = entity::callback_tasks::Entity::find()
        .select_only()
        .column(entity::callback_tasks::Column::CaseId)
        .filter(entity::callback_tasks::Column::CaseId.in_subquery(ended))
        .into_tuple::<Uuid>()
        .all(&state.db)
        .await?
        .into_iter()
        .collect();
    let tasks = entity::callback_tasks::Entity::find()
        .filter(entity::callback_tasks::Column::CountyId.eq(county))
        .filter(entity::callback_tasks::Column::UnitId.in_subquery(units))
        .filter(entity::callback_tasks::Column::CreatedAt.gte(from))
        .filter(entity::callback_tasks::Column::CreatedAt.lt(to))
        .all(&state.db)
        .await?;
    let mut rows = Vec::with_capacity(tasks.len());
    for task in &tasks {
        // The answer the script measured satisfaction by when it was asked.
        let attitude = task
            .answers
            .as_deref()
            .and_then(read_stored)
            .and_then(|kept| {
                kept.iter()
                    .find(|a| a.measures_satisfaction)
                    .and_then(KeptAnswer::level)
            });
        rows.push((
            task.unit_id,
            task.status.parse::<CallbackStatus>()?,
            task.misconduct,
            attitude,
        ));
    }
    let mut tallies = callback_tally(rows);
    add_coverage(
        &mut tallies,
        finished
            .into_iter()
            .map(|(case, unit)| (unit, covered.contains(&case))),
    );
    let names: HashMap<Uuid, String> = regions::Entity::find()
        .filter(regions::Column::Id.is_in(tallies.keys().copied().collect::<Vec<_>>()))
        .all(&state.db)
        .await?
        .into_iter()
        .map(|r| (r.id, r.name))
        .collect();
    Ok(tallies
        .into_iter()
        .map(|(unit, tally)| (unit, names.get(&unit).cloned().unwrap_or_default(), tally))
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tallies_count_levels_and_leave_excluded_ratings_out_of_the_rates() {
        let (a, b) = (Uuid::from_u128(1), Uuid::from_u128(2));
        let rows = [
            (a, RatingLevel::VerySatisfied, false),
            (a, RatingLevel::BasicallySatisfied, false),
            (a, RatingLevel::Dissatisfied, false),
            (a, RatingLevel::VeryDissatisfied, true),
            (b, RatingLevel::VeryDissatisfied, false),
        ];
        let out = tally(rows);
        assert_eq!(
            out[&a],
            Tally {
                ratings: 3,
                excluded: 1,
                satisfied: 2,
                bad: 1,
                ..Tally::default()
            }
        );
        assert_eq!(out[&a].satisfaction_rate(), Some(2.0 / 3.0));
        assert_eq!(out[&a].bad_rate(), Some(1.0 / 3.0));
        assert_eq!(out[&b].satisfaction_rate(), Some(0.0));
        assert_eq!(Tally::default().satisfaction_rate(), None);
        assert_eq!(Tally::default().on_time_rate(), None);
    }

    #[test]
    fn callbacks_tally_by_status_and_attitude() {
        let unit = Uuid::from_u128(1);
        let rows = [
            (
                unit,
                CallbackStatus::Answered,
                false,
                Some(RatingLevel::Satisfied),
            ),
            (
                unit,
                CallbackStatus::SelfAnswered,
                true,
                Some(RatingLevel::VeryDissatisfied),
            ),
            (unit, CallbackStatus::Unreachable, false, None),
            (unit, CallbackStatus::Open, false, None),
        ];
        let out = callback_tally(rows);
        let t = &out[&unit];
        assert_eq!(
            (t.tasks, t.reached, t.unreachable, t.open, t.misconduct),
            (4, 2, 1, 1, 1)
        );
        assert_eq!(t.attitude, [0, 1, 0, 0, 1]);
        assert_eq!(t.reached_rate(), Some(2.0 / 3.0));
        assert_eq!(CallbackTally::default().reached_rate(), None);
    }

    #[test]
    fn coverage_counts_finished_cases_with_a_callback_per_unit() {
        let (a, b) = (Uuid::from_u128(1), Uuid::from_u128(2));
        let mut tallies = callback_tally([(a, CallbackStatus::Open, false, None)]);
        add_coverage(
            &mut tallies,
            [(a, true), (a, false), (a, false), (b, false)],
        );
        assert_eq!((tallies[&a].finished, tallies[&a].covered), (3, 1));
        assert_eq!(tallies[&a].coverage(), Some(1.0 / 3.0));
        assert_eq!(
            (
                tallies[&b].tasks,
                tallies[&b].finished,
                tallies[&b].coverage()
            ),
            (0, 1, Some(0.0)),
            "a unit whose finished cases had no callback is reported"
        );
        assert_eq!(CallbackTally::default().coverage(), None);
    }

    #[test]
    fn an_order_is_on_time_when_resolved_by_its_due_day() {
        let d = |day| NaiveDate::from_ymd_opt(2026, 12, day).unwrap();
        use RectificationStatus::{Open, Resolved, Verified};
        let table = [
            (Resolved, d(10), Some(d(10)), d(20), Some(true)),
            (Resolved, d(10), Some(d(11)), d(20), Some(false)),
            (Open, d(10), None, d(10), None),
            (Open, d(10), None, d(11), Some(false)),
            (Verified, d(10), None, d(9), None),
        ];
        for (status, due, resolved, today, expected) in table {
            assert_eq!(
                on_time(status, due, resolved, today),
                expected,
                "{status:?} {resolved:?} {today}"
            );
        }
    }
}
