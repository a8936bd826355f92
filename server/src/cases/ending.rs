//! How a case ends: completion with its outcome documents (办结), delivery in person or by EMS,
//! the archive's completeness check, closing, and termination for one of the entrustment's
//! reasons (附件6 (2)–(7)) with what each reason must record. Completion and termination emit
//! `case.completed` / `case.terminated`, which the satisfaction work uses to invite a rating.
use chrono::{DateTime, Utc};
use entity::{case_materials, cases, entrustments};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, sea_query::Expr};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use uuid::Uuid;

use crate::{
    auth::Viewer,
    cases::{
        model::{CaseAction, CaseKind, MaterialStatus, TerminationReason},
        service::{Acting, Move, Step, apply, case_for, kind_of, load_case, lock_case, note},
    },
    directory::model::text,
    error::{AppError, AppResult},
    events::Tx,
    state::AppState,
};

crate::stored_enum! {
    /// What kind of document the matter produced.
    pub enum OutcomeKind {
        /// 证照: a licence or certificate.
        Certificate = "certificate",
        /// 批准文件: an approval.
        Approval = "approval",
        /// Anything else the department issued.
        Other = "other",
    }
}

/// An outcome document: its kind, name and number.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct OutcomeDocument {
    pub kind: String,
    pub name: String,
    pub number: Option<String>,
}

/// A credit check (reason 3, 失信企业): recorded, never automated.
pub struct CreditCheck {
    pub source: String,
    pub checked_at: DateTime<Utc>,
    pub result: String,
    pub evidence: Option<String>,
}

/// A conversation with the applicant (reason 7).
pub struct Conversation {
    pub held_at: DateTime<Utc>,
    pub summary: String,
}

/// Terminates a proxy case: the reason, a note, and what the reason needs recorded.
pub async fn terminate(
    state: &AppState,
    viewer: &Viewer,
    id: Uuid,
    reason: TerminationReason,
    raw_note: &str,
    credit_check: Option<CreditCheck>,
    conversation: Option<Conversation>,
) -> AppResult<cases::Model> {
    let note = note(raw_note, "note")?;
    let now = state.clock.now();
    let mut details = json!({});
    match reason {
        TerminationReason::MatterCompleted => {
            return Err(AppError::bad_input(
                "reason",
                "completion ends an entrustment by itself; complete the case instead",
            ));
        }
        TerminationReason::DishonestEnterprise => {
            let check = credit_check.ok_or_else(|| {
                AppError::bad_input(
                    "creditCheck",
                    "reason DISHONEST_ENTERPRISE needs the credit check recorded",
                )
            })?;
            if check.checked_at > now {
                return Err(AppError::bad_input(
                    "creditCheck.checkedAt",
                    "cannot be in the future",
                ));
            }
            details["creditCheck"] = json!({
                "source": text(&check.source, "creditCheck.source", 100)?,
                "checkedAt": check.checked_at,
                "result": text(&check.result, "creditCheck.result", 200)?,
                "evidence": check.evidence.as_deref().map(|e| text(e, "creditCheck.evidence", 200)).transpose()?,
            });
        }
        TerminationReason::LongStandstill => {
            let talk = conversation.ok_or_else(|| {
                AppError::bad_input(
                    "conversation",
                    "reason LONG_STANDSTILL needs the conversation with the applicant recorded",
                )
            })?;
            if talk.held_at > now {
                return Err(AppError::bad_input(
                    "conversation.heldAt",
                    "cannot be in the future",
                ));
            }
            details["conversation"] = json!({
                "heldAt": talk.held_at,
                "summary": text(&talk.summary, "conversation.summary", 500)?,
            });
        }
        TerminationReason::FalseMaterials => details["filingReturned"] = json!(true),
        _ => {}
    }
    let (case, acting) = case_for(state, viewer, id).await?;
    let mut tx = Tx::begin(state).await?;
    terminate_in(&mut tx, viewer, &case, &acting, reason, note, details, now).await?;
    tx.commit().await?;
    load_case(&state.db, id).await
}

