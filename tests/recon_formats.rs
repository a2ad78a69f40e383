//! Statement readers on the sample files in `fixtures/recon/statements/`
//! (written by `fixtures/recon/make_statements.py`). Expected values are the
//! hand-written figures of that script, not the readers' own output.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use chrono::{NaiveDateTime, Utc};
use reckon::jobs::recon::formats::{
    FormatError, FormatName, GenericMapping, LedgerStatus, ReadOptions, RecordKind, RejectReason,
    Statement, StatementFormat, await_statement, read_ledger_file, read_statement,
};
use reckon::schedule::SystemClock;
use rust_decimal::Decimal;
use tokio_util::sync::CancellationToken;

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures/recon/statements")
        .join(name)
}

fn dec(text: &str) -> Decimal {
    text.parse().expect("test decimal")
}

fn mapping(name: &str) -> StatementFormat {
    let text = std::fs::read_to_string(fixture(name)).expect("mapping file");
    let mapping = GenericMapping::from_toml_str(&text).expect("valid mapping");
    StatementFormat::new(FormatName::Generic, Some(mapping)).expect("generic format")
}

fn read(name: &str, format: &StatementFormat) -> Result<Statement, FormatError> {
    read_statement(&fixture(name), format, ReadOptions::default())
}

fn read_ok(name: &str, format: &StatementFormat) -> Statement {
    read(name, format).unwrap_or_else(|e| panic!("{name}: {e}"))
}

/// One expected record: key, kind, amount, status, fee, time, line.
type Expected<'a> = (
    &'a str,
    RecordKind,
    &'a str,
    LedgerStatus,
    Option<&'a str>,
    &'a str,
    u64,
);

const PAY: RecordKind = RecordKind::Payment;
const REF: RecordKind = RecordKind::Refund;
use LedgerStatus::{Closed, Refund, Success};

