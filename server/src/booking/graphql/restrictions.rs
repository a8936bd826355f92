//! Booking in the API: the no-show rule's restrictions and their appeals.
use async_graphql::{Context, ID, Object};

use crate::{
    booking::{graphql::types::BookingRestriction, restrictions},
    graphql::context::{ContextExt, GqlResult, parse_id},
};

/// Part of `BookingQuery`.
#[derive(Default)]
pub struct RestrictionsQuery;

#[Object]
impl RestrictionsQuery {
    /// Residents: suspensions of their online booking, newest first. Each is one county's (the
    /// county whose no-show rule made it) and suspends online booking in that county only.
    async fn my_booking_restrictions(
        &self,
        ctx: &Context<'_>,
    ) -> GqlResult<Vec<BookingRestriction>> {
        Ok(restrictions::mine(ctx.state(), ctx.viewer())
            .await?
            .into_iter()
            .map(BookingRestriction)
            .collect())
    }

    /// County administrators: their county's appeals against booking restrictions awaiting a
    /// decision.
    async fn restriction_appeals(&self, ctx: &Context<'_>) -> GqlResult<Vec<BookingRestriction>> {
        Ok(restrictions::appeals(ctx.state(), ctx.viewer())
            .await?
            .into_iter()
            .map(BookingRestriction)
            .collect())
    }
}

/// Part of `BookingMutation`.
#[derive(Default)]
pub struct RestrictionsMutation;

#[Object]
impl RestrictionsMutation {
    /// Residents: appeal a booking restriction (once, while it is active).
    async fn appeal_booking_restriction(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The resident's own active restriction (`BookingRestriction.id`).")]
        id: ID,
        #[graphql(desc = "Why it should be lifted, 1–500 characters.")] reason: String,
    ) -> GqlResult<BookingRestriction> {
        Ok(BookingRestriction(
            restrictions::appeal(ctx.state(), ctx.viewer(), parse_id(&id, "id")?, &reason).await?,
        ))
    }

    /// County administrators: lift or uphold an appealed restriction of their county, with the
    /// reason (audited); another county's answers NOT_FOUND.
    async fn decide_restriction_appeal(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The appealed restriction's id.")] id: ID,
        #[graphql(desc = "true lifts the restriction at once; false upholds it.")] lift: bool,
        #[graphql(desc = "The reason, told to the resident, 1–500 characters.")] decision: String,
    ) -> GqlResult<BookingRestriction> {
        Ok(BookingRestriction(
            restrictions::decide(
                ctx.state(),
                ctx.viewer(),
                parse_id(&id, "id")?,
                lift,
                &decision,
            )
            .await?,
        ))
    }
}
