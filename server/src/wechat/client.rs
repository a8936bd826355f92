use std::{sync::Arc, time::Duration};

use serde::Deserialize;
use serde_json::{Value, json};

use crate::{config::WechatSettings, error::AppError, store::Store};

/// What a WeChat call can fail with.
#[derive(Debug, thiserror::Error)]
pub enum WechatError {
    /// 40029 / 40163: the one-time code is invalid, expired or already used.
    #[error("the code is invalid, expired or already used (errcode {0})")]
    InvalidCode(i64),
    /// 40226: WeChat blocked this user's login (high-risk account).
    #[error("WeChat blocked this login (errcode 40226)")]
    LoginBlocked,
    /// -1 or 45011 still after the last retry.
    #[error("WeChat is busy or throttling (errcode {0}) after retries")]
    Busy(i64),
    /// 40001 / 40014 / 42001 even after one refresh.
    #[error("the access token was refused (errcode {0})")]
    TokenRejected(i64),
    /// Any other errcode.
    #[error("WeChat answered errcode {errcode}: {errmsg}")]
    Api { errcode: i64, errmsg: String },
    /// The connection could not be made: the request provably never reached WeChat.
    #[error("WeChat unreachable: {0}")]
    Unreachable(String),
    /// The request may have reached WeChat but no answer came back: a timeout, a connection
    /// broken after sending, or an HTTP status outside 2xx without an errcode body. Whether
    /// WeChat acted on it is unknown.
    #[error("no answer from WeChat: {0}")]
    Transport(String),
    /// A body we could not understand.
    #[error("unexpected WeChat answer: {0}")]
    Decode(String),
}

impl WechatError {
    fn retryable(&self) -> bool {
        matches!(
            self,
            Self::Busy(_) | Self::Unreachable(_) | Self::Transport(_)
        )
    }
}

impl From<WechatError> for AppError {
    fn from(error: WechatError) -> Self {
        match error {
            WechatError::InvalidCode(_) => AppError::bad_input(
                "code",
                "the code is invalid, expired or already used; call wx.login (or the phone button) again for a new one",
            ),
            WechatError::LoginBlocked => {
                AppError::Forbidden("WeChat has blocked logins from this account".into())
            }
            other => {
                tracing::warn!(error = %other, "WeChat call failed");
                AppError::UpstreamWechat(match other {
                    WechatError::Busy(_)
                    | WechatError::Unreachable(_)
                    | WechatError::Transport(_) => "WeChat is busy; try again shortly".to_string(),
                    _ => "WeChat refused the request".to_string(),
                })
            }
        }
    }
}

/// The result of `code2Session`. WeChat's `session_key` is not even read: nothing here needs it,
/// so it can never leave the server.
#[derive(Clone, Debug, Deserialize)]
pub struct Session {
    pub openid: String,
    pub unionid: Option<String>,
}

/// The phone number WeChat vouches for.
#[derive(Clone)]
pub struct PhoneInfo {
    pub pure_phone_number: String,
    pub country_code: String,
}

const TOKEN_ERRORS: [i64; 3] = [40001, 40014, 42001];

/// Reads `errcode` whether WeChat sent a number, a numeric string, or nothing (= 0).
pub(super) fn errcode(body: &Value) -> i64 {
    match body.get("errcode") {
        Some(Value::Number(n)) => n.as_i64().unwrap_or(-1),
        Some(Value::String(s)) => s.trim().parse().unwrap_or(-1),
        _ => 0,
    }
}

fn errmsg(body: &Value) -> String {
    body.get("errmsg")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .chars()
        .take(200)
        .collect()
}

pub(super) fn check(body: &Value) -> Result<(), WechatError> {
    match errcode(body) {
        0 => Ok(()),
        code @ (-1 | 45011) => Err(WechatError::Busy(code)),
        code @ (40029 | 40163) => Err(WechatError::InvalidCode(code)),
        40226 => Err(WechatError::LoginBlocked),
        code if TOKEN_ERRORS.contains(&code) => Err(WechatError::TokenRejected(code)),
        code => Err(WechatError::Api {
            errcode: code,
            errmsg: errmsg(body),
        }),
    }
}

/// The client. Cheap to clone; the access token is shared through the store, so every
/// instance uses the same one (WeChat's "central control" rule).
#[derive(Clone)]
pub struct WechatClient {
    pub(super) http: reqwest::Client,
    pub(super) base_url: String,
    appid: String,
    secret: crate::config::Secret,
    attempts: u32,
    backoff: Duration,
    store: Store,
    /// The shared token, kept here for a minute so that each call does not ask the store
    /// (WeChat's advice for workers of a central token).
    local: Arc<std::sync::Mutex<Option<(String, tokio::time::Instant)>>>,
}

