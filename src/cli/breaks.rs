//! `reckon breaks`: the break register — list breaks (by job, unresolved
//! only, older than N days), show one, resolve one by hand with a note.
//! Ages count whole days from a break's business date to today on this
//! machine's clock (or `--as-of`).

use chrono::{Local, NaiveDate, Utc};
use clap::{Args, Subcommand};

use super::context::{catalog, open_db, requested_by};
use super::{EXIT_OK, Failure};
use crate::config::Config;
use crate::jobs::recon::breaks::{self, Break, BreakError, BreakFilter};
use crate::money::format_scaled;

#[derive(Debug, Args)]
#[command(args_conflicts_with_subcommands = true)]
pub(super) struct BreaksArgs {
    #[command(subcommand)]
    command: Option<BreaksCommand>,
    #[command(flatten)]
    list: ListArgs,
}

#[derive(Debug, Args)]
struct ListArgs {
    /// Only this job's breaks
    #[arg(long, value_name = "JOB")]
    job: Option<String>,
    /// Only unresolved breaks (open, and pending records not yet breaks)
    #[arg(long)]
    open: bool,
    /// Only breaks whose business date is more than N days ago
    #[arg(long, value_name = "N")]
    older_than: Option<u32>,
    /// Count ages to this date instead of today (YYYY-MM-DD)
    #[arg(long, value_name = "DATE")]
    as_of: Option<NaiveDate>,
    /// Print CSV (every column, for Excel: redirect to a file) instead of a table
    #[arg(long)]
    csv: bool,
    /// With --csv: start with a UTF-8 byte order mark (what Excel wants)
    #[arg(long, requires = "csv")]
    excel_bom: bool,
}

#[derive(Debug, Subcommand)]
enum BreaksCommand {
    /// Show one break in full
    Show {
        /// The break id (first column of the list)
        id: i64,
    },
    /// Resolve a break by hand: who and when are recorded with the note
    Resolve {
        /// The break id (first column of the list)
        id: i64,
        /// Why it is resolved (required)
        #[arg(long)]
        note: String,
        /// Who resolves it [default: $USER@host]
        #[arg(long)]
        by: Option<String>,
    },
    /// The aging roll-forward (差错余额变动表) of a job's register, per date:
    /// opening + aged + new − auto-resolved − resolved by hand = closing, in
    /// total, by age bucket and by category, checked before it is printed (CSV)
    Rollforward {
        /// The job (its time zone dates resolutions by hand)
        #[arg(long, value_name = "JOB")]
        job: String,
        /// First business date (YYYY-MM-DD)
        #[arg(long, value_name = "D1")]
        from: NaiveDate,
        /// Last business date (YYYY-MM-DD)
        #[arg(long, value_name = "D2")]
        to: NaiveDate,
        /// Start with a UTF-8 byte order mark (what Excel wants)
        #[arg(long)]
        excel_bom: bool,
    },
}

/// `reckon breaks …`.
pub(super) async fn breaks(config: &Config, args: BreaksArgs) -> Result<u8, Failure> {
    let db = open_db(config).await?;
    let today = args.list.as_of.unwrap_or_else(|| Local::now().date_naive());
    match args.command {
        None => {
            let filter = BreakFilter {
                job: args.list.job,
                unresolved: args.list.open,
                older_than_days: args.list.older_than,
                today: Some(today),
                ..BreakFilter::default()
            };
            let found = breaks::list(&db, &filter).await.map_err(refusal)?;
            if args.list.csv {
                let bytes = csv_list(&found, today, args.list.excel_bom).map_err(Failure::run)?;
                use std::io::Write;
                // A closed pipe just ends the output.
                let _ = std::io::stdout().lock().write_all(&bytes);
            } else {
                print_list(&found, today);
            }
        }
        Some(BreaksCommand::Show { id }) => {
            let found = breaks::get(&db, id).await.map_err(refusal)?;
            print_break(&found, today);
        }
        Some(BreaksCommand::Resolve { id, note, by }) => {
            let by = by.unwrap_or_else(requested_by);
            let resolved = breaks::resolve(&db, id, &by, &note, Utc::now())
                .await
                .map_err(refusal)?;
            println!(
                "break {id} ({} {} of {}) is resolved by {by}",
                resolved.category, resolved.key, resolved.business_date
            );
        }
        Some(BreaksCommand::Rollforward {
            job,
            from,
            to,
            excel_bom,
        }) => {
            let catalog = catalog(config)?;
            let zone = catalog.get(&job).map_err(Failure::usage)?.time_zone;
            let mut tx = db.begin().await.map_err(Failure::run)?;
            let lines = breaks::rollforward(&mut tx, &job, zone, from, to).await;
            tx.rollback().await.map_err(Failure::run)?;
            let lines = match lines {
                Err(e @ breaks::RollforwardError::Range { .. }) => return Err(Failure::usage(e)),
                other => other.map_err(Failure::run)?,
            };
            let (_, bytes, _) =
                breaks::rollforward_report(&lines, excel_bom).map_err(Failure::run)?;
            use std::io::Write;
            let _ = std::io::stdout().lock().write_all(&bytes);
        }
    }
    db.close().await;
    Ok(EXIT_OK)
}

