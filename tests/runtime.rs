//! The runtime on SQLite and PostgreSQL: failed shards and reruns, one run
//! at a time per job and date, fencing, dependencies, timeouts, shutdown.

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::{TestDb, date, manual, probe_job, probe_rows, simple_harness};
use reckon::ledger::{LedgerError, RunStatus, Trigger};
use reckon::runtime::{Progress, RunError};

on_both_backends! {
    failed_shard_then_rerun_failed_only => failed_shard_then_rerun_failed_only;
    concurrent_requests_refused => concurrent_requests_refused;
    superseded_epoch_cannot_commit => superseded_epoch_cannot_commit;
    takeover_during_run_fences_old_attempt => takeover_during_run_fences_old_attempt;
    dependencies_wait_then_fail => dependencies_wait_then_fail;
    succeeded_date_not_run_twice => succeeded_date_not_run_twice;
    every_fire_jobs_run_again_for_a_succeeded_date => every_fire_jobs_run_again_for_a_succeeded_date;
    abandoned_run_is_healed => abandoned_run_is_healed;
    timeout_fails_the_shard => timeout_fails_the_shard;
    shutdown_cancels_unstarted_shards => shutdown_cancels_unstarted_shards;
}

async fn failed_shard_then_rerun_failed_only(db: &TestDb) {
    let h = simple_harness(db, &[("eod", probe_job("eod", 4, ""))]).await;
    h.control.fail(2, true);
    let first = h
        .runner
        .run_now(manual("eod", "2026-11-21"), Arc::new(Progress::default()))
        .await
        .unwrap();
    assert_eq!(first.run.status, RunStatus::Failed);
    assert!(
        first
            .run
            .error
            .as_deref()
            .unwrap()
            .contains("shard 2 failed"),
        "{:?}",
        first.run.error
    );
    let statuses: Vec<RunStatus> = first.shards.iter().map(|s| s.status).collect();
    assert_eq!(
        statuses,
        [
            RunStatus::Succeeded,
            RunStatus::Succeeded,
            RunStatus::Failed,
            RunStatus::Succeeded
        ]
    );
    assert_eq!(first.shards[2].attempts, 2, "one retry");
    // The other shards' outputs are committed.
    let items: Vec<i64> = probe_rows(&db.db, "eod")
        .await
        .iter()
        .map(|r| r.0)
        .collect();
    assert_eq!(items, [0, 1, 3]);

    h.control.fail(2, false);
    let rerun = h
        .runner
        .request_rerun(&first.run.run_id, true, "fixed the input", "operator")
        .await
        .unwrap();
    let second = h
        .runner
        .execute(&rerun.run_id, Arc::new(Progress::default()))
        .await
        .unwrap();
    assert_eq!(second.run.status, RunStatus::Succeeded);
    assert_eq!(second.run.attempt, 2);
    assert_eq!(second.run.trigger, Trigger::Rerun);
    assert_eq!(
        second.run.parent_run.as_deref(),
        Some(first.run.run_id.as_str())
    );
    assert!(second.run.failed_only);
    // Only shard 2 ran again.
    assert_eq!(
        [
            h.control.calls(0),
            h.control.calls(1),
            h.control.calls(2),
            h.control.calls(3)
        ],
        [1, 1, 3, 1]
    );
    for shard in &second.shards {
        let expected = if shard.item == 2 {
            None
        } else {
            Some(first.run.run_id.as_str())
        };
        assert_eq!(
            shard.carried_from.as_deref(),
            expected,
            "item {}",
            shard.item
        );
    }
    // Outputs replaced, never appended: one row per item.
    let rows = probe_rows(&db.db, "eod").await;
    assert_eq!(rows.iter().map(|r| r.0).collect::<Vec<_>>(), [0, 1, 2, 3]);
    assert_eq!(rows[2].1, second.run.run_id.as_str());
    // The history shows the link.
    let history = h
        .ledger
        .runs(&reckon::ledger::RunFilter {
            job: Some("eod".into()),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(history.len(), 2);
    assert_eq!(
        history[0].parent_run.as_deref(),
        Some(first.run.run_id.as_str())
    );
}

async fn concurrent_requests_refused(db: &TestDb) {
    let h = simple_harness(db, &[("eod", probe_job("eod", 2, ""))]).await;
    let (a, b) = tokio::join!(
        h.runner.request(manual("eod", "2026-11-21")),
        h.runner.request(manual("eod", "2026-11-21"))
    );
    let (ok, refused) = match (a, b) {
        (Ok(run), Err(err)) | (Err(err), Ok(run)) => (run, err),
        other => panic!("exactly one request must win: {other:?}"),
    };
    match &refused {
        RunError::Ledger(LedgerError::RunActive { run_id, .. }) => assert_eq!(run_id, &ok.run_id),
        other => panic!("unexpected refusal {other:?}"),
    }
    assert!(refused.to_string().contains("already pending"), "{refused}");
    // Another date is independent.
    h.runner.request(manual("eod", "2026-11-22")).await.unwrap();
    // Once the first finishes, a new request is judged on the outcome (succeeded → refused as done).
    let done = h
        .runner
        .execute(&ok.run_id, Arc::new(Progress::default()))
        .await
        .unwrap();
    assert_eq!(done.run.status, RunStatus::Succeeded);
}

async fn superseded_epoch_cannot_commit(db: &TestDb) {
    let h = simple_harness(db, &[("eod", probe_job("eod", 1, ""))]).await;
    let run = h.runner.request(manual("eod", "2026-11-21")).await.unwrap();
    h.ledger
        .start_run_with_shards(&run.run_id, "node-a", &[0], None, None)
        .await
        .unwrap();
    let d = date("2026-11-21");
    let old = h
        .ledger
        .claim_shard(&run.run_id, &"eod".into(), d, 0, "node-a")
        .await
        .unwrap();
    let new = h
        .ledger
        .claim_shard(&run.run_id, &"eod".into(), d, 0, "node-b")
        .await
        .unwrap();
    assert!(new > old, "epochs only grow");
    match h
        .ledger
        .begin_fenced(&run.run_id, &"eod".into(), d, 0, old)
        .await
    {
        Err(LedgerError::Fenced { held, .. }) => assert_eq!(held, old),
        Err(other) => panic!("unexpected {other:?}"),
        Ok(_) => panic!("a superseded epoch must not open its outputs"),
    }
    let fenced = h
        .ledger
        .begin_fenced(&run.run_id, &"eod".into(), d, 0, new)
        .await
        .unwrap();
    h.ledger
        .commit_shard(fenced, 1, 1, &serde_json::json!({}))
        .await
        .unwrap();
    let shard = &h.ledger.shards(&run.run_id).await.unwrap()[0];
    assert_eq!(
        (shard.status, shard.epoch, shard.instance.as_deref()),
        (RunStatus::Succeeded, Some(new), Some("node-b"))
    );
}

async fn takeover_during_run_fences_old_attempt(db: &TestDb) {
    let h = simple_harness(db, &[("eod", probe_job("eod", 1, "retries = 0"))]).await;
    // While the shard computes, another node claims it (as failover would).
    let ledger = h.ledger.clone();
    *h.control.before_commit.lock().unwrap() = Some(Box::new(move |ctx| {
        let ledger = ledger.clone();
        let (run_id, job, d, item) = (
            ctx.run_id.clone(),
            ctx.job.name.clone(),
            ctx.business_date,
            ctx.item,
        );
        Box::pin(async move {
            ledger
                .claim_shard(&run_id, &job, d, item, "node-b")
                .await
                .unwrap();
        })
    }));
    let summary = h
        .runner
        .run_now(manual("eod", "2026-11-21"), Arc::new(Progress::default()))
        .await
        .unwrap();
    assert_eq!(summary.run.status, RunStatus::Failed);
    assert!(
        summary.shards[0]
            .error
            .as_deref()
            .unwrap()
            .contains("was taken over"),
        "{:?}",
        summary.shards[0].error
    );
    assert!(
        probe_rows(&db.db, "eod").await.is_empty(),
        "the stale attempt committed nothing"
    );
}

async fn dependencies_wait_then_fail(db: &TestDb) {
    let h = simple_harness(
        db,
        &[
            ("settle", probe_job("settle", 1, "")),
            (
                "recon",
                probe_job(
                    "recon",
                    1,
                    "depends_on = [\"settle\"]\ndepends_wait = \"300ms\"",
                ),
            ),
        ],
    )
    .await;
    let waited = h
        .runner
        .run_now(manual("recon", "2026-11-21"), Arc::new(Progress::default()))
        .await
        .unwrap();
    assert_eq!(waited.run.status, RunStatus::Failed);
    let error = waited.run.error.unwrap();
    assert!(
        error.contains("settle has not succeeded for 2026-11-21"),
        "{error}"
    );
    assert_eq!(h.control.calls(0), 0, "nothing ran");
    // Dependency satisfied: the same request goes through.
    h.runner
        .run_now(
            manual("settle", "2026-11-21"),
            Arc::new(Progress::default()),
        )
        .await
        .unwrap();
    let ran = h
        .runner
        .run_now(manual("recon", "2026-11-21"), Arc::new(Progress::default()))
        .await
        .unwrap();
    assert_eq!(ran.run.status, RunStatus::Succeeded);
    assert_eq!(ran.run.attempt, 2);
}

async fn succeeded_date_not_run_twice(db: &TestDb) {
    let h = simple_harness(db, &[("eod", probe_job("eod", 2, ""))]).await;
    let first = h
        .runner
        .run_now(manual("eod", "2026-11-21"), Arc::new(Progress::default()))
        .await
        .unwrap();
    match h.runner.request(manual("eod", "2026-11-21")).await {
        Err(err @ RunError::AlreadySucceeded { .. }) => assert!(
            err.to_string()
                .contains(&format!("reckon rerun {}", first.run.run_id))
        ),
        other => panic!("expected refusal, got {other:?}"),
    }
    // A deliberate rerun replaces the outputs and writes byte-identical reports.
    let rerun = h
        .runner
        .request_rerun(&first.run.run_id, false, "late records", "operator")
        .await
        .unwrap();
    let second = h
        .runner
        .execute(&rerun.run_id, Arc::new(Progress::default()))
        .await
        .unwrap();
    assert_eq!(second.run.status, RunStatus::Succeeded);
    let rows = probe_rows(&db.db, "eod").await;
    assert_eq!(rows.len(), 2);
    assert!(rows.iter().all(|r| r.1 == second.run.run_id.as_str()));
    let read = |run: &reckon::ledger::RunRecord| {
        std::fs::read(
            db.reports_dir()
                .join("2026-11-21/eod")
                .join(&run.run_id)
                .join("summary.csv"),
        )
        .unwrap()
    };
    assert_eq!(read(&first.run), read(&second.run));
}

async fn abandoned_run_is_healed(db: &TestDb) {
    let clock = Arc::new(reckon::schedule::ManualClock::new(chrono::Utc::now()));
    let h = common::harness(db, &[("eod", probe_job("eod", 1, ""))], clock.clone()).await;
    let stuck = h.runner.request(manual("eod", "2026-11-21")).await.unwrap();
    // Its node dies: no heartbeat. Within the lease the date stays blocked…
    clock.set(chrono::Utc::now() + chrono::Duration::seconds(30));
    assert!(h.runner.request(manual("eod", "2026-11-21")).await.is_err());
    // …past the lease the stale run is failed and a new one may start.
    clock.set(chrono::Utc::now() + chrono::Duration::seconds(120));
    let fresh = h.runner.request(manual("eod", "2026-11-21")).await.unwrap();
    assert_eq!(fresh.attempt, 2);
    let old = h.ledger.run(&stuck.run_id).await.unwrap();
    assert_eq!(old.status, RunStatus::Failed);
    assert!(old.error.unwrap().contains("abandoned"));
}

async fn timeout_fails_the_shard(db: &TestDb) {
    let h = simple_harness(
        db,
        &[(
            "eod",
            probe_job("eod", 2, "timeout = \"100ms\"\nretries = 0"),
        )],
    )
    .await;
    h.control
        .delay
        .lock()
        .unwrap()
        .insert(1, Duration::from_secs(3));
    let summary = h
        .runner
        .run_now(manual("eod", "2026-11-21"), Arc::new(Progress::default()))
        .await
        .unwrap();
    assert_eq!(summary.run.status, RunStatus::Failed);
    assert_eq!(summary.shards[0].status, RunStatus::Succeeded);
    assert!(
        summary.shards[1]
            .error
            .as_deref()
            .unwrap()
            .contains("timed out after 100ms")
    );
}

async fn shutdown_cancels_unstarted_shards(db: &TestDb) {
    let h = simple_harness(db, &[("eod", probe_job("eod", 8, ""))]).await;
    for item in 0..8 {
        h.control
            .delay
            .lock()
            .unwrap()
            .insert(item, Duration::from_millis(400));
    }
    let runner = h.runner.clone();
    let control = h.control.clone();
    let stop = tokio::spawn(async move {
        // Stop once the 4 slots are taken (not after a fixed time: on a
        // loaded machine the first claims can take longer than that).
        let started = std::time::Instant::now();
        while (0..8).map(|item| control.calls(item)).sum::<u32>() < 4 {
            assert!(
                started.elapsed() < Duration::from_secs(30),
                "4 shards never started"
            );
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        runner.shutdown().stop_new.cancel();
    });
    let summary = h
        .runner
        .run_now(manual("eod", "2026-11-21"), Arc::new(Progress::default()))
        .await
        .unwrap();
    stop.await.unwrap();
    assert_eq!(summary.run.status, RunStatus::Cancelled);
    let done = summary
        .shards
        .iter()
        .filter(|s| s.status == RunStatus::Succeeded)
        .count();
    let cancelled = summary
        .shards
        .iter()
        .filter(|s| s.status == RunStatus::Cancelled)
        .count();
    // The 4 shards already running finished; the 4 waiting for a slot never started.
    assert_eq!((done, cancelled), (4, 4));
    assert_eq!(probe_rows(&db.db, "eod").await.len(), 4);
}

/// A job on live state (`runs_per_date = "every_fire"`, e.g. compensation)
/// runs again for a date that succeeded: a new attempt, never a refusal.
async fn every_fire_jobs_run_again_for_a_succeeded_date(db: &TestDb) {
    let h = simple_harness(
        db,
        &[(
            "sweep",
            probe_job("sweep", 1, "runs_per_date = \"every_fire\""),
        )],
    )
    .await;
    let mut attempts = Vec::new();
    for _ in 0..2 {
        let summary = h
            .runner
            .run_now(manual("sweep", "2026-11-21"), Arc::new(Progress::default()))
            .await
            .unwrap();
        assert_eq!(summary.run.status, RunStatus::Succeeded);
        attempts.push(summary.run.attempt);
    }
    assert_eq!(attempts, vec![1, 2]);
}

/// A kind whose outputs transaction takes this shard's `shard_runs` row lock
/// (as the claim and the fenced commit do) and keeps the transaction open
/// across several heartbeat intervals.
struct HoldsShardRow(Duration);

#[async_trait::async_trait]
impl reckon::runtime::JobKind for HoldsShardRow {
    fn name(&self) -> &'static str {
        "holds-row"
    }

    async fn run_shard(
        &self,
        ctx: &reckon::runtime::ShardCtx,
    ) -> Result<reckon::runtime::ShardOutcome, reckon::runtime::JobError> {
        let mut tx = ctx.begin_outputs().await?;
        reckon::on_tx!(tx.tx(), conn => {
            sqlx::query("UPDATE shard_runs SET heartbeat_at = heartbeat_at WHERE run_id = $1 AND item = $2")
                .bind(ctx.run_id.as_str())
                .bind(i64::from(ctx.item))
                .execute(&mut **conn)
                .await?;
        });
        // Busy, never idle in the transaction for long: a statement every 200 ms.
        let started = std::time::Instant::now();
        while started.elapsed() < self.0 {
            tokio::time::sleep(Duration::from_millis(200)).await;
            reckon::on_tx!(tx.tx(), conn => {
                sqlx::query("SELECT 1").execute(&mut **conn).await?;
            });
        }
        let outcome = reckon::runtime::ShardOutcome {
            item: ctx.item,
            rows_in: 1,
            rows_out: 1,
            summary: serde_json::json!({}),
        };
        ctx.commit_outputs(tx, &outcome).await?;
        Ok(outcome)
    }

    async fn finalize(
        &self,
        _ctx: &reckon::runtime::RunCtx,
        _shards: &[reckon::runtime::ShardOutcome],
    ) -> Result<reckon::runtime::RunOutcome, reckon::runtime::JobError> {
        Ok(reckon::runtime::RunOutcome {
            reports: vec![],
            summary: serde_json::json!({}),
            attention: vec![],
            failure: None,
        })
    }
}

/// A shard's own heartbeat never starves its open transaction: with
/// PostgreSQL's idle-in-transaction timeout at 1 s, its lock timeout at 3 s
/// and a heartbeat every 50 ms, a shard whose outputs transaction holds its
/// row for 2 s (busy: a statement every 200 ms) commits on its first attempt.
/// (A heartbeat awaited inside the loop that also drives the attempt waited
/// for that row lock, the attempt was not polled meanwhile, and PostgreSQL
/// ended its idle transaction: the CI flake of 2026-12-01.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn heartbeat_never_starves_the_shards_own_transaction() {
    let mut db = TestDb::postgres().await;
    let timeouts = reckon::db::DbTimeouts {
        lock: Duration::from_secs(3),
        idle_in_transaction: Duration::from_secs(1),
        statement: Duration::from_secs(60),
    };
    db.db = reckon::db::Db::connect_with(&db.url, timeouts)
        .await
        .unwrap();
    let mut kinds = reckon::runtime::KindRegistry::new();
    kinds.register(Arc::new(HoldsShardRow(Duration::from_secs(2))));
    let config = reckon::runtime::RunnerConfig {
        heartbeat_interval: Duration::from_millis(50),
        ..common::test_runner_config()
    };
    let runner = common::runner_with_coord(
        &db,
        kinds,
        &[(
            "held",
            "name = \"held\"\nkind = \"holds-row\"\nshards = 2\nretries = 0\ntimeout = \"30s\"\n"
                .to_string(),
        )],
        Arc::new(reckon::schedule::SystemClock),
        Arc::new(reckon::coord::Embedded::new("test-node")),
        config,
    );
    let summary = runner
        .run_now(manual("held", "2026-11-21"), Arc::new(Progress::default()))
        .await
        .unwrap();
    assert_eq!(
        summary.run.status,
        RunStatus::Succeeded,
        "{:?}",
        summary.run.error
    );
    for shard in &summary.shards {
        assert_eq!(
            (shard.status, shard.attempts),
            (RunStatus::Succeeded, 1),
            "{shard:?}"
        );
    }
    db.cleanup().await;
}

/// A dependent's run that started before a job it depends on committed new
/// outputs of the date read the old ones: at its barrier it marks itself
/// stale (and the upstream's barrier marked the dependent's previous run).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dependent_overlapping_an_upstream_commit_is_stale_itself() {
    let db = TestDb::sqlite().await;
    let h = simple_harness(
        &db,
        &[
            ("up", probe_job("up", 1, "")),
            ("down", probe_job("down", 2, "depends_on = [\"up\"]")),
        ],
    )
    .await;
    let progress = || Arc::new(Progress::default());
    let up = h
        .runner
        .run_now(manual("up", "2026-11-21"), progress())
        .await
        .unwrap();
    let down = h
        .runner
        .run_now(manual("down", "2026-11-21"), progress())
        .await
        .unwrap();
    assert_eq!(
        (up.run.status, down.run.status),
        (RunStatus::Succeeded, RunStatus::Succeeded)
    );
    // The dependent's rerun computes slowly (its item 1) ...
    h.control
        .delay
        .lock()
        .unwrap()
        .insert(1, Duration::from_millis(1500));
    let down_again = h
        .runner
        .request_rerun(&down.run.run_id, false, "again", "test")
        .await
        .unwrap();
    let runner = h.runner.clone();
    let down_id = down_again.run_id.clone();
    let slow = tokio::spawn(async move {
        runner
            .execute(&down_id, Arc::new(Progress::default()))
            .await
    });
    tokio::time::sleep(Duration::from_millis(400)).await;
    // ... while the upstream's rerun commits new outputs of the date.
    let up_again = h
        .runner
        .request_rerun(&up.run.run_id, false, "late data", "test")
        .await
        .unwrap();
    let up_done = h
        .runner
        .execute(&up_again.run_id, progress())
        .await
        .unwrap();
    assert_eq!(up_done.run.status, RunStatus::Succeeded);
    let down_done = slow.await.unwrap().unwrap();
    assert_eq!(down_done.run.status, RunStatus::Succeeded);
    let marks = h
        .ledger
        .active_stale_marks(Some(&"down".into()))
        .await
        .unwrap();
    let marked: Vec<(&str, &str)> = marks
        .iter()
        .map(|m| (m.run_id.as_str(), m.caused_by_run.as_str()))
        .collect();
    assert_eq!(
        marked,
        [(down_done.run.run_id.as_str(), up_done.run.run_id.as_str())],
        "the overlapping run is stale; the older one's mark was cleared by its success"
    );
    let attention = down_done.run.outcome.as_ref().unwrap()["attention"].to_string();
    assert!(
        attention.contains("this run is stale: up (run"),
        "{attention}"
    );
    db.cleanup().await;
}

