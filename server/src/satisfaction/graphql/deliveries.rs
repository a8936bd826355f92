//! Provincial deliveries in the API: their status for county administrators, and sending a dead
//! one again.
use async_graphql::{Context, ID, Object, SimpleObject};
use chrono::{DateTime, Utc};

use crate::{
    graphql::context::{ContextExt, GqlResult, parse_id},
    satisfaction::{
        deliveries::{self, SeenDelivery},
        delivery::{ProvincialDeliveryKind, ProvincialDeliveryStatus},
        rules::day_of,
    },
};

/// A rating or rectification result on its way to a provincial 好差评 platform.
pub struct ProvincialDelivery(pub SeenDelivery);

impl ProvincialDelivery {
    /// An instant as its reader may know it: an anonymous rating's, the day only.
    fn told(&self, at: DateTime<Utc>) -> DateTime<Utc> {
        if self.0.anonymous { day_of(at) } else { at }
    }
}

/// A rating or rectification result on its way to a provincial 好差评 platform.
#[Object]
impl ProvincialDelivery {
    /// Stable id (UUID); sent as `X-Bangban-Delivery` so the platform can drop repeats.
    async fn id(&self) -> ID {
        ID(self.0.row.id.to_string())
    }
    /// The configured target's name.
    async fn target(&self) -> &str {
        &self.0.row.target
    }
    /// What it carries.
    async fn kind(&self) -> GqlResult<ProvincialDeliveryKind> {
        Ok(self.0.row.kind.parse()?)
    }
    /// The rating's or rectification's id.
    async fn subject_id(&self) -> ID {
        ID(self.0.row.subject_id.to_string())
    }
    /// Where it stands.
    async fn status(&self) -> GqlResult<ProvincialDeliveryStatus> {
        Ok(self.0.row.status.parse()?)
    }
    /// Sends so far.
    async fn attempts(&self) -> i32 {
        self.0.row.attempts
    }
    /// When it is due next, while queued (an anonymous rating's: the day only).
    async fn next_at(&self) -> DateTime<Utc> {
        self.told(self.0.row.next_at)
    }
    /// The last failure (`HTTP 500`, `timeout`, …).
    async fn last_error(&self) -> Option<&str> {
        self.0.row.last_error.as_deref()
    }
    /// The last HTTP status answered.
    async fn last_status(&self) -> Option<i32> {
        self.0.row.last_status
    }
    /// When the platform took it (an anonymous rating's: the day only).
    async fn delivered_at(&self) -> Option<DateTime<Utc>> {
        self.0.row.delivered_at.map(|at| self.told(at))
    }
    /// When it was built (an anonymous rating's: the day only).
    async fn created_at(&self) -> DateTime<Utc> {
        self.told(self.0.row.created_at)
    }
}

/// A page of deliveries, newest first.
#[derive(SimpleObject)]
pub struct ProvincialDeliveryPage {
    /// The deliveries.
    pub deliveries: Vec<ProvincialDelivery>,
    /// Pass as `after` for the next page; null at the end.
    pub next_cursor: Option<String>,
}

/// Part of `SatisfactionQuery`.
#[derive(Default)]
pub struct DeliveriesQuery;

#[Object]
impl DeliveriesQuery {
    /// County administrators: the county's deliveries to the provincial platforms, newest first.
    async fn provincial_deliveries(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Only deliveries of this status.")] status: Option<
            ProvincialDeliveryStatus,
        >,
        #[graphql(default = 20, desc = "Deliveries per page, 1–100 (default 20).")] first: i32,
        #[graphql(desc = "The previous page's `nextCursor`; omit for the first page.")]
        after: Option<String>,
    ) -> GqlResult<ProvincialDeliveryPage> {
        let (rows, next) =
            deliveries::list(ctx.state(), ctx.viewer(), status, first, after.as_deref()).await?;
        Ok(ProvincialDeliveryPage {
            deliveries: rows.into_iter().map(ProvincialDelivery).collect(),
            next_cursor: next,
        })
    }
}

/// Part of `SatisfactionMutation`.
#[derive(Default)]
pub struct DeliveriesMutation;

#[Object]
impl DeliveriesMutation {
    /// County administrators: a dead delivery is queued again with fresh attempts (audited).
    async fn redrive_provincial_delivery(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The delivery.")] id: ID,
    ) -> GqlResult<ProvincialDelivery> {
        let id = parse_id(&id, "id")?;
        Ok(ProvincialDelivery(
            deliveries::redrive(ctx.state(), ctx.viewer(), id).await?,
        ))
    }
}
