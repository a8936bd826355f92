//! The exchanges of an investigation, all recorded: the inspector asks the accused for a
//! statement (the accused then learns only that a complaint in this category exists, and what
//! is asked), and asks the complainant for more information (real-name in the mini-program,
//! anonymous through the receipt). Answers are one each; a complainant's passes the content
//! check first. Each is one transaction that first takes the complaint's row while it stands in a
//! state that allows the step (a conclusion that came meanwhile refuses it), with its event and the audit
//! entry last; nothing the complainant does is audited under their name, nor at its moment.
use entity::{complaint_exchanges, complaints, staff_accounts};
use sea_orm::{ActiveModelTrait, ColumnTrait, EntityTrait, QueryFilter, Set, sea_query::Expr};
use serde_json::json;
use uuid::Uuid;

use crate::{
    auth::Viewer,
    cases::service::signed_in,
    complaints::{
        access::{self, ensure_complainant, handling},
        handling::{complainant_audience, current, guarded, tell},
        model::{ComplaintExchangeKind, ComplaintTextState},
        reads::load,
        receipts,
        rules::{Step, next},
        texts,
    },
    directory::{jurisdiction::Jurisdiction, model::text},
    error::{AppError, AppResult},
    events::{EventDraft, Tx, staff_key},
    state::AppState,
};

/// The longest question or answer.
const TEXT_MAX: usize = 1000;

/// A new exchange of a complaint, not answered (a duplicate's addition has no asker).
pub(crate) fn new_exchange(
    complaint: Uuid,
    kind: ComplaintExchangeKind,
    addressed_to: Option<Uuid>,
    question: String,
    asked_by: Option<Uuid>,
    now: chrono::DateTime<chrono::Utc>,
) -> complaint_exchanges::ActiveModel {
    complaint_exchanges::ActiveModel {
        id: Set(Uuid::new_v4()),
        complaint_id: Set(complaint),
        kind: Set(kind.as_str().into()),
        addressed_to: Set(addressed_to),
        question: Set(question),
        asked_by: Set(asked_by),
        asked_at: Set(now),
        answer: Set(None),
        answer_state: Set("none".into()),
        answered_at: Set(None),
    }
}

/// What an inspector asks, and of whom.
struct Asking {
    step: Step,
    kind: ComplaintExchangeKind,
    addressed_to: Option<Uuid>,
    question: String,
    asker: Uuid,
}

/// Inside `tx`: the request, written once the complaint's row is taken (the lock order) while
/// it is still the asker's and in a state that allows the step — a conclusion or reassignment
/// that came meanwhile refuses it (CONFLICT) instead of asking after it.
async fn ask(
    tx: &Tx<'_>,
    complaint: &complaints::Model,
    asking: Asking,
    now: chrono::DateTime<chrono::Utc>,
) -> AppResult<complaint_exchanges::Model> {
    guarded(
        tx,
        complaint,
        asking.step,
        now,
        Vec::new(),
        Some(asking.asker),
    )
    .await?;
    Ok(new_exchange(
        complaint.id,
        asking.kind,
        asking.addressed_to,
        asking.question,
        Some(asking.asker),
        now,
    )
    .insert(&**tx)
    .await?)
}

/// The audit entry of a request, last in its transaction.
fn audit_request(
    tx: &mut Tx<'_>,
    viewer: &Viewer,
    complaint: &complaints::Model,
    action: &str,
    request: &complaint_exchanges::Model,
    now: chrono::DateTime<chrono::Utc>,
) {
    tx.audit(crate::audit::Pending::action(
        now,
        viewer,
        Some(complaint.county_id),
        action,
        "complaint",
        complaint.id,
        json!({"request": request.id}),
    ));
}