/// Inside the caller's transaction: the termination move, with the materials to go back
/// listed on the step.
#[allow(clippy::too_many_arguments)]
pub async fn terminate_in(
    tx: &mut Tx<'_>,
    viewer: &Viewer,
    case: &cases::Model,
    acting: &Acting,
    reason: TerminationReason,
    note: String,
    mut details: Value,
    now: DateTime<Utc>,
) -> AppResult<()> {
    // The case row first, then what it holds (a material received meanwhile is listed).
    lock_case(&**tx, case, now).await?;
    let to_return = to_give_back(&**tx, case.id).await?;
    details["reason"] = json!(reason.as_str());
    details["toReturn"] = json!(to_return);
    let mv = Move::new(CaseAction::Terminate(reason), "terminated")
        .set(
            cases::Column::TerminationReason,
            Expr::value(Some(reason.as_str())),
        )
        .step(Step {
            public_note: Some(note),
            details,
            ..Step::default()
        });
    apply(tx, viewer, case, acting, mv, now).await?;
    Ok(())
}

/// The materials still held that must go back to the applicant (their names).
async fn to_give_back(
    conn: &impl sea_orm::ConnectionTrait,
    case_id: Uuid,
) -> AppResult<Vec<String>> {
    Ok(case_materials::Entity::find()
        .filter(case_materials::Column::CaseId.eq(case_id))
        .filter(case_materials::Column::Status.eq(MaterialStatus::Held.as_str()))
        .filter(case_materials::Column::MustReturn.eq(true))
        .all(conn)
        .await?
        .into_iter()
        .map(|m| m.name)
        .collect())
}

/// 办结: the matter is done, with its outcome documents (a proxy case needs at least one).
pub async fn complete(
    state: &AppState,
    viewer: &Viewer,
    id: Uuid,
    documents: Vec<(OutcomeKind, String, Option<String>)>,
    public_note: Option<&str>,
) -> AppResult<cases::Model> {
    if documents.len() > 20 {
        return Err(AppError::bad_input("outcome", "at most 20 documents"));
    }
    let documents = documents
        .into_iter()
        .enumerate()
        .map(|(n, (kind, name, number))| {
            Ok(OutcomeDocument {
                kind: kind.as_str().into(),
                name: text(&name, &format!("outcome[{n}].name"), 100)?,
                number: number
                    .as_deref()
                    .map(|x| text(x, &format!("outcome[{n}].number"), 64))
                    .transpose()?,
            })
        })
        .collect::<AppResult<Vec<_>>>()?;
    let public_note = public_note.map(|n| note(n, "note")).transpose()?;
    let (case, acting) = case_for(state, viewer, id).await?;
    if kind_of(&case)? == CaseKind::Proxy && documents.is_empty() {
        return Err(AppError::bad_input(
            "outcome",
            "a proxy case is completed with its outcome documents (certificate, approval)",
        ));
    }
    let outcome = serde_json::to_string(&documents).map_err(AppError::internal)?;
    let mv = Move::new(CaseAction::Complete, "completed")
        .set(cases::Column::Outcome, Expr::value(Some(outcome)))
        .step(Step {
            public_note: Some(public_note.unwrap_or_else(|| "已办结".into())),
            details: json!({"outcome": documents}),
            ..Step::default()
        });
    let now = state.clock.now();
    let mut tx = Tx::begin(state).await?;
    apply(&mut tx, viewer, &case, &acting, mv, now).await?;
    tx.commit().await?;
    load_case(&state.db, id).await
}

/// How the outcome reached the applicant.
pub enum Delivery {
    /// 当面领取: who received it (sealed), and that their ID was checked.
    InPerson { receiver: String, id_checked: bool },
    /// 邮政 EMS: the tracking number, when sent and when received.
    Ems {
        tracking_number: String,
        sent_at: DateTime<Utc>,
        received_at: DateTime<Utc>,
    },
}

