//! The complaints room's settings (`[complaints]`): deadlines in working days, the appeal
//! window, the intake and receipt limits, and the content check's patience.
use serde::Deserialize;

#[derive(Clone, Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ComplaintSettings {
    /// Working days (China dates, from the day of receipt) to acknowledge a complaint (受理).
    pub acknowledge_working_days: i64,
    /// Working days from receipt to conclude it (广东 12345 rules: 投诉 15).
    pub conclude_working_days: i64,
    /// Working days the one extension adds to the conclusion deadline.
    pub extension_working_days: i64,
    /// Days after the reply during which the complainant may appeal once (信访 复查: 30).
    pub appeal_window_days: i64,
    /// Complaints one resident may file per day, and one client address per hour.
    pub files_per_user_per_day: u64,
    pub files_per_ip_per_hour: u64,
    /// Receipt lookups (and answers by receipt) one client address may make per
    /// `receipt_window_seconds`; past it RATE_LIMITED, and the first refusal is audited.
    pub receipt_attempts_per_ip: u64,
    pub receipt_window_seconds: u64,
    /// Hours within which a second complaint of one filer about the same target and category
    /// is merged into the first.
    pub duplicate_window_hours: i64,
    /// How long a complainant's text waits for WeChat's content check before it is accepted
    /// unchecked and checked again by the job.
    pub text_check_timeout_ms: u64,
    /// Checks again of a text WeChat did not answer for; after them it is marked held.
    pub text_recheck_attempts: i32,
}

impl Default for ComplaintSettings {
    fn default() -> Self {
        Self {
            acknowledge_working_days: 1,
            conclude_working_days: 15,
            extension_working_days: 15,
            appeal_window_days: 30,
            files_per_user_per_day: 5,
            files_per_ip_per_hour: 30,
            receipt_attempts_per_ip: 10,
            receipt_window_seconds: 900,
            duplicate_window_hours: 24,
            text_check_timeout_ms: 3_000,
            text_recheck_attempts: 5,
        }
    }
}

impl ComplaintSettings {
    /// Refuses values that must never run (called by `Settings::validate`).
    pub fn validate(&self) -> Result<(), String> {
        let days = [
            ("acknowledge_working_days", self.acknowledge_working_days, 0),
            ("conclude_working_days", self.conclude_working_days, 1),
            ("extension_working_days", self.extension_working_days, 1),
            ("appeal_window_days", self.appeal_window_days, 1),
        ];
        for (name, value, least) in days {
            if !(least..=90).contains(&value) {
                return Err(format!("complaints.{name} must be {least}–90"));
            }
        }
        if self.acknowledge_working_days > self.conclude_working_days {
            return Err(
                "complaints.acknowledge_working_days must not exceed conclude_working_days".into(),
            );
        }
        if self.files_per_user_per_day == 0
            || self.files_per_ip_per_hour == 0
            || self.receipt_attempts_per_ip == 0
            || self.receipt_window_seconds == 0
        {
            return Err("complaints' limits must be at least 1".into());
        }
        if !(1..=168).contains(&self.duplicate_window_hours) {
            return Err("complaints.duplicate_window_hours must be 1–168".into());
        }
        if self.text_check_timeout_ms == 0 || self.text_recheck_attempts < 1 {
            return Err(
                "complaints.text_check_timeout_ms and text_recheck_attempts must be at least 1"
                    .into(),
            );
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_defaults_hold_and_bad_values_are_refused() {
        assert_eq!(ComplaintSettings::default().validate(), Ok(()));
        let bad: [fn(&mut ComplaintSettings); 6] = [
            |s| s.conclude_working_days = 0,
            |s| s.acknowledge_working_days = 20,
            |s| s.appeal_window_days = 0,
            |s| s.receipt_attempts_per_ip = 0,
            |s| s.duplicate_window_hours = 0,
            |s| s.text_recheck_attempts = 0,
        ];
        for (n, spoil) in bad.into_iter().enumerate() {
            let mut settings = ComplaintSettings::default();
            spoil(&mut settings);
            assert!(settings.validate().is_err(), "case {n}");
        }
    }
}
