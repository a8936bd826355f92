//! Appeals of ratings in the API.
use async_graphql::{Context, ID, Object};
use chrono::{DateTime, Utc};
use entity::rating_appeals;

use crate::{
    graphql::context::{ContextExt, GqlResult, parse_id},
    satisfaction::{
        appeals,
        model::{RatingAppealReason, RatingAppealStatus},
    },
};

/// A unit's appeal of a rating as mistaken or malicious (申诉), and the county's decision.
pub struct RatingAppeal(pub rating_appeals::Model);

/// A unit's appeal of a rating as mistaken or malicious (申诉), and the county's decision.
#[Object]
impl RatingAppeal {
    /// Stable id (UUID).
    async fn id(&self) -> ID {
        ID(self.0.id.to_string())
    }
    /// The rating appealed.
    async fn rating_id(&self) -> ID {
        ID(self.0.rating_id.to_string())
    }
    /// The rated unit, which appeals.
    async fn unit_id(&self) -> ID {
        ID(self.0.unit_id.to_string())
    }
    /// Why.
    async fn reason(&self) -> GqlResult<RatingAppealReason> {
        Ok(self.0.reason.parse()?)
    }
    /// The unit's explanation.
    async fn explanation(&self) -> &str {
        &self.0.explanation
    }
    /// Evidence references.
    async fn evidence(&self) -> Vec<String> {
        serde_json::from_str(&self.0.evidence).unwrap_or_default()
    }
    /// When it was filed.
    async fn filed_at(&self) -> DateTime<Utc> {
        self.0.filed_at
    }
    /// Where it stands.
    async fn status(&self) -> GqlResult<RatingAppealStatus> {
        Ok(self.0.status.parse()?)
    }
    /// When it was decided.
    async fn decided_at(&self) -> Option<DateTime<Utc>> {
        self.0.decided_at
    }
    /// The decision's note.
    async fn decision_note(&self) -> Option<&str> {
        self.0.decision_note.as_deref()
    }
}

/// Part of `SatisfactionQuery`.
#[derive(Default)]
pub struct AppealsQuery;

#[Object]
impl AppealsQuery {
    /// Administrators: appeals of units in their jurisdiction, newest first (at most 200).
    async fn rating_appeals(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Only appeals of this status.")] status: Option<RatingAppealStatus>,
    ) -> GqlResult<Vec<RatingAppeal>> {
        Ok(appeals::list(ctx.state(), ctx.viewer(), status)
            .await?
            .into_iter()
            .map(RatingAppeal)
            .collect())
    }
}

/// Part of `SatisfactionMutation`.
#[derive(Default)]
pub struct AppealsMutation;

#[Object]
impl AppealsMutation {
    /// An administrator over the rated unit appeals a bad rating as mistaken or malicious, once.
    async fn appeal_rating(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The rating.")] rating_id: ID,
        #[graphql(desc = "Why.")] reason: RatingAppealReason,
        #[graphql(desc = "The explanation, 1–1000 characters.")] explanation: String,
        #[graphql(desc = "Evidence references, at most 10 of 1–200 characters.")] evidence: Option<
            Vec<String>,
        >,
    ) -> GqlResult<RatingAppeal> {
        let id = parse_id(&rating_id, "ratingId")?;
        Ok(RatingAppeal(
            appeals::file(
                ctx.state(),
                ctx.viewer(),
                id,
                reason,
                &explanation,
                &evidence.unwrap_or_default(),
            )
            .await?,
        ))
    }

    /// The county's administrator (not the one who filed it) decides an appeal; upheld, the
    /// rating stays on record and leaves the statistics.
    async fn decide_rating_appeal(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The appeal.")] id: ID,
        #[graphql(desc = "Uphold it (true) or reject it.")] upheld: bool,
        #[graphql(desc = "The decision's reasons, 1–1000 characters.")] note: String,
    ) -> GqlResult<RatingAppeal> {
        let id = parse_id(&id, "id")?;
        Ok(RatingAppeal(
            appeals::decide(ctx.state(), ctx.viewer(), id, upheld, &note).await?,
        ))
    }
}
