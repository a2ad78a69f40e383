//! `reckon runs` and `reckon show`.

use chrono::{DateTime, NaiveDate, Utc};
use clap::Args;

use std::collections::HashSet;

use super::context::ledger;
use super::{EXIT_OK, Failure};
use crate::config::Config;
use crate::ledger::{JobName, Ledger, RunFilter, RunId, RunStatus, StaleMark};

/// How `runs` and `show` call a succeeded run built on carried state that changed since.
const STALE: &str = "stale";
/// Runs scanned for `runs --status stale` (the limit applies after filtering).
const STALE_SCAN_MAX: i64 = 10_000;

#[derive(Debug, Args)]
pub(super) struct RunsArgs {
    /// Only this job
    #[arg(long)]
    job: Option<String>,
    /// Only this business date
    #[arg(long)]
    date: Option<NaiveDate>,
    /// Only this status (pending, running, succeeded, failed, cancelled, or stale:
    /// succeeded but built on what an earlier date carried before a rerun changed it)
    #[arg(long)]
    status: Option<String>,
    /// At most this many runs
    #[arg(long, default_value_t = 50)]
    limit: i64,
}

#[derive(Debug, Args)]
pub(super) struct ShowArgs {
    /// The run id
    run_id: String,
}

/// `reckon runs`.
pub(super) async fn runs(config: &Config, args: RunsArgs) -> Result<u8, Failure> {
    let only_stale = args.status.as_deref() == Some(STALE);
    let status = match args.status.as_deref() {
        Some(STALE) => Some(RunStatus::Succeeded),
        other => other
            .map(str::parse::<RunStatus>)
            .transpose()
            .map_err(Failure::usage)?,
    };
    let ledger = ledger(config).await?;
    let job = args.job.map(JobName::from);
    let stale: HashSet<RunId> = ledger
        .active_stale_marks(job.as_ref())
        .await
        .map_err(Failure::run)?
        .into_iter()
        .map(|mark| mark.run_id)
        .collect();
    let filter = RunFilter {
        job,
        business_date: args.date,
        status,
        limit: if only_stale {
            STALE_SCAN_MAX
        } else {
            args.limit
        },
    };
    let mut runs = ledger.runs(&filter).await.map_err(Failure::run)?;
    if only_stale {
        runs.retain(|run| stale.contains(&run.run_id));
        runs.truncate(usize::try_from(args.limit).unwrap_or(0));
    }
    println!(
        "{:<36}  {:<20} {:<10} {:>3}  {:<8} {:<9} {:<20} {:>9}  PARENT",
        "RUN", "JOB", "DATE", "ATT", "TRIGGER", "STATUS", "STARTED (UTC)", "DURATION"
    );
    for run in runs {
        println!(
            "{:<36}  {:<20} {:<10} {:>3}  {:<8} {:<9} {:<20} {:>9}  {}",
            run.run_id,
            run.job,
            run.business_date,
            run.attempt,
            run.trigger,
            status_text(run.status, stale.contains(&run.run_id)),
            time(run.started_at),
            duration(run.started_at, run.finished_at),
            run.parent_run.as_deref().unwrap_or("-")
        );
    }
    Ok(EXIT_OK)
}

/// `reckon show`.
pub(super) async fn show(config: &Config, args: ShowArgs) -> Result<u8, Failure> {
    let ledger = ledger(config).await?;
    let run = ledger
        .run(&RunId::from(args.run_id))
        .await
        .map_err(Failure::run)?;
    println!("run          {}", run.run_id);
    println!(
        "job          {}  business date {}  attempt {}",
        run.job, run.business_date, run.attempt
    );
    let mark = ledger.stale_mark(&run.run_id).await.map_err(Failure::run)?;
    let stale = mark.as_ref().is_some_and(StaleMark::is_active);
    println!("status       {}", status_text(run.status, stale));
    stale_lines(&ledger, &run.run_id, mark).await?;
    println!("trigger      {} by {}", run.trigger, run.requested_by);
    if let Some(reason) = &run.reason {
        println!("reason       {reason}");
    }
    if let Some(parent) = &run.parent_run {
        println!(
            "rerun of     {parent}{}",
            if run.failed_only {
                " (failed shards only)"
            } else {
                ""
            }
        );
    }
    println!(
        "started      {}  finished {}  ({})",
        time(run.started_at),
        time(run.finished_at),
        duration(run.started_at, run.finished_at)
    );
    if let Some(error) = &run.error {
        println!("error        {error}");
    }
    println!(
        "\n{:>5}  {:<9} {:>8} {:>5} {:>10} {:>10} {:>9}  {:<24} ERROR",
        "SHARD", "STATUS", "ATTEMPTS", "EPOCH", "ROWS IN", "ROWS OUT", "DURATION", "INSTANCE"
    );
    for shard in ledger.shards(&run.run_id).await.map_err(Failure::run)? {
        let instance = match &shard.carried_from {
            Some(from) => format!("(kept from {})", &from[..from.len().min(13)]),
            None => shard.instance.clone().unwrap_or_default(),
        };
        println!(
            "{:>5}  {:<9} {:>8} {:>5} {:>10} {:>10} {:>9}  {:<24} {}",
            shard.item,
            shard.status,
            shard.attempts,
            shard.epoch.map_or("-".into(), |e| e.to_string()),
            shard.rows_in,
            shard.rows_out,
            duration(shard.started_at, shard.finished_at),
            instance,
            shard.error.as_deref().unwrap_or("")
        );
    }
    println!("\nevents");
    for event in ledger.events(&run.run_id).await.map_err(Failure::run)? {
        let item = event.item.map_or(String::new(), |i| format!(" shard {i}"));
        println!(
            "  {} {}{}: {}",
            time(Some(event.at)),
            event.kind,
            item,
            event.message
        );
    }
    Ok(EXIT_OK)
}

/// Staleness and carried state of a run, for `reckon show`.
async fn stale_lines(
    ledger: &Ledger,
    run_id: &RunId,
    mark: Option<StaleMark>,
) -> Result<(), Failure> {
    if let Some(mark) = mark {
        let cause = format!(
            "run {} changed what {} carries into later dates ({} UTC)",
            mark.caused_by_run,
            mark.caused_by_date,
            time(Some(mark.marked_at))
        );
        match &mark.cleared_by_run {
            None => println!(
                "             {STALE}: {cause}; rerun it: reckon rerun {run_id} --cascade --reason …"
            ),
            Some(by) => println!(
                "             was {STALE}: {cause}; fresh again since run {by} succeeded ({} UTC)",
                time(mark.cleared_at)
            ),
        }
    }
    if let Some((digest, changed)) = ledger.carry_digest(run_id).await.map_err(Failure::run)? {
        let change = if changed {
            "changed from the run it replaced"
        } else {
            "same as the run it replaced"
        };
        println!("carries      {digest} ({change})");
    }
    Ok(())
}

/// The STATUS column: `stale` for a succeeded run with an active stale mark.
fn status_text(status: RunStatus, stale: bool) -> String {
    if stale && status == RunStatus::Succeeded {
        STALE.to_string()
    } else {
        status.to_string()
    }
}

fn time(at: Option<DateTime<Utc>>) -> String {
    at.map_or("-".into(), |t| t.format("%Y-%m-%d %H:%M:%S").to_string())
}

fn duration(start: Option<DateTime<Utc>>, end: Option<DateTime<Utc>>) -> String {
    match (start, end) {
        (Some(s), Some(e)) => format!("{:.1}s", (e - s).num_milliseconds() as f64 / 1000.0),
        _ => "-".into(),
    }
}
