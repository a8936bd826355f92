//! The command line: clap parses it into `Cli` (the booking sizes and the scenarios left unset
//! when not given), and `Cli::resolve` fills in the defaults that depend on `--quick`.
use anyhow::bail;
use clap::{Parser, builder::NonEmptyStringValueParser};

/// A run's settings, defaults resolved.
pub(crate) struct Args {
    pub(crate) postgres: String,
    pub(crate) redis: String,
    pub(crate) subscriptions: usize,
    pub(crate) residents: usize,
    pub(crate) events_per_second: u64,
    pub(crate) seconds: u64,
    pub(crate) push_messages: usize,
    /// Smaller runs: the fan-out on one instance only, and smaller booking scenarios. Alone
    /// (without `--scenarios`/`--only`) it runs the one-instance fan-out only.
    pub(crate) quick: bool,
    /// Open sockets without subscribing (to tell connection memory from subscription memory).
    pub(crate) no_subscribe: bool,
    pub(crate) scenarios: Scenarios,
    /// Residents logged in for the booking scenarios (the flash crowd; the spread reuses them).
    pub(crate) booking_residents: usize,
    pub(crate) flash_attempts: usize,
    pub(crate) flash_seats: usize,
    /// Reads: requests of each read (and of its `{ __typename }` baseline).
    pub(crate) read_requests: usize,
    /// Reads: also measure the case list's parts (the page alone, its fields, its latest
    /// steps), each as its own query, to show where a request's time goes.
    pub(crate) read_breakdown: bool,
    pub(crate) spread_bookings: usize,
    pub(crate) spread_slots: usize,
    pub(crate) spread_clients: usize,
}

/// Which scenarios to run.
#[derive(Clone, Copy)]
pub(crate) struct Scenarios {
    pub(crate) fanout: bool,
    pub(crate) push: bool,
    pub(crate) flash: bool,
    pub(crate) spread: bool,
    pub(crate) reads: bool,
}

impl Scenarios {
    /// A comma-separated list of `fanout`, `push`, `flash`, `spread`, `booking` (flash and
    /// spread), `reads` or `all`.
    pub(crate) fn parse(list: &str) -> anyhow::Result<Self> {
        let mut run = Self {
            fanout: false,
            push: false,
            flash: false,
            spread: false,
            reads: false,
        };
        for name in list.split(',').map(str::trim).filter(|n| !n.is_empty()) {
            match name {
                "fanout" | "fan-out" => run.fanout = true,
                "push" => run.push = true,
                "flash" => run.flash = true,
                "spread" => run.spread = true,
                "booking" => (run.flash, run.spread) = (true, true),
                "reads" => run.reads = true,
                "all" => {
                    (run.fanout, run.push, run.flash, run.spread, run.reads) =
                        (true, true, true, true, true)
                }
                other => {
                    bail!(
                        "unknown scenario {other:?} (fanout, push, flash, spread, booking, reads, all)"
                    )
                }
            }
        }
        Ok(run)
    }

    pub(crate) fn names(self) -> String {
        [
            (self.fanout, "fanout"),
            (self.push, "push"),
            (self.flash, "flash"),
            (self.spread, "spread"),
            (self.reads, "reads"),
        ]
        .iter()
        .filter(|(on, _)| *on)
        .map(|(_, name)| *name)
        .collect::<Vec<_>>()
        .join(", ")
    }
}

