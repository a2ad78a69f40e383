//! What `reckon cluster status` and the console's Cluster page show, read
//! from the registry, and `disable` / `enable` of a job or an instance —
//! one implementation for the command line and the console.

use zookeeper_client::{Client, Error};

use super::InstanceInfo;

/// One live instance.
#[derive(Debug, Clone)]
pub struct Member {
    pub id: String,
    /// `None` when its registration data is unreadable.
    pub info: Option<InstanceInfo>,
    pub leader: bool,
    pub disabled: bool,
    /// Shard items waiting in its work queue.
    pub queued: usize,
}

/// A job's latest assignment, as the leader wrote it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobAssignment {
    pub job: String,
    pub disabled: bool,
    /// `strategy for run R: {instance: [items]}` with its znode version, or `None`.
    pub assignment: Option<(i32, String)>,
}

/// The cluster as the registry shows it.
#[derive(Debug, Clone, Default)]
pub struct ClusterStatus {
    pub leader: Option<String>,
    /// In registration order.
    pub members: Vec<Member>,
    pub jobs: Vec<JobAssignment>,
    /// (run id, item, instance running it).
    pub running: Vec<(String, String, String)>,
    /// (dead instance, its queued items awaiting failover).
    pub orphaned: Vec<(String, Vec<String>)>,
    pub disabled_jobs: Vec<String>,
    pub disabled_instances: Vec<String>,
}

fn at(namespace: &str, rest: &str) -> String {
    format!("/{namespace}/{rest}")
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

/// Reads the cluster's state; `catalog_jobs` adds jobs with no assignment yet.
pub async fn status(
    client: &Client,
    namespace: &str,
    catalog_jobs: &[String],
) -> Result<ClusterStatus, Error> {
    // Leader: the lock node with the lowest sequence number.
    let mut contenders = children(client, &at(namespace, "leader")).await?;
    contenders.sort_by_key(|n| n.rsplit('-').next().unwrap_or("").to_string());
    let leader = match contenders.first() {
        Some(first) => client
            .get_data(&format!("{}/{first}", at(namespace, "leader")))
            .await
            .ok()
            .map(|(d, _)| String::from_utf8_lossy(&d).to_string()),
        None => None,
    };
    let disabled_instances = children(client, &at(namespace, "disabled/instances")).await?;
    let disabled_jobs = children(client, &at(namespace, "disabled/jobs")).await?;
    let mut registered = Vec::new();
    for name in children(client, &at(namespace, "instances")).await? {
        if let Ok((data, stat)) = client
            .get_data(&at(namespace, &format!("instances/{name}")))
            .await
        {
            let info: Option<InstanceInfo> = serde_json::from_slice(&data).ok();
            registered.push((stat.czxid, name, info));
        }
    }
    registered.sort_by_key(|i| i.0);
    let mut members = Vec::new();
    for (_, id, info) in registered {
        let queued = children(client, &at(namespace, &format!("work/{id}")))
            .await?
            .len();
        members.push(Member {
            leader: leader.as_deref() == Some(id.as_str()),
            disabled: disabled_instances.contains(&id),
            id,
            info,
            queued,
        });
    }
    let mut job_names = children(client, &at(namespace, "jobs")).await?;
    for job in catalog_jobs {
        if !job_names.contains(job) {
            job_names.push(job.clone());
        }
    }
    job_names.sort();
    let mut jobs = Vec::new();
    for job in job_names {
        let assignment = match client
            .get_data(&at(namespace, &format!("jobs/{job}/assignment")))
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
                Some((stat.version, text))
            }
            Err(_) => None,
        };
        jobs.push(JobAssignment {
            disabled: disabled_jobs.contains(&job),
            job,
            assignment,
        });
    }
    let mut running = Vec::new();
    for name in children(client, &at(namespace, "running")).await? {
        let owner = client
            .get_data(&at(namespace, &format!("running/{name}")))
            .await
            .map(|(d, _)| String::from_utf8_lossy(&d).to_string())
            .unwrap_or_default();
        let (run, item) = name.rsplit_once('_').unwrap_or((&name, "?"));
        running.push((run.to_string(), item.to_string(), owner));
    }
    let mut orphaned = Vec::new();
    for queue in children(client, &at(namespace, "work")).await? {
        if members.iter().any(|m| m.id == queue) {
            continue;
        }
        let waiting = children(client, &at(namespace, &format!("work/{queue}"))).await?;
        if !waiting.is_empty() {
            orphaned.push((queue, waiting));
        }
    }
    Ok(ClusterStatus {
        leader,
        members,
        jobs,
        running,
        orphaned,
        disabled_jobs,
        disabled_instances,
    })
}

/// Stops firing a job / giving work to an instance (`disable = true`), or undoes it.
pub async fn set_disabled(
    client: &Client,
    namespace: &str,
    name: &str,
    is_job: bool,
    disable: bool,
) -> Result<(), Error> {
    let dir = if is_job {
        "disabled/jobs"
    } else {
        "disabled/instances"
    };
    let options =
        zookeeper_client::CreateMode::Persistent.with_acls(zookeeper_client::Acls::anyone_all());
    client.mkdir(&at(namespace, dir), &options).await?;
    let path = at(namespace, &format!("{dir}/{name}"));
    if disable {
        match client.create(&path, b"", &options).await {
            Ok(_) | Err(Error::NodeExists) => Ok(()),
            Err(err) => Err(err),
        }
    } else {
        match client.delete(&path, None).await {
            Ok(()) | Err(Error::NoNode) => Ok(()),
            Err(err) => Err(err),
        }
    }
}
