//! Issue 16, items 1 and 2, on SQLite and PostgreSQL: refunds linked to
//! their payments across days (`over_refund`, `orphan_refund`, each refund
//! counted once across days and reruns) and the fee audit against the
//! channel contract with a mid-month rate change (`fee_overcharge`,
//! `fee_undercharge`, the day's contractual vs charged fees), each in
//! diff.csv, the break register and summary.csv, with conservation on every run.
//!
//! Expected figures are worked out by hand from the rows inserted below.

mod common;

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use common::TestDb;
use common::recon::{assert_conserved, funds_job};
use reckon::db::Db;
use reckon::ledger::RunStatus;
use reckon::money::Money;
use reckon::on_db;
use reckon::runtime::{RunSummary, Runner};
use rust_decimal::Decimal;

on_both_backends! {
    refunds_are_linked_across_days => refunds_are_linked_across_days;
    fees_are_audited_against_the_contract => fees_are_audited_against_the_contract;
}

const HEADER: &str = "order_no,amount,status,completed_at,fee,refund_no";
const STATEMENT: &str = "stmt/wechat-{date}.csv";
const D1: &str = "2026-11-20";
const D2: &str = "2026-11-21";
const D3: &str = "2026-11-22";

fn instant(text: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(&format!("{text}+08:00"))
        .expect("test instant")
        .with_timezone(&Utc)
}

fn dec(text: &str) -> Decimal {
    text.parse().expect("test decimal")
}

/// A succeeded WeChat payment order completed at `at` (Shanghai time).
async fn order(db: &Db, no: &str, amount: &str, fee: &str, at: &str) {
    common::ledger_rows::insert_order(db, no, "M1", amount, fee, &format!("{at}+08:00")).await;
}

/// A succeeded refund of `order_no`; `fee` is the fee given back (positive).
async fn refund(db: &Db, no: &str, order_no: &str, amount: &str, fee: &str, at: &str) {
    common::ledger_rows::insert_refund(db, no, order_no, amount, fee, &format!("{at}+08:00")).await;
}

fn write_statement(db: &TestDb, day: &str, rows: &[&str]) {
    let dir = db.dir.path().join("stmt");
    std::fs::create_dir_all(&dir).expect("statement dir");
    let mut text = format!("{HEADER}\n");
    for row in rows {
        text += row;
        text += "\n";
    }
    std::fs::write(dir.join(format!("wechat-{day}.csv")), text).expect("write statement");
}

async fn run(runner: &Runner, job: &str, date: &str) -> RunSummary {
    let summary = common::run_job(runner, job, date).await;
    assert_eq!(
        summary.run.status,
        RunStatus::Succeeded,
        "{:?}",
        summary.run.error
    );
    summary
}

async fn rerun(runner: &Runner, parent: &RunSummary) -> RunSummary {
    let summary = common::rerun_run(runner, parent, "rerun is safe").await;
    assert_eq!(
        summary.run.status,
        RunStatus::Succeeded,
        "{:?}",
        summary.run.error
    );
    summary
}

fn report(db: &TestDb, summary: &RunSummary, file: &str) -> String {
    common::report_text(db, summary, file)
}

/// `summary.csv` rows by their first cell.
fn summary_rows(summary_csv: &str) -> HashMap<String, Vec<String>> {
    summary_csv
        .lines()
        .skip(1)
        .map(|l| {
            let cells: Vec<String> = l.split(',').map(str::to_string).collect();
            (cells[0].clone(), cells)
        })
        .collect()
}

/// The diff.csv rows of a category, as cells.
fn diff_rows(diff: &str, category: &str) -> Vec<Vec<String>> {
    diff.lines()
        .filter(|l| l.starts_with(&format!("{category},")))
        .map(|l| l.split(',').map(str::to_string).collect())
        .collect()
}

/// diff.csv cells by column name.
fn cell<'a>(diff: &str, row: &'a [String], column: &str) -> &'a str {
    let header: Vec<&str> = diff.lines().next().expect("header").split(',').collect();
    let index = header
        .iter()
        .position(|c| *c == column)
        .unwrap_or_else(|| panic!("no column {column}"));
    &row[index]
}

