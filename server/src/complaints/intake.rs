//! Filing a complaint (`fileComplaint`): a signed-in resident, real-name or anonymous, about a
//! staff member, a unit, or one of their own cases, in one of the seed's categories. Checked in
//! this order, so a refusal writes nothing: the input, the rate limits (per resident per day,
//! per client address per hour; before any lookup, so probing which staff or cases exist is
//! limited too, and every attempt past the input counts), the target, the content check. One
//! transaction then locks the filer's row (the first lock), merges an obvious duplicate into
//! the first complaint (telling the filer) or writes the complaint with its deadlines and its
//! inspector, its event and the audit entry (last). An anonymous complaint keeps no account:
//! its id tells no time (v4), its receipt is kept as a keyed hash, and the filer's keyed hash
//! (for duplicates and limits) is dropped by the job after the duplicate window. Its audit entry
//! and events name nobody. `from_callback` files the complaint a satisfaction callback reports.
use chrono::{DateTime, Duration, Utc};
use entity::{cases, complaints, regions, staff_accounts};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, Set, sea_query::Expr,
};
use serde_json::json;
use uuid::Uuid;

use crate::{
    auth::Viewer,
    calendar,
    complaints::{
        access,
        handling::complainant_audience,
        model::{
            ComplaintCategory, ComplaintContact, ComplaintExchangeKind, ComplaintSource,
            ComplaintStatus, ComplaintTextState,
        },
        receipts, routing,
        rules::{Filed, contact_allowed, duplicate_of},
        texts,
    },
    directory::{model::text, regions::region},
    error::{AppError, AppResult},
    events::{EventDraft, Tx},
    state::AppState,
};

/// The most evidence references a complaint holds.
const EVIDENCE_MAX: usize = 10;

/// The longest description.
pub const DESCRIPTION_MAX: usize = 1000;

/// What the complainant sends.
pub struct ComplaintInput {
    pub staff_id: Option<Uuid>,
    pub unit_id: Option<Uuid>,
    pub case_id: Option<Uuid>,
    pub category: ComplaintCategory,
    pub description: String,
    pub evidence: Vec<String>,
    pub contact: ComplaintContact,
    pub anonymous: bool,
}

/// What filing gave.
pub struct Filing {
    pub complaint: complaints::Model,
    /// An anonymous complaint's receipt, shown this once.
    pub receipt: Option<String>,
    /// Merged into an earlier complaint of the filer's.
    pub merged: bool,
}

/// Who or what is complained about, resolved.
struct Target {
    staff_id: Option<Uuid>,
    unit: regions::Model,
    county_id: Uuid,
    case_id: Option<Uuid>,
}

/// Evidence references as stored (a JSON array), and as kept (trimmed): at most 10 of 1–200
/// characters.
pub fn evidence_json(evidence: &[String]) -> AppResult<(String, Vec<String>)> {
    if evidence.len() > EVIDENCE_MAX {
        return Err(AppError::bad_input("evidence", "at most 10 references"));
    }
    let kept = evidence
        .iter()
        .enumerate()
        .map(|(n, e)| text(e, &format!("evidence[{n}]"), 200))
        .collect::<AppResult<Vec<_>>>()?;
    Ok((json!(kept).to_string(), kept))
}

fn county_of(unit: &regions::Model) -> Uuid {
    unit.county_id.unwrap_or(unit.id)
}

/// Pure: what the input must name, refused before the limits count it (no lookup needed).
fn named(input: &ComplaintInput) -> AppResult<()> {
    if input.staff_id.is_none() && input.unit_id.is_none() && input.case_id.is_none() {
        return Err(AppError::bad_input(
            "staffId",
            "name the staff member, the unit or the case complained about",
        ));
    }
    if input.anonymous && input.case_id.is_some() {
        return Err(AppError::bad_input(
            "caseId",
            "an anonymous complaint names a staff member or a unit: a case names its applicant",
        ));
    }
    Ok(())
}

