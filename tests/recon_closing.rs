//! Closing the books on SQLite and PostgreSQL (issue 16, items 3–5): the
//! settlement tie-out (三方核对) of trade bill, WeChat fund bill and bank
//! statement with a short bank credit; the aging roll-forward
//! (差错余额变动表) over several days, checked on every run and from the
//! command line; and `report.xlsx` read back (sheet names, values, types).
//!
//! Three business days, figures worked out by hand from the rows below:
//!
//! | date | trade net | fund bill | bank (T+1) | breaks |
//! | 11-21 | 149.90 − 10 − 0.84 = 139.06 | 139.06 | 139.06 (+5,000 not Tenpay) | W2 amount 0.10, W5 missing 40.00 |
//! | 11-22 | 240 − 1.44 = 238.56 | 238.56 | 230.00: short by 8.56 | W5 matched late; settlement_mismatch 8.56 |
//! | 11-23 | 10 − 0.06 = 9.94 | 9.94 | 9.94 | W2 resolved by hand on 11-23 |

mod common;

use std::path::Path;
use std::process::Command;

use calamine::{Data, Reader, Xlsx};
use chrono::{DateTime, Utc};
use common::TestDb;
use common::ledger_rows::{insert_order, insert_refund};
use reckon::db::Db;
use reckon::jobs::recon::breaks::{self, BreakFilter};
use reckon::ledger::RunStatus;
use reckon::runtime::{RunSummary, Runner};
use rust_decimal::Decimal;

on_both_backends! {
    three_days_tie_out_roll_forward_and_workbooks => three_days_tie_out_roll_forward_and_workbooks;
}

const JOB: &str = "recon-close";
const HEADER: &str = "order_no,amount,status,completed_at,fee,refund_no";
const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/fixtures/recon/tieout");

fn job_text() -> String {
    format!(
        r#"name = "{JOB}"
kind = "recon-funds"
time_zone = "Asia/Shanghai"
shards = 2
retries = 0
timeout = "30s"
reports_xlsx = true

[params]
channel = "wechat"
format = "generic"
statements = ["stmt/wechat-{{date}}.csv"]
deadline = "00:00"
poll_interval = "10ms"
pending_window = "5m"
pending_days = 1

[params.tieout]
settlement = "fund/fundflow_{{yyyymmdd}}.csv"
bank = "bank/bank_{{yyyymmdd}}.csv"
bank_lag_days = 1
bank_reference = "财付通"
tolerance = "0.00"

[params.tieout.settlement_mapping]
skip_footer_lines = 2
datetime_format = "%Y-%m-%d %H:%M:%S"

[params.tieout.settlement_mapping.columns]
order_no = "业务凭证号"
refund_no = "资金流水单号"
amount = "收支金额(元)"
status = "收支类型"
time = "记账时间"

[params.tieout.settlement_mapping.statuses]
"收入" = "SUCCESS"
"支出" = "REFUND"

[params.tieout.bank_mapping]
skip_lines = 3
totals_row = "合计"
datetime_format = "%Y%m%d %H:%M:%S"

[params.tieout.bank_mapping.amount_format]
thousands_separator = ","

[params.tieout.bank_mapping.columns]
order_no = "对方户名"
debit = "借方发生额"
credit = "贷方发生额"
date = "交易日期"
time = "交易时间"
"#
    )
}

fn dec(text: &str) -> Decimal {
    text.parse().expect("test decimal")
}

fn instant(text: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(text)
        .expect("test instant")
        .with_timezone(&Utc)
}

/// A succeeded wechat order of M1 completed at `at` (Shanghai time).
async fn order(db: &Db, no: &str, amount: &str, fee: &str, at: &str) {
    insert_order(db, no, "M1", amount, fee, &format!("{at}+08:00")).await;
}

