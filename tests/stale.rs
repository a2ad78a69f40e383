//! Later dates must not stay stale (issue 12): a rerun that changes what a
//! date carries into the next (settlement closings, repayment loan state,
//! recon-funds carried records) marks the later succeeded dates stale —
//! `reckon runs` / `reckon show` say so, the rerun's attention names them —
//! a settlement run on top of a stale day fails its trial balance naming the
//! accounts, and `reckon rerun --cascade` reruns the later dates in order
//! until they are fresh and equal to a run from scratch. SQLite and PostgreSQL.
//!
//! Figures (worked in tests/settlement.rs from fixtures/settlement): D's
//! closings 112201 20109.30, 220201 25078.65, 600101 30.65; the late order
//! P20261121010 (500.00, fee 3.00) moves them to 20609.30, 25575.65, 33.65.
//! D+1 (2026-11-22) opens at D's closings; D+2 (2026-11-23) has no postings.

mod common;

use std::path::PathBuf;
use std::process::{Command, Output};

use common::ledger_rows::{add_late_order, insert_order, insert_posting};
use common::{TestDb, date};
use reckon::db::Db;
use reckon::ledger::{Ledger, RunStatus};
use reckon::money::Money;
use reckon::on_db;
use reckon::runtime::{RunSummary, Runner};
use rust_decimal::Decimal;

on_both_backends! {
    settlement_rerun_marks_later_dates_stale => settlement_rerun_marks_later_dates_stale;
    cascade_makes_later_dates_fresh_and_equal_to_scratch => cascade_makes_later_dates_fresh_and_equal_to_scratch;
    opening_against_changed_closing_fails_naming_accounts => opening_against_changed_closing_fails_naming_accounts;
    cascade_stops_at_first_failure => cascade_stops_at_first_failure;
    repayment_late_receipt_marks_later_dates_stale => repayment_late_receipt_marks_later_dates_stale;
    recon_funds_changed_carry_marks_later_dates_stale => recon_funds_changed_carry_marks_later_dates_stale;
    later_run_overlapping_a_change_is_stale_itself => later_run_overlapping_a_change_is_stale_itself;
    upstream_rerun_marks_dependents_stale => upstream_rerun_marks_dependents_stale;
    failed_rerun_after_commits_marks_later_dates_stale => failed_rerun_after_commits_marks_later_dates_stale;
    abandoned_run_after_commits_marks_dependents_stale => abandoned_run_after_commits_marks_dependents_stale;
}

const D: &str = "2026-11-21";
const D1: &str = "2026-11-22";
const D2: &str = "2026-11-23";
const JOB: &str = "eod-settlement";

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn settlement_job(name: &str) -> String {
    std::fs::read_to_string(repo().join("jobs/eod-settlement.toml"))
        .expect("jobs/eod-settlement.toml")
        .replace("name = \"eod-settlement\"", &format!("name = \"{name}\""))
}

async fn settlement_runner(db: &TestDb, jobs: &[&str]) -> Runner {
    reckon::jobs::business::fixtures::load(&db.db, &repo().join("fixtures/settlement"), date(D))
        .await
        .expect("fixtures load");
    let files: Vec<(&str, String)> = jobs.iter().map(|j| (*j, settlement_job(j))).collect();
    common::builtin_runner(db, &files)
}

async fn run(runner: &Runner, job: &str, day: &str) -> RunSummary {
    let summary = common::run_job(runner, job, day).await;
    assert_succeeded(&summary);
    summary
}

async fn rerun(runner: &Runner, parent: &RunSummary) -> RunSummary {
    common::rerun_run(runner, parent, "late records").await
}

fn assert_succeeded(summary: &RunSummary) {
    assert_eq!(
        summary.run.status,
        RunStatus::Succeeded,
        "{} {:?}",
        summary.run.business_date,
        summary.run.error
    );
}

fn attention(summary: &RunSummary) -> String {
    summary
        .run
        .outcome
        .as_ref()
        .and_then(|o| o.get("attention"))
        .map(|a| a.to_string())
        .unwrap_or_default()
}

