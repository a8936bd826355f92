//! Appending to the audit log (serialised through the `audit_head` row), reading a county's
//! records, and walking the chain.
use chrono::{DateTime, Utc};
use entity::{audit_head, audit_log, complaints};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder,
    QuerySelect, Set, sea_query::Expr,
};

use crate::{
    audit::model::{Entry, Pending, chain_hash, row_hash},
    auth::Viewer,
    directory::jurisdiction::Jurisdiction,
    error::{AppError, AppResult},
    state::AppState,
};

impl Pending {
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

/// Auditors and the county admin: the records of the counties they oversee, and the
/// deployment-wide ones, after `after_seq`, oldest first.
pub async fn entries(
    state: &AppState,
    viewer: &Viewer,
    after_seq: i64,
    first: u64,
) -> AppResult<Vec<audit_log::Model>> {
    let who = Jurisdiction::of(&state.db, viewer).await?;
    who.ensure_auditor()?;
    let counties = who.counties(&state.db).await?;
    // The accused never reads the trail of a complaint about them (信访: who complained, when,
    // how it is handled). Readers here sit at the county centre, where a complaint's chain is
    // the accused person alone (`complaints::rules::in_chain`): the complaints naming them.
    let about_them: Vec<String> = complaints::Entity::find()
        .select_only()
        .column(complaints::Column::Id)
        .filter(complaints::Column::AccusedStaffId.eq(who.staff_id))
        .into_tuple::<uuid::Uuid>()
        .all(&state.db)
        .await?
        .into_iter()
        .map(|id| id.to_string())
        .collect();
    let mut query = audit_log::Entity::find()
        .filter(audit_log::Column::Seq.gt(after_seq))
        .filter(
            sea_orm::Condition::any()
                .add(audit_log::Column::CountyId.is_in(counties))
                .add(audit_log::Column::CountyId.is_null()),
        );
    if !about_them.is_empty() {
        query = query.filter(
            sea_orm::Condition::any()
                .add(audit_log::Column::TargetKind.ne("complaint"))
                .add(audit_log::Column::TargetId.is_null())
                .add(audit_log::Column::TargetId.is_not_in(about_them)),
        );
    }
    Ok(query
        .order_by_asc(audit_log::Column::Seq)
        .limit(first)
        .all(&state.db)
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
