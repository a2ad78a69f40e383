//! Randomized process-level fault trials on a 3-node cluster (a private
//! PostgreSQL cluster that the trials may restart, real ZooKeeper,
//! `reckon serve` processes, a local HTTP downstream) and the invariant
//! checker run after each: shared by `tests/faults.rs` (a short series) and
//! `benches/faults.rs` (a long one).
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use reckon::ledger::{Ledger, RunFilter, RunRecord, RunStatus};
use reckon::on_db;
use reckon::schedule::SystemClock;

use super::TestDb;
use super::pg::PgServer;
use super::receiver::Receiver;
use super::zk::{Node, SESSION_TIMEOUT, Setup, ZkServer, client, instances, leader, wait_for};

const NS: &str = "reckon-faults";
/// A run must be final this long after its fault (session timeout, stall limit, retries).
const TERMINAL_BOUND: Duration = Duration::from_secs(150);
const EOD_SHARDS: i64 = 6;
const EOD_ROWS: i64 = 40;
const COMP_SHARDS: i64 = 3;
/// Messages the compensation run checks back and delivers in each trial.
const COMP_MESSAGES: usize = 300;
/// The downstream's answer time, so deliveries are in flight when a fault lands.
const DOWNSTREAM_DELAY: Duration = Duration::from_millis(40);
/// The `tick` job's cron period.
const TICK_PERIOD_S: i64 = 5;
const BUSINESS_DATE: &str = "2026-11-21";

/// The faults a trial draws from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    KillWorker,
    KillLeader,
    KillTwo,
    StopPastSession,
    ZkRestart,
    ZkOutage,
    /// PostgreSQL crashes (`pg_ctl stop -m immediate`) and starts again at once.
    PgRestart,
    /// PostgreSQL is stopped (`-m fast`) for 2–5 s, then started.
    PgOutage,
}

/// Trial `seed` injects `FAULTS[seed % 8]` (every fault equally often in a
/// series; CI's two trials from seed 1 are a leader kill and a PostgreSQL
/// restart) at a random moment.
const FAULTS: [Fault; 8] = [
    Fault::KillWorker,
    Fault::KillLeader,
    Fault::PgRestart,
    Fault::KillTwo,
    Fault::StopPastSession,
    Fault::ZkRestart,
    Fault::ZkOutage,
    Fault::PgOutage,
];

/// What one trial saw.
#[derive(Debug)]
pub struct Trial {
    pub fault: Fault,
    pub delay_ms: u64,
    pub status: Option<RunStatus>,
    pub violations: Vec<String>,
    pub elapsed: Duration,
}

/// A small deterministic generator (xorshift64*), seeded per trial.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }
    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
}

fn jobs(downstream: &str) -> Vec<(&'static str, String)> {
    vec![
        (
            "eod",
            format!(
                "name = \"eod\"\nkind = \"checksum\"\nshards = {EOD_SHARDS}\nretries = 2\nretry_backoff = \"500ms\"\ntimeout = \"20s\"\n[params]\nrows = {EOD_ROWS}\nwork = \"1500ms\"\n"
            ),
        ),
        (
            "tick",
            format!(
                "name = \"tick\"\nkind = \"checksum\"\nshards = 2\ncron = \"*/{TICK_PERIOD_S} * * * * *\"\nruns_per_date = \"every_fire\"\ntimeout = \"20s\"\n[params]\nrows = 3\nwork = \"100ms\"\n"
            ),
        ),
        (
            "comp",
            format!(
                r#"name = "comp"
kind = "compensation"
shards = {COMP_SHARDS}
retries = 2
retry_backoff = "500ms"
timeout = "30s"
[params]
min_age = "1s"
backoff_initial = "1s"
backoff_cap = "2s"
max_attempts = 10
batch_size = 20
http_concurrency = 4
http_timeout = "5s"
[params.checkers.order]
sql = "SELECT order_no, 'committed' FROM fault_orders WHERE order_no IN ({{keys}})"
[params.downstreams.order]
http = "{downstream}"
"#
            ),
        ),
    ]
}

