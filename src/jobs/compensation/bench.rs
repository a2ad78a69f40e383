//! `reckon bench compensation`: generates prepared messages whose checker is
//! an SQL lookup in the same database, then measures check-back + state
//! transition in messages/second — batched (the job's engine) against a
//! naive one-round-trip-per-message baseline on a sample.
//!
//! Everything the benchmark writes is scoped (`BENCH-` message ids, its own
//! business table `compensation_bench_orders`, its own journal run id) and
//! removed afterwards.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::engine::{Engine, Hooks, Scope, Tally};
use super::error::CompensationError;
use super::settings::{CheckerConfig, Settings};
use super::state::RetryLimits;
use super::store::{Journal, Partition, bucket_of};
use crate::db::Db;
use crate::on_db;
use crate::schedule::SystemClock;

/// Rows per generated INSERT statement.
const GENERATE_ROWS_PER_STATEMENT: usize = 1000;
/// The business table the benchmark's checker reads.
const BENCH_TABLE: &str = "compensation_bench_orders";
const CHECK_SQL: &str = "SELECT order_no, CASE status WHEN 'PAID' THEN 'committed' \
     WHEN 'CANCELLED' THEN 'rolled_back' ELSE 'unknown' END \
     FROM compensation_bench_orders WHERE order_no IN ({keys})";

/// What to measure.
#[derive(Debug, Clone)]
pub struct BenchConfig {
    pub messages: usize,
    /// Messages moved one round trip at a time (baseline), taken from `messages`.
    pub naive_sample: usize,
    /// Partitions checked concurrently, like the shards of a job.
    pub shards: u32,
    pub batch_size: usize,
}

/// The figures of one benchmark.
#[derive(Debug, Clone)]
pub struct BenchResult {
    pub backend: &'static str,
    pub generated: usize,
    pub generate_time: Duration,
    pub batched: Tally,
    pub batched_time: Duration,
    pub naive_messages: usize,
    pub naive_time: Duration,
}

impl BenchResult {
    /// Batched messages per second.
    pub fn batched_rate(&self) -> f64 {
        rate(self.batched.checked as usize, self.batched_time)
    }

    /// Naive messages per second.
    pub fn naive_rate(&self) -> f64 {
        rate(self.naive_messages, self.naive_time)
    }
}

// Rates are display figures only (never money), so f64 is fine here.
fn rate(count: usize, time: Duration) -> f64 {
    count as f64 / time.as_secs_f64().max(1e-9)
}

/// Generates, measures, cleans up.
pub async fn run(db: &Db, config: &BenchConfig) -> Result<BenchResult, CompensationError> {
    cleanup(db, "").await?;
    let started = Instant::now();
    generate(db, config.messages).await?;
    let generate_time = started.elapsed();

    let sample = config.naive_sample.min(config.messages);
    let started = Instant::now();
    naive(db, sample).await?;
    let naive_time = started.elapsed();

    let run_id = format!("bench-{}", uuid::Uuid::now_v7());
    let settings = bench_settings(config.batch_size);
    let started = Instant::now();
    let mut shards = Vec::new();
    for item in 0..config.shards {
        let engine = Engine::new(
            db.clone(),
            settings.clone(),
            Arc::new(SystemClock),
            Hooks::default(),
        )
        .await?;
        let scope = Scope {
            partition: Partition {
                item,
                total: config.shards,
            },
            fence: None,
            journal: Journal {
                run_id: run_id.clone(),
                item,
            },
            cancel: None,
        };
        shards.push(tokio::spawn(async move { engine.check_back(&scope).await }));
    }
    let mut batched = Tally::default();
    for shard in shards {
        let tally = shard
            .await
            .map_err(|e| CompensationError::Crash(format!("benchmark task: {e}")))??;
        batched.add(&tally);
    }
    let batched_time = started.elapsed();
    cleanup(db, &run_id).await?;
    Ok(BenchResult {
        backend: match db.backend() {
            crate::db::Backend::Sqlite => "sqlite",
            crate::db::Backend::Postgres => "postgres",
        },
        generated: config.messages,
        generate_time,
        batched,
        batched_time,
        naive_messages: sample,
        naive_time,
    })
}

fn bench_settings(batch_size: usize) -> Settings {
    let limits = RetryLimits {
        backoff_initial: Duration::from_secs(30),
        backoff_cap: Duration::from_secs(3600),
        tries_max: 15,
    };
    Settings {
        min_age: Duration::from_secs(60),
        check_limits: limits,
        delivery_limits: limits,
        http_timeout: Duration::from_secs(5),
        batch_size,
        http_concurrency: 16,
        checkers: BTreeMap::from([(
            "bench".to_string(),
            CheckerConfig::Sql {
                query: CHECK_SQL.to_string(),
                database: None,
            },
        )]),
        downstreams: BTreeMap::new(),
    }
}

/// Business status of generated order `n`: 70 % paid, 20 % cancelled, 10 % pending.
fn status_of(n: usize) -> &'static str {
    match n % 10 {
        0..=6 => "PAID",
        7 | 8 => "CANCELLED",
        _ => "PENDING",
    }
}

