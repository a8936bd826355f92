//! The assessment's settings (`[assessment]`, seed §七(二)2): the month whose end is the
//! year's cut-off (December by default: 每年12月份考核), how many villages of each township are
//! sampled (村级抽查), the days units have to contest a deduction on their draft, and the rule
//! that turns satisfaction callbacks into item 5's points.
use serde::Deserialize;

use crate::assessment::rules::SocialRule;

#[derive(Clone, Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AssessmentSettings {
    /// The month (1–12) in which the year is assessed; the facts are read up to its end.
    pub cutoff_month: u32,
    /// Villages drawn per township for the village sheets (all of a township with fewer).
    pub villages_per_township: usize,
    /// Days from the drafts' publication during which a unit may contest a deduction once.
    pub contest_window_days: i64,
    /// Item 5: the weight (per cent) of each callback level, best first: 非常满意, 满意,
    /// 基本满意, 不满意, 非常不满意. Item 5 is 10 × the mean weight of the year's answers.
    pub callback_level_weights: [u32; 5],
}

impl Default for AssessmentSettings {
    fn default() -> Self {
        Self {
            cutoff_month: 12,
            villages_per_township: 3,
            contest_window_days: 10,
            callback_level_weights: SocialRule::default().weights,
        }
    }
}

impl AssessmentSettings {
    /// Refuses values that must never run (called by `Settings::validate`).
    pub fn validate(&self) -> Result<(), String> {
        if !(1..=12).contains(&self.cutoff_month) {
            return Err("assessment.cutoff_month must be 1–12".into());
        }
        if !(1..=50).contains(&self.villages_per_township) {
            return Err("assessment.villages_per_township must be 1–50".into());
        }
        if !(1..=60).contains(&self.contest_window_days) {
            return Err("assessment.contest_window_days must be 1–60".into());
        }
        let weights = self.callback_level_weights;
        if weights.iter().any(|w| *w > 100)
            || weights[0] != 100
            || weights.windows(2).any(|pair| pair[1] > pair[0])
        {
            return Err(
                "assessment.callback_level_weights must be per cent, 100 for 非常满意, never rising \
                 from a better level to a worse"
                    .into(),
            );
        }
        Ok(())
    }

    /// Item 5's rule.
    pub fn social_rule(&self) -> SocialRule {
        SocialRule {
            weights: self.callback_level_weights,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_defaults_hold_and_bad_values_are_refused() {
        let defaults = AssessmentSettings::default();
        assert_eq!(defaults.validate(), Ok(()));
        assert_eq!(defaults.social_rule(), SocialRule::default());
        let bad: [fn(&mut AssessmentSettings); 8] = [
            |s| s.cutoff_month = 0,
            |s| s.cutoff_month = 13,
            |s| s.villages_per_township = 0,
            |s| s.contest_window_days = 0,
            |s| s.callback_level_weights = [100, 90, 70, 30, 101],
            |s| s.callback_level_weights = [90, 90, 70, 30, 0],
            |s| s.callback_level_weights = [100, 70, 90, 30, 0],
            |s| s.callback_level_weights = [100, 90, 70, 30, 40],
        ];
        for (n, spoil) in bad.into_iter().enumerate() {
            let mut settings = AssessmentSettings::default();
            spoil(&mut settings);
            assert!(settings.validate().is_err(), "case {n}");
        }
        // A flat rule is allowed: every answer counts alike.
        let flat = AssessmentSettings {
            callback_level_weights: [100; 5],
            ..AssessmentSettings::default()
        };
        assert_eq!(flat.validate(), Ok(()));
    }
}
