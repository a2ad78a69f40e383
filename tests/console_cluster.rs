//! The console of cluster nodes on a real ZooKeeper and a shared PostgreSQL,
//! nodes as separate `reckon serve --http` processes (issue 14): the Cluster
//! page shows instances, leader and assignments; disable/enable of a job and
//! an instance through either node's console lands in ZooKeeper and in the
//! journal; `/readyz` follows the node's ZooKeeper session; the alerts
//! "leadership changed" and "node left the cluster" reach a webhook.

mod common;

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::TestDb;
use common::http::{Browser, enc};
use common::zk::{Setup, ZkServer, client, free_port, instances, wait_for};
use http_body_util::{BodyExt, Full};
use hyper::body::{Bytes, Incoming};
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use reckon::coord::zookeeper::status::{Switches, Toggle};

const NS: &str = "reckon-console";
const PASSWORD: &str = "correct horse battery";
const LIMIT: Duration = Duration::from_secs(60);

type Seen = Arc<Mutex<Vec<serde_json::Value>>>;

/// A webhook receiver that keeps every JSON body it gets.
async fn receiver() -> (SocketAddr, Seen) {
    let seen: Seen = Arc::default();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let keep = seen.clone();
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let keep = keep.clone();
            tokio::spawn(async move {
                let service = hyper::service::service_fn(move |req: Request<Incoming>| {
                    let keep = keep.clone();
                    async move {
                        let body = req.into_body().collect().await.unwrap().to_bytes();
                        if let Ok(json) = serde_json::from_slice(&body) {
                            keep.lock().unwrap().push(json);
                        }
                        Ok::<_, Infallible>(Response::new(Full::new(Bytes::from_static(
                            b"{\"errcode\":0}",
                        ))))
                    }
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    });
    (addr, seen)
}

fn event(seen: &Seen, kind: &str, needle: &str) -> Option<serde_json::Value> {
    seen.lock()
        .unwrap()
        .iter()
        .find(|v| v["kind"] == kind && v.to_string().contains(needle))
        .cloned()
}

/// Signs `alice` in on a node's console; returns the browser and a CSRF token.
async fn sign_in(base: &str) -> (Browser, String) {
    let mut browser = Browser::new(base);
    let csrf = browser.get("/login").await.csrf();
    let r = browser
        .post(
            "/login",
            &[("csrf", &csrf), ("name", "alice"), ("password", PASSWORD)],
        )
        .await;
    assert_eq!(r.status, 303, "{}", r.body);
    let page = browser.get("/cluster").await;
    assert_eq!(page.status, 200, "{}", page.body);
    let csrf = page.csrf();
    (browser, csrf)
}

async fn toggle(browser: &mut Browser, csrf: &str, what: &str, name: &str, action: &str) {
    let r = browser
        .post(
            "/cluster/toggle",
            &[
                ("csrf", csrf),
                ("what", what),
                ("name", name),
                ("action", action),
                ("reason", "statement late"),
            ],
        )
        .await;
    assert_eq!(r.status, 303, "{}", r.body);
    assert!(
        r.location().starts_with("/cluster?ok="),
        "{what} {name} {action}: {}",
        r.location()
    );
}

async fn readyz(base: &str) -> u16 {
    Browser::new(base).get("/readyz").await.status
}

async fn await_ready(base: &str, status: u16, what: &str) {
    let base = base.to_string();
    wait_for(what, LIMIT, || {
        let base = base.clone();
        async move { (readyz(&base).await == status).then_some(()) }
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn console_on_cluster_nodes() {
    let db = TestDb::postgres().await;
    let mut zk = ZkServer::start();
    let job = "name = \"eod\"\nkind = \"checksum\"\nshards = 2\ntimeout = \"60s\"\n[params]\nrows = 10\nwork = \"10ms\"\n";
    let setup = Setup::new(db.dir.path(), &db.url, zk.url(NS), &[("eod", job)]);
    let (hook, seen) = receiver().await;
    let hash = reckon::console::hash_password(PASSWORD).unwrap();
    let mut config = std::fs::read_to_string(&setup.config).unwrap();
    config.push_str(&format!(
        "[console]\nsession_secret = \"0123456789abcdef0123456789abcdef\"\n\
         [[console.operators]]\nname = \"alice\"\npassword_hash = \"{hash}\"\n\
         [alerts]\nretries = 2\nbackoff = \"50ms\"\n\
         [[alerts.webhooks]]\nname = \"ops\"\nformat = \"generic\"\nurl = \"http://{hook}/ops\"\n"
    ));
    std::fs::write(&setup.config, config).unwrap();
    let zk_client = client(&zk).await;
    let mut bases = Vec::new();
    let mut nodes = Vec::new();
    for id in ["n1", "n2"] {
        let addr = format!("127.0.0.1:{}", free_port());
        nodes.push(setup.node_with(id, &["--http", &addr]));
        bases.push(format!("http://{addr}"));
        let c = zk_client.clone();
        wait_for(&format!("{id} to register"), LIMIT, || {
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
    for base in &bases {
        await_ready(base, 200, "a node ready").await;
    }

    // The Cluster page of either node: both instances, the leader, the job.
    let (mut on_n1, csrf1) = sign_in(&bases[0]).await;
    let page = on_n1.get("/cluster").await.body;
    for needle in [
        "n1",
        "n2",
        "eod",
        "leader",
        "follower",
        "Jobs and assignments",
    ] {
        assert!(page.contains(needle), "{needle}: {page}");
    }
    // A run through the console goes to the leader; its assignment appears.
    let r = on_n1
        .post(
            "/actions/run",
            &[
                ("csrf", &csrf1),
                ("job", "eod"),
                ("date", "2026-11-21"),
                ("reason", "first night"),
            ],
        )
        .await;
    assert!(r.location().starts_with("/?ok="), "{}", r.location());
    wait_for("the assignment on the Cluster page", LIMIT, || {
        let mut b = Browser::new(&bases[0]);
        b.cookies = on_n1.cookies.clone();
        async move {
            let page = b.get("/cluster").await.body;
            page.contains("v0:").then_some(())
        }
    })
    .await;

    // Disable the job on n1's console: in ZooKeeper and journaled; the
    // leader refuses a run of it.
    toggle(&mut on_n1, &csrf1, "job", "eod", "disable").await;
    let disabled_job = format!("/{NS}/disabled/jobs/eod");
    assert!(zk_client.check_stat(&disabled_job).await.unwrap().is_some());
    let r = on_n1
        .post(
            "/actions/run",
            &[
                ("csrf", &csrf1),
                ("job", "eod"),
                ("date", "2026-11-22"),
                ("reason", "should be refused"),
            ],
        )
        .await;
    assert!(
        r.location().starts_with("/?error=") && r.location().contains("disabled"),
        "{}",
        r.location()
    );
    // The grid marks it disabled (read through the node's session).
    let grid = on_n1.get("/?end=2026-11-21").await.body;
    assert!(grid.contains(">disabled<"), "{grid}");
    // A rerun of the job's run is refused as well, naming who disabled it and why.
    let run_id: String = reckon::on_db!(&db.db, pool => {
        sqlx::query_scalar("SELECT run_id FROM runs WHERE job = 'eod' LIMIT 1")
            .fetch_one(pool)
            .await
            .unwrap()
    });
    let r = on_n1
        .post(
            "/actions/rerun",
            &[
                ("csrf", &csrf1),
                ("run_id", &run_id),
                ("reason", "should be refused"),
            ],
        )
        .await;
    assert!(
        r.location().contains("error=")
            && r.location().contains(&enc(
                "job `eod` is disabled in this cluster by console:alice"
            ))
            && r.location().contains(&enc(": statement late")),
        "{}",
        r.location()
    );
    // Disable an instance through the follower's console (its own session).
    let (mut on_n2, csrf2) = sign_in(&bases[1]).await;
    toggle(&mut on_n2, &csrf2, "instance", "n2", "disable").await;
    let disabled_n2 = format!("/{NS}/disabled/instances/n2");
    assert!(zk_client.check_stat(&disabled_n2).await.unwrap().is_some());
    let page = on_n2.get("/cluster").await.body;
    assert!(page.contains("toggle-journal"), "{page}");
    toggle(&mut on_n2, &csrf2, "instance", "n2", "enable").await;
    toggle(&mut on_n1, &csrf1, "job", "eod", "enable").await;
    assert!(zk_client.check_stat(&disabled_job).await.unwrap().is_none());
    assert!(zk_client.check_stat(&disabled_n2).await.unwrap().is_none());
    assert_eq!(
        common::toggle_journal(&db.db).await,
        [
            "job eod disable",
            "instance n2 disable",
            "instance n2 enable",
            "job eod enable",
        ]
        .map(|c| format!("{c} by console:alice (cluster): statement late"))
    );

    // Leadership: n1 was elected first (leader epoch 1) and alerted once.
    wait_for("leadership_changed for n1", LIMIT, || {
        let seen = seen.clone();
        async move { event(&seen, "leadership_changed", "n1 is now the leader").map(|_| ()) }
    })
    .await;

    // n1 dies: n2 leads; its watcher alerts that n1 left and who leads now.
    let mut n1 = nodes.remove(0);
    n1.kill9();
    let left = wait_for("node_left for n1", LIMIT, || {
        let seen = seen.clone();
        async move { event(&seen, "node_left", "node n1 left") }
    })
    .await;
    assert_eq!(left["instance"], "n1");
    assert!(
        left["event_id"]
            .as_str()
            .unwrap()
            .starts_with("node_left:n1@")
    );
    let lead = wait_for("leadership_changed for n2", LIMIT, || {
        let seen = seen.clone();
        async move { event(&seen, "leadership_changed", "n2 is now the leader") }
    })
    .await;
    assert_eq!(lead["lines"][0], "previous leader: n1");
    tokio::time::sleep(Duration::from_secs(6)).await;
    let count = |kind: &str| {
        seen.lock()
            .unwrap()
            .iter()
            .filter(|v| v["kind"] == kind)
            .count()
    };
    assert_eq!(count("node_left"), 1, "one alert per event");
    assert_eq!(count("leadership_changed"), 2, "one per election");

    // /readyz follows n2's session: 503 while ZooKeeper is gone, 200 after.
    zk.stop();
    await_ready(&bases[1], 503, "/readyz 503 without ZooKeeper").await;
    let text = Browser::new(&bases[1]).get("/readyz").await.body;
    assert!(text.contains("ZooKeeper"), "{text}");
    // The grid cannot read the cluster's switches: it says so rather than
    // showing every job as enabled without a word.
    let grid = on_n2.get("/").await;
    assert_eq!(grid.status, 200);
    assert!(
        grid.body.contains("Which jobs are disabled is unknown"),
        "{}",
        grid.body
    );
    zk.restart();
    await_ready(&bases[1], 200, "/readyz 200 with ZooKeeper back").await;
    drop(nodes);
    drop(n1);
}

/// The journal and ZooKeeper agree about every switch: with no row pending,
/// ZooKeeper shows a switch exactly when the latest applied row of it
/// disables it (every switch in ZooKeeper has a journal row; the journal
/// never claims a switch ZooKeeper does not have). A pending row (a toggle
/// cut off between its writes) may or may not have landed: ZooKeeper shows
/// either what it asks or what the applied rows before it say.
async fn journal_agrees_with_zookeeper(db: &reckon::db::Db, switches: &Switches) {
    use std::collections::BTreeSet;
    let rows = reckon::toggles::journal(db, 1000).await.unwrap();
    let mut names: BTreeSet<(String, String)> = rows
        .iter()
        .map(|e| (e.what.clone(), e.name.clone()))
        .collect();
    for (what, toggle) in [("job", Toggle::Job), ("instance", Toggle::Instance)] {
        for name in switches.disabled(toggle).await.unwrap() {
            names.insert((what.to_string(), name));
        }
    }
    for (what, name) in names {
        let toggle = if what == "job" {
            Toggle::Job
        } else {
            Toggle::Instance
        };
        let shown = switches.is_disabled(toggle, &name).await.unwrap();
        // Oldest first; rows that did not take effect say nothing.
        let mut said: Vec<_> = rows
            .iter()
            .filter(|e| e.what == what && e.name == name && e.state != "not_applied")
            .collect();
        said.reverse();
        let applied = said
            .iter()
            .rev()
            .find(|e| e.state == "applied")
            .is_some_and(|e| e.disables());
        match said.last() {
            Some(last) if last.state == "pending" => assert!(
                shown == last.disables() || shown == applied,
                "{what} {name}: ZooKeeper shows {shown}, pending row {last:?}"
            ),
            _ => assert_eq!(
                shown, applied,
                "{what} {name}: ZooKeeper shows disabled = {shown}, the journal's latest applied row says {applied}: {said:?}"
            ),
        }
    }
}

fn change<'a>(name: &'a str, disable: bool, actor: &'a str) -> reckon::toggles::Change<'a> {
    reckon::toggles::Change {
        what: Toggle::Job,
        name,
        disable,
        actor,
        reason: "statement late",
    }
}

async fn state_of(db: &reckon::db::Db, seq: i64) -> String {
    reckon::toggles::journal(db, 1000)
        .await
        .unwrap()
        .into_iter()
        .find(|e| e.seq == seq)
        .map(|e| e.state)
        .unwrap()
}

/// Issue 14: `reckon cluster disable|enable` and the console journal their
/// intent before they touch ZooKeeper. A crash after the intent (nothing in
/// ZooKeeper), a crash after the ZooKeeper write (the row still pending),
/// and ZooKeeper stopped between the two writes each leave a pending row
/// that is settled against ZooKeeper — by the next toggle, by a serving
/// node from its start — and after every step the journal and ZooKeeper agree.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn toggle_intent_survives_a_crash_between_the_writes() {
    use reckon::toggles::{Place, ToggleError, apply, apply_after, intend, reconcile};
    let db = TestDb::postgres().await;
    let mut zk = ZkServer::start();
    let registry: reckon::coord::zookeeper::Registry = zk.url("reckon-toggles").parse().unwrap();
    let switches = Switches::connect(&registry).await.unwrap();
    let t0 = chrono::Utc::now() - chrono::Duration::minutes(30);
    let minute = chrono::Duration::from_std(reckon::toggles::IN_FLIGHT).unwrap();

    // 1. A crash after the intent row, before ZooKeeper: nothing switched.
    let first = intend(&db.db, &change("eod", true, "cli:alice"), t0)
        .await
        .unwrap();
    assert!(!switches.is_disabled(Toggle::Job, "eod").await.unwrap());
    journal_agrees_with_zookeeper(&db.db, &switches).await;
    // A second toggle of the same switch while the first may be in flight: refused.
    let refused = apply(
        &db.db,
        Place::Registry(&registry),
        &change("eod", true, "cli:bob"),
        t0 + chrono::Duration::seconds(10),
    )
    .await
    .unwrap_err();
    assert!(
        matches!(refused, ToggleError::InFlight { seq, .. } if seq == first),
        "{refused}"
    );
    assert!(refused.to_string().contains("cli:alice"), "{refused}");
    // Young rows are left alone; past IN_FLIGHT the row is settled: not applied.
    assert!(
        reconcile(&db.db, &switches, t0 + chrono::Duration::seconds(10))
            .await
            .unwrap()
            .is_empty()
    );
    let settled = reconcile(
        &db.db,
        &switches,
        t0 + minute + chrono::Duration::seconds(1),
    )
    .await
    .unwrap();
    assert_eq!(settled.len(), 1);
    assert!(!settled[0].applied);
    assert_eq!(state_of(&db.db, first).await, "not_applied");
    journal_agrees_with_zookeeper(&db.db, &switches).await;

    // 2. A crash after the ZooKeeper write, before the row is marked applied:
    // the switch has its (pending) row; the next toggle settles it as applied.
    let t1 = t0 + chrono::Duration::minutes(5);
    let second = intend(&db.db, &change("eod", true, "cli:alice"), t1)
        .await
        .unwrap();
    switches.set(Toggle::Job, "eod", true).await.unwrap();
    journal_agrees_with_zookeeper(&db.db, &switches).await;
    // 3. Then an enable cut off after its intent: ZooKeeper still shows the job disabled.
    let t2 = t1 + chrono::Duration::minutes(5);
    let third = intend(&db.db, &change("nightly", false, "cli:alice"), t2)
        .await
        .unwrap();
    let t3 = t2 + chrono::Duration::minutes(5);
    apply(
        &db.db,
        Place::Registry(&registry),
        &change("other", true, "cli:carol"),
        t3,
    )
    .await
    .unwrap();
    assert_eq!(state_of(&db.db, second).await, "applied");
    assert_eq!(
        state_of(&db.db, third).await,
        "applied",
        "nightly was never disabled: enabled is what ZooKeeper shows"
    );
    assert!(switches.is_disabled(Toggle::Job, "eod").await.unwrap());
    journal_agrees_with_zookeeper(&db.db, &switches).await;
    // The leader's refusal of a disabled job names who disabled it and why.
    let refusal = reckon::toggles::cluster_refusal(&db.db, "eod")
        .await
        .to_string();
    assert!(
        refusal.contains("job `eod` is disabled in this cluster by cli:alice")
            && refusal.contains("statement late"),
        "{refusal}"
    );

    // 4. ZooKeeper stops between the intent and the write: the toggle does
    // not know whether it landed and says so; the row stays pending.
    let t4 = t3 + chrono::Duration::minutes(5);
    let cut = apply_after(
        &db.db,
        Place::Registry(&registry),
        &change("eod", false, "cli:dave"),
        t4,
        async { zk.stop() },
    )
    .await
    .unwrap_err();
    assert!(matches!(cut, ToggleError::Unknown { .. }), "{cut}");
    assert!(cut.to_string().contains("stays pending"), "{cut}");
    let ToggleError::Unknown { entry, .. } = cut else {
        unreachable!()
    };
    let cut_seq = entry.seq;
    assert_eq!(state_of(&db.db, cut_seq).await, "pending");
    zk.restart();
    let switches = wait_for("a session after the restart", LIMIT, || {
        let registry = registry.clone();
        async move { Switches::connect(&registry).await.ok() }
    })
    .await;
    journal_agrees_with_zookeeper(&db.db, &switches).await;

    // 5. A serving node settles it from its start (the CLI that wrote it is gone).
    let job = "name = \"eod\"\nkind = \"checksum\"\nshards = 2\ntimeout = \"60s\"\n[params]\nrows = 10\nwork = \"10ms\"\n";
    let setup = Setup::new(
        db.dir.path(),
        &db.url,
        zk.url("reckon-toggles"),
        &[("eod", job)],
    );
    let _node = setup.node("n1");
    wait_for("the node to settle the pending row", LIMIT, || {
        let db = db.db.clone();
        async move { (state_of(&db, cut_seq).await != "pending").then_some(()) }
    })
    .await;
    assert_eq!(
        state_of(&db.db, cut_seq).await,
        "not_applied",
        "ZooKeeper was down: the enable never landed"
    );
    assert!(switches.is_disabled(Toggle::Job, "eod").await.unwrap());
    journal_agrees_with_zookeeper(&db.db, &switches).await;

    // 6. The CLI: enable journals first and marks applied; the journal agrees.
    let out = setup.run_cli(
        true,
        &["cluster", "enable", "eod", "--reason", "statement arrived"],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(!switches.is_disabled(Toggle::Job, "eod").await.unwrap());
    let last = &reckon::toggles::journal(&db.db, 1).await.unwrap()[0];
    assert_eq!(
        (
            last.action.as_str(),
            last.state.as_str(),
            last.reason.as_str()
        ),
        ("enable", "applied", "statement arrived")
    );
    assert!(last.actor.starts_with("cli:"));
    assert!(reckon::toggles::pending(&db.db).await.unwrap().is_empty());
    journal_agrees_with_zookeeper(&db.db, &switches).await;
}
