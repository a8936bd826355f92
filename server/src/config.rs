//! Layered settings: built-in defaults < optional TOML file < `BANGBAN_*` environment variables.
//!
//! The settings value is built once in `main` (or by a test) and passed down explicitly; there is
//! no global. Secrets are wrapped in [`Secret`], whose `Debug` never shows the value.
use std::{path::PathBuf, time::Duration};

use figment::{
    Figment,
    providers::{Env, Format, Toml},
};
use serde::Deserialize;

mod assessment;
mod complaints;
mod events;
mod satisfaction;
mod secret;

pub use assessment::AssessmentSettings;
pub use complaints::ComplaintSettings;
pub use events::{EventSettings, PushSettings, Recipients, TemplateSettings};
pub use satisfaction::{
    CallbackQuestion, DeliveryTarget, LevelCodingSetting, QuestionKind, SatisfactionSettings,
    default_callback_script,
};
pub use secret::Secret;

#[derive(Clone, Copy, Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum Environment {
    #[default]
    Development,
    Production,
}

#[derive(Clone, Copy, Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    #[default]
    Text,
    Json,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Settings {
    /// `development` (default) or `production`.
    pub env: Environment,
    /// Directory for the embedded SQLite database and generated keys.
    pub data_dir: PathBuf,
    pub http: HttpSettings,
    pub database: DatabaseSettings,
    pub redis: RedisSettings,
    pub log: LogSettings,
    pub auth: AuthSettings,
    pub wechat: WechatSettings,
    pub pii: PiiSettings,
    pub graphql: GraphqlSettings,
    pub limits: RateLimitSettings,
    pub jobs: JobSettings,
    pub events: EventSettings,
    pub push: PushSettings,
    pub cases: CaseSettings,
    pub satisfaction: SatisfactionSettings,
    pub complaints: ComplaintSettings,
    pub assessment: AssessmentSettings,
    /// Load the 沁水县 demo directory on start when the database has no county yet. Default: on
    /// for the embedded SQLite database, off when `database.url` is set.
    pub seed_demo: Option<bool>,
    /// With the demo directory, also create demo staff (a county admin and an agent at every
    /// demo point, one generated password shown once on the console). Default: on.
    pub seed_demo_staff: bool,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CaseSettings {
    /// A case is flagged due soon when at most this many working days are left (the deadline
    /// day included).
    pub due_soon_working_days: i64,
    /// Hours a receiving unit has to accept or refuse a transfer or escalation.
    pub transfer_response_hours: i64,
    /// A material still in an agent's custody this many days after its case ended (completed,
    /// terminated) is flagged: it should have gone back or on.
    pub material_idle_days: i64,
}

impl Default for CaseSettings {
    fn default() -> Self {
        Self {
            due_soon_working_days: 2,
            transfer_response_hours: 24,
            material_idle_days: 5,
        }
    }
}

#[derive(Clone, Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct JobSettings {
    /// Run scheduled jobs (applying approved changes on their date) in this instance.
    pub enabled: bool,
    pub interval_seconds: u64,
}

impl Default for JobSettings {
    fn default() -> Self {
        Self {
            enabled: true,
            interval_seconds: 60,
        }
    }
}

