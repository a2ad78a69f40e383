//! The leader's side of assignment: which live instance runs which item of
//! a run, written to ZooKeeper as per-instance work nodes in one transaction,
//! together with the job's versioned `assignment` node.

use zookeeper_client::Error;

use super::membership::{disabled, live_instances};
use super::session::{ZkCoordinator, unavailable};
use super::{parse_work_name, persistent};
use std::collections::BTreeSet;

use super::triggers;
use crate::catalog::JobDef;
use crate::ledger::{JobName, Ledger, RunRecord};
use crate::runtime::{Assignment, CoordError, Coordinator, PendingRequest, RequestAnswer};

/// The data of a job's `assignment` node (its znode version counts reshards).
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct AssignmentRecord {
    pub run_id: crate::ledger::RunId,
    pub strategy: String,
    /// Instances in the order the strategy saw them (registration order).
    pub instances: Vec<String>,
    pub items: Assignment,
}

/// The data of a work node.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub(crate) struct WorkItem {
    pub job: crate::ledger::JobName,
    pub run_id: crate::ledger::RunId,
    pub item: u32,
}

impl ZkCoordinator {
    /// Instances that may be given new work: live and not disabled, in
    /// registration order.
    pub(crate) async fn eligible_instances(&self) -> Result<Vec<String>, CoordError> {
        let client = self.client()?;
        let live = live_instances(&client, &self.paths)
            .await
            .map_err(|e| unavailable("listing instances", e))?;
        let off = disabled(&client, &self.paths.disabled_instances())
            .await
            .map_err(|e| unavailable("reading disabled instances", e))?;
        Ok(live.into_iter().filter(|i| !off.contains(i)).collect())
    }
}

#[async_trait::async_trait]
impl Coordinator for ZkCoordinator {
    fn instance_id(&self) -> &str {
        self.id()
    }

    async fn is_leader(&self) -> bool {
        self.leading()
    }

    fn leader_term(&self) -> u64 {
        self.term()
    }

    async fn confirm_leader(&self) -> bool {
        self.confirm_lock().await
    }

    async fn assign(&self, job: &JobDef, items: &[u32]) -> Result<Assignment, CoordError> {
        let instances = self.eligible_instances().await?;
        if instances.is_empty() {
            return Err(CoordError::Unavailable(
                "no live, enabled instance to run shards on".into(),
            ));
        }
        // The strategy spreads positions 0..n of `items` (all items, or the
        // failed ones of a --failed-only rerun).
        let spread =
            crate::sharding::assign(job.sharding, &job.name, &instances, items.len() as u32);
        Ok(spread
            .into_iter()
            .map(|(instance, positions)| {
                let mine = positions
                    .into_iter()
                    .filter_map(|p| items.get(p as usize).copied())
                    .collect();
                (instance, mine)
            })
            .collect())
    }

    fn distributed(&self) -> bool {
        true
    }

    async fn dispatch(
        &self,
        run: &RunRecord,
        job: &JobDef,
        assignment: &Assignment,
    ) -> Result<(), CoordError> {
        let client = self.client()?;
        let paths = &self.paths;
        let job_dir = format!("{}/{}", paths.jobs(), run.job);
        client
            .mkdir(&job_dir, &persistent())
            .await
            .map_err(|e| unavailable("creating the job node", e))?;
        for instance in assignment.keys() {
            client
                .mkdir(&paths.work_of(instance), &persistent())
                .await
                .map_err(|e| unavailable("creating a work queue", e))?;
        }
        let record = AssignmentRecord {
            run_id: run.run_id.clone(),
            strategy: job.sharding.name().to_string(),
            instances: assignment.keys().cloned().collect(),
            items: assignment.clone(),
        };
        let record = serde_json::to_vec(&record).unwrap_or_default();
        match client
            .create(&paths.assignment(&run.job), &record, &persistent())
            .await
        {
            Ok(_) => {}
            Err(Error::NodeExists) => {
                client
                    .set_data(&paths.assignment(&run.job), &record, None)
                    .await
                    .map_err(|e| unavailable("writing the assignment", e))?;
            }
            Err(err) => return Err(unavailable("writing the assignment", err)),
        }
        let mut multi = client.new_multi_writer();
        for (instance, items) in assignment {
            for item in items {
                let data = serde_json::to_vec(&WorkItem {
                    job: run.job.clone(),
                    run_id: run.run_id.clone(),
                    item: *item,
                })
                .unwrap_or_default();
                multi
                    .add_create(
                        &paths.work_item(instance, &run.run_id, *item),
                        &data,
                        &persistent(),
                    )
                    .map_err(|e| unavailable("preparing work nodes", e))?;
            }
        }
        multi
            .commit()
            .await
            .map_err(|e| CoordError::Unavailable(format!("handing out work: {e}")))?;
        tracing::info!(run_id = %run.run_id, job = %run.job, ?assignment, "run dispatched");
        Ok(())
    }

