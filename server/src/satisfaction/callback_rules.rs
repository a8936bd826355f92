//! The rules of satisfaction callbacks, pure: drawing a sample stratified by unit (each village
//! and each township centre in proportion to its finished cases, largest remainders first) and
//! reproducible from a recorded seed; the call script and what answers it accepts; and what a
//! call attempt does to a task (up to a number of attempts, each on a later working day).
use std::collections::BTreeMap;

use chrono::NaiveDate;
use serde_json::{Map, Value};
use uuid::Uuid;

use super::model::RatingLevel;

crate::stored_enum! {
    /// How a call went.
    pub enum CallOutcome {
        /// Reached, and answered the questions.
        Reached = "reached",
        /// No answer: called again on a later working day.
        NoAnswer = "no_answer",
        /// The number is wrong: no use calling again.
        WrongNumber = "wrong_number",
        /// Reached, but declined to answer.
        Refused = "refused",
    }
}

crate::stored_enum! {
    /// Where a callback task stands.
    pub enum CallbackStatus {
        /// To be called (or answered in the mini-program).
        Open = "open",
        /// Answered on the phone.
        Answered = "answered",
        /// Answered by the applicant in the mini-program.
        SelfAnswered = "self_answered",
        /// Reached, declined.
        Refused = "refused",
        /// Not reached after the attempts allowed, or a wrong number.
        Unreachable = "unreachable",
    }
}

/// A 64-bit generator that is the same on every build (SplitMix64): the draw must be
/// reproducible from its seed for years, whatever the libraries do.
struct SplitMix(u64);