/// The compensation run's input: `COMP_MESSAGES` prepared messages whose
/// business transactions all committed.
async fn prepare_messages(db: &TestDb) {
    on_db!(&db.db, pool => {
        sqlx::query("CREATE TABLE fault_orders (order_no TEXT PRIMARY KEY)")
            .execute(pool).await.expect("fault_orders");
    });
    let created = Utc::now().timestamp_millis() - 60_000;
    for n in 0..COMP_MESSAGES {
        let key = format!("O-{n:04}");
        on_db!(&db.db, pool => {
            sqlx::query("INSERT INTO fault_orders (order_no) VALUES ($1)")
                .bind(&key).execute(pool).await.expect("order");
        });
        reckon::jobs::compensation::prepare(
            &db.db,
            &reckon::jobs::compensation::NewMessage {
                id: format!("M-{n:04}"),
                txn_type: "order".into(),
                business_key: key,
                payload: "{}".into(),
            },
            created,
        )
        .await
        .expect("message prepared");
    }
}

/// The newest run of `job`, once there is one.
async fn run_of(ledger: &Ledger, job: &str) -> reckon::ledger::RunId {
    let l = ledger.clone();
    let job = reckon::ledger::JobName::from(job);
    wait_for("a run", Duration::from_secs(60), || {
        let l = l.clone();
        let job = job.clone();
        async move {
            let run = l
                .runs(&RunFilter {
                    job: Some(job),
                    limit: 1,
                    ..RunFilter::default()
                })
                .await
                .ok()?
                .pop()?;
            Some(run.run_id)
        }
    })
    .await
}

