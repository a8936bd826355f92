//! The signed-in person's own account: their profile, and binding their phone number (a number
//! belongs to one account; binding it elsewhere moves it, with a notice).
use std::time::Duration;

use entity::{staff_accounts, users};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, EntityTrait, QueryFilter, QuerySelect, Set, sea_query::Expr,
};
use uuid::Uuid;

use crate::{
    auth::model::{SubjectKind, Viewer},
    error::{AppError, AppResult},
    pii::MobileNumber,
    state::AppState,
};

use super::service::{Profile, lock_people, parse_code, unauthenticated};

/// The viewer's own profile.
pub async fn profile(state: &AppState, viewer: &Viewer) -> AppResult<Profile> {
    match viewer {
        Viewer::Anonymous => Err(unauthenticated("log in first")),
        Viewer::Resident { user_id, .. } => {
            let user = users::Entity::find_by_id(*user_id)
                .one(&state.db)
                .await?
                .ok_or_else(|| unauthenticated("the account no longer exists"))?;
            resident_profile(state, &user)
        }
        Viewer::Staff { staff_id, .. } => {
            let staff = staff_accounts::Entity::find_by_id(*staff_id)
                .one(&state.db)
                .await?
                .ok_or_else(|| unauthenticated("the account no longer exists"))?;
            Ok(Profile {
                id: staff.id,
                kind: SubjectKind::Staff,
                role: staff.role.parse().ok(),
                unit_id: staff.unit_id,
                display_name: Some(staff.display_name),
                phone_masked: None,
                wechat_bound: Some(staff.wechat_user_id.is_some()),
            })
        }
    }
}

fn resident_profile(state: &AppState, user: &users::Model) -> AppResult<Profile> {
    let phone_masked = match &user.phone_enc {
        Some(enc) => {
            let plain = state.cipher.decrypt(enc).map_err(AppError::internal)?;
            Some(MobileNumber::parse(&plain, "phone")?.masked())
        }
        None => None,
    };
    Ok(Profile {
        id: user.id,
        kind: SubjectKind::Resident,
        role: None,
        unit_id: None,
        display_name: None,
        phone_masked,
        wechat_bound: None,
    })
}

/// Binds the phone number behind a `getPhoneNumber` code to the resident. In dev login the
/// code is taken as the number itself.
pub async fn bind_phone(state: &AppState, viewer: &Viewer, code: &str) -> AppResult<Profile> {
    let Viewer::Resident { user_id, .. } = viewer else {
        return Err(match viewer {
            Viewer::Anonymous => unauthenticated("log in first"),
            _ => AppError::Forbidden("only residents bind a phone number this way".into()),
        });
    };
    let code = parse_code(code)?;
    state
        .limiter
        .check(
            &format!("bind-phone:{user_id}"),
            state.settings.limits.bind_phone_per_user_per_hour,
            Duration::from_secs(3600),
        )
        .await?;
    let user = users::Entity::find_by_id(*user_id)
        .one(&state.db)
        .await?
        .ok_or_else(|| unauthenticated("the account no longer exists"))?;
    let phone = match &state.wechat {
        Some(wechat) => {
            let info = wechat.phone_number(code, &user.openid).await?;
            if !info.country_code.is_empty() && info.country_code != "86" {
                return Err(AppError::bad_input(
                    "code",
                    "only mainland China mobile numbers can be bound",
                ));
            }
            MobileNumber::parse(&info.pure_phone_number, "code")?
        }
        None => MobileNumber::parse(code, "code")?,
    };
    let bidx = state.cipher.blind_index("phone", phone.as_str());
    if user.phone_bidx.as_deref() == Some(bidx.as_str()) {
        // Already this account's number: nothing changes, nobody is told again.
        return resident_profile(state, &user);
    }
    let mut active: users::ActiveModel = user.into();
    active.phone_enc = Set(Some(
        state
            .cipher
            .encrypt(phone.as_str())
            .map_err(AppError::internal)?,
    ));
    active.phone_bidx = Set(Some(bidx.clone()));
    let now = state.clock.now();
    let mut txn = crate::events::Tx::begin(state).await?;
    // A number belongs to one account (a unique index says so): binding it here moves it away
    // from any account that held it, and that account gets a security notice. A concurrent
    // bind of the same number elsewhere fails on the index and is answered CONFLICT.
    let holders = users::Entity::find()
        .select_only()
        .column(users::Column::Id)
        .filter(users::Column::PhoneBidx.eq(bidx.as_str()))
        .filter(users::Column::Id.ne(*user_id));
    // Lock order: every person's row the change touches, in id order — the acting person and
    // whoever holds the number — so two residents taking each other's numbers at once wait
    // for each other instead of deadlocking. Who holds it is read again under the locks.
    let mut people: Vec<Uuid> = holders.clone().into_tuple().all(&*txn).await?;
    people.push(*user_id);
    lock_people(&*txn, people).await?;
    let previous: Vec<Uuid> = holders.into_tuple().all(&*txn).await?;
    if !previous.is_empty() {
        users::Entity::update_many()
            .col_expr(users::Column::PhoneEnc, Expr::value(Option::<String>::None))
            .col_expr(
                users::Column::PhoneBidx,
                Expr::value(Option::<String>::None),
            )
            .filter(users::Column::Id.is_in(previous.clone()))
            .exec(&*txn)
            .await?;
    }
    for holder in previous {
        txn.emit(crate::events::EventDraft {
            kind: "account.phone_moved",
            topic: "account",
            subject_kind: "account",
            subject_id: holder.to_string(),
            audience: vec![crate::events::resident_key(holder)],
            payload: serde_json::json!({
                "phone": phone.masked(),
                "title": "手机号已绑定到其他账号",
                "at": now.to_rfc3339(),
            }),
        });
    }
    let user = active.update(&*txn).await.map_err(|error| {
        if crate::db::is_unique_violation(&error) {
            AppError::Conflict("this number is being bound to another account; try again".into())
        } else {
            error.into()
        }
    })?;
    // A security notice to the person: their account now answers to this number.
    txn.emit(crate::events::EventDraft {
        kind: "account.phone_bound",
        topic: "account",
        subject_kind: "account",
        subject_id: user.id.to_string(),
        audience: vec![crate::events::resident_key(user.id)],
        payload: serde_json::json!({
            "phone": phone.masked(),
            "title": "手机号绑定成功",
            "at": state.clock.now().to_rfc3339(),
        }),
    });
    txn.commit().await?;
    resident_profile(state, &user)
}
