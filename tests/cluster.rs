//! Cluster mode on a real ZooKeeper and a shared PostgreSQL, with nodes as
//! separate `reckon serve` processes (issue 6). Each test starts its own
//! ZooKeeper server, so it can stop and restart it.

mod common;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::TestDb;
use common::zk::{SESSION_TIMEOUT, Setup, ZkServer, client, instances, leader, wait_for};
use reckon::db::Db;
use reckon::ledger::{JobName, Ledger, RunFilter, RunId, RunRecord, RunStatus};
use reckon::schedule::SystemClock;

const NS: &str = "reckon-test";
const DATE: &str = "2026-11-21";

/// A `checksum` job of `shards` items, each spending `work` before committing.
fn checksum_job(name: &str, shards: u32, work: &str, extra: &str) -> String {
    format!(
        "name = \"{name}\"\nkind = \"checksum\"\nshards = {shards}\ntimeout = \"60s\"\nretries = 1\nretry_backoff = \"100ms\"\n{extra}\n[params]\nrows = 40\nwork = \"{work}\"\n"
    )
}

struct Cluster {
    db: TestDb,
    zk: ZkServer,
    setup: Setup,
    ledger: Ledger,
    nodes: BTreeMap<String, common::zk::Node>,
    client: zookeeper_client::Client,
}

impl Cluster {
    async fn new(jobs: &[(&str, &str)]) -> Cluster {
        let db = TestDb::postgres().await;
        let zk = ZkServer::start();
        let setup = Setup::new(db.dir.path(), &db.url, zk.url(NS), jobs);
        let ledger = Ledger::new(db.db.clone(), Arc::new(SystemClock));
        let client = client(&zk).await;
        Cluster {
            db,
            zk,
            setup,
            ledger,
            nodes: BTreeMap::new(),
            client,
        }
    }

    /// Starts a node and waits until it is registered (so registration
    /// order = start order).
    async fn start(&mut self, id: &str) {
        let node = self.setup.node(id);
        self.nodes.insert(id.to_string(), node);
        let client = self.client.clone();
        let id = id.to_string();
        wait_for(
            &format!("{id} to register"),
            Duration::from_secs(30),
            || {
                let (client, id) = (client.clone(), id.clone());
                async move { instances(&client, NS).await.contains(&id).then_some(()) }
            },
        )
        .await;
    }

    async fn leader(&self) -> String {
        let client = self.client.clone();
        wait_for("a leader", Duration::from_secs(30), || {
            let client = client.clone();
            async move { leader(&client, NS).await }
        })
        .await
    }

    fn node(&mut self, id: &str) -> &mut common::zk::Node {
        self.nodes.get_mut(id).expect("node started")
    }

    async fn runs(&self, job: &str) -> Vec<RunRecord> {
        self.ledger
            .runs(&RunFilter {
                job: Some(job.into()),
                limit: 1000,
                ..RunFilter::default()
            })
            .await
            .unwrap()
    }

    /// Per item: (owner of every committed epoch). Owners come from the
    /// `claimed` events ("by {owner} with epoch {n}").
    async fn commits(&self, run_id: &RunId) -> BTreeMap<u32, Vec<String>> {
        let events = self.ledger.events(run_id).await.unwrap();
        let mut owner_of: BTreeMap<(u32, String), String> = BTreeMap::new();
        let mut commits: BTreeMap<u32, Vec<String>> = BTreeMap::new();
        for e in &events {
            let Some(item) = e.item else { continue };
            let item = item as u32;
            if e.kind == "claimed" {
                let (owner, epoch) = e
                    .message
                    .strip_prefix("by ")
                    .and_then(|m| m.split_once(" with epoch "))
                    .expect("claimed event names owner and epoch");
                owner_of.insert((item, epoch.to_string()), owner.to_string());
            }
            if e.kind == "committed" {
                let epoch = e
                    .message
                    .strip_prefix("epoch ")
                    .and_then(|m| m.split(':').next())
                    .expect("committed event names its epoch");
                let owner = owner_of
                    .get(&(item, epoch.to_string()))
                    .cloned()
                    .unwrap_or_else(|| "?".into());
                commits.entry(item).or_default().push(owner);
            }
        }
        commits
    }

    async fn finish(self) {
        let Cluster { db, nodes, .. } = self;
        drop(nodes);
        db.cleanup().await;
    }
}

