//! Reading ratings and rectification orders. The rater reads their own ratings whole; staff
//! read the ratings attributed to units they cover, but never who gave an anonymous one: its
//! case is not linked for them, and no field names the rater. A held text is read by the
//! administrators who review it; an unchecked or withheld one by no one on staff.
use std::collections::HashMap;

use chrono::{DateTime, Utc};
use entity::{cases, rating_attributions, rating_invitations, ratings, rectifications, regions};
use sea_orm::{
    ColumnTrait, Condition, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect,
    sea_query::{Expr, ExprTrait, Query},
};
use uuid::Uuid;

use crate::{
    auth::Viewer,
    cases::service::{case_for, signed_in},
    directory::jurisdiction::Jurisdiction,
    error::{AppError, AppResult},
    satisfaction::{
        access::{reviews_texts, scope_path, staff_reading_order, staff_reading_rating},
        model::{RatingLevel, RectificationStatus},
        rectify::{load_order, rating_of},
    },
    state::AppState,
};

/// Who is reading a rating.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Reader {
    /// The one who gave it.
    Rater,
    /// Staff; `reviewer` when they may read a held text.
    Staff { reviewer: bool },
}

/// A rating as its reader may see it.
#[derive(Clone, Debug)]
pub struct RatingView {
    pub rating: ratings::Model,
    pub reader: Reader,
    /// The case's number, unless the reader is staff and the rating anonymous.
    pub case_number: Option<String>,
}

impl RatingView {
    /// The case, unless hidden from this reader.
    pub fn case_id(&self) -> Option<Uuid> {
        self.links_case().then_some(self.rating.case_id)
    }

    fn links_case(&self) -> bool {
        self.reader == Reader::Rater || !self.rating.anonymous
    }
}

/// An order with its rating, for staff or for the rater.
#[derive(Clone, Debug)]
pub struct OrderView {
    pub order: rectifications::Model,
    pub rating: RatingView,
}

/// A page's rows (read `first + 1`) and the next page's cursor, if there is one.
pub(crate) fn split_page<T>(
    mut rows: Vec<T>,
    first: u64,
    cursor: impl Fn(&T) -> String,
) -> (Vec<T>, Option<String>) {
    let more = rows.len() as u64 > first;
    rows.truncate(usize::try_from(first).unwrap_or(usize::MAX));
    let next = if more { rows.last().map(cursor) } else { None };
    (rows, next)
}

pub(crate) fn page_size(first: i32) -> AppResult<u64> {
    match u64::try_from(first) {
        Ok(n @ 1..=100) => Ok(n),
        _ => Err(AppError::bad_input("first", "1–100")),
    }
}

async fn numbers(
    conn: &impl ConnectionTrait,
    ids: impl IntoIterator<Item = Uuid>,
) -> AppResult<HashMap<Uuid, String>> {
    let ids: Vec<Uuid> = ids.into_iter().collect();
    if ids.is_empty() {
        return Ok(HashMap::new());
    }
    Ok(cases::Entity::find()
        .filter(cases::Column::Id.is_in(ids))
        .all(conn)
        .await?
        .into_iter()
        .map(|c| (c.id, c.number))
        .collect())
}

/// Who reads a batch of ratings.
#[derive(Clone, Copy)]
enum ReadBy<'a> {
    Rater,
    Staff(&'a Jurisdiction),
}

async fn views(
    conn: &impl ConnectionTrait,
    rows: Vec<ratings::Model>,
    by: ReadBy<'_>,
) -> AppResult<Vec<RatingView>> {
    let rater = matches!(by, ReadBy::Rater);
    let linked = rows
        .iter()
        .filter(|r| rater || !r.anonymous)
        .map(|r| r.case_id);
    let numbers = numbers(conn, linked).await?;
    // Who reviews held texts: an administrator over the rated unit (one batch of units).
    let units: HashMap<Uuid, regions::Model> = match by {
        ReadBy::Staff(who) if who.is_admin() => {
            let ids: Vec<Uuid> = rows.iter().map(|r| r.unit_id).collect();
            regions::Entity::find()
                .filter(regions::Column::Id.is_in(ids))
                .all(conn)
                .await?
                .into_iter()
                .map(|r| (r.id, r))
                .collect()
        }
        _ => HashMap::new(),
    };
    Ok(rows
        .into_iter()
        .map(|rating| {
            let reader = match by {
                ReadBy::Rater => Reader::Rater,
                ReadBy::Staff(who) => Reader::Staff {
                    reviewer: units
                        .get(&rating.unit_id)
                        .is_some_and(|unit| reviews_texts(who, unit)),
                },
            };
            let mut view = RatingView {
                case_number: None,
                rating,
                reader,
            };
            if view.links_case() {
                view.case_number = numbers.get(&view.rating.case_id).cloned();
            }
            view
        })
        .collect())
}

