//! The change registers (附件4 staff changes, 附件5 item changes): submitted by a township or
//! the county at least 3 days before they take effect, approved or rejected by the county
//! centre with a reason, and applied on their date by an idempotent scheduled job.
use chrono::{DateTime, NaiveDate, Utc};
use entity::{item_change_requests, staff_accounts, staff_change_requests};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, PrimaryKeyTrait, QueryFilter,
    QueryOrder, Set, sea_query::Expr,
};
use serde_json::json;
use uuid::Uuid;

use crate::{
    audit,
    auth::{Role, Viewer},
    clock::local_date,
    directory::{
        catalogue::{ItemFields, county_item},
        jurisdiction::Jurisdiction,
        model::text,
        regions::{level_of, region},
        staff::{seal, staff_in_jurisdiction},
    },
    error::{AppError, AppResult},
    events::{EventDraft, Tx, staff_key},
    pii::{Email, MobileNumber, ResidentIdNumber},
    state::AppState,
};

/// 附件4 note: a change must be submitted at least this many days before it takes effect.
pub const NOTICE_DAYS: i64 = 3;

crate::stored_enum! {
    /// Where a change request (附件4 or 附件5) stands.
    pub enum ChangeStatus {
        /// Waiting for the county centre.
        Pending = "pending",
        /// Approved; takes effect on its date.
        Approved = "approved",
        /// Refused, with a reason.
        Rejected = "rejected",
        /// In effect.
        Applied = "applied",
    }
}

/// Pure rule: the effective date must be at least [`NOTICE_DAYS`] after the submission date.
pub fn check_notice(submitted: NaiveDate, effective: NaiveDate, field: &str) -> AppResult<()> {
    if (effective - submitted).num_days() < NOTICE_DAYS {
        return Err(AppError::bad_input(
            field,
            format!(
                "a change must be submitted at least {NOTICE_DAYS} days before it takes effect (earliest {})",
                submitted + chrono::Duration::days(NOTICE_DAYS)
            ),
        ));
    }
    Ok(())
}

pub struct StaffChangeInput {
    pub region_id: Uuid,
    pub before_staff_id: Option<Uuid>,
    pub post: String,
    pub name: String,
    pub username: String,
    pub role: Role,
    pub service_point_id: Option<Uuid>,
    pub id_number: String,
    pub phone: String,
    pub email: String,
    pub arrival_date: NaiveDate,
}

