//! Cases in the API: the proxy case's entrustment and materials, transfers between the levels,
//! and how a case ends (completion, delivery, archive, termination).
use async_graphql::{Context, ID, Object};

use crate::{
    cases::{
        ending::{self, Conversation, CreditCheck, Delivery},
        entrustment::{self, EntrustmentInput as Principal},
        graphql::{
            cases::view,
            types::{
                Case, CaseTransfer, ConversationInput, CreditCheckInput, DeliveryInput,
                DeliveryMethod, Entrustment, EntrustmentInput, EntrustmentLink, Material,
                MaterialDestination, MaterialInput, MaterialMoveInput, OutcomeInput,
            },
        },
        materials::{self, MaterialInput as NewMaterial, MaterialMove},
        model::{TerminationReason, TransferDirection},
        transfers,
    },
    error::AppError,
    graphql::context::{ContextExt, GqlResult, parse_id},
};

/// Part of `CaseQuery`.
#[derive(Default)]
pub struct ProxyQuery;

#[Object]
impl ProxyQuery {
    /// The applicant or staff who may read the case: a link to the entrustment's printable
    /// text, valid for ten minutes.
    async fn entrustment_link(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The case.")] case_id: ID,
    ) -> GqlResult<EntrustmentLink> {
        let id = parse_id(&case_id, "caseId")?;
        let (path, expires_at) = entrustment::signed_path(ctx.state(), ctx.viewer(), id).await?;
        Ok(EntrustmentLink { path, expires_at })
    }

    /// Staff: transfers and escalations waiting for an answer from units in their
    /// jurisdiction, oldest first.
    async fn case_transfers_waiting(&self, ctx: &Context<'_>) -> GqlResult<Vec<CaseTransfer>> {
        Ok(transfers::waiting_for(ctx.state(), ctx.viewer())
            .await?
            .into_iter()
            .map(CaseTransfer)
            .collect())
    }
}

/// Part of `CaseMutation`.
#[derive(Default)]
pub struct ProxyMutation;

#[Object]
impl ProxyMutation {
    /// The holding unit's staff: prepares the entrustment of an ACCEPTED proxy case (again,
    /// while neither side has confirmed).
    async fn prepare_entrustment(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The case.")] case_id: ID,
        #[graphql(desc = "What to record.")] input: EntrustmentInput,
    ) -> GqlResult<Entrustment> {
        let id = parse_id(&case_id, "caseId")?;
        let principal = Principal {
            contact_name: input.contact_name,
            contact_phone: input.contact_phone,
            id_number: input.id_number,
            enterprise_name: input.enterprise_name,
            credit_code: input.credit_code,
            valid_until: input.valid_until,
        };
        Ok(Entrustment(
            entrustment::prepare(ctx.state(), ctx.viewer(), id, principal).await?,
        ))
    }

    /// The applicant, or the holding unit's agent: confirms the entrustment whose text had
    /// `contentHash`. The second confirmation moves the case to ENTRUSTED.
    async fn confirm_entrustment(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The case.")] case_id: ID,
        #[graphql(desc = "The `contentHash` of the text the signer read.")] content_hash: String,
    ) -> GqlResult<Entrustment> {
        let id = parse_id(&case_id, "caseId")?;
        Ok(Entrustment(
            entrustment::confirm(ctx.state(), ctx.viewer(), id, &content_hash).await?,
        ))
    }

    /// The applicant: revokes their entrustment; the case terminates (REQUESTED_BY_APPLICANT)
    /// and their materials are listed to go back.
    async fn revoke_entrustment(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The case.")] case_id: ID,
        #[graphql(desc = "Why, 1–1000 characters.")] reason: String,
    ) -> GqlResult<Case> {
        let id = parse_id(&case_id, "caseId")?;
        view(
            ctx,
            entrustment::revoke(ctx.state(), ctx.viewer(), id, &reason).await?,
        )
        .await
    }

