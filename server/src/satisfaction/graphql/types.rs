//! The satisfaction room's GraphQL types. A rating read by staff never says who gave it; when
//! it is anonymous it does not say which case either. A text staff may not read is null.
use async_graphql::{ID, InputObject, Object, SimpleObject};
use chrono::{DateTime, NaiveDate, Utc};

use crate::{
    graphql::context::GqlResult,
    satisfaction::{
        model::{
            RatingIndicator, RatingLevel, RatingTextState, RectificationClassification,
            RectificationStatus,
        },
        reads::{InvitationView, OrderView, RatingView, Reader},
    },
};

fn parsed<T: std::str::FromStr<Err = crate::error::AppError>>(text: &str) -> GqlResult<T> {
    Ok(text.parse::<T>()?)
}

/// One indicator's level.
#[derive(SimpleObject, Clone)]
pub struct IndicatorScore {
    /// The indicator (服务态度, 服务效率, 服务水平, 整体满意度).
    pub indicator: RatingIndicator,
    /// Its level.
    pub level: RatingLevel,
}

/// An indicator's level, as the rater gives it.
#[derive(InputObject)]
pub struct IndicatorInput {
    /// The indicator; each at most once.
    pub indicator: RatingIndicator,
    /// Its level.
    pub level: RatingLevel,
}

/// A rating (评价) of a case by its applicant.
pub struct Rating(pub RatingView);

/// A rating (评价) of a case by its applicant; staff never read who gave it when it is
/// anonymous.
#[Object]
impl Rating {
    /// Stable id (UUID).
    async fn id(&self) -> ID {
        ID(self.0.rating.id.to_string())
    }
    /// 1 for the first rating, 2 for the second after a rectification (二次评价).
    async fn round(&self) -> i32 {
        self.0.rating.round
    }
    /// The level.
    async fn level(&self) -> GqlResult<RatingLevel> {
        parsed(&self.0.rating.level)
    }
    /// 差评: 不满意 or 非常不满意.
    async fn bad(&self) -> GqlResult<bool> {
        Ok(parsed::<RatingLevel>(&self.0.rating.level)?.is_bad())
    }
    /// The indicators scored, if any.
    async fn indicators(&self) -> GqlResult<Vec<IndicatorScore>> {
        let map: serde_json::Map<String, serde_json::Value> =
            serde_json::from_str(&self.0.rating.indicators)
                .map_err(crate::error::AppError::internal)?;
        let mut out = Vec::with_capacity(map.len());
        for indicator in RatingIndicator::ALL {
            if let Some(level) = map.get(indicator.as_str()).and_then(|v| v.as_str()) {
                out.push(IndicatorScore {
                    indicator: *indicator,
                    level: parsed(level)?,
                });
            }
        }
        Ok(out)
    }
    /// The text: always for its rater; for staff once published or released (and, while held
    /// for review, for the administrators who review it).
    async fn text(&self) -> GqlResult<Option<&str>> {
        let state: RatingTextState = parsed(&self.0.rating.text_state)?;
        let shown = match self.0.reader {
            Reader::Rater => true,
            Reader::Staff { reviewer } => {
                state.shown() || (reviewer && state == RatingTextState::Held)
            }
        };
        Ok(self.0.rating.text.as_deref().filter(|_| shown))
    }
    /// What the content check made of the text.
    async fn text_state(&self) -> GqlResult<RatingTextState> {
        parsed(&self.0.rating.text_state)
    }
    /// Whether the rater asked not to be named: staff then never learn who they are, nor which
    /// case it was.
    async fn anonymous(&self) -> bool {
        self.0.rating.anonymous
    }
    /// The case rated; null for staff when the rating is anonymous.
    async fn case_id(&self) -> Option<ID> {
        self.0.case_id().map(|id| ID(id.to_string()))
    }
    /// The case's number; null for staff when the rating is anonymous.
    async fn case_number(&self) -> Option<&str> {
        self.0.case_number.as_deref()
    }
    /// The unit rated: the one holding the case when it ended.
    async fn unit_id(&self) -> ID {
        ID(self.0.rating.unit_id.to_string())
    }
    /// The catalogue item; null for staff when the rating is anonymous (with the unit and the
    /// day it would narrow the case down).
    async fn item_id(&self) -> Option<ID> {
        (self.0.reader == Reader::Rater || !self.0.rating.anonymous)
            .then(|| ID(self.0.rating.item_id.to_string()))
    }
    /// When it was given; for an anonymous rating only the day (China midnight).
    async fn rated_at(&self) -> DateTime<Utc> {
        self.0.rating.rated_at
    }
    /// Excluded from the statistics by an upheld appeal (kept on record).
    async fn excluded(&self) -> bool {
        self.0.rating.excluded
    }
    /// For its rater: what became of the rectification this bad rating opened (null for other
    /// ratings, and for staff, who read `rectifications`).
    async fn rectification_reply(
        &self,
        ctx: &async_graphql::Context<'_>,
    ) -> GqlResult<Option<RectificationReply>> {
        use crate::graphql::context::ContextExt;
        if self.0.reader != Reader::Rater {
            return Ok(None);
        }
        let order =
            crate::satisfaction::reads::order_of_rating(&ctx.state().db, self.0.rating.id).await?;
        order
            .map(|o| {
                Ok(RectificationReply {
                    status: parsed(&o.status)?,
                    classification: o.classification.as_deref().map(parsed).transpose()?,
                    reply: o.reply,
                    resolved_at: o.resolved_at,
                    due_on: o.due_on,
                })
            })
            .transpose()
    }
}