/// One rating: for its rater, or staff covering a unit it counts for.
pub async fn rating(state: &AppState, viewer: &Viewer, id: Uuid) -> AppResult<RatingView> {
    signed_in(viewer)?;
    let row = ratings::Entity::find_by_id(id)
        .one(&state.db)
        .await?
        .ok_or(AppError::NotFound("rating"))?;
    let who = match viewer {
        Viewer::Resident { user_id, .. } if *user_id == row.user_id => None,
        Viewer::Resident { .. } => return Err(AppError::NotFound("rating")),
        _ => Some(staff_reading_rating(&state.db, viewer, &row).await?),
    };
    let by = who.as_ref().map_or(ReadBy::Rater, ReadBy::Staff);
    let mut all = views(&state.db, vec![row], by).await?;
    all.pop().ok_or(AppError::NotFound("rating"))
}

/// A case's ratings: all of them for its applicant; the real-name ones for staff who may read
/// the case (an anonymous rating is not linked to its case for staff).
pub async fn of_case(
    state: &AppState,
    viewer: &Viewer,
    case_id: Uuid,
) -> AppResult<Vec<RatingView>> {
    let (_, acting) = case_for(state, viewer, case_id).await?;
    let mut query = ratings::Entity::find().filter(ratings::Column::CaseId.eq(case_id));
    let by = match &acting.who {
        None => ReadBy::Rater,
        Some(who) => {
            query = query.filter(ratings::Column::Anonymous.eq(false));
            ReadBy::Staff(who)
        }
    };
    let rows = query
        .order_by_asc(ratings::Column::Round)
        .all(&state.db)
        .await?;
    views(&state.db, rows, by).await
}

/// An invitation with the ratings given under it.
pub struct InvitationView {
    pub invitation: rating_invitations::Model,
    pub case_number: String,
    pub ratings: Vec<RatingView>,
}

/// Residents: the cases they were invited to rate, newest first.
pub async fn my_invitations(
    state: &AppState,
    viewer: &Viewer,
    first: i32,
    after: Option<&str>,
) -> AppResult<(Vec<InvitationView>, Option<String>)> {
    let Viewer::Resident { user_id, .. } = viewer else {
        signed_in(viewer)?;
        return Err(AppError::Forbidden("residents only".into()));
    };
    let first = page_size(first)?;
    let mut query = rating_invitations::Entity::find()
        .filter(rating_invitations::Column::UserId.eq(*user_id))
        .order_by_desc(rating_invitations::Column::InvitedAt)
        .order_by_desc(rating_invitations::Column::CaseId)
        .limit(first + 1);
    if let Some(after) = after {
        let (at, id) = crate::db::parse_page_cursor(after)?;
        query = query.filter(
            Condition::any()
                .add(rating_invitations::Column::InvitedAt.lt(at))
                .add(
                    Condition::all()
                        .add(rating_invitations::Column::InvitedAt.eq(at))
                        .add(rating_invitations::Column::CaseId.lt(id)),
                ),
        );
    }
    let rows = query.all(&state.db).await?;
    let (rows, next) = split_page(rows, first, |i| {
        crate::db::page_cursor(i.invited_at, i.case_id)
    });
    let ids: Vec<Uuid> = rows.iter().map(|i| i.case_id).collect();
    let numbers = numbers(&state.db, ids.clone()).await?;
    let given = ratings::Entity::find()
        .filter(ratings::Column::CaseId.is_in(ids))
        .order_by_asc(ratings::Column::Round)
        .all(&state.db)
        .await?;
    let mut by_case: HashMap<Uuid, Vec<ratings::Model>> = HashMap::new();
    for rating in given {
        by_case.entry(rating.case_id).or_default().push(rating);
    }
    let mut out = Vec::with_capacity(rows.len());
    for invitation in rows {
        let ratings = by_case.remove(&invitation.case_id).unwrap_or_default();
        out.push(InvitationView {
            case_number: numbers
                .get(&invitation.case_id)
                .cloned()
                .unwrap_or_default(),
            ratings: ratings
                .into_iter()
                .map(|rating| RatingView {
                    case_number: numbers.get(&rating.case_id).cloned(),
                    rating,
                    reader: Reader::Rater,
                })
                .collect(),
            invitation,
        });
    }
    Ok((out, next))
}

