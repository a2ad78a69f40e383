//! The statement readers and the engine on bills laid out exactly as the
//! channels publish them (fixtures/recon/published/, written by
//! make_published.py after the sources cited in docs/recon-formats.md).
//! Each test names the rule it pins; every one of them failed before the
//! readers followed the published layouts. Expected values are hand figures.

use std::path::{Path, PathBuf};

use chrono::NaiveDateTime;
use reckon::jobs::recon::engine::adhoc::{AdhocRequest, run_adhoc};
use reckon::jobs::recon::engine::{Category, CompareConfig};
use reckon::jobs::recon::formats::{
    FormatError, FormatName, GenericMapping, LedgerStatus, NO_BILL_NOTE, ReadOptions, Record,
    RecordKind, Statement, StatementFormat, parse_statement, read_statement,
};
use rust_decimal::Decimal;

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures/recon/published")
        .join(name)
}

fn dec(text: &str) -> Decimal {
    text.parse().expect("test decimal")
}

fn read(name: &str, format: &StatementFormat) -> Result<Statement, FormatError> {
    read_statement(&fixture(name), format, ReadOptions::default())
}

fn read_ok(name: &str, format: &StatementFormat) -> Statement {
    read(name, format).unwrap_or_else(|e| panic!("{name}: {e}"))
}

fn bank() -> StatementFormat {
    let text = std::fs::read_to_string(fixture("bank_export_mapping.toml")).unwrap();
    let mapping = GenericMapping::from_toml_str(&text).unwrap();
    StatementFormat::new(FormatName::Generic, Some(mapping)).unwrap()
}

/// (key, order, kind, amount, fee, status, time, line)
type Want<'a> = (
    &'a str,
    &'a str,
    RecordKind,
    &'a str,
    &'a str,
    LedgerStatus,
    &'a str,
    u64,
);