/// Active stale marks of `job` as (date, run id), by date.
async fn stale(ledger: &Ledger, job: &str) -> Vec<(String, reckon::ledger::RunId)> {
    ledger
        .active_stale_marks(Some(&job.into()))
        .await
        .expect("stale marks")
        .into_iter()
        .map(|m| (m.business_date.to_string(), m.run_id))
        .collect()
}

fn dec(text: &str) -> Decimal {
    text.parse().expect("test decimal")
}

/// The `reckon` binary on the test database with `jobs` as its catalog.
fn reckon(db: &TestDb, args: &[&str]) -> Output {
    let jobs = db.dir.path().join("jobs");
    std::fs::create_dir_all(&jobs).expect("jobs dir");
    std::fs::write(jobs.join("eod-settlement.toml"), settlement_job(JOB)).expect("job file");
    Command::new(env!("CARGO_BIN_EXE_reckon"))
        .args([
            "--database",
            &db.url,
            "--jobs",
            jobs.to_str().expect("utf-8 path"),
        ])
        .args(args)
        .env("RECKON_REPORTS_DIR", db.reports_dir())
        .env("RECKON_DATA_DIR", db.dir.path())
        .env_remove("RECKON_DATABASE_URL")
        .output()
        .expect("reckon runs")
}

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The STATUS column of a run in `reckon runs` output.
fn runs_status(listing: &str, run_id: &str) -> String {
    let line = listing
        .lines()
        .find(|l| l.starts_with(run_id))
        .unwrap_or_else(|| panic!("run {run_id} not listed:\n{listing}"));
    line.split_whitespace()
        .nth(5)
        .unwrap_or_default()
        .to_string()
}

/// D, D+1, D+2 settled; then the late order arrives and D is rerun.
async fn settled_three_days_then_late_order(db: &TestDb, runner: &Runner) -> [RunSummary; 4] {
    let day = run(runner, JOB, D).await;
    let next = run(runner, JOB, D1).await;
    let after = run(runner, JOB, D2).await;
    // A rerun that changes nothing D carries marks nothing.
    let same = rerun(runner, &day).await;
    assert_succeeded(&same);
    assert!(stale(runner.ledger(), JOB).await.is_empty());
    assert!(!attention(&same).contains("stale"), "{}", attention(&same));

    add_late_order(&db.db).await;
    let rerun_d = rerun(runner, &same).await;
    assert_succeeded(&rerun_d);
    [day, next, after, rerun_d]
}

