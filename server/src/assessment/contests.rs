//! Pure: a unit contests a deduction on its draft sheet once, with a reason, within the window;
//! the county admin decides each contest — upheld (the row stands), struck (the row goes), or
//! reduced (fewer points) — and the sheet is scored again with the decisions. Rows are named
//! by a key made from their rule, their records and their place among identical rows, so a key
//! means the same row however often the draft is computed from the same records.
use std::collections::BTreeMap;

use chrono::{DateTime, Utc};

use crate::assessment::{
    model::{Deduction, Evidence, ItemScore, Points, Sheet, Take},
    rules::score,
};

/// The county admin's decision on a contest.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Decision {
    /// The row stands.
    Upheld,
    /// The row goes.
    Struck,
    /// The row takes these points instead (fewer than it took).
    Reduced(Points),
}

fn evidence_key(evidence: &Evidence) -> String {
    match serde_json::to_value(evidence) {
        Ok(serde_json::Value::Object(map)) => map
            .iter()
            .map(|(kind, id)| format!("{kind}={}", id.as_str().unwrap_or_default()))
            .collect::<Vec<_>>()
            .join(","),
        Ok(other) => other.to_string(),
        Err(_) => String::new(),
    }
}

/// The keys of an item's rows, in their order: `Rule/records/n`, `n` counting identical rows.
pub fn keys(deductions: &[Deduction]) -> Vec<String> {
    let mut seen: BTreeMap<String, u32> = BTreeMap::new();
    deductions
        .iter()
        .map(|d| {
            let records: Vec<String> = d.evidence.iter().map(evidence_key).collect();
            let base = format!("{:?}/{}", d.rule, records.join("+"));
            let n = seen.entry(base.clone()).or_insert(0);
            *n += 1;
            format!("{base}/{n}")
        })
        .collect()
}

/// Pure: whether a unit may contest a row now: the draft is open (not frozen), the window has
/// not closed, and the row was not contested before.
pub fn may_contest(
    frozen: bool,
    closes_at: DateTime<Utc>,
    now: DateTime<Utc>,
    contested_before: bool,
) -> Result<(), &'static str> {
    if frozen {
        return Err("the assessment is frozen");
    }
    if now >= closes_at {
        return Err("the window to contest has closed");
    }
    if contested_before {
        return Err("a deduction is contested once");
    }
    Ok(())
}

/// Pure: whether `decision` fits `deduction`: a reduction takes fewer points than the row
/// took, and a row that takes the whole item is upheld or struck only.
pub fn fits(deduction: &Deduction, decision: Decision) -> Result<(), &'static str> {
    match (deduction.take, decision) {
        (_, Decision::Upheld | Decision::Struck) => Ok(()),
        (Take::Item, Decision::Reduced(_)) => {
            Err("a deduction of the whole item is upheld or struck")
        }
        (Take::Points(took), Decision::Reduced(to)) if to < took => Ok(()),
        (Take::Points(_), Decision::Reduced(_)) => {
            Err("a reduction takes fewer points than the deduction")
        }
    }
}

/// Pure: the sheet with the decisions (by row key) applied, scored again. A decision whose key
/// names no row, or that does not fit its row, changes nothing (the service refuses both).
pub fn decided(sheet: &Sheet, decisions: &BTreeMap<String, Decision>) -> Sheet {
    let items: Vec<ItemScore> = sheet
        .items
        .iter()
        .map(|item| {
            let deductions: Vec<Deduction> = item
                .deductions
                .iter()
                .zip(keys(&item.deductions))
                .filter_map(|(row, key)| match decisions.get(&key) {
                    Some(Decision::Struck) => None,
                    Some(Decision::Reduced(to)) if fits(row, Decision::Reduced(*to)).is_ok() => {
                        Some(Deduction {
                            take: Take::Points(*to),
                            ..row.clone()
                        })
                    }
                    _ => Some(row.clone()),
                })
                .collect();
            ItemScore {
                item: item.item,
                score: score(item.item, &deductions),
                deductions,
            }
        })
        .collect();
    Sheet {
        total: Points(items.iter().map(|i| i.score.0).sum()),
        items,
        fails_outright: sheet.fails_outright,
    }
}

#[cfg(test)]
mod tests {
    use uuid::Uuid;

