//! The audit log in the API: read-only, for auditors and the county administrator.
use async_graphql::{Context, ID, Object, SimpleObject};
use chrono::{DateTime, Utc};

use crate::{
    error::AppError,
    graphql::context::{ContextExt, GqlResult},
};

/// One audit record. The chain (`prevHash` → `hash`) makes any later edit detectable.
#[derive(SimpleObject)]
pub struct AuditEntry {
    /// Position in the whole log, which every county of the deployment shares: 1, 2, 3 … without
    /// gaps there, so a county's own records skip the numbers of other counties'. Pass the last
    /// one seen as `afterSeq` to page on.
    pub seq: i64,
    /// When the action happened: UTC instant, ISO 8601 (for an anonymous rating, its China day
    /// only: that entry is written the day after, see `rating.recorded`).
    pub at: DateTime<Utc>,
    /// `staff`, `resident` or `system`.
    pub actor_kind: String,
    /// The staff member's or resident's id (UUID); null when `actorKind` is `system`.
    pub actor_id: Option<ID>,
    /// What was done, as `target.verb`, e.g. `staff.create`, `pii.reveal`, `staff_change.approve`.
    pub action: String,
    /// The kind of thing acted on, e.g. `staff`, `service_point`, `item`, `staff_change`.
    pub target_kind: String,
    /// The id of the thing acted on; null when the action has no single target.
    pub target_id: Option<String>,
    /// JSON details (no plain personal data).
    pub details: String,
    /// `hash` of the previous record: 64 lowercase hex digits (all zeros before the first record).
    pub prev_hash: String,
    /// SHA-256 over `prevHash` and this record's fields: 64 lowercase hex digits.
    pub hash: String,
}

/// Audit log queries (审计日志), read-only.
#[derive(Default)]
pub struct AuditQuery;

#[Object]
impl AuditQuery {
    /// Auditors and the county admin: their county's records after `afterSeq` (default: from the start), oldest
    /// first, `first` at a time (1–200, default 50).
    async fn audit_log(
        &self,
        ctx: &Context<'_>,
        #[graphql(
            desc = "Only records after this `seq` (the last one seen); omit to start from the first record."
        )]
        after_seq: Option<i64>,
        #[graphql(default = 50, desc = "Records to return, 1–200 (default 50).")] first: i32,
    ) -> GqlResult<Vec<AuditEntry>> {
        if !(1..=200).contains(&first) {
            return Err(AppError::bad_input("first", "between 1 and 200").into());
        }
        let first = u64::try_from(first).unwrap_or(50);
        let rows =
            crate::audit::entries(ctx.state(), ctx.viewer(), after_seq.unwrap_or(0), first).await?;
        Ok(rows
            .into_iter()
            .map(|r| AuditEntry {
                seq: r.seq,
                at: r.at,
                actor_kind: r.actor_kind,
                actor_id: r.actor_id.map(|id| ID(id.to_string())),
                action: r.action,
                target_kind: r.target_kind,
                target_id: r.target_id,
                details: r.details,
                prev_hash: r.prev_hash,
                hash: r.hash,
            })
            .collect())
    }
}
