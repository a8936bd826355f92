//! Subscribe-message consent and delivery status in the API.
use async_graphql::{Context, ID, InputObject, Object, SimpleObject};
use chrono::{DateTime, Utc};
use entity::push_deliveries;

use crate::{
    error::AppError,
    graphql::context::{ContextExt, GqlResult},
    push::{
        model::{ConsentAnswer, DeliveryStatus},
        service,
    },
};

/// One answer of `wx.requestSubscribeMessage` (its `res[templateId]`).
#[derive(InputObject)]
pub struct ConsentResultInput {
    /// The template id as configured for this mini-program.
    pub template_id: String,
    /// What WeChat answered for this template.
    pub status: ConsentAnswer,
}

/// The resident's consent for one template.
#[derive(SimpleObject)]
pub struct SubscriptionCredit {
    /// The subscribe-message template id.
    pub template_id: String,
    /// Messages that may still be sent with this template (one per `accept`).
    pub credits: i32,
    /// A long-term (长期订阅) template the resident accepted: no credits needed.
    pub long_term: bool,
}

/// One subscribe message for one person about one event.
pub struct PushDelivery(pub push_deliveries::Model);

/// One subscribe message for one person about one event.
#[Object]
impl PushDelivery {
    /// The event the message announces.
    async fn event_id(&self) -> ID {
        ID(self.0.event_id.to_string())
    }
    /// What the event is about.
    async fn subject_id(&self) -> ID {
        ID(self.0.subject_id.clone())
    }
    /// The subscribe-message template it uses.
    async fn template_id(&self) -> &str {
        &self.0.template_id
    }
    /// Where the message stands: queued, sent, or why it was not.
    async fn status(&self) -> GqlResult<DeliveryStatus> {
        Ok(self.0.status.parse::<DeliveryStatus>()?)
    }
    /// Send attempts made.
    async fn attempts(&self) -> i32 {
        self.0.attempts
    }
    /// WeChat's errcode and message, or why nothing was sent.
    async fn last_error(&self) -> Option<&str> {
        self.0.last_error.as_deref()
    }
    /// WeChat's message id once sent (a 64-bit number, as text).
    async fn msgid(&self) -> Option<&str> {
        self.0.msgid.as_deref()
    }
    /// UTC instant, ISO 8601.
    async fn updated_at(&self) -> DateTime<Utc> {
        self.0.updated_at
    }
}

#[derive(Default)]
pub struct PushQuery;

#[Object]
impl PushQuery {
    /// The subscribe messages sent to the signed-in person, newest first (`first` 1–100): a
    /// resident's, or a staff member's own staff messages (kept after they unbind WeChat).
    async fn my_push_deliveries(
        &self,
        ctx: &Context<'_>,
        #[graphql(default = 20, desc = "How many, 1–100 (default 20).")] first: i32,
    ) -> GqlResult<Vec<PushDelivery>> {
        if !(1..=100).contains(&first) {
            return Err(AppError::bad_input("first", "between 1 and 100").into());
        }
        let rows = service::my_deliveries(
            ctx.state(),
            ctx.viewer(),
            u64::try_from(first).unwrap_or(20),
        )
        .await?;
        Ok(rows.into_iter().map(PushDelivery).collect())
    }

    /// Staff: the subscribe messages about a subject they may see.
    async fn push_deliveries(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The subject, as in `Event.subjectId` (e.g. a booking's id).")]
        subject_id: ID,
    ) -> GqlResult<Vec<PushDelivery>> {
        let rows =
            service::subject_deliveries(ctx.state(), ctx.viewer(), subject_id.as_str()).await?;
        Ok(rows.into_iter().map(PushDelivery).collect())
    }
}

#[derive(Default)]
pub struct PushMutation;

#[Object]
impl PushMutation {
    /// Residents, and staff who bound WeChat (`bindStaffWechat`; FORBIDDEN before): report what
    /// `wx.requestSubscribeMessage` returned, right after it returns. Each `ACCEPT` allows one
    /// message with that template. Returns the person's credits.
    async fn record_subscribe_consent(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "One answer per template in `res` (1–20).")] results: Vec<
            ConsentResultInput,
        >,
    ) -> GqlResult<Vec<SubscriptionCredit>> {
        let answers: Vec<(String, ConsentAnswer)> = results
            .into_iter()
            .map(|r| (r.template_id, r.status))
            .collect();
        let rows = service::record_consent(ctx.state(), ctx.viewer(), &answers).await?;
        Ok(rows
            .into_iter()
            .map(|r| SubscriptionCredit {
                template_id: r.template_id,
                credits: r.credits,
                long_term: r.long_term,
            })
            .collect())
    }
}
