//! The settlement job kind on SQLite and PostgreSQL, over the fixtures of
//! 2026-11-21: hand-checked totals, an injected imbalance, a late record and
//! a rerun, byte-identical reruns, and D+1 opening at D's closing.
//!
//! Every expected figure below was worked out by hand from
//! `fixtures/settlement/*.csv` (the arithmetic is in the comments), not
//! copied from the job's output.

mod common;

use std::path::{Path, PathBuf};

use common::ledger_rows::{add_late_order, insert_posting};
use common::{TestDb, date};
use reckon::db::Db;
use reckon::ledger::RunStatus;
use reckon::money::Money;
use reckon::on_db;
use reckon::runtime::{RunSummary, Runner};
use rust_decimal::Decimal;

on_both_backends! {
    hand_checked_totals => hand_checked_totals;
    injected_imbalance_fails_and_names_the_account => injected_imbalance_fails_and_names_the_account;
    late_record_rerun_replaces_outputs => late_record_rerun_replaces_outputs;
    next_day_opens_at_previous_closing => next_day_opens_at_previous_closing;
    cut_off_moves_the_window => cut_off_moves_the_window;
    skipped_date_is_refused => skipped_date_is_refused;
    posting_to_unknown_account_fails_the_shard => posting_to_unknown_account_fails_the_shard;
    bad_fixture_row_names_file_and_line => bad_fixture_row_names_file_and_line;
    shard_count_change_leaves_no_stale_rows => shard_count_change_leaves_no_stale_rows;
}

const D: &str = "2026-11-21";
const JOB: &str = "eod-settlement";

fn fixtures_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/settlement")
}

/// The job file shipped in `jobs/`, optionally renamed and resharded; a job
/// named `…-2300` gets a 23:00 cut-off.
fn job_text(name: &str, shards: u32) -> String {
    let text = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("jobs/eod-settlement.toml"),
    )
    .expect("jobs/eod-settlement.toml");
    let text = text
        .replace("name = \"eod-settlement\"", &format!("name = \"{name}\""))
        .replace("shards = 4", &format!("shards = {shards}"));
    if name.ends_with("-2300") {
        text.replace("cut_off = \"00:00\"", "cut_off = \"23:00\"")
    } else {
        text
    }
}

/// A runner with the built-in kinds over `jobs` (name, shards), fixtures loaded.
async fn runner(db: &TestDb, jobs: &[(&str, u32)]) -> Runner {
    reckon::jobs::business::fixtures::load(&db.db, &fixtures_dir(), date(D))
        .await
        .expect("fixtures load");
    let files: Vec<(&str, String)> = jobs
        .iter()
        .map(|(name, shards)| (*name, job_text(name, *shards)))
        .collect();
    common::builtin_runner(db, &files)
}

async fn run(runner: &Runner, job: &str, business_date: &str) -> RunSummary {
    common::run_job(runner, job, business_date).await
}

async fn rerun(runner: &Runner, parent: &RunSummary) -> RunSummary {
    common::rerun_run(runner, parent, "late records").await
}

fn report(db: &TestDb, summary: &RunSummary, file: &str) -> String {
    common::report_text(db, summary, file)
}

fn assert_succeeded(summary: &RunSummary) {
    assert_eq!(
        summary.run.status,
        RunStatus::Succeeded,
        "{:?}",
        summary.run.error
    );
}

fn dec(text: &str) -> Decimal {
    text.parse().expect("test decimal")
}

async fn count(db: &Db, sql: &str) -> i64 {
    on_db!(db, pool => {
        let (n,): (i64,) = sqlx::query_as(sqlx::AssertSqlSafe(sql.to_string()))
            .fetch_one(pool)
            .await
            .expect("count");
        n
    })
}

/// (opening, debits, credits, closing) of one account's snapshot.
async fn snapshot(db: &Db, business_date: &str, account: &str) -> [Decimal; 4] {
    let row: (Money, Money, Money, Money) = on_db!(db, pool => {
        sqlx::query_as(
            "SELECT opening_balance, debit_amount, credit_amount, closing_balance \
             FROM account_balances WHERE job = $1 AND business_date = $2 AND account_code = $3",
        )
        .bind(JOB)
        .bind(date(business_date))
        .bind(account)
        .fetch_one(pool)
        .await
        .expect("snapshot row")
    });
    [row.0.0, row.1.0, row.2.0, row.3.0]
}

