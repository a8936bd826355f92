//! Booking rules as pure functions: slot times from opening hours, the time window a booking
//! must fall in, and booking codes.
use chrono::{DateTime, Duration, NaiveDate, NaiveTime, TimeZone, Utc};

use crate::{clock::CHINA, error::AppError};

/// What the resident wants at the counter.
#[derive(Clone, Copy, Debug, PartialEq, Eq, async_graphql::Enum)]
pub enum BookingKind {
    /// 咨询: advice only.
    Consult,
    /// 帮办: assisted handling, the resident present.
    Help,
    /// 代办: proxy handling under an entrustment.
    Proxy,
}

impl BookingKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Consult => "consult",
            Self::Help => "help",
            Self::Proxy => "proxy",
        }
    }
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "consult" => Some(Self::Consult),
            "help" => Some(Self::Help),
            "proxy" => Some(Self::Proxy),
            _ => None,
        }
    }
}

/// Where a booking stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, async_graphql::Enum)]
pub enum BookingStatus {
    /// Booked, waiting for review.
    Booked,
    /// 受理: accepted by an agent of the point.
    Accepted,
    /// 不予受理: refused, with a reason code and an explanation.
    Refused,
    /// Cancelled by the resident.
    Cancelled,
}

impl BookingStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Booked => "booked",
            Self::Accepted => "accepted",
            Self::Refused => "refused",
            Self::Cancelled => "cancelled",
        }
    }
    pub fn parse(s: &str) -> Self {
        match s {
            "accepted" => Self::Accepted,
            "refused" => Self::Refused,
            "cancelled" => Self::Cancelled,
            _ => Self::Booked,
        }
    }
    pub fn is_open(self) -> bool {
        matches!(self, Self::Booked | Self::Accepted)
    }
}

/// A point's booking policy.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Policy {
    pub slot_minutes: i64,
    pub seats_per_agent: i64,
    /// How far ahead residents may book, in days.
    pub window_days: i64,
    /// How soon before a slot the booking must be made.
    pub min_notice_minutes: i64,
    /// How late before a slot a booking may still be cancelled online.
    pub cancel_cutoff_minutes: i64,
    pub max_open_bookings: i64,
}

impl Default for Policy {
    fn default() -> Self {
        Self {
            slot_minutes: 30,
            seats_per_agent: 1,
            window_days: 14,
            min_notice_minutes: 60,
            cancel_cutoff_minutes: 120,
            max_open_bookings: 3,
        }
    }
}

/// The slots of one day: each opening interval cut into whole slots of `minutes`.
pub fn slot_times(intervals: &[(String, String)], minutes: i64) -> Vec<(NaiveTime, NaiveTime)> {
    let mut out = Vec::new();
    if minutes <= 0 {
        return out;
    }
    for (opens, closes) in intervals {
        let (Ok(mut start), Ok(end)) = (
            NaiveTime::parse_from_str(opens, "%H:%M"),
            NaiveTime::parse_from_str(closes, "%H:%M"),
        ) else {
            continue;
        };
        while start + Duration::minutes(minutes) <= end {
            let slot_end = start + Duration::minutes(minutes);
            out.push((start, slot_end));
            start = slot_end;
        }
    }
    out
}

/// The UTC instant of a China-local date and time.
pub fn china_instant(day: NaiveDate, time: NaiveTime) -> DateTime<Utc> {
    CHINA
        .from_local_datetime(&day.and_time(time))
        .single()
        .map(|t| t.with_timezone(&Utc))
        .unwrap_or_else(|| Utc.from_utc_datetime(&day.and_time(time)))
}

/// A slot may be booked from `window_days` ahead until `min_notice_minutes` before it starts.
pub fn check_bookable(
    now: DateTime<Utc>,
    starts_at: DateTime<Utc>,
    policy: &Policy,
) -> Result<(), AppError> {
    if starts_at <= now {
        return Err(AppError::bad_input(
            "input.slotId",
            "this slot has already started",
        ));
    }
    if starts_at - now < Duration::minutes(policy.min_notice_minutes) {
        return Err(AppError::bad_input(
            "input.slotId",
            format!("book at least {} minutes ahead", policy.min_notice_minutes),
        ));
    }
    if starts_at - now > Duration::days(policy.window_days) {
        return Err(AppError::bad_input(
            "input.slotId",
            format!("bookings open {} days ahead", policy.window_days),
        ));
    }
    Ok(())
}

/// Booking codes: 6 characters without look-alikes (no 0/O, 1/I/L).
pub fn new_code() -> String {
    use rand::Rng;
    const ALPHABET: &[u8] = b"23456789ABCDEFGHJKMNPQRSTUVWXYZ";
    let mut rng = rand::thread_rng();
    (0..6)
        .map(|_| char::from(ALPHABET[rng.gen_range(0..ALPHABET.len())]))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: &str) -> NaiveTime {
        NaiveTime::parse_from_str(s, "%H:%M").unwrap()
    }

    #[test]
    fn slots_fill_each_interval_with_whole_slots() {
        let hours = vec![
            ("09:00".to_string(), "11:30".to_string()),
            ("14:30".to_string(), "17:00".to_string()),
        ];
        let slots = slot_times(&hours, 30);
        assert_eq!(slots.len(), 10);
        assert_eq!(slots[0], (t("09:00"), t("09:30")));
        assert_eq!(slots[4], (t("11:00"), t("11:30")));
        assert_eq!(slots[5], (t("14:30"), t("15:00")));
        assert_eq!(
            slot_times(&hours, 45).len(),
            6,
            "09:00–11:15 and 14:30–16:45"
        );
        assert!(slot_times(&hours, 0).is_empty());
    }

    #[test]
    fn the_booking_window() {
        let policy = Policy::default();
        let now = china_instant(NaiveDate::from_ymd_opt(2026, 11, 27).unwrap(), t("10:00"));
        let table = [
            (Duration::minutes(-30), false),
            (Duration::minutes(30), false),
            (Duration::minutes(60), true),
            (Duration::days(14), true),
            (Duration::days(14) + Duration::minutes(1), false),
        ];
        for (offset, ok) in table {
            assert_eq!(
                check_bookable(now, now + offset, &policy).is_ok(),
                ok,
                "{offset}"
            );
        }
    }

    #[test]
    fn codes_avoid_look_alikes() {
        for _ in 0..200 {
            let code = new_code();
            assert_eq!(code.len(), 6);
            assert!(!code.contains(['0', 'O', '1', 'I', 'L']));
        }
    }
}
