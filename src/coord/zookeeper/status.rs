//! What `reckon cluster status|disable|enable` and the console ask of the
//! registry, as facts: they print them and never read znodes themselves.
//! The CLI opens a session per command ([`Switches::connect`], then
//! [`Switches::status`] and the switches through it);
//! a serving node reads through its own live session ([`ZkCoordinator::status`],
//! [`ZkCoordinator::switches`], [`ZkCoordinator::connected`]).

use std::collections::BTreeSet;

use zookeeper_client::{Client, Error, SessionState};

use super::membership::{InstanceInfo, disabled};
use super::session::ZkCoordinator;
use super::triggers::TriggerError;
use super::{Paths, Registry, connect_for_cli, parse_work_name, persistent};

/// One live instance.
#[derive(Debug, Clone)]
pub struct InstanceStatus {
    pub id: String,
    /// The zxid that created its registration: a node that restarts comes
    /// back with another, so `(id, registered)` names one stay in the cluster.
    pub registered: i64,
    /// `None` when its node holds data this version cannot read.
    pub info: Option<InstanceInfo>,
    pub queued: usize,
    pub leader: bool,
    pub disabled: bool,
}

/// A job's latest assignment as written by the leader.
#[derive(Debug, Clone)]
pub struct JobStatus {
    pub job: String,
    pub disabled: bool,
    /// `(znode version, strategy, run id, items as JSON)`.
    pub assignment: Option<(i32, String, String, String)>,
}

/// The cluster as the registry sees it.
#[derive(Debug, Clone, Default)]
pub struct ClusterStatus {
    pub leader: Option<String>,
    /// In registration order.
    pub instances: Vec<InstanceStatus>,
    pub jobs: Vec<JobStatus>,
    /// `(run id, item, instance)` of shards running now.
    pub running: Vec<(String, u32, String)>,
    /// Dead instances' queues waiting for failover: `(instance, work names)`.
    pub awaiting_failover: Vec<(String, Vec<String>)>,
}

/// Errors of the status and toggle commands.
#[derive(Debug, thiserror::Error)]
pub enum StatusError {
    #[error(transparent)]
    Connect(#[from] TriggerError),
    #[error("ZooKeeper: {0}")]
    Zk(#[from] Error),
    #[error("this node has no ZooKeeper session now")]
    NoSession,
}

async fn children(client: &Client, path: &str) -> Result<Vec<String>, Error> {
    match client.list_children(path).await {
        Ok(mut names) => {
            names.sort();
            Ok(names)
        }
        Err(Error::NoNode) => Ok(Vec::new()),
        Err(err) => Err(err),
    }
}

async fn read_status(
    client: &Client,
    paths: &Paths,
    catalog_jobs: &[String],
) -> Result<ClusterStatus, StatusError> {
    let client = client.clone();
    // Leader: the lock node with the lowest sequence number.
    let mut contenders = children(&client, &paths.leader()).await?;
    contenders.sort_by_key(|n| n.rsplit('-').next().unwrap_or("").to_string());
    let leader = match contenders.first() {
        Some(first) => client
            .get_data(&format!("{}/{first}", paths.leader()))
            .await
            .ok()
            .map(|(d, _)| String::from_utf8_lossy(&d).to_string()),
        None => None,
    };
    let disabled_instances = disabled(&client, &paths.disabled_instances()).await?;
    let disabled_jobs = disabled(&client, &paths.disabled_jobs()).await?;
    let mut found = Vec::new();
    for name in children(&client, &paths.instances()).await? {
        if let Ok((data, stat)) = client.get_data(&paths.instance(&name)).await {
            found.push((stat.czxid, name, serde_json::from_slice(&data).ok()));
        }
    }
    found.sort_by_key(|i| i.0);
    let mut instances = Vec::new();
    for (registered, id, info) in found {
        instances.push(InstanceStatus {
            registered,
            queued: children(&client, &paths.work_of(&id)).await?.len(),
            leader: leader.as_deref() == Some(id.as_str()),
            disabled: disabled_instances.contains(&id),
            info,
            id,
        });
    }
    let mut names: BTreeSet<String> = children(&client, &paths.jobs())
        .await?
        .into_iter()
        .collect();
    names.extend(catalog_jobs.iter().cloned());
    let mut jobs = Vec::new();
    for job in names {
        let assignment = match client.get_data(&paths.assignment(&job)).await {
            Ok((data, stat)) => serde_json::from_slice::<serde_json::Value>(&data)
                .ok()
                .map(|v| {
                    (
                        stat.version,
                        v["strategy"].as_str().unwrap_or("?").to_string(),
                        v["run_id"].as_str().unwrap_or("?").to_string(),
                        v["items"].to_string(),
                    )
                }),
            Err(_) => None,
        };
        jobs.push(JobStatus {
            disabled: disabled_jobs.contains(&job),
            job,
            assignment,
        });
    }
    let mut running = Vec::new();
    for name in children(&client, &paths.running()).await? {
        let owner = client
            .get_data(&format!("{}/{name}", paths.running()))
            .await
            .map(|(d, _)| String::from_utf8_lossy(&d).to_string())
            .unwrap_or_default();
        if let Some((run, item)) = parse_work_name(&name) {
            running.push((run.to_string(), item, owner));
        }
    }
    let mut awaiting_failover = Vec::new();
    for queue in children(&client, &paths.work()).await? {
        if instances.iter().any(|i| i.id == queue) {
            continue;
        }
        let waiting = children(&client, &paths.work_of(&queue)).await?;
        if !waiting.is_empty() {
            awaiting_failover.push((queue, waiting));
        }
    }
    Ok(ClusterStatus {
        leader,
        instances,
        jobs,
        running,
        awaiting_failover,
    })
}

/// What `reckon cluster disable|enable` acts on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Toggle {
    Job,
    Instance,
}

/// The cluster's disable switches (`disabled/jobs/NAME`,
/// `disabled/instances/ID`) through one ZooKeeper session: a CLI command's
/// own ([`Switches::connect`]) or a serving node's ([`ZkCoordinator::switches`]).
#[derive(Clone)]
pub struct Switches {
    client: Client,
    paths: Paths,
}

impl Switches {
    /// A session of its own on `registry` (the CLI).
    pub async fn connect(registry: &Registry) -> Result<Switches, StatusError> {
        Ok(Switches {
            client: connect_for_cli(registry).await?,
            paths: Paths::new(&registry.namespace),
        })
    }

