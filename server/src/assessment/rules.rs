//! Pure: a unit's sheet (附件3) from a snapshot of facts gathered from the records on the
//! assessment's cut-off. Each item starts at its full marks; each rule that the facts trigger
//! adds a deduction row citing its records; an item is floored at 0, and a rule that takes the
//! whole item makes it 0. The readings of the seed where it is not explicit are stated at
//! each rule.
use uuid::Uuid;

use crate::{
    assessment::model::{Deduction, Evidence, Item, ItemScore, Points, Rule, Sheet, Take},
    complaints::model::{ComplaintCategory, ComplaintFinding},
    satisfaction::model::RatingLevel,
};

/// 1 服务体系: the unit's team on the assessment date.
#[derive(Clone, Debug, Default)]
pub struct Team {
    /// The unit (its roster is the proof).
    pub unit: Uuid,
    /// Active agents named on the roster.
    pub named_agents: u32,
    /// How many the staffing rules ask for.
    pub required_agents: u32,
    /// For a township: its villages with no team (none named).
    pub villages_without_team: Vec<Uuid>,
}

/// 2 制度执行: the checklist the county admin fills, and the breaches the records show.
#[derive(Clone, Debug, Default)]
pub struct Checklist {
    pub rules_on_record: bool,
    pub duties_on_record: bool,
    pub process_on_record: bool,
    /// Further gaps the county admin recorded (incomplete rules, unclear duties …), by key.
    pub gaps: Vec<String>,
    /// Proxy handling without an entrustment, a case without its ledger entry: the process was
    /// not followed.
    pub breaches: Vec<Evidence>,
}

/// 3 服务效能: the records that each rule counts, one entry per occurrence.
#[derive(Clone, Debug, Default)]
pub struct Effectiveness {
    pub unledgered: Vec<Evidence>,
    pub shirked: Vec<Evidence>,
    pub no_entrustment: Vec<Evidence>,
    pub coordination_failures: Vec<Evidence>,
    pub materials_lost: Vec<Evidence>,
    pub not_explained: Vec<Evidence>,
    pub concealment: Vec<Evidence>,
}

/// 4 信息互动.
#[derive(Clone, Debug, Default)]
pub struct Information {
    pub missing_reports: Vec<Evidence>,
    pub missed_activities: Vec<Evidence>,
}

/// 5 社会评价: one reached callback of the unit's cases in the year, with the level its
/// applicant gave (None: the callback measured no satisfaction).
#[derive(Clone, Debug)]
pub struct CallbackAnswer {
    pub callback: Uuid,
    pub level: Option<RatingLevel>,
}

/// 6 举报投诉: a concluded complaint about the unit or its staff.
#[derive(Clone, Debug)]
pub struct FoundComplaint {
    pub complaint: Uuid,
    pub category: ComplaintCategory,
    pub finding: ComplaintFinding,
    pub serious: bool,
}

/// Everything a sheet is computed from.
#[derive(Clone, Debug, Default)]
pub struct Facts {
    /// None: no team at all.
    pub team: Option<Team>,
    pub checklist: Checklist,
    pub effectiveness: Effectiveness,
    pub information: Information,
    pub callbacks: Vec<CallbackAnswer>,
    pub complaints: Vec<FoundComplaint>,
}

/// The rule that turns callback answers into item 5's points: the item's full marks times the
/// mean weight (in per cent) of the answers' levels. The documented default weighs 非常满意
/// 100, 满意 90, 基本满意 70, 不满意 30, 非常不满意 0.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SocialRule {
    /// Per cent, best level first (the order of `RatingLevel`).
    pub weights: [u32; 5],
}

impl Default for SocialRule {
    fn default() -> Self {
        SocialRule {
            weights: [100, 90, 70, 30, 0],
        }
    }
}

impl SocialRule {
    fn weight(&self, level: RatingLevel) -> u32 {
        let index = RatingLevel::ALL
            .iter()
            .position(|l| *l == level)
            .unwrap_or(0);
        self.weights.get(index).copied().unwrap_or(0).min(100)
    }
}

