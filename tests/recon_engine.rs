//! The reconciliation engine and `reckon recon`: every category from a
//! fixture built for it (fixtures/recon/engine/), conservation on every run,
//! byte-identical reports on rerun, rejects with file and line, exit codes.
//!
//! Expected figures are worked out by hand from the fixture files.

use std::path::{Path, PathBuf};
use std::process::Command;

use chrono::NaiveDateTime;
use reckon::jobs::recon::engine::adhoc::{AdhocOutcome, AdhocRequest, run_adhoc};
use reckon::jobs::recon::engine::{Category, CompareConfig};
use reckon::jobs::recon::formats::{FormatName, ReadOptions, StatementFormat};

const FIXTURES: &str = "fixtures/recon/engine";
const SUMMARY_HEADER: &str =
    "category,ledger_count,ledger_amount,statement_count,statement_amount\n";
const DIFF_HEADER: &str = "category,key,kind,ledger_amount,statement_amount,delta,ledger_fee,statement_fee,fee_delta,ledger_status,statement_status,ledger_time,statement_time,ledger_file,ledger_line,statement_file,statement_line\n";

fn cutoff() -> NaiveDateTime {
    NaiveDateTime::parse_from_str("2026-11-21 23:59:59", "%Y-%m-%d %H:%M:%S").unwrap()
}

fn ledger_path(case: &str) -> String {
    format!("{FIXTURES}/{case}/ledger.csv")
}

fn statement_path(case: &str) -> String {
    format!("{FIXTURES}/{case}/statement.csv")
}

fn request(ledger: &str, statement: &str, format: StatementFormat, out: &Path) -> AdhocRequest {
    let statement_is_ledger_layout = matches!(&format, StatementFormat::Generic(_));
    AdhocRequest {
        ledger: PathBuf::from(ledger),
        statement: PathBuf::from(statement),
        format,
        statement_is_ledger_layout,
        compare: CompareConfig {
            cutoff: Some(cutoff()),
            pending_window: chrono::Duration::minutes(30),
        },
        read: ReadOptions::default(),
        out: out.to_path_buf(),
        excel_bom: false,
        reports_xlsx: false,
    }
}

fn generic() -> StatementFormat {
    StatementFormat::new(FormatName::Generic, None).unwrap()
}

fn run_case(case: &str, out: &Path) -> AdhocOutcome {
    let outcome = run_adhoc(&request(
        &ledger_path(case),
        &statement_path(case),
        generic(),
        out,
    ))
    .unwrap();
    assert_conservation(out);
    outcome
}

fn read(out: &Path, name: &str) -> String {
    std::fs::read_to_string(out.join(name)).unwrap()
}

/// Parses an amount like `-12.30` into cents without the engine's code.
fn cents(text: &str) -> i64 {
    if text.is_empty() {
        return 0;
    }
    let (sign, body) = match text.strip_prefix('-') {
        Some(rest) => (-1, rest),
        None => (1, text),
    };
    let (int, frac) = body.split_once('.').unwrap();
    assert_eq!(frac.len(), 2, "two decimals: {text}");
    sign * (int.parse::<i64>().unwrap() * 100 + frac.parse::<i64>().unwrap())
}

/// Invariant 4 read back from summary.csv: per side, the categories plus the
/// rejects add up to the rows read, and the category sums to the amount read.
fn assert_conservation(out: &Path) {
    let summary = read(out, "summary.csv");
    let rows: Vec<Vec<&str>> = summary
        .lines()
        .skip(1)
        .map(|line| line.split(',').collect())
        .collect();
    let total = rows.iter().find(|r| r[0] == "total_read").unwrap();
    for (count_col, amount_col) in [(1, 2), (3, 4)] {
        let mut count = 0u64;
        let mut amount = 0i64;
        for row in rows.iter().filter(|r| r[0] != "total_read") {
            count += row[count_col].parse::<u64>().unwrap();
            amount += cents(row[amount_col]);
        }
        assert_eq!(count, total[count_col].parse::<u64>().unwrap(), "{summary}");
        assert_eq!(amount, cents(total[amount_col]), "{summary}");
    }
}

/// summary.csv with every category at zero except those given:
/// `(category, ledger_count, ledger_amount, statement_count, statement_amount)`.
fn summary(
    rows: &[(&str, u64, &str, u64, &str)],
    rejected: (u64, u64),
    total: (u64, &str, u64, &str),
) -> String {
    let mut text = SUMMARY_HEADER.to_string();
    for category in Category::ALL {
        let name = category.as_str();
        match rows.iter().find(|row| row.0 == name) {
            Some(row) => text += &format!("{},{},{},{},{}\n", row.0, row.1, row.2, row.3, row.4),
            None => text += &format!("{name},0,0.00,0,0.00\n"),
        }
    }
    text += &format!("rejected,{},,{},\n", rejected.0, rejected.1);
    text += &format!(
        "total_read,{},{},{},{}\n",
        total.0, total.1, total.2, total.3
    );
    text
}

