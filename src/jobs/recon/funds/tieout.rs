//! Settlement tie-out (三方核对): per channel and business date, the trade
//! bill's net (payments − refunds − fees) against the channel's settlement
//! to us (a fund bill, 资金账单, or a settlement file, read with a generic
//! mapping) and against the credit on our bank statement `bank_lag_days`
//! later, within a tolerance. Many-to-one: the day's trades against the
//! settlement file's rows and the bank's matching credits, summed.
//!
//! A pass around the engine: it reads the statement files again (for the
//! totals, not the matching), and its disagreement is one break in the
//! register (`settlement_mismatch`) beside the engine's. See docs/recon.md.

use std::path::{Path, PathBuf};

use chrono::{Days, NaiveDate};
use rust_decimal::Decimal;

use crate::jobs::params::{ParamError, Params};
use crate::jobs::recon::breaks::NewBreak;
use crate::jobs::recon::formats::{
    FormatError, FormatName, GenericMapping, LedgerStatus, ReadOptions, RecordKind,
    StatementFormat, stream_statement_file,
};
use crate::report::{CsvReport, ReportError};
use crate::runtime::{JobError, RunCtx};

use super::settings::{FundsSettings, data_path};

/// The register category of a tie-out that does not tie.
pub const SETTLEMENT_MISMATCH: &str = "settlement_mismatch";

/// `tieout.csv` header.
pub const TIEOUT_HEADER: [&str; 14] = [
    "business_date",
    "channel",
    "trade_payments",
    "trade_refunds",
    "trade_fees",
    "trade_net",
    "settlement",
    "bank_date",
    "bank_credit",
    "settlement_minus_trade",
    "bank_minus_settlement",
    "tolerance",
    "status",
    "off_side",
];

/// `[params.tieout]` of a `recon-funds` job.
#[derive(Debug, Clone)]
pub struct TieoutSettings {
    /// The settlement file (fund bill) of the business date, under `data_dir`
    /// (`{date}`, `{yyyymmdd}` as for statements).
    pub settlement: String,
    pub settlement_format: StatementFormat,
    /// The bank statement of the credit's date, under `data_dir` (`{date}`,
    /// `{yyyymmdd}` of the business date + `bank_lag_days`).
    pub bank: String,
    pub bank_format: StatementFormat,
    /// Days from the business date to the bank credit (T+1 = 1).
    pub bank_lag_days: u64,
    /// Only bank credits whose reference (the mapping's `order_no` column)
    /// contains this text count; empty = every credit of the day.
    pub bank_reference: String,
    /// The largest difference (yuan) that still ties.
    pub tolerance: Decimal,
}

impl TieoutSettings {
    /// Reads `[params.tieout]`; `None` when the job has no tie-out.
    pub fn from_params(params: &toml::Table) -> Result<Option<TieoutSettings>, ParamError> {
        let Some(table) = Params::new(params).table("tieout")? else {
            return Ok(None);
        };
        let p = Params::new(table);
        let mapping = |field: &str| -> Result<StatementFormat, ParamError> {
            let table = p.table(field)?.ok_or_else(|| {
                ParamError::new(
                    format!("tieout.{field}"),
                    "is required: the generic mapping of the file (docs/recon-formats.md)",
                )
            })?;
            let mapping = GenericMapping::from_table(table)
                .map_err(|e| ParamError::new(format!("tieout.{field}"), e.to_string()))?;
            StatementFormat::new(FormatName::Generic, Some(mapping))
                .map_err(|e| ParamError::new(format!("tieout.{field}"), e.to_string()))
        };
        let tolerance = p.decimal_or("tolerance", Decimal::ZERO)?;
        if tolerance.is_sign_negative() {
            return Err(ParamError::new("tieout.tolerance", "must not be negative"));
        }
        Ok(Some(TieoutSettings {
            settlement: p
                .str(
                    "settlement",
                    "the fund bill / settlement file, e.g. \"inbox/fund/{yyyymmdd}.csv\"",
                )?
                .to_string(),
            settlement_format: mapping("settlement_mapping")?,
            bank: p
                .str(
                    "bank",
                    "the bank statement file, e.g. \"inbox/bank/{yyyymmdd}.csv\"",
                )?
                .to_string(),
            bank_format: mapping("bank_mapping")?,
            bank_lag_days: p.u64_or("bank_lag_days", 1)?,
            bank_reference: p.str_or("bank_reference", "")?.to_string(),
            tolerance,
        }))
    }

