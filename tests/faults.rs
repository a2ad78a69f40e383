//! Faults between the steps of the node loop (issue 13), driven step by
//! step on both backends: each scenario names the bookkeeping gap it closes.
//! The process-level randomized series (kill -9, SIGSTOP, ZooKeeper outages)
//! is `reckon bench faults`; see docs/cluster.md.

mod common;

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use chrono::{TimeZone, Utc};
use common::node::TestCoord;
use common::{Probe, ProbeControl, TestDb, date, manual, probe_job, probe_rows};
use reckon::ledger::{JobName, LedgerError, RunFilter, RunStatus};
use reckon::node::{FaultPoint, Node};
use reckon::runtime::{KindRegistry, PendingRequest, RunRequest, Runner, RunnerConfig};
use reckon::schedule::{Clock, ManualClock, SystemClock};
use reckon::{on_db, on_tx};

on_both_backends! {
    adopted_run_without_shard_rows_is_dispatched_not_succeeded => adopted_run_without_shard_rows_is_dispatched_not_succeeded;
    cron_fire_survives_a_failed_run_creation => cron_fire_survives_a_failed_run_creation;
    pending_run_of_a_leader_that_stepped_down_is_adopted => pending_run_of_a_leader_that_stepped_down_is_adopted;
    retry_backoff_is_waiting_not_stalling => retry_backoff_is_waiting_not_stalling;
    shard_of_a_failed_run_is_neither_claimed_nor_committed => shard_of_a_failed_run_is_neither_claimed_nor_committed;
    zookeeper_blip_during_dispatch_leaves_the_run_to_the_next_step => zookeeper_blip_during_dispatch_leaves_the_run_to_the_next_step;
    superseded_leader_writes_nothing => superseded_leader_writes_nothing;
    catch_up_runs_every_missed_date_oldest_first => catch_up_runs_every_missed_date_oldest_first;
    requests_wait_while_disabled_jobs_cannot_be_read => requests_wait_while_disabled_jobs_cannot_be_read;
}

/// One node of a test cluster: its coordinator, runner and loop.
struct TestNode {
    coord: Arc<TestCoord>,
    runner: Runner,
    node: Node,
}

fn config(run_lease: Duration) -> RunnerConfig {
    RunnerConfig {
        parallel_shards_max: 4,
        run_lease,
        heartbeat_interval: Duration::from_millis(100),
        dependency_poll: Duration::from_millis(50),
    }
}

async fn test_node(
    db: &TestDb,
    control: &Arc<ProbeControl>,
    jobs: &[(&str, String)],
    id: &str,
    clock: Arc<dyn Clock>,
    run_lease: Duration,
) -> TestNode {
    common::create_probe_table(&db.db).await;
    let mut kinds = KindRegistry::new();
    kinds.register(Arc::new(Probe(control.clone())));
    let coord = TestCoord::new(id, true);
    let runner = common::runner_with_coord(
        db,
        kinds,
        jobs,
        clock.clone(),
        coord.clone(),
        config(run_lease),
    );
    coord.attach(runner.clone());
    let node = Node::new(runner.clone(), clock);
    TestNode {
        coord,
        runner,
        node,
    }
}

/// [`test_node`] on the system clock with a 60 s run lease.
async fn system_node(
    db: &TestDb,
    control: &Arc<ProbeControl>,
    jobs: &[(&str, String)],
    id: &str,
) -> TestNode {
    test_node(
        db,
        control,
        jobs,
        id,
        Arc::new(SystemClock),
        Duration::from_secs(60),
    )
    .await
}

async fn sql(db: &TestDb, text: &str) {
    on_db!(&db.db, pool => {
        sqlx::query(sqlx::AssertSqlSafe(text.to_string())).execute(pool).await.expect(text);
    });
}

/// Makes every INSERT into `table` fail (a crash at that write), on either backend.
async fn break_inserts(db: &TestDb, table: &str) {
    match db.db.backend() {
        reckon::db::Backend::Sqlite => {
            sql(db, &format!("CREATE TRIGGER injected_fault BEFORE INSERT ON {table} BEGIN SELECT RAISE(ABORT, 'injected fault'); END")).await
        }
        reckon::db::Backend::Postgres => {
            sql(db, "CREATE OR REPLACE FUNCTION injected_fault() RETURNS trigger AS $$ BEGIN RAISE EXCEPTION 'injected fault'; END $$ LANGUAGE plpgsql").await;
            sql(db, &format!("CREATE TRIGGER injected_fault BEFORE INSERT ON {table} FOR EACH ROW EXECUTE FUNCTION injected_fault()")).await;
        }
    }
}

