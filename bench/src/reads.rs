//! The read paths (issue 11): a resident's booking list (15 bookings with slot, point, item and
//! case) and a resident's case list (a page of 20 cases with item, unit, agent and the latest
//! steps of each), each beside a
//! signed-in `{ __typename }` on the same server in the same run, with the SQL statements per
//! request read from the server's own counter (`bangban_db_statements_per_request`).
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use futures_util::{StreamExt, stream};
use serde_json::{Value, json};

use crate::{
    args::Args,
    server::{
        STAFF_PASSWORD, Server, create_admin, fresh_database, graphql, graphql_checked, login_all,
        own_cpu_seconds, postgres_cpu_seconds, query_body, server_env, set_env, vacuum,
    },
    stats::percentile,
};

/// Bookings of the resident whose booking list is measured.
pub(crate) const ROWS: usize = 15;
/// Cases of the resident whose case list is measured: one full page.
pub(crate) const CASES_PAGE: usize = 20;
/// Requests in flight at once.
const CONCURRENCY: usize = 16;

pub(crate) const BOOKINGS: &str = "{ myBookings { id code status slot { id startsAt remaining } servicePoint { id name } item { id businessName } caseId } }";
pub(crate) const CASES: &str = "{ myCases(first: 20) { cases { id number status itemName unitName agentName dueOn dueFlag latestSteps { action at publicNote } } nextCursor } }";

/// The case list taken apart (`--read-breakdown`): each query adds one part to the one before,
/// or isolates one, so the differences between their costs are the parts' costs.
const CASE_PARTS: [(&str, &str); 5] = [
    (
        "the page statement, no case fields",
        "{ myCases(first: 20) { nextCursor } }",
    ),
    (
        "+ each case's id",
        "{ myCases(first: 20) { cases { id } nextCursor } }",
    ),
    (
        "+ the list's other case fields",
        "{ myCases(first: 20) { cases { id number status itemName unitName agentName dueOn dueFlag } nextCursor } }",
    ),
    (
        "ids and latest steps only",
        "{ myCases(first: 20) { cases { id latestSteps { action at publicNote } } nextCursor } }",
    ),
    ("the whole list", CASES),
];

/// One read's figures.
pub(crate) struct Read {
    pub(crate) per_second: f64,
    pub(crate) p99_ms: f64,
    pub(crate) statements: f64,
    /// The server's CPU time per request, in milliseconds (when `/proc` tells): steadier than
    /// the rate on a noisy machine.
    pub(crate) server_cpu_ms: Option<f64>,
    /// PostgreSQL's CPU time per request, in milliseconds (when `/proc` tells).
    pub(crate) postgres_cpu_ms: Option<f64>,
    /// This load generator's own CPU time per request, in milliseconds (when `/proc` tells):
    /// on a shared machine it takes from what the server and PostgreSQL could use.
    pub(crate) client_cpu_ms: Option<f64>,
}

/// The three reads' figures: the baseline, the booking list, the case list.
pub(crate) struct Reads {
    pub(crate) baseline: Read,
    pub(crate) bookings: Read,
    pub(crate) cases: Read,
}

async fn statements(client: &reqwest::Client, url: &str) -> anyhow::Result<(f64, f64)> {
    let text = client
        .get(url.replace("/graphql", "/metrics"))
        .send()
        .await?
        .text()
        .await?;
    let read = |name: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.trim().parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    Ok((
        read("bangban_db_statements_per_request_sum "),
        read("bangban_db_statements_per_request_count "),
    ))
}

async fn measure(
    client: &reqwest::Client,
    server: &Server,
    token: &str,
    query: &str,
    requests: usize,
) -> anyhow::Result<Read> {
    let url = server.url.as_str();
    let (sum_before, count_before) = statements(client, url).await?;
    let cpu_before = (
        server.cpu_seconds(),
        postgres_cpu_seconds(),
        own_cpu_seconds(),
    );
    let body = query_body(query);
    let started = Instant::now();
    let latencies: Vec<anyhow::Result<f64>> = stream::iter(0..requests)
        .map(|_| {
            let body = body.clone();
            async move {
                let began = Instant::now();
                graphql_checked(client, url, token, body).await?;
                Ok(began.elapsed().as_secs_f64() * 1000.0)
            }
        })
        .buffer_unordered(CONCURRENCY)
        .collect()
        .await;
    let elapsed = started.elapsed().as_secs_f64();
    let mut latencies = latencies
        .into_iter()
        .collect::<anyhow::Result<Vec<f64>>>()?;
    latencies.sort_by(|a, b| a.total_cmp(b));
    let (sum_after, count_after) = statements(client, url).await?;
    let per_request = |before: Option<f64>, after: Option<f64>| {
        Some((after? - before?) * 1000.0 / requests as f64)
    };
    Ok(Read {
        server_cpu_ms: per_request(cpu_before.0, server.cpu_seconds()),
        postgres_cpu_ms: per_request(cpu_before.1, postgres_cpu_seconds()),
        client_cpu_ms: per_request(cpu_before.2, own_cpu_seconds()),
        per_second: requests as f64 / elapsed,
        p99_ms: percentile(&latencies, 0.99),
        statements: (sum_after - sum_before) / (count_after - count_before).max(1.0),
    })
}

