//! Rating a case (一事一评): only its applicant, once per case within the invitation's window,
//! and once more after the rectification of a bad first rating (二次评价). The text passes the
//! content check before anything is written. One transaction writes the rating (its unique
//! `(case, round)` index is what leaves exactly one of concurrent attempts standing), the
//! units and agents it counts for, the rectification order a bad rating opens, their events
//! and the audit entry — last. An anonymous rating's events and audit entry name neither the
//! rater nor the case.
use chrono::{DateTime, SubsecRound, Utc};
use entity::{
    case_holdings, case_steps, cases, rating_attributions, rating_invitations, ratings,
    rectifications, staff_accounts,
};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder, Set,
};
use serde_json::{Map, Value, json};
use uuid::Uuid;

use crate::{
    auth::{Role, Viewer},
    calendar,
    cases::model::CaseStatus,
    directory::model::text,
    error::{AppError, AppResult},
    events::{EventDraft, Tx},
    moderation::{self, Disposition},
    satisfaction::{
        model::{CaseEnding, RatingIndicator, RatingLevel, RatingTextState, RectificationStatus},
        rules::{FirstRating, RatingFacts, Refusal, anonymity, round_to_rate},
    },
    state::AppState,
    wechat::sec_check::Scene,
};

/// The longest rating text.
pub const TEXT_MAX: usize = 500;

/// What the applicant sends.
pub struct RatingInput {
    pub case_id: Uuid,
    pub level: RatingLevel,
    pub indicators: Vec<(RatingIndicator, RatingLevel)>,
    pub text: Option<String>,
    /// None: real-name for a first rating, as the first for a second.
    pub anonymous: Option<bool>,
}

fn refused(refusal: Refusal) -> AppError {
    match refusal {
        Refusal::AlreadyRated => AppError::Conflict(refusal.message().into()),
        other => AppError::InvalidTransition(other.message().into()),
    }
}

/// The indicators as stored: a JSON object, each indicator once.
fn indicators_json(indicators: &[(RatingIndicator, RatingLevel)]) -> AppResult<String> {
    let mut map = Map::new();
    for (indicator, level) in indicators {
        if map
            .insert(indicator.as_str().into(), json!(level.as_str()))
            .is_some()
        {
            return Err(AppError::bad_input(
                "indicators",
                format!("{} is given twice", indicator.as_str().to_uppercase()),
            ));
        }
    }
    Ok(Value::Object(map).to_string())
}

/// What the rules need about a case's ratings, read in `conn`.
pub async fn facts(conn: &impl ConnectionTrait, case_id: Uuid) -> AppResult<RatingFacts> {
    let rate_by = rating_invitations::Entity::find_by_id(case_id)
        .one(conn)
        .await?
        .map(|i| i.rate_by);
    let rated = ratings::Entity::find()
        .filter(ratings::Column::CaseId.eq(case_id))
        .order_by_asc(ratings::Column::Round)
        .all(conn)
        .await?;
    let mut facts = RatingFacts {
        rate_by,
        ..RatingFacts::default()
    };
    for rating in &rated {
        if rating.round == 1 {
            let resolved_at = rectifications::Entity::find()
                .filter(rectifications::Column::RatingId.eq(rating.id))
                .one(conn)
                .await?
                .and_then(|r| r.resolved_at);
            facts.first = Some(FirstRating {
                bad: rating.level.parse::<RatingLevel>()?.is_bad(),
                anonymous: rating.anonymous,
                resolved_at,
            });
        } else {
            facts.second = true;
        }
    }
    Ok(facts)
}

/// An id that tells when it was made (v7) for real-name records, or nothing (v4) for an
/// anonymous rating's.
fn new_id(anonymous: bool) -> Uuid {
    if anonymous {
        Uuid::new_v4()
    } else {
        Uuid::now_v7()
    }
}

/// Invites the applicant of a case that has ended but whose invitation the reaction has not
/// written yet (it runs after the commit, or later on a worker); true when the case has ended.
async fn invite_if_ended(state: &AppState, case: &cases::Model) -> AppResult<bool> {
    let ending = match case.status.parse::<CaseStatus>()? {
        CaseStatus::Terminated => CaseEnding::Terminated,
        CaseStatus::Completed
        | CaseStatus::Delivered
        | CaseStatus::Archived
        | CaseStatus::Closed => CaseEnding::Completed,
        _ => return Ok(false),
    };
    let ended_at = case_steps::Entity::find()
        .filter(case_steps::Column::CaseId.eq(case.id))
        .filter(case_steps::Column::Action.is_in(["completed", "terminated"]))
        .order_by_desc(case_steps::Column::At)
        .one(&state.db)
        .await?
        .map_or(case.updated_at, |step| step.at);
    // Not announced: the rating is being given now (and an event at this moment would tell
    // staff following the case when it was).
    crate::satisfaction::invite::invite(state, case.id, ending, ended_at, false).await?;
    Ok(true)
}

