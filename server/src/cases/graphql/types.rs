//! The cases room's GraphQL types: the case, its trail, entrustment, materials and transfers,
//! and the inputs that carry them. What the applicant may not see (internal notes, step
//! details, who acted) is answered null for them.
use async_graphql::{Context, Enum, ID, InputObject, Object, SimpleObject};
use chrono::{DateTime, NaiveDate, Utc};
use entity::{case_materials, case_steps, case_transfers, entrustments, material_custody};

use crate::{
    cases::{
        ending::{OutcomeDocument, OutcomeKind},
        materials,
        model::{
            CaseKind, CaseOrigin, CaseStatus, DueFlag, MaterialStatus, TerminationReason,
            TransferDirection, TransferStatus,
        },
        reads::{self, CaseView},
        transfers,
    },
    graphql::{
        context::{ContextExt, GqlResult},
        loaders::LatestSteps,
    },
};

/// A case (办件): one matter handled for an applicant.
pub struct Case(pub CaseView);

fn parsed<T: std::str::FromStr<Err = crate::error::AppError>>(text: &str) -> GqlResult<T> {
    Ok(text.parse::<T>()?)
}

/// A case (办件): one matter handled for an applicant, assisted (帮办) or by proxy (代办).
#[Object]
impl Case {
    /// Stable id (UUID).
    async fn id(&self) -> ID {
        ID(self.0.case.id.to_string())
    }
    /// The human number, per county and year (`140521-2026-000123`), never reused or skipped.
    async fn number(&self) -> &str {
        &self.0.case.number
    }
    /// 帮办 or 代办.
    async fn kind(&self) -> GqlResult<CaseKind> {
        parsed(&self.0.case.kind)
    }
    /// Where the case stands (see the README's diagrams).
    async fn status(&self) -> GqlResult<CaseStatus> {
        parsed(&self.0.case.status)
    }
    /// Where the case came from.
    async fn origin(&self) -> GqlResult<CaseOrigin> {
        parsed(&self.0.case.origin)
    }
    /// The booking it was opened from.
    async fn booking_id(&self) -> Option<ID> {
        self.0.case.booking_id.map(|id| ID(id.to_string()))
    }
    /// The catalogue item (事项).
    async fn item_id(&self) -> ID {
        ID(self.0.case.item_id.to_string())
    }
    /// The item's business name (业务办理项目名称).
    async fn item_name(&self) -> &str {
        &self.0.item_name
    }
    /// The unit (region) holding the case now.
    async fn unit_id(&self) -> ID {
        ID(self.0.case.unit_id.to_string())
    }
    /// The holding unit's name.
    async fn unit_name(&self) -> &str {
        &self.0.unit_name
    }
    /// The agent handling it (their working name only).
    async fn agent_name(&self) -> Option<&str> {
        self.0.agent_name.as_deref()
    }
    /// Staff only: the agent's staff id.
    async fn agent_id(&self) -> Option<ID> {
        self.0
            .case
            .agent_id
            .filter(|_| self.0.staff_reader)
            .map(|id| ID(id.to_string()))
    }
    /// The enterprise applying, when an enterprise applies.
    async fn enterprise_name(&self) -> Option<&str> {
        self.0.case.enterprise_name.as_deref()
    }
    /// The item's promised working days (承诺时限), counted from acceptance.
    async fn promised_working_days(&self) -> i32 {
        self.0.case.promised_days
    }
    /// The China date of acceptance (受理).
    async fn accepted_on(&self) -> Option<NaiveDate> {
        self.0.case.accepted_on
    }
    /// The last working day to finish by; null before acceptance and while the clock is
    /// stopped.
    async fn due_on(&self) -> Option<NaiveDate> {
        self.0.case.due_on
    }
    /// The deadline relied on a year whose working calendar is not published yet: it may move.
    async fn due_provisional(&self) -> bool {
        self.0.case.due_provisional
    }
    /// How close the case is to its deadline, as the deadline job last found it.
    async fn due_flag(&self) -> GqlResult<DueFlag> {
        parsed(&self.0.case.due_flag)
    }
    /// Since when the clock is stopped, waiting for the applicant (补正材料); null when running.
    async fn waiting_since(&self) -> Option<NaiveDate> {
        self.0.case.waiting_since
    }
    /// A refusal's reason code.
    async fn reason_code(&self) -> Option<&str> {
        self.0.case.reason_code.as_deref()
    }
    /// A refusal's explanation to the applicant (seed §六(一)3).
    async fn explanation(&self) -> Option<&str> {
        self.0.case.explanation.as_deref()
    }
    /// Help: the approving department's reference number of the filing.
    async fn submitted_reference(&self) -> Option<&str> {
        self.0.case.submitted_ref.as_deref()
    }
    /// Why a proxy case ended early.
    async fn termination_reason(&self) -> GqlResult<Option<TerminationReason>> {
        Ok(self
            .0
            .case
            .termination_reason
            .as_deref()
            .map(str::parse)
            .transpose()?)
    }
    /// The outcome documents recorded at completion.
    async fn outcome(&self) -> Vec<OutcomeDocumentType> {
        self.0
            .case
            .outcome
            .as_deref()
            .and_then(|o| serde_json::from_str::<Vec<OutcomeDocument>>(o).ok())
            .unwrap_or_default()
            .into_iter()
            .map(|d| OutcomeDocumentType {
                kind: d.kind.parse().unwrap_or(OutcomeKind::Other),
                name: d.name,
                number: d.number,
            })
            .collect()
    }
    /// How the outcome reached the applicant: `in_person` or `ems`.
    async fn delivery_method(&self) -> Option<String> {
        self.0
            .case
            .delivery
            .as_deref()
            .and_then(|d| serde_json::from_str::<serde_json::Value>(d).ok())
            .and_then(|d| d["method"].as_str().map(str::to_uppercase))
    }
    /// When it was recorded.
    async fn created_at(&self) -> DateTime<Utc> {
        self.0.case.created_at
    }
    /// When it last changed.
    async fn updated_at(&self) -> DateTime<Utc> {
        self.0.case.updated_at
    }
    /// When it was closed, refused or terminated.
    async fn closed_at(&self) -> Option<DateTime<Utc>> {
        self.0.case.closed_at
    }
    /// The trail, oldest first: for the applicant their public timeline; for staff every step.
    async fn trail(&self, ctx: &Context<'_>) -> GqlResult<Vec<CaseStep>> {
        let (steps, staff) = reads::trail(ctx.state(), ctx.viewer(), self.0.case.id).await?;
        Ok(steps.into_iter().map(|s| CaseStep(s, staff)).collect())
    }
    /// The latest steps, newest first (at most 3): for the applicant the latest of their
    /// public timeline, for staff any step. A list reads them for its whole page at once; use
    /// `trail` for the full story.
    async fn latest_steps(&self, ctx: &Context<'_>) -> GqlResult<Vec<CaseStep>> {
        let staff = self.0.staff_reader;
        // Kept on the case's row since its last step; a case not written since then reads
        // them in a batch.
        if let Some(steps) = crate::cases::latest::kept(&self.0.case, !staff)
            .map_err(crate::error::AppError::from)?
        {
            return Ok(steps.into_iter().map(|s| CaseStep(s, staff)).collect());
        }
        let steps = ctx
            .loaders()?
            .load_one(LatestSteps {
                case_id: self.0.case.id,
                public_only: !staff,
            })
            .await
            .map_err(crate::error::AppError::from)?
            .unwrap_or_default();
        Ok(steps.into_iter().map(|s| CaseStep(s, staff)).collect())
    }
    /// Proxy: the entrustment, once prepared.
    async fn entrustment(&self, ctx: &Context<'_>) -> GqlResult<Option<Entrustment>> {
        Ok(
            crate::cases::entrustment::of_case(ctx.state(), ctx.viewer(), self.0.case.id)
                .await?
                .map(Entrustment),
        )
    }
    /// Proxy: the materials in custody (申报材料移交清单), oldest first.
    async fn materials(&self, ctx: &Context<'_>) -> GqlResult<Vec<Material>> {
        let idle = ctx.state().settings.cases.material_idle_days;
        let now = ctx.state().clock.now();
        let status = parsed::<CaseStatus>(&self.0.case.status)?;
        let ended_at = materials::ended_at(&ctx.state().db, &self.0.case, status).await?;
        Ok(
            materials::of_case(ctx.state(), ctx.viewer(), self.0.case.id)
                .await?
                .into_iter()
                .map(|m| Material {
                    flag: materials::flag(&m, status, ended_at, now, idle),
                    row: m,
                    staff: self.0.staff_reader,
                })
                .collect(),
        )
    }
    /// The plan of a complex matter (申报计划), in order; empty when there is none.
    async fn plan(
        &self,
        ctx: &Context<'_>,
    ) -> GqlResult<Vec<crate::cases::graphql::plans::Milestone>> {
        let rows = crate::cases::plans::of_case(&ctx.state().db, self.0.case.id).await?;
        Ok(crate::cases::graphql::plans::milestones(ctx, rows))
    }
    /// Staff: which unit held the case, from when to when, oldest first.
    async fn holdings(&self, ctx: &Context<'_>) -> GqlResult<Vec<Holding>> {
        if !self.0.staff_reader {
            return Ok(Vec::new());
        }
        use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder};
        Ok(entity::case_holdings::Entity::find()
            .filter(entity::case_holdings::Column::CaseId.eq(self.0.case.id))
            .order_by_asc(entity::case_holdings::Column::FromAt)
            .all(&ctx.state().db)
            .await
            .map_err(crate::error::AppError::from)?
            .into_iter()
            .map(|h| Holding {
                unit_id: ID(h.unit_id.to_string()),
                from: h.from_at,
                until: h.until_at,
            })
            .collect())
    }
    /// Staff: the transfers and escalations, oldest first.
    async fn transfers(&self, ctx: &Context<'_>) -> GqlResult<Vec<CaseTransfer>> {
        if !self.0.staff_reader {
            return Ok(Vec::new());
        }
        Ok(transfers::of_case(&ctx.state().db, self.0.case.id)
            .await?
            .into_iter()
            .map(CaseTransfer)
            .collect())
    }
}

