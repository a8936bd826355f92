//! Start-up helpers: the `bangban` server processes and their environment, fresh databases,
//! GraphQL requests, resident logins and the first county admin.
use std::{
    io::{BufRead, BufReader},
    process::{Child, Command, Stdio},
};

use anyhow::{Context, bail};
use futures_util::{StreamExt, stream};
use serde_json::{Value, json};

/// The password of the staff accounts the benchmarks create (the county admin and the agents).
pub(crate) const STAFF_PASSWORD: &str = "bench-staff-password";

// ---------------------------------------------------------------- server processes

/// A `bangban` server process, started from the binary beside this one.
pub(crate) struct Server {
    child: Child,
    pub(crate) url: String,
}

impl Server {
    pub(crate) fn start(env: &[(String, String)]) -> anyhow::Result<Self> {
        let binary = std::env::current_exe()?.with_file_name("bangban");
        let mut command = Command::new(&binary);
        command
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default());
        for (key, value) in env {
            command.env(key, value);
        }
        let mut child = command
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .with_context(|| format!("starting {}", binary.display()))?;
        let stdout = child.stdout.take().context("stdout")?;
        let mut line = String::new();
        BufReader::new(stdout).read_line(&mut line)?;
        let url = line
            .split_whitespace()
            .nth(3)
            .filter(|u| u.starts_with("http://"))
            .with_context(|| format!("unexpected start-up line {line:?}"))?
            .to_string();
        Ok(Self { child, url })
    }

    pub(crate) fn ws_url(&self) -> String {
        self.url.replacen("http://", "ws://", 1)
    }

    pub(crate) fn rss_kib(&self) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id()))
            .unwrap_or_default();
        status
            .lines()
            .find(|l| l.starts_with("VmRSS:"))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse().ok())
            .unwrap_or(0)
    }

    /// CPU seconds the server has used so far (all its threads), where `/proc` tells.
    pub(crate) fn cpu_seconds(&self) -> Option<f64> {
        process_cpu_seconds(&format!("/proc/{}/stat", self.child.id()))
    }

    pub(crate) fn stop(mut self) {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let _ = self.child.wait();
    }
}

/// Linux counts process times in ticks of 1/100 s (`USER_HZ`, fixed by its ABI).
const TICKS_PER_SECOND: f64 = 100.0;

/// A process's user and system CPU seconds from its `/proc/<pid>/stat`.
fn process_cpu_seconds(stat: &str) -> Option<f64> {
    let text = std::fs::read_to_string(stat).ok()?;
    // Fields after the command name, which is in parentheses and may hold spaces.
    let fields: Vec<&str> = text.rsplit_once(')')?.1.split_whitespace().collect();
    let user: f64 = fields.get(11)?.parse().ok()?;
    let system: f64 = fields.get(12)?.parse().ok()?;
    Some((user + system) / TICKS_PER_SECOND)
}

/// CPU seconds this load generator has used so far (all its threads), where `/proc` tells: it
/// shares the machine with the server, so what it spends parsing answers is not the server's.
pub(crate) fn own_cpu_seconds() -> Option<f64> {
    process_cpu_seconds("/proc/self/stat")
}

/// CPU seconds used so far by every PostgreSQL process on this machine (the benchmark's
/// server is the only busy one), where `/proc` tells.
pub(crate) fn postgres_cpu_seconds() -> Option<f64> {
    let mut total = None;
    for entry in std::fs::read_dir("/proc").ok()?.flatten() {
        let path = entry.path();
        let comm = std::fs::read_to_string(path.join("comm")).unwrap_or_default();
        if comm.trim() == "postgres"
            && let Some(seconds) = process_cpu_seconds(&path.join("stat").to_string_lossy())
        {
            total = Some(total.unwrap_or(0.0) + seconds);
        }
    }
    total
}

/// The environment of a benchmark server instance, `extra` added.
pub(crate) fn server_env(
    database: &str,
    redis: &str,
    data_dir: &std::path::Path,
    extra: &[(&str, &str)],
) -> Vec<(String, String)> {
    let mut env: Vec<(String, String)> = [
        ("BANGBAN_DATABASE_URL", database),
        ("BANGBAN_REDIS_URL", redis),
        ("BANGBAN_REDIS_KEY_PREFIX", "bench:"),
        ("BANGBAN_DATA_DIR", &data_dir.display().to_string()),
        ("BANGBAN_HTTP_PORT", "0"),
        ("BANGBAN_LOG_FILTER", "error"),
        ("BANGBAN_JOBS_ENABLED", "false"),
        ("BANGBAN_SEED_DEMO", "false"),
        ("BANGBAN_LIMITS_LOGIN_PER_IP_PER_MINUTE", "100000000"),
        ("BANGBAN_LIMITS_BIND_PHONE_PER_USER_PER_HOUR", "100000000"),
        ("BANGBAN_DATABASE_MAX_CONNECTIONS", "32"),
    ]
    .iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    env.extend(extra.iter().map(|(k, v)| (k.to_string(), v.to_string())));
    env
}

