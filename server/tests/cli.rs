//! The binary's operator commands and its logs: `create-staff` and `audit-verify` (which names a
//! tampered row), and no personal data in the logs of a server handling it.
use std::{
    io::{BufRead, BufReader, Read},
    process::{Command, Stdio},
    time::Duration,
};

fn bangban(data_dir: &std::path::Path) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_bangban"));
    command
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("BANGBAN_DATA_DIR", data_dir)
        .env("BANGBAN_LOG_FILTER", "debug");
    command
}

fn temp_dir(tag: &str) -> std::path::PathBuf {
    std::env::temp_dir().join(format!("bangban-{tag}-{}", uuid::Uuid::new_v4().simple()))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn audit_verify_passes_an_intact_log_and_names_a_tampered_row() {
    let dir = temp_dir("audit");
    let seeded = bangban(&dir).arg("seed-demo").output().unwrap();
    assert!(
        seeded.status.success(),
        "{}",
        String::from_utf8_lossy(&seeded.stderr)
    );
    for name in ["county.admin", "county.agent"] {
        let created = bangban(&dir)
            .args([
                "create-staff",
                "--username",
                name,
                "--display-name",
                "管理员",
                "--role",
                "county_admin",
            ])
            .env("BANGBAN_STAFF_PASSWORD", "a-long-initial-password")
            .output()
            .unwrap();
        assert!(
            created.status.success(),
            "{}",
            String::from_utf8_lossy(&created.stderr)
        );
    }
    let intact = bangban(&dir).arg("audit-verify").output().unwrap();
    assert!(intact.status.success());
    assert!(String::from_utf8_lossy(&intact.stdout).contains("intact: 2 rows checked"));

    let db = sea_orm::Database::connect(format!(
        "sqlite:{}?mode=rw",
        dir.join("bangban.db").display()
    ))
    .await
    .unwrap();
    use sea_orm::ConnectionTrait;
    db.execute_unprepared("UPDATE audit_log SET action = 'staff.delete' WHERE seq = 2")
        .await
        .unwrap();
    db.close().await.unwrap();
    let broken = bangban(&dir).arg("audit-verify").output().unwrap();
    assert_eq!(broken.status.code(), Some(1));
    let out = String::from_utf8_lossy(&broken.stdout);
    assert!(out.contains("BROKEN at row 2"), "{out}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn personal_data_never_reaches_the_logs() {
    let dir = temp_dir("logs");
    const PHONE: &str = "13900000077";
    // A generated, checksum-valid ID number (not a real person's).
    let body = "140521199001010771";
    let id_number = {
        let first17 = &body.as_bytes()[..17];
        let check = bangban_server::pii::id_check_char(first17).unwrap();
        format!("{}{}", &body[..17], char::from(check))
    };
    let created = bangban(&dir)
        .args([
            "create-staff",
            "--username",
            "county.admin",
            "--display-name",
            "管理员",
            "--role",
            "county_admin",
        ])
        .env("BANGBAN_STAFF_PASSWORD", "a-long-initial-password")
        .env("BANGBAN_SEED_DEMO", "true")
        .output()
        .unwrap_or_else(|e| panic!("{e}"));
    // create-staff needs a county: seed first, then create.
    if !created.status.success() {
        assert!(bangban(&dir).arg("seed-demo").status().unwrap().success());
        let again = bangban(&dir)
            .args([
                "create-staff",
                "--username",
                "county.admin",
                "--display-name",
                "管理员",
                "--role",
                "county_admin",
            ])
            .env("BANGBAN_STAFF_PASSWORD", "a-long-initial-password")
            .output()
            .unwrap();
        assert!(
            again.status.success(),
            "{}",
            String::from_utf8_lossy(&again.stderr)
        );
    }
    let mut child = bangban(&dir)
        .env("BANGBAN_HTTP_PORT", "0")
        .env("BANGBAN_LOG_FORMAT", "json")
        .env("RUST_LOG", "trace")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let mut stderr = child.stderr.take().unwrap();
    let logs = std::thread::spawn(move || {
        let mut text = String::new();
        let _ = stderr.read_to_string(&mut text);
        text
    });
    let line = tokio::task::spawn_blocking(move || {
        let mut line = String::new();
        BufReader::new(stdout).read_line(&mut line).unwrap();
        line
    })
    .await
    .unwrap();
    let url = line.split_whitespace().nth(3).unwrap().to_string();
    let client = reqwest::Client::new();
    let call = |query: String, token: Option<String>| {
        let client = client.clone();
        let url = url.clone();
        async move {
            let mut request = client.post(&url).json(&serde_json::json!({"query": query}));
            if let Some(token) = token {
                request = request.bearer_auth(token);
            }
            request
                .send()
                .await
                .unwrap()
                .json::<serde_json::Value>()
                .await
                .unwrap()
        }
    };
    let login = call(
        "mutation { loginStaff(username: \"county.admin\", password: \"a-long-initial-password\") { accessToken } }".into(),
        None,
    )
    .await;
    let token = login["data"]["loginStaff"]["accessToken"]
        .as_str()
        .unwrap()
        .to_string();
    let regions = call("{ regions(level: VILLAGE) { id } }".into(), None).await;
    let village = regions["data"]["regions"][0]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let created = call(
        format!("mutation {{ createStaff(input: {{username: \"pii.agent\", displayName: \"钱七\", password: \"initial-password-1\", role: VILLAGE_AGENT, regionId: \"{village}\", idNumber: \"{id_number}\", phone: \"{PHONE}\"}}) {{ id }} }}"),
        Some(token.clone()),
    )
    .await;
    let staff_id = created["data"]["createStaff"]["id"]
        .as_str()
        .unwrap()
        .to_string();
    // Bad input that carries personal data must not be echoed into the logs either.
    call(format!("mutation {{ createStaff(input: {{username: \"bad\", displayName: \"x\", password: \"initial-password-1\", role: VILLAGE_AGENT, regionId: \"{village}\", idNumber: \"{}0\", phone: \"{PHONE}\"}}) {{ id }} }}", &id_number[..17]), Some(token.clone())).await;
    let revealed = call(
        format!("mutation {{ revealStaffPersonalData(staffId: \"{staff_id}\", field: ID_NUMBER, reason: \"核对\") }}"),
        Some(token.clone()),
    )
    .await;
    assert_eq!(
        revealed["data"]["revealStaffPersonalData"],
        id_number.as_str()
    );
    let resident = call(
        "mutation { loginWithWechat(code: \"log-test\") { accessToken } }".into(),
        None,
    )
    .await;
    let resident_token = resident["data"]["loginWithWechat"]["accessToken"]
        .as_str()
        .unwrap()
        .to_string();
    call(
        format!("mutation {{ bindPhone(code: \"{PHONE}\") {{ phone }} }}"),
        Some(resident_token),
    )
    .await;

    std::process::Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    let _ = tokio::time::timeout(
        Duration::from_secs(10),
        tokio::task::spawn_blocking(move || child.wait()),
    )
    .await;
    let logs = logs.join().unwrap();
    assert!(
        logs.contains("request"),
        "the logs were captured: {}",
        &logs[..logs.len().min(500)]
    );
    assert!(!logs.contains(PHONE), "a phone number reached the logs");
    assert!(!logs.contains(&id_number), "an ID number reached the logs");
    assert!(
        !logs.contains(&id_number[..17]),
        "part of an ID number reached the logs"
    );
    let _ = std::fs::remove_dir_all(&dir);
}