/// What staff narrow the ratings by.
#[derive(Default)]
pub struct RatingFilter {
    pub unit_id: Option<Uuid>,
    pub level: Option<RatingLevel>,
    pub bad: Option<bool>,
    pub from: Option<DateTime<Utc>>,
    pub to: Option<DateTime<Utc>>,
}

/// The ratings counting for `units_under` (a region path): the ids of those attributed to a
/// unit there.
fn attributed_under(path: &str) -> sea_orm::sea_query::SelectStatement {
    Query::select()
        .column((
            rating_attributions::Entity,
            rating_attributions::Column::RatingId,
        ))
        .from(rating_attributions::Entity)
        .inner_join(
            regions::Entity,
            Expr::col((regions::Entity, regions::Column::Id)).equals((
                rating_attributions::Entity,
                rating_attributions::Column::UnitId,
            )),
        )
        .cond_where(regions::Column::Path.starts_with(path))
        .to_owned()
}

/// The units under a region path.
fn units_under(path: &str) -> sea_orm::sea_query::SelectStatement {
    Query::select()
        .column(regions::Column::Id)
        .from(regions::Entity)
        .cond_where(regions::Column::Path.starts_with(path))
        .to_owned()
}

fn after_condition<C: ColumnTrait>(at_col: C, id_col: C, after: &str) -> AppResult<Condition> {
    let (at, id) = crate::db::parse_page_cursor(after)?;
    Ok(Condition::any()
        .add(at_col.lt(at))
        .add(Condition::all().add(at_col.eq(at)).add(id_col.lt(id))))
}

/// Staff: ratings counting for units in their jurisdiction, newest first.
pub async fn list(
    state: &AppState,
    viewer: &Viewer,
    filter: RatingFilter,
    first: i32,
    after: Option<&str>,
) -> AppResult<(Vec<RatingView>, Option<String>)> {
    signed_in(viewer)?;
    let who = Jurisdiction::of(&state.db, viewer).await?;
    let first = page_size(first)?;
    let scope = scope_path(&state.db, &who, filter.unit_id).await?;
    let mut query = ratings::Entity::find()
        .filter(ratings::Column::CountyId.eq(who.county_id().unwrap_or_default()))
        .filter(
            Condition::any()
                .add(
                    Condition::all()
                        .add(ratings::Column::Anonymous.eq(false))
                        .add(ratings::Column::Id.in_subquery(attributed_under(&scope))),
                )
                // An anonymous rating counts, for staff, only for the rated unit.
                .add(
                    Condition::all()
                        .add(ratings::Column::Anonymous.eq(true))
                        .add(ratings::Column::UnitId.in_subquery(units_under(&scope))),
                ),
        );
    if let Some(level) = filter.level {
        query = query.filter(ratings::Column::Level.eq(level.as_str()));
    }
    if let Some(bad) = filter.bad {
        let levels: Vec<&str> = RatingLevel::ALL
            .iter()
            .filter(|l| l.is_bad() == bad)
            .map(|l| l.as_str())
            .collect();
        query = query.filter(ratings::Column::Level.is_in(levels));
    }
    if let Some(from) = filter.from {
        query = query.filter(ratings::Column::RatedAt.gte(from));
    }
    if let Some(to) = filter.to {
        query = query.filter(ratings::Column::RatedAt.lt(to));
    }
    if let Some(after) = after {
        query = query.filter(after_condition(
            ratings::Column::RatedAt,
            ratings::Column::Id,
            after,
        )?);
    }
    let rows = query
        .order_by_desc(ratings::Column::RatedAt)
        .order_by_desc(ratings::Column::Id)
        .limit(first + 1)
        .all(&state.db)
        .await?;
    let (rows, next) = split_page(rows, first, |r| crate::db::page_cursor(r.rated_at, r.id));
    let views = views(&state.db, rows, ReadBy::Staff(&who)).await?;
    Ok((views, next))
}

