//! Cluster coordination on ZooKeeper: membership, leader election,
//! assignment, failover and manual triggers. The protocol (znode layout, who
//! writes what, failure cases) is in `docs/cluster.md`.
//!
//! ZooKeeper decides liveness, leadership and who should run what; the
//! database stays the source of truth for correctness: every shard commits
//! under its fencing epoch (DESIGN.md invariant 2), so a node that lost its
//! session or was paused commits nothing after its shard moved elsewhere.

mod assignment;
mod election;
mod failover;
mod membership;
mod node;
mod session;
pub mod status;
pub mod triggers;
mod worker;

pub use membership::InstanceInfo;
pub use node::serve_cluster;
pub use session::ZkCoordinator;

use std::time::Duration;

/// Default ZooKeeper session timeout of a node.
pub const SESSION_TIMEOUT_DEFAULT: Duration = Duration::from_secs(10);

/// Where the cluster's registry is: `zk://host:port[,host:port…]/namespace`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Registry {
    /// `host:port,host:port` as the ZooKeeper client wants it.
    pub hosts: String,
    /// The namespace every znode of this cluster lives under (no slashes at the ends).
    pub namespace: String,
}

/// Errors reading a registry address.
#[derive(Debug, thiserror::Error)]
#[error("registry `{url}`: {reason} (expected zk://host:port[,host:port…]/namespace)")]
pub struct RegistryError {
    url: String,
    reason: &'static str,
}

impl std::str::FromStr for Registry {
    type Err = RegistryError;
    fn from_str(url: &str) -> Result<Registry, RegistryError> {
        let fail = |reason| RegistryError {
            url: url.to_string(),
            reason,
        };
        let rest = url
            .strip_prefix("zk://")
            .ok_or_else(|| fail("it does not start with zk://"))?;
        let (hosts, namespace) = rest
            .split_once('/')
            .ok_or_else(|| fail("it names no namespace"))?;
        let namespace = namespace.trim_end_matches('/');
        if hosts.is_empty() || hosts.split(',').any(|h| !valid_host(h)) {
            return Err(fail("each server must be host:port"));
        }
        if namespace.is_empty()
            || namespace.split('/').any(|part| {
                part.is_empty()
                    || part == "."
                    || part == ".."
                    || !part
                        .chars()
                        .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
            })
        {
            return Err(fail("the namespace must be names of a-z, 0-9, -, _ and ."));
        }
        Ok(Registry {
            hosts: hosts.to_string(),
            namespace: namespace.to_string(),
        })
    }
}

fn valid_host(text: &str) -> bool {
    match text.rsplit_once(':') {
        Some((host, port)) => !host.is_empty() && port.parse::<u16>().is_ok(),
        None => false,
    }
}

/// Znode paths of one namespace (see docs/cluster.md).
#[derive(Debug, Clone)]
pub(crate) struct Paths {
    root: String,
}

impl Paths {
    pub(crate) fn new(namespace: &str) -> Paths {
        Paths {
            root: format!("/{namespace}"),
        }
    }
    /// Ephemeral `{id}` nodes of live instances.
    pub(crate) fn instances(&self) -> String {
        format!("{}/instances", self.root)
    }
    pub(crate) fn instance(&self, id: &str) -> String {
        format!("{}/instances/{id}", self.root)
    }
    /// Election (lock recipe) nodes.
    pub(crate) fn leader(&self) -> String {
        format!("{}/leader", self.root)
    }
    /// Per-instance work queues: `{instance}/{run_id}_{item}`, persistent.
    pub(crate) fn work(&self) -> String {
        format!("{}/work", self.root)
    }
    pub(crate) fn work_of(&self, instance: &str) -> String {
        format!("{}/work/{instance}", self.root)
    }
    pub(crate) fn work_item(&self, instance: &str, run_id: &str, item: u32) -> String {
        format!("{}/work/{instance}/{}", self.root, work_name(run_id, item))
    }
    /// Runs in flight under the leadership: `{run_id}` → job name.
    pub(crate) fn runs(&self) -> String {
        format!("{}/runs", self.root)
    }
    pub(crate) fn run(&self, run_id: &str) -> String {
        format!("{}/runs/{run_id}", self.root)
    }
    /// The current assignment of a job, versioned by the znode version.
    pub(crate) fn assignment(&self, job: &str) -> String {
        format!("{}/jobs/{job}/assignment", self.root)
    }
    pub(crate) fn jobs(&self) -> String {
        format!("{}/jobs", self.root)
    }
    /// Ephemeral `{run_id}_{item}` markers of shards running on some node.
    pub(crate) fn running(&self) -> String {
        format!("{}/running", self.root)
    }
    pub(crate) fn running_item(&self, run_id: &str, item: u32) -> String {
        format!("{}/running/{}", self.root, work_name(run_id, item))
    }
    /// Manual run requests from the CLI.
    pub(crate) fn triggers(&self) -> String {
        format!("{}/triggers", self.root)
    }
    pub(crate) fn disabled_jobs(&self) -> String {
        format!("{}/disabled/jobs", self.root)
    }
    pub(crate) fn disabled_instances(&self) -> String {
        format!("{}/disabled/instances", self.root)
    }
    /// Every persistent directory a node makes sure exists.
    pub(crate) fn directories(&self) -> Vec<String> {
        vec![
            self.instances(),
            self.leader(),
            self.work(),
            self.runs(),
            self.jobs(),
            self.running(),
            self.triggers(),
            self.disabled_jobs(),
            self.disabled_instances(),
        ]
    }
}

