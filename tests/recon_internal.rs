//! The recon-internal job kind on SQLite and PostgreSQL: every break
//! category from data built for it, the demo fixtures with hand-checked
//! summary, conservation on every run, byte-identical reruns with a stable
//! break register, a fixed record auto-resolved by the rerun, and 1 vs 4
//! shards (and a shrunk shard count) giving the same reports.
//!
//! Every expected figure was worked out by hand from the data (arithmetic in
//! the comments), not copied from the job's output.

mod common;

use std::collections::BTreeMap;
use std::path::Path;

use chrono::{DateTime, Utc};
use common::{TestDb, builtin_runner, date, report_text, rerun_run, run_job};
use reckon::db::Db;
use reckon::jobs::recon::internal::fixtures::{BusinessOrder, upsert_business_order};
use reckon::ledger::RunStatus;
use reckon::money::Money;
use reckon::on_db;
use reckon::runtime::{RunSummary, Runner};
use rust_decimal::Decimal;

on_both_backends! {
    built_data_gives_every_category => built_data_gives_every_category;
    demo_fixtures_hand_checked => demo_fixtures_hand_checked;
    rerun_is_byte_identical_and_register_stable => rerun_is_byte_identical_and_register_stable;
    fixed_record_is_auto_resolved_by_rerun => fixed_record_is_auto_resolved_by_rerun;
    one_and_four_shards_agree => one_and_four_shards_agree;
    cut_off_moves_the_window => cut_off_moves_the_window;
    superseded_leader_finalize_writes_nothing => superseded_leader_finalize_writes_nothing;
    crash_between_finalize_and_finish_commits_neither => crash_between_finalize_and_finish_commits_neither;
}

const D: &str = "2026-11-21";
const JOB: &str = "recon-internal";

fn repo() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// The shipped job file, renamed and resharded; a job named `…-2300` gets a 23:00 cut-off.
fn job_text(name: &str, shards: u32) -> String {
    let text = std::fs::read_to_string(repo().join("jobs/recon-internal.toml"))
        .expect("jobs/recon-internal.toml")
        .replace("name = \"recon-internal\"", &format!("name = \"{name}\""))
        .replace("shards = 4", &format!("shards = {shards}"));
    if name.ends_with("-2300") {
        text.replace("cut_off = \"00:00\"", "cut_off = \"23:00\"")
    } else {
        text
    }
}

/// A runner with the built-in kinds over `jobs` (name, shards).
fn runner(db: &TestDb, jobs: &[(&str, u32)]) -> Runner {
    let files: Vec<(&str, String)> = jobs
        .iter()
        .map(|(name, shards)| (*name, job_text(name, *shards)))
        .collect();
    builtin_runner(db, &files)
}

/// The demo's data: settlement's business ledger plus this kind's fixtures.
async fn load_demo_fixtures(db: &TestDb) {
    reckon::jobs::business::fixtures::load(&db.db, &repo().join("fixtures/settlement"), date(D))
        .await
        .expect("settlement fixtures load");
    reckon::jobs::recon::internal::fixtures::load(
        &db.db,
        &repo().join("fixtures/recon/internal"),
        date(D),
    )
    .await
    .expect("internal recon fixtures load");
}

/// Runs `job` for D, checks it succeeded and that its summary conserves.
async fn run(db: &TestDb, runner: &Runner, job: &str) -> RunSummary {
    let summary = run_job(runner, job, D).await;
    assert_succeeded(&summary);
    assert_conserves(&report(db, &summary, "summary.csv"));
    summary
}

async fn rerun(db: &TestDb, runner: &Runner, parent: &RunSummary) -> RunSummary {
    let summary = rerun_run(runner, parent, "data fixed").await;
    assert_succeeded(&summary);
    assert_conserves(&report(db, &summary, "summary.csv"));
    summary
}

fn assert_succeeded(summary: &RunSummary) {
    assert_eq!(
        summary.run.status,
        RunStatus::Succeeded,
        "{:?}",
        summary.run.error
    );
}

