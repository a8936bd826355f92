//! Satisfaction in the API: ratings, invitations and rectification orders (`ratings`), the
//! provincial deliveries (`deliveries`), appeals, callbacks and their held comments, with their
//! types (`types`).
pub mod appeals;
pub mod callbacks;
pub mod comments;
pub mod deliveries;
pub mod ratings;
pub mod types;

use async_graphql::MergedObject;

/// Satisfaction queries.
#[derive(MergedObject, Default)]
pub struct SatisfactionQuery(
    ratings::RatingsQuery,
    deliveries::DeliveriesQuery,
    appeals::AppealsQuery,
    callbacks::CallbacksQuery,
    comments::CommentsQuery,
);

/// Satisfaction mutations.
#[derive(MergedObject, Default)]
pub struct SatisfactionMutation(
    ratings::RatingsMutation,
    deliveries::DeliveriesMutation,
    appeals::AppealsMutation,
    callbacks::CallbacksMutation,
    comments::CommentsMutation,
);