async fn heal_inserts(db: &TestDb, table: &str) {
    match db.db.backend() {
        reckon::db::Backend::Sqlite => sql(db, "DROP TRIGGER injected_fault").await,
        reckon::db::Backend::Postgres => {
            sql(db, &format!("DROP TRIGGER injected_fault ON {table}")).await
        }
    }
}

/// Scenario 1: a leader died after marking a run running and before its
/// shard rows existed. The next leader must run the shards, not conclude
/// "all of nothing" as a success.
async fn adopted_run_without_shard_rows_is_dispatched_not_succeeded(db: &TestDb) {
    let control = Arc::new(ProbeControl::default());
    let jobs = [("eod", probe_job("eod", 3, ""))];
    let mut b = system_node(db, &control, &jobs, "node-b").await;
    let run = b.runner.request(manual("eod", "2026-11-21")).await.unwrap();
    // The state an older leader left: running, no shard rows.
    sql(
        db,
        &format!(
            "UPDATE runs SET status = 'running', owner = 'node-a' WHERE run_id = '{}'",
            run.run_id
        ),
    )
    .await;
    b.coord.elect();
    let step = b.node.step().await.unwrap();
    assert_eq!(step.adopted, vec![run.id()]);
    b.node.drain().await;
    let done = b.runner.ledger().run(&run.run_id).await.unwrap();
    let shards = b.runner.ledger().shards(&run.run_id).await.unwrap();
    assert_eq!(done.status, RunStatus::Succeeded, "{:?}", done.error);
    assert_eq!(shards.len(), 3, "every expected shard ran");
    assert_eq!(probe_rows(&db.db, "eod").await.len(), 3, "outputs exist");
}

/// A manual request arrives while the cluster's disabled jobs cannot be
/// read (a ZooKeeper blip between reading the requests and the switches):
/// it waits unanswered for the next step, never taken as "nothing is
/// disabled"; once the switches read, a disabled job's request is refused
/// naming the switch and an enabled job's runs.
async fn requests_wait_while_disabled_jobs_cannot_be_read(db: &TestDb) {
    let control = Arc::new(ProbeControl::default());
    let jobs = [
        ("eod", probe_job("eod", 1, "")),
        ("other", probe_job("other", 1, "")),
    ];
    let mut b = system_node(db, &control, &jobs, "node-b").await;
    b.coord.elect();
    let request = |handle: &str, job: &str| PendingRequest {
        handle: handle.into(),
        version: 0,
        request: RunRequest {
            job: Some(job.into()),
            business_date: Some(date("2026-11-21")),
            rerun_of: None,
            failed_only: false,
            reason: Some("operator run".into()),
            requested_by: "ops".into(),
        },
    };
    *b.coord.paused.lock().unwrap() =
        Err("reading disabled jobs: connection loss (injected)".into());
    b.coord
        .requests
        .lock()
        .unwrap()
        .extend([request("req-eod", "eod"), request("req-other", "other")]);
    let step = b.node.step().await.unwrap();
    assert!(step.requested.is_empty(), "{step:?}");
    assert!(
        b.coord.answers.lock().unwrap().is_empty(),
        "nothing answered"
    );
    assert_eq!(b.coord.requests.lock().unwrap().len(), 2, "both still wait");
    let filter = RunFilter {
        limit: 10,
        ..RunFilter::default()
    };
    assert!(b.runner.ledger().runs(&filter).await.unwrap().is_empty());

    *b.coord.paused.lock().unwrap() = Ok(BTreeSet::from([JobName::from("eod")]));
    let step = b.node.step().await.unwrap();
    b.node.drain().await;
    assert_eq!(step.requested.len(), 1, "{step:?}");
    let answers = b.coord.answers.lock().unwrap().clone();
    assert_eq!(answers.len(), 2);
    let (_, refused) = answers.iter().find(|(h, _)| h == "req-eod").unwrap();
    assert!(refused.run_id.is_none());
    let error = refused.error.as_deref().unwrap_or_default();
    assert!(
        error.contains("job `eod` is disabled in this cluster"),
        "{error}"
    );
    let (_, made) = answers.iter().find(|(h, _)| h == "req-other").unwrap();
    assert_eq!(made.run_id.as_ref(), Some(&step.requested[0]));
    let runs = b.runner.ledger().runs(&filter).await.unwrap();
    assert_eq!(runs.len(), 1);
    assert_eq!(
        (runs[0].job.as_str(), runs[0].status),
        ("other", RunStatus::Succeeded)
    );
    assert!(b.coord.requests.lock().unwrap().is_empty());
}