/// Checks every record (in file order) and that each names its file.
fn check_records(statement: &Statement, file: &str, expected: &[Expected<'_>]) {
    let got: Vec<_> = statement
        .records
        .iter()
        .map(|r| {
            assert_eq!(r.file.as_ref(), fixture(file).as_path());
            (
                r.key.as_str(),
                r.kind,
                r.amount.to_string(),
                r.status,
                r.fee.map(|f| f.to_string()),
                r.time,
                r.line,
            )
        })
        .collect();
    let want: Vec<_> = expected
        .iter()
        .map(|(key, kind, amount, status, fee, time, line)| {
            let time = NaiveDateTime::parse_from_str(time, "%Y-%m-%d %H:%M:%S").expect("time");
            (
                *key,
                *kind,
                amount.to_string(),
                *status,
                fee.map(str::to_string),
                time,
                *line,
            )
        })
        .collect();
    assert_eq!(got, want, "{file}");
}

/// Checks the read totals: payments, payment sum, refunds, refund sum, fees, rejects.
fn check_read(statement: &Statement, totals: (u64, &str, u64, &str, &str, u64)) {
    let read = &statement.read;
    let got = (
        read.payments,
        read.payment_amount,
        read.refunds,
        read.refund_amount,
        read.fee_amount,
        read.rejects,
    );
    let (payments, payment_amount, refunds, refund_amount, fees, rejects) = totals;
    let want = (
        payments,
        dec(payment_amount),
        refunds,
        dec(refund_amount),
        dec(fees),
        rejects,
    );
    assert_eq!(got, want, "{}", statement.file.display());
    assert_eq!(
        read.rows(),
        statement.records.len() as u64 + statement.rejects.len() as u64
    );
}

/// Checks the rejects: line, reason code, a fragment of the reason and of the raw line.
fn check_rejects(statement: &Statement, file: &str, expected: &[(u64, &str, &str, &str)]) {
    assert_eq!(
        statement.rejects.len(),
        expected.len(),
        "{file}: {:#?}",
        statement.rejects
    );
    for (reject, (line, code, reason, raw)) in statement.rejects.iter().zip(expected) {
        assert_eq!(reject.file.as_ref(), fixture(file).as_path());
        assert_eq!(
            (reject.line, reject.reason.code()),
            (*line, *code),
            "{reject:?}"
        );
        assert!(
            reject.reason.to_string().contains(reason),
            "{reject:?} lacks {reason}"
        );
        assert!(reject.raw.contains(raw), "{reject:?} raw lacks {raw}");
    }
}

const WECHAT_MAIN: &[Expected<'static>] = &[
    (
        "P20261121000001",
        PAY,
        "128.00",
        Success,
        Some("0.77"),
        "2026-11-21 09:15:02",
        2,
    ),
    (
        "P20261121000002",
        PAY,
        "59.90",
        Success,
        Some("0.36"),
        "2026-11-21 10:30:45",
        3,
    ),
    (
        "P20261121000003",
        PAY,
        "2500.00",
        Success,
        Some("15.00"),
        "2026-11-21 13:05:11",
        4,
    ),
    (
        "P20261121000004",
        PAY,
        "35.00",
        Closed,
        Some("0.00"),
        "2026-11-21 15:20:00",
        5,
    ),
    (
        "R20261121000001",
        REF,
        "28.00",
        Refund,
        Some("-0.17"),
        "2026-11-21 18:40:13",
        6,
    ),
    (
        "P20261121000005",
        PAY,
        "88.00",
        Success,
        Some("0.53"),
        "2026-11-21 23:58:30",
        7,
    ),
    (
        "R20261121000002",
        REF,
        "59.90",
        Closed,
        Some("-0.36"),
        "2026-11-21 20:10:00",
        8,
    ),
];

#[test]
fn wechat_bill_with_backticks_refund_rows_and_summary() {
    let s = read_ok("wechat_20261121.csv", &StatementFormat::Wechat);
    check_records(&s, "wechat_20261121.csv", WECHAT_MAIN);
    check_read(&s, (5, "2810.90", 2, "87.90", "16.13", 0));
    let stated = s.stated.as_ref().expect("summary rows");
    assert_eq!((stated.line, stated.count), (10, 7));
    let amounts: Vec<_> = stated
        .amounts
        .iter()
        .map(|a| (a.label.as_str(), a.amount))
        .collect();
    assert_eq!(
        amounts,
        [
            ("应结订单总金额", dec("2810.90")),
            ("退款总金额", dec("87.90")),
            ("充值券退款总金额", dec("0.00")),
            ("手续费总金额", dec("16.13")),
            ("订单总金额", dec("2810.90")),
            ("申请退款总金额", dec("87.90")),
        ]
    );
    assert_eq!(s.format, FormatName::Wechat);
    // Order numbers of refunds are the refunded orders.
    assert_eq!(s.records[4].order_no, "P20261121000001");
}

#[test]
fn wechat_shuffled_columns_and_bom_give_the_same_records() {
    let s = read_ok("wechat_shuffled_20261121.csv", &StatementFormat::Wechat);
    check_records(&s, "wechat_shuffled_20261121.csv", WECHAT_MAIN);
    let header = std::fs::read_to_string(fixture("wechat_shuffled_20261121.csv")).unwrap();
    assert!(
        !header
            .trim_start_matches('\u{feff}')
            .starts_with("交易时间,"),
        "columns not shuffled"
    );
}

#[test]
fn wechat_each_reject_reason_with_file_line_and_raw() {
    let file = "wechat_rejects_20261121.csv";
    let s = read_ok(file, &StatementFormat::Wechat);
    check_rejects(
        &s,
        file,
        &[
            (
                3,
                "field_count",
                "expected 27 fields, found 26",
                "P20261121000105",
            ),
            (4, "bad_amount", "应结订单金额 `12.3O`", "P20261121000106"),
            (
                5,
                "bad_time",
                "交易时间 `2026-11-21 25:61:00`",
                "P20261121000107",
            ),
            (
                6,
                "unknown_status",
                "交易状态 `USERPAYING`",
                "P20261121000108",
            ),
            (
                7,
                "missing_key",
                "商户订单号 is empty",
                "4200001234202611210000000109",
            ),
        ],
    );
    let keys: Vec<_> = s.records.iter().map(|r| (r.key.as_str(), r.line)).collect();
    assert_eq!(
        keys,
        [
            ("P20261121000101", 2),
            ("P20261121000102", 8),
            ("P20261121000103", 9),
            ("P20261121000104", 10),
            ("P20261121000110", 11),
            ("R20261121000101", 12),
        ]
    );
    // 10 + 20 + 30 + 40 + 50 accepted payments, one refund of 5.00.
    check_read(&s, (5, "150.00", 1, "5.00", "0.87", 5));
}

#[test]
fn wechat_truncated_file_fails_the_self_check() {
    let err = read("wechat_truncated_20261121.csv", &StatementFormat::Wechat).unwrap_err();
    let FormatError::SelfCheck {
        path, figure, read, ..
    } = &err
    else {
        panic!("want a self-check error, got {err}");
    };
    assert_eq!(path, &fixture("wechat_truncated_20261121.csv"));
    assert!(figure.contains("总交易单数"), "{figure}");
    assert_eq!(read, "5 rows");
    assert!(err.to_string().contains("incomplete or corrupt"), "{err}");
}

#[test]
fn wechat_summary_mismatch_names_stated_and_read() {
    let err = read("wechat_bad_total_20261121.csv", &StatementFormat::Wechat).unwrap_err();
    let FormatError::SelfCheck {
        path,
        figure,
        stated,
        read,
        rejects,
    } = &err
    else {
        panic!("want a self-check error, got {err}");
    };
    assert_eq!(path, &fixture("wechat_bad_total_20261121.csv"));
    assert_eq!(
        (figure.as_str(), stated.as_str(), read.as_str()),
        ("应结订单总金额", "2801.90", "2810.90")
    );
    assert!(rejects.is_empty());
    let message = err.to_string();
    assert!(message.contains("wechat_bad_total_20261121.csv") && message.contains("2801.90"));
}

#[test]
fn wechat_empty_day_with_header_and_zero_summary_is_fine() {
    let s = read_ok("wechat_empty_20261121.csv", &StatementFormat::Wechat);
    assert!(s.records.is_empty() && s.rejects.is_empty());
    assert_eq!(s.stated.as_ref().map(|t| t.count), Some(0));
    check_read(&s, (0, "0", 0, "0", "0", 0));
}

#[test]
fn wechat_mostly_rejects_fails_with_the_rejects() {
    let err = read(
        "wechat_mostly_rejects_20261121.csv",
        &StatementFormat::Wechat,
    )
    .unwrap_err();
    let FormatError::MostlyRejects {
        rejected,
        rows,
        limit_percent,
        ..
    } = &err
    else {
        panic!("want mostly-rejects, got {err}");
    };
    assert_eq!((*rejected, *rows, *limit_percent), (3, 4, 50));
    let lines: Vec<_> = err
        .rejects()
        .iter()
        .map(|r| (r.line, r.reason.code()))
        .collect();
    assert_eq!(
        lines,
        [(3, "bad_amount"), (4, "bad_amount"), (5, "bad_amount")]
    );
}

#[test]
fn wechat_invalid_utf8_line_is_a_reject_with_its_line() {
    let file = "wechat_bad_utf8_20261121.csv";
    let s = read_ok(file, &StatementFormat::Wechat);
    check_rejects(
        &s,
        file,
        &[(9, "bad_encoding", "not valid UTF-8", "P20261121000006")],
    );
    assert_eq!(s.records.len(), 7);
    assert_eq!(s.stated.as_ref().map(|t| t.count), Some(8));
}

const ALIPAY_MAIN: &[Expected<'static>] = &[
    (
        "P20261121000011",
        PAY,
        "199.00",
        Success,
        Some("1.19"),
        "2026-11-21 09:00:03",
        6,
    ),
    (
        "P20261121000012",
        PAY,
        "45.50",
        Success,
        Some("0.27"),
        "2026-11-21 11:22:15",
        7,
    ),
    (
        "P20261121000013",
        PAY,
        "280.00",
        Success,
        Some("1.68"),
        "2026-11-21 23:59:59",
        8,
    ),
    (
        "R20261121000011",
        REF,
        "99.00",
        Refund,
        Some("-0.59"),
        "2026-11-21 16:45:00",
        9,
    ),
];

#[test]
fn alipay_gbk_bill_with_comments_padding_and_footer() {
    let s = read_ok("alipay_20261121.csv", &StatementFormat::Alipay);
    check_records(&s, "alipay_20261121.csv", ALIPAY_MAIN);
    check_read(&s, (3, "524.50", 1, "99.00", "2.55", 0));
    let stated = s.stated.as_ref().expect("footer totals");
    assert_eq!((stated.line, stated.count), (12, 4));
    let amounts: Vec<_> = stated
        .amounts
        .iter()
        .map(|a| (a.label.as_str(), a.amount))
        .collect();
    assert_eq!(
        amounts,
        [
            ("交易合计：笔", dec("3")),
            ("交易合计：商家实收共", dec("524.50")),
            ("交易合计：商家优惠共", dec("20.00")),
            ("退款合计：笔", dec("1")),
            ("退款合计：商家实收退款共", dec("-99.00")),
            ("退款合计：商家优惠退款共", dec("0.00")),
        ]
    );
}

#[test]
fn alipay_missing_row_fails_the_footer_count() {
    let err = read(
        "alipay_count_mismatch_20261121.csv",
        &StatementFormat::Alipay,
    )
    .unwrap_err();
    let FormatError::SelfCheck {
        figure,
        stated,
        read,
        ..
    } = &err
    else {
        panic!("want a self-check error, got {err}");
    };
    assert_eq!(figure, "the number of rows");
    assert_eq!(stated, "4");
    assert!(read.starts_with("3 "), "{read}");
}

#[test]
fn alipay_without_footer_is_incomplete() {
    let err = read("alipay_no_footer_20261121.csv", &StatementFormat::Alipay).unwrap_err();
    let FormatError::SelfCheck { figure, .. } = &err else {
        panic!("want a self-check error, got {err}");
    };
    assert!(figure.contains("#交易合计"), "{figure}");
}

#[test]
fn alipay_empty_day_is_fine() {
    let s = read_ok("alipay_empty_20261121.csv", &StatementFormat::Alipay);
    assert!(s.records.is_empty() && s.rejects.is_empty());
    assert_eq!(s.stated.as_ref().map(|t| t.count), Some(0));
}

#[test]
fn alipay_rejects_including_undecodable_gbk() {
    let file = "alipay_rejects_20261121.csv";
    let s = read_ok(file, &StatementFormat::Alipay);
    check_rejects(
        &s,
        file,
        &[
            (7, "unknown_status", "业务类型 `冻结`", "P20261121000012"),
            (
                8,
                "bad_amount",
                "商家实收（元） `2８0.00`",
                "P20261121000013",
            ),
            (12, "bad_encoding", "not valid GBK", "P20261121000016"),
        ],
    );
    let keys: Vec<_> = s.records.iter().map(|r| (r.key.as_str(), r.line)).collect();
    assert_eq!(
        keys,
        [
            ("P20261121000011", 6),
            ("R20261121000011", 9),
            ("P20261121000014", 10),
            ("P20261121000015", 11),
        ]
    );
}

#[test]
fn bank_gbk_with_title_footer_debit_credit_and_thousands() {
    let format = mapping("bank_gbk_mapping.toml");
    let s = read_ok("bank_gbk_20261121.csv", &format);
    check_records(
        &s,
        "bank_gbk_20261121.csv",
        &[
            (
                "P20261121000021",
                PAY,
                "12800.00",
                Success,
                None,
                "2026-11-21 09:30:00",
                4,
            ),
            (
                "P20261121000022",
                PAY,
                "3500.50",
                Success,
                None,
                "2026-11-21 10:02:00",
                5,
            ),
            (
                "P20261121000021",
                REF,
                "1200.00",
                Refund,
                None,
                "2026-11-21 14:45:00",
                6,
            ),
            (
                "P20261121000023",
                PAY,
                "1000000.00",
                Success,
                None,
                "2026-11-21 16:00:00",
                7,
            ),
        ],
    );
    check_read(&s, (3, "1016300.50", 1, "1200.00", "0", 0));
    assert!(s.stated.is_none());
}

#[test]
fn bank_signed_with_parentheses_and_status_mapping() {
    let format = mapping("bank_signed_mapping.toml");
    let s = read_ok("bank_signed_20261121.csv", &format);
    check_records(
        &s,
        "bank_signed_20261121.csv",
        &[
            (
                "P20261121000031",
                PAY,
                "1250.00",
                Success,
                Some("2.50"),
                "2026-11-21 09:01:00",
                2,
            ),
            (
                "P20261121000032",
                PAY,
                "860.00",
                Closed,
                Some("0.00"),
                "2026-11-21 10:15:00",
                3,
            ),
            (
                "RF20261121000031",
                REF,
                "250.00",
                Refund,
                Some("-0.50"),
                "2026-11-21 17:00:00",
                4,
            ),
            (
                "P20261121000033",
                PAY,
                "99.99",
                Success,
                None,
                "2026-11-21 23:59:59",
                5,
            ),
        ],
    );
    check_read(&s, (3, "2209.99", 1, "250.00", "2.00", 0));
}

#[test]
fn ledger_file_with_fee_and_refund_no() {
    let s = read_ledger_file(&fixture("ledger_20261121.csv"), ReadOptions::default()).unwrap();
    check_records(
        &s,
        "ledger_20261121.csv",
        &[
            (
                "P20261121000001",
                PAY,
                "128.00",
                Success,
                Some("0.77"),
                "2026-11-21 09:15:02",
                2,
            ),
            (
                "P20261121000002",
                PAY,
                "59.90",
                Success,
                Some("0.36"),
                "2026-11-21 10:30:45",
                3,
            ),
            (
                "P20261121000003",
                PAY,
                "2500.00",
                Success,
                Some("15.00"),
                "2026-11-21 13:05:10",
                4,
            ),
            (
                "P20261121000004",
                PAY,
                "35.00",
                Closed,
                None,
                "2026-11-21 15:20:00",
                5,
            ),
            (
                "R20261121000001",
                REF,
                "28.00",
                Refund,
                Some("-0.17"),
                "2026-11-21 18:40:13",
                6,
            ),
            (
                "P20261121000005",
                PAY,
                "88.00",
                Success,
                Some("0.53"),
                "2026-11-21 23:58:30",
                7,
            ),
            (
                "P20261121000006",
                PAY,
                "15.00",
                Success,
                Some("0.09"),
                "2026-11-21 21:00:00",
                8,
            ),
        ],
    );
    check_read(&s, (6, "2825.90", 1, "28.00", "16.58", 0));
}

#[test]
fn ledger_minimal_header_in_any_order() {
    // `--format generic` without a mapping reads the ledger layout.
    let format = StatementFormat::new(FormatName::Generic, None).unwrap();
    let s = read_ok("ledger_minimal_20261121.csv", &format);
    check_records(
        &s,
        "ledger_minimal_20261121.csv",
        &[
            (
                "P20261121000041",
                PAY,
                "10.00",
                Success,
                None,
                "2026-11-21 08:00:00",
                2,
            ),
            (
                "P20261121000042",
                PAY,
                "20.50",
                Closed,
                None,
                "2026-11-21 08:30:00",
                3,
            ),
        ],
    );
}

#[test]
fn ledger_header_only_is_a_day_without_transactions() {
    let s = read_ledger_file(
        &fixture("ledger_header_only_20261121.csv"),
        ReadOptions::default(),
    )
    .unwrap();
    assert!(s.records.is_empty() && s.rejects.is_empty());
}

#[test]
fn ledger_each_reject_reason_and_the_limit() {
    let file = "ledger_rejects_20261121.csv";
    let s = read_ledger_file(&fixture(file), ReadOptions::default()).unwrap();
    check_rejects(
        &s,
        file,
        &[
            (
                3,
                "field_count",
                "expected 6 fields, found 3",
                "P20261121000052,20.00,SUCCESS",
            ),
            (4, "bad_amount", "amount `1,000.00`", "P20261121000053"),
            (5, "bad_amount", "amount `10.005`", "P20261121000054"),
            (
                6,
                "bad_time",
                "completed_at `2026-11-21`",
                "P20261121000055",
            ),
            (7, "unknown_status", "status `PAID`", "P20261121000056"),
            (
                8,
                "missing_key",
                "refund_no is empty",
                "P20261121000051,5.00,REFUND",
            ),
            (9, "missing_key", "order_no is empty", ",10.00,SUCCESS"),
        ],
    );
    // 7 of 14 rows rejected: exactly 50 % passes the default limit, not a 40 % one.
    check_read(&s, (7, "70.00", 0, "0", "0.42", 7));
    let strict = ReadOptions {
        reject_limit_percent: 40,
    };
    let err = read_ledger_file(&fixture(file), strict).unwrap_err();
    assert!(
        matches!(
            err,
            FormatError::MostlyRejects {
                rejected: 7,
                rows: 14,
                ..
            }
        ),
        "{err}"
    );
}

#[test]
fn mapping_errors_are_refused_up_front() {
    for (toml, fragment) in [
        (
            "[columns]\norder_no = \"a\"\ntime = \"t\"\n",
            "either `columns.amount`",
        ),
        (
            "[columns]\norder_no = \"a\"\ntime = \"t\"\namount = \"x\"\ndebit = \"d\"\n",
            "either `columns.amount`",
        ),
        (
            "[columns]\norder_no = \"a\"\ntime = \"t\"\namount = \"x\"\nstatus = \"s\"\n",
            "`statuses` maps nothing",
        ),
        (
            "colour = \"red\"\n[columns]\norder_no = \"a\"\ntime = \"t\"\namount = \"x\"\n",
            "colour",
        ),
        (
            "[columns]\norder_no = \"a\"\ntime = \"t\"\namount = \"x\"\nstatus = \"s\"\n[statuses]\nok = \"PAID\"\n",
            "PAID",
        ),
    ] {
        let err = GenericMapping::from_toml_str(toml).unwrap_err();
        assert!(err.to_string().contains(fragment), "{toml}: {err}");
    }
    let mapping = GenericMapping::from_toml_str(
        &std::fs::read_to_string(fixture("bank_gbk_mapping.toml")).unwrap(),
    )
    .unwrap();
    let err = StatementFormat::new(FormatName::Wechat, Some(mapping)).unwrap_err();
    assert!(
        err.to_string().contains("only applies to --format generic"),
        "{err}"
    );
}

#[test]
fn missing_column_is_named() {
    // A WeChat reader given an Alipay bill: its header lacks 交易时间.
    let err = read("ledger_20261121.csv", &StatementFormat::Wechat).unwrap_err();
    let FormatError::MissingColumn { column, line, .. } = &err else {
        panic!("want a missing column, got {err}");
    };
    assert_eq!((column.as_str(), *line), ("交易时间", 1));
}

#[test]
fn reject_reasons_print_their_code_first() {
    let reason = RejectReason::FieldCount {
        expected: 6,
        found: 3,
    };
    assert_eq!(
        reason.to_string(),
        "field_count: expected 6 fields, found 3"
    );
}

#[tokio::test]
async fn missing_statement_waits_then_fails_naming_the_path() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("wechat_20261121.csv");
    let started = std::time::Instant::now();
    let deadline = Utc::now() + chrono::Duration::milliseconds(300);
    let err = await_statement(
        &path,
        Duration::from_millis(50),
        deadline,
        CancellationToken::new(),
        &SystemClock,
    )
    .await
    .unwrap_err();
    assert!(
        started.elapsed() >= Duration::from_millis(300),
        "gave up early"
    );
    let FormatError::NotArrived {
        path: named,
        detail,
        ..
    } = &err
    else {
        panic!("want not-arrived, got {err}");
    };
    assert_eq!(named, &path);
    assert_eq!(detail, "no such file");
    assert!(err.to_string().contains("wechat_20261121.csv"), "{err}");
}