async fn settlement_rerun_marks_later_dates_stale(db: &TestDb) {
    let runner = settlement_runner(db, &[JOB]).await;
    let [day, next, after, rerun_d] = settled_three_days_then_late_order(db, &runner).await;
    let (next_id, after_id) = (next.run.run_id.clone(), after.run.run_id.clone());
    assert_eq!(
        stale(runner.ledger(), JOB).await,
        [
            (D1.to_string(), next_id.clone()),
            (D2.to_string(), after_id.clone())
        ]
    );
    let text = attention(&rerun_d);
    let expected = format!(
        "what 2026-11-21 carries into the next date changed: later dates of eod-settlement are now stale: \
         2026-11-22 (run {next_id}), 2026-11-23 (run {after_id}); rerun them in date order from \
         2026-11-22: reckon rerun {next_id} --cascade --reason …"
    );
    assert!(text.contains(&expected), "{text}");

    // `reckon runs` and `reckon show` say stale; `--status stale` lists exactly them.
    let listing = stdout(&reckon(db, &["runs", "--job", JOB]));
    assert_eq!(runs_status(&listing, &next_id), "stale");
    assert_eq!(runs_status(&listing, &after_id), "stale");
    assert_eq!(runs_status(&listing, &rerun_d.run.run_id), "succeeded");
    assert_eq!(runs_status(&listing, &day.run.run_id), "succeeded");
    let only = stdout(&reckon(db, &["runs", "--status", "stale"]));
    assert_eq!(only.lines().count(), 3, "{only}");
    let show = stdout(&reckon(db, &["show", &next_id]));
    assert!(show.contains("status       stale\n"), "{show}");
    assert!(
        show.contains(&format!(
            "stale: run {} changed what 2026-11-21 carries into later dates",
            rerun_d.run.run_id
        )),
        "{show}"
    );

    // A backfill over the stale dates skips them, but not silently.
    let backfill = reckon(db, &["run", JOB, "--from", D1, "--to", D2]);
    let out = stdout(&backfill);
    assert!(
        out.contains(&format!(
            "eod-settlement 2026-11-22: skipped, already succeeded in run {next_id}; STALE since run {}",
            rerun_d.run.run_id
        )),
        "{out}"
    );

    // Rerunning D+2 alone builds on the stale D+1: its trial balance fails
    // naming the accounts whose D+1 opening is not D's closing any more.
    let alone = rerun(&runner, &after).await;
    assert_eq!(alone.run.status, RunStatus::Failed);
    let error = alone.run.error.clone().unwrap_or_default();
    for needle in [
        "account 112201 (CNY): 2026-11-22 opened at 20109.30 but the closing of 2026-11-21 is now 20609.30: 2026-11-22 is stale",
        "account 220201 (CNY): 2026-11-22 opened at 25078.65 but the closing of 2026-11-21 is now 25575.65",
        "account 600101 (CNY): 2026-11-22 opened at 30.65 but the closing of 2026-11-21 is now 33.65",
    ] {
        assert!(error.contains(needle), "`{needle}` missing from: {error}");
    }
    assert!(!error.contains("100201"), "{error}");
    let summary = common::report_text(db, &alone, "summary.csv");
    assert!(
        summary.contains(
            "2026-11-23,previous_day_opening,CNY,112201,20109.30,20609.30,-500.00,IMBALANCED,"
        ),
        "{summary}"
    );
    // A failed rerun does not make D+2 fresh.
    assert_eq!(stale(runner.ledger(), JOB).await.len(), 2);

    // Rerunning D+1 makes it fresh; D+2 stays stale (its run still stands on the old D+1).
    let next_again = rerun(&runner, &next).await;
    assert_succeeded(&next_again);
    assert_eq!(
        stale(runner.ledger(), JOB).await,
        [(D2.to_string(), after_id.clone())]
    );
    let show = stdout(&reckon(db, &["show", &next_id]));
    assert!(
        show.contains(&format!(
            "fresh again since run {} succeeded",
            next_again.run.run_id
        )),
        "{show}"
    );
}

async fn cascade_makes_later_dates_fresh_and_equal_to_scratch(db: &TestDb) {
    let runner = settlement_runner(db, &[JOB, "settle-scratch"]).await;
    let [_, next, after, _] = settled_three_days_then_late_order(db, &runner).await;

    let mut seen = Vec::new();
    let report = runner
        .rerun_cascade(&next.run.run_id, "late order P20261121010", "test", |s| {
            seen.push((s.run.business_date.to_string(), s.run.status));
        })
        .await
        .expect("cascade");
    assert!(report.succeeded(), "{:?}", report.stopped);
    assert!(report.not_rerun.is_empty());
    assert_eq!(
        seen,
        [
            (D1.to_string(), RunStatus::Succeeded),
            (D2.to_string(), RunStatus::Succeeded)
        ]
    );
    assert!(stale(runner.ledger(), JOB).await.is_empty());
    // Each step names the cascade in its reason and is linked to the date's run it replaces.
    let step = &report.steps[1].run;
    assert!(
        step.reason
            .as_deref()
            .unwrap_or("")
            .contains("(cascade after 2026-11-22 rerun ")
    );
    assert_eq!(step.parent_run.as_deref(), Some(after.run.run_id.as_str()));

    // The same three days from scratch (with the late order in) give the same reports.
    for (i, day) in [D, D1, D2].into_iter().enumerate() {
        let scratch = run(&runner, "settle-scratch", day).await;
        if i == 0 {
            continue;
        }
        for file in ["settlement.csv", "balances.csv", "summary.csv"] {
            assert_eq!(
                common::report_text(db, &report.steps[i - 1], file),
                common::report_text(db, &scratch, file),
                "{day} {file}"
            );
        }
    }
    // D+1's receivable now opens at D's new closing: 20609.30 + 268.00 − 3000.00.
    let balances = common::report_text(db, &report.steps[0], "balances.csv");
    assert!(balances.contains(",112201,"), "{balances}");
    assert!(
        balances.contains(",20609.30,268.00,3000.00,17877.30,"),
        "{balances}"
    );
}

