//! A case's deadline in working days (seed §六(二)3): the item's promised working days run from
//! acceptance on the working calendar (holidays and 调休 included); waiting for the applicant
//! (补正材料) stops the clock and resuming starts it again. Pure: the services pass the calendar
//! and the pauses they recorded.
use chrono::NaiveDate;

use crate::calendar::model::{Reckoned, WorkingCalendar};

/// The clock stopped: working days after `from` up to and including `until` do not count
/// (`until` None: still stopped).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Pause {
    pub from: NaiveDate,
    pub until: Option<NaiveDate>,
}

impl Pause {
    fn covers(&self, day: NaiveDate) -> bool {
        day > self.from && self.until.is_none_or(|until| day <= until)
    }
}

/// Where a case's clock stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Deadline {
    /// Due by the end of this day.
    Due(NaiveDate),
    /// The clock is stopped (waiting for the applicant) with this many working days left.
    Stopped { days_left: i64 },
}

/// The deadline of a case accepted on `accepted` with `promised` working days, its clock
/// stopped during `pauses`. `provisional` when a day it relied on lies in an unpublished year.
pub fn deadline(
    calendar: &WorkingCalendar,
    accepted: NaiveDate,
    promised: i64,
    pauses: &[Pause],
) -> Reckoned<Deadline> {
    let mut left = promised.max(0);
    let mut day = accepted;
    let mut provisional = false;
    // An open pause: the clock runs only up to its start.
    let open = pauses.iter().find(|p| p.until.is_none());
    while left > 0 {
        if let Some(pause) = open
            && day >= pause.from
        {
            return Reckoned {
                value: Deadline::Stopped { days_left: left },
                provisional,
            };
        }
        day = day.succ_opt().unwrap_or(day);
        let working = calendar.is_workday(day);
        provisional |= working.provisional;
        if working.value && !pauses.iter().any(|p| p.covers(day)) {
            left -= 1;
        }
    }
    Reckoned {
        value: Deadline::Due(day),
        provisional,
    }
}

/// How close a case is to its deadline.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Urgency {
    OnTrack,
    /// At most `soon` working days left (the deadline day itself included).
    DueSoon,
    Overdue,
}

/// The urgency on `today` of a case due on `due`, flagged `soon` working days ahead.
pub fn urgency(calendar: &WorkingCalendar, today: NaiveDate, due: NaiveDate, soon: i64) -> Urgency {
    if today > due {
        Urgency::Overdue
    } else if calendar.working_days_between(today, due).value <= soon {
        Urgency::DueSoon
    } else {
        Urgency::OnTrack
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::calendar::model::{OFFICIAL_YEARS, official_days};

    fn d(s: &str) -> NaiveDate {
        s.parse().unwrap()
    }

    fn official() -> WorkingCalendar {
        WorkingCalendar::new(official_days(), OFFICIAL_YEARS.to_vec())
    }

    fn pause(from: &str, until: Option<&str>) -> Pause {
        Pause {
            from: d(from),
            until: until.map(d),
        }
    }

    /// Across the 2026 Spring Festival (rest 2-15…2-23; 调休 working Saturdays 2-14 and 2-28)
    /// and National Day (rest 10-1…10-7 and the Mid-Autumn weekend 9-25…9-27; 调休 9-20, 10-10).
    #[test]
    fn deadlines_run_on_the_working_calendar_and_stop_while_paused() {
        let table: [(&str, i64, Vec<Pause>, Deadline); 9] = [
            // 2-13 (Fri), 2-14 (调休 Saturday), then the festival, 2-24.
            ("2026-02-12", 3, vec![], Deadline::Due(d("2026-02-24"))),
            ("2026-02-12", 2, vec![], Deadline::Due(d("2026-02-14"))),
            // Stopped after 2-13, resumed on 2-25: 2-13, then 2-26 and 2-27.
            (
                "2026-02-12",
                3,
                vec![pause("2026-02-13", Some("2026-02-25"))],
                Deadline::Due(d("2026-02-27")),
            ),
            // Still stopped after 2-13: two working days left.
            (
                "2026-02-12",
                3,
                vec![pause("2026-02-13", None)],
                Deadline::Stopped { days_left: 2 },
            ),
            // Stopped only after the deadline was reached: it stands.
            (
                "2026-02-12",
                3,
                vec![pause("2026-02-24", None)],
                Deadline::Due(d("2026-02-24")),
            ),
            // Two pauses, the second over the 2-28 调休 Saturday.
            (
                "2026-02-12",
                5,
                vec![
                    pause("2026-02-13", Some("2026-02-24")),
                    pause("2026-02-25", Some("2026-02-28")),
                ],
                Deadline::Due(d("2026-03-04")),
            ),
            // 9-24, then the Mid-Autumn weekend, 9-28, 9-29, 9-30, National Day, 10-8.
            ("2026-09-23", 5, vec![], Deadline::Due(d("2026-10-08"))),
            ("2026-09-23", 7, vec![], Deadline::Due(d("2026-10-10"))),
            ("2026-09-23", 0, vec![], Deadline::Due(d("2026-09-23"))),
        ];
        let calendar = official();
        for (accepted, promised, pauses, expected) in table {
            let got = deadline(&calendar, d(accepted), promised, &pauses);
            assert_eq!(got.value, expected, "{accepted} + {promised} {pauses:?}");
            assert!(!got.provisional);
        }
    }

    #[test]
    fn a_deadline_in_an_unpublished_year_is_provisional() {
        let got = deadline(&official(), d("2026-12-28"), 5, &[]);
        assert_eq!(got.value, Deadline::Due(d("2027-01-04")));
        assert!(got.provisional);
    }

    #[test]
    fn cases_are_flagged_due_soon_and_overdue_in_working_days() {
        let calendar = official();
        let due = d("2026-10-08");
        let table = [
            ("2026-09-29", Urgency::OnTrack),
            // 9-30 → 10-8 is one working day: the holiday does not count.
            ("2026-09-30", Urgency::DueSoon),
            ("2026-10-05", Urgency::DueSoon),
            ("2026-10-08", Urgency::DueSoon),
            ("2026-10-09", Urgency::Overdue),
        ];
        for (today, expected) in table {
            assert_eq!(urgency(&calendar, d(today), due, 1), expected, "{today}");
        }
    }
}