fn report(db: &TestDb, summary: &RunSummary, file: &str) -> String {
    report_text(db, summary, file)
}

fn dec(text: &str) -> Decimal {
    text.parse().expect("test decimal")
}

/// Conservation read back from `summary.csv`: per currency and side, the
/// categories' counts and sums equal the `total_read` row.
fn assert_conserves(summary_csv: &str) {
    let mut sums: BTreeMap<String, [(u64, Decimal); 3]> = BTreeMap::new();
    let mut read: BTreeMap<String, [(u64, Decimal); 3]> = BTreeMap::new();
    for line in summary_csv.lines().skip(1) {
        let fields: Vec<&str> = line.split(',').collect();
        assert_eq!(fields.len(), 8, "{line}");
        let target = if fields[1] == "total_read" {
            read.entry(fields[0].to_string()).or_default()
        } else {
            sums.entry(fields[0].to_string()).or_default()
        };
        for side in 0..3 {
            target[side].0 += fields[2 + 2 * side].parse::<u64>().expect("count");
            target[side].1 += dec(fields[3 + 2 * side]);
        }
    }
    assert!(!read.is_empty(), "no total_read row:\n{summary_csv}");
    assert_eq!(
        sums, read,
        "categories do not add up to total_read:\n{summary_csv}"
    );
}

/// `category,order_no,sides,delta` of every diff row.
fn diff_keys(diff_csv: &str) -> Vec<String> {
    diff_csv
        .lines()
        .skip(1)
        .map(|line| line.splitn(5, ',').take(4).collect::<Vec<_>>().join(","))
        .collect()
}

async fn count(db: &Db, sql: &str, job: &str) -> i64 {
    on_db!(db, pool => {
        let (n,): (i64,) = sqlx::query_as(sqlx::AssertSqlSafe(sql.to_string()))
            .bind(job)
            .fetch_one(pool)
            .await
            .expect("count");
        n
    })
}

fn instant(text: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(text)
        .expect("test instant")
        .with_timezone(&Utc)
}

/// At noon of D unless said otherwise.
const NOON: &str = "2026-11-21T12:00:00+08:00";

async fn order(db: &Db, no: &str, currency: &str, amount: &str, status: &str, at: &str) {
    let paid = matches!(status, "paid" | "refunded");
    let mut tx = db.begin().await.expect("begin");
    upsert_business_order(
        &mut tx,
        &BusinessOrder {
            order_no: no.into(),
            merchant_id: "M9".into(),
            currency: currency.into(),
            amount: dec(amount),
            status: status.into(),
            created_at: instant(at),
            paid_at: paid.then(|| instant(at)),
        },
    )
    .await
    .expect("order");
    tx.commit().await.expect("commit");
}

async fn payment(db: &Db, no: &str, currency: &str, amount: &str, status: &str, at: &str) {
    on_db!(db, pool => {
        sqlx::query(
            "INSERT INTO payment_orders (order_no, merchant_id, channel, channel_order_no, currency, \
             amount, fee, status, created_at, completed_at) \
             VALUES ($1, 'M9', 'wechat', NULL, $2, $3, $4, $5, $6, $6)",
        )
        .bind(no)
        .bind(currency)
        .bind(Money(dec(amount)))
        .bind(Money(Decimal::ZERO))
        .bind(status)
        .bind(instant(at))
        .execute(pool)
        .await
        .expect("insert payment");
    });
}

/// A balanced payment entry: Dr 112201 amount, Cr 220201 amount.
async fn entry(db: &Db, entry_no: &str, no: &str, amount: &str, at: &str) {
    for (line, account, direction) in [(1_i64, "112201", "debit"), (2, "220201", "credit")] {
        on_db!(db, pool => {
            sqlx::query(
                "INSERT INTO journal_postings (entry_no, line_no, account_code, direction, amount, \
                 currency, posted_at, order_no, refund_no, memo) \
                 VALUES ($1, $2, $3, $4, $5, 'CNY', $6, $7, NULL, 'test')",
            )
            .bind(entry_no)
            .bind(line)
            .bind(account)
            .bind(direction)
            .bind(Money(dec(amount)))
            .bind(instant(at))
            .bind(no)
            .execute(pool)
            .await
            .expect("insert posting");
        });
    }
}

