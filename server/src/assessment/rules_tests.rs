//! The table's rules, each with facts that trigger it and facts that do not.
use uuid::Uuid;

use super::*;
use crate::assessment::model::{Deduction, Evidence, Item, Points, Rule, Take};

fn id(n: u128) -> Uuid {
    Uuid::from_u128(n)
}

/// The rows an item is expected to have.
type Rows = Vec<(Rule, Take)>;

fn rules_of(deductions: &[Deduction]) -> Rows {
    deductions.iter().map(|d| (d.rule, d.take)).collect()
}

fn minus(n: u32) -> Take {
    Take::Points(Points::whole(n))
}

fn case(n: u128) -> Evidence {
    Evidence::Case(id(n))
}

#[test]
fn the_service_system_counts_the_team_its_villages_and_missing_people() {
    let full = Team {
        unit: id(1),
        named_agents: 3,
        required_agents: 3,
        villages_without_team: vec![],
    };
    let cases: Vec<(Option<Team>, Rows, u32)> = vec![
        (Some(full.clone()), vec![], 20),
        (None, vec![(Rule::NoTeam, Take::Item)], 0),
        (
            Some(Team {
                named_agents: 0,
                ..full.clone()
            }),
            vec![(Rule::NoTeam, Take::Item)],
            0,
        ),
        (
            Some(Team {
                named_agents: 1,
                ..full.clone()
            }),
            vec![
                (Rule::MissingPerson, minus(2)),
                (Rule::MissingPerson, minus(2)),
            ],
            16,
        ),
        // More than asked for is no bonus.
        (
            Some(Team {
                named_agents: 5,
                ..full.clone()
            }),
            vec![],
            20,
        ),
        (
            Some(Team {
                villages_without_team: vec![id(7), id(8)],
                ..full.clone()
            }),
            vec![
                (Rule::VillageWithoutTeam, minus(5)),
                (Rule::VillageWithoutTeam, minus(5)),
            ],
            10,
        ),
        // Floored at 0: five villages without a team and a missing person.
        (
            Some(Team {
                named_agents: 2,
                villages_without_team: (10..15).map(id).collect(),
                ..full.clone()
            }),
            [
                vec![(Rule::VillageWithoutTeam, minus(5)); 5],
                vec![(Rule::MissingPerson, minus(2))],
            ]
            .concat(),
            0,
        ),
    ];
    for (n, (team, expected, points)) in cases.into_iter().enumerate() {
        let rows = service_system(team.as_ref());
        assert_eq!(rules_of(&rows), expected, "case {n}");
        assert_eq!(
            score(Item::ServiceSystem, &rows),
            Points::whole(points),
            "case {n}"
        );
    }
    // Each row cites the roster it comes from.
    let rows = service_system(Some(&Team {
        villages_without_team: vec![id(7)],
        named_agents: 2,
        ..full
    }));
    assert_eq!(rows[0].evidence, [Evidence::Roster(id(7))]);
    assert_eq!(rows[1].evidence, [Evidence::Roster(id(1))]);
}

#[test]
fn the_rules_item_reads_the_checklist_and_the_breaches() {
    let complete = Checklist {
        rules_on_record: true,
        duties_on_record: true,
        process_on_record: true,
        gaps: vec![],
        breaches: vec![],
    };
    let cases: Vec<(Checklist, Rows, u32)> = vec![
        (complete.clone(), vec![], 10),
        (
            Checklist {
                rules_on_record: false,
                duties_on_record: false,
                process_on_record: false,
                ..complete.clone()
            },
            vec![(Rule::NoRulesOnRecord, Take::Item)],
            0,
        ),
        (
            Checklist {
                process_on_record: false,
                gaps: vec!["duties_unclear".into()],
                ..complete.clone()
            },
            vec![(Rule::RulesGap, minus(2)), (Rule::RulesGap, minus(2))],
            6,
        ),
        (
            Checklist {
                breaches: vec![case(3)],
                ..complete.clone()
            },
            vec![(Rule::ProcessBreach, Take::Item)],
            0,
        ),
        (
            Checklist {
                gaps: (0..6).map(|n| format!("gap{n}")).collect(),
                ..complete
            },
            vec![(Rule::RulesGap, minus(2)); 6],
            0,
        ),
    ];
    for (n, (checklist, expected, points)) in cases.into_iter().enumerate() {
        let rows = rules_item(&checklist);
        assert_eq!(rules_of(&rows), expected, "case {n}");
        assert_eq!(score(Item::Rules, &rows), Points::whole(points), "case {n}");
    }
}

