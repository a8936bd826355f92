//! Directory types that parse, and the pure rules: opening hours, staffing minimums (seed §四)
//! and the high-frequency threshold (附件5: monthly average of completed cases ≥ 20).

use chrono::NaiveTime;
use serde::{Deserialize, Serialize};

use crate::{auth::Role, error::AppError};

/// Event kind: a staff member's standing duty changed (see `staff::duty_changed`).
pub const STAFF_DUTY_CHANGED: &str = "staff.duty_changed";

crate::stored_enum! {
    /// Level of a region in the division tree.
    #[derive(PartialOrd, Ord, Serialize, Deserialize)]
    #[serde(rename_all = "snake_case")]
    pub enum RegionLevel {
        /// 县
        /// County; its 区划代码 has 6 digits.
        County = "county",
        /// 乡（镇）
        /// Township; its 区划代码 has 9 digits.
        Township = "township",
        /// 村（社区）
        /// Village or urban community; its 区划代码 has 12 digits.
        Village = "village",
    }
}

impl RegionLevel {
    pub fn child(self) -> Option<Self> {
        match self {
            RegionLevel::County => Some(RegionLevel::Township),
            RegionLevel::Township => Some(RegionLevel::Village),
            RegionLevel::Village => None,
        }
    }

    /// Statutory division code length at this level.
    pub fn code_len(self) -> usize {
        match self {
            RegionLevel::County => 6,
            RegionLevel::Township => 9,
            RegionLevel::Village => 12,
        }
    }

    /// The level a staff role belongs to.
    pub fn of_role(role: Role) -> Self {
        match role {
            Role::VillageAgent => RegionLevel::Village,
            Role::TownshipAgent | Role::TownshipAdmin => RegionLevel::Township,
            Role::CountyAgent | Role::CountyAdmin | Role::Inspector | Role::Auditor => {
                RegionLevel::County
            }
        }
    }
}

crate::stored_enum! {
    /// Kinds of service point (seed §四).
    pub enum ServicePointKind {
        /// 县政务服务大厅帮办代办服务专区
        /// The 帮办代办 service zone in the county government-service hall.
        CountyZone = "county_zone",
        /// 政务大厅窗口单位
        /// A department's window in the county government-service hall.
        WindowUnit = "window_unit",
        /// 乡（镇）综合便民服务中心
        /// A township's comprehensive 便民服务中心.
        TownshipCenter = "township_center",
        /// 村（社区）便民服务点
        /// A village's or community's 便民服务点.
        VillagePoint = "village_point",
    }
}

impl ServicePointKind {
    pub fn level(self) -> RegionLevel {
        match self {
            Self::CountyZone | Self::WindowUnit => RegionLevel::County,
            Self::TownshipCenter => RegionLevel::Township,
            Self::VillagePoint => RegionLevel::Village,
        }
    }
}

crate::stored_enum! {
    /// 即办件 or 承诺件.
    #[derive(Serialize, Deserialize)]
    pub enum HandlingType {
        /// 即办件: handled on the spot.
        Immediate = "immediate",
        /// 承诺件: handled within the promised working days.
        Promised = "promised",
    }
}

/// Opening hours: for each weekday (Monday first) a sorted list of non-overlapping intervals;
/// a break is the gap between two intervals.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct OpeningHours(pub [Vec<(String, String)>; 7]);

