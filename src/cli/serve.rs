//! `reckon serve`: the scheduler loop of one node.

use std::sync::Arc;
use std::time::Duration;

use tokio::task::JoinSet;

use super::context::runner;
use super::run::install_signal_handler;
use super::{EXIT_OK, Failure};
use crate::config::Config;
use crate::error_chain::chain;
use crate::runtime::{Progress, Runner};
use crate::schedule::SystemClock;
use crate::scheduler::Scheduler;

/// Longest sleep between two looks at the clock.
const TICK_INTERVAL_MAX: Duration = Duration::from_secs(30);

#[derive(Debug, clap::Args)]
pub(super) struct ServeArgs {
    /// Serve the operations console and /metrics on IP:PORT (e.g. 127.0.0.1:8080)
    #[arg(long, value_name = "ADDR")]
    http: Option<String>,
}

/// Fires jobs by cron until SIGTERM/SIGINT, then drains running runs.
pub(super) async fn serve(config: &Config, args: ServeArgs) -> Result<u8, Failure> {
    let mut config = config.clone();
    if let Some(addr) = &args.http {
        config.http_addr =
            Some(crate::config::socket_addr("--http", addr).map_err(Failure::usage)?);
    }
    let config = &config;
    if let Some(registry) = super::context::registry(config)? {
        return serve_cluster(config, registry).await;
    }
    let runner = runner(config).await?;
    install_signal_handler(&runner, config);
    crate::console::start(config, runner.clone(), runner.shutdown().stop_new.clone())
        .await
        .map_err(Failure::usage)?;
    heal_abandoned(&runner).await.map_err(Failure::run)?;
    let scheduler = Scheduler::new(
        runner.clone(),
        Arc::new(SystemClock),
        format!("scheduler@{}", config.instance_id),
    );
    tracing::info!(instance = %config.instance_id, jobs = runner.catalog().jobs().count(), "reckon serving");
    let mut running = JoinSet::new();
    let stop = runner.shutdown().stop_new.clone();
    while !stop.is_cancelled() {
        match scheduler.tick().await {
            Ok(created) => {
                for run in created {
                    let runner = runner.clone();
                    running.spawn(async move {
                        if let Err(err) = runner.execute(&run.run_id, Arc::new(Progress::default())).await {
                            tracing::error!(run_id = %run.run_id, error = %chain(&err), "run could not execute");
                        }
                    });
                }
            }
            Err(err) => tracing::error!(error = %chain(&err), "scheduler tick failed"),
        }
        while running.try_join_next().is_some() {}
        tokio::select! {
            _ = tokio::time::sleep(scheduler.until_next_fire(TICK_INTERVAL_MAX)) => {}
            _ = stop.cancelled() => {}
        }
    }
    tracing::info!(runs = running.len(), "waiting for running runs to finish");
    while running.join_next().await.is_some() {}
    Ok(EXIT_OK)
}

/// Cluster mode: this node registers, works, and leads when elected.
async fn serve_cluster(
    config: &Config,
    registry: crate::coord::zookeeper::Registry,
) -> Result<u8, Failure> {
    let coord = Arc::new(crate::coord::zookeeper::ZkCoordinator::new(
        registry.clone(),
        config.instance_id.clone(),
        config.session_timeout,
    ));
    let runner = super::context::runner_with(config, coord.clone()).await?;
    install_signal_handler(&runner, config);
    crate::console::start(config, runner.clone(), runner.shutdown().stop_new.clone())
        .await
        .map_err(Failure::usage)?;
    tracing::info!(
        instance = %config.instance_id,
        registry = %format!("{}/{}", registry.hosts, registry.namespace),
        session_timeout_ms = config.session_timeout.as_millis() as u64,
        jobs = runner.catalog().jobs().count(),
        "reckon serving in a cluster"
    );
    crate::coord::zookeeper::serve_cluster(runner, coord).await;
    Ok(EXIT_OK)
}

/// Fails runs left pending or running by a node that died (no heartbeat within the lease).
async fn heal_abandoned(runner: &Runner) -> Result<(), crate::ledger::LedgerError> {
    let ledger = runner.ledger();
    let lease = runner.config().run_lease;
    let before = ledger.clock().now() - chrono::Duration::from_std(lease).unwrap_or_default();
    for run in ledger.stale_runs(before).await? {
        let healed = ledger
            .fail_abandoned(&run.job, run.business_date, lease)
            .await?;
        if healed > 0 {
            tracing::warn!(run_id = %run.run_id, job = %run.job, "marked abandoned run failed");
        }
    }
    Ok(())
}
