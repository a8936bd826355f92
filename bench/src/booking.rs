//! Booking scenarios on one server with the demo county: the flash crowd (every resident at once
//! on one slot) and the spread (bookings over many slots), each checked in the database and set
//! beside the raw seat transaction (`booking_baseline`).
use std::{
    collections::{BTreeMap, HashSet},
    sync::atomic::{AtomicUsize, Ordering},
    time::{Duration, Instant},
};

use anyhow::{Context, bail};
use futures_util::{StreamExt, stream};
use serde_json::{Value, json};

use crate::{
    args::Args,
    booking_baseline::{Baseline, HOT_ROW_CONNECTIONS, seat_sql_baseline},
    server::{
        STAFF_PASSWORD, Server, create_admin, fresh_database, graphql, graphql_body, login_all,
        server_env, set_env,
    },
};

const BOOK: &str =
    "mutation($input: BookAppointmentInput!) { bookAppointment(input: $input) { id } }";
/// How far ahead the benchmark's points take bookings (their policy's window, in days).
const WINDOW_DAYS: i64 = 30;

/// Today in China (UTC+8 all year).
fn china_today() -> chrono::NaiveDate {
    (chrono::Utc::now() + chrono::Duration::hours(8)).date_naive()
}

/// `agents × seats per agent = seats`, with at most 20 seats per agent (the policy's limit).
fn staffing(seats: usize) -> (usize, usize) {
    let agents = (seats.div_ceil(20).max(1)..=seats.max(1))
        .find(|a| seats.is_multiple_of(*a))
        .unwrap_or(seats.max(1));
    (agents, seats / agents)
}

/// A booking server on the demo county, its county admin and logged-in residents.
struct Desk {
    url: String,
    database: String,
    client: reqwest::Client,
    admin: String,
    /// A catalogue item handled at township level.
    item: String,
    residents: Vec<String>,
}

/// A township centre: (service point id, township region id).
type Point = (String, String);

/// Puts agents on duty at a township centre so that each slot has `seats` seats (capacity =
/// on-duty agents × seats per agent) and returns the ids of its slots that stay bookable for the
/// whole run (starting 3 h from now or later, inside the booking window).
async fn open_point(
    desk: &Desk,
    point: &Point,
    tag: &str,
    seats: usize,
) -> anyhow::Result<Vec<String>> {
    let (agents, per_agent) = staffing(seats);
    for n in 0..agents {
        let input = json!({"input": {"username": format!("bench.{tag}.{n}"), "displayName": format!("窗口{n}"),
            "password": STAFF_PASSWORD, "role": "TOWNSHIP_AGENT", "regionId": point.1, "servicePointId": point.0}});
        graphql(
            &desk.client,
            &desk.url,
            Some(&desk.admin),
            "mutation($input: CreateStaffInput!) { createStaff(input: $input) { id } }",
            input,
        )
        .await?;
    }
    let policy = json!({"p": point.0, "input": {"slotMinutes": 30, "seatsPerAgent": per_agent, "windowDays": WINDOW_DAYS,
        "minNoticeMinutes": 60, "cancelCutoffMinutes": 120, "maxOpenBookings": 20}});
    graphql(
        &desk.client,
        &desk.url,
        Some(&desk.admin),
        "mutation($p: ID!, $input: BookingPolicyInput!) { setBookingPolicy(servicePointId: $p, input: $input) { seatsPerAgent } }",
        policy,
    )
    .await?;
    let today = china_today();
    let data = graphql(
        &desk.client,
        &desk.url,
        None,
        "query($p: ID!, $from: NaiveDate!, $to: NaiveDate!) { availableSlots(servicePointId: $p, from: $from, to: $to) { id startsAt remaining } }",
        json!({"p": point.0, "from": today.to_string(), "to": (today + chrono::Duration::days(WINDOW_DAYS)).to_string()}),
    )
    .await?;
    let earliest = chrono::Utc::now() + chrono::Duration::hours(3);
    let mut slots = Vec::new();
    for slot in data["availableSlots"]
        .as_array()
        .context("availableSlots")?
    {
        let starts =
            chrono::DateTime::parse_from_rfc3339(slot["startsAt"].as_str().unwrap_or_default())?;
        if starts.with_timezone(&chrono::Utc) < earliest {
            continue;
        }
        if slot["remaining"].as_u64() != Some(seats as u64) {
            bail!("slot {slot} should have {seats} seats ({agents} agents × {per_agent})");
        }
        slots.push(slot["id"].as_str().context("slot id")?.to_string());
    }
    Ok(slots)
}