async fn opening_against_changed_closing_fails_naming_accounts(db: &TestDb) {
    let runner = settlement_runner(db, &[JOB]).await;
    let day = run(&runner, JOB, D).await;
    let next = run(&runner, JOB, D1).await;
    add_late_order(&db.db).await;
    assert_succeeded(&rerun(&runner, &day).await);
    // A failed-only rerun of D+1 keeps every shard's snapshot (opened at D's
    // old closings): its trial balance compares them with D's stored closings.
    let kept = runner
        .request_rerun(&next.run.run_id, true, "carry shards", "test")
        .await
        .expect("rerun requested");
    let kept = runner
        .execute(
            &kept.run_id,
            std::sync::Arc::new(reckon::runtime::Progress::default()),
        )
        .await
        .expect("rerun executes");
    assert_eq!(kept.run.status, RunStatus::Failed);
    let error = kept.run.error.clone().unwrap_or_default();
    for needle in [
        "account 112201 (CNY): opening 20109.30 but the closing of 2026-11-21 is 20609.30",
        "account 220201 (CNY): opening 25078.65 but the closing of 2026-11-21 is 25575.65",
        "account 600101 (CNY): opening 30.65 but the closing of 2026-11-21 is 33.65",
    ] {
        assert!(error.contains(needle), "`{needle}` missing from: {error}");
    }
}

async fn cascade_stops_at_first_failure(db: &TestDb) {
    let runner = settlement_runner(db, &[JOB]).await;
    let [_, _, _, rerun_d] = settled_three_days_then_late_order(db, &runner).await;
    // D+1 gets a one-sided entry: its rerun will not balance.
    insert_posting(
        &db.db,
        "JBAD0002",
        1,
        "112201",
        "debit",
        "10.00",
        "2026-11-22T10:00:00+08:00",
    )
    .await;
    let mut seen = Vec::new();
    let report = runner
        .rerun_cascade(&rerun_d.run.run_id, "late order", "test", |s| {
            seen.push((s.run.business_date.to_string(), s.run.status));
        })
        .await
        .expect("cascade");
    assert!(!report.succeeded());
    assert_eq!(
        seen,
        [
            (D.to_string(), RunStatus::Succeeded),
            (D1.to_string(), RunStatus::Failed)
        ]
    );
    assert_eq!(report.not_rerun, [date(D2)]);
    assert_eq!(
        report.stopped.as_deref(),
        Some("the rerun of 2026-11-22 did not succeed")
    );
    // D+1 and D+2 are still stale: nothing pretends otherwise.
    assert_eq!(stale(runner.ledger(), JOB).await.len(), 2);

    // The CLI says the same and exits 1.
    let out = reckon(
        db,
        &[
            "rerun",
            &rerun_d.run.run_id,
            "--cascade",
            "--reason",
            "again",
        ],
    );
    assert_eq!(out.status.code(), Some(1), "{}", stdout(&out));
    let text = stdout(&out);
    assert!(
        text.contains("cascade: rerun 2026-11-21 succeeded, 2026-11-22 failed"),
        "{text}"
    );
    assert!(
        text.contains(
            "cascade: stopped: the rerun of 2026-11-22 did not succeed; not rerun: 2026-11-23"
        ),
        "{text}"
    );
}

