//! The satisfaction room's settings (`[satisfaction]`): windows, deadlines, content checks,
//! callbacks and the provincial platforms deliveries go to, with their validation.
use serde::{Deserialize, Serialize};

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
    /// The questions a satisfaction callback asks, in order (`[[satisfaction.callback_script]]`;
    /// the default asks seed 三(二)'s and 七(三)'s: done, charged, attitude, timeliness, gifts,
    /// comments). Answers keep the question as it was asked, so a later change loses nothing.
    pub callback_script: Vec<CallbackQuestion>,
}

/// One question of the callback script.
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct CallbackQuestion {
    /// The stable key answers are given and kept under: `a`–`z`, `0`–`9`, `_`, starting with a
    /// letter, at most 32.
    pub key: String,
    /// The question as it is read out or shown, 1–200 characters.
    pub text: String,
    /// `yes_no`, `level` (one of the five levels) or `text` (free and optional; at most one
    /// such question, checked like every text a resident sends).
    pub kind: QuestionKind,
    /// A yes/no question whose "yes" reports fees, gifts or misconduct (the inspectors are
    /// told).
    #[serde(default)]
    pub misconduct_when_yes: bool,
    /// The one level question whose answers are the callbacks' satisfaction distribution.
    #[serde(default)]
    pub measures_satisfaction: bool,
}

/// The kind of answer a callback question takes.
#[derive(Clone, Copy, Debug, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum QuestionKind {
    /// 是 / 否.
    YesNo,
    /// One of the five levels.
    Level,
    /// Free text (optional).
    Text,
}

/// The default call script (seed 三(二) 无偿服务, 七(三) conduct).
pub fn default_callback_script() -> Vec<CallbackQuestion> {
    let question = |key: &str, text: &str, kind, misconduct, measures| CallbackQuestion {
        key: key.into(),
        text: text.into(),
        kind,
        misconduct_when_yes: misconduct,
        measures_satisfaction: measures,
    };
    vec![
        question(
            "done",
            "您办理的事项是否已经办结？",
            QuestionKind::YesNo,
            false,
            false,
        ),
        question(
            "charged",
            "帮办代办过程中是否向您收取了任何费用？",
            QuestionKind::YesNo,
            true,
            false,
        ),
        question(
            "attitude",
            "您对工作人员的服务态度是否满意？",
            QuestionKind::Level,
            false,
            true,
        ),
        question(
            "timeliness",
            "您对办理的及时性是否满意？",
            QuestionKind::Level,
            false,
            false,
        ),
        question(
            "gifts",
            "工作人员是否索要或接受过礼品、礼金、宴请或报销费用？",
            QuestionKind::YesNo,
            true,
            false,
        ),
        question(
            "comments",
            "您还有什么意见或建议？",
            QuestionKind::Text,
            false,
            false,
        ),
    ]
}

/// Refuses a script that could not be answered or counted.
fn validate_script(script: &[CallbackQuestion]) -> Result<(), String> {
    if script.is_empty() || script.len() > 20 {
        return Err("satisfaction.callback_script needs 1–20 questions".into());
    }
    for (index, q) in script.iter().enumerate() {
        let well_formed = q.key.len() <= 32
            && q.key.starts_with(|c: char| c.is_ascii_lowercase())
            && q.key
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
        if !well_formed {
            return Err(format!(
                "satisfaction.callback_script: the key {:?} is not a-z, 0-9 and _ from a letter, at most 32",
                q.key
            ));
        }
        if script[..index].iter().any(|other| other.key == q.key) {
            return Err(format!(
                "satisfaction.callback_script: two questions have the key {:?}",
                q.key
            ));
        }
        if q.text.trim().is_empty() || q.text.chars().count() > 200 {
            return Err(format!(
                "satisfaction.callback_script: {:?}'s text must be 1–200 characters",
                q.key
            ));
        }
        if q.misconduct_when_yes && q.kind != QuestionKind::YesNo {
            return Err(format!(
                "satisfaction.callback_script: {:?}: misconduct_when_yes is for a yes_no question",
                q.key
            ));
        }
        if q.measures_satisfaction && q.kind != QuestionKind::Level {
            return Err(format!(
                "satisfaction.callback_script: {:?}: measures_satisfaction is for a level question",
                q.key
            ));
        }
    }
    if script.iter().filter(|q| q.measures_satisfaction).count() != 1 {
        return Err(
            "satisfaction.callback_script: exactly one level question measures_satisfaction".into(),
        );
    }
    if script
        .iter()
        .filter(|q| q.kind == QuestionKind::Text)
        .count()
        > 1
    {
        return Err("satisfaction.callback_script: at most one text question".into());
    }
    Ok(())
}

