//! Booking in the API: the waitlist of a full slot.
use async_graphql::{Context, ID, Object};

use crate::{
    booking::{
        graphql::types::{Booking, JoinWaitlistInput, WaitlistEntry},
        waitlist,
    },
    graphql::context::{ContextExt, GqlResult, parse_id},
};

/// Part of `BookingQuery`.
#[derive(Default)]
pub struct WaitlistQuery;

#[Object]
impl WaitlistQuery {
    /// Residents: their open waitlist entries.
    async fn my_waitlist(&self, ctx: &Context<'_>) -> GqlResult<Vec<WaitlistEntry>> {
        Ok(waitlist::mine(ctx.state(), ctx.viewer())
            .await?
            .into_iter()
            .map(WaitlistEntry)
            .collect())
    }
}

/// Part of `BookingMutation`.
#[derive(Default)]
pub struct WaitlistMutation;

#[Object]
impl WaitlistMutation {
    /// Residents: wait for a seat in a full slot. A freed seat is held for the first in line
    /// (push and live event `waitlist.offered`) for the point's hold time.
    async fn join_waitlist(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The full slot to wait for, and what the booking will be for.")]
        input: JoinWaitlistInput,
    ) -> GqlResult<WaitlistEntry> {
        let entry = waitlist::join(
            ctx.state(),
            ctx.viewer(),
            parse_id(&input.service_point_id, "input.servicePointId")?,
            parse_id(&input.slot_id, "input.slotId")?,
            parse_id(&input.item_id, "input.itemId")?,
            input.kind,
        )
        .await?;
        Ok(WaitlistEntry(entry))
    }

    /// Residents: leave a waitlist (a held seat passes to the next in line).
    async fn leave_waitlist(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The waitlist entry's id.")] id: ID,
    ) -> GqlResult<WaitlistEntry> {
        Ok(WaitlistEntry(
            waitlist::leave(ctx.state(), ctx.viewer(), parse_id(&id, "id")?).await?,
        ))
    }

    /// Residents: take the seat held for you before `offeredUntil`.
    async fn claim_waitlist_offer(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The waitlist entry holding the offered seat.")] id: ID,
    ) -> GqlResult<Booking> {
        Ok(Booking::of(
            waitlist::claim(ctx.state(), ctx.viewer(), parse_id(&id, "id")?).await?,
        ))
    }
}
