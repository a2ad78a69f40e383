//! One cluster node's life: connect, register, work and contend for
//! leadership under a session; when the session expires, stop everything
//! held under it, connect again with a new session and register again.

use std::sync::Arc;
use std::time::Duration;

use zookeeper_client::SessionState;

use super::membership::{InstanceInfo, register};
use super::session::{Session, ZkCoordinator};
use super::{connect, election, ensure_directories, persistent, worker};
use crate::runtime::Runner;

/// Runs this node in the cluster until reckon is told to stop (graceful:
/// shards in flight may finish within the shutdown grace).
pub async fn serve_cluster(runner: Runner, coord: Arc<ZkCoordinator>) {
    let stop = runner.shutdown().stop_new.clone();
    let info = InstanceInfo::current();
    while !stop.is_cancelled() {
        let connected = tokio::select! {
            connected = connect(&coord.registry, coord.session_timeout) => connected,
            _ = stop.cancelled() => break,
        };
        let client = match connected {
            Ok(client) => client,
            Err(err) => {
                tracing::warn!(hosts = %coord.registry.hosts, error = %err, "cannot reach ZooKeeper; retrying");
                tokio::select! {
                    _ = tokio::time::sleep(Duration::from_secs(1)) => {}
                    _ = stop.cancelled() => {}
                }
                continue;
            }
        };
        let registered = async {
            ensure_directories(&client, &coord.paths).await?;
            client
                .mkdir(&coord.paths.work_of(coord.id()), &persistent())
                .await?;
            register(
                &client,
                &coord.paths,
                coord.id(),
                &info,
                coord.session_timeout * 3,
            )
            .await
        };
        if let Err(err) = registered.await {
            tracing::warn!(error = %err, "cannot register with ZooKeeper; retrying");
            tokio::time::sleep(Duration::from_millis(500)).await;
            continue;
        }
        tracing::info!(instance = %coord.id(), session = %client.session_id(), "registered in the cluster");
        let session = Session {
            client: client.clone(),
            ended: tokio_util::sync::CancellationToken::new(),
        };
        coord.publish(Some(session.clone()));
        let worker = tokio::spawn(worker::run(coord.clone(), runner.clone(), session.clone()));
        let election = tokio::spawn(election::run(
            coord.clone(),
            runner.clone(),
            session.clone(),
        ));
        let mut states = client.state_watcher();
        let expired = loop {
            tokio::select! {
                state = states.changed() => match state {
                    SessionState::Expired | SessionState::Closed | SessionState::AuthFailed => {
                        tracing::warn!(?state, "ZooKeeper session ended: stopping work held under it, reconnecting");
                        break true;
                    }
                    state => tracing::info!(?state, "ZooKeeper connection"),
                },
                _ = stop.cancelled() => break false,
            }
        };
        if expired {
            coord.set_leader(false);
            session.ended.cancel();
        } else {
            // Graceful stop: shards in flight finish (or are cancelled after
            // the grace period and left to other nodes) before the session closes.
            let _ = worker.await;
            session.ended.cancel();
        }
        coord.set_leader(false);
        coord.publish(None);
        let _ = election.await;
        drop(session);
        drop(client);
    }
}
