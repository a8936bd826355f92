//! The content check of an applicant's callback comment after it was given: a comment WeChat
//! could not check when it came is checked again by a job (a comment is never shown unchecked);
//! one WeChat held, or never answered for after the configured tries, waits for the county
//! centre's administrator, who releases or withholds it (audited). Only the comment's state and
//! its kept answer change, each in one guarded transaction, the audit entry last.
use entity::{callback_tasks, cases};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect, sea_query::Expr};
use serde_json::json;
use uuid::Uuid;

use crate::{
    auth::Viewer,
    config::QuestionKind,
    error::{AppError, AppResult},
    events::Tx,
    moderation,
    satisfaction::{
        callbacks::{county_staff, load_task},
        model::RatingTextState,
        rules::after_late_check,
        script::{KeptAnswer, read_stored, store},
    },
    state::AppState,
    wechat::sec_check::Scene,
};

/// Comments checked again per run.
const RECHECK_BATCH: u64 = 20;

/// The comment of kept answers.
fn comment(answers: &[KeptAnswer]) -> Option<&KeptAnswer> {
    answers.iter().find(|a| a.kind == QuestionKind::Text)
}

/// The task's kept answers, its comment shown or not.
fn with_comment_shown(task: &callback_tasks::Model, shown: bool) -> AppResult<String> {
    let mut kept = task
        .answers
        .as_deref()
        .and_then(read_stored)
        .ok_or_else(|| AppError::internal(anyhow::anyhow!("unreadable callback answers")))?;
    for answer in kept.iter_mut().filter(|a| a.kind == QuestionKind::Text) {
        answer.unchecked = !shown;
    }
    Ok(store(&kept))
}

/// Moves the comment from `from` to `to` (its kept answer shown or not with it), guarded on
/// `from`; whether it moved. Audits `action` with `details` in the same transaction.
async fn settle(
    state: &AppState,
    task: &callback_tasks::Model,
    from: RatingTextState,
    to: RatingTextState,
    checks: i32,
    audit: crate::audit::Pending,
) -> AppResult<bool> {
    let mut tx = Tx::begin(state).await?;
    let updated = callback_tasks::Entity::update_many()
        .col_expr(
            callback_tasks::Column::CommentState,
            Expr::value(to.as_str()),
        )
        .col_expr(callback_tasks::Column::CommentChecks, Expr::value(checks))
        .col_expr(
            callback_tasks::Column::Answers,
            Expr::value(Some(with_comment_shown(task, to.shown())?)),
        )
        .filter(callback_tasks::Column::Id.eq(task.id))
        .filter(callback_tasks::Column::CommentState.eq(from.as_str()))
        .exec(&*tx)
        .await?;
    if updated.rows_affected == 0 {
        return Ok(false);
    }
    tx.audit(audit);
    tx.commit().await?;
    Ok(true)
}

/// Checks again the comments left unchecked, oldest first; returns how many were settled. As
/// for ratings' texts, a run stops at the first check WeChat does not answer.
pub async fn recheck(state: &AppState) -> AppResult<u64> {
    let settings = &state.settings.satisfaction;
    let waiting = callback_tasks::Entity::find()
        .filter(callback_tasks::Column::CommentState.eq(RatingTextState::Unchecked.as_str()))
        .order_by_asc(callback_tasks::Column::AnsweredAt)
        .order_by_asc(callback_tasks::Column::Id)
        .limit(RECHECK_BATCH)
        .all(&state.db)
        .await?;
    let timeout = std::time::Duration::from_millis(settings.text_check_timeout_ms);
    let mut settled = 0;
    for task in waiting {
        let kept = task.answers.as_deref().and_then(read_stored);
        let Some(text) = kept
            .as_deref()
            .and_then(comment)
            .and_then(|a| a.value.as_str().map(str::to_string))
        else {
            continue;
        };
        let applicant = cases::Entity::find_by_id(task.case_id)
            .select_only()
            .column(cases::Column::UserId)
            .into_tuple::<Option<Uuid>>()
            .one(&state.db)
            .await?
            .flatten();
        let Some(applicant) = applicant else {
            continue;
        };
        let verdict =
            moderation::check(state, &state.db, applicant, &text, Scene::Comment, timeout).await?;
        let checks = task.comment_checks + 1;
        let Some((to, _)) = after_late_check(
            moderation::disposition(verdict),
            checks,
            settings.text_recheck_attempts,
        ) else {
            callback_tasks::Entity::update_many()
                .col_expr(callback_tasks::Column::CommentChecks, Expr::value(checks))
                .filter(callback_tasks::Column::Id.eq(task.id))
                .filter(
                    callback_tasks::Column::CommentState.eq(RatingTextState::Unchecked.as_str()),
                )
                .exec(&state.db)
                .await?;
            break;
        };
        let audit = crate::audit::Pending::system(
            state.clock.now(),
            Some(task.county_id),
            "callback.comment_checked",
            "callback",
            task.id,
            json!({"commentState": to.as_str()}),
        );
        if settle(state, &task, RatingTextState::Unchecked, to, checks, audit).await? {
            settled += 1;
        }
    }
    Ok(settled)
}

/// The county centre's administrators: the county's held comments, oldest first, with their
/// text (what they decide on).
pub async fn held(state: &AppState, viewer: &Viewer) -> AppResult<Vec<(Uuid, String)>> {
    let who = county_staff(state, viewer).await?;
    who.ensure_county_admin()?;
    let tasks = callback_tasks::Entity::find()
        .filter(callback_tasks::Column::CountyId.eq(who.region.id))
        .filter(callback_tasks::Column::CommentState.eq(RatingTextState::Held.as_str()))
        .order_by_asc(callback_tasks::Column::AnsweredAt)
        .order_by_asc(callback_tasks::Column::Id)
        .limit(200)
        .all(&state.db)
        .await?;
    Ok(tasks
        .iter()
        .filter_map(|task| {
            let kept = task.answers.as_deref().and_then(read_stored)?;
            let text = comment(&kept)?.value.as_str()?.to_string();
            Some((task.id, text))
        })
        .collect())
}

/// `reviewCallbackComment`: the county centre's administrator releases a held comment or
/// withholds it for good.
pub async fn review(
    state: &AppState,
    viewer: &Viewer,
    id: Uuid,
    publish: bool,
) -> AppResult<callback_tasks::Model> {
    let who = county_staff(state, viewer).await?;
    who.ensure_county_admin()?;
    let task = load_task(&state.db, id).await?;
    who.ensure_in_county(Some(task.county_id), "callback")?;
    if task.comment_state != RatingTextState::Held.as_str() {
        return Err(AppError::InvalidTransition(
            "only a held comment is reviewed".into(),
        ));
    }
    let to = if publish {
        RatingTextState::Released
    } else {
        RatingTextState::Withheld
    };
    let audit = crate::audit::Pending::action(
        state.clock.now(),
        viewer,
        Some(task.county_id),
        "callback.comment_reviewed",
        "callback",
        id,
        json!({"commentState": to.as_str()}),
    );
    if !settle(
        state,
        &task,
        RatingTextState::Held,
        to,
        task.comment_checks,
        audit,
    )
    .await?
    {
        return Err(AppError::Conflict(
            "someone else reviewed this comment first".into(),
        ));
    }
    load_task(&state.db, id).await
}
