//! Every node's worker: watches its own work queue (`work/{instance}`) and
//! runs the items it finds there, each under its session: when the session
//! ends, the shard's `lost` token is cancelled and nothing more is recorded.

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::task::JoinSet;
use zookeeper_client::Error;

use super::session::{Session, ZkCoordinator};
use super::{ephemeral, parse_work_name, persistent};
use crate::error_chain::chain;
use crate::runtime::{ItemEnd, Runner};

/// Safety net for lost watch events.
const WORK_POLL: Duration = Duration::from_secs(1);

/// Runs this node's work until the session ends or reckon stops taking new
/// work; then waits for the items in flight.
pub(crate) async fn run(coord: Arc<ZkCoordinator>, runner: Runner, session: Session) {
    let client = session.client.clone();
    let queue = coord.paths.work_of(coord.id());
    let in_flight: Arc<Mutex<BTreeSet<String>>> = Arc::default();
    let mut tasks = JoinSet::new();
    let stop = runner.shutdown().stop_new.clone();
    while !session.ended.is_cancelled() && !stop.is_cancelled() {
        let watched = match client.get_and_watch_children(&queue).await {
            Ok((names, _, watcher)) => Some((names, watcher)),
            Err(Error::NoNode) => {
                let _ = client.mkdir(&queue, &persistent()).await;
                None
            }
            Err(err) => {
                tracing::warn!(error = %err, "cannot read the work queue");
                None
            }
        };
        let watcher = match watched {
            Some((names, watcher)) => {
                for name in names {
                    let fresh = in_flight
                        .lock()
                        .map(|mut set| set.insert(name.clone()))
                        .unwrap_or(false);
                    if fresh {
                        tasks.spawn(run_one(
                            coord.clone(),
                            runner.clone(),
                            session.clone(),
                            name,
                            in_flight.clone(),
                        ));
                    }
                }
                Some(watcher)
            }
            None => None,
        };
        while tasks.try_join_next().is_some() {}
        let changed = async {
            match watcher {
                Some(w) => {
                    w.changed().await;
                }
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            _ = changed => {}
            _ = tokio::time::sleep(WORK_POLL) => {}
            _ = session.ended.cancelled() => {}
            _ = stop.cancelled() => {}
        }
    }
    while tasks.join_next().await.is_some() {}
}

async fn run_one(
    coord: Arc<ZkCoordinator>,
    runner: Runner,
    session: Session,
    name: String,
    in_flight: Arc<Mutex<BTreeSet<String>>>,
) {
    let Some((run_id, item)) = parse_work_name(&name) else {
        tracing::warn!(%name, "ignoring a malformed work node");
        return;
    };
    let client = &session.client;
    let work_path = format!("{}/{name}", coord.paths.work_of(coord.id()));
    let marker = coord.paths.running_item(&run_id, item);
    let _ = client
        .create(&marker, coord.id().as_bytes(), &ephemeral())
        .await;
    tracing::info!(%run_id, item, "shard taken");
    let lost = session.ended.child_token();
    let ended = runner.run_item(&run_id, item, lost).await;
    let _ = client.delete(&marker, None).await;
    let done = match ended {
        Ok(ItemEnd::Succeeded | ItemEnd::Ended) => true,
        Ok(ItemEnd::Released) => {
            tracing::warn!(%run_id, item, "shard released: another node takes it over");
            false
        }
        Err(err) => {
            tracing::error!(%run_id, item, error = %chain(&err), "shard could not run");
            // Kept in `in_flight`: not retried under this session; the leader
            // fails the run when it stalls.
            return;
        }
    };
    if done && !session.ended.is_cancelled() {
        let _ = client.delete(&work_path, None).await;
    }
    if let Ok(mut set) = in_flight.lock() {
        set.remove(&name);
    }
}
