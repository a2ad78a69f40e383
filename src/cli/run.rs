//! `reckon run` and `reckon rerun`.

use std::sync::Arc;

use chrono::NaiveDate;
use clap::Args;

use super::context::{requested_by, runner};
use super::progress::{print_summary, watch};
use super::{EXIT_OK, EXIT_RUN_FAILED, Failure};
use crate::config::Config;
use crate::coord::zookeeper::triggers::TriggerRequest;
use crate::error_chain::chain;
use crate::ledger::{JobName, RunId, RunStatus, Trigger};
use crate::runtime::{Progress, RunError, RunSummary, Runner};

#[derive(Debug, Args)]
pub(super) struct RunArgs {
    /// The job to run
    job: String,
    /// Business date (YYYY-MM-DD) [default: by the job's business-date rule, now]
    #[arg(long, conflicts_with_all = ["from", "to"])]
    date: Option<NaiveDate>,
    /// First business date of a backfill, run in date order
    #[arg(long, requires = "to")]
    from: Option<NaiveDate>,
    /// Last business date of a backfill (inclusive)
    #[arg(long, requires = "from")]
    to: Option<NaiveDate>,
    /// Why you are running it, kept in the run history
    #[arg(long)]
    reason: Option<String>,
}

#[derive(Debug, Args)]
pub(super) struct RerunArgs {
    /// The run to run again
    run_id: String,
    /// Run only the shards that did not succeed; keep the others' committed outputs
    #[arg(long)]
    failed_only: bool,
    /// Then rerun every later date of the job that had succeeded (stale or not), in
    /// date order, so what each date carries into the next flows through; stops at
    /// the first rerun that does not succeed and names the dates not rerun
    #[arg(long, conflicts_with = "failed_only")]
    cascade: bool,
    /// Why it is rerun, kept in the run history
    #[arg(long)]
    reason: String,
}

/// `reckon run`.
pub(super) async fn run(config: &Config, args: RunArgs) -> Result<u8, Failure> {
    if let Some(registry) = super::context::registry(config)? {
        return run_in_cluster(config, &registry, args).await;
    }
    let runner = runner(config).await?;
    install_signal_handler(&runner, config);
    let job = runner
        .catalog()
        .get(&args.job)
        .map_err(Failure::usage)?
        .clone();
    crate::toggles::refuse_disabled_here(runner.ledger().db(), &job.name)
        .await
        .map_err(Failure::run)?;
    let range = args.from.zip(args.to);
    let (dates, trigger) = crate::ops::run_dates(&job, args.date, range).map_err(Failure::usage)?;
    let mut code = EXIT_OK;
    for date in dates {
        let new = crate::ops::manual_run(
            &job.name,
            date,
            trigger,
            &requested_by(),
            args.reason.as_deref(),
        );
        match runner.request(new).await {
            Ok(run) => code = code.max(execute(&runner, &run.run_id).await?),
            Err(RunError::AlreadySucceeded { run_id, .. }) if trigger == Trigger::Backfill => {
                println!(
                    "{} {date}: skipped, already succeeded in run {run_id}{}",
                    job.name,
                    stale_note(&runner, &run_id).await
                );
            }
            Err(err) => {
                eprintln!("reckon: error: {}", chain(&err));
                code = EXIT_RUN_FAILED;
                if trigger != Trigger::Backfill {
                    break;
                }
            }
        }
        if runner.shutdown().stop_new.is_cancelled() {
            break;
        }
    }
    Ok(code)
}

/// `reckon rerun`.
pub(super) async fn rerun(config: &Config, args: RerunArgs) -> Result<u8, Failure> {
    if args.cascade {
        return super::cascade::rerun_cascade(config, args.run_id, args.reason).await;
    }
    if let Some(registry) = super::context::registry(config)? {
        let request = TriggerRequest {
            job: None,
            business_date: None,
            rerun_of: Some(RunId::from(args.run_id)),
            failed_only: args.failed_only,
            reason: Some(args.reason),
            requested_by: requested_by(),
        };
        return super::cluster::run_via_leader(config, &registry, request).await;
    }
    let runner = runner(config).await?;
    install_signal_handler(&runner, config);
    refuse_disabled_rerun(&runner, &args.run_id).await?;
    let run = runner
        .request_rerun(
            &RunId::from(args.run_id),
            args.failed_only,
            &args.reason,
            &requested_by(),
        )
        .await
        .map_err(Failure::run)?;
    execute(&runner, &run.run_id).await
}