/// One order number per case (all CNY at noon of D unless said):
async fn built_data_gives_every_category(db: &TestDb) {
    let d = &db.db;
    // A: all three agree on 10.00 → matched.
    order(d, "A", "CNY", "10.00", "paid", NOON).await;
    payment(d, "A", "CNY", "10.00", "succeeded", NOON).await;
    entry(d, "JA", "A", "10.00", NOON).await;
    // B: two entries of 20.00 → double_posting, delta = 40.00 − 20.00 = 20.00.
    order(d, "B", "CNY", "20.00", "paid", NOON).await;
    payment(d, "B", "CNY", "20.00", "succeeded", NOON).await;
    entry(d, "JB1", "B", "20.00", NOON).await;
    entry(d, "JB2", "B", "20.00", NOON).await;
    // C: payment 30.00 and its entry, no order → payment_without_order, 30.00 − 0 = 30.00.
    payment(d, "C", "CNY", "30.00", "succeeded", NOON).await;
    entry(d, "JC", "C", "30.00", NOON).await;
    // D: paid order only → order_without_payment, 0 − 40.00 = −40.00.
    order(d, "D", "CNY", "40.00", "paid", NOON).await;
    // E: an entry only → journal_without_payment (payments/journal), 50.00 − 0 = 50.00.
    entry(d, "JE", "E", "50.00", NOON).await;
    // F: order and payment, never posted → payment_without_journal, 0 − 60.00 = −60.00.
    order(d, "F", "CNY", "60.00", "paid", NOON).await;
    payment(d, "F", "CNY", "60.00", "succeeded", NOON).await;
    // G: order paid, payment closed → status_mismatch orders/payments, 70.00 − 70.00 = 0.00.
    order(d, "G", "CNY", "70.00", "paid", NOON).await;
    payment(d, "G", "CNY", "70.00", "closed", NOON).await;
    // H: order closed, payment failed, yet posted → status_mismatch payments/journal, 0.00.
    order(d, "H", "CNY", "80.00", "closed", NOON).await;
    payment(d, "H", "CNY", "80.00", "failed", NOON).await;
    entry(d, "JH", "H", "80.00", NOON).await;
    // I: journal 90.10 vs payment 90.00 → amount_mismatch payments/journal, +0.10 (长款 in accounting).
    order(d, "I", "CNY", "90.00", "paid", NOON).await;
    payment(d, "I", "CNY", "90.00", "succeeded", NOON).await;
    entry(d, "JI", "I", "90.10", NOON).await;
    // J: payment 99.99 vs order 100.00 → amount_mismatch orders/payments, −0.01 (短款).
    order(d, "J", "CNY", "100.00", "paid", NOON).await;
    payment(d, "J", "CNY", "99.99", "succeeded", NOON).await;
    entry(d, "JJ", "J", "99.99", NOON).await;
    // K: order in USD, payment and journal in CNY → currency_mismatch orders/payments, 0.00.
    order(d, "K", "USD", "110.00", "paid", NOON).await;
    payment(d, "K", "CNY", "110.00", "succeeded", NOON).await;
    entry(d, "JK", "K", "110.00", NOON).await;
    // L: a failed payment alone: no money moved → matched.
    payment(d, "L", "CNY", "5.00", "failed", NOON).await;
    // M: paid at 00:00:00 on D+1: outside D's window [D 00:00, D+1 00:00) → not read.
    order(d, "M", "CNY", "7.00", "paid", "2026-11-22T00:00:00+08:00").await;
    // N: everything at 00:00:00 on D: inside (the window's start is included) → matched.
    order(d, "N", "CNY", "8.00", "paid", "2026-11-21T00:00:00+08:00").await;
    payment(
        d,
        "N",
        "CNY",
        "8.00",
        "succeeded",
        "2026-11-21T00:00:00+08:00",
    )
    .await;
    entry(d, "JN", "N", "8.00", "2026-11-21T00:00:00+08:00").await;

    let runner = runner(db, &[(JOB, 4)]);
    let summary = run(db, &runner, JOB).await;
    let diff = report(db, &summary, "diff.csv");
    assert_eq!(
        diff_keys(&diff),
        [
            "double_posting,B,journal/journal,20.00",
            "payment_without_order,C,orders/payments,30.00",
            "order_without_payment,D,orders/payments,-40.00",
            "journal_without_payment,E,payments/journal,50.00",
            "payment_without_journal,F,payments/journal,-60.00",
            "status_mismatch,G,orders/payments,0.00",
            "status_mismatch,H,payments/journal,0.00",
            "currency_mismatch,K,orders/payments,0.00",
            "amount_mismatch,I,payments/journal,0.10",
            "amount_mismatch,J,orders/payments,-0.01",
        ],
        "{diff}"
    );
    // All three amounts, pairwise deltas, statuses, entries of the double posting:
    // payments − orders = 0, journal − payments = 40 − 20 = 20, journal − orders = 20.
    assert!(
        diff.contains(
            "\ndouble_posting,B,journal/journal,20.00,M9,CNY,20.00,20.00,40.00,0.00,20.00,20.00,\
             paid,succeeded,JB1 JB2,"
        ),
        "{diff}"
    );
    let summary_csv = report(db, &summary, "summary.csv");
    // Read, CNY — orders: A10 B20 D40 F60 G70 H80 I90 J100 N8 = 9, 478.00 (K is USD, M outside);
    // payments: A10 B20 C30 F60 G70 H80 I90 J99.99 K110 L5 N8 = 11, 582.99;
    // journal entries: JA10 JB1 20 JB2 20 JC30 JE50 JH80 JI90.10 JJ99.99 JK110 JN8 = 10, 518.09.
    assert!(
        summary_csv.contains("\nCNY,total_read,9,478.00,11,582.99,10,518.09\n"),
        "{summary_csv}"
    );
    // Matched CNY: orders A, N = 18.00; payments A, L, N = 23.00; journal JA, JN = 18.00.
    assert!(
        summary_csv.contains("\nCNY,matched,2,18.00,3,23.00,2,18.00\n"),
        "{summary_csv}"
    );
    // USD: only K's order, counted under currency_mismatch.
    assert!(
        summary_csv.contains("\nUSD,currency_mismatch,1,110.00,0,0.00,0,0.00\n"),
        "{summary_csv}"
    );
    assert!(
        summary_csv.ends_with("\nUSD,total_read,1,110.00,0,0.00,0,0.00\n"),
        "{summary_csv}"
    );
    let registered = "SELECT COUNT(*) FROM recon_breaks WHERE job = $1 AND state = 'open'";
    assert_eq!(count(d, registered, JOB).await, 10);
}

