//! The complaints room's GraphQL types: the staff view (`Complaint`), the complainant's
//! (`MyComplaint`), the accused's (`ComplaintStatementRequest`), and the channels.
use async_graphql::{Context, ID, InputObject, Object, SimpleObject};
use chrono::{DateTime, NaiveDate, Utc};
use entity::{complaint_exchanges, complaints};

use crate::{
    complaints::{
        access::Capacity,
        channels::Channel,
        model::{
            ComplaintAppealStatus, ComplaintCategory, ComplaintChannelKind, ComplaintContact,
            ComplaintExchangeKind, ComplaintFinding, ComplaintSource, ComplaintStatus,
            ComplaintTextState,
        },
        reads,
    },
    graphql::context::{ContextExt, GqlResult},
};

fn finding_of(stored: &Option<String>) -> GqlResult<Option<ComplaintFinding>> {
    Ok(stored.as_deref().map(str::parse).transpose()?)
}

fn appeal_of(c: &complaints::Model) -> GqlResult<Option<ComplaintAppeal>> {
    let (Some(reason), Some(filed_at), Some(status)) =
        (&c.appeal_reason, c.appealed_at, &c.appeal_status)
    else {
        return Ok(None);
    };
    Ok(Some(ComplaintAppeal {
        reason: reason.clone(),
        filed_at,
        status: status.parse()?,
        decided_at: c.appeal_decided_at,
        note: c.appeal_note.clone(),
    }))
}

/// A complainant's appeal of the finding (复查) and its decision.
#[derive(SimpleObject)]
pub struct ComplaintAppeal {
    /// Why the complainant appeals.
    pub reason: String,
    /// When.
    pub filed_at: DateTime<Utc>,
    /// Where it stands.
    pub status: ComplaintAppealStatus,
    /// When it was decided.
    pub decided_at: Option<DateTime<Utc>>,
    /// The reviewer's reasons.
    pub note: Option<String>,
}

/// One exchange of the investigation, as its inspector reads it.
pub struct ComplaintExchange(pub complaint_exchanges::Model);

/// One exchange of the investigation, as its inspector reads it.
#[Object]
impl ComplaintExchange {
    /// Stable id (UUID).
    async fn id(&self) -> ID {
        ID(self.0.id.to_string())
    }
    /// A statement request, an information request, or a merged duplicate's text.
    async fn kind(&self) -> GqlResult<ComplaintExchangeKind> {
        Ok(self.0.kind.parse()?)
    }
    /// The question asked (an addition's text).
    async fn question(&self) -> &str {
        &self.0.question
    }
    /// When it was asked (added).
    async fn asked_at(&self) -> DateTime<Utc> {
        self.0.asked_at
    }
    /// The answer, once given.
    async fn answer(&self) -> Option<&str> {
        self.0.answer.as_deref()
    }
    /// When it was answered.
    async fn answered_at(&self) -> Option<DateTime<Utc>> {
        self.0.answered_at
    }
}

/// Who complained, as the assigned inspector sees them.
#[derive(SimpleObject)]
pub struct Complainant {
    /// The resident's id.
    pub user_id: ID,
    /// Their bound phone, masked.
    pub phone: Option<String>,
}

/// Who complained, revealed to a county administrator (audited).
#[derive(SimpleObject)]
pub struct RevealedComplainant {
    /// The resident's id.
    pub user_id: ID,
    /// Their bound phone, in full.
    pub phone: Option<String>,
}

/// A complaint as staff who may read it see it (its inspector, its appeal's reviewer, the
/// county's administrators outside the accused's chain).
pub struct Complaint(pub complaints::Model, pub Capacity);