async fn repayment_late_receipt_marks_later_dates_stale(db: &TestDb) {
    reckon::jobs::repayment::fixtures::load(&db.db, &repo().join("fixtures/repayment"), date(D))
        .await
        .expect("fixtures load");
    let job = "repayment-eod";
    let text = std::fs::read_to_string(repo().join("jobs/repayment-eod.toml")).expect("job file");
    let runner = common::builtin_runner(db, &[(job, text)]);
    let day = run(&runner, job, D).await;
    let next = run(&runner, job, D1).await;
    // Same inputs: same loan state, nothing stale.
    let same = rerun(&runner, &day).await;
    assert_succeeded(&same);
    assert!(stale(runner.ledger(), job).await.is_empty());

    // A receipt of D for LN-1007 (overdue since 10-31) arrives late.
    insert_receipt(&db.db, "RP-LATE", "LN-1007", D, "200.00").await;
    let changed = rerun(&runner, &same).await;
    assert_succeeded(&changed);
    assert_eq!(
        stale(runner.ledger(), job).await,
        [(D1.to_string(), next.run.run_id.clone())]
    );
    assert!(attention(&changed).contains("later dates of repayment-eod are now stale: 2026-11-22"));
    let report = runner
        .rerun_cascade(&next.run.run_id, "late receipt", "test", |_| {})
        .await
        .expect("cascade");
    assert!(report.succeeded());
    assert!(stale(runner.ledger(), job).await.is_empty());
}

async fn insert_receipt(db: &Db, id: &str, loan: &str, day: &str, amount: &str) {
    on_db!(db, pool => {
        sqlx::query(
            "INSERT INTO repayment_receipts (repayment_id, loan_id, received_on, amount) VALUES ($1, $2, $3, $4)",
        )
        .bind(id)
        .bind(loan)
        .bind(date(day))
        .bind(Money(dec(amount)))
        .execute(pool)
        .await
        .expect("insert receipt");
    });
}

fn write_statement(db: &TestDb, day: &str, rows: &[&str]) {
    let dir = db.dir.path().join("stmt");
    std::fs::create_dir_all(&dir).expect("statement dir");
    let mut text = "order_no,amount,status,completed_at,fee,refund_no\n".to_string();
    for row in rows {
        text.push_str(row);
        text.push('\n');
    }
    std::fs::write(dir.join(format!("wechat-{day}.csv")), text).expect("statement");
}

async fn recon_funds_changed_carry_marks_later_dates_stale(db: &TestDb) {
    let job = "recon-wechat";
    let runner = common::builtin_runner(
        db,
        &[(
            job,
            common::recon::funds_job(job, 2, "stmt/wechat-{date}.csv"),
        )],
    );
    insert_order(
        &db.db,
        "W1",
        "M1",
        "100.00",
        "0.60",
        "2026-11-21T10:00:00+08:00",
    )
    .await;
    insert_order(
        &db.db,
        "W2",
        "M1",
        "30.00",
        "0.18",
        "2026-11-22T10:00:00+08:00",
    )
    .await;
    write_statement(db, D, &["W1,100.00,SUCCESS,2026-11-21 10:00:05,0.60,"]);
    write_statement(db, D1, &["W2,30.00,SUCCESS,2026-11-22 10:00:05,0.18,"]);
    let day = run(&runner, job, D).await;
    let next = run(&runner, job, D1).await;
    let same = rerun(&runner, &day).await;
    assert_succeeded(&same);
    assert!(stale(runner.ledger(), job).await.is_empty());

    // A late order of D at 23:50, on no statement yet: pending, carried into D+1.
    insert_order(
        &db.db,
        "W7",
        "M1",
        "70.00",
        "0.42",
        "2026-11-21T23:50:00+08:00",
    )
    .await;
    let changed = rerun(&runner, &same).await;
    assert_succeeded(&changed);
    assert_eq!(
        stale(runner.ledger(), job).await,
        [(D1.to_string(), next.run.run_id.clone())]
    );
    assert!(attention(&changed).contains("later dates of recon-wechat are now stale: 2026-11-22"));

    // D+1's statement carries W7: the cascade pairs it and D+1 is fresh.
    write_statement(
        db,
        D1,
        &[
            "W2,30.00,SUCCESS,2026-11-22 10:00:05,0.18,",
            "W7,70.00,SUCCESS,2026-11-22 00:00:30,0.42,",
        ],
    );
    let report = runner
        .rerun_cascade(&next.run.run_id, "late order W7", "test", |_| {})
        .await
        .expect("cascade");
    assert!(report.succeeded(), "{:?}", report.stopped);
    assert!(stale(runner.ledger(), job).await.is_empty());
    let carried = common::report_text(db, &report.steps[0], "carried.csv");
    assert!(
        carried.contains("2026-11-21,W7,payment,pending,ledger,70.00,matched,70.00"),
        "{carried}"
    );
}

