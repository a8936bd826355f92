//! The append-only, hash-chained audit log. Every staff action, approval and reveal of personal
//! data is recorded in the same transaction as the change it describes. Appends are serialised
//! through the single `audit_head` row; `verify` walks the chain and names the first broken link.
//! Nothing here ever updates or deletes a log row.
pub mod graphql;

use chrono::{DateTime, Utc};
use entity::{audit_head, audit_log};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder,
    QuerySelect, Set, sea_query::Expr,
};
use serde_json::Value;
use sha2::{Digest, Sha256};
use uuid::Uuid;

use crate::{
    auth::Viewer,
    error::{AppError, AppResult},
};

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

    fn parts(self) -> (&'static str, Option<Uuid>) {
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

fn row_hash(row: &audit_log::Model) -> String {
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

    /// Appends it (the caller's transaction takes the audit head's lock here).
    pub async fn append(&self, conn: &impl ConnectionTrait) -> AppResult<i64> {
        let entry = Entry {
            actor: self.actor,
            action: &self.action,
            target_kind: &self.target_kind,
            target_id: self.target_id.clone(),
            details: self.details.clone(),
            county: self.county,
        };
        record(conn, self.at, entry).await
    }
}

/// Appends one entry. Call inside the transaction that makes the change, as its last write:
/// the head row's lock is held from here to the commit, and every transaction takes it last.
pub async fn record(
    conn: &impl ConnectionTrait,
    now: DateTime<Utc>,
    entry: Entry<'_>,
) -> AppResult<i64> {
    // Taking the head row's lock first serialises appends across connections and instances.
    audit_head::Entity::update_many()
        .col_expr(
            audit_head::Column::Seq,
            sea_orm::sea_query::ExprTrait::add(Expr::col(audit_head::Column::Seq), 1),
        )
        .filter(audit_head::Column::Id.eq(1))
        .exec(conn)
        .await?;
    let head = audit_head::Entity::find_by_id(1)
        .one(conn)
        .await?
        .ok_or_else(|| AppError::internal(anyhow::anyhow!("audit head row missing")))?;
    let at = DateTime::from_timestamp_micros(now.timestamp_micros()).unwrap_or(now);
    let (actor_kind, actor_id) = entry.actor.parts();
    let details = entry.details.to_string();
    let hash = chain_hash(
        &head.hash,
        head.seq,
        at,
        actor_kind,
        actor_id,
        entry.action,
        entry.target_kind,
        entry.target_id.as_deref(),
        &details,
    );
    audit_log::ActiveModel {
        seq: Set(head.seq),
        at: Set(at),
        actor_kind: Set(actor_kind.into()),
        actor_id: Set(actor_id),
        action: Set(entry.action.into()),
        target_kind: Set(entry.target_kind.into()),
        target_id: Set(entry.target_id),
        details: Set(details),
        prev_hash: Set(head.hash.clone()),
        hash: Set(hash.clone()),
        county_id: Set(entry.county),
    }
    .insert(conn)
    .await?;
    audit_head::Entity::update_many()
        .col_expr(audit_head::Column::Hash, Expr::value(hash))
        .filter(audit_head::Column::Id.eq(1))
        .exec(conn)
        .await?;
    Ok(head.seq)
}

/// The records of `counties`, and the deployment-wide ones, after `after_seq`, oldest first (the
/// caller decides which counties the viewer may read).
pub async fn entries(
    conn: &impl ConnectionTrait,
    counties: Vec<Uuid>,
    after_seq: i64,
    first: u64,
) -> AppResult<Vec<audit_log::Model>> {
    Ok(audit_log::Entity::find()
        .filter(audit_log::Column::Seq.gt(after_seq))
        .filter(
            sea_orm::Condition::any()
                .add(audit_log::Column::CountyId.is_in(counties))
                .add(audit_log::Column::CountyId.is_null()),
        )
        .order_by_asc(audit_log::Column::Seq)
        .limit(first)
        .all(conn)
        .await?)
}

/// The outcome of walking the chain.
#[derive(Debug, PartialEq, Eq)]
pub struct Verification {
    pub rows_checked: i64,
    /// The first row whose link or content does not check, with the reason.
    pub first_broken: Option<(i64, String)>,
}

/// Walks the chain from the first row, in pages.
pub async fn verify(conn: &impl ConnectionTrait) -> AppResult<Verification> {
    let mut expected_prev = "0".repeat(64);
    let mut expected_seq = 1i64;
    let mut checked = 0;
    loop {
        let page = audit_log::Entity::find()
            .filter(audit_log::Column::Seq.gte(expected_seq))
            .order_by_asc(audit_log::Column::Seq)
            .limit(1000)
            .all(conn)
            .await?;
        if page.is_empty() {
            break;
        }
        for row in page {
            let broken = |why: &str| Verification {
                rows_checked: checked,
                first_broken: Some((row.seq, why.to_string())),
            };
            if row.seq != expected_seq {
                return Ok(Verification {
                    rows_checked: checked,
                    first_broken: Some((expected_seq, "row missing".into())),
                });
            }
            if row.prev_hash != expected_prev {
                return Ok(broken("does not link to the previous row"));
            }
            if row_hash(&row) != row.hash {
                return Ok(broken("content does not match its hash"));
            }
            expected_prev = row.hash.clone();
            expected_seq += 1;
            checked += 1;
        }
    }
    let head = audit_head::Entity::find_by_id(1).one(conn).await?;
    if let Some(head) = head
        && (head.seq != expected_seq - 1 || head.hash != expected_prev)
    {
        return Ok(Verification {
            rows_checked: checked,
            first_broken: Some((
                expected_seq,
                "rows at the end of the log are missing".into(),
            )),
        });
    }
    Ok(Verification {
        rows_checked: checked,
        first_broken: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_hash_covers_every_field_and_the_previous_hash() {
        let at = DateTime::from_timestamp(1_790_000_000, 0).unwrap();
        let base = chain_hash(
            "p",
            1,
            at,
            "staff",
            None,
            "approve",
            "change",
            Some("x"),
            "{}",
        );
        let variants = [
            chain_hash(
                "q",
                1,
                at,
                "staff",
                None,
                "approve",
                "change",
                Some("x"),
                "{}",
            ),
            chain_hash(
                "p",
                2,
                at,
                "staff",
                None,
                "approve",
                "change",
                Some("x"),
                "{}",
            ),
            chain_hash(
                "p",
                1,
                at + chrono::Duration::microseconds(1),
                "staff",
                None,
                "approve",
                "change",
                Some("x"),
                "{}",
            ),
            chain_hash(
                "p",
                1,
                at,
                "system",
                None,
                "approve",
                "change",
                Some("x"),
                "{}",
            ),
            chain_hash(
                "p",
                1,
                at,
                "staff",
                None,
                "reject",
                "change",
                Some("x"),
                "{}",
            ),
            chain_hash(
                "p",
                1,
                at,
                "staff",
                None,
                "approve",
                "change",
                Some("y"),
                "{}",
            ),
            chain_hash(
                "p",
                1,
                at,
                "staff",
                None,
                "approve",
                "change",
                Some("x"),
                "{\"a\":1}",
            ),
            // Field boundaries matter: moving a character between fields changes the hash.
            chain_hash(
                "p",
                1,
                at,
                "staff",
                None,
                "approvec",
                "hange",
                Some("x"),
                "{}",
            ),
        ];
        for variant in variants {
            assert_ne!(base, variant);
        }
        assert_eq!(base.len(), 64);
    }
}