/// `requestComplaintStatement`: asks the accused (or, for a complaint about a unit, `staff`
/// of that unit) for a statement.
pub async fn request_statement(
    state: &AppState,
    viewer: &Viewer,
    id: Uuid,
    raw_question: &str,
    staff: Option<Uuid>,
) -> AppResult<complaints::Model> {
    signed_in(viewer)?;
    let question = text(raw_question, "question", TEXT_MAX)?;
    let complaint = load(&state.db, id).await?;
    let reader = handling(&state.db, viewer, &complaint).await?;
    next(complaint.status.parse()?, Step::RequestStatement)
        .map_err(|why| AppError::InvalidTransition(why.into()))?;
    let asked = match (complaint.accused_staff_id, staff) {
        (Some(accused), None) => accused,
        (Some(accused), Some(named)) if named == accused => accused,
        (Some(_), Some(_)) => {
            return Err(AppError::bad_input(
                "staffId",
                "a complaint about a person asks that person",
            ));
        }
        (None, None) => {
            return Err(AppError::bad_input(
                "staffId",
                "name who in the unit is to give the statement",
            ));
        }
        (None, Some(named)) => {
            staff_accounts::Entity::find_by_id(named)
                .one(&state.db)
                .await?
                .filter(|s| s.active && s.unit_id == Some(complaint.accused_unit_id))
                .ok_or_else(|| {
                    AppError::bad_input(
                        "staffId",
                        "not an active member of the unit complained about",
                    )
                })?
                .id
        }
    };
    let now = state.clock.now();
    let mut tx = Tx::begin(state).await?;
    let asking = Asking {
        step: Step::RequestStatement,
        kind: ComplaintExchangeKind::StatementRequest,
        addressed_to: Some(asked),
        question,
        asker: reader.who.staff_id,
    };
    let request = ask(&tx, &complaint, asking, now).await?;
    // Its own subject: the accused follows the request, never the complaint.
    tx.emit(EventDraft {
        kind: "complaint.statement_requested",
        topic: "complaints",
        subject_kind: "complaint_statement",
        subject_id: request.id.to_string(),
        audience: vec![staff_key(asked)],
        payload: json!({"requestId": request.id, "category": complaint.category.to_uppercase()}),
    });
    audit_request(
        &mut tx,
        viewer,
        &complaint,
        "complaint.statement_requested",
        &request,
        now,
    );
    tx.commit().await?;
    load(&state.db, id).await
}

/// `giveComplaintStatement`: the person asked answers, once, while the complaint is open.
pub async fn give_statement(
    state: &AppState,
    viewer: &Viewer,
    request_id: Uuid,
    raw_statement: &str,
) -> AppResult<(complaint_exchanges::Model, String)> {
    signed_in(viewer)?;
    let statement = text(raw_statement, "statement", TEXT_MAX * 2)?;
    let who = Jurisdiction::of(&state.db, viewer).await?;
    let request = complaint_exchanges::Entity::find_by_id(request_id)
        .one(&state.db)
        .await?
        .filter(|r| {
            r.addressed_to == Some(who.staff_id)
                && r.kind == ComplaintExchangeKind::StatementRequest.as_str()
        })
        .ok_or(AppError::NotFound("request"))?;
    let complaint = load(&state.db, request.complaint_id).await?;
    answer_into(
        state,
        &complaint,
        &request,
        statement,
        ComplaintTextState::Passed,
        Some(viewer),
    )
    .await?;
    let answered = complaint_exchanges::Entity::find_by_id(request_id)
        .one(&state.db)
        .await?
        .ok_or(AppError::NotFound("request"))?;
    Ok((answered, complaint.category))
}

/// Writes an answer to `request`, guarded (one answer; CONFLICT when it came meanwhile); tells
/// the inspector. `by`: the staff member answering (None: the complainant, not named).
async fn answer_into(
    state: &AppState,
    complaint: &complaints::Model,
    request: &complaint_exchanges::Model,
    answer: String,
    answer_state: ComplaintTextState,
    by: Option<&Viewer>,
) -> AppResult<()> {
    next(complaint.status.parse()?, Step::Answer)
        .map_err(|why| AppError::InvalidTransition(why.into()))?;
    if request.answered_at.is_some() {
        return Err(AppError::InvalidTransition(
            "this request has been answered".into(),
        ));
    }
    let now = state.clock.now();
    let mut tx = Tx::begin(state).await?;
    // The complaint's row first (the lock order: complaint, then its exchange): an answer is
    // never taken after a conclusion that came meanwhile (CONFLICT).
    guarded(&tx, complaint, Step::Answer, now, Vec::new(), None).await?;
    let written = complaint_exchanges::Entity::update_many()
        .col_expr(
            complaint_exchanges::Column::Answer,
            Expr::value(Some(answer)),
        )
        .col_expr(
            complaint_exchanges::Column::AnswerState,
            Expr::value(answer_state.as_str()),
        )
        .col_expr(
            complaint_exchanges::Column::AnsweredAt,
            Expr::value(Some(now)),
        )
        .filter(complaint_exchanges::Column::Id.eq(request.id))
        .filter(complaint_exchanges::Column::AnsweredAt.is_null())
        .exec(&*tx)
        .await?;
    if written.rows_affected == 0 {
        return Err(AppError::Conflict(
            "this request was answered meanwhile".into(),
        ));
    }
    let handlers = access::handlers(&*tx, complaint).await?;
    tell(
        &mut tx,
        complaint,
        "complaint.request_answered",
        handlers,
        json!({"requestId": request.id}),
    );
    let action = "complaint.request_answered";
    match by {
        Some(viewer) => tx.audit(crate::audit::Pending::action(
            now,
            viewer,
            Some(complaint.county_id),
            action,
            "complaint",
            complaint.id,
            json!({"request": request.id}),
        )),
        // The complainant's act: its moment is not placed in the log (`audit::deferred`).
        None => tx.audit_next_day(crate::audit::Pending::system(
            now,
            Some(complaint.county_id),
            action,
            "complaint",
            complaint.id,
            json!({"request": request.id, "by": "complainant"}),
        )),
    }
    tx.commit().await?;
    Ok(())
}