/// A unit's holding of a case.
#[derive(SimpleObject)]
pub struct Holding {
    /// The unit (region) that held the case.
    pub unit_id: ID,
    /// Held from.
    pub from: DateTime<Utc>,
    /// Held until (null: holds it now).
    pub until: Option<DateTime<Utc>>,
}

/// An outcome document (证照, 批准文件).
#[derive(SimpleObject)]
pub struct OutcomeDocumentType {
    /// 帮办 or 代办.
    pub kind: OutcomeKind,
    /// Its name.
    pub name: String,
    /// The document's number.
    pub number: Option<String>,
}

/// An outcome document, as recorded at completion.
#[derive(InputObject)]
pub struct OutcomeInput {
    /// 帮办 or 代办.
    pub kind: OutcomeKind,
    /// 1–100 characters.
    pub name: String,
    /// The document's number, 1–64 characters.
    pub number: Option<String>,
}

/// One step of a case's trail.
pub struct CaseStep(pub case_steps::Model, pub bool);

/// One step of a case's trail.
#[Object]
impl CaseStep {
    /// When it happened.
    async fn at(&self) -> DateTime<Utc> {
        self.0.at
    }
    /// What happened (`accepted`, `material_received`, `transfer_requested` …): the event kind
    /// without its `case.` prefix.
    async fn action(&self) -> &str {
        &self.0.action
    }
    /// The status before, for a transition.
    async fn from_status(&self) -> GqlResult<Option<CaseStatus>> {
        Ok(self.0.from_status.as_deref().map(str::parse).transpose()?)
    }
    /// The status after, for a transition.
    async fn to_status(&self) -> GqlResult<Option<CaseStatus>> {
        Ok(self.0.to_status.as_deref().map(str::parse).transpose()?)
    }
    /// What the applicant is told.
    async fn public_note(&self) -> Option<&str> {
        self.0.public_note.as_deref()
    }
    /// Staff only: `staff`, `resident` or `system`.
    async fn actor_kind(&self) -> Option<&str> {
        self.1.then_some(self.0.actor_kind.as_str())
    }
    /// Staff only.
    async fn internal_note(&self) -> Option<&str> {
        self.0.internal_note.as_deref().filter(|_| self.1)
    }
    /// Staff only: what the step recorded (JSON).
    async fn details(&self) -> Option<&str> {
        self.1.then_some(self.0.details.as_str())
    }
}