/// What staff narrow the orders by.
#[derive(Default)]
pub struct OrderFilter {
    pub unit_id: Option<Uuid>,
    pub status: Option<RectificationStatus>,
    /// Only orders flagged overdue (or, false, only those not flagged).
    pub overdue: Option<bool>,
}

/// One order, for staff covering its unit.
pub async fn order(state: &AppState, viewer: &Viewer, id: Uuid) -> AppResult<OrderView> {
    signed_in(viewer)?;
    let order = load_order(&state.db, id).await?;
    let who = staff_reading_order(&state.db, viewer, &order).await?;
    let rating = rating_of(&state.db, &order).await?;
    let mut rating = views(&state.db, vec![rating], ReadBy::Staff(&who)).await?;
    Ok(OrderView {
        order,
        rating: rating.pop().ok_or(AppError::NotFound("rectification"))?,
    })
}

/// Staff: orders of units in their jurisdiction, newest first.
pub async fn orders(
    state: &AppState,
    viewer: &Viewer,
    filter: OrderFilter,
    first: i32,
    after: Option<&str>,
) -> AppResult<(Vec<OrderView>, Option<String>)> {
    signed_in(viewer)?;
    let who = Jurisdiction::of(&state.db, viewer).await?;
    let first = page_size(first)?;
    let scope = scope_path(&state.db, &who, filter.unit_id).await?;
    let units = units_under(&scope);
    let mut query = rectifications::Entity::find()
        .filter(rectifications::Column::CountyId.eq(who.county_id().unwrap_or_default()))
        .filter(rectifications::Column::UnitId.in_subquery(units));
    if let Some(status) = filter.status {
        query = query.filter(rectifications::Column::Status.eq(status.as_str()));
    }
    match filter.overdue {
        Some(true) => query = query.filter(rectifications::Column::OverdueFlaggedAt.is_not_null()),
        Some(false) => query = query.filter(rectifications::Column::OverdueFlaggedAt.is_null()),
        None => {}
    }
    if let Some(after) = after {
        query = query.filter(after_condition(
            rectifications::Column::CreatedAt,
            rectifications::Column::Id,
            after,
        )?);
    }
    let rows = query
        .order_by_desc(rectifications::Column::CreatedAt)
        .order_by_desc(rectifications::Column::Id)
        .limit(first + 1)
        .all(&state.db)
        .await?;
    let (rows, next) = split_page(rows, first, |r| crate::db::page_cursor(r.created_at, r.id));
    let ids: Vec<Uuid> = rows.iter().map(|r| r.rating_id).collect();
    let rated = ratings::Entity::find()
        .filter(ratings::Column::Id.is_in(ids))
        .all(&state.db)
        .await?;
    let mut rated: HashMap<Uuid, RatingView> = views(&state.db, rated, ReadBy::Staff(&who))
        .await?
        .into_iter()
        .map(|v| (v.rating.id, v))
        .collect();
    let mut out = Vec::with_capacity(rows.len());
    for order in rows {
        let rating = rated.remove(&order.rating_id).ok_or_else(|| {
            AppError::internal(anyhow::anyhow!("rectification {} has no rating", order.id))
        })?;
        out.push(OrderView { order, rating });
    }
    Ok((out, next))
}

/// The order a rating opened, if any.
pub async fn order_of_rating(
    conn: &impl ConnectionTrait,
    rating_id: Uuid,
) -> AppResult<Option<rectifications::Model>> {
    Ok(rectifications::Entity::find()
        .filter(rectifications::Column::RatingId.eq(rating_id))
        .one(conn)
        .await?)
}
