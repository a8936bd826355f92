//! The booking desk through the worst moments of its database and its own process, on
//! PostgreSQL + Redis: PostgreSQL restarted while a booking storm runs, and the server killed
//! with SIGKILL mid-storm. Afterwards nothing is half-written: every answered booking exists,
//! every booking has its ledger entry and its event, and each slot counts exactly the seats held.
use std::{
    io::{BufRead, BufReader},
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    sync::{
        Arc,
        atomic::{AtomicBool, AtomicUsize, Ordering},
    },
    time::{Duration, Instant},
};

use reqwest::StatusCode;
use sea_orm::{ConnectionTrait, DatabaseConnection, Statement};
use serde_json::{Value, json};

use crate::{
    booking::{BOOK, Desk, desk_on},
    events::free_port,
    helpers::{Backend, Options, Session, TestApp, postgres_backend},
};

const CANCEL: &str = "mutation($id: ID!) { cancelBooking(id: $id) { status } }";

fn running_as_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
}

/// A PostgreSQL of the test's own, to stop and start without disturbing other tests.
struct OwnPostgres {
    port: u16,
    dir: PathBuf,
    bin: PathBuf,
}

impl OwnPostgres {
    fn start() -> Self {
        let bin = std::fs::read_dir("/usr/lib/postgresql")
            .expect("PostgreSQL is installed under /usr/lib/postgresql")
            .filter_map(|e| e.ok().map(|e| e.path().join("bin")))
            .filter(|p| p.join("initdb").exists())
            .max()
            .expect("a PostgreSQL with initdb");
        let dir =
            std::env::temp_dir().join(format!("bangban-pg-{}", uuid::Uuid::new_v4().simple()));
        std::fs::create_dir_all(&dir).unwrap();
        let pg = Self {
            port: free_port(),
            dir,
            bin,
        };
        if running_as_root() {
            assert!(
                Command::new("chown")
                    .arg("postgres:postgres")
                    .arg(&pg.dir)
                    .status()
                    .unwrap()
                    .success()
            );
        }
        let data = pg.dir.join("data");
        let initdb = pg.run("initdb", |c| {
            c.arg("-D").arg(&data).args([
                "-U",
                "postgres",
                "-A",
                "trust",
                "--no-sync",
                "-E",
                "UTF8",
                "--locale=C.UTF-8",
            ]);
        });
        assert!(initdb, "initdb");
        pg.up();
        pg
    }

    fn run(&self, tool: &str, args: impl FnOnce(&mut Command)) -> bool {
        let mut command = if running_as_root() {
            let mut c = Command::new("runuser");
            c.args(["-u", "postgres", "--"]).arg(self.bin.join(tool));
            c
        } else {
            Command::new(self.bin.join(tool))
        };
        args(&mut command);
        command
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    }

    fn up(&self) {
        let options = format!(
            "-c listen_addresses=127.0.0.1 -p {} -k {} -c fsync=off -c max_connections=100",
            self.port,
            self.dir.display()
        );
        let started = self.run("pg_ctl", |c| {
            c.arg("-D")
                .arg(self.dir.join("data"))
                .arg("-l")
                .arg(self.dir.join("pg.log"))
                .args(["-w", "-o", &options, "start"]);
        });
        assert!(started, "pg_ctl start");
    }

    /// Stops the server as an operator restarting it would (`fast`: sessions are ended).
    fn down(&self) {
        let stopped = self.run("pg_ctl", |c| {
            c.arg("-D")
                .arg(self.dir.join("data"))
                .args(["-m", "fast", "-w", "stop"]);
        });
        assert!(stopped, "pg_ctl stop");
    }

    fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }
}

