//! Cases in the API: reading cases, opening them, and the working moves (acceptance, the help
//! case's service and filing, the clock).
use async_graphql::{Context, ID, Object};

use crate::{
    cases::{
        actions,
        graphql::types::{Case, CaseFilterInput, CasePageType},
        model::{CaseAction, CaseKind, HelpService},
        opening,
        reads::{self, CaseFilter, CasePage},
    },
    graphql::context::{ContextExt, GqlResult, parse_id},
    state::AppState,
};

fn page(p: CasePage) -> CasePageType {
    CasePageType {
        cases: p.cases.into_iter().map(Case).collect(),
        next_cursor: p.next,
    }
}

/// The view of a case just changed, for the one who changed it.
pub(super) async fn view(ctx: &Context<'_>, row: entity::cases::Model) -> GqlResult<Case> {
    let state: &AppState = ctx.state();
    Ok(Case(reads::one(state, ctx.viewer(), row.id).await?))
}

/// Part of `CaseQuery`.
#[derive(Default)]
pub struct CasesQuery;

#[Object]
impl CasesQuery {
    /// One case: for its applicant, or staff who may see it (NOT_FOUND otherwise).
    async fn case(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The case.")] id: ID,
    ) -> GqlResult<Case> {
        let id = parse_id(&id, "id")?;
        Ok(Case(reads::one(ctx.state(), ctx.viewer(), id).await?))
    }

    /// Residents: their cases, newest first, `first` (1–100) at a time after `after`.
    async fn my_cases(
        &self,
        ctx: &Context<'_>,
        #[graphql(default = 20, desc = "Cases per page, 1–100 (default 20).")] first: i32,
        #[graphql(desc = "The previous page's `nextCursor`; omit for the first page.")]
        after: Option<String>,
    ) -> GqlResult<CasePageType> {
        Ok(page(
            reads::mine(ctx.state(), ctx.viewer(), first, after.as_deref()).await?,
        ))
    }

    /// Staff: cases held or opened by units in their jurisdiction, and those waiting to be
    /// received by one, newest first.
    async fn cases(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Narrow the list; omit for every case the viewer may see.")]
        filter: Option<CaseFilterInput>,
        #[graphql(default = 20, desc = "Cases per page, 1–100 (default 20).")] first: i32,
        #[graphql(desc = "The previous page's `nextCursor`; omit for the first page.")]
        after: Option<String>,
    ) -> GqlResult<CasePageType> {
        let f = filter.unwrap_or_default();
        let id = |v: &Option<ID>, field: &str| v.as_ref().map(|x| parse_id(x, field)).transpose();
        let filter = CaseFilter {
            status: f.status,
            unit_id: id(&f.unit_id, "filter.unitId")?,
            agent_id: id(&f.agent_id, "filter.agentId")?,
            item_id: id(&f.item_id, "filter.itemId")?,
            overdue: f.overdue,
            from: f.from,
            to: f.to,
        };
        Ok(page(
            reads::list(ctx.state(), ctx.viewer(), &filter, first, after.as_deref()).await?,
        ))
    }
}

/// Part of `CaseMutation`.
#[derive(Default)]
pub struct CasesMutation;