    /// Disables (or enables again) a job or an instance cluster-wide.
    pub async fn set(&self, what: Toggle, name: &str, disable: bool) -> Result<(), StatusError> {
        write_disabled(&self.client, &self.paths, what, name, disable).await
    }

    /// True when ZooKeeper shows `name` disabled now.
    pub async fn is_disabled(&self, what: Toggle, name: &str) -> Result<bool, StatusError> {
        let path = format!("{}/{name}", switch_dir(&self.paths, what));
        Ok(self.client.check_stat(&path).await?.is_some())
    }

    /// The cluster's status read through this session; `catalog_jobs` are
    /// listed even before their first run.
    pub async fn status(&self, catalog_jobs: &[String]) -> Result<ClusterStatus, StatusError> {
        read_status(&self.client, &self.paths, catalog_jobs).await
    }

    /// Every name disabled now.
    pub async fn disabled(&self, what: Toggle) -> Result<BTreeSet<String>, StatusError> {
        Ok(disabled(&self.client, &switch_dir(&self.paths, what)).await?)
    }
}

fn switch_dir(paths: &Paths, what: Toggle) -> String {
    match what {
        Toggle::Job => paths.disabled_jobs(),
        Toggle::Instance => paths.disabled_instances(),
    }
}

async fn write_disabled(
    client: &Client,
    paths: &Paths,
    what: Toggle,
    name: &str,
    disable: bool,
) -> Result<(), StatusError> {
    let dir = switch_dir(paths, what);
    client.mkdir(&dir, &persistent()).await?;
    let path = format!("{dir}/{name}");
    if disable {
        match client.create(&path, b"", &persistent()).await {
            Ok(_) | Err(Error::NodeExists) => Ok(()),
            Err(err) => Err(err.into()),
        }
    } else {
        match client.delete(&path, None).await {
            Ok(()) | Err(Error::NoNode) => Ok(()),
            Err(err) => Err(err.into()),
        }
    }
}

impl ZkCoordinator {
    /// True while this node holds a live, connected ZooKeeper session
    /// (registered; not expired, closed or disconnected).
    pub fn connected(&self) -> bool {
        self.session()
            .is_some_and(|s| s.client.state() == SessionState::SyncConnected)
    }

    /// The cluster's status, read through this node's own session.
    pub async fn status(&self, catalog_jobs: &[String]) -> Result<ClusterStatus, StatusError> {
        let client = self.client().map_err(|_| StatusError::NoSession)?;
        read_status(&client, &self.paths, catalog_jobs).await
    }

    /// The disable switches through this node's own session.
    pub fn switches(&self) -> Result<Switches, StatusError> {
        Ok(Switches {
            client: self.client().map_err(|_| StatusError::NoSession)?,
            paths: self.paths.clone(),
        })
    }

    /// The registry this node belongs to.
    pub fn registry(&self) -> &Registry {
        &self.registry
    }
}