/// A township or county admin registers a staff change for a unit inside their jurisdiction.
pub async fn submit_staff_change(
    state: &AppState,
    viewer: &Viewer,
    input: StaffChangeInput,
) -> AppResult<staff_change_requests::Model> {
    let post = text(&input.post, "input.post", 64)?;
    let name = text(&input.name, "input.name", 32)?;
    let username = input.username.trim().to_lowercase();
    if !(3..=64).contains(&username.len())
        || !username
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
    {
        return Err(AppError::bad_input(
            "input.username",
            "3–64 characters: letters, digits, '.', '_' or '-'",
        ));
    }
    let id_number = ResidentIdNumber::parse(&input.id_number, "input.idNumber")?;
    let phone = MobileNumber::parse(&input.phone, "input.phone")?;
    let email = Email::parse(&input.email, "input.email")?;
    let now = state.clock.now();
    check_notice(local_date(now), input.arrival_date, "input.arrivalDate")?;
    if !matches!(
        input.role,
        Role::VillageAgent | Role::TownshipAgent | Role::CountyAgent
    ) {
        return Err(AppError::bad_input(
            "input.role",
            "the register records 帮办代办 agents",
        ));
    }

    let txn = crate::db::begin_write(&state.db).await?;
    let who = Jurisdiction::of(&txn, viewer).await?;
    let unit = region(&txn, input.region_id)
        .await
        .map_err(crate::error::hidden_as_not_found("region"))?;
    who.ensure_admin_over(&unit, "region")?;
    if crate::directory::model::RegionLevel::of_role(input.role) != level_of(&unit) {
        return Err(AppError::bad_input(
            "input.role",
            "the role does not match the unit's level",
        ));
    }
    if let Some(point_id) = input.service_point_id {
        // A point elsewhere answers as a missing one (nothing is told about other units).
        const NO_SUCH_POINT: &str = "no such service point in the unit";
        let point = crate::directory::points::service_point(&txn, point_id)
            .await
            .map_err(crate::error::missing_as_bad_input(
                "input.servicePointId",
                NO_SUCH_POINT,
            ))?;
        if point.region_id != unit.id {
            return Err(AppError::bad_input("input.servicePointId", NO_SUCH_POINT));
        }
    }
    let before = match input.before_staff_id {
        Some(id) => {
            let before = staff_in_jurisdiction(&txn, &who, id).await?;
            if before.unit_id != Some(unit.id) {
                return Err(AppError::bad_input(
                    "input.beforeStaffId",
                    "that person is not in this unit",
                ));
            }
            Some(before)
        }
        None => None,
    };
    let taken = staff_accounts::Entity::find()
        .filter(staff_accounts::Column::Username.eq(&username))
        .one(&txn)
        .await?
        .is_some();
    if taken {
        return Err(AppError::bad_input(
            "input.username",
            "this username is taken",
        ));
    }
    let sealed = seal(state, Some(&id_number), Some(&phone))?;
    let request = staff_change_requests::ActiveModel {
        id: Set(Uuid::now_v7()),
        region_id: Set(unit.id),
        submitted_by: Set(who.staff_id),
        submitted_at: Set(now),
        before_staff_id: Set(before.as_ref().map(|b| b.id)),
        before_name: Set(before.as_ref().map(|b| b.display_name.clone())),
        post: Set(post),
        after_name: Set(name),
        after_username: Set(username),
        after_role: Set(input.role.as_str().into()),
        after_service_point_id: Set(input.service_point_id),
        after_id_number_enc: Set(sealed.id_number_enc.unwrap_or_default()),
        after_id_number_bidx: Set(sealed.id_number_bidx.unwrap_or_default()),
        after_phone_enc: Set(sealed.phone_enc.unwrap_or_default()),
        after_email: Set(email.as_str().into()),
        arrival_date: Set(input.arrival_date),
        status: Set(ChangeStatus::Pending.as_str().into()),
        decided_by: Set(None),
        decided_at: Set(None),
        decision_reason: Set(None),
        applied_at: Set(None),
        applied_staff_id: Set(None),
    }
    .insert(&txn)
    .await?;
    audit::Pending::action(
        now,
        viewer,
        unit.county_id,
        "staff_change.submit",
        "staff_change",
        request.id,
        json!({"unit": unit.code, "arrivalDate": request.arrival_date.to_string()}),
    )
    .append(&txn)
    .await?;
    txn.commit().await?;
    Ok(request)
}

fn decision(approve: bool, reason: Option<&str>) -> AppResult<(ChangeStatus, Option<String>)> {
    let reason = reason.map(|r| text(r, "reason", 500)).transpose()?;
    if !approve && reason.is_none() {
        return Err(AppError::bad_input("reason", "a rejection needs a reason"));
    }
    Ok((
        if approve {
            ChangeStatus::Approved
        } else {
            ChangeStatus::Rejected
        },
        reason,
    ))
}

/// What the two registers share: the columns a decision and an application touch.
pub trait Register: EntityTrait {
    /// `staff_change` or `item_change`, for the audit log and errors.
    const NAME: &'static str;
    const NOT_FOUND: &'static str;
    /// The event kind of a decision.
    const DECIDED: &'static str;
    fn id_column() -> Self::Column;
    fn status_column() -> Self::Column;
    fn decided_by_column() -> Self::Column;
    fn decided_at_column() -> Self::Column;
    fn reason_column() -> Self::Column;
    fn applied_at_column() -> Self::Column;
    fn region_column() -> Self::Column;
    fn submitted_at_column() -> Self::Column;
    fn region_of(model: &Self::Model) -> Uuid;
    fn status_of(model: &Self::Model) -> &str;
    fn submitter_of(model: &Self::Model) -> Uuid;
}