/// Bangban benchmarks: every figure beside a baseline measured in the same run, and their ratio.
///
/// Usually run with `bash bench/run.sh`, which starts PostgreSQL and Redis and passes
/// `--postgres` and `--redis`.
#[derive(Parser)]
// A flag given twice takes its last value, as the hand-written parser did.
#[command(name = "bangban-bench", args_override_self = true)]
struct Cli {
    /// PostgreSQL URL; every scenario creates a fresh database on that server
    #[arg(long, value_name = "URL", value_parser = NonEmptyStringValueParser::new())]
    postgres: String,
    /// Redis URL, shared by the server instances and the Redis baseline
    #[arg(long, value_name = "URL", value_parser = NonEmptyStringValueParser::new())]
    redis: String,
    /// Scenarios to run, comma-separated: fanout, push, flash, spread, booking (flash and
    /// spread) or all (default all; fanout when --quick is given alone)
    #[arg(long, visible_alias = "only", value_name = "LIST", value_parser = Scenarios::parse)]
    scenarios: Option<Scenarios>,
    /// Smaller runs: the fan-out on one instance only, and smaller booking scenarios; alone
    /// (without --scenarios/--only) it runs the one-instance fan-out only
    #[arg(long)]
    quick: bool,
    /// Open the fan-out's sockets without subscribing (to tell connection memory from
    /// subscription memory)
    #[arg(long)]
    no_subscribe: bool,
    /// Live fan-out: open `myEvents` subscriptions
    #[arg(long, value_name = "N", default_value_t = 10_000)]
    subscriptions: usize,
    /// Live fan-out: logged-in residents the subscriptions are shared among
    #[arg(long, value_name = "N", default_value_t = 2_000)]
    residents: usize,
    /// Live fan-out: events per second (the Redis baseline publishes at the same rate)
    #[arg(long, value_name = "N", default_value_t = 200)]
    events_per_second: u64,
    /// Live fan-out: seconds of events
    #[arg(long, value_name = "N", default_value_t = 10)]
    seconds: u64,
    /// Push sender: queued WeChat subscribe messages in the backlog
    #[arg(long, value_name = "N", default_value_t = 2_000)]
    push_messages: usize,
    /// Booking: residents logged in for the flash crowd; the spread reuses them (default 2000,
    /// 200 with --quick)
    #[arg(long, value_name = "N")]
    booking_residents: Option<usize>,
    /// Flash crowd: booking attempts in all (default 10000, 1000 with --quick)
    #[arg(long, value_name = "N")]
    flash_attempts: Option<usize>,
    /// Flash crowd: seats of the one slot (default 300, 30 with --quick)
    #[arg(long, value_name = "N")]
    flash_seats: Option<usize>,
    /// Booking, spread: bookings in all (default 5000, 1000 with --quick)
    #[arg(long, value_name = "N")]
    spread_bookings: Option<usize>,
    /// Booking, spread: slots the bookings are spread over (default 500, 100 with --quick)
    #[arg(long, value_name = "N")]
    spread_slots: Option<usize>,
    /// Booking, spread: concurrent clients, and connections of its SQL baseline (default 64)
    #[arg(long, value_name = "N")]
    spread_clients: Option<usize>,
    /// Reads: requests of each read and of its baseline (default 2000, 300 with --quick)
    #[arg(long, value_name = "N")]
    read_requests: Option<usize>,
    /// Reads: also measure the case list's parts (the page alone, its fields, its latest
    /// steps) as queries of their own, to show where a request's time goes
    #[arg(long)]
    read_breakdown: bool,
}

/// Parses the command line (clap prints the usage and exits on a bad flag or `--help`) and
/// resolves the defaults.
pub(crate) fn parse_args() -> anyhow::Result<Args> {
    Cli::parse().resolve()
}

impl Cli {
    fn resolve(self) -> anyhow::Result<Args> {
        let scenarios = match self.scenarios {
            Some(run) => run,
            // As before: `--quick` alone is a quick look at the one-instance fan-out.
            None if self.quick => Scenarios::parse("fanout")?,
            None => Scenarios::parse("all")?,
        };
        // Booking sizes: given, or the full (quick) defaults.
        let booking = [
            self.booking_residents,
            self.flash_attempts,
            self.flash_seats,
            self.spread_bookings,
            self.spread_slots,
            self.spread_clients,
        ];
        let defaults = if self.quick {
            [200, 1_000, 30, 1_000, 100, 64]
        } else {
            [2_000, 10_000, 300, 5_000, 500, 64]
        };
        let [residents, attempts, seats, bookings, slots, clients] =
            std::array::from_fn(|i| booking[i].unwrap_or(defaults[i]));
        if [residents, attempts, seats, bookings, slots, clients].contains(&0) {
            bail!("booking sizes must be at least 1");
        }
        Ok(Args {
            postgres: self.postgres,
            redis: self.redis,
            subscriptions: self.subscriptions,
            residents: self.residents,
            events_per_second: self.events_per_second,
            seconds: self.seconds,
            push_messages: self.push_messages,
            quick: self.quick,
            no_subscribe: self.no_subscribe,
            scenarios,
            booking_residents: residents,
            flash_attempts: attempts,
            flash_seats: seats,
            read_requests: self
                .read_requests
                .unwrap_or(if self.quick { 300 } else { 2_000 })
                .max(1),
            read_breakdown: self.read_breakdown,
            spread_bookings: bookings,
            spread_slots: slots,
            spread_clients: clients,
        })
    }
}
