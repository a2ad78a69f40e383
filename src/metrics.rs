//! `/metrics`: the Prometheus text exposition, rendered with the Prometheus
//! project's Rust client (`prometheus-client`).
//!
//! Two sources: what this process counts as it goes ([`Metrics`]: alerts
//! raised, sent, failed; console actions) and what the database holds,
//! read at scrape time ([`Snapshot`]: runs, durations, shards, last success,
//! breaks, messages) — so every node of a cluster exposes the same book, and
//! a restarted node loses nothing. Each metric is described in
//! docs/console.md#metrics.

use std::sync::Arc;

use chrono::{DateTime, NaiveDate, Utc};
use prometheus_client::encoding::text::encode;
use prometheus_client::encoding::{EncodeMetric, MetricEncoder};
use prometheus_client::metrics::MetricType;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

use crate::alerts::AlertKind;
use crate::ledger::{LedgerStats, TimedRow};

type Labels = Vec<(String, String)>;

/// Run duration buckets in seconds: a second to four hours.
const RUN_BUCKETS: [f64; 12] = [
    1.0, 5.0, 15.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1200.0, 1800.0, 3600.0, 14400.0,
];
/// Shard duration buckets in seconds.
const SHARD_BUCKETS: [f64; 11] = [
    0.1, 0.5, 1.0, 5.0, 15.0, 30.0, 60.0, 300.0, 600.0, 1800.0, 3600.0,
];
/// Statement wait buckets in seconds: a minute to twelve hours.
const WAIT_BUCKETS: [f64; 9] = [
    1.0, 60.0, 300.0, 900.0, 1800.0, 3600.0, 7200.0, 21600.0, 43200.0,
];

/// Break aging buckets (days since the business date), as shown on the Breaks page.
pub const AGE_BUCKETS: [(&str, i64, i64); 5] = [
    ("0-1d", 0, 1),
    ("2-3d", 2, 3),
    ("4-7d", 4, 7),
    ("8-30d", 8, 30),
    ("31d+", 31, i64::MAX),
];

/// The aging bucket of a break `age` days old.
pub fn age_bucket(age: i64) -> &'static str {
    AGE_BUCKETS
        .iter()
        .find(|(_, lo, hi)| (*lo..=*hi).contains(&age))
        .map_or("0-1d", |(name, _, _)| name)
}

/// What this process counts as it goes. Cheap to clone.
#[derive(Clone, Default)]
pub struct Metrics {
    inner: Arc<Live>,
}

#[derive(Default)]
struct Live {
    alerts_raised: Family<Labels, Counter>,
    alerts_sent: Family<Labels, Counter>,
    alerts_failed: Family<Labels, Counter>,
    alerts_given_up: Family<Labels, Counter>,
    console_actions: Family<Labels, Counter>,
}