// The demo (settlement's ledger + fixtures/recon/internal), D = 2026-11-21, Asia/Shanghai:
// Settlement's orders P..001 128.00, 002 56.50, 004 2999.00, 006 1580.00 (23:59:58),
// 008 88.80, 104 360.00 are paid/succeeded/posted alike; P..003 (300.00) and P..005
// (45.00) closed/failed and P..009 (12.00) created/pending moved no money: 9 matched CNY
// orders and payments, 5569.30; 6 matched entries, 5212.30. USD: P..101 120.00,
// P..102 45.50 (posted) and P..103 99.00 (closed/failed): 3 × 264.50, journal 2 × 165.50.
// P20261120099 (11-20) and P..007 (00:00:03 on 11-22) are outside D on every side.
// I-orders: I001 66.00 matched; I002 order 150.00 only; I003 payment + entry 210.00, no
// order; I004 order + payment 99.90, no entry; I005 created order 45.00 + entry 45.00;
// I006 order paid 520.00, payment failed; I007 order 300.00, payment + entry 299.00;
// I008 order + payment 88.00, entry 80.00; I009 188.00 posted twice; I010 order USD
// 50.00, payment + entry CNY 50.00.
// CNY totals — orders 9 + 8 = 17, 5569.30 + (66 + 150 + 99.90 + 45 + 520 + 300 + 88 + 188
// = 1456.90) = 7026.20; payments 9 + 8 = 17, 5569.30 + (66 + 210 + 99.90 + 520 + 299 + 88
// + 188 + 50 = 1520.90) = 7090.20; journal 6 + 8 = 14, 5212.30 + (66 + 210 + 45 + 299 + 80
// + 188 + 188 + 50 = 1126.00) = 6338.30.
const DEMO_SUMMARY: &str = "\
currency,category,orders_count,orders_amount,payments_count,payments_amount,journal_count,journal_amount
CNY,double_posting,1,188.00,1,188.00,2,376.00
CNY,payment_without_order,0,0.00,1,210.00,1,210.00
CNY,order_without_payment,1,150.00,0,0.00,0,0.00
CNY,journal_without_payment,1,45.00,0,0.00,1,45.00
CNY,payment_without_journal,1,99.90,1,99.90,0,0.00
CNY,status_mismatch,1,520.00,1,520.00,0,0.00
CNY,currency_mismatch,0,0.00,1,50.00,1,50.00
CNY,amount_mismatch,2,388.00,2,387.00,2,379.00
CNY,matched,10,5635.30,10,5635.30,7,5278.30
CNY,total_read,17,7026.20,17,7090.20,14,6338.30
USD,double_posting,0,0.00,0,0.00,0,0.00
USD,payment_without_order,0,0.00,0,0.00,0,0.00
USD,order_without_payment,0,0.00,0,0.00,0,0.00
USD,journal_without_payment,0,0.00,0,0.00,0,0.00
USD,payment_without_journal,0,0.00,0,0.00,0,0.00
USD,status_mismatch,0,0.00,0,0.00,0,0.00
USD,currency_mismatch,1,50.00,0,0.00,0,0.00
USD,amount_mismatch,0,0.00,0,0.00,0,0.00
USD,matched,3,264.50,3,264.50,2,165.50
USD,total_read,4,314.50,3,264.50,2,165.50
";