impl OpeningHours {
    /// Parses `[[weekday 1..=7, "HH:MM", "HH:MM"], …]`-like input already split into tuples.
    pub fn parse(days: &[(i32, Vec<(String, String)>)], field: &str) -> Result<Self, AppError> {
        let mut hours: [Vec<(String, String)>; 7] = Default::default();
        let mut seen = [false; 7];
        for (weekday, intervals) in days {
            let index = usize::try_from(*weekday - 1)
                .ok()
                .filter(|i| *i < 7)
                .ok_or_else(|| {
                    AppError::bad_input(field, "weekday must be 1 (Monday) to 7 (Sunday)")
                })?;
            if seen[index] {
                return Err(AppError::bad_input(
                    field,
                    format!("weekday {weekday} is given twice"),
                ));
            }
            seen[index] = true;
            let mut parsed = Vec::new();
            for (opens, closes) in intervals {
                let time = |t: &str| {
                    NaiveTime::parse_from_str(t, "%H:%M").map_err(|_| {
                        AppError::bad_input(field, format!("{t:?} is not a time like 09:00"))
                    })
                };
                let (o, c) = (time(opens)?, time(closes)?);
                if o >= c {
                    return Err(AppError::bad_input(
                        field,
                        format!("{opens}–{closes} closes before it opens"),
                    ));
                }
                parsed.push((o, c));
            }
            parsed.sort();
            if parsed.windows(2).any(|w| w[0].1 > w[1].0) {
                return Err(AppError::bad_input(
                    field,
                    format!("intervals overlap on weekday {weekday}"),
                ));
            }
            hours[index] = parsed
                .into_iter()
                .map(|(o, c)| (o.format("%H:%M").to_string(), c.format("%H:%M").to_string()))
                .collect();
        }
        Ok(Self(hours))
    }

    /// Monday–Friday 09:00–12:00 and 13:30–17:30 (a common hall schedule).
    pub fn standard() -> Self {
        let day = || {
            vec![
                ("09:00".to_string(), "12:00".to_string()),
                ("13:30".to_string(), "17:30".to_string()),
            ]
        };
        Self([day(), day(), day(), day(), day(), Vec::new(), Vec::new()])
    }

    pub fn to_json(&self) -> String {
        serde_json::to_string(self).unwrap_or_else(|_| "[[],[],[],[],[],[],[]]".into())
    }

    pub fn from_json(json: &str) -> Self {
        serde_json::from_str(json).unwrap_or_default()
    }
}

/// The kind of unit a staffing minimum applies to (seed §四).
#[derive(Clone, Copy, Debug, PartialEq, Eq, async_graphql::Enum)]
pub enum StaffingUnit {
    /// 县级帮办代办服务专区: at least 2 agents.
    CountyZone,
    /// 政务大厅窗口单位: at least 1.
    WindowUnit,
    /// 乡（镇）: at least 1.
    Township,
    /// 村（社区）: at least 1.
    Village,
}

impl StaffingUnit {
    pub fn minimum(self) -> i64 {
        match self {
            StaffingUnit::CountyZone => 2,
            StaffingUnit::WindowUnit | StaffingUnit::Township | StaffingUnit::Village => 1,
        }
    }
}

/// A unit's on-duty agent count against its minimum; returned only when short.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Shortfall<K> {
    pub unit: K,
    pub kind: StaffingUnit,
    pub required: i64,
    pub on_duty: i64,
}

/// The units below their minimum.
pub fn staffing_shortfalls<K: Clone>(units: &[(K, StaffingUnit, i64)]) -> Vec<Shortfall<K>> {
    units
        .iter()
        .filter(|(_, kind, on_duty)| *on_duty < kind.minimum())
        .map(|(unit, kind, on_duty)| Shortfall {
            unit: unit.clone(),
            kind: *kind,
            required: kind.minimum(),
            on_duty: *on_duty,
        })
        .collect()
}

/// 附件5: an item is high-frequency when its monthly average of completed cases is at least 20.
/// `monthly_completed` holds one count per month of the period considered.
pub fn is_high_frequency(monthly_completed: &[u32]) -> bool {
    if monthly_completed.is_empty() {
        return false;
    }
    let total: u64 = monthly_completed.iter().map(|n| u64::from(*n)).sum();
    total >= 20 * monthly_completed.len() as u64
}

/// Invisible format characters that change how text reads without showing themselves:
/// bidirectional overrides and isolates (a name that displays reversed), zero-width characters,
/// the byte-order mark, soft hyphens, interlinear annotation and tag characters.
pub fn is_hidden_format(c: char) -> bool {
    matches!(
        c,
        '\u{00AD}'
            | '\u{061C}'
            | '\u{180E}'
            | '\u{200B}'..='\u{200F}'
            | '\u{202A}'..='\u{202E}'
            | '\u{2060}'..='\u{2064}'
            | '\u{2066}'..='\u{206F}'
            | '\u{FEFF}'
            | '\u{FFF9}'..='\u{FFFB}'
            | '\u{E0001}'
            | '\u{E0020}'..='\u{E007F}'
    )
}