fn labels(pairs: &[(&str, &str)]) -> Labels {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

impl Metrics {
    /// An alert event was raised (once per event).
    pub fn alert_raised(&self, kind: AlertKind) {
        self.inner
            .alerts_raised
            .get_or_create(&labels(&[("event", kind.as_str())]))
            .inc();
    }
    /// A webhook accepted an alert.
    pub fn alert_sent(&self, target: &str, kind: AlertKind) {
        self.inner
            .alerts_sent
            .get_or_create(&labels(&[("target", target), ("event", kind.as_str())]))
            .inc();
    }
    /// One delivery try failed (it may be retried).
    pub fn alert_failed(&self, target: &str, kind: AlertKind) {
        self.inner
            .alerts_failed
            .get_or_create(&labels(&[("target", target), ("event", kind.as_str())]))
            .inc();
    }
    /// Every try failed: the alert was not delivered.
    pub fn alert_given_up(&self, target: &str, kind: AlertKind) {
        self.inner
            .alerts_given_up
            .get_or_create(&labels(&[("target", target), ("event", kind.as_str())]))
            .inc();
    }
    /// An operator action through the console, by action and outcome.
    pub fn console_action(&self, action: &str, outcome: &str) {
        self.inner
            .console_actions
            .get_or_create(&labels(&[("action", action), ("outcome", outcome)]))
            .inc();
    }

    /// The text exposition of the live counters and `snapshot`.
    pub fn render(&self, snapshot: &Snapshot) -> String {
        let mut registry = Registry::with_prefix("reckon");
        let registry = &mut registry;
        let live = &self.inner;
        register(
            registry,
            "alerts_raised",
            "Alert events raised (each event once)",
            live.alerts_raised.clone(),
        );
        register(
            registry,
            "alerts_sent",
            "Alerts a webhook target accepted",
            live.alerts_sent.clone(),
        );
        register(
            registry,
            "alert_delivery_failures",
            "Failed alert delivery tries (each retry counts)",
            live.alerts_failed.clone(),
        );
        register(
            registry,
            "alerts_given_up",
            "Alerts not delivered after every retry",
            live.alerts_given_up.clone(),
        );
        register(
            registry,
            "console_actions",
            "Operator actions through the console by action and outcome",
            live.console_actions.clone(),
        );
        snapshot.register(registry);
        let mut text = String::new();
        // Writing into a String cannot fail.
        let _ = encode(&mut text, registry);
        text
    }
}

/// The database's state at scrape time.
#[derive(Debug, Clone, Default)]
pub struct Snapshot {
    pub ledger: LedgerStats,
    /// (job, business date, unresolved breaks).
    pub open_breaks: Vec<(String, NaiveDate, i64)>,
    /// Transactional messages by state.
    pub messages: Vec<(String, i64)>,
    /// Live cluster members this node sees (1 for a single node).
    pub members: i64,
    /// Whether this node leads.
    pub leader: bool,
    /// This node's instance id.
    pub instance: String,
    /// (job, seconds a statement was waited for) from recon runs' outcomes.
    pub statement_waits: Vec<(String, f64)>,
    /// The day break ages are counted to.
    pub today: NaiveDate,
}

/// A metric exposed with its HELP and TYPE even before its first sample
/// (the client leaves empty families out; dashboards and alert rules want
/// every name present from the first scrape).
#[derive(Debug)]
struct Always<M>(M);

impl<M: EncodeMetric> EncodeMetric for Always<M> {
    fn encode(&self, encoder: MetricEncoder) -> Result<(), std::fmt::Error> {
        self.0.encode(encoder)
    }
    fn metric_type(&self) -> MetricType {
        self.0.metric_type()
    }
    fn is_empty(&self) -> bool {
        false
    }
}

fn register<M>(registry: &mut Registry, name: &str, help: &str, metric: M)
where
    M: EncodeMetric + std::fmt::Debug + Send + Sync + 'static,
{
    registry.register(name, help, Always(metric));
}

fn seconds(row: &TimedRow) -> Option<f64> {
    row.seconds.map(|s| s.max(0.0))
}

fn unix(t: DateTime<Utc>) -> i64 {
    t.timestamp()
}

impl Snapshot {
    fn register(&self, registry: &mut Registry) {
        let runs = Family::<Labels, Gauge>::default();
        for (job, status, count) in &self.ledger.runs {
            runs.get_or_create(&labels(&[("job", job), ("status", status)]))
                .set(*count);
        }
        register(
            registry,
            "runs",
            "Runs in the ledger by job and status",
            runs,
        );

        let run_seconds =
            Family::<Labels, Histogram>::new_with_constructor(|| Histogram::new(RUN_BUCKETS));
        for row in &self.ledger.run_times {
            if let Some(s) = seconds(row) {
                run_seconds
                    .get_or_create(&labels(&[("job", &row.job), ("status", &row.status)]))
                    .observe(s);
            }
        }
        register(
            registry,
            "run_duration_seconds",
            "Run durations, start to finish, by job and final status",
            run_seconds,
        );

        let shard_seconds =
            Family::<Labels, Histogram>::new_with_constructor(|| Histogram::new(SHARD_BUCKETS));
        let shard_attempts = Family::<Labels, Gauge>::default();
        let shard_failures = Family::<Labels, Gauge>::default();
        for row in &self.ledger.shard_times {
            let job = labels(&[("job", &row.job)]);
            shard_attempts.get_or_create(&job).inc_by(row.attempts);
            if row.status == "failed" {
                shard_failures.get_or_create(&job).inc();
            }
            if let Some(s) = seconds(row) {
                shard_seconds.get_or_create(&job).observe(s);
            }
        }
        register(
            registry,
            "shard_duration_seconds",
            "Shard durations (all attempts of one shard), by job",
            shard_seconds,
        );
        register(
            registry,
            "shard_attempts",
            "Shard attempts by job (retries included)",
            shard_attempts,
        );
        register(
            registry,
            "shard_failures",
            "Shards that ended failed, by job",
            shard_failures,
        );

        let last_date = Family::<Labels, Gauge>::default();
        let last_time = Family::<Labels, Gauge>::default();
        for (job, date, finished) in &self.ledger.last_success {
            let job = labels(&[("job", job)]);
            let midnight = date.and_hms_opt(0, 0, 0).map(|t| t.and_utc().timestamp());
            last_date
                .get_or_create(&job)
                .set(midnight.unwrap_or_default());
            if let Some(at) = finished {
                last_time.get_or_create(&job).set(unix(*at));
            }
        }
        register(
            registry,
            "last_success_business_date_timestamp_seconds",
            "Latest business date with a succeeded run (midnight UTC of that date, Unix seconds)",
            last_date,
        );
        register(
            registry,
            "last_success_timestamp_seconds",
            "When the latest succeeded run of the job finished (Unix seconds)",
            last_time,
        );

        let breaks = Family::<Labels, Gauge>::default();
        for (job, date, count) in &self.open_breaks {
            let age = (self.today - *date).num_days().max(0);
            breaks
                .get_or_create(&labels(&[("job", job), ("age", age_bucket(age))]))
                .inc_by(*count);
        }
        register(
            registry,
            "open_breaks",
            "Unresolved breaks (pending or open) by job and age bucket",
            breaks,
        );

        let messages = Family::<Labels, Gauge>::default();
        for (state, count) in &self.messages {
            messages
                .get_or_create(&labels(&[("state", state)]))
                .set(*count);
        }
        register(
            registry,
            "txn_messages",
            "Transactional messages by state",
            messages,
        );

        let members = Gauge::<i64>::default();
        members.set(self.members);
        register(
            registry,
            "cluster_members",
            "Live cluster members this node sees",
            members,
        );
        let leader = Family::<Labels, Gauge>::default();
        leader
            .get_or_create(&labels(&[("instance", &self.instance)]))
            .set(i64::from(self.leader));
        register(registry, "leader", "1 when this node is the leader", leader);

        let waits =
            Family::<Labels, Histogram>::new_with_constructor(|| Histogram::new(WAIT_BUCKETS));
        for (job, s) in &self.statement_waits {
            waits.get_or_create(&labels(&[("job", job)])).observe(*s);
        }
        register(
            registry,
            "statement_wait_seconds",
            "How long recon shards waited for their channel statement to arrive",
            waits,
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every family is announced (HELP and TYPE) on an empty book.
    #[test]
    fn every_family_has_help_and_type_before_samples() {
        let text = Metrics::default().render(&Snapshot::default());
        for (name, kind) in [
            ("alerts_raised", "counter"),
            ("alerts_sent", "counter"),
            ("alert_delivery_failures", "counter"),
            ("alerts_given_up", "counter"),
            ("console_actions", "counter"),
            ("runs", "gauge"),
            ("run_duration_seconds", "histogram"),
            ("shard_duration_seconds", "histogram"),
            ("shard_attempts", "gauge"),
            ("shard_failures", "gauge"),
            ("last_success_business_date_timestamp_seconds", "gauge"),
            ("last_success_timestamp_seconds", "gauge"),
            ("open_breaks", "gauge"),
            ("txn_messages", "gauge"),
            ("cluster_members", "gauge"),
            ("leader", "gauge"),
            ("statement_wait_seconds", "histogram"),
        ] {
            assert!(
                text.contains(&format!("# HELP reckon_{name} ")),
                "{name}: {text}"
            );
            assert!(
                text.contains(&format!("# TYPE reckon_{name} {kind}\n")),
                "{name}: {text}"
            );
        }
    }

    #[test]
    fn age_buckets_cover_every_age() {
        assert_eq!(age_bucket(0), "0-1d");
        assert_eq!(age_bucket(1), "0-1d");
        assert_eq!(age_bucket(2), "2-3d");
        assert_eq!(age_bucket(7), "4-7d");
        assert_eq!(age_bucket(30), "8-30d");
        assert_eq!(age_bucket(31), "31d+");
        assert_eq!(age_bucket(10_000), "31d+");
    }
}
