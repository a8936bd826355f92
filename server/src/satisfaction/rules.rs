//! The satisfaction rules, pure: which round a rating would be (or why there is none), how a
//! rectification order moves, who must rectify, when an order is overdue, and how a level is
//! coded for a target that numbers levels one way or the other.
use chrono::{DateTime, Duration, NaiveDate, Utc};

use super::model::{RatingAppealStatus, RatingLevel, RatingTextState, RectificationStatus};
use crate::moderation::Disposition;

/// What is known about a case's ratings when its applicant tries to rate it.
#[derive(Clone, Copy, Debug, Default)]
pub struct RatingFacts {
    /// The invitation's end of window (None: the case has not ended, or was not invited).
    pub rate_by: Option<DateTime<Utc>>,
    /// The first rating, if any.
    pub first: Option<FirstRating>,
    /// Whether a second rating exists.
    pub second: bool,
}

/// The first rating, as far as a second one depends on it.
#[derive(Clone, Copy, Debug)]
pub struct FirstRating {
    pub bad: bool,
    pub anonymous: bool,
    /// When its rectification was resolved (the rater told), if it was.
    pub resolved_at: Option<DateTime<Utc>>,
}

/// Why a case cannot be rated now.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Refusal {
    /// It has not ended (or ended before ratings existed and was not invited).
    NotInvited,
    /// The window closed.
    WindowClosed,
    /// Rated already, and no second rating is due.
    AlreadyRated,
    /// The first rating was bad and its rectification is not resolved yet.
    RectificationPending,
    /// The second rating's window closed.
    SecondWindowClosed,
}

impl Refusal {
    pub fn message(self) -> &'static str {
        match self {
            Refusal::NotInvited => {
                "this case cannot be rated: it has not been completed or terminated"
            }
            Refusal::WindowClosed => "the time to rate this case has passed",
            Refusal::AlreadyRated => "this case has been rated already",
            Refusal::RectificationPending => {
                "a second rating opens when the rectification of the first is finished"
            }
            Refusal::SecondWindowClosed => "the time for a second rating has passed",
        }
    }
}

/// The round the rating would be: 1 within the invitation's window, 2 once after the
/// rectification of a bad first rating was resolved and within `second_window` of that.
pub fn round_to_rate(
    facts: RatingFacts,
    now: DateTime<Utc>,
    second_window: Duration,
) -> Result<i32, Refusal> {
    let rate_by = facts.rate_by.ok_or(Refusal::NotInvited)?;
    let Some(first) = facts.first else {
        return if now <= rate_by {
            Ok(1)
        } else {
            Err(Refusal::WindowClosed)
        };
    };
    if facts.second || !first.bad {
        return Err(Refusal::AlreadyRated);
    }
    let resolved = first.resolved_at.ok_or(Refusal::RectificationPending)?;
    if now <= resolved + second_window {
        Ok(2)
    } else {
        Err(Refusal::SecondWindowClosed)
    }
}

/// Whether a rating is anonymous: a first one as asked (real-name when not said); a second one
/// as the first was — an anonymous second rating would be linked to its case by a real-name
/// first, and a real-name second would reveal who gave an anonymous first.
pub fn anonymity(
    round: i32,
    first: Option<FirstRating>,
    asked: Option<bool>,
) -> Result<bool, &'static str> {
    match (round, first) {
        (2, Some(first)) => match asked {
            Some(asked) if asked != first.anonymous => {
                Err("a second rating is anonymous exactly when the first was")
            }
            _ => Ok(first.anonymous),
        },
        _ => Ok(asked.unwrap_or(false)),
    }
}

/// What is done to a rectification order.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RectificationAction {
    /// Record the call-back to the rater (reached or not).
    Verify,
    /// Classify, record the result and reply to the rater.
    Resolve,
}