/// A rerun of a job disabled on this single node is refused like a run
/// (who disabled it and why); the cluster's leader refuses its own.
pub(super) async fn refuse_disabled_rerun(runner: &Runner, run_id: &str) -> Result<(), Failure> {
    let parent = runner
        .ledger()
        .run(&RunId::from(run_id))
        .await
        .map_err(Failure::run)?;
    crate::toggles::refuse_disabled_here(runner.ledger().db(), &parent.job)
        .await
        .map_err(Failure::run)
}

/// `reckon run --registry …`: each date is handed to the leader in turn.
async fn run_in_cluster(
    config: &Config,
    registry: &crate::coord::zookeeper::Registry,
    args: RunArgs,
) -> Result<u8, Failure> {
    let dates = match (args.date, args.from, args.to) {
        (Some(date), _, _) => vec![Some(date)],
        (None, Some(from), Some(to)) => date_range(from, to)?.into_iter().map(Some).collect(),
        _ => vec![None],
    };
    let mut code = EXIT_OK;
    for date in dates {
        let request = TriggerRequest {
            job: Some(JobName::from(args.job.as_str())),
            business_date: date,
            rerun_of: None,
            failed_only: false,
            reason: args.reason.clone(),
            requested_by: requested_by(),
        };
        code = code.max(super::cluster::run_via_leader(config, registry, request).await?);
    }
    Ok(code)
}

async fn execute(runner: &Runner, run_id: &RunId) -> Result<u8, Failure> {
    let progress = Arc::new(Progress::default());
    let watcher = watch(progress.clone());
    let summary: RunSummary = runner
        .execute(run_id, progress)
        .await
        .map_err(Failure::run)?;
    watcher.finish();
    print_summary(&summary);
    Ok(if summary.run.status == RunStatus::Succeeded {
        EXIT_OK
    } else {
        EXIT_RUN_FAILED
    })
}

/// `; STALE …` when a skipped date's run is stale (a rerun of an earlier
/// date changed what it was built on): skipping it must not look like success.
async fn stale_note(runner: &Runner, run_id: &RunId) -> String {
    match runner.ledger().stale_mark(run_id).await {
        Ok(Some(mark)) if mark.is_active() => format!(
            "; STALE since run {} changed {}: rerun it with `reckon rerun {run_id} --cascade --reason …`",
            mark.caused_by_run, mark.caused_by_date
        ),
        Ok(_) => String::new(),
        Err(err) => format!("; staleness unknown: {}", chain(&err)),
    }
}

fn date_range(from: NaiveDate, to: NaiveDate) -> Result<Vec<NaiveDate>, Failure> {
    crate::ops::date_range(from, to).map_err(Failure::usage)
}

/// First SIGINT/SIGTERM: no new shard starts, running ones may finish for the
/// grace period; then (or on a second signal) running shards are cancelled.
pub(super) fn install_signal_handler(runner: &Runner, config: &Config) {
    let shutdown = runner.shutdown().clone();
    let grace = config.shutdown_grace;
    tokio::spawn(async move {
        wait_for_signal().await;
        eprintln!(
            "reckon: stopping: no new shards start; running shards get {}s to finish",
            grace.as_secs()
        );
        shutdown.stop_new.cancel();
        tokio::select! {
            _ = tokio::time::sleep(grace) => {}
            _ = wait_for_signal() => {}
        }
        eprintln!("reckon: cancelling running shards");
        shutdown.abort.cancel();
    });
}

async fn wait_for_signal() {
    let mut terminate =
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(signal) => signal,
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
                return;
            }
        };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = terminate.recv() => {}
    }
}