/// A rectification as its rater sees it.
#[derive(SimpleObject)]
pub struct RectificationReply {
    /// Where it stands.
    pub status: RectificationStatus,
    /// How it was handled, once resolved.
    pub classification: Option<RectificationClassification>,
    /// The reply, once resolved.
    pub reply: Option<String>,
    /// When it was resolved: a second rating is open for the configured days after it.
    pub resolved_at: Option<DateTime<Utc>>,
    /// The last day to resolve it.
    pub due_on: NaiveDate,
}

/// A rectification order (差评整改) opened by a bad rating.
pub struct Rectification(pub OrderView);

/// A rectification order (差评整改) opened by a bad rating.
#[Object]
impl Rectification {
    /// Stable id (UUID).
    async fn id(&self) -> ID {
        ID(self.0.order.id.to_string())
    }
    /// Where it stands.
    async fn status(&self) -> GqlResult<RectificationStatus> {
        parsed(&self.0.order.status)
    }
    /// The bad rating.
    async fn rating(&self) -> Rating {
        Rating(self.0.rating.clone())
    }
    /// The unit that must rectify.
    async fn unit_id(&self) -> ID {
        ID(self.0.order.unit_id.to_string())
    }
    /// The last day to resolve it (China date, working days from the rating).
    async fn due_on(&self) -> NaiveDate {
        self.0.order.due_on
    }
    /// True when the due day was reckoned past the last published holiday calendar.
    async fn due_provisional(&self) -> bool {
        self.0.order.due_provisional
    }
    /// When the job flagged it overdue (null while on time).
    async fn overdue_flagged_at(&self) -> Option<DateTime<Utc>> {
        self.0.order.overdue_flagged_at
    }
    /// Whether the call-back reached the rater (null before it).
    async fn reached(&self) -> Option<bool> {
        self.0.order.reached
    }
    /// The caller's note of the call-back.
    async fn verification(&self) -> Option<&str> {
        self.0.order.verification.as_deref()
    }
    /// When the call-back was recorded.
    async fn verified_at(&self) -> Option<DateTime<Utc>> {
        self.0.order.verified_at
    }
    /// How it was handled.
    async fn classification(&self) -> GqlResult<Option<RectificationClassification>> {
        self.0
            .order
            .classification
            .as_deref()
            .map(parsed)
            .transpose()
    }
    /// What was done.
    async fn result(&self) -> Option<&str> {
        self.0.order.result.as_deref()
    }
    /// The reply sent to the rater.
    async fn reply(&self) -> Option<&str> {
        self.0.order.reply.as_deref()
    }
    /// When it was resolved.
    async fn resolved_at(&self) -> Option<DateTime<Utc>> {
        self.0.order.resolved_at
    }
    /// When the bad rating opened it.
    async fn created_at(&self) -> DateTime<Utc> {
        self.0.order.created_at
    }
}

/// A case its applicant is invited to rate.
pub struct RatingInvitation(pub InvitationView);

