//! A fake WeChat server speaking the documented shapes and error codes (HTTP 200 with
//! `errcode` bodies): one-time login and phone codes valid 5 minutes, stable access tokens that
//! can be invalidated or expired, scripted failures (-1, 45011, …), and call counters.
use std::{
    collections::{HashMap, VecDeque},
    sync::{Arc, Mutex},
};

use poem::{
    EndpointExt, Request, Route, get, handler,
    listener::TcpAcceptor,
    post,
    web::{Data, Json, Query},
};
use serde::Deserialize;
use serde_json::{Value, json};

pub const APPID: &str = "wxfake0000000001";
pub const SECRET: &str = "fake-app-secret-for-tests";

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Api {
    Code2Session,
    StableToken,
    PhoneNumber,
    QrCode,
    SubscribeSend,
    MsgSecCheck,
}

/// Text the fake's content check calls risky (label 20001) …
pub const RISKY_WORD: &str = "违禁词";
/// … and text it holds for review (label 20003).
pub const REVIEW_WORD: &str = "待人工审核";

/// A 1×1 PNG: what the fake answers for a mini-program code.
pub const PNG: [u8; 67] = [
    0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0x00, 0x00, 0x00, 0x0d, 0x49, 0x48, 0x44, 0x52,
    0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x01, 0x08, 0x06, 0x00, 0x00, 0x00, 0x1f, 0x15, 0xc4,
    0x89, 0x00, 0x00, 0x00, 0x0a, 0x49, 0x44, 0x41, 0x54, 0x78, 0x9c, 0x63, 0x00, 0x01, 0x00, 0x00,
    0x05, 0x00, 0x01, 0x0d, 0x0a, 0x2d, 0xb4, 0x00, 0x00, 0x00, 0x00, 0x49, 0x45, 0x4e, 0x44, 0xae,
    0x42, 0x60, 0x82,
];

#[derive(Default)]
struct Inner {
    /// Seconds added to the fake's clock (codes expire after 300 s).
    offset: i64,
    login_codes: HashMap<String, (String, i64, bool)>,
    phone_codes: HashMap<String, (String, i64, bool)>,
    /// Valid tokens and when they expire (fake clock seconds).
    tokens: HashMap<String, i64>,
    current_token: Option<String>,
    /// Tokens that answer 42001 (expired) instead of 40001.
    expired_tokens: Vec<String>,
    scripted: HashMap<Api, VecDeque<i64>>,
    /// Consent credits per (openid, template id), as WeChat keeps them.
    credits: HashMap<(String, String), u32>,
    /// Subscribe messages accepted, in order.
    sent: Vec<Value>,
    /// Calls of an API that hang this long and then fail without doing anything.
    stalls: HashMap<Api, VecDeque<u64>>,
    /// Calls of an API that do their work at once and answer only after this long.
    slow_answers: HashMap<Api, VecDeque<u64>>,
    calls: HashMap<Api, usize>,
    issued: u64,
    /// Texts the content check was asked about, with their openid and scene.
    checked: Vec<Value>,
}

#[derive(Clone)]
pub struct FakeWechat {
    pub base_url: String,
    inner: Arc<Mutex<Inner>>,
}

fn now(inner: &Inner) -> i64 {
    chrono::Utc::now().timestamp() + inner.offset
}

fn error(code: i64, message: &str) -> Json<Value> {
    Json(json!({"errcode": code, "errmsg": format!("{message} rid: 6472dfd0-536f4e2c-16f28abc")}))
}

fn lock(inner: &Arc<Mutex<Inner>>) -> std::sync::MutexGuard<'_, Inner> {
    inner.lock().unwrap_or_else(|p| p.into_inner())
}

/// Counts the call and returns a scripted failure, if one is queued.
fn enter(inner: &mut Inner, api: Api) -> Option<i64> {
    *inner.calls.entry(api).or_default() += 1;
    inner.scripted.get_mut(&api).and_then(VecDeque::pop_front)
}

fn scripted_error(code: i64) -> Json<Value> {
    match code {
        -1 => error(-1, "system error"),
        45011 => error(
            45011,
            "api minute-quota reach limit  mustslower  retry next minute",
        ),
        other => error(other, "scripted failure"),
    }
}