/// Deltas = right − left of the named sides, a missing side as 0.
const DEMO_DIFF_KEYS: &[&str] = &[
    "double_posting,I20261121009,journal/journal,188.00",
    "payment_without_order,I20261121003,orders/payments,210.00",
    "order_without_payment,I20261121002,orders/payments,-150.00",
    "journal_without_payment,I20261121005,payments/journal,45.00",
    "payment_without_journal,I20261121004,payments/journal,-99.90",
    "status_mismatch,I20261121006,orders/payments,0.00",
    "currency_mismatch,I20261121010,orders/payments,0.00",
    "amount_mismatch,I20261121007,orders/payments,-1.00",
    "amount_mismatch,I20261121008,payments/journal,-8.00",
];

async fn demo_fixtures_hand_checked(db: &TestDb) {
    load_demo_fixtures(db).await;
    let runner = runner(db, &[(JOB, 4)]);
    let summary = run(db, &runner, JOB).await;
    assert_eq!(report(db, &summary, "summary.csv"), DEMO_SUMMARY);
    let diff = report(db, &summary, "diff.csv");
    assert_eq!(diff_keys(&diff), DEMO_DIFF_KEYS, "{diff}");
    assert!(
        diff.contains(
            "\namount_mismatch,I20261121008,payments/journal,-8.00,M1003,CNY,88.00,88.00,80.00,\
             0.00,-8.00,-8.00,paid,succeeded,JI20261121008,\"amount_mismatch payments/journal by \
             -8.00; orders 88.00 CNY paid, payments 88.00 CNY succeeded, journal 80.00 CNY posted\"\n"
        ),
        "{diff}"
    );
    let outcome = summary.run.outcome.clone().expect("outcome");
    assert_eq!(outcome["summary"]["breaks"], 9, "{outcome}");
    assert_eq!(outcome["summary"]["register"]["opened"], 9, "{outcome}");
    let attention = outcome["attention"].to_string();
    assert!(attention.contains("9 new break(s)"), "{attention}");
    let registered = "SELECT COUNT(*) FROM recon_breaks WHERE job = $1 AND state = 'open'";
    assert_eq!(count(&db.db, registered, JOB).await, 9);
}