/// Opens the clients' connections before the clock starts (the residents have the app open).
async fn warm_up(desk: &Desk, clients: usize) -> anyhow::Result<()> {
    let answers: Vec<anyhow::Result<Value>> = stream::iter(desk.residents.iter().take(clients))
        .map(|token| {
            graphql(
                &desk.client,
                &desk.url,
                Some(token),
                "{ __typename }",
                json!({}),
            )
        })
        .buffer_unordered(clients)
        .collect()
        .await;
    answers.into_iter().try_for_each(|a| a.map(drop))
}

/// A booking attempt's answer: the booking id, or the error code and message.
type Outcome = Result<String, (String, String)>;

/// One `bookAppointment`: its latency in ms and its answer.
async fn attempt(client: &reqwest::Client, url: &str, token: &str, input: Value) -> (f64, Outcome) {
    let began = Instant::now();
    let outcome = match graphql_body(client, url, Some(token), BOOK, input).await {
        Ok(body) => match body["data"]["bookAppointment"]["id"].as_str() {
            Some(id) => Ok(id.to_string()),
            None => {
                let error = &body["errors"][0];
                Err((
                    error["extensions"]["code"]
                        .as_str()
                        .unwrap_or("NO_CODE")
                        .to_string(),
                    error["message"].as_str().unwrap_or_default().to_string(),
                ))
            }
        },
        Err(error) => Err(("TRANSPORT".to_string(), error.to_string())),
    };
    (began.elapsed().as_secs_f64() * 1000.0, outcome)
}

/// The answers of a run of booking attempts.
#[derive(Default)]
pub(crate) struct Tally {
    /// Sorted once the run is over.
    pub(crate) latencies_ms: Vec<f64>,
    pub(crate) booked: Vec<String>,
    /// Refusals by error code, with the first message seen.
    refused: BTreeMap<String, (usize, String)>,
}

impl Tally {
    fn of(answers: impl IntoIterator<Item = (f64, Outcome)>) -> Self {
        let mut tally = Self::default();
        for (ms, outcome) in answers {
            tally.latencies_ms.push(ms);
            match outcome {
                Ok(id) => tally.booked.push(id),
                Err((code, message)) => tally.refused.entry(code).or_insert((0, message)).0 += 1,
            }
        }
        tally.latencies_ms.sort_by(|a, b| a.total_cmp(b));
        tally
    }

    pub(crate) fn attempts(&self) -> usize {
        self.latencies_ms.len()
    }

    pub(crate) fn refused(&self, code: &str) -> usize {
        self.refused.get(code).map_or(0, |(n, _)| *n)
    }

    /// Refusals other than `expected`: their number and `CODE ×n` (or "none"); the first
    /// message of each goes to stderr.
    pub(crate) fn failures(&self, scenario: &str, expected: &[&str]) -> (usize, String) {
        let others: Vec<_> = self
            .refused
            .iter()
            .filter(|(code, _)| !expected.contains(&code.as_str()))
            .collect();
        for (code, (_, message)) in &others {
            eprintln!("{scenario}: {code}: {message}");
        }
        let count = others.iter().map(|(_, (n, _))| n).sum();
        let list = others
            .iter()
            .map(|(code, (n, _))| format!("{code} ×{n}"))
            .collect::<Vec<_>>()
            .join(", ");
        (count, if list.is_empty() { "none".into() } else { list })
    }
}

/// The flash crowd's figures and checks.
pub(crate) struct Flash {
    pub(crate) residents: usize,
    pub(crate) seats: usize,
    pub(crate) per_second: f64,
    pub(crate) tally: Tally,
    /// From the database: rows in `bookings` for the slot, their distinct residents, and the
    /// slot's `booked` and `capacity`.
    pub(crate) rows: i64,
    pub(crate) distinct_residents: i64,
    pub(crate) slot_booked: i64,
    pub(crate) slot_capacity: i64,
    /// Bookings answered to a resident but not in the database.
    pub(crate) lost: usize,
    /// Authenticated no-op requests per second from the same crowd (the server's ceiling here).
    pub(crate) ceiling_per_second: f64,
    pub(crate) baseline: Baseline,
}

