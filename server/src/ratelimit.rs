//! Fixed-window rate limits over the shared store (Redis in production, so every instance
//! counts together). When the store is down, requests are let through and a warning is logged:
//! the database stays the source of truth and logins must keep working.
use std::time::Duration;

use crate::{
    error::{AppError, AppResult},
    store::Store,
};

#[derive(Clone)]
pub struct RateLimiter {
    store: Store,
}

impl RateLimiter {
    pub fn new(store: Store) -> Self {
        Self { store }
    }

    /// Counts one attempt in `bucket`; RATE_LIMITED (with retry-after) past `limit` per `window`.
    pub async fn check(&self, bucket: &str, limit: u64, window: Duration) -> AppResult<()> {
        match self.store.hit(&format!("rl:{bucket}"), window).await {
            Ok(count) if count.count > limit => Err(AppError::RateLimited {
                retry_after_seconds: count.resets_in.as_secs().max(1),
            }),
            Ok(_) => Ok(()),
            Err(error) => {
                tracing::warn!(%error, "rate limit not enforced: shared store unavailable");
                Ok(())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::store::MemoryStore;

    #[tokio::test]
    async fn the_attempt_past_the_limit_is_refused_with_retry_after() {
        let limiter = RateLimiter::new(Arc::new(MemoryStore::new()));
        for _ in 0..3 {
            limiter
                .check("login:ip:1", 3, Duration::from_secs(60))
                .await
                .unwrap();
        }
        match limiter
            .check("login:ip:1", 3, Duration::from_secs(60))
            .await
        {
            Err(AppError::RateLimited {
                retry_after_seconds,
            }) => {
                assert!((1..=60).contains(&retry_after_seconds))
            }
            other => panic!("expected RATE_LIMITED, got {other:?}"),
        }
        limiter
            .check("login:ip:2", 3, Duration::from_secs(60))
            .await
            .unwrap();
    }
}