/// Settlement lines of D as `merchant/currency` keys, sorted.
async fn line_keys(db: &Db) -> Vec<String> {
    let rows: Vec<(String, String)> = on_db!(db, pool => {
        sqlx::query_as(
            "SELECT merchant_id, currency FROM settlement_lines WHERE job = $1 AND business_date = $2",
        )
        .bind(JOB)
        .bind(date(D))
        .fetch_all(pool)
        .await
        .expect("lines")
    });
    let mut keys: Vec<String> = rows.into_iter().map(|(m, c)| format!("{m}/{c}")).collect();
    keys.sort();
    keys
}

// Settlement of 2026-11-21 (Asia/Shanghai, window 2026-11-21 00:00 to 24:00 +08:00):
// - M1001 CNY: P..001 128.00 (fee 0.77) + P..002 56.50 (fee 0.34) = 184.50, fees 1.11;
//   P..003 failed is out. Refunds R..001 28.00 (fee back 0.17) + R..002 75.00 (fee back
//   0.45, refunding the 2026-11-20 order P20261120099, which itself is out) = 103.00;
//   fee 1.11 − 0.62 = 0.49; net 184.50 − 103.00 − 0.49 = 81.01.
// - M1002 CNY: P..004 2999.00 (17.99) + P..006 1580.00 (9.48, completed 23:59:58) =
//   4579.00, fees 27.47, net 4551.53; P..005 closed and R..003 failed are out.
// - M1003 CNY: P..008 88.80 (0.53) → net 88.27; P..007 completed 00:00:03 on 11-22 is
//   out, P..009 pending and R..005 pending are out.
// - M2001 CNY: P..104 360.00 (2.16) → net 357.84.
// - M2001 USD: P..101 120.00 (3.78) + P..102 45.50 (1.43) = 165.50, fees 5.21; refund
//   R..004 20.00 (fee back 0.63): fee 4.58, net 165.50 − 20.00 − 4.58 = 140.92;
//   P..103 failed is out.
const SETTLEMENT_CSV: &str = "\
business_date,merchant_id,merchant_name,currency,payment_count,payment_amount,refund_count,refund_amount,fee_amount,net_amount
2026-11-21,M1001,杭州西湖茶馆,CNY,2,184.50,2,103.00,0.49,81.01
2026-11-21,M1002,深圳华强电子,CNY,2,4579.00,0,0.00,27.47,4551.53
2026-11-21,M1003,成都老码头火锅,CNY,1,88.80,0,0.00,0.53,88.27
2026-11-21,M2001,Global Books Ltd,CNY,1,360.00,0,0.00,2.16,357.84
2026-11-21,M2001,Global Books Ltd,USD,2,165.50,1,20.00,4.58,140.92
";

// Balances (no earlier snapshot, so openings are accounts.csv's opening_balance):
// - 112201 receivable CNY: debits = the six CNY order amounts 128.00 + 56.50 + 2999.00 +
//   1580.00 + 88.80 + 360.00 = 5212.30; credits = refunds 28.00 + 75.00 + channel
//   settlement 5000.00 = 5103.00; closing 20000.00 + 5212.30 − 5103.00 = 20109.30.
// - 220201 merchant payable CNY (credit-normal): credits = amounts less fees
//   5212.30 − 31.27 = 5181.03; debits = refunds less fees back 27.83 + 74.55 = 102.38;
//   closing 20000.00 + 5181.03 − 102.38 = 25078.65 (= 20000.00 + total CNY net 5078.65).
// - 600101 fee income CNY: credits 0.77+0.34+17.99+9.48+0.53+2.16 = 31.27, debits
//   0.17 + 0.45 = 0.62, closing 30.65 (= total CNY fees).
// - 100201 bank CNY: +5000.00 settlement, −15.00 bank charge → 1004985.00.
// - 660301 bank charges (expense, debit-normal): 15.00.
// - USD: 112202 1500.00 + 165.50 − 20.00 = 1645.50; 220202 1500.00 + (116.22 + 44.07)
//   − 19.37 = 1640.92; 600102 5.21 − 0.63 = 4.58.
const BALANCES_CSV: &str = "\
business_date,account_code,account_name,account_type,currency,opening_balance,debit_amount,credit_amount,closing_balance,debit_count,credit_count
2026-11-21,100201,银行存款-人民币,asset,CNY,1000000.00,5000.00,15.00,1004985.00,1,1
2026-11-21,100202,银行存款-美元,asset,USD,50000.00,0.00,0.00,50000.00,0,0
2026-11-21,112201,应收账款-支付渠道-人民币,asset,CNY,20000.00,5212.30,5103.00,20109.30,6,3
2026-11-21,112202,应收账款-支付渠道-美元,asset,USD,1500.00,165.50,20.00,1645.50,2,1
2026-11-21,220201,应付账款-商户待结算-人民币,liability,CNY,20000.00,102.38,5181.03,25078.65,2,6
2026-11-21,220202,应付账款-商户待结算-美元,liability,USD,1500.00,19.37,160.29,1640.92,1,2
2026-11-21,400101,实收资本-人民币,equity,CNY,1000000.00,0.00,0.00,1000000.00,0,0
2026-11-21,400102,实收资本-美元,equity,USD,50000.00,0.00,0.00,50000.00,0,0
2026-11-21,600101,手续费收入-人民币,income,CNY,0.00,0.62,31.27,30.65,2,6
2026-11-21,600102,手续费收入-美元,income,USD,0.00,0.63,5.21,4.58,1,2
2026-11-21,660301,财务费用-银行手续费,expense,CNY,0.00,15.00,0.00,15.00,1,0
";