/// A complaint as staff who may read it see it (its inspector, its appeal's reviewer, the
/// county's administrators outside the accused's chain).
#[Object]
impl Complaint {
    /// Stable id (UUID).
    async fn id(&self) -> ID {
        ID(self.0.id.to_string())
    }
    /// The seed's category.
    async fn category(&self) -> GqlResult<ComplaintCategory> {
        Ok(self.0.category.parse()?)
    }
    /// Where it stands.
    async fn status(&self) -> GqlResult<ComplaintStatus> {
        Ok(self.0.status.parse()?)
    }
    /// Filed in the mini-program, or reported by a satisfaction callback.
    async fn source(&self) -> GqlResult<ComplaintSource> {
        Ok(self.0.source.parse()?)
    }
    /// What the content check made of the description.
    async fn text_state(&self) -> GqlResult<ComplaintTextState> {
        Ok(self.0.text_state.parse()?)
    }
    /// The complainant's description.
    async fn description(&self) -> &str {
        &self.0.description
    }
    /// Evidence references.
    async fn evidence(&self) -> Vec<String> {
        serde_json::from_str(&self.0.evidence).unwrap_or_default()
    }
    /// The staff member complained about.
    async fn accused_staff_id(&self) -> Option<ID> {
        self.0.accused_staff_id.map(|id| ID(id.to_string()))
    }
    /// The unit complained about.
    async fn accused_unit_id(&self) -> ID {
        ID(self.0.accused_unit_id.to_string())
    }
    /// The case it is about (real-name only): for its assigned inspector only, since the case
    /// names its applicant (administrators use `revealComplainant`, audited).
    async fn case_id(&self) -> Option<ID> {
        if self.1 != Capacity::Assigned {
            return None;
        }
        self.0.case_id.map(|id| ID(id.to_string()))
    }
    /// How the complainant wants to hear back.
    async fn contact(&self) -> GqlResult<ComplaintContact> {
        Ok(self.0.contact.parse()?)
    }
    /// Filed anonymously (followed by receipt).
    async fn anonymous(&self) -> bool {
        self.0.anonymous
    }
    /// Its inspector (None: waiting for the administrators to assign one).
    async fn assigned_inspector_id(&self) -> Option<ID> {
        self.0.assigned_inspector_id.map(|id| ID(id.to_string()))
    }
    /// When it was received.
    async fn received_at(&self) -> DateTime<Utc> {
        self.0.received_at
    }
    /// The last day to acknowledge it (China date).
    async fn acknowledge_due_on(&self) -> NaiveDate {
        self.0.acknowledge_due_on
    }
    /// The last day to conclude it (China date; moved once by an extension).
    async fn conclude_due_on(&self) -> NaiveDate {
        self.0.conclude_due_on
    }
    /// Whether its deadline was extended.
    async fn extended(&self) -> bool {
        self.0.extended_at.is_some()
    }
    /// Why it was extended.
    async fn extension_reason(&self) -> Option<&str> {
        self.0.extension_reason.as_deref()
    }
    /// Flagged for not being acknowledged in time.
    async fn acknowledge_overdue(&self) -> bool {
        self.0.acknowledge_overdue_at.is_some()
    }
    /// Flagged for not being concluded in time.
    async fn conclude_overdue(&self) -> bool {
        self.0.conclude_overdue_at.is_some()
    }
    /// The finding.
    async fn finding(&self) -> GqlResult<Option<ComplaintFinding>> {
        finding_of(&self.0.finding)
    }
    /// 严重 (with public impact).
    async fn serious(&self) -> Option<bool> {
        self.0.serious
    }
    /// What was done about it.
    async fn actions_taken(&self) -> Option<&str> {
        self.0.actions_taken.as_deref()
    }
    /// The conclusion.
    async fn conclusion(&self) -> Option<&str> {
        self.0.conclusion.as_deref()
    }
    /// The reply to the complainant.
    async fn reply(&self) -> Option<&str> {
        self.0.reply.as_deref()
    }
    /// The exchanges of its investigation, oldest first.
    async fn exchanges(&self, ctx: &Context<'_>) -> GqlResult<Vec<ComplaintExchange>> {
        Ok(reads::exchanges(&ctx.state().db, self.0.id)
            .await?
            .into_iter()
            .map(ComplaintExchange)
            .collect())
    }
    /// The complainant's appeal.
    async fn appeal(&self) -> GqlResult<Option<ComplaintAppeal>> {
        appeal_of(&self.0)
    }
    /// Who complained: for its assigned inspector only, real-name only (administrators use
    /// `revealComplainant`, audited).
    async fn complainant(&self, ctx: &Context<'_>) -> GqlResult<Option<Complainant>> {
        match (self.1, self.0.complainant_id) {
            (Capacity::Assigned, Some(user)) => Ok(Some(Complainant {
                user_id: ID(user.to_string()),
                phone: reads::masked_phone(ctx.state(), user).await?,
            })),
            _ => Ok(None),
        }
    }
}