/// A statement taking a key list (`= ANY($1)`) is planned for its keys on
/// every run, never switched to PostgreSQL's cached generic plan (which
/// cannot see the array; it scanned a 12 M-row table comparing every row
/// with every key at 1 M loans). Counted by PostgreSQL itself in
/// `pg_prepared_statements` after more runs than the five custom plans it
/// tries before considering a generic one.
#[tokio::test]
async fn key_list_statements_are_never_given_a_generic_plan() {
    let db = TestDb::postgres().await;
    let reckon::db::Db::Postgres(pool) = &db.db else {
        panic!("a PostgreSQL test database");
    };
    let mut conn = pool.acquire().await.unwrap();
    sqlx::query("CREATE TABLE plan_probe (k TEXT PRIMARY KEY, v INT NOT NULL)")
        .execute(&mut *conn)
        .await
        .unwrap();
    sqlx::query("INSERT INTO plan_probe SELECT 'k' || g, g FROM generate_series(1, 20000) g")
        .execute(&mut *conn)
        .await
        .unwrap();
    sqlx::query("ANALYZE plan_probe")
        .execute(&mut *conn)
        .await
        .unwrap();
    for run in 0..12 {
        let keys: Vec<String> = (0..50).map(|i| format!("k{}", run * 50 + i + 1)).collect();
        let rows: Vec<(i32,)> = sqlx::query_as("SELECT v FROM plan_probe WHERE k = ANY($1)")
            .bind(&keys)
            .fetch_all(&mut *conn)
            .await
            .unwrap();
        assert_eq!(rows.len(), 50);
    }
    let (generic, custom): (i64, i64) = sqlx::query_as(
        "SELECT generic_plans, custom_plans FROM pg_prepared_statements \
         WHERE statement LIKE 'SELECT v FROM plan_probe%'",
    )
    .fetch_one(&mut *conn)
    .await
    .unwrap();
    assert_eq!((generic, custom), (0, 12));
    drop(conn);
    db.cleanup().await;
}