    use super::*;
    use crate::assessment::{
        model::{Item, Rule},
        rules::{Effectiveness, Facts, SocialRule, Team, sheet},
    };

    fn at(hour: u32) -> DateTime<Utc> {
        chrono::NaiveDate::from_ymd_opt(2026, 12, 20)
            .and_then(|d| d.and_hms_opt(hour, 0, 0))
            .map(|d| d.and_utc())
            .unwrap_or_default()
    }

    #[test]
    fn a_row_is_contested_once_within_the_window_before_the_freeze() {
        for (frozen, now, before, ok) in [
            (false, at(9), false, true),
            (true, at(9), false, false),
            (false, at(12), false, false),
            (false, at(13), false, false),
            (false, at(9), true, false),
        ] {
            assert_eq!(
                may_contest(frozen, at(12), now, before).is_ok(),
                ok,
                "{frozen} {now} {before}"
            );
        }
    }

    #[test]
    fn keys_are_stable_and_tell_identical_rows_apart() {
        let unit = Uuid::from_u128(1);
        let facts = Facts {
            team: Some(Team {
                unit,
                named_agents: 1,
                required_agents: 3,
                villages_without_team: vec![],
            }),
            ..Facts::default()
        };
        let first = sheet(&facts, SocialRule::default());
        let again = sheet(&facts, SocialRule::default());
        let rows = &first.items[0].deductions;
        let k = keys(rows);
        assert_eq!(
            k,
            keys(&again.items[0].deductions),
            "the same records, the same keys"
        );
        assert_eq!(k.len(), 2);
        assert_ne!(k[0], k[1], "two missing people are two rows");
        assert!(k[0].starts_with("MissingPerson/"), "{k:?}");
    }

    #[test]
    fn decisions_strike_reduce_or_uphold_and_the_sheet_is_scored_again() {
        let case = |n: u128| Evidence::Case(Uuid::from_u128(n));
        let facts = Facts {
            team: Some(Team {
                unit: Uuid::from_u128(1),
                named_agents: 2,
                required_agents: 2,
                villages_without_team: vec![],
            }),
            checklist: crate::assessment::rules::Checklist {
                rules_on_record: true,
                duties_on_record: true,
                process_on_record: true,
                ..Default::default()
            },
            effectiveness: Effectiveness {
                unledgered: vec![case(1), case(2), case(3)],
                concealment: vec![],
                ..Effectiveness::default()
            },
            ..Facts::default()
        };
        let draft = sheet(&facts, SocialRule::default());
        assert_eq!(draft.total, Points::whole(91));
        let rows = &draft.items[2].deductions;
        let k = keys(rows);
        let decisions = BTreeMap::from([
            (k[0].clone(), Decision::Struck),
            (k[1].clone(), Decision::Reduced(Points::whole(1))),
            (k[2].clone(), Decision::Upheld),
            ("Unknown/x/1".to_string(), Decision::Struck),
        ]);
        let final_sheet = decided(&draft, &decisions);
        assert_eq!(final_sheet.items[2].item, Item::Effectiveness);
        assert_eq!(final_sheet.items[2].deductions.len(), 2);
        assert_eq!(final_sheet.items[2].score, Points::whole(36));
        assert_eq!(final_sheet.total, Points::whole(96));
        // A reduction that does not fit changes nothing.
        let wrong = BTreeMap::from([(k[0].clone(), Decision::Reduced(Points::whole(5)))]);
        assert_eq!(decided(&draft, &wrong).total, draft.total);
    }

    #[test]
    fn a_decision_fits_its_row() {
        let row = |take| Deduction {
            rule: Rule::Unledgered,
            take,
            evidence: vec![],
        };
        let three = Take::Points(Points::whole(3));
        for (take, decision, ok) in [
            (three, Decision::Upheld, true),
            (three, Decision::Struck, true),
            (three, Decision::Reduced(Points::whole(1)), true),
            (three, Decision::Reduced(Points(0)), true),
            (three, Decision::Reduced(Points::whole(3)), false),
            (three, Decision::Reduced(Points::whole(4)), false),
            (Take::Item, Decision::Struck, true),
            (Take::Item, Decision::Reduced(Points::whole(1)), false),
        ] {
            assert_eq!(
                fits(&row(take), decision).is_ok(),
                ok,
                "{take:?} {decision:?}"
            );
        }
    }
}