/// An information request to the complainant, with their answer.
pub struct ComplaintRequest(pub complaint_exchanges::Model);

/// An information request to the complainant, with their answer.
#[Object]
impl ComplaintRequest {
    /// Stable id (UUID): answer it with this.
    async fn id(&self) -> ID {
        ID(self.0.id.to_string())
    }
    /// What the inspector asks.
    async fn question(&self) -> &str {
        &self.0.question
    }
    /// When.
    async fn asked_at(&self) -> DateTime<Utc> {
        self.0.asked_at
    }
    /// The answer given.
    async fn answer(&self) -> Option<&str> {
        self.0.answer.as_deref()
    }
    /// When it was given.
    async fn answered_at(&self) -> Option<DateTime<Utc>> {
        self.0.answered_at
    }
}

/// A complaint as its complainant sees it (in the mini-program, or by receipt).
pub struct MyComplaint(pub complaints::Model);

/// A complaint as its complainant sees it (in the mini-program, or by receipt).
#[Object]
impl MyComplaint {
    /// Stable id (UUID).
    async fn id(&self) -> ID {
        ID(self.0.id.to_string())
    }
    /// The category.
    async fn category(&self) -> GqlResult<ComplaintCategory> {
        Ok(self.0.category.parse()?)
    }
    /// Where it stands.
    async fn status(&self) -> GqlResult<ComplaintStatus> {
        Ok(self.0.status.parse()?)
    }
    /// What they wrote.
    async fn description(&self) -> &str {
        &self.0.description
    }
    /// When it was received.
    async fn received_at(&self) -> DateTime<Utc> {
        self.0.received_at
    }
    /// When it was acknowledged (受理).
    async fn acknowledged_at(&self) -> Option<DateTime<Utc>> {
        self.0.acknowledged_at
    }
    /// When it was concluded.
    async fn concluded_at(&self) -> Option<DateTime<Utc>> {
        self.0.concluded_at
    }
    /// When it was replied to.
    async fn replied_at(&self) -> Option<DateTime<Utc>> {
        self.0.replied_at
    }
    /// The finding, once replied.
    async fn finding(&self) -> GqlResult<Option<ComplaintFinding>> {
        if self.0.replied_at.is_none() {
            return Ok(None);
        }
        finding_of(&self.0.finding)
    }
    /// The reply.
    async fn reply(&self) -> Option<&str> {
        self.0.reply.as_deref()
    }
    /// Until when it may be appealed (once), after the reply.
    async fn appealable_until(&self, ctx: &Context<'_>) -> Option<DateTime<Utc>> {
        let days = ctx.state().settings.complaints.appeal_window_days;
        self.0
            .replied_at
            .filter(|_| self.0.appeal_status.is_none())
            .map(|at| at + chrono::Duration::days(days))
    }
    /// Their appeal.
    async fn appeal(&self) -> GqlResult<Option<ComplaintAppeal>> {
        appeal_of(&self.0)
    }
    /// What the inspector asked them, with their answers.
    async fn requests(&self, ctx: &Context<'_>) -> GqlResult<Vec<ComplaintRequest>> {
        Ok(reads::exchanges(&ctx.state().db, self.0.id)
            .await?
            .into_iter()
            .filter(|e| e.kind == ComplaintExchangeKind::InformationRequest.as_str())
            .map(ComplaintRequest)
            .collect())
    }
}