async fn rerun_is_byte_identical_and_register_stable(db: &TestDb) {
    load_demo_fixtures(db).await;
    let runner = runner(db, &[(JOB, 4)]);
    let first = run(db, &runner, JOB).await;
    let rows = "SELECT COUNT(*) FROM recon_breaks WHERE job = $1";
    assert_eq!(count(&db.db, rows, JOB).await, 9);
    let second = rerun(db, &runner, &first).await;
    assert_eq!(second.run.attempt, 2);
    for file in ["summary.csv", "diff.csv"] {
        assert_eq!(
            report(db, &first, file).into_bytes(),
            report(db, &second, file).into_bytes(),
            "{file}"
        );
    }
    // Same breaks found again: updated in place, none opened, none duplicated.
    assert_eq!(count(&db.db, rows, JOB).await, 9);
    let outcome = second.run.outcome.clone().expect("outcome");
    assert_eq!(
        outcome["summary"]["register"],
        serde_json::json!({"opened": 0, "updated": 9, "auto_resolved": 0}),
        "{outcome}"
    );
    assert_eq!(outcome["attention"], serde_json::json!([]), "{outcome}");
}

async fn fixed_record_is_auto_resolved_by_rerun(db: &TestDb) {
    load_demo_fixtures(db).await;
    let runner = runner(db, &[(JOB, 4)]);
    let first = run(db, &runner, JOB).await;
    // I20261121002 (order 150.00, no payment): the payment and its entry arrive late.
    let at = "2026-11-21T09:02:40+08:00";
    payment(&db.db, "I20261121002", "CNY", "150.00", "succeeded", at).await;
    entry(&db.db, "JI20261121002", "I20261121002", "150.00", at).await;
    let second = rerun(db, &runner, &first).await;
    let diff = report(db, &second, "diff.csv");
    let expected: Vec<&str> = DEMO_DIFF_KEYS
        .iter()
        .copied()
        .filter(|row| !row.contains("I20261121002"))
        .collect();
    assert_eq!(diff_keys(&diff), expected, "{diff}");
    // CNY matched: 10 + 1 orders, 5635.30 + 150.00; 10 + 1 payments; 7 + 1 entries, 5278.30 + 150.
    assert!(
        report(db, &second, "summary.csv")
            .contains("\nCNY,matched,11,5785.30,11,5785.30,8,5428.30\n")
    );
    let state: (String, String) = on_db!(&db.db, pool => {
        sqlx::query_as(
            "SELECT state, last_run_id FROM recon_breaks WHERE job = $1 AND break_key = $2",
        )
        .bind(JOB)
        .bind("I20261121002")
        .fetch_one(pool)
        .await
        .expect("register row")
    });
    assert_eq!(
        state,
        ("auto_resolved".to_string(), second.run.run_id.to_string())
    );
    let open = "SELECT COUNT(*) FROM recon_breaks WHERE job = $1 AND state = 'open'";
    assert_eq!(count(&db.db, open, JOB).await, 8);
    let outcome = second.run.outcome.clone().expect("outcome");
    assert_eq!(
        outcome["summary"]["register"],
        serde_json::json!({"opened": 0, "updated": 8, "auto_resolved": 1}),
        "{outcome}"
    );
}

async fn one_and_four_shards_agree(db: &TestDb) {
    load_demo_fixtures(db).await;
    let both = runner(db, &[("recon-internal-1", 1), ("recon-internal-4", 4)]);
    let one = run(db, &both, "recon-internal-1").await;
    let four = run(db, &both, "recon-internal-4").await;
    for file in ["summary.csv", "diff.csv"] {
        assert_eq!(report(db, &one, file), report(db, &four, file), "{file}");
    }
    // The 4-shard job rerun with 2 shards: items 2 and 3 keep their old rows in
    // recon_shard_rows, which finalize must ignore; the reports stay the same.
    let shrunk = runner(db, &[("recon-internal-4", 2)]);
    let again = rerun(db, &shrunk, &four).await;
    for file in ["summary.csv", "diff.csv"] {
        assert_eq!(report(db, &four, file), report(db, &again, file), "{file}");
    }
    let rows = "SELECT COUNT(*) FROM recon_breaks WHERE job = $1";
    assert_eq!(count(&db.db, rows, "recon-internal-4").await, 9);
}