/// A proxy case's entrustment (代办服务委托书).
pub struct Entrustment(pub entrustments::Model);

/// A proxy case's entrustment (代办服务委托书). Open its text with `entrustmentLink`, then
/// confirm with the `contentHash` shown here.
#[Object]
impl Entrustment {
    /// SHA-256 (hex) of the text; confirming binds to it.
    async fn content_hash(&self) -> &str {
        &self.0.content_hash
    }
    /// The last day it is valid.
    async fn valid_until(&self) -> NaiveDate {
        self.0.valid_until
    }
    /// When it was recorded.
    async fn created_at(&self) -> DateTime<Utc> {
        self.0.created_at
    }
    /// When the applicant confirmed it.
    async fn applicant_confirmed_at(&self) -> Option<DateTime<Utc>> {
        self.0.applicant_confirmed_at
    }
    /// When the agent confirmed it.
    async fn agent_confirmed_at(&self) -> Option<DateTime<Utc>> {
        self.0.agent_confirmed_at
    }
    /// When the applicant revoked it.
    async fn revoked_at(&self) -> Option<DateTime<Utc>> {
        self.0.revoked_at
    }
}

/// A short-lived link to the entrustment's printable text.
#[derive(SimpleObject)]
pub struct EntrustmentLink {
    /// A path on this server (`/entrustments/…`) for the mini-program's web-view.
    pub path: String,
    /// The link stops working after this instant.
    pub expires_at: DateTime<Utc>,
}

