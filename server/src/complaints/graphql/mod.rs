//! Complaints in the API: the complainant's (`fileComplaint`, their own and by receipt), the
//! inspector's handling, the administrators' oversight, the accused's statement requests and
//! the public channels, with their types (`types`).
pub mod types;

use async_graphql::{Context, ID, Object};

use crate::{
    complaints::{
        appeals, channels, exchanges, handling, intake,
        model::{ComplaintFinding, ComplaintStatus},
        reads, routing,
    },
    graphql::context::{ContextExt, GqlResult, parse_id, parse_opt_id},
};

use types::{
    ChannelType, Complaint, ComplaintChannelInput, ComplaintInput, ComplaintPage,
    ComplaintStatementRequest, FiledComplaint, MyComplaint, RevealedComplainant,
};

/// Complaints queries.
#[derive(Default)]
pub struct ComplaintsQuery;

#[Object]
impl ComplaintsQuery {
    /// Public: the published ways to complain in a county (seed §八(四)).
    async fn complaint_channels(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The county.")] county_id: ID,
    ) -> GqlResult<Vec<ChannelType>> {
        let county = parse_id(&county_id, "countyId")?;
        Ok(channels::list(&ctx.state().db, county)
            .await?
            .into_iter()
            .map(ChannelType::from)
            .collect())
    }

    /// Residents: their real-name complaints, newest first.
    async fn my_complaints(&self, ctx: &Context<'_>) -> GqlResult<Vec<MyComplaint>> {
        Ok(reads::mine(ctx.state(), ctx.viewer())
            .await?
            .into_iter()
            .map(MyComplaint)
            .collect())
    }

    /// Anyone holding a receipt: the anonymous complaint it opens (uses are limited per address).
    async fn complaint_by_receipt(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The receipt code (case and dashes ignored).")] receipt: String,
    ) -> GqlResult<MyComplaint> {
        Ok(MyComplaint(
            crate::complaints::receipts::open(ctx.state(), ctx.client_ip(), &receipt).await?,
        ))
    }

    /// Inspectors: the complaints they handle or whose appeal they review; county
    /// administrators: the county's, except any about them. Newest first, a page at a time.
    async fn complaints(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Only complaints of this status.")] status: Option<ComplaintStatus>,
        #[graphql(default = 50, desc = "Complaints per page, 1–200 (default 50).")] first: i32,
        #[graphql(desc = "The previous page's `nextCursor`; omit for the first page.")]
        after: Option<String>,
    ) -> GqlResult<ComplaintPage> {
        let page = reads::list(ctx.state(), ctx.viewer(), status, first, after.as_deref()).await?;
        Ok(ComplaintPage {
            complaints: page
                .complaints
                .into_iter()
                .map(|(c, capacity)| Complaint(c, capacity))
                .collect(),
            next_cursor: page.next,
        })
    }

    /// One complaint, for those who may read it (NOT_FOUND for anyone else).
    async fn complaint(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The complaint.")] id: ID,
    ) -> GqlResult<Complaint> {
        let id = parse_id(&id, "id")?;
        let (c, capacity) = reads::one(ctx.state(), ctx.viewer(), id).await?;
        Ok(Complaint(c, capacity))
    }

    /// Staff: what inspectors asked them as the accused, newest first.
    async fn my_statement_requests(
        &self,
        ctx: &Context<'_>,
    ) -> GqlResult<Vec<ComplaintStatementRequest>> {
        Ok(reads::statement_requests(ctx.state(), ctx.viewer())
            .await?
            .into_iter()
            .map(|(r, category)| ComplaintStatementRequest(r, category))
            .collect())
    }
}

/// Complaints mutations.
#[derive(Default)]
pub struct ComplaintsMutation;

#[Object]
impl ComplaintsMutation {
    /// A resident complains about a staff member, a unit or one of their cases, real-name or
    /// anonymous (then a receipt is returned, once).
    async fn file_complaint(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The complaint.")] input: ComplaintInput,
    ) -> GqlResult<FiledComplaint> {
        let input = intake::ComplaintInput {
            staff_id: parse_opt_id(input.staff_id, "staffId")?,
            unit_id: parse_opt_id(input.unit_id, "unitId")?,
            case_id: parse_opt_id(input.case_id, "caseId")?,
            category: input.category,
            description: input.description,
            evidence: input.evidence.unwrap_or_default(),
            contact: input.contact,
            anonymous: input.anonymous,
        };
        let filing = intake::file(ctx.state(), ctx.viewer(), ctx.client_ip(), input).await?;
        Ok(FiledComplaint {
            complaint: MyComplaint(filing.complaint),
            receipt: filing.receipt,
            merged: filing.merged,
        })
    }