#[test]
fn effectiveness_takes_three_per_occurrence_and_concealment_takes_the_item() {
    type Field = fn(&mut Effectiveness) -> &mut Vec<Evidence>;
    let fields: [(Field, Rule); 6] = [
        (|e| &mut e.unledgered, Rule::Unledgered),
        (|e| &mut e.shirked, Rule::Shirked),
        (|e| &mut e.no_entrustment, Rule::NoEntrustment),
        (|e| &mut e.coordination_failures, Rule::CoordinationFailure),
        (|e| &mut e.materials_lost, Rule::MaterialLost),
        (|e| &mut e.not_explained, Rule::NotExplained),
    ];
    assert!(
        effectiveness(&Effectiveness::default()).is_empty(),
        "nothing recorded, nothing taken"
    );
    for (field, rule) in fields {
        let mut facts = Effectiveness::default();
        field(&mut facts).extend([case(1), case(2)]);
        let rows = effectiveness(&facts);
        assert_eq!(rules_of(&rows), vec![(rule, minus(3)); 2], "{rule:?}");
        assert_eq!(rows[1].evidence, [case(2)], "{rule:?} cites its record");
        assert_eq!(
            score(Item::Effectiveness, &rows),
            Points::whole(34),
            "{rule:?}"
        );
    }
    let many = Effectiveness {
        unledgered: (0..14).map(case).collect(),
        ..Effectiveness::default()
    };
    assert_eq!(
        score(Item::Effectiveness, &effectiveness(&many)),
        Points(0),
        "floored"
    );
    let concealed = Effectiveness {
        concealment: vec![case(9)],
        ..Effectiveness::default()
    };
    let rows = effectiveness(&concealed);
    assert_eq!(rules_of(&rows), [(Rule::Concealment, Take::Item)]);
    assert_eq!(score(Item::Effectiveness, &rows), Points(0));
}

#[test]
fn information_takes_two_per_missing_report_and_five_per_missed_activity() {
    for (reports, activities, points) in [
        (0, 0, 10),
        (1, 0, 8),
        (0, 1, 5),
        (1, 1, 3),
        (0, 3, 0),
        (5, 0, 0),
    ] {
        let facts = Information {
            missing_reports: (0..reports).map(|n| Evidence::Report(id(n))).collect(),
            missed_activities: (0..activities).map(|n| Evidence::Activity(id(n))).collect(),
        };
        assert_eq!(
            score(Item::Information, &information(&facts)),
            Points::whole(points),
            "{reports} reports, {activities} activities"
        );
    }
}

#[test]
fn social_evaluation_is_the_mean_weight_of_the_callbacks_answers() {
    use RatingLevel::{
        BasicallySatisfied, Dissatisfied, Satisfied, VeryDissatisfied, VerySatisfied,
    };
    let answers = |levels: &[Option<RatingLevel>]| {
        levels
            .iter()
            .enumerate()
            .map(|(n, level)| CallbackAnswer {
                callback: id(n as u128),
                level: *level,
            })
            .collect::<Vec<_>>()
    };
    let rule = SocialRule::default();
    for (levels, points) in [
        (vec![], 1_000),
        (vec![None, None], 1_000),
        (vec![Some(VerySatisfied)], 1_000),
        (vec![Some(Satisfied)], 900),
        (vec![Some(VerySatisfied), Some(BasicallySatisfied)], 850),
        (vec![Some(Dissatisfied), Some(VeryDissatisfied)], 150),
        (vec![Some(VeryDissatisfied)], 0),
        // (100 + 90 + 90) / 3 = 93.33…% of 10 → 9.33, rounded down.
        (
            vec![Some(VerySatisfied), Some(Satisfied), Some(Satisfied), None],
            933,
        ),
    ] {
        let rows = social_evaluation(&answers(&levels), rule);
        assert_eq!(
            score(Item::SocialEvaluation, &rows),
            Points(points),
            "{levels:?}"
        );
    }
    // The row cites the callbacks below full weight.
    let rows = social_evaluation(&answers(&[Some(VerySatisfied), Some(Dissatisfied)]), rule);
    assert_eq!(rows[0].evidence, [Evidence::Callback(id(1))]);
    // The weights are configuration.
    let strict = SocialRule {
        weights: [100, 50, 0, 0, 0],
    };
    let rows = social_evaluation(&answers(&[Some(Satisfied)]), strict);
    assert_eq!(score(Item::SocialEvaluation, &rows), Points(500));
}

