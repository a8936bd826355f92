//! Working-day arithmetic over the mainland calendar: statutory holidays and 调休 make-up
//! working weekends come from a table of published years; dates after the last published year
//! fall back to Monday–Friday and every answer that used such a date says it is provisional.
use std::collections::BTreeMap;

use chrono::{Datelike, Duration, NaiveDate, Weekday};

/// One day of the published calendar.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CalendarDay {
    pub date: NaiveDate,
    pub is_workday: bool,
    /// The holiday (春节, 国庆节 …) for rest days, or the holiday a make-up working day belongs to.
    pub name: Option<String>,
}

/// The days that differ from Monday–Friday (holidays on weekdays, make-up working weekends),
/// plus the years that are published.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct WorkingCalendar {
    exceptions: BTreeMap<NaiveDate, CalendarDay>,
    published_years: Vec<i32>,
}

/// A date computed from the calendar; `provisional` when any day it relied on lies in a year
/// that is not published yet (weekends-only fallback).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Reckoned<T> {
    pub value: T,
    pub provisional: bool,
}

fn weekend(date: NaiveDate) -> bool {
    matches!(date.weekday(), Weekday::Sat | Weekday::Sun)
}

impl WorkingCalendar {
    /// Builds the calendar from published days (any mix of workdays and rest days) and the
    /// list of published years.
    pub fn new(days: impl IntoIterator<Item = CalendarDay>, published_years: Vec<i32>) -> Self {
        let exceptions = days
            .into_iter()
            .filter(|d| d.is_workday == weekend(d.date) || d.name.is_some())
            .map(|d| (d.date, d))
            .collect();
        let mut years = published_years;
        years.sort_unstable();
        years.dedup();
        Self {
            exceptions,
            published_years: years,
        }
    }

    pub fn is_published(&self, date: NaiveDate) -> bool {
        self.published_years.binary_search(&date.year()).is_ok()
    }

    /// The day as the calendar sees it, and whether that is provisional.
    pub fn day(&self, date: NaiveDate) -> Reckoned<CalendarDay> {
        let published = self.is_published(date);
        let day = match self.exceptions.get(&date).filter(|_| published) {
            Some(day) => day.clone(),
            None => CalendarDay {
                date,
                is_workday: !weekend(date),
                name: None,
            },
        };
        Reckoned {
            value: day,
            provisional: !published,
        }
    }

    pub fn is_workday(&self, date: NaiveDate) -> Reckoned<bool> {
        let day = self.day(date);
        Reckoned {
            value: day.value.is_workday,
            provisional: day.provisional,
        }
    }

    /// The date `n` working days after `date` (`date` itself not counted; `n = 0` answers
    /// `date`). Negative `n` counts backwards.
    pub fn add_working_days(&self, date: NaiveDate, n: i64) -> Reckoned<NaiveDate> {
        let step = if n < 0 { -1 } else { 1 };
        let mut left = n.abs();
        let mut current = date;
        let mut provisional = false;
        while left > 0 {
            current += Duration::days(step);
            let day = self.is_workday(current);
            provisional |= day.provisional;
            if day.value {
                left -= 1;
            }
        }
        Reckoned {
            value: current,
            provisional,
        }
    }

    /// Working days after `from` up to and including `to` (negative when `to` is earlier).
    pub fn working_days_between(&self, from: NaiveDate, to: NaiveDate) -> Reckoned<i64> {
        let (start, end, sign) = if from <= to {
            (from, to, 1)
        } else {
            (to, from, -1)
        };
        let mut count = 0;
        let mut provisional = false;
        let mut current = start;
        while current < end {
            current += Duration::days(1);
            let day = self.is_workday(current);
            provisional |= day.provisional;
            if day.value {
                count += 1;
            }
        }
        Reckoned {
            value: sign * count,
            provisional,
        }
    }
}

/// The official tables (国务院办公厅 notices): every holiday day off and every 调休 working day.
pub fn official_days() -> Vec<CalendarDay> {
    let mut days = Vec::new();
    let mut rest = |name: &str, from: (i32, u32, u32), to: (i32, u32, u32)| {
        let (Some(mut d), Some(end)) = (
            NaiveDate::from_ymd_opt(from.0, from.1, from.2),
            NaiveDate::from_ymd_opt(to.0, to.1, to.2),
        ) else {
            return;
        };
        while d <= end {
            days.push(CalendarDay {
                date: d,
                is_workday: false,
                name: Some(name.to_string()),
            });
            d += Duration::days(1);
        }
    };
    // 2025
    rest("元旦", (2025, 1, 1), (2025, 1, 1));
    rest("春节", (2025, 1, 28), (2025, 2, 4));
    rest("清明节", (2025, 4, 4), (2025, 4, 6));
    rest("劳动节", (2025, 5, 1), (2025, 5, 5));
    rest("端午节", (2025, 5, 31), (2025, 6, 2));
    rest("国庆节、中秋节", (2025, 10, 1), (2025, 10, 8));
    // 2026
    rest("元旦", (2026, 1, 1), (2026, 1, 3));
    rest("春节", (2026, 2, 15), (2026, 2, 23));
    rest("清明节", (2026, 4, 4), (2026, 4, 6));
    rest("劳动节", (2026, 5, 1), (2026, 5, 5));
    rest("端午节", (2026, 6, 19), (2026, 6, 21));
    rest("中秋节", (2026, 9, 25), (2026, 9, 27));
    rest("国庆节", (2026, 10, 1), (2026, 10, 7));
    let makeup = [
        ((2025, 1, 26), "春节"),
        ((2025, 2, 8), "春节"),
        ((2025, 4, 27), "劳动节"),
        ((2025, 9, 28), "国庆节、中秋节"),
        ((2025, 10, 11), "国庆节、中秋节"),
        ((2026, 1, 4), "元旦"),
        ((2026, 2, 14), "春节"),
        ((2026, 2, 28), "春节"),
        ((2026, 5, 9), "劳动节"),
        ((2026, 9, 20), "国庆节"),
        ((2026, 10, 10), "国庆节"),
    ];
    for ((y, m, d), name) in makeup {
        if let Some(date) = NaiveDate::from_ymd_opt(y, m, d) {
            days.push(CalendarDay {
                date,
                is_workday: true,
                name: Some(format!("{name}调休上班")),
            });
        }
    }
    days
}