    /// Its inspector acknowledges it (受理); the complainant is told.
    async fn acknowledge_complaint(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The complaint.")] id: ID,
    ) -> GqlResult<Complaint> {
        let id = parse_id(&id, "id")?;
        Ok(assigned(
            handling::acknowledge(ctx.state(), ctx.viewer(), id).await?,
        ))
    }

    /// Its inspector starts the investigation.
    async fn investigate_complaint(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The complaint.")] id: ID,
    ) -> GqlResult<Complaint> {
        let id = parse_id(&id, "id")?;
        Ok(assigned(
            handling::investigate(ctx.state(), ctx.viewer(), id).await?,
        ))
    }

    /// Its inspector asks the accused (or, for a unit, one of its staff) for a statement.
    async fn request_complaint_statement(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The complaint.")] id: ID,
        #[graphql(desc = "The question, 1–1000 characters.")] question: String,
        #[graphql(desc = "For a complaint about a unit: who in it answers.")] staff_id: Option<ID>,
    ) -> GqlResult<Complaint> {
        let id = parse_id(&id, "id")?;
        let staff = parse_opt_id(staff_id, "staffId")?;
        Ok(assigned(
            exchanges::request_statement(ctx.state(), ctx.viewer(), id, &question, staff).await?,
        ))
    }

    /// The person asked gives their statement, once.
    async fn give_complaint_statement(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The statement request.")] request_id: ID,
        #[graphql(desc = "The statement, 1–2000 characters.")] statement: String,
    ) -> GqlResult<ComplaintStatementRequest> {
        let id = parse_id(&request_id, "requestId")?;
        let (r, category) =
            exchanges::give_statement(ctx.state(), ctx.viewer(), id, &statement).await?;
        Ok(ComplaintStatementRequest(r, category))
    }

    /// Its inspector asks the complainant for more information.
    async fn request_complaint_information(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The complaint.")] id: ID,
        #[graphql(desc = "The question, 1–1000 characters.")] question: String,
    ) -> GqlResult<Complaint> {
        let id = parse_id(&id, "id")?;
        Ok(assigned(
            exchanges::request_information(ctx.state(), ctx.viewer(), id, &question).await?,
        ))
    }

    /// A real-name complainant answers a request, once.
    async fn answer_complaint_request(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The request.")] request_id: ID,
        #[graphql(desc = "The answer, 1–1000 characters.")] answer: String,
    ) -> GqlResult<MyComplaint> {
        let id = parse_id(&request_id, "requestId")?;
        Ok(MyComplaint(
            exchanges::answer(ctx.state(), ctx.viewer(), id, &answer).await?,
        ))
    }

    /// An anonymous complainant answers a request through the receipt, once.
    async fn answer_complaint_request_by_receipt(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The receipt code.")] receipt: String,
        #[graphql(desc = "The request.")] request_id: ID,
        #[graphql(desc = "The answer, 1–1000 characters.")] answer: String,
    ) -> GqlResult<MyComplaint> {
        let id = parse_id(&request_id, "requestId")?;
        Ok(MyComplaint(
            exchanges::answer_by_receipt(ctx.state(), ctx.client_ip(), &receipt, id, &answer)
                .await?,
        ))
    }

    /// Its inspector extends the conclusion deadline, once, with a reason.
    async fn extend_complaint(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The complaint.")] id: ID,
        #[graphql(desc = "Why, 1–500 characters.")] reason: String,
    ) -> GqlResult<Complaint> {
        let id = parse_id(&id, "id")?;
        Ok(assigned(
            handling::extend(ctx.state(), ctx.viewer(), id, &reason).await?,
        ))
    }

    /// Its inspector records the finding; the complainant is told.
    async fn conclude_complaint(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The complaint.")] id: ID,
        #[graphql(desc = "The finding.")] finding: ComplaintFinding,
        #[graphql(desc = "严重 (with public impact): only for a substantiated finding.")]
        serious: bool,
        #[graphql(desc = "What was done, 1–1000 characters.")] actions_taken: String,
        #[graphql(desc = "The conclusion, 1–2000 characters.")] conclusion: String,
    ) -> GqlResult<Complaint> {
        let id = parse_id(&id, "id")?;
        Ok(assigned(
            handling::conclude(
                ctx.state(),
                ctx.viewer(),
                id,
                finding,
                serious,
                &actions_taken,
                &conclusion,
            )
            .await?,
        ))
    }

    /// Its inspector replies to the complainant (who is told).
    async fn reply_complaint(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The complaint.")] id: ID,
        #[graphql(desc = "The reply, 1–2000 characters.")] reply: String,
    ) -> GqlResult<Complaint> {
        let id = parse_id(&id, "id")?;
        Ok(assigned(
            handling::reply(ctx.state(), ctx.viewer(), id, &reply).await?,
        ))
    }

