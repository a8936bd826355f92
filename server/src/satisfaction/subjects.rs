//! Who may follow a rating's or a rectification order's events (`subjectEvents`): a rating's
//! rater and staff covering a unit it counts for; an order's staff covering its unit; a
//! callback's county centre staff. Anyone else is told NOT_FOUND.
use async_trait::async_trait;

use crate::{
    auth::Viewer,
    error::{AppError, AppResult, hidden_as_not_found},
    events::subjects::{SubjectAccess, subject_uuid},
    satisfaction::reads,
    state::AppState,
};

pub struct SatisfactionSubjects;

#[async_trait]
impl SubjectAccess for SatisfactionSubjects {
    fn kinds(&self) -> &'static [&'static str] {
        &["rating", "rectification", "callback"]
    }

    async fn ensure_can_view(
        &self,
        state: &AppState,
        viewer: &Viewer,
        kind: &str,
        id: &str,
    ) -> AppResult<()> {
        let id = subject_uuid(id)?;
        let seen = match kind {
            "rating" => reads::rating(state, viewer, id).await.map(|_| ()),
            "callback" => crate::satisfaction::callbacks::ensure_can_view(state, viewer, id).await,
            _ => reads::order(state, viewer, id).await.map(|_| ()),
        };
        seen.map_err(|error| match error {
            AppError::Unauthenticated(m) => AppError::Unauthenticated(m),
            other => hidden_as_not_found("subject")(other),
        })
    }

    /// A rating's replies are its rater's: staff following it hear only what staff are told
    /// (the rater may be anonymous, and the reply's moment would tie them to it).
    fn residents_messages_private(&self, kind: &str) -> bool {
        kind == "rating"
    }
}