/// `rateCase`.
pub async fn rate(
    state: &AppState,
    viewer: &Viewer,
    input: RatingInput,
) -> AppResult<ratings::Model> {
    let user = match viewer {
        Viewer::Anonymous => return Err(AppError::Unauthenticated("log in first".into())),
        Viewer::Staff { .. } => {
            return Err(AppError::Forbidden(
                "only the case's applicant rates it".into(),
            ));
        }
        Viewer::Resident { user_id, .. } => *user_id,
    };
    let indicators = indicators_json(&input.indicators)?;
    let text = input
        .text
        .as_deref()
        .map(|t| text(t, "text", TEXT_MAX))
        .transpose()?;
    let case = cases::Entity::find_by_id(input.case_id)
        .one(&state.db)
        .await?
        .filter(|c| c.user_id == Some(user))
        .ok_or(AppError::NotFound("case"))?;
    let settings = &state.settings.satisfaction;
    let second_window = chrono::Duration::days(settings.second_rating_window_days);
    // Asked before WeChat is: a rating that cannot be given costs no content check.
    let mut known = facts(&state.db, case.id).await?;
    if known.rate_by.is_none() && invite_if_ended(state, &case).await? {
        known = facts(&state.db, case.id).await?;
    }
    let round = round_to_rate(known, state.clock.now(), second_window).map_err(refused)?;
    anonymity(round, known.first, input.anonymous)
        .map_err(|m| AppError::bad_input("anonymous", m))?;
    let (text_state, label) = match &text {
        None => (RatingTextState::None, None),
        Some(t) => {
            // Each check costs the AppID's quota: a resident retrying a refused text is
            // limited before WeChat is asked.
            state
                .limiter
                .check(
                    &format!("text-check:{user}"),
                    settings.text_checks_per_user_per_hour,
                    std::time::Duration::from_secs(3600),
                )
                .await?;
            let verdict = moderation::check(
                state,
                &state.db,
                user,
                t,
                Scene::Comment,
                std::time::Duration::from_millis(settings.text_check_timeout_ms),
            )
            .await?;
            match moderation::disposition(verdict) {
                Disposition::Publish => (RatingTextState::Published, None),
                Disposition::Hold { label } => (RatingTextState::Held, Some(label)),
                Disposition::Recheck => (RatingTextState::Unchecked, None),
                Disposition::Reject { .. } => return Err(moderation::rejected("text")),
            }
        }
    };
    let now = state.clock.now().trunc_subsecs(6);
    let mut tx = Tx::begin(state).await?;
    // Decided again inside the transaction: a rectification resolved or a rating given
    // meanwhile counts.
    let known = facts(&*tx, case.id).await?;
    let round = round_to_rate(known, now, second_window).map_err(refused)?;
    let anonymous = anonymity(round, known.first, input.anonymous)
        .map_err(|m| AppError::bad_input("anonymous", m))?;
    let stamp = if anonymous {
        crate::satisfaction::rules::day_of(now)
    } else {
        now
    };
    let rating = ratings::ActiveModel {
        id: Set(new_id(anonymous)),
        case_id: Set(case.id),
        round: Set(round),
        county_id: Set(case.county_id),
        unit_id: Set(case.unit_id),
        item_id: Set(case.item_id),
        user_id: Set(user),
        anonymous: Set(anonymous),
        level: Set(input.level.as_str().into()),
        indicators: Set(indicators),
        text: Set(text),
        text_state: Set(text_state.as_str().into()),
        text_label: Set(label.and_then(|l| i32::try_from(l).ok())),
        text_checked_at: Set((text_state != RatingTextState::None
            && text_state != RatingTextState::Unchecked)
            .then_some(stamp)),
        rated_at: Set(stamp),
        excluded: Set(false),
        text_checks: Set(0),
        audit_pending: Set(anonymous),
    }
    .insert(&*tx)
    .await
    .map_err(|error| {
        if crate::db::is_unique_violation(&error) {
            refused(Refusal::AlreadyRated)
        } else {
            error.into()
        }
    })?;
    let held = holdings(&*tx, &case).await?;
    attribute(&*tx, &rating, &held, &case).await?;
    // Staff hear of a real-name rating at once; of an anonymous one never live (the moment
    // would tell whose it is): they find its order in their list.
    let audience = crate::cases::service::audience(&*tx, &case, &[], false).await?;
    let payload = json!({
        "ratingId": rating.id,
        "round": round,
        "level": input.level.as_str().to_uppercase(),
        "unitId": case.unit_id,
        "number": case.number,
    });
    if !anonymous {
        tx.emit(EventDraft {
            kind: "rating.recorded",
            topic: "satisfaction",
            subject_kind: "rating",
            subject_id: rating.id.to_string(),
            audience: audience.clone(),
            payload: payload.clone(),
        });
    }
    if input.level.is_bad() {
        // 谁办理、谁负责: the unit that handled the case to its end.
        let order = open_order(
            &*tx,
            &rating,
            case.unit_id,
            now,
            settings.rectification_working_days,
        )
        .await?;
        if !anonymous {
            let mut staff = audience;
            staff.extend(crate::satisfaction::audience::unit_staff(&*tx, case.unit_id).await?);
            let mut payload = payload;
            payload["rectificationId"] = json!(order.id);
            payload["dueOn"] = json!(order.due_on);
            tx.emit(EventDraft {
                kind: "rectification.opened",
                topic: "satisfaction",
                subject_kind: "rectification",
                subject_id: order.id.to_string(),
                audience: staff,
                payload,
            });
        }
    }
    if input.level.is_bad() && !anonymous {
        // 实名差评 100 % 回访: the county centre calls every real-name bad rating back.
        let today = crate::clock::local_date(now);
        crate::satisfaction::callbacks::open_task(
            &*tx,
            case.county_id,
            case.id,
            case.unit_id,
            chrono::Datelike::year(&today),
            "bad_rating",
            None,
            Some(rating.id),
            today,
            now,
        )
        .await?;
    }
    // The platform is told the true time (it is no staff member's to read).
    crate::satisfaction::delivery::queue_rating(&*tx, state, &rating, &case.number, now).await?;
    // An anonymous rating's entry is written by the next China day's job (`anonymous_audit`):
    // its place in the log, among entries of exact moments, would tell when it came. The
    // rating row records that it is due (`audit_pending`), in this transaction: it is not lost.
    if !anonymous {
        tx.audit(crate::audit::Pending::action(
            now,
            viewer,
            Some(case.county_id),
            "rating.recorded",
            "rating",
            rating.id,
            json!({"round": round, "level": input.level.as_str(), "anonymous": false, "number": case.number}),
        ));
    }
    tx.commit().await?;
    Ok(rating)
}

