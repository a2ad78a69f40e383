//! The operations console against a real server on 127.0.0.1:0, on both
//! backends: every page, every action, and each refusal (no sign-in, wrong
//! password, missing CSRF token, GET on an action); the metrics after a
//! known set of runs; and the grid's speed on a book of 10,000 runs.

mod common;

use std::time::Duration;

use common::http::{Browser, enc};
use common::{TestDb, date, probe_job, run_job, simple_harness};
use reckon::console::{ConsoleSettings, ConsoleState, OperatorSettings};
use reckon::jobs::compensation::{self, NewMessage, State as MsgState, store};
use reckon::jobs::recon::breaks::{self, BreakState, NewBreak};
use reckon::ledger::RunStatus;
use reckon::metrics::Metrics;
use reckon::on_db;
use reckon::runtime::Runner;
use rust_decimal::Decimal;
use tokio_util::sync::CancellationToken;

const PASSWORD: &str = "correct horse battery";
const TOKEN: &str = "bot-token-0123456789";

fn settings(read_only_open: bool) -> ConsoleSettings {
    ConsoleSettings {
        operators: vec![
            OperatorSettings {
                name: "alice".into(),
                password_hash: Some(reckon::console::hash_password(PASSWORD).unwrap()),
                token_sha256: None,
            },
            OperatorSettings {
                name: "bot".into(),
                password_hash: None,
                token_sha256: Some(reckon::console::token_digest(TOKEN)),
            },
        ],
        read_only_open,
        ..ConsoleSettings::default()
    }
}

/// Serves the console for `runner` on 127.0.0.1:0; returns its base URL.
pub async fn start_console(
    runner: Runner,
    settings: ConsoleSettings,
    shutdown: CancellationToken,
) -> String {
    let state = ConsoleState {
        runner,
        settings,
        metrics: Metrics::default(),
        cluster: None,
        execute_here: true,
    };
    let (tx, rx) = tokio::sync::oneshot::channel();
    tokio::spawn(reckon::console::serve(
        state,
        "127.0.0.1:0".parse().unwrap(),
        shutdown,
        Some(tx),
    ));
    let addr = rx.await.expect("console listens");
    format!("http://{addr}")
}

fn new_break(category: &str, key: &str, left: &str, right: &str) -> NewBreak {
    let (l, r): (Decimal, Decimal) = (left.parse().unwrap(), right.parse().unwrap());
    NewBreak {
        category: category.into(),
        key: key.into(),
        kind: "payment".into(),
        sides: "ledger/statement".into(),
        left_amount: Some(l),
        right_amount: Some(r),
        delta: r - l,
        detail: format!("{key}: ledger {left}, statement {right}"),
        payload: "{}".into(),
        pending: false,
    }
}

/// Two runs of `settle` (one succeeded, one failed), two breaks, three messages.
async fn book(db: &TestDb) -> common::Harness {
    let jobs = [(
        "settle",
        probe_job(
            "settle",
            2,
            "cron = \"0 30 1 * * *\"\ntime_zone = \"Asia/Shanghai\"\ndeadline = \"08:00\"",
        ),
    )];
    let h = simple_harness(db, &jobs).await;
    let ok = run_job(&h.runner, "settle", "2026-11-20").await;
    assert_eq!(ok.run.status, RunStatus::Succeeded);
    h.control.fail(1, true);
    let failed = run_job(&h.runner, "settle", "2026-11-21").await;
    assert_eq!(failed.run.status, RunStatus::Failed);
    h.control.fail(1, false);
    let mut tx = db.db.begin().await.unwrap();
    breaks::record_date(
        &mut tx,
        "settle",
        date("2026-11-20"),
        &ok.run.run_id,
        &[
            new_break("amount_mismatch", "P-1001", "100.00", "99.50"),
            new_break("missing_in_statement", "P-1002", "20.00", "0"),
        ],
    )
    .await
    .unwrap();
    tx.commit().await.unwrap();
    for id in ["T1", "T2", "T3"] {
        let message = NewMessage {
            id: id.into(),
            txn_type: "order".into(),
            business_key: format!("O-{id}"),
            payload: r#"{"amount":"12.34"}"#.into(),
        };
        compensation::prepare(&db.db, &message, 1_000)
            .await
            .unwrap();
    }
    on_db!(&db.db, pool => {
        sqlx::query("UPDATE txn_messages SET state = 'dead', dead_from = 'prepared', check_count = 15 WHERE id = 'T1'")
            .execute(pool).await.unwrap();
    });
    h
}