#[test]
fn complaints_take_two_for_cold_service_and_the_item_for_integrity_and_serious_fails() {
    use ComplaintCategory::{
        ColdService, GiftsOrBanquets, IllegalCharges, Shirking, SolicitingForIntermediaries,
    };
    use ComplaintFinding::{NotSubstantiated, PartlySubstantiated, Substantiated};
    let found = |n: u128, category, finding, serious| FoundComplaint {
        complaint: id(n),
        category,
        finding,
        serious,
    };
    let cases: Vec<(Vec<FoundComplaint>, Rows, u32, bool)> = vec![
        (vec![], vec![], 10, false),
        (
            vec![found(1, ColdService, NotSubstantiated, false)],
            vec![],
            10,
            false,
        ),
        (
            vec![found(1, ColdService, Substantiated, false)],
            vec![(Rule::ColdServiceComplaint, minus(2))],
            8,
            false,
        ),
        (
            vec![found(1, ColdService, PartlySubstantiated, false)],
            vec![(Rule::ColdServiceComplaint, minus(2))],
            8,
            false,
        ),
        // Shirking is counted from the records under item 3, not here.
        (
            vec![found(1, Shirking, Substantiated, false)],
            vec![],
            10,
            false,
        ),
        (
            vec![found(1, SolicitingForIntermediaries, Substantiated, false)],
            vec![(Rule::IntegrityComplaint, Take::Item)],
            0,
            false,
        ),
        (
            vec![found(1, IllegalCharges, PartlySubstantiated, false)],
            vec![(Rule::IntegrityComplaint, Take::Item)],
            0,
            false,
        ),
        (
            vec![found(1, GiftsOrBanquets, NotSubstantiated, true)],
            vec![],
            10,
            false,
        ),
        (
            vec![found(1, GiftsOrBanquets, Substantiated, true)],
            vec![(Rule::IntegrityComplaint, Take::Item)],
            0,
            true,
        ),
        (
            vec![found(1, ColdService, Substantiated, true)],
            vec![(Rule::ColdServiceComplaint, minus(2))],
            8,
            true,
        ),
        (
            (0..6)
                .map(|n| found(n, ColdService, Substantiated, false))
                .collect(),
            vec![(Rule::ColdServiceComplaint, minus(2)); 6],
            0,
            false,
        ),
    ];
    for (n, (complaints, expected, points, fails)) in cases.into_iter().enumerate() {
        let rows = complaints_item(&complaints);
        assert_eq!(rules_of(&rows), expected, "case {n}");
        assert_eq!(
            score(Item::Complaints, &rows),
            Points::whole(points),
            "case {n}"
        );
        assert_eq!(fails_outright(&complaints), fails, "case {n}");
    }
}

#[test]
fn a_sheet_sums_its_items_and_is_full_marks_on_a_clean_record() {
    let clean = Facts {
        team: Some(Team {
            unit: id(1),
            named_agents: 2,
            required_agents: 2,
            villages_without_team: vec![],
        }),
        checklist: Checklist {
            rules_on_record: true,
            duties_on_record: true,
            process_on_record: true,
            ..Checklist::default()
        },
        ..Facts::default()
    };
    let sheet_of = |facts: &Facts| sheet(facts, SocialRule::default());
    let full = sheet_of(&clean);
    assert_eq!(full.total, Points::whole(100));
    assert_eq!(
        full.items.iter().map(|i| i.item).collect::<Vec<_>>(),
        Item::ALL
    );
    assert!(!full.fails_outright);
    let mut marked = clean.clone();
    marked.effectiveness.shirked = vec![Evidence::Booking(id(4))];
    marked.information.missed_activities = vec![Evidence::Activity(id(5))];
    marked.complaints = vec![FoundComplaint {
        complaint: id(6),
        category: ComplaintCategory::IllegalCharges,
        finding: ComplaintFinding::Substantiated,
        serious: true,
    }];
    let sheet = sheet_of(&marked);
    // 100 − 3 − 5 − 10.
    assert_eq!(sheet.total, Points::whole(82));
    assert!(sheet.fails_outright);
    // An empty snapshot: no team, nothing on record.
    assert_eq!(sheet_of(&Facts::default()).total, Points::whole(70));
}
