//! Held callback comments in the API: the county centre's administrator reads and decides them.
use async_graphql::{Context, ID, Object, SimpleObject};

use crate::{
    graphql::context::{ContextExt, GqlResult, parse_id},
    satisfaction::{comments, graphql::callbacks::CallbackTask},
};

/// An applicant's callback comment the content check held for a human.
#[derive(SimpleObject)]
pub struct HeldCallbackComment {
    /// The callback.
    pub id: ID,
    /// The comment, as the applicant wrote it.
    pub comment: String,
}

/// Part of `SatisfactionQuery`.
#[derive(Default)]
pub struct CommentsQuery;

#[Object]
impl CommentsQuery {
    /// The county centre's administrators: the county's held callback comments, oldest first
    /// (at most 200), to release or withhold.
    async fn held_callback_comments(
        &self,
        ctx: &Context<'_>,
    ) -> GqlResult<Vec<HeldCallbackComment>> {
        Ok(comments::held(ctx.state(), ctx.viewer())
            .await?
            .into_iter()
            .map(|(id, comment)| HeldCallbackComment {
                id: ID(id.to_string()),
                comment,
            })
            .collect())
    }
}

/// Part of `SatisfactionMutation`.
#[derive(Default)]
pub struct CommentsMutation;

#[Object]
impl CommentsMutation {
    /// The county centre's administrator releases a held callback comment (`RELEASED`: shown
    /// with the answers) or withholds it for good (`WITHHELD`), audited.
    async fn review_callback_comment(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The callback.")] id: ID,
        #[graphql(desc = "true: release it; false: withhold it.")] publish: bool,
    ) -> GqlResult<CallbackTask> {
        let id = parse_id(&id, "id")?;
        Ok(CallbackTask(
            comments::review(ctx.state(), ctx.viewer(), id, publish).await?,
            true,
        ))
    }
}
