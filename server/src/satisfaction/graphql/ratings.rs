//! Ratings and rectifications in the API: rating a case, the invitations, reading ratings,
//! releasing a held text, and working a rectification order.
use async_graphql::{Context, ID, Object};

use crate::{
    graphql::context::{ContextExt, GqlResult, parse_id},
    satisfaction::{
        graphql::types::{
            CallbackResult, IndicatorInput, Rating, RatingFilterInput, RatingInvitation,
            RatingInvitationPage, RatingPage, Rectification, RectificationFilterInput,
            RectificationPage, SatisfactionStat,
        },
        model::{RatingLevel, RectificationClassification},
        rating::{self, RatingInput},
        reads::{self, OrderFilter, RatingFilter},
        rectify,
        statistics::{self, SatisfactionGrouping},
        texts,
    },
};

fn optional_id(value: &Option<ID>, field: &str) -> GqlResult<Option<uuid::Uuid>> {
    Ok(value.as_ref().map(|v| parse_id(v, field)).transpose()?)
}

/// Part of `SatisfactionQuery`.
#[derive(Default)]
pub struct RatingsQuery;

#[Object]
impl RatingsQuery {
    /// Residents: the cases they were invited to rate, with the ratings they gave, newest first.
    async fn my_rating_invitations(
        &self,
        ctx: &Context<'_>,
        #[graphql(default = 20, desc = "Invitations per page, 1–100 (default 20).")] first: i32,
        #[graphql(desc = "The previous page's `nextCursor`; omit for the first page.")]
        after: Option<String>,
    ) -> GqlResult<RatingInvitationPage> {
        let (rows, next) =
            reads::my_invitations(ctx.state(), ctx.viewer(), first, after.as_deref()).await?;
        Ok(RatingInvitationPage {
            invitations: rows.into_iter().map(RatingInvitation).collect(),
            next_cursor: next,
        })
    }

    /// A case's ratings: all for its applicant; the real-name ones for staff who may read the
    /// case (an anonymous rating is never linked to its case for staff).
    async fn case_ratings(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The case.")] case_id: ID,
    ) -> GqlResult<Vec<Rating>> {
        let id = parse_id(&case_id, "caseId")?;
        Ok(reads::of_case(ctx.state(), ctx.viewer(), id)
            .await?
            .into_iter()
            .map(Rating)
            .collect())
    }

    /// One rating: for its rater, or staff covering a unit it counts for.
    async fn rating(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The rating.")] id: ID,
    ) -> GqlResult<Rating> {
        let id = parse_id(&id, "id")?;
        Ok(Rating(reads::rating(ctx.state(), ctx.viewer(), id).await?))
    }

    /// Staff: ratings counting for units in their jurisdiction, newest first.
    async fn ratings(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Narrow the list; omit for every rating the viewer may see.")]
        filter: Option<RatingFilterInput>,
        #[graphql(default = 20, desc = "Ratings per page, 1–100 (default 20).")] first: i32,
        #[graphql(desc = "The previous page's `nextCursor`; omit for the first page.")]
        after: Option<String>,
    ) -> GqlResult<RatingPage> {
        let f = filter.unwrap_or_default();
        let filter = RatingFilter {
            unit_id: optional_id(&f.unit_id, "filter.unitId")?,
            level: f.level,
            bad: f.bad,
            from: f.from,
            to: f.to,
        };
        let (rows, next) =
            reads::list(ctx.state(), ctx.viewer(), filter, first, after.as_deref()).await?;
        Ok(RatingPage {
            ratings: rows.into_iter().map(Rating).collect(),
            next_cursor: next,
        })
    }