    /// The bank credit's date for `date`.
    pub fn bank_date(&self, date: NaiveDate) -> NaiveDate {
        date.checked_add_days(Days::new(self.bank_lag_days))
            .unwrap_or(date)
    }
}

/// The trade bill's figures of the date.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TradeTotals {
    pub payments: Decimal,
    pub refunds: Decimal,
    /// Charged positive, given back negative (the readers' convention).
    pub fees: Decimal,
}

impl TradeTotals {
    /// payments − refunds − fees.
    pub fn net(&self) -> Decimal {
        self.payments - self.refunds - self.fees
    }
}

/// Sums the trade bill: `SUCCESS` payments, `REFUND` refunds, every
/// accepted row's fee. `CLOSED` rows moved no money; a `REFUND_EXCEPTION`
/// refund came back to the merchant, so it is no refund. Blocking I/O.
pub fn trade_totals(
    paths: &[PathBuf],
    format: &StatementFormat,
    read: ReadOptions,
) -> Result<TradeTotals, FormatError> {
    let mut totals = TradeTotals::default();
    for path in paths {
        stream_statement_file(path, format, read, &mut |record| {
            match (record.kind, record.status) {
                (RecordKind::Payment, LedgerStatus::Success) => totals.payments += record.amount,
                (RecordKind::Refund, LedgerStatus::Refund) => totals.refunds += record.amount,
                _ => {}
            }
            if matches!(record.status, LedgerStatus::Success | LedgerStatus::Refund) {
                totals.fees += record.fee.unwrap_or_default();
            }
        })?;
    }
    Ok(totals)
}

/// Why a tie-out file could not be used.
#[derive(Debug, thiserror::Error)]
pub enum TieoutError {
    #[error(transparent)]
    Format(#[from] FormatError),
    /// A figure summed over a file with unreadable rows would be wrong, so
    /// the file is refused (the trade bill's rejects are in `rejects.csv`).
    #[error(
        "{} line {line}: {reason} ({count} unreadable rows); the tie-out sums every row, fix the file or its mapping",
        path.display()
    )]
    Rejected {
        path: PathBuf,
        line: u64,
        reason: String,
        count: usize,
    },
}

/// Money in minus money out of a file read with a generic mapping, counting
/// only rows whose reference contains `reference` (all when empty). `None`
/// when the file is not there; a row that cannot be read refuses the file.
/// Blocking I/O.
pub fn net_of_file(
    path: &Path,
    format: &StatementFormat,
    read: ReadOptions,
    reference: &str,
) -> Result<Option<Decimal>, TieoutError> {
    if !path.exists() {
        return Ok(None);
    }
    let mut net = Decimal::ZERO;
    let summary = stream_statement_file(path, format, read, &mut |record| {
        if !reference.is_empty() && !record.order_no.contains(reference) {
            return;
        }
        match record.status {
            LedgerStatus::Success => net += record.amount,
            LedgerStatus::Refund => net -= record.amount,
            LedgerStatus::Closed | LedgerStatus::RefundException => {}
        }
    })?;
    if let Some(first) = summary.rejects.first() {
        return Err(TieoutError::Rejected {
            path: path.to_path_buf(),
            line: first.line,
            reason: first.reason.to_string(),
            count: summary.rejects.len(),
        });
    }
    Ok(Some(net))
}