/// Both registers' tables name their columns alike: one declaration each.
macro_rules! register {
    ($table:ident, $name:literal, $not_found:literal) => {
        impl Register for $table::Entity {
            const NAME: &'static str = $name;
            const NOT_FOUND: &'static str = $not_found;
            const DECIDED: &'static str = concat!($name, ".decided");
            fn id_column() -> Self::Column {
                $table::Column::Id
            }
            fn status_column() -> Self::Column {
                $table::Column::Status
            }
            fn decided_by_column() -> Self::Column {
                $table::Column::DecidedBy
            }
            fn decided_at_column() -> Self::Column {
                $table::Column::DecidedAt
            }
            fn reason_column() -> Self::Column {
                $table::Column::DecisionReason
            }
            fn applied_at_column() -> Self::Column {
                $table::Column::AppliedAt
            }
            fn region_column() -> Self::Column {
                $table::Column::RegionId
            }
            fn submitted_at_column() -> Self::Column {
                $table::Column::SubmittedAt
            }
            fn region_of(model: &Self::Model) -> Uuid {
                model.region_id
            }
            fn status_of(model: &Self::Model) -> &str {
                &model.status
            }
            fn submitter_of(model: &Self::Model) -> Uuid {
                model.submitted_by
            }
        }
    };
}

register!(staff_change_requests, "staff_change", "staff change");
register!(item_change_requests, "item_change", "item change");

async fn find_change<R: Register>(conn: &impl ConnectionTrait, id: Uuid) -> AppResult<R::Model>
where
    R::PrimaryKey: PrimaryKeyTrait<ValueType = Uuid>,
{
    R::find_by_id(id)
        .one(conn)
        .await?
        .ok_or(AppError::NotFound(R::NOT_FOUND))
}

/// The admin of the change's county approves or rejects a pending change of either register
/// (another county's change answers NOT_FOUND). Guarded: a change
/// decided by someone else meanwhile answers INVALID_TRANSITION.
pub async fn decide_change<R: Register>(
    state: &AppState,
    viewer: &Viewer,
    id: Uuid,
    approve: bool,
    reason: Option<&str>,
) -> AppResult<R::Model>
where
    R::PrimaryKey: PrimaryKeyTrait<ValueType = Uuid>,
{
    let (status, reason) = decision(approve, reason)?;
    let mut txn = Tx::begin(state).await?;
    let who = Jurisdiction::of(&*txn, viewer).await?;
    let request = find_change::<R>(&*txn, id).await?;
    let unit = region(&*txn, R::region_of(&request)).await?;
    who.ensure_covers(&unit, R::NOT_FOUND)?;
    who.ensure_county_admin()?;
    let now = state.clock.now();
    let updated = R::update_many()
        .col_expr(R::status_column(), Expr::value(status.as_str()))
        .col_expr(R::decided_by_column(), Expr::value(Some(who.staff_id)))
        .col_expr(R::decided_at_column(), Expr::value(Some(now)))
        .col_expr(R::reason_column(), Expr::value(reason.clone()))
        .filter(R::id_column().eq(id))
        .filter(R::status_column().eq(ChangeStatus::Pending.as_str()))
        .exec(&*txn)
        .await?;
    if updated.rows_affected == 0 {
        let current = R::status_of(&request).to_string();
        return Err(AppError::InvalidTransition(format!(
            "the change is {current} already"
        )));
    }
    let action = format!("{}.{}", R::NAME, if approve { "approve" } else { "reject" });
    txn.audit(crate::audit::Pending::action(
        now,
        viewer,
        unit.county_id,
        &action,
        R::NAME,
        id,
        json!({"reason": reason}),
    ));
    // The decision goes to the admin who submitted the change.
    txn.emit(EventDraft {
        kind: R::DECIDED,
        topic: "directory",
        subject_kind: R::NAME,
        subject_id: id.to_string(),
        audience: vec![staff_key(R::submitter_of(&request))],
        payload: json!({
            "status": status.as_str(),
            "statusText": if approve { "已通过" } else { "未通过" },
            "reason": reason,
            "unit": unit.name,
            "decidedAt": now.to_rfc3339(),
        }),
    });
    let request = find_change::<R>(&*txn, id).await?;
    txn.commit().await?;
    Ok(request)
}

/// Claims an approved change for application (approved → applied); false when another run
/// claimed it first.
pub(super) async fn claim<R: Register>(
    conn: &impl ConnectionTrait,
    id: Uuid,
    now: DateTime<Utc>,
) -> AppResult<bool> {
    let rows = R::update_many()
        .col_expr(
            R::status_column(),
            Expr::value(ChangeStatus::Applied.as_str()),
        )
        .col_expr(R::applied_at_column(), Expr::value(Some(now)))
        .filter(R::id_column().eq(id))
        .filter(R::status_column().eq(ChangeStatus::Approved.as_str()))
        .exec(conn)
        .await?
        .rows_affected;
    Ok(rows == 1)
}

