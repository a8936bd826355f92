//! A staff member's WeChat: `bindStaffWechat(code)` takes a `wx.login` code through the same
//! code2Session road as a resident's login (the openid's `users` row is found, or made as a
//! first login would, once the bind is sure to go ahead) and links that WeChat user to the staff account, so what concerns them (a
//! transfer to their unit, a case due soon) can reach them by subscribe message. Consent
//! credits stay with the WeChat user, as WeChat counts them per openid and template. One WeChat
//! user per staff account, and one staff account per WeChat user (a unique index); binding
//! another replaces the old one. Binding and unbinding are audited; the openid is never shown,
//! logged or audited.
use std::time::Duration;

use entity::{regions, staff_accounts, users};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, EntityTrait, QueryFilter, QuerySelect, Set, sea_query::LockType,
};
use serde_json::json;
use uuid::Uuid;

use crate::{
    auth::model::Viewer,
    error::{AppError, AppResult},
    events::Tx,
    state::AppState,
};

use super::service::{parse_code, unauthenticated};

fn staff_of(viewer: &Viewer) -> AppResult<Uuid> {
    match viewer {
        Viewer::Staff { staff_id, .. } => Ok(*staff_id),
        Viewer::Anonymous => Err(unauthenticated("log in first")),
        Viewer::Resident { .. } => Err(AppError::Forbidden(
            "residents sign in with WeChat; this binds a staff account".into(),
        )),
    }
}

/// The staff account's row, locked for the change (`FOR UPDATE` on PostgreSQL).
async fn lock_staff(tx: &Tx<'_>, staff_id: Uuid) -> AppResult<staff_accounts::Model> {
    staff_accounts::Entity::find_by_id(staff_id)
        .lock(LockType::Update)
        .one(&**tx)
        .await?
        .filter(|s| s.active)
        .ok_or_else(|| unauthenticated("the account is no longer active"))
}

async fn county_of(tx: &Tx<'_>, staff: &staff_accounts::Model) -> AppResult<Option<Uuid>> {
    let Some(unit) = staff.unit_id else {
        return Ok(None);
    };
    Ok(regions::Entity::find_by_id(unit)
        .one(&**tx)
        .await?
        .and_then(|r| r.county_id))
}

/// Binds the WeChat behind a `wx.login` code to the signed-in staff account (in dev login the
/// code is the openid itself). Returns whether anything changed.
pub async fn bind(state: &AppState, viewer: &Viewer, code: &str) -> AppResult<bool> {
    let staff_id = staff_of(viewer)?;
    let code = parse_code(code)?;
    state
        .limiter
        .check(
            &format!("bind-staff-wechat:{staff_id}"),
            state.settings.limits.bind_phone_per_user_per_hour,
            Duration::from_secs(3600),
        )
        .await?;
    let (openid, unionid) = match &state.wechat {
        Some(wechat) => {
            let session = wechat.code_to_session(code).await?;
            (session.openid, session.unionid)
        }
        None => (code.to_string(), None),
    };
    let now = state.clock.now();
    let mut tx = Tx::begin(state).await?;
    let staff = lock_staff(&tx, staff_id).await?;
    // Nothing is written before every check has passed: the WeChat user is looked up, and
    // made (as a first login would) only for a bind that goes ahead.
    let known = users::Entity::find()
        .filter(users::Column::Openid.eq(openid.as_str()))
        .one(&*tx)
        .await?;
    if let Some(user) = &known {
        if staff.wechat_user_id == Some(user.id) {
            tx.commit().await?;
            return Ok(false);
        }
        let taken = staff_accounts::Entity::find()
            .select_only()
            .column(staff_accounts::Column::Id)
            .filter(staff_accounts::Column::WechatUserId.eq(user.id))
            .filter(staff_accounts::Column::Id.ne(staff_id))
            .into_tuple::<Uuid>()
            .one(&*tx)
            .await?;
        if taken.is_some() {
            return Err(AppError::Conflict(
                "this WeChat is bound to another staff account; unbind it there first".into(),
            ));
        }
    }
    let user_id = match known {
        Some(user) => user.id,
        None => {
            let made = users::ActiveModel {
                id: Set(Uuid::now_v7()),
                openid: Set(openid),
                unionid: Set(unionid),
                phone_enc: Set(None),
                phone_bidx: Set(None),
                created_at: Set(now),
                last_login_at: Set(now),
            }
            .insert(&*tx)
            .await
            .map_err(|error| {
                if crate::db::is_unique_violation(&error) {
                    AppError::Conflict("this WeChat signed in just now; try again".into())
                } else {
                    error.into()
                }
            })?;
            made.id
        }
    };
    let replaced = staff.wechat_user_id.is_some();
    let county = county_of(&tx, &staff).await?;
    let mut active: staff_accounts::ActiveModel = staff.into();
    active.wechat_user_id = Set(Some(user_id));
    active.wechat_bound_at = Set(Some(now));
    active.update(&*tx).await.map_err(|error| {
        if crate::db::is_unique_violation(&error) {
            AppError::Conflict(
                "this WeChat is being bound to another staff account; try again".into(),
            )
        } else {
            error.into()
        }
    })?;
    tx.audit(crate::audit::Pending::action(
        now,
        viewer,
        county,
        "staff.wechat_bound",
        "staff",
        staff_id,
        json!({"replaced": replaced}),
    ));
    tx.commit().await?;
    Ok(true)
}

/// Unbinds the signed-in staff account's WeChat: no more staff pushes reach it. Returns whether
/// one was bound.
pub async fn unbind(state: &AppState, viewer: &Viewer) -> AppResult<bool> {
    let staff_id = staff_of(viewer)?;
    let now = state.clock.now();
    let mut tx = Tx::begin(state).await?;
    let staff = lock_staff(&tx, staff_id).await?;
    if staff.wechat_user_id.is_none() {
        tx.commit().await?;
        return Ok(false);
    }
    let county = county_of(&tx, &staff).await?;
    let mut active: staff_accounts::ActiveModel = staff.into();
    active.wechat_user_id = Set(None);
    active.wechat_bound_at = Set(None);
    active.update(&*tx).await?;
    tx.audit(crate::audit::Pending::action(
        now,
        viewer,
        county,
        "staff.wechat_unbound",
        "staff",
        staff_id,
        json!({}),
    ));
    tx.commit().await?;
    Ok(true)
}
