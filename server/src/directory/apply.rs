//! Applying approved changes on their date: the idempotent scheduled job (any number of
//! instances may run it; each change is claimed with a guarded update).
use chrono::{DateTime, Utc};
use entity::{item_change_requests, regions, staff_accounts, staff_change_requests};
use sea_orm::{ActiveModelTrait, ColumnTrait, EntityTrait, QueryFilter, Set, sea_query::Expr};
use serde_json::json;
use uuid::Uuid;

use crate::{
    auth::{Role, service::revoke_all_sessions},
    directory::{
        catalogue::{ItemFields, write_item},
        regions::region,
        staff::duty_changed,
    },
    error::{AppError, AppResult},
    events::{EventDraft, Tx, staff_key},
    state::AppState,
};

use super::changes::{ChangeStatus, claim};
use crate::clock::local_date;

/// What one run of the job applied.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Applied {
    pub staff_changes: usize,
    pub item_changes: usize,
}

/// The directory's scheduled job: approved changes applied on their date.
pub struct DirectoryJobs;

#[async_trait::async_trait]
impl crate::jobs::ScheduledJobs for DirectoryJobs {
    fn room(&self) -> &'static str {
        "directory"
    }

    async fn run_due(&self, state: &AppState) -> AppResult<crate::jobs::Counts> {
        let applied = apply_due_changes(state).await?;
        Ok(crate::jobs::Counts::from([
            ("staff_changes", applied.staff_changes as u64),
            ("item_changes", applied.item_changes as u64),
        ]))
    }
}

/// Applies every approved change whose date has come (China date of `now`). Idempotent and safe
/// with several instances: each change is claimed with a guarded UPDATE (approved → applied).
pub async fn apply_due_changes(state: &AppState) -> AppResult<Applied> {
    let now = state.clock.now();
    let today = local_date(now);
    let mut applied = Applied::default();
    let due = staff_change_requests::Entity::find()
        .filter(staff_change_requests::Column::Status.eq(ChangeStatus::Approved.as_str()))
        .filter(staff_change_requests::Column::ArrivalDate.lte(today))
        .all(&state.db)
        .await?;
    for change in due {
        if apply_staff_change(state, &change, now).await? {
            applied.staff_changes += 1;
        }
    }
    let due = item_change_requests::Entity::find()
        .filter(item_change_requests::Column::Status.eq(ChangeStatus::Approved.as_str()))
        .filter(item_change_requests::Column::EffectiveDate.lte(today))
        .all(&state.db)
        .await?;
    for change in due {
        if apply_item_change(state, &change, now).await? {
            applied.item_changes += 1;
        }
    }
    Ok(applied)
}