/// What filing gave.
#[derive(SimpleObject)]
pub struct FiledComplaint {
    /// The complaint (the earlier one when merged).
    pub complaint: MyComplaint,
    /// An anonymous complaint's receipt: shown this once, never again.
    pub receipt: Option<String>,
    /// Merged into the filer's earlier complaint of the same day about the same target.
    pub merged: bool,
}

/// What an inspector asked the signed-in staff member, as the accused: the category of the
/// complaint and the question — nothing of who complained or what they wrote.
pub struct ComplaintStatementRequest(pub complaint_exchanges::Model, pub String);

/// What an inspector asked the signed-in staff member, as the accused: the category of the
/// complaint and the question — nothing of who complained or what they wrote.
#[Object]
impl ComplaintStatementRequest {
    /// Stable id (UUID): answer it with this.
    async fn id(&self) -> ID {
        ID(self.0.id.to_string())
    }
    /// The complaint's category (its id is not given: the accused could follow it elsewhere).
    async fn category(&self) -> GqlResult<ComplaintCategory> {
        Ok(self.1.parse()?)
    }
    /// What is asked.
    async fn question(&self) -> &str {
        &self.0.question
    }
    /// When.
    async fn asked_at(&self) -> DateTime<Utc> {
        self.0.asked_at
    }
    /// Their statement.
    async fn statement(&self) -> Option<&str> {
        self.0.answer.as_deref()
    }
    /// When it was given.
    async fn answered_at(&self) -> Option<DateTime<Utc>> {
        self.0.answered_at
    }
}

/// A published way to complain.
#[derive(SimpleObject)]
#[graphql(name = "ComplaintChannel")]
pub struct ChannelType {
    /// Phone, mini-program, window, other.
    pub kind: ComplaintChannelKind,
    /// Its name.
    pub label: String,
    /// The number, the place, or the path in the mini-program.
    pub value: String,
    /// When it is open.
    pub hours: Option<String>,
}

impl From<Channel> for ChannelType {
    fn from(c: Channel) -> Self {
        Self {
            kind: c.kind,
            label: c.label,
            value: c.value,
            hours: c.hours,
        }
    }
}

/// One way to complain, as the county administrator sets it.
#[derive(InputObject)]
pub struct ComplaintChannelInput {
    /// Phone, mini-program, window, other.
    pub kind: ComplaintChannelKind,
    /// Its name, 1–50 characters.
    pub label: String,
    /// The number, the place or the path, 1–100 characters.
    pub value: String,
    /// When it is open, 1–50 characters.
    pub hours: Option<String>,
}

/// What a complainant files.
#[derive(InputObject)]
pub struct ComplaintInput {
    /// The staff member complained about.
    pub staff_id: Option<ID>,
    /// Or the unit (a region's id).
    pub unit_id: Option<ID>,
    /// Or one of the complainant's own cases (real-name only).
    pub case_id: Option<ID>,
    /// The seed's category.
    pub category: ComplaintCategory,
    /// What happened, 1–1000 characters.
    pub description: String,
    /// Evidence references, at most 10 of 1–200 characters.
    pub evidence: Option<Vec<String>>,
    /// How to hear back (real-name: MINI_PROGRAM, PHONE, NO_REPLY; anonymous: RECEIPT, NO_REPLY).
    pub contact: ComplaintContact,
    /// File without a name: followed by the receipt only.
    pub anonymous: bool,
}

/// One page of complaints, newest first.
#[derive(SimpleObject)]
pub struct ComplaintPage {
    /// The page's complaints.
    pub complaints: Vec<Complaint>,
    /// Pass as `after` for the next page; null at the end.
    pub next_cursor: Option<String>,
}