/// `requestComplaintInformation`: asks the complainant for more.
pub async fn request_information(
    state: &AppState,
    viewer: &Viewer,
    id: Uuid,
    raw_question: &str,
) -> AppResult<complaints::Model> {
    signed_in(viewer)?;
    let question = text(raw_question, "question", TEXT_MAX)?;
    let complaint = load(&state.db, id).await?;
    let reader = handling(&state.db, viewer, &complaint).await?;
    next(complaint.status.parse()?, Step::RequestInformation)
        .map_err(|why| AppError::InvalidTransition(why.into()))?;
    let now = state.clock.now();
    let mut tx = Tx::begin(state).await?;
    let asking = Asking {
        step: Step::RequestInformation,
        kind: ComplaintExchangeKind::InformationRequest,
        addressed_to: None,
        question,
        asker: reader.who.staff_id,
    };
    let request = ask(&tx, &complaint, asking, now).await?;
    let current = current(&tx, id).await?;
    tell(
        &mut tx,
        &current,
        "complaint.information_requested",
        complainant_audience(&current),
        json!({"requestId": request.id}),
    );
    audit_request(
        &mut tx,
        viewer,
        &complaint,
        "complaint.information_requested",
        &request,
        now,
    );
    tx.commit().await?;
    load(&state.db, id).await
}

/// The information request `request_id` of `complaint` (NOT_FOUND `request`).
async fn information_request(
    state: &AppState,
    complaint: &complaints::Model,
    request_id: Uuid,
) -> AppResult<complaint_exchanges::Model> {
    complaint_exchanges::Entity::find_by_id(request_id)
        .one(&state.db)
        .await?
        .filter(|r| {
            r.complaint_id == complaint.id
                && r.kind == ComplaintExchangeKind::InformationRequest.as_str()
        })
        .ok_or(AppError::NotFound("request"))
}

/// `answerComplaintRequest`: a real-name complainant answers.
pub async fn answer(
    state: &AppState,
    viewer: &Viewer,
    request_id: Uuid,
    raw_answer: &str,
) -> AppResult<complaints::Model> {
    signed_in(viewer)?;
    let answer = text(raw_answer, "answer", TEXT_MAX)?;
    let complaint_id = complaint_exchanges::Entity::find_by_id(request_id)
        .one(&state.db)
        .await?
        .ok_or(AppError::NotFound("request"))?
        .complaint_id;
    let complaint = load(&state.db, complaint_id).await?;
    let user = ensure_complainant(viewer, &complaint).map_err(|error| match error {
        AppError::NotFound(_) => AppError::NotFound("request"),
        other => other,
    })?;
    let request = information_request(state, &complaint, request_id).await?;
    let checked = texts::check(state, Some(user), &answer, "answer", false).await?;
    answer_into(state, &complaint, &request, answer, checked, None).await?;
    load(&state.db, complaint.id).await
}

/// `answerComplaintRequestByReceipt`: an anonymous complainant answers through the receipt.
/// The text is held for the inspector: no account is asked WeChat for, signed in or not.
pub async fn answer_by_receipt(
    state: &AppState,
    client_ip: &str,
    receipt: &str,
    request_id: Uuid,
    raw_answer: &str,
) -> AppResult<complaints::Model> {
    let answer = text(raw_answer, "answer", TEXT_MAX)?;
    let complaint = receipts::open(state, client_ip, receipt).await?;
    let request = information_request(state, &complaint, request_id).await?;
    // Never checked as the signed-in account (it would tie the anonymous complaint to it):
    // held for the inspector, who reads it.
    let checked = texts::check(state, None, &answer, "answer", false).await?;
    answer_into(state, &complaint, &request, answer, checked, None).await?;
    load(&state.db, complaint.id).await
}
