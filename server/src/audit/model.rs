//! What the audit log records: who acted (`Actor`), one entry (`Entry`), an entry waiting for
//! its transaction's commit (`Pending`), and the chain hash over a row.
use chrono::{DateTime, Utc};
use entity::audit_log;
use serde_json::Value;
use sha2::{Digest, Sha256};
use uuid::Uuid;

use crate::auth::Viewer;

/// Who did it.
#[derive(Clone, Copy, Debug)]
pub enum Actor {
    Staff(Uuid),
    Resident(Uuid),
    /// Scheduled jobs and the command line.
    System,
}

impl Actor {
    pub fn of(viewer: &Viewer) -> Self {
        match viewer {
            Viewer::Staff { staff_id, .. } => Actor::Staff(*staff_id),
            Viewer::Resident { user_id, .. } => Actor::Resident(*user_id),
            Viewer::Anonymous => Actor::System,
        }
    }

    pub(crate) fn parts(self) -> (&'static str, Option<Uuid>) {
        match self {
            Actor::Staff(id) => ("staff", Some(id)),
            Actor::Resident(id) => ("resident", Some(id)),
            Actor::System => ("system", None),
        }
    }
}

/// One thing to record.
pub struct Entry<'a> {
    pub actor: Actor,
    pub action: &'a str,
    pub target_kind: &'a str,
    pub target_id: Option<String>,
    /// Never plain personal data: ids, masked values, reasons.
    pub details: Value,
    /// The county whose auditors read it (None: a deployment-wide action, such as a change to
    /// the shared working calendar, read by every county's auditors).
    pub county: Option<Uuid>,
}

/// The chain hash of a row: SHA-256 over the previous hash and every field, in a fixed order.
#[allow(clippy::too_many_arguments)]
pub fn chain_hash(
    prev_hash: &str,
    seq: i64,
    at: DateTime<Utc>,
    actor_kind: &str,
    actor_id: Option<Uuid>,
    action: &str,
    target_kind: &str,
    target_id: Option<&str>,
    details: &str,
) -> String {
    let mut hasher = Sha256::new();
    for part in [
        prev_hash.to_string(),
        seq.to_string(),
        at.timestamp_micros().to_string(),
        actor_kind.to_string(),
        actor_id.map(|id| id.to_string()).unwrap_or_default(),
        action.to_string(),
        target_kind.to_string(),
        target_id.unwrap_or_default().to_string(),
        details.to_string(),
    ] {
        hasher.update(part.len().to_le_bytes());
        hasher.update(part.as_bytes());
    }
    hasher
        .finalize()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

pub(crate) fn row_hash(row: &audit_log::Model) -> String {
    chain_hash(
        &row.prev_hash,
        row.seq,
        row.at,
        &row.actor_kind,
        row.actor_id,
        &row.action,
        &row.target_kind,
        row.target_id.as_deref(),
        &row.details,
    )
}

/// An entry waiting for its transaction's commit: [`crate::events::Tx::audit`] queues it and the
/// commit appends it last, after every other write of the transaction.
#[derive(Clone, Debug)]
pub struct Pending {
    pub at: DateTime<Utc>,
    pub actor: Actor,
    pub action: String,
    pub target_kind: String,
    pub target_id: Option<String>,
    pub details: Value,
    pub county: Option<Uuid>,
}

impl Pending {
    /// What `viewer` did to one target at `at`, in `county` (whose auditors read it).
    pub fn action(
        at: DateTime<Utc>,
        viewer: &Viewer,
        county: Option<Uuid>,
        action: impl Into<String>,
        target_kind: &str,
        target_id: impl ToString,
        details: Value,
    ) -> Self {
        Self {
            at,
            actor: Actor::of(viewer),
            action: action.into(),
            target_kind: target_kind.into(),
            target_id: Some(target_id.to_string()),
            details,
            county,
        }
    }

    /// What the system (a job, an applied change) did, in `county`.
    pub fn system(
        at: DateTime<Utc>,
        county: Option<Uuid>,
        action: impl Into<String>,
        target_kind: &str,
        target_id: impl ToString,
        details: Value,
    ) -> Self {
        Self {
            actor: Actor::System,
            ..Self::action(
                at,
                &Viewer::Anonymous,
                county,
                action,
                target_kind,
                target_id,
                details,
            )
        }
    }
}
