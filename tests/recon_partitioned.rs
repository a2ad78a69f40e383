//! The partitioned file comparison (`engine::compare_files`, issue 15) gives
//! byte for byte the reports of the column readers + `compare`: on every
//! engine fixture, on generated files with every break kind, on edge cases
//! (refunds paired by order across partitions, one-sided duplicate refunds,
//! rejects of every kind, blank and whitespace lines, CRLF), and whether it
//! keeps everything in memory or spills to many partitions.

use std::path::{Path, PathBuf};

use chrono::NaiveDateTime;
use reckon::jobs::recon::engine::bench::generate;
use reckon::jobs::recon::engine::progress::{NoProgress, PhaseTimes};
use reckon::jobs::recon::engine::{
    CompareConfig, SideName, Sizing, build_reports, compare, compare_files_sized, diff_report,
    read_ledger_layout, summary_report,
};
use reckon::jobs::recon::formats::{ReadOptions, Reject, rejects_report};

type Reports = Vec<(String, Vec<u8>, u64)>;

fn config() -> CompareConfig {
    CompareConfig {
        cutoff: Some(
            NaiveDateTime::parse_from_str("2026-11-21 23:59:59", "%Y-%m-%d %H:%M:%S").unwrap(),
        ),
        pending_window: chrono::Duration::minutes(30),
    }
}

/// The reports of the column readers and `compare` (the reference).
fn by_columns(ledger: &Path, statement: &Path) -> Reports {
    let read = ReadOptions::default();
    let l = read_ledger_layout(ledger, SideName::Ledger, read).unwrap();
    let s = read_ledger_layout(statement, SideName::Statement, read).unwrap();
    let comparison = compare(&l.side, &s.side, &config()).unwrap();
    build_reports(&l.side, &s.side, &comparison, false)
        .unwrap()
        .files
}

/// The reports of the partitioned comparison, if it took the files.
fn partitioned(ledger: &Path, statement: &Path, sizing: Sizing) -> Option<Reports> {
    let found = compare_files_sized(
        ledger,
        statement,
        &config(),
        ReadOptions::default(),
        sizing,
        &NoProgress,
        &PhaseTimes::default(),
    )
    .unwrap()?;
    let rejects: Vec<&Reject> = found.rejects.iter().collect();
    Some(vec![
        summary_report(&found.ledger, &found.statement, false).unwrap(),
        diff_report(&found.diff, false).unwrap(),
        rejects_report(&rejects, false).unwrap().finish().unwrap(),
    ])
}

/// Everything in memory in one partition; and a few KiB per partition with
/// spilling after every block.
fn sizings() -> [Sizing; 3] {
    [
        Sizing::default(),
        Sizing {
            spill_budget: 1,
            partition_file_bytes: 512,
        },
        Sizing {
            spill_budget: 4096,
            partition_file_bytes: 64 << 10,
        },
    ]
}

fn assert_same(ledger: &Path, statement: &Path) {
    let expected = by_columns(ledger, statement);
    for sizing in sizings() {
        let got = partitioned(ledger, statement, sizing)
            .unwrap_or_else(|| panic!("{} was not taken", ledger.display()));
        for (want, have) in expected.iter().zip(&got) {
            assert_eq!(
                String::from_utf8_lossy(&have.1),
                String::from_utf8_lossy(&want.1),
                "{} with {sizing:?}: {}",
                want.0,
                ledger.display()
            );
        }
    }
}

#[test]
fn every_engine_fixture_gives_the_same_reports() {
    let root = PathBuf::from("fixtures/recon/engine");
    let mut cases = 0;
    for entry in std::fs::read_dir(&root).unwrap() {
        let dir = entry.unwrap().path();
        assert_same(&dir.join("ledger.csv"), &dir.join("statement.csv"));
        cases += 1;
    }
    assert!(cases >= 10, "{cases} fixture cases");
}

