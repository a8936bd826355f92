//! Satisfaction callbacks (满意度回访) in the API: the script, sampling, assigning, calls, the
//! applicant's own answers and the audited phone reveal.
use async_graphql::{Context, ID, InputObject, Object, SimpleObject};
use chrono::{DateTime, NaiveDate, Utc};
use entity::callback_tasks;

use crate::{
    config::QuestionKind,
    directory::model::text,
    error::AppError,
    graphql::context::{ContextExt, GqlResult, parse_id},
    satisfaction::{
        callback_rules::{CallOutcome, CallbackStatus},
        callbacks,
        model::{RatingLevel, RatingTextState},
        samples::{self, SampleRequest},
        script::{Answer, read_stored, readable},
    },
};

/// One question of the call script.
#[derive(SimpleObject)]
pub struct CallbackQuestion {
    /// Its key in answers.
    pub key: String,
    /// What the caller asks (or the mini-program shows).
    pub text: String,
    /// `YES_NO`, `LEVEL` or `TEXT` (text is optional).
    pub kind: String,
    /// A "yes" reports misconduct (fees, gifts): the inspectors are told.
    pub misconduct_when_yes: bool,
    /// Its answers are the callbacks' satisfaction distribution (one level question).
    pub measures_satisfaction: bool,
}

fn kind_name(kind: QuestionKind) -> &'static str {
    match kind {
        QuestionKind::YesNo => "YES_NO",
        QuestionKind::Level => "LEVEL",
        QuestionKind::Text => "TEXT",
    }
}

/// One answer: exactly one of `yes`, `level`, `text`, as the question takes.
#[derive(InputObject)]
pub struct CallbackAnswerInput {
    /// The question's key.
    pub key: String,
    /// For a yes/no question.
    pub yes: Option<bool>,
    /// For a level question.
    pub level: Option<RatingLevel>,
    /// For the free-text question, 1–500 characters.
    pub text: Option<String>,
}

/// One answer given.
#[derive(SimpleObject)]
pub struct CallbackAnswer {
    /// The question's key.
    pub key: String,
    /// The question.
    pub question: String,
    /// A yes/no answer.
    pub yes: Option<bool>,
    /// A level answer.
    pub level: Option<RatingLevel>,
    /// A text answer.
    pub text: Option<String>,
}

/// One call.
#[derive(SimpleObject)]
pub struct CallbackCall {
    /// When.
    pub at: DateTime<Utc>,
    /// How it went.
    pub outcome: CallOutcome,
    /// The caller's note.
    pub note: Option<String>,
}

/// A drawn sample.
#[derive(SimpleObject)]
pub struct CallbackSample {
    /// Stable id (UUID).
    pub id: ID,
    /// The seed (decimal u64, the server's own) that, over the recorded candidates, draws the
    /// recorded cases.
    pub seed: String,
    /// Finished cases of the period not called this year.
    pub candidates: i32,
    /// Cases drawn.
    pub drawn: i32,
    /// Tasks opened (a case given a task meanwhile is not opened twice).
    pub opened: i32,
}

/// A check of a past draw (`verifyCallbackSample`).
#[derive(SimpleObject)]
pub struct CallbackSampleCheck {
    /// The sample.
    pub sample_id: ID,
    /// Its recorded seed.
    pub seed: String,
    /// Its size as asked: `count:<n>` or `percent:<p>`.
    pub requested: String,
    /// The period's first day.
    pub from: NaiveDate,
    /// The period's last day.
    pub until: NaiveDate,
    /// Who drew it (staff id).
    pub drawn_by: ID,
    /// When.
    pub drawn_at: DateTime<Utc>,
    /// Candidates recorded (0 for a sample drawn before candidates were recorded: it cannot be
    /// checked).
    pub candidates: i32,
    /// Cases drawn, as recorded.
    pub drawn: i32,
    /// The recorded seed over the recorded candidates draws exactly the recorded cases.
    pub reproduced: bool,
    /// The record holds the period's cases: every recorded case ended in the period, every case
    /// that ended there over a minute before the draw is recorded (a candidate, or left out
    /// as called that year), and each left out has a callback that year from elsewhere.
    pub candidates_match: bool,
    /// The sample's callbacks are exactly its drawn cases.
    pub tasks_match: bool,
}

/// A satisfaction callback of one case.
pub struct CallbackTask(pub callback_tasks::Model, pub bool);

