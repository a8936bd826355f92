//! Satisfaction in the API: ratings, invitations and rectification orders (`ratings`), with
//! their types (`types`).
pub mod ratings;
pub mod types;

use async_graphql::MergedObject;

/// Satisfaction queries.
#[derive(MergedObject, Default)]
pub struct SatisfactionQuery(ratings::RatingsQuery);

/// Satisfaction mutations.
#[derive(MergedObject, Default)]
pub struct SatisfactionMutation(ratings::RatingsMutation);
