//! Booking in the API: check-in, queue numbers and the live queue position.
use std::sync::Arc;

use async_graphql::{Context, ID, Object, SimpleObject, Subscription};
use chrono::{DateTime, Utc};
use futures_util::{StreamExt, stream::BoxStream};

use crate::{
    booking::{
        check_in_code,
        graphql::types::{QueuePosition, QueueTicket},
        queue::{self, CheckIn},
    },
    graphql::context::{ContextExt, GqlResult, parse_id},
    state::AppState,
};

/// The check-in code the desk shows (on its screen, or as a dynamic QR code beside the printed
/// one); residents enter it with `checkIn`.
#[derive(SimpleObject)]
pub struct CheckInCode {
    /// Six digits, changing every minute; the previous one is accepted for another minute.
    pub code: String,
    /// When this code stops being shown: fetch the next one then.
    pub valid_until: DateTime<Utc>,
}

/// Part of `BookingQuery`.
#[derive(Default)]
pub struct QueueQuery;

#[Object]
impl QueueQuery {
    /// The point's desk (its agents and admins over it): the current check-in code to show.
    async fn point_check_in_code(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The point whose desk shows the code.")] service_point_id: ID,
    ) -> GqlResult<CheckInCode> {
        let point = parse_id(&service_point_id, "servicePointId")?;
        let (code, valid_until) =
            check_in_code::point_check_in_code(ctx.state(), ctx.viewer(), point).await?;
        Ok(CheckInCode { code, valid_until })
    }

    /// The point's desk: today's queue — waiting numbers in call order, then the others.
    async fn point_queue(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The point whose desk the viewer works.")] service_point_id: ID,
    ) -> GqlResult<Vec<QueueTicket>> {
        let point = parse_id(&service_point_id, "servicePointId")?;
        Ok(queue::today(ctx.state(), ctx.viewer(), point)
            .await?
            .into_iter()
            .map(QueueTicket)
            .collect())
    }

    /// Where a queue number stands now (its resident, or the point's desk).
    async fn queue_position(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The queue number's id (`QueueTicket.id`).")] ticket_id: ID,
    ) -> GqlResult<QueuePosition> {
        let id = parse_id(&ticket_id, "ticketId")?;
        queue::visible_ticket(ctx.state(), ctx.viewer(), id).await?;
        Ok(QueuePosition(queue::position(ctx.state(), id).await?))
    }
}

/// Part of `BookingMutation`.
#[derive(Default)]
pub struct QueueMutation;

#[Object]
impl QueueMutation {
    /// Residents, on site: check in by scanning the point's printed QR code (its scene) and
    /// entering the check-in code shown at the desk (it changes every minute; the printed code
    /// alone only opens the point's page), with the booking code for an appointment — from the
    /// point's `checkInOpensMinutes` before its slot — or without one for a walk-in number.
    /// Twice returns the same number. BAD_USER_INPUT `checkInCode` for a wrong or old code.
    async fn check_in(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The `scene` of the point's printed QR code (URI-decoded).")]
        point_scene: String,
        #[graphql(desc = "The check-in code the desk shows now.")] check_in_code: String,
        #[graphql(desc = "The booking code (any case) for an appointment; omit for a walk-in.")]
        booking_code: Option<String>,
    ) -> GqlResult<QueueTicket> {
        Ok(QueueTicket(
            queue::check_in(
                ctx.state(),
                ctx.viewer(),
                CheckIn::Scan {
                    scene: point_scene,
                    code: check_in_code,
                },
                booking_code,
            )
            .await?,
        ))
    }

    /// The point's desk: check a resident in (booking code) or give a walk-in a number.
    async fn check_in_at_desk(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The point whose desk the viewer works.")] service_point_id: ID,
        #[graphql(desc = "The resident's booking code (any case); omit for a walk-in.")]
        booking_code: Option<String>,
    ) -> GqlResult<QueueTicket> {
        let point_id = parse_id(&service_point_id, "servicePointId")?;
        Ok(QueueTicket(
            queue::check_in(
                ctx.state(),
                ctx.viewer(),
                CheckIn::Desk { point_id },
                booking_code,
            )
            .await?,
        ))
    }

    /// The point's desk: call the next number (appointments first within their slot); null
    /// when nobody waits.
    async fn call_next(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The point whose desk the viewer works.")] service_point_id: ID,
    ) -> GqlResult<Option<QueueTicket>> {
        let point = parse_id(&service_point_id, "servicePointId")?;
        Ok(queue::call_next(ctx.state(), ctx.viewer(), point)
            .await?
            .map(QueueTicket))
    }

    /// The point's desk: finish a called number — served, or absent when called.
    async fn finish_ticket(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The called queue number's id (`QueueTicket.id`).")] id: ID,
        #[graphql(desc = "true: served; false: absent when called (a booking becomes a no-show).")]
        served: bool,
    ) -> GqlResult<QueueTicket> {
        Ok(QueueTicket(
            queue::finish(ctx.state(), ctx.viewer(), parse_id(&id, "id")?, served).await?,
        ))
    }
}

#[derive(Default)]
pub struct QueueSubscription;

#[Subscription]
impl QueueSubscription {
    /// A queue number's position, now and after every change at the point (and at least every
    /// 30 seconds, as slots begin); ends once the number is served or absent.
    async fn queue_position(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The queue number's id (`QueueTicket.id`).")] ticket_id: ID,
    ) -> BoxStream<'static, GqlResult<QueuePosition>> {
        let state = ctx.data_unchecked::<Arc<AppState>>().clone();
        let ticket = match parse_id(&ticket_id, "ticketId") {
            Ok(id) => queue::visible_ticket(&state, ctx.viewer(), id).await,
            Err(error) => Err(error),
        };
        let ticket = match ticket {
            Ok(ticket) => ticket,
            Err(error) => {
                return futures_util::stream::once(async move { Err(error.into()) }).boxed();
            }
        };
        queue::follow(state, ticket)
            .map(|position| {
                position
                    .map(QueuePosition)
                    .map_err(async_graphql::Error::from)
            })
            .boxed()
    }
}