/// The checksum outputs of a job and date, as text, in key order.
async fn outputs(db: &Db, job: &str) -> Vec<(i64, i64, String, String)> {
    let Db::Postgres(pool) = db else {
        panic!("cluster tests run on PostgreSQL")
    };
    sqlx::query_as(
        "SELECT item, line, record_key, amount::text FROM checksum_outputs \
         WHERE job = $1 AND business_date = $2 ORDER BY item, line",
    )
    .bind(job)
    .bind(DATE.parse::<chrono::NaiveDate>().unwrap())
    .fetch_all(pool)
    .await
    .unwrap()
}

/// The published summary.csv of a run.
fn summary_csv(setup: &Setup, job: &str, run_id: &str) -> Vec<u8> {
    std::fs::read(
        setup
            .reports_dir
            .join(DATE)
            .join(job)
            .join(run_id)
            .join("summary.csv"),
    )
    .unwrap_or_else(|e| panic!("summary.csv of run {run_id}: {e}"))
}

/// The same job run on one node without a registry, on a fresh database:
/// the reference outputs and report.
async fn single_node_reference(
    jobs: &[(&str, &str)],
    job: &str,
) -> (Vec<(i64, i64, String, String)>, Vec<u8>) {
    let db = TestDb::postgres().await;
    let setup = Setup::new(db.dir.path(), &db.url, "unused".into(), jobs);
    let out = setup.run_cli(false, &["run", job, "--date", DATE]);
    assert!(
        out.status.success(),
        "single-node run: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let ledger = Ledger::new(db.db.clone(), Arc::new(SystemClock));
    let run = ledger
        .runs(&RunFilter {
            job: Some(job.into()),
            limit: 1,
            ..RunFilter::default()
        })
        .await
        .unwrap()
        .remove(0);
    let rows = outputs(&db.db, job).await;
    let csv = summary_csv(&setup, job, &run.run_id);
    db.cleanup().await;
    (rows, csv)
}

fn assert_ok(out: &std::process::Output, what: &str) {
    assert!(
        out.status.success(),
        "{what} exited {}: {}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr),
        String::from_utf8_lossy(&out.stdout)
    );
}

fn owners(shards: &[reckon::ledger::ShardRecord]) -> BTreeMap<String, Vec<u32>> {
    let mut by: BTreeMap<String, Vec<u32>> = BTreeMap::new();
    for s in shards {
        by.entry(s.instance.clone().unwrap_or_default())
            .or_default()
            .push(s.item);
    }
    by
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_nodes_run_every_shard_once_by_the_average_strategy() {
    let job = checksum_job("sixes", 6, "200ms", "");
    let jobs = [("sixes", job.as_str())];
    let mut c = Cluster::new(&jobs).await;
    for id in ["n1", "n2", "n3"] {
        c.start(id).await;
    }
    assert_eq!(c.leader().await, "n1", "the first node to contend leads");
    let out = c
        .setup
        .run_cli(true, &["run", "sixes", "--date", DATE, "--reason", "test"]);
    assert_ok(&out, "reckon run --registry");
    let runs = c.runs("sixes").await;
    assert_eq!(runs.len(), 1);
    assert_eq!(runs[0].status, RunStatus::Succeeded, "{:?}", runs[0].error);
    let shards = c.ledger.shards(&runs[0].run_id).await.unwrap();
    // average over [n1, n2, n3] (registration order), 6 items: 2 each, in blocks.
    let expected: BTreeMap<String, Vec<u32>> = [
        ("n1".to_string(), vec![0, 1]),
        ("n2".to_string(), vec![2, 3]),
        ("n3".to_string(), vec![4, 5]),
    ]
    .into();
    assert_eq!(owners(&shards), expected);
    assert!(
        shards
            .iter()
            .all(|s| s.attempts == 1 && s.status == RunStatus::Succeeded)
    );
    let commits = c.commits(&runs[0].run_id).await;
    for item in 0..6u32 {
        assert_eq!(
            commits.get(&item).map(Vec::len),
            Some(1),
            "item {item}: {commits:?}"
        );
    }
    // The leader recorded the assignment, versioned, in ZooKeeper.
    let (data, stat) = c
        .client
        .get_data(&format!("/{NS}/jobs/sixes/assignment"))
        .await
        .unwrap();
    let record: serde_json::Value = serde_json::from_slice(&data).unwrap();
    assert_eq!(record["strategy"], "average");
    assert_eq!(record["items"]["n3"], serde_json::json!([4, 5]));
    assert_eq!(stat.version, 0);
    c.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_mid_run_fails_over_and_outputs_match_a_single_node_run() {
    let job = checksum_job("eod", 6, "3s", "");
    let jobs = [("eod", job.as_str())];
    let (reference_rows, reference_csv) = single_node_reference(&jobs, "eod").await;
    let mut c = Cluster::new(&jobs).await;
    for id in ["n1", "n2", "n3"] {
        c.start(id).await;
    }
    c.leader().await;
    let cli = c
        .setup
        .cli(true, &["run", "eod", "--date", DATE])
        .spawn()
        .unwrap();
    // Wait until n2 holds its shards, then kill it.
    let ledger = c.ledger.clone();
    let run_id = wait_for("n2 to run its shards", Duration::from_secs(30), || {
        let ledger = ledger.clone();
        async move {
            let run = ledger
                .runs(&RunFilter {
                    job: Some("eod".into()),
                    limit: 1,
                    ..RunFilter::default()
                })
                .await
                .ok()?
                .pop()?;
            let shards = ledger.shards(&run.run_id).await.ok()?;
            let held = shards
                .iter()
                .filter(|s| s.instance.as_deref() == Some("n2") && s.status == RunStatus::Running)
                .count();
            (held == 2).then_some(run.run_id)
        }
    })
    .await;
    let killed_at = Instant::now();
    c.node("n2").kill9();
    // The orphaned shards are claimed again elsewhere.
    let ledger = c.ledger.clone();
    let rid = run_id.clone();
    wait_for(
        "the orphaned shards to be taken over",
        Duration::from_secs(20),
        || {
            let (ledger, rid) = (ledger.clone(), rid.clone());
            async move {
                let shards = ledger.shards(&rid).await.ok()?;
                shards
                    .iter()
                    .filter(|s| [2, 3].contains(&s.item))
                    .all(|s| s.instance.as_deref() != Some("n2"))
                    .then_some(())
            }
        },
    )
    .await;
    let failover = killed_at.elapsed();
    eprintln!(
        "failover latency (kill -9 → shards claimed elsewhere): {failover:?}, session timeout {SESSION_TIMEOUT:?}"
    );
    assert!(
        failover < SESSION_TIMEOUT + Duration::from_secs(5),
        "failover took {failover:?}"
    );
    let out = cli.wait_with_output().unwrap();
    assert_ok(&out, "reckon run --registry");
    let run = c.ledger.run(&run_id).await.unwrap();
    assert_eq!(run.status, RunStatus::Succeeded, "{:?}", run.error);
    let commits = c.commits(&run_id).await;
    for item in 0..6u32 {
        let owners = commits.get(&item).cloned().unwrap_or_default();
        assert_eq!(owners.len(), 1, "item {item} committed {owners:?}");
        assert_ne!(owners[0], "n2", "the killed node committed item {item}");
    }
    let events = c.ledger.events(&run_id).await.unwrap();
    let failed_over: Vec<i64> = events
        .iter()
        .filter(|e| e.kind == "failover")
        .filter_map(|e| e.item)
        .collect();
    assert_eq!(
        failed_over.len(),
        2,
        "exactly the killed node's two items: {failed_over:?}"
    );
    assert!(failed_over.contains(&2) && failed_over.contains(&3));
    assert_eq!(outputs(&c.db.db, "eod").await, reference_rows);
    assert_eq!(summary_csv(&c.setup, "eod", &run_id), reference_csv);
    c.finish().await;
}

/// Waits until the latest run of `job` has `count` shards running on `node`.
async fn wait_running_on(c: &Cluster, job: &str, node: &str, count: usize) -> RunId {
    let ledger = c.ledger.clone();
    let (job, node) = (JobName::from(job), node.to_string());
    wait_for(
        &format!("{node} to run {count} shards"),
        Duration::from_secs(30),
        || {
            let (ledger, job, node) = (ledger.clone(), job.clone(), node.clone());
            async move {
                let run = ledger
                    .runs(&RunFilter {
                        job: Some(job),
                        limit: 1,
                        ..RunFilter::default()
                    })
                    .await
                    .ok()?
                    .pop()?;
                let shards = ledger.shards(&run.run_id).await.ok()?;
                let held = shards
                    .iter()
                    .filter(|s| {
                        (node == "*" || s.instance.as_deref() == Some(node.as_str()))
                            && s.status == RunStatus::Running
                    })
                    .count();
                (held == count).then_some(run.run_id)
            }
        },
    )
    .await
}

/// The fire time named in a cron run's reason ("fire time …").
fn fire_time(run: &RunRecord) -> Option<String> {
    run.reason.as_deref()?.split("fire time").nth(1).map(|t| {
        let t = t.trim().trim_start_matches("(s), latest").trim();
        t.split(", standing for").next().unwrap_or(t).to_string()
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn leader_killed_new_leader_in_time_and_next_cron_fire_happens_once() {
    // Fires every 2 s; each run fails at once, so every fire makes a new
    // attempt for the same date and can be counted by its fire time.
    let tick = "name = \"tick\"\nkind = \"command\"\ncron = \"*/2 * * * * *\"\nbusiness_date = \"same_day\"\n\
                shards = 2\nretries = 0\n[params]\nprogram = \"sh\"\nargs = [\"-c\", \"exit 3\"]\n";
    let mut c = Cluster::new(&[("tick", tick)]).await;
    for id in ["n1", "n2", "n3"] {
        c.start(id).await;
    }
    assert_eq!(c.leader().await, "n1");
    let ledger = c.ledger.clone();
    wait_for("a cron run under n1", Duration::from_secs(20), || {
        let ledger = ledger.clone();
        async move {
            let runs = ledger
                .runs(&RunFilter {
                    job: Some("tick".into()),
                    limit: 10,
                    ..RunFilter::default()
                })
                .await
                .ok()?;
            runs.iter().any(|r| r.status.is_final()).then_some(())
        }
    })
    .await;
    let killed_at = Instant::now();
    let killed_utc = chrono::Utc::now();
    c.node("n1").kill9();
    let client = c.client.clone();
    let new_leader = wait_for("a new leader", Duration::from_secs(30), || {
        let client = client.clone();
        async move { leader(&client, NS).await.filter(|l| l != "n1") }
    })
    .await;
    let election = killed_at.elapsed();
    eprintln!(
        "leader election latency (kill -9 of the leader → {new_leader} leads): {election:?}, session timeout {SESSION_TIMEOUT:?}"
    );
    assert!(
        election < SESSION_TIMEOUT + Duration::from_secs(5),
        "new leader after {election:?}"
    );
    assert_eq!(new_leader, "n2", "the next in line leads");
    // Let the new leader fire a few times.
    tokio::time::sleep(Duration::from_secs(7)).await;
    let runs = c.runs("tick").await;
    let mut per_fire: BTreeMap<String, usize> = BTreeMap::new();
    for run in &runs {
        let fire = fire_time(run).unwrap_or_else(|| panic!("cron run without fire time: {run:?}"));
        *per_fire.entry(fire).or_default() += 1;
    }
    for (fire, count) in &per_fire {
        assert_eq!(
            *count, 1,
            "fire time {fire} made {count} runs: {per_fire:?}"
        );
    }
    let after: Vec<chrono::DateTime<chrono::Utc>> = per_fire
        .keys()
        .filter_map(|f| chrono::DateTime::parse_from_rfc3339(f).ok())
        .map(|t| t.with_timezone(&chrono::Utc))
        .filter(|t| *t > killed_utc)
        .collect();
    assert!(
        after.len() >= 2,
        "the new leader fires the next fire times: {per_fire:?}"
    );
    // After the catch-up fire, no fire time of the new leader is skipped.
    for pair in after.windows(2).skip(1) {
        assert_eq!((pair[1] - pair[0]).num_seconds(), 2, "{per_fire:?}");
    }
    assert!(runs.iter().all(|r| r.status.is_final()
        || r.status == RunStatus::Running
        || r.status == RunStatus::Pending));
    c.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigstop_past_session_timeout_commits_nothing_and_rejoins() {
    let job = checksum_job("eod", 6, "4s", "");
    let jobs = [("eod", job.as_str())];
    let (reference_rows, reference_csv) = single_node_reference(&jobs, "eod").await;
    let mut c = Cluster::new(&jobs).await;
    for id in ["n1", "n2", "n3"] {
        c.start(id).await;
    }
    assert_eq!(c.leader().await, "n1");
    let cli = c
        .setup
        .cli(true, &["run", "eod", "--date", DATE])
        .spawn()
        .unwrap();
    let run_id = wait_running_on(&c, "eod", "n2", 2).await;
    c.node("n2").sigstop();
    let out = cli.wait_with_output().unwrap();
    assert_ok(&out, "reckon run --registry");
    let run = c.ledger.run(&run_id).await.unwrap();
    assert_eq!(run.status, RunStatus::Succeeded, "{:?}", run.error);
    c.node("n2").sigcont();
    // n2 notices its session expired, stops the shards it held, registers again.
    let client = c.client.clone();
    wait_for("n2 to register again", Duration::from_secs(30), || {
        let client = client.clone();
        async move {
            instances(&client, NS)
                .await
                .contains(&"n2".to_string())
                .then_some(())
        }
    })
    .await;
    // Give the paused shards every chance to try to commit.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let commits = c.commits(&run_id).await;
    for item in 0..6u32 {
        let owners = commits.get(&item).cloned().unwrap_or_default();
        assert_eq!(owners.len(), 1, "item {item} committed {owners:?}");
        assert_ne!(owners[0], "n2", "the paused node committed item {item}");
    }
    assert_eq!(
        c.ledger.run(&run_id).await.unwrap().status,
        RunStatus::Succeeded
    );
    let events = c.ledger.events(&run_id).await.unwrap();
    let mut failed_over: Vec<i64> = events
        .iter()
        .filter(|e| e.kind == "failover" && e.message.starts_with("from n2"))
        .filter_map(|e| e.item)
        .collect();
    failed_over.sort();
    assert_eq!(
        failed_over,
        vec![2, 3],
        "the paused node's items failed over"
    );
    assert_eq!(outputs(&c.db.db, "eod").await, reference_rows);
    assert_eq!(summary_csv(&c.setup, "eod", &run_id), reference_csv);
    let log = c.node("n2").log_text();
    assert!(log.contains("session ended"), "n2 logs its session expiry");
    assert_eq!(
        log.matches("shard released").count(),
        2,
        "n2 gave up both shards it held without recording anything:\n{log}"
    );
    // Rejoined: n2 is given work again (last in registration order now).
    let out = c
        .setup
        .run_cli(true, &["run", "eod", "--date", "2026-11-22"]);
    assert_ok(&out, "second run");
    let second = c.runs("eod").await.remove(0);
    let shards = c.ledger.shards(&second.run_id).await.unwrap();
    assert_eq!(owners(&shards).get("n2"), Some(&vec![4, 5]), "{shards:?}");
    c.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn zookeeper_restart_during_a_run_loses_and_duplicates_nothing() {
    let job = checksum_job("eod", 6, "3s", "");
    let jobs = [("eod", job.as_str())];
    let (reference_rows, _) = single_node_reference(&jobs, "eod").await;
    let mut c = Cluster::new(&jobs).await;
    for id in ["n1", "n2", "n3"] {
        c.start(id).await;
    }
    c.leader().await;
    let cli = c
        .setup
        .cli(true, &["run", "eod", "--date", DATE])
        .spawn()
        .unwrap();
    let run_id = wait_running_on(&c, "eod", "*", 6).await;
    c.zk.stop();
    tokio::time::sleep(Duration::from_millis(1500)).await;
    c.zk.restart();
    let out = cli.wait_with_output().unwrap();
    assert_ok(&out, "reckon run --registry");
    let run = c.ledger.run(&run_id).await.unwrap();
    assert_eq!(run.status, RunStatus::Succeeded, "{:?}", run.error);
    let commits = c.commits(&run_id).await;
    for item in 0..6u32 {
        assert_eq!(
            commits.get(&item).map(Vec::len),
            Some(1),
            "item {item}: {commits:?}"
        );
    }
    assert_eq!(outputs(&c.db.db, "eod").await, reference_rows);
    // The cluster resumes by itself: the next run works.
    let out = c
        .setup
        .run_cli(true, &["run", "eod", "--date", "2026-11-22"]);
    assert_ok(&out, "run after the restart");
    c.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn node_added_between_runs_gets_work_in_the_next_run() {
    let job = checksum_job("eod", 6, "100ms", "");
    let mut c = Cluster::new(&[("eod", job.as_str())]).await;
    for id in ["n1", "n2"] {
        c.start(id).await;
    }
    c.leader().await;
    let out = c
        .setup
        .run_cli(true, &["run", "eod", "--date", "2026-11-20"]);
    assert_ok(&out, "first run");
    let first = c.runs("eod").await.remove(0);
    let expected_first: BTreeMap<String, Vec<u32>> = [
        ("n1".to_string(), vec![0, 1, 2]),
        ("n2".to_string(), vec![3, 4, 5]),
    ]
    .into();
    assert_eq!(
        owners(&c.ledger.shards(&first.run_id).await.unwrap()),
        expected_first
    );
    c.start("n3").await;
    let out = c.setup.run_cli(true, &["run", "eod", "--date", DATE]);
    assert_ok(&out, "second run");
    let second = c.runs("eod").await.remove(0);
    assert_ne!(second.run_id, first.run_id);
    let expected_second: BTreeMap<String, Vec<u32>> = [
        ("n1".to_string(), vec![0, 1]),
        ("n2".to_string(), vec![2, 3]),
        ("n3".to_string(), vec![4, 5]),
    ]
    .into();
    assert_eq!(
        owners(&c.ledger.shards(&second.run_id).await.unwrap()),
        expected_second
    );
    let (_, stat) = c
        .client
        .get_data(&format!("/{NS}/jobs/eod/assignment"))
        .await
        .unwrap();
    assert_eq!(stat.version, 1, "one reshard per run: versions 0 and 1");
    c.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cluster_status_disable_enable_and_rerun_through_the_leader() {
    let job = checksum_job("eod", 4, "50ms", "");
    let mut c = Cluster::new(&[("eod", job.as_str())]).await;
    for id in ["n1", "n2"] {
        c.start(id).await;
    }
    c.leader().await;
    let status = c.setup.run_cli(true, &["cluster", "status"]);
    assert_ok(&status, "cluster status");
    let text = String::from_utf8_lossy(&status.stdout).to_string();
    assert!(text.contains("leader: n1"), "{text}");
    let n1 = text.find("  n1 ").expect("n1 listed");
    let n2 = text.find("  n2 ").expect("n2 listed");
    assert!(n1 < n2, "registration order: {text}");

    // A disabled job is refused by the leader, with the reason.
    assert_ok(
        &c.setup
            .run_cli(true, &["cluster", "disable", "eod", "--reason", "test"]),
        "disable job",
    );
    let refused = c.setup.run_cli(true, &["run", "eod", "--date", DATE]);
    assert_eq!(refused.status.code(), Some(1));
    let err = String::from_utf8_lossy(&refused.stderr);
    assert!(
        err.contains("job `eod` is disabled in this cluster by cli:") && err.contains("UTC: test"),
        "who disabled it and why: {err}"
    );
    assert!(c.runs("eod").await.is_empty(), "no run was created");
    assert_ok(
        &c.setup
            .run_cli(true, &["cluster", "enable", "eod", "--reason", "test"]),
        "enable job",
    );

    // A disabled instance gets no new work.
    assert_ok(
        &c.setup
            .run_cli(true, &["cluster", "disable", "n2", "--reason", "test"]),
        "disable instance",
    );
    let out = c.setup.run_cli(true, &["run", "eod", "--date", DATE]);
    assert_ok(&out, "run with n2 disabled");
    let run = c.runs("eod").await.remove(0);
    assert_eq!(run.status, RunStatus::Succeeded);
    let shards = c.ledger.shards(&run.run_id).await.unwrap();
    let all_n1: BTreeMap<String, Vec<u32>> = [("n1".to_string(), vec![0, 1, 2, 3])].into();
    assert_eq!(owners(&shards), all_n1);
    let status = c.setup.run_cli(true, &["cluster", "status"]);
    let text = String::from_utf8_lossy(&status.stdout).to_string();
    assert!(text.contains("disabled"), "{text}");
    assert!(
        text.contains("disable/enable journal") && text.contains("disable instance n2 by cli:"),
        "{text}"
    );
    assert!(!text.contains("[pending]"), "{text}");
    assert_ok(
        &c.setup
            .run_cli(true, &["cluster", "enable", "n2", "--reason", "test"]),
        "enable instance",
    );

    // rerun goes through the leader too and creates the next attempt.
    let out = c.setup.run_cli(
        true,
        &["rerun", &run.run_id, "--reason", "statement corrected"],
    );
    assert_ok(&out, "rerun --registry");
    let latest = c.runs("eod").await.remove(0);
    assert_eq!(latest.attempt, 2);
    assert_eq!(latest.parent_run.as_deref(), Some(run.run_id.as_str()));
    assert_eq!(latest.status, RunStatus::Succeeded);
    let shards = c.ledger.shards(&latest.run_id).await.unwrap();
    assert_eq!(
        owners(&shards).len(),
        2,
        "both instances work again: {shards:?}"
    );

    // rerun --cascade hands each date to the leader in turn, in date order.
    assert_ok(
        &c.setup
            .run_cli(true, &["run", "eod", "--date", "2026-11-22"]),
        "run the next date",
    );
    let out = c.setup.run_cli(
        true,
        &[
            "rerun",
            &latest.run_id,
            "--cascade",
            "--reason",
            "late data",
        ],
    );
    assert_ok(&out, "rerun --cascade --registry");
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(
        text.contains("cascade: every date rerun and succeeded"),
        "{text}"
    );
    let runs = c.runs("eod").await;
    let newest: Vec<(String, i64)> = runs[..2]
        .iter()
        .map(|r| (r.business_date.to_string(), r.attempt))
        .collect();
    // Newest first: the next date's rerun came after DATE's.
    assert_eq!(
        newest,
        [("2026-11-22".to_string(), 2), (DATE.to_string(), 3)]
    );
    assert!(runs[..2].iter().all(|r| r.status == RunStatus::Succeeded));

    // A rerun of a job disabled in the cluster is refused by the leader too.
    assert_ok(
        &c.setup
            .run_cli(true, &["cluster", "disable", "eod", "--reason", "audit"]),
        "disable job again",
    );
    let refused = c
        .setup
        .run_cli(true, &["rerun", &run.run_id, "--reason", "once more"]);
    assert_eq!(refused.status.code(), Some(1));
    let err = String::from_utf8_lossy(&refused.stderr);
    assert!(err.contains("UTC: audit"), "{err}");
    assert_eq!(
        c.runs("eod").await.len(),
        runs.len(),
        "no rerun was created"
    );
    c.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_without_progress_past_its_timeout_is_failed_with_a_reason() {
    // timeout 4 s + run_lease 1 s: a run whose shards stop moving for 5 s fails.
    let job = checksum_job("eod", 4, "1500ms", "").replace("timeout = \"60s\"", "timeout = \"4s\"");
    let mut c = Cluster::new(&[("eod", job.as_str())]).await;
    let mut config = std::fs::read_to_string(&c.setup.config).unwrap();
    config.push_str("run_lease = \"1s\"\n");
    std::fs::write(&c.setup.config, config).unwrap();
    for id in ["n1", "n2"] {
        c.start(id).await;
    }
    c.leader().await;
    let cli = c
        .setup
        .cli(true, &["run", "eod", "--date", DATE])
        .spawn()
        .unwrap();
    let run_id = wait_running_on(&c, "eod", "n2", 2).await;
    // Lose n2's work markers (as a broken registry would) and stop n2, so
    // nobody will ever finish items 2 and 3.
    c.node("n2").sigstop();
    for item in [2, 3] {
        let path = format!("/{NS}/work/n2/{run_id}_{item}");
        c.client.delete(&path, None).await.unwrap();
    }
    let out = cli.wait_with_output().unwrap();
    assert_eq!(
        out.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let run = c.ledger.run(&run_id).await.unwrap();
    assert_eq!(run.status, RunStatus::Failed);
    let reason = run.error.unwrap_or_default();
    assert!(
        reason.contains("no progress") && reason.contains("2, 3"),
        "{reason}"
    );
    // The job is not blocked: the next run of the date is accepted.
    c.node("n2").sigcont();
    let out = c.setup.run_cli(true, &["run", "eod", "--date", DATE]);
    assert_ok(&out, "the next run");
    c.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn leader_killed_mid_run_the_next_leader_adopts_and_concludes_it() {
    let job = checksum_job("eod", 6, "3s", "");
    let jobs = [("eod", job.as_str())];
    let (reference_rows, reference_csv) = single_node_reference(&jobs, "eod").await;
    let mut c = Cluster::new(&jobs).await;
    for id in ["n1", "n2", "n3"] {
        c.start(id).await;
    }
    assert_eq!(c.leader().await, "n1");
    let cli = c
        .setup
        .cli(true, &["run", "eod", "--date", DATE])
        .spawn()
        .unwrap();
    let run_id = wait_running_on(&c, "eod", "n1", 2).await;
    c.node("n1").kill9();
    let out = cli.wait_with_output().unwrap();
    assert_ok(&out, "reckon run --registry");
    let run = c.ledger.run(&run_id).await.unwrap();
    assert_eq!(run.status, RunStatus::Succeeded, "{:?}", run.error);
    let events = c.ledger.events(&run_id).await.unwrap();
    let adopted: Vec<&str> = events
        .iter()
        .filter(|e| e.kind == "adopted")
        .map(|e| e.message.as_str())
        .collect();
    assert_eq!(adopted, vec!["by leader n2"], "{events:#?}");
    let commits = c.commits(&run_id).await;
    for item in 0..6u32 {
        let owners = commits.get(&item).cloned().unwrap_or_default();
        assert_eq!(owners.len(), 1, "item {item} committed {owners:?}");
        assert_ne!(owners[0], "n1", "the killed leader committed item {item}");
    }
    assert_eq!(outputs(&c.db.db, "eod").await, reference_rows);
    assert_eq!(summary_csv(&c.setup, "eod", &run_id), reference_csv);
    c.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn zookeeper_down_starts_no_run_and_the_cluster_resumes_by_itself() {
    let tick = "name = \"tick\"\nkind = \"command\"\ncron = \"*/2 * * * * *\"\nbusiness_date = \"same_day\"\n\
                shards = 2\nretries = 0\n[params]\nprogram = \"sh\"\nargs = [\"-c\", \"exit 3\"]\n";
    let mut c = Cluster::new(&[("tick", tick)]).await;
    for id in ["n1", "n2"] {
        c.start(id).await;
    }
    c.leader().await;
    let ledger = c.ledger.clone();
    let first = wait_for("a first cron run", Duration::from_secs(20), || {
        let ledger = ledger.clone();
        async move {
            let runs = ledger
                .runs(&RunFilter {
                    job: Some("tick".into()),
                    limit: 1,
                    ..RunFilter::default()
                })
                .await
                .ok()?;
            runs.into_iter().find(|r| r.status.is_final())
        }
    })
    .await;
    c.zk.stop();
    let down_at = chrono::Utc::now();
    tokio::time::sleep(Duration::from_secs(5)).await;
    let up_at = chrono::Utc::now();
    // A run created in the first second may have been on its way already.
    let grace = chrono::Duration::seconds(1);
    let during: Vec<RunRecord> = c
        .runs("tick")
        .await
        .into_iter()
        .filter(|r| r.created_at > down_at + grace && r.created_at < up_at)
        .collect();
    assert!(
        during.is_empty(),
        "runs started while ZooKeeper was down: {during:#?}"
    );
    c.zk.restart();
    let ledger = c.ledger.clone();
    wait_for(
        "a cron run after ZooKeeper is back",
        Duration::from_secs(30),
        || {
            let ledger = ledger.clone();
            async move {
                let runs = ledger
                    .runs(&RunFilter {
                        job: Some("tick".into()),
                        limit: 5,
                        ..RunFilter::default()
                    })
                    .await
                    .ok()?;
                runs.iter().any(|r| r.created_at > up_at).then_some(())
            }
        },
    )
    .await;
    let runs = c.runs("tick").await;
    let mut per_fire: BTreeMap<String, usize> = BTreeMap::new();
    for run in &runs {
        *per_fire
            .entry(fire_time(run).unwrap_or_default())
            .or_default() += 1;
    }
    assert!(per_fire.values().all(|n| *n == 1), "{per_fire:?}");
    assert!(runs.iter().any(|r| r.run_id == first.run_id));
    c.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_releases_unfinished_shards_to_other_nodes_and_exits_0() {
    // Shards take 4 s; the shutdown grace is 1 s: n2 cannot finish its own.
    let job = checksum_job("eod", 4, "4s", "");
    let jobs = [("eod", job.as_str())];
    let mut c = Cluster::new(&jobs).await;
    for id in ["n1", "n2"] {
        c.start(id).await;
    }
    assert_eq!(c.leader().await, "n1");
    let cli = c
        .setup
        .cli(true, &["run", "eod", "--date", DATE])
        .spawn()
        .unwrap();
    let run_id = wait_running_on(&c, "eod", "n2", 2).await;
    let pid = c.node("n2").pid();
    assert!(
        std::process::Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .unwrap()
            .success()
    );
    let stopped = Instant::now();
    let status = loop {
        if let Some(status) = c.node("n2").child.try_wait().unwrap() {
            break status;
        }
        assert!(
            stopped.elapsed() < Duration::from_secs(15),
            "n2 did not stop"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert!(status.success(), "n2 exited {status}");
    let out = cli.wait_with_output().unwrap();
    assert_ok(&out, "reckon run --registry");
    let run = c.ledger.run(&run_id).await.unwrap();
    assert_eq!(run.status, RunStatus::Succeeded, "{:?}", run.error);
    let shards = c.ledger.shards(&run_id).await.unwrap();
    assert!(
        shards.iter().all(|s| s.instance.as_deref() == Some("n1")),
        "n1 finished n2's shards: {shards:?}"
    );
    let events = c.ledger.events(&run_id).await.unwrap();
    assert!(
        !events.iter().any(|e| e.kind == "cancelled"),
        "released, not cancelled: {events:#?}"
    );
    c.finish().await;
}
