//! Test harness: a fresh SQLite file or a fresh PostgreSQL database per test,
//! a probe job kind with controllable failures, and catalog helpers.
#![allow(dead_code)]

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::NaiveDate;
use reckon::catalog::Catalog;
use reckon::coord::Embedded;
use reckon::db::Db;
use reckon::ledger::{Ledger, NewRun, Trigger};
use reckon::runtime::{
    JobError, JobKind, KindRegistry, Paths, Progress, RunCtx, RunOutcome, RunSummary, Runner,
    RunnerConfig, ShardCtx, ShardOutcome,
};
use reckon::schedule::{Clock, SystemClock};
use reckon::{on_db, on_tx};

/// The PostgreSQL server the tests use (started by `.ci/run`).
pub fn postgres_admin_url() -> String {
    std::env::var("RECKON_TEST_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into())
}

/// A database for one test; keeps a SQLite file's directory alive.
pub struct TestDb {
    pub db: Db,
    pub url: String,
    pub dir: tempfile::TempDir,
    /// The server's admin URL and the database's name (PostgreSQL).
    postgres_name: Option<(String, String)>,
}

impl TestDb {
    /// A fresh, migrated SQLite database in a temporary directory.
    pub async fn sqlite() -> TestDb {
        let dir = tempfile::tempdir().expect("temporary directory");
        let url = format!("sqlite://{}", dir.path().join("reckon.db").display());
        let db = Db::connect_and_migrate(&url).await.expect("sqlite opens");
        TestDb {
            db,
            url,
            dir,
            postgres_name: None,
        }
    }

    /// A fresh, migrated PostgreSQL database on the test server.
    pub async fn postgres() -> TestDb {
        TestDb::postgres_at(&postgres_admin_url()).await
    }

    /// A fresh, migrated PostgreSQL database on the server of `admin_url`
    /// (a database URL with the rights to create databases).
    pub async fn postgres_at(admin_url: &str) -> TestDb {
        let admin_url = admin_url.to_string();
        let name = format!("reckon_t_{}", uuid::Uuid::new_v4().simple());
        let admin = sqlx::PgPool::connect(&admin_url).await.unwrap_or_else(|e| {
            panic!("PostgreSQL at {admin_url} is needed for this test (run .ci/run): {e}")
        });
        sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
            .execute(&admin)
            .await
            .expect("create database");
        admin.close().await;
        let base = admin_url
            .rsplit_once('/')
            .map(|(b, _)| b.to_string())
            .expect("url with database");
        let url = format!("{base}/{name}");
        let db = Db::connect_and_migrate(&url).await.expect("postgres opens");
        let dir = tempfile::tempdir().expect("temporary directory");
        TestDb {
            db,
            url,
            dir,
            postgres_name: Some((admin_url, name)),
        }
    }

    /// Drops a PostgreSQL test database (best effort).
    pub async fn cleanup(self) {
        self.db.close().await;
        if let Some((admin_url, name)) = self.postgres_name
            && let Ok(admin) = sqlx::PgPool::connect(&admin_url).await
        {
            let _ = sqlx::query(sqlx::AssertSqlSafe(format!(
                "DROP DATABASE IF EXISTS {name} WITH (FORCE)"
            )))
            .execute(&admin)
            .await;
        }
    }

    /// Where reports go for this test.
    pub fn reports_dir(&self) -> PathBuf {
        self.dir.path().join("reports")
    }
}

/// Generates `sqlite` and `postgres` variants of an async test body taking a `TestDb`.
#[macro_export]
macro_rules! on_both_backends {
    ($($name:ident => $body:ident;)+) => {
        $(
            mod $name {
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn sqlite() {
                    let db = $crate::common::TestDb::sqlite().await;
                    super::$body(&db).await;
                    db.cleanup().await;
                }
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn postgres() {
                    let db = $crate::common::TestDb::postgres().await;
                    super::$body(&db).await;
                    db.cleanup().await;
                }
            }
        )+
    };
}

/// Behaviour of the probe kind, shared with the test.
#[derive(Default)]
pub struct ProbeControl {
    /// Items whose every attempt fails.
    pub failing: Mutex<BTreeSet<u32>>,
    /// Attempts started per item.
    pub calls: Mutex<BTreeMap<u32, u32>>,
    /// Delay before committing, per item.
    pub delay: Mutex<BTreeMap<u32, Duration>>,
    /// Called after computing, before committing (to simulate a takeover).
    pub before_commit: Mutex<Option<BeforeCommit>>,
}

/// A hook run between computing and committing a probe shard.
pub type BeforeCommit =
    Box<dyn Fn(&ShardCtx) -> futures::future::BoxFuture<'static, ()> + Send + Sync>;

impl ProbeControl {
    pub fn fail(&self, item: u32, failing: bool) {
        let mut set = self.failing.lock().unwrap();
        if failing {
            set.insert(item);
        } else {
            set.remove(&item);
        }
    }
    pub fn calls(&self, item: u32) -> u32 {
        self.calls.lock().unwrap().get(&item).copied().unwrap_or(0)
    }
}

/// A job kind that writes one row per shard to `probe_outputs`, replacing
/// earlier rows of the same (job, date, item).
pub struct Probe(pub Arc<ProbeControl>);

pub const PROBE_TABLE: &str = "CREATE TABLE IF NOT EXISTS probe_outputs (job TEXT NOT NULL, business_date TEXT NOT NULL, item BIGINT NOT NULL, run_id TEXT NOT NULL, epoch BIGINT NOT NULL, PRIMARY KEY (job, business_date, item))";

pub async fn create_probe_table(db: &Db) {
    on_db!(db, pool => { sqlx::query(PROBE_TABLE).execute(pool).await.expect("probe table"); });
}

/// Rows in probe_outputs as (item, run_id, epoch), by item.
pub async fn probe_rows(db: &Db, job: &str) -> Vec<(i64, String, i64)> {
    on_db!(db, pool => {
        sqlx::query_as("SELECT item, run_id, epoch FROM probe_outputs WHERE job = $1 ORDER BY item")
            .bind(job)
            .fetch_all(pool)
            .await
            .expect("probe rows")
    })
}

#[async_trait::async_trait]
impl JobKind for Probe {
    fn name(&self) -> &'static str {
        "probe"
    }

    async fn run_shard(&self, ctx: &ShardCtx) -> Result<ShardOutcome, JobError> {
        *self.0.calls.lock().unwrap().entry(ctx.item).or_default() += 1;
        let delay = self.0.delay.lock().unwrap().get(&ctx.item).copied();
        if let Some(delay) = delay {
            tokio::time::sleep(delay).await;
        }
        if self.0.failing.lock().unwrap().contains(&ctx.item) {
            return Err(JobError::Failed(format!(
                "probe failure in item {}",
                ctx.item
            )));
        }
        let hook = self
            .0
            .before_commit
            .lock()
            .unwrap()
            .as_ref()
            .map(|f| f(ctx));
        if let Some(hook) = hook {
            hook.await;
        }
        let mut tx = ctx.begin_outputs().await?;
        on_tx!(tx.tx(), conn => {
            sqlx::query("DELETE FROM probe_outputs WHERE job = $1 AND business_date = $2 AND item = $3")
                .bind(&ctx.job.name).bind(ctx.business_date.to_string()).bind(i64::from(ctx.item))
                .execute(&mut **conn).await?;
            sqlx::query("INSERT INTO probe_outputs (job, business_date, item, run_id, epoch) VALUES ($1, $2, $3, $4, $5)")
                .bind(&ctx.job.name).bind(ctx.business_date.to_string()).bind(i64::from(ctx.item)).bind(ctx.run_id.as_str()).bind(ctx.epoch)
                .execute(&mut **conn).await?;
        });
        let outcome = ShardOutcome {
            item: ctx.item,
            rows_in: 10,
            rows_out: 1,
            summary: serde_json::json!({"item": ctx.item}),
        };
        ctx.commit_outputs(tx, &outcome).await?;
        Ok(outcome)
    }

    async fn finalize(
        &self,
        ctx: &RunCtx,
        shards: &[ShardOutcome],
    ) -> Result<RunOutcome, JobError> {
        let mut report =
            reckon::report::CsvReport::new("summary.csv", &["item", "rows_in"], false)?;
        for shard in shards {
            report.row([shard.item.to_string(), shard.rows_in.to_string()])?;
        }
        let lead = ctx.lead().await?;
        let reports = ctx.publish(&lead, vec![report.finish()?])?;
        lead.done();
        Ok(RunOutcome {
            reports,
            summary: serde_json::json!({"shards": shards.len()}),
            attention: vec![],
            failure: None,
        })
    }
}

