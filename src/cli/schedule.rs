//! `reckon schedule`: a repayment-schedule calculator for finance staff,
//! printing CSV on stdout through the same code the end-of-day job uses
//! ([`crate::jobs::repayment::schedule::generate`]).

use chrono::{Datelike, NaiveDate, Utc};
use clap::Args;
use rust_decimal::Decimal;

use super::{EXIT_OK, Failure};
use crate::jobs::repayment::interest::DayCountBasis;
use crate::jobs::repayment::schedule::{FirstPeriod, Method, Terms, generate};
use crate::money::parse_amount;
use crate::report::CsvReport;

#[derive(Debug, Args)]
pub(super) struct ScheduleArgs {
    /// Loan principal, e.g. 10000.00
    #[arg(long, value_parser = parse_decimal)]
    principal: Decimal,
    /// Annual rate as a fraction: 0.12 for 12 %
    #[arg(long, value_parser = parse_decimal)]
    annual_rate: Decimal,
    /// Term in months
    #[arg(long)]
    months: u32,
    /// equal-installment | equal-principal | interest-only | bullet
    #[arg(long)]
    method: Method,
    /// Disbursement date YYYY-MM-DD [default: today in Asia/Shanghai]
    #[arg(long)]
    start: Option<NaiveDate>,
    /// Day of month installments fall due [default: the day of --start]
    #[arg(long)]
    repayment_day: Option<u32>,
    /// A first period that is not a whole month: actual_days (broken-period
    /// interest at the daily rate, convention cny-v2) or full_month (cny-v1)
    #[arg(long, default_value = "actual_days", value_parser = parse_first_period)]
    first_period: FirstPeriod,
    /// Day-count basis of daily interest: 360 or 365
    #[arg(long, default_value_t = 360, value_parser = parse_basis)]
    day_count_basis: u32,
    /// Start the CSV with a UTF-8 byte order mark (for Excel)
    #[arg(long)]
    excel_bom: bool,
}

fn parse_first_period(text: &str) -> Result<FirstPeriod, String> {
    text.parse()
}

fn parse_basis(text: &str) -> Result<u32, String> {
    match text {
        "360" => Ok(360),
        "365" => Ok(365),
        other => Err(format!("`{other}` is not 360 or 365")),
    }
}

fn parse_decimal(text: &str) -> Result<Decimal, String> {
    parse_amount(text).map_err(|e| e.to_string())
}

/// Prints the schedule as CSV: period, due date, installment, principal,
/// interest, remaining balance.
pub(super) fn schedule(args: ScheduleArgs) -> Result<u8, Failure> {
    let start = args.start.unwrap_or_else(|| {
        Utc::now()
            .with_timezone(&chrono_tz::Asia::Shanghai)
            .date_naive()
    });
    let terms = Terms {
        principal: args.principal,
        annual_rate: args.annual_rate,
        months: args.months,
        method: args.method,
        disbursed_on: start,
        repayment_day: args.repayment_day.unwrap_or_else(|| start.day()),
        first_period: args.first_period,
        basis: DayCountBasis::from_days(i64::from(args.day_count_basis))
            .unwrap_or(DayCountBasis::Days360),
    };
    let rows = generate(&terms).map_err(Failure::usage)?;
    let mut report = CsvReport::new(
        "schedule.csv",
        &[
            "period",
            "due_date",
            "installment",
            "principal",
            "interest",
            "remaining_balance",
        ],
        args.excel_bom,
    )
    .map_err(Failure::run)?;
    for row in &rows {
        report
            .row([
                row.period.to_string(),
                row.due_date.to_string(),
                row.installment.to_string(),
                row.principal.to_string(),
                row.interest.to_string(),
                row.remaining.to_string(),
            ])
            .map_err(Failure::run)?;
    }
    let (_, bytes, _) = report.finish().map_err(Failure::run)?;
    use std::io::Write;
    std::io::stdout()
        .write_all(&bytes)
        .map_err(|e| Failure::run(format!("cannot write the schedule: {e}")))?;
    Ok(EXIT_OK)
}