/// A material of a proxy case.
pub struct Material {
    pub row: case_materials::Model,
    pub flag: Option<&'static str>,
    pub staff: bool,
}

/// A material of a proxy case (申报材料移交清单).
#[Object]
impl Material {
    /// Stable id (UUID).
    async fn id(&self) -> ID {
        ID(self.row.id.to_string())
    }
    /// Its name.
    async fn name(&self) -> &str {
        &self.row.name
    }
    /// Original (原件) or a copy.
    async fn original(&self) -> bool {
        self.row.original
    }
    /// How many.
    async fn copies(&self) -> i32 {
        self.row.copies
    }
    /// Where it stands.
    async fn status(&self) -> GqlResult<MaterialStatus> {
        parsed(&self.row.status)
    }
    /// Goes back to the applicant when the case ends.
    async fn must_return(&self) -> bool {
        self.row.must_return
    }
    /// Staff only: where it is kept.
    async fn location(&self) -> Option<&str> {
        self.row.location.as_deref().filter(|_| self.staff)
    }
    /// `LOST`, or `NOT_HANDED_ON` (still held long after the case ended); null when in order.
    async fn flag(&self) -> Option<&str> {
        self.flag
    }
    /// When it was received.
    async fn received_at(&self) -> DateTime<Utc> {
        self.row.received_at
    }
    /// When it was handed to the approving window.
    async fn handed_at(&self) -> Option<DateTime<Utc>> {
        self.row.handed_at
    }
    /// When it went back to the applicant.
    async fn returned_at(&self) -> Option<DateTime<Utc>> {
        self.row.returned_at
    }
    /// Staff only: every holding, oldest first.
    async fn custody(&self, ctx: &Context<'_>) -> GqlResult<Vec<Custody>> {
        if !self.staff {
            return Ok(Vec::new());
        }
        Ok(materials::custody_of(&ctx.state().db, self.row.id)
            .await?
            .into_iter()
            .map(Custody)
            .collect())
    }
}

