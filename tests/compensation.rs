//! The compensation kind on SQLite and PostgreSQL, with a real local HTTP
//! server (127.0.0.1:0) as HTTP checker and downstream, and a manual clock.

mod common;

use std::collections::HashMap;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, TimeZone, Utc};
use common::{TestDb, manual};
use http_body_util::Full;
use hyper::body::{Bytes, Incoming};
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use reckon::catalog::Catalog;
use reckon::coord::Embedded;
use reckon::db::Db;
use reckon::jobs::compensation::{
    self, Compensation, Confirmation, Decision, Hooks, NewMessage, State, manual as txn,
};
use reckon::ledger::{Ledger, RunStatus};
use reckon::on_db;
use reckon::runtime::{
    KindRegistry, Paths, Progress, RunOutcome, RunSummary, Runner, RunnerConfig,
};
use reckon::schedule::{Clock, ManualClock};

on_both_backends! {
    sql_checker_mix_then_backoff_to_dead => sql_checker_mix_then_backoff_to_dead;
    http_checker_and_downstream => http_checker_and_downstream;
    crash_between_delivery_and_state_write => crash_between_delivery_and_state_write;
    late_confirmations_are_refused => late_confirmations_are_refused;
    downstream_down_then_back => downstream_down_then_back;
    manual_retry_and_resolve_are_journaled => manual_retry_and_resolve_are_journaled;
    two_workers_never_move_a_message_twice => two_workers_never_move_a_message_twice;
    superseded_fence_writes_nothing => superseded_fence_writes_nothing;
    superseded_fence_delivers_nothing => superseded_fence_delivers_nothing;
    fixtures_load_idempotently => fixtures_load_idempotently;
}

const JOB: &str = "txn-comp";

fn start_time() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 21, 4, 0, 0).unwrap()
}

fn ms(t: DateTime<Utc>) -> i64 {
    t.timestamp_millis()
}

// ---------- a real local HTTP server ----------

/// What the test server answers and what it saw.
#[derive(Default)]
struct Server {
    /// business key → (status, body) for `GET /check?key=…`.
    checks: Mutex<HashMap<String, (u16, String)>>,
    /// While set, `POST /deliver` answers 503.
    down: AtomicBool,
    /// idempotency key → (status, body) overriding the normal 200 `{}`.
    delivery_answers: Mutex<HashMap<String, (u16, String)>>,
    /// Idempotency keys of every delivery request received, in order.
    deliveries: Mutex<Vec<String>>,
}

impl Server {
    fn answer_check(&self, key: &str, status: u16, body: &str) {
        self.checks
            .lock()
            .unwrap()
            .insert(key.into(), (status, body.into()));
    }

    fn deliveries(&self) -> Vec<String> {
        self.deliveries.lock().unwrap().clone()
    }

    fn handle(&self, req: &Request<Incoming>) -> (u16, String) {
        match req.uri().path() {
            "/check" => {
                let key = req
                    .uri()
                    .query()
                    .and_then(|q| q.strip_prefix("key="))
                    .unwrap_or("")
                    .to_string();
                self.checks
                    .lock()
                    .unwrap()
                    .get(&key)
                    .cloned()
                    .unwrap_or((404, String::new()))
            }
            "/deliver" => {
                let key = req
                    .headers()
                    .get("idempotency-key")
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or("")
                    .to_string();
                self.deliveries.lock().unwrap().push(key.clone());
                if self.down.load(Ordering::SeqCst) {
                    return (503, "down for maintenance".into());
                }
                self.delivery_answers
                    .lock()
                    .unwrap()
                    .get(&key)
                    .cloned()
                    .unwrap_or((200, "{}".into()))
            }
            _ => (404, String::new()),
        }
    }
}