    /// Staff: satisfaction figures for a period in their jurisdiction (or under `unitId`),
    /// grouped by unit (each unit that held the rated case; an anonymous rating, its rated unit
    /// only), by agent (each agent who worked on it, among the agents of units in scope;
    /// real-name ratings) or by item (real-name ratings).
    async fn satisfaction_statistics(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Ratings given at or after.")] from: chrono::DateTime<chrono::Utc>,
        #[graphql(desc = "Ratings given before (at most 400 days after `from`).")]
        to: chrono::DateTime<chrono::Utc>,
        #[graphql(desc = "Only units under this one (covered by the viewer).")] unit_id: Option<ID>,
        #[graphql(
            default_with = "SatisfactionGrouping::Unit",
            desc = "Grouped by (default UNIT)."
        )]
        by: SatisfactionGrouping,
    ) -> GqlResult<Vec<SatisfactionStat>> {
        let unit = optional_id(&unit_id, "unitId")?;
        let lines = statistics::statistics(ctx.state(), ctx.viewer(), from, to, unit, by).await?;
        let n = |v: u64| i32::try_from(v).unwrap_or(i32::MAX);
        Ok(lines
            .into_iter()
            .map(|l| SatisfactionStat {
                key: ID(l.key.to_string()),
                name: l.name,
                ratings: n(l.tally.ratings),
                excluded: n(l.tally.excluded),
                satisfied: n(l.tally.satisfied),
                bad: n(l.tally.bad),
                satisfaction_rate: l.tally.satisfaction_rate(),
                bad_rate: l.tally.bad_rate(),
                rectified_on_time: n(l.tally.on_time),
                rectified_late: n(l.tally.late),
                on_time_rate: l.tally.on_time_rate(),
            })
            .collect())
    }

    /// The county centre (administrators, inspectors, auditors): the satisfaction callbacks
    /// opened in a period, per unit (or under `unitId`): reached rate, refusals, misconduct
    /// reports, satisfaction by level, and the coverage of the cases that ended in it.
    async fn callback_results(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The period's first day (China date).")] from: chrono::NaiveDate,
        #[graphql(desc = "The period's last day (at most 366 days).")] until: chrono::NaiveDate,
        #[graphql(desc = "Only units under this one (covered by the viewer).")] unit_id: Option<ID>,
    ) -> GqlResult<Vec<CallbackResult>> {
        let unit = optional_id(&unit_id, "unitId")?;
        let n = |v: u64| i32::try_from(v).unwrap_or(i32::MAX);
        Ok(
            statistics::callback_results(ctx.state(), ctx.viewer(), from, until, unit)
                .await?
                .into_iter()
                .map(|(id, name, t)| CallbackResult {
                    unit_id: ID(id.to_string()),
                    unit_name: name,
                    tasks: n(t.tasks),
                    reached: n(t.reached),
                    unreachable: n(t.unreachable),
                    refused: n(t.refused),
                    open: n(t.open),
                    reached_rate: t.reached_rate(),
                    misconduct: n(t.misconduct),
                    attitude: t.attitude.iter().map(|v| n(*v)).collect(),
                    finished: n(t.finished),
                    covered: n(t.covered),
                    coverage: t.coverage(),
                })
                .collect(),
        )
    }

    /// One rectification order, for staff covering its unit.
    async fn rectification(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The order.")] id: ID,
    ) -> GqlResult<Rectification> {
        let id = parse_id(&id, "id")?;
        Ok(Rectification(
            reads::order(ctx.state(), ctx.viewer(), id).await?,
        ))
    }

    /// Staff: rectification orders of units in their jurisdiction, newest first.
    async fn rectifications(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Narrow the list; omit for every order the viewer may see.")]
        filter: Option<RectificationFilterInput>,
        #[graphql(default = 20, desc = "Orders per page, 1–100 (default 20).")] first: i32,
        #[graphql(desc = "The previous page's `nextCursor`; omit for the first page.")]
        after: Option<String>,
    ) -> GqlResult<RectificationPage> {
        let f = filter.unwrap_or_default();
        let filter = OrderFilter {
            unit_id: optional_id(&f.unit_id, "filter.unitId")?,
            status: f.status,
            overdue: f.overdue,
        };
        let (rows, next) =
            reads::orders(ctx.state(), ctx.viewer(), filter, first, after.as_deref()).await?;
        Ok(RectificationPage {
            rectifications: rows.into_iter().map(Rectification).collect(),
            next_cursor: next,
        })
    }
}

/// Part of `SatisfactionMutation`.
#[derive(Default)]
pub struct RatingsMutation;

#[Object]
impl RatingsMutation {
    /// The applicant rates a finished case: once within the invitation's window, and once more
    /// after the rectification of a bad first rating. The text passes WeChat's content check
    /// first (CONTENT_REJECTED when refused; held for review or checked again later otherwise).
    #[allow(clippy::too_many_arguments)]
    async fn rate_case(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The case.")] case_id: ID,
        #[graphql(desc = "The level.")] level: RatingLevel,
        #[graphql(desc = "Indicator levels, each indicator at most once.")] indicators: Option<
            Vec<IndicatorInput>,
        >,
        #[graphql(desc = "Free text, 1–500 characters.")] text: Option<String>,
        #[graphql(
            desc = "Do not let staff know who rated (the case is not linked for them either). A first rating is real-name when omitted; a second is as the first was (BAD_USER_INPUT if it differs)."
        )]
        anonymous: Option<bool>,
    ) -> GqlResult<Rating> {
        let case_id = parse_id(&case_id, "caseId")?;
        let state = ctx.state();
        let viewer = ctx.viewer();
        let rating = rating::rate(
            state,
            viewer,
            RatingInput {
                case_id,
                level,
                indicators: indicators
                    .unwrap_or_default()
                    .into_iter()
                    .map(|i| (i.indicator, i.level))
                    .collect(),
                text,
                anonymous,
            },
        )
        .await?;
        Ok(Rating(reads::rating(state, viewer, rating.id).await?))
    }

    /// An administrator over a unit the rating counts for shows a text held for review.
    async fn release_rating_text(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The rating.")] id: ID,
    ) -> GqlResult<Rating> {
        let id = parse_id(&id, "id")?;
        texts::release(ctx.state(), ctx.viewer(), id).await?;
        Ok(Rating(reads::rating(ctx.state(), ctx.viewer(), id).await?))
    }

    /// Records the call-back to a real-name bad rater (reached or not) with its note.
    async fn verify_rectification(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The order.")] id: ID,
        #[graphql(desc = "Whether the rater was reached.")] reached: bool,
        #[graphql(desc = "What the call found, 1–1000 characters.")] note: String,
    ) -> GqlResult<Rectification> {
        let id = parse_id(&id, "id")?;
        rectify::verify(ctx.state(), ctx.viewer(), id, reached, &note).await?;
        Ok(Rectification(
            reads::order(ctx.state(), ctx.viewer(), id).await?,
        ))
    }

    /// Classifies the order, records what was done and replies to the rater (who may then rate
    /// again).
    async fn resolve_rectification(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The order.")] id: ID,
        #[graphql(desc = "How it was handled.")] classification: RectificationClassification,
        #[graphql(desc = "What was done, 1–1000 characters.")] result: String,
        #[graphql(desc = "The reply to the rater, 1–1000 characters.")] reply: String,
    ) -> GqlResult<Rectification> {
        let id = parse_id(&id, "id")?;
        rectify::resolve(
            ctx.state(),
            ctx.viewer(),
            id,
            classification,
            &result,
            &reply,
        )
        .await?;
        Ok(Rectification(
            reads::order(ctx.state(), ctx.viewer(), id).await?,
        ))
    }
}