/// One holding of a material.
pub struct Custody(pub material_custody::Model);

/// One holding of a material: who held it, from when to when.
#[Object]
impl Custody {
    /// `STAFF`, `WINDOW`, `APPLICANT` or `LOST`.
    async fn holder(&self) -> String {
        self.0.holder.to_uppercase()
    }
    /// The agent holding it, when an agent holds it.
    async fn holder_staff_id(&self) -> Option<ID> {
        self.0.holder_staff_id.map(|id| ID(id.to_string()))
    }
    /// A note (the window's name, what is known of a loss).
    async fn note(&self) -> Option<&str> {
        self.0.note.as_deref()
    }
    /// Held from.
    async fn from(&self) -> DateTime<Utc> {
        self.0.from_at
    }
    /// Held until (null: still held).
    async fn until(&self) -> Option<DateTime<Utc>> {
        self.0.until_at
    }
}

/// A transfer down (转办) or escalation up (上报).
pub struct CaseTransfer(pub case_transfers::Model);

/// A transfer down (转办) or escalation up (上报) and its answer.
#[Object]
impl CaseTransfer {
    /// Stable id (UUID).
    async fn id(&self) -> ID {
        ID(self.0.id.to_string())
    }
    /// The case.
    async fn case_id(&self) -> ID {
        ID(self.0.case_id.to_string())
    }
    /// Down (转办) or up (上报).
    async fn direction(&self) -> GqlResult<TransferDirection> {
        parsed(&self.0.direction)
    }
    /// The sending unit.
    async fn from_unit_id(&self) -> ID {
        ID(self.0.from_unit.to_string())
    }
    /// The receiving unit.
    async fn to_unit_id(&self) -> ID {
        ID(self.0.to_unit.to_string())
    }
    /// Where it stands.
    async fn status(&self) -> GqlResult<TransferStatus> {
        parsed(&self.0.status)
    }
    /// Why it was sent.
    async fn reason(&self) -> &str {
        &self.0.reason
    }
    /// When it was sent.
    async fn requested_at(&self) -> DateTime<Utc> {
        self.0.requested_at
    }
    /// The receiving unit answers by then (configured hours).
    async fn respond_by(&self) -> DateTime<Utc> {
        self.0.respond_by
    }
    /// When the deadline job found it still unanswered past `respondBy` and told both units
    /// (a late answer is an assessment deduction later); null while on time.
    async fn overdue_flagged_at(&self) -> Option<DateTime<Utc>> {
        self.0.overdue_flagged_at
    }
    /// When the receiving unit answered.
    async fn responded_at(&self) -> Option<DateTime<Utc>> {
        self.0.responded_at
    }
    /// The receiving unit's note (a refusal's reason).
    async fn response_note(&self) -> Option<&str> {
        self.0.response_note.as_deref()
    }
}

/// One page of cases, newest first.
#[derive(SimpleObject)]
pub struct CasePageType {
    /// The page's cases.
    pub cases: Vec<Case>,
    /// Pass as `after` for the next page; null at the end.
    pub next_cursor: Option<String>,
}