async fn cut_off_moves_the_window(db: &TestDb) {
    let d = &db.db;
    // E: 22:59:59 on D — inside D for both cut-offs.
    let early = "2026-11-21T22:59:59+08:00";
    order(d, "E", "CNY", "10.00", "paid", early).await;
    payment(d, "E", "CNY", "10.00", "succeeded", early).await;
    entry(d, "JE", "E", "10.00", early).await;
    // L: order paid 23:30, payment 23:59 on D, entry posted 00:00:00 on D+1.
    order(d, "L", "CNY", "20.00", "paid", "2026-11-21T23:30:00+08:00").await;
    payment(
        d,
        "L",
        "CNY",
        "20.00",
        "succeeded",
        "2026-11-21T23:59:00+08:00",
    )
    .await;
    entry(d, "JL", "L", "20.00", "2026-11-22T00:00:00+08:00").await;
    // M: order and payment at 23:50 on D, entry posted 00:45 on D+1: beyond
    // the 30-minute match window, so the lag is a break on both dates.
    order(d, "M", "CNY", "5.00", "paid", "2026-11-21T23:50:00+08:00").await;
    payment(
        d,
        "M",
        "CNY",
        "5.00",
        "succeeded",
        "2026-11-21T23:50:00+08:00",
    )
    .await;
    entry(d, "JM", "M", "5.00", "2026-11-22T00:45:00+08:00").await;
    let runner = runner(db, &[("recon-internal-2300", 2), (JOB, 2)]);
    let late = run(db, &runner, "recon-internal-2300").await;
    // 23:00 cut-off: D is [D-1 23:00, D 23:00): E only (L and M start at
    // 23:30 / 23:50, after D's end + 30 min is not reached by anything of E).
    assert!(
        report(db, &late, "summary.csv").contains("\nCNY,total_read,1,10.00,1,10.00,1,10.00\n")
    );
    assert_eq!(
        diff_keys(&report(db, &late, "diff.csv")),
        Vec::<String>::new()
    );
    let midnight = run(db, &runner, JOB).await;
    // 00:00 cut-off: orders E + L + M = 3, 35.00; payments the same; journal
    // JE and JL (pulled forward: posted within 30 min after the cut-off, its
    // order having records within 30 min before it) = 2, 30.00. JM (00:45)
    // is not: M is a payment without journal entry on D.
    assert!(
        report(db, &midnight, "summary.csv").contains("\nCNY,total_read,3,35.00,3,35.00,2,30.00\n"),
        "{}",
        report(db, &midnight, "summary.csv")
    );
    assert_eq!(
        diff_keys(&report(db, &midnight, "diff.csv")),
        ["payment_without_journal,M,payments/journal,-5.00"]
    );
    // D+1 compares JL no more (D did), and JM on its own.
    let next = run_job(&runner, JOB, "2026-11-22").await;
    assert_succeeded(&next);
    let summary = report(db, &next, "summary.csv");
    assert_conserves(&summary);
    assert!(
        summary.contains("\nCNY,total_read,0,0.00,0,0.00,1,5.00\n"),
        "{summary}"
    );
    assert_eq!(
        diff_keys(&report(db, &next, "diff.csv")),
        ["journal_without_payment,M,payments/journal,5.00"]
    );
}

async fn register_rows(db: &Db, job: &str) -> i64 {
    on_db!(db, pool => {
        sqlx::query_scalar("SELECT COUNT(*) FROM recon_breaks WHERE job = $1")
            .bind(job)
            .fetch_one(pool)
            .await
            .expect("register count")
    })
}