#[tokio::test]
async fn statement_arriving_during_the_wait_is_read() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("alipay_20261121.csv");
    let writer_path = path.clone();
    let writer = tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(150)).await;
        std::fs::copy(fixture("alipay_20261121.csv"), &writer_path).unwrap();
    });
    let deadline = Utc::now() + chrono::Duration::seconds(5);
    let started = std::time::Instant::now();
    let found = await_statement(
        &path,
        Duration::from_millis(30),
        deadline,
        CancellationToken::new(),
        &SystemClock,
    )
    .await
    .unwrap();
    writer.await.unwrap();
    assert!(started.elapsed() >= Duration::from_millis(150));
    assert_eq!(found, path);
    let s = read_statement(&found, &StatementFormat::Alipay, ReadOptions::default()).unwrap();
    assert_eq!(s.records.len(), 4);
}

#[tokio::test]
async fn statement_already_there_after_the_deadline_is_read() {
    // A rerun days later: the deadline has passed but the file is complete.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("alipay_20261121.csv");
    std::fs::copy(fixture("alipay_20261121.csv"), &path).unwrap();
    let deadline = Utc::now() - chrono::Duration::days(2);
    let found = await_statement(
        &path,
        Duration::from_millis(10),
        deadline,
        CancellationToken::new(),
        &SystemClock,
    )
    .await
    .unwrap();
    assert_eq!(found, path);
    // An empty file after the deadline is still refused.
    let empty = dir.path().join("empty.csv");
    std::fs::write(&empty, b"").unwrap();
    let err = await_statement(
        &empty,
        Duration::from_millis(10),
        deadline,
        CancellationToken::new(),
        &SystemClock,
    )
    .await
    .unwrap_err();
    assert!(err.to_string().contains("still empty"), "{err}");
}