/// One date's tie-out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tieout {
    pub business_date: NaiveDate,
    pub channel: String,
    pub trade: TradeTotals,
    pub settlement: Option<Decimal>,
    pub bank_date: NaiveDate,
    pub bank_credit: Option<Decimal>,
    pub tolerance: Decimal,
}

impl Tieout {
    /// `tied` (三方一致), `mismatch` (不平), or which file is missing.
    pub fn status(&self) -> &'static str {
        match (self.settlement, self.bank_credit) {
            (None, _) => "settlement_missing",
            (_, None) => "bank_missing",
            _ if self.off_side().is_empty() => "tied",
            _ => "mismatch",
        }
    }

    /// Which side disagrees with the other two: `trade` (the trade bill),
    /// `settlement`, `bank`, or `all`; empty when they tie (or a file is missing).
    pub fn off_side(&self) -> &'static str {
        let (Some(settlement), Some(bank)) = (self.settlement, self.bank_credit) else {
            return "";
        };
        let trade = self.trade.net();
        let close = |a: Decimal, b: Decimal| (a - b).abs() <= self.tolerance;
        match (
            close(trade, settlement),
            close(settlement, bank),
            close(trade, bank),
        ) {
            (true, true, _) => "",
            (true, false, _) => "bank",
            (false, true, _) => "trade",
            (false, false, true) => "settlement",
            (false, false, false) => "all",
        }
    }

    /// The register's break for a mismatch.
    pub fn to_break(&self) -> Option<NewBreak> {
        let off = self.off_side();
        let (Some(settlement), Some(bank)) = (self.settlement, self.bank_credit) else {
            return None;
        };
        if off.is_empty() {
            return None;
        }
        let trade = self.trade.net();
        let (sides, left, right) = match off {
            "bank" => ("settlement/bank", settlement, bank),
            "trade" | "settlement" => ("trade/settlement", trade, settlement),
            _ => ("trade/bank", trade, bank),
        };
        Some(NewBreak {
            category: SETTLEMENT_MISMATCH.to_string(),
            key: format!("{}:{}", self.channel, self.business_date),
            kind: "settlement".to_string(),
            sides: sides.to_string(),
            left_amount: Some(left),
            right_amount: Some(right),
            delta: right - left,
            detail: format!(
                "trade net {} (payments {} − refunds {} − fees {}); settlement {}; bank credit {} on {}; off: {off}",
                money(trade),
                money(self.trade.payments),
                money(self.trade.refunds),
                money(self.trade.fees),
                money(settlement),
                money(bank),
                self.bank_date
            ),
            payload: "{}".to_string(),
            pending: false,
        })
    }
}

/// Reads the three sides of `date` (blocking I/O).
pub fn tie_out(
    settings: &TieoutSettings,
    channel: &str,
    statements: &[PathBuf],
    format: &StatementFormat,
    read: ReadOptions,
    data_dir: &Path,
    date: NaiveDate,
) -> Result<Tieout, TieoutError> {
    let trade = trade_totals(statements, format, read)?;
    let settlement = net_of_file(
        &data_path(data_dir, &settings.settlement, date),
        &settings.settlement_format,
        read,
        "",
    )?;
    let bank_date = settings.bank_date(date);
    let bank_credit = net_of_file(
        &data_path(data_dir, &settings.bank, bank_date),
        &settings.bank_format,
        read,
        &settings.bank_reference,
    )?;
    Ok(Tieout {
        business_date: date,
        channel: channel.to_string(),
        trade,
        settlement,
        bank_date,
        bank_credit,
        tolerance: settings.tolerance,
    })
}

impl Tieout {
    /// The run's attention line when the date does not tie or cannot be tied yet.
    pub fn attention(&self) -> Option<String> {
        match self.status() {
            "tied" => None,
            "mismatch" => Some(format!(
                "settlement tie-out of {} for {} does not tie: {} is off (tieout.csv)",
                self.channel,
                self.business_date,
                self.off_side()
            )),
            missing => Some(format!(
                "settlement tie-out of {} for {}: {missing} (tieout.csv); rerun the date when it arrives",
                self.channel, self.business_date
            )),
        }
    }
}