// Trial balance. CNY journal: debits 5212.30 + 102.38 + 0.62 + 5000.00 + 15.00 =
// 10330.30 = credits 5103.00 + 5181.03 + 31.27 + 15.00; 10 entries (6 orders, 2
// refunds, settlement, bank charge), 6×3 + 2×3 + 2×2 = 28 lines. CNY closings:
// debit-normal 20109.30 + 1004985.00 + 15.00 = 1025109.30 = credit-normal 25078.65 +
// 1000000.00 + 30.65. USD journal 185.50 both sides (3 entries, 9 lines); closings
// 1645.50 + 50000.00 = 51645.50 = 1640.92 + 50000.00 + 4.58.
const SUMMARY_CSV: &str = "\
business_date,section,currency,item,debit,credit,difference,result,detail
2026-11-21,opening,CNY,all accounts,1020000.00,1020000.00,0.00,balanced,6 accounts
2026-11-21,journal,CNY,all entries,10330.30,10330.30,0.00,balanced,\"10 entries, 28 lines\"
2026-11-21,movements,CNY,all accounts,10330.30,10330.30,0.00,balanced,6 accounts
2026-11-21,closing,CNY,all accounts,1025109.30,1025109.30,0.00,balanced,6 accounts
2026-11-21,opening,USD,all accounts,51500.00,51500.00,0.00,balanced,5 accounts
2026-11-21,journal,USD,all entries,185.50,185.50,0.00,balanced,\"3 entries, 9 lines\"
2026-11-21,movements,USD,all accounts,185.50,185.50,0.00,balanced,5 accounts
2026-11-21,closing,USD,all accounts,51645.50,51645.50,0.00,balanced,5 accounts
2026-11-21,result,,trial balance,0.00,0.00,0.00,balanced,trial balance holds
";

async fn hand_checked_totals(db: &TestDb) {
    let runner = runner(db, &[(JOB, 4), ("settle-one-shard", 1)]).await;
    // Loading the fixtures again changes nothing (the row counts of the files).
    reckon::jobs::business::fixtures::load(&db.db, &fixtures_dir(), date(D))
        .await
        .unwrap();
    assert_eq!(
        count(&db.db, "SELECT COUNT(*) FROM payment_orders").await,
        14
    );
    assert_eq!(count(&db.db, "SELECT COUNT(*) FROM refunds").await, 5);
    assert_eq!(
        count(&db.db, "SELECT COUNT(*) FROM journal_postings").await,
        45
    );
    assert_eq!(count(&db.db, "SELECT COUNT(*) FROM accounts").await, 11);

    let summary = run(&runner, JOB, D).await;
    assert_succeeded(&summary);
    assert_eq!(summary.shards.len(), 4);
    assert_eq!(report(db, &summary, "settlement.csv"), SETTLEMENT_CSV);
    assert_eq!(report(db, &summary, "balances.csv"), BALANCES_CSV);
    assert_eq!(report(db, &summary, "summary.csv"), SUMMARY_CSV);
    let lines = "SELECT COUNT(*) FROM settlement_lines WHERE job = 'eod-settlement'";
    assert_eq!(count(&db.db, lines).await, 5);
    let balances = "SELECT COUNT(*) FROM account_balances WHERE job = 'eod-settlement'";
    assert_eq!(count(&db.db, balances).await, 11);

    // The stable partition spreads the work but not the result: one shard gives the same files.
    let single = run(&runner, "settle-one-shard", D).await;
    assert_succeeded(&single);
    for file in ["settlement.csv", "balances.csv", "summary.csv"] {
        assert_eq!(
            report(db, &single, file),
            report(db, &summary, file),
            "{file}"
        );
    }
}

