//! The rules of satisfaction callbacks, pure: drawing a sample stratified by unit (each village
//! and each township centre in proportion to its finished cases, largest remainders first) and
//! reproducible from a recorded seed; and what a call attempt does to a task (up to a number of
//! attempts, each on a later working day). The call script's rules are in `script`.
use std::collections::BTreeMap;

use chrono::NaiveDate;
use uuid::Uuid;

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

/// The size a sample asked for, as recorded (`count:<n>` or `percent:<p>`).
pub fn parse_requested(requested: &str) -> Option<(Option<u32>, Option<u32>)> {
    let (how, n) = requested.split_once(':')?;
    let n: u32 = n.parse().ok()?;
    match how {
        "count" => Some((Some(n), None)),
        "percent" => Some((None, Some(n))),
        _ => None,
    }
}

/// Whether a recorded draw holds: the recorded seed, over the recorded candidates and the size
/// asked for, picks exactly the cases recorded as drawn.
pub fn draw_holds(candidates: &[(Uuid, Uuid, bool)], requested: &str, seed: u64) -> bool {
    let Some((count, percent)) = parse_requested(requested) else {
        return false;
    };
    let Ok(n) = sample_size(count, percent, candidates.len()) else {
        return false;
    };
    let pool: Vec<(Uuid, Uuid)> = candidates.iter().map(|(u, c, _)| (*u, *c)).collect();
    let mut again = draw(&pool, n, seed);
    let mut recorded: Vec<Uuid> = candidates
        .iter()
        .filter(|(_, _, drawn)| *drawn)
        .map(|(_, c, _)| *c)
        .collect();
    again.sort_unstable();
    recorded.sort_unstable();
    again == recorded
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
    fn a_recorded_draw_holds_only_as_it_was_drawn() {
        let pool: Vec<(Uuid, Uuid)> = (0..12).map(|n| (id(n % 3), id(100 + n))).collect();
        let seed = 7;
        let picked = draw(&pool, 4, seed);
        let recorded: Vec<(Uuid, Uuid, bool)> = pool
            .iter()
            .map(|(u, c)| (*u, *c, picked.contains(c)))
            .collect();
        let mut swapped = recorded.clone();
        let (yes, no) = (
            swapped.iter().position(|c| c.2).unwrap(),
            swapped.iter().position(|c| !c.2).unwrap(),
        );
        swapped[yes].2 = false;
        swapped[no].2 = true;
        let mut fewer = recorded.clone();
        fewer.retain(|c| !c.2 || c.1 != picked[0]);
        type Recorded = [(Uuid, Uuid, bool)];
        let table: [(&Recorded, &str, u64, bool); 8] = [
            (&recorded, "count:4", seed, true),
            // 33 % of 12, rounded up, is the same 4; 34 % is 5.
            (&recorded, "percent:33", seed, true),
            (&recorded, "percent:34", seed, false),
            (&recorded, "count:4", seed + 1, false),
            (&recorded, "count:5", seed, false),
            (&recorded, "nonsense", seed, false),
            (&swapped, "count:4", seed, false),
            (&fewer, "count:4", seed, false),
        ];
        for (candidates, requested, seed, holds) in table {
            assert_eq!(
                draw_holds(candidates, requested, seed),
                holds,
                "{requested} {seed}"
            );
        }
        assert_eq!(parse_requested("percent:10"), Some((None, Some(10))));
        assert_eq!(parse_requested("count:x"), None);
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
