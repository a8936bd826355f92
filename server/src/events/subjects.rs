//! Who may follow a subject's events. Every event names its subject (`subject_kind`,
//! `subject_id`); the room that owns that kind of subject — bookings, change requests, accounts —
//! is the only one that knows who may see it. Each room implements [`SubjectAccess`] for its
//! kinds and is registered where the application is assembled (`lib.rs`); this room asks the
//! registry by kind and imports no domain.
use std::{collections::HashMap, sync::Arc};

use async_trait::async_trait;
use entity::events;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};

use crate::{
    auth::Viewer,
    error::{AppError, AppResult},
    events::model::{Envelope, is_staff_key, resident_key},
    state::AppState,
};

/// One room's answer for the subject kinds it owns.
#[async_trait]
pub trait SubjectAccess: Send + Sync + 'static {
    /// The subject kinds (as events write them) this room answers for.
    fn kinds(&self) -> &'static [&'static str];

    /// Ok when `viewer` may follow subject `id` of `kind` (one of [`kinds`](Self::kinds)).
    /// Otherwise NOT_FOUND `subject` — never FORBIDDEN, so a subject's existence is not told
    /// to those who may not see it — or UNAUTHENTICATED for an anonymous viewer.
    async fn ensure_can_view(
        &self,
        state: &AppState,
        viewer: &Viewer,
        kind: &str,
        id: &str,
    ) -> AppResult<()>;

    /// Whether what this kind's subjects tell residents is theirs alone. Staff who may follow
    /// such a subject receive only the events addressed to staff: an anonymous rating's replies
    /// to its rater, replayed to staff, would tie the rater to the subject. By default staff
    /// follow everything (a booking's or case's staff see what its resident is told).
    fn residents_messages_private(&self, _kind: &str) -> bool {
        false
    }
}

/// What of a subject's events (and push messages) a viewer who may follow it receives.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Sight {
    /// All of them: staff following an ordinary subject.
    Everything,
    /// Those addressed to this audience key: a resident, their own.
    AddressedTo(String),
    /// Those addressed to some staff member: staff following a subject whose residents'
    /// messages are private ([`SubjectAccess::residents_messages_private`]).
    StaffAddressed,
}

impl Sight {
    /// Whether the viewer receives this event.
    pub fn admits(&self, envelope: &Envelope) -> bool {
        match self {
            Sight::Everything => true,
            Sight::AddressedTo(key) => envelope.is_for(key),
            Sight::StaffAddressed => envelope.audience.iter().any(|a| is_staff_key(a)),
        }
    }

    /// The only kind of push recipient (`push_deliveries.recipient`) whose messages the viewer
    /// sees, if limited: staff following a subject whose residents' messages are private see
    /// the staff messages only.
    pub fn push_recipient(&self) -> Option<&'static str> {
        matches!(self, Sight::StaffAddressed).then_some("staff")
    }
}

/// Every room's [`SubjectAccess`], by subject kind.
#[derive(Clone, Default)]
pub struct Subjects {
    by_kind: HashMap<&'static str, Arc<dyn SubjectAccess>>,
}

impl Subjects {
    /// The registry of these rooms' answers. Two rooms claiming one kind is a wiring mistake,
    /// refused at start-up.
    pub fn new(rooms: Vec<Arc<dyn SubjectAccess>>) -> anyhow::Result<Self> {
        let mut by_kind: HashMap<&'static str, Arc<dyn SubjectAccess>> = HashMap::new();
        for room in rooms {
            for kind in room.kinds() {
                if by_kind.insert(kind, room.clone()).is_some() {
                    anyhow::bail!("two rooms answer for the subject kind {kind:?}");
                }
            }
        }
        Ok(Self { by_kind })
    }

    /// Whether some room answers for this kind (events of other kinds cannot be followed).
    pub fn knows(&self, kind: &str) -> bool {
        self.by_kind.contains_key(kind)
    }

    /// Whether the viewer may follow the subject with this id, and what of it they receive: its
    /// kind is read from its events, then its room answers. NOT_FOUND when it has no events, no
    /// room answers for its kind, or the viewer may not see it; UNAUTHENTICATED for an
    /// anonymous viewer.
    pub async fn ensure_can_view(
        &self,
        state: &AppState,
        viewer: &Viewer,
        subject_id: &str,
    ) -> AppResult<Sight> {
        if matches!(viewer, Viewer::Anonymous) {
            return Err(AppError::Unauthenticated("log in first".into()));
        }
        let kind = events::Entity::find()
            .filter(events::Column::SubjectId.eq(subject_id))
            .one(&state.db)
            .await?
            .map(|e| e.subject_kind)
            .ok_or(AppError::NotFound("subject"))?;
        let room = self
            .by_kind
            .get(kind.as_str())
            .ok_or(AppError::NotFound("subject"))?;
        room.ensure_can_view(state, viewer, &kind, subject_id)
            .await?;
        Ok(match viewer {
            Viewer::Resident { user_id, .. } => Sight::AddressedTo(resident_key(*user_id)),
            _ if room.residents_messages_private(&kind) => Sight::StaffAddressed,
            _ => Sight::Everything,
        })
    }
}

/// The subject's id as a UUID; NOT_FOUND `subject` when it is not one.
pub fn subject_uuid(id: &str) -> AppResult<uuid::Uuid> {
    uuid::Uuid::parse_str(id).map_err(|_| AppError::NotFound("subject"))
}

/// NOT_FOUND `subject` unless `owner` is the signed-in resident.
pub fn ensure_resident_owns(viewer: &Viewer, owner: uuid::Uuid) -> AppResult<()> {
    match viewer {
        Viewer::Resident { user_id, .. } if *user_id == owner => Ok(()),
        _ => Err(AppError::NotFound("subject")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Claims(&'static [&'static str]);

    #[async_trait]
    impl SubjectAccess for Claims {
        fn kinds(&self) -> &'static [&'static str] {
            self.0
        }
        async fn ensure_can_view(
            &self,
            _: &AppState,
            _: &Viewer,
            _: &str,
            _: &str,
        ) -> AppResult<()> {
            Ok(())
        }
    }

    #[test]
    fn each_kind_has_one_room() {
        let subjects = Subjects::new(vec![
            Arc::new(Claims(&["booking", "waitlist"])),
            Arc::new(Claims(&["account"])),
        ])
        .unwrap();
        assert!(subjects.knows("waitlist") && subjects.knows("account"));
        assert!(!subjects.knows("case"));
        let twice = Subjects::new(vec![
            Arc::new(Claims(&["booking"])),
            Arc::new(Claims(&["booking"])),
        ]);
        assert!(twice.is_err());
    }
}