    async fn queued(&self, run_id: &crate::ledger::RunId) -> Result<BTreeSet<u32>, CoordError> {
        let client = self.client()?;
        let paths = &self.paths;
        let mut items = BTreeSet::new();
        let queues = client
            .list_children(&paths.work())
            .await
            .map_err(|e| unavailable("listing work queues", e))?;
        for instance in queues {
            let names = match client.list_children(&paths.work_of(&instance)).await {
                Ok(names) => names,
                Err(Error::NoNode) => continue,
                Err(err) => return Err(unavailable("reading a work queue", err)),
            };
            items.extend(
                names
                    .iter()
                    .filter_map(|n| parse_work_name(n))
                    .filter(|(r, _)| r == run_id)
                    .map(|(_, item)| item),
            );
        }
        Ok(items)
    }

    async fn reconcile(&self, ledger: &Ledger) -> Result<(), CoordError> {
        self.requeue_orphans(ledger)
            .await
            .map(|_| ())
            .map_err(|e| unavailable("failover pass", e))
    }

    async fn paused_jobs(&self) -> Result<BTreeSet<JobName>, CoordError> {
        let client = self.client()?;
        let names = disabled(&client, &self.paths.disabled_jobs())
            .await
            .map_err(|e| unavailable("reading disabled jobs", e))?;
        Ok(names.into_iter().map(JobName::from).collect())
    }

    async fn requests(&self) -> Result<Vec<PendingRequest>, CoordError> {
        let client = self.client()?;
        let pending = triggers::pending(&client, &self.paths)
            .await
            .map_err(|e| unavailable("reading triggers", e))?;
        Ok(pending
            .into_iter()
            .map(|(handle, request, version)| PendingRequest {
                handle,
                version: i64::from(version),
                request,
            })
            .collect())
    }

    async fn answer(
        &self,
        request: &PendingRequest,
        answer: RequestAnswer,
    ) -> Result<(), CoordError> {
        let client = self.client()?;
        let version = i32::try_from(request.version).map_err(|_| {
            CoordError::Unavailable(format!("bad trigger version {}", request.version))
        })?;
        triggers::answer(
            &client,
            &request.handle,
            version,
            request.request.clone(),
            answer,
        )
        .await
        .map_err(|e| unavailable("answering a trigger", e))
    }

    async fn concluded(&self, run_id: &crate::ledger::RunId) {
        let Ok(client) = self.client() else { return };
        let paths = &self.paths;
        if let Ok(instances) = client.list_children(&paths.work()).await {
            for instance in instances {
                let Ok(names) = client.list_children(&paths.work_of(&instance)).await else {
                    continue;
                };
                for name in names {
                    if parse_work_name(&name).is_some_and(|(r, _)| &r == run_id) {
                        let path = format!("{}/{name}", paths.work_of(&instance));
                        let _ = client.delete(&path, None).await;
                    }
                }
            }
        }
        let _ = client.delete(&paths.run(run_id), None).await;
    }
}
