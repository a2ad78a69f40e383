//! `reckon cluster status|disable|enable`, and `reckon run/rerun` handed to
//! the leader of a cluster.

use std::time::Duration;

use clap::{Args, Subcommand};
use zookeeper_client::Error;

use super::context::{ledger, registry};
use super::progress::print_summary;
use super::{EXIT_OK, EXIT_RUN_FAILED, Failure};
use crate::config::Config;
use crate::coord::zookeeper::triggers::{TriggerRequest, submit};
use crate::coord::zookeeper::{InstanceInfo, Registry};
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
    let paths = Zk::new(&registry);
    match command {
        ClusterCommand::Status => status(config, &client, &paths).await,
        ClusterCommand::Disable(target) => toggle(config, &client, &paths, target, true).await,
        ClusterCommand::Enable(target) => toggle(config, &client, &paths, target, false).await,
    }
}

struct Zk {
    root: String,
}

impl Zk {
    fn new(registry: &Registry) -> Zk {
        Zk {
            root: format!("/{}", registry.namespace),
        }
    }
    fn at(&self, rest: &str) -> String {
        format!("{}/{rest}", self.root)
    }
}

fn zk_failure(err: Error) -> Failure {
    Failure::run(format!("ZooKeeper: {err}"))
}

async fn children(client: &zookeeper_client::Client, path: &str) -> Result<Vec<String>, Failure> {
    match client.list_children(path).await {
        Ok(mut names) => {
            names.sort();
            Ok(names)
        }
        Err(Error::NoNode) => Ok(Vec::new()),
        Err(err) => Err(zk_failure(err)),
    }
}

async fn status(
    config: &Config,
    client: &zookeeper_client::Client,
    zk: &Zk,
) -> Result<u8, Failure> {
    // Leader: the lock node with the lowest sequence number.
    let mut contenders = children(client, &zk.at("leader")).await?;
    contenders.sort_by_key(|n| n.rsplit('-').next().unwrap_or("").to_string());
    let leader = match contenders.first() {
        Some(first) => client
            .get_data(&format!("{}/{first}", zk.at("leader")))
            .await
            .ok()
            .map(|(d, _)| String::from_utf8_lossy(&d).to_string()),
        None => None,
    };
    let disabled_instances = children(client, &zk.at("disabled/instances")).await?;
    let disabled_jobs = children(client, &zk.at("disabled/jobs")).await?;
    let mut instances = Vec::new();
    for name in children(client, &zk.at("instances")).await? {
        if let Ok((data, stat)) = client.get_data(&zk.at(&format!("instances/{name}"))).await {
            let info: Option<InstanceInfo> = serde_json::from_slice(&data).ok();
            instances.push((stat.czxid, name, info));
        }
    }
    instances.sort_by_key(|i| i.0);
    println!("leader: {}", leader.as_deref().unwrap_or("(none elected)"));
    println!("instances (registration order):");
    for (_, name, info) in &instances {
        let queued = children(client, &zk.at(&format!("work/{name}")))
            .await?
            .len();
        let mut flags = Vec::new();
        if leader.as_deref() == Some(name.as_str()) {
            flags.push("leader".to_string());
        }
        if disabled_instances.contains(name) {
            flags.push("disabled".to_string());
        }
        let (host, pid, version, started) =
            info.as_ref()
                .map_or(("?".into(), 0, "?".into(), "?".into()), |i| {
                    (
                        i.host.clone(),
                        i.pid,
                        i.version.clone(),
                        i.started_at.clone(),
                    )
                });
        println!(
            "  {name}  host {host} pid {pid} version {version} since {started}  queued {queued}  {}",
            flags.join(" ")
        );
    }
    let catalog = super::context::catalog(config).ok();
    println!("jobs:");
    let mut jobs = children(client, &zk.at("jobs")).await?;
    if let Some(catalog) = &catalog {
        for job in catalog.jobs() {
            if !jobs.contains(&job.name) {
                jobs.push(job.name.clone());
            }
        }
    }
    jobs.sort();
    for job in jobs {
        let state = if disabled_jobs.contains(&job) {
            " (disabled)"
        } else {
            ""
        };
        match client
            .get_data(&zk.at(&format!("jobs/{job}/assignment")))
            .await
        {
            Ok((data, stat)) => {
                let text = serde_json::from_slice::<serde_json::Value>(&data)
                    .map(|v| {
                        format!(
                            "{} for run {}: {}",
                            v["strategy"].as_str().unwrap_or("?"),
                            v["run_id"].as_str().unwrap_or("?"),
                            v["items"]
                        )
                    })
                    .unwrap_or_default();
                println!("  {job}{state}  assignment v{}: {text}", stat.version);
            }
            Err(_) => println!("  {job}{state}  no assignment yet"),
        }
    }
    println!("running shards:");
    for name in children(client, &zk.at("running")).await? {
        let owner = client
            .get_data(&zk.at(&format!("running/{name}")))
            .await
            .map(|(d, _)| String::from_utf8_lossy(&d).to_string())
            .unwrap_or_default();
        let (run, item) = name.rsplit_once('_').unwrap_or((&name, "?"));
        println!("  run {run} item {item} on {owner}");
    }
    let orphaned: Vec<String> = children(client, &zk.at("work"))
        .await?
        .into_iter()
        .filter(|w| !instances.iter().any(|(_, n, _)| n == w))
        .collect();
    for dead in orphaned {
        let waiting = children(client, &zk.at(&format!("work/{dead}"))).await?;
        if !waiting.is_empty() {
            println!("awaiting failover from {dead}: {}", waiting.join(", "));
        }
    }
    Ok(EXIT_OK)
}

async fn toggle(
    config: &Config,
    client: &zookeeper_client::Client,
    zk: &Zk,
    target: Target,
    disable: bool,
) -> Result<u8, Failure> {
    let is_job = !target.instance
        && super::context::catalog(config)
            .map(|c| c.get(&target.name).is_ok())
            .unwrap_or(false);
    let (dir, what) = if is_job {
        ("disabled/jobs", "job")
    } else {
        ("disabled/instances", "instance")
    };
    let options =
        zookeeper_client::CreateMode::Persistent.with_acls(zookeeper_client::Acls::anyone_all());
    client
        .mkdir(&zk.at(dir), &options)
        .await
        .map_err(zk_failure)?;
    let path = zk.at(&format!("{dir}/{}", target.name));
    if disable {
        match client.create(&path, b"", &options).await {
            Ok(_) | Err(Error::NodeExists) => {}
            Err(err) => return Err(zk_failure(err)),
        }
        println!("{what} {} disabled", target.name);
    } else {
        match client.delete(&path, None).await {
            Ok(()) | Err(Error::NoNode) => {}
            Err(err) => return Err(zk_failure(err)),
        }
        println!("{what} {} enabled", target.name);
    }
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