fn each(rule: Rule, points: u32, records: &[Evidence]) -> Vec<Deduction> {
    records
        .iter()
        .map(|record| Deduction {
            rule,
            take: Take::Points(Points::whole(points)),
            evidence: vec![record.clone()],
        })
        .collect()
}

fn whole_item(rule: Rule, records: Vec<Evidence>) -> Deduction {
    Deduction {
        rule,
        take: Take::Item,
        evidence: records,
    }
}

/// An item's score from its deductions: full marks less what they take, floored at 0; 0 when
/// one takes the whole item.
pub fn score(item: Item, deductions: &[Deduction]) -> Points {
    let mut taken = 0u32;
    for deduction in deductions {
        match deduction.take {
            Take::Item => return Points(0),
            Take::Points(points) => taken = taken.saturating_add(points.0),
        }
    }
    Points(item.max().0.saturating_sub(taken))
}

/// 1 服务体系: no team or no named agents → 0; each village without a team −5; each person
/// missing −2.
pub fn service_system(team: Option<&Team>) -> Vec<Deduction> {
    let Some(team) = team.filter(|t| t.named_agents > 0) else {
        let proof = team
            .map(|t| vec![Evidence::Roster(t.unit)])
            .unwrap_or_default();
        return vec![whole_item(Rule::NoTeam, proof)];
    };
    let villages: Vec<Evidence> = team
        .villages_without_team
        .iter()
        .map(|v| Evidence::Roster(*v))
        .collect();
    let mut out = each(Rule::VillageWithoutTeam, 5, &villages);
    let missing = team.required_agents.saturating_sub(team.named_agents);
    let roster = vec![Evidence::Roster(team.unit); usize::try_from(missing).unwrap_or(0)];
    out.extend(each(Rule::MissingPerson, 2, &roster));
    out
}

/// 2 制度执行: none of rules, duties and process on record → 0 (the seed: 未制定制度、岗位职责、
/// 无服务流程); otherwise each of the three missing and each further gap −2; a breach the
/// records show → 0.
pub fn rules_item(checklist: &Checklist) -> Vec<Deduction> {
    let on_record = [
        ("rules", checklist.rules_on_record),
        ("duties", checklist.duties_on_record),
        ("process", checklist.process_on_record),
    ];
    let mut out = Vec::new();
    if on_record.iter().all(|(_, there)| !there) {
        out.push(whole_item(
            Rule::NoRulesOnRecord,
            on_record
                .iter()
                .map(|(key, _)| Evidence::Checklist((*key).into()))
                .collect(),
        ));
    } else {
        let gaps: Vec<Evidence> = on_record
            .iter()
            .filter(|(_, there)| !there)
            .map(|(key, _)| (*key).to_string())
            .chain(checklist.gaps.iter().cloned())
            .map(Evidence::Checklist)
            .collect();
        out.extend(each(Rule::RulesGap, 2, &gaps));
    }
    if !checklist.breaches.is_empty() {
        out.push(whole_item(Rule::ProcessBreach, checklist.breaches.clone()));
    }
    out
}

/// 3 服务效能: −3 for each occurrence of each rule; concealment → 0.
pub fn effectiveness(facts: &Effectiveness) -> Vec<Deduction> {
    let mut out = Vec::new();
    for (rule, records) in [
        (Rule::Unledgered, &facts.unledgered),
        (Rule::Shirked, &facts.shirked),
        (Rule::NoEntrustment, &facts.no_entrustment),
        (Rule::CoordinationFailure, &facts.coordination_failures),
        (Rule::MaterialLost, &facts.materials_lost),
        (Rule::NotExplained, &facts.not_explained),
    ] {
        out.extend(each(rule, 3, records));
    }
    if !facts.concealment.is_empty() {
        out.push(whole_item(Rule::Concealment, facts.concealment.clone()));
    }
    out
}