impl std::fmt::Debug for WechatClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WechatClient")
            .field("base_url", &self.base_url)
            .field("appid", &self.appid)
            .finish_non_exhaustive()
    }
}

impl WechatClient {
    /// `None` when no AppID is configured (dev login).
    pub fn from_settings(
        settings: &WechatSettings,
        store: Store,
    ) -> anyhow::Result<Option<Arc<Self>>> {
        let (Some(appid), Some(secret)) = (&settings.appid, &settings.secret) else {
            return Ok(None);
        };
        let http = reqwest::Client::builder()
            .timeout(Duration::from_millis(settings.timeout_ms))
            .connect_timeout(Duration::from_millis(settings.timeout_ms.min(3_000)))
            .build()?;
        Ok(Some(Arc::new(Self {
            http,
            base_url: settings.base_url.trim_end_matches('/').to_string(),
            appid: appid.clone(),
            secret: secret.clone(),
            attempts: settings.retry_attempts.max(1),
            backoff: Duration::from_millis(settings.retry_base_ms),
            store,
            local: Arc::new(std::sync::Mutex::new(None)),
        })))
    }

    pub fn appid(&self) -> &str {
        &self.appid
    }

    /// Sends one request and reads the body as JSON whatever the HTTP status.
    pub(super) async fn send(
        &self,
        request: reqwest::RequestBuilder,
    ) -> Result<Value, WechatError> {
        let response = request.send().await.map_err(|e| transport_error(&e))?;
        let status = response.status();
        let bytes = response
            .bytes()
            .await
            .map_err(|e| WechatError::Transport(without_url(&e)))?;
        match serde_json::from_slice::<Value>(&bytes) {
            Ok(body) if body.is_object() => Ok(body),
            _ if !status.is_success() => Err(WechatError::Transport(format!("HTTP {status}"))),
            _ => Err(WechatError::Decode("body is not a JSON object".into())),
        }
    }

    /// Runs `call` up to `attempts` times while WeChat is busy or unreachable, backing off
    /// exponentially (base, 2·base, 4·base, …).
    pub(super) async fn with_retries<T, F, Fut>(&self, mut call: F) -> Result<T, WechatError>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, WechatError>>,
    {
        let mut attempt = 0;
        loop {
            match call().await {
                Err(error) if error.retryable() && attempt + 1 < self.attempts => {
                    tokio::time::sleep(self.backoff * 2u32.pow(attempt)).await;
                    attempt += 1;
                }
                other => return other,
            }
        }
    }

    /// auth.code2Session: exchanges a `wx.login` code for the user's openid.
    pub async fn code_to_session(&self, code: &str) -> Result<Session, WechatError> {
        self.with_retries(|| async {
            let body = self
                .send(
                    self.http
                        .get(format!("{}/sns/jscode2session", self.base_url))
                        .query(&[
                            ("appid", self.appid.as_str()),
                            ("secret", self.secret.expose()),
                            ("js_code", code),
                            ("grant_type", "authorization_code"),
                        ]),
                )
                .await?;
            check(&body)?;
            serde_json::from_value::<Session>(body)
                .ok()
                .filter(|s| !s.openid.is_empty())
                .ok_or_else(|| WechatError::Decode("code2Session answer has no openid".into()))
        })
        .await
    }

    fn token_key(&self) -> String {
        format!("wechat:token:{}", self.appid)
    }

    /// The shared access token: read from the store, or fetched (stable_token, normal mode)
    /// by whichever instance wins the refresh lock while the others wait for it.
    pub async fn access_token(&self) -> Result<String, WechatError> {
        let cached = self
            .local
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
            .filter(|(_, until)| *until > tokio::time::Instant::now());
        if let Some((token, _)) = cached {
            return Ok(token);
        }
        let token = self.shared_access_token().await?;
        *self.local.lock().unwrap_or_else(|p| p.into_inner()) = Some((
            token.clone(),
            tokio::time::Instant::now() + Duration::from_secs(60),
        ));
        Ok(token)
    }

    fn forget_local(&self, token: &str) {
        let mut local = self.local.lock().unwrap_or_else(|p| p.into_inner());
        if local.as_ref().is_some_and(|(t, _)| t == token) {
            *local = None;
        }
    }