    /// The holding unit's staff: receives a material into custody.
    async fn receive_case_material(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The case.")] case_id: ID,
        #[graphql(desc = "What to record.")] input: MaterialInput,
    ) -> GqlResult<Material> {
        let id = parse_id(&case_id, "caseId")?;
        let row = materials::receive(
            ctx.state(),
            ctx.viewer(),
            id,
            NewMaterial {
                name: input.name,
                original: input.original,
                copies: input.copies,
                location: input.location,
                must_return: input.must_return,
            },
        )
        .await?;
        Ok(Material {
            row,
            flag: None,
            staff: true,
        })
    }

    /// Proxy: ENTRUSTED → MATERIALS_RECEIVED (at least one material received).
    async fn confirm_case_materials_received(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The case.")] case_id: ID,
    ) -> GqlResult<Case> {
        let id = parse_id(&case_id, "caseId")?;
        view(
            ctx,
            materials::confirm_received(ctx.state(), ctx.viewer(), id).await?,
        )
        .await
    }

    /// The holding unit's staff: moves a held material (to an agent, to the window, back to
    /// the applicant, or lost).
    async fn move_case_material(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The material.")] material_id: ID,
        #[graphql(desc = "What to record.")] input: MaterialMoveInput,
    ) -> GqlResult<Material> {
        let id = parse_id(&material_id, "materialId")?;
        let to = match input.to {
            MaterialDestination::Agent => MaterialMove::ToAgent(parse_id(
                input.agent_id.as_ref().ok_or_else(|| {
                    AppError::bad_input("input.agentId", "required to hand to an agent")
                })?,
                "input.agentId",
            )?),
            MaterialDestination::Window => MaterialMove::HandOn(
                input
                    .window
                    .ok_or_else(|| AppError::bad_input("input.window", "name the window"))?,
            ),
            MaterialDestination::Applicant => MaterialMove::Return,
            MaterialDestination::Lost => MaterialMove::Lost(
                input
                    .note
                    .ok_or_else(|| AppError::bad_input("input.note", "say what is known"))?,
            ),
        };
        let row = materials::move_material(ctx.state(), ctx.viewer(), id, to).await?;
        Ok(Material {
            flag: (row.status == "lost").then_some("LOST"),
            row,
            staff: true,
        })
    }

    /// The holding unit's staff: transfers the case down (转办) to a unit below.
    async fn transfer_case(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The case.")] case_id: ID,
        #[graphql(desc = "The receiving unit (region).")] to_unit_id: ID,
        #[graphql(desc = "Why, 1–1000 characters.")] reason: String,
    ) -> GqlResult<CaseTransfer> {
        let id = parse_id(&case_id, "caseId")?;
        let to = parse_id(&to_unit_id, "toUnitId")?;
        Ok(CaseTransfer(
            transfers::request(
                ctx.state(),
                ctx.viewer(),
                id,
                TransferDirection::Down,
                to,
                &reason,
            )
            .await?,
        ))
    }

    /// The holding unit's staff: escalates the case up (上报) for coordination or joint handling.
    async fn escalate_case(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The case.")] case_id: ID,
        #[graphql(desc = "The receiving unit (region).")] to_unit_id: ID,
        #[graphql(desc = "Why, 1–1000 characters.")] reason: String,
    ) -> GqlResult<CaseTransfer> {
        let id = parse_id(&case_id, "caseId")?;
        let to = parse_id(&to_unit_id, "toUnitId")?;
        Ok(CaseTransfer(
            transfers::request(
                ctx.state(),
                ctx.viewer(),
                id,
                TransferDirection::Up,
                to,
                &reason,
            )
            .await?,
        ))
    }

    /// The receiving unit: accepts (it holds the case now) or refuses with a reason.
    async fn respond_to_case_transfer(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The transfer or escalation.")] transfer_id: ID,
        #[graphql(desc = "true: take the case; false: refuse it (a `note` is required).")]
        accept: bool,
        #[graphql(desc = "Shown to the applicant on their timeline; 1–1000 characters.")]
        note: Option<String>,
    ) -> GqlResult<CaseTransfer> {
        let id = parse_id(&transfer_id, "transferId")?;
        Ok(CaseTransfer(
            transfers::respond(ctx.state(), ctx.viewer(), id, accept, note.as_deref()).await?,
        ))
    }