/// 4 信息互动: −2 for each report missing, −5 for each activity missed.
pub fn information(facts: &Information) -> Vec<Deduction> {
    let mut out = each(Rule::MissingReport, 2, &facts.missing_reports);
    out.extend(each(Rule::MissedActivity, 5, &facts.missed_activities));
    out
}

/// 5 社会评价: full marks times the mean weight of the answers that measured satisfaction, in
/// hundredths rounded down, as one row citing the callbacks below full weight. No answer that
/// measured satisfaction: full marks (the unit is not marked down for calls the county did
/// not reach).
pub fn social_evaluation(answers: &[CallbackAnswer], rule: SocialRule) -> Vec<Deduction> {
    let measured: Vec<(Uuid, u32)> = answers
        .iter()
        .filter_map(|a| a.level.map(|level| (a.callback, rule.weight(level))))
        .collect();
    if measured.is_empty() {
        return Vec::new();
    }
    let count = u64::try_from(measured.len()).unwrap_or(u64::MAX);
    let weight_sum: u64 = measured.iter().map(|(_, w)| u64::from(*w)).sum();
    let max = u64::from(Item::SocialEvaluation.max().0);
    let earned = max * weight_sum / (100 * count);
    let taken = u32::try_from(max.saturating_sub(earned)).unwrap_or(u32::MAX);
    if taken == 0 {
        return Vec::new();
    }
    vec![Deduction {
        rule: Rule::CallbackSatisfaction,
        take: Take::Points(Points(taken)),
        evidence: measured
            .iter()
            .filter(|(_, w)| *w < 100)
            .map(|(id, _)| Evidence::Callback(*id))
            .collect(),
    }]
}

/// 6 举报投诉, over complaints found to hold (substantiated or partly): −2 for each of cold or
/// rude service; soliciting for intermediaries, illegal charges or gifts → 0. Other categories
/// are not this item's (shirking is counted from the records under item 3).
pub fn complaints_item(found: &[FoundComplaint]) -> Vec<Deduction> {
    let holding = || found.iter().filter(|c| c.finding.holds());
    let cold: Vec<Evidence> = holding()
        .filter(|c| c.category == ComplaintCategory::ColdService)
        .map(|c| Evidence::Complaint(c.complaint))
        .collect();
    let mut out = each(Rule::ColdServiceComplaint, 2, &cold);
    let integrity: Vec<Evidence> = holding()
        .filter(|c| {
            matches!(
                c.category,
                ComplaintCategory::SolicitingForIntermediaries
                    | ComplaintCategory::IllegalCharges
                    | ComplaintCategory::GiftsOrBanquets
            )
        })
        .map(|c| Evidence::Complaint(c.complaint))
        .collect();
    if !integrity.is_empty() {
        out.push(whole_item(Rule::IntegrityComplaint, integrity));
    }
    out
}

/// Whether a complaint found to hold was serious (严重, with public impact): 不合格 outright.
pub fn fails_outright(found: &[FoundComplaint]) -> bool {
    found.iter().any(|c| c.finding.holds() && c.serious)
}

/// The sheet.
pub fn sheet(facts: &Facts, social: SocialRule) -> Sheet {
    let items: Vec<ItemScore> = Item::ALL
        .iter()
        .map(|item| {
            let deductions = match item {
                Item::ServiceSystem => service_system(facts.team.as_ref()),
                Item::Rules => rules_item(&facts.checklist),
                Item::Effectiveness => effectiveness(&facts.effectiveness),
                Item::Information => information(&facts.information),
                Item::SocialEvaluation => social_evaluation(&facts.callbacks, social),
                Item::Complaints => complaints_item(&facts.complaints),
            };
            ItemScore {
                item: *item,
                score: score(*item, &deductions),
                deductions,
            }
        })
        .collect();
    Sheet {
        total: Points(items.iter().map(|i| i.score.0).sum()),
        items,
        fails_outright: fails_outright(&facts.complaints),
    }
}

#[cfg(test)]
#[path = "rules_tests.rs"]
mod tests;