async fn refund(db: &Db, no: &str, order_no: &str, amount: &str, fee: &str, at: &str) {
    insert_refund(db, no, order_no, amount, fee, &format!("{at}+08:00")).await;
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

/// The fund bills and bank statements of `fixtures/recon/tieout`.
fn copy_fixtures(db: &TestDb) {
    for (prefix, dir) in [("fundflow_", "fund"), ("bank_", "bank")] {
        let target = db.dir.path().join(dir);
        std::fs::create_dir_all(&target).expect("fixture dir");
        for entry in std::fs::read_dir(FIXTURES).expect("fixtures") {
            let path = entry.expect("fixture").path();
            let name = path
                .file_name()
                .and_then(|n| n.to_str())
                .unwrap_or_default();
            if name.starts_with(prefix) {
                std::fs::copy(&path, target.join(name)).expect("copy fixture");
            }
        }
    }
}

async fn run(runner: &Runner, date: &str) -> RunSummary {
    let summary = common::run_job(runner, JOB, date).await;
    assert_eq!(
        summary.run.status,
        RunStatus::Succeeded,
        "{date}: {:?}",
        summary.run.outcome
    );
    summary
}

fn report(db: &TestDb, summary: &RunSummary, file: &str) -> String {
    common::report_text(db, summary, file)
}

fn run_dir(db: &TestDb, summary: &RunSummary) -> std::path::PathBuf {
    db.reports_dir()
        .join(summary.run.business_date.to_string())
        .join(&summary.run.job)
        .join(&summary.run.run_id)
}

const TIEOUT_HEADER: &str = "business_date,channel,trade_payments,trade_refunds,trade_fees,trade_net,settlement,bank_date,bank_credit,settlement_minus_trade,bank_minus_settlement,tolerance,status,off_side";

/// The roll-forward's lines of one date as `group → (opening, aged, new,
/// auto, manual, closing)` counts, checking the identity on every line.
/// A roll-forward line: date, dimension, group, the six counts, the six amounts.
type RollLine = (String, String, String, [i64; 6], [Decimal; 6]);

fn rollforward_lines(csv: &str) -> Vec<RollLine> {
    let mut lines = csv.lines();
    assert_eq!(
        lines.next(),
        Some(
            "date,dimension,group,opening_count,opening_amount,aged_count,aged_amount,new_count,new_amount,auto_resolved_count,auto_resolved_amount,manual_count,manual_amount,closing_count,closing_amount"
        )
    );
    lines
        .map(|line| {
            let cells: Vec<&str> = line.split(',').collect();
            let counts: [i64; 6] =
                std::array::from_fn(|i| cells[3 + 2 * i].parse().expect("count"));
            let amounts: [Decimal; 6] = std::array::from_fn(|i| dec(cells[4 + 2 * i]));
            // The roll-forward identity, on every line of every report.
            assert_eq!(
                counts[0] + counts[1] + counts[2] - counts[3] - counts[4],
                counts[5],
                "{line}"
            );
            assert_eq!(
                amounts[0] + amounts[1] + amounts[2] - amounts[3] - amounts[4],
                amounts[5],
                "{line}"
            );
            (
                cells[0].to_string(),
                cells[1].to_string(),
                cells[2].to_string(),
                counts,
                amounts,
            )
        })
        .collect()
}

fn line<'a>(lines: &'a [RollLine], date: &str, group: &str) -> &'a RollLine {
    lines
        .iter()
        .find(|l| l.0 == date && l.2 == group)
        .unwrap_or_else(|| panic!("no line {date} {group}"))
}

