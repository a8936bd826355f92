//! Who may follow a case's events (`subjectEvents(caseId)`): its applicant, and staff who may
//! read it (see `service::access`); a consultation's: staff who may read it. Anyone else is told
//! NOT_FOUND.
use async_trait::async_trait;

use crate::{
    auth::Viewer,
    cases::service::{access, load_case},
    error::{AppError, AppResult, hidden_as_not_found},
    events::subjects::{SubjectAccess, subject_uuid},
    state::AppState,
};

pub struct CaseSubjects;

#[async_trait]
impl SubjectAccess for CaseSubjects {
    fn kinds(&self) -> &'static [&'static str] {
        &["case", "consultation"]
    }

    async fn ensure_can_view(
        &self,
        state: &AppState,
        viewer: &Viewer,
        kind: &str,
        id: &str,
    ) -> AppResult<()> {
        if kind == "consultation" {
            return crate::cases::consultations::ensure_can_view(state, viewer, subject_uuid(id)?)
                .await
                .map_err(|error| match error {
                    AppError::Unauthenticated(m) => AppError::Unauthenticated(m),
                    other => hidden_as_not_found("subject")(other),
                });
        }
        let case = load_case(&state.db, subject_uuid(id)?)
            .await
            .map_err(hidden_as_not_found("subject"))?;
        access(state, viewer, &case)
            .await
            .map(|_| ())
            .map_err(|error| match error {
                AppError::Unauthenticated(m) => AppError::Unauthenticated(m),
                other => hidden_as_not_found("subject")(other),
            })
    }
}
