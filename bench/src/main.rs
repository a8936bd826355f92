//! Bangban benchmarks (see QUALITY.md). Every figure is printed beside a baseline measured in the
//! same run on the same machine, and their ratio; nothing here asserts a time.
//!
//! * live fan-out: N open `myEvents` subscriptions on one server instance, then split over two
//!   instances sharing PostgreSQL and Redis; events at a fixed rate; commit → client latency
//!   p50/p99 and server RSS per idle subscription. Baseline: raw Redis PUBLISH → SUBSCRIBE.
//! * push sender: a backlog of queued WeChat subscribe messages sent by one push worker to a fake
//!   WeChat server. Baseline: a plain HTTP POST loop to the same fake.
//! * flash crowd: 2,000 logged-in residents make 10,000 booking attempts at once for one slot of
//!   300 seats; attempts answered per second, p99, and the bookings made, checked in the
//!   database. Baseline: the guarded `UPDATE slots … WHERE booked < capacity` + `INSERT`
//!   transaction on one hot row, run directly by 64 connections.
//! * booking, spread: 64 clients book over 500 slots (every attempt a different resident and
//!   slot, every slot with room); bookings/s and p99. Baseline: the same SQL run directly over
//!   500 rows by 64 connections.
//! - **Reads** (`reads`): a resident's booking list (15 bookings with slot, point, item, case) and
//!   case list (15 cases with item, unit, agent); requests/s, p99 and SQL statements per request
//!   (the server's own counter). Baseline: a signed-in `{ __typename }` on the same server.
//!
//! Run it with `bash bench/run.sh` (it starts PostgreSQL and Redis and builds in release mode);
//! `--only booking` (or `--scenarios fanout,push,flash,spread`) picks scenarios;
//! `bangban-bench --help` lists every flag.
//!
//! Modules: `args` (the command line, parsed with clap), `server` (the `bangban` processes, fresh
//! databases, GraphQL and login helpers), one per scenario — `fanout`, `push`, `booking` (with
//! `booking_baseline`, the raw seat transaction), `reads` — and `stats`. `main` runs the chosen scenarios
//! and prints the table.
mod args;
mod booking;
mod booking_baseline;
mod fanout;
mod push;
mod reads;
mod server;
mod stats;