pub(crate) async fn read_scenario(args: &Args) -> anyhow::Result<Reads> {
    let database = fresh_database(&args.postgres).await?;
    let data_dir = std::env::temp_dir().join(format!(
        "bangban-bench-reads-{}",
        uuid::Uuid::new_v4().simple()
    ));
    std::fs::create_dir_all(&data_dir)?;
    let mut env = server_env(
        &database,
        &args.redis,
        &data_dir,
        &[("BANGBAN_PUSH_WORKER_ENABLED", "false")],
    );
    set_env(&mut env, "BANGBAN_SEED_DEMO", "true");
    set_env(&mut env, "BANGBAN_SEED_DEMO_STAFF", "false");
    set_env(
        &mut env,
        "BANGBAN_REDIS_KEY_PREFIX",
        &format!("bench-reads-{}:", uuid::Uuid::new_v4().simple()),
    );
    let server = Server::start(&env)?;
    let result = reads_on(args, &server, &env, &database).await;
    server.stop();
    result
}

async fn reads_on(
    args: &Args,
    server: &Server,
    env: &[(String, String)],
    database: &str,
) -> anyhow::Result<Reads> {
    eprintln!("reads: setting up {ROWS} bookings and cases for one resident");
    create_admin(env, "bench.reads.admin")?;
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(60))
        .build()?;
    let url = server.url.as_str();
    let login = |u: &'static str| {
        let client = client.clone();
        async move {
            let data = graphql(&client, url, None, "mutation($u: String!, $p: String!) { loginStaff(username: $u, password: $p) { accessToken } }", json!({"u": u, "p": STAFF_PASSWORD})).await?;
            anyhow::Ok(
                data["loginStaff"]["accessToken"]
                    .as_str()
                    .context("token")?
                    .to_string(),
            )
        }
    };
    let admin = login("bench.reads.admin").await?;
    let data = graphql(&client, url, None, "{ servicePoints(kind: TOWNSHIP_CENTER) { id region { id } } items(level: TOWNSHIP) { id } }", json!({})).await?;
    let point = data["servicePoints"][0]["id"]
        .as_str()
        .context("a township centre")?
        .to_string();
    let region = data["servicePoints"][0]["region"]["id"]
        .as_str()
        .context("its region")?
        .to_string();
    let item = data["items"][0]["id"]
        .as_str()
        .context("a township item")?
        .to_string();
    graphql(&client, url, Some(&admin), "mutation($input: CreateStaffInput!) { createStaff(input: $input) { id } }",
        json!({"input": {"username": "bench.reads.agent", "displayName": "窗口", "password": STAFF_PASSWORD, "role": "TOWNSHIP_AGENT", "regionId": region, "servicePointId": point}})).await?;
    graphql(&client, url, Some(&admin), "mutation($p: ID!, $input: BookingPolicyInput!) { setBookingPolicy(servicePointId: $p, input: $input) { seatsPerAgent } }",
        json!({"p": point, "input": {"slotMinutes": 30, "seatsPerAgent": 5, "windowDays": 30, "minNoticeMinutes": 60, "cancelCutoffMinutes": 120, "maxOpenBookings": 20}})).await?;
    let agent = login("bench.reads.agent").await?;
    let mut residents = login_all(
        &client,
        url,
        vec!["bench-reads-bookings".into(), "bench-reads-cases".into()],
    )
    .await?;
    let (resident, cased) = (residents.remove(0), residents.remove(0));
    let today = (chrono::Utc::now() + chrono::Duration::hours(8)).date_naive();
    let slots = graphql(&client, url, None, "query($p: ID!, $from: NaiveDate!, $to: NaiveDate!) { availableSlots(servicePointId: $p, from: $from, to: $to) { id } }",
        json!({"p": point, "from": today.to_string(), "to": (today + chrono::Duration::days(30)).to_string()})).await?;
    let slots: Vec<String> = slots["availableSlots"]
        .as_array()
        .context("slots")?
        .iter()
        .filter_map(|s| s["id"].as_str().map(String::from))
        .skip(4)
        .take(CASES_PAGE)
        .collect();
    if slots.len() < CASES_PAGE {
        bail!("only {} bookable slots", slots.len());
    }
    // One resident with the booking list's bookings, another with a full page of cases; each
    // booking accepted and opened as a case with a few steps on its trail.
    for (who, count) in [(&resident, ROWS), (&cased, CASES_PAGE)] {
        for (n, slot) in slots.iter().take(count).enumerate() {
            let booked = graphql(&client, url, Some(who), "mutation($input: BookAppointmentInput!) { bookAppointment(input: $input) { id } }",
                json!({"input": {"servicePointId": point, "slotId": slot, "itemId": item, "kind": "HELP", "idempotencyKey": format!("reads-{n}")}})).await?;
            let booking = booked["bookAppointment"]["id"]
                .as_str()
                .context("booking")?
                .to_string();
            graphql(
                &client,
                url,
                Some(&agent),
                "mutation($id: ID!) { acceptBooking(id: $id) { id } }",
                json!({"id": booking}),
            )
            .await?;
            let opened = graphql(
                &client,
                url,
                Some(&agent),
                "mutation($b: ID!) { openCase(bookingId: $b) { id } }",
                json!({"b": booking}),
            )
            .await?;
            let case = opened["openCase"]["id"].as_str().context("case")?;
            for step in ["acceptCase", "startCaseService"] {
                graphql(
                    &client,
                    url,
                    Some(&agent),
                    &format!("mutation($id: ID!) {{ {step}(id: $id) {{ id }} }}"),
                    json!({"id": case}),
                )
                .await?;
            }
        }
    }
    let check: Value = graphql(&client, url, Some(&cased), CASES, json!({})).await?;
    let page = check["myCases"]["cases"].as_array().context("cases")?;
    if page.len() != CASES_PAGE
        || page
            .iter()
            .any(|c| c["latestSteps"].as_array().is_none_or(Vec::is_empty))
    {
        bail!("expected {CASES_PAGE} cases with their latest steps: {check}");
    }
    vacuum(database).await?;
    let requests = args.read_requests;
    eprintln!("reads: {requests} requests of each read, {CONCURRENCY} at a time");
    // Warm the connections and the caches alike for all three.
    for (who, query) in [
        (&resident, "{ __typename }"),
        (&resident, BOOKINGS),
        (&cased, CASES),
    ] {
        measure(&client, server, who, query, 50).await?;
    }
    if args.read_breakdown {
        breakdown(&client, server, &resident, &cased, requests).await?;
    }
    Ok(Reads {
        baseline: measure(&client, server, &resident, "{ __typename }", requests).await?,
        bookings: measure(&client, server, &resident, BOOKINGS, requests).await?,
        cases: measure(&client, server, &cased, CASES, requests).await?,
    })
}