async fn serve(server: Arc<Server>) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                return;
            };
            let server = server.clone();
            tokio::spawn(async move {
                let service = hyper::service::service_fn(move |req: Request<Incoming>| {
                    let (status, body) = server.handle(&req);
                    async move {
                        Ok::<_, Infallible>(
                            Response::builder()
                                .status(status)
                                .body(Full::new(Bytes::from(body)))
                                .unwrap(),
                        )
                    }
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    });
    addr
}

// ---------- runner over the compensation kind ----------

struct Harness {
    runner: Runner,
    clock: Arc<ManualClock>,
    last_run: Mutex<Option<reckon::ledger::RunId>>,
}

impl Harness {
    async fn new(db: &TestDb, params: &str, hooks: Hooks) -> Harness {
        let job = format!(
            "name = \"{JOB}\"\nkind = \"compensation\"\nshards = 2\nretries = 0\ntimeout = \"30s\"\n[params]\n{params}\n"
        );
        let mut kinds = KindRegistry::new();
        kinds.register(Arc::new(Compensation::with_hooks(hooks)));
        let catalog =
            Catalog::from_sources(&[(PathBuf::from(format!("jobs/{JOB}.toml")), job)], &kinds)
                .expect("valid job");
        let clock = Arc::new(ManualClock::new(start_time()));
        let ledger = Ledger::new(db.db.clone(), clock.clone() as Arc<dyn Clock>);
        let runner = Runner::new(
            ledger,
            Arc::new(catalog),
            Arc::new(kinds),
            Arc::new(Embedded::new("test-node")),
            Paths {
                reports_dir: db.reports_dir(),
                data_dir: db.dir.path().to_path_buf(),
                excel_bom: false,
                reports_xlsx: false,
            },
            RunnerConfig {
                parallel_shards_max: 2,
                run_lease: Duration::from_secs(60),
                heartbeat_interval: Duration::from_millis(200),
                dependency_poll: Duration::from_millis(50),
            },
        );
        Harness {
            runner,
            clock,
            last_run: Mutex::new(None),
        }
    }

    fn at(&self, seconds_after_start: i64) {
        self.clock
            .set(start_time() + chrono::Duration::seconds(seconds_after_start));
    }

    /// One run of the job (the first run of the date, then reruns of it).
    async fn run(&self) -> RunSummary {
        let last = self.last_run.lock().unwrap().clone();
        let summary = match last {
            None => self
                .runner
                .run_now(manual(JOB, "2026-11-21"), Arc::new(Progress::default()))
                .await
                .unwrap(),
            Some(parent) => {
                let rerun = self
                    .runner
                    .request_rerun(&parent, false, "next pass", "test")
                    .await
                    .unwrap();
                self.runner
                    .execute(&rerun.run_id, Arc::new(Progress::default()))
                    .await
                    .unwrap()
            }
        };
        *self.last_run.lock().unwrap() = Some(summary.run.run_id.clone());
        summary
    }
}

fn outcome(summary: &RunSummary) -> RunOutcome {
    serde_json::from_value(summary.run.outcome.clone().expect("run outcome")).unwrap()
}

fn report(summary: &RunSummary, name: &str) -> String {
    let path = outcome(summary)
        .reports
        .into_iter()
        .find(|p| p.ends_with(name))
        .unwrap_or_else(|| panic!("no {name}"));
    std::fs::read_to_string(path).unwrap()
}

async fn prepare(
    db: &Db,
    id: &str,
    txn_type: &str,
    key: &str,
    amount: Option<&str>,
    at: DateTime<Utc>,
) {
    let payload = match amount {
        Some(a) => format!("{{\"amount\":\"{a}\"}}"),
        None => "{}".to_string(),
    };
    compensation::prepare(
        db,
        &NewMessage {
            id: id.into(),
            txn_type: txn_type.into(),
            business_key: key.into(),
            payload,
        },
        ms(at),
    )
    .await
    .unwrap();
}

/// (id, state, check_count, delivery_attempts) of every message, by id.
async fn states(db: &Db) -> Vec<(String, String, i64, i64)> {
    on_db!(db, pool => {
        sqlx::query_as("SELECT id, state, check_count, delivery_attempts FROM txn_messages ORDER BY id")
            .fetch_all(pool)
            .await
            .unwrap()
    })
}

fn row(id: &str, state: &str, checks: i64, attempts: i64) -> (String, String, i64, i64) {
    (id.into(), state.into(), checks, attempts)
}

async fn outbox_keys(db: &Db) -> Vec<String> {
    let rows: Vec<(String,)> = on_db!(db, pool => {
        sqlx::query_as("SELECT idempotency_key FROM txn_outbox ORDER BY idempotency_key")
            .fetch_all(pool)
            .await
            .unwrap()
    });
    rows.into_iter().map(|r| r.0).collect()
}

const BUSINESS_TABLE: &str =
    "CREATE TABLE biz_orders (order_no TEXT PRIMARY KEY, status TEXT NOT NULL)";

async fn business_orders(db: &Db, orders: &[(&str, &str)]) {
    on_db!(db, pool => {
        sqlx::query(BUSINESS_TABLE).execute(pool).await.unwrap();
        for (key, status) in orders {
            sqlx::query("INSERT INTO biz_orders VALUES ($1, $2)")
                .bind(*key).bind(*status).execute(pool).await.unwrap();
        }
    });
}

const SQL_PARAMS: &str = r#"min_age = "60s"
backoff_initial = "10s"
backoff_cap = "15s"
max_checks = 3
[params.checkers.order]
sql = "SELECT order_no, CASE status WHEN 'PAID' THEN 'committed' WHEN 'CANCELLED' THEN 'rolled_back' ELSE 'pending' END FROM biz_orders WHERE order_no IN ({keys})"
[params.downstreams.order]
outbox = true
"#;

// ---------- the tests ----------

async fn sql_checker_mix_then_backoff_to_dead(db: &TestDb) {
    business_orders(
        &db.db,
        &[("O-1", "PAID"), ("O-2", "CANCELLED"), ("O-4", "PENDING")],
    )
    .await;
    let old = start_time() - chrono::Duration::seconds(120);
    prepare(&db.db, "M1", "order", "O-1", Some("100.50"), old).await;
    prepare(&db.db, "M2", "order", "O-2", Some("20.00"), old).await;
    prepare(&db.db, "M3", "order", "O-3", Some("7.25"), old).await; // no business row
    prepare(&db.db, "M4", "order", "O-4", None, old).await; // still pending
    // Prepared 30 s ago: younger than min_age, not checked yet.
    prepare(
        &db.db,
        "M5",
        "order",
        "O-1",
        Some("1.00"),
        start_time() - chrono::Duration::seconds(30),
    )
    .await;
    let h = Harness::new(db, SQL_PARAMS, Hooks::default()).await;

    let first = h.run().await;
    assert_eq!(first.run.status, RunStatus::Succeeded);
    assert_eq!(
        states(&db.db).await,
        [
            row("M1", "delivered", 1, 1),
            row("M2", "rolled_back", 1, 0),
            row("M3", "prepared", 1, 0),
            row("M4", "prepared", 1, 0),
            row("M5", "prepared", 0, 0),
        ]
    );
    assert_eq!(outbox_keys(&db.db).await, ["M1"]);
    assert_eq!(
        report(&first, "compensation.csv"),
        "message_id,txn_type,business_key,amount,old_state,new_state,checks,attempts,error\n\
         M1,order,O-1,100.50,prepared,committed,1,0,\n\
         M1,order,O-1,100.50,committed,delivered,1,1,\n\
         M2,order,O-2,20.00,prepared,rolled_back,1,0,\n\
         M3,order,O-3,7.25,prepared,prepared,1,0,business key not found by the checker query\n\
         M4,order,O-4,,prepared,prepared,1,0,checker answered `pending`\n"
    );
    assert_eq!(
        report(&first, "summary.csv"),
        "section,outcome,message_id,txn_type,business_key,messages,amount\n\
         total,dead,,,,0,0.00\n\
         total,committed,,,,1,100.50\n\
         total,rolled_back,,,,1,20.00\n\
         total,delivered,,,,1,100.50\n\
         total,check_unknown,,,,2,7.25\n\
         total,delivery_failed,,,,0,0.00\n"
    );
    assert!(outcome(&first).attention.is_empty());

    // 5 s later nothing is due (backoff 10 s); M5 is still too young.
    h.at(5);
    let quiet = h.run().await;
    assert_eq!(
        report(&quiet, "compensation.csv").lines().count(),
        1,
        "header only"
    );

    // At +10 s: second check of M3/M4 (next wait 20 s, capped to 15 s);
    // M5 is now 40 s old: still too young.
    h.at(10);
    h.run().await;
    assert_eq!(
        states(&db.db).await[2..],
        [
            row("M3", "prepared", 2, 0),
            row("M4", "prepared", 2, 0),
            row("M5", "prepared", 0, 0)
        ]
    );
    // At +24 s: not due yet (10 + 15 = 25).
    h.at(24);
    h.run().await;
    assert_eq!(states(&db.db).await[2].2, 2);
    // At +25 s: third check = max_checks → dead; M5 (55 s old) still waits.
    h.at(25);
    let last = h.run().await;
    assert_eq!(
        last.run.status,
        RunStatus::Succeeded,
        "dead messages do not fail the run"
    );
    assert_eq!(
        states(&db.db).await[2..],
        [
            row("M3", "dead", 3, 0),
            row("M4", "dead", 3, 0),
            row("M5", "prepared", 0, 0)
        ]
    );
    let attention = outcome(&last).attention;
    assert_eq!(attention.len(), 2, "{attention:?}");
    assert!(
        attention[0].contains("M3") && attention[0].contains("3 checks"),
        "{attention:?}"
    );
    assert_eq!(
        report(&last, "summary.csv"),
        "section,outcome,message_id,txn_type,business_key,messages,amount\n\
         dead_message,dead,M3,order,O-3,1,7.25\n\
         dead_message,dead,M4,order,O-4,1,\n\
         total,dead,,,,2,7.25\n\
         total,committed,,,,0,0.00\n\
         total,rolled_back,,,,0,0.00\n\
         total,delivered,,,,0,0.00\n\
         total,check_unknown,,,,0,0.00\n\
         total,delivery_failed,,,,0,0.00\n"
    );
    let dead = compensation::store::get(&db.db, "M3")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(dead.dead_from, Some(State::Prepared));
}

fn http_params(addr: SocketAddr, extra: &str) -> String {
    format!(
        "min_age = \"60s\"\nbackoff_initial = \"10s\"\nbackoff_cap = \"60s\"\nmax_checks = 5\nmax_attempts = 3\nhttp_timeout = \"2s\"\n{extra}\n\
         [params.checkers.pay]\nhttp = \"http://{addr}/check?key={{key}}\"\n\
         [params.downstreams.pay]\nhttp = \"http://{addr}/deliver\"\n"
    )
}

async fn http_checker_and_downstream(db: &TestDb) {
    let server = Arc::new(Server::default());
    let addr = serve(server.clone()).await;
    server.answer_check("K1", 200, r#"{"outcome":"committed"}"#);
    server.answer_check("K2", 200, r#"{"outcome":"rolled_back"}"#);
    // A 200 whose body states an error is not an answer.
    server.answer_check(
        "K3",
        200,
        r#"{"outcome":"committed","error":"replica lagging"}"#,
    );
    server.answer_check("K4", 500, r#"{"outcome":"committed"}"#);
    server.answer_check("K5", 200, r#"{"outcome":"committed"}"#);
    // The downstream accepts P5 with a 200 whose body is an error: not delivered.
    server
        .delivery_answers
        .lock()
        .unwrap()
        .insert("P5".into(), (200, r#"{"error":"ledger closed"}"#.into()));
    let old = start_time() - chrono::Duration::seconds(600);
    for (id, key) in [
        ("P1", "K1"),
        ("P2", "K2"),
        ("P3", "K3"),
        ("P4", "K4"),
        ("P5", "K5"),
        ("P6", "K 6/x"),
    ] {
        prepare(&db.db, id, "pay", key, Some("10.00"), old).await;
    }
    let h = Harness::new(db, &http_params(addr, ""), Hooks::default()).await;
    let run = h.run().await;
    assert_eq!(run.run.status, RunStatus::Succeeded);
    assert_eq!(
        states(&db.db).await,
        [
            row("P1", "delivered", 1, 1),
            row("P2", "rolled_back", 1, 0),
            row("P3", "prepared", 1, 0),
            row("P4", "prepared", 1, 0),
            row("P5", "committed", 1, 1),
            row("P6", "prepared", 1, 0),
        ]
    );
    let mut seen = server.deliveries();
    seen.sort();
    assert_eq!(seen, ["P1", "P5"], "idempotency key = message id");
    let p3 = compensation::store::get(&db.db, "P3")
        .await
        .unwrap()
        .unwrap();
    assert!(p3.last_error.unwrap().contains("replica lagging"));
    let p4 = compensation::store::get(&db.db, "P4")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(p4.last_error.as_deref(), Some("checker answered HTTP 500"));
    let p5 = compensation::store::get(&db.db, "P5")
        .await
        .unwrap()
        .unwrap();
    assert!(p5.last_error.unwrap().contains("ledger closed"));
    // The key with a space and a slash reached the server percent-encoded (unknown key → 404).
    let p6 = compensation::store::get(&db.db, "P6")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(p6.last_error.as_deref(), Some("checker answered HTTP 404"));
}

async fn crash_between_delivery_and_state_write(db: &TestDb) {
    let server = Arc::new(Server::default());
    let addr = serve(server.clone()).await;
    server.answer_check("K1", 200, r#"{"outcome":"committed"}"#);
    let crash = Arc::new(AtomicBool::new(true));
    let armed = crash.clone();
    let hooks = Hooks {
        after_delivery: Some(Arc::new(move |_ids: &[String]| {
            if armed.swap(false, Ordering::SeqCst) {
                Err("killed after delivery, before the state write".into())
            } else {
                Ok(())
            }
        })),
    };
    prepare(
        &db.db,
        "C1",
        "pay",
        "K1",
        Some("42.00"),
        start_time() - chrono::Duration::seconds(600),
    )
    .await;
    let h = Harness::new(db, &http_params(addr, ""), hooks).await;
    let first = h.run().await;
    assert_eq!(first.run.status, RunStatus::Failed);
    assert_eq!(server.deliveries(), ["C1"]);
    assert_eq!(
        states(&db.db).await,
        [row("C1", "committed", 1, 0)],
        "state write lost"
    );

    let second = h.run().await;
    assert_eq!(second.run.status, RunStatus::Succeeded);
    assert_eq!(
        server.deliveries(),
        ["C1", "C1"],
        "same idempotency key again"
    );
    assert_eq!(states(&db.db).await, [row("C1", "delivered", 1, 1)]);
    // Across both runs: exactly one commit and one delivery transition.
    let moves: Vec<(String, String)> = on_db!(&db.db, pool => {
        sqlx::query_as("SELECT old_state, new_state FROM txn_run_actions WHERE message_id = 'C1' ORDER BY check_count, delivery_attempts")
            .fetch_all(pool).await.unwrap()
    });
    assert_eq!(
        moves,
        [
            ("prepared".to_string(), "committed".to_string()),
            ("committed".to_string(), "delivered".to_string())
        ]
    );
    // A third run finds nothing to do: nothing is delivered twice more.
    h.run().await;
    assert_eq!(server.deliveries().len(), 2);
}

async fn late_confirmations_are_refused(db: &TestDb) {
    business_orders(&db.db, &[("O-1", "CANCELLED"), ("O-2", "PAID")]).await;
    let old = start_time() - chrono::Duration::seconds(120);
    prepare(&db.db, "L1", "order", "O-1", Some("5.00"), old).await;
    prepare(&db.db, "L2", "order", "O-2", None, start_time()).await;
    let h = Harness::new(db, SQL_PARAMS, Hooks::default()).await;
    h.run().await;
    assert_eq!(states(&db.db).await[0], row("L1", "rolled_back", 1, 0));
    let now = ms(start_time());

    // The business system's commit arrives after check-back ruled rollback.
    let late = txn::confirm(&db.db, "L1", Decision::Commit, "order-service", now)
        .await
        .unwrap();
    assert_eq!(late, Confirmation::Refused(State::RolledBack));
    assert_eq!(
        states(&db.db).await[0],
        row("L1", "rolled_back", 1, 0),
        "not applied"
    );
    let journal = compensation::store::actions(&db.db, "L1").await.unwrap();
    assert_eq!(journal.len(), 1);
    assert_eq!(journal[0].action, "confirm_commit_refused");
    assert_eq!(journal[0].actor, "order-service");

    // An in-time confirmation applies once; repeating it is harmless; the
    // opposite decision afterwards is refused.
    let applied = txn::confirm(&db.db, "L2", Decision::Commit, "order-service", now)
        .await
        .unwrap();
    assert_eq!(applied, Confirmation::Applied);
    let again = txn::confirm(&db.db, "L2", Decision::Commit, "order-service", now)
        .await
        .unwrap();
    assert_eq!(again, Confirmation::AlreadyApplied(State::Committed));
    let flip = txn::confirm(&db.db, "L2", Decision::Rollback, "order-service", now)
        .await
        .unwrap();
    assert_eq!(flip, Confirmation::Refused(State::Committed));
    assert!(matches!(
        txn::confirm(&db.db, "nope", Decision::Commit, "x", now).await,
        Err(compensation::CompensationError::NotFound(_))
    ));
}

async fn downstream_down_then_back(db: &TestDb) {
    let server = Arc::new(Server::default());
    let addr = serve(server.clone()).await;
    server.down.store(true, Ordering::SeqCst);
    server.answer_check("K1", 200, r#"{"outcome":"committed"}"#);
    prepare(
        &db.db,
        "D1",
        "pay",
        "K1",
        Some("88.80"),
        start_time() - chrono::Duration::seconds(600),
    )
    .await;
    let h = Harness::new(db, &http_params(addr, ""), Hooks::default()).await;
    h.run().await;
    assert_eq!(states(&db.db).await, [row("D1", "committed", 1, 1)]);
    // Backoff 10 s: at +9 s it is not retried.
    h.at(9);
    h.run().await;
    assert_eq!(server.deliveries().len(), 1);
    h.at(10);
    h.run().await;
    assert_eq!(states(&db.db).await, [row("D1", "committed", 1, 2)]);
    // Back up; the next try (after 20 s more) delivers it.
    server.down.store(false, Ordering::SeqCst);
    h.at(30);
    let back = h.run().await;
    assert_eq!(states(&db.db).await, [row("D1", "delivered", 1, 3)]);
    assert_eq!(server.deliveries(), ["D1", "D1", "D1"]);
    assert_eq!(
        report(&back, "compensation.csv"),
        "message_id,txn_type,business_key,amount,old_state,new_state,checks,attempts,error\n\
         D1,pay,K1,88.80,committed,delivered,1,3,\n"
    );
}

async fn manual_retry_and_resolve_are_journaled(db: &TestDb) {
    business_orders(&db.db, &[]).await;
    let old = start_time() - chrono::Duration::seconds(120);
    prepare(&db.db, "R1", "order", "O-9", None, old).await;
    prepare(&db.db, "R2", "order", "O-8", None, old).await;
    let h = Harness::new(
        db,
        &SQL_PARAMS.replace("max_checks = 3", "max_checks = 1"),
        Hooks::default(),
    )
    .await;
    h.run().await;
    assert_eq!(
        states(&db.db).await,
        [row("R1", "dead", 1, 0), row("R2", "dead", 1, 0)]
    );
    let now = ms(start_time());
    let ops = txn::Actor {
        who: "alice",
        why: "order system restored",
    };
    let retried = txn::retry(&db.db, "R1", &ops, now).await.unwrap();
    assert_eq!((retried.state, retried.check_count), (State::Prepared, 0));
    let resolved = txn::resolve(
        &db.db,
        "R2",
        Decision::Rollback,
        &txn::Actor {
            who: "bob",
            why: "customer cancelled by phone",
        },
        now,
    )
    .await
    .unwrap();
    assert_eq!(resolved.state, State::RolledBack);
    // Decided messages cannot be resolved again or retried.
    assert!(
        txn::resolve(&db.db, "R2", Decision::Commit, &ops, now)
            .await
            .is_err()
    );
    assert!(txn::retry(&db.db, "R2", &ops, now).await.is_err());
    let blank = txn::Actor { who: "x", why: " " };
    assert!(
        txn::resolve(&db.db, "R1", Decision::Commit, &blank, now)
            .await
            .is_err(),
        "reason required"
    );
    assert_eq!(states(&db.db).await[0], row("R1", "prepared", 0, 0));
    let r1 = compensation::store::actions(&db.db, "R1").await.unwrap();
    let r2 = compensation::store::actions(&db.db, "R2").await.unwrap();
    assert_eq!(
        (
            r1.len(),
            r1[0].action.as_str(),
            r1[0].actor.as_str(),
            r1[0].old_state.as_str(),
            r1[0].new_state.as_str()
        ),
        (1, "retry", "alice", "dead", "prepared")
    );
    assert_eq!(
        (r2[0].action.as_str(), r2[0].reason.as_str()),
        ("resolve_rollback", "customer cancelled by phone")
    );
    // The journal is append-only.
    let tampered = on_db!(&db.db, pool => {
        sqlx::query("UPDATE txn_actions SET actor = 'mallory'").execute(pool).await.map(|_| ())
    });
    assert!(tampered.is_err());
    let deleted = on_db!(&db.db, pool => {
        sqlx::query("DELETE FROM txn_actions").execute(pool).await.map(|_| ())
    });
    assert!(deleted.is_err());
}

fn engine_settings(params: &str) -> compensation::Settings {
    // The job-file form has `[params.x]` sub-tables; the params table itself has `[x]`.
    let table = params.replace("[params.", "[");
    compensation::Settings::from_params(&table.parse().expect("params TOML")).expect("valid params")
}

fn scope(run_id: &str, fence: Option<compensation::store::Fence>) -> compensation::Scope {
    compensation::Scope {
        partition: compensation::Partition::ALL,
        fence,
        journal: compensation::store::Journal {
            run_id: run_id.into(),
            item: 0,
        },
        cancel: None,
    }
}

async fn two_workers_never_move_a_message_twice(db: &TestDb) {
    let orders: Vec<(String, &str)> = (0..300)
        .map(|i| {
            (
                format!("O-{i:03}"),
                if i % 3 == 0 { "CANCELLED" } else { "PAID" },
            )
        })
        .collect();
    let refs: Vec<(&str, &str)> = orders.iter().map(|(k, v)| (k.as_str(), *v)).collect();
    business_orders(&db.db, &refs).await;
    let old = start_time() - chrono::Duration::seconds(120);
    for i in 0..300 {
        prepare(
            &db.db,
            &format!("W{i:03}"),
            "order",
            &format!("O-{i:03}"),
            None,
            old,
        )
        .await;
    }
    let clock: Arc<dyn Clock> = Arc::new(ManualClock::new(start_time()));
    // Small batches so the two workers interleave.
    let settings =
        engine_settings(&SQL_PARAMS.replace("max_checks = 3", "max_checks = 3\nbatch_size = 7"));
    let a = compensation::Engine::new(
        db.db.clone(),
        settings.clone(),
        clock.clone(),
        Hooks::default(),
    );
    let b = compensation::Engine::new(db.db.clone(), settings, clock, Hooks::default());
    let (a, b) = (a.await.unwrap(), b.await.unwrap());
    let (sa, sb) = (scope("worker-a", None), scope("worker-b", None));
    let (ta, tb) = tokio::join!(a.check_back(&sa), b.check_back(&sb));
    let (ta, tb) = (ta.unwrap(), tb.unwrap());
    // Every message moved exactly once, by one of the two.
    assert_eq!(ta.committed + tb.committed, 200);
    assert_eq!(ta.rolled_back + tb.rolled_back, 100);
    let moves: Vec<(String, i64)> = on_db!(&db.db, pool => {
        sqlx::query_as("SELECT message_id, COUNT(*) FROM txn_run_actions GROUP BY message_id HAVING COUNT(*) <> 1")
            .fetch_all(pool).await.unwrap()
    });
    assert!(moves.is_empty(), "moved twice: {moves:?}");
    let counts = compensation::store::count_by_state(&db.db).await.unwrap();
    assert_eq!(counts.get("committed"), Some(&200));
    assert_eq!(counts.get("rolled_back"), Some(&100));
    assert_eq!(counts.get("prepared"), None);
}

async fn superseded_fence_writes_nothing(db: &TestDb) {
    business_orders(&db.db, &[("O-1", "PAID")]).await;
    prepare(
        &db.db,
        "F1",
        "order",
        "O-1",
        None,
        start_time() - chrono::Duration::seconds(120),
    )
    .await;
    let clock: Arc<dyn Clock> = Arc::new(ManualClock::new(start_time()));
    let engine = compensation::Engine::new(
        db.db.clone(),
        engine_settings(SQL_PARAMS),
        clock,
        Hooks::default(),
    )
    .await
    .unwrap();
    // No claim holds epoch 7 of this shard: the batch must not commit.
    let fence = compensation::store::Fence {
        job: JOB.into(),
        business_date: "2026-11-21".parse().unwrap(),
        item: 0,
        epoch: reckon::ledger::ShardEpoch(7),
    };
    let err = engine
        .check_back(&scope("zombie", Some(fence)))
        .await
        .unwrap_err();
    assert!(
        matches!(err, compensation::CompensationError::Fenced(_)),
        "{err}"
    );
    assert_eq!(states(&db.db).await, [row("F1", "prepared", 0, 0)]);
}

/// Issue 13, scenario 6: the fence is taken before a batch's HTTP
/// deliveries, not after — a superseded owner POSTs nothing.
async fn superseded_fence_delivers_nothing(db: &TestDb) {
    let server = Arc::new(Server::default());
    let addr = serve(server.clone()).await;
    server.answer_check("K1", 200, r#"{"outcome":"committed"}"#);
    prepare(
        &db.db,
        "D1",
        "pay",
        "K1",
        Some("10.00"),
        start_time() - chrono::Duration::seconds(600),
    )
    .await;
    let clock: Arc<dyn Clock> = Arc::new(ManualClock::new(start_time()));
    let engine = compensation::Engine::new(
        db.db.clone(),
        engine_settings(&http_params(addr, "")),
        clock,
        Hooks::default(),
    )
    .await
    .unwrap();
    engine.check_back(&scope("checker", None)).await.unwrap();
    assert_eq!(states(&db.db).await, [row("D1", "committed", 1, 0)]);
    // No claim holds epoch 7 of this shard: a paused owner that was failed over.
    let fence = compensation::store::Fence {
        job: JOB.into(),
        business_date: "2026-11-21".parse().unwrap(),
        item: 0,
        epoch: reckon::ledger::ShardEpoch(7),
    };
    let err = engine
        .deliver(&scope("zombie", Some(fence)))
        .await
        .unwrap_err();
    assert!(
        matches!(err, compensation::CompensationError::Fenced(_)),
        "{err}"
    );
    assert!(
        server.deliveries().is_empty(),
        "a superseded owner delivered: {:?}",
        server.deliveries()
    );
    assert_eq!(states(&db.db).await, [row("D1", "committed", 1, 0)]);
}

async fn fixtures_load_idempotently(db: &TestDb) {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/compensation");
    let date = "2026-11-21".parse().unwrap();
    let first = compensation::fixtures::load(&db.db, &dir, date)
        .await
        .unwrap();
    let second = compensation::fixtures::load(&db.db, &dir, date)
        .await
        .unwrap();
    assert_eq!(first, "8 transactional messages, 6 business orders");
    assert_eq!(first, second);
    let counts = compensation::store::count_by_state(&db.db).await.unwrap();
    assert_eq!(
        (counts.get("prepared"), counts.get("committed")),
        (Some(&7), Some(&1))
    );
    // A bad line is refused with file and line.
    let bad = db.dir.path().join("bad");
    std::fs::create_dir_all(&bad).unwrap();
    std::fs::write(bad.join("business_orders.csv"), "order_no,status\n").unwrap();
    std::fs::write(
        bad.join("messages.csv"),
        "id,txn_type,business_key,payload,prepared_at,state,check_count\nX1,order,O,{},yesterday,prepared,0\n",
    )
    .unwrap();
    let err = compensation::fixtures::load(&db.db, &bad, date)
        .await
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("messages.csv line 2") && err.contains("prepared_at"),
        "{err}"
    );
}