    /// The sending unit's staff: withdraws a transfer or escalation still waiting for an answer.
    async fn withdraw_case_transfer(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The transfer or escalation.")] transfer_id: ID,
        #[graphql(desc = "Why, 1–1000 characters.")] reason: String,
    ) -> GqlResult<CaseTransfer> {
        let id = parse_id(&transfer_id, "transferId")?;
        Ok(CaseTransfer(
            transfers::withdraw(ctx.state(), ctx.viewer(), id, &reason).await?,
        ))
    }

    /// 办结: records the outcome documents (a proxy case needs at least one).
    async fn complete_case(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The case.")] id: ID,
        #[graphql(desc = "The outcome documents (at least one for a proxy case).")] outcome: Vec<
            OutcomeInput,
        >,
        #[graphql(desc = "Shown to the applicant on their timeline; 1–1000 characters.")]
        note: Option<String>,
    ) -> GqlResult<Case> {
        let id = parse_id(&id, "id")?;
        let documents = outcome
            .into_iter()
            .map(|d| (d.kind, d.name, d.number))
            .collect();
        view(
            ctx,
            ending::complete(ctx.state(), ctx.viewer(), id, documents, note.as_deref()).await?,
        )
        .await
    }

    /// Proxy: COMPLETED → DELIVERED, in person (ID checked) or by EMS.
    async fn deliver_case(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The case.")] id: ID,
        #[graphql(desc = "What to record.")] input: DeliveryInput,
    ) -> GqlResult<Case> {
        let id = parse_id(&id, "id")?;
        let delivery = match input.method {
            DeliveryMethod::InPerson => Delivery::InPerson {
                receiver: input
                    .receiver_name
                    .ok_or_else(|| AppError::bad_input("input.receiverName", "who received it"))?,
                id_checked: input.id_checked.unwrap_or(false),
            },
            DeliveryMethod::Ems => Delivery::Ems {
                tracking_number: input.tracking_number.ok_or_else(|| {
                    AppError::bad_input("input.trackingNumber", "required for EMS")
                })?,
                sent_at: input
                    .sent_at
                    .ok_or_else(|| AppError::bad_input("input.sentAt", "required for EMS"))?,
                received_at: input
                    .received_at
                    .ok_or_else(|| AppError::bad_input("input.receivedAt", "required for EMS"))?,
            },
        };
        view(
            ctx,
            ending::deliver(ctx.state(), ctx.viewer(), id, delivery).await?,
        )
        .await
    }

    /// Proxy: DELIVERED → ARCHIVED, or CASE_INCOMPLETE listing everything missing.
    async fn archive_case(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The case.")] id: ID,
    ) -> GqlResult<Case> {
        let id = parse_id(&id, "id")?;
        view(ctx, ending::archive(ctx.state(), ctx.viewer(), id).await?).await
    }

    /// Proxy: ends the case early for one of the entrustment's reasons, with a note; reason
    /// DISHONEST_ENTERPRISE needs `creditCheck`, LONG_STANDSTILL needs `conversation`.
    async fn terminate_case(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The case.")] id: ID,
        #[graphql(desc = "Why, 1–1000 characters.")] reason: TerminationReason,
        #[graphql(desc = "Shown to the applicant on their timeline; 1–1000 characters.")]
        note: String,
        #[graphql(desc = "Required for DISHONEST_ENTERPRISE.")] credit_check: Option<
            CreditCheckInput,
        >,
        #[graphql(desc = "Required for LONG_STANDSTILL.")] conversation: Option<ConversationInput>,
    ) -> GqlResult<Case> {
        let id = parse_id(&id, "id")?;
        let check = credit_check.map(|c| CreditCheck {
            source: c.source,
            checked_at: c.checked_at,
            result: c.result,
            evidence: c.evidence,
        });
        let talk = conversation.map(|c| Conversation {
            held_at: c.held_at,
            summary: c.summary,
        });
        view(
            ctx,
            ending::terminate(ctx.state(), ctx.viewer(), id, reason, &note, check, talk).await?,
        )
        .await
    }
}