/// Scenario 2: the fire time and the run it creates commit together; a
/// crash at run creation leaves the fire due, so the next step fires it.
async fn cron_fire_survives_a_failed_run_creation(db: &TestDb) {
    let control = Arc::new(ProbeControl::default());
    // 02:00 in Shanghai = 18:00 UTC the day before.
    let jobs = [(
        "eod",
        probe_job(
            "eod",
            1,
            "cron = \"0 0 2 * * *\"\ntime_zone = \"Asia/Shanghai\"",
        ),
    )];
    let clock = Arc::new(ManualClock::new(
        Utc.with_ymd_and_hms(2026, 11, 21, 17, 0, 0).unwrap(),
    ));
    let mut a = test_node(
        db,
        &control,
        &jobs,
        "node-a",
        clock.clone(),
        Duration::from_secs(60),
    )
    .await;
    a.coord.elect();
    a.node.step().await.unwrap(); // remembers the clock position
    clock.set(Utc.with_ymd_and_hms(2026, 11, 21, 18, 0, 10).unwrap());
    break_inserts(db, "run_events").await;
    assert!(a.node.step().await.is_err(), "the run's transaction fails");
    heal_inserts(db, "run_events").await;
    let step = a.node.step().await.unwrap();
    assert_eq!(step.created.len(), 1, "the fire was not lost: {step:?}");
    a.node.drain().await;
    let run = a.runner.ledger().run(&step.created[0]).await.unwrap();
    assert_eq!(
        (run.business_date, run.status),
        (date("2026-11-21"), RunStatus::Succeeded)
    );
    // And not fired twice.
    assert!(a.node.step().await.unwrap().created.is_empty());
}

/// Scenario 3: a leader created a run and stepped down before starting it
/// (paused past its session). The next leader — or the same node in its
/// next term — runs it.
async fn pending_run_of_a_leader_that_stepped_down_is_adopted(db: &TestDb) {
    let control = Arc::new(ProbeControl::default());
    let jobs = [(
        "eod",
        probe_job(
            "eod",
            2,
            "cron = \"0 0 2 * * *\"\ntime_zone = \"Asia/Shanghai\"",
        ),
    )];
    let clock = Arc::new(ManualClock::new(
        Utc.with_ymd_and_hms(2026, 11, 21, 17, 0, 0).unwrap(),
    ));
    let mut a = test_node(
        db,
        &control,
        &jobs,
        "node-a",
        clock.clone(),
        Duration::from_secs(60),
    )
    .await;
    let armed = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let trip = armed.clone();
    let stop_after_tick: reckon::node::FaultHook = Arc::new(move |p| {
        !(trip.load(std::sync::atomic::Ordering::SeqCst) && p == FaultPoint::Ticked)
    });
    a.node = Node::new(a.runner.clone(), clock.clone()).with_faults(stop_after_tick);
    a.coord.elect();
    a.node.step().await.unwrap();
    clock.set(Utc.with_ymd_and_hms(2026, 11, 21, 18, 0, 5).unwrap());
    armed.store(true, std::sync::atomic::Ordering::SeqCst);
    let stopped = a.node.step().await;
    assert!(
        stopped.is_err(),
        "the leader stops right after creating the run"
    );
    a.coord.depose();
    let pending = a.runner.ledger().active_runs().await.unwrap();
    assert_eq!(pending.len(), 1);
    assert_eq!(pending[0].status, RunStatus::Pending);

    let mut b = test_node(
        db,
        &control,
        &jobs,
        "node-b",
        clock.clone(),
        Duration::from_secs(60),
    )
    .await;
    b.coord.elect();
    let step = b.node.step().await.unwrap();
    assert_eq!(step.adopted, vec![pending[0].id()]);
    b.node.drain().await;
    let run = b.runner.ledger().run(&pending[0].run_id).await.unwrap();
    assert_eq!(run.status, RunStatus::Succeeded, "{:?}", run.error);
}