/// A kind whose carried state the test sets per date, and whose shard,
/// while `hold` is set, waits for `release` before committing (to overlap
/// runs without depending on timing).
#[derive(Default)]
struct Carrier {
    digests: std::sync::Mutex<std::collections::BTreeMap<chrono::NaiveDate, String>>,
    hold: std::sync::atomic::AtomicBool,
    /// Shards waiting (or that waited) for `release`.
    held: std::sync::atomic::AtomicU32,
    release: tokio::sync::Notify,
    /// While set, a shard of job `carry` never returns after its commit
    /// (its process dies there); `committed` counts such commits.
    hang_after_commit: std::sync::atomic::AtomicBool,
    committed: std::sync::atomic::AtomicU32,
    /// While set, a shard fails before it commits anything.
    fail: std::sync::atomic::AtomicBool,
}

#[async_trait::async_trait]
impl reckon::runtime::JobKind for Carrier {
    fn name(&self) -> &'static str {
        "carrier"
    }

    async fn run_shard(
        &self,
        ctx: &reckon::runtime::ShardCtx,
    ) -> Result<reckon::runtime::ShardOutcome, reckon::runtime::JobError> {
        if self.hold.load(std::sync::atomic::Ordering::SeqCst) {
            self.held.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            self.release.notified().await;
        }
        if self.fail.load(std::sync::atomic::Ordering::SeqCst) {
            return Err(reckon::runtime::JobError::Failed("injected".into()));
        }
        let outcome = reckon::runtime::ShardOutcome {
            item: ctx.item,
            ..Default::default()
        };
        let tx = ctx.begin_outputs().await?;
        ctx.commit_outputs(tx, &outcome).await?;
        if ctx.job.name.as_str() == "carry"
            && self
                .hang_after_commit
                .load(std::sync::atomic::Ordering::SeqCst)
        {
            self.committed
                .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            std::future::pending::<()>().await;
        }
        Ok(outcome)
    }

    async fn finalize(
        &self,
        _ctx: &reckon::runtime::RunCtx,
        _shards: &[reckon::runtime::ShardOutcome],
    ) -> Result<reckon::runtime::RunOutcome, reckon::runtime::JobError> {
        Ok(reckon::runtime::RunOutcome::default())
    }

    async fn carry_digest(
        &self,
        ctx: &reckon::runtime::RunCtx,
        _outcome: &reckon::runtime::RunOutcome,
    ) -> Result<Option<String>, reckon::runtime::JobError> {
        Ok(self
            .digests
            .lock()
            .unwrap()
            .get(&ctx.business_date)
            .cloned())
    }
}

