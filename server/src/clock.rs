//! Time, injected. Production reads the system clock; tests set and advance a manual one, so
//! deadlines and expiry are tested without sleeping.
use std::sync::{Arc, Mutex};

use chrono::{DateTime, Duration, FixedOffset, Utc};

pub trait Clock: Send + Sync + 'static {
    fn now(&self) -> DateTime<Utc>;
}

/// The local (China) date of an instant.
pub fn local_date(now: DateTime<Utc>) -> chrono::NaiveDate {
    now.with_timezone(&CHINA).date_naive()
}

/// The China midnight of `at`'s date, as an instant: all an entry stamped with its day tells
/// of when (an anonymous rating, a complainant's act in the audit log).
pub fn day_of(at: DateTime<Utc>) -> DateTime<Utc> {
    local_date(at)
        .and_time(chrono::NaiveTime::MIN)
        .and_local_timezone(CHINA)
        .single()
        .map_or(at, |day| day.with_timezone(&Utc))
}

/// The wall clock.
#[derive(Debug, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> DateTime<Utc> {
        Utc::now()
    }
}

/// A clock that moves only when told to.
#[derive(Debug)]
pub struct ManualClock(Mutex<DateTime<Utc>>);

impl ManualClock {
    pub fn new(start: DateTime<Utc>) -> Self {
        Self(Mutex::new(start))
    }
    pub fn set(&self, to: DateTime<Utc>) {
        *self.0.lock().unwrap_or_else(|p| p.into_inner()) = to;
    }
    pub fn advance(&self, by: Duration) {
        let mut now = self.0.lock().unwrap_or_else(|p| p.into_inner());
        *now += by;
    }
}

impl Clock for ManualClock {
    fn now(&self) -> DateTime<Utc> {
        *self.0.lock().unwrap_or_else(|p| p.into_inner())
    }
}

pub type SharedClock = Arc<dyn Clock>;

/// Asia/Shanghai has no daylight saving time: a fixed +08:00 offset is exact.
pub const CHINA: FixedOffset = match FixedOffset::east_opt(8 * 3600) {
    Some(offset) => offset,
    None => panic!("+08:00 is a valid offset"),
};