async fn generate(db: &Db, count: usize) -> Result<(), CompensationError> {
    let create = format!(
        "CREATE TABLE IF NOT EXISTS {BENCH_TABLE} (order_no TEXT PRIMARY KEY, status TEXT NOT NULL)"
    );
    on_db!(db, pool => { sqlx::query(sqlx::AssertSqlSafe(create)).execute(pool).await?; });
    // Prepared an hour ago: all old enough to check.
    let at = chrono::Utc::now().timestamp_millis() - 3_600_000;
    let mut start = 0;
    while start < count {
        let end = (start + GENERATE_ROWS_PER_STATEMENT).min(count);
        let n = end - start;
        let messages: Vec<String> = (0..n)
            .map(|r| {
                let b = 2 + r * 3;
                format!(
                    "(${b}, 'bench', ${}, '{{\"amount\":\"12.34\"}}', '12.34', 'prepared', ${}, $1, $1, $1)",
                    b + 1,
                    b + 2
                )
            })
            .collect();
        let sql = format!(
            "INSERT INTO txn_messages (id, txn_type, business_key, payload, amount, state, bucket, \
             next_attempt_at_ms, created_at_ms, updated_at_ms) VALUES {}",
            messages.join(", ")
        );
        let orders: Vec<String> = (0..n)
            .map(|r| format!("(${}, ${})", 1 + r * 2, 2 + r * 2))
            .collect();
        let orders_sql = format!(
            "INSERT INTO {BENCH_TABLE} (order_no, status) VALUES {}",
            orders.join(", ")
        );
        let mut tx = db.begin().await?;
        crate::on_tx!(&mut tx, conn => {
            let mut messages = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(at);
            let mut orders = sqlx::query(sqlx::AssertSqlSafe(orders_sql));
            for i in start..end {
                let id = format!("BENCH-{i:09}");
                let key = format!("B{i:09}");
                let bucket = bucket_of(&id);
                messages = messages.bind(id).bind(key.clone()).bind(bucket);
                orders = orders.bind(key).bind(status_of(i));
            }
            messages.execute(&mut **conn).await?;
            orders.execute(&mut **conn).await?;
        });
        tx.commit().await?;
        start = end;
    }
    // Fresh statistics, as autovacuum's analyze would give a live table:
    // without them PostgreSQL reads every prepared row per batch (bitmap
    // scan + sort) instead of walking the index in id order up to the limit.
    on_db!(db, pool => {
        sqlx::query("ANALYZE txn_messages").execute(pool).await?;
        sqlx::query(sqlx::AssertSqlSafe(format!("ANALYZE {BENCH_TABLE}"))).execute(pool).await?;
    });
    Ok(())
}

/// The baseline: per message one lookup and one compare-and-set, each its
/// own round trip and (autocommit) transaction.
async fn naive(db: &Db, sample: usize) -> Result<(), CompensationError> {
    let now = chrono::Utc::now().timestamp_millis();
    for i in 0..sample {
        let id = format!("BENCH-{i:09}");
        let key = format!("B{i:09}");
        let status: Option<(String,)> = on_db!(db, pool => {
            sqlx::query_as("SELECT status FROM compensation_bench_orders WHERE order_no = $1")
                .bind(&key)
                .fetch_optional(pool)
                .await?
        });
        let (state, checks, next) = match status.as_ref().map(|s| s.0.as_str()) {
            Some("PAID") => ("committed", 1_i64, now),
            Some("CANCELLED") => ("rolled_back", 1, now),
            _ => ("prepared", 1, now + 30_000),
        };
        on_db!(db, pool => {
            sqlx::query(
                "UPDATE txn_messages SET state = $2, check_count = $3, next_attempt_at_ms = $4, updated_at_ms = $5 \
                 WHERE id = $1 AND state = 'prepared' AND check_count = 0",
            )
            .bind(&id)
            .bind(state)
            .bind(checks)
            .bind(next)
            .bind(now)
            .execute(pool)
            .await?;
        });
    }
    Ok(())
}

/// Removes everything the benchmark wrote (journal rows of `run_id` when given).
async fn cleanup(db: &Db, run_id: &str) -> Result<(), CompensationError> {
    let drop = format!("DROP TABLE IF EXISTS {BENCH_TABLE}");
    on_db!(db, pool => {
        sqlx::query("DELETE FROM txn_run_actions WHERE run_id = $1 OR message_id LIKE 'BENCH-%'")
            .bind(run_id)
            .execute(pool)
            .await?;
        sqlx::query("DELETE FROM txn_messages WHERE id LIKE 'BENCH-%'")
            .execute(pool)
            .await?;
        sqlx::query(sqlx::AssertSqlSafe(drop)).execute(pool).await?;
    });
    Ok(())
}

/// The figures as a table row.
pub fn format_result(r: &BenchResult) -> String {
    format!(
        "{:<9} {:>9} {:>8.1}s {:>12.0} msg/s ({:.1}s: {} committed, {} rolled back, {} unknown)   naive {:>7} msgs {:>8.0} msg/s   x{:.1}",
        r.backend,
        r.generated,
        r.generate_time.as_secs_f64(),
        r.batched_rate(),
        r.batched_time.as_secs_f64(),
        r.batched.committed,
        r.batched.rolled_back,
        r.batched.check_unknown,
        r.naive_messages,
        r.naive_rate(),
        r.batched_rate() / r.naive_rate().max(1e-9),
    )
}