#[derive(Deserialize)]
struct LoginParams {
    appid: Option<String>,
    secret: Option<String>,
    js_code: Option<String>,
    grant_type: Option<String>,
}

#[handler]
fn code2session(
    Query(params): Query<LoginParams>,
    Data(inner): Data<&Arc<Mutex<Inner>>>,
) -> Json<Value> {
    let mut inner = lock(inner);
    if let Some(code) = enter(&mut inner, Api::Code2Session) {
        return scripted_error(code);
    }
    if params.appid.as_deref() != Some(APPID) {
        return error(40013, "invalid appid");
    }
    if params.secret.as_deref() != Some(SECRET) {
        return error(40125, "invalid appsecret");
    }
    if params.grant_type.as_deref() != Some("authorization_code") {
        return error(40002, "invalid grant_type");
    }
    let now = now(&inner);
    let Some(code) = params.js_code else {
        return error(41008, "missing code");
    };
    match inner.login_codes.get_mut(&code) {
        None => error(40029, "invalid code"),
        Some((_, issued, _)) if now - *issued > 300 => error(40029, "invalid code"),
        Some((_, _, true)) => error(40163, "code been used"),
        Some((openid, _, used)) => {
            *used = true;
            Json(
                json!({"openid": openid, "session_key": "fake-session-key==", "unionid": format!("union-{openid}")}),
            )
        }
    }
}

#[handler]
fn stable_token(req: &Request, body: String, Data(inner): Data<&Arc<Mutex<Inner>>>) -> Json<Value> {
    let mut inner = lock(inner);
    if let Some(code) = enter(&mut inner, Api::StableToken) {
        return scripted_error(code);
    }
    let json_body = req
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    let Some(body) = json_body
        .then(|| serde_json::from_str::<Value>(&body).ok())
        .flatten()
    else {
        return error(47001, "data format error");
    };
    if body["grant_type"] != "client_credential" {
        return error(40002, "invalid grant_type");
    }
    if body["appid"] != APPID || body["secret"] != SECRET {
        return error(40001, "invalid credential");
    }
    let now = now(&inner);
    let force = body["force_refresh"].as_bool().unwrap_or(false);
    let current = inner
        .current_token
        .clone()
        .filter(|t| !force && inner.tokens.get(t).is_some_and(|exp| *exp > now));
    let token = match current {
        Some(token) => token,
        None => {
            inner.issued += 1;
            let token = format!(
                "fake-token-{}-{}",
                inner.issued,
                uuid::Uuid::new_v4().simple()
            );
            inner.tokens.insert(token.clone(), now + 7200);
            inner.current_token = Some(token.clone());
            token
        }
    };
    let expires_in = inner
        .tokens
        .get(&token)
        .map(|exp| exp - now)
        .unwrap_or(7200);
    Json(json!({"access_token": token, "expires_in": expires_in}))
}

#[derive(Deserialize)]
struct TokenParam {
    access_token: Option<String>,
}

#[handler]
fn phone_number(
    Query(params): Query<TokenParam>,
    body: Json<Value>,
    Data(inner): Data<&Arc<Mutex<Inner>>>,
) -> Json<Value> {
    let mut inner = lock(inner);
    if let Some(code) = enter(&mut inner, Api::PhoneNumber) {
        return scripted_error(code);
    }
    let now = now(&inner);
    let Some(token) = params.access_token else {
        return error(41001, "access_token missing");
    };
    if inner.expired_tokens.contains(&token) {
        return error(42001, "access_token expired");
    }
    if inner.tokens.get(&token).is_none_or(|exp| *exp <= now) {
        return error(
            40001,
            "invalid credential, access_token is invalid or not latest",
        );
    }
    let Some(code) = body.get("code").and_then(Value::as_str) else {
        return error(44002, "empty post data");
    };
    match inner.phone_codes.get_mut(code) {
        None => error(40029, "invalid code"),
        Some((_, issued, _)) if now - *issued > 300 => error(40029, "invalid code"),
        Some((_, _, true)) => error(40029, "invalid code"),
        Some((phone, _, used)) => {
            *used = true;
            // countryCode as a number, as the doc's own example shows it.
            Json(json!({"errcode": 0, "errmsg": "ok", "phone_info": {
                "phoneNumber": phone, "purePhoneNumber": phone, "countryCode": 86,
                "watermark": {"timestamp": now, "appid": APPID}}}))
        }
    }
}