/// Scenario 4: a shard waiting out a retry backoff longer than the stall
/// limit (timeout + run lease) is waiting, not stalled: the run succeeds.
async fn retry_backoff_is_waiting_not_stalling(db: &TestDb) {
    let control = Arc::new(ProbeControl::default());
    let jobs = [(
        "eod",
        probe_job(
            "eod",
            2,
            "retries = 1\nretry_backoff = \"3s\"\ntimeout = \"1s\"",
        ),
    )];
    let mut a = test_node(
        db,
        &control,
        &jobs,
        "node-a",
        Arc::new(SystemClock),
        Duration::from_secs(1),
    )
    .await;
    control.fail(1, true);
    let heal = control.clone();
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(800)).await;
        heal.fail(1, false);
    });
    a.coord.elect();
    let run = a.runner.request(manual("eod", "2026-11-21")).await.unwrap();
    a.node.step().await.unwrap();
    a.node.drain().await;
    let done = a.runner.ledger().run(&run.run_id).await.unwrap();
    assert_eq!(done.status, RunStatus::Succeeded, "{:?}", done.error);
    assert_eq!(control.calls(1), 2, "retried once after the backoff");
}

/// Scenario 4, second half: a shard of a failed run is not claimed again,
/// and a holder that computed it cannot commit into the failed run.
async fn shard_of_a_failed_run_is_neither_claimed_nor_committed(db: &TestDb) {
    let h = common::simple_harness(db, &[("eod", probe_job("eod", 2, ""))]).await;
    let d = date("2026-11-21");
    let run = h.runner.request(manual("eod", "2026-11-21")).await.unwrap();
    h.ledger
        .start_run_with_shards(&run.run_id, "node-a", &[0, 1], None, None)
        .await
        .unwrap();
    let epoch = h
        .ledger
        .claim_shard(&run.run_id, &"eod".into(), d, 0, "node-a")
        .await
        .unwrap();
    h.ledger
        .finish_run_as(
            &run.run_id,
            RunStatus::Failed,
            Some("no progress"),
            None,
            None,
        )
        .await
        .unwrap();
    match h
        .ledger
        .claim_shard(&run.run_id, &"eod".into(), d, 1, "node-b")
        .await
    {
        Err(LedgerError::RunOver { item: 1, .. }) => {}
        other => panic!("a shard of a failed run was claimed: {other:?}"),
    }
    let fenced = h
        .ledger
        .begin_fenced(&run.run_id, &"eod".into(), d, 0, epoch)
        .await
        .unwrap();
    let committed = h
        .ledger
        .commit_shard(fenced, 1, 1, &serde_json::json!({}))
        .await;
    assert!(
        matches!(committed, Err(LedgerError::Fenced { .. })),
        "{committed:?}"
    );
    let shards = h.ledger.shards(&run.run_id).await.unwrap();
    assert!(
        shards.iter().all(|s| s.status == RunStatus::Failed),
        "{shards:?}"
    );
}

/// Scenario 7: ZooKeeper is unreachable while the leader hands out work: the
/// run is left as it is, and the next step dispatches it again.
async fn zookeeper_blip_during_dispatch_leaves_the_run_to_the_next_step(db: &TestDb) {
    let control = Arc::new(ProbeControl::default());
    let jobs = [("eod", probe_job("eod", 2, ""))];
    let mut a = system_node(db, &control, &jobs, "node-a").await;
    a.coord
        .fail_dispatch
        .store(1, std::sync::atomic::Ordering::SeqCst);
    a.coord.elect();
    let run = a.runner.request(manual("eod", "2026-11-21")).await.unwrap();
    a.node.step().await.unwrap();
    a.node.drain().await;
    let left = a.runner.ledger().run(&run.run_id).await.unwrap();
    assert_eq!(
        left.status,
        RunStatus::Running,
        "not failed: {:?}",
        left.error
    );
    let step = a.node.step().await.unwrap();
    assert_eq!(step.adopted, vec![run.id()]);
    a.node.drain().await;
    let done = a.runner.ledger().run(&run.run_id).await.unwrap();
    assert_eq!(done.status, RunStatus::Succeeded, "{:?}", done.error);
    assert_eq!(probe_rows(&db.db, "eod").await.len(), 2);
}

