//! Failover and leader-election latency of a 3-node cluster, over several
//! trials — a measurement, not a test. Run it with
//!
//! ```text
//! cargo bench --bench cluster_failover
//! ```
//!
//! (PostgreSQL and ZooKeeper as for `.ci/run`; `RECKON_BENCH_TRIALS`, default 5.)
//! Failover latency = `kill -9` of a node holding shards → its first orphaned
//! shard claimed by another node (ledger `claimed` event). Election latency =
//! `kill -9` of the leader → another node holds the leader lock.
//! Target for both: session timeout + 2 s.

#[path = "../tests/common/mod.rs"]
mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use common::TestDb;
use common::zk::{SESSION_TIMEOUT, Setup, ZkServer, client, instances, leader, wait_for};
use reckon::ledger::{Ledger, RunFilter, RunStatus};
use reckon::schedule::SystemClock;

const NS: &str = "reckon-bench";

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("tokio runtime");
    runtime.block_on(failover_and_election_latency());
}

async fn failover_and_election_latency() {
    let trials: usize = std::env::var("RECKON_BENCH_TRIALS")
        .ok()
        .and_then(|t| t.parse().ok())
        .unwrap_or(5);
    let job = "name = \"eod\"\nkind = \"checksum\"\nshards = 6\ntimeout = \"60s\"\n[params]\nrows = 10\nwork = \"20s\"\n";
    let mut failovers = Vec::new();
    let mut elections = Vec::new();
    for trial in 0..trials {
        let db = TestDb::postgres().await;
        let zk = ZkServer::start();
        let setup = Setup::new(db.dir.path(), &db.url, zk.url(NS), &[("eod", job)]);
        let ledger = Ledger::new(db.db.clone(), Arc::new(SystemClock));
        let zk_client = client(&zk).await;
        let mut nodes = Vec::new();
        for id in ["n1", "n2", "n3"] {
            nodes.push(setup.node(id));
            let c = zk_client.clone();
            wait_for("registration", Duration::from_secs(30), || {
                let c = c.clone();
                async move {
                    instances(&c, NS)
                        .await
                        .contains(&id.to_string())
                        .then_some(())
                }
            })
            .await;
        }
        let c = zk_client.clone();
        wait_for("leader", Duration::from_secs(30), || {
            let c = c.clone();
            async move { leader(&c, NS).await.filter(|l| l == "n1") }
        })
        .await;
        let mut cli = setup
            .cli(true, &["run", "eod", "--date", "2026-11-21"])
            .spawn()
            .unwrap();
        let l = ledger.clone();
        let run_id = wait_for("n2 running", Duration::from_secs(30), || {
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
                let shards = l.shards(&run.run_id).await.ok()?;
                (shards
                    .iter()
                    .filter(|s| {
                        s.instance.as_deref() == Some("n2") && s.status == RunStatus::Running
                    })
                    .count()
                    == 2)
                    .then_some(run.run_id)
            }
        })
        .await;
        // Failover: kill -9 n2 (a follower holding items 2 and 3).
        let t0 = Instant::now();
        nodes[1].kill9();
        let l = ledger.clone();
        wait_for("failover", Duration::from_secs(60), || {
            let (l, r) = (l.clone(), run_id.clone());
            async move {
                let shards = l.shards(&r).await.ok()?;
                shards
                    .iter()
                    .any(|s| s.item == 2 && s.instance.as_deref() != Some("n2"))
                    .then_some(())
            }
        })
        .await;
        failovers.push(t0.elapsed());
        // Election: kill -9 the leader n1.
        let t1 = Instant::now();
        nodes[0].kill9();
        let c = zk_client.clone();
        wait_for("new leader", Duration::from_secs(60), || {
            let c = c.clone();
            async move { leader(&c, NS).await.filter(|l| l != "n1") }
        })
        .await;
        elections.push(t1.elapsed());
        eprintln!(
            "trial {}: failover {:?}, election {:?}",
            trial + 1,
            failovers[trial],
            elections[trial]
        );
        let _ = cli.kill();
        let _ = cli.wait();
        drop(nodes);
        drop(zk);
        db.cleanup().await;
    }
    let target = SESSION_TIMEOUT + Duration::from_secs(2);
    let stats = |v: &[Duration]| {
        let mut ms: Vec<u128> = v.iter().map(|d| d.as_millis()).collect();
        ms.sort_unstable();
        let mean = ms.iter().sum::<u128>() / ms.len().max(1) as u128;
        (
            ms.first().copied().unwrap_or(0),
            mean,
            ms.last().copied().unwrap_or(0),
        )
    };
    println!(
        "session timeout {} ms, target {} ms, {trials} trials",
        SESSION_TIMEOUT.as_millis(),
        target.as_millis()
    );
    println!(
        "{:<22} {:>8} {:>8} {:>8} {:>8}",
        "measure", "min ms", "mean ms", "max ms", "target"
    );
    for (name, values) in [
        ("failover (kill -9)", &failovers),
        ("leader election", &elections),
    ] {
        let (min, mean, max) = stats(values);
        println!(
            "{name:<22} {min:>8} {mean:>8} {max:>8} {:>8}",
            target.as_millis()
        );
    }
}