async fn resolve(
    conn: &impl ConnectionTrait,
    user: Uuid,
    input: &ComplaintInput,
) -> AppResult<Target> {
    let case = match input.case_id {
        Some(id) => Some(
            cases::Entity::find_by_id(id)
                .one(conn)
                .await?
                .filter(|c| c.user_id == Some(user))
                .ok_or(AppError::NotFound("case"))?,
        ),
        None => None,
    };
    let staff = match input.staff_id {
        Some(id) => Some(
            staff_accounts::Entity::find_by_id(id)
                .one(conn)
                .await?
                .filter(|s| s.active && s.unit_id.is_some())
                .ok_or(AppError::NotFound("staff"))?,
        ),
        None => None,
    };
    let named_unit = match input.unit_id {
        Some(id) => Some(
            regions::Entity::find_by_id(id)
                .one(conn)
                .await?
                .ok_or(AppError::NotFound("unit"))?,
        ),
        None => None,
    };
    let unit_id = match (&staff, &named_unit, &case) {
        (Some(staff), Some(unit), _) if staff.unit_id != Some(unit.id) => {
            return Err(AppError::bad_input(
                "unitId",
                "the staff member named is not of this unit",
            ));
        }
        (Some(staff), _, _) => staff.unit_id.unwrap_or_default(),
        (None, Some(unit), _) => unit.id,
        (None, None, Some(case)) => case.unit_id,
        (None, None, None) => return Err(AppError::NotFound("unit")),
    };
    let unit = region(conn, unit_id).await?;
    let county_id = county_of(&unit);
    if case.as_ref().is_some_and(|c| c.county_id != county_id) {
        return Err(AppError::bad_input(
            "caseId",
            "the case is not of the county of the staff member or unit named",
        ));
    }
    Ok(Target {
        staff_id: staff.map(|s| s.id),
        unit,
        county_id,
        case_id: case.map(|c| c.id),
    })
}

/// The keyed hash of a filer (for duplicates and limits; no account is kept by it).
fn filer_hash(state: &AppState, user: Uuid) -> String {
    state
        .cipher
        .blind_index("complaint-filer", &user.to_string())
}

async fn limit(state: &AppState, user: Uuid, client_ip: &str) -> AppResult<()> {
    let settings = &state.settings.complaints;
    let (user_bucket, address_bucket) = (
        format!("complaint:user:{user}"),
        format!("complaint:ip:{client_ip}"),
    );
    let (by_user, by_address) = tokio::join!(
        state.limiter.check(
            &user_bucket,
            settings.files_per_user_per_day,
            std::time::Duration::from_secs(86_400),
        ),
        state.limiter.check(
            &address_bucket,
            settings.files_per_ip_per_hour,
            std::time::Duration::from_secs(3_600),
        )
    );
    by_user.and(by_address)
}

/// `fileComplaint`.
pub async fn file(
    state: &AppState,
    viewer: &Viewer,
    client_ip: &str,
    input: ComplaintInput,
) -> AppResult<Filing> {
    let user = match viewer {
        Viewer::Anonymous => return Err(AppError::Unauthenticated("log in first".into())),
        Viewer::Staff { .. } => {
            return Err(AppError::Forbidden(
                "complaints are filed by residents in the mini-program".into(),
            ));
        }
        Viewer::Resident { user_id, .. } => *user_id,
    };
    let description = text(&input.description, "description", DESCRIPTION_MAX)?;
    let (evidence, kept_evidence) = evidence_json(&input.evidence)?;
    contact_allowed(input.anonymous, input.contact)
        .map_err(|why| AppError::bad_input("contact", why))?;
    named(&input)?;
    // The limit before any lookup: probing which staff members or cases exist costs a filing
    // each, like any other attempt.
    limit(state, user, client_ip).await?;
    let target = resolve(&state.db, user, &input).await?;
    let text_state = texts::check(
        state,
        Some(user),
        &description,
        "description",
        !input.anonymous,
    )
    .await?;
    let now = state.clock.now();
    let filer = filer_hash(state, user);
    let mut tx = Tx::begin(state).await?;
    // Lock order: the filer's row first; a concurrent twin waits here and then finds this one.
    crate::auth::service::lock_people(&*tx, vec![user]).await?;
    let filed = Filed {
        id: Uuid::nil(),
        filer: filer.clone(),
        anonymous: input.anonymous,
        accused_staff_id: target.staff_id,
        accused_unit_id: target.unit.id,
        case_id: target.case_id,
        category: input.category,
        received_at: now,
        status: ComplaintStatus::Received,
    };
    let window = Duration::hours(state.settings.complaints.duplicate_window_hours);
    let earlier = recent_of(&*tx, &filer, now - window).await?;
    if let Some(first) = duplicate_of(&filed, &earlier, window) {
        let addition = Addition {
            description: &description,
            text_state,
            evidence: &kept_evidence,
            contact: input.contact,
        };
        let complaint = merge(&mut tx, first, addition, now).await?;
        tx.commit().await?;
        return Ok(Filing {
            complaint,
            receipt: None,
            merged: true,
        });
    }
    let (receipt, receipt_hash) = if input.anonymous {
        let (code, hash) = receipts::issue(state);
        (Some(code), Some(hash))
    } else {
        (None, None)
    };
    let complaint = insert(
        &mut tx,
        NewComplaint {
            county_id: target.county_id,
            category: input.category,
            source: ComplaintSource::MiniProgram,
            reported_by: None,
            callback_task_id: None,
            accused_staff_id: target.staff_id,
            accused_unit_id: target.unit.id,
            case_id: target.case_id,
            description,
            evidence,
            text_state,
            contact: input.contact,
            anonymous: input.anonymous,
            complainant_id: (!input.anonymous).then_some(user),
            filer_hash: Some(filer),
            receipt_hash,
        },
        now,
    )
    .await?;
    tx.commit().await?;
    Ok(Filing {
        complaint,
        receipt,
        merged: false,
    })
}

