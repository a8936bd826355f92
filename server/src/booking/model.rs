//! Booking rules as pure functions: slot times from opening hours, the time window a booking
//! must fall in, and booking codes.
use chrono::{DateTime, Datelike, Duration, NaiveDate, NaiveTime, TimeZone, Utc};

use crate::{
    calendar::model::WorkingCalendar,
    clock::CHINA,
    directory::model::{OpeningHours, text},
    error::{AppError, AppResult},
};

crate::stored_enum! {
    /// What the resident wants at the counter.
    pub enum BookingKind {
        /// 咨询: advice only.
        Consult = "consult",
        /// 帮办: assisted handling, the resident present.
        Help = "help",
        /// 代办: proxy handling under an entrustment.
        Proxy = "proxy",
    }
}

crate::stored_enum! {
    /// Where a booking stands.
    pub enum BookingStatus {
        /// Booked, waiting for review.
        Booked = "booked",
        /// 受理: accepted by an agent of the point.
        Accepted = "accepted",
        /// 不予受理: refused, with a reason code and an explanation.
        Refused = "refused",
        /// Cancelled by the resident, or by staff on their behalf.
        Cancelled = "cancelled",
        /// Not checked in by the end of the slot and its grace period (爽约).
        NoShow = "no_show",
        /// Served at the counter.
        Served = "served",
        /// Checked in, but the desk never finished the number that day (closed after the day ended,
        /// counted neither as served nor as a no-show).
        Unfinished = "unfinished",
    }
}

impl BookingStatus {
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
    /// No-shows within `no_show_window_days` that restrict online booking …
    pub no_show_limit: i64,
    pub no_show_window_days: i64,
    /// … for this many days.
    pub no_show_ban_days: i64,
    /// Working hours (of the point's opening hours) to review a booking before it is overdue.
    pub review_hours: i64,
    /// Minutes after a slot ends before an absent booking becomes a no-show.
    pub grace_minutes: i64,
    /// Minutes a waitlist offer holds a freed seat.
    pub hold_minutes: i64,
    /// China-time hour of the reminder on the day before.
    pub remind_day_before_hour: i64,
    /// Minutes before the slot of the second reminder.
    pub remind_before_minutes: i64,
    /// Minutes before its slot a booking may be checked in on site.
    pub check_in_opens_minutes: i64,
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
            no_show_limit: 3,
            no_show_window_days: 90,
            no_show_ban_days: 30,
            review_hours: 8,
            grace_minutes: 15,
            hold_minutes: 15,
            remind_day_before_hour: 18,
            remind_before_minutes: 60,
            check_in_opens_minutes: 180,
        }
    }
}

/// A change to a point's policy: the values given replace the current ones.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PolicyPatch {
    pub slot_minutes: Option<i64>,
    pub seats_per_agent: Option<i64>,
    pub window_days: Option<i64>,
    pub min_notice_minutes: Option<i64>,
    pub cancel_cutoff_minutes: Option<i64>,
    pub max_open_bookings: Option<i64>,
    pub no_show_limit: Option<i64>,
    pub no_show_window_days: Option<i64>,
    pub no_show_ban_days: Option<i64>,
    pub review_hours: Option<i64>,
    pub grace_minutes: Option<i64>,
    pub hold_minutes: Option<i64>,
    pub remind_day_before_hour: Option<i64>,
    pub remind_before_minutes: Option<i64>,
    pub check_in_opens_minutes: Option<i64>,
}

