//! Who may follow a complaint's events (`subjectEvents`): its real-name complainant and the
//! staff who may read it; a statement request's: the person asked and the staff who may read
//! its complaint. Staff following either hear only what staff are told. Anyone else — the
//! accused following the complaint itself among them — is told NOT_FOUND.
use async_trait::async_trait;
use entity::complaint_exchanges;
use sea_orm::EntityTrait;

use crate::{
    auth::Viewer,
    complaints::{access, reads::load},
    error::{AppError, AppResult, hidden_as_not_found},
    events::subjects::{SubjectAccess, subject_uuid},
    state::AppState,
};

pub struct ComplaintSubjects;

async fn can_view(state: &AppState, viewer: &Viewer, kind: &str, id: uuid::Uuid) -> AppResult<()> {
    let complaint_id = if kind == "complaint_statement" {
        let request = complaint_exchanges::Entity::find_by_id(id)
            .one(&state.db)
            .await?
            .ok_or(AppError::NotFound("subject"))?;
        if let Viewer::Staff { staff_id, .. } = viewer
            && request.addressed_to == Some(*staff_id)
        {
            return Ok(());
        }
        request.complaint_id
    } else {
        id
    };
    let complaint = load(&state.db, complaint_id).await?;
    match viewer {
        Viewer::Resident { .. } if kind == "complaint" => {
            access::ensure_complainant(viewer, &complaint).map(|_| ())
        }
        Viewer::Staff { .. } => access::staff_reading(&state.db, viewer, &complaint)
            .await
            .map(|_| ()),
        _ => Err(AppError::NotFound("subject")),
    }
}

#[async_trait]
impl SubjectAccess for ComplaintSubjects {
    fn kinds(&self) -> &'static [&'static str] {
        &["complaint", "complaint_statement"]
    }

    async fn ensure_can_view(
        &self,
        state: &AppState,
        viewer: &Viewer,
        kind: &str,
        id: &str,
    ) -> AppResult<()> {
        let id = subject_uuid(id)?;
        can_view(state, viewer, kind, id)
            .await
            .map_err(|error| match error {
                AppError::Unauthenticated(m) => AppError::Unauthenticated(m),
                other => hidden_as_not_found("subject")(other),
            })
    }

    /// What a complainant is told is theirs: staff following a complaint hear only what staff
    /// are told (the complainant's messages would name them).
    fn residents_messages_private(&self, _kind: &str) -> bool {
        true
    }
}
