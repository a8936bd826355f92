//! Who may follow the directory's subjects (see `events::subjects`): a staff or item change
//! request — admins and auditors whose jurisdiction covers its region; a staff member — that
//! person, and admins and auditors whose jurisdiction covers their unit.
use async_trait::async_trait;
use entity::{item_change_requests, staff_accounts, staff_change_requests};
use sea_orm::EntityTrait;

use crate::{
    auth::Viewer,
    directory::{jurisdiction::Jurisdiction, regions::region},
    error::{AppError, AppResult, hidden_as_not_found},
    events::subjects::{SubjectAccess, subject_uuid},
    state::AppState,
};

pub struct DirectorySubjects;

#[async_trait]
impl SubjectAccess for DirectorySubjects {
    fn kinds(&self) -> &'static [&'static str] {
        &["staff_change", "item_change", "staff"]
    }

    async fn ensure_can_view(
        &self,
        state: &AppState,
        viewer: &Viewer,
        kind: &str,
        id: &str,
    ) -> AppResult<()> {
        let not_found = || AppError::NotFound("subject");
        let Viewer::Staff { staff_id, .. } = viewer else {
            return Err(not_found());
        };
        let id = subject_uuid(id)?;
        let region_id = match kind {
            "staff_change" => staff_change_requests::Entity::find_by_id(id)
                .one(&state.db)
                .await?
                .map(|c| c.region_id),
            "item_change" => item_change_requests::Entity::find_by_id(id)
                .one(&state.db)
                .await?
                .map(|c| c.region_id),
            "staff" if *staff_id == id => return Ok(()),
            "staff" => staff_accounts::Entity::find_by_id(id)
                .one(&state.db)
                .await?
                .and_then(|s| s.unit_id),
            _ => None,
        }
        .ok_or_else(not_found)?;
        let who = Jurisdiction::of(&state.db, viewer)
            .await
            .map_err(hidden_as_not_found("subject"))?;
        who.ensure_covers(&region(&state.db, region_id).await?, "subject")?;
        who.ensure_admin_or_auditor()
            .map_err(hidden_as_not_found("subject"))
    }
}