impl Drop for OwnPostgres {
    fn drop(&mut self) {
        let data = self.dir.join("data");
        self.run("pg_ctl", |c| {
            c.arg("-D").arg(&data).args(["-m", "immediate", "stop"]);
        });
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// One GraphQL request to `base` (an instance's address); `Err` when no answer came.
async fn post(
    http: &reqwest::Client,
    base: &str,
    token: &str,
    query: &str,
    variables: Value,
) -> Result<(StatusCode, Value), String> {
    let response = http
        .post(format!("http://{base}/graphql"))
        .bearer_auth(token)
        .json(&json!({"query": query, "variables": variables}))
        .send()
        .await
        .map_err(|e| e.to_string())?;
    let status = response.status();
    let body = response.text().await.map_err(|e| e.to_string())?;
    Ok((
        status,
        serde_json::from_str(&body).unwrap_or(json!({"raw": body})),
    ))
}

/// What the storm saw.
#[derive(Default)]
struct Seen {
    /// Bookings answered as made, by id.
    booked: Vec<String>,
    /// Bookings answered as cancelled, by id.
    cancelled: Vec<String>,
    /// Every error code, with how it arrived.
    codes: Vec<String>,
    /// Requests that got no answer (connection refused or reset, or a timeout).
    unanswered: Vec<String>,
    /// The slowest answer.
    slowest: Duration,
}

/// Residents book and cancel in a loop against `target()` until `stop` is set.
async fn storm(
    desk: &Desk,
    residents: &[Session],
    slots: &[String],
    target: Arc<std::sync::Mutex<String>>,
    stop: Arc<AtomicBool>,
    answers: Arc<AtomicUsize>,
) -> Seen {
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(25))
        .build()
        .unwrap();
    let runs = residents.iter().enumerate().map(|(n, resident)| {
        let http = http.clone();
        let stop = stop.clone();
        let target = target.clone();
        let answers = answers.clone();
        let slot = slots[n % slots.len()].clone();
        async move {
            let mut seen = Seen::default();
            let mut round = 0;
            while !stop.load(Ordering::SeqCst) {
                round += 1;
                let base = target.lock().unwrap().clone();
                let started = Instant::now();
                let input = desk.input(&slot, &format!("storm-{n}-{round}"));
                let booked = post(&http, &base, &resident.access, BOOK, input).await;
                seen.slowest = seen.slowest.max(started.elapsed());
                let id = match record(&mut seen, booked, "bookAppointment") {
                    Some(data) => data["id"].as_str().unwrap().to_string(),
                    None => {
                        tokio::time::sleep(Duration::from_millis(20)).await;
                        continue;
                    }
                };
                answers.fetch_add(1, Ordering::SeqCst);
                seen.booked.push(id.clone());
                let started = Instant::now();
                let cancelled =
                    post(&http, &base, &resident.access, CANCEL, json!({"id": id})).await;
                seen.slowest = seen.slowest.max(started.elapsed());
                if record(&mut seen, cancelled, "cancelBooking").is_some() {
                    seen.cancelled.push(id);
                }
            }
            seen
        }
    });
    let mut all = Seen::default();
    for seen in futures_util::future::join_all(runs).await {
        all.booked.extend(seen.booked);
        all.cancelled.extend(seen.cancelled);
        all.codes.extend(seen.codes);
        all.unanswered.extend(seen.unanswered);
        all.slowest = all.slowest.max(seen.slowest);
    }
    all
}

/// The last failure any storm saw, for a test that waits on the storm to say why it waited.
static LAST_FAILURE: std::sync::Mutex<String> = std::sync::Mutex::new(String::new());

/// Waits until `counter` reaches `target`, at most `limit`.
async fn wait_for(counter: &AtomicUsize, target: usize, limit: Duration, what: &str) {
    let since = Instant::now();
    while counter.load(Ordering::SeqCst) < target {
        assert!(
            since.elapsed() < limit,
            "{what}: {} of {target} after {limit:?}; last failure: {}",
            counter.load(Ordering::SeqCst),
            LAST_FAILURE.lock().unwrap()
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// The field's data when the request succeeded; otherwise notes how it failed.
fn record(
    seen: &mut Seen,
    answer: Result<(StatusCode, Value), String>,
    field: &str,
) -> Option<Value> {
    match answer {
        Err(error) => {
            *LAST_FAILURE.lock().unwrap() = error.clone();
            seen.unanswered.push(error);
            None
        }
        Ok((status, body)) => {
            if let Some(data) = body["data"][field].as_object() {
                return Some(Value::Object(data.clone()));
            }
            let code = body["errors"][0]["extensions"]["code"]
                .as_str()
                .or(body["code"].as_str())
                .unwrap_or("NO CODE")
                .to_string();
            let failure = format!("{status} {code} {body}");
            *LAST_FAILURE.lock().unwrap() = failure.clone();
            seen.codes.push(failure);
            None
        }
    }
}

async fn scalar(db: &DatabaseConnection, sql: &str) -> i64 {
    let row = db
        .query_one_raw(Statement::from_string(db.get_database_backend(), sql))
        .await
        .unwrap()
        .unwrap();
    row.try_get_by_index::<i64>(0).unwrap()
}

/// Nothing half-written: every answered booking exists (cancelled if answered so), every
/// booking has its ledger entry and its event, and every slot counts exactly the seats held.
async fn assert_whole(db: &DatabaseConnection, seen: &Seen) {
    let backend = db.get_database_backend();
    for id in &seen.booked {
        let status = db
            .query_one_raw(Statement::from_string(
                backend,
                format!("SELECT status FROM bookings WHERE id = '{id}'"),
            ))
            .await
            .unwrap()
            .unwrap_or_else(|| panic!("answered booking {id} is missing"))
            .try_get_by_index::<String>(0)
            .unwrap();
        if seen.cancelled.contains(id) {
            assert_eq!(
                status, "cancelled",
                "booking {id} was answered as cancelled"
            );
        }
    }
    let no_ledger = scalar(
        db,
        "SELECT COUNT(*) FROM bookings b WHERE NOT EXISTS \
         (SELECT 1 FROM ledger_entries l WHERE l.booking_id = b.id AND l.outcome = 'booked')",
    )
    .await;
    assert_eq!(no_ledger, 0, "bookings without their ledger entry");
    let no_event = scalar(
        db,
        "SELECT COUNT(*) FROM bookings b WHERE NOT EXISTS (SELECT 1 FROM events e WHERE \
         e.subject_id = CAST(b.id AS TEXT) AND e.kind = 'booking.created')",
    )
    .await;
    assert_eq!(no_event, 0, "bookings without their event");
    let cancelled_without_event = scalar(
        db,
        "SELECT COUNT(*) FROM bookings b WHERE b.status = 'cancelled' AND NOT EXISTS (SELECT 1 \
         FROM events e WHERE e.subject_id = CAST(b.id AS TEXT) AND e.kind = 'booking.cancelled')",
    )
    .await;
    assert_eq!(
        cancelled_without_event, 0,
        "cancellations without their event"
    );
    let miscounted = scalar(
        db,
        "SELECT COUNT(*) FROM slots s WHERE s.booked <> \
         (SELECT COUNT(*) FROM bookings b WHERE b.slot_id = s.id AND b.open_marker = 1) + \
         (SELECT COUNT(*) FROM waitlist_entries w WHERE w.slot_id = s.id AND w.status = 'offered')",
    )
    .await;
    assert_eq!(
        miscounted, 0,
        "slots whose count differs from the seats held"
    );
}

/// The desk on a backend of the test's choosing: `database_url` and the suite's Redis.
async fn desk_at(database_url: String, redis_url: String) -> Desk {
    let backend = Backend {
        data_dir: std::env::temp_dir()
            .join(format!("bangban-test-{}", uuid::Uuid::new_v4().simple())),
        database_url: Some(database_url),
        redis_url: Some(redis_url),
        redis_prefix: format!("test:{}:", uuid::Uuid::new_v4().simple()),
    };
    let app = TestApp::spawn_with(Options {
        demo: true,
        sibling_of: Some(backend),
        ..Options::default()
    })
    .await;
    desk_on(app, 4).await
}

async fn residents_and_slots(desk: &Desk, count: usize) -> (Vec<Session>, Vec<String>) {
    let mut residents = Vec::new();
    for n in 0..count {
        residents.push(desk.app.login_resident(&format!("storm-{n}")).await);
    }
    let (_, slots) = desk.next_day_slots().await;
    let slots = slots
        .iter()
        .take(6)
        .map(|s| s["id"].as_str().unwrap().to_string())
        .collect();
    (residents, slots)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(
    not(backend_postgres),
    ignore = "needs the production pair: run with BANGBAN_TEST_BACKEND=postgres"
)]
async fn postgres_restarted_under_a_booking_storm_answers_retryable_codes_and_recovers() {
    let (_, redis) = postgres_backend().expect("PostgreSQL + Redis");
    let pg = OwnPostgres::start();
    let desk = desk_at(pg.url(), redis).await;
    let (residents, slots) = residents_and_slots(&desk, 24).await;
    let stop = Arc::new(AtomicBool::new(false));
    let answers = Arc::new(AtomicUsize::new(0));
    let target = Arc::new(std::sync::Mutex::new(desk.app.address.clone()));
    let storming = storm(
        &desk,
        &residents,
        &slots,
        target,
        stop.clone(),
        answers.clone(),
    );
    let outage = async {
        wait_for(
            &answers,
            20,
            Duration::from_secs(30),
            "bookings before the outage",
        )
        .await;
        let before = answers.load(Ordering::SeqCst);
        pg.down();
        tokio::time::sleep(Duration::from_secs(2)).await;
        pg.up();
        // The server recovers by itself: bookings succeed again without a restart.
        let back = Instant::now();
        while answers.load(Ordering::SeqCst) < before + 20 {
            assert!(
                back.elapsed() < Duration::from_secs(30),
                "no booking succeeded within 30 s of PostgreSQL coming back"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        stop.store(true, Ordering::SeqCst);
    };
    let (seen, ()) = tokio::join!(storming, outage);
    assert!(
        seen.unanswered.is_empty(),
        "every request is answered: {:?}",
        seen.unanswered
    );
    assert!(
        seen.slowest < Duration::from_secs(20),
        "no request hangs: the slowest took {:?}",
        seen.slowest
    );
    for code in &seen.codes {
        assert!(
            !code.contains("INTERNAL_SERVER_ERROR") && !code.contains("NO CODE"),
            "an outage answers with a retryable code, not internal text: {code}"
        );
    }
    let unavailable = seen
        .codes
        .iter()
        .filter(|c| c.contains("SERVICE_UNAVAILABLE"))
        .count();
    // The outage was felt: requests caught in it were refused with the code, or waited for
    // the database to come back (which of the two depends on where each one was).
    assert!(
        unavailable > 0 || seen.slowest >= Duration::from_secs(1),
        "the outage was felt: slowest {:?}, codes {:?}",
        seen.slowest,
        seen.codes
    );
    eprintln!(
        "restart under storm: {} booked, {} cancelled, {} SERVICE_UNAVAILABLE, slowest {:?}",
        seen.booked.len(),
        seen.cancelled.len(),
        unavailable,
        seen.slowest
    );
    for code in seen
        .codes
        .iter()
        .filter(|c| c.contains("SERVICE_UNAVAILABLE"))
    {
        assert!(code.starts_with("200") || code.starts_with("503"), "{code}");
    }
    assert_whole(&desk.app.state.db, &seen).await;
}

/// A server process of the kill test: it prints its port and serves until killed.
struct ServerProcess {
    child: Child,
    address: String,
}

impl ServerProcess {
    fn start(backend: &Backend) -> Self {
        let config = json!({
            "dataDir": backend.data_dir,
            "databaseUrl": backend.database_url,
            "redisUrl": backend.redis_url,
            "redisPrefix": backend.redis_prefix,
        });
        let mut child = Command::new(std::env::current_exe().unwrap())
            .args([
                "--exact",
                "outages::server_process_of_the_kill_test",
                "--ignored",
                "--nocapture",
                "--test-threads=1",
            ])
            .env(CHILD_CONFIG, config.to_string())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let mut lines = BufReader::new(stdout).lines();
        let address = loop {
            let line = lines
                .next()
                .expect("the server process prints its address")
                .unwrap();
            // The test harness may print the test's name on the same line first.
            if let Some((_, address)) = line.split_once("LISTENING ") {
                break address.trim().to_string();
            }
        };
        // Keep reading so the child never blocks on a full pipe.
        std::thread::spawn(move || for _ in lines {});
        Self { child, address }
    }

    fn kill(mut self) {
        // SIGKILL: no shutdown, no flush, no goodbye.
        self.child.kill().unwrap();
        self.child.wait().unwrap();
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

const CHILD_CONFIG: &str = "BANGBAN_KILL_TEST_SERVER";

#[tokio::test]
#[ignore = "the server process that the SIGKILL test starts and kills; run only by that test"]
async fn server_process_of_the_kill_test() {
    let Ok(config) = std::env::var(CHILD_CONFIG) else {
        return;
    };
    let config: Value = serde_json::from_str(&config).unwrap();
    let mut settings = bangban_server::config::Settings {
        data_dir: Path::new(config["dataDir"].as_str().unwrap()).to_path_buf(),
        ..Default::default()
    };
    settings.http.port = 0;
    settings.seed_demo = Some(false);
    settings.jobs.enabled = false;
    settings.events.relay_poll_ms = 200;
    settings.database.url = config["databaseUrl"]
        .as_str()
        .map(bangban_server::config::Secret::new);
    settings.redis.url = config["redisUrl"]
        .as_str()
        .map(bangban_server::config::Secret::new);
    settings.redis.key_prefix = config["redisPrefix"].as_str().unwrap().to_string();
    let app =
        bangban_server::Application::build(settings, Arc::new(bangban_server::clock::SystemClock))
            .await
            .unwrap();
    println!("LISTENING 127.0.0.1:{}", app.port());
    app.run_until(std::future::pending()).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(
    not(backend_postgres),
    ignore = "needs the production pair: run with BANGBAN_TEST_BACKEND=postgres"
)]
async fn a_server_killed_mid_storm_leaves_every_answered_booking_whole() {
    let (server, redis) = postgres_backend().expect("PostgreSQL + Redis");
    let desk = desk_at(
        crate::helpers::fresh_postgres_database(&server).await,
        redis,
    )
    .await;
    let (residents, slots) = residents_and_slots(&desk, 24).await;
    let process = ServerProcess::start(&desk.app.backend);
    let stop = Arc::new(AtomicBool::new(false));
    let answers = Arc::new(AtomicUsize::new(0));
    let target = Arc::new(std::sync::Mutex::new(process.address.clone()));
    let storming = storm(
        &desk,
        &residents,
        &slots,
        target.clone(),
        stop.clone(),
        answers.clone(),
    );
    let killing = async {
        wait_for(
            &answers,
            40,
            Duration::from_secs(30),
            "bookings before the kill",
        )
        .await;
        process.kill();
        // The storm goes on against the dead address for a moment, then stops.
        tokio::time::sleep(Duration::from_millis(300)).await;
        stop.store(true, Ordering::SeqCst);
    };
    let (before, ()) = tokio::join!(storming, killing);
    eprintln!(
        "kill mid-storm: {} booked and {} cancelled before the kill, {} requests cut off",
        before.booked.len(),
        before.cancelled.len(),
        before.unanswered.len()
    );
    assert!(
        !before.unanswered.is_empty(),
        "the kill cut requests off mid-flight"
    );
    // Restarted, the server serves again, and the writes that were cut off are whole or absent.
    let restarted = ServerProcess::start(&desk.app.backend);
    *target.lock().unwrap() = restarted.address.clone();
    stop.store(false, Ordering::SeqCst);
    let after_answers = Arc::new(AtomicUsize::new(0));
    let storming = storm(
        &desk,
        &residents,
        &slots,
        target,
        stop.clone(),
        after_answers.clone(),
    );
    let enough = async {
        wait_for(
            &after_answers,
            10,
            Duration::from_secs(30),
            "the restarted server books",
        )
        .await;
        stop.store(true, Ordering::SeqCst);
    };
    let (after, ()) = tokio::join!(storming, enough);
    let mut seen = before;
    seen.booked.extend(after.booked);
    seen.cancelled.extend(after.cancelled);
    for code in seen.codes.iter().chain(after.codes.iter()) {
        assert!(!code.contains("INTERNAL_SERVER_ERROR"), "{code}");
    }
    assert_whole(&desk.app.state.db, &seen).await;
    // Every event the killed process committed is positioned and published in the end.
    let db = &desk.app.state.db;
    let since = Instant::now();
    loop {
        let unpublished = scalar(
            db,
            "SELECT COUNT(*) FROM events e WHERE e.position IS NULL OR e.position > \
             (SELECT published_position FROM event_head)",
        )
        .await;
        if unpublished == 0 {
            break;
        }
        assert!(
            since.elapsed() < Duration::from_secs(20),
            "{unpublished} events never published"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    restarted.kill();
}