    async fn shared_access_token(&self) -> Result<String, WechatError> {
        let key = self.token_key();
        let lock_key = format!("wechat:token-lock:{}", self.appid);
        let lock_value = uuid::Uuid::new_v4().to_string();
        for _ in 0..50 {
            if let Ok(Some(token)) = self.store.get(&key).await {
                return Ok(token);
            }
            match self
                .store
                .set_if_absent(&lock_key, &lock_value, Duration::from_secs(10))
                .await
            {
                Ok(false) => tokio::time::sleep(Duration::from_millis(100)).await,
                won_or_store_down => {
                    let result = self.fetch_stable_token().await;
                    if let Ok((token, expires_in)) = &result {
                        // Keep it until 5 minutes before WeChat rotates it.
                        let ttl = Duration::from_secs(expires_in.saturating_sub(300).max(30));
                        if let Err(error) = self.store.set(&key, token, ttl).await {
                            tracing::warn!(%error, "WeChat token not cached");
                        }
                    }
                    if matches!(won_or_store_down, Ok(true)) {
                        let _ = self.store.compare_and_delete(&lock_key, &lock_value).await;
                    }
                    return result.map(|(token, _)| token);
                }
            }
        }
        self.fetch_stable_token().await.map(|(token, _)| token)
    }

    async fn fetch_stable_token(&self) -> Result<(String, u64), WechatError> {
        self.with_retries(|| async {
            let body = self
                .send(
                    self.http
                        .post(format!("{}/cgi-bin/stable_token", self.base_url))
                        .json(&json!({
                            "grant_type": "client_credential",
                            "appid": self.appid,
                            "secret": self.secret.expose(),
                            "force_refresh": false,
                        })),
                )
                .await?;
            // A token endpoint's 40001 means a bad secret, not a stale token.
            match check(&body) {
                Err(WechatError::TokenRejected(code)) => {
                    return Err(WechatError::Api {
                        errcode: code,
                        errmsg: errmsg(&body),
                    });
                }
                other => other?,
            }
            let token = body
                .get("access_token")
                .and_then(Value::as_str)
                .filter(|t| !t.is_empty())
                .ok_or_else(|| {
                    WechatError::Decode("stable_token answer has no access_token".into())
                })?;
            let expires_in = body
                .get("expires_in")
                .and_then(Value::as_u64)
                .unwrap_or(300);
            Ok((token.to_string(), expires_in))
        })
        .await
    }

    /// Runs an access-token call; on 40001/40014/42001 drops the cached token only if it is
    /// still the one that failed (compare-and-delete), fetches a fresh one and retries once.
    pub async fn with_access_token<T, F, Fut>(&self, call: F) -> Result<T, WechatError>
    where
        F: Fn(String) -> Fut,
        Fut: Future<Output = Result<T, WechatError>>,
    {
        let token = self.access_token().await?;
        match call(token.clone()).await {
            Err(WechatError::TokenRejected(_)) => {
                self.forget_local(&token);
                let _ = self
                    .store
                    .compare_and_delete(&self.token_key(), &token)
                    .await;
                let fresh = self.access_token().await?;
                call(fresh).await
            }
            other => other,
        }
    }

    /// phonenumber.getPhoneNumber: the number behind a `getPhoneNumber` button code.
    pub async fn phone_number(&self, code: &str, openid: &str) -> Result<PhoneInfo, WechatError> {
        self.with_access_token(|token| async move {
            self.with_retries(|| async {
                let body = self
                    .send(
                        self.http
                            .post(format!("{}/wxa/business/getuserphonenumber", self.base_url))
                            .query(&[("access_token", token.as_str())])
                            .json(&json!({ "code": code, "openid": openid })),
                    )
                    .await?;
                check(&body)?;
                let info = body
                    .get("phone_info")
                    .ok_or_else(|| WechatError::Decode("no phone_info".into()))?;
                let watermark_appid = info
                    .pointer("/watermark/appid")
                    .and_then(Value::as_str)
                    .unwrap_or_default();
                if watermark_appid != self.appid {
                    return Err(WechatError::Decode(
                        "phone_info watermark is for another appid".into(),
                    ));
                }
                let pure = info
                    .get("purePhoneNumber")
                    .and_then(Value::as_str)
                    .ok_or_else(|| WechatError::Decode("no purePhoneNumber".into()))?;
                // The doc types countryCode as a string but shows a number: accept both.
                let country_code = match info.get("countryCode") {
                    Some(Value::String(s)) => s.clone(),
                    Some(Value::Number(n)) => n.to_string(),
                    _ => String::new(),
                };
                Ok(PhoneInfo {
                    pure_phone_number: pure.to_string(),
                    country_code,
                })
            })
            .await
        })
        .await
    }
}