async fn injected_imbalance_fails_and_names_the_account(db: &TestDb) {
    let runner = runner(db, &[(JOB, 4)]).await;
    // A one-sided entry: 10.00 debited to the CNY receivable with no credit.
    insert_posting(
        &db.db,
        "JBAD0001",
        1,
        "112201",
        "debit",
        "10.00",
        "2026-11-21T13:00:00+08:00",
    )
    .await;
    let summary = run(&runner, JOB, D).await;
    assert_eq!(summary.run.status, RunStatus::Failed);
    let error = summary.run.error.clone().unwrap_or_default();
    for needle in [
        "trial balance of 2026-11-21 does not balance",
        "CNY journal entry JBAD0001 does not balance: debits 10.00 credits 0.00",
        "112201 debit 10.00",
        // 10330.30 + 10.00 on the debit side.
        "CNY journal debits vs credits: 10340.30 vs 10330.30 (difference 10.00)",
        // The receivable closes 10.00 higher: 1025109.30 + 10.00 on the debit-normal side.
        "CNY closing balances (debit-normal vs credit-normal): 1025119.30 vs 1025109.30",
    ] {
        assert!(error.contains(needle), "`{needle}` missing from: {error}");
    }
    // The reports were published and name the entry, account and amount.
    let text = report(db, &summary, "summary.csv");
    assert!(
        text.contains("2026-11-21,entry,CNY,JBAD0001,10.00,0.00,10.00,IMBALANCED,"),
        "{text}"
    );
    assert!(text.contains("112201 debit 10.00"), "{text}");
    assert!(
        text.contains("2026-11-21,journal,CNY,all entries,10340.30,10330.30,10.00,IMBALANCED"),
        "{text}"
    );
    // Failed checks: CNY journal, snapshot movements and closings (each off by 10.00),
    // and the entry itself; openings still balance.
    assert!(text.ends_with(",IMBALANCED,4 checks failed\n"), "{text}");
    // USD is untouched and still balances.
    assert!(text.contains("2026-11-21,journal,USD,all entries,185.50,185.50,0.00,balanced"));
    let balances = report(db, &summary, "balances.csv");
    assert!(
        balances.contains(
            ",112201,应收账款-支付渠道-人民币,asset,CNY,20000.00,5222.30,5103.00,20119.30,7,3\n"
        ),
        "{balances}"
    );
}

async fn late_record_rerun_replaces_outputs(db: &TestDb) {
    let runner = runner(db, &[(JOB, 4)]).await;
    let first = run(&runner, JOB, D).await;
    assert_succeeded(&first);
    let keys_before = line_keys(&db.db).await;
    assert_eq!(
        keys_before,
        [
            "M1001/CNY",
            "M1002/CNY",
            "M1003/CNY",
            "M2001/CNY",
            "M2001/USD"
        ]
    );

    add_late_order(&db.db).await;
    let second = rerun(&runner, &first).await;
    assert_succeeded(&second);
    assert_eq!(second.run.attempt, 2);
    // Same keys, one row each: replaced, not appended.
    assert_eq!(line_keys(&db.db).await, keys_before);
    let all_lines = "SELECT COUNT(*) FROM settlement_lines";
    assert_eq!(count(&db.db, all_lines).await, 5);
    assert_eq!(
        count(&db.db, "SELECT COUNT(*) FROM account_balances").await,
        11
    );
    // M1003: 88.80 + 500.00 = 588.80 gross, fees 0.53 + 3.00 = 3.53, net 585.27.
    let settlement = report(db, &second, "settlement.csv");
    assert!(
        settlement.contains("\n2026-11-21,M1003,成都老码头火锅,CNY,2,588.80,0,0.00,3.53,585.27\n"),
        "{settlement}"
    );
    assert_eq!(settlement.lines().count(), 6, "{settlement}");
    // 112201: 20109.30 + 500.00; 220201: 25078.65 + 497.00; 600101: 30.65 + 3.00.
    assert_eq!(
        snapshot(&db.db, D, "112201").await,
        [
            dec("20000.00"),
            dec("5712.30"),
            dec("5103.00"),
            dec("20609.30")
        ]
    );
    assert_eq!(snapshot(&db.db, D, "220201").await[3], dec("25575.65"));
    assert_eq!(snapshot(&db.db, D, "600101").await[3], dec("33.65"));
    assert!(report(db, &second, "summary.csv").contains("\"11 entries, 31 lines\""));

    // Rerunning again with no new input gives byte-identical reports.
    let third = rerun(&runner, &second).await;
    assert_succeeded(&third);
    for file in ["settlement.csv", "balances.csv", "summary.csv"] {
        assert_eq!(
            report(db, &third, file),
            report(db, &second, file),
            "{file}"
        );
    }
    assert_eq!(count(&db.db, all_lines).await, 5);
}