/// The tie-out of the run's date, when the job has `[params.tieout]`.
pub async fn run(ctx: &RunCtx, funds: &FundsSettings) -> Result<Option<Tieout>, JobError> {
    let Some(settings) = TieoutSettings::from_params(&ctx.job.params)? else {
        return Ok(None);
    };
    let date = ctx.business_date;
    let statements = funds.statement_paths(&ctx.paths.data_dir, date);
    let (channel, format, read) = (funds.channel.clone(), funds.format.clone(), funds.read);
    let data_dir = ctx.paths.data_dir.clone();
    let tie = tokio::task::spawn_blocking(move || {
        tie_out(
            &settings,
            &channel,
            &statements,
            &format,
            read,
            &data_dir,
            date,
        )
    })
    .await
    .map_err(|e| JobError::Failed(format!("tie-out reader stopped: {e}")))?
    .map_err(|e| JobError::Input(crate::error_chain::chain(&e)))?;
    Ok(Some(tie))
}

/// Money as printed in reports: at least two decimals, more only when the
/// figure has them (WeChat fees have five).
fn money(amount: Decimal) -> String {
    let exact = amount.normalize();
    if exact.scale() <= 2 {
        format!("{:.2}", amount.round_dp(2))
    } else {
        exact.to_string()
    }
}

/// `tieout.csv`.
pub fn tieout_report(
    rows: &[Tieout],
    excel_bom: bool,
) -> Result<(String, Vec<u8>, u64), ReportError> {
    let mut report = CsvReport::new("tieout.csv", &TIEOUT_HEADER, excel_bom)?;
    let optional = |v: Option<Decimal>| v.map(money).unwrap_or_default();
    for row in rows {
        let net = row.trade.net();
        report.row([
            row.business_date.to_string(),
            row.channel.clone(),
            money(row.trade.payments),
            money(row.trade.refunds),
            money(row.trade.fees),
            money(net),
            optional(row.settlement),
            row.bank_date.to_string(),
            optional(row.bank_credit),
            optional(row.settlement.map(|s| s - net)),
            optional(row.settlement.zip(row.bank_credit).map(|(s, b)| b - s)),
            money(row.tolerance),
            row.status().to_string(),
            row.off_side().to_string(),
        ])?;
    }
    report.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tie(settlement: &str, bank: &str) -> Tieout {
        Tieout {
            business_date: NaiveDate::from_ymd_opt(2026, 11, 21).unwrap(),
            channel: "wechat".into(),
            trade: TradeTotals {
                payments: "100.00".parse().unwrap(),
                refunds: "10.00".parse().unwrap(),
                fees: "0.54".parse().unwrap(),
            },
            settlement: Some(settlement.parse().unwrap()),
            bank_date: NaiveDate::from_ymd_opt(2026, 11, 22).unwrap(),
            bank_credit: Some(bank.parse().unwrap()),
            tolerance: "0.01".parse().unwrap(),
        }
    }

    #[test]
    fn the_side_that_disagrees_is_named() {
        assert_eq!(tie("89.46", "89.46").status(), "tied");
        assert_eq!(tie("89.46", "89.47").status(), "tied");
        assert_eq!(tie("89.46", "80.00").off_side(), "bank");
        assert_eq!(tie("80.00", "80.00").off_side(), "trade");
        assert_eq!(tie("80.00", "89.46").off_side(), "settlement");
        assert_eq!(tie("80.00", "70.00").off_side(), "all");
        let short = tie("89.46", "80.00").to_break().unwrap();
        assert_eq!(short.sides, "settlement/bank");
        assert_eq!(short.delta, "-9.46".parse::<Decimal>().unwrap());
        assert!(tie("89.46", "89.46").to_break().is_none());
    }
}