/// The flash crowd: every resident at once on one slot of `seats` seats, each trying until they
/// hold a seat or the crowd's attempts are spent.
async fn flash_crowd(args: &Args, desk: &Desk, point: &Point) -> anyhow::Result<Flash> {
    let slots = open_point(desk, point, "flash", args.flash_seats).await?;
    let slot = slots
        .first()
        .context("no bookable slot at the flash-crowd point")?
        .as_str();
    warm_up(desk, desk.residents.len()).await?;
    eprintln!(
        "flash crowd: {} attempts from {} residents for {} seats",
        args.flash_attempts,
        desk.residents.len(),
        args.flash_seats
    );
    let next = AtomicUsize::new(0);
    let next = &next;
    let started = Instant::now();
    let answers: Vec<Vec<(f64, Outcome)>> = stream::iter(desk.residents.iter())
        .map(|token| async move {
            let mut answers = Vec::new();
            loop {
                let n = next.fetch_add(1, Ordering::Relaxed);
                if n >= args.flash_attempts {
                    break;
                }
                let input = json!({"input": {"servicePointId": point.0, "slotId": slot, "itemId": desk.item,
                    "kind": "HELP", "idempotencyKey": format!("flash-{n}")}});
                let answer = attempt(&desk.client, &desk.url, token, input).await;
                let booked = answer.1.is_ok();
                answers.push(answer);
                if booked {
                    break;
                }
            }
            answers
        })
        .buffer_unordered(desk.residents.len())
        .collect()
        .await;
    let elapsed = started.elapsed().as_secs_f64();
    let tally = Tally::of(answers.into_iter().flatten());
    let answered = tally.booked.len() + tally.refused("SLOT_FULL");

    use sea_orm::{ConnectionTrait, DbBackend, Statement};
    let db = sea_orm::Database::connect(&desk.database).await?;
    let slot_id = uuid::Uuid::parse_str(slot)?;
    let query =
        |sql: &str| Statement::from_sql_and_values(DbBackend::Postgres, sql, [slot_id.into()]);
    let counts = db
        .query_one_raw(query("SELECT count(*)::bigint, count(DISTINCT user_id)::bigint FROM bookings WHERE slot_id = $1"))
        .await?
        .context("booking counts")?;
    let seats = db
        .query_one_raw(query(
            "SELECT booked::bigint, capacity::bigint FROM slots WHERE id = $1",
        ))
        .await?
        .context("the flash-crowd slot")?;
    let stored = db
        .query_all_raw(query("SELECT id::text FROM bookings WHERE slot_id = $1"))
        .await?
        .iter()
        .map(|row| row.try_get_by_index::<String>(0))
        .collect::<Result<HashSet<String>, _>>()?;
    db.close().await?;
    let lost = tally
        .booked
        .iter()
        .filter(|id| !stored.contains(*id))
        .count();

    // The ceiling: the same crowd sending the cheapest authenticated request (token check,
    // session lookup, GraphQL) — what any answer costs before booking logic starts.
    eprintln!("flash crowd: ceiling, an authenticated no-op per attempt");
    let next = AtomicUsize::new(0);
    let next = &next;
    let started = Instant::now();
    let noops: Vec<usize> = stream::iter(desk.residents.iter())
        .map(|token| async move {
            let mut ok = 0;
            while next.fetch_add(1, Ordering::Relaxed) < args.flash_attempts {
                if graphql(
                    &desk.client,
                    &desk.url,
                    Some(token),
                    "{ __typename }",
                    json!({}),
                )
                .await
                .is_ok()
                {
                    ok += 1;
                }
            }
            ok
        })
        .buffer_unordered(desk.residents.len())
        .collect()
        .await;
    let ceiling_per_second = noops.iter().sum::<usize>() as f64 / started.elapsed().as_secs_f64();

    eprintln!("flash crowd: baseline, the hot row directly");
    let baseline = seat_sql_baseline(
        &desk.database,
        "hot",
        1,
        args.flash_attempts,
        HOT_ROW_CONNECTIONS,
    )
    .await?;
    Ok(Flash {
        residents: desk.residents.len(),
        seats: args.flash_seats,
        per_second: answered as f64 / elapsed,
        tally,
        rows: counts.try_get_by_index(0)?,
        distinct_residents: counts.try_get_by_index(1)?,
        slot_booked: seats.try_get_by_index(0)?,
        slot_capacity: seats.try_get_by_index(1)?,
        lost,
        ceiling_per_second,
        baseline,
    })
}