pub const OFFICIAL_YEARS: [i32; 2] = [2025, 2026];

#[cfg(test)]
mod tests {
    use super::*;

    fn cal() -> WorkingCalendar {
        WorkingCalendar::new(official_days(), OFFICIAL_YEARS.to_vec())
    }

    fn d(y: i32, m: u32, day: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, day).unwrap()
    }

    #[test]
    fn days_of_the_2026_tables() {
        let c = cal();
        let table = [
            (d(2026, 2, 14), true),  // 调休 Saturday
            (d(2026, 2, 15), false), // 春节 starts (Sunday)
            (d(2026, 2, 16), false), // 春节, a Monday
            (d(2026, 2, 23), false), // last day off, a Monday
            (d(2026, 2, 24), true),
            (d(2026, 2, 28), true), // 调休 Saturday
            (d(2026, 3, 1), false), // ordinary Sunday
            (d(2026, 1, 4), true),  // 调休 Sunday
            (d(2026, 9, 20), true), // 调休 Sunday
            (d(2026, 10, 1), false),
            (d(2026, 10, 7), false),
            (d(2026, 10, 8), true),
            (d(2026, 10, 10), true), // 调休 Saturday
            (d(2026, 10, 11), false),
        ];
        for (date, workday) in table {
            let day = c.is_workday(date);
            assert_eq!(day.value, workday, "{date}");
            assert!(!day.provisional);
        }
        assert_eq!(c.day(d(2026, 2, 16)).value.name.as_deref(), Some("春节"));
    }

    #[test]
    fn a_published_year_has_its_official_count_of_working_days() {
        let c = cal();
        assert_eq!(
            c.working_days_between(d(2025, 12, 31), d(2026, 12, 31))
                .value,
            248
        );
    }

    #[test]
    fn adding_working_days_over_the_spring_festival() {
        let c = cal();
        let table: [(NaiveDate, i64, NaiveDate); 8] = [
            (d(2026, 2, 12), 1, d(2026, 2, 13)), // Thu → Fri
            (d(2026, 2, 13), 1, d(2026, 2, 14)), // Fri → the 调休 Saturday
            (d(2026, 2, 14), 1, d(2026, 2, 24)), // across the nine days off
            (d(2026, 2, 13), 3, d(2026, 2, 25)),
            (d(2026, 2, 27), 1, d(2026, 2, 28)), // Fri → 调休 Saturday
            (d(2026, 2, 28), 1, d(2026, 3, 2)),  // Sat → Monday
            (d(2026, 2, 24), -1, d(2026, 2, 14)),
            (d(2026, 2, 24), 0, d(2026, 2, 24)),
        ];
        for (from, n, expected) in table {
            let got = c.add_working_days(from, n);
            assert_eq!(got.value, expected, "{from} + {n}");
            assert!(!got.provisional);
        }
    }

    #[test]
    fn adding_working_days_over_national_day() {
        let c = cal();
        let table: [(NaiveDate, i64, NaiveDate); 4] = [
            (d(2026, 9, 18), 1, d(2026, 9, 20)), // Fri → the 调休 Sunday
            (d(2026, 9, 30), 1, d(2026, 10, 8)),
            (d(2026, 9, 30), 3, d(2026, 10, 10)), // 8th, 9th, 10th (调休 Saturday)
            (d(2026, 9, 24), 1, d(2026, 9, 28)),  // 中秋 Fri–Sun off
        ];
        for (from, n, expected) in table {
            assert_eq!(c.add_working_days(from, n).value, expected, "{from} + {n}");
        }
        assert_eq!(
            c.working_days_between(d(2026, 9, 30), d(2026, 10, 10))
                .value,
            3
        );
        assert_eq!(
            c.working_days_between(d(2026, 10, 10), d(2026, 9, 30))
                .value,
            -3
        );
    }

    #[test]
    fn after_the_last_published_year_weekends_rule_and_answers_are_provisional() {
        let c = cal();
        let across = c.add_working_days(d(2026, 12, 28), 10);
        assert!(across.provisional);
        assert_eq!(
            across.value,
            d(2027, 1, 11),
            "2027-01-01 counted as a plain Friday"
        );
        let inside = c.add_working_days(d(2026, 12, 1), 5);
        assert!(!inside.provisional);
        assert!(c.is_workday(d(2027, 2, 10)).provisional);
        assert!(
            c.working_days_between(d(2026, 12, 30), d(2027, 1, 5))
                .provisional
        );
    }
}