fn check(records: &[Record], want: &[Want<'_>]) {
    let got: Vec<_> = records
        .iter()
        .map(|r| {
            (
                r.key.clone(),
                r.order_no.clone(),
                r.kind,
                r.amount.to_string(),
                r.fee.map(|f| f.to_string()).unwrap_or_default(),
                r.status,
                r.time.format("%Y-%m-%d %H:%M:%S").to_string(),
                r.line,
            )
        })
        .collect();
    let want: Vec<_> = want
        .iter()
        .map(|w| {
            (
                w.0.to_string(),
                w.1.to_string(),
                w.2,
                w.3.to_string(),
                w.4.to_string(),
                w.5,
                w.6.to_string(),
                w.7,
            )
        })
        .collect();
    assert_eq!(got, want);
}

use LedgerStatus::{Closed, Refund, RefundException, Success};
use RecordKind::{Payment, Refund as RefundKind};

/// WeChat ALL bill (E1–E3, E6, E8–E10): BOM, `\r\n`, backtick-led unquoted
/// fields with commas and JSON inside, 5-decimal fees down to 0.00006,
/// REFUNDCLOSE and CHANGE refunds.
const WECHAT_ALL: [Want<'static>; 6] = [
    (
        "P20240709000001",
        "P20240709000001",
        Payment,
        "6.00",
        "0.04000",
        Success,
        "2024-07-09 09:12:01",
        2,
    ),
    (
        "P20240709000002",
        "P20240709000002",
        Payment,
        "60.00",
        "0.32000",
        Success,
        "2024-07-09 10:20:33",
        3,
    ),
    (
        "P20240709000003",
        "P20240709000003",
        Payment,
        "0.01",
        "0.00006",
        Success,
        "2024-07-09 11:00:00",
        4,
    ),
    (
        "R20240709000001",
        "P20240625000009",
        RefundKind,
        "50.00",
        "-0.27000",
        Refund,
        "2024-07-09 14:05:11",
        5,
    ),
    (
        "R20240709000002",
        "P20240709000002",
        RefundKind,
        "10.00",
        "0.00000",
        Closed,
        "2024-07-09 15:00:00",
        6,
    ),
    (
        "R20240709000003",
        "P20240709000002",
        RefundKind,
        "5.00",
        "-0.03000",
        RefundException,
        "2024-07-09 16:30:00",
        7,
    ),
];

#[test]
fn wechat_all_bill_as_published() {
    let s = read_ok("wechat_all_20240709.csv", &StatementFormat::Wechat);
    assert!(s.rejects.is_empty(), "{:?}", s.rejects);
    check(&s.records, &WECHAT_ALL);
    let stated = s.stated.as_ref().expect("summary");
    assert_eq!((stated.line, stated.count), (9, 6));
    assert_eq!(s.read.fee_amount, dec("0.06006"));
    assert!(s.notes.is_empty(), "{:?}", s.notes);
}

#[test]
fn wechat_gzip_download_reads_the_same_bill() {
    let plain = read_ok("wechat_all_20240709.csv", &StatementFormat::Wechat);
    let gz = read_ok("wechat_all_20240709.csv.gz", &StatementFormat::Wechat);
    assert_eq!(plain.records.len(), gz.records.len());
    for (a, b) in plain.records.iter().zip(&gz.records) {
        assert_eq!(
            (&a.key, a.amount, a.fee, a.status, a.line),
            (&b.key, b.amount, b.fee, b.status, b.line)
        );
    }
}

#[test]
fn wechat_success_bill_is_detected_from_its_20_columns() {
    let s = read_ok("wechat_success_20240709.csv", &StatementFormat::Wechat);
    check(&s.records, &WECHAT_ALL[..3]);
    assert!(
        s.notes.iter().any(|n| n.contains("bill_type=SUCCESS")),
        "{:?}",
        s.notes
    );
}

#[test]
fn wechat_refund_bill_uses_the_refund_success_time() {
    let s = read_ok("wechat_refund_20240709.csv", &StatementFormat::Wechat);
    let mut want = WECHAT_ALL[3..].to_vec();
    // 退款成功时间 where the bill states it; 交易时间 when it is empty.
    want[0].6 = "2024-07-09 14:06:02";
    want[0].7 = 2;
    want[1].7 = 3;
    want[2].6 = "2024-07-09 16:30:41";
    want[2].7 = 4;
    check(&s.records, &want);
    assert!(
        s.notes.iter().any(|n| n.contains("bill_type=REFUND")),
        "{:?}",
        s.notes
    );
}

#[test]
fn wechat_old_success_layout_with_roncoo_sample_rows() {
    // E5: 18 columns, 总金额 for 应结订单金额, summary 总交易额 (checked: 127.50).
    let s = read_ok("wechat_success_2016_roncoo.csv", &StatementFormat::Wechat);
    let keys: Vec<_> = s
        .records
        .iter()
        .map(|r| (r.key.as_str(), r.amount, r.fee))
        .collect();
    assert_eq!(
        keys,
        [
            ("PAY2016021610017753", dec("32.50"), Some(dec("0.20000"))),
            ("PAY2016021610017685", dec("95.00"), Some(dec("0.57000"))),
        ]
    );
    let bytes = std::fs::read(fixture("wechat_success_2016_roncoo.csv")).unwrap();
    let wrong = String::from_utf8(bytes)
        .unwrap()
        .replace("`127.50", "`127.40");
    let err = parse_statement(
        Path::new("old.csv"),
        wrong.as_bytes(),
        &StatementFormat::Wechat,
        ReadOptions::default(),
    )
    .unwrap_err();
    assert!(
        err.to_string()
            .contains("总交易额 = 127.40, its rows give 127.50"),
        "{err}"
    );
}

#[test]
fn wechat_no_bill_exist_answer_is_an_empty_day_with_a_note() {
    let s = read_ok("wechat_nobill_20240710.csv", &StatementFormat::Wechat);
    assert!(s.records.is_empty() && s.rejects.is_empty());
    assert_eq!(s.notes, [NO_BILL_NOTE.to_string()]);
    // Any other error answer is refused, naming WeChat's message.
    let other = "<xml><return_code><![CDATA[FAIL]]></return_code><return_msg><![CDATA[签名错误]]></return_msg></xml>";
    let err = parse_statement(
        Path::new("x.csv"),
        other.as_bytes(),
        &StatementFormat::Wechat,
        ReadOptions::default(),
    )
    .unwrap_err();
    assert!(err.to_string().contains("签名错误"), "{err}");
}

#[test]
fn wechat_summary_contradicting_the_rows_is_refused() {
    let text = std::fs::read_to_string(fixture("wechat_all_20240709.csv")).unwrap();
    let wrong = text.replace("`0.06006", "`0.06007");
    let err = parse_statement(
        Path::new("w.csv"),
        wrong.as_bytes(),
        &StatementFormat::Wechat,
        ReadOptions::default(),
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
    assert_eq!(
        (figure.as_str(), stated.as_str(), read.as_str()),
        ("手续费总金额", "0.06007", "0.06006")
    );
}

/// Alipay detail (A1, A3, A6): 服务费 negated to charged-positive; refunds
/// keyed by 退款批次号/请求号, which is the order number for the refund made
/// without out_request_no; 完成时间.
const ALIPAY: [Want<'static>; 5] = [
    (
        "P20261121000011",
        "P20261121000011",
        Payment,
        "199.00",
        "1.19",
        Success,
        "2026-11-21 09:00:03",
        6,
    ),
    (
        "P20261121000012",
        "P20261121000012",
        Payment,
        "45.50",
        "0.27",
        Success,
        "2026-11-21 11:22:15",
        7,
    ),
    (
        "P20261121000013",
        "P20261121000013",
        Payment,
        "280.00",
        "1.68",
        Success,
        "2026-11-21 23:59:59",
        8,
    ),
    (
        "R20261121000011",
        "P20261121000011",
        RefundKind,
        "99.00",
        "-0.59",
        Refund,
        "2026-11-21 16:45:00",
        9,
    ),
    (
        "P20261121000012",
        "P20261121000012",
        RefundKind,
        "45.50",
        "-0.27",
        Refund,
        "2026-11-21 18:00:00",
        10,
    ),
];

#[test]
fn alipay_detail_fee_sign_and_real_footer() {
    let s = read_ok("alipay_detail_20261121.csv", &StatementFormat::Alipay);
    check(&s.records, &ALIPAY);
    assert_eq!(s.read.fee_amount, dec("2.28"));
    let stated = s.stated.as_ref().expect("footer");
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
            ("退款合计：笔", dec("2")),
            ("退款合计：商家实收退款共", dec("-144.50")),
            ("退款合计：商家优惠退款共", dec("0.00")),
        ]
    );
    assert_eq!((stated.line, stated.count), (13, 5));
}