#[test]
fn generated_files_with_every_break_kind_give_the_same_reports() {
    let dir = tempfile::tempdir().unwrap();
    let generated = generate(dir.path(), 30_000, 11).unwrap();
    assert!(generated.breaks.iter().all(|(_, count)| *count > 0));
    assert_same(&generated.ledger, &generated.statement);
}

#[test]
fn edge_cases_give_the_same_reports() {
    let dir = tempfile::tempdir().unwrap();
    let ledger = dir.path().join("ledger.csv");
    let statement = dir.path().join("statement.csv");
    let t = "2026-11-21 10:00:00";
    let late = "2026-11-21 23:50:00";
    let ledger_rows = [
        "order_no,amount,status,completed_at,fee,refund_no".to_string(),
        format!("P1,10.00,SUCCESS,{t},0.06,"),
        // Refund R1 of P1; the statement shows it under the order number.
        format!("P1,5.00,REFUND,{t},-0.03,R1"),
        // Two refunds of P2 of the same amount, one matched by order.
        format!("P2,20.00,SUCCESS,{t},,"),
        format!("P2,3.00,REFUND,{t},,R2a"),
        format!("P2,3.00,REFUND,{t},,R2b"),
        // A one-sided refund twice (the second a duplicate).
        format!("P3,1.00,REFUND,{t},,R3"),
        format!("P3,1.00,REFUND,{t},,R3"),
        // Pending and closed one-sided rows.
        format!("P4,4.00,SUCCESS,{late},,"),
        format!("P5,5.00,CLOSED,{t},,"),
        String::new(),
        "   ".to_string(),
        // Rejects: bad amount, missing key, too many and too few fields, bad time.
        format!("P6,1.234,SUCCESS,{t},,"),
        format!(",1.00,SUCCESS,{t},,"),
        format!("P7,1.00,SUCCESS,{t},,,extra"),
        "P8,1.00".to_string(),
        "P9,1.00,SUCCESS,2026-13-01 00:00:00,,".to_string(),
        // An empty extra field is no extra field.
        format!("P10,2.00,SUCCESS,{t},, ,"),
        format!("P11, 7.00 ,SUCCESS,{t},0.04,\r"),
        format!("P1,10.00,SUCCESS,{t},0.06,"),
    ];
    let statement_rows = [
        "order_no,amount,status,completed_at,fee,refund_no".to_string(),
        format!("P1,10.00,SUCCESS,{t},0.06,"),
        format!("P1,5.00,REFUND,{t},-0.03,P1"),
        format!("P2,20.00,SUCCESS,{t},,"),
        format!("P2,3.00,REFUND,{t},,X2"),
        format!("P2,3.00,REFUND,{t},,X2"),
        format!("P12,9.00,SUCCESS,{t},,"),
        format!("P12,9.00,SUCCESS,{t},,"),
        format!("P13,1.00,REFUND,{late},,R13"),
        format!("P10,2.00,SUCCESS,{t},0.01,"),
        format!("P11,7.00,CLOSED,{t},,"),
        "P14,abc,SUCCESS,,,".to_string(),
    ];
    std::fs::write(&ledger, ledger_rows.join("\n") + "\n").unwrap();
    std::fs::write(&statement, statement_rows.join("\r\n")).unwrap();
    assert_same(&ledger, &statement);
}

#[test]
fn a_file_the_splitter_cannot_vouch_for_is_handed_back() {
    let dir = tempfile::tempdir().unwrap();
    let ledger = dir.path().join("ledger.csv");
    std::fs::write(
        &ledger,
        "order_no,amount,status,completed_at,fee,refund_no\nP1,\"1.00\",SUCCESS,2026-11-21 10:00:00,,\n",
    )
    .unwrap();
    let odd_header = dir.path().join("odd.csv");
    std::fs::write(&odd_header, "order_no;amount\nP1;1.00\n").unwrap();
    for path in [&ledger, &odd_header] {
        assert!(partitioned(path, path, Sizing::default()).is_none());
    }
}