#[tokio::test]
async fn waiting_stops_when_cancelled() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("late.csv");
    let cancel = CancellationToken::new();
    let trigger = cancel.clone();
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(50)).await;
        trigger.cancel();
    });
    let deadline = Utc::now() + chrono::Duration::seconds(30);
    let clock = Arc::new(SystemClock);
    let err = await_statement(
        &path,
        Duration::from_millis(20),
        deadline,
        cancel,
        clock.as_ref(),
    )
    .await
    .unwrap_err();
    assert!(matches!(err, FormatError::Cancelled { .. }), "{err}");
}

/// Reads in-memory bytes as if they were the file `memo.csv`.
fn parse(bytes: &[u8], format: &StatementFormat) -> Result<Statement, FormatError> {
    reckon::jobs::recon::formats::parse_statement(
        Path::new("memo.csv"),
        bytes,
        format,
        ReadOptions::default(),
    )
}

fn layout_error(result: Result<Statement, FormatError>) -> (u64, String) {
    match result {
        Err(FormatError::Layout { path, line, reason }) => {
            assert_eq!(path, Path::new("memo.csv"));
            (line, reason)
        }
        other => panic!("want a layout error, got {other:?}"),
    }
}

#[test]
fn undecodable_header_is_a_layout_error_not_a_reject() {
    let mut bytes = b"order_no,amount,status,completed_at,\xFF\n".to_vec();
    bytes.extend_from_slice(b"P1,1.00,SUCCESS,2026-11-21 10:00:00,x\n");
    let ledger = StatementFormat::new(FormatName::Generic, None).unwrap();
    let (line, reason) = layout_error(parse(&bytes, &ledger));
    assert_eq!(line, 1);
    assert!(reason.contains("not valid UTF-8"), "{reason}");
}

