//! The rotating check-in code shown at the desk: proof that a resident checking in stands at
//! the point (the QR scene alone is public). A pure rule over the point, the minute and the
//! data key, plus the desk's read of it.
use crate::booking::desk::ensure_desk;
use chrono::{DateTime, Utc};
use uuid::Uuid;

use crate::{auth::Viewer, error::AppResult, state::AppState};

/// How long one check-in code is shown; the previous one is still accepted, so a code read at
/// the end of its minute works.
const CODE_SECONDS: i64 = 60;

fn code_for_window(cipher: &crate::pii::FieldCipher, point_id: Uuid, window: i64) -> String {
    let mac = cipher.blind_index("check-in", &format!("{point_id}:{window}"));
    let number = u32::from_str_radix(&mac[..8], 16).unwrap_or(0) % 1_000_000;
    format!("{number:06}")
}

/// The point's check-in code now (6 digits, a keyed HMAC of the point and the minute) and when
/// it stops being shown.
pub fn check_in_code(
    cipher: &crate::pii::FieldCipher,
    point_id: Uuid,
    now: DateTime<Utc>,
) -> (String, DateTime<Utc>) {
    let window = now.timestamp().div_euclid(CODE_SECONDS);
    let until = DateTime::from_timestamp((window + 1) * CODE_SECONDS, 0).unwrap_or(now);
    (code_for_window(cipher, point_id, window), until)
}

/// Whether `code` is the point's code of this minute or the one before.
pub(super) fn check_in_code_matches(
    cipher: &crate::pii::FieldCipher,
    point_id: Uuid,
    code: &str,
    now: DateTime<Utc>,
) -> bool {
    let window = now.timestamp().div_euclid(CODE_SECONDS);
    [window, window - 1]
        .iter()
        .any(|w| code_for_window(cipher, point_id, *w) == code)
}

/// The desk's screen: the current check-in code of its point (staff who work the desk).
pub async fn point_check_in_code(
    state: &AppState,
    viewer: &Viewer,
    point_id: Uuid,
) -> AppResult<(String, DateTime<Utc>)> {
    ensure_desk(state, viewer, point_id).await?;
    Ok(check_in_code(&state.cipher, point_id, state.clock.now()))
}
