//! Server facts every client needs: the server's clock, for countdowns that do not trust the
//! phone's time.
use std::time::Duration;

use async_graphql::{Context, Object, SimpleObject, Subscription};
use chrono::{DateTime, FixedOffset};
use futures_util::{StreamExt, stream::BoxStream};

use crate::{
    clock::CHINA,
    error::AppError,
    graphql::context::{ContextExt, GqlResult},
};

/// One reading of the server's clock.
#[derive(SimpleObject)]
pub struct ClockTick {
    /// The server's time in China Standard Time (UTC+08:00), ISO 8601.
    now: DateTime<FixedOffset>,
}

#[derive(Default)]
pub struct SystemQuery;

#[Object]
impl SystemQuery {
    /// The server's current time (UTC+08:00). Use it to correct the phone's clock before
    /// showing countdowns (booking holds, deadlines).
    async fn server_time(&self, ctx: &Context<'_>) -> DateTime<FixedOffset> {
        ctx.state().clock.now().with_timezone(&CHINA)
    }
}

#[derive(Default)]
pub struct SystemSubscription;

#[Subscription]
impl SystemSubscription {
    /// The server's clock every `intervalSeconds` (1–60, default 1), first reading at once.
    async fn clock(
        &self,
        ctx: &Context<'_>,
        #[graphql(default = 1, desc = "Seconds between readings, 1–60 (default 1).")]
        interval_seconds: i32,
    ) -> BoxStream<'static, GqlResult<ClockTick>> {
        if !(1..=60).contains(&interval_seconds) {
            let error = AppError::bad_input("intervalSeconds", "must be between 1 and 60");
            return futures_util::stream::once(async move { Err(error.into()) }).boxed();
        }
        let clock = ctx.state().clock.clone();
        let period = Duration::from_secs(u64::try_from(interval_seconds).unwrap_or(1));
        let ticks = tokio_stream::wrappers::IntervalStream::new(tokio::time::interval(period));
        ticks
            .map(move |_| {
                Ok(ClockTick {
                    now: clock.now().with_timezone(&CHINA),
                })
            })
            .boxed()
    }
}