#[Object]
impl CasesMutation {
    /// Staff at the booking's desk: opens the case of an accepted help or proxy booking.
    async fn open_case(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "An accepted help or proxy booking.")] booking_id: ID,
    ) -> GqlResult<Case> {
        let id = parse_id(&booking_id, "bookingId")?;
        view(
            ctx,
            opening::open_case(ctx.state(), ctx.viewer(), id).await?,
        )
        .await
    }

    /// Staff at the contact's point: opens a case from a ledger contact (phone, window,
    /// remote) that names its item.
    async fn open_case_from_contact(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "A ledger contact that names its item.")] ledger_entry_id: ID,
        #[graphql(desc = "Help (帮办) or proxy (代办).")] kind: CaseKind,
    ) -> GqlResult<Case> {
        let id = parse_id(&ledger_entry_id, "ledgerEntryId")?;
        view(
            ctx,
            opening::open_case_from_contact(ctx.state(), ctx.viewer(), id, kind).await?,
        )
        .await
    }

    /// 受理: REGISTERED → ACCEPTED; the clock starts.
    async fn accept_case(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The case.")] id: ID,
    ) -> GqlResult<Case> {
        let id = parse_id(&id, "id")?;
        view(ctx, actions::accept(ctx.state(), ctx.viewer(), id).await?).await
    }

    /// 不予受理: REGISTERED → REFUSED with a reason code and the explanation given.
    async fn refuse_case(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The case.")] id: ID,
        #[graphql(desc = "A short code for the refusal, 1–32 characters.")] reason_code: String,
        #[graphql(desc = "What the applicant is told, 1–1000 characters.")] explanation: String,
    ) -> GqlResult<Case> {
        let id = parse_id(&id, "id")?;
        view(
            ctx,
            actions::refuse(ctx.state(), ctx.viewer(), id, &reason_code, &explanation).await?,
        )
        .await
    }

    /// Help: ACCEPTED → IN_SERVICE.
    async fn start_case_service(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The case.")] id: ID,
        #[graphql(desc = "Shown to the applicant on their timeline; 1–1000 characters.")]
        note: Option<String>,
    ) -> GqlResult<Case> {
        let id = parse_id(&id, "id")?;
        view(
            ctx,
            actions::simple(
                ctx.state(),
                ctx.viewer(),
                id,
                CaseAction::StartService,
                note.as_deref(),
            )
            .await?,
        )
        .await
    }

    /// Help: records a service given (seed §六(一)2).
    async fn record_case_service(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The case.")] id: ID,
        #[graphql(desc = "The service given.")] service: HelpService,
        #[graphql(desc = "Shown to the applicant on their timeline; 1–1000 characters.")]
        note: Option<String>,
    ) -> GqlResult<Case> {
        let id = parse_id(&id, "id")?;
        view(
            ctx,
            actions::record_service(ctx.state(), ctx.viewer(), id, service, note.as_deref())
                .await?,
        )
        .await
    }

    /// Help: IN_SERVICE → SUBMITTED to the approving department, with its reference number.
    async fn submit_case(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The case.")] id: ID,
        #[graphql(desc = "The approving department's reference number, 1–64 characters.")]
        reference: String,
    ) -> GqlResult<Case> {
        let id = parse_id(&id, "id")?;
        view(
            ctx,
            actions::submit(ctx.state(), ctx.viewer(), id, &reference).await?,
        )
        .await
    }

    /// Help: SUBMITTED → RETURNED by the department, with its reason.
    async fn record_case_return(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The case.")] id: ID,
        #[graphql(desc = "Why, 1–1000 characters.")] reason: String,
    ) -> GqlResult<Case> {
        let id = parse_id(&id, "id")?;
        view(
            ctx,
            actions::record_return(ctx.state(), ctx.viewer(), id, &reason).await?,
        )
        .await
    }

    /// Help: RETURNED → IN_SERVICE (the filing is followed up).
    async fn resume_case(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The case.")] id: ID,
        #[graphql(desc = "Shown to the applicant on their timeline; 1–1000 characters.")]
        note: Option<String>,
    ) -> GqlResult<Case> {
        let id = parse_id(&id, "id")?;
        view(
            ctx,
            actions::simple(
                ctx.state(),
                ctx.viewer(),
                id,
                CaseAction::Resume,
                note.as_deref(),
            )
            .await?,
        )
        .await
    }

    /// Proxy: MATERIALS_RECEIVED → IN_PROGRESS.
    async fn start_case_progress(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The case.")] id: ID,
        #[graphql(desc = "Shown to the applicant on their timeline; 1–1000 characters.")]
        note: Option<String>,
    ) -> GqlResult<Case> {
        let id = parse_id(&id, "id")?;
        view(
            ctx,
            actions::simple(
                ctx.state(),
                ctx.viewer(),
                id,
                CaseAction::StartProgress,
                note.as_deref(),
            )
            .await?,
        )
        .await
    }

    /// Administrators: COMPLETED (help) or ARCHIVED (proxy) → CLOSED.
    async fn close_case(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The case.")] id: ID,
    ) -> GqlResult<Case> {
        let id = parse_id(&id, "id")?;
        view(
            ctx,
            actions::simple(ctx.state(), ctx.viewer(), id, CaseAction::Close, None).await?,
        )
        .await
    }

    /// Stops the clock while waiting for the applicant (补正材料), saying what is needed.
    async fn stop_case_clock(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The case.")] id: ID,
        #[graphql(desc = "Shown to the applicant on their timeline; 1–1000 characters.")]
        note: String,
    ) -> GqlResult<Case> {
        let id = parse_id(&id, "id")?;
        view(
            ctx,
            actions::stop_clock(ctx.state(), ctx.viewer(), id, &note).await?,
        )
        .await
    }

    /// Restarts the clock: the applicant answered.
    async fn restart_case_clock(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The case.")] id: ID,
    ) -> GqlResult<Case> {
        let id = parse_id(&id, "id")?;
        view(
            ctx,
            actions::restart_clock(ctx.state(), ctx.viewer(), id).await?,
        )
        .await
    }
}
