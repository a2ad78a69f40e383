//! `reckon bench console`: the console's pages on a generated book of runs
//! (default 10,000), each requested over HTTP from the console serving on
//! 127.0.0.1, timed beside the database reads the page makes (the baseline:
//! what the page cannot be faster than).

use std::time::{Duration, Instant};

use chrono::{NaiveDate, Utc};
use http_body_util::BodyExt;
use tokio_util::sync::CancellationToken;

use super::{ConsoleSettings, ConsoleState};
use crate::db::Db;
use crate::ledger::RunFilter;
use crate::metrics::Metrics;
use crate::runtime::Runner;
use crate::{on_db, on_tx};

/// Shards per generated run.
const SHARDS: i64 = 4;

/// Errors of the benchmark.
#[derive(Debug, thiserror::Error)]
pub enum BenchError {
    #[error("writing the book: {0}")]
    Db(#[from] sqlx::Error),
    #[error(transparent)]
    Ledger(#[from] crate::ledger::LedgerError),
    #[error(transparent)]
    Console(#[from] super::ConsoleError),
    #[error("GET {path}: {reason}")]
    Http { path: String, reason: String },
}

/// The job files of the benchmark's catalog: `jobs` daily `checksum` jobs.
pub fn job_files(jobs: usize) -> Vec<(String, String)> {
    (0..jobs)
        .map(|j| {
            let name = format!("job{j:02}");
            let text = format!(
                "name = \"{name}\"\nkind = \"checksum\"\nshards = {SHARDS}\ncron = \"0 0 2 * * *\"\n\
                 time_zone = \"Asia/Shanghai\"\n[params]\nrows = 10\n"
            );
            (name, text)
        })
        .collect()
}

/// Writes `runs` finished runs over `jobs`: per job and business date
/// (newest `last`) a failed first attempt and a succeeded rerun, each with
/// its shard rows and two events. Returns a run id to open.
pub async fn write_book(
    db: &Db,
    jobs: &[String],
    runs: usize,
    last: NaiveDate,
) -> Result<String, BenchError> {
    let mut tx = db.begin().await?;
    let mut some_run = String::new();
    let base = Utc::now() - chrono::Duration::days(1);
    for i in 0..runs {
        let job = &jobs[i % jobs.len()];
        let round = i / jobs.len();
        let date = last - chrono::Duration::days((round / 2) as i64);
        let attempt = (round % 2) as i64 + 1;
        let run_id = uuid::Uuid::now_v7().to_string();
        let status = if attempt == 1 { "failed" } else { "succeeded" };
        let started = base - chrono::Duration::minutes(i as i64);
        let finished = started + chrono::Duration::seconds(42);
        let error = (attempt == 1).then_some("shard 3: statement not found");
        on_tx!(&mut tx, conn => {
            sqlx::query(
                "INSERT INTO runs (run_id, job, business_date, attempt, trigger, status, requested_by, reason, \
                 params, owner, heartbeat_at, created_at, started_at, finished_at, error) \
                 VALUES ($1, $2, $3, $4, $5, $6, 'bench', NULL, '{}', 'bench-node', $7, $8, $9, $10, $11)",
            )
            .bind(&run_id)
            .bind(job)
            .bind(date)
            .bind(attempt)
            .bind(if attempt == 1 { "cron" } else { "manual" })
            .bind(status)
            .bind(finished)
            .bind(started)
            .bind(started)
            .bind(finished)
            .bind(error)
            .execute(&mut **conn)
            .await?
                .rows_affected()
        });
        for item in 0..SHARDS {
            let shard_status = if attempt == 1 && item == SHARDS - 1 {
                "failed"
            } else {
                "succeeded"
            };
            on_tx!(&mut tx, conn => {
                sqlx::query(
                    "INSERT INTO shard_runs (run_id, item, instance, epoch, status, attempts, rows_in, rows_out, started_at, finished_at) \
                     VALUES ($1, $2, 'bench-node', 1, $3, 1, 1000, 1000, $4, $5)",
                )
                .bind(&run_id)
                .bind(item)
                .bind(shard_status)
                .bind(started)
                .bind(finished)
                .execute(&mut **conn)
                .await?
                .rows_affected()
            });
        }
        for (kind, at) in [("started", started), (status, finished)] {
            on_tx!(&mut tx, conn => {
                sqlx::query("INSERT INTO run_events (run_id, item, at, kind, message) VALUES ($1, NULL, $2, $3, 'bench')")
                    .bind(&run_id)
                    .bind(at)
                    .bind(kind)
                    .execute(&mut **conn)
                    .await?
                .rows_affected()
            });
        }
        if i == runs / 2 {
            some_run = run_id;
        }
    }
    tx.commit().await?;
    Ok(some_run)
}

/// Median and 95th percentile of a set of durations.
fn spread(mut times: Vec<Duration>) -> (Duration, Duration) {
    times.sort();
    if times.is_empty() {
        return (Duration::ZERO, Duration::ZERO);
    }
    let at = |q: f64| times[((times.len() - 1) as f64 * q).round() as usize];
    (at(0.5), at(0.95))
}

fn ms(d: Duration) -> String {
    format!("{:.1} ms", d.as_secs_f64() * 1000.0)
}

/// One page's figures.
#[derive(Debug, Clone)]
pub struct PageFigure {
    pub path: String,
    pub median: Duration,
    pub p95: Duration,
    pub bytes: usize,
    /// The page's database reads alone (median), where measured.
    pub reads: Option<Duration>,
}

/// Serves the console for `runner` (pages open to read) and requests each
/// page `requests` times; prints and returns the figures.
pub async fn measure(
    runner: Runner,
    run_id: &str,
    requests: usize,
) -> Result<Vec<PageFigure>, BenchError> {
    let shutdown = CancellationToken::new();
    let state = ConsoleState {
        runner: runner.clone(),
        settings: ConsoleSettings {
            read_only_open: true,
            ..ConsoleSettings::default()
        },
        metrics: Metrics::default(),
        cluster: None,
        execute_here: true,
    };
    let (tx, rx) = tokio::sync::oneshot::channel();
    let server = tokio::spawn(super::serve(
        state,
        std::net::SocketAddr::from(([127, 0, 0, 1], 0)),
        shutdown.clone(),
        Some(tx),
    ));
    let addr = match rx.await {
        Ok(addr) => addr,
        Err(_) => {
            return Err(match server.await {
                Ok(Err(e)) => e.into(),
                _ => BenchError::Http {
                    path: "/".into(),
                    reason: "the console did not start".into(),
                },
            });
        }
    };
    let client = hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
        .build_http::<http_body_util::Empty<hyper::body::Bytes>>();
    let ledger = runner.ledger().clone();
    let pages = [
        "/".to_string(),
        "/runs".to_string(),
        format!("/runs/{run_id}"),
        "/cluster".to_string(),
    ];
    let mut figures = Vec::new();
    for path in pages {
        let mut times = Vec::with_capacity(requests);
        let mut bytes = 0;
        // One untimed request first (connection, page cache), then the timed ones.
        for n in 0..=requests.max(1) {
            let uri: hyper::Uri = format!("http://{addr}{path}").parse().map_err(
                |e: hyper::http::uri::InvalidUri| BenchError::Http {
                    path: path.clone(),
                    reason: e.to_string(),
                },
            )?;
            let started = Instant::now();
            let http = |reason: String| BenchError::Http {
                path: path.clone(),
                reason,
            };
            let response = client.get(uri).await.map_err(|e| http(e.to_string()))?;
            let status = response.status();
            let body = response
                .into_body()
                .collect()
                .await
                .map_err(|e| http(e.to_string()))?
                .to_bytes();
            if n > 0 {
                times.push(started.elapsed());
            }
            if !status.is_success() {
                return Err(http(format!("HTTP {status}")));
            }
            bytes = body.len();
        }
        // The baseline: the same ledger reads, without HTTP and HTML.
        let reads = match path.as_str() {
            "/" => {
                let mut t = Vec::new();
                for _ in 0..=requests.max(1) {
                    let started = Instant::now();
                    let end = ledger.latest_business_date().await?.unwrap_or_default();
                    ledger
                        .latest_attempts(end - chrono::Duration::days(13), end)
                        .await?;
                    t.push(started.elapsed());
                }
                Some(spread(t.split_off(1)).0)
            }
            "/runs" => {
                let mut t = Vec::new();
                for _ in 0..=requests.max(1) {
                    let started = Instant::now();
                    ledger
                        .runs(&RunFilter {
                            limit: 200,
                            ..RunFilter::default()
                        })
                        .await?;
                    t.push(started.elapsed());
                }
                Some(spread(t.split_off(1)).0)
            }
            _ => None,
        };
        let (median, p95) = spread(times);
        figures.push(PageFigure {
            path,
            median,
            p95,
            bytes,
            reads,
        });
    }
    shutdown.cancel();
    let _ = server.await;
    Ok(figures)
}

/// The figures as a table.
pub fn print(figures: &[PageFigure], runs: usize, requests: usize, backend: &str) {
    println!(
        "console pages on a book of {runs} runs ({backend}), {requests} requests each, HTTP on 127.0.0.1:"
    );
    println!(
        "{:<48} {:>10} {:>10} {:>10}   baseline: the page's database reads alone (median)",
        "page", "median", "p95", "bytes"
    );
    for f in figures {
        println!(
            "{:<48} {:>10} {:>10} {:>10}   {}",
            f.path,
            ms(f.median),
            ms(f.p95),
            f.bytes,
            f.reads.map(ms).unwrap_or_else(|| "—".into())
        );
    }
}

/// Convenience for callers holding the pieces.
pub async fn run(
    runner: Runner,
    jobs: &[String],
    runs: usize,
    requests: usize,
) -> Result<Vec<PageFigure>, BenchError> {
    let db = runner.ledger().db().clone();
    let last = NaiveDate::from_ymd_opt(2026, 11, 21).unwrap_or_default();
    let started = Instant::now();
    let run_id = write_book(&db, jobs, runs, last).await?;
    let backend = match &db {
        Db::Sqlite(_) => "SQLite",
        Db::Postgres(_) => "PostgreSQL",
    };
    let count: i64 = on_db!(&db, pool => {
        sqlx::query_scalar("SELECT COUNT(*) FROM runs").fetch_one(pool).await?
    });
    println!(
        "book: {count} runs, {} shard rows, written in {:.1} s",
        count * SHARDS,
        started.elapsed().as_secs_f64()
    );
    let figures = measure(runner, &run_id, requests).await?;
    print(&figures, count as usize, requests, backend);
    Ok(figures)
}
