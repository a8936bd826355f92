//! Batch loading for the API's nested fields: bookings read their slots, points and items in
//! one joined statement and the cases opened from them in another, not one query per booking
//! (a waitlist reads its slots by id); the latest steps of cases whose rows do not keep them
//! yet are read for a page at once, and so are the calls of a list of satisfaction callbacks.
//! A resident's own booking list goes further and joins all of it into its list statement
//! ([`bookings_joined`]). One
//! `DataLoader` without a cache serves the schema: it only gathers the loads that are waiting
//! at the same moment, so it never answers from stale rows. It reads entities only (and the
//! cases' latest steps through their leaf, [`crate::cases::latest`]).
use std::{collections::HashMap, sync::Arc};

use async_graphql::dataloader::{DataLoader, Loader};
use entity::{bookings, callback_attempts, case_steps, cases, items, service_points, slots};
use sea_orm::{
    ColumnTrait, ConnectionTrait, DatabaseConnection, EntityTrait, QueryFilter, QueryOrder,
    QuerySelect,
    sea_query::{Alias, Expr, ExprTrait, Order, Query, SelectStatement},
};
use uuid::Uuid;

use crate::{
    error::AppError,
    rows::{Positioned, select_columns},
};

/// What the loaders read from.
pub struct Rows {
    db: DatabaseConnection,
}

/// The schema's loader.
pub type Loaders = DataLoader<Rows>;

pub fn loaders(db: DatabaseConnection) -> Loaders {
    // A batch runs in a task of its own, counted with the request that started it.
    DataLoader::new(Rows { db }, |batch| {
        let counter = crate::db::statement_counter();
        tokio::spawn(crate::db::counted_by(counter, batch))
    })
}

/// A slot by id.
#[derive(Clone, Copy, Debug, Hash, PartialEq, Eq)]
pub struct SlotId(pub Uuid);
/// What a booking refers to (its slot, point and item), by the booking's id: one joined
/// statement for a whole list.
#[derive(Clone, Copy, Debug, Hash, PartialEq, Eq)]
pub struct BookingRefs(pub Uuid);

/// A booking's slot, point and item.
#[derive(Clone, Debug)]
pub struct Refs {
    pub slot: slots::Model,
    pub point: service_points::Model,
    pub item: items::Model,
}

/// What a booking list reads with each booking in its own statement: its references and the
/// case opened from it.
#[derive(Clone, Debug)]
pub struct Joined {
    pub refs: Arc<Refs>,
    pub case_id: Option<Uuid>,
}

/// The case opened from a booking, by the booking's id.
#[derive(Clone, Copy, Debug, Hash, PartialEq, Eq)]
pub struct CaseOfBooking(pub Uuid);

/// A case's latest steps (newest first, at most
/// [`LATEST_STEPS`](crate::cases::latest::LATEST_STEPS)), by the case's id; only the public ones
/// (those with a public note) when `public_only`. One statement for a whole page.
#[derive(Clone, Copy, Debug, Hash, PartialEq, Eq)]
pub struct LatestSteps {
    pub case_id: Uuid,
    pub public_only: bool,
}

/// A satisfaction callback's calls, oldest first, by the callback's id: one statement for a
/// whole list.
#[derive(Clone, Copy, Debug, Hash, PartialEq, Eq)]
pub struct CallsOfCallback(pub Uuid);

/// A failed batch, shared by every field that waited on it.
#[derive(Clone, Debug)]
pub struct LoadError(pub Arc<String>);

impl From<LoadError> for AppError {
    fn from(error: LoadError) -> Self {
        AppError::internal(anyhow::anyhow!("batch load: {}", error.0))
    }
}

fn failed(error: sea_orm::DbErr) -> LoadError {
    LoadError(Arc::new(error.to_string()))
}

macro_rules! by_id {
    ($key:ident, $entity:ident) => {
        impl Loader<$key> for Rows {
            type Value = $entity::Model;
            type Error = LoadError;

            async fn load(&self, keys: &[$key]) -> Result<HashMap<$key, Self::Value>, Self::Error> {
                let ids: Vec<Uuid> = keys.iter().map(|k| k.0).collect();
                Ok($entity::Entity::find()
                    .filter($entity::Column::Id.is_in(ids))
                    .all(&self.db)
                    .await
                    .map_err(failed)?
                    .into_iter()
                    .map(|row| ($key(row.id), row))
                    .collect())
            }
        }
    };
}

by_id!(SlotId, slots);

impl Loader<BookingRefs> for Rows {
    type Value = Refs;
    type Error = LoadError;

    async fn load(&self, keys: &[BookingRefs]) -> Result<HashMap<BookingRefs, Refs>, Self::Error> {
        let ids: Vec<Uuid> = keys.iter().map(|k| k.0).collect();
        let mut query = Query::select();
        query.expr_as(
            Expr::col((bookings::Entity, bookings::Column::Id)),
            Alias::new("b_id"),
        );
        query.from(bookings::Entity);
        join_refs(&mut query);
        query.and_where(Expr::col((bookings::Entity, bookings::Column::Id)).is_in(ids));
        let backend = self.db.get_database_backend();
        let rows = self
            .db
            .query_all_raw(backend.build(&query))
            .await
            .map_err(failed)?;
        let mut out = HashMap::new();
        for row in rows {
            let id: Uuid = row.try_get_by_index(0).map_err(failed)?;
            out.insert(BookingRefs(id), refs_at(&row, 1).map_err(failed)?);
        }
        Ok(out)
    }
}