/// The spread scenario's figures and checks.
pub(crate) struct Spread {
    pub(crate) slots: usize,
    pub(crate) clients: usize,
    pub(crate) per_second: f64,
    pub(crate) tally: Tally,
    /// From the database: rows in `bookings` for the run's slots, the sum of their `booked`,
    /// and how many are over capacity.
    pub(crate) rows: i64,
    pub(crate) booked_sum: i64,
    pub(crate) over_capacity: i64,
    pub(crate) baseline: Baseline,
}

/// Bookings spread over many slots: attempt `i` books slot `i mod slots` for resident
/// `i / per_resident`, so no resident books a slot twice and every slot has room for its share.
async fn spread(args: &Args, desk: &Desk, points: &[Point]) -> anyhow::Result<Spread> {
    let per_slot = args.spread_bookings.div_ceil(args.spread_slots);
    let per_resident = args.spread_bookings.div_ceil(desk.residents.len());
    if per_resident >= 20 || per_resident > args.spread_slots {
        bail!(
            "{} bookings need {per_resident} per resident (at most 19 and at most the slots): raise --booking-residents",
            args.spread_bookings
        );
    }
    let mut open = Vec::new();
    for (n, point) in points.iter().enumerate() {
        let slots = open_point(desk, point, &format!("spread{n}"), per_slot).await?;
        open.push(
            slots
                .into_iter()
                .map(|slot| (point.0.clone(), slot))
                .collect::<Vec<_>>(),
        );
    }
    // Round robin over the points, so that neighbouring attempts land at different points.
    let longest = open.iter().map(Vec::len).max().unwrap_or(0);
    let slots: Vec<&(String, String)> = (0..longest)
        .flat_map(|i| open.iter().filter_map(move |list| list.get(i)))
        .take(args.spread_slots)
        .collect();
    if slots.len() < args.spread_slots {
        bail!(
            "only {} bookable slots at {} township centres: lower --spread-slots",
            slots.len(),
            points.len()
        );
    }
    warm_up(desk, args.spread_clients).await?;
    eprintln!(
        "booking, spread: {} bookings over {} slots, {} clients",
        args.spread_bookings, args.spread_slots, args.spread_clients
    );
    let started = Instant::now();
    let answers: Vec<(f64, Outcome)> = stream::iter(0..args.spread_bookings)
        .map(|i| {
            let (point, slot) = slots[i % slots.len()];
            let input = json!({"input": {"servicePointId": point, "slotId": slot, "itemId": desk.item,
                "kind": "HELP", "idempotencyKey": format!("spread-{i}")}});
            attempt(&desk.client, &desk.url, &desk.residents[i / per_resident], input)
        })
        .buffer_unordered(args.spread_clients)
        .collect()
        .await;
    let elapsed = started.elapsed().as_secs_f64();
    let tally = Tally::of(answers);

    use sea_orm::{ConnectionTrait, DbBackend, Statement};
    let ids = slots
        .iter()
        .map(|(_, slot)| uuid::Uuid::parse_str(slot).map(|id| format!("'{id}'")))
        .collect::<Result<Vec<_>, _>>()?
        .join(",");
    let db = sea_orm::Database::connect(&desk.database).await?;
    let query = |sql: String| Statement::from_string(DbBackend::Postgres, sql);
    let rows = db
        .query_one_raw(query(format!(
            "SELECT count(*)::bigint FROM bookings WHERE slot_id IN ({ids})"
        )))
        .await?
        .context("booking count")?;
    let seats = db
        .query_one_raw(query(format!("SELECT COALESCE(sum(booked), 0)::bigint, count(*) FILTER (WHERE booked > capacity)::bigint FROM slots WHERE id IN ({ids})")))
        .await?
        .context("slot counts")?;
    db.close().await?;

    eprintln!("booking, spread: baseline, the same SQL directly");
    let baseline = seat_sql_baseline(
        &desk.database,
        "spread",
        args.spread_slots,
        args.spread_bookings,
        args.spread_clients,
    )
    .await?;
    Ok(Spread {
        slots: slots.len(),
        clients: args.spread_clients,
        per_second: tally.booked.len() as f64 / elapsed,
        tally,
        rows: rows.try_get_by_index(0)?,
        booked_sum: seats.try_get_by_index(0)?,
        over_capacity: seats.try_get_by_index(1)?,
        baseline,
    })
}