use crate::{
    args::parse_args,
    booking::booking_scenarios,
    booking_baseline::HOT_ROW_CONNECTIONS,
    fanout::{fan_out, redis_baseline},
    push::push_scenario,
    reads::read_scenario,
    server::{Server, fresh_database, login_all, server_env},
    stats::percentile,
};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = parse_args()?;
    let run = args.scenarios;
    println!("Bangban benchmarks — {}", run.names());
    let mut rows = Vec::new();

    if run.fanout {
        println!(
            "live fan-out: {} subscriptions over {} residents, {} events/s for {} s",
            args.subscriptions, args.residents, args.events_per_second, args.seconds
        );
        let database = fresh_database(&args.postgres).await?;
        let data_dir =
            std::env::temp_dir().join(format!("bangban-bench-{}", uuid::Uuid::new_v4().simple()));
        std::fs::create_dir_all(&data_dir)?;
        let env = server_env(
            &database,
            &args.redis,
            &data_dir,
            &[("BANGBAN_PUSH_WORKER_ENABLED", "false")],
        );
        let a = Server::start(&env)?;
        let client = reqwest::Client::new();
        let tokens = login_all(
            &client,
            &a.url,
            (0..args.residents).map(|n| format!("bench-{n}")).collect(),
        )
        .await?;

        let (redis_p50, redis_p99) = redis_baseline(
            &args.redis,
            args.events_per_second,
            (args.events_per_second * args.seconds) as usize,
        )
        .await?;
        let one = fan_out(&args, &[&a], &tokens, &a).await?;
        a.stop();
        if args.quick {
            println!(
                "quick: p50 {:.1} ms, p99 {:.1} ms, {} of {} delivered, RSS per idle subscription {:.1} KiB (Redis p99 {:.2} ms)",
                one.p50_ms,
                one.p99_ms,
                one.delivered,
                one.expected,
                one.rss_per_subscription_kib,
                redis_p99
            );
        } else {
            // Fresh instances, so that each RSS figure starts from an idle process.
            let a = Server::start(&env)?;
            let b = Server::start(&env)?;
            let two = fan_out(&args, &[&a, &b], &tokens, &a).await?;
            a.stop();
            b.stop();
            for (name, fan) in [
                ("live fan-out, 1 instance", &one),
                ("live fan-out, 2 instances", &two),
            ] {
                rows.push(format!(
                    "| {name}: commit → client p50 | {:.1} ms | Redis PUBLISH → SUBSCRIBE p50 {:.2} ms | {:.1}× | — |",
                    fan.p50_ms,
                    redis_p50,
                    fan.p50_ms / redis_p50
                ));
                rows.push(format!(
                    "| {name}: commit → client p99 | {:.1} ms | Redis PUBLISH → SUBSCRIBE p99 {:.2} ms | {:.1}× | ≤ 50 ms |",
                    fan.p99_ms,
                    redis_p99,
                    fan.p99_ms / redis_p99
                ));
                rows.push(format!(
                    "| {name}: deliveries | {} of {} | — | — | all |",
                    fan.delivered, fan.expected
                ));
                rows.push(format!(
                    "| {name}: RSS per idle subscription | {:.1} KiB | — | — | ≤ 20 KiB |",
                    fan.rss_per_subscription_kib
                ));
            }
        }
    }

    if run.push {
        let (push_rate, push_baseline) = push_scenario(&args).await?;
        rows.push(format!(
            "| push sender | {:.0} msg/s | plain HTTP POST loop {:.0} msg/s | {:.2} | ≥ 0.5 |",
            push_rate,
            push_baseline,
            push_rate / push_baseline
        ));
    }

    if run.flash || run.spread {
        let (flash, spread) = booking_scenarios(&args).await?;
        if let Some(f) = flash {
            let (failed, failures) = f.tally.failures("flash crowd", &["SLOT_FULL"]);
            let seats = f.seats as i64;
            let exact = f.tally.booked.len() == f.seats
                && f.rows == seats
                && f.distinct_residents == seats
                && f.slot_booked == seats
                && f.lost == 0;
            rows.push(format!(
                "| flash crowd: attempts answered/s ({} attempts, {} residents, {} seats) | {:.0}/s | guarded UPDATE + INSERT on one hot row, {HOT_ROW_CONNECTIONS} connections: {:.0} tx/s | {:.2} | ≥ 5 |",
                f.tally.attempts(),
                f.residents,
                f.seats,
                f.per_second,
                f.baseline.per_second,
                f.per_second / f.baseline.per_second
            ));
            rows.push(format!(
                "| flash crowd: attempt p99 | {:.1} ms (p50 {:.1} ms) | one hot-row transaction p99 {:.1} ms | {:.1}× | — |",
                percentile(&f.tally.latencies_ms, 0.99),
                percentile(&f.tally.latencies_ms, 0.50),
                f.baseline.p99_ms,
                percentile(&f.tally.latencies_ms, 0.99) / f.baseline.p99_ms
            ));
            rows.push(format!(
                "| flash crowd: bookings made | {} answered; database: {} rows, {} distinct residents, slot booked {} of {}; {} lost — {} | — | — | exactly {}, 0 lost, 0 duplicate |",
                f.tally.booked.len(),
                f.rows,
                f.distinct_residents,
                f.slot_booked,
                f.slot_capacity,
                f.lost,
                if exact { "ok" } else { "WRONG" },
                f.seats
            ));
            rows.push(format!(
                "| flash crowd: answers | {} booked, {} SLOT_FULL, {failed} other: {failures} | — | — | no other |",
                f.tally.booked.len(),
                f.tally.refused("SLOT_FULL")
            ));
            rows.push(format!(
                "| flash crowd: the server's ceiling here (authenticated `{{ __typename }}`, same crowd) | {:.0}/s | hot row {:.0} tx/s | {:.2} | — |",
                f.ceiling_per_second,
                f.baseline.per_second,
                f.ceiling_per_second / f.baseline.per_second
            ));
        }
        if let Some(s) = spread {
            let (failed, failures) = s.tally.failures("booking, spread", &[]);
            let booked = s.tally.booked.len() as i64;
            let consistent = s.rows == booked && s.booked_sum == booked && s.over_capacity == 0;
            rows.push(format!(
                "| booking, spread: bookings/s ({} over {} slots, {} clients) | {:.0}/s | the same SQL directly over {} rows, {} connections: {:.0} tx/s | {:.2} | ≥ 0.7 |",
                s.tally.attempts(),
                s.slots,
                s.clients,
                s.per_second,
                s.slots,
                s.clients,
                s.baseline.per_second,
                s.per_second / s.baseline.per_second
            ));
            rows.push(format!(
                "| booking, spread: p99 | {:.1} ms (p50 {:.1} ms) | one transaction p99 {:.1} ms | {:.1}× | — |",
                percentile(&s.tally.latencies_ms, 0.99),
                percentile(&s.tally.latencies_ms, 0.50),
                s.baseline.p99_ms,
                percentile(&s.tally.latencies_ms, 0.99) / s.baseline.p99_ms
            ));
            rows.push(format!(
                "| booking, spread: bookings made | {booked} of {}; database: {} rows, slots booked {}, {} over capacity — {}; refused: {failed} ({failures}) | — | — | all |",
                s.tally.attempts(),
                s.rows,
                s.booked_sum,
                s.over_capacity,
                if consistent { "ok" } else { "WRONG" }
            ));
        }
    }

    if run.reads {
        let r = read_scenario(&args).await?;
        for (name, read) in [
            (
                "booking list (15 bookings with slot, point, item, case)",
                &r.bookings,
            ),
            (
                "case list (a page of 20 cases with item, unit, agent, latest steps)",
                &r.cases,
            ),
        ] {
            rows.push(format!(
                "| reads: a resident's {name} | {:.0}/s, p99 {:.1} ms, {:.1} statements/request{} | signed-in `{{ __typename }}` {:.0}/s, p99 {:.1} ms, {:.1} statements{} | {:.2}{} | ≥ 0.25 and ≤ 4 statements |",
                read.per_second, read.p99_ms, read.statements, cpu(read),
                r.baseline.per_second, r.baseline.p99_ms, r.baseline.statements, cpu(&r.baseline),
                read.per_second / r.baseline.per_second,
                cpu_ratio(&r.baseline, read)
            ));
        }
    }

    if !rows.is_empty() {
        println!();
        println!("| scenario | figure | baseline (same run) | ratio | goal |");
        println!("|---|---|---|---|---|");
        for row in rows {
            println!("{row}");
        }
    }
    Ok(())
}

/// A read's CPU time per request (server + PostgreSQL, and the load generator's own beside
/// them), when `/proc` told.
fn cpu(read: &reads::Read) -> String {
    match (read.server_cpu_ms, read.postgres_cpu_ms) {
        (Some(server), Some(postgres)) => {
            let client = read
                .client_cpu_ms
                .map_or_else(String::new, |c| format!(" (load generator {c:.2} ms)"));
            format!(", CPU {server:.2} ms server + {postgres:.2} ms PostgreSQL per request{client}")
        }
        _ => String::new(),
    }
}

/// The baseline's CPU time per request over the read's (server + PostgreSQL): the same ratio
/// as the rates', less shaken by a noisy machine.
fn cpu_ratio(baseline: &reads::Read, read: &reads::Read) -> String {
    let total = |r: &reads::Read| Some(r.server_cpu_ms? + r.postgres_cpu_ms?);
    match (total(baseline), total(read)) {
        (Some(base), Some(this)) if this > 0.0 => format!(" (CPU {:.2})", base / this),
        _ => String::new(),
    }
}
