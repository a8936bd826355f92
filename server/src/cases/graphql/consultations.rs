//! Cases in the API: remote consultations with the county's agents (三级联动).
use async_graphql::{Context, ID, Object};
use chrono::{DateTime, Utc};
use entity::{consultation_replies, consultations};

use crate::{
    cases::consultations as service,
    graphql::context::{ContextExt, GqlResult, parse_id},
};

/// A remote consultation.
pub struct Consultation(pub consultations::Model);

/// A remote consultation (三级联动): a village or township agent's question to the county's agents.
#[Object]
impl Consultation {
    /// Stable id (UUID); also its `subjectEvents` subject.
    async fn id(&self) -> ID {
        ID(self.0.id.to_string())
    }
    /// The case asked about.
    async fn case_id(&self) -> Option<ID> {
        self.0.case_id.map(|id| ID(id.to_string()))
    }
    /// The item asked about.
    async fn item_id(&self) -> Option<ID> {
        self.0.item_id.map(|id| ID(id.to_string()))
    }
    /// The asking unit (region).
    async fn unit_id(&self) -> ID {
        ID(self.0.unit_id.to_string())
    }
    /// The asking agent (staff id).
    async fn opened_by(&self) -> ID {
        ID(self.0.opened_by.to_string())
    }
    /// The question.
    async fn question(&self) -> &str {
        &self.0.question
    }
    /// `OPEN` or `CLOSED`.
    async fn status(&self) -> String {
        self.0.status.to_uppercase()
    }
    /// When it was asked.
    async fn created_at(&self) -> DateTime<Utc> {
        self.0.created_at
    }
    /// When it was closed.
    async fn closed_at(&self) -> Option<DateTime<Utc>> {
        self.0.closed_at
    }
    /// The ledger contact (channel REMOTE) it is recorded as.
    async fn ledger_entry_id(&self) -> ID {
        ID(self.0.ledger_entry_id.to_string())
    }
    /// The replies, oldest first.
    async fn replies(&self, ctx: &Context<'_>) -> GqlResult<Vec<ConsultationReply>> {
        Ok(service::replies(ctx.state(), ctx.viewer(), self.0.id)
            .await?
            .into_iter()
            .map(ConsultationReply)
            .collect())
    }
}

/// A reply in a consultation.
pub struct ConsultationReply(pub consultation_replies::Model);

/// A reply in a consultation, with its time.
#[Object]
impl ConsultationReply {
    /// When it was written.
    async fn at(&self) -> DateTime<Utc> {
        self.0.at
    }
    /// Who wrote it (staff id).
    async fn author_id(&self) -> ID {
        ID(self.0.author_id.to_string())
    }
    /// What it says.
    async fn body(&self) -> &str {
        &self.0.body
    }
}

/// Part of `CaseQuery`.
#[derive(Default)]
pub struct ConsultationsQuery;

#[Object]
impl ConsultationsQuery {
    /// Staff: the consultations they may read, newest first (the county's staff: the county's;
    /// others: those asked from units in their jurisdiction), at most 200.
    async fn consultations(
        &self,
        ctx: &Context<'_>,
        #[graphql(default = true, desc = "Only open ones (default).")] open_only: bool,
    ) -> GqlResult<Vec<Consultation>> {
        Ok(service::list(ctx.state(), ctx.viewer(), open_only)
            .await?
            .into_iter()
            .map(Consultation)
            .collect())
    }
}

/// Part of `CaseMutation`.
#[derive(Default)]
pub struct ConsultationsMutation;

#[Object]
impl ConsultationsMutation {
    /// A village or township agent: asks the county's agents about a case their unit holds or
    /// an item (recorded as a REMOTE ledger contact).
    async fn open_consultation(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The case asked about.")] case_id: Option<ID>,
        #[graphql(desc = "The item asked about (when no case is named).")] item_id: Option<ID>,
        #[graphql(desc = "The question, 1–1000 characters.")] question: String,
    ) -> GqlResult<Consultation> {
        let case = case_id
            .as_ref()
            .map(|id| parse_id(id, "caseId"))
            .transpose()?;
        let item = item_id
            .as_ref()
            .map(|id| parse_id(id, "itemId"))
            .transpose()?;
        Ok(Consultation(
            service::open(ctx.state(), ctx.viewer(), case, item, &question).await?,
        ))
    }

    /// A county agent answers (or the asker adds to the question).
    async fn reply_to_consultation(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The consultation.")] id: ID,
        #[graphql(desc = "The reply, 1–1000 characters.")] body: String,
    ) -> GqlResult<ConsultationReply> {
        let id = parse_id(&id, "id")?;
        Ok(ConsultationReply(
            service::reply(ctx.state(), ctx.viewer(), id, &body).await?,
        ))
    }

    /// The asker or the county admin closes the consultation.
    async fn close_consultation(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The consultation.")] id: ID,
    ) -> GqlResult<Consultation> {
        let id = parse_id(&id, "id")?;
        Ok(Consultation(
            service::close(ctx.state(), ctx.viewer(), id).await?,
        ))
    }
}