async fn three_days_tie_out_roll_forward_and_workbooks(db: &TestDb) {
    let d = &db.db;
    copy_fixtures(db);
    // 11-21: W2 differs by 0.10, W5 is not on the statement (yet).
    order(d, "W1", "100.00", "0.60", "2026-11-21T10:00:00").await;
    order(d, "W2", "50.00", "0.30", "2026-11-21T10:10:00").await;
    order(d, "W5", "40.00", "0.24", "2026-11-21T12:00:00").await;
    refund(d, "R1", "W1", "10.00", "0.06", "2026-11-21T15:00:00").await;
    write_statement(
        db,
        "2026-11-21",
        &[
            "W1,100.00,SUCCESS,2026-11-21 10:00:05,0.60,",
            "W2,49.90,SUCCESS,2026-11-21 10:10:00,0.30,",
            "W1,10.00,REFUND,2026-11-21 15:00:00,-0.06,R1",
        ],
    );
    // 11-22: W5 arrives on the channel's bill; W3 is the day's trade.
    order(d, "W3", "200.00", "1.20", "2026-11-22T09:00:00").await;
    write_statement(
        db,
        "2026-11-22",
        &[
            "W5,40.00,SUCCESS,2026-11-22 00:05:00,0.24,",
            "W3,200.00,SUCCESS,2026-11-22 09:00:00,1.20,",
        ],
    );
    // 11-23: one matched trade.
    order(d, "W4", "10.00", "0.06", "2026-11-23T11:00:00").await;
    write_statement(
        db,
        "2026-11-23",
        &["W4,10.00,SUCCESS,2026-11-23 11:00:00,0.06,"],
    );

    let runner = common::builtin_runner(db, &[(JOB, job_text())]);
    let first = run(&runner, "2026-11-21").await;
    assert_eq!(
        report(db, &first, "tieout.csv"),
        format!(
            "{TIEOUT_HEADER}\n2026-11-21,wechat,149.90,10.00,0.84,139.06,139.06,2026-11-22,139.06,0.00,0.00,0.00,tied,\n"
        )
    );
    let second = run(&runner, "2026-11-22").await;
    // The short bank credit: trade and fund bill agree, the bank is 8.56 short.
    assert_eq!(
        report(db, &second, "tieout.csv"),
        format!(
            "{TIEOUT_HEADER}\n2026-11-22,wechat,240.00,0.00,1.44,238.56,238.56,2026-11-23,230.00,0.00,-8.56,0.00,mismatch,bank\n"
        )
    );
    let attention = second
        .run
        .outcome
        .as_ref()
        .map(|o| o.to_string())
        .unwrap_or_default();
    assert!(
        attention.contains("does not tie: bank is off"),
        "{attention}"
    );
    let mismatch = breaks::list(
        d,
        &BreakFilter {
            job: Some(JOB.into()),
            category: Some("settlement_mismatch".into()),
            ..BreakFilter::default()
        },
    )
    .await
    .expect("register");
    assert_eq!(mismatch.len(), 1);
    assert_eq!(mismatch[0].key, "wechat:2026-11-22");
    assert_eq!(mismatch[0].sides, "settlement/bank");
    assert_eq!(mismatch[0].left_amount, Some(dec("238.56")));
    assert_eq!(mismatch[0].right_amount, Some(dec("230.00")));
    assert_eq!(mismatch[0].delta, dec("-8.56"));

    // W2 is resolved by hand on 11-23 (Shanghai), before that date's run.
    let w2 = breaks::list(
        d,
        &BreakFilter {
            job: Some(JOB.into()),
            category: Some("amount_mismatch".into()),
            ..BreakFilter::default()
        },
    )
    .await
    .expect("register");
    assert_eq!(w2.len(), 1);
    breaks::resolve(
        d,
        w2[0].id,
        "finance@test",
        "channel short-paid 0.10, written off",
        instant("2026-11-23T10:00:00+08:00"),
    )
    .await
    .expect("resolve W2");
    let third = run(&runner, "2026-11-23").await;
    assert!(report(db, &third, "tieout.csv").contains(",tied,"));

    // Each run's roll-forward covers its own date and balances.
    let day1 = rollforward_lines(&report(db, &first, "rollforward.csv"));
    let total = line(&day1, "2026-11-21", "all");
    assert_eq!(total.3, [0, 0, 2, 0, 0, 2]);
    assert_eq!(total.4[5], dec("40.10"));
    assert_eq!(line(&day1, "2026-11-21", "0-1").3, [0, 0, 2, 0, 0, 2]);
    assert_eq!(
        line(&day1, "2026-11-21", "missing_in_channel").4[5],
        dec("40.00")
    );
    let day2 = rollforward_lines(&report(db, &second, "rollforward.csv"));
    let total = line(&day2, "2026-11-22", "all");
    assert_eq!(total.3, [2, 0, 1, 1, 0, 2]);
    assert_eq!(
        total.4,
        [
            dec("40.10"),
            dec("0"),
            dec("8.56"),
            dec("40.00"),
            dec("0"),
            dec("8.66")
        ]
    );
    let day3 = rollforward_lines(&report(db, &third, "rollforward.csv"));
    // W2 turns 2 days old on 11-23: it moves from 0-1 to 2-3 and is resolved there.
    assert_eq!(line(&day3, "2026-11-23", "all").3, [2, 0, 0, 0, 1, 1]);
    assert_eq!(line(&day3, "2026-11-23", "0-1").3, [2, -1, 0, 0, 0, 1]);
    assert_eq!(line(&day3, "2026-11-23", "2-3").3, [0, 1, 0, 0, 1, 0]);

    // The command line: the whole range, the same figures as the runs'.
    let reckon = |args: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_reckon"))
            .current_dir(db.dir.path())
            .env("RECKON_DATABASE_URL", &db.url)
            .env("RECKON_JOBS_DIR", jobs_dir(db))
            .args(args)
            .output()
            .expect("reckon runs")
    };
    let out = reckon(&[
        "breaks",
        "rollforward",
        "--job",
        JOB,
        "--from",
        "2026-11-21",
        "--to",
        "2026-11-30",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let range = rollforward_lines(&String::from_utf8_lossy(&out.stdout));
    for (date, lines) in [("2026-11-22", &day2), ("2026-11-23", &day3)] {
        for l in lines.iter() {
            assert_eq!(line(&range, date, &l.2), l, "{date} {}", l.2);
        }
    }
    // Continuity: each date opens with the previous closing, line by line.
    for day in 21..30 {
        let (today, tomorrow) = (format!("2026-11-{day}"), format!("2026-11-{}", day + 1));
        for l in range.iter().filter(|l| l.0 == today) {
            let next = range
                .iter()
                .find(|n| n.0 == tomorrow && n.2 == l.2)
                .map(|n| (n.3[0], n.4[0]))
                .unwrap_or((0, Decimal::ZERO));
            assert_eq!((l.3[5], l.4[5]), next, "{today} → {tomorrow} {}", l.2);
        }
    }
    // 11-30: the settlement break is 8 days old (8-30), the only one open.
    assert_eq!(line(&range, "2026-11-30", "8-30").3[5], 1);
    assert_eq!(line(&range, "2026-11-30", "all").4[5], dec("8.56"));
    let backwards = reckon(&[
        "breaks",
        "rollforward",
        "--job",
        JOB,
        "--from",
        "2026-11-23",
        "--to",
        "2026-11-21",
    ]);
    assert_eq!(backwards.status.code(), Some(2));

    // A rerun writes the same CSVs byte for byte (the workbook is rebuilt from them).
    let again = common::rerun_run(&runner, &second, "same inputs").await;
    for file in [
        "summary.csv",
        "diff.csv",
        "tieout.csv",
        "rollforward.csv",
        "report.xlsx",
    ] {
        assert_eq!(
            std::fs::read(run_dir(db, &second).join(file)).expect("first"),
            std::fs::read(run_dir(db, &again).join(file)).expect("rerun"),
            "{file}"
        );
    }

    // The workbook, read back: one sheet per CSV, titles in Chinese and English,
    // amounts as numbers, a totals row.
    let path = run_dir(db, &second).join("report.xlsx");
    let mut book: Xlsx<_> = calamine::open_workbook(&path).expect("open report.xlsx");
    assert_eq!(
        book.sheet_names(),
        [
            "summary",
            "diff",
            "rejects",
            "carried",
            "tieout",
            "rollforward"
        ]
    );
    let tie = book.worksheet_range("tieout").expect("tieout sheet");
    assert_eq!(
        tie.get_value((0, 5)),
        Some(&Data::String("交易净额".into()))
    );
    assert_eq!(
        tie.get_value((1, 5)),
        Some(&Data::String("trade_net".into()))
    );
    assert_eq!(tie.get_value((2, 5)), Some(&Data::Float(238.56)));
    assert_eq!(tie.get_value((2, 8)), Some(&Data::Float(230.0)));
    assert_eq!(tie.get_value((2, 10)), Some(&Data::Float(-8.56)));
    assert_eq!(
        tie.get_value((2, 12)),
        Some(&Data::String("mismatch".into()))
    );
    assert_eq!(
        tie.get_value((3, 0)),
        Some(&Data::String("合计 total".into()))
    );
    let diff = book.worksheet_range("diff").expect("diff sheet");
    let csv = report(db, &second, "diff.csv");
    assert_eq!(
        diff.height(),
        csv.lines().count() + 2,
        "titles, header, rows, total"
    );
    let summary = book.worksheet_range("summary").expect("summary sheet");
    assert_eq!(
        summary.get_value((0, 1)),
        Some(&Data::String("我方笔数".into()))
    );
    assert_eq!(
        summary.get_value((2, 0)),
        Some(&Data::String("matched".into()))
    );
    assert!(matches!(summary.get_value((2, 1)), Some(Data::Float(_))));
    // Totals leave out the summary's own total line and the roll-forward's breakdowns.
    // (summary.csv's finding and fee rows follow total_read and lie outside it.)
    let rows = summary.height() as u32;
    let total_read = (0..rows)
        .find(|&row| summary.get_value((row, 0)) == Some(&Data::String("total_read".into())))
        .expect("a total_read line");
    assert!(total_read < rows - 1);
    assert_eq!(
        summary.get_value((rows - 1, 1)),
        summary.get_value((total_read, 1))
    );
    let roll = book
        .worksheet_range("rollforward")
        .expect("rollforward sheet");
    let last = roll.height() as u32 - 1;
    assert_eq!(
        roll.get_value((last, 13)),
        Some(&Data::Float(2.0)),
        "closing count of the total line"
    );
    assert_no_xlsx_without_the_option(db).await;
}

/// The job file the command line reads (its time zone dates resolutions).
fn jobs_dir(db: &TestDb) -> std::path::PathBuf {
    let dir = db.dir.path().join("jobs");
    std::fs::create_dir_all(&dir).expect("jobs dir");
    std::fs::write(dir.join(format!("{JOB}.toml")), job_text()).expect("job file");
    dir
}

/// Without `reports_xlsx` no workbook is written.
async fn assert_no_xlsx_without_the_option(db: &TestDb) {
    let text = job_text()
        .replace("reports_xlsx = true\n", "")
        .replace(&format!("name = \"{JOB}\""), "name = \"recon-plain\"");
    let runner = common::builtin_runner(db, &[("recon-plain", text)]);
    let summary = common::run_job(&runner, "recon-plain", "2026-11-23").await;
    assert_eq!(summary.run.status, RunStatus::Succeeded);
    assert!(!run_dir(db, &summary).join("report.xlsx").exists());
    assert!(run_dir(db, &summary).join("rollforward.csv").exists());
    assert!(
        Path::new(&run_dir(db, &summary))
            .join("tieout.csv")
            .exists()
    );
}

/// `reckon recon --xlsx`: the ad-hoc command writes the workbook beside its
/// CSVs; a fee with four decimals stays a number with its decimals; without
/// the flag there is no workbook.
#[test]
fn adhoc_recon_writes_the_workbook_on_request() {
    let case = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/fixtures/recon/engine/fee_mismatch"
    );
    let out = tempfile::tempdir().expect("out dir");
    let reckon = |dir: &Path, xlsx: bool| {
        let mut command = Command::new(env!("CARGO_BIN_EXE_reckon"));
        command
            .args([
                "recon",
                "--format",
                "generic",
                "--cutoff",
                "2026-11-22 00:00:00",
            ])
            .arg("--ledger")
            .arg(format!("{case}/ledger.csv"))
            .arg("--statement")
            .arg(format!("{case}/statement.csv"))
            .arg("--out")
            .arg(dir);
        if xlsx {
            command.arg("--xlsx");
        }
        let output = command.output().expect("reckon recon runs");
        assert!(
            output.status.success(),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
    };
    let with = out.path().join("with");
    reckon(&with, true);
    let mut book: Xlsx<_> = calamine::open_workbook(with.join("report.xlsx")).expect("workbook");
    assert_eq!(book.sheet_names(), ["summary", "diff", "rejects"]);
    let diff = book.worksheet_range("diff").expect("diff sheet");
    assert_eq!(
        diff.get_value((0, 7)),
        Some(&Data::String("渠道手续费".into()))
    );
    assert_eq!(
        diff.get_value((1, 7)),
        Some(&Data::String("statement_fee".into()))
    );
    assert_eq!(diff.get_value((2, 1)), Some(&Data::String("P4001".into())));
    assert_eq!(diff.get_value((2, 7)), Some(&Data::Float(1.2006)));
    assert_eq!(diff.get_value((2, 8)), Some(&Data::Float(0.0006)));
    let manifest = std::fs::read_to_string(with.join("manifest.json")).expect("manifest");
    assert!(manifest.contains("report.xlsx"), "{manifest}");
    let without = out.path().join("without");
    reckon(&without, false);
    assert!(!without.join("report.xlsx").exists());
    for file in ["summary.csv", "diff.csv", "rejects.csv"] {
        assert_eq!(
            std::fs::read(with.join(file)).expect("with"),
            std::fs::read(without.join(file)).expect("without"),
            "{file}: the workbook changes no CSV"
        );
    }
}
