//! Booking in the API: the service ledger (台账) and its CSV export.
use async_graphql::{Context, ID, Object};
use chrono::{DateTime, Utc};

use crate::{
    booking::{
        graphql::types::{
            ContactOutcome, LedgerEntry, LedgerFilterInput, LedgerPageType, RecordContactInput,
        },
        ledger::{self, ContactInput},
    },
    graphql::context::{ContextExt, GqlResult, parse_id},
};

/// Part of `BookingQuery`.
#[derive(Default)]
pub struct LedgerQuery;

#[Object]
impl LedgerQuery {
    /// Staff: the ledger (台账) of a service point in their jurisdiction — or, without
    /// `servicePointId`, of every point in it — between two instants, oldest first, `first`
    /// (1–200) at a time after the `after` cursor.
    #[allow(clippy::too_many_arguments)]
    async fn ledger(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "One point; omit for every point in the viewer's jurisdiction.")]
        service_point_id: Option<ID>,
        #[graphql(desc = "Start of the period by `occurredAt` (a UTC instant), inclusive.")]
        from: DateTime<Utc>,
        #[graphql(desc = "End of the period by `occurredAt`, inclusive; not before `from`.")]
        to: DateTime<Utc>,
        #[graphql(desc = "Narrow by channel, outcome or back-filling; omit for every entry.")]
        filter: Option<LedgerFilterInput>,
        #[graphql(default = 50, desc = "Entries per page, 1–200 (default 50).")] first: i32,
        #[graphql(desc = "The previous page's `nextCursor`; omit for the first page.")]
        after: Option<String>,
    ) -> GqlResult<LedgerPageType> {
        let point = service_point_id
            .as_ref()
            .map(|id| parse_id(id, "servicePointId"))
            .transpose()?;
        let first = u64::try_from(first).unwrap_or(0);
        let page = ledger::page(
            ctx.state(),
            ctx.viewer(),
            point,
            from,
            to,
            &filter.into(),
            first,
            after.as_deref(),
        )
        .await?;
        Ok(LedgerPageType {
            entries: page.entries.into_iter().map(LedgerEntry).collect(),
            next_cursor: page.next,
        })
    }

    /// Staff: the same ledger as CSV (UTF-8 with BOM; at most 10,000 rows — narrow the period
    /// for more). Applicants are masked as in `ledger`.
    async fn ledger_csv(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "One point; omit for every point in the viewer's jurisdiction.")]
        service_point_id: Option<ID>,
        #[graphql(desc = "Start of the period by `occurredAt` (a UTC instant), inclusive.")]
        from: DateTime<Utc>,
        #[graphql(desc = "End of the period by `occurredAt`, inclusive; not before `from`.")]
        to: DateTime<Utc>,
        #[graphql(desc = "Narrow by channel, outcome or back-filling; omit for every entry.")]
        filter: Option<LedgerFilterInput>,
    ) -> GqlResult<String> {
        let point = service_point_id
            .as_ref()
            .map(|id| parse_id(id, "servicePointId"))
            .transpose()?;
        Ok(ledger::csv(ctx.state(), ctx.viewer(), point, from, to, &filter.into()).await?)
    }
}

/// Part of `BookingMutation`.
#[derive(Default)]
pub struct LedgerMutation;

#[Object]
impl LedgerMutation {
    /// The point's desk: record a contact in the ledger (a call, a walk-in, a remote
    /// consultation), or back-fill one from the paper register with its original time.
    async fn record_contact(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The contact to record.")] input: RecordContactInput,
    ) -> GqlResult<LedgerEntry> {
        let state = ctx.state();
        let point = parse_id(&input.service_point_id, "input.servicePointId")?;
        let data = ContactInput {
            service_point_id: point,
            channel: input.channel,
            item_id: input
                .item_id
                .as_ref()
                .map(|i| parse_id(i, "input.itemId"))
                .transpose()?,
            applicant_name: input.applicant_name,
            outcome: match input.outcome {
                ContactOutcome::Consulted => "consulted",
                ContactOutcome::Served => "served",
                ContactOutcome::Refused => "refused",
                ContactOutcome::Referred => "referred",
            }
            .to_string(),
            reason_code: input.reason_code,
            note: input.note,
            occurred_at: input.occurred_at,
        };
        Ok(LedgerEntry(
            ledger::record(state, ctx.viewer(), data).await?,
        ))
    }
}