/// The next status, or why not. A real-name rating is called back before it is resolved
/// (实名差评回访率 100 %); an anonymous rater cannot be called, so theirs is resolved directly.
pub fn rectification_step(
    status: RectificationStatus,
    action: RectificationAction,
    anonymous: bool,
) -> Result<RectificationStatus, &'static str> {
    use RectificationAction::{Resolve, Verify};
    use RectificationStatus::{Open, Resolved, Verified};
    match (status, action) {
        (Open, Verify) if anonymous => Err("an anonymous rater cannot be called back"),
        (Open, Verify) => Ok(Verified),
        (Open, Resolve) if anonymous => Ok(Resolved),
        (Open, Resolve) => Err("call the rater back (verifyRectification) before resolving"),
        (Verified, Verify) => Err("the call-back is recorded already"),
        (Verified, Resolve) => Ok(Resolved),
        (Resolved, _) => Err("the rectification is resolved already"),
    }
}

/// Whether an order is overdue on `today` (China date): unresolved after its due day.
pub fn is_overdue(status: RectificationStatus, due_on: NaiveDate, today: NaiveDate) -> bool {
    status != RectificationStatus::Resolved && today > due_on
}

/// Whether a rating may be appealed: a bad one (差评申诉) that no upheld appeal excluded.
pub fn appealable(level: RatingLevel, excluded: bool) -> Result<(), &'static str> {
    if !level.is_bad() {
        Err("only a bad rating is appealed")
    } else if excluded {
        Err("the rating is excluded already")
    } else {
        Ok(())
    }
}

/// The decision of an appeal: only a pending one is decided, once.
pub fn decide_appeal(
    status: RatingAppealStatus,
    upheld: bool,
) -> Result<RatingAppealStatus, &'static str> {
    match status {
        RatingAppealStatus::Pending if upheld => Ok(RatingAppealStatus::Upheld),
        RatingAppealStatus::Pending => Ok(RatingAppealStatus::Rejected),
        _ => Err("the appeal is decided already"),
    }
}

/// How a target numbers the levels: GB/T 39046 附录A.8 codes 非常满意 as 1; the provincial
/// 好差评 interfaces code it as 5.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LevelCoding {
    BestIsOne,
    BestIsFive,
}

/// A level's code for a target.
pub fn level_code(level: RatingLevel, coding: LevelCoding) -> u8 {
    let best_is_one = match level {
        RatingLevel::VerySatisfied => 1,
        RatingLevel::Satisfied => 2,
        RatingLevel::BasicallySatisfied => 3,
        RatingLevel::Dissatisfied => 4,
        RatingLevel::VeryDissatisfied => 5,
    };
    match coding {
        LevelCoding::BestIsOne => best_is_one,
        LevelCoding::BestIsFive => 6 - best_is_one,
    }
}

/// What a late content check (a job's, of a text WeChat could not check when it came) makes
/// of the text: its new state and WeChat's label, or None to check it again on a later run.
/// A prohibited text is withheld (it was stored already); one WeChat never answers for waits
/// for a human after `attempts` checks (`checks` counts this one).
pub fn after_late_check(
    disposition: Disposition,
    checks: i32,
    attempts: i32,
) -> Option<(RatingTextState, Option<i64>)> {
    match disposition {
        Disposition::Publish => Some((RatingTextState::Published, None)),
        Disposition::Hold { label } => Some((RatingTextState::Held, Some(label))),
        Disposition::Reject { label } => Some((RatingTextState::Withheld, Some(label))),
        Disposition::Recheck if checks >= attempts => Some((RatingTextState::Held, None)),
        Disposition::Recheck => None,
    }
}