    /// Its inspector closes a replied complaint.
    async fn close_complaint(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The complaint.")] id: ID,
    ) -> GqlResult<Complaint> {
        let id = parse_id(&id, "id")?;
        Ok(assigned(
            handling::close(ctx.state(), ctx.viewer(), id).await?,
        ))
    }

    /// A real-name complainant appeals the finding, once, within the window after the reply.
    async fn appeal_complaint(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The complaint.")] id: ID,
        #[graphql(desc = "Why, 1–1000 characters.")] reason: String,
    ) -> GqlResult<MyComplaint> {
        let id = parse_id(&id, "id")?;
        Ok(MyComplaint(
            appeals::appeal(ctx.state(), ctx.viewer(), id, &reason).await?,
        ))
    }

    /// An anonymous complainant appeals through the receipt.
    async fn appeal_complaint_by_receipt(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The receipt code.")] receipt: String,
        #[graphql(desc = "Why, 1–1000 characters.")] reason: String,
    ) -> GqlResult<MyComplaint> {
        Ok(MyComplaint(
            appeals::appeal_by_receipt(ctx.state(), ctx.client_ip(), &receipt, &reason).await?,
        ))
    }

    /// The appeal's reviewer (another inspector) or a county administrator decides it.
    async fn decide_complaint_appeal(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The complaint.")] id: ID,
        #[graphql(desc = "Let the finding stand (true) or change it.")] upheld: bool,
        #[graphql(desc = "The changed finding (when not upheld).")] finding: Option<
            ComplaintFinding,
        >,
        #[graphql(desc = "The changed seriousness (when not upheld).")] serious: Option<bool>,
        #[graphql(desc = "The reasons, 1–1000 characters.")] note: String,
    ) -> GqlResult<Complaint> {
        let id = parse_id(&id, "id")?;
        let c = appeals::decide(
            ctx.state(),
            ctx.viewer(),
            id,
            upheld,
            finding,
            serious,
            &note,
        )
        .await?;
        let capacity = reads::one(ctx.state(), ctx.viewer(), id).await?.1;
        Ok(Complaint(c, capacity))
    }

    /// Its inspector declares a conflict of interest: the complaint goes to another inspector.
    /// Null: it is no longer theirs.
    async fn declare_complaint_conflict(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The complaint.")] id: ID,
        #[graphql(desc = "The conflict, 1–500 characters.")] reason: String,
    ) -> GqlResult<Option<Complaint>> {
        let id = parse_id(&id, "id")?;
        routing::declare_conflict(ctx.state(), ctx.viewer(), id, &reason).await?;
        Ok(None)
    }

    /// A county administrator gives a complaint to an inspector who may handle it.
    async fn assign_complaint(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The complaint.")] id: ID,
        #[graphql(desc = "The inspector.")] inspector_id: ID,
    ) -> GqlResult<Complaint> {
        let id = parse_id(&id, "id")?;
        let inspector = parse_id(&inspector_id, "inspectorId")?;
        let c = routing::assign(ctx.state(), ctx.viewer(), id, inspector).await?;
        Ok(Complaint(
            c,
            crate::complaints::access::Capacity::CountyAdmin,
        ))
    }

    /// A county administrator outside the accused's chain sees who complained (audited with
    /// the reason).
    async fn reveal_complainant(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The complaint.")] id: ID,
        #[graphql(desc = "Why, 1–500 characters.")] reason: String,
    ) -> GqlResult<RevealedComplainant> {
        let id = parse_id(&id, "id")?;
        let revealed = reads::reveal(ctx.state(), ctx.viewer(), id, &reason).await?;
        Ok(RevealedComplainant {
            user_id: ID(revealed.user_id.to_string()),
            phone: revealed.phone,
        })
    }

    /// The county centre's administrator replaces the county's published ways to complain.
    async fn set_complaint_channels(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The county.")] county_id: ID,
        #[graphql(desc = "1–10 channels, in order.")] channels: Vec<ComplaintChannelInput>,
    ) -> GqlResult<Vec<ChannelType>> {
        let county = parse_id(&county_id, "countyId")?;
        let list = channels
            .into_iter()
            .map(|c| channels::Channel {
                kind: c.kind,
                label: c.label,
                value: c.value,
                hours: c.hours,
            })
            .collect();
        Ok(channels::set(ctx.state(), ctx.viewer(), county, list)
            .await?
            .into_iter()
            .map(ChannelType::from)
            .collect())
    }
}

fn assigned(c: entity::complaints::Model) -> Complaint {
    Complaint(c, crate::complaints::access::Capacity::Assigned)
}