/// An unknown id or a closed break is the operator's to fix (exit 2).
fn refusal(e: BreakError) -> Failure {
    match e {
        BreakError::Database(_) => Failure::run(e),
        other => Failure::usage(other),
    }
}

fn amount(value: Option<rust_decimal::Decimal>) -> String {
    value.map(|a| format_scaled(a, 2)).unwrap_or_default()
}

/// Prints the list; a closed pipe (`| head`) just ends the output.
fn print_list(found: &[Break], today: NaiveDate) {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    let _ = writeln!(
        out,
        "{:>6}  {:<10} {:>4}  {:<20} {:<13} {:<22} {:<24} {:<7} {:>12} {:>12} {:>12}  DETAIL",
        "ID", "DATE", "AGE", "JOB", "STATE", "CATEGORY", "KEY", "KIND", "LEFT", "RIGHT", "DELTA"
    );
    for b in found {
        let written = writeln!(
            out,
            "{:>6}  {:<10} {:>4}  {:<20} {:<13} {:<22} {:<24} {:<7} {:>12} {:>12} {:>12}  {}",
            b.id,
            b.business_date,
            b.age_days(today),
            b.job,
            b.state.as_str(),
            b.category,
            b.key,
            b.kind,
            amount(b.left_amount),
            amount(b.right_amount),
            format_scaled(b.delta, 2),
            b.note.as_deref().unwrap_or(&b.detail)
        );
        if written.is_err() {
            return;
        }
    }
}

/// Columns of `reckon breaks --csv`.
const CSV_COLUMNS: [&str; 19] = [
    "id",
    "job",
    "business_date",
    "age_days",
    "state",
    "category",
    "found_as",
    "key",
    "kind",
    "sides",
    "left_amount",
    "right_amount",
    "delta",
    "detail",
    "settled_on",
    "resolved_by",
    "resolved_at",
    "note",
    "as_of",
];

/// The list as CSV, every column, amounts with two decimals.
fn csv_list(
    found: &[Break],
    today: NaiveDate,
    excel_bom: bool,
) -> Result<Vec<u8>, crate::report::ReportError> {
    let mut report = crate::report::CsvReport::new("breaks.csv", &CSV_COLUMNS, excel_bom)?;
    for b in found {
        report.row([
            b.id.to_string(),
            b.job.clone(),
            b.business_date.to_string(),
            b.age_days(today).to_string(),
            b.state.as_str().to_string(),
            b.category.clone(),
            b.found_as.clone(),
            b.key.clone(),
            b.kind.clone(),
            b.sides.clone(),
            amount(b.left_amount),
            amount(b.right_amount),
            format_scaled(b.delta, 2),
            b.detail.clone(),
            b.settled_on.map(|d| d.to_string()).unwrap_or_default(),
            b.resolved_by.clone().unwrap_or_default(),
            b.resolved_at
                .map(|t| t.format("%Y-%m-%d %H:%M:%S").to_string())
                .unwrap_or_default(),
            b.note.clone().unwrap_or_default(),
            today.to_string(),
        ])?;
    }
    Ok(report.finish()?.1)
}

fn print_break(b: &Break, today: NaiveDate) {
    println!("id:            {}", b.id);
    println!("job:           {}", b.job);
    println!(
        "business date: {} (age {} days)",
        b.business_date,
        b.age_days(today)
    );
    println!("state:         {}", b.state.as_str());
    println!("category:      {} (found as {})", b.category, b.found_as);
    println!("key:           {} ({})", b.key, b.kind);
    println!("sides:         {}", b.sides);
    println!(
        "amounts:       {} / {}",
        amount(b.left_amount),
        amount(b.right_amount)
    );
    println!("delta:         {}", format_scaled(b.delta, 2));
    println!("detail:        {}", b.detail);
    if let Some(on) = b.settled_on {
        println!("changed by the run of: {on}");
    }
    if let Some(by) = &b.resolved_by {
        println!(
            "resolved by:   {by} at {}",
            b.resolved_at
                .map(|t| t.format("%Y-%m-%d %H:%M:%S UTC").to_string())
                .unwrap_or_default()
        );
    }
    if let Some(note) = &b.note {
        println!("note:          {note}");
    }
}