/// Register rows of a category: (key, state, left, right, delta).
async fn register(
    db: &Db,
    job: &str,
    category: &str,
) -> Vec<(String, String, String, String, String)> {
    type Row = (String, String, Option<Money>, Option<Money>, Money);
    let rows: Vec<Row> = on_db!(db, pool => {
        sqlx::query_as(
            "SELECT break_key, state, left_amount, right_amount, delta FROM recon_breaks \
             WHERE job = $1 AND found_as = $2 ORDER BY business_date, break_key",
        )
        .bind(job)
        .bind(category)
        .fetch_all(pool)
        .await
        .expect("register")
    });
    let text = |m: Option<Money>| m.map(|m| m.0.normalize().to_string()).unwrap_or_default();
    rows.into_iter()
        .map(|(key, state, left, right, delta)| {
            (key, state, text(left), text(right), text(Some(delta)))
        })
        .collect()
}

async fn links(db: &Db, job: &str, date: &str) -> Vec<(String, String, String)> {
    let date: chrono::NaiveDate = date.parse().unwrap();
    let rows: Vec<(String, String, String, Money)> = on_db!(db, pool => {
        sqlx::query_as(
            "SELECT order_no, ledger_key, statement_key, refunded_total FROM recon_refund_links \
             WHERE job = $1 AND business_date = $2 ORDER BY seq",
        )
        .bind(job)
        .bind(date)
        .fetch_all(pool)
        .await
        .expect("links")
    });
    rows.into_iter()
        .map(|(order, l, s, total)| (order, format!("{l}/{s}"), total.0.normalize().to_string()))
        .collect()
}

/// D1: P1 100.00 and P2 50.00 paid on both sides; P7 20.00 only the
/// channel has (missing_in_ledger). D2: R1 30.00 of P1 and R2 50.00 of P2
/// on both sides; R3 20.00 of P1 ours only (the channel lists it on D3); R9
/// 10.00 of X9, an order nobody has (orphan). D3: R3 on the statement; R4
/// 40.00 of P1 at 10:00 and R5 15.00 of P1 at 16:00 on both sides, listed
/// in the opposite order (30 + 20 + 40 = 90, + 15 = 105 > 100: R5 is the
/// over-refund); R6 5.00 of P2 channel only (55 > 50); R7 10.00 of P7,
/// channel only, whose payment the register holds (linked, not an orphan);
/// RC1 30.00 of C1, which we closed but the channel says was paid on D1.
async fn refund_days(db: &TestDb) {
    let d = &db.db;
    order(d, "P1", "100.00", "0.60", "2026-11-20T09:00:00").await;
    order(d, "P2", "50.00", "0.30", "2026-11-20T09:30:00").await;
    // C1: closed on our side, paid according to the channel (status_mismatch).
    on_db!(d, pool => {
        sqlx::query(
            "INSERT INTO payment_orders (order_no, merchant_id, channel, channel_order_no, currency, \
             amount, fee, status, created_at, completed_at) \
             VALUES ('C1', 'M1', 'wechat', NULL, 'CNY', $1, $2, 'closed', $3, NULL)",
        )
        .bind(Money(dec("30.00")))
        .bind(Money(dec("0.18")))
        .bind(instant("2026-11-20T11:00:00"))
        .execute(pool)
        .await
        .expect("insert closed order");
    });
    write_statement(
        db,
        D1,
        &[
            "P1,100.00,SUCCESS,2026-11-20 09:00:00,0.60,",
            "P2,50.00,SUCCESS,2026-11-20 09:30:00,0.30,",
            "P7,20.00,SUCCESS,2026-11-20 10:00:00,0.12,",
            "C1,30.00,SUCCESS,2026-11-20 11:00:00,0.18,",
        ],
    );
    refund(d, "R1", "P1", "30.00", "0.18", "2026-11-21T10:00:00").await;
    refund(d, "R2", "P2", "50.00", "0.30", "2026-11-21T11:00:00").await;
    refund(d, "R3", "P1", "20.00", "0.12", "2026-11-21T23:00:00").await;
    write_statement(
        db,
        D2,
        &[
            "P1,30.00,REFUND,2026-11-21 10:00:00,-0.18,R1",
            "P2,50.00,REFUND,2026-11-21 11:00:00,-0.30,R2",
            "X9,10.00,REFUND,2026-11-21 12:00:00,-0.06,R9",
        ],
    );
    refund(d, "R4", "P1", "40.00", "0.24", "2026-11-22T10:00:00").await;
    refund(d, "R5", "P1", "15.00", "0.09", "2026-11-22T16:00:00").await;
    write_statement(
        db,
        D3,
        &[
            "P1,20.00,REFUND,2026-11-21 23:00:00,-0.12,R3",
            "P1,15.00,REFUND,2026-11-22 16:00:00,-0.09,R5",
            "P1,40.00,REFUND,2026-11-22 10:00:00,-0.24,R4",
            "P2,5.00,REFUND,2026-11-22 12:00:00,-0.03,R6",
            "P7,10.00,REFUND,2026-11-22 13:00:00,-0.06,R7",
            "C1,30.00,REFUND,2026-11-22 14:00:00,-0.18,RC1",
        ],
    );
}