pub struct ItemChangeInput {
    pub region_id: Uuid,
    pub before_item_id: Option<Uuid>,
    pub after: ItemFields,
    pub effective_date: NaiveDate,
}

/// A township or county admin registers an item change.
pub async fn submit_item_change(
    state: &AppState,
    viewer: &Viewer,
    input: ItemChangeInput,
) -> AppResult<item_change_requests::Model> {
    let after = input.after.validate("input.after.")?;
    let now = state.clock.now();
    check_notice(local_date(now), input.effective_date, "input.effectiveDate")?;
    let txn = crate::db::begin_write(&state.db).await?;
    let who = Jurisdiction::of(&txn, viewer).await?;
    let unit = region(&txn, input.region_id)
        .await
        .map_err(crate::error::hidden_as_not_found("region"))?;
    who.ensure_admin_over(&unit, "region")?;
    let county = unit.county_id.ok_or(AppError::NotFound("region"))?;
    let before = match input.before_item_id {
        // Only an item of the unit's own county's catalogue.
        Some(id) => Some(county_item(&txn, county, id).await.map_err(
            crate::error::missing_as_bad_input("input.beforeItemId", "no such item"),
        )?),
        None => None,
    };
    let request = item_change_requests::ActiveModel {
        id: Set(Uuid::now_v7()),
        region_id: Set(unit.id),
        submitted_by: Set(who.staff_id),
        submitted_at: Set(now),
        before_item_id: Set(before.as_ref().map(|b| b.id)),
        before_item_name: Set(before.as_ref().map(|b| b.business_name.clone())),
        before_item_type: Set(before.as_ref().map(|b| b.item_type.clone())),
        after: Set(serde_json::to_string(&after).map_err(AppError::internal)?),
        effective_date: Set(input.effective_date),
        status: Set(ChangeStatus::Pending.as_str().into()),
        decided_by: Set(None),
        decided_at: Set(None),
        decision_reason: Set(None),
        applied_at: Set(None),
        applied_item_id: Set(None),
    }
    .insert(&txn)
    .await?;
    audit::Pending::action(
        now,
        viewer,
        Some(county),
        "item_change.submit",
        "item_change",
        request.id,
        json!({"unit": unit.code, "effectiveDate": request.effective_date.to_string()}),
    )
    .append(&txn)
    .await?;
    txn.commit().await?;
    Ok(request)
}

/// A register (either), as the viewer may see it (their jurisdiction), newest first.
pub async fn list_changes<R: Register>(
    state: &AppState,
    viewer: &Viewer,
    status: Option<ChangeStatus>,
) -> AppResult<Vec<R::Model>> {
    let who = Jurisdiction::of(&state.db, viewer).await?;
    who.ensure_admin_or_auditor()?;
    let units: Vec<Uuid> = crate::directory::regions::subtree(&state.db, &who.region)
        .await?
        .into_iter()
        .map(|r| r.id)
        .collect();
    let mut query = R::find()
        .filter(R::region_column().is_in(units))
        .order_by_desc(R::submitted_at_column());
    if let Some(status) = status {
        query = query.filter(R::status_column().eq(status.as_str()));
    }
    Ok(query.all(&state.db).await?)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> NaiveDate {
        s.parse().unwrap()
    }

    #[test]
    fn changes_need_three_days_notice() {
        let table = [
            ("2026-11-27", "2026-11-30", true),
            ("2026-11-27", "2026-11-29", false),
            ("2026-11-27", "2026-11-27", false),
            ("2026-11-27", "2026-12-31", true),
        ];
        for (submitted, effective, ok) in table {
            let result = check_notice(d(submitted), d(effective), "input.arrivalDate");
            assert_eq!(result.is_ok(), ok, "{submitted} → {effective}");
            if let Err(AppError::BadUserInput { field, .. }) = result {
                assert_eq!(field, "input.arrivalDate");
            }
        }
    }

    #[test]
    fn a_rejection_needs_a_reason() {
        assert!(decision(false, None).is_err());
        assert!(decision(false, Some("  ")).is_err());
        assert_eq!(decision(true, None).unwrap().0, ChangeStatus::Approved);
        assert_eq!(
            decision(false, Some("材料不全")).unwrap().0,
            ChangeStatus::Rejected
        );
    }
}