impl SplitMix {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n` (n > 0), without modulo bias.
    fn below(&mut self, n: u64) -> u64 {
        let zone = u64::MAX - u64::MAX % n;
        loop {
            let x = self.next();
            if x < zone {
                return x % n;
            }
        }
    }
}

/// How many of `n` each stratum gets: in proportion to its size, the remainders going to the
/// largest fractions (ties broken by the seed, so that no unit is favoured draw after draw),
/// never more than a stratum holds.
pub fn allocate(strata: &BTreeMap<Uuid, usize>, n: usize, seed: u64) -> BTreeMap<Uuid, usize> {
    let total: usize = strata.values().sum();
    let n = n.min(total);
    let mut out = BTreeMap::new();
    if total == 0 {
        return out;
    }
    let mut given = 0;
    let mut remainders = Vec::new();
    for (stratum, size) in strata {
        let exact = size * n;
        let share = exact / total;
        given += share;
        out.insert(*stratum, share);
        remainders.push((exact % total, *stratum));
    }
    let mut rng = SplitMix(seed ^ 0x5eed_7135_a11c_a7e5);
    let mut ranked: Vec<(usize, u64, Uuid)> = remainders
        .into_iter()
        .map(|(r, s)| (r, rng.next(), s))
        .collect();
    ranked.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
    for (_, _, stratum) in ranked.into_iter().take(n - given) {
        if let Some(share) = out.get_mut(&stratum) {
            *share += 1;
        }
    }
    out
}

/// Draws `n` cases from (stratum, case) candidates with `seed`: the same candidates and seed
/// always give the same sample, whatever order the candidates come in.
pub fn draw(candidates: &[(Uuid, Uuid)], n: usize, seed: u64) -> Vec<Uuid> {
    let mut by_stratum: BTreeMap<Uuid, Vec<Uuid>> = BTreeMap::new();
    for (stratum, case) in candidates {
        by_stratum.entry(*stratum).or_default().push(*case);
    }
    let sizes = by_stratum.iter().map(|(s, c)| (*s, c.len())).collect();
    let shares = allocate(&sizes, n, seed);
    let mut rng = SplitMix(seed);
    let mut out = Vec::new();
    for (stratum, mut cases) in by_stratum {
        cases.sort();
        cases.dedup();
        let take = shares.get(&stratum).copied().unwrap_or(0).min(cases.len());
        // A partial Fisher–Yates shuffle: the first `take` are the stratum's sample.
        for i in 0..take {
            let span = u64::try_from(cases.len() - i).unwrap_or(u64::MAX);
            let j = i + usize::try_from(rng.below(span)).unwrap_or(0);
            cases.swap(i, j);
        }
        out.extend_from_slice(&cases[..take]);
    }
    out
}

/// The sample's size: a count, or a percentage of the candidates (rounded up).
pub fn sample_size(
    count: Option<u32>,
    percent: Option<u32>,
    candidates: usize,
) -> Result<usize, &'static str> {
    match (count, percent) {
        (Some(n), None) if n >= 1 => Ok(usize::try_from(n).unwrap_or(usize::MAX).min(candidates)),
        (None, Some(p)) if (1..=100).contains(&p) => {
            let p = usize::try_from(p).unwrap_or(100);
            Ok((candidates * p).div_ceil(100))
        }
        _ => Err("give either a count of at least 1 or a percentage of 1–100"),
    }
}

/// The kind of answer a question takes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum QuestionKind {
    /// 是 / 否.
    YesNo,
    /// One of the five levels.
    Level,
    /// Free text (optional).
    Text,
}

/// One question of the call script.
#[derive(Clone, Debug)]
pub struct Question {
    pub key: &'static str,
    pub text: &'static str,
    pub kind: QuestionKind,
    /// A "yes" reports misconduct (fees, gifts): the inspectors are told.
    pub misconduct_when_yes: bool,
}

/// The call script (seed 三(二) 无偿服务, 七(三) conduct).
pub const SCRIPT: [Question; 6] = [
    Question {
        key: "done",
        text: "您办理的事项是否已经办结？",
        kind: QuestionKind::YesNo,
        misconduct_when_yes: false,
    },
    Question {
        key: "charged",
        text: "帮办代办过程中是否向您收取了任何费用？",
        kind: QuestionKind::YesNo,
        misconduct_when_yes: true,
    },
    Question {
        key: "attitude",
        text: "您对工作人员的服务态度是否满意？",
        kind: QuestionKind::Level,
        misconduct_when_yes: false,
    },
    Question {
        key: "timeliness",
        text: "您对办理的及时性是否满意？",
        kind: QuestionKind::Level,
        misconduct_when_yes: false,
    },
    Question {
        key: "gifts",
        text: "工作人员是否索要或接受过礼品、礼金、宴请或报销费用？",
        kind: QuestionKind::YesNo,
        misconduct_when_yes: true,
    },
    Question {
        key: "comments",
        text: "您还有什么意见或建议？",
        kind: QuestionKind::Text,
        misconduct_when_yes: false,
    },
];

/// One answer as given.
#[derive(Clone, Debug, PartialEq)]
pub enum Answer {
    YesNo(bool),
    Level(RatingLevel),
    Text(String),
}

/// Checks answers against the script: every yes/no and level question answered once with its
/// kind, text optional, no unknown key. Returns them as stored (JSON) and whether they report
/// misconduct; or the key at fault and why.
pub fn check_answers(
    answers: &[(String, Answer)],
) -> Result<(Value, bool), (String, &'static str)> {
    let mut stored = Map::new();
    let mut misconduct = false;
    for (key, answer) in answers {
        let question = SCRIPT
            .iter()
            .find(|q| q.key == key)
            .ok_or_else(|| (key.clone(), "no such question"))?;
        let value = match (question.kind, answer) {
            (QuestionKind::YesNo, Answer::YesNo(yes)) => {
                misconduct |= *yes && question.misconduct_when_yes;
                Value::Bool(*yes)
            }
            (QuestionKind::Level, Answer::Level(level)) => Value::String(level.as_str().into()),
            (QuestionKind::Text, Answer::Text(text)) => Value::String(text.clone()),
            _ => return Err((key.clone(), "the answer is not of the question's kind")),
        };
        if stored.insert(key.clone(), value).is_some() {
            return Err((key.clone(), "answered twice"));
        }
    }
    if let Some(missing) = SCRIPT
        .iter()
        .find(|q| q.kind != QuestionKind::Text && !stored.contains_key(q.key))
    {
        return Err((missing.key.to_string(), "not answered"));
    }
    Ok((Value::Object(stored), misconduct))
}

/// What an attempt does to an open task.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AfterCall {
    /// Closed with this status.
    Closed(CallbackStatus),
    /// Called again from this working day.
    Again(NaiveDate),
}

/// The task after its `attempts`-th call (this one included) ended in `outcome`; `next_workday`
/// is the working day after today.
pub fn after_call(
    outcome: CallOutcome,
    attempts: i32,
    max: i32,
    next_workday: NaiveDate,
) -> AfterCall {
    match outcome {
        CallOutcome::Reached => AfterCall::Closed(CallbackStatus::Answered),
        CallOutcome::Refused => AfterCall::Closed(CallbackStatus::Refused),
        CallOutcome::WrongNumber => AfterCall::Closed(CallbackStatus::Unreachable),
        CallOutcome::NoAnswer if attempts >= max => AfterCall::Closed(CallbackStatus::Unreachable),
        CallOutcome::NoAnswer => AfterCall::Again(next_workday),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(n: u128) -> Uuid {
        Uuid::from_u128(n)
    }

    #[test]
    fn strata_get_their_share_with_the_largest_remainders() {
        let strata: BTreeMap<Uuid, usize> = [(id(1), 10), (id(2), 5), (id(3), 1)].into();
        let table = [
            (0, [0, 0, 0]),
            (4, [3, 1, 0]),
            // A tie (2 and 3 both have a remainder of 8/16): the seed decides.
            (8, [5, 2, 1]),
            (16, [10, 5, 1]),
            (99, [10, 5, 1]),
        ];
        for (n, expected) in table {
            let got = allocate(&strata, n, 7);
            assert_eq!([got[&id(1)], got[&id(2)], got[&id(3)]], expected, "n = {n}");
            assert_eq!(got.values().sum::<usize>(), n.min(16));
        }
    }

    #[test]
    fn equal_remainders_go_by_the_seed_not_always_to_the_same_units() {
        let strata: BTreeMap<Uuid, usize> = (0..50).map(|n| (id(n), 2)).collect();
        let picked = |seed| -> Vec<Uuid> {
            allocate(&strata, 10, seed)
                .into_iter()
                .filter(|(_, k)| *k > 0)
                .map(|(s, _)| s)
                .collect()
        };
        assert_eq!(picked(1).len(), 10);
        assert_eq!(picked(1), picked(1));
        assert_ne!(picked(1), picked(2));
    }

    #[test]
    fn a_draw_is_reproducible_from_its_seed_and_stratified() {
        let mut candidates: Vec<(Uuid, Uuid)> =
            (0..30).map(|n| (id(1 + n % 3), id(100 + n))).collect();
        let first = draw(&candidates, 9, 42);
        candidates.reverse();
        assert_eq!(
            draw(&candidates, 9, 42),
            first,
            "the candidates' order does not matter"
        );
        assert_ne!(
            draw(&candidates, 9, 43),
            first,
            "another seed, another sample"
        );
        assert_eq!(first.len(), 9);
        for stratum in 1..=3 {
            let members = first
                .iter()
                .filter(|c| candidates.iter().any(|(s, k)| *s == id(stratum) && k == *c))
                .count();
            assert_eq!(members, 3, "stratum {stratum}");
        }
        let mut unique = first.clone();
        unique.sort();
        unique.dedup();
        assert_eq!(unique.len(), 9, "no case twice");
        assert!(draw(&[], 5, 1).is_empty());
    }

    #[test]
    fn a_size_is_a_count_or_a_percentage() {
        assert_eq!(sample_size(Some(5), None, 100), Ok(5));
        assert_eq!(sample_size(Some(500), None, 100), Ok(100));
        assert_eq!(sample_size(None, Some(10), 95), Ok(10));
        assert_eq!(sample_size(None, Some(100), 7), Ok(7));
        assert!(sample_size(None, None, 10).is_err());
        assert!(sample_size(Some(1), Some(1), 10).is_err());
        assert!(sample_size(Some(0), None, 10).is_err());
        assert!(sample_size(None, Some(0), 10).is_err());
        assert!(sample_size(None, Some(101), 10).is_err());
    }

    #[test]
    fn answers_follow_the_script_and_report_misconduct() {
        let full = |charged: bool| {
            vec![
                ("done".to_string(), Answer::YesNo(true)),
                ("charged".to_string(), Answer::YesNo(charged)),
                (
                    "attitude".to_string(),
                    Answer::Level(RatingLevel::Satisfied),
                ),
                (
                    "timeliness".to_string(),
                    Answer::Level(RatingLevel::VerySatisfied),
                ),
                ("gifts".to_string(), Answer::YesNo(false)),
            ]
        };
        assert_eq!(check_answers(&full(false)).map(|(_, m)| m), Ok(false));
        assert_eq!(check_answers(&full(true)).map(|(_, m)| m), Ok(true));
        let mut missing = full(false);
        missing.remove(2);
        assert_eq!(
            check_answers(&missing).map(|_| ()),
            Err(("attitude".into(), "not answered"))
        );
        let mut wrong = full(false);
        wrong[0].1 = Answer::Level(RatingLevel::Satisfied);
        assert_eq!(check_answers(&wrong).map(|_| ()).unwrap_err().0, "done");
        let mut extra = full(false);
        extra.push(("bribes".into(), Answer::YesNo(true)));
        assert_eq!(check_answers(&extra).map(|_| ()).unwrap_err().0, "bribes");
        let mut twice = full(false);
        twice.push(("done".into(), Answer::YesNo(false)));
        assert_eq!(
            check_answers(&twice).map(|_| ()),
            Err(("done".into(), "answered twice"))
        );
    }

    #[test]
    fn a_call_closes_the_task_or_moves_it_to_a_later_working_day() {
        let next = NaiveDate::from_ymd_opt(2026, 12, 8).unwrap();
        let table = [
            (
                CallOutcome::Reached,
                1,
                AfterCall::Closed(CallbackStatus::Answered),
            ),
            (
                CallOutcome::Refused,
                1,
                AfterCall::Closed(CallbackStatus::Refused),
            ),
            (
                CallOutcome::WrongNumber,
                1,
                AfterCall::Closed(CallbackStatus::Unreachable),
            ),
            (CallOutcome::NoAnswer, 1, AfterCall::Again(next)),
            (CallOutcome::NoAnswer, 2, AfterCall::Again(next)),
            (
                CallOutcome::NoAnswer,
                3,
                AfterCall::Closed(CallbackStatus::Unreachable),
            ),
        ];
        for (outcome, attempts, expected) in table {
            assert_eq!(
                after_call(outcome, attempts, 3, next),
                expected,
                "{outcome:?} {attempts}"
            );
        }
    }
}
