//! Leader election with zookeeper-client's lock recipe. This adapter only
//! answers the fact "this node leads" (and counts its terms); what a leader
//! does is the node loop's business (`crate::node`). Leadership ends with
//! the session.

use std::sync::Arc;
use std::time::Duration;

use zookeeper_client::{Acls, LockOptions, LockPrefix};

use super::session::{Session, ZkCoordinator};
use crate::runtime::Runner;

/// Contends for leadership under `session` and holds it until the session
/// ends or reckon stops.
pub(crate) async fn run(coord: Arc<ZkCoordinator>, runner: Runner, session: Session) {
    let client = session.client.clone();
    let stop = runner.shutdown().stop_new.clone();
    let dir = coord.paths.leader();
    loop {
        if session.ended.is_cancelled() || stop.is_cancelled() {
            return;
        }
        let prefix = match LockPrefix::new_curator(&dir, "latch-") {
            Ok(prefix) => prefix,
            Err(err) => {
                tracing::error!(error = %err, "bad election path");
                return;
            }
        };
        let locked = tokio::select! {
            locked = client.lock(prefix, coord.id().as_bytes(), LockOptions::new(Acls::anyone_all())) => locked,
            _ = session.ended.cancelled() => return,
            _ = stop.cancelled() => return,
        };
        match locked {
            Ok(lock) => {
                coord.set_lock_path(lock.lock_path());
                coord.set_leader(true);
                tracing::info!(instance = %coord.id(), term = coord.term(), "elected leader");
                tokio::select! {
                    _ = session.ended.cancelled() => {}
                    _ = stop.cancelled() => {}
                }
                coord.set_leader(false);
                tracing::info!(instance = %coord.id(), "no longer leader");
                drop(lock);
                return;
            }
            Err(err) => {
                tracing::warn!(error = %err, "leader election failed; trying again");
                tokio::select! {
                    _ = tokio::time::sleep(Duration::from_secs(1)) => {}
                    _ = session.ended.cancelled() => return,
                }
            }
        }
    }
}
