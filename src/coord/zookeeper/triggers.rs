//! Manual run requests in a cluster: the CLI writes a sequential node under
//! `triggers/`; the leader creates the run, answers in the same node, and
//! executes it; the CLI follows the run in the ledger.

use std::time::Duration;

use zookeeper_client::{Client, CreateMode, Error};

use super::{Paths, Registry};

/// The leader's answer (the runtime's [`RequestAnswer`]).
pub use crate::runtime::RequestAnswer as TriggerAnswer;
/// What the CLI asks for (the runtime's [`RunRequest`]).
pub use crate::runtime::RunRequest as TriggerRequest;

/// The data of a trigger node.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub(crate) struct TriggerNode {
    pub request: TriggerRequest,
    pub answer: Option<TriggerAnswer>,
}

/// Errors of the CLI side.
#[derive(Debug, thiserror::Error)]
pub enum TriggerError {
    #[error("ZooKeeper at {hosts}: {source}")]
    Zk {
        hosts: String,
        #[source]
        source: Error,
    },
    #[error("no leader answered within {0:?}; is a `reckon serve --registry` node running?")]
    NoAnswer(Duration),
    #[error("this node has no ZooKeeper session now")]
    NoSession,
}

/// Hands `request` to the cluster's leader and waits for its answer, on a
/// ZooKeeper session of its own (the CLI).
pub async fn submit(
    registry: &Registry,
    request: &TriggerRequest,
    wait: Duration,
) -> Result<TriggerAnswer, TriggerError> {
    let zk = |source| TriggerError::Zk {
        hosts: registry.hosts.clone(),
        source,
    };
    let client = super::connect(registry, Duration::from_secs(10))
        .await
        .map_err(zk)?;
    let paths = Paths::new(&registry.namespace);
    super::ensure_directories(&client, &paths)
        .await
        .map_err(zk)?;
    submit_on(&client, &paths, &registry.hosts, request, wait).await
}

impl super::ZkCoordinator {
    /// [`submit`] through this serving node's own session (the console):
    /// no session per request.
    pub async fn submit(
        &self,
        request: &TriggerRequest,
        wait: Duration,
    ) -> Result<TriggerAnswer, TriggerError> {
        let client = self.client().map_err(|_| TriggerError::NoSession)?;
        submit_on(&client, &self.paths, &self.registry.hosts, request, wait).await
    }
}

async fn submit_on(
    client: &Client,
    paths: &Paths,
    hosts: &str,
    request: &TriggerRequest,
    wait: Duration,
) -> Result<TriggerAnswer, TriggerError> {
    let zk = |source| TriggerError::Zk {
        hosts: hosts.to_string(),
        source,
    };
    let node = TriggerNode {
        request: request.clone(),
        answer: None,
    };
    let data = serde_json::to_vec(&node).unwrap_or_default();
    let (_, sequence) = client
        .create(
            &format!("{}/req-", paths.triggers()),
            &data,
            &CreateMode::PersistentSequential.with_acls(zookeeper_client::Acls::anyone_all()),
        )
        .await
        .map_err(zk)?;
    let path = format!("{}/req-{sequence}", paths.triggers());
    let deadline = tokio::time::Instant::now() + wait;
    let answer = loop {
        let (data, _) = client.get_data(&path).await.map_err(zk)?;
        if let Ok(TriggerNode {
            answer: Some(answer),
            ..
        }) = serde_json::from_slice::<TriggerNode>(&data)
        {
            break answer;
        }
        if tokio::time::Instant::now() >= deadline {
            let _ = client.delete(&path, None).await;
            return Err(TriggerError::NoAnswer(wait));
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let _ = client.delete(&path, None).await;
    Ok(answer)
}

/// Pending (unanswered) trigger nodes: (path, request, version).
pub(crate) async fn pending(
    client: &Client,
    paths: &Paths,
) -> Result<Vec<(String, TriggerRequest, i32)>, Error> {
    let mut names = client.list_children(&paths.triggers()).await?;
    names.sort();
    let mut found = Vec::new();
    for name in names {
        let path = format!("{}/{name}", paths.triggers());
        let (data, stat) = match client.get_data(&path).await {
            Ok(found) => found,
            Err(Error::NoNode) => continue,
            Err(err) => return Err(err),
        };
        match serde_json::from_slice::<TriggerNode>(&data) {
            Ok(TriggerNode {
                answer: None,
                request,
            }) => found.push((path, request, stat.version)),
            Ok(_) => {
                // Answered but never collected (the CLI went away): cleaned after an hour.
                let age_ms = chrono::Utc::now().timestamp_millis() - stat.mtime;
                if age_ms > 3_600_000 {
                    let _ = client.delete(&path, None).await;
                }
            }
            Err(_) => {
                let _ = client.delete(&path, None).await;
            }
        }
    }
    Ok(found)
}

/// Writes the leader's answer into a trigger node (only once: versioned).
pub(crate) async fn answer(
    client: &Client,
    path: &str,
    version: i32,
    request: TriggerRequest,
    answer: TriggerAnswer,
) -> Result<(), Error> {
    let node = TriggerNode {
        request,
        answer: Some(answer),
    };
    let data = serde_json::to_vec(&node).unwrap_or_default();
    client
        .set_data(path, &data, Some(version))
        .await
        .map(|_| ())
}
