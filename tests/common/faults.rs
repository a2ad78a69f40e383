//! Randomized process-level fault trials on a 3-node cluster (real
//! PostgreSQL, real ZooKeeper, `reckon serve` processes) and the invariant
//! checker run after each: shared by `tests/faults.rs` (a short series) and
//! `benches/faults.rs` (a long one).
#![allow(dead_code)]

use std::sync::Arc;
use std::time::{Duration, Instant};

use reckon::ledger::{Ledger, RunFilter, RunStatus};
use reckon::on_db;
use reckon::schedule::SystemClock;

use super::TestDb;
use super::zk::{Node, SESSION_TIMEOUT, Setup, ZkServer, client, instances, leader, wait_for};

const NS: &str = "reckon-faults";
/// A run must be final this long after its fault (session timeout, stall limit, retries).
const TERMINAL_BOUND: Duration = Duration::from_secs(150);
const EOD_SHARDS: i64 = 6;
const EOD_ROWS: i64 = 40;

/// The faults a trial draws from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    KillWorker,
    KillLeader,
    KillTwo,
    StopPastSession,
    ZkRestart,
    ZkOutage,
}

const FAULTS: [Fault; 6] = [
    Fault::KillWorker,
    Fault::KillLeader,
    Fault::KillTwo,
    Fault::StopPastSession,
    Fault::ZkRestart,
    Fault::ZkOutage,
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

fn jobs() -> Vec<(&'static str, String)> {
    vec![
        (
            "eod",
            format!(
                "name = \"eod\"\nkind = \"checksum\"\nshards = {EOD_SHARDS}\nretries = 2\nretry_backoff = \"500ms\"\ntimeout = \"20s\"\n[params]\nrows = {EOD_ROWS}\nwork = \"1500ms\"\n"
            ),
        ),
        (
            "tick",
            "name = \"tick\"\nkind = \"checksum\"\nshards = 2\ncron = \"*/5 * * * * *\"\nruns_per_date = \"every_fire\"\ntimeout = \"20s\"\n[params]\nrows = 3\nwork = \"100ms\"\n".to_string(),
        ),
    ]
}

/// One trial: a cluster, a run of `eod`, one random fault at a random
/// moment while it runs, then the invariants.
pub async fn trial(seed: u64) -> Trial {
    let started = Instant::now();
    let mut rng = Rng::new(seed);
    let fault = FAULTS[rng.below(FAULTS.len() as u64) as usize];
    let delay_ms = 200 + rng.below(3000);
    let db = TestDb::postgres().await;
    let mut zk = ZkServer::start();
    let job_texts = jobs();
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
    let mut cli = setup
        .cli(true, &["run", "eod", "--date", "2026-11-21"])
        .spawn()
        .expect("reckon run starts");
    let l = ledger.clone();
    let run_id = wait_for("the eod run", Duration::from_secs(60), || {
        let l = l.clone();
        async move {
            let run = l
                .runs(&RunFilter {
                    job: Some("eod".into()),
                    limit: 1,
                    ..RunFilter::default()
                })
                .await
                .ok()?
                .pop()?;
            Some(run.run_id)
        }
    })
    .await;
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
    }
    let l = ledger.clone();
    let r = run_id.clone();
    let deadline = Instant::now() + TERMINAL_BOUND;
    let mut status = None;
    while Instant::now() < deadline {
        if let Ok(run) = l.run(&r).await
            && run.status.is_final()
        {
            status = Some(run.status);
            break;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    let mut violations = Vec::new();
    if status.is_none() {
        violations.push(format!(
            "run {run_id} not final {}s after the fault",
            TERMINAL_BOUND.as_secs()
        ));
    }
    // Let the cron job fire once more with everyone up, then stop looking.
    tokio::time::sleep(Duration::from_secs(6)).await;
    violations.extend(check(&db, &ledger).await);
    let _ = cli.kill();
    let _ = cli.wait();
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

/// The invariants of issue 13 over everything in the ledger.
pub async fn check(db: &TestDb, ledger: &Ledger) -> Vec<String> {
    let mut violations = Vec::new();
    let runs = ledger
        .runs(&RunFilter {
            limit: 10_000,
            ..RunFilter::default()
        })
        .await
        .expect("runs");
    for run in &runs {
        let shards = ledger.shards(&run.run_id).await.expect("shards");
        let expected = if run.job == "eod" { EOD_SHARDS } else { 2 } as usize;
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
    // No lost cron fire: the fire mark keeps up with the clock.
    if let Ok(Some(last)) = ledger.last_fire("tick").await {
        let lag = chrono::Utc::now() - last;
        if lag > chrono::Duration::seconds(12) {
            violations.push(format!(
                "cron fire mark of `tick` lags {}s",
                lag.num_seconds()
            ));
        }
    } else {
        violations.push("the cron job `tick` never fired".into());
    }
    violations
}

/// Runs `trials` trials from `seed`, printing one line each; returns them.
pub async fn series(trials: u64, seed: u64) -> Vec<Trial> {
    let mut done = Vec::new();
    for n in 0..trials {
        let t = trial(seed + n).await;
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