/// Proxy: the outcome reached the applicant.
pub async fn deliver(
    state: &AppState,
    viewer: &Viewer,
    id: Uuid,
    delivery: Delivery,
) -> AppResult<cases::Model> {
    let now = state.clock.now();
    let record = match delivery {
        Delivery::InPerson {
            receiver,
            id_checked,
        } => {
            let receiver = text(&receiver, "input.receiverName", 50)?;
            if !id_checked {
                return Err(AppError::bad_input(
                    "input.idChecked",
                    "check the receiver's ID before handing over the outcome",
                ));
            }
            json!({"method": "in_person", "receiver": state.cipher.encrypt(&receiver).map_err(AppError::internal)?, "idChecked": true, "at": now})
        }
        Delivery::Ems {
            tracking_number,
            sent_at,
            received_at,
        } => {
            let tracking = text(&tracking_number, "input.trackingNumber", 32)?;
            if !tracking.chars().all(|c| c.is_ascii_alphanumeric()) {
                return Err(AppError::bad_input(
                    "input.trackingNumber",
                    "letters and digits only",
                ));
            }
            if received_at < sent_at || received_at > now {
                return Err(AppError::bad_input(
                    "input.receivedAt",
                    "must lie between the sending and now",
                ));
            }
            json!({"method": "ems", "trackingNumber": tracking, "sentAt": sent_at, "receivedAt": received_at})
        }
    };
    let (case, acting) = case_for(state, viewer, id).await?;
    let public = match record["method"].as_str() {
        Some("ems") => format!(
            "办理结果已通过邮政 EMS 送达（运单号 {}）",
            record["trackingNumber"].as_str().unwrap_or_default()
        ),
        _ => "办理结果已当面领取".to_string(),
    };
    let mut shown = record.clone();
    if let Some(map) = shown.as_object_mut() {
        map.remove("receiver");
    }
    let mv = Move::new(CaseAction::Deliver, "delivered")
        .set(
            cases::Column::Delivery,
            Expr::value(Some(record.to_string())),
        )
        .step(Step {
            public_note: Some(public),
            details: shown,
            ..Step::default()
        });
    let mut tx = Tx::begin(state).await?;
    apply(&mut tx, viewer, &case, &acting, mv, now).await?;
    tx.commit().await?;
    load_case(&state.db, id).await
}

/// What an archive still lacks (empty: complete): the entrustment signed by both sides, every
/// material returned or handed on, the outcome, the delivery.
pub fn missing(
    case: &cases::Model,
    entrustment: Option<&entrustments::Model>,
    materials: &[case_materials::Model],
) -> Vec<String> {
    let mut missing = Vec::new();
    if !entrustment
        .is_some_and(|e| e.applicant_confirmed_at.is_some() && e.agent_confirmed_at.is_some())
    {
        missing.push("ENTRUSTMENT".to_string());
    }
    if materials.is_empty() {
        missing.push("MATERIALS".to_string());
    }
    for m in materials {
        // A lost material is accounted for (recorded, flagged and deducted), not missing.
        if !matches!(m.status.as_str(), "returned" | "handed_on" | "lost") {
            missing.push(format!("MATERIAL:{}", m.name));
        }
    }
    if case.outcome.as_deref().is_none_or(|o| o == "[]") {
        missing.push("OUTCOME".to_string());
    }
    if case.delivery.is_none() {
        missing.push("DELIVERY".to_string());
    }
    missing
}