async fn next_day_opens_at_previous_closing(db: &TestDb) {
    let runner = runner(db, &[(JOB, 4)]).await;
    let day = run(&runner, JOB, D).await;
    assert_succeeded(&day);
    let next = run(&runner, JOB, "2026-11-22").await;
    assert_succeeded(&next);
    // 2026-11-22 has P20261121007 (268.00, fee 1.61, completed 00:00:03) and a channel
    // settlement of 3000.00 into the bank.
    // 112201: 20109.30 + 268.00 − 3000.00 = 17377.30.
    assert_eq!(
        snapshot(&db.db, "2026-11-22", "112201").await,
        [
            dec("20109.30"),
            dec("268.00"),
            dec("3000.00"),
            dec("17377.30")
        ]
    );
    // 220201: 25078.65 + (268.00 − 1.61 = 266.39) = 25345.04.
    assert_eq!(
        snapshot(&db.db, "2026-11-22", "220201").await,
        [dec("25078.65"), dec("0.00"), dec("266.39"), dec("25345.04")]
    );
    // 100201: 1004985.00 + 3000.00 = 1007985.00.
    assert_eq!(
        snapshot(&db.db, "2026-11-22", "100201").await[3],
        dec("1007985.00")
    );
    let settlement = report(db, &next, "settlement.csv");
    assert_eq!(
        settlement.lines().skip(1).collect::<Vec<_>>(),
        ["2026-11-22,M1003,成都老码头火锅,CNY,1,268.00,0,0.00,1.61,266.39"]
    );

    // A late record for D, D rerun: D+1 keeps its old opening until D+1 is rerun.
    add_late_order(&db.db).await;
    assert_succeeded(&rerun(&runner, &day).await);
    assert_eq!(
        snapshot(&db.db, "2026-11-22", "112201").await[0],
        dec("20109.30")
    );
    let next_again = rerun(&runner, &next).await;
    assert_succeeded(&next_again);
    // Opening now 20609.30 (D's new closing): 20609.30 + 268.00 − 3000.00 = 17877.30.
    assert_eq!(
        snapshot(&db.db, "2026-11-22", "112201").await,
        [
            dec("20609.30"),
            dec("268.00"),
            dec("3000.00"),
            dec("17877.30")
        ]
    );
}

// With a 23:00 cut-off, D = 2026-11-21 runs from 2026-11-20 23:00 to 2026-11-21 23:00:
// the previous evening's P20261120099 (M1001, 75.00, fee 0.45, 23:10) comes in and
// P..006 (M1002, 1580.00, 23:59:58) goes out.
// M1001: 75.00 + 128.00 + 56.50 = 259.50, fees 0.45 + 0.77 + 0.34 − 0.62 = 0.94,
// net 259.50 − 103.00 − 0.94 = 155.56. M1002: 2999.00 − 17.99 = 2981.01.
// 112201 debits: 75.00 + 128.00 + 56.50 + 2999.00 + 88.80 + 360.00 = 3707.30;
// closing 20000.00 + 3707.30 − 5103.00 = 18604.30.
async fn cut_off_moves_the_window(db: &TestDb) {
    let runner = runner(db, &[("settle-2300", 2)]).await;
    let summary = run(&runner, "settle-2300", D).await;
    assert_succeeded(&summary);
    let settlement = report(db, &summary, "settlement.csv");
    let rows: Vec<&str> = settlement.lines().skip(1).take(2).collect();
    assert_eq!(
        rows,
        [
            "2026-11-21,M1001,杭州西湖茶馆,CNY,3,259.50,2,103.00,0.94,155.56",
            "2026-11-21,M1002,深圳华强电子,CNY,1,2999.00,0,0.00,17.99,2981.01",
        ]
    );
    let balances = report(db, &summary, "balances.csv");
    assert!(
        balances.contains(
            ",112201,应收账款-支付渠道-人民币,asset,CNY,20000.00,3707.30,5103.00,18604.30,6,3\n"
        ),
        "{balances}"
    );
}