/// A probe job definition (TOML) with `shards` items.
/// `extra` lines override the defaults (retries = 1, 10ms backoff, 5s timeout).
pub fn probe_job(name: &str, shards: u32, extra: &str) -> String {
    let mut text = format!("name = \"{name}\"\nkind = \"probe\"\nshards = {shards}\n{extra}\n");
    for (key, value) in [
        ("retries", "1"),
        ("retry_backoff", "\"10ms\""),
        ("timeout", "\"5s\""),
    ] {
        if !extra.lines().any(|l| l.trim_start().starts_with(key)) {
            text.push_str(&format!("{key} = {value}\n"));
        }
    }
    text
}

/// Everything a runtime test needs.
pub struct Harness {
    pub runner: Runner,
    pub control: Arc<ProbeControl>,
    pub ledger: Ledger,
}

/// A runner over `db` with `kinds` and the given job files (name, TOML text);
/// reports under the test directory, which is also the data directory.
pub fn runner_with(
    db: &TestDb,
    kinds: KindRegistry,
    jobs: &[(&str, String)],
    clock: Arc<dyn Clock>,
) -> Runner {
    runner_with_coord(
        db,
        kinds,
        jobs,
        clock,
        Arc::new(Embedded::new("test-node")),
        test_runner_config(),
    )
}