async fn apply_staff_change(
    state: &AppState,
    change: &staff_change_requests::Model,
    now: DateTime<Utc>,
) -> AppResult<bool> {
    let mut txn = Tx::begin(state).await?;
    if !claim::<staff_change_requests::Entity>(&*txn, change.id, now).await? {
        return Ok(false);
    }
    if let Some(before) = change.before_staff_id {
        staff_accounts::Entity::update_many()
            .col_expr(staff_accounts::Column::Active, Expr::value(false))
            .col_expr(staff_accounts::Column::OnDuty, Expr::value(false))
            .col_expr(
                staff_accounts::Column::WechatUserId,
                Expr::value(Option::<uuid::Uuid>::None),
            )
            .col_expr(
                staff_accounts::Column::WechatBoundAt,
                Expr::value(Option::<DateTime<Utc>>::None),
            )
            .filter(staff_accounts::Column::Id.eq(before))
            .exec(&*txn)
            .await?;
        // Their point loses their seats on the days already generated.
        let departed = staff_accounts::Entity::find_by_id(before)
            .one(&*txn)
            .await?;
        txn.emit_all(departed.as_ref().and_then(duty_changed));
        // The departing agent is signed out that moment (open sockets close with 4403).
        revoke_all_sessions(&*txn, before, "staff_change", now).await?;
    }
    let role: Role = change.after_role.parse().map_err(|_| {
        AppError::internal(anyhow::anyhow!(
            "staff change {} has an unknown role",
            change.id
        ))
    })?;
    let unit: regions::Model = region(&*txn, change.region_id).await?;
    let new_id = Uuid::now_v7();
    let arrived = staff_accounts::ActiveModel {
        id: Set(new_id),
        username: Set(change.after_username.clone()),
        display_name: Set(change.after_name.clone()),
        // No password yet: an admin issues a one-time password with resetStaffPassword.
        password_hash: Set("!".into()),
        role: Set(role.as_str().into()),
        unit_id: Set(Some(unit.id)),
        active: Set(true),
        failed_logins: Set(0),
        locked_until: Set(None),
        created_at: Set(now),
        service_point_id: Set(change.after_service_point_id),
        public_phone: Set(None),
        on_duty: Set(true),
        id_number_enc: Set(Some(change.after_id_number_enc.clone())),
        id_number_bidx: Set(Some(change.after_id_number_bidx.clone())),
        phone_enc: Set(Some(change.after_phone_enc.clone())),
        phone_bidx: Set(Some(
            state.cipher.blind_index(
                "phone",
                &state
                    .cipher
                    .decrypt(&change.after_phone_enc)
                    .map_err(AppError::internal)?,
            ),
        )),
        email: Set(Some(change.after_email.clone())),
        post: Set(Some(change.post.clone())),
        demo: Set(false),
        wechat_user_id: Set(None),
        wechat_bound_at: Set(None),
    }
    .insert(&*txn)
    .await
    .map_err(|e| {
        if crate::db::is_unique_violation(&e) {
            AppError::Conflict(format!(
                "username {} was taken before the change took effect",
                change.after_username
            ))
        } else {
            e.into()
        }
    })?;
    // Their point gains their seats on the days already generated.
    txn.emit_all(duty_changed(&arrived));
    staff_change_requests::Entity::update_many()
        .col_expr(
            staff_change_requests::Column::AppliedStaffId,
            Expr::value(Some(new_id)),
        )
        .filter(staff_change_requests::Column::Id.eq(change.id))
        .exec(&*txn)
        .await?;
    txn.audit(crate::audit::Pending::system(
        now,
        unit.county_id,
        "staff_change.apply",
        "staff_change",
        change.id,
        json!({"newStaffId": new_id, "departingStaffId": change.before_staff_id}),
    ));
    let mut audience = vec![staff_key(change.submitted_by), staff_key(new_id)];
    audience.extend(change.before_staff_id.map(staff_key));
    txn.emit(EventDraft {
        kind: "staff_change.applied",
        topic: "directory",
        subject_kind: "staff_change",
        subject_id: change.id.to_string(),
        audience,
        payload: json!({
            "unit": unit.name,
            "name": change.after_name,
            "newStaffId": new_id,
            "departingStaffId": change.before_staff_id,
            "arrivalDate": change.arrival_date.to_string(),
        }),
    });
    txn.commit().await?;
    Ok(true)
}

async fn apply_item_change(
    state: &AppState,
    change: &item_change_requests::Model,
    now: DateTime<Utc>,
) -> AppResult<bool> {
    let fields: ItemFields = serde_json::from_str(&change.after).map_err(AppError::internal)?;
    let mut txn = Tx::begin(state).await?;
    if !claim::<item_change_requests::Entity>(&*txn, change.id, now).await? {
        return Ok(false);
    }
    let county = region(&*txn, change.region_id)
        .await?
        .county_id
        .ok_or_else(|| {
            AppError::internal(anyhow::anyhow!(
                "item change {} lies in no county",
                change.id
            ))
        })?;
    let item = write_item(&*txn, now, county, change.before_item_id, &fields).await?;
    item_change_requests::Entity::update_many()
        .col_expr(
            item_change_requests::Column::AppliedItemId,
            Expr::value(Some(item.id)),
        )
        .filter(item_change_requests::Column::Id.eq(change.id))
        .exec(&*txn)
        .await?;
    txn.audit(crate::audit::Pending::system(
        now,
        Some(county),
        "item_change.apply",
        "item_change",
        change.id,
        json!({"itemId": item.id}),
    ));
    txn.emit(EventDraft {
        kind: "item_change.applied",
        topic: "directory",
        subject_kind: "item_change",
        subject_id: change.id.to_string(),
        audience: vec![staff_key(change.submitted_by)],
        payload: json!({"itemId": item.id, "businessName": item.business_name, "effectiveDate": change.effective_date.to_string()}),
    });
    txn.commit().await?;
    Ok(true)
}