/// The China midnight of `at`'s date, as an instant: all an anonymous rating tells of when.
pub use crate::clock::day_of;

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;
    use crate::satisfaction::model::RatingLevel;

    fn at(day: u32, hour: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 12, day, hour, 0, 0).unwrap()
    }

    #[test]
    fn the_round_follows_the_window_and_the_rectification() {
        let window = Duration::days(15);
        let invited = Some(at(10, 0));
        let good = Some(FirstRating {
            bad: false,
            anonymous: false,
            resolved_at: None,
        });
        let bad_open = Some(FirstRating {
            bad: true,
            anonymous: false,
            resolved_at: None,
        });
        let bad_done = Some(FirstRating {
            bad: true,
            anonymous: false,
            resolved_at: Some(at(12, 0)),
        });
        let table: Vec<(RatingFacts, DateTime<Utc>, Result<i32, Refusal>)> = vec![
            (RatingFacts::default(), at(1, 0), Err(Refusal::NotInvited)),
            (
                RatingFacts {
                    rate_by: invited,
                    ..Default::default()
                },
                at(9, 0),
                Ok(1),
            ),
            (
                RatingFacts {
                    rate_by: invited,
                    ..Default::default()
                },
                at(10, 0),
                Ok(1),
            ),
            (
                RatingFacts {
                    rate_by: invited,
                    ..Default::default()
                },
                at(10, 1),
                Err(Refusal::WindowClosed),
            ),
            (
                RatingFacts {
                    rate_by: invited,
                    first: good,
                    second: false,
                },
                at(9, 0),
                Err(Refusal::AlreadyRated),
            ),
            (
                RatingFacts {
                    rate_by: invited,
                    first: bad_open,
                    second: false,
                },
                at(9, 0),
                Err(Refusal::RectificationPending),
            ),
            // The second rating's window runs from the reply, not from the first window.
            (
                RatingFacts {
                    rate_by: invited,
                    first: bad_done,
                    second: false,
                },
                at(20, 0),
                Ok(2),
            ),
            (
                RatingFacts {
                    rate_by: invited,
                    first: bad_done,
                    second: false,
                },
                at(27, 0),
                Ok(2),
            ),
            (
                RatingFacts {
                    rate_by: invited,
                    first: bad_done,
                    second: false,
                },
                at(27, 1),
                Err(Refusal::SecondWindowClosed),
            ),
            (
                RatingFacts {
                    rate_by: invited,
                    first: bad_done,
                    second: true,
                },
                at(13, 0),
                Err(Refusal::AlreadyRated),
            ),
        ];
        for (facts, now, expected) in table {
            assert_eq!(
                round_to_rate(facts, now, window),
                expected,
                "{facts:?} at {now}"
            );
        }
    }

    #[test]
    fn a_rectification_moves_only_as_the_table_says() {
        use RectificationAction::{Resolve, Verify};
        use RectificationStatus::{Open, Resolved, Verified};
        let table = [
            (Open, Verify, false, Ok(Verified)),
            (Open, Verify, true, Err(())),
            (Open, Resolve, false, Err(())),
            (Open, Resolve, true, Ok(Resolved)),
            (Verified, Verify, false, Err(())),
            (Verified, Resolve, false, Ok(Resolved)),
            (Resolved, Verify, false, Err(())),
            (Resolved, Resolve, false, Err(())),
            (Resolved, Resolve, true, Err(())),
        ];
        for (from, action, anonymous, expected) in table {
            assert_eq!(
                rectification_step(from, action, anonymous).map_err(|_| ()),
                expected,
                "{from:?} {action:?} anonymous={anonymous}"
            );
        }
    }

    #[test]
    fn overdue_is_after_the_due_day_and_never_once_resolved() {
        let due = NaiveDate::from_ymd_opt(2026, 12, 21).unwrap();
        let next = NaiveDate::from_ymd_opt(2026, 12, 22).unwrap();
        assert!(!is_overdue(RectificationStatus::Open, due, due));
        assert!(is_overdue(RectificationStatus::Open, due, next));
        assert!(is_overdue(RectificationStatus::Verified, due, next));
        assert!(!is_overdue(RectificationStatus::Resolved, due, next));
    }

    #[test]
    fn only_a_bad_counted_rating_is_appealed_and_an_appeal_is_decided_once() {
        use RatingAppealStatus::{Pending, Rejected, Upheld};
        for level in RatingLevel::ALL {
            assert_eq!(
                appealable(*level, false).is_ok(),
                level.is_bad(),
                "{level:?}"
            );
            assert!(appealable(*level, true).is_err(), "{level:?}");
        }
        let table = [
            (Pending, true, Ok(Upheld)),
            (Pending, false, Ok(Rejected)),
            (Upheld, true, Err(())),
            (Upheld, false, Err(())),
            (Rejected, true, Err(())),
            (Rejected, false, Err(())),
        ];
        for (from, upheld, expected) in table {
            assert_eq!(
                decide_appeal(from, upheld).map_err(|_| ()),
                expected,
                "{from:?} {upheld}"
            );
        }
    }

    #[test]
    fn a_second_rating_keeps_the_first_ones_anonymity() {
        let first = |anonymous| {
            Some(FirstRating {
                bad: true,
                anonymous,
                resolved_at: None,
            })
        };
        let table = [
            (1, None, None, Ok(false)),
            (1, None, Some(true), Ok(true)),
            (1, None, Some(false), Ok(false)),
            (2, first(true), None, Ok(true)),
            (2, first(true), Some(true), Ok(true)),
            (2, first(true), Some(false), Err(())),
            (2, first(false), None, Ok(false)),
            (2, first(false), Some(true), Err(())),
        ];
        for (round, first, asked, expected) in table {
            assert_eq!(
                anonymity(round, first, asked).map_err(|_| ()),
                expected,
                "{round} {first:?} {asked:?}"
            );
        }
    }

    #[test]
    fn levels_are_coded_per_target_and_only_the_two_lowest_are_bad() {
        let table = [
            (RatingLevel::VerySatisfied, 1, 5, false),
            (RatingLevel::Satisfied, 2, 4, false),
            (RatingLevel::BasicallySatisfied, 3, 3, false),
            (RatingLevel::Dissatisfied, 4, 2, true),
            (RatingLevel::VeryDissatisfied, 5, 1, true),
        ];
        for (level, one, five, bad) in table {
            assert_eq!(level_code(level, LevelCoding::BestIsOne), one, "{level:?}");
            assert_eq!(
                level_code(level, LevelCoding::BestIsFive),
                five,
                "{level:?}"
            );
            assert_eq!(level.is_bad(), bad, "{level:?}");
        }
        assert_eq!(RatingLevel::ALL.len(), 5);
    }

    #[test]
    fn an_anonymous_moment_is_told_as_its_china_day() {
        let table = [
            // China is UTC+8: 15:59 UTC is still the 7th there, 16:00 UTC is the 8th.
            (
                Utc.with_ymd_and_hms(2026, 12, 7, 15, 59, 59).unwrap(),
                at(6, 16),
            ),
            (at(7, 16), at(7, 16)),
            (at(7, 23), at(7, 16)),
            (
                Utc.with_ymd_and_hms(2026, 12, 8, 3, 30, 0).unwrap(),
                at(7, 16),
            ),
        ];
        for (moment, day) in table {
            assert_eq!(day_of(moment), day, "{moment}");
        }
    }

    #[test]
    fn a_late_check_publishes_holds_withholds_or_waits() {
        let table = [
            (
                Disposition::Publish,
                1,
                Some((RatingTextState::Published, None)),
            ),
            (
                Disposition::Hold { label: 20001 },
                1,
                Some((RatingTextState::Held, Some(20001))),
            ),
            (
                Disposition::Reject { label: 20006 },
                2,
                Some((RatingTextState::Withheld, Some(20006))),
            ),
            (Disposition::Recheck, 4, None),
            (Disposition::Recheck, 5, Some((RatingTextState::Held, None))),
            (Disposition::Recheck, 6, Some((RatingTextState::Held, None))),
        ];
        for (disposition, checks, expected) in table {
            assert_eq!(
                after_late_check(disposition, checks, 5),
                expected,
                "{disposition:?} after {checks}"
            );
        }
    }
}