/// A satisfaction callback (满意度回访) of one case.
#[Object]
impl CallbackTask {
    /// Stable id (UUID).
    async fn id(&self) -> ID {
        ID(self.0.id.to_string())
    }
    /// The case.
    async fn case_id(&self) -> ID {
        ID(self.0.case_id.to_string())
    }
    /// The unit that handled it.
    async fn unit_id(&self) -> ID {
        ID(self.0.unit_id.to_string())
    }
    /// `SAMPLE` or `BAD_RATING` (a real-name bad rating's return visit).
    async fn source(&self) -> String {
        self.0.source.to_uppercase()
    }
    /// Where it stands.
    async fn status(&self) -> GqlResult<CallbackStatus> {
        Ok(self.0.status.parse()?)
    }
    /// Calls so far.
    async fn attempts(&self) -> i32 {
        self.0.attempts
    }
    /// The first day the next call may be made.
    async fn next_attempt_on(&self) -> NaiveDate {
        self.0.next_attempt_on
    }
    /// Staff: the caller assigned.
    async fn assigned_to(&self) -> Option<ID> {
        self.1
            .then(|| self.0.assigned_to.map(|id| ID(id.to_string())))
            .flatten()
    }
    /// Staff: the content check of the applicant's comment (`NONE` without one; the comment is
    /// among the answers only once `PUBLISHED` or `RELEASED`).
    async fn comment_state(&self) -> GqlResult<Option<RatingTextState>> {
        if !self.1 {
            return Ok(None);
        }
        Ok(Some(self.0.comment_state.parse()?))
    }
    /// Staff: whether the answers report fees, gifts or misconduct.
    async fn misconduct(&self) -> Option<bool> {
        self.1.then_some(self.0.misconduct)
    }
    /// The answers, each with its question as it was asked (a comment the content check did
    /// not pass is not shown).
    async fn answers(&self) -> GqlResult<Vec<CallbackAnswer>> {
        let Some(stored) = self.0.answers.as_deref() else {
            return Ok(Vec::new());
        };
        let kept = read_stored(stored)
            .ok_or_else(|| AppError::internal(anyhow::anyhow!("unreadable callback answers")))?;
        let comment_shown = self
            .0
            .comment_state
            .parse::<RatingTextState>()
            .is_ok_and(RatingTextState::shown);
        Ok(readable(kept, comment_shown)
            .into_iter()
            .map(|a| CallbackAnswer {
                yes: a.value.as_bool(),
                level: a.level(),
                text: match a.kind {
                    QuestionKind::Text => a.value.as_str().map(str::to_string),
                    _ => None,
                },
                key: a.key,
                question: a.question,
            })
            .collect())
    }
    /// When it was answered.
    async fn answered_at(&self) -> Option<DateTime<Utc>> {
        self.0.answered_at
    }
    /// Staff: the calls made.
    async fn calls(&self, ctx: &Context<'_>) -> GqlResult<Vec<CallbackCall>> {
        if !self.1 {
            return Ok(Vec::new());
        }
        let rows = ctx
            .loaders()?
            .load_one(crate::graphql::loaders::CallsOfCallback(self.0.id))
            .await
            .map_err(AppError::from)?
            .unwrap_or_default();
        rows.into_iter()
            .map(|r| {
                Ok(CallbackCall {
                    at: r.at,
                    outcome: r.outcome.parse()?,
                    note: r.note,
                })
            })
            .collect()
    }
}

fn answers(input: Vec<CallbackAnswerInput>) -> GqlResult<Vec<(String, Answer)>> {
    input
        .into_iter()
        .enumerate()
        .map(|(n, a)| {
            let field = format!("answers[{n}]");
            let answer = match (a.yes, a.level, a.text) {
                (Some(yes), None, None) => Answer::YesNo(yes),
                (None, Some(level), None) => Answer::Level(level),
                (None, None, Some(t)) => Answer::Text(text(&t, &field, 500)?),
                _ => {
                    return Err(
                        AppError::bad_input(field, "exactly one of yes, level or text").into(),
                    );
                }
            };
            Ok((a.key, answer))
        })
        .collect()
}

/// Part of `SatisfactionQuery`.
#[derive(Default)]
pub struct CallbacksQuery;

#[Object]
impl CallbacksQuery {
    /// The call script: the questions a callback asks (public).
    async fn callback_script(&self, ctx: &Context<'_>) -> Vec<CallbackQuestion> {
        ctx.state()
            .settings
            .satisfaction
            .callback_script
            .iter()
            .map(|q| CallbackQuestion {
                key: q.key.clone(),
                text: q.text.clone(),
                kind: kind_name(q.kind).into(),
                misconduct_when_yes: q.misconduct_when_yes,
                measures_satisfaction: q.measures_satisfaction,
            })
            .collect()
    }