async fn refunds_are_linked_across_days(db: &TestDb) {
    refund_days(db).await;
    let job = "recon-wechat";
    let runner = common::builtin_runner(db, &[(job, funds_job(job, 3, STATEMENT))]);
    let day1 = run(&runner, job, D1).await;
    assert_conserved(&report(db, &day1, "summary.csv"));
    let day2 = run(&runner, job, D2).await;
    let day3 = run(&runner, job, D3).await;

    // D2: R9 has no payment on either side; R3 (ours only) is counted today.
    let diff2 = report(db, &day2, "diff.csv");
    let orphans = diff_rows(&diff2, "orphan_refund");
    assert_eq!(orphans.len(), 1, "{diff2}");
    let r9 = &orphans[0];
    assert_eq!(r9[1], "R9");
    assert_eq!(cell(&diff2, r9, "statement_amount"), "10.00");
    assert_eq!(cell(&diff2, r9, "order_no"), "X9");
    assert_eq!(cell(&diff2, r9, "payment_date"), "");
    assert_eq!(cell(&diff2, r9, "refunded_total"), "10.00");
    assert!(diff_rows(&diff2, "over_refund").is_empty(), "{diff2}");
    let summary2 = report(db, &day2, "summary.csv");
    assert_conserved(&summary2);
    let rows2 = summary_rows(&summary2);
    assert_eq!(
        rows2["orphan_refund"],
        ["orphan_refund", "0", "0.00", "1", "10.00"]
    );
    assert_eq!(
        rows2["over_refund"],
        ["over_refund", "0", "0.00", "0", "0.00"]
    );
    assert!(
        !rows2.contains_key("fee_contractual"),
        "no contract, no fee rows"
    );
    assert_eq!(
        links(&db.db, job, D2).await,
        [
            ("P1".to_string(), "R1/R1".to_string(), "30".to_string()),
            ("P2".into(), "R2/R2".into(), "50".into()),
            ("X9".into(), "/R9".into(), "10".into()),
            ("P1".into(), "R3/".into(), "50".into()),
        ]
    );

    // D3: R3 arrives on the statement (already counted), R4 then R5 in
    // time order; R5 and R6 exceed what was paid; R7 finds P7 in the register.
    let diff3 = report(db, &day3, "diff.csv");
    let over = diff_rows(&diff3, "over_refund");
    assert_eq!(over.len(), 2, "{diff3}");
    let (r5, r6) = (&over[0], &over[1]);
    assert_eq!(r5[1], "R5");
    assert_eq!(cell(&diff3, r5, "ledger_amount"), "15.00");
    assert_eq!(cell(&diff3, r5, "statement_amount"), "15.00");
    assert_eq!(cell(&diff3, r5, "order_no"), "P1");
    assert_eq!(cell(&diff3, r5, "payment_date"), D1);
    assert_eq!(cell(&diff3, r5, "paid_amount"), "100.00");
    assert_eq!(cell(&diff3, r5, "refunded_total"), "105.00");
    assert_eq!(r6[1], "R6");
    assert_eq!(cell(&diff3, r6, "paid_amount"), "50.00");
    assert_eq!(cell(&diff3, r6, "refunded_total"), "55.00");
    assert!(
        diff_rows(&diff3, "orphan_refund").is_empty(),
        "R7 is linked to P7: {diff3}"
    );
    let summary3 = report(db, &day3, "summary.csv");
    assert_conserved(&summary3);
    assert_eq!(
        summary_rows(&summary3)["over_refund"],
        ["over_refund", "1", "15.00", "2", "20.00"]
    );
    assert_eq!(
        links(&db.db, job, D3).await,
        [
            ("P1".to_string(), "R4/R4".to_string(), "90".to_string()),
            ("P2".into(), "/R6".into(), "55".into()),
            ("P7".into(), "/R7".into(), "10".into()),
            ("C1".into(), "/RC1".into(), "30".into()),
            ("P1".into(), "R5/R5".into(), "105".into()),
        ],
        "R3 is counted once, on D2; RC1 finds the channel's payment of C1"
    );

    // The register: paid on the left, the refunded total on the right, the excess as delta.
    assert_eq!(
        register(&db.db, job, "over_refund").await,
        [
            (
                "R5".to_string(),
                "open".to_string(),
                "100".to_string(),
                "105".to_string(),
                "5".to_string()
            ),
            (
                "R6".into(),
                "open".into(),
                "50".into(),
                "55".into(),
                "5".into()
            ),
        ]
    );
    assert_eq!(
        register(&db.db, job, "orphan_refund").await,
        [(
            "R9".to_string(),
            "open".to_string(),
            String::new(),
            "10".to_string(),
            "10".to_string()
        )]
    );
    let attention = serde_json::to_string(&day3.run.outcome).unwrap_or_default();
    assert!(
        attention.contains("2 refunds exceed what was paid"),
        "{attention}"
    );

    // Reruns: D2 then D3 write the same bytes and count each refund once.
    let day2b = rerun(&runner, &day2).await;
    let day3b = rerun(&runner, &day3).await;
    let day3c = rerun(&runner, &day3b).await;
    for file in ["summary.csv", "diff.csv", "rejects.csv", "carried.csv"] {
        assert_eq!(report(db, &day2, file), report(db, &day2b, file), "{file}");
        assert_eq!(report(db, &day3, file), report(db, &day3b, file), "{file}");
        assert_eq!(report(db, &day3, file), report(db, &day3c, file), "{file}");
    }
    assert_eq!(links(&db.db, job, D3).await.len(), 5);
    assert_eq!(register(&db.db, job, "over_refund").await.len(), 2);
    assert_eq!(register(&db.db, job, "orphan_refund").await.len(), 1);
    let detail: (String,) = on_db!(&db.db, pool => {
        sqlx::query_as("SELECT detail FROM recon_breaks WHERE job = $1 AND break_key = 'R5'")
            .bind(job)
            .fetch_one(pool)
            .await
            .expect("R5 detail")
    });
    assert!(
        detail.0.contains("paid 100.00 on 2026-11-20")
            && detail.0.contains("refunded 105.00 in total"),
        "{}",
        detail.0
    );

    // One shard or three: the same reports.
    let single = "recon-wechat-single";
    let one = common::builtin_runner(db, &[(single, funds_job(single, 1, STATEMENT))]);
    let mut last = None;
    for date in [D1, D2, D3] {
        last = Some(run(&one, single, date).await);
    }
    let last = last.expect("D3 run");
    for file in ["summary.csv", "diff.csv"] {
        assert_eq!(report(db, &day3, file), report(db, &last, file), "{file}");
    }

    // A late refund of D2 (R8 5.00 of P1, both sides) changes what D2
    // counted: D3 is stale, and its cascade rerun counts on top of it.
    refund(&db.db, "R8", "P1", "5.00", "0.03", "2026-11-21T14:00:00").await;
    write_statement(
        db,
        D2,
        &[
            "P1,30.00,REFUND,2026-11-21 10:00:00,-0.18,R1",
            "P2,50.00,REFUND,2026-11-21 11:00:00,-0.30,R2",
            "X9,10.00,REFUND,2026-11-21 12:00:00,-0.06,R9",
            "P1,5.00,REFUND,2026-11-21 14:00:00,-0.03,R8",
        ],
    );
    let late = rerun(&runner, &day2b).await;
    let marks = runner
        .ledger()
        .active_stale_marks(Some(&job.into()))
        .await
        .expect("stale marks");
    assert_eq!(
        marks
            .iter()
            .map(|m| m.business_date.to_string())
            .collect::<Vec<_>>(),
        [D3],
        "{:?}",
        late.run.outcome
    );
    let cascade = runner
        .rerun_cascade(&day3c.run.run_id, "late refund R8", "test", |_| {})
        .await
        .expect("cascade");
    assert!(cascade.succeeded(), "{:?}", cascade.stopped);
    let diff = report(db, &cascade.steps[0], "diff.csv");
    let over = diff_rows(&diff, "over_refund");
    assert_eq!(cell(&diff, &over[0], "refunded_total"), "110.00", "{diff}");
}