#[handler]
fn qr_code(
    Query(params): Query<TokenParam>,
    body: Json<Value>,
    Data(inner): Data<&Arc<Mutex<Inner>>>,
) -> poem::Response {
    let json = |v: Json<Value>| {
        poem::Response::builder()
            .content_type("application/json; encoding=utf-8")
            .body(v.0.to_string())
    };
    let mut inner = lock(inner);
    if let Some(code) = enter(&mut inner, Api::QrCode) {
        return json(scripted_error(code));
    }
    let now = now(&inner);
    let valid_token = params
        .access_token
        .as_ref()
        .is_some_and(|t| inner.tokens.get(t).is_some_and(|exp| *exp > now));
    if !valid_token {
        return json(error(40001, "invalid credential"));
    }
    let scene = body
        .get("scene")
        .and_then(Value::as_str)
        .unwrap_or_default();
    if scene.is_empty() || scene.len() > 32 {
        return json(error(
            40169,
            "invalid length for scene, or the data is not json string",
        ));
    }
    let allowed = |c: char| c.is_ascii_alphanumeric() || "!#$&'()*+,/:;=?@-._~".contains(c);
    if !scene.chars().all(allowed) {
        return json(error(40129, "invalid scene"));
    }
    poem::Response::builder()
        .content_type("image/png")
        .body(PNG.to_vec())
}

/// WeChat's value rules per keyword type (the reference's table), enough to answer 47003.
fn keyword_valid(keyword: &str, value: &str) -> bool {
    let kind = keyword.trim_end_matches(|c: char| c.is_ascii_digit());
    let chars = value.chars().count();
    let chinese = |c: char| ('\u{4e00}'..='\u{9fff}').contains(&c);
    match kind {
        "thing" => (1..=20).contains(&chars),
        "phrase" => (1..=5).contains(&chars) && value.chars().all(chinese),
        "character_string" => (1..=32).contains(&chars) && value.is_ascii(),
        "number" => {
            (1..=32).contains(&chars) && value.chars().all(|c| c.is_ascii_digit() || c == '.')
        }
        "time" | "date" => chars >= 4 && value.contains('年'),
        "phone_number" => {
            (1..=17).contains(&chars)
                && value
                    .chars()
                    .all(|c| c.is_ascii_digit() || c == '+' || c == '-')
        }
        _ => chars >= 1,
    }
}

/// security.msgSecCheck v2: `risky` for the risky word, `review` for the review word, `pass`
/// otherwise; v2's required fields checked as WeChat does.
#[handler]
async fn msg_sec_check(
    Query(params): Query<TokenParam>,
    body: Json<Value>,
    Data(inner): Data<&Arc<Mutex<Inner>>>,
) -> Json<Value> {
    let stall = lock(inner)
        .stalls
        .get_mut(&Api::MsgSecCheck)
        .and_then(VecDeque::pop_front);
    if let Some(millis) = stall {
        tokio::time::sleep(std::time::Duration::from_millis(millis)).await;
        return error(-1, "system error");
    }
    let mut inner = lock(inner);
    if let Some(code) = enter(&mut inner, Api::MsgSecCheck) {
        return scripted_error(code);
    }
    let now = now(&inner);
    let Some(token) = params.access_token else {
        return error(41001, "access_token missing");
    };
    if inner.tokens.get(&token).is_none_or(|exp| *exp <= now) {
        return error(
            40001,
            "invalid credential, access_token is invalid or not latest",
        );
    }
    let content = body.get("content").and_then(Value::as_str);
    let openid = body.get("openid").and_then(Value::as_str);
    let (Some(content), Some(openid)) = (content, openid) else {
        return error(44002, "empty post data");
    };
    if body.get("version").and_then(Value::as_i64) != Some(2) {
        return error(47001, "data format error");
    }
    let scene = body.get("scene").and_then(Value::as_i64).unwrap_or(0);
    if !(1..=4).contains(&scene) {
        return error(40129, "invalid scene");
    }
    if content.chars().count() > 2500 {
        return error(47001, "data format error");
    }
    inner
        .checked
        .push(json!({"content": content, "openid": openid, "scene": scene}));
    let (suggest, label) = if content.contains(RISKY_WORD) {
        ("risky", 20001)
    } else if content.contains(REVIEW_WORD) {
        ("review", 20003)
    } else {
        ("pass", 100)
    };
    Json(json!({
        "errcode": 0, "errmsg": "ok", "trace_id": "60ae120f-371d5872-7941a05b",
        "result": {"suggest": suggest, "label": label},
        "detail": [{"strategy": "content_model", "errcode": 0, "suggest": suggest, "label": label, "prob": 90}]
    }))
}

