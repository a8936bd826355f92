//! The satisfaction room's settings (`[satisfaction]`): windows, deadlines, content checks,
//! callbacks and the provincial platforms deliveries go to, with their validation.
use serde::Deserialize;

use super::secret::Secret;

#[derive(Clone, Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SatisfactionSettings {
    /// Days after a case ends during which its applicant may rate it (no national number is
    /// verified; GB/T 39734 §7.2 sets it per locality).
    pub rating_window_days: i64,
    /// Days after a rectification's reply during which the rater may rate again (二次评价).
    pub second_rating_window_days: i64,
    /// Working days a unit has to rectify a bad rating (a 四川 rule's 15 by default).
    pub rectification_working_days: i64,
    /// How long a rating waits for WeChat's content check before its text is held and checked
    /// again by a job.
    pub text_check_timeout_ms: u64,
    /// Content checks a resident's texts may cost per hour (each uses the AppID's quota).
    pub text_checks_per_user_per_hour: u64,
    /// Checks again of a text WeChat did not answer for; after them it waits for a human
    /// (held for an administrator).
    pub text_recheck_attempts: i32,
    /// Calls of a satisfaction callback (each on a later working day) before it is closed as
    /// unreachable.
    pub callback_attempts: i32,
    /// The provincial 好差评 platforms each rating and rectification result is delivered to
    /// (`[[satisfaction.targets]]` in the file).
    pub targets: Vec<DeliveryTarget>,
    /// Run a delivery worker in this instance (any number share the deliveries).
    pub delivery_worker_enabled: bool,
    /// How often the delivery worker looks for due deliveries.
    pub delivery_poll_ms: u64,
}

/// A provincial 好差评 endpoint.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeliveryTarget {
    /// A stable name (kept with each delivery), 1–64 characters.
    pub name: String,
    /// Where the JSON is POSTed.
    pub url: String,
    /// The HMAC-SHA256 key the body is signed with (at least 32 bytes).
    pub secret: Secret,
    /// `best_is_five` (the provincial interfaces, the default) or `best_is_one` (GB/T 39046
    /// 附录A.8).
    #[serde(default)]
    pub level_coding: LevelCodingSetting,
    /// Per-request timeout.
    #[serde(default = "default_delivery_timeout_ms")]
    pub timeout_ms: u64,
    /// Sends before a delivery is dead-lettered.
    #[serde(default = "default_delivery_attempts")]
    pub max_attempts: i32,
    /// The first retry's delay; each next one doubles (at most an hour).
    #[serde(default = "default_delivery_retry_ms")]
    pub retry_base_ms: u64,
}

fn default_delivery_timeout_ms() -> u64 {
    5_000
}

fn default_delivery_attempts() -> i32 {
    10
}

fn default_delivery_retry_ms() -> u64 {
    30_000
}

/// How a target numbers the levels.
#[derive(Clone, Copy, Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum LevelCodingSetting {
    #[default]
    BestIsFive,
    BestIsOne,
}

impl Default for SatisfactionSettings {
    fn default() -> Self {
        Self {
            rating_window_days: 30,
            second_rating_window_days: 15,
            rectification_working_days: 15,
            text_check_timeout_ms: 3_000,
            text_checks_per_user_per_hour: 20,
            text_recheck_attempts: 5,
            callback_attempts: 3,
            targets: Vec::new(),
            delivery_worker_enabled: true,
            delivery_poll_ms: 1_000,
        }
    }
}