/// Issue 13: a leader whose finalize is overtaken by an election (between
/// the runtime's leader check and the kind's writes) writes no register row,
/// no run state and no report; the newer leader then concludes the run.
async fn superseded_leader_finalize_writes_nothing(db: &TestDb) {
    load_demo_fixtures(db).await;
    let jobs = [(JOB, job_text(JOB, 2))];
    let overtaken = common::runner_with(
        db,
        common::lead::builtin_with_election_during(JOB),
        &jobs,
        std::sync::Arc::new(reckon::schedule::SystemClock),
    );
    let (run_id, old) = common::lead::run_overtaken(db, &overtaken, JOB, D).await;
    assert_eq!(register_rows(&db.db, JOB).await, 0, "no break registered");

    let plain = runner(db, &[(JOB, 2)]);
    let newer = plain
        .ledger()
        .leader()
        .await
        .unwrap()
        .expect("a leader")
        .epoch;
    assert!(newer > old);
    let done = plain
        .execute_as(
            &run_id,
            std::sync::Arc::new(reckon::runtime::Progress::default()),
            Some(newer),
        )
        .await
        .expect("the newer leader concludes the run");
    assert_succeeded(&done);
    assert!(
        register_rows(&db.db, JOB).await > 0,
        "the demo data has breaks"
    );
}

/// Issue 13: the finalize's writes (break register, report events) and the
/// run's own finish commit in one transaction. A node that dies between the
/// kind's finalize and the run's finish leaves neither — no register row,
/// the run still running — and concluding the run again registers every
/// break once, as a run without the crash does.
async fn crash_between_finalize_and_finish_commits_neither(db: &TestDb) {
    load_demo_fixtures(db).await;
    let jobs = [(JOB, job_text(JOB, 2))];
    let reached = std::sync::Arc::new(tokio::sync::Notify::new());
    let crashing = common::runner_with(
        db,
        common::lead::builtin_stopping_before_finish(JOB, reached.clone()),
        &jobs,
        std::sync::Arc::new(reckon::schedule::SystemClock),
    );
    let run = crashing
        .request(common::manual(JOB, D))
        .await
        .expect("run created");
    common::lead::crash_before_finish(&crashing, &run.run_id, reached).await;
    assert_eq!(
        register_rows(&db.db, JOB).await,
        0,
        "the crashed finalize registered no break"
    );

    // The next node concludes the run again (a single node heals it after
    // its lease; here directly): every break registered once.
    let plain = runner(db, &[(JOB, 2)]);
    plain
        .resume(&run.run_id)
        .await
        .expect("run concluded again");
    let healed = plain.ledger().run(&run.run_id).await.expect("run");
    assert_eq!(healed.status, RunStatus::Succeeded, "{:?}", healed.error);
    let registered = register_rows(&db.db, JOB).await;
    assert!(registered > 0, "the demo data has breaks");
    let events = plain.ledger().events(&run.run_id).await.expect("events");
    let count = |kind: &str| events.iter().filter(|e| e.kind == kind).count();
    assert_eq!(count("finished"), 1, "finished once");
    let outcome = healed.outcome.expect("outcome");
    let reports = outcome["reports"].as_array().expect("reports").len();
    assert_eq!(count("report"), reports, "each report recorded once");

    // The same register as a run of the date that never crashed.
    let rows_after_heal = register_keys(&db.db, JOB).await;
    let again = rerun_run(
        &plain,
        &RunSummary {
            run: plain.ledger().run(&run.run_id).await.expect("run"),
            shards: plain.ledger().shards(&run.run_id).await.expect("shards"),
        },
        "compare with a run without a crash",
    )
    .await;
    assert_succeeded(&again);
    assert_eq!(register_keys(&db.db, JOB).await, rows_after_heal);
}

async fn register_keys(db: &Db, job: &str) -> Vec<(String, String, String, String)> {
    on_db!(db, pool => {
        sqlx::query_as(
            "SELECT category, found_as, break_key, state FROM recon_breaks WHERE job = $1 \
             ORDER BY category, found_as, break_key",
        )
        .bind(job)
        .fetch_all(pool)
        .await
        .expect("register rows")
    })
}