/// Trims and checks a free-text field: 1..=max characters, no control characters and no
/// invisible format characters.
pub fn text(raw: &str, field: &str, max: usize) -> Result<String, AppError> {
    let value = raw.trim();
    if value.is_empty()
        || value.chars().count() > max
        || value.chars().any(|c| c.is_control() || is_hidden_format(c))
    {
        return Err(AppError::bad_input(
            field,
            format!("must be 1–{max} characters without control or invisible format characters"),
        ));
    }
    Ok(value.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn free_text_refuses_control_and_invisible_format_characters() {
        let cases = [
            ("张三", true),
            ("龙港镇便民服务中心 3 号窗口", true),
            ("", false),
            ("   ", false),
            ("a\u{0}b", false),
            ("line\nbreak", false),
            // "张三" shown reversed by a right-to-left override.
            ("\u{202E}三张", false),
            ("name\u{2066}isolate\u{2069}", false),
            ("zero\u{200B}width", false),
            ("\u{FEFF}bom", false),
            ("soft\u{00AD}hyphen", false),
            ("tag\u{E0041}", false),
            (&"长".repeat(21), false),
        ];
        for (raw, ok) in cases {
            assert_eq!(text(raw, "input.name", 20).is_ok(), ok, "{raw:?}");
        }
    }

    #[test]
    fn staffing_minimums_of_the_seed() {
        let units = [
            ("zone", StaffingUnit::CountyZone, 1),
            ("zone-ok", StaffingUnit::CountyZone, 2),
            ("window", StaffingUnit::WindowUnit, 0),
            ("window-ok", StaffingUnit::WindowUnit, 1),
            ("town", StaffingUnit::Township, 0),
            ("village", StaffingUnit::Village, 0),
            ("village-ok", StaffingUnit::Village, 3),
        ];
        let short: Vec<_> = staffing_shortfalls(&units)
            .into_iter()
            .map(|s| (s.unit, s.required, s.on_duty))
            .collect();
        assert_eq!(
            short,
            vec![
                ("zone", 2, 1),
                ("window", 1, 0),
                ("town", 1, 0),
                ("village", 1, 0)
            ]
        );
    }

    #[test]
    fn high_frequency_is_a_monthly_average_of_twenty() {
        let table: [(&[u32], bool); 6] = [
            (&[], false),
            (&[20], true),
            (&[19], false),
            (&[40, 0], true),
            (&[25, 14], false), // 19.5
            (&[20, 20, 20, 19, 21, 20, 20, 20, 20, 20, 20, 20], true),
        ];
        for (counts, expected) in table {
            assert_eq!(is_high_frequency(counts), expected, "{counts:?}");
        }
    }

    #[test]
    fn opening_hours_parse_sort_and_refuse_overlaps() {
        let s = |a: &str, b: &str| (a.to_string(), b.to_string());
        let ok = OpeningHours::parse(
            &[(1, vec![s("14:30", "17:00"), s("09:00", "11:30")])],
            "hours",
        )
        .unwrap();
        assert_eq!(ok.0[0], vec![s("09:00", "11:30"), s("14:30", "17:00")]);
        for bad in [
            vec![(0, vec![s("09:00", "10:00")])],
            vec![(1, vec![s("10:00", "09:00")])],
            vec![(1, vec![s("09:00", "12:00"), s("11:00", "13:00")])],
            vec![(1, vec![s("9am", "12:00")])],
            vec![(2, vec![]), (2, vec![])],
        ] {
            assert_eq!(
                OpeningHours::parse(&bad, "input.openingHours")
                    .unwrap_err()
                    .code(),
                "BAD_USER_INPUT"
            );
        }
    }
}