/// What staff narrow `cases` by.
#[derive(InputObject, Default)]
pub struct CaseFilterInput {
    /// Where it stands.
    pub status: Option<CaseStatus>,
    /// Cases held by this unit (region).
    pub unit_id: Option<ID>,
    /// Only cases of this agent (staff id).
    pub agent_id: Option<ID>,
    /// Only cases of this item.
    pub item_id: Option<ID>,
    /// true: only overdue cases; false: only cases not overdue.
    pub overdue: Option<bool>,
    /// Opened at or after this instant.
    pub from: Option<DateTime<Utc>>,
    /// Opened at or before this instant.
    pub to: Option<DateTime<Utc>>,
}

/// The principal of an entrustment (委托方).
#[derive(InputObject)]
pub struct EntrustmentInput {
    /// The principal's contact person (委托方联系人), 1–50 characters.
    pub contact_name: String,
    /// A mainland mobile number.
    pub contact_phone: String,
    /// The contact's resident ID number (checked, check digit included).
    pub id_number: String,
    /// An enterprise principal: its name (with `creditCode`).
    pub enterprise_name: Option<String>,
    /// An enterprise principal: its unified social credit code (checked).
    pub credit_code: Option<String>,
    /// The last day the entrustment is valid; after today.
    pub valid_until: NaiveDate,
}

/// A material handed over by the applicant.
#[derive(InputObject)]
pub struct MaterialInput {
    /// 1–100 characters.
    pub name: String,
    /// Original (原件) or a copy.
    pub original: bool,
    /// 1–99.
    #[graphql(default = 1)]
    pub copies: i32,
    /// Where it is kept.
    pub location: Option<String>,
    /// Goes back to the applicant when the case ends.
    pub must_return: bool,
}

/// Where a material goes.
#[derive(Enum, Clone, Copy, PartialEq, Eq)]
pub enum MaterialDestination {
    /// To another agent of the holding unit (`agentId`).
    Agent,
    /// To the approving window (`window` names it).
    Window,
    /// Back to the applicant.
    Applicant,
    /// Lost (`note` says what is known).
    Lost,
}

/// A move of a material.
#[derive(InputObject)]
pub struct MaterialMoveInput {
    /// Where it goes.
    pub to: MaterialDestination,
    /// Only cases of this agent (staff id).
    pub agent_id: Option<ID>,
    /// The approving window, for WINDOW.
    pub window: Option<String>,
    /// A note (the window's name, what is known of a loss).
    pub note: Option<String>,
}

/// How the outcome reached the applicant.
#[derive(Enum, Clone, Copy, PartialEq, Eq)]
pub enum DeliveryMethod {
    /// 当面领取.
    InPerson,
    /// 邮政 EMS 送证上门.
    Ems,
}

/// The delivery of the outcome.
#[derive(InputObject)]
pub struct DeliveryInput {
    /// In person or by EMS.
    pub method: DeliveryMethod,
    /// In person: who received it (stored encrypted).
    pub receiver_name: Option<String>,
    /// In person: their ID was checked.
    pub id_checked: Option<bool>,
    /// EMS: the tracking number.
    pub tracking_number: Option<String>,
    /// EMS: when it was sent.
    pub sent_at: Option<DateTime<Utc>>,
    /// EMS: when it was received.
    pub received_at: Option<DateTime<Utc>>,
}

/// A credit check (termination reason DISHONEST_ENTERPRISE).
#[derive(InputObject)]
pub struct CreditCheckInput {
    /// Where it was checked (信用中国, …).
    pub source: String,
    /// When it was checked.
    pub checked_at: DateTime<Utc>,
    /// What the check found.
    pub result: String,
    /// A reference to the evidence kept (a screenshot's file number, say).
    pub evidence: Option<String>,
}

/// The conversation with the applicant (termination reason LONG_STANDSTILL).
#[derive(InputObject)]
pub struct ConversationInput {
    /// When the conversation took place.
    pub held_at: DateTime<Utc>,
    /// What was said, 1–500 characters.
    pub summary: String,
}
