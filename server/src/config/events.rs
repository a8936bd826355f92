//! The settings of the event road and of WeChat push (`[events]`, `[push]`).
use serde::Deserialize;

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