fn metric(text: &str, prefix: &str) -> f64 {
    text.lines()
        .filter(|l| l.starts_with(prefix))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

async fn wait_final(runner: &Runner, run_id: &reckon::ledger::RunId) -> reckon::ledger::RunRecord {
    for _ in 0..200 {
        let run = runner.ledger().run(run_id).await.unwrap();
        if run.status.is_final() {
            return run;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("run {run_id} did not finish");
}

on_both_backends! {
    pages_actions_and_refusals => pages_actions_and_refusals;
    metrics_after_known_runs => metrics_after_known_runs;
}

async fn pages_actions_and_refusals(db: &TestDb) {
    let h = book(db).await;
    let runs = h.ledger.runs(&Default::default()).await.unwrap();
    let failed = runs
        .iter()
        .find(|r| r.status == RunStatus::Failed)
        .unwrap()
        .clone();
    let ok = runs
        .iter()
        .find(|r| r.status == RunStatus::Succeeded)
        .unwrap()
        .clone();
    let shutdown = CancellationToken::new();
    let base = start_console(h.runner.clone(), settings(false), shutdown.clone()).await;
    let mut anon = Browser::new(&base);

    // Health and readiness are open.
    let health = anon.get("/healthz").await;
    assert_eq!((health.status, health.body.as_str()), (200, "ok\n"));
    assert_eq!(anon.get("/readyz").await.status, 200);

    // Pages need a sign-in unless read-only access is configured.
    for page in [
        "/",
        "/runs",
        "/breaks",
        "/messages",
        "/cluster",
        &format!("/runs/{}", ok.run_id),
    ] {
        let r = anon.get(page).await;
        assert_eq!(r.status, 303, "{page}");
        assert!(
            r.location().starts_with("/login?next="),
            "{page}: {}",
            r.location()
        );
    }
    let login = anon.get("/login").await;
    assert_eq!(login.status, 200);
    let csrf = login.csrf();

    // Sign-in: missing CSRF token → 403; wrong password → back to the form.
    let r = anon
        .post("/login", &[("name", "alice"), ("password", PASSWORD)])
        .await;
    assert_eq!(r.status, 403, "sign-in without CSRF token");
    let r = anon
        .post(
            "/login",
            &[("csrf", &csrf), ("name", "alice"), ("password", "wrong")],
        )
        .await;
    assert_eq!(r.status, 303);
    assert!(r.location().contains("error="), "{}", r.location());
    assert_eq!(anon.get("/").await.status, 303, "still signed out");
    let r = anon
        .post(
            "/login",
            &[("csrf", &csrf), ("name", "mallory"), ("password", PASSWORD)],
        )
        .await;
    assert!(r.location().contains("error="));

    let mut alice = anon;
    let r = alice
        .post(
            "/login",
            &[
                ("csrf", &csrf),
                ("name", "alice"),
                ("password", PASSWORD),
                ("next", "/breaks"),
            ],
        )
        .await;
    assert_eq!((r.status, r.location().as_str()), (303, "/breaks"));

    // Every action refuses a GET, a visitor who is not signed in, and a form
    // without this session's CSRF token — and nothing happens.
    let all = breaks::list(&db.db, &Default::default()).await.unwrap();
    let b1 = all.iter().find(|b| b.key == "P-1001").unwrap().clone();
    let b2 = all.iter().find(|b| b.key == "P-1002").unwrap().clone();
    let actions: [(String, Vec<(&str, &str)>); 6] = [
        (
            "/actions/run".into(),
            vec![("job", "settle"), ("date", "2026-11-19"), ("reason", "x")],
        ),
        (
            "/actions/rerun".into(),
            vec![("run_id", &failed.run_id), ("reason", "x")],
        ),
        (format!("/breaks/{}/resolve", b1.id), vec![("note", "fee")]),
        (
            "/messages/T1/retry".into(),
            vec![("reason", "checker back")],
        ),
        (
            "/messages/T2/resolve".into(),
            vec![("decision", "rollback"), ("reason", "x")],
        ),
        (
            "/cluster/toggle".into(),
            vec![
                ("name", "settle"),
                ("what", "job"),
                ("action", "disable"),
                ("reason", "x"),
            ],
        ),
    ];
    for (path, form) in &actions {
        refused_every_way(&base, &mut alice, path, form).await;
    }
    assert_eq!(h.ledger.runs(&Default::default()).await.unwrap().len(), 2);
    assert_eq!(
        breaks::get(&db.db, b1.id).await.unwrap().state,
        BreakState::Open
    );
    for (id, state) in [("T1", MsgState::Dead), ("T2", MsgState::Prepared)] {
        assert_eq!(store::get(&db.db, id).await.unwrap().unwrap().state, state);
    }
    assert!(common::toggle_journal(&db.db).await.is_empty());

    // Grid: the two runs, the next fire time, counts.
    let grid = alice.get("/?end=2026-11-21").await;
    assert_eq!(grid.status, 200);
    assert!(grid.body.contains("signed in as <b>alice</b>"));
    assert!(
        grid.body.contains(&format!("href=\"/runs/{}\"", ok.run_id)),
        "{}",
        grid.body
    );
    assert!(
        grid.body
            .contains(&format!("href=\"/runs/{}\"", failed.run_id))
    );
    assert!(grid.body.contains(">succeeded</a>") && grid.body.contains(">failed</a>"));
    assert!(
        grid.body.contains("Asia/Shanghai"),
        "next fire time in the job's zone"
    );
    assert!(
        grid.body.contains("action=\"/actions/run\""),
        "run form for an operator"
    );
    let csrf = grid.csrf();

    // Runs list and one run: shards, events, reports, summary.csv as a table.
    let list = alice.get("/runs?job=settle").await;
    assert!(list.status == 200 && list.body.contains(ok.run_id.as_str()));
    let page = alice.get(&format!("/runs/{}", ok.run_id)).await;
    assert_eq!(page.status, 200);
    assert!(page.body.contains("<h2>Shards</h2>") && page.body.contains("test-node"));
    assert!(page.body.contains("<h2>summary.csv</h2>"));
    assert!(
        page.body.contains("<th>item</th><th>rows_in</th>"),
        "{}",
        page.body
    );
    assert!(page.body.contains("<h2>Events</h2>") && page.body.contains("finished"));
    let report = alice.get(&format!("/runs/{}/reports/0", ok.run_id)).await;
    assert_eq!(report.status, 200);
    assert!(report.body.starts_with("item,rows_in"));
    assert!(
        report.headers["content-disposition"]
            .to_str()
            .unwrap()
            .contains("summary.csv")
    );
    assert_eq!(
        alice
            .get(&format!("/runs/{}/reports/9", ok.run_id))
            .await
            .status,
        404
    );
    assert_eq!(alice.get("/runs/no-such-run").await.status, 404);
    let failed_page = alice.get(&format!("/runs/{}", failed.run_id)).await;
    assert!(failed_page.body.contains("action=\"/actions/rerun\""));
    assert!(
        failed_page.body.contains("probe item 1 fails")
            || failed_page.body.contains("class=\"err\"")
    );

    // Rerun with --failed-only: the POST journals alice and the reason.
    let r = alice
        .post(
            "/actions/rerun",
            &[
                ("csrf", &csrf),
                ("run_id", &failed.run_id),
                ("reason", "bank fixed the file"),
                ("failed_only", "on"),
            ],
        )
        .await;
    assert_eq!(r.status, 303, "{}", r.body);
    let new_id = r
        .location()
        .trim_start_matches("/runs/")
        .split('?')
        .next()
        .unwrap()
        .to_string();
    let rerun = wait_final(&h.runner, &new_id.as_str().into()).await;
    assert_eq!(rerun.parent_run.as_deref(), Some(failed.run_id.as_str()));
    assert!(rerun.failed_only);
    assert_eq!(rerun.requested_by, "console:alice");
    assert_eq!(rerun.reason.as_deref(), Some("bank fixed the file"));
    assert_eq!(rerun.status, RunStatus::Succeeded);
    let parent_page = alice.get(&format!("/runs/{}", failed.run_id)).await;
    assert!(parent_page.body.contains("Reruns of this run") && parent_page.body.contains(&new_id));

    // Run a job for a date; bad inputs come back with a clear message.
    let r = alice
        .post(
            "/actions/run",
            &[
                ("csrf", &csrf),
                ("job", "settle"),
                ("date", "2026-11-19"),
                ("reason", "catch up"),
            ],
        )
        .await;
    assert_eq!(r.status, 303);
    assert!(r.location().starts_with("/?ok="), "{}", r.location());
    let created = h
        .ledger
        .runs(&reckon::ledger::RunFilter {
            business_date: Some(date("2026-11-19")),
            limit: 5,
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(created.len(), 1);
    assert_eq!(created[0].requested_by, "console:alice");
    wait_final(&h.runner, &created[0].run_id).await;
    let r = alice
        .post(
            "/actions/run",
            &[
                ("csrf", &csrf),
                ("job", "settle"),
                ("date", "19/11/2026"),
                ("reason", "x"),
            ],
        )
        .await;
    assert!(
        r.location().contains("error=") && r.location().contains(&enc("is not a date")),
        "{}",
        r.location()
    );
    let r = alice
        .post(
            "/actions/run",
            &[
                ("csrf", &csrf),
                ("job", "settle"),
                ("date", "2026-11-20"),
                ("reason", "x"),
            ],
        )
        .await;
    assert!(
        r.location().contains(&enc("already succeeded")),
        "{}",
        r.location()
    );
    let r = alice
        .post(
            "/actions/run",
            &[("csrf", &csrf), ("job", "nope"), ("reason", "x")],
        )
        .await;
    assert!(r.location().contains("error="));
    let r = alice
        .post(
            "/actions/run",
            &[
                ("csrf", &csrf),
                ("job", "settle"),
                ("date", "2026-11-18"),
                ("reason", "  "),
            ],
        )
        .await;
    assert!(
        r.location().contains(&enc("a reason is required")),
        "{}",
        r.location()
    );
    let r = alice
        .post(
            "/actions/run",
            &[
                ("csrf", &csrf),
                ("job", "settle"),
                ("from", "2026-11-17"),
                ("to", "2026-11-18"),
                ("reason", "backfill"),
            ],
        )
        .await;
    assert!(r.location().starts_with("/?ok="), "{}", r.location());
    for d in ["2026-11-17", "2026-11-18"] {
        let runs = h
            .ledger
            .runs(&reckon::ledger::RunFilter {
                business_date: Some(date(d)),
                limit: 5,
                ..Default::default()
            })
            .await
            .unwrap();
        assert_eq!(runs.len(), 1, "{d}");
        assert_eq!(runs[0].trigger, reckon::ledger::Trigger::Backfill);
        wait_final(&h.runner, &runs[0].run_id).await;
    }

    // Breaks: filters, aging buckets, two sides, resolve with a note.
    let list = alice.get("/breaks").await;
    assert_eq!(list.status, 200);
    assert!(list.body.contains("P-1001") && list.body.contains("P-1002"));
    assert!(
        list.body.contains("unresolved, 31d+ old") || list.body.contains("unresolved, 8-30d old")
    );
    let filtered = alice.get("/breaks?category=amount_mismatch").await;
    assert!(filtered.body.contains("P-1001") && !filtered.body.contains("P-1002"));
    let by_date = alice.get("/breaks?date=2026-11-21").await;
    assert!(!by_date.body.contains("P-1001"));
    let page = alice.get(&format!("/breaks/{}", b1.id)).await;
    assert!(page.body.contains("<h2>ledger</h2>") && page.body.contains("100.00"));
    assert!(page.body.contains("<h2>statement</h2>") && page.body.contains("99.50"));
    let r = alice
        .post(
            &format!("/breaks/{}/resolve", b1.id),
            &[("csrf", &csrf), ("note", "")],
        )
        .await;
    assert!(r.location().contains(&enc("a note is required")));
    assert_eq!(
        breaks::get(&db.db, b1.id).await.unwrap().state,
        BreakState::Open
    );
    let r = alice
        .post(
            &format!("/breaks/{}/resolve", b1.id),
            &[("csrf", &csrf), ("note", "channel fee 0.50, booked")],
        )
        .await;
    assert_eq!(r.status, 303);
    let resolved = breaks::get(&db.db, b1.id).await.unwrap();
    assert_eq!(resolved.state, BreakState::Resolved);
    assert_eq!(resolved.resolved_by.as_deref(), Some("console:alice"));
    assert_eq!(resolved.note.as_deref(), Some("channel fee 0.50, booked"));
    let again = alice
        .post(
            &format!("/breaks/{}/resolve", b1.id),
            &[("csrf", &csrf), ("note", "again")],
        )
        .await;
    assert!(
        again.location().contains("error=") && again.location().contains("already"),
        "{}",
        again.location()
    );
    let page = alice.get(&format!("/breaks/{}", b1.id)).await;
    assert!(page.body.contains("channel fee 0.50, booked") && !page.body.contains("Resolve break"));

    // Messages: dead and stuck; retry and resolve journal alice and the reason.
    let page = alice.get("/messages").await;
    assert_eq!(page.status, 200);
    assert!(page.body.contains("href=\"/messages/T1\""));
    assert!(
        page.body.contains("href=\"/messages/T2\""),
        "prepared since 1970: stuck"
    );
    let r = alice
        .post(
            "/messages/T1/retry",
            &[("csrf", &csrf), ("reason", "checker back")],
        )
        .await;
    assert_eq!(r.status, 303);
    assert_eq!(
        store::get(&db.db, "T1").await.unwrap().unwrap().state,
        MsgState::Prepared
    );
    let r = alice
        .post(
            "/messages/T2/resolve",
            &[
                ("csrf", &csrf),
                ("decision", "rollback"),
                ("reason", "order cancelled"),
            ],
        )
        .await;
    assert_eq!(r.status, 303);
    assert_eq!(
        store::get(&db.db, "T2").await.unwrap().unwrap().state,
        MsgState::RolledBack
    );
    let journal = store::actions(&db.db, "T2").await.unwrap();
    assert_eq!(journal.len(), 1);
    assert_eq!(
        (journal[0].actor.as_str(), journal[0].reason.as_str()),
        ("console:alice", "order cancelled")
    );
    let r = alice
        .post(
            "/messages/T2/retry",
            &[("csrf", &csrf), ("reason", "again")],
        )
        .await;
    assert!(
        r.location().contains("error="),
        "only a dead message can be retried"
    );
    let page = alice.get("/messages/T2").await;
    assert!(page.body.contains("order cancelled") && page.body.contains("console:alice"));

    // Cluster page in single-node mode; disable/enable works here too: kept
    // in the database, journaled, honoured by manual runs and the scheduler.
    let page = alice.get("/cluster").await;
    assert!(
        page.status == 200 && page.body.contains("test-node") && page.body.contains(">leader<")
    );
    let toggle = |what: &'static str, name: &'static str, action: &'static str| {
        [
            ("name", name),
            ("what", what),
            ("action", action),
            ("reason", "statement late"),
        ]
    };
    let r = alice
        .post(
            "/cluster/toggle",
            &[
                &[("csrf", csrf.as_str())][..],
                &toggle("job", "settle", "disable"),
            ]
            .concat(),
        )
        .await;
    assert!(r.location().starts_with("/cluster?ok="), "{}", r.location());
    assert!(
        reckon::toggles::node_switches(&db.db)
            .await
            .unwrap()
            .jobs
            .contains("settle")
    );
    let r = alice
        .post(
            "/actions/run",
            &[
                ("csrf", &csrf),
                ("job", "settle"),
                ("date", "2026-11-19"),
                ("reason", "x"),
            ],
        )
        .await;
    assert!(
        r.location().contains(&enc("is disabled on this node")),
        "{}",
        r.location()
    );
    // A rerun too, naming who disabled the job and why.
    let r = alice
        .post(
            "/actions/rerun",
            &[("csrf", &csrf), ("run_id", &failed.run_id), ("reason", "x")],
        )
        .await;
    assert!(
        r.location().contains("error=")
            && r.location().contains(&enc(
                "job `settle` is disabled on this node by console:alice at "
            ))
            && r.location().contains(&enc(" UTC: statement late")),
        "{}",
        r.location()
    );
    assert!(
        alice
            .get("/?end=2026-11-21")
            .await
            .body
            .contains(">disabled<")
    );
    let r = alice
        .post(
            "/cluster/toggle",
            &[
                &[("csrf", csrf.as_str())][..],
                &toggle("instance", "test-node", "disable"),
            ]
            .concat(),
        )
        .await;
    assert!(r.location().starts_with("/cluster?ok="), "{}", r.location());
    for (what, name) in [("job", "settle"), ("instance", "test-node")] {
        let r = alice
            .post(
                "/cluster/toggle",
                &[
                    &[("csrf", csrf.as_str())][..],
                    &toggle(what, name, "enable"),
                ]
                .concat(),
            )
            .await;
        assert!(r.location().starts_with("/cluster?ok="), "{}", r.location());
    }
    let r = alice
        .post(
            "/cluster/toggle",
            &[
                ("csrf", csrf.as_str()),
                ("name", "nope"),
                ("what", "job"),
                ("action", "disable"),
                ("reason", "x"),
            ],
        )
        .await;
    assert!(r.location().contains(&enc("there is no job `nope`")));
    assert_eq!(
        common::toggle_journal(&db.db).await,
        [
            "job settle disable",
            "instance test-node disable",
            "job settle enable",
            "instance test-node enable",
        ]
        .map(|c| format!("{c} by console:alice (node): statement late"))
    );
    assert!(
        reckon::toggles::node_switches(&db.db)
            .await
            .unwrap()
            .jobs
            .is_empty()
    );
    let page = alice.get("/cluster").await.body;
    assert!(page.contains("toggle-journal") && page.contains("statement late"));

    // A bearer token acts without a cookie or CSRF token (scripts), as its operator.
    let mut bot = Browser::new(&base);
    bot.bearer = Some(TOKEN.into());
    let r = bot
        .post(
            &format!("/breaks/{}/resolve", b2.id),
            &[("note", "written off by script")],
        )
        .await;
    assert_eq!(r.status, 303);
    assert_eq!(
        breaks::get(&db.db, b2.id)
            .await
            .unwrap()
            .resolved_by
            .as_deref(),
        Some("console:bot")
    );
    bot.bearer = Some("wrong".into());
    assert_eq!(
        bot.post("/actions/run", &[("job", "settle"), ("reason", "x")])
            .await
            .status,
        401
    );

    // Sign out: the session no longer acts.
    let r = alice.post("/logout", &[("csrf", &csrf)]).await;
    assert_eq!(r.status, 303);
    assert_eq!(alice.get("/").await.status, 303);
    let csrf2 = alice.get("/login").await.csrf();
    assert_eq!(
        alice
            .post(
                "/actions/run",
                &[("csrf", &csrf2), ("job", "settle"), ("reason", "x")]
            )
            .await
            .status,
        401
    );
    assert_eq!(anon_404(&base).await, 404);
    shutdown.cancel();

    // Read-only access when configured: pages open, actions still need an operator.
    let shutdown = CancellationToken::new();
    let base = start_console(h.runner.clone(), settings(true), shutdown.clone()).await;
    let mut reader = Browser::new(&base);
    let grid = reader.get("/?end=2026-11-21").await;
    assert_eq!(grid.status, 200);
    assert!(
        grid.body.contains(ok.run_id.as_str()) && !grid.body.contains("action=\"/actions/run\"")
    );
    let csrf = reader.get("/login").await.csrf();
    assert_eq!(
        reader
            .post(
                "/actions/run",
                &[("csrf", &csrf), ("job", "settle"), ("reason", "x")]
            )
            .await
            .status,
        401
    );
    shutdown.cancel();
}

/// An action's refusals: a GET is 405; a visitor not signed in is 401 (with
/// a CSRF token of their own session); a signed-in operator's form without
/// the CSRF token, with another session's, or with a forged one is 403.
/// `form` is the action's fields without the token.
async fn refused_every_way(base: &str, signed_in: &mut Browser, path: &str, form: &[(&str, &str)]) {
    assert_eq!(signed_in.get(path).await.status, 405, "GET {path}");
    let mut anon = Browser::new(base);
    let other = anon.get("/login").await.csrf();
    fn with<'a>(csrf: Option<&'a str>, form: &[(&'a str, &'a str)]) -> Vec<(&'a str, &'a str)> {
        csrf.map(|c| ("csrf", c))
            .into_iter()
            .chain(form.iter().copied())
            .collect()
    }
    let status = anon.post(path, &with(Some(&other), form)).await.status;
    assert_eq!(status, 401, "{path} without a sign-in");
    for (csrf, what) in [
        (None, "without a CSRF token"),
        (Some(other.as_str()), "with another session's CSRF token"),
        (Some("forged"), "with a forged CSRF token"),
    ] {
        let status = signed_in.post(path, &with(csrf, form)).await.status;
        assert_eq!(status, 403, "{path} {what}");
    }
}

async fn anon_404(base: &str) -> u16 {
    Browser::new(base).get("/no/such/page").await.status
}

async fn metrics_after_known_runs(db: &TestDb) {
    let h = book(db).await;
    let shutdown = CancellationToken::new();
    let base = start_console(h.runner.clone(), settings(false), shutdown.clone()).await;
    let mut anon = Browser::new(&base);
    let m = anon.get("/metrics").await;
    assert_eq!(m.status, 200);
    assert!(
        m.headers["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/plain")
    );
    let text = m.body;
    assert_eq!(
        metric(&text, "reckon_runs{job=\"settle\",status=\"succeeded\"}"),
        1.0,
        "{text}"
    );
    assert_eq!(
        metric(&text, "reckon_runs{job=\"settle\",status=\"failed\"}"),
        1.0
    );
    assert_eq!(
        metric(
            &text,
            "reckon_run_duration_seconds_count{job=\"settle\",status=\"succeeded\"}"
        ),
        1.0
    );
    assert_eq!(
        metric(
            &text,
            "reckon_run_duration_seconds_count{job=\"settle\",status=\"failed\"}"
        ),
        1.0
    );
    // Two shards × one attempt, then one shard once and one failing shard twice (retries = 1).
    assert_eq!(metric(&text, "reckon_shard_attempts{job=\"settle\"}"), 5.0);
    assert_eq!(metric(&text, "reckon_shard_failures{job=\"settle\"}"), 1.0);
    assert_eq!(
        metric(&text, "reckon_shard_duration_seconds_count{job=\"settle\"}"),
        4.0
    );
    // 2026-11-20 00:00 UTC.
    assert_eq!(
        metric(
            &text,
            "reckon_last_success_business_date_timestamp_seconds{job=\"settle\"}"
        ),
        1_795_132_800.0
    );
    assert!(
        metric(
            &text,
            "reckon_last_success_timestamp_seconds{job=\"settle\"}"
        ) > 1.7e9
    );
    assert_eq!(metric(&text, "reckon_open_breaks{job=\"settle\""), 2.0);
    assert_eq!(metric(&text, "reckon_txn_messages{state=\"dead\"}"), 1.0);
    assert_eq!(
        metric(&text, "reckon_txn_messages{state=\"prepared\"}"),
        2.0
    );
    assert_eq!(metric(&text, "reckon_cluster_members"), 1.0);
    assert_eq!(metric(&text, "reckon_leader{instance=\"test-node\"}"), 1.0);
    shutdown.cancel();
}

/// A book of 10,000 runs (and 40,000 shards) written straight into the
/// ledger: the grid, the runs list, a run and /metrics answer with the right
/// content. How fast they answer is measured by `reckon bench console`
/// (README), not asserted here.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pages_on_ten_thousand_runs() {
    let db = TestDb::sqlite().await;
    let jobs: Vec<(String, String)> = (0..5)
        .map(|j| {
            (
                format!("job-{j}"),
                probe_job(&format!("job-{j}"), 4, "cron = \"0 0 1 * * *\""),
            )
        })
        .collect();
    let jobs_ref: Vec<(&str, String)> = jobs.iter().map(|(n, t)| (n.as_str(), t.clone())).collect();
    let h = simple_harness(&db, &jobs_ref).await;
    on_db!(&db.db, pool => {
        sqlx::query(
            "WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i < 9999) \
             INSERT INTO runs (run_id, job, business_date, attempt, trigger, status, requested_by, params, created_at, started_at, finished_at, outcome) \
             SELECT printf('run-%05d', i), 'job-' || (i % 5), date('2026-11-30', '-' || (i / 10) || ' days'), 1 + (i / 5) % 2, 'cron', \
                    CASE WHEN i % 17 = 0 THEN 'failed' ELSE 'succeeded' END, 'scheduler', '{}', \
                    '2026-11-30T01:00:00Z', '2026-11-30T01:00:00Z', '2026-11-30T01:00:07Z', '{\"reports\":[]}' FROM n",
        )
        .execute(pool).await.unwrap();
        sqlx::query(
            "INSERT INTO shard_runs (run_id, item, instance, epoch, status, attempts, rows_in, rows_out, started_at, finished_at) \
             SELECT run_id, k.item, 'node', 1, 'succeeded', 1, 10, 10, started_at, finished_at FROM runs, \
             (SELECT 0 AS item UNION ALL SELECT 1 UNION ALL SELECT 2 UNION ALL SELECT 3) k",
        )
        .execute(pool).await.unwrap();
    });
    assert_eq!(
        h.ledger
            .runs(&reckon::ledger::RunFilter {
                limit: 20_000,
                ..Default::default()
            })
            .await
            .unwrap()
            .len(),
        10_000
    );
    let shutdown = CancellationToken::new();
    let base = start_console(h.runner.clone(), settings(true), shutdown.clone()).await;
    let mut b = Browser::new(&base);
    for (path, must) in [
        ("/?end=2026-11-30&days=31", "run-00005"),
        ("/runs?job=job-3", "run-"),
        ("/runs/run-05000", "job-0"),
        ("/metrics", "reckon_runs{job=\"job-0\""),
    ] {
        let r = b.get(path).await;
        assert_eq!(r.status, 200, "{path}");
        assert!(r.body.contains(must), "{path}");
    }
    shutdown.cancel();
    db.cleanup().await;
}