#[handler]
async fn subscribe_send(
    Query(params): Query<TokenParam>,
    body: Json<Value>,
    Data(inner): Data<&Arc<Mutex<Inner>>>,
) -> poem::Response {
    let stall = lock(inner)
        .stalls
        .get_mut(&Api::SubscribeSend)
        .and_then(VecDeque::pop_front);
    if let Some(millis) = stall {
        // A request lost on the way: the caller times out; nothing was processed.
        tokio::time::sleep(std::time::Duration::from_millis(millis)).await;
        return poem::Response::builder()
            .content_type("application/json")
            .body(error(-1, "system error").0.to_string());
    }
    let late = lock(inner)
        .slow_answers
        .get_mut(&Api::SubscribeSend)
        .and_then(VecDeque::pop_front);
    let response = deliver_subscribe(params, body, inner);
    if let Some(millis) = late {
        tokio::time::sleep(std::time::Duration::from_millis(millis)).await;
    }
    response
}

fn deliver_subscribe(
    params: TokenParam,
    body: Json<Value>,
    inner: &Arc<Mutex<Inner>>,
) -> poem::Response {
    let mut inner = lock(inner);
    let reply = |v: Json<Value>| {
        poem::Response::builder()
            .content_type("application/json")
            .body(v.0.to_string())
    };
    if let Some(code) = enter(&mut inner, Api::SubscribeSend) {
        return reply(scripted_error(code));
    }
    let now = now(&inner);
    match params.access_token {
        None => return reply(error(41001, "access_token missing")),
        Some(token) if inner.expired_tokens.contains(&token) => {
            return reply(error(42001, "access_token expired"));
        }
        Some(token) if inner.tokens.get(&token).is_none_or(|exp| *exp <= now) => {
            return reply(error(
                40001,
                "invalid credential, access_token is invalid or not latest",
            ));
        }
        Some(_) => {}
    }
    let touser = body
        .get("touser")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string();
    let template = body
        .get("template_id")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string();
    if touser.is_empty() {
        return reply(error(40003, "invalid openid"));
    }
    if let Some(data) = body.get("data").and_then(Value::as_object) {
        for (keyword, item) in data {
            let value = item
                .get("value")
                .and_then(Value::as_str)
                .unwrap_or_default();
            if value.is_empty() {
                return reply(error(
                    47003,
                    &format!("argument invalid! data.{keyword}.value is empty"),
                ));
            }
            if !keyword_valid(keyword, value) {
                return reply(error(
                    47003,
                    &format!("argument invalid! data.{keyword}.value invalid"),
                ));
            }
        }
    } else {
        return reply(error(47003, "argument invalid! data is empty"));
    }
    let credits = inner.credits.entry((touser, template)).or_default();
    if *credits == 0 {
        return reply(error(43101, "user refuse to accept the msg"));
    }
    *credits -= 1;
    inner.sent.push(body.0.clone());
    let msgid: u64 = 1_988_810_812_324_364_291 + inner.sent.len() as u64;
    // The raw number, larger than 2^53, exactly as WeChat sends it.
    poem::Response::builder()
        .content_type("application/json")
        .body(format!(
            "{{\"errcode\":0,\"errmsg\":\"ok\",\"msgid\":{msgid}}}"
        ))
}

