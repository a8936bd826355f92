//! Pure: the villages sampled for the assessment (村级抽查), per township, reproducible from the
//! recorded seed: the same villages and seed always give the same sample, whatever order the
//! villages come in. The seeded draw is the one callback samples use.
use std::collections::BTreeMap;

use uuid::Uuid;

use crate::satisfaction::callback_rules::draw;

/// `per_township` villages of each township (all of them when it has fewer), from (township,
/// village) pairs; by township.
pub fn villages(
    villages: &[(Uuid, Uuid)],
    per_township: usize,
    seed: u64,
) -> BTreeMap<Uuid, Vec<Uuid>> {
    let mut by_township: BTreeMap<Uuid, Vec<(Uuid, Uuid)>> = BTreeMap::new();
    for (township, village) in villages {
        by_township
            .entry(*township)
            .or_default()
            .push((*township, *village));
    }
    by_township
        .into_iter()
        .map(|(township, candidates)| {
            let mut drawn = draw(&candidates, per_township, seed);
            drawn.sort();
            (township, drawn)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_township_gets_its_share_the_same_for_the_same_seed() {
        let t = |n: u128| Uuid::from_u128(n);
        let pairs: Vec<(Uuid, Uuid)> = (0..10u128)
            .map(|v| (t(1), t(100 + v)))
            .chain((0..2u128).map(|v| (t(2), t(200 + v))))
            .collect();
        let sample = villages(&pairs, 3, 42);
        assert_eq!(sample[&t(1)].len(), 3);
        assert_eq!(sample[&t(2)].len(), 2, "all of a township with fewer");
        assert!(sample[&t(1)].iter().all(|v| pairs.contains(&(t(1), *v))));
        let mut shuffled = pairs.clone();
        shuffled.reverse();
        assert_eq!(villages(&shuffled, 3, 42), sample, "order does not matter");
        let others: Vec<_> = (0..20u64)
            .map(|seed| villages(&pairs, 3, seed)[&t(1)].clone())
            .collect();
        assert!(
            others.iter().any(|s| *s != sample[&t(1)]),
            "the seed matters"
        );
        assert!(villages(&pairs, 0, 42).values().all(Vec::is_empty));
    }
}
