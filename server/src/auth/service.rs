//! Identity use cases. Each takes the application state and parsed input and returns
//! `Result<_, AppError>`; nothing here knows about GraphQL.
use std::time::Duration;

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use chrono::{DateTime, Utc};
use entity::{auth_sessions, refresh_tokens, staff_accounts, users};
use rand::RngCore;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QuerySelect, Set,
    sea_query::Expr,
};
use sha2::{Digest, Sha256};
use uuid::Uuid;

use crate::{
    auth::{
        model::{Role, SubjectKind, Viewer},
        password::{DUMMY_HASH, hash_password, verify_password},
    },
    db::is_unique_violation,
    error::{AppError, AppResult},
    state::AppState,
};

/// Locks people's rows (residents), in id order: the first lock a transaction takes (the lock
/// order is written at `events::Tx::audit`). `FOR NO KEY UPDATE` on PostgreSQL, so rows that merely
/// refer to a person (their bookings, ledger entries) are still written meanwhile; SQLite's
/// write transactions are serial already.
pub(crate) async fn lock_people(conn: &impl ConnectionTrait, mut ids: Vec<Uuid>) -> AppResult<()> {
    ids.sort();
    ids.dedup();
    for id in ids {
        users::Entity::find_by_id(id)
            .select_only()
            .column(users::Column::Id)
            .lock(sea_orm::sea_query::LockType::NoKeyUpdate)
            .into_tuple::<Uuid>()
            .one(conn)
            .await?;
    }
    Ok(())
}

/// What a successful login or refresh returns.
pub struct Tokens {
    pub access_token: String,
    pub refresh_token: String,
    pub expires_at: DateTime<Utc>,
    pub viewer: Viewer,
}

/// What the viewer may see about themselves.
#[derive(Clone, Debug)]
pub struct Profile {
    pub id: Uuid,
    pub kind: SubjectKind,
    pub role: Option<Role>,
    pub unit_id: Option<Uuid>,
    pub display_name: Option<String>,
    pub phone_masked: Option<String>,
    /// Staff only: whether a WeChat is bound for staff pushes.
    pub wechat_bound: Option<bool>,
}

const REFRESH_PREFIX: &str = "bbr_";