/// Prints the case list's parts, beside one signed-in `{ __typename }` baseline measured just
/// before them in the same run.
async fn breakdown(
    client: &reqwest::Client,
    server: &Server,
    resident: &str,
    cased: &str,
    requests: usize,
) -> anyhow::Result<()> {
    let ms = |v: Option<f64>| v.map_or_else(|| "?".to_string(), |v| format!("{v:.2}"));
    eprintln!("reads: the case list's parts, {requests} requests each, {CONCURRENCY} at a time");
    eprintln!(
        "| part | rate | statements | CPU ms server | CPU ms PostgreSQL | CPU ms load generator |"
    );
    eprintln!("|---|---|---|---|---|---|");
    let baseline = measure(client, server, resident, "{ __typename }", requests).await?;
    let row = |name: &str, read: &Read| {
        eprintln!(
            "| {name} | {:.0}/s | {:.2} | {} | {} | {} |",
            read.per_second,
            read.statements,
            ms(read.server_cpu_ms),
            ms(read.postgres_cpu_ms),
            ms(read.client_cpu_ms)
        );
    };
    row("signed-in `{ __typename }`", &baseline);
    for (name, query) in CASE_PARTS {
        row(
            name,
            &measure(client, server, cased, query, requests).await?,
        );
    }
    Ok(())
}