/// The filer's complaints received since `since`.
async fn recent_of(
    conn: &impl ConnectionTrait,
    filer: &str,
    since: DateTime<Utc>,
) -> AppResult<Vec<Filed>> {
    complaints::Entity::find()
        .filter(complaints::Column::FilerHash.eq(filer))
        .filter(complaints::Column::ReceivedAt.gte(since))
        .all(conn)
        .await?
        .into_iter()
        .map(|c| {
            Ok(Filed {
                id: c.id,
                filer: filer.to_string(),
                anonymous: c.anonymous,
                accused_staff_id: c.accused_staff_id,
                accused_unit_id: c.accused_unit_id,
                case_id: c.case_id,
                category: c.category.parse()?,
                received_at: c.received_at,
                status: c.status.parse()?,
            })
        })
        .collect()
}

/// What a duplicate brings to the first complaint.
struct Addition<'a> {
    description: &'a str,
    text_state: ComplaintTextState,
    evidence: &'a [String],
    contact: ComplaintContact,
}

/// Pure: the first complaint's evidence (a JSON array) with a duplicate's added, each
/// reference once, in the order they came; BAD_USER_INPUT `evidence` past the limit in all.
fn evidence_with(kept: &str, added: &[String]) -> AppResult<String> {
    let mut all: Vec<String> = serde_json::from_str(kept).unwrap_or_default();
    for reference in added {
        if !all.contains(reference) {
            all.push(reference.clone());
        }
    }
    if all.len() > EVIDENCE_MAX {
        return Err(AppError::bad_input(
            "evidence",
            "at most 10 references in all, with those the complaint already holds",
        ));
    }
    Ok(json!(all).to_string())
}

/// Merges a duplicate into the first complaint, losing nothing it brought: its text as an
/// `addition` exchange, its evidence added to the first's, its contact wish (the latest
/// wins); tells its inspector and — real-name — the complainant.
async fn merge(
    tx: &mut Tx<'_>,
    first: Uuid,
    addition: Addition<'_>,
    now: DateTime<Utc>,
) -> AppResult<complaints::Model> {
    let found = complaints::Entity::find_by_id(first)
        .one(&**tx)
        .await?
        .ok_or(AppError::NotFound("complaint"))?;
    // Guarded on its being handled still: a conclusion that came meanwhile refuses the merge
    // (CONFLICT: sent again, it is a new complaint).
    let handled = [
        ComplaintStatus::Received,
        ComplaintStatus::Acknowledged,
        ComplaintStatus::Investigating,
    ];
    let merged = complaints::Entity::update_many()
        .col_expr(
            complaints::Column::Evidence,
            Expr::value(evidence_with(&found.evidence, addition.evidence)?),
        )
        .col_expr(
            complaints::Column::Contact,
            Expr::value(addition.contact.as_str()),
        )
        .col_expr(complaints::Column::UpdatedAt, Expr::value(now))
        .filter(complaints::Column::Id.eq(first))
        .filter(complaints::Column::Status.is_in(handled.map(|s| s.as_str())))
        .exec(&**tx)
        .await?;
    if merged.rows_affected == 0 {
        return Err(AppError::Conflict(
            "the complaint this adds to was concluded meanwhile: send it again".into(),
        ));
    }
    let complaint = complaints::Entity::find_by_id(first)
        .one(&**tx)
        .await?
        .ok_or(AppError::NotFound("complaint"))?;
    let description = addition.description;
    // Nothing checks an addition's text later: one WeChat could not check waits for a human.
    let text_state = match addition.text_state {
        ComplaintTextState::Unchecked => ComplaintTextState::Held,
        other => other,
    };
    let mut row = crate::complaints::exchanges::new_exchange(
        first,
        ComplaintExchangeKind::Addition,
        None,
        description.to_string(),
        None,
        now,
    );
    row.answer_state = Set(text_state.as_str().into());
    row.insert(&**tx).await?;
    let payload = json!({"complaintId": first, "category": complaint.category.to_uppercase()});
    // The filer is told as the complaint's news reaches them (not when no reply is wanted).
    let mut audience = access::handlers(&**tx, &complaint).await?;
    audience.extend(complainant_audience(&complaint));
    tx.emit(EventDraft {
        kind: "complaint.merged",
        topic: "complaints",
        subject_kind: "complaint",
        subject_id: first.to_string(),
        audience,
        payload,
    });
    tx.audit_next_day(crate::audit::Pending::system(
        now,
        Some(complaint.county_id),
        "complaint.duplicate_merged",
        "complaint",
        first,
        json!({"by": "complainant"}),
    ));
    Ok(complaint)
}

