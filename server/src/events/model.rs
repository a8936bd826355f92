//! What an event is: the draft a domain emits, the envelope it travels as, and who may see it
//! (audience keys). A leaf of the event road: every other part of it imports these.
use chrono::{DateTime, Utc};
use entity::events;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use uuid::Uuid;

use crate::auth::Viewer;

/// Who may see an event: `resident:<uuid>` or `staff:<uuid>`.
pub fn resident_key(id: Uuid) -> String {
    format!("resident:{id}")
}

pub fn staff_key(id: Uuid) -> String {
    format!("staff:{id}")
}

/// Whether an audience key is a staff member's.
pub fn is_staff_key(key: &str) -> bool {
    key.starts_with("staff:")
}

/// The staff audience keys are those from `STAFF_KEY_FROM` (included) to `STAFF_KEY_UNTIL`
/// (excluded): `;` follows `:` in every collation of ASCII.
pub const STAFF_KEY_FROM: &str = "staff:";
pub const STAFF_KEY_UNTIL: &str = "staff;";

/// The audience key of a viewer, if signed in.
pub fn viewer_key(viewer: &Viewer) -> Option<String> {
    match viewer {
        Viewer::Anonymous => None,
        Viewer::Resident { user_id, .. } => Some(resident_key(*user_id)),
        Viewer::Staff { staff_id, .. } => Some(staff_key(*staff_id)),
    }
}

/// An event about to be written.
#[derive(Clone, Debug)]
pub struct EventDraft {
    pub kind: &'static str,
    pub topic: &'static str,
    pub subject_kind: &'static str,
    pub subject_id: String,
    pub audience: Vec<String>,
    /// Public to the audience: no plain personal data.
    pub payload: Value,
}

/// An event as it travels: what was written, with its position and audience.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Envelope {
    pub id: Uuid,
    /// Insert order: the row's key, not an order to follow.
    pub seq: i64,
    /// Publish order, once the relay has positioned it (replay and live follow it).
    #[serde(default)]
    pub position: Option<i64>,
    pub kind: String,
    pub topic: String,
    pub subject_kind: String,
    pub subject_id: String,
    pub audience: Vec<String>,
    pub payload: Value,
    pub created_at: DateTime<Utc>,
}

impl Envelope {
    pub fn from_row(row: events::Model, audience: Vec<String>) -> Self {
        Self {
            id: row.id,
            seq: row.seq,
            position: row.position,
            kind: row.kind,
            topic: row.topic,
            subject_kind: row.subject_kind,
            subject_id: row.subject_id,
            audience,
            payload: serde_json::from_str(&row.payload).unwrap_or(Value::Null),
            created_at: row.created_at,
        }
    }

    pub fn is_for(&self, key: &str) -> bool {
        self.audience.iter().any(|a| a == key)
    }
}
