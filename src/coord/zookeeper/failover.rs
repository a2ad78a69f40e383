//! The leader's failover: work left in the queue of an instance whose
//! session ended is moved — item by item, in one transaction each — to live
//! instances, idle ones first. The new owner's claim bumps the shard's epoch,
//! so the old owner, if it was only paused, can no longer commit.

use std::collections::BTreeMap;

use zookeeper_client::Error;

use super::membership::live_instances;
use super::parse_work_name;
use super::session::ZkCoordinator;
use crate::ledger::{Ledger, RunStatus};

impl ZkCoordinator {
    /// Moves orphaned work to live instances. Returns the number of items moved.
    pub(crate) async fn requeue_orphans(&self, ledger: &Ledger) -> Result<usize, Error> {
        let client = self.client().map_err(|_| Error::ConnectionLoss)?;
        let paths = &self.paths;
        let live = live_instances(&client, paths).await?;
        let eligible = match self.eligible_instances().await {
            Ok(list) if !list.is_empty() => list,
            _ => live.clone(),
        };
        if eligible.is_empty() {
            return Ok(0);
        }
        let queues = client.list_children(&paths.work()).await?;
        let mut load: BTreeMap<String, usize> = BTreeMap::new();
        let mut orphans = Vec::new();
        for queue in &queues {
            let names = match client.list_children(&paths.work_of(queue)).await {
                Ok(names) => names,
                Err(Error::NoNode) => continue,
                Err(err) => return Err(err),
            };
            if live.contains(queue) {
                load.insert(queue.clone(), names.len());
            } else if names.is_empty() {
                // A dead node's empty queue: a stale marker, removed.
                let _ = client.delete(&paths.work_of(queue), None).await;
            } else {
                orphans.extend(names.into_iter().map(|n| (queue.clone(), n)));
            }
        }
        let mut moved = 0;
        for (dead, name) in orphans {
            let from = format!("{}/{name}", paths.work_of(&dead));
            let Some((run_id, item)) = parse_work_name(&name) else {
                let _ = client.delete(&from, None).await;
                continue;
            };
            if finished(ledger, &run_id, item).await {
                let _ = client.delete(&from, None).await;
                continue;
            }
            // Idle instances first; ties in registration order.
            let Some(target) = eligible
                .iter()
                .min_by_key(|i| load.get(*i).copied().unwrap_or(0))
                .cloned()
            else {
                break;
            };
            let (data, _) = match client.get_data(&from).await {
                Ok(found) => found,
                Err(Error::NoNode) => continue,
                Err(err) => return Err(err),
            };
            client
                .mkdir(&paths.work_of(&target), &super::persistent())
                .await?;
            let mut multi = client.new_multi_writer();
            multi.add_create(
                &paths.work_item(&target, &run_id, item),
                &data,
                &super::persistent(),
            )?;
            multi.add_delete(&from, None)?;
            if let Err(err) = multi.commit().await {
                tracing::warn!(%run_id, item, error = %err, "failover of the shard did not apply; will retry");
                continue;
            }
            *load.entry(target.clone()).or_default() += 1;
            moved += 1;
            let message = format!("from {dead} (its ZooKeeper session ended) to {target}");
            tracing::warn!(%run_id, item, "failover {message}");
            let _ = ledger
                .append_event(&run_id, Some(item), "failover", &message)
                .await;
        }
        Ok(moved)
    }
}

/// True when the run is over or the shard already succeeded (nothing to move).
async fn finished(ledger: &Ledger, run_id: &crate::ledger::RunId, item: u32) -> bool {
    match ledger.run(run_id).await {
        Ok(run) if run.status.is_final() => return true,
        Ok(_) => {}
        Err(crate::ledger::LedgerError::UnknownRun(_)) => return true,
        Err(_) => return false,
    }
    ledger.shards(run_id).await.is_ok_and(|shards| {
        shards
            .iter()
            .any(|s| s.item == item && s.status == RunStatus::Succeeded)
    })
}