#[test]
fn alipay_footer_amount_contradicting_the_rows_is_refused() {
    let err = read(
        "alipay_footer_mismatch_20261121.csv",
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
    assert_eq!(
        (figure.as_str(), stated.as_str(), read.as_str()),
        ("交易合计：商家实收共", "524.60", "524.50")
    );
}

#[test]
fn alipay_footer_without_its_label_is_an_error_naming_the_line() {
    let err = read(
        "alipay_footer_label_missing_20261121.csv",
        &StatementFormat::Alipay,
    )
    .unwrap_err();
    let FormatError::Layout { line, reason, .. } = &err else {
        panic!("want a layout error, got {err}");
    };
    assert_eq!(*line, 12);
    assert!(reason.contains("商家实收共"), "{reason}");
}

#[test]
fn alipay_verbatim_2019_bill_reads_and_checks() {
    // A1 verbatim: 6 trades of 0.01, 4 refunds of -0.01 with their request numbers.
    let s = read_ok("alipay_qdingnet_20190916.csv", &StatementFormat::Alipay);
    assert!(s.rejects.is_empty());
    assert_eq!((s.read.payments, s.read.refunds), (6, 4));
    assert_eq!(
        (s.read.payment_amount, s.read.refund_amount),
        (dec("0.06"), dec("0.04"))
    );
    let refund = &s.records[1];
    assert_eq!(
        (refund.key.as_str(), refund.order_no.as_str(), refund.kind),
        ("re_test_1568602607356", "service_1568601259302", RefundKind)
    );
    assert_eq!(refund.time.to_string(), "2019-09-16 10:56:48");
}

#[test]
fn alipay_zip_reads_the_detail_member_and_checks_the_summary_member() {
    let zipped = read_ok(
        "20889211234567890156_20261121.csv.zip",
        &StatementFormat::Alipay,
    );
    check(&zipped.records, &ALIPAY);
    assert!(
        zipped.notes.iter().any(|n| n.contains("业务明细(汇总)")),
        "{:?}",
        zipped.notes
    );
    let err = read(
        "20889211234567890156_20261121_bad_summary.csv.zip",
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
    assert!(figure.ends_with("商家实收（元）"), "{figure}");
    assert_eq!(
        (stated.as_str(), read.as_str()),
        ("380.5", "380 from the detail rows")
    );
}

#[test]
fn bank_export_with_date_and_time_columns_and_a_checked_total_row() {
    let s = read_ok("bank_export_20261121.csv", &bank());
    let got: Vec<_> = s
        .records
        .iter()
        .map(|r| {
            (
                r.key.as_str(),
                r.kind,
                r.amount.to_string(),
                r.time.to_string(),
                r.line,
            )
        })
        .collect();
    assert_eq!(
        got,
        [
            (
                "P20261121000021",
                Payment,
                "12800.00".to_string(),
                "2026-11-21 09:30:12".to_string(),
                5
            ),
            (
                "P20261121000022",
                Payment,
                "3500.50".to_string(),
                "2026-11-21 10:02:45".to_string(),
                6
            ),
            (
                "P20261121000021",
                RefundKind,
                "1200.00".to_string(),
                "2026-11-21 14:45:00".to_string(),
                7
            ),
            (
                "P20261121000023",
                Payment,
                "1000000.00".to_string(),
                "2026-11-21 16:00:09".to_string(),
                8
            ),
        ]
    );
    let err = read("bank_export_bad_total_20261121.csv", &bank()).unwrap_err();
    let FormatError::SelfCheck {
        figure,
        stated,
        read,
        ..
    } = &err
    else {
        panic!("want a self-check error, got {err}");
    };
    assert!(
        figure.starts_with("贷方发生额 in the totals row (line 9)"),
        "{figure}"
    );
    assert_eq!(
        (stated.as_str(), read.as_str()),
        ("1016300.00", "1016300.50")
    );
}

fn cutoff() -> NaiveDateTime {
    NaiveDateTime::parse_from_str("2026-11-21 23:59:59", "%Y-%m-%d %H:%M:%S").unwrap()
}

fn adhoc(ledger: &Path, statement: PathBuf, format: StatementFormat, out: &Path) -> AdhocRequest {
    AdhocRequest {
        ledger: ledger.to_path_buf(),
        statement,
        format,
        statement_is_ledger_layout: false,
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

fn report(out: &Path, name: &str) -> String {
    std::fs::read_to_string(out.join(name)).unwrap()
}

/// The summary.csv line of a category.
fn summary_line<'a>(summary: &'a str, category: &str) -> &'a str {
    summary
        .lines()
        .find(|line| line.split(',').next() == Some(category))
        .unwrap_or_else(|| panic!("{category} in {summary}"))
}

#[test]
fn alipay_bill_matches_our_ledger_fee_signs_and_the_refund_without_request_number() {
    // Our ledger, as our books hold it: fees charged positive, returned
    // negative; refund numbers are ours (R…11, R…12).
    let dir = tempfile::tempdir().unwrap();
    let ledger = dir.path().join("ledger.csv");
    std::fs::write(
        &ledger,
        "order_no,amount,status,completed_at,fee,refund_no\n\
         P20261121000011,199.00,SUCCESS,2026-11-21 09:00:03,1.19,\n\
         P20261121000012,45.50,SUCCESS,2026-11-21 11:22:15,0.27,\n\
         P20261121000013,280.00,SUCCESS,2026-11-21 23:59:59,1.68,\n\
         P20261121000011,99.00,REFUND,2026-11-21 16:45:00,-0.59,R20261121000011\n\
         P20261121000012,45.50,REFUND,2026-11-21 18:00:00,-0.27,R20261121000012\n",
    )
    .unwrap();
    let out = dir.path().join("out");
    for statement in [
        "alipay_detail_20261121.csv",
        "20889211234567890156_20261121.csv.zip",
    ] {
        let outcome = run_adhoc(&adhoc(
            &ledger,
            fixture(statement),
            StatementFormat::Alipay,
            &out,
        ))
        .unwrap();
        // By hand: all five rows on both sides match; nothing in diff.csv.
        assert_eq!(
            outcome.comparison.ledger.count(Category::Matched),
            5,
            "{statement}"
        );
        assert_eq!(
            outcome.comparison.statement.count(Category::Matched),
            5,
            "{statement}"
        );
        let summary = report(&out, "summary.csv");
        assert_eq!(
            summary_line(&summary, "matched"),
            "matched,5,669.00,5,669.00"
        );
        assert_eq!(
            summary_line(&summary, "total_read"),
            "total_read,5,669.00,5,669.00"
        );
        assert_eq!(report(&out, "diff.csv").lines().count(), 1, "{statement}");
    }
}

#[test]
fn wechat_change_refund_is_a_refund_exception_with_both_sides() {
    let dir = tempfile::tempdir().unwrap();
    let ledger = dir.path().join("ledger.csv");
    // Ours: the three payments (the 0.01 one with its 0.00006 fee), the
    // refund that went out, and the CHANGE refund we booked as paid out.
    std::fs::write(
        &ledger,
        "order_no,amount,status,completed_at,fee,refund_no\n\
         P20240709000001,6.00,SUCCESS,2024-07-09 09:12:01,0.04,\n\
         P20240709000002,60.00,SUCCESS,2024-07-09 10:20:33,0.32,\n\
         P20240709000003,0.01,SUCCESS,2024-07-09 11:00:00,0.00006,\n\
         P20240625000009,50.00,REFUND,2024-07-09 14:05:11,-0.27,R20240709000001\n\
         P20240709000002,5.00,REFUND,2024-07-09 16:30:00,-0.03,R20240709000003\n",
    )
    .unwrap();
    let out = dir.path().join("out");
    let mut request = adhoc(
        &ledger,
        fixture("wechat_all_20240709.csv"),
        StatementFormat::Wechat,
        &out,
    );
    request.compare.cutoff = None;
    let outcome = run_adhoc(&request).unwrap();
    let c = &outcome.comparison;
    // By hand: 4 matched ours; theirs 4 matched + the REFUNDCLOSE row (no
    // money moved, agrees with our silence); the CHANGE refund on both sides.
    assert_eq!(
        (
            c.ledger.count(Category::Matched),
            c.statement.count(Category::Matched)
        ),
        (4, 5)
    );
    assert_eq!(
        (
            c.ledger.count(Category::RefundException),
            c.statement.count(Category::RefundException)
        ),
        (1, 1)
    );
    let summary = report(&out, "summary.csv");
    assert_eq!(
        summary_line(&summary, "refund_exception"),
        "refund_exception,1,5.00,1,5.00"
    );
    assert_eq!(
        summary_line(&summary, "total_read"),
        "total_read,5,121.01,6,131.01"
    );
    let diff = report(&out, "diff.csv");
    let s = fixture("wechat_all_20240709.csv");
    assert_eq!(
        diff.lines().skip(1).collect::<Vec<_>>(),
        [format!(
            "refund_exception,R20240709000003,refund,5.00,5.00,0.00,-0.03,-0.03,0.00,REFUND,REFUND_EXCEPTION,2024-07-09 16:30:00,2024-07-09 16:30:00,{},6,{},7",
            ledger.display(),
            s.display()
        )]
    );
}

#[test]
fn a_sub_cent_fee_never_stops_the_run() {
    // 0.01 × 0.60 % = 0.00006 on the bill, compared exactly at 5 decimals;
    // a fee beyond 5 decimals is an out_of_range reject, not a failed run.
    let dir = tempfile::tempdir().unwrap();
    let ledger = dir.path().join("ledger.csv");
    std::fs::write(
        &ledger,
        "order_no,amount,status,completed_at,fee\nP1,0.01,SUCCESS,2024-07-09 11:00:00,0.00006\nP2,0.01,SUCCESS,2024-07-09 11:00:00,0.00006\n",
    )
    .unwrap();
    let statement = dir.path().join("statement.csv");
    std::fs::write(
        &statement,
        "order_no,amount,status,completed_at,fee\nP1,0.01,SUCCESS,2024-07-09 11:00:00,0.00007\nP2,0.01,SUCCESS,2024-07-09 11:00:00,0.000061\n",
    )
    .unwrap();
    let out = dir.path().join("out");
    let generic = StatementFormat::new(FormatName::Generic, None).unwrap();
    let mut request = adhoc(&ledger, statement, generic, &out);
    request.statement_is_ledger_layout = true;
    let outcome = run_adhoc(&request).unwrap();
    assert_eq!(outcome.comparison.ledger.count(Category::FeeMismatch), 1);
    let diff = report(&out, "diff.csv");
    assert!(
        diff.contains("fee_mismatch,P1,payment,0.01,0.01,0.00,0.00006,0.00007,0.00001,"),
        "{diff}"
    );
    let rejects = report(&out, "rejects.csv");
    assert!(
        rejects.contains(",3,bad_amount,") || rejects.contains(",3,out_of_range,"),
        "{rejects}"
    );
}

#[test]
fn reports_neutralise_formula_cells_and_keep_negative_numbers() {
    // A statement we do not control: keys and raw lines that Excel would evaluate.
    let dir = tempfile::tempdir().unwrap();
    let ledger = dir.path().join("ledger.csv");
    std::fs::write(
        &ledger,
        "order_no,amount,status,completed_at,fee\nP1,10.00,SUCCESS,2026-11-21 09:00:00,0.06\n",
    )
    .unwrap();
    let statement = dir.path().join("statement.csv");
    std::fs::write(
        &statement,
        "order_no,amount,status,completed_at,fee\n\
         \"=HYPERLINK(\"\"http://x\"\",\"\"y\"\")\",5.00,SUCCESS,2026-11-21 10:00:00,0.03\n\
         @SUM(A1),abc,SUCCESS,2026-11-21 10:00:00,0.03\n",
    )
    .unwrap();
    let out = dir.path().join("out");
    let generic = StatementFormat::new(FormatName::Generic, None).unwrap();
    let mut request = adhoc(&ledger, statement, generic, &out);
    request.statement_is_ledger_layout = true;
    run_adhoc(&request).unwrap();
    let diff = report(&out, "diff.csv");
    assert!(
        diff.contains(
            "missing_in_ledger,\"'=HYPERLINK(\"\"http://x\"\",\"\"y\"\")\",payment,,5.00,5.00,"
        ),
        "{diff}"
    );
    // A negative amount stays a number.
    assert!(
        diff.contains("missing_in_channel,P1,payment,10.00,,-10.00,0.06,"),
        "{diff}"
    );
    let rejects = report(&out, "rejects.csv");
    assert!(
        rejects.contains(",'@SUM(A1),abc,SUCCESS") || rejects.contains("\"'@SUM(A1),abc,SUCCESS"),
        "{rejects}"
    );
    let summary = report(&out, "summary.csv");
    assert!(!summary.contains('\''), "{summary}");
}

/// A statement written before the wait began is read at once, not after a
/// full poll interval (the shipped job polls every minute).
#[tokio::test]
async fn a_settled_file_or_a_marker_needs_no_second_poll() {
    use reckon::jobs::recon::formats::await_statement;
    use reckon::schedule::SystemClock;
    use std::time::{Duration, SystemTime};
    use tokio_util::sync::CancellationToken;

    let dir = tempfile::tempdir().unwrap();
    let minute = Duration::from_secs(60);
    let deadline = chrono::Utc::now() + chrono::Duration::hours(1);
    // Modified two days ago: settled.
    let old = dir.path().join("wechat-2024-07-09.csv");
    std::fs::copy(fixture("wechat_all_20240709.csv"), &old).unwrap();
    let file = std::fs::File::options().write(true).open(&old).unwrap();
    file.set_modified(SystemTime::now() - Duration::from_secs(2 * 86_400))
        .unwrap();
    drop(file);
    let started = std::time::Instant::now();
    let found = await_statement(
        &old,
        minute,
        deadline,
        CancellationToken::new(),
        &SystemClock,
    )
    .await
    .unwrap();
    assert_eq!(found, old);
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "waited a poll interval"
    );
    // Just written, but the bank's marker declares it complete.
    for marker in ["bank-2026-11-21.csv.ok", "bank-2026-11-21.done"] {
        let fresh = dir.path().join("bank-2026-11-21.csv");
        std::fs::copy(fixture("bank_export_20261121.csv"), &fresh).unwrap();
        std::fs::write(dir.path().join(marker), b"").unwrap();
        let started = std::time::Instant::now();
        let found = await_statement(
            &fresh,
            minute,
            deadline,
            CancellationToken::new(),
            &SystemClock,
        )
        .await
        .unwrap();
        assert_eq!(found, fresh);
        assert!(started.elapsed() < Duration::from_secs(5), "{marker}");
        std::fs::remove_file(dir.path().join(marker)).unwrap();
    }
    // Just written, no marker: one poll interval (short here) to see it unchanged.
    let fresh = dir.path().join("late.csv");
    std::fs::write(&fresh, b"x").unwrap();
    let started = std::time::Instant::now();
    await_statement(
        &fresh,
        Duration::from_millis(300),
        deadline,
        CancellationToken::new(),
        &SystemClock,
    )
    .await
    .unwrap();
    assert!(started.elapsed() >= Duration::from_millis(290));
}

/// Item 6 through the command line: `reckon recon` on a saved `No Bill Exist`
/// answer compares against an empty statement (exit 0, reports written) and
/// says so, instead of failing or staying silent.
#[test]
fn adhoc_recon_of_a_no_bill_exist_day_prints_the_note() {
    let dir = tempfile::tempdir().expect("temp dir");
    let ledger = dir.path().join("ledger.csv");
    std::fs::write(
        &ledger,
        "order_no,amount,status,completed_at,fee,refund_no\n",
    )
    .expect("write ledger");
    let out = dir.path().join("out");
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_reckon"))
        .arg("recon")
        .arg("--ledger")
        .arg(&ledger)
        .arg("--statement")
        .arg(fixture("wechat_nobill_20240710.csv"))
        .args(["--format", "wechat", "--out"])
        .arg(&out)
        .output()
        .expect("reckon runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert_eq!(
        output.status.code(),
        Some(0),
        "{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(
        stdout.contains(&format!("note: {NO_BILL_NOTE}")),
        "the note is missing:\n{stdout}"
    );
    assert!(out.join("summary.csv").exists());
}