fn check(case: &str, expected_summary: String, expected_diff: &[String]) {
    let out = tempfile::tempdir().unwrap();
    let outcome = run_case(case, out.path());
    assert!(
        outcome.fast_path.0 && outcome.fast_path.1,
        "{case}: fast path"
    );
    assert_eq!(read(out.path(), "summary.csv"), expected_summary, "{case}");
    let mut diff = DIFF_HEADER.to_string();
    for row in expected_diff {
        diff += row;
        diff += "\n";
    }
    assert_eq!(read(out.path(), "diff.csv"), diff, "{case}");
}

fn l(case: &str) -> String {
    ledger_path(case)
}

fn s(case: &str) -> String {
    statement_path(case)
}

#[test]
fn matched_payments_and_refunds() {
    check(
        "matched",
        summary(
            &[("matched", 3, "150.50", 3, "150.50")],
            (0, 0),
            (3, "150.50", 3, "150.50"),
        ),
        &[],
    );
}

#[test]
fn amount_mismatch_with_delta() {
    let c = "amount_mismatch";
    check(
        c,
        summary(
            &[
                ("matched", 1, "50.00", 1, "50.00"),
                ("amount_mismatch", 1, "100.00", 1, "99.99"),
            ],
            (0, 0),
            (2, "150.00", 2, "149.99"),
        ),
        &[format!(
            "amount_mismatch,P2001,payment,100.00,99.99,-0.01,0.60,0.60,0.00,SUCCESS,SUCCESS,2026-11-21 09:00:00,2026-11-21 09:00:00,{},2,{},2",
            l(c),
            s(c)
        )],
    );
}

#[test]
fn status_mismatch_both_ways() {
    let c = "status_mismatch";
    check(
        c,
        summary(
            &[("status_mismatch", 2, "92.00", 2, "92.00")],
            (0, 0),
            (2, "92.00", 2, "92.00"),
        ),
        &[
            format!(
                "status_mismatch,P3001,payment,80.00,80.00,0.00,0.48,0.00,-0.48,SUCCESS,CLOSED,2026-11-21 09:00:00,2026-11-21 09:00:00,{},2,{},2",
                l(c),
                s(c)
            ),
            format!(
                "status_mismatch,P3002,payment,12.00,12.00,0.00,,0.07,,CLOSED,SUCCESS,2026-11-21 09:10:00,2026-11-21 09:10:00,{},3,{},3",
                l(c),
                s(c)
            ),
        ],
    );
}

#[test]
fn fee_mismatch_to_the_sub_cent_and_absent_fee_not_compared() {
    let c = "fee_mismatch";
    check(
        c,
        summary(
            &[
                ("matched", 1, "10.00", 1, "10.00"),
                ("fee_mismatch", 1, "200.00", 1, "200.00"),
            ],
            (0, 0),
            (2, "210.00", 2, "210.00"),
        ),
        &[format!(
            "fee_mismatch,P4001,payment,200.00,200.00,0.00,1.20,1.2006,0.0006,SUCCESS,SUCCESS,2026-11-21 09:00:00,2026-11-21 09:00:00,{},2,{},2",
            l(c),
            s(c)
        )],
    );
}

#[test]
fn missing_in_channel_but_closed_orders_agree() {
    let c = "missing_in_channel";
    check(
        c,
        summary(
            &[
                ("matched", 2, "75.00", 1, "66.00"),
                ("missing_in_channel", 1, "7.00", 0, "0.00"),
            ],
            (0, 0),
            (3, "82.00", 1, "66.00"),
        ),
        &[format!(
            "missing_in_channel,P5002,payment,7.00,,-7.00,0.04,,,SUCCESS,,2026-11-21 12:00:00,,{},3,,",
            l(c)
        )],
    );
}

#[test]
fn missing_in_ledger_refund() {
    let c = "missing_in_ledger";
    check(
        c,
        summary(
            &[
                ("matched", 1, "66.00", 1, "66.00"),
                ("missing_in_ledger", 0, "0.00", 1, "16.00"),
            ],
            (0, 0),
            (1, "66.00", 2, "82.00"),
        ),
        &[format!(
            "missing_in_ledger,R6001,refund,,16.00,16.00,,-0.10,,,REFUND,,2026-11-21 13:00:00,,,{},3",
            s(c)
        )],
    );
}