#[test]
fn text_after_the_summary_or_below_the_footer_is_refused() {
    let mut wechat = std::fs::read(fixture("wechat_20261121.csv")).unwrap();
    wechat.extend_from_slice("`2026-11-21 23:59:59,`stray\r\n".as_bytes());
    let (line, reason) = layout_error(parse(&wechat, &StatementFormat::Wechat));
    assert_eq!(line, 11);
    assert!(reason.contains("after the summary"), "{reason}");

    let mut alipay = std::fs::read(fixture("alipay_20261121.csv")).unwrap();
    alipay.extend_from_slice(b"stray,row\r\n");
    let (line, reason) = layout_error(parse(&alipay, &StatementFormat::Alipay));
    assert_eq!(line, 14);
    assert!(reason.contains("below the `#` footer"), "{reason}");
}

#[test]
fn streaming_hands_out_the_same_records_in_file_order() {
    let bytes = std::fs::read(fixture("wechat_20261121.csv")).unwrap();
    let mut keys = Vec::new();
    let summary = reckon::jobs::recon::formats::stream_statement(
        Path::new("memo.csv"),
        &bytes,
        &StatementFormat::Wechat,
        ReadOptions::default(),
        &mut |record| keys.push((record.key, record.line)),
    )
    .unwrap();
    let want: Vec<_> = WECHAT_MAIN.iter().map(|e| (e.0.to_string(), e.6)).collect();
    assert_eq!(keys, want);
    assert_eq!(
        (summary.read.count(), summary.read.amount()),
        (7, dec("2898.80"))
    );
}