/// Waits (at most `until`) for `run_id` to be final.
async fn final_status(
    ledger: &Ledger,
    run_id: &reckon::ledger::RunId,
    until: Instant,
) -> Option<RunStatus> {
    while Instant::now() < until {
        if let Ok(run) = ledger.run(run_id).await
            && run.status.is_final()
        {
            return Some(run.status);
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    None
}

/// One trial on the series' PostgreSQL server `pg`: a cluster, a run of
/// `eod` and one of `comp`, one fault at a random moment while they run,
/// then the invariants.
pub async fn trial(seed: u64, pg: &PgServer) -> Trial {
    let started = Instant::now();
    let mut rng = Rng::new(seed);
    let fault = FAULTS[(seed % FAULTS.len() as u64) as usize];
    let delay_ms = 200 + rng.below(3000);
    let db = TestDb::postgres_at(&pg.url("postgres")).await;
    prepare_messages(&db).await;
    let (receiver, downstream) = Receiver::start(DOWNSTREAM_DELAY).await;
    let mut zk = ZkServer::start();
    let job_texts = jobs(&format!("http://{downstream}/deliver"));
    let job_refs: Vec<(&str, &str)> = job_texts.iter().map(|(n, t)| (*n, t.as_str())).collect();
    let setup = Setup::new(db.dir.path(), &db.url, zk.url(NS), &job_refs);
    let ledger = Ledger::new(db.db.clone(), Arc::new(SystemClock));
    let zk_client = client(&zk).await;
    let ids = ["n1", "n2", "n3"];
    let mut nodes: Vec<Node> = ids.iter().map(|id| setup.node(id)).collect();
    let c = zk_client.clone();
    wait_for("3 nodes", Duration::from_secs(60), || {
        let c = c.clone();
        async move { (instances(&c, NS).await.len() == 3).then_some(()) }
    })
    .await;
    let c = zk_client.clone();
    let first_leader = wait_for("a leader", Duration::from_secs(60), || {
        let c = c.clone();
        async move { leader(&c, NS).await }
    })
    .await;
    let cluster_up = Utc::now();
    let mut clis = Vec::new();
    for job in ["eod", "comp"] {
        clis.push(
            setup
                .cli(true, &["run", job, "--date", BUSINESS_DATE])
                .spawn()
                .expect("reckon run starts"),
        );
    }
    let eod = run_of(&ledger, "eod").await;
    let comp = run_of(&ledger, "comp").await;
    tokio::time::sleep(Duration::from_millis(delay_ms)).await;
    let index_of = |id: &str| ids.iter().position(|i| *i == id).unwrap_or(0);
    let leader_index = index_of(&first_leader);
    let other = (leader_index + 1 + rng.below(2) as usize) % 3;
    match fault {
        Fault::KillWorker => {
            nodes[other].kill9();
            tokio::time::sleep(Duration::from_millis(500)).await;
            nodes[other] = setup.node(ids[other]);
        }
        Fault::KillLeader => {
            nodes[leader_index].kill9();
            tokio::time::sleep(Duration::from_millis(500)).await;
            nodes[leader_index] = setup.node(ids[leader_index]);
        }
        Fault::KillTwo => {
            nodes[leader_index].kill9();
            nodes[other].kill9();
            tokio::time::sleep(Duration::from_millis(500)).await;
            nodes[leader_index] = setup.node(ids[leader_index]);
            nodes[other] = setup.node(ids[other]);
        }
        Fault::StopPastSession => {
            let victim = if rng.below(2) == 0 {
                leader_index
            } else {
                other
            };
            nodes[victim].sigstop();
            tokio::time::sleep(SESSION_TIMEOUT + Duration::from_millis(1500)).await;
            nodes[victim].sigcont();
        }
        Fault::ZkRestart => zk.restart(),
        Fault::ZkOutage => {
            zk.stop();
            tokio::time::sleep(SESSION_TIMEOUT * 2 + Duration::from_millis(rng.below(3000))).await;
            zk.restart();
        }
        Fault::PgRestart => {
            // The checker's own pool loses its connections too.
            tokio::task::block_in_place(|| pg.restart());
        }
        Fault::PgOutage => {
            let outage = Duration::from_millis(2000 + rng.below(3000));
            tokio::task::block_in_place(|| {
                pg.stop("fast");
                std::thread::sleep(outage);
                pg.start_again();
            });
        }
    }
    let deadline = Instant::now() + TERMINAL_BOUND;
    let status = final_status(&ledger, &eod, deadline).await;
    let comp_status = final_status(&ledger, &comp, deadline).await;
    let mut violations = Vec::new();
    for (job, run_id, status) in [("eod", &eod, status), ("comp", &comp, comp_status)] {
        if status.is_none() {
            violations.push(format!(
                "{job} run {run_id} not final {}s after the fault",
                TERMINAL_BOUND.as_secs()
            ));
        }
    }
    // Let the cron job fire once more with everyone up, then stop looking.
    tokio::time::sleep(Duration::from_secs(6)).await;
    violations.extend(check(&db, &ledger, cluster_up).await);
    violations.extend(check_deliveries(&db, &receiver.seen(), comp_status).await);
    for mut cli in clis {
        let _ = cli.kill();
        let _ = cli.wait();
    }
    drop(nodes);
    drop(zk);
    db.cleanup().await;
    Trial {
        fault,
        delay_ms,
        status,
        violations,
        elapsed: started.elapsed(),
    }
}

/// Compensation delivers each message at most once per fence epoch, never
/// outside a fence; a succeeded run delivered every message.
pub async fn check_deliveries(
    db: &TestDb,
    seen: &BTreeMap<(String, Option<i64>), u32>,
    status: Option<RunStatus>,
) -> Vec<String> {
    let mut violations = Vec::new();
    for ((key, fence), n) in seen {
        match fence {
            None => violations.push(format!("message {key} delivered outside a fence")),
            Some(epoch) if *n > 1 => violations.push(format!(
                "message {key} delivered {n} times under fence epoch {epoch}"
            )),
            Some(_) => {}
        }
    }
    if status == Some(RunStatus::Succeeded) {
        let undelivered: i64 = on_db!(&db.db, pool => {
            sqlx::query_scalar("SELECT COUNT(*) FROM txn_messages WHERE state <> 'delivered'")
                .fetch_one(pool).await.expect("message states")
        });
        if undelivered > 0 {
            violations.push(format!(
                "comp succeeded with {undelivered} messages not delivered"
            ));
        }
        let keys: std::collections::BTreeSet<&String> = seen.keys().map(|(k, _)| k).collect();
        if keys.len() != COMP_MESSAGES {
            violations.push(format!(
                "comp succeeded but the downstream saw {} of {COMP_MESSAGES} messages",
                keys.len()
            ));
        }
    }
    violations
}

/// The invariants of issue 13 over everything in the ledger.
pub async fn check(db: &TestDb, ledger: &Ledger, cluster_up: DateTime<Utc>) -> Vec<String> {
    let mut violations = Vec::new();
    // The fire mark before the runs: a fire handled meanwhile (its run and
    // the mark commit together) must not look lost.
    let mark = ledger.last_fire(&"tick".into()).await.expect("fire mark");
    let runs = ledger
        .runs(&RunFilter {
            limit: 10_000,
            ..RunFilter::default()
        })
        .await
        .expect("runs");
    for run in &runs {
        let shards = ledger.shards(&run.run_id).await.expect("shards");
        let expected = match run.job.as_str() {
            "eod" => EOD_SHARDS,
            "comp" => COMP_SHARDS,
            _ => 2,
        } as usize;
        let events = ledger.events(&run.run_id).await.expect("events");
        // No succeeded run without all its shards.
        if run.status == RunStatus::Succeeded
            && (shards.len() != expected || shards.iter().any(|s| s.status != RunStatus::Succeeded))
        {
            violations.push(format!(
                "run {} succeeded with {} of {expected} shards succeeded",
                run.run_id,
                shards
                    .iter()
                    .filter(|s| s.status == RunStatus::Succeeded)
                    .count()
            ));
        }
        // A running run has its shard rows.
        if run.status == RunStatus::Running && shards.len() != expected {
            violations.push(format!(
                "run {} running with {} shard rows",
                run.run_id,
                shards.len()
            ));
        }
        // No shard of a failed run committed after the run failed.
        if let Some(end) = events.iter().position(|e| e.kind == "finished")
            && run.status != RunStatus::Succeeded
            && let Some(late) = events[end..].iter().find(|e| e.kind == "committed")
        {
            violations.push(format!(
                "run {} ({}) got shard {:?} committed after it ended",
                run.run_id, run.status, late.item
            ));
        }
        // Each shard commits once per run.
        for item in 0..expected as i64 {
            let commits = events
                .iter()
                .filter(|e| e.kind == "committed" && e.item == Some(item))
                .count();
            if commits > 1 {
                violations.push(format!(
                    "run {} shard {item} committed {commits} times",
                    run.run_id
                ));
            }
        }
    }
    // Each (job, date, item) has exactly one committed output set.
    let counts: Vec<(String, i64, i64)> = on_db!(&db.db, pool => {
        sqlx::query_as("SELECT job, item, COUNT(*) FROM checksum_outputs GROUP BY job, item ORDER BY job, item")
            .fetch_all(pool).await.expect("outputs")
    });
    let eod_done = runs
        .iter()
        .any(|r| r.job == "eod" && r.status == RunStatus::Succeeded);
    for (job, item, n) in &counts {
        let rows = if job == "eod" { EOD_ROWS } else { 3 };
        if *n != rows {
            violations.push(format!(
                "{job} item {item}: {n} output rows, expected {rows}"
            ));
        }
    }
    if eod_done && counts.iter().filter(|(j, _, _)| j == "eod").count() != EOD_SHARDS as usize {
        violations.push("eod succeeded without every item's outputs".into());
    }
    // Epochs only grow: no epoch handed out twice for a shard.
    let claims: Vec<(String, String, i64, String)> = on_db!(&db.db, pool => {
        sqlx::query_as(
            "SELECT r.job, r.business_date::text, e.item, e.message FROM run_events e JOIN runs r ON r.run_id = e.run_id \
             WHERE e.kind = 'claimed' ORDER BY e.id",
        )
        .fetch_all(pool).await.expect("claims")
    });
    let mut seen = std::collections::BTreeSet::new();
    for (job, date, item, message) in claims {
        let epoch = message.rsplit(' ').next().unwrap_or("").to_string();
        if !seen.insert((job.clone(), date.clone(), item, epoch.clone())) {
            violations.push(format!(
                "{job} {date} item {item}: epoch {epoch} claimed twice"
            ));
        }
    }
    violations.extend(check_fires(ledger, &runs, cluster_up, mark).await);
    violations
}

/// No lost and no doubled cron fire: every fire time of `tick` from its
/// first handled one up to the scheduler's mark is named exactly once — by
/// the reason of the run it created ("fire time T[, standing for N due fire
/// times]": a pass after a leader gap answers every fire due since the last
/// one) or by a `fire_covered` event on the run that already covered its
/// date. The first fire comes within 2 periods of the cluster being up, and
/// the mark keeps up with the clock.
pub async fn check_fires(
    ledger: &Ledger,
    runs: &[RunRecord],
    cluster_up: DateTime<Utc>,
    mark: Option<DateTime<Utc>>,
) -> Vec<String> {
    let mut violations = Vec::new();
    let period = chrono::Duration::seconds(TICK_PERIOD_S);
    let mut named: BTreeMap<DateTime<Utc>, u32> = BTreeMap::new();
    let mut name = |text: &str, violations: &mut Vec<String>| match parse_fire(text) {
        Some((last, n)) => {
            for k in 0..n {
                *named.entry(last - period * k as i32).or_default() += 1;
            }
        }
        None => violations.push(format!("cannot read the fire time of `{text}`")),
    };
    for run in runs.iter().filter(|r| r.job == "tick") {
        match run.reason.as_deref() {
            Some(reason) => name(reason, &mut violations),
            None => violations.push(format!("tick run {} names no fire time", run.run_id)),
        }
        for event in ledger.events(&run.run_id).await.expect("events") {
            if event.kind == "fire_covered" {
                name(&event.message, &mut violations);
            }
        }
    }
    let Some(mark) = mark else {
        violations.push("the cron job `tick` never fired".into());
        return violations;
    };
    let lag = Utc::now() - mark;
    if lag > chrono::Duration::seconds(12) {
        violations.push(format!(
            "cron fire mark of `tick` lags {}s",
            lag.num_seconds()
        ));
    }
    let Some(first) = named.keys().next().copied() else {
        violations.push("no run of `tick` names a fire time".into());
        return violations;
    };
    if first > cluster_up + period * 2 {
        violations.push(format!(
            "first fire of `tick` handled is {first}, cluster up at {cluster_up}"
        ));
    }
    let mut t = first;
    while t <= mark {
        match named.get(&t).copied().unwrap_or(0) {
            1 => {}
            0 => violations.push(format!("cron fire {t} of `tick` lost: no run names it")),
            n => violations.push(format!("cron fire {t} of `tick` named {n} times")),
        }
        t += period;
    }
    violations
}

/// (fire time, how many due fire times it stands for) from a run reason or
/// a `fire_covered` event (src/scheduler.rs, `fire_text`).
fn parse_fire(text: &str) -> Option<(DateTime<Utc>, i64)> {
    let time = |t: &str| {
        DateTime::parse_from_rfc3339(t.split([' ', ',']).next()?)
            .ok()
            .map(|t| t.with_timezone(&Utc))
    };
    // fire_once after the misfire threshold: "catch-up for N missed fire time(s), latest T".
    if let Some(rest) = text.strip_prefix("catch-up for ") {
        let n = rest.split(' ').next()?.parse().ok()?;
        return Some((time(rest.split("latest ").nth(1)?)?, n));
    }
    let rest = text.split("fire time ").nth(1)?;
    let n = match rest.split_once(", standing for ") {
        Some((_, tail)) => tail.split(' ').next()?.parse().ok()?,
        None => 1,
    };
    Some((time(rest)?, n))
}

/// Runs `trials` trials from `seed` on a private PostgreSQL cluster,
/// printing one line each; returns them.
pub async fn series(trials: u64, seed: u64) -> Vec<Trial> {
    let pg = tokio::task::block_in_place(PgServer::start);
    let mut done = Vec::new();
    for n in 0..trials {
        let t = trial(seed + n, &pg).await;
        eprintln!(
            "trial {:>3} seed {} {:?} after {} ms: run {:?}, {} violation(s) {:?} ({} s)",
            n + 1,
            seed + n,
            t.fault,
            t.delay_ms,
            t.status,
            t.violations.len(),
            t.violations,
            t.elapsed.as_secs()
        );
        done.push(t);
    }
    done
}
