//! An anonymous complainant's receipt code: 100 random bits, shown once, stored only as a keyed
//! hash (`pii` blind index), so neither the database nor its backups can give it back. Every
//! use of a receipt — reading the complaint, answering a question, appealing — is counted per
//! client address; past the limit the address is refused (RATE_LIMITED) and the first refusal
//! of each window is audited (the address itself kept only as a keyed hash).
use std::time::Duration;

use entity::complaints;
use rand::RngCore;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
use serde_json::json;

use crate::{
    complaints::rules::{RECEIPT_CHARS, normalise_receipt, receipt_from},
    error::{AppError, AppResult},
    events::Tx,
    state::AppState,
};

/// A new receipt code and the hash to store.
pub fn issue(state: &AppState) -> (String, String) {
    let mut random = [0u8; RECEIPT_CHARS];
    rand::rngs::OsRng.fill_bytes(&mut random);
    let code = receipt_from(&random);
    let hash = hash_of_normalised(state, &normalise_receipt(&code).unwrap_or_default());
    (code, hash)
}

fn hash_of_normalised(state: &AppState, normalised: &str) -> String {
    state.cipher.blind_index("complaint-receipt", normalised)
}

/// Counts one use of a receipt from `client_ip`; RATE_LIMITED past the limit (the first
/// refusal of a window is audited). When the shared store is down, uses are let through.
async fn limit(state: &AppState, client_ip: &str) -> AppResult<()> {
    let settings = &state.settings.complaints;
    let window = Duration::from_secs(settings.receipt_window_seconds);
    let address = state.cipher.blind_index("client-address", client_ip);
    let count = match state
        .store
        .hit(&format!("rl:complaint-receipt:{address}"), window)
        .await
    {
        Ok(count) => count,
        Err(error) => {
            tracing::warn!(%error, "receipt limit not enforced: shared store unavailable");
            return Ok(());
        }
    };
    if count.count <= settings.receipt_attempts_per_ip {
        return Ok(());
    }
    if count.count == settings.receipt_attempts_per_ip + 1 {
        let mut tx = Tx::begin(state).await?;
        tx.audit(crate::audit::Pending::system(
            state.clock.now(),
            None,
            "complaint.receipt_attempts_limited",
            "client_address",
            &address,
            json!({"attempts": count.count, "windowSeconds": settings.receipt_window_seconds}),
        ));
        tx.commit().await?;
    }
    Err(AppError::RateLimited {
        retry_after_seconds: count.resets_in.as_secs().max(1),
    })
}

/// The complaint a receipt opens, counted against `client_ip`; NOT_FOUND `complaint` for a
/// receipt that opens none (malformed or unknown: the same answer).
pub async fn open(state: &AppState, client_ip: &str, raw: &str) -> AppResult<complaints::Model> {
    limit(state, client_ip).await?;
    let Some(normalised) = normalise_receipt(raw) else {
        return Err(AppError::NotFound("complaint"));
    };
    complaints::Entity::find()
        .filter(complaints::Column::ReceiptHash.eq(hash_of_normalised(state, &normalised)))
        .one(&state.db)
        .await?
        .ok_or(AppError::NotFound("complaint"))
}