    /// The county centre's administrators, inspectors and auditors: check a past draw by
    /// drawing again from its recorded candidates with its recorded seed.
    async fn verify_callback_sample(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The sample (`drawCallbackSample`'s id).")] id: ID,
    ) -> GqlResult<CallbackSampleCheck> {
        let id = parse_id(&id, "id")?;
        let check = samples::verify(ctx.state(), ctx.viewer(), id).await?;
        Ok(CallbackSampleCheck {
            sample_id: ID(check.sample.id.to_string()),
            seed: check.sample.seed,
            requested: check.sample.requested,
            from: check.sample.from_day,
            until: check.sample.until_day,
            drawn_by: ID(check.sample.drawn_by.to_string()),
            drawn_at: check.sample.drawn_at,
            candidates: i32::try_from(check.recorded).unwrap_or(i32::MAX),
            drawn: check.sample.drawn,
            reproduced: check.reproduced,
            candidates_match: check.candidates_match,
            tasks_match: check.tasks_match,
        })
    }

    /// County centre: callbacks (all for its administrator, their own for callers), newest
    /// first, at most 200.
    async fn callback_tasks(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Only callbacks of this status.")] status: Option<CallbackStatus>,
    ) -> GqlResult<Vec<CallbackTask>> {
        Ok(callbacks::tasks(ctx.state(), ctx.viewer(), status)
            .await?
            .into_iter()
            .map(|t| CallbackTask(t, true))
            .collect())
    }

    /// Residents: the open callbacks of their cases, to answer in the mini-program.
    async fn my_callbacks(&self, ctx: &Context<'_>) -> GqlResult<Vec<CallbackTask>> {
        Ok(callbacks::mine(ctx.state(), ctx.viewer())
            .await?
            .into_iter()
            .map(|t| CallbackTask(t, false))
            .collect())
    }
}

/// Part of `SatisfactionMutation`.
#[derive(Default)]
pub struct CallbacksMutation;

#[Object]
impl CallbacksMutation {
    /// The county administrator draws a sample of the period's finished cases, stratified by
    /// unit, leaving out cases called this year: a `count`, or a `percent` of the candidates.
    /// The seed is the server's own (a seed the drawer chose could be tried until it pleased);
    /// it is recorded with the candidates, and `verifyCallbackSample` checks the draw later.
    async fn draw_callback_sample(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The period's first day (China date).")] from: NaiveDate,
        #[graphql(desc = "The period's last day.")] until: NaiveDate,
        #[graphql(desc = "How many cases.")] count: Option<u32>,
        #[graphql(desc = "Or what share of the candidates, 1–100.")] percent: Option<u32>,
    ) -> GqlResult<CallbackSample> {
        let (sample, opened) = samples::draw_sample(
            ctx.state(),
            ctx.viewer(),
            SampleRequest {
                from,
                until,
                count,
                percent,
            },
        )
        .await?;
        Ok(CallbackSample {
            id: ID(sample.id.to_string()),
            seed: sample.seed,
            candidates: sample.candidates,
            drawn: sample.drawn,
            opened: i32::try_from(opened).unwrap_or(i32::MAX),
        })
    }

    /// The county administrator assigns a callback to an inspector or county staff.
    async fn assign_callback(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The callback.")] id: ID,
        #[graphql(desc = "The caller (staff id).")] caller_id: ID,
    ) -> GqlResult<CallbackTask> {
        let id = parse_id(&id, "id")?;
        let caller = parse_id(&caller_id, "callerId")?;
        Ok(CallbackTask(
            callbacks::assign(ctx.state(), ctx.viewer(), id, caller).await?,
            true,
        ))
    }

    /// The caller records a call: reached (with the answers), no answer (called again on a
    /// later working day, up to the attempts allowed), wrong number or refused.
    async fn record_callback_attempt(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The callback.")] id: ID,
        #[graphql(desc = "How it went.")] outcome: CallOutcome,
        #[graphql(desc = "A note, 1–1000 characters.")] note: Option<String>,
        #[graphql(desc = "The answers, for a reached call.")] answers: Option<
            Vec<CallbackAnswerInput>,
        >,
    ) -> GqlResult<CallbackTask> {
        let id = parse_id(&id, "id")?;
        let answers = answers.map(self::answers).transpose()?;
        Ok(CallbackTask(
            callbacks::record_attempt(
                ctx.state(),
                ctx.viewer(),
                id,
                outcome,
                note.as_deref(),
                answers,
            )
            .await?,
            true,
        ))
    }

    /// The applicant answers their callback themselves, which closes it.
    async fn answer_callback(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The callback.")] id: ID,
        #[graphql(desc = "The answers.")] answers: Vec<CallbackAnswerInput>,
    ) -> GqlResult<CallbackTask> {
        let id = parse_id(&id, "id")?;
        let answers = self::answers(answers)?;
        Ok(CallbackTask(
            callbacks::answer_self(ctx.state(), ctx.viewer(), id, answers).await?,
            false,
        ))
    }

    /// The assigned caller reads the applicant's bound phone (audited with the reason).
    async fn reveal_callback_phone(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The callback.")] id: ID,
        #[graphql(desc = "Why, 1–200 characters.")] reason: String,
    ) -> GqlResult<Option<String>> {
        let id = parse_id(&id, "id")?;
        Ok(callbacks::reveal_phone(ctx.state(), ctx.viewer(), id, &reason).await?)
    }
}