/// The booking scenarios on one server (PostgreSQL + Redis) with the demo county: the flash
/// crowd at the first township centre, the spread over the others.
pub(crate) async fn booking_scenarios(
    args: &Args,
) -> anyhow::Result<(Option<Flash>, Option<Spread>)> {
    let database = fresh_database(&args.postgres).await?;
    let data_dir = std::env::temp_dir().join(format!(
        "bangban-bench-booking-{}",
        uuid::Uuid::new_v4().simple()
    ));
    std::fs::create_dir_all(&data_dir)?;
    let mut env = server_env(
        &database,
        &args.redis,
        &data_dir,
        &[
            // Only the booking path is measured (no WeChat here, so no pushes to send).
            ("BANGBAN_PUSH_WORKER_ENABLED", "false"),
            ("BANGBAN_LIMITS_BOOK_PER_USER_PER_MINUTE", "100000000"),
            ("BANGBAN_LIMITS_BOOK_PER_IP_PER_MINUTE", "100000000"),
        ],
    );
    set_env(&mut env, "BANGBAN_SEED_DEMO", "true");
    // The scenarios staff their points themselves (seats follow the agents on duty).
    set_env(&mut env, "BANGBAN_SEED_DEMO_STAFF", "false");
    let prefix = format!("bench-booking-{}:", uuid::Uuid::new_v4().simple());
    set_env(&mut env, "BANGBAN_REDIS_KEY_PREFIX", &prefix);
    let server = Server::start(&env)?;
    let result = booking_on(args, &server, &env, database).await;
    server.stop();
    result
}

async fn booking_on(
    args: &Args,
    server: &Server,
    env: &[(String, String)],
    database: String,
) -> anyhow::Result<(Option<Flash>, Option<Spread>)> {
    eprintln!("booking: setting up the demo county");
    create_admin(env, "bench.admin")?;
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(60))
        .build()?;
    let login = graphql(
        &client,
        &server.url,
        None,
        "mutation($u: String!, $p: String!) { loginStaff(username: $u, password: $p) { accessToken } }",
        json!({"u": "bench.admin", "p": STAFF_PASSWORD}),
    )
    .await?;
    let admin = login["loginStaff"]["accessToken"]
        .as_str()
        .context("admin token")?
        .to_string();
    let data = graphql(
        &client,
        &server.url,
        None,
        "{ servicePoints(kind: TOWNSHIP_CENTER) { id region { id } } items(level: TOWNSHIP) { id } }",
        json!({}),
    )
    .await?;
    let points: Vec<Point> = data["servicePoints"]
        .as_array()
        .context("servicePoints")?
        .iter()
        .filter_map(|p| {
            Some((
                p["id"].as_str()?.to_string(),
                p["region"]["id"].as_str()?.to_string(),
            ))
        })
        .collect();
    if points.len() < 2 {
        bail!(
            "the demo county should have township centres; found {}",
            points.len()
        );
    }
    let item = data["items"][0]["id"]
        .as_str()
        .context("a township-level item")?
        .to_string();
    eprintln!("booking: logging in {} residents", args.booking_residents);
    let residents = login_all(
        &client,
        &server.url,
        (0..args.booking_residents)
            .map(|n| format!("booking-{n}"))
            .collect(),
    )
    .await?;
    let desk = Desk {
        url: server.url.clone(),
        database,
        client,
        admin,
        item,
        residents,
    };
    let flash = if args.scenarios.flash {
        Some(flash_crowd(args, &desk, &points[0]).await?)
    } else {
        None
    };
    let spread = if args.scenarios.spread {
        Some(spread(args, &desk, &points[1..]).await?)
    } else {
        None
    };
    Ok((flash, spread))
}