/// Creates an empty database on the PostgreSQL server of `server_url`; returns its URL.
pub(crate) async fn fresh_database(server_url: &str) -> anyhow::Result<String> {
    use sea_orm::ConnectionTrait;
    let name = format!("bench_{}", uuid::Uuid::new_v4().simple());
    let admin = sea_orm::Database::connect(server_url).await?;
    admin
        .execute_unprepared(&format!("CREATE DATABASE {name}"))
        .await?;
    admin.close().await?;
    let (base, _) = server_url
        .rsplit_once('/')
        .context("database URL has a path")?;
    Ok(format!("{base}/{name}"))
}

/// `VACUUM ANALYZE` of a benchmark database, between its setup and its timed reads: a table
/// just written holds dead row versions that autovacuum would reclaim in a server's steady
/// state (pgbench vacuums before it measures, for the same reason).
pub(crate) async fn vacuum(database_url: &str) -> anyhow::Result<()> {
    use sea_orm::ConnectionTrait;
    let db = sea_orm::Database::connect(database_url).await?;
    db.execute_unprepared("VACUUM ANALYZE").await?;
    db.close().await?;
    Ok(())
}

// ---------------------------------------------------------------- GraphQL helpers

/// The whole response body, errors included.
pub(crate) async fn graphql_body(
    client: &reqwest::Client,
    url: &str,
    token: Option<&str>,
    query: &str,
    variables: Value,
) -> anyhow::Result<Value> {
    let mut request = client
        .post(url)
        .json(&json!({"query": query, "variables": variables}));
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    Ok(request.send().await?.json().await?)
}

/// The `data` of a GraphQL response; an error if it has `errors`.
pub(crate) async fn graphql(
    client: &reqwest::Client,
    url: &str,
    token: Option<&str>,
    query: &str,
    variables: Value,
) -> anyhow::Result<Value> {
    let body = graphql_body(client, url, token, query, variables).await?;
    if body.get("errors").is_some() {
        bail!("GraphQL error: {body}");
    }
    Ok(body["data"].clone())
}

/// The request body of a query without variables, serialised once for many requests.
pub(crate) fn query_body(query: &str) -> String {
    json!({"query": query, "variables": {}}).to_string()
}

/// Sends a prepared query and checks its answer without building it: valid JSON with `data`
/// and no `errors` (the timed loops' check, light on a machine the server shares).
pub(crate) async fn graphql_checked(
    client: &reqwest::Client,
    url: &str,
    token: &str,
    body: String,
) -> anyhow::Result<()> {
    #[derive(serde::Deserialize)]
    struct Answer {
        data: Option<serde::de::IgnoredAny>,
        errors: Option<serde::de::IgnoredAny>,
    }
    let answer = client
        .post(url)
        .header(reqwest::header::CONTENT_TYPE, "application/json")
        .bearer_auth(token)
        .body(body)
        .send()
        .await?
        .bytes()
        .await?;
    match serde_json::from_slice::<Answer>(&answer)? {
        Answer {
            data: Some(_),
            errors: None,
        } => Ok(()),
        _ => bail!("GraphQL error: {}", String::from_utf8_lossy(&answer)),
    }
}

/// Logs in residents by WeChat login code (32 at a time); returns their access tokens.
pub(crate) async fn login_all(
    client: &reqwest::Client,
    url: &str,
    codes: Vec<String>,
) -> anyhow::Result<Vec<String>> {
    let results: Vec<anyhow::Result<String>> = stream::iter(codes)
        .map(|code| async move {
            let data = graphql(
                client,
                url,
                None,
                "mutation($c: String!) { loginWithWechat(code: $c) { accessToken } }",
                json!({"c": code}),
            )
            .await?;
            Ok(data["loginWithWechat"]["accessToken"]
                .as_str()
                .context("token")?
                .to_string())
        })
        .buffered(32)
        .collect()
        .await;
    results.into_iter().collect()
}

// ---------------------------------------------------------------- operator commands

/// Sets `key` in a server environment, replacing an earlier value.
pub(crate) fn set_env(env: &mut Vec<(String, String)>, key: &str, value: &str) {
    env.retain(|(k, _)| k != key);
    env.push((key.to_string(), value.to_string()));
}

/// The first county admin, made with `bangban create-staff` as an operator would.
pub(crate) fn create_admin(env: &[(String, String)], username: &str) -> anyhow::Result<()> {
    let binary = std::env::current_exe()?.with_file_name("bangban");
    let mut command = Command::new(&binary);
    command
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default());
    for (key, value) in env {
        command.env(key, value);
    }
    let output = command
        .env("BANGBAN_STAFF_PASSWORD", STAFF_PASSWORD)
        .args([
            "create-staff",
            "--username",
            username,
            "--display-name",
            "压测管理员",
            "--role",
            "county_admin",
        ])
        .stdin(Stdio::null())
        .output()
        .with_context(|| format!("running {} create-staff", binary.display()))?;
    if !output.status.success() {
        bail!(
            "create-staff failed: {}",
            String::from_utf8_lossy(&output.stderr).trim()
        );
    }
    Ok(())
}
