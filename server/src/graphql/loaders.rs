//! Batch loading for the API's nested fields: a list of bookings asks for its slots, points and
//! items (and the case opened from each) in one query per kind, not one per booking. One
//! `DataLoader` without a cache serves the schema: it only gathers the loads that are waiting
//! at the same moment, so it never answers from stale rows. A leaf: it reads entities only.
use std::{collections::HashMap, sync::Arc};

use async_graphql::dataloader::{DataLoader, Loader};
use entity::{cases, items, service_points, slots};
use sea_orm::{ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter, QuerySelect};
use uuid::Uuid;

use crate::error::AppError;

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
/// A service point by id.
#[derive(Clone, Copy, Debug, Hash, PartialEq, Eq)]
pub struct PointId(pub Uuid);
/// A catalogue item by id.
#[derive(Clone, Copy, Debug, Hash, PartialEq, Eq)]
pub struct ItemId(pub Uuid);
/// The case opened from a booking, by the booking's id.
#[derive(Clone, Copy, Debug, Hash, PartialEq, Eq)]
pub struct CaseOfBooking(pub Uuid);

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
by_id!(PointId, service_points);
by_id!(ItemId, items);

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
