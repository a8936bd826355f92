//! Who may follow the booking desk's subjects (see `events::subjects`): a booking — its
//! resident, and staff at the point's desk; a waitlist entry or a restriction — its resident; a
//! point's queue of a day — staff at the point's desk.
use async_trait::async_trait;
use entity::{booking_restrictions, bookings, waitlist_entries};
use sea_orm::EntityTrait;

use crate::{
    auth::Viewer,
    booking::desk::ensure_desk,
    error::{AppError, AppResult, hidden_as_not_found},
    events::subjects::{SubjectAccess, ensure_resident_owns, subject_uuid},
    state::AppState,
};

pub struct BookingSubjects;

#[async_trait]
impl SubjectAccess for BookingSubjects {
    fn kinds(&self) -> &'static [&'static str] {
        &["booking", "waitlist", "restriction", "queue"]
    }

    async fn ensure_can_view(
        &self,
        state: &AppState,
        viewer: &Viewer,
        kind: &str,
        id: &str,
    ) -> AppResult<()> {
        let not_found = || AppError::NotFound("subject");
        let desk = |point_id| async move {
            ensure_desk(state, viewer, point_id)
                .await
                .map(|_| ())
                .map_err(hidden_as_not_found("subject"))
        };
        match kind {
            "booking" => {
                let booking = bookings::Entity::find_by_id(subject_uuid(id)?)
                    .one(&state.db)
                    .await?
                    .ok_or_else(not_found)?;
                match viewer {
                    Viewer::Staff { .. } => desk(booking.service_point_id).await,
                    _ => ensure_resident_owns(viewer, booking.user_id),
                }
            }
            "waitlist" => {
                let entry = waitlist_entries::Entity::find_by_id(subject_uuid(id)?)
                    .one(&state.db)
                    .await?
                    .ok_or_else(not_found)?;
                ensure_resident_owns(viewer, entry.user_id)
            }
            "restriction" => {
                let restriction = booking_restrictions::Entity::find_by_id(subject_uuid(id)?)
                    .one(&state.db)
                    .await?
                    .ok_or_else(not_found)?;
                ensure_resident_owns(viewer, restriction.user_id)
            }
            "queue" => {
                // `queue:<point>:<day>` (see `queue::queue_subject`).
                let point = id
                    .strip_prefix("queue:")
                    .and_then(|rest| rest.split(':').next())
                    .ok_or_else(not_found)?;
                match viewer {
                    Viewer::Staff { .. } => desk(subject_uuid(point)?).await,
                    _ => Err(not_found()),
                }
            }
            _ => Err(not_found()),
        }
    }
}