/// A complaint to write.
pub struct NewComplaint {
    pub county_id: Uuid,
    pub category: ComplaintCategory,
    pub source: ComplaintSource,
    pub reported_by: Option<Uuid>,
    pub callback_task_id: Option<Uuid>,
    pub accused_staff_id: Option<Uuid>,
    pub accused_unit_id: Uuid,
    pub case_id: Option<Uuid>,
    pub description: String,
    pub evidence: String,
    pub text_state: ComplaintTextState,
    pub contact: ComplaintContact,
    pub anonymous: bool,
    pub complainant_id: Option<Uuid>,
    pub filer_hash: Option<String>,
    pub receipt_hash: Option<String>,
}

/// Inside the caller's transaction: the complaint with its deadlines (working days from the
/// China day of receipt) and its inspector, its event to them (or the administrators) and the
/// audit entry. Neither names the complainant.
pub async fn insert(
    tx: &mut Tx<'_>,
    new: NewComplaint,
    now: DateTime<Utc>,
) -> AppResult<complaints::Model> {
    let settings = tx.state().settings.complaints.clone();
    let calendar = calendar::service::load(&**tx).await?;
    let day = crate::clock::local_date(now);
    let acknowledge_by = calendar.add_working_days(day, settings.acknowledge_working_days);
    let conclude_by = calendar.add_working_days(day, settings.conclude_working_days);
    let unit = region(&**tx, new.accused_unit_id).await?;
    let accused = crate::complaints::rules::Accused {
        staff_id: new.accused_staff_id,
        unit_level: unit.level.parse()?,
        unit_path: unit.path,
    };
    let inspector = routing::choose(&**tx, new.county_id, &accused, &[]).await?;
    let complaint = complaints::ActiveModel {
        id: Set(Uuid::new_v4()),
        county_id: Set(new.county_id),
        category: Set(new.category.as_str().into()),
        source: Set(new.source.as_str().into()),
        reported_by: Set(new.reported_by),
        callback_task_id: Set(new.callback_task_id),
        accused_staff_id: Set(new.accused_staff_id),
        accused_unit_id: Set(new.accused_unit_id),
        case_id: Set(new.case_id),
        description: Set(new.description),
        evidence: Set(new.evidence),
        text_state: Set(new.text_state.as_str().into()),
        text_checks: Set(0),
        contact: Set(new.contact.as_str().into()),
        anonymous: Set(new.anonymous),
        complainant_id: Set(new.complainant_id),
        filer_hash: Set(new.filer_hash),
        receipt_hash: Set(new.receipt_hash),
        status: Set(ComplaintStatus::Received.as_str().into()),
        assigned_inspector_id: Set(inspector),
        received_at: Set(now),
        acknowledge_due_on: Set(acknowledge_by.value),
        conclude_due_on: Set(conclude_by.value),
        extension_reason: Set(None),
        extended_at: Set(None),
        acknowledged_at: Set(None),
        investigating_at: Set(None),
        concluded_at: Set(None),
        replied_at: Set(None),
        closed_at: Set(None),
        acknowledge_overdue_at: Set(None),
        conclude_overdue_at: Set(None),
        finding: Set(None),
        serious: Set(None),
        actions_taken: Set(None),
        conclusion: Set(None),
        reply: Set(None),
        appeal_reason: Set(None),
        appealed_at: Set(None),
        appeal_status: Set(None),
        appeal_reviewer_id: Set(None),
        appeal_decided_by: Set(None),
        appeal_decided_at: Set(None),
        appeal_note: Set(None),
        original_finding: Set(None),
        updated_at: Set(now),
    }
    .insert(&**tx)
    .await?;
    let audience = access::handlers(&**tx, &complaint).await?;
    tx.emit(EventDraft {
        kind: "complaint.received",
        topic: "complaints",
        subject_kind: "complaint",
        subject_id: complaint.id.to_string(),
        audience,
        payload: json!({
            "complaintId": complaint.id,
            "category": complaint.category.to_uppercase(),
            "assigned": inspector.is_some(),
            "acknowledgeDueOn": complaint.acknowledge_due_on,
        }),
    });
    // The complainant is not named here, and the moment is not placed (written the day after,
    // `audit::deferred`): the audit log is read by auditors, who may be the accused.
    tx.audit_next_day(crate::audit::Pending::system(
        now,
        Some(complaint.county_id),
        "complaint.received",
        "complaint",
        complaint.id,
        json!({
            "by": if new.source == ComplaintSource::Callback { "callback" } else { "complainant" },
            "category": complaint.category,
            "anonymous": complaint.anonymous,
            "assigned": inspector.is_some(),
        }),
    ));
    Ok(complaint)
}

