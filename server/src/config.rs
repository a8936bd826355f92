//! Layered settings: built-in defaults < optional TOML file < `BANGBAN_*` environment variables.
//!
//! The settings value is built once in `main` (or by a test) and passed down explicitly; there is
//! no global. Secrets are wrapped in [`Secret`], whose `Debug` never shows the value.
use std::{fmt, path::PathBuf, time::Duration};

use figment::{
    Figment,
    providers::{Env, Format, Toml},
};
use serde::Deserialize;

/// A value that must never be printed: its `Debug` and `Display` show `[redacted]`.
#[derive(Clone, Deserialize, PartialEq, Eq)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

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
    /// Load the 沁水县 demo directory on start when the database has no county yet. Default: on
    /// for the embedded SQLite database, off when `database.url` is set.
    pub seed_demo: Option<bool>,
    /// With the demo directory, also create demo staff (a county admin and an agent at every
    /// demo point, one generated password shown once on the console). Default: on.
    pub seed_demo_staff: bool,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct EventSettings {
    /// Run the outbox relay in this instance (safe on every instance).
    pub relay_enabled: bool,
    /// Fallback polling interval of the relay; it is also woken right after each commit.
    pub relay_poll_ms: u64,
    /// Events buffered per live subscription on the way from the broker; a subscription further
    /// behind is ended with SUBSCRIPTION_LAGGED (the app resubscribes with `after`).
    pub hub_capacity: usize,
    /// Try the reactions an event's commit queued (see `events::reactions`) right after the
    /// commit, in the committing request. Off, only the reaction workers run them.
    pub reactions_inline: bool,
    /// Run a reaction worker in this instance (safe on every instance).
    pub reaction_worker_enabled: bool,
    /// How often the reaction worker looks for due tasks.
    pub reaction_poll_ms: u64,
}

impl Default for EventSettings {
    fn default() -> Self {
        Self {
            relay_enabled: true,
            relay_poll_ms: 1_000,
            hub_capacity: 1_024,
            reactions_inline: true,
            reaction_worker_enabled: true,
            reaction_poll_ms: 1_000,
        }
    }
}

/// One subscribe-message template: which event it announces and how event fields fill it.
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct TemplateSettings {
    /// The event kind, e.g. `account.phone_bound`.
    pub event_kind: String,
    /// The template id from the WeChat console (我的模板).
    pub template_id: String,
    /// The mini-program page the card opens (query allowed), e.g. `pages/me/index`.
    pub page: Option<String>,
    /// A long-term (长期订阅) template: sends do not use consent credits.
    #[serde(default)]
    pub long_term: bool,
    /// Keyword → event payload field (`thing1 = "unit"`), or a literal after `=` (`phrase2 = "=已通过"`).
    pub data: std::collections::BTreeMap<String, String>,
    /// Whom it is sent to among the event's audience: `residents` (the default) or `staff`
    /// (those who bound WeChat with `bindStaffWechat`). One event kind may have a template for
    /// each.
    #[serde(default)]
    pub recipients: Recipients,
}

/// Who receives a template's messages.
#[derive(Clone, Copy, Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum Recipients {
    #[default]
    Residents,
    Staff,
}

impl Recipients {
    /// The `push_deliveries.recipient` value.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Residents => "resident",
            Self::Staff => "staff",
        }
    }
}

#[derive(Clone, Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PushSettings {
    /// Run the push worker in this instance (several instances may).
    pub worker_enabled: bool,
    pub templates: Vec<TemplateSettings>,
    /// Sends of one message while WeChat provably did not take it (no connection, -1, 45011),
    /// with exponential backoff from `retry_base_ms`. A timeout is never retried (UNKNOWN).
    pub max_attempts: u32,
    pub retry_base_ms: u64,
    /// A delivery left `sending` this long (at least the WeChat timeout + 1 s) by a stopped
    /// worker becomes UNKNOWN; it is never resent.
    pub reclaim_after_ms: u64,
    /// `formal`, `trial` or `developer` (miniprogram_state).
    pub miniprogram_state: String,
    /// Messages a worker sends at once.
    pub concurrency: usize,
}

impl Default for PushSettings {
    fn default() -> Self {
        Self {
            worker_enabled: true,
            templates: Vec::new(),
            max_attempts: 4,
            retry_base_ms: 500,
            reclaim_after_ms: 60_000,
            miniprogram_state: "formal".into(),
            concurrency: 16,
        }
    }
}

impl PushSettings {
    /// The template announcing `event_kind` to `recipients`.
    pub fn template_for(
        &self,
        event_kind: &str,
        recipients: Recipients,
    ) -> Option<&TemplateSettings> {
        self.templates
            .iter()
            .find(|t| t.event_kind == event_kind && t.recipients == recipients)
    }
    pub fn template(&self, template_id: &str) -> Option<&TemplateSettings> {
        self.templates.iter().find(|t| t.template_id == template_id)
    }
    /// The template a delivery row used: by its id and its `recipient` (`resident`, `staff`),
    /// so one WeChat template serving both opens each side's own page. None once that side's
    /// entry is gone: a staff message never borrows the residents' page, nor the reverse.
    pub fn template_of(&self, template_id: &str, recipient: &str) -> Option<&TemplateSettings> {
        self.templates
            .iter()
            .find(|t| t.template_id == template_id && t.recipients.as_str() == recipient)
    }
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
const SECTIONS: [&str; 14] = [
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
        let satisfaction = &self.satisfaction;
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
