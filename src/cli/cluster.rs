//! `reckon cluster status|disable|enable`, and `reckon run/rerun` handed to
//! the leader of a cluster.

use std::time::Duration;

use clap::{Args, Subcommand};

use super::context::{ledger, registry};
use super::progress::print_summary;
use super::{EXIT_OK, EXIT_RUN_FAILED, Failure};
use crate::config::Config;
use crate::coord::zookeeper::Registry;
use crate::coord::zookeeper::status::{Switches, Toggle};
use crate::coord::zookeeper::triggers::{TriggerRequest, submit};
use crate::ledger::RunStatus;
use crate::runtime::RunSummary;

/// How long the CLI waits for the leader to answer a request.
const ANSWER_WAIT: Duration = Duration::from_secs(30);

#[derive(Debug, Subcommand)]
pub(super) enum ClusterCommand {
    /// Instances, leader, each job's assignment, running shards
    Status,
    /// Stop firing a job (by name) or stop giving work to an instance (by id);
    /// without a registry, on this single node (kept in its database)
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
    /// Why (journaled with who did it)
    #[arg(long)]
    reason: String,
}

pub(super) async fn cluster(config: &Config, command: ClusterCommand) -> Result<u8, Failure> {
    let registry = registry(config)?;
    match command {
        ClusterCommand::Status => {
            let registry = registry.ok_or_else(|| {
                Failure::usage("`reckon cluster status` needs --registry zk://host:port/namespace (or `registry` in reckon.toml); a single node's state is on the console's Cluster page")
            })?;
            status(config, &registry).await
        }
        ClusterCommand::Disable(target) => toggle(config, registry.as_ref(), target, true).await,
        ClusterCommand::Enable(target) => toggle(config, registry.as_ref(), target, false).await,
    }
}

async fn status(config: &Config, registry: &Registry) -> Result<u8, Failure> {
    let catalog_jobs: Vec<String> = super::context::catalog(config)
        .map(|c| c.jobs().map(|j| j.name.to_string()).collect())
        .unwrap_or_default();
    // One session for the status and for settling pending journal rows.
    let switches = Switches::connect(registry).await.map_err(Failure::run)?;
    let status = switches.status(&catalog_jobs).await.map_err(Failure::run)?;
    println!(
        "leader: {}",
        status.leader.as_deref().unwrap_or("(none elected)")
    );
    if let Ok(ledger) = ledger(config).await
        && let Ok(Some(lead)) = ledger.leader().await
    {
        println!(
            "leader epoch: {} (recorded by {} at {})",
            lead.epoch,
            lead.holder,
            lead.elected_at.to_rfc3339()
        );
    }
    println!("instances (registration order):");
    for i in &status.instances {
        let mut flags = Vec::new();
        if i.leader {
            flags.push("leader");
        }
        if i.disabled {
            flags.push("disabled");
        }
        let (host, pid, version, started) =
            i.info
                .as_ref()
                .map_or(("?".into(), 0, "?".into(), "?".into()), |info| {
                    (
                        info.host.clone(),
                        info.pid,
                        info.version.clone(),
                        info.started_at.clone(),
                    )
                });
        println!(
            "  {}  host {host} pid {pid} version {version} since {started}  queued {}  {}",
            i.id,
            i.queued,
            flags.join(" ")
        );
    }
    println!("jobs:");
    for job in &status.jobs {
        let state = if job.disabled { " (disabled)" } else { "" };
        match &job.assignment {
            Some((version, strategy, run_id, items)) => println!(
                "  {}{state}  assignment v{version}: {strategy} for run {run_id}: {items}",
                job.job
            ),
            None => println!("  {}{state}  no assignment yet", job.job),
        }
    }
    println!("running shards:");
    for (run, item, owner) in &status.running {
        println!("  run {run} item {item} on {owner}");
    }
    for (dead, waiting) in &status.awaiting_failover {
        println!("awaiting failover from {dead}: {}", waiting.join(", "));
    }
    if let Ok(db) = super::context::open_db(config).await {
        // Rows a crashed toggle left pending are settled before they are listed.
        if let Err(err) = crate::toggles::reconcile(&db, &switches, chrono::Utc::now()).await {
            eprintln!("reckon: warning: {}", crate::error_chain::chain(&err));
        }
        if let Ok(entries) = crate::toggles::journal(&db, 10).await
            && !entries.is_empty()
        {
            println!("disable/enable journal (newest first):");
            for e in entries {
                println!(
                    "  #{} {} {} {} {} by {}: {}  [{}]",
                    e.seq,
                    e.at.format("%Y-%m-%d %H:%M:%S UTC"),
                    e.action,
                    e.what,
                    e.name,
                    e.actor,
                    e.reason,
                    e.state.replace('_', " ")
                );
            }
        }
    }
    Ok(EXIT_OK)
}

async fn toggle(
    config: &Config,
    registry: Option<&Registry>,
    target: Target,
    disable: bool,
) -> Result<u8, Failure> {
    let is_job = !target.instance
        && super::context::catalog(config)
            .map(|c| c.get(&target.name).is_ok())
            .unwrap_or(false);
    let (what, noun) = if is_job {
        (Toggle::Job, "job")
    } else {
        (Toggle::Instance, "instance")
    };
    let db = super::context::open_db(config).await?;
    let place = match registry {
        Some(registry) => crate::toggles::Place::Registry(registry),
        None => crate::toggles::Place::Node,
    };
    let actor = format!("cli:{}", super::context::requested_by());
    let change = crate::toggles::Change {
        what,
        name: &target.name,
        disable,
        actor: &actor,
        reason: &target.reason,
    };
    crate::toggles::apply(&db, place, &change, chrono::Utc::now())
        .await
        .map_err(Failure::run)?;
    let done = if disable { "disabled" } else { "enabled" };
    let scope = if registry.is_some() {
        "in the cluster"
    } else {
        "on this node"
    };
    println!("{noun} {} {done} {scope}", target.name);
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
    // Bounded: the job's dependency wait plus every attempt of a shard plus
    // a failover and an adoption; after that the CLI says so and stops following.
    let wait = {
        let run = ledger.run(&run_id).await.map_err(Failure::run)?;
        let job = super::context::catalog(config)?
            .get(&run.job)
            .map_err(Failure::run)?
            .clone();
        job.depends_wait
            + job.timeout * (job.retry.retries + 1)
            + config.runner.run_lease
            + config.session_timeout * 4
    };
    let deadline = tokio::time::Instant::now() + wait;
    loop {
        let run = ledger.run(&run_id).await.map_err(Failure::run)?;
        if tokio::time::Instant::now() >= deadline && !run.status.is_final() {
            eprintln!(
                "reckon: error: run {run_id} is still {} after {}; follow it with `reckon show {run_id}`",
                run.status,
                humantime::format_duration(wait)
            );
            return Ok(EXIT_RUN_FAILED);
        }
        if run.status.is_final() {
            let shards = ledger.shards(&run_id).await.map_err(Failure::run)?;
            let succeeded = run.status == RunStatus::Succeeded;
            print_summary(&RunSummary { run, shards });
            return Ok(if succeeded { EXIT_OK } else { EXIT_RUN_FAILED });
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}