impl FakeWechat {
    pub async fn start() -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind fake");
        let port = listener.local_addr().expect("addr").port();
        let inner = Arc::new(Mutex::new(Inner::default()));
        let app = Route::new()
            .at("/sns/jscode2session", get(code2session))
            .at("/cgi-bin/stable_token", post(stable_token))
            .at("/wxa/business/getuserphonenumber", post(phone_number))
            .at("/wxa/getwxacodeunlimit", post(qr_code))
            .at("/cgi-bin/message/subscribe/send", post(subscribe_send))
            .at("/wxa/msg_sec_check", post(msg_sec_check))
            .data(inner.clone());
        let acceptor = TcpAcceptor::from_tokio(listener).expect("acceptor");
        tokio::spawn(async move {
            let _ = poem::Server::new_with_acceptor(acceptor).run(app).await;
        });
        Self {
            base_url: format!("http://127.0.0.1:{port}"),
            inner,
        }
    }

    /// What `wx.login()` would hand the mini-program for this user.
    pub fn login_code(&self, openid: &str) -> String {
        let mut inner = lock(&self.inner);
        let code = format!("0{}", uuid::Uuid::new_v4().simple());
        let issued = now(&inner);
        inner
            .login_codes
            .insert(code.clone(), (openid.to_string(), issued, false));
        code
    }

    /// What the getPhoneNumber button would hand the mini-program for this number.
    pub fn phone_code(&self, phone: &str) -> String {
        let mut inner = lock(&self.inner);
        let code = format!("p{}", uuid::Uuid::new_v4().simple());
        let issued = now(&inner);
        inner
            .phone_codes
            .insert(code.clone(), (phone.to_string(), issued, false));
        code
    }

    /// Queues errcodes that the next calls of `api` answer, in order.
    pub fn fail_next(&self, api: Api, codes: &[i64]) {
        lock(&self.inner)
            .scripted
            .entry(api)
            .or_default()
            .extend(codes.iter().copied());
    }

    /// The next `times` calls of `api` hang for `millis` and then fail without effect.
    pub fn stall_next(&self, api: Api, times: usize, millis: u64) {
        lock(&self.inner)
            .stalls
            .entry(api)
            .or_default()
            .extend(std::iter::repeat_n(millis, times));
    }

    /// The next `times` calls of `api` take effect at once (a subscribe message is delivered)
    /// but answer only after `millis`: past the caller's timeout, the answer is lost.
    pub fn answer_late_next(&self, api: Api, times: usize, millis: u64) {
        lock(&self.inner)
            .slow_answers
            .entry(api)
            .or_default()
            .extend(std::iter::repeat_n(millis, times));
    }

    pub fn calls(&self, api: Api) -> usize {
        lock(&self.inner).calls.get(&api).copied().unwrap_or(0)
    }

    /// Moves the fake's clock (code expiry).
    pub fn advance(&self, seconds: i64) {
        lock(&self.inner).offset += seconds;
    }

    /// Every issued token stops working (answers 40001), as after a forced refresh elsewhere.
    pub fn invalidate_tokens(&self) {
        let mut inner = lock(&self.inner);
        inner.tokens.clear();
        inner.current_token = None;
    }

    /// The current token answers 42001 (expired) from now on; a new one is issued next time.
    pub fn expire_current_token(&self) {
        let mut inner = lock(&self.inner);
        if let Some(token) = inner.current_token.take() {
            inner.tokens.remove(&token);
            inner.expired_tokens.push(token);
        }
    }

    /// What tapping "allow" on the consent popup gives the user at WeChat: credits.
    pub fn grant(&self, openid: &str, template_id: &str, credits: u32) {
        *lock(&self.inner)
            .credits
            .entry((openid.into(), template_id.into()))
            .or_default() += credits;
    }

    /// Subscribe messages WeChat accepted, in order.
    pub fn sent(&self) -> Vec<Value> {
        lock(&self.inner).sent.clone()
    }

    /// Texts the content check was asked about (`content`, `openid`, `scene`), in order.
    pub fn checked(&self) -> Vec<Value> {
        lock(&self.inner).checked.clone()
    }

    pub fn tokens_issued(&self) -> u64 {
        lock(&self.inner).issued
    }
}