impl SatisfactionSettings {
    /// Refuses values that must never run (called by `Settings::validate`).
    pub fn validate(&self) -> Result<(), String> {
        let satisfaction = self;
        if !(1..=365).contains(&satisfaction.rating_window_days)
            || !(1..=365).contains(&satisfaction.second_rating_window_days)
        {
            return Err(
                "satisfaction.rating_window_days and second_rating_window_days must be 1–365"
                    .into(),
            );
        }
        if !(100..=30_000).contains(&satisfaction.text_check_timeout_ms) {
            return Err("satisfaction.text_check_timeout_ms must be 100–30000".into());
        }
        if !(1..=10).contains(&satisfaction.callback_attempts) {
            return Err("satisfaction.callback_attempts must be 1–10".into());
        }
        if satisfaction.text_checks_per_user_per_hour < 1 {
            return Err("satisfaction.text_checks_per_user_per_hour must be at least 1".into());
        }
        if satisfaction.text_recheck_attempts < 1 {
            return Err("satisfaction.text_recheck_attempts must be at least 1".into());
        }
        if !(1..=60).contains(&satisfaction.rectification_working_days) {
            return Err("satisfaction.rectification_working_days must be 1–60".into());
        }
        for (index, target) in satisfaction.targets.iter().enumerate() {
            if target.name.is_empty() || target.name.chars().count() > 64 {
                return Err("satisfaction.targets: a name is 1–64 characters".into());
            }
            if satisfaction.targets[..index]
                .iter()
                .any(|t| t.name == target.name)
            {
                return Err(format!(
                    "satisfaction.targets: two targets are named {:?}",
                    target.name
                ));
            }
            if !(target.url.starts_with("https://") || target.url.starts_with("http://")) {
                return Err(format!(
                    "satisfaction.targets: {:?} needs an http(s) URL",
                    target.name
                ));
            }
            if target.secret.expose().len() < 32 {
                return Err(format!(
                    "satisfaction.targets: {:?}'s secret is shorter than 32 bytes",
                    target.name
                ));
            }
            if target.timeout_ms < 100 || target.retry_base_ms < 10 {
                return Err(format!(
                    "satisfaction.targets: {:?} needs timeout_ms ≥ 100 and retry_base_ms ≥ 10",
                    target.name
                ));
            }
            if target.max_attempts < 1 {
                return Err(format!(
                    "satisfaction.targets: {:?} needs max_attempts ≥ 1",
                    target.name
                ));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn target() -> DeliveryTarget {
        DeliveryTarget {
            name: "province".into(),
            url: "https://hcp.example.gov.cn/api".into(),
            secret: Secret::new("a-secret-of-at-least-thirty-two-bytes"),
            level_coding: LevelCodingSetting::BestIsFive,
            timeout_ms: 5_000,
            max_attempts: 10,
            retry_base_ms: 30_000,
        }
    }

    #[test]
    fn the_defaults_and_a_good_target_pass_and_each_bad_value_is_named() {
        assert!(SatisfactionSettings::default().validate().is_ok());
        let good = SatisfactionSettings {
            targets: vec![target()],
            ..SatisfactionSettings::default()
        };
        assert!(good.validate().is_ok());
        type Break = fn(&mut SatisfactionSettings);
        let table: [(Break, &str); 11] = [
            (|s| s.rating_window_days = 0, "rating_window_days"),
            (
                |s| s.second_rating_window_days = 366,
                "second_rating_window_days",
            ),
            (
                |s| s.rectification_working_days = 0,
                "rectification_working_days",
            ),
            (|s| s.text_check_timeout_ms = 50, "text_check_timeout_ms"),
            (
                |s| s.text_checks_per_user_per_hour = 0,
                "text_checks_per_user_per_hour",
            ),
            (|s| s.text_recheck_attempts = 0, "text_recheck_attempts"),
            (|s| s.callback_attempts = 11, "callback_attempts"),
            (|s| s.targets[0].secret = Secret::new("short"), "secret"),
            (|s| s.targets[0].url = "ftp://x".into(), "URL"),
            (|s| s.targets[0].timeout_ms = 10, "timeout_ms"),
            (|s| s.targets.push(s.targets[0].clone()), "two targets"),
        ];
        for (break_it, named) in table {
            let mut settings = good.clone();
            break_it(&mut settings);
            let error = settings.validate().unwrap_err();
            assert!(error.contains(named), "{named}: {error}");
        }
    }
}
