//! `reckon serve`: one node — alone, or in a cluster — running the node
//! loop (`crate::node`) until SIGTERM/SIGINT, then draining its runs.

use std::sync::Arc;
use std::time::Duration;

use super::context::runner;
use super::run::install_signal_handler;
use super::{EXIT_OK, Failure};
use crate::config::Config;
use crate::node::Node;
use crate::schedule::SystemClock;

/// Longest sleep between two steps of a single node.
const TICK_INTERVAL_MAX: Duration = Duration::from_secs(30);
/// Longest sleep between two steps of a cluster node (leadership, failover
/// and manual requests are looked at every step).
const LEADER_POLL: Duration = Duration::from_millis(250);

/// Fires jobs by cron until SIGTERM/SIGINT, then drains running runs.
pub(super) async fn serve(config: &Config) -> Result<u8, Failure> {
    if let Some(registry) = super::context::registry(config)? {
        return serve_cluster(config, registry).await;
    }
    let runner = runner(config).await?;
    install_signal_handler(&runner, config);
    tracing::info!(instance = %config.instance_id, jobs = runner.catalog().jobs().count(), "reckon serving");
    // Hook for other services of `serve` (console, metrics): start them here
    // with `runner.clone()` and stop them on `runner.shutdown().stop_new`.
    Node::new(runner, Arc::new(SystemClock))
        .run(TICK_INTERVAL_MAX)
        .await;
    Ok(EXIT_OK)
}

/// Cluster mode: this node registers, works, and leads when elected; the
/// ZooKeeper adapter answers the facts, the node loop acts on them.
async fn serve_cluster(
    config: &Config,
    registry: crate::coord::zookeeper::Registry,
) -> Result<u8, Failure> {
    let coord = Arc::new(crate::coord::zookeeper::ZkCoordinator::new(
        registry.clone(),
        config.instance_id.clone(),
        config.session_timeout,
    ));
    let runner = super::context::runner_with(config, coord.clone()).await?;
    install_signal_handler(&runner, config);
    tracing::info!(
        instance = %config.instance_id,
        registry = %format!("{}/{}", registry.hosts, registry.namespace),
        session_timeout_ms = config.session_timeout.as_millis() as u64,
        jobs = runner.catalog().jobs().count(),
        "reckon serving in a cluster"
    );
    // Same hook as in `serve` for other services of the node (console, metrics).
    let node = Node::new(runner.clone(), Arc::new(SystemClock));
    tokio::join!(
        crate::coord::zookeeper::serve_cluster(runner, coord),
        node.run(LEADER_POLL),
    );
    Ok(EXIT_OK)
}
