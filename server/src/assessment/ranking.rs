//! Pure: a township's final score (its own sheet × 60 % + the average of its sampled villages'
//! sheets × 40 %, seed §七(二)2), the ranking of the county's townships, and their grades: the
//! top four are 优秀, below 60 is 不合格, and a serious violation is 不合格 whatever the score.
use serde::Serialize;
use uuid::Uuid;

use crate::assessment::model::Points;

/// A township's grade.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub enum Grade {
    /// 优秀: among the top four.
    Excellent,
    /// 合格.
    Qualified,
    /// 不合格: below 60, or a serious violation.
    Unqualified,
}

/// The pass mark.
pub const PASS: Points = Points::whole(60);

/// How many townships are 优秀.
pub const EXCELLENT: u32 = 4;

/// The final score: `own` × 60 % + the mean of `villages` × 40 %, rounded half up to a
/// hundredth. With no village sampled (a township without villages), its own sheet alone.
pub fn final_score(own: Points, villages: &[Points]) -> Points {
    if villages.is_empty() {
        return own;
    }
    let n = u64::try_from(villages.len()).unwrap_or(u64::MAX);
    let sum: u64 = villages.iter().map(|p| u64::from(p.0)).sum();
    // (own × 60 × n + sum × 40) / (100 × n), rounded half up.
    let numerator = u64::from(own.0) * 60 * n + sum * 40;
    let denominator = 100 * n;
    let rounded = (numerator * 2 + denominator) / (denominator * 2);
    Points(u32::try_from(rounded).unwrap_or(u32::MAX))
}

/// A township to rank.
#[derive(Clone, Copy, Debug)]
pub struct Standing {
    pub township: Uuid,
    pub score: Points,
    /// A serious violation in the township or in any of its villages.
    pub fails_outright: bool,
}

/// A township's place.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct Placed {
    pub township: Uuid,
    pub score: Points,
    /// 1 for the best; equal scores share a rank and the next rank skips (1, 2, 2, 4).
    pub rank: u32,
    pub grade: Grade,
}

/// Ranks the townships: by score, best first, except that a township failing outright comes
/// after every other (its score is shown, but it takes no place among the best); equal scores
/// share a rank. 优秀 goes to those ranked within the first four that are not 不合格.
pub fn rank(standings: &[Standing]) -> Vec<Placed> {
    let mut sorted = standings.to_vec();
    sorted.sort_by(|a, b| {
        a.fails_outright
            .cmp(&b.fails_outright)
            .then(b.score.cmp(&a.score))
            .then(a.township.cmp(&b.township))
    });
    let mut out: Vec<Placed> = Vec::with_capacity(sorted.len());
    for (index, standing) in sorted.iter().enumerate() {
        let position = u32::try_from(index + 1).unwrap_or(u32::MAX);
        let rank = match out.last() {
            Some(previous)
                if previous.score == standing.score
                    && sorted[index - 1].fails_outright == standing.fails_outright =>
            {
                previous.rank
            }
            _ => position,
        };
        let grade = if standing.fails_outright || standing.score < PASS {
            Grade::Unqualified
        } else if rank <= EXCELLENT {
            Grade::Excellent
        } else {
            Grade::Qualified
        };
        out.push(Placed {
            township: standing.township,
            score: standing.score,
            rank,
            grade,
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(hundredths: u32) -> Points {
        Points(hundredths)
    }

    #[test]
    fn the_final_score_is_sixty_per_cent_own_and_forty_the_villages_mean() {
        for (own, villages, expected) in [
            (p(10_000), vec![p(10_000)], p(10_000)),
            (p(9_000), vec![p(8_000), p(7_000)], p(8_400)),
            // 85 × .6 + (90 + 80 + 71) / 3 × .4 = 51 + 32.1333… = 83.13
            (p(8_500), vec![p(9_000), p(8_000), p(7_100)], p(8_313)),
            // 0.6 × 0.01 + 0.4 × 0 = 0.006 → 0.01 (half up)
            (p(1), vec![p(0)], p(1)),
            (p(0), vec![p(0)], p(0)),
            (p(7_700), vec![], p(7_700)),
        ] {
            assert_eq!(final_score(own, &villages), expected, "{own} {villages:?}");
        }
    }

    #[test]
    fn the_top_four_are_excellent_below_sixty_or_serious_fails_and_ties_share() {
        let t = |n: u128| Uuid::from_u128(n);
        let s = |n: u128, score: u32, fails: bool| Standing {
            township: t(n),
            score: Points::whole(score),
            fails_outright: fails,
        };
        let placed = rank(&[
            s(1, 95, false),
            s(2, 99, true),
            s(3, 90, false),
            s(4, 90, false),
            s(5, 88, false),
            s(6, 87, false),
            s(7, 59, false),
            s(8, 60, false),
        ]);
        let got: Vec<(Uuid, u32, Grade)> = placed
            .iter()
            .map(|p| (p.township, p.rank, p.grade))
            .collect();
        use Grade::{Excellent, Qualified, Unqualified};
        assert_eq!(
            got,
            vec![
                (t(1), 1, Excellent),
                (t(3), 2, Excellent),
                (t(4), 2, Excellent),
                (t(5), 4, Excellent),
                (t(6), 5, Qualified),
                (t(8), 6, Qualified),
                (t(7), 7, Unqualified),
                // Serious: after every other, whatever its score.
                (t(2), 8, Unqualified),
            ]
        );
        // A tie at the fourth place: both excellent.
        let placed = rank(&[
            s(1, 90, false),
            s(2, 89, false),
            s(3, 88, false),
            s(4, 80, false),
            s(5, 80, false),
            s(6, 70, false),
        ]);
        let grades: Vec<Grade> = placed.iter().map(|p| p.grade).collect();
        assert_eq!(
            grades,
            [
                Excellent, Excellent, Excellent, Excellent, Excellent, Qualified
            ]
        );
    }
}