/// Proxy: archives a delivered case, or answers CASE_INCOMPLETE listing everything missing.
pub async fn archive(state: &AppState, viewer: &Viewer, id: Uuid) -> AppResult<cases::Model> {
    let (case, acting) = case_for(state, viewer, id).await?;
    let now = state.clock.now();
    let mut tx = Tx::begin(state).await?;
    // The case row first (lock order), then what it owns.
    let locked = cases::Entity::update_many()
        .col_expr(cases::Column::UpdatedAt, Expr::value(now))
        .filter(cases::Column::Id.eq(id))
        .filter(cases::Column::Status.eq(case.status.as_str()))
        .exec(&*tx)
        .await?;
    if locked.rows_affected == 0 {
        return Err(AppError::Conflict(
            "someone else changed this case first".into(),
        ));
    }
    // The state machine speaks first: archiving anything but a delivered case is refused as
    // a transition, before completeness is looked at.
    crate::cases::state::transition(
        kind_of(&case)?,
        case.status.parse()?,
        CaseAction::Archive,
        acting.role()?,
    )?;
    let entrustment = entrustments::Entity::find()
        .filter(entrustments::Column::CaseId.eq(id))
        .one(&*tx)
        .await?;
    let materials = case_materials::Entity::find()
        .filter(case_materials::Column::CaseId.eq(id))
        .all(&*tx)
        .await?;
    let missing = missing(&case, entrustment.as_ref(), &materials);
    if !missing.is_empty() {
        return Err(AppError::CaseIncomplete(missing));
    }
    let mv = Move::new(CaseAction::Archive, "archived").step(Step {
        public_note: Some("已归档".into()),
        ..Step::default()
    });
    apply(&mut tx, viewer, &case, &acting, mv, now).await?;
    tx.commit().await?;
    load_case(&state.db, id).await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn case(outcome: Option<&str>, delivery: Option<&str>) -> cases::Model {
        let now = Utc::now();
        cases::Model {
            id: Uuid::now_v7(),
            number: "x".into(),
            county_id: Uuid::now_v7(),
            year: 2026,
            kind: "proxy".into(),
            status: "delivered".into(),
            origin: "booking".into(),
            booking_id: None,
            ledger_entry_id: None,
            user_id: None,
            enterprise_name: None,
            credit_code: None,
            item_id: Uuid::now_v7(),
            origin_unit_id: Uuid::now_v7(),
            unit_id: Uuid::now_v7(),
            service_point_id: None,
            agent_id: None,
            promised_days: 5,
            accepted_on: None,
            due_on: None,
            due_provisional: false,
            due_flag: "on_track".into(),
            waiting_since: None,
            reason_code: None,
            explanation: None,
            submitted_ref: None,
            termination_reason: None,
            outcome: outcome.map(String::from),
            delivery: delivery.map(String::from),
            created_at: now,
            updated_at: now,
            closed_at: None,
            latest_steps: None,
            latest_public_steps: None,
        }
    }

    fn material(name: &str, status: &str) -> case_materials::Model {
        let now = Utc::now();
        case_materials::Model {
            id: Uuid::now_v7(),
            case_id: Uuid::now_v7(),
            name: name.into(),
            original: true,
            copies: 1,
            status: status.into(),
            location: None,
            must_return: true,
            holder_staff_id: None,
            held_since: now,
            received_at: now,
            received_by: Uuid::now_v7(),
            handed_at: None,
            handed_by: None,
            returned_at: None,
            returned_by: None,
        }
    }

    fn signed() -> entrustments::Model {
        let now = Utc::now();
        entrustments::Model {
            id: Uuid::now_v7(),
            case_id: Uuid::now_v7(),
            html: String::new(),
            content_hash: String::new(),
            valid_until: now.date_naive(),
            created_at: now,
            applicant_confirmed_at: Some(now),
            agent_confirmed_at: Some(now),
            agent_id: None,
            revoked_at: None,
        }
    }

    #[test]
    fn the_archive_lists_everything_missing() {
        let half_signed = entrustments::Model {
            agent_confirmed_at: None,
            ..signed()
        };
        type Row = (
            cases::Model,
            Option<entrustments::Model>,
            Vec<case_materials::Model>,
            Vec<&'static str>,
        );
        let table: Vec<Row> = vec![
            (
                case(Some("[{}]"), Some("{}")),
                Some(signed()),
                vec![
                    material("营业执照", "returned"),
                    material("申请表", "handed_on"),
                ],
                vec![],
            ),
            (
                case(None, None),
                None,
                vec![],
                vec!["ENTRUSTMENT", "MATERIALS", "OUTCOME", "DELIVERY"],
            ),
            (
                case(Some("[]"), Some("{}")),
                Some(half_signed),
                vec![material("身份证复印件", "held"), material("房产证", "lost")],
                vec!["ENTRUSTMENT", "MATERIAL:身份证复印件", "OUTCOME"],
            ),
        ];
        for (case, entrustment, materials, expected) in table {
            assert_eq!(missing(&case, entrustment.as_ref(), &materials), expected);
        }
    }
}