#[test]
fn duplicate_in_ledger_first_row_compared() {
    let c = "duplicate_in_ledger";
    check(
        c,
        summary(
            &[
                ("matched", 2, "45.00", 2, "45.00"),
                ("missing_in_channel", 1, "3.00", 0, "0.00"),
                ("duplicate_in_ledger", 2, "43.00", 0, "0.00"),
            ],
            (0, 0),
            (5, "91.00", 2, "45.00"),
        ),
        &[
            format!(
                "missing_in_channel,P7003,payment,3.00,,-3.00,0.02,,,SUCCESS,,2026-11-21 09:02:00,,{},5,,",
                l(c)
            ),
            format!(
                "duplicate_in_ledger,P7001,payment,40.00,,-40.00,0.24,,,SUCCESS,,2026-11-21 09:00:00,,{},4,,",
                l(c)
            ),
            format!(
                "duplicate_in_ledger,P7003,payment,3.00,,-3.00,0.02,,,SUCCESS,,2026-11-21 09:02:00,,{},6,,",
                l(c)
            ),
        ],
    );
}

#[test]
fn duplicate_in_statement_first_row_compared() {
    let c = "duplicate_in_statement";
    check(
        c,
        summary(
            &[
                ("matched", 1, "40.00", 1, "40.00"),
                ("duplicate_in_statement", 0, "0.00", 2, "81.00"),
            ],
            (0, 0),
            (1, "40.00", 3, "121.00"),
        ),
        &[
            format!(
                "duplicate_in_statement,P8001,payment,,40.00,40.00,,0.24,,,SUCCESS,,2026-11-21 09:00:00,,,{},3",
                s(c)
            ),
            format!(
                "duplicate_in_statement,P8001,payment,,41.00,41.00,,0.25,,,SUCCESS,,2026-11-21 09:00:05,,,{},4",
                s(c)
            ),
        ],
    );
}

#[test]
fn pending_within_the_window_before_cutoff() {
    let c = "pending";
    check(
        c,
        summary(
            &[
                ("matched", 1, "45.00", 1, "45.00"),
                ("missing_in_channel", 1, "35.00", 0, "0.00"),
                ("pending", 1, "25.00", 1, "55.00"),
            ],
            (0, 0),
            (3, "105.00", 2, "100.00"),
        ),
        &[
            format!(
                "missing_in_channel,P9002,payment,35.00,,-35.00,0.21,,,SUCCESS,,2026-11-21 23:29:58,,{},3,,",
                l(c)
            ),
            format!(
                "pending,P9001,payment,25.00,,-25.00,0.15,,,SUCCESS,,2026-11-21 23:45:00,,{},2,,",
                l(c)
            ),
            format!(
                "pending,P9004,payment,,55.00,55.00,,0.33,,,SUCCESS,,2026-11-21 23:30:00,,,{},3",
                s(c)
            ),
        ],
    );
}

#[test]
fn without_cutoff_nothing_is_pending() {
    let out = tempfile::tempdir().unwrap();
    let mut request = request(&l("pending"), &s("pending"), generic(), out.path());
    request.compare.cutoff = None;
    let outcome = run_adhoc(&request).unwrap();
    assert_conservation(out.path());
    assert_eq!(outcome.comparison.ledger.count(Category::Pending), 0);
    assert_eq!(
        outcome.comparison.ledger.count(Category::MissingInChannel),
        2
    );
    assert_eq!(
        outcome
            .comparison
            .statement
            .count(Category::MissingInLedger),
        1
    );
}

