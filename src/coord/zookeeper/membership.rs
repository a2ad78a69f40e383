//! Who is alive: ephemeral `instances/{id}` nodes, in registration order.

use std::collections::BTreeSet;

use zookeeper_client::{Client, Error};

use super::Paths;

/// What a node tells the cluster about itself (data of its instance node).
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct InstanceInfo {
    pub host: String,
    pub pid: u32,
    pub version: String,
    /// RFC 3339.
    pub started_at: String,
}

impl InstanceInfo {
    /// This process.
    pub fn current() -> InstanceInfo {
        let host = std::fs::read_to_string("/etc/hostname")
            .map(|h| h.trim().to_string())
            .unwrap_or_default();
        InstanceInfo {
            host,
            pid: std::process::id(),
            version: env!("CARGO_PKG_VERSION").to_string(),
            started_at: chrono::Utc::now().to_rfc3339(),
        }
    }
}

/// Live instances in registration order (creation zxid of their node: a
/// node that re-registers goes to the end), never the string order of names.
pub(crate) async fn live_instances(client: &Client, paths: &Paths) -> Result<Vec<String>, Error> {
    let names = client.list_children(&paths.instances()).await?;
    let mut ordered = Vec::with_capacity(names.len());
    for name in names {
        if let Some(stat) = client.check_stat(&paths.instance(&name)).await? {
            ordered.push((stat.czxid, name));
        }
    }
    ordered.sort();
    Ok(ordered.into_iter().map(|(_, name)| name).collect())
}

/// Names under a `disabled/…` directory.
pub(crate) async fn disabled(client: &Client, dir: &str) -> Result<BTreeSet<String>, Error> {
    match client.list_children(dir).await {
        Ok(names) => Ok(names.into_iter().collect()),
        Err(Error::NoNode) => Ok(BTreeSet::new()),
        Err(err) => Err(err),
    }
}

/// Registers this instance: an ephemeral node with its [`InstanceInfo`].
/// A node of the same id left by an earlier session of this instance (not
/// yet expired on the server) is waited out, up to `wait`.
pub(crate) async fn register(
    client: &Client,
    paths: &Paths,
    id: &str,
    info: &InstanceInfo,
    wait: std::time::Duration,
) -> Result<(), Error> {
    let data = serde_json::to_vec(info).unwrap_or_default();
    let deadline = std::time::Instant::now() + wait;
    loop {
        match client
            .create(&paths.instance(id), &data, &super::ephemeral())
            .await
        {
            Ok(_) => return Ok(()),
            Err(Error::NodeExists) => {
                let mine = client
                    .check_stat(&paths.instance(id))
                    .await?
                    .is_some_and(|s| s.ephemeral_owner == client.session_id().0);
                if mine {
                    return Ok(());
                }
                if std::time::Instant::now() >= deadline {
                    return Err(Error::NodeExists);
                }
                tokio::time::sleep(std::time::Duration::from_millis(200)).await;
            }
            Err(err) => return Err(err),
        }
    }
}