/// Every unit that held the case (the last holder included).
async fn holdings(conn: &impl ConnectionTrait, case: &cases::Model) -> AppResult<Vec<Uuid>> {
    let mut units: Vec<Uuid> = case_holdings::Entity::find()
        .filter(case_holdings::Column::CaseId.eq(case.id))
        .all(conn)
        .await?
        .into_iter()
        .map(|h| h.unit_id)
        .collect();
    units.push(case.unit_id);
    units.sort();
    units.dedup();
    Ok(units)
}

/// The rating counts for every unit that held the case and every agent who worked on it (its
/// assigned agent and the agents who wrote its steps).
async fn attribute(
    conn: &impl ConnectionTrait,
    rating: &ratings::Model,
    units: &[Uuid],
    case: &cases::Model,
) -> AppResult<()> {
    if rating.anonymous {
        // An anonymous rating counts for the rated unit only: agents and the units the case
        // passed through would each narrow it down to its case.
        rating_attributions::ActiveModel {
            id: Set(new_id(true)),
            rating_id: Set(rating.id),
            unit_id: Set(Some(rating.unit_id)),
            agent_id: Set(None),
        }
        .insert(conn)
        .await?;
        return Ok(());
    }
    let mut actors: Vec<Uuid> = case_steps::Entity::find()
        .filter(case_steps::Column::CaseId.eq(case.id))
        .filter(case_steps::Column::ActorKind.eq("staff"))
        .all(conn)
        .await?
        .into_iter()
        .filter_map(|s| s.actor_id)
        .collect();
    actors.extend(case.agent_id);
    actors.sort();
    actors.dedup();
    let agents: Vec<Uuid> = staff_accounts::Entity::find()
        .filter(staff_accounts::Column::Id.is_in(actors))
        .all(conn)
        .await?
        .into_iter()
        .filter(|s| {
            s.role.parse::<Role>().is_ok_and(|r| {
                matches!(
                    r,
                    Role::VillageAgent | Role::TownshipAgent | Role::CountyAgent
                )
            })
        })
        .map(|s| s.id)
        .collect();
    let rows = units
        .iter()
        .map(|unit| (Some(*unit), None))
        .chain(agents.into_iter().map(|agent| (None, Some(agent))));
    for (unit_id, agent_id) in rows {
        rating_attributions::ActiveModel {
            id: Set(new_id(rating.anonymous)),
            rating_id: Set(rating.id),
            unit_id: Set(unit_id),
            agent_id: Set(agent_id),
        }
        .insert(conn)
        .await?;
    }
    Ok(())
}

/// Opens the rectification order of a bad rating, due in the configured working days.
async fn open_order(
    conn: &impl ConnectionTrait,
    rating: &ratings::Model,
    unit: Uuid,
    now: DateTime<Utc>,
    days: i64,
) -> AppResult<rectifications::Model> {
    let calendar = calendar::service::load(conn).await?;
    let due = calendar.add_working_days(crate::clock::local_date(now), days);
    Ok(rectifications::ActiveModel {
        id: Set(new_id(rating.anonymous)),
        rating_id: Set(rating.id),
        case_id: Set(rating.case_id),
        county_id: Set(rating.county_id),
        unit_id: Set(unit),
        status: Set(RectificationStatus::Open.as_str().into()),
        due_on: Set(due.value),
        due_provisional: Set(due.provisional),
        reached: Set(None),
        verification: Set(None),
        verified_at: Set(None),
        verified_by: Set(None),
        classification: Set(None),
        result: Set(None),
        reply: Set(None),
        resolved_at: Set(None),
        resolved_by: Set(None),
        overdue_flagged_at: Set(None),
        created_at: Set(rating.rated_at),
    }
    .insert(conn)
    .await?)
}
