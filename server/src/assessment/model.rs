//! The assessment's vocabulary: points (in hundredths, so that sums and the 60 % / 40 % blend
//! stay exact), the six items of 附件3, the records a deduction cites, and a sheet.
use serde::Serialize;
use uuid::Uuid;

/// Points in hundredths of a point: `Points(250)` is 2.5 points.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub struct Points(pub u32);

impl Points {
    /// Whole points.
    pub const fn whole(n: u32) -> Self {
        Points(n * 100)
    }

    /// As a decimal number of points (for the API and the exports).
    pub fn as_f64(self) -> f64 {
        f64::from(self.0) / 100.0
    }
}

impl std::fmt::Display for Points {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}.{:02}", self.0 / 100, self.0 % 100)
    }
}

/// The six items of the table (附件3), in its order.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub enum Item {
    /// 服务体系 (20).
    ServiceSystem,
    /// 制度执行 (10).
    Rules,
    /// 服务效能 (40).
    Effectiveness,
    /// 信息互动 (10).
    Information,
    /// 社会评价 (10).
    SocialEvaluation,
    /// 举报投诉 (10).
    Complaints,
}

impl Item {
    pub const ALL: [Item; 6] = [
        Item::ServiceSystem,
        Item::Rules,
        Item::Effectiveness,
        Item::Information,
        Item::SocialEvaluation,
        Item::Complaints,
    ];

    /// The item's full marks.
    pub const fn max(self) -> Points {
        match self {
            Item::ServiceSystem => Points::whole(20),
            Item::Effectiveness => Points::whole(40),
            Item::Rules | Item::Information | Item::SocialEvaluation | Item::Complaints => {
                Points::whole(10)
            }
        }
    }

    /// Its row number in the table (序号).
    pub const fn number(self) -> u8 {
        match self {
            Item::ServiceSystem => 1,
            Item::Rules => 2,
            Item::Effectiveness => 3,
            Item::Information => 4,
            Item::SocialEvaluation => 5,
            Item::Complaints => 6,
        }
    }
}

/// A record a deduction cites as its proof.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub enum Evidence {
    Case(Uuid),
    Booking(Uuid),
    LedgerEntry(Uuid),
    Material(Uuid),
    Rating(Uuid),
    Rectification(Uuid),
    Complaint(Uuid),
    Callback(Uuid),
    Activity(Uuid),
    Report(Uuid),
    /// The roster of a unit on the assessment date.
    Roster(Uuid),
    /// A gap the county admin recorded on the checklist, by its key.
    Checklist(String),
}

/// Why points were taken: one rule of the table.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub enum Rule {
    /// 1: no team, or no named agents → the item is 0.
    NoTeam,
    /// 1: each village of the township without a team → −5.
    VillageWithoutTeam,
    /// 1: each person missing from the staffing → −2.
    MissingPerson,
    /// 2: no rules, duties or process on record at all → the item is 0.
    NoRulesOnRecord,
    /// 2: each gap in the rules, duties or process → −2.
    RulesGap,
    /// 2: a breach of discipline or process shown by the records (proxy handling without an
    /// entrustment, a case without its ledger entry) → the item is 0.
    ProcessBreach,
    /// 3: a contact without a ledger entry → −3.
    Unledgered,
    /// 3: an eligible booking not reviewed in time, or refused and later found eligible → −3.
    Shirked,
    /// 3: a proxy case without a signed entrustment → −3.
    NoEntrustment,
    /// 3: a transfer or escalation not accepted in time, or a case overdue for coordination → −3.
    CoordinationFailure,
    /// 3: a material lost or not handed on in time → −3.
    MaterialLost,
    /// 3: a bad rating on a refused or terminated case, not explained → −3.
    NotExplained,
    /// 3: concealment with the applicant → the item is 0.
    Concealment,
    /// 4: a progress report due and missing → −2.
    MissingReport,
    /// 4: a training, meeting, enterprise visit or coordination activity missed → −5.
    MissedActivity,
    /// 5: the callbacks' answers, by the configured rule.
    CallbackSatisfaction,
    /// 6: a substantiated complaint of cold or rude service → −2.
    ColdServiceComplaint,
    /// 6: a substantiated complaint of soliciting, illegal charges or gifts → the item is 0.
    IntegrityComplaint,
}

/// What a deduction takes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub enum Take {
    Points(Points),
    /// The whole item.
    Item,
}

/// One row under an item: its rule, what it takes, and its proof.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Deduction {
    pub rule: Rule,
    pub take: Take,
    pub evidence: Vec<Evidence>,
}

/// One item of a sheet: its deductions and its score (floored at 0).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ItemScore {
    pub item: Item,
    pub score: Points,
    pub deductions: Vec<Deduction>,
}

/// A unit's sheet.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Sheet {
    pub items: Vec<ItemScore>,
    pub total: Points,
    /// A serious violation (严重, with public impact): 不合格 whatever the score.
    pub fails_outright: bool,
}