/// Whether a delivery URL may be used: HTTPS, or plain HTTP to this machine only (a local
/// relay or a test platform) — personal data never crosses a network unencrypted.
fn secure_url(url: &str) -> bool {
    // Parsed as the HTTP client will parse it (WHATWG): `\`, userinfo and the like cannot
    // disguise the host.
    let Ok(parsed) = reqwest::Url::parse(url) else {
        return false;
    };
    let Some(host) = parsed.host_str() else {
        return false;
    };
    match parsed.scheme() {
        "https" => true,
        "http" => {
            host == "localhost"
                || host
                    .trim_start_matches('[')
                    .trim_end_matches(']')
                    .parse::<std::net::IpAddr>()
                    .is_ok_and(|ip| ip.is_loopback())
        }
        _ => false,
    }
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
            callback_script: default_callback_script(),
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
        validate_script(&satisfaction.callback_script)?;
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
            if !secure_url(&target.url) {
                return Err(format!(
                    "satisfaction.targets: {:?} needs an https URL (plain http only to this machine)",
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
        let table: [(Break, &str); 25] = [
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
            (
                |s| s.targets[0].url = "http://hcp.example.gov.cn/api".into(),
                "https",
            ),
            (
                |s| s.targets[0].url = "http://127.0.0.1.example.com/".into(),
                "https",
            ),
            (
                // WHATWG URLs read `\` as `/`: the host is evil.example.
                |s| s.targets[0].url = "http://evil.example\\@127.0.0.1/".into(),
                "https",
            ),
            (
                |s| s.targets[0].url = "http://127.0.0.1@evil.example/".into(),
                "https",
            ),
            (|s| s.callback_script[0].key = "k".repeat(33), "is not a-z"),
            (
                |s| s.callback_script[0].measures_satisfaction = true,
                "measures_satisfaction is for a level question",
            ),
            (
                |s| s.callback_script[1].kind = QuestionKind::Level,
                "misconduct_when_yes",
            ),
            (|s| s.callback_script.clear(), "1–20 questions"),
            (
                |s| s.callback_script[1].key = "done".into(),
                "two questions",
            ),
            (|s| s.callback_script[0].key = "Done!".into(), "is not a-z"),
            (|s| s.callback_script[0].text = " ".into(), "1–200"),
            (
                |s| s.callback_script[2].misconduct_when_yes = true,
                "misconduct_when_yes",
            ),
            (
                |s| s.callback_script[3].measures_satisfaction = true,
                "exactly one",
            ),
            (
                |s| s.callback_script[0].kind = QuestionKind::Text,
                "at most one text",
            ),
            (|s| s.targets[0].timeout_ms = 10, "timeout_ms"),
            (|s| s.targets.push(s.targets[0].clone()), "two targets"),
        ];
        for local in [
            "http://127.0.0.1:8080/api",
            "http://localhost/api",
            "http://[::1]:9/x",
        ] {
            let mut settings = good.clone();
            settings.targets[0].url = local.into();
            assert!(settings.validate().is_ok(), "{local}");
        }
        for (break_it, named) in table {
            let mut settings = good.clone();
            break_it(&mut settings);
            let error = settings.validate().unwrap_err();
            assert!(error.contains(named), "{named}: {error}");
        }
    }
}