/// Scenario 8: once a newer leader was elected, the old one can neither
/// create, start, fail nor finish a run; the new one concludes it.
async fn superseded_leader_writes_nothing(db: &TestDb) {
    let control = Arc::new(ProbeControl::default());
    let jobs = [("eod", probe_job("eod", 2, ""))];
    let a = system_node(db, &control, &jobs, "node-a").await;
    let ledger = a.runner.ledger().clone();
    let old = ledger.elect_leader("node-a").await.unwrap();
    let run = a
        .runner
        .request_as(manual("eod", "2026-11-21"), Some(old), None)
        .await
        .unwrap();
    let new = ledger.elect_leader("node-b").await.unwrap();
    assert!(new > old, "epochs only grow");
    let fenced = |r: Result<(), LedgerError>| {
        assert!(
            matches!(r, Err(LedgerError::LeaderFenced { held }) if held == old),
            "{r:?}"
        )
    };
    fenced(
        ledger
            .start_run_with_shards(&run.run_id, "node-a", &[0, 1], None, Some(old))
            .await,
    );
    fenced(
        ledger
            .finish_run_as(&run.run_id, RunStatus::Succeeded, None, None, Some(old))
            .await,
    );
    fenced(
        ledger
            .fail_unfinished_shards_as(&run.run_id, "stalled", Some(old))
            .await,
    );
    fenced(ledger.confirm_leader(Some(old)).await);
    assert!(matches!(
        a.runner
            .request_as(manual("eod", "2026-11-22"), Some(old), None)
            .await,
        Err(reckon::runtime::RunError::Ledger(
            LedgerError::LeaderFenced { .. }
        ))
    ));
    assert_eq!(
        ledger.run(&run.run_id).await.unwrap().status,
        RunStatus::Pending
    );
    // The old leader's loop, still believing it leads, executes the run: nothing moves.
    a.coord.elect();
    let _ = a
        .runner
        .execute_as(
            &run.run_id,
            Arc::new(reckon::runtime::Progress::default()),
            Some(old),
        )
        .await;
    assert_eq!(
        ledger.run(&run.run_id).await.unwrap().status,
        RunStatus::Pending
    );
    // The new leader concludes it.
    let mut b = system_node(db, &control, &jobs, "node-b").await;
    b.coord.elect();
    let step = b.node.step().await.unwrap();
    assert!(
        step.epoch.is_some_and(|e| e > new),
        "a new term, a new epoch: {step:?}"
    );
    b.node.drain().await;
    assert_eq!(
        ledger.run(&run.run_id).await.unwrap().status,
        RunStatus::Succeeded
    );
}

/// misfire = "catch_up": each missed business date runs, oldest first, one
/// at a time; nothing is skipped silently.
async fn catch_up_runs_every_missed_date_oldest_first(db: &TestDb) {
    let control = Arc::new(ProbeControl::default());
    let jobs = [(
        "eod",
        probe_job(
            "eod",
            1,
            "cron = \"0 0 2 * * *\"\ntime_zone = \"Asia/Shanghai\"\nmisfire = \"catch_up\"",
        ),
    )];
    let clock = Arc::new(ManualClock::new(
        Utc.with_ymd_and_hms(2026, 11, 19, 12, 0, 0).unwrap(),
    ));
    let mut a = test_node(
        db,
        &control,
        &jobs,
        "node-a",
        clock.clone(),
        Duration::from_secs(60),
    )
    .await;
    a.coord.elect();
    a.node.step().await.unwrap();
    // Down for three nights.
    clock.set(Utc.with_ymd_and_hms(2026, 11, 22, 12, 0, 0).unwrap());
    let mut dates = Vec::new();
    for _ in 0..6 {
        let step = a.node.step().await.unwrap();
        a.node.drain().await;
        for id in step.created {
            dates.push(a.runner.ledger().run(&id).await.unwrap().business_date);
        }
    }
    assert_eq!(
        dates,
        vec![date("2026-11-19"), date("2026-11-20"), date("2026-11-21")],
        "every missed business date, oldest first, once"
    );
}

