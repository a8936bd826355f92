//! The content check every resident's free text passes before it is stored (WeChat
//! msgSecCheck v2): what WeChat suggested decides whether the text is published, held for
//! staff to release, checked again later (WeChat could not be asked), or refused
//! (CONTENT_REJECTED). A text is never published unchecked. Without a WeChat AppID (dev
//! login, refused in production) every text passes.
use std::time::Duration;

use entity::users;
use sea_orm::{ConnectionTrait, EntityTrait};
use uuid::Uuid;

use crate::{
    error::{AppError, AppResult},
    state::AppState,
    wechat::sec_check::{Scene, Suggest},
};

/// What a check found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    Pass,
    Review {
        label: i64,
    },
    Risky {
        label: i64,
    },
    /// WeChat could not be asked (down, slow, or the user not seen lately).
    Unavailable,
}

/// What to do with the text.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Disposition {
    /// Store and show it.
    Publish,
    /// Store it hidden until staff release it.
    Hold { label: i64 },
    /// Store it hidden and check it again later.
    Recheck,
    /// Refuse it: CONTENT_REJECTED, nothing stored.
    Reject { label: i64 },
}

/// Pure: the disposition of a verdict.
pub fn disposition(verdict: Verdict) -> Disposition {
    match verdict {
        Verdict::Pass => Disposition::Publish,
        Verdict::Review { label } => Disposition::Hold { label },
        Verdict::Risky { label } => Disposition::Reject { label },
        Verdict::Unavailable => Disposition::Recheck,
    }
}

/// The error for a refused text (`field` names the input).
pub fn rejected(field: &str) -> AppError {
    AppError::ContentRejected(field.to_string())
}

/// Checks `text` written by resident `user` in `scene`, waiting at most `timeout` for WeChat.
pub async fn check(
    state: &AppState,
    conn: &impl ConnectionTrait,
    user: Uuid,
    text: &str,
    scene: Scene,
    timeout: Duration,
) -> AppResult<Verdict> {
    let Some(wechat) = state.wechat.as_ref() else {
        return Ok(Verdict::Pass);
    };
    let openid = users::Entity::find_by_id(user)
        .one(conn)
        .await?
        .ok_or_else(|| AppError::Unauthenticated("the account no longer exists".into()))?
        .openid;
    match tokio::time::timeout(timeout, wechat.msg_sec_check(&openid, text, scene)).await {
        Ok(Ok(Suggest::Pass)) => Ok(Verdict::Pass),
        Ok(Ok(Suggest::Review { label })) => Ok(Verdict::Review { label }),
        Ok(Ok(Suggest::Risky { label })) => Ok(Verdict::Risky { label }),
        Ok(Err(error)) => {
            tracing::warn!(%error, "the content check failed; the text is held and checked again later");
            Ok(Verdict::Unavailable)
        }
        Err(_) => {
            tracing::warn!("the content check timed out; the text is held and checked again later");
            Ok(Verdict::Unavailable)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_verdict_has_its_disposition_and_nothing_unchecked_is_published() {
        let table = [
            (Verdict::Pass, Disposition::Publish),
            (
                Verdict::Review { label: 20003 },
                Disposition::Hold { label: 20003 },
            ),
            (
                Verdict::Risky { label: 20001 },
                Disposition::Reject { label: 20001 },
            ),
            (Verdict::Unavailable, Disposition::Recheck),
        ];
        for (verdict, expected) in table {
            assert_eq!(disposition(verdict), expected, "{verdict:?}");
        }
    }
}