impl WechatClient {
    /// wxacode.getUnlimited: the PNG/JPEG of a mini-program code whose `scene` is ≤ 32 visible
    /// characters. WeChat answers image bytes on success and a JSON errcode body on failure.
    pub async fn unlimited_qr_code(&self, scene: &str, page: &str) -> Result<Vec<u8>, WechatError> {
        self.with_access_token(|token| async move {
            self.with_retries(|| async {
                let response = self
                    .http
                    .post(format!("{}/wxa/getwxacodeunlimit", self.base_url))
                    .query(&[("access_token", token.as_str())])
                    .json(&json!({"scene": scene, "page": page, "check_path": false, "env_version": "release"}))
                    .send()
                    .await
                    .map_err(|e| transport_error(&e))?;
                let is_json = response
                    .headers()
                    .get(reqwest::header::CONTENT_TYPE)
                    .and_then(|v| v.to_str().ok())
                    .is_some_and(|v| v.contains("json"));
                let bytes = response
                    .bytes()
                    .await
                    .map_err(|e| WechatError::Transport(without_url(&e)))?;
                if is_json || bytes.first() == Some(&b'{') {
                    let body: Value = serde_json::from_slice(&bytes).map_err(|_| WechatError::Decode("bad JSON".into()))?;
                    check(&body)?;
                    return Err(WechatError::Decode("JSON answer without an image".into()));
                }
                if bytes.is_empty() {
                    return Err(WechatError::Decode("empty image".into()));
                }
                Ok(bytes.to_vec())
            })
            .await
        })
        .await
    }
}

impl WechatClient {
    /// subscribeMessage.send: returns WeChat's msgid (a number above 2^53, read as u64).
    pub async fn send_subscribe_message(
        &self,
        openid: &str,
        template_id: &str,
        page: Option<&str>,
        data: &serde_json::Map<String, Value>,
        state: &str,
    ) -> Result<u64, WechatError> {
        self.with_access_token(|token| async move {
            let mut body = json!({
                "touser": openid,
                "template_id": template_id,
                "data": data,
                "miniprogram_state": state,
                "lang": "zh_CN",
            });
            if let Some(page) = page {
                body["page"] = json!(page);
            }
            // Not retried here: the push worker owns retries, so that a send is never repeated
            // behind its back.
            let body = self
                .send(
                    self.http
                        .post(format!("{}/cgi-bin/message/subscribe/send", self.base_url))
                        .query(&[("access_token", token.as_str())])
                        .json(&body),
                )
                .await?;
            check(&body)?;
            match body.get("msgid") {
                Some(Value::Number(n)) => n
                    .as_u64()
                    .ok_or_else(|| WechatError::Decode("msgid is not a u64".into())),
                Some(Value::String(s)) => s
                    .parse()
                    .map_err(|_| WechatError::Decode("msgid is not a u64".into())),
                _ => Err(WechatError::Decode("no msgid".into())),
            }
        })
        .await
    }
}

/// A failed request: `Unreachable` when the connection was never made (nothing reached
/// WeChat), `Transport` otherwise (the request may have been acted on).
fn transport_error(error: &reqwest::Error) -> WechatError {
    if error.is_connect() {
        WechatError::Unreachable(without_url(error))
    } else {
        WechatError::Transport(without_url(error))
    }
}

/// reqwest errors print the URL, which carries the AppSecret on code2Session: drop it.
fn without_url(error: &reqwest::Error) -> String {
    let kind = if error.is_timeout() {
        "timeout"
    } else if error.is_connect() {
        "connection failed"
    } else {
        "request failed"
    };
    kind.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errcode_is_read_leniently() {
        assert_eq!(errcode(&json!({"openid": "x"})), 0);
        assert_eq!(errcode(&json!({"errcode": 0})), 0);
        assert_eq!(errcode(&json!({"errcode": "40029"})), 40029);
        assert_eq!(errcode(&json!({"errcode": 45011})), 45011);
        assert_eq!(errcode(&json!({"errcode": "garbage"})), -1);
    }

    #[test]
    fn codes_map_to_typed_errors_and_app_codes() {
        let table: [(i64, &str); 7] = [
            (40029, "BAD_USER_INPUT"),
            (40163, "BAD_USER_INPUT"),
            (-1, "UPSTREAM_WECHAT"),
            (45011, "UPSTREAM_WECHAT"),
            (40226, "FORBIDDEN"),
            (42001, "UPSTREAM_WECHAT"),
            (40013, "UPSTREAM_WECHAT"),
        ];
        for (code, app) in table {
            let err = check(&json!({"errcode": code, "errmsg": "x"})).unwrap_err();
            assert_eq!(AppError::from(err).code(), app, "{code}");
        }
    }
}