#[test]
fn rejects_with_file_line_reason_and_raw_text() {
    let c = "rejects";
    check(
        c,
        summary(
            &[("matched", 9, "126.00", 9, "126.00")],
            (7, 1),
            (16, "126.00", 10, "126.00"),
        ),
        &[],
    );
    let out = tempfile::tempdir().unwrap();
    run_case(c, out.path());
    let rejects = read(out.path(), "rejects.csv");
    let rows: Vec<(String, String, String, String)> = rejects
        .lines()
        .skip(1)
        .map(|line| {
            let mut reader = csv::ReaderBuilder::new()
                .has_headers(false)
                .from_reader(line.as_bytes());
            let record = reader.records().next().unwrap().unwrap();
            (
                record[1].to_string(),
                record[0].to_string(),
                record[2].to_string(),
                record[4].to_string(),
            )
        })
        .collect();
    let expected = [
        ("3", "field_count", "PA002,20.00,SUCCESS"),
        (
            "4",
            "bad_amount",
            "PA003,10.005,SUCCESS,2026-11-21 09:03:00,0.06,",
        ),
        ("5", "bad_time", "PA004,10.00,SUCCESS,2026-11-21,0.06,"),
        (
            "6",
            "unknown_status",
            "PA005,10.00,PAID,2026-11-21 09:05:00,0.06,",
        ),
        (
            "7",
            "missing_key",
            "PA001,5.00,REFUND,2026-11-21 09:06:00,-0.03,",
        ),
        (
            "8",
            "missing_key",
            ",10.00,SUCCESS,2026-11-21 09:07:00,0.06,",
        ),
        (
            "9",
            "field_count",
            "PA008,10.00,SUCCESS,2026-11-21 09:08:00,0.06,,extra",
        ),
        (
            "11",
            "bad_amount",
            "PA017,abc,SUCCESS,2026-11-21 09:17:00,0.11,",
        ),
    ];
    assert_eq!(rows.len(), expected.len(), "{rejects}");
    for (row, (at, reason, raw)) in rows.iter().zip(expected) {
        assert_eq!(row.0, at);
        // Ordered by file then line: the ledger's path sorts before the statement's.
        let file = if at == "11" { s(c) } else { l(c) };
        assert_eq!(row.1, file);
        assert_eq!(row.2, reason, "{at}");
        assert_eq!(row.3, raw, "{at}");
    }
    assert!(
        rejects.contains("field_count: expected 6 fields, found 3"),
        "{rejects}"
    );
}

#[test]
fn reports_are_byte_identical_on_rerun() {
    let first = tempfile::tempdir().unwrap();
    let second = tempfile::tempdir().unwrap();
    for case in ["duplicate_in_ledger", "rejects", "pending"] {
        run_case(case, first.path());
        run_case(case, second.path());
        for name in ["summary.csv", "diff.csv", "rejects.csv"] {
            assert_eq!(
                std::fs::read(first.path().join(name)).unwrap(),
                std::fs::read(second.path().join(name)).unwrap(),
                "{case} {name}"
            );
        }
        let manifest: serde_json::Value =
            serde_json::from_str(&read(first.path(), "manifest.json")).unwrap();
        assert_eq!(manifest["files"].as_array().unwrap().len(), 3);
    }
}

#[test]
fn blank_lines_and_crlf_keep_physical_line_numbers() {
    let dir = tempfile::tempdir().unwrap();
    let ledger = dir.path().join("ledger.csv");
    std::fs::write(
        &ledger,
        "order_no,amount,status,completed_at,fee,refund_no\r\nP2001,100.00,SUCCESS,2026-11-21 09:00:00,0.60,\r\n\r\nP2002,50.00,SUCCESS,2026-11-21 09:30:00,0.30,\r\nP2003, 7.00 ,SUCCESS,2026-11-21 09:40:00,0.04,\r\n",
    )
    .unwrap();
    let out = dir.path().join("out");
    let outcome = run_adhoc(&request(
        ledger.to_str().unwrap(),
        &s("amount_mismatch"),
        generic(),
        &out,
    ))
    .unwrap();
    assert_conservation(&out);
    assert!(outcome.fast_path.0);
    assert_eq!(
        read(&out, "rejects.csv"),
        "file,line,reason_code,reason,raw\n"
    );
    let diff = read(&out, "diff.csv");
    let ledger = ledger.display();
    assert!(diff.contains(&format!("amount_mismatch,P2001,payment,100.00,99.99,-0.01,0.60,0.60,0.00,SUCCESS,SUCCESS,2026-11-21 09:00:00,2026-11-21 09:00:00,{ledger},2,")), "{diff}");
    // P2003 sits on physical line 5, after the blank line 3.
    assert!(diff.contains(&format!("missing_in_channel,P2003,payment,7.00,,-7.00,0.04,,,SUCCESS,,2026-11-21 09:40:00,,{ledger},5,,")), "{diff}");
}