/// The runner limits tests use (short heartbeat and dependency poll).
pub fn test_runner_config() -> RunnerConfig {
    RunnerConfig {
        parallel_shards_max: 4,
        run_lease: Duration::from_secs(60),
        heartbeat_interval: Duration::from_millis(200),
        dependency_poll: Duration::from_millis(50),
    }
}

/// [`runner_with`] under a given coordinator and runner config.
pub fn runner_with_coord(
    db: &TestDb,
    kinds: KindRegistry,
    jobs: &[(&str, String)],
    clock: Arc<dyn Clock>,
    coord: Arc<dyn reckon::runtime::Coordinator>,
    config: RunnerConfig,
) -> Runner {
    let files: Vec<(PathBuf, String)> = jobs
        .iter()
        .map(|(name, text)| (PathBuf::from(format!("jobs/{name}.toml")), text.clone()))
        .collect();
    let catalog = Catalog::from_sources(&files, &kinds).expect("valid test catalog");
    let paths = Paths {
        reports_dir: db.reports_dir(),
        data_dir: db.dir.path().to_path_buf(),
        excel_bom: false,
        reports_xlsx: false,
    };
    Runner::new(
        Ledger::new(db.db.clone(), clock),
        Arc::new(catalog),
        Arc::new(kinds),
        coord,
        paths,
        config,
    )
}

/// A runner with reckon's built-in kinds over the given job files.
pub fn builtin_runner(db: &TestDb, jobs: &[(&str, String)]) -> Runner {
    runner_with(db, reckon::jobs::builtin(), jobs, Arc::new(SystemClock))
}

/// Runs `job` for `business_date` now (manual trigger).
pub async fn run_job(runner: &Runner, job: &str, business_date: &str) -> RunSummary {
    runner
        .run_now(manual(job, business_date), Arc::new(Progress::default()))
        .await
        .expect("run executes")
}

/// Reruns `parent` (all shards) and waits for it.
pub async fn rerun_run(runner: &Runner, parent: &RunSummary, reason: &str) -> RunSummary {
    let run = runner
        .request_rerun(&parent.run.run_id, false, reason, "test")
        .await
        .expect("rerun requested");
    runner
        .execute(&run.run_id, Arc::new(Progress::default()))
        .await
        .expect("rerun executes")
}

/// The text of one report file of a run.
pub fn report_text(db: &TestDb, summary: &RunSummary, file: &str) -> String {
    let path = db
        .reports_dir()
        .join(summary.run.business_date.to_string())
        .join(&summary.run.job)
        .join(&summary.run.run_id)
        .join(file);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// A runner over `db` with the probe kind and the given job files.
pub async fn harness(db: &TestDb, jobs: &[(&str, String)], clock: Arc<dyn Clock>) -> Harness {
    create_probe_table(&db.db).await;
    let control = Arc::new(ProbeControl::default());
    let mut kinds = KindRegistry::new();
    kinds.register(Arc::new(Probe(control.clone())));
    let ledger = Ledger::new(db.db.clone(), clock.clone());
    let runner = runner_with(db, kinds, jobs, clock);
    Harness {
        runner,
        control,
        ledger,
    }
}

/// A harness on the system clock.
pub async fn simple_harness(db: &TestDb, jobs: &[(&str, String)]) -> Harness {
    harness(db, jobs, Arc::new(SystemClock)).await
}

pub fn date(text: &str) -> NaiveDate {
    text.parse().expect("test date")
}

/// A manual run request.
pub fn manual(job: &str, business_date: &str) -> NewRun {
    NewRun {
        job: job.into(),
        business_date: date(business_date),
        trigger: Trigger::Manual,
        requested_by: "test".into(),
        reason: Some("test".into()),
        parent_run: None,
        failed_only: false,
        params: serde_json::json!({}),
    }
}
pub mod faults;
pub mod http;
pub mod lead;
pub mod ledger_rows;
pub mod node;
pub mod pg;
pub mod receiver;
pub mod recon;
pub mod zk;

/// The disable/enable journal, oldest first, one line per change:
/// `what name action by actor (scope): reason`.
pub async fn toggle_journal(db: &reckon::db::Db) -> Vec<String> {
    reckon::toggles::journal(db, 1000)
        .await
        .expect("toggle journal")
        .into_iter()
        .rev()
        .map(|e| {
            format!(
                "{} {} {} by {} ({}): {}",
                e.what, e.name, e.action, e.actor, e.scope, e.reason
            )
        })
        .collect()
}