/// Pure: the category of a complaint a callback's misconduct answer reports, by its question's
/// key in the call script (the default script's `charged` and `gifts`; any other: OTHER).
pub fn category_of_report(question_key: &str) -> ComplaintCategory {
    match question_key {
        "charged" => ComplaintCategory::IllegalCharges,
        "gifts" => ComplaintCategory::GiftsOrBanquets,
        _ => ComplaintCategory::Other,
    }
}

/// Inside a satisfaction callback's transaction: the complaint its misconduct answers report,
/// real-name in the applicant's name, about the unit that handled the case, with the caller
/// (None: the applicant answered themselves) as its source.
pub async fn from_callback(
    tx: &mut Tx<'_>,
    callback: &entity::callback_tasks::Model,
    caller: Option<Uuid>,
    reports: &[(String, String)],
    now: DateTime<Utc>,
) -> AppResult<complaints::Model> {
    let case = cases::Entity::find_by_id(callback.case_id)
        .one(&**tx)
        .await?
        .ok_or(AppError::NotFound("case"))?;
    let category = reports
        .first()
        .map_or(ComplaintCategory::Other, |(key, _)| category_of_report(key));
    let description: String = reports
        .iter()
        .map(|(_, question)| format!("满意度回访中申请人对“{question}”答“是”。"))
        .collect::<Vec<_>>()
        .concat()
        .chars()
        .take(DESCRIPTION_MAX)
        .collect();
    insert(
        tx,
        NewComplaint {
            county_id: callback.county_id,
            category,
            source: ComplaintSource::Callback,
            reported_by: caller,
            callback_task_id: Some(callback.id),
            accused_staff_id: None,
            accused_unit_id: callback.unit_id,
            case_id: Some(case.id),
            description,
            evidence: "[]".into(),
            text_state: ComplaintTextState::Passed,
            contact: if case.user_id.is_some() {
                ComplaintContact::MiniProgram
            } else {
                ComplaintContact::Phone
            },
            anonymous: false,
            complainant_id: case.user_id,
            filer_hash: None,
            receipt_hash: None,
        },
        now,
    )
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_reported_answer_names_its_category() {
        let table = [
            ("charged", ComplaintCategory::IllegalCharges),
            ("gifts", ComplaintCategory::GiftsOrBanquets),
            ("attitude", ComplaintCategory::Other),
        ];
        for (key, expected) in table {
            assert_eq!(category_of_report(key), expected, "{key}");
        }
    }

    #[test]
    fn a_duplicates_evidence_is_added_once_each_in_the_order_it_came() {
        let s = |v: &[&str]| v.iter().map(|x| x.to_string()).collect::<Vec<_>>();
        for (kept, added, expected) in [
            (r#"["a"]"#, s(&["b", "a"]), r#"["a","b"]"#),
            ("[]", s(&["a", "a"]), r#"["a"]"#),
            (r#"["a","b"]"#, s(&[]), r#"["a","b"]"#),
            (r#"["b"]"#, s(&["c", "a"]), r#"["b","c","a"]"#),
        ] {
            assert_eq!(
                evidence_with(kept, &added).ok().as_deref(),
                Some(expected),
                "{kept} + {added:?}"
            );
        }
        let ten = json!((0..10).map(|n| n.to_string()).collect::<Vec<_>>()).to_string();
        assert!(
            evidence_with(&ten, &s(&["0", "9"])).is_ok(),
            "the same again adds nothing"
        );
        assert!(
            evidence_with(&ten, &s(&["new"])).is_err(),
            "an eleventh is refused"
        );
    }
}