#[test]
fn quoted_line_breaks_take_the_exact_reader() {
    let dir = tempfile::tempdir().unwrap();
    let ledger = dir.path().join("ledger.csv");
    std::fs::write(
        &ledger,
        "order_no,amount,status,completed_at,fee,refund_no\nP2001,100.00,SUCCESS,2026-11-21 09:00:00,0.60,\"a\nb\"\nP2002,50.00,SUCCESS,2026-11-21 09:30:00,0.30,\nP2003,7.00,SUCCESS,2026-11-21 09:40:00,0.04,\n",
    )
    .unwrap();
    let out = dir.path().join("out");
    let outcome = run_adhoc(&request(
        ledger.to_str().unwrap(),
        &s("amount_mismatch"),
        generic(),
        &out,
    ))
    .unwrap();
    assert_conservation(&out);
    assert!(!outcome.fast_path.0);
    assert_eq!(outcome.comparison.ledger.count(Category::AmountMismatch), 1);
    assert_eq!(outcome.comparison.ledger.count(Category::Matched), 1);
    let diff = read(&out, "diff.csv");
    // The quoted field spans lines 2-3, so P2003 is on line 5.
    assert!(diff.contains(&format!("missing_in_channel,P2003,payment,7.00,,-7.00,0.04,,,SUCCESS,,2026-11-21 09:40:00,,{},5,,", ledger.display())), "{diff}");
}

#[test]
fn wechat_statement_against_the_ledger_file() {
    // fixtures/recon/statements (the formats' samples): by hand, every ledger
    // row but P20261121000006 (15.00, not on the bill) matches; the bill's
    // refund R20261121000002 is PROCESSING (no money moved: CLOSED) and agrees
    // with its absence from the ledger.
    let out = tempfile::tempdir().unwrap();
    let outcome = run_adhoc(&request(
        "fixtures/recon/statements/ledger_20261121.csv",
        "fixtures/recon/statements/wechat_20261121.csv",
        StatementFormat::new(FormatName::Wechat, None).unwrap(),
        out.path(),
    ))
    .unwrap();
    assert_conservation(out.path());
    assert_eq!(outcome.fast_path, (true, false));
    assert_eq!(
        read(out.path(), "summary.csv"),
        summary(
            &[
                ("matched", 6, "2838.90", 7, "2898.80"),
                ("missing_in_channel", 1, "15.00", 0, "0.00"),
            ],
            (0, 0),
            (7, "2853.90", 7, "2898.80"),
        )
    );
}

fn reckon(args: &[&str]) -> (i32, String) {
    let output = Command::new(env!("CARGO_BIN_EXE_reckon"))
        .args(args)
        .env("RECKON_DATABASE_URL", "sqlite::memory:")
        .output()
        .unwrap();
    (
        output.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

#[test]
fn cli_exit_codes() {
    let out = tempfile::tempdir().unwrap();
    let out_dir = out.path().to_str().unwrap();
    let (ledger, statement) = (l("amount_mismatch"), s("amount_mismatch"));
    // Breaks are findings: exit 0, reports written.
    let (code, stderr) = reckon(&[
        "recon",
        "--ledger",
        &ledger,
        "--statement",
        &statement,
        "--format",
        "generic",
        "--out",
        out_dir,
        "--cutoff",
        "2026-11-21 23:59:59",
    ]);
    assert_eq!(code, 0, "{stderr}");
    assert!(out.path().join("diff.csv").exists());
    assert!(out.path().join("manifest.json").exists());
    // A missing input: 1, naming the file.
    let (code, stderr) = reckon(&[
        "recon",
        "--ledger",
        "no/such/ledger.csv",
        "--statement",
        &statement,
        "--format",
        "generic",
        "--out",
        out_dir,
    ]);
    assert_eq!(code, 1, "{stderr}");
    assert!(stderr.contains("no/such/ledger.csv"), "{stderr}");
    // A corrupt statement (a WeChat bill whose totals disagree with its rows): 1.
    let (code, stderr) = reckon(&[
        "recon",
        "--ledger",
        &ledger,
        "--statement",
        "fixtures/recon/statements/wechat_bad_total_20261121.csv",
        "--format",
        "wechat",
        "--out",
        out_dir,
    ]);
    assert_eq!(code, 1, "{stderr}");
    // Usage: an unknown format, a missing --out, a mapping with wechat.
    let (code, _) = reckon(&[
        "recon",
        "--ledger",
        &ledger,
        "--statement",
        &statement,
        "--format",
        "csv",
        "--out",
        out_dir,
    ]);
    assert_eq!(code, 2);
    let (code, _) = reckon(&[
        "recon",
        "--ledger",
        &ledger,
        "--statement",
        &statement,
        "--format",
        "generic",
    ]);
    assert_eq!(code, 2);
    let (code, stderr) = reckon(&[
        "recon",
        "--ledger",
        &ledger,
        "--statement",
        &statement,
        "--format",
        "wechat",
        "--mapping",
        "fixtures/recon/statements/bank_signed_mapping.toml",
        "--out",
        out_dir,
    ]);
    assert_eq!(code, 2, "{stderr}");
}