/// Contract: 0.60 % until 2026-11-15, 0.38 % from 2026-11-16, half-up to
/// the cent, refunds give the fee back pro rata. Our ledger copies the
/// channel's fees, so the engine sees no fee_mismatch.
const FEE_CONTRACT: &str = r#"
[params.fee]
rate = "0.6%"
rounding = "half_up"
scale = 2
min = "0.01"
refund_returns_fee = true
rates = [{ from = "2026-11-16", rate = "0.38%" }]
"#;

async fn fees_are_audited_against_the_contract(db: &TestDb) {
    let d = &db.db;
    // 11-15 at 0.60 %: F1 100.00 → 0.60 (right); F2 200.00 → 1.20, charged 1.30.
    order(d, "F1", "100.00", "0.60", "2026-11-15T10:00:00").await;
    order(d, "F2", "200.00", "1.30", "2026-11-15T11:00:00").await;
    write_statement(
        db,
        "2026-11-15",
        &[
            "F1,100.00,SUCCESS,2026-11-15 10:00:00,0.60000,",
            "F2,200.00,SUCCESS,2026-11-15 11:00:00,1.30000,",
        ],
    );
    // 11-16 at 0.38 %: F3 charged at the old rate 0.60 (contract 0.38);
    // F4 charged 0.30 (contract 0.38); F5 0.38 right. RF1 refunds half of
    // F1 (paid 11-15, fee 0.60): 0.30 is due back, the channel gives back
    // 0.19 (its new rate on 50.00) — an overcharge of 0.11.
    order(d, "F3", "100.00", "0.60", "2026-11-16T09:00:00").await;
    order(d, "F4", "100.00", "0.30", "2026-11-16T09:10:00").await;
    order(d, "F5", "100.00", "0.38", "2026-11-16T09:20:00").await;
    refund(d, "RF1", "F1", "50.00", "0.19", "2026-11-16T12:00:00").await;
    write_statement(
        db,
        "2026-11-16",
        &[
            "F3,100.00,SUCCESS,2026-11-16 09:00:00,0.60000,",
            "F4,100.00,SUCCESS,2026-11-16 09:10:00,0.30000,",
            "F5,100.00,SUCCESS,2026-11-16 09:20:00,0.38000,",
            "F1,50.00,REFUND,2026-11-16 12:00:00,-0.19000,RF1",
        ],
    );
    let job = "recon-wechat";
    let text = format!("{}{FEE_CONTRACT}", funds_job(job, 2, STATEMENT));
    let runner = common::builtin_runner(db, &[(job, text)]);
    let before = run(&runner, job, "2026-11-15").await;
    let after = run(&runner, job, "2026-11-16").await;

    let diff = report(db, &before, "diff.csv");
    assert!(
        diff_rows(&diff, "fee_mismatch").is_empty(),
        "ledger copied the fees: {diff}"
    );
    let over = diff_rows(&diff, "fee_overcharge");
    assert_eq!(over.len(), 1, "{diff}");
    assert_eq!(over[0][1], "F2");
    assert_eq!(cell(&diff, &over[0], "statement_fee"), "1.30");
    assert_eq!(cell(&diff, &over[0], "expected_fee"), "1.20");
    assert_eq!(cell(&diff, &over[0], "fee_difference"), "0.10");
    let summary = report(db, &before, "summary.csv");
    assert_conserved(&summary);
    let rows = summary_rows(&summary);
    assert_eq!(
        rows["fee_contractual"],
        ["fee_contractual", "", "", "2", "1.80"]
    );
    assert_eq!(rows["fee_charged"], ["fee_charged", "", "", "2", "1.90"]);
    assert_eq!(
        rows["fee_overcharge"],
        ["fee_overcharge", "0", "0.00", "1", "0.10"]
    );

    let diff = report(db, &after, "diff.csv");
    let over = diff_rows(&diff, "fee_overcharge");
    let under = diff_rows(&diff, "fee_undercharge");
    assert_eq!(over.len(), 2, "{diff}");
    assert_eq!((over[0][1].as_str(), over[1][1].as_str()), ("F3", "RF1"));
    assert_eq!(cell(&diff, &over[0], "expected_fee"), "0.38");
    assert_eq!(cell(&diff, &over[0], "fee_difference"), "0.22");
    assert_eq!(cell(&diff, &over[1], "kind"), "refund");
    assert_eq!(cell(&diff, &over[1], "expected_fee"), "-0.30");
    assert_eq!(cell(&diff, &over[1], "statement_fee"), "-0.19");
    assert_eq!(cell(&diff, &over[1], "fee_difference"), "0.11");
    assert_eq!(cell(&diff, &over[1], "payment_date"), "2026-11-15");
    assert_eq!(under.len(), 1, "{diff}");
    assert_eq!(under[0][1], "F4");
    assert_eq!(cell(&diff, &under[0], "fee_difference"), "-0.08");
    let summary = report(db, &after, "summary.csv");
    assert_conserved(&summary);
    let rows = summary_rows(&summary);
    // 0.38 × 3 − 0.30 = 0.84 contractual; 0.60 + 0.30 + 0.38 − 0.19 = 1.09 charged.
    assert_eq!(
        rows["fee_contractual"],
        ["fee_contractual", "", "", "4", "0.84"]
    );
    assert_eq!(rows["fee_charged"], ["fee_charged", "", "", "4", "1.09"]);
    // RF1 is on both sides (our ledger copied the channel's fee given back).
    assert_eq!(
        rows["fee_overcharge"],
        ["fee_overcharge", "1", "0.11", "2", "0.33"]
    );
    assert_eq!(
        rows["fee_undercharge"],
        ["fee_undercharge", "0", "0.00", "1", "-0.08"]
    );

    // The register: contractual fee on the left, the charged fee on the right.
    assert_eq!(
        register(d, job, "fee_overcharge").await,
        [
            (
                "F2".to_string(),
                "open".to_string(),
                "1.2".to_string(),
                "1.3".to_string(),
                "0.1".to_string()
            ),
            (
                "F3".into(),
                "open".into(),
                "0.38".into(),
                "0.6".into(),
                "0.22".into()
            ),
            (
                "RF1".into(),
                "open".into(),
                "-0.3".into(),
                "-0.19".into(),
                "0.11".into()
            ),
        ]
    );
    assert_eq!(
        register(d, job, "fee_undercharge").await,
        [(
            "F4".to_string(),
            "open".to_string(),
            "0.38".to_string(),
            "0.3".to_string(),
            "-0.08".to_string()
        )]
    );

    // A rerun writes the same bytes and the same register rows.
    let again = rerun(&runner, &after).await;
    for file in ["summary.csv", "diff.csv"] {
        assert_eq!(report(db, &after, file), report(db, &again, file), "{file}");
    }
    assert_eq!(register(d, job, "fee_overcharge").await.len(), 3);
}
