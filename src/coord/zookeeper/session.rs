//! The node's current ZooKeeper session and the [`Coordinator`] view of it.

use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use tokio_util::sync::CancellationToken;
use zookeeper_client::Client;

use super::{Paths, Registry};
use crate::coord::CoordError;

/// One ZooKeeper session of this node; `ended` is cancelled when it expires
/// or closes, which stops every shard and leadership held under it.
#[derive(Clone)]
pub(crate) struct Session {
    pub client: Client,
    pub ended: CancellationToken,
}

/// The ZooKeeper coordinator of one node.
pub struct ZkCoordinator {
    pub(crate) registry: Registry,
    pub(crate) paths: Paths,
    instance_id: String,
    pub(crate) session_timeout: Duration,
    current: Mutex<Option<Session>>,
    leader: AtomicBool,
    /// Elections won by this instance (each starts a new leader term).
    terms: AtomicU64,
    /// The election node this instance holds while leading.
    lock_path: Mutex<Option<String>>,
}

impl ZkCoordinator {
    /// A coordinator for instance `instance_id` on `registry`; it does nothing
    /// until [`super::serve_cluster`] connects it.
    pub fn new(
        registry: Registry,
        instance_id: impl Into<String>,
        session_timeout: Duration,
    ) -> ZkCoordinator {
        ZkCoordinator {
            paths: Paths::new(&registry.namespace),
            registry,
            instance_id: instance_id.into(),
            session_timeout,
            current: Mutex::new(None),
            leader: AtomicBool::new(false),
            terms: AtomicU64::new(0),
            lock_path: Mutex::new(None),
        }
    }

    /// The ZooKeeper session timeout asked for.
    pub fn session_timeout(&self) -> Duration {
        self.session_timeout
    }

    pub(crate) fn publish(&self, session: Option<Session>) {
        if let Ok(mut current) = self.current.lock() {
            *current = session;
        }
    }

    pub(crate) fn session(&self) -> Option<Session> {
        self.current
            .lock()
            .ok()
            .and_then(|s| s.clone())
            .filter(|s| !s.ended.is_cancelled())
    }

    /// The live session's client, or `Unavailable`.
    pub(crate) fn client(&self) -> Result<Client, CoordError> {
        self.session()
            .map(|s| s.client)
            .ok_or_else(|| CoordError::Unavailable("no ZooKeeper session".into()))
    }

    pub(crate) fn set_leader(&self, leading: bool) {
        if leading {
            self.terms.fetch_add(1, Ordering::SeqCst);
        }
        self.leader.store(leading, Ordering::SeqCst);
        if !leading && let Ok(mut path) = self.lock_path.lock() {
            *path = None;
        }
    }

    pub(crate) fn set_lock_path(&self, path: &str) {
        if let Ok(mut held) = self.lock_path.lock() {
            *held = Some(path.to_string());
        }
    }

    /// True when ZooKeeper confirms that this session still owns the leader lock.
    pub(crate) async fn confirm_lock(&self) -> bool {
        let Some(session) = self.session() else {
            return false;
        };
        let Some(path) = self.lock_path.lock().ok().and_then(|p| p.clone()) else {
            return false;
        };
        matches!(
            session.client.check_stat(&path).await,
            Ok(Some(stat)) if stat.ephemeral_owner == session.client.session_id().0
        ) && self.leading()
    }

    pub(crate) fn leading(&self) -> bool {
        self.leader.load(Ordering::SeqCst) && self.session().is_some()
    }

    /// The number of elections this instance has won.
    pub(crate) fn term(&self) -> u64 {
        self.terms.load(Ordering::SeqCst)
    }

    pub(crate) fn id(&self) -> &str {
        &self.instance_id
    }
}

/// A ZooKeeper error as a coordination error.
pub(crate) fn unavailable(what: &str, err: zookeeper_client::Error) -> CoordError {
    CoordError::Unavailable(format!("{what}: {err}"))
}