#[test]
fn generic_comments_blank_lines_and_footer_skipping() {
    let mapping = GenericMapping::from_toml_str(
        r##"
        skip_lines = 1
        skip_footer_lines = 1
        comment = "#"
        datetime_format = "%Y%m%d"
        [columns]
        order_no = "ref"
        amount = "amt"
        time = "date"
        "##,
    )
    .unwrap();
    let text = "Statement of account\n\nref,amt,date\n# opening balance\nA1,5.00,20261121\n\nA2,-2.50,20261121\nTotal 2.50\n\n";
    let format = StatementFormat::new(FormatName::Generic, Some(mapping)).unwrap();
    let s = parse(text.as_bytes(), &format).unwrap();
    let got: Vec<_> = s
        .records
        .iter()
        .map(|r| {
            (
                r.key.as_str(),
                r.kind,
                r.amount.to_string(),
                r.status,
                r.line,
            )
        })
        .collect();
    assert_eq!(
        got,
        [
            ("A1", PAY, "5.00".to_string(), Success, 5),
            ("A2", REF, "2.50".to_string(), Refund, 7),
        ]
    );
    assert!(s.rejects.is_empty());
}

#[test]
fn rejects_report_lists_every_reject_in_file_and_line_order() {
    let ledger = StatementFormat::new(FormatName::Generic, None).unwrap();
    let text = "order_no,amount,status,completed_at\nB,1.00,PAID,2026-11-21 10:00:00\nC,\"2,5\",SUCCESS,2026-11-21 10:00:00\nD,1.00,SUCCESS,2026-11-21 10:00:00\nE,1.00,SUCCESS,2026-11-21 10:00:00\n";
    let first = parse(text.as_bytes(), &ledger).unwrap();
    let other = reckon::jobs::recon::formats::parse_statement(
        Path::new("a.csv"),
        b"order_no,amount,status,completed_at\nA,1.00,SUCCESS,21/11/2026\nF,1.00,SUCCESS,2026-11-21 10:00:00\n",
        &ledger,
        ReadOptions::default(),
    )
    .unwrap();
    let all: Vec<_> = first.rejects.iter().chain(&other.rejects).collect();
    let (name, bytes, rows) = reckon::jobs::recon::formats::rejects_report(&all, false)
        .unwrap()
        .finish()
        .unwrap();
    assert_eq!((name.as_str(), rows), ("rejects.csv", 3));
    assert_eq!(
        String::from_utf8(bytes).unwrap(),
        "file,line,reason_code,reason,raw\n\
         a.csv,2,bad_time,bad_time: completed_at `21/11/2026` is not a date-time,\"A,1.00,SUCCESS,21/11/2026\"\n\
         memo.csv,2,unknown_status,unknown_status: status `PAID` is not a known status,\"B,1.00,PAID,2026-11-21 10:00:00\"\n\
         memo.csv,3,bad_amount,\"bad_amount: amount `2,5` is not an amount in cents\",\"C,\"\"2,5\"\",SUCCESS,2026-11-21 10:00:00\"\n"
    );
}