/// The slot, point and item joined to `bookings` (the query selects from `bookings`).
fn join_refs(query: &mut SelectStatement) {
    select_columns::<slots::Entity>(query);
    select_columns::<service_points::Entity>(query);
    select_columns::<items::Entity>(query);
    query
        .inner_join(
            slots::Entity,
            Expr::col((slots::Entity, slots::Column::Id))
                .equals((bookings::Entity, bookings::Column::SlotId)),
        )
        .inner_join(
            service_points::Entity,
            Expr::col((service_points::Entity, service_points::Column::Id))
                .equals((bookings::Entity, bookings::Column::ServicePointId)),
        )
        .inner_join(
            items::Entity,
            Expr::col((items::Entity, items::Column::Id))
                .equals((bookings::Entity, bookings::Column::ItemId)),
        );
}

/// The references [`join_refs`] selected, from the row's column `start` on.
fn refs_at(row: &sea_orm::QueryResult, start: usize) -> Result<Refs, sea_orm::DbErr> {
    let slot = slots::Model::at(row, start)?;
    let start = start + slots::Model::FIELDS.len();
    let point = service_points::Model::at(row, start)?;
    let start = start + service_points::Model::FIELDS.len();
    Ok(Refs {
        slot,
        point,
        item: items::Model::at(row, start)?,
    })
}

/// A resident's bookings, newest first, each with its slot, point and item and the case opened
/// from it: one statement for the whole list (a booking opens at most one case, a unique
/// index says so).
pub async fn bookings_joined(
    db: &DatabaseConnection,
    user_id: Uuid,
) -> Result<Vec<(bookings::Model, Joined)>, sea_orm::DbErr> {
    let mut query = Query::select();
    // The booking's columns, the case's id, then the references.
    select_columns::<bookings::Entity>(&mut query);
    query.expr(Expr::col((cases::Entity, cases::Column::Id)));
    query.from(bookings::Entity);
    join_refs(&mut query);
    query
        .left_join(
            cases::Entity,
            Expr::col((cases::Entity, cases::Column::BookingId))
                .equals((bookings::Entity, bookings::Column::Id)),
        )
        .and_where(Expr::col((bookings::Entity, bookings::Column::UserId)).eq(user_id))
        .order_by((bookings::Entity, bookings::Column::CreatedAt), Order::Desc)
        .order_by((bookings::Entity, bookings::Column::Id), Order::Desc);
    let backend = db.get_database_backend();
    let rows = db.query_all_raw(backend.build(&query)).await?;
    rows.iter()
        .map(|row| {
            let booking = bookings::Model::at(row, 0)?;
            let after = bookings::Model::FIELDS.len();
            let case_id: Option<Uuid> = row.try_get_by_index(after)?;
            Ok((
                booking,
                Joined {
                    refs: Arc::new(refs_at(row, after + 1)?),
                    case_id,
                },
            ))
        })
        .collect()
}

impl Loader<CaseOfBooking> for Rows {
    type Value = Uuid;
    type Error = LoadError;

    async fn load(
        &self,
        keys: &[CaseOfBooking],
    ) -> Result<HashMap<CaseOfBooking, Uuid>, Self::Error> {
        let bookings: Vec<Uuid> = keys.iter().map(|k| k.0).collect();
        Ok(cases::Entity::find()
            .select_only()
            .column(cases::Column::Id)
            .column(cases::Column::BookingId)
            .filter(cases::Column::BookingId.is_in(bookings))
            .into_tuple::<(Uuid, Option<Uuid>)>()
            .all(&self.db)
            .await
            .map_err(failed)?
            .into_iter()
            .filter_map(|(case, booking)| booking.map(|b| (CaseOfBooking(b), case)))
            .collect())
    }
}

impl Loader<LatestSteps> for Rows {
    type Value = Vec<case_steps::Model>;
    type Error = LoadError;

    async fn load(
        &self,
        keys: &[LatestSteps],
    ) -> Result<HashMap<LatestSteps, Self::Value>, Self::Error> {
        let mut out: HashMap<LatestSteps, Self::Value> = HashMap::new();
        for public_only in [false, true] {
            let ids: Vec<Uuid> = keys
                .iter()
                .filter(|k| k.public_only == public_only)
                .map(|k| k.case_id)
                .collect();
            let steps = crate::cases::latest::of_cases(&self.db, ids, public_only)
                .await
                .map_err(failed)?;
            out.extend(steps.into_iter().map(|(case_id, steps)| {
                (
                    LatestSteps {
                        case_id,
                        public_only,
                    },
                    steps,
                )
            }));
        }
        Ok(out)
    }
}

impl Loader<CallsOfCallback> for Rows {
    type Value = Vec<callback_attempts::Model>;
    type Error = LoadError;

    async fn load(
        &self,
        keys: &[CallsOfCallback],
    ) -> Result<HashMap<CallsOfCallback, Self::Value>, Self::Error> {
        let ids: Vec<Uuid> = keys.iter().map(|k| k.0).collect();
        let mut out: HashMap<CallsOfCallback, Self::Value> = HashMap::new();
        for call in callback_attempts::Entity::find()
            .filter(callback_attempts::Column::TaskId.is_in(ids))
            .order_by_asc(callback_attempts::Column::At)
            .order_by_asc(callback_attempts::Column::Id)
            .all(&self.db)
            .await
            .map_err(failed)?
        {
            out.entry(CallsOfCallback(call.task_id))
                .or_default()
                .push(call);
        }
        Ok(out)
    }
}
