//! `reckon cluster status|disable|enable`, and `reckon run/rerun` handed to
//! the leader of a cluster.

use std::time::Duration;

use clap::{Args, Subcommand};
use zookeeper_client::Error;

use super::context::{ledger, registry};
use super::progress::print_summary;
use super::{EXIT_OK, EXIT_RUN_FAILED, Failure};
use crate::config::Config;
use crate::coord::zookeeper::Registry;
use crate::coord::zookeeper::triggers::{TriggerRequest, submit};
use crate::ledger::RunStatus;
use crate::runtime::RunSummary;

/// How long the CLI waits for the leader to answer a request.
const ANSWER_WAIT: Duration = Duration::from_secs(30);

#[derive(Debug, Subcommand)]
pub(super) enum ClusterCommand {
    /// Instances, leader, each job's assignment, running shards
    Status,
    /// Stop firing a job (by name) or stop giving work to an instance (by id)
    Disable(Target),
    /// Undo `disable`
    Enable(Target),
}

#[derive(Debug, Args)]
pub(super) struct Target {
    /// A job name from the catalog, or an instance id
    name: String,
    /// Treat NAME as an instance id even if a job has that name
    #[arg(long)]
    instance: bool,
}

pub(super) async fn cluster(config: &Config, command: ClusterCommand) -> Result<u8, Failure> {
    let registry = registry(config)?.ok_or_else(|| {
        Failure::usage("`reckon cluster` needs --registry zk://host:port/namespace (or `registry` in reckon.toml)")
    })?;
    let client = crate::coord::zookeeper::connect_for_cli(&registry)
        .await
        .map_err(Failure::run)?;
    let namespace = registry.namespace.as_str();
    match command {
        ClusterCommand::Status => status(config, &client, namespace).await,
        ClusterCommand::Disable(target) => toggle(config, &client, namespace, target, true).await,
        ClusterCommand::Enable(target) => toggle(config, &client, namespace, target, false).await,
    }
}

fn zk_failure(err: Error) -> Failure {
    Failure::run(format!("ZooKeeper: {err}"))
}

async fn status(
    config: &Config,
    client: &zookeeper_client::Client,
    namespace: &str,
) -> Result<u8, Failure> {
    let catalog_jobs: Vec<String> = super::context::catalog(config)
        .map(|c| c.jobs().map(|j| j.name.clone()).collect())
        .unwrap_or_default();
    let status = crate::coord::zookeeper::status::status(client, namespace, &catalog_jobs)
        .await
        .map_err(zk_failure)?;
    println!(
        "leader: {}",
        status.leader.as_deref().unwrap_or("(none elected)")
    );
    println!("instances (registration order):");
    for m in &status.members {
        let mut flags = Vec::new();
        if m.leader {
            flags.push("leader");
        }
        if m.disabled {
            flags.push("disabled");
        }
        let (host, pid, version, started) =
            m.info
                .as_ref()
                .map_or(("?".into(), 0, "?".into(), "?".into()), |i| {
                    (
                        i.host.clone(),
                        i.pid,
                        i.version.clone(),
                        i.started_at.clone(),
                    )
                });
        println!(
            "  {}  host {host} pid {pid} version {version} since {started}  queued {}  {}",
            m.id,
            m.queued,
            flags.join(" ")
        );
    }
    println!("jobs:");
    for job in &status.jobs {
        let state = if job.disabled { " (disabled)" } else { "" };
        match &job.assignment {
            Some((version, text)) => {
                println!("  {}{state}  assignment v{version}: {text}", job.job)
            }
            None => println!("  {}{state}  no assignment yet", job.job),
        }
    }
    println!("running shards:");
    for (run, item, owner) in &status.running {
        println!("  run {run} item {item} on {owner}");
    }
    for (dead, waiting) in &status.orphaned {
        println!("awaiting failover from {dead}: {}", waiting.join(", "));
    }
    Ok(EXIT_OK)
}

async fn toggle(
    config: &Config,
    client: &zookeeper_client::Client,
    namespace: &str,
    target: Target,
    disable: bool,
) -> Result<u8, Failure> {
    let is_job = !target.instance
        && super::context::catalog(config)
            .map(|c| c.get(&target.name).is_ok())
            .unwrap_or(false);
    crate::coord::zookeeper::status::set_disabled(client, namespace, &target.name, is_job, disable)
        .await
        .map_err(zk_failure)?;
    let what = if is_job { "job" } else { "instance" };
    let done = if disable { "disabled" } else { "enabled" };
    println!("{what} {} {done}", target.name);
    Ok(EXIT_OK)
}

/// `reckon run` / `rerun` in a cluster: the leader creates and executes the
/// run; this process follows it in the ledger and prints its summary.
pub(super) async fn run_via_leader(
    config: &Config,
    registry: &Registry,
    request: TriggerRequest,
) -> Result<u8, Failure> {
    let answer = submit(registry, &request, ANSWER_WAIT)
        .await
        .map_err(Failure::run)?;
    let run_id = match (answer.run_id, answer.error) {
        (Some(run_id), _) => run_id,
        (None, error) => {
            eprintln!(
                "reckon: error: the leader ({}) refused: {}",
                answer.leader,
                error.unwrap_or_else(|| "no reason given".into())
            );
            return Ok(EXIT_RUN_FAILED);
        }
    };
    eprintln!("run {run_id} created by leader {}", answer.leader);
    let ledger = ledger(config).await?;
    loop {
        let run = ledger.run(&run_id).await.map_err(Failure::run)?;
        if run.status.is_final() {
            let shards = ledger.shards(&run_id).await.map_err(Failure::run)?;
            let succeeded = run.status == RunStatus::Succeeded;
            print_summary(&RunSummary { run, shards });
            return Ok(if succeeded { EXIT_OK } else { EXIT_RUN_FAILED });
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}
