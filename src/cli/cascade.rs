//! `reckon rerun <run-id> --cascade`: the run's date, then every later date
//! of its job that had succeeded, in date order; in a cluster each rerun is
//! handed to the leader in turn (the same request as a plain rerun).

use chrono::NaiveDate;

use super::context::{ledger, requested_by, runner};
use super::progress::print_summary;
use super::run::install_signal_handler;
use super::{EXIT_OK, EXIT_RUN_FAILED, Failure};
use crate::config::Config;
use crate::coord::zookeeper::Registry;
use crate::coord::zookeeper::triggers::TriggerRequest;
use crate::ledger::RunId;
use crate::runtime::CascadeReport;

/// `reckon rerun <run-id> --cascade --reason TEXT`.
pub(super) async fn rerun_cascade(
    config: &Config,
    run_id: String,
    reason: String,
) -> Result<u8, Failure> {
    if let Some(registry) = super::context::registry(config)? {
        return in_cluster(config, &registry, run_id, reason).await;
    }
    let runner = runner(config).await?;
    install_signal_handler(&runner, config);
    super::run::refuse_disabled_rerun(&runner, &run_id).await?;
    let run_id = RunId::from(run_id);
    let parent = runner.ledger().run(&run_id).await.map_err(Failure::run)?;
    println!(
        "cascade: rerunning {} {}, then every later date that had succeeded, in date order",
        parent.job, parent.business_date
    );
    let report = runner
        .rerun_cascade(&run_id, &reason, &requested_by(), print_summary)
        .await
        .map_err(Failure::run)?;
    Ok(conclude(&report))
}

/// Prints how the cascade ended; the exit code.
fn conclude(report: &CascadeReport) -> u8 {
    let done: Vec<String> = report
        .steps
        .iter()
        .map(|s| format!("{} {}", s.run.business_date, s.run.status))
        .collect();
    println!("cascade: rerun {}", done.join(", "));
    match &report.stopped {
        None if report.succeeded() => {
            println!("cascade: every date rerun and succeeded");
            EXIT_OK
        }
        stopped => {
            println!(
                "cascade: stopped: {}; not rerun: {}",
                stopped.as_deref().unwrap_or("a rerun did not succeed"),
                dates(&report.not_rerun)
            );
            EXIT_RUN_FAILED
        }
    }
}

fn dates(dates: &[NaiveDate]) -> String {
    if dates.is_empty() {
        return "none".into();
    }
    dates
        .iter()
        .map(NaiveDate::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}

/// Cluster mode: each rerun goes to the leader (`rerun_of`), waited for in
/// the ledger before the next date is asked for.
async fn in_cluster(
    config: &Config,
    registry: &Registry,
    run_id: String,
    reason: String,
) -> Result<u8, Failure> {
    let ledger = ledger(config).await?;
    let run_id = RunId::from(run_id);
    let parent = ledger.run(&run_id).await.map_err(Failure::run)?;
    let later = ledger
        .succeeded_dates_after(&parent.job, parent.business_date)
        .await
        .map_err(Failure::run)?;
    let request = |rerun_of: RunId, reason: String| TriggerRequest {
        job: None,
        business_date: None,
        rerun_of: Some(rerun_of),
        failed_only: false,
        reason: Some(reason),
        requested_by: requested_by(),
    };
    let step_reason = format!("{reason} (cascade after {})", parent.business_date);
    let first = request(run_id, reason.clone());
    if super::cluster::run_via_leader(config, registry, first).await? != EXIT_OK {
        println!(
            "cascade: stopped: the rerun of {} did not succeed; not rerun: {}",
            parent.business_date,
            dates(&later)
        );
        return Ok(EXIT_RUN_FAILED);
    }
    for (i, date) in later.iter().enumerate() {
        let latest = ledger
            .succeeded_run(&parent.job, *date)
            .await
            .map_err(Failure::run)?;
        let code = match latest {
            Some(run) => {
                let step = request(run.run_id, step_reason.clone());
                super::cluster::run_via_leader(config, registry, step).await?
            }
            None => EXIT_RUN_FAILED,
        };
        if code != EXIT_OK {
            println!(
                "cascade: stopped at {date}; not rerun: {}",
                dates(&later[i + 1..])
            );
            return Ok(EXIT_RUN_FAILED);
        }
    }
    println!("cascade: every date rerun and succeeded");
    Ok(EXIT_OK)
}