/// A case its applicant is invited to rate, with the ratings given.
#[Object]
impl RatingInvitation {
    /// The case.
    async fn case_id(&self) -> ID {
        ID(self.0.invitation.case_id.to_string())
    }
    /// The case's number.
    async fn case_number(&self) -> &str {
        &self.0.case_number
    }
    /// `COMPLETED` or `TERMINATED`.
    async fn outcome(&self) -> String {
        self.0.invitation.outcome.to_uppercase()
    }
    /// When the case ended and the invitation was made.
    async fn invited_at(&self) -> DateTime<Utc> {
        self.0.invitation.invited_at
    }
    /// The first rating is accepted until then.
    async fn rate_by(&self) -> DateTime<Utc> {
        self.0.invitation.rate_by
    }
    /// The ratings given (first, and second if any).
    async fn ratings(&self) -> Vec<Rating> {
        self.0.ratings.iter().cloned().map(Rating).collect()
    }
}

/// A page of ratings, newest first.
#[derive(SimpleObject)]
pub struct RatingPage {
    /// The ratings.
    pub ratings: Vec<Rating>,
    /// Pass as `after` for the next page; null at the end.
    pub next_cursor: Option<String>,
}

/// A page of rectification orders, newest first.
#[derive(SimpleObject)]
pub struct RectificationPage {
    /// The orders.
    pub rectifications: Vec<Rectification>,
    /// Pass as `after` for the next page; null at the end.
    pub next_cursor: Option<String>,
}

/// A page of invitations, newest first.
#[derive(SimpleObject)]
pub struct RatingInvitationPage {
    /// The invitations.
    pub invitations: Vec<RatingInvitation>,
    /// Pass as `after` for the next page; null at the end.
    pub next_cursor: Option<String>,
}

/// What staff narrow the ratings by.
#[derive(InputObject, Default)]
pub struct RatingFilterInput {
    /// Ratings counting for this unit (and the units under it).
    pub unit_id: Option<ID>,
    /// One level.
    pub level: Option<RatingLevel>,
    /// Only bad ratings (true) or only the others (false).
    pub bad: Option<bool>,
    /// Given at or after.
    pub from: Option<DateTime<Utc>>,
    /// Given before.
    pub to: Option<DateTime<Utc>>,
}

/// What staff narrow the orders by.
#[derive(InputObject, Default)]
pub struct RectificationFilterInput {
    /// Orders of this unit (and the units under it).
    pub unit_id: Option<ID>,
    /// One status.
    pub status: Option<RectificationStatus>,
    /// Only orders flagged overdue (true) or only those not flagged (false).
    pub overdue: Option<bool>,
}

/// One group's satisfaction figures for a period.
#[derive(SimpleObject)]
pub struct SatisfactionStat {
    /// The unit, agent or item.
    pub key: ID,
    /// Its name (an agent's working name).
    pub name: String,
    /// Ratings counted.
    pub ratings: i32,
    /// Ratings excluded by an upheld appeal.
    pub excluded: i32,
    /// Counted ratings of 非常满意, 满意 or 基本满意.
    pub satisfied: i32,
    /// Counted bad ratings.
    pub bad: i32,
    /// `satisfied / ratings`; null without ratings.
    pub satisfaction_rate: Option<f64>,
    /// `bad / ratings`; null without ratings.
    pub bad_rate: Option<f64>,
    /// Rectification orders resolved by their due day (by unit only).
    pub rectified_on_time: i32,
    /// Orders resolved late or still open past their due day (by unit only).
    pub rectified_late: i32,
    /// `onTime / (onTime + late)`; null without such orders.
    pub on_time_rate: Option<f64>,
}

/// One unit's satisfaction callbacks in a period.
#[derive(SimpleObject)]
pub struct CallbackResult {
    /// The unit.
    pub unit_id: ID,
    /// Its name.
    pub unit_name: String,
    /// Callbacks opened.
    pub tasks: i32,
    /// Answered on the phone or in the mini-program.
    pub reached: i32,
    /// Closed unreachable.
    pub unreachable: i32,
    /// Reached, declined to answer.
    pub refused: i32,
    /// Still open.
    pub open: i32,
    /// Of the closed, the share reached; null when none is closed.
    pub reached_rate: Option<f64>,
    /// Answers reporting fees, gifts or misconduct.
    pub misconduct: i32,
    /// The answers to the question measuring satisfaction (服务态度 by default, see
    /// `callbackScript`) by level, best first (非常满意 … 非常不满意).
    pub attitude: Vec<i32>,
    /// The unit's cases that ended (completed or terminated) in the period.
    pub finished: i32,
    /// Of those, the cases with a callback (sampled, or a bad rating's).
    pub covered: i32,
    /// `covered / finished`, the callback coverage; null without finished cases.
    pub coverage: Option<f64>,
}
