//! Prometheus metrics, owned by the application (no global registry) and served at `/metrics`.
use std::{collections::HashSet, sync::Mutex};

use prometheus::{
    Encoder, HistogramOpts, HistogramVec, IntCounterVec, IntGauge, Opts, Registry, TextEncoder,
};

/// Operation names are chosen by clients: at most this many distinct ones get their own label.
const MAX_OPERATION_LABELS: usize = 256;

pub struct Metrics {
    registry: Registry,
    pub http_requests: IntCounterVec,
    pub http_duration: HistogramVec,
    pub graphql_operations: IntCounterVec,
    pub graphql_duration: HistogramVec,
    pub websockets_open: IntGauge,
    /// Best-effort writes to the shared store that failed (the database stays right; these
    /// cost speed, not correctness), by operation.
    pub store_writes_failed: IntCounterVec,
    /// Attempts of a durable reaction that failed (it is retried after a back-off), by reaction.
    pub reaction_failures: IntCounterVec,
    /// Runs of a room's scheduled jobs that failed (tried again on the next run), by room.
    pub job_failures: IntCounterVec,
    /// SQL statements each GraphQL-over-HTTP request sent (batch loads included).
    pub db_statements: prometheus::Histogram,
    seen_operations: Mutex<HashSet<String>>,
}

impl Metrics {
    pub fn new() -> anyhow::Result<Self> {
        let registry = Registry::new_custom(Some("bangban".into()), None)?;
        let buckets = vec![
            0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
        ];
        let http_requests = IntCounterVec::new(
            Opts::new("http_requests_total", "HTTP requests by route and status"),
            &["method", "route", "status"],
        )?;
        let http_duration = HistogramVec::new(
            HistogramOpts::new("http_request_duration_seconds", "HTTP request latency")
                .buckets(buckets.clone()),
            &["route"],
        )?;
        let graphql_operations = IntCounterVec::new(
            Opts::new(
                "graphql_operations_total",
                "GraphQL operations by operation name and outcome (ok or error)",
            ),
            &["operation", "outcome"],
        )?;
        let graphql_duration = HistogramVec::new(
            HistogramOpts::new(
                "graphql_operation_duration_seconds",
                "GraphQL execution latency",
            )
            .buckets(buckets),
            &["operation"],
        )?;
        let db_statements = prometheus::Histogram::with_opts(
            HistogramOpts::new(
                "db_statements_per_request",
                "SQL statements sent by one GraphQL-over-HTTP request",
            )
            .buckets(vec![
                1.0, 2.0, 3.0, 4.0, 6.0, 8.0, 12.0, 16.0, 24.0, 32.0, 64.0, 128.0,
            ]),
        )?;
        registry.register(Box::new(db_statements.clone()))?;
        let websockets_open =
            IntGauge::new("websockets_open", "Open GraphQL WebSocket connections")?;
        registry.register(Box::new(http_requests.clone()))?;
        registry.register(Box::new(http_duration.clone()))?;
        registry.register(Box::new(graphql_operations.clone()))?;
        registry.register(Box::new(graphql_duration.clone()))?;
        let store_writes_failed = IntCounterVec::new(
            Opts::new(
                "store_writes_failed_total",
                "Best-effort writes to the shared store that failed, by operation",
            ),
            &["operation"],
        )?;
        registry.register(Box::new(websockets_open.clone()))?;
        registry.register(Box::new(store_writes_failed.clone()))?;
        let reaction_failures = IntCounterVec::new(
            Opts::new(
                "reaction_failures_total",
                "Failed attempts of durable reactions to events (retried), by reaction",
            ),
            &["reaction"],
        )?;
        registry.register(Box::new(reaction_failures.clone()))?;
        let job_failures = IntCounterVec::new(
            Opts::new(
                "job_failures_total",
                "Failed runs of a room's scheduled jobs (tried again next run), by room",
            ),
            &["room"],
        )?;
        registry.register(Box::new(job_failures.clone()))?;
        Ok(Self {
            registry,
            http_requests,
            http_duration,
            graphql_operations,
            graphql_duration,
            websockets_open,
            store_writes_failed,
            reaction_failures,
            job_failures,
            db_statements,
            seen_operations: Mutex::new(HashSet::new()),
        })
    }

    /// Records a best-effort store write that failed: logged and counted, never ignored.
    pub fn store_write_failed(&self, operation: &'static str, error: &dyn std::fmt::Display) {
        tracing::warn!(operation, %error, "shared store write failed");
        self.store_writes_failed
            .with_label_values(&[operation])
            .inc();
    }

    /// Records a failed run of a room's scheduled jobs.
    pub fn job_failed(&self, room: &'static str) {
        self.job_failures.with_label_values(&[room]).inc();
    }

    /// A bounded label for a client-chosen operation name.
    pub fn operation_label(&self, name: Option<&str>) -> String {
        let Some(name) = name else {
            return "anonymous".into();
        };
        let plausible =
            name.len() <= 64 && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
        if !plausible {
            return "other".into();
        }
        let mut seen = self
            .seen_operations
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        if seen.contains(name) || seen.len() < MAX_OPERATION_LABELS {
            seen.insert(name.to_string());
            name.to_string()
        } else {
            "other".into()
        }
    }

    /// The Prometheus text exposition.
    pub fn render(&self) -> String {
        let mut buffer = Vec::new();
        if let Err(error) = TextEncoder::new().encode(&self.registry.gather(), &mut buffer) {
            tracing::error!(%error, "metrics encoding failed");
        }
        String::from_utf8(buffer).unwrap_or_default()
    }
}