/// `{run_id}_{item}`: a run id (UUID) has no underscore.
pub(crate) fn work_name(run_id: &str, item: u32) -> String {
    format!("{run_id}_{item}")
}

/// The run id and item of a work node name.
pub(crate) fn parse_work_name(name: &str) -> Option<(crate::ledger::RunId, u32)> {
    let (run_id, item) = name.rsplit_once('_')?;
    Some((run_id.into(), item.parse().ok()?))
}

/// Persistent nodes with open ACLs (the namespace is the cluster's own).
pub(crate) fn persistent() -> zookeeper_client::CreateOptions<'static> {
    zookeeper_client::CreateMode::Persistent.with_acls(zookeeper_client::Acls::anyone_all())
}

/// Ephemeral nodes with open ACLs.
pub(crate) fn ephemeral() -> zookeeper_client::CreateOptions<'static> {
    zookeeper_client::CreateMode::Ephemeral.with_acls(zookeeper_client::Acls::anyone_all())
}

/// Connects a client to the registry's servers.
pub(crate) async fn connect(
    registry: &Registry,
    session_timeout: Duration,
) -> Result<zookeeper_client::Client, zookeeper_client::Error> {
    zookeeper_client::Client::connector()
        .with_session_timeout(session_timeout)
        .with_connection_timeout(Duration::from_millis(
            (session_timeout.as_millis() as u64 / 2).max(500),
        ))
        .connect(&registry.hosts)
        .await
}

/// A client for a CLI command, with the namespace's directories in place.
pub async fn connect_for_cli(
    registry: &Registry,
) -> Result<zookeeper_client::Client, triggers::TriggerError> {
    let zk = |source| triggers::TriggerError::Zk {
        hosts: registry.hosts.clone(),
        source,
    };
    let client = connect(registry, SESSION_TIMEOUT_DEFAULT)
        .await
        .map_err(zk)?;
    ensure_directories(&client, &Paths::new(&registry.namespace))
        .await
        .map_err(zk)?;
    Ok(client)
}

/// Creates the namespace's directories (idempotent).
pub(crate) async fn ensure_directories(
    client: &zookeeper_client::Client,
    paths: &Paths,
) -> Result<(), zookeeper_client::Error> {
    for dir in paths.directories() {
        client.mkdir(&dir, &persistent()).await?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn registry_urls() {
        let r: Registry = "zk://127.0.0.1:2181,10.0.0.2:2181/reckon".parse().unwrap();
        assert_eq!(r.hosts, "127.0.0.1:2181,10.0.0.2:2181");
        assert_eq!(r.namespace, "reckon");
        for bad in [
            "127.0.0.1:2181/x",
            "zk://127.0.0.1:2181",
            "zk://127.0.0.1/x",
            "zk://h:1/",
            "zk://h:1/a b",
        ] {
            assert!(bad.parse::<Registry>().is_err(), "{bad}");
        }
    }

    #[test]
    fn work_names_round_trip() {
        let run = "0199a0b2-7c1e-7f00-8000-000000000001";
        assert_eq!(parse_work_name(&work_name(run, 5)), Some((run.into(), 5)));
    }
}
