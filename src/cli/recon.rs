//! `reckon recon`: ad-hoc reconciliation of a ledger file against a channel
//! statement, no database. Exit codes: 0 the comparison ran (breaks are
//! findings), 1 an input is unusable, 2 usage.

use std::path::PathBuf;

use chrono::NaiveDateTime;
use clap::{Args, ValueEnum};

use super::progress::Bar;
use super::{EXIT_OK, Failure};
use crate::jobs::recon::engine::adhoc::{AdhocRequest, run_adhoc_with};
use crate::jobs::recon::engine::{Category, CompareConfig, EngineError};
use crate::jobs::recon::formats::{FormatName, GenericMapping, ReadOptions, StatementFormat};

#[derive(Debug, Clone, Copy, ValueEnum)]
enum FormatArg {
    Wechat,
    Alipay,
    Generic,
}

#[derive(Debug, Args)]
#[command(
    after_help = "Exit codes: 0 the comparison ran (breaks are findings), 1 an input is unusable (missing, corrupt, failed self-check, mostly rejects), 2 usage.\nReport columns: docs/recon.md."
)]
pub(super) struct ReconArgs {
    /// Our ledger: CSV with header order_no,amount,status,completed_at[,fee][,refund_no]
    #[arg(long, value_name = "FILE")]
    ledger: PathBuf,
    /// The channel's statement
    #[arg(long, value_name = "FILE")]
    statement: PathBuf,
    /// The statement's format (generic without --mapping: laid out like the ledger file)
    #[arg(long, value_enum)]
    format: FormatArg,
    /// Column mapping for --format generic (TOML)
    #[arg(long, value_name = "TOML")]
    mapping: Option<PathBuf>,
    /// Directory for summary.csv, diff.csv, rejects.csv and manifest.json
    #[arg(long, value_name = "DIR")]
    out: PathBuf,
    /// End of the business day, local time "YYYY-MM-DD HH:MM:SS"; one-sided
    /// records within --pending-window before it are pending, not breaks
    #[arg(long, value_parser = parse_cutoff)]
    cutoff: Option<NaiveDateTime>,
    /// Pending window before the cut-off
    #[arg(long, default_value = "30m", value_parser = humantime::parse_duration)]
    pending_window: std::time::Duration,
    /// Write the UTF-8 byte order mark Excel wants
    #[arg(long)]
    excel_bom: bool,
    /// Also write report.xlsx: one sheet per report, Chinese and English
    /// column titles, amounts as numbers
    #[arg(long)]
    xlsx: bool,
}

fn parse_cutoff(text: &str) -> Result<NaiveDateTime, String> {
    NaiveDateTime::parse_from_str(text, "%Y-%m-%d %H:%M:%S")
        .map_err(|e| format!("expected \"YYYY-MM-DD HH:MM:SS\": {e}"))
}

/// `reckon recon`.
pub(super) async fn recon(args: ReconArgs) -> Result<u8, Failure> {
    let request = request_of(&args)?;
    let outcome = tokio::task::spawn_blocking(move || {
        let bar = Bar::on_terminal();
        let outcome = run_adhoc_with(&request, &bar);
        bar.clear();
        outcome
    })
    .await
    .map_err(Failure::run)?
    .map_err(|error: EngineError| Failure::run(error))?;
    let comparison = &outcome.comparison;
    for note in &outcome.statement_notes {
        println!("note: {note}");
    }
    println!(
        "{:<24} {:>12} {:>16} {:>12} {:>16}",
        "category", "ledger", "amount", "statement", "amount"
    );
    for category in Category::ALL {
        let amount =
            |cents| crate::jobs::recon::engine::cents_to_decimal_i128(cents).map_err(Failure::run);
        println!(
            "{:<24} {:>12} {:>16} {:>12} {:>16}",
            category.as_str(),
            comparison.ledger.count(category),
            amount(comparison.ledger.sum_cents(category))?,
            comparison.statement.count(category),
            amount(comparison.statement.sum_cents(category))?,
        );
    }
    println!(
        "{:<24} {:>12} {:>16} {:>12} {:>16}",
        "rejected", comparison.ledger.read.rejects, "", comparison.statement.read.rejects, ""
    );
    let breaks = comparison
        .diff
        .iter()
        .filter(|record| record.category.is_break())
        .count();
    println!("{breaks} breaks; reports in {}", args.out.display());
    Ok(EXIT_OK)
}

fn request_of(args: &ReconArgs) -> Result<AdhocRequest, Failure> {
    let name = match args.format {
        FormatArg::Wechat => FormatName::Wechat,
        FormatArg::Alipay => FormatName::Alipay,
        FormatArg::Generic => FormatName::Generic,
    };
    let mapping = match &args.mapping {
        Some(path) => {
            let text = std::fs::read_to_string(path).map_err(|e| {
                Failure::usage(format!("cannot read mapping {}: {e}", path.display()))
            })?;
            Some(GenericMapping::from_toml_str(&text).map_err(Failure::usage)?)
        }
        None => None,
    };
    let statement_is_ledger_layout = matches!(args.format, FormatArg::Generic) && mapping.is_none();
    let format = StatementFormat::new(name, mapping).map_err(Failure::usage)?;
    let pending_window = chrono::Duration::from_std(args.pending_window)
        .map_err(|e| Failure::usage(format!("pending window out of range: {e}")))?;
    Ok(AdhocRequest {
        ledger: args.ledger.clone(),
        statement: args.statement.clone(),
        format,
        statement_is_ledger_layout,
        compare: CompareConfig {
            cutoff: args.cutoff,
            pending_window,
        },
        read: ReadOptions::default(),
        out: args.out.clone(),
        excel_bom: args.excel_bom,
        reports_xlsx: args.xlsx,
    })
}