/// A run of D+1 that was running while a rerun of D changed what D carries
/// is marked stale when it succeeds (it may have read the old state); the
/// rerun of D could not mark it (it had not succeeded yet).
async fn later_run_overlapping_a_change_is_stale_itself(db: &TestDb) {
    let carrier = std::sync::Arc::new(Carrier::default());
    let mut kinds = reckon::runtime::KindRegistry::new();
    kinds.register(carrier.clone());
    let job = common::probe_job("carry", 1, "").replace("kind = \"probe\"", "kind = \"carrier\"");
    let runner = common::runner_with(
        db,
        kinds,
        &[("carry", job)],
        std::sync::Arc::new(reckon::schedule::SystemClock),
    );
    carrier.digests.lock().unwrap().insert(date(D), "a".into());
    carrier.digests.lock().unwrap().insert(date(D1), "x".into());
    let day = run(&runner, "carry", D).await;

    carrier
        .hold
        .store(true, std::sync::atomic::Ordering::SeqCst);
    let slow = {
        let runner = runner.clone();
        tokio::spawn(async move { common::run_job(&runner, "carry", D1).await })
    };
    // D+1's shard is running (held) before D's rerun starts.
    let waited = std::time::Instant::now();
    while carrier.held.load(std::sync::atomic::Ordering::SeqCst) == 0 {
        assert!(waited.elapsed() < std::time::Duration::from_secs(30));
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    carrier
        .hold
        .store(false, std::sync::atomic::Ordering::SeqCst);
    carrier.digests.lock().unwrap().insert(date(D), "b".into());
    let changed = rerun(&runner, &day).await;
    carrier.release.notify_one();
    assert_succeeded(&changed);
    assert!(
        !attention(&changed).contains("now stale"),
        "{}",
        attention(&changed)
    );

    let next = slow.await.expect("D+1 run");
    assert_succeeded(&next);
    assert_eq!(
        stale(runner.ledger(), "carry").await,
        [(D1.to_string(), next.run.run_id.clone())]
    );
    let text = attention(&next);
    assert!(
        text.contains(&format!(
            "this run is stale: run {} changed what 2026-11-21 carries while this run was running",
            changed.run.run_id
        )),
        "{text}"
    );
    // Its rerun, starting after the change, is fresh.
    assert_succeeded(&rerun(&runner, &next).await);
    assert!(stale(runner.ledger(), "carry").await.is_empty());
}

/// A job that depends on eod-settlement for the same date (`depends_on`).
const DOWN: &str = "downstream";

/// Rerunning an upstream date replaces outputs its dependents of that date
/// read: their latest succeeded run is stale at once (whatever the
/// upstream's carry digest says: a dependent reads outputs, not only what
/// is carried), the rerun's attention names it, `reckon runs` shows it, and
/// the dependent's own rerun makes it fresh.
async fn upstream_rerun_marks_dependents_stale(db: &TestDb) {
    reckon::jobs::business::fixtures::load(&db.db, &repo().join("fixtures/settlement"), date(D))
        .await
        .expect("fixtures load");
    let down = settlement_job(DOWN).replace(
        &format!("name = \"{DOWN}\""),
        &format!("name = \"{DOWN}\"\ndepends_on = [\"{JOB}\"]"),
    );
    let runner = common::builtin_runner(db, &[(JOB, settlement_job(JOB)), (DOWN, down)]);
    let up = run(&runner, JOB, D).await;
    let dependent = run(&runner, DOWN, D).await;
    assert!(stale(runner.ledger(), DOWN).await.is_empty());

    let up_again = rerun(&runner, &up).await;
    assert_succeeded(&up_again);
    let dep_id = dependent.run.run_id.clone();
    assert_eq!(
        stale(runner.ledger(), DOWN).await,
        [(D.to_string(), dep_id.clone())],
        "only the dependent's run of the rerun date"
    );
    let text = attention(&up_again);
    assert!(
        text.contains(&format!(
            "this run replaced outputs of {D} that jobs depending on {JOB} had read: now stale: {DOWN} (run {dep_id})"
        )),
        "{text}"
    );
    let mark = runner
        .ledger()
        .stale_mark(&dep_id)
        .await
        .expect("mark")
        .expect("marked");
    assert_eq!(mark.caused_by_run, up_again.run.run_id);
    assert!(stale(runner.ledger(), JOB).await.is_empty());

    // The dependent's rerun reads the new outputs: fresh again.
    let dep_again = rerun(&runner, &dependent).await;
    assert_succeeded(&dep_again);
    assert!(stale(runner.ledger(), DOWN).await.is_empty());
    let mark = runner
        .ledger()
        .stale_mark(&dep_id)
        .await
        .expect("mark")
        .expect("kept");
    assert_eq!(
        mark.cleared_by_run.as_deref(),
        Some(dep_again.run.run_id.as_str())
    );
}

/// A rerun of D+1 that fails after its shards committed (its trial balance
/// fails in finalize) has changed what D+1 carries half-way: D+2, built on
/// the old D+1, is stale, named with the failed run as its cause.
async fn failed_rerun_after_commits_marks_later_dates_stale(db: &TestDb) {
    let runner = settlement_runner(db, &[JOB]).await;
    let _day = run(&runner, JOB, D).await;
    let next = run(&runner, JOB, D1).await;
    let after = run(&runner, JOB, D2).await;
    // D+1 gets a one-sided entry: its rerun will not balance.
    insert_posting(
        &db.db,
        "JBAD0002",
        1,
        "112201",
        "debit",
        "10.00",
        "2026-11-22T10:00:00+08:00",
    )
    .await;
    let failed = rerun(&runner, &next).await;
    assert_eq!(
        failed.run.status,
        RunStatus::Failed,
        "{:?}",
        failed.run.error
    );
    assert!(
        failed
            .shards
            .iter()
            .all(|s| s.status == RunStatus::Succeeded),
        "the shards committed; finalize failed"
    );
    assert_eq!(
        stale(runner.ledger(), JOB).await,
        [(D2.to_string(), after.run.run_id.clone())]
    );
    let mark = runner
        .ledger()
        .stale_mark(&after.run.run_id)
        .await
        .expect("mark")
        .expect("marked");
    assert_eq!(
        (mark.caused_by_run.as_str(), mark.caused_by_date),
        (failed.run.run_id.as_str(), date(D1))
    );
}

/// A run of the upstream whose process died after its shard committed and
/// before its barrier (a `reckon run` killed) never marks what it replaced;
/// the next run of its job and date fails it as abandoned and, in the same
/// transaction, marks the dependents' run of the date stale — even when
/// that next run commits nothing itself (it fails here).
async fn abandoned_run_after_commits_marks_dependents_stale(db: &TestDb) {
    use chrono::TimeZone;
    use std::sync::atomic::Ordering::SeqCst;
    let carrier = std::sync::Arc::new(Carrier::default());
    let mut kinds = reckon::runtime::KindRegistry::new();
    kinds.register(carrier.clone());
    let carry = common::probe_job("carry", 1, "").replace("kind = \"probe\"", "kind = \"carrier\"");
    let down = common::probe_job("down", 1, "depends_on = [\"carry\"]")
        .replace("kind = \"probe\"", "kind = \"carrier\"");
    let start = chrono::Utc.with_ymd_and_hms(2026, 11, 22, 1, 0, 0).unwrap();
    let clock = std::sync::Arc::new(reckon::schedule::ManualClock::new(start));
    let runner = common::runner_with(
        db,
        kinds,
        &[("carry", carry), ("down", down)],
        clock.clone(),
    );
    // The clock moves between steps, as instants are compared.
    let up = run(&runner, "carry", D).await;
    clock.set(start + chrono::Duration::seconds(1));
    let dependent = run(&runner, "down", D).await;
    assert!(stale(runner.ledger(), "down").await.is_empty());

    clock.set(start + chrono::Duration::seconds(2));
    carrier.hang_after_commit.store(true, SeqCst);
    let dying = {
        let (runner, up) = (runner.clone(), up.clone());
        tokio::spawn(async move { rerun(&runner, &up).await })
    };
    let waited = std::time::Instant::now();
    while carrier.committed.load(SeqCst) == 0 {
        assert!(waited.elapsed() < std::time::Duration::from_secs(30));
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    // The process dies: no barrier, no more heartbeats.
    dying.abort();
    let _ = dying.await;
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    let abandoned = runner.ledger().active_runs().await.expect("active runs");
    assert_eq!(abandoned.len(), 1);
    assert!(
        stale(runner.ledger(), "down").await.is_empty(),
        "nothing marked yet"
    );

    // Past the run lease the operator reruns the date; it fails before
    // committing anything (its own barrier has nothing to mark).
    clock.set(start + chrono::Duration::minutes(5));
    carrier.hang_after_commit.store(false, SeqCst);
    carrier.fail.store(true, SeqCst);
    let again = common::rerun_run(&runner, &up, "after the crash").await;
    assert_eq!(again.run.status, RunStatus::Failed);
    let dead = runner
        .ledger()
        .run(&abandoned[0].run_id)
        .await
        .expect("run");
    assert_eq!(dead.status, RunStatus::Failed);
    assert!(
        dead.error
            .as_deref()
            .unwrap_or_default()
            .starts_with("abandoned"),
        "{:?}",
        dead.error
    );
    assert_eq!(
        stale(runner.ledger(), "down").await,
        [(D.to_string(), dependent.run.run_id.clone())]
    );
    let mark = runner
        .ledger()
        .stale_mark(&dependent.run.run_id)
        .await
        .expect("mark")
        .expect("marked");
    assert_eq!(mark.caused_by_run, abandoned[0].run_id);
}