#[derive(Clone, Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct HttpSettings {
    pub host: String,
    pub port: u16,
    /// Largest accepted request body, in bytes.
    pub body_limit: usize,
    /// Take the client address from `X-Forwarded-For` (only behind a trusted proxy).
    pub trust_forwarded_for: bool,
    /// How long in-flight requests may take to finish after SIGTERM.
    pub shutdown_grace_seconds: u64,
    /// A WebSocket must send `connection_init` within this many milliseconds (close 4408).
    pub ws_init_timeout_ms: u64,
    /// The server sends a protocol `ping` this often on idle sockets (keeps proxies open).
    pub ws_ping_interval_seconds: u64,
    /// How often an open socket re-checks that its session was not revoked (close 4403).
    pub ws_session_check_seconds: u64,
    /// A socket whose client has not read its messages for this long is closed (1013); the
    /// client resubscribes with `after`.
    pub ws_stall_timeout_ms: u64,
}

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DatabaseSettings {
    /// `postgres://…` for production; unset means SQLite under `data_dir`.
    pub url: Option<Secret>,
    pub max_connections: Option<u32>,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RedisSettings {
    /// `redis://…`; unset means in-process implementations (single instance only).
    pub url: Option<Secret>,
    /// Prefix of every key this deployment writes (lets several deployments share a Redis).
    pub key_prefix: String,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LogSettings {
    pub format: LogFormat,
    /// A `tracing` filter such as `info,bangban_server=debug`.
    pub filter: String,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JwtKey {
    pub kid: String,
    /// At least 32 bytes of secret material.
    pub secret: Secret,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AuthSettings {
    pub issuer: String,
    pub audience: String,
    /// Access-token lifetime; capped at 7200 seconds.
    pub access_ttl_seconds: u64,
    pub refresh_ttl_days: u64,
    /// Signing keys (HS256). The first is used to sign unless `active_kid` names another;
    /// the others still verify tokens issued before a rotation.
    pub jwt_keys: Vec<JwtKey>,
    pub active_kid: Option<String>,
    pub staff_max_failed_logins: i32,
    pub staff_lockout_minutes: i64,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct WechatSettings {
    /// Unset means dev login: any code is accepted as the openid (refused in production).
    pub appid: Option<String>,
    pub secret: Option<Secret>,
    pub base_url: String,
    pub timeout_ms: u64,
    /// Attempts for busy (-1) and throttled (45011) answers and timeouts, including the first.
    pub retry_attempts: u32,
    pub retry_base_ms: u64,
}

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PiiSettings {
    /// Base64 of 32 bytes: the master key for field encryption and blind indexes.
    pub data_key: Option<Secret>,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct GraphqlSettings {
    pub max_depth: usize,
    pub max_complexity: usize,
    pub max_aliases: usize,
    pub max_batch: usize,
    /// Serve `GET /schema.graphql` in production too (always served in development).
    pub publish_sdl: bool,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RateLimitSettings {
    /// Logins (WeChat or staff) allowed per client address per minute.
    pub login_per_ip_per_minute: u64,
    /// Staff login attempts allowed per username per minute.
    pub login_per_account_per_minute: u64,
    /// Phone bindings allowed per user per hour.
    pub bind_phone_per_user_per_hour: u64,
    /// Booking attempts (book, reschedule, waitlist) allowed per resident per minute.
    pub book_per_user_per_minute: u64,
    /// Booking attempts allowed per client address per minute (a village hall's shared
    /// connection counts once, so this is generous).
    pub book_per_ip_per_minute: u64,
    /// Check-in scans allowed per resident per minute (the rotating check-in code has a
    /// million values; this keeps guessing it hopeless).
    pub check_in_per_user_per_minute: u64,
    /// Lifetime of a slot's admission counter in the shared store (the seats left as the crowd
    /// sees them; none left answers SLOT_FULL without the database). Freed seats reset it at
    /// once; this bounds how stale it can be otherwise. 0 turns it off.
    pub sold_out_flag_seconds: u64,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            env: Environment::Development,
            data_dir: PathBuf::from("./data"),
            http: HttpSettings::default(),
            database: DatabaseSettings::default(),
            redis: RedisSettings::default(),
            log: LogSettings::default(),
            auth: AuthSettings::default(),
            wechat: WechatSettings::default(),
            pii: PiiSettings::default(),
            graphql: GraphqlSettings::default(),
            limits: RateLimitSettings::default(),
            jobs: JobSettings::default(),
            events: EventSettings::default(),
            push: PushSettings::default(),
            cases: CaseSettings::default(),
            satisfaction: SatisfactionSettings::default(),
            complaints: ComplaintSettings::default(),
            assessment: AssessmentSettings::default(),
            seed_demo: None,
            seed_demo_staff: true,
        }
    }
}

impl Default for HttpSettings {
    fn default() -> Self {
        Self {
            host: "127.0.0.1".into(),
            port: 8080,
            body_limit: 256 * 1024,
            trust_forwarded_for: false,
            shutdown_grace_seconds: 20,
            ws_init_timeout_ms: 5_000,
            ws_ping_interval_seconds: 25,
            ws_session_check_seconds: 15,
            ws_stall_timeout_ms: 10_000,
        }
    }
}

impl Default for RedisSettings {
    fn default() -> Self {
        Self {
            url: None,
            key_prefix: "bangban:".into(),
        }
    }
}

impl Default for LogSettings {
    fn default() -> Self {
        Self {
            format: LogFormat::Text,
            filter: "info".into(),
        }
    }
}

impl Default for AuthSettings {
    fn default() -> Self {
        Self {
            issuer: "bangban".into(),
            audience: "bangban-miniprogram".into(),
            access_ttl_seconds: 3600,
            refresh_ttl_days: 30,
            jwt_keys: Vec::new(),
            active_kid: None,
            staff_max_failed_logins: 5,
            staff_lockout_minutes: 15,
        }
    }
}

impl Default for WechatSettings {
    fn default() -> Self {
        Self {
            appid: None,
            secret: None,
            base_url: "https://api.weixin.qq.com".into(),
            timeout_ms: 5_000,
            retry_attempts: 3,
            retry_base_ms: 200,
        }
    }
}

impl Default for GraphqlSettings {
    fn default() -> Self {
        Self {
            max_depth: 12,
            max_complexity: 1_000,
            max_aliases: 30,
            max_batch: 10,
            publish_sdl: false,
        }
    }
}

impl Default for RateLimitSettings {
    fn default() -> Self {
        Self {
            login_per_ip_per_minute: 600,
            login_per_account_per_minute: 10,
            bind_phone_per_user_per_hour: 10,
            book_per_user_per_minute: 30,
            book_per_ip_per_minute: 600,
            check_in_per_user_per_minute: 20,
            sold_out_flag_seconds: 5,
        }
    }
}

/// Sections whose keys may be given as `BANGBAN_<SECTION>_<KEY>` (e.g. `BANGBAN_WECHAT_APPID`).
const SECTIONS: [&str; 16] = [
    "http",
    "database",
    "redis",
    "log",
    "auth",
    "wechat",
    "pii",
    "graphql",
    "limits",
    "jobs",
    "events",
    "push",
    "cases",
    "satisfaction",
    "complaints",
    "assessment",
];

/// Maps an environment key (without the `BANGBAN_` prefix) to a settings path:
/// `WECHAT_APPID` → `wechat.appid`, `DATA_DIR` → `data_dir`, `HTTP__PORT` → `http.port`.
fn env_key_to_path(key: &str) -> String {
    let key = key.to_ascii_lowercase().replace("__", ".");
    if key.contains('.') {
        return key;
    }
    for section in SECTIONS {
        if let Some(rest) = key.strip_prefix(section).and_then(|r| r.strip_prefix('_')) {
            return format!("{section}.{rest}");
        }
    }
    key
}

impl Settings {
    /// Loads defaults, then `file` (if given, or `BANGBAN_CONFIG`), then the environment.
    pub fn load(file: Option<PathBuf>) -> Result<Self, Box<figment::Error>> {
        let file = file.or_else(|| std::env::var_os("BANGBAN_CONFIG").map(PathBuf::from));
        let mut figment = Figment::new();
        if let Some(file) = file {
            figment = figment.merge(Toml::file_exact(file));
        }
        figment = figment.merge(
            Env::prefixed("BANGBAN_")
                .ignore(&[
                    "CONFIG",
                    "STAFF_PASSWORD",
                    "TEST_BACKEND",
                    "TEST_DATABASE_URL",
                    "TEST_REDIS_URL",
                ])
                .map(|key| env_key_to_path(key.as_str()).into())
                .lowercase(false),
        );
        figment.extract().map_err(Box::new)
    }

    /// Whether to load the demo directory (and demo staff) on start. Never in production:
    /// `validate` refuses it.
    pub fn seeds_demo(&self) -> bool {
        self.seed_demo.unwrap_or(self.database.url.is_none())
    }

    pub fn is_production(&self) -> bool {
        self.env == Environment::Production
    }

    /// Dev login is on when no WeChat AppID is configured.
    pub fn dev_login(&self) -> bool {
        self.wechat.appid.is_none()
    }

    pub fn access_ttl(&self) -> Duration {
        Duration::from_secs(self.auth.access_ttl_seconds.min(7200))
    }

    /// Refuses configurations that must never run: production without WeChat, keys or a data key.
    pub fn validate(&self) -> Result<(), String> {
        let templates = &self.push.templates;
        for (index, template) in templates.iter().enumerate() {
            if templates[..index]
                .iter()
                .any(|t| t.event_kind == template.event_kind && t.recipients == template.recipients)
            {
                return Err(format!(
                    "push.templates: two templates announce {} to {}",
                    template.event_kind,
                    template.recipients.as_str()
                ));
            }
            // Consent is recorded per template id: one id is long-term or not, for everyone.
            if templates[..index]
                .iter()
                .any(|t| t.template_id == template.template_id && t.long_term != template.long_term)
            {
                return Err(format!(
                    "push.templates: template {} is long-term in one entry and not in another",
                    template.template_id
                ));
            }
        }
        if self.is_production() {
            if self.dev_login() {
                return Err("BANGBAN_ENV=production requires BANGBAN_WECHAT_APPID and BANGBAN_WECHAT_SECRET (dev login is refused in production)".into());
            }
            if self.auth.jwt_keys.is_empty() {
                return Err("BANGBAN_ENV=production requires auth.jwt_keys (signing keys are never generated in production)".into());
            }
            if self.pii.data_key.is_none() {
                return Err("BANGBAN_ENV=production requires BANGBAN_PII_DATA_KEY".into());
            }
            if self.seeds_demo() {
                return Err("BANGBAN_ENV=production refuses demo data (BANGBAN_SEED_DEMO must be off, and a database URL is required)".into());
            }
        }
        if self.wechat.appid.is_some() && self.wechat.secret.is_none() {
            return Err("BANGBAN_WECHAT_APPID is set but BANGBAN_WECHAT_SECRET is not".into());
        }
        for key in &self.auth.jwt_keys {
            if key.secret.expose().len() < 32 {
                return Err(format!("JWT key {:?} is shorter than 32 bytes", key.kid));
            }
        }
        if self.auth.access_ttl_seconds == 0 || self.auth.access_ttl_seconds > 7200 {
            return Err("auth.access_ttl_seconds must be between 1 and 7200".into());
        }
        self.satisfaction.validate()?;
        self.complaints.validate()?;
        self.assessment.validate()?;
        Ok(())
    }
}

#[cfg(test)]
#[allow(clippy::result_large_err)] // figment::Jail's closures return figment::Error
mod tests {
    use super::*;

    #[test]
    fn environment_keys_map_to_sections() {
        let cases = [
            ("WECHAT_APPID", "wechat.appid"),
            ("DATABASE_URL", "database.url"),
            ("REDIS_URL", "redis.url"),
            ("REDIS_KEY_PREFIX", "redis.key_prefix"),
            ("ENV", "env"),
            ("DATA_DIR", "data_dir"),
            ("HTTP__PORT", "http.port"),
            ("HTTP_PORT", "http.port"),
            ("PII_DATA_KEY", "pii.data_key"),
            ("ASSESSMENT_CUTOFF_MONTH", "assessment.cutoff_month"),
            (
                "COMPLAINTS_FILES_PER_USER_PER_DAY",
                "complaints.files_per_user_per_day",
            ),
        ];
        for (env, path) in cases {
            assert_eq!(env_key_to_path(env), path, "{env}");
        }
    }

    #[test]
    fn secrets_never_show_in_debug_output() {
        let mut settings = Settings::default();
        settings.wechat.secret = Some(Secret::new("wx-app-secret-value"));
        settings.database.url = Some(Secret::new("postgres://user:pw@host/db"));
        let printed = format!("{settings:?}");
        assert!(!printed.contains("wx-app-secret-value"));
        assert!(!printed.contains("pw@host"));
        assert!(printed.contains("[redacted]"));
    }

    #[test]
    fn the_file_overrides_defaults_and_the_environment_overrides_the_file() {
        figment::Jail::expect_with(|jail| {
            jail.create_file(
                "bangban.toml",
                r#"
                env = "development"
                [http]
                port = 9000
                host = "0.0.0.0"
                [wechat]
                appid = "wx-from-file"
                secret = "secret-from-file"
                "#,
            )?;
            jail.set_env("BANGBAN_HTTP_PORT", "9100");
            jail.set_env("BANGBAN_WECHAT_APPID", "wx-from-env");
            jail.set_env("BANGBAN_DATABASE_URL", "postgres://u:p@localhost/bangban");
            let settings =
                Settings::load(Some("bangban.toml".into())).map_err(|e| e.to_string())?;
            assert_eq!(settings.http.port, 9100, "environment beats file");
            assert_eq!(settings.http.host, "0.0.0.0", "file beats default");
            assert_eq!(settings.wechat.appid.as_deref(), Some("wx-from-env"));
            assert_eq!(
                settings.wechat.secret.as_ref().map(Secret::expose),
                Some("secret-from-file")
            );
            assert_eq!(settings.auth.access_ttl_seconds, 3600, "default kept");
            assert!(settings.database.url.is_some());
            Ok(())
        });
    }

    #[test]
    fn a_misspelt_setting_is_refused() {
        figment::Jail::expect_with(|jail| {
            jail.set_env("BANGBAN_HTTP_PROT", "9100");
            assert!(Settings::load(None).is_err());
            Ok(())
        });
    }

    #[test]
    fn production_refuses_dev_login() {
        let settings = Settings {
            env: Environment::Production,
            ..Settings::default()
        };
        assert!(settings.validate().unwrap_err().contains("dev login"));
    }

    #[test]
    fn a_template_names_its_recipients_and_each_kind_has_one_per_recipient() {
        figment::Jail::expect_with(|jail| {
            jail.create_file(
                "bangban.toml",
                r#"
                [[push.templates]]
                event_kind = "case.transfer_requested"
                template_id = "T-RESIDENT"
                data = { thing1 = "number" }

                [[push.templates]]
                event_kind = "case.transfer_requested"
                template_id = "T-STAFF"
                recipients = "staff"
                data = { thing1 = "number" }
                "#,
            )?;
            let settings =
                Settings::load(Some("bangban.toml".into())).map_err(|e| e.to_string())?;
            assert!(settings.validate().is_ok());
            let push = &settings.push;
            let staff = push.template_for("case.transfer_requested", Recipients::Staff);
            assert_eq!(staff.map(|t| t.template_id.as_str()), Some("T-STAFF"));
            let residents = push.template_for("case.transfer_requested", Recipients::Residents);
            assert_eq!(
                residents.map(|t| t.template_id.as_str()),
                Some("T-RESIDENT")
            );
            let mut twice = settings.clone();
            twice.push.templates[1].recipients = Recipients::Residents;
            assert!(twice.validate().unwrap_err().contains("two templates"));
            let mut mixed = settings.clone();
            mixed.push.templates[1].template_id = "T-RESIDENT".into();
            assert!(
                mixed.validate().is_ok(),
                "one WeChat template for both sides"
            );
            assert_eq!(
                mixed
                    .push
                    .template_of("T-RESIDENT", "staff")
                    .map(|t| t.recipients),
                Some(Recipients::Staff)
            );
            let mut residents_only = settings.clone();
            residents_only.push.templates.truncate(1);
            assert!(
                residents_only
                    .push
                    .template_of("T-RESIDENT", "staff")
                    .is_none()
            );
            mixed.push.templates[1].long_term = true;
            assert!(mixed.validate().unwrap_err().contains("long-term"));
            Ok(())
        });
    }
}