impl Policy {
    /// This policy with the patch's values applied.
    pub fn patched(self, patch: PolicyPatch) -> Self {
        Self {
            slot_minutes: patch.slot_minutes.unwrap_or(self.slot_minutes),
            seats_per_agent: patch.seats_per_agent.unwrap_or(self.seats_per_agent),
            window_days: patch.window_days.unwrap_or(self.window_days),
            min_notice_minutes: patch.min_notice_minutes.unwrap_or(self.min_notice_minutes),
            cancel_cutoff_minutes: patch
                .cancel_cutoff_minutes
                .unwrap_or(self.cancel_cutoff_minutes),
            max_open_bookings: patch.max_open_bookings.unwrap_or(self.max_open_bookings),
            no_show_limit: patch.no_show_limit.unwrap_or(self.no_show_limit),
            no_show_window_days: patch
                .no_show_window_days
                .unwrap_or(self.no_show_window_days),
            no_show_ban_days: patch.no_show_ban_days.unwrap_or(self.no_show_ban_days),
            review_hours: patch.review_hours.unwrap_or(self.review_hours),
            grace_minutes: patch.grace_minutes.unwrap_or(self.grace_minutes),
            hold_minutes: patch.hold_minutes.unwrap_or(self.hold_minutes),
            remind_day_before_hour: patch
                .remind_day_before_hour
                .unwrap_or(self.remind_day_before_hour),
            remind_before_minutes: patch
                .remind_before_minutes
                .unwrap_or(self.remind_before_minutes),
            check_in_opens_minutes: patch
                .check_in_opens_minutes
                .unwrap_or(self.check_in_opens_minutes),
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
        // `NaiveTime` arithmetic wraps at midnight: a slot that would end past it ends the day.
        loop {
            let (slot_end, wrapped) = start.overflowing_add_signed(Duration::minutes(minutes));
            if wrapped != 0 || slot_end > end {
                break;
            }
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

/// A slot's capacity: seats per on-duty agent, never below what is already booked.
pub fn capacity(agents_on_duty: i64, seats_per_agent: i64, booked: i64) -> i64 {
    (agents_on_duty.max(0) * seats_per_agent.max(0)).max(booked)
}

/// The instant `minutes` of opening time after `from`, counting only the opening intervals of
/// working days (rest days and holidays skipped; a 调休 working weekend uses Monday's hours).
/// Looks at most a year ahead.
pub fn add_opening_minutes(
    calendar: &WorkingCalendar,
    hours: &OpeningHours,
    from: DateTime<Utc>,
    minutes: i64,
) -> DateTime<Utc> {
    let mut left = minutes.max(0);
    let mut day = from.with_timezone(&CHINA).date_naive();
    for _ in 0..366 {
        if calendar.is_workday(day).value {
            let weekday = day.weekday().num_days_from_monday() as usize;
            let intervals = if hours.0[weekday].is_empty() {
                &hours.0[0]
            } else {
                &hours.0[weekday]
            };
            for (opens, closes) in intervals {
                let (Ok(opens), Ok(closes)) = (
                    NaiveTime::parse_from_str(opens, "%H:%M"),
                    NaiveTime::parse_from_str(closes, "%H:%M"),
                ) else {
                    continue;
                };
                let start = china_instant(day, opens).max(from);
                let end = china_instant(day, closes);
                if start >= end {
                    continue;
                }
                let span = (end - start).num_minutes();
                if span >= left {
                    return start + Duration::minutes(left);
                }
                left -= span;
            }
        }
        let Some(next) = day.succ_opt() else { break };
        day = next;
    }
    from + Duration::days(366)
}

/// Which reminder is due for an active booking, if any.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Reminder {
    /// On the day before, at the configured hour.
    DayBefore,
    /// The configured minutes before the slot.
    Soon,
}

/// The reminders due now for a booking made at `created_at` for a slot starting at `starts_at`,
/// given those already sent. A reminder whose moment had passed when the booking was made is
/// never sent (booking this afternoon for tomorrow morning gets no "day before" message at 18:00
/// yesterday), and nothing is sent once the slot has started.
pub fn reminders_due(
    policy: &Policy,
    created_at: DateTime<Utc>,
    starts_at: DateTime<Utc>,
    now: DateTime<Utc>,
    sent: (bool, bool),
) -> Vec<Reminder> {
    let mut due = Vec::new();
    if now >= starts_at {
        return due;
    }
    let slot_day = starts_at.with_timezone(&CHINA).date_naive();
    let hour = u32::try_from(policy.remind_day_before_hour.clamp(0, 23)).unwrap_or(18);
    let day_before_at = slot_day
        .pred_opt()
        .and_then(|d| NaiveTime::from_hms_opt(hour, 0, 0).map(|t| china_instant(d, t)));
    if let Some(at) = day_before_at
        && !sent.0
        && created_at < at
        && now >= at
    {
        due.push(Reminder::DayBefore);
    }
    let soon_at = starts_at - Duration::minutes(policy.remind_before_minutes);
    if !sent.1 && created_at < soon_at && now >= soon_at {
        due.push(Reminder::Soon);
    }
    due
}

/// The queue number shown on screen: series letter and three digits, e.g. `A023`.
pub fn queue_label(series: &str, number: i64) -> String {
    format!("{series}{number:03}")
}

/// A waiting ticket, as the call order sees it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Waiting {
    pub id: uuid::Uuid,
    /// `A` appointment, `B` walk-in.
    pub series: String,
    pub number: i64,
    pub slot_starts_at: Option<DateTime<Utc>>,
}

/// The call order at `now`: appointments whose slot has begun come first (earliest slot, then
/// number), then walk-ins by number, then appointments that arrived before their slot.
pub fn call_order(mut waiting: Vec<Waiting>, now: DateTime<Utc>) -> Vec<Waiting> {
    let rank = |w: &Waiting| match w.slot_starts_at {
        Some(at) if at <= now => (0, Some(at), w.number),
        Some(at) => (2, Some(at), w.number),
        None => (1, None, w.number),
    };
    waiting.sort_by_key(|w| rank(w));
    waiting
}

/// Whether an absent booking is now a no-show: its slot ended more than `grace` minutes ago.
pub fn is_no_show(ends_at: DateTime<Utc>, grace_minutes: i64, now: DateTime<Utc>) -> bool {
    now >= ends_at + Duration::minutes(grace_minutes)
}

/// Whether `no_shows` within the window reach the policy's limit.
pub fn restriction_due(no_shows: i64, policy: &Policy) -> bool {
    policy.no_show_limit > 0 && no_shows >= policy.no_show_limit
}

crate::stored_enum! {
    /// How a contact reached the point.
    pub enum Channel {
        /// The resident, in the mini-program.
        Online = "online",
        /// Staff, on the telephone with the resident.
        Phone = "phone",
        /// Staff, at the counter (窗口) with the resident present.
        Window = "window",
        /// An agent acting for the resident (代办) under their recorded consent.
        AgentOnBehalf = "agent_on_behalf",
        /// A remote (video or messaging) consultation.
        Remote = "remote",
    }
}

/// Staff acting for a resident: how, and the consent they recorded.
#[derive(Clone, Debug)]
pub struct OnBehalf {
    pub channel: Channel,
    /// Required for AGENT_ON_BEHALF: how and when the resident consented.
    pub consent: Option<String>,
}

impl OnBehalf {
    pub(crate) fn validate(self) -> AppResult<Self> {
        let consent = self
            .consent
            .as_deref()
            .filter(|c| !c.trim().is_empty())
            .map(|c| text(c, "onBehalf.consent", 300))
            .transpose()?;
        match self.channel {
            Channel::Online => Err(AppError::bad_input(
                "onBehalf.channel",
                "staff act by PHONE, WINDOW, AGENT_ON_BEHALF or REMOTE",
            )),
            Channel::AgentOnBehalf if consent.is_none() => Err(AppError::bad_input(
                "onBehalf.consent",
                "acting on a resident's behalf needs their recorded consent",
            )),
            channel => Ok(Self { channel, consent }),
        }
    }
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
        // Late intervals end at the last whole slot before midnight, never wrapping round.
        let late = vec![("08:00".to_string(), "23:30".to_string())];
        assert_eq!(slot_times(&late, 30).len(), 31);
        let evening = vec![("20:00".to_string(), "23:59".to_string())];
        assert_eq!(slot_times(&evening, 240).len(), 0);
        assert_eq!(slot_times(&evening, 230).len(), 1);
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
    fn a_patch_changes_only_what_it_names() {
        let base = Policy::default();
        assert_eq!(base.patched(PolicyPatch::default()), base);
        let patched = base.patched(PolicyPatch {
            window_days: Some(7),
            no_show_limit: Some(0),
            ..PolicyPatch::default()
        });
        assert_eq!(
            patched,
            Policy {
                window_days: 7,
                no_show_limit: 0,
                ..base
            }
        );
    }

    #[test]
    fn codes_avoid_look_alikes() {
        for _ in 0..200 {
            let code = new_code();
            assert_eq!(code.len(), 6);
            assert!(!code.contains(['0', 'O', '1', 'I', 'L']));
        }
    }

    fn at(date: &str, time: &str) -> DateTime<Utc> {
        china_instant(
            NaiveDate::parse_from_str(date, "%Y-%m-%d").unwrap(),
            t(time),
        )
    }

    fn office() -> OpeningHours {
        let day = vec![
            ("09:00".to_string(), "12:00".to_string()),
            ("14:00".to_string(), "17:00".to_string()),
        ];
        let mut hours: [Vec<(String, String)>; 7] = Default::default();
        for d in hours.iter_mut().take(5) {
            *d = day.clone();
        }
        OpeningHours(hours)
    }

    #[test]
    fn review_deadlines_count_opening_hours_of_working_days() {
        let calendar = WorkingCalendar::new(crate::calendar::model::official_days(), vec![2026]);
        let table = [
            // same morning
            (("2026-11-26", "09:30"), 60, ("2026-11-26", "10:30")),
            // across the lunch break
            (("2026-11-26", "11:30"), 60, ("2026-11-26", "14:30")),
            // booked at night: counting starts next morning; six opening hours a day
            (("2026-11-26", "22:00"), 8 * 60, ("2026-11-30", "11:00")),
            // Friday afternoon → Monday
            (("2026-11-27", "16:00"), 120, ("2026-11-30", "10:00")),
            // 国庆节 2026: Oct 1–7 off; Sat Oct 10 is a 调休 working day (Monday's hours)
            (("2026-09-30", "16:30"), 60, ("2026-10-08", "09:30")),
            (("2026-10-09", "16:30"), 60, ("2026-10-10", "09:30")),
        ];
        for ((d, tm), minutes, (ed, et)) in table {
            assert_eq!(
                add_opening_minutes(&calendar, &office(), at(d, tm), minutes),
                at(ed, et),
                "{d} {tm} + {minutes}"
            );
        }
    }

    #[test]
    fn reminders_fire_once_each_and_only_when_their_moment_came_after_booking() {
        let policy = Policy::default(); // 18:00 the day before, 60 minutes before
        let slot = at("2026-11-27", "10:00");
        let early = at("2026-11-20", "09:00");
        let table = [
            (early, at("2026-11-26", "17:59"), (false, false), vec![]),
            (
                early,
                at("2026-11-26", "18:00"),
                (false, false),
                vec![Reminder::DayBefore],
            ),
            (early, at("2026-11-26", "18:00"), (true, false), vec![]),
            (
                early,
                at("2026-11-27", "09:00"),
                (true, false),
                vec![Reminder::Soon],
            ),
            (
                early,
                at("2026-11-27", "09:00"),
                (false, false),
                vec![Reminder::DayBefore, Reminder::Soon],
            ),
            (early, at("2026-11-27", "09:30"), (true, true), vec![]),
            (early, at("2026-11-27", "10:00"), (false, false), vec![]),
            // booked after 18:00 the day before: only the second reminder
            (
                at("2026-11-26", "20:00"),
                at("2026-11-27", "09:00"),
                (false, false),
                vec![Reminder::Soon],
            ),
            // booked inside the last hour: none
            (
                at("2026-11-27", "09:10"),
                at("2026-11-27", "09:20"),
                (false, false),
                vec![],
            ),
        ];
        for (created, now, sent, expected) in table {
            assert_eq!(
                reminders_due(&policy, created, slot, now, sent),
                expected,
                "{now} {sent:?}"
            );
        }
    }

    #[test]
    fn appointments_go_first_within_their_slot() {
        let now = at("2026-11-27", "10:05");
        let ticket = |n: u128, series: &str, number: i64, slot: Option<&str>| Waiting {
            id: uuid::Uuid::from_u128(n),
            series: series.into(),
            number,
            slot_starts_at: slot.map(|s| at("2026-11-27", s)),
        };
        let order = call_order(
            vec![
                ticket(1, "B", 1, None),
                ticket(2, "A", 2, Some("10:30")),
                ticket(3, "B", 2, None),
                ticket(4, "A", 3, Some("10:00")),
                ticket(5, "A", 1, Some("09:30")),
            ],
            now,
        );
        let ids: Vec<u128> = order.iter().map(|w| w.id.as_u128()).collect();
        assert_eq!(ids, vec![5, 4, 1, 3, 2]);
        assert_eq!(queue_label("A", 23), "A023");
        assert_eq!(queue_label("B", 1234), "B1234");
    }

    #[test]
    fn capacity_never_drops_below_what_is_booked() {
        for (agents, seats, booked, expected) in
            [(2, 3, 0, 6), (1, 3, 5, 5), (0, 3, 0, 0), (0, 3, 2, 2)]
        {
            assert_eq!(capacity(agents, seats, booked), expected);
        }
    }

    #[test]
    fn no_shows_after_grace_and_the_restriction_threshold() {
        let policy = Policy::default();
        let end = at("2026-11-27", "10:00");
        assert!(!is_no_show(end, 15, at("2026-11-27", "10:14")));
        assert!(is_no_show(end, 15, at("2026-11-27", "10:15")));
        assert!(!restriction_due(2, &policy));
        assert!(restriction_due(3, &policy));
        assert!(!restriction_due(
            9,
            &Policy {
                no_show_limit: 0,
                ..policy
            }
        ));
    }
}
