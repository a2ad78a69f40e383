//! Every CSV report of every shipped job kind is safe to open in Excel
//! (issue "Channel statements as the channels really publish them", item 11):
//! the demo runs on the shipped fixtures with identifiers that look like
//! formulas (`=…`, `@…`, `+…`, a channel order number `=…`), and no cell of
//! any report may start with `=`, `+`, `@`, a tab or a carriage return unless
//! neutralised with a leading `'` (OWASP "CSV Injection"); a cell starting
//! with `-` must be a number. Each injected identifier must reach at least one
//! report, neutralised, so the test cannot pass by dropping the rows.

use std::path::{Path, PathBuf};
use std::process::Command;

use rust_decimal::Decimal;

/// (fixture files under fixtures/, text replaced, replacement).
const INJECTIONS: &[(&[&str], &str, &str)] = &[
    // A merchant id: settlement, recon-internal.
    (
        &[
            "settlement/journal.csv",
            "settlement/merchants.csv",
            "settlement/refunds.csv",
            "settlement/orders.csv",
            "recon/internal/journal.csv",
            "recon/internal/business_orders.csv",
            "recon/internal/orders.csv",
        ],
        "M1001",
        "=M1001",
    ),
    // A loan id: repayment.
    (
        &["repayment/loans.csv", "repayment/repayments.csv"],
        "LN-1002",
        "@LN-1002",
    ),
    // A transactional message id: compensation.
    (&["compensation/messages.csv"], "TXN-0001", "+TXN-0001"),
    // A channel's order number in the statement only: a break in diff.csv.
    (
        &["recon/demo/wechat-2026-11-21.csv"],
        "`P20261121009",
        "`=P20261121009",
    ),
];

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("create dir");
    for entry in std::fs::read_dir(from).expect("read dir") {
        let entry = entry.expect("dir entry");
        let target = to.join(entry.file_name());
        if entry.file_type().expect("file type").is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).expect("copy fixture");
        }
    }
}

fn csv_reports(dir: &Path, found: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("read reports") {
        let path = entry.expect("dir entry").path();
        if path.is_dir() {
            csv_reports(&path, found);
        } else if path.extension().is_some_and(|e| e == "csv") {
            found.push(path);
        }
    }
}

#[test]
fn every_report_of_every_kind_neutralises_formula_cells() {
    let repo = Path::new(env!("CARGO_MANIFEST_DIR"));
    let work = tempfile::tempdir().expect("temp dir");
    let fixtures = work.path().join("fixtures");
    copy_dir(&repo.join("fixtures"), &fixtures);
    for (files, from, to) in INJECTIONS {
        for file in *files {
            let path = fixtures.join(file);
            let text = std::fs::read_to_string(&path).expect("fixture is UTF-8");
            assert!(text.contains(from), "{file} no longer holds {from}");
            std::fs::write(&path, text.replace(from, to)).expect("write fixture");
        }
    }
    // The copies are new files: a bank-style marker declares the statement
    // complete, so recon-wechat reads it without waiting a poll interval.
    std::fs::write(fixtures.join("recon/demo/wechat-2026-11-21.csv.ok"), b"")
        .expect("write marker");
    let out = Command::new(env!("CARGO_BIN_EXE_reckon"))
        .current_dir(work.path())
        .args([
            "--jobs",
            repo.join("jobs").to_str().expect("utf-8 path"),
            "demo",
        ])
        .args(["--dir", "demo", "--fixtures"])
        .arg(&fixtures)
        .env_remove("RECKON_DATABASE_URL")
        .env_remove("RECKON_REPORTS_DIR")
        .output()
        .expect("reckon demo runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "demo failed: {stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );

    let mut reports = Vec::new();
    csv_reports(&work.path().join("demo/reports"), &mut reports);
    assert!(!reports.is_empty(), "the demo wrote no CSV report");
    let mut neutralised_in: Vec<(String, String)> = Vec::new();
    for path in &reports {
        let mut reader = csv::ReaderBuilder::new()
            .has_headers(false)
            .flexible(true)
            .from_path(path)
            .expect("open report");
        for (line, record) in reader.records().enumerate() {
            let record = record.expect("report parses as CSV");
            for cell in record.iter() {
                let cell = cell.trim_start_matches('\u{feff}');
                let first = cell.chars().next();
                assert!(
                    !matches!(first, Some('=' | '+' | '@' | '\t' | '\r')),
                    "{}:{}: formula-like cell {cell:?} written as-is",
                    path.display(),
                    line + 1
                );
                if first == Some('-') {
                    assert!(
                        cell.parse::<Decimal>().is_ok(),
                        "{}:{}: text cell {cell:?} starting with '-' written as-is",
                        path.display(),
                        line + 1
                    );
                }
                for (_, _, injected) in INJECTIONS {
                    let injected = injected.trim_start_matches('`');
                    if cell.contains(&format!("'{injected}")) {
                        neutralised_in.push((injected.to_string(), path.display().to_string()));
                    }
                }
            }
        }
    }
    for (_, _, injected) in INJECTIONS {
        let injected = injected.trim_start_matches('`');
        assert!(
            neutralised_in.iter().any(|(value, _)| value == injected),
            "{injected} reached no report (neutralised) — reports: {reports:?}"
        );
    }
    // Each job kind's reports carry at least one neutralised identifier.
    for job in [
        "eod-settlement",
        "repayment-eod",
        "compensation",
        "recon-wechat",
        "recon-internal",
    ] {
        assert!(
            neutralised_in
                .iter()
                .any(|(_, path)| path.contains(&format!("/{job}/"))),
            "no neutralised cell in {job}'s reports: {neutralised_in:?}"
        );
    }
}