fn hash_refresh(token: &str) -> String {
    Sha256::digest(token.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn new_refresh_token() -> String {
    let mut bytes = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    format!("{REFRESH_PREFIX}{}", URL_SAFE_NO_PAD.encode(bytes))
}

pub(super) fn unauthenticated(message: &str) -> AppError {
    AppError::Unauthenticated(message.to_string())
}

/// A one-time code from the mini-program: printable ASCII, 1–128 characters.
pub(super) fn parse_code(code: &str) -> AppResult<&str> {
    let code = code.trim();
    if code.is_empty() || code.len() > 128 || !code.chars().all(|c| c.is_ascii_graphic()) {
        return Err(AppError::bad_input(
            "code",
            "the code must be 1–128 printable ASCII characters",
        ));
    }
    Ok(code)
}

async fn insert_refresh_token(
    conn: &impl ConnectionTrait,
    state: &AppState,
    session_id: Uuid,
    now: DateTime<Utc>,
) -> AppResult<String> {
    let token = new_refresh_token();
    let days = i64::try_from(state.settings.auth.refresh_ttl_days).unwrap_or(30);
    refresh_tokens::ActiveModel {
        id: Set(Uuid::now_v7()),
        session_id: Set(session_id),
        token_hash: Set(hash_refresh(&token)),
        created_at: Set(now),
        expires_at: Set(now + chrono::Duration::days(days)),
        used_at: Set(None),
    }
    .insert(conn)
    .await?;
    Ok(token)
}

/// Opens a session for a subject and signs its first token pair.
async fn start_session(
    state: &AppState,
    kind: SubjectKind,
    subject_id: Uuid,
    role: Option<Role>,
    unit_id: Option<Uuid>,
) -> AppResult<Tokens> {
    let now = state.clock.now();
    let session_id = Uuid::now_v7();
    let txn = crate::db::begin_write(&state.db).await?;
    auth_sessions::ActiveModel {
        id: Set(session_id),
        subject_kind: Set(kind.as_str().to_string()),
        subject_id: Set(subject_id),
        created_at: Set(now),
        revoked_at: Set(None),
        revoked_reason: Set(None),
    }
    .insert(&txn)
    .await?;
    let refresh_token = insert_refresh_token(&txn, state, session_id, now).await?;
    txn.commit().await?;
    let (access_token, expires_at) = state
        .tokens
        .issue(now, kind, subject_id, session_id, role, unit_id)?;
    let viewer = state.tokens.verify(&access_token, now)?.viewer()?;
    Ok(Tokens {
        access_token,
        refresh_token,
        expires_at,
        viewer,
    })
}

/// Resident login: a `wx.login` code → openid (or, in dev login, the code itself) → tokens.
pub async fn login_with_wechat(state: &AppState, code: &str, client_ip: &str) -> AppResult<Tokens> {
    let code = parse_code(code)?;
    let limits = &state.settings.limits;
    state
        .limiter
        .check(
            &format!("login:ip:{client_ip}"),
            limits.login_per_ip_per_minute,
            Duration::from_secs(60),
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
    let user = upsert_user(state, &openid, unionid, now).await?;
    start_session(state, SubjectKind::Resident, user.id, None, None).await
}

async fn upsert_user(
    state: &AppState,
    openid: &str,
    unionid: Option<String>,
    now: DateTime<Utc>,
) -> AppResult<users::Model> {
    for _ in 0..2 {
        if let Some(user) = users::Entity::find()
            .filter(users::Column::Openid.eq(openid))
            .one(&state.db)
            .await?
        {
            let mut active: users::ActiveModel = user.into();
            active.last_login_at = Set(now);
            if unionid.is_some() {
                active.unionid = Set(unionid.clone());
            }
            return Ok(active.update(&state.db).await?);
        }
        let inserted = users::ActiveModel {
            id: Set(Uuid::now_v7()),
            openid: Set(openid.to_string()),
            unionid: Set(unionid.clone()),
            phone_enc: Set(None),
            phone_bidx: Set(None),
            created_at: Set(now),
            last_login_at: Set(now),
        }
        .insert(&state.db)
        .await;
        match inserted {
            Ok(user) => return Ok(user),
            // Two first logins raced on the unique openid: read the winner's row.
            Err(error) if is_unique_violation(&error) => continue,
            Err(error) => return Err(error.into()),
        }
    }
    Err(AppError::Conflict(
        "concurrent first login; try again".into(),
    ))
}

/// Staff login with lockout: after `staff_max_failed_logins` consecutive failures the account
/// is locked for `staff_lockout_minutes` (answered as RATE_LIMITED with the time left).
pub async fn login_staff(
    state: &AppState,
    username: &str,
    password: &str,
    client_ip: &str,
) -> AppResult<Tokens> {
    let username = username.trim().to_lowercase();
    if username.is_empty() || username.len() > 64 {
        return Err(AppError::bad_input(
            "username",
            "the username must be 1–64 characters",
        ));
    }
    if password.is_empty() || password.len() > 1024 {
        return Err(AppError::bad_input(
            "password",
            "the password must be 1–1024 characters",
        ));
    }
    let limits = &state.settings.limits;
    let minute = Duration::from_secs(60);
    state
        .limiter
        .check(
            &format!("login:ip:{client_ip}"),
            limits.login_per_ip_per_minute,
            minute,
        )
        .await?;
    state
        .limiter
        .check(
            &format!("login:staff:{username}"),
            limits.login_per_account_per_minute,
            minute,
        )
        .await?;
    let now = state.clock.now();
    let staff = staff_accounts::Entity::find()
        .filter(staff_accounts::Column::Username.eq(&username))
        .one(&state.db)
        .await?;
    let refused = || unauthenticated("invalid username or password");
    let Some(staff) = staff else {
        verify_password(password.to_string(), DUMMY_HASH.to_string()).await?;
        return Err(refused());
    };
    if let Some(until) = staff.locked_until.filter(|until| *until > now) {
        let left = (until - now).num_seconds().max(1);
        return Err(AppError::RateLimited {
            retry_after_seconds: u64::try_from(left).unwrap_or(1),
        });
    }
    if !verify_password(password.to_string(), staff.password_hash.clone()).await? {
        record_failed_login(state, &staff, now).await?;
        return Err(refused());
    }
    if !staff.active {
        return Err(refused());
    }
    staff_accounts::Entity::update_many()
        .col_expr(staff_accounts::Column::FailedLogins, Expr::value(0))
        .col_expr(
            staff_accounts::Column::LockedUntil,
            Expr::value(Option::<DateTime<Utc>>::None),
        )
        .filter(staff_accounts::Column::Id.eq(staff.id))
        .exec(&state.db)
        .await?;
    let role = staff.role.parse::<Role>().map_err(|_| {
        AppError::internal(anyhow::anyhow!("staff {} has an unknown role", staff.id))
    })?;
    start_session(
        state,
        SubjectKind::Staff,
        staff.id,
        Some(role),
        staff.unit_id,
    )
    .await
}

async fn record_failed_login(
    state: &AppState,
    staff: &staff_accounts::Model,
    now: DateTime<Utc>,
) -> AppResult<()> {
    let max = state.settings.auth.staff_max_failed_logins.max(1);
    // Atomic increment: concurrent failures all count.
    staff_accounts::Entity::update_many()
        .col_expr(
            staff_accounts::Column::FailedLogins,
            sea_orm::sea_query::ExprTrait::add(Expr::col(staff_accounts::Column::FailedLogins), 1),
        )
        .filter(staff_accounts::Column::Id.eq(staff.id))
        .exec(&state.db)
        .await?;
    let until = now + chrono::Duration::minutes(state.settings.auth.staff_lockout_minutes.max(1));
    let locked = staff_accounts::Entity::update_many()
        .col_expr(staff_accounts::Column::FailedLogins, Expr::value(0))
        .col_expr(
            staff_accounts::Column::LockedUntil,
            Expr::value(Some(until)),
        )
        .filter(staff_accounts::Column::Id.eq(staff.id))
        .filter(staff_accounts::Column::FailedLogins.gte(max))
        .exec(&state.db)
        .await?;
    if locked.rows_affected > 0 {
        tracing::warn!(staff_id = %staff.id, "staff account locked after repeated failed logins");
    }
    Ok(())
}

/// Exchanges a refresh token for a new pair. The old token is spent; presenting a spent token
/// again means it was stolen or replayed, and the whole session is revoked.
pub async fn refresh_session(state: &AppState, refresh_token: &str) -> AppResult<Tokens> {
    let refused =
        || unauthenticated("the refresh token is invalid, expired or revoked; log in again");
    if !refresh_token.starts_with(REFRESH_PREFIX) || refresh_token.len() > 128 {
        return Err(refused());
    }
    let now = state.clock.now();
    let txn = crate::db::begin_write(&state.db).await?;
    let Some(token) = refresh_tokens::Entity::find()
        .filter(refresh_tokens::Column::TokenHash.eq(hash_refresh(refresh_token)))
        .one(&txn)
        .await?
    else {
        return Err(refused());
    };
    let session = auth_sessions::Entity::find_by_id(token.session_id)
        .one(&txn)
        .await?
        .ok_or_else(refused)?;
    if session.revoked_at.is_some() || token.expires_at <= now {
        return Err(refused());
    }
    let spent = refresh_tokens::Entity::update_many()
        .col_expr(refresh_tokens::Column::UsedAt, Expr::value(Some(now)))
        .filter(refresh_tokens::Column::Id.eq(token.id))
        .filter(refresh_tokens::Column::UsedAt.is_null())
        .exec(&txn)
        .await?;
    if spent.rows_affected == 0 {
        // Reuse of a rotated token (or a concurrent double use): revoke the family.
        revoke_session_in(&txn, session.id, "refresh_token_reuse", now).await?;
        txn.commit().await?;
        tracing::warn!(session_id = %session.id, "refresh token reused; session revoked");
        return Err(refused());
    }
    let new_refresh = insert_refresh_token(&txn, state, session.id, now).await?;
    let kind = session.subject_kind.parse::<SubjectKind>()?;
    let (role, unit_id) = match kind {
        SubjectKind::Resident => (None, None),
        SubjectKind::Staff => {
            let staff = staff_accounts::Entity::find_by_id(session.subject_id)
                .one(&txn)
                .await?
                .filter(|s| s.active)
                .ok_or_else(refused)?;
            (staff.role.parse::<Role>().ok(), staff.unit_id)
        }
    };
    txn.commit().await?;
    let (access_token, expires_at) =
        state
            .tokens
            .issue(now, kind, session.subject_id, session.id, role, unit_id)?;
    let viewer = state.tokens.verify(&access_token, now)?.viewer()?;
    Ok(Tokens {
        access_token,
        refresh_token: new_refresh,
        expires_at,
        viewer,
    })
}

async fn revoke_session_in(
    conn: &impl ConnectionTrait,
    session_id: Uuid,
    reason: &str,
    now: DateTime<Utc>,
) -> AppResult<bool> {
    let result = auth_sessions::Entity::update_many()
        .col_expr(auth_sessions::Column::RevokedAt, Expr::value(Some(now)))
        .col_expr(auth_sessions::Column::RevokedReason, Expr::value(reason))
        .filter(auth_sessions::Column::Id.eq(session_id))
        .filter(auth_sessions::Column::RevokedAt.is_null())
        .exec(conn)
        .await?;
    Ok(result.rows_affected > 0)
}

/// Ends the viewer's session: its refresh tokens and access tokens stop working at once.
pub async fn logout(state: &AppState, viewer: &Viewer) -> AppResult<bool> {
    let session_id = viewer
        .session_id()
        .ok_or_else(|| unauthenticated("log in first"))?;
    revoke_session_in(&state.db, session_id, "logout", state.clock.now()).await
}

/// Revokes every open session of a subject (a staff departure, a blocked account).
pub async fn revoke_all_sessions(
    conn: &impl ConnectionTrait,
    subject_id: Uuid,
    reason: &str,
    now: DateTime<Utc>,
) -> AppResult<u64> {
    let result = auth_sessions::Entity::update_many()
        .col_expr(auth_sessions::Column::RevokedAt, Expr::value(Some(now)))
        .col_expr(auth_sessions::Column::RevokedReason, Expr::value(reason))
        .filter(auth_sessions::Column::SubjectId.eq(subject_id))
        .filter(auth_sessions::Column::RevokedAt.is_null())
        .exec(conn)
        .await?;
    Ok(result.rows_affected)
}

/// Turns a bearer token into a viewer: signature and claims, then the session must be open.
pub async fn authenticate(state: &AppState, bearer: &str) -> AppResult<Viewer> {
    let claims = state.tokens.verify(bearer, state.clock.now())?;
    let viewer = claims.viewer()?;
    let open = auth_sessions::Entity::find_by_id(claims.sid)
        .one(&state.db)
        .await?
        .is_some_and(|s| s.revoked_at.is_none() && s.subject_id == claims.sub);
    if !open {
        return Err(unauthenticated("the session has ended; log in again"));
    }
    Ok(viewer)
}

/// Whether the viewer's session is still open (used by long-lived sockets).
pub async fn session_is_open(state: &AppState, viewer: &Viewer) -> AppResult<bool> {
    let Some(session_id) = viewer.session_id() else {
        return Ok(true);
    };
    Ok(auth_sessions::Entity::find_by_id(session_id)
        .one(&state.db)
        .await?
        .is_some_and(|s| s.revoked_at.is_none()))
}

/// Input for creating a staff account (CLI bootstrap now; admins through the API later).
pub struct NewStaff {
    pub username: String,
    pub display_name: String,
    pub password: String,
    pub role: Role,
    pub unit_id: Option<Uuid>,
}

/// Creates a staff account after validating its fields.
pub async fn create_staff(
    conn: &impl ConnectionTrait,
    now: DateTime<Utc>,
    input: NewStaff,
) -> AppResult<staff_accounts::Model> {
    let username = input.username.trim().to_lowercase();
    let valid_username = (3..=64).contains(&username.len())
        && username
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'));
    if !valid_username {
        return Err(AppError::bad_input(
            "username",
            "3–64 characters: letters, digits, '.', '_' or '-'",
        ));
    }
    let display_name = input.display_name.trim().to_string();
    if display_name.is_empty()
        || display_name.chars().count() > 32
        || display_name
            .chars()
            .any(|c| c.is_control() || crate::directory::model::is_hidden_format(c))
    {
        return Err(AppError::bad_input(
            "displayName",
            "1–32 characters, no control characters",
        ));
    }
    if input.password.chars().count() < 10 || input.password.len() > 1024 {
        return Err(AppError::bad_input("password", "at least 10 characters"));
    }
    let password_hash = hash_password(input.password).await?;
    let created = staff_accounts::ActiveModel {
        id: Set(Uuid::now_v7()),
        username: Set(username),
        display_name: Set(display_name),
        password_hash: Set(password_hash),
        role: Set(input.role.as_str().to_string()),
        unit_id: Set(input.unit_id),
        active: Set(true),
        failed_logins: Set(0),
        locked_until: Set(None),
        created_at: Set(now),
        service_point_id: Set(None),
        public_phone: Set(None),
        on_duty: Set(true),
        id_number_enc: Set(None),
        id_number_bidx: Set(None),
        phone_enc: Set(None),
        phone_bidx: Set(None),
        email: Set(None),
        post: Set(None),
        demo: Set(false),
        wechat_user_id: Set(None),
        wechat_bound_at: Set(None),
    }
    .insert(conn)
    .await;
    match created {
        Ok(model) => Ok(model),
        Err(error) if is_unique_violation(&error) => {
            Err(AppError::bad_input("username", "this username is taken"))
        }
        Err(error) => Err(error.into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_must_be_printable_ascii() {
        assert!(parse_code("081abcDEF").is_ok());
        for bad in ["", "   ", "含中文", "a b", "x\u{0}", &"a".repeat(129)] {
            assert_eq!(
                parse_code(bad).unwrap_err().code(),
                "BAD_USER_INPUT",
                "{bad:?}"
            );
        }
    }

    #[test]
    fn refresh_tokens_are_random_and_stored_hashed() {
        let a = new_refresh_token();
        let b = new_refresh_token();
        assert_ne!(a, b);
        assert!(a.starts_with(REFRESH_PREFIX));
        assert_eq!(hash_refresh(&a).len(), 64);
        assert_ne!(hash_refresh(&a), a);
    }
}