/// Scenario 5 (PostgreSQL): a holder of a shard fence that stopped talking
/// mid-transaction (SIGSTOP) does not block its replacement's claim for
/// longer than the session timeout: the server ends the idle transaction.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn paused_fence_holder_does_not_block_its_replacement() {
    let db = TestDb::postgres().await;
    let timeouts = reckon::db::DbTimeouts::bounded_by(Duration::from_secs(1));
    let holder_db = reckon::db::Db::connect_with(&db.url, timeouts)
        .await
        .unwrap();
    let h = common::simple_harness(&db, &[("eod", probe_job("eod", 1, ""))]).await;
    let d = date("2026-11-21");
    let run = h.runner.request(manual("eod", "2026-11-21")).await.unwrap();
    h.ledger
        .start_run_with_shards(&run.run_id, "node-a", &[0], None, None)
        .await
        .unwrap();
    let epoch = h
        .ledger
        .claim_shard(&run.run_id, &"eod".into(), d, 0, "node-a")
        .await
        .unwrap();
    let holder = reckon::ledger::Ledger::new(holder_db.clone(), Arc::new(SystemClock));
    let mut fenced = holder
        .begin_fenced(&run.run_id, &"eod".into(), d, 0, epoch)
        .await
        .unwrap();
    // ... and the holder is paused here, its transaction open.
    let claimed = tokio::time::timeout(
        Duration::from_secs(8),
        h.ledger
            .claim_shard(&run.run_id, &"eod".into(), d, 0, "node-b"),
    )
    .await;
    let new = claimed
        .expect("the claim is not blocked by the paused holder")
        .expect("the claim succeeds once the holder's transaction is ended");
    assert!(new > epoch);
    // On waking, the holder commits nothing.
    let wrote = on_tx!(fenced.tx(), conn => {
        sqlx::query("SELECT 1").execute(&mut **conn).await.map(|_| ())
    });
    assert!(wrote.is_err(), "the holder's session was ended");
    drop(fenced);
    holder_db.close().await;
    db.cleanup().await;
}

/// The short randomized series CI runs (`RECKON_FAULT_TRIALS`, default 2:
/// a leader kill and a PostgreSQL restart): 3 `reckon serve` processes on a
/// private PostgreSQL cluster and a real ZooKeeper, one fault per trial,
/// then the invariant checker. The long series is `cargo bench --bench faults`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn random_faults_short_series_keeps_every_invariant() {
    let trials = std::env::var("RECKON_FAULT_TRIALS")
        .ok()
        .and_then(|t| t.parse().ok())
        .unwrap_or(2);
    let seed = std::env::var("RECKON_FAULT_SEED")
        .ok()
        .and_then(|t| t.parse().ok())
        .unwrap_or(1);
    let done = common::faults::series(trials, seed).await;
    let broken: Vec<_> = done.iter().filter(|t| !t.violations.is_empty()).collect();
    assert!(broken.is_empty(), "{broken:#?}");
}

/// `reckon jobs` shows business dates whose fire time passed with no run
/// (a node was down; misfire `skip` passed them over).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn jobs_lists_missed_business_dates_that_never_ran() {
    let db = TestDb::sqlite().await;
    let jobs = db.dir.path().join("jobs");
    std::fs::create_dir_all(&jobs).unwrap();
    std::fs::write(
        jobs.join("nightly.toml"),
        "name = \"nightly\"\nkind = \"command\"\ncron = \"0 30 1 * * *\"\nmisfire = \"skip\"\n[params]\nprogram = \"true\"\n",
    )
    .unwrap();
    let ledger = reckon::ledger::Ledger::new(db.db.clone(), Arc::new(SystemClock));
    let skipped = Utc.with_ymd_and_hms(2026, 11, 19, 17, 30, 0).unwrap();
    ledger
        .record_missed_fires(&"nightly".into(), &[(skipped, date("2026-11-19"))], "skip")
        .await
        .unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_reckon"))
        .args([
            "--database",
            &db.url,
            "--jobs",
            jobs.to_str().unwrap(),
            "jobs",
        ])
        .output()
        .unwrap();
    let listed = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        listed.contains("missed business dates that never ran (skip): 2026-11-19"),
        "{listed}"
    );
    db.cleanup().await;
}
