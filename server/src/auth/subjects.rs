//! Who may follow an account's events (see `events::subjects`): its resident only.
use async_trait::async_trait;

use crate::{
    auth::Viewer,
    error::AppResult,
    events::subjects::{SubjectAccess, ensure_resident_owns, subject_uuid},
    state::AppState,
};

pub struct AccountSubjects;

#[async_trait]
impl SubjectAccess for AccountSubjects {
    fn kinds(&self) -> &'static [&'static str] {
        &["account"]
    }

    async fn ensure_can_view(
        &self,
        _state: &AppState,
        viewer: &Viewer,
        _kind: &str,
        id: &str,
    ) -> AppResult<()> {
        ensure_resident_owns(viewer, subject_uuid(id)?)
    }
}