async fn skipped_date_is_refused(db: &TestDb) {
    let runner = runner(db, &[(JOB, 2)]).await;
    assert_succeeded(&run(&runner, JOB, D).await);
    // 2026-11-22 never ran: 2026-11-23 cannot open at 2026-11-21's closings.
    let skipped = run(&runner, JOB, "2026-11-23").await;
    assert_eq!(skipped.run.status, RunStatus::Failed);
    let error = skipped.run.error.unwrap_or_default();
    assert!(
        error.contains("has no closing balance for 2026-11-22 (its latest is for 2026-11-21): settle 2026-11-22 first"),
        "{error}"
    );
    // Nothing was written for 2026-11-23 (PostgreSQL reads the literal as a DATE).
    let later = "SELECT COUNT(*) FROM account_balances WHERE business_date > '2026-11-21'";
    assert_eq!(count(&db.db, later).await, 0);
}

async fn posting_to_unknown_account_fails_the_shard(db: &TestDb) {
    let runner = runner(db, &[(JOB, 4)]).await;
    let at = "2026-11-21T08:00:00+08:00";
    insert_posting(&db.db, "JBAD0002", 1, "999999", "debit", "1.00", at).await;
    insert_posting(&db.db, "JBAD0002", 2, "100201", "credit", "1.00", at).await;
    let summary = run(&runner, JOB, D).await;
    assert_eq!(summary.run.status, RunStatus::Failed);
    let error = summary.run.error.unwrap_or_default();
    assert!(
        error.contains(
            "journal posting JBAD0002 line 1: account `999999` is not in the chart of accounts"
        ),
        "{error}"
    );
}

async fn bad_fixture_row_names_file_and_line(db: &TestDb) {
    let dir = tempfile::tempdir().unwrap();
    for entry in std::fs::read_dir(fixtures_dir()).unwrap() {
        let path = entry.unwrap().path();
        std::fs::copy(&path, dir.path().join(path.file_name().unwrap())).unwrap();
    }
    let orders = dir.path().join("orders.csv");
    let text = std::fs::read_to_string(&orders).unwrap();
    // Line 3 of the file is P20261121001; give it an amount with a thousands separator.
    std::fs::write(&orders, text.replacen(",128.00,", ",\"1,280.00\",", 1)).unwrap();
    let err = reckon::jobs::business::fixtures::load(&db.db, dir.path(), date(D))
        .await
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("orders.csv, line 3: amount: `1,280.00` is not an amount"),
        "{err}"
    );
    assert_eq!(
        count(&db.db, "SELECT COUNT(*) FROM payment_orders").await,
        0
    );
}

async fn shard_count_change_leaves_no_stale_rows(db: &TestDb) {
    let four = runner(db, &[(JOB, 4)]).await;
    let first = run(&four, JOB, D).await;
    assert_succeeded(&first);
    // Operations reshard the job to 2 items, rerun, then go back to 4.
    let two = runner(db, &[(JOB, 2)]).await;
    let second = rerun(&two, &first).await;
    assert_succeeded(&second);
    let third = rerun(&four, &second).await;
    assert_succeeded(&third);
    for summary in [&first, &second, &third] {
        assert_eq!(report(db, summary, "settlement.csv"), SETTLEMENT_CSV);
        assert_eq!(report(db, summary, "balances.csv"), BALANCES_CSV);
        assert_eq!(report(db, summary, "summary.csv"), SUMMARY_CSV);
    }
    assert_eq!(
        count(&db.db, "SELECT COUNT(*) FROM settlement_lines").await,
        5
    );
    assert_eq!(
        count(&db.db, "SELECT COUNT(*) FROM account_balances").await,
        11
    );
}
