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

#[derive(Debug, clap::Args)]
pub(super) struct ServeArgs {
    /// Serve the operations console and /metrics on IP:PORT (e.g. 127.0.0.1:8080)
    #[arg(long, value_name = "ADDR")]
    http: Option<String>,
    /// Let anyone who reaches the console read its pages without signing in
    /// (actions still need an operator); same as `read_only_open = true`
    #[arg(long)]
    read_only_open: bool,
}

/// Fires jobs by cron until SIGTERM/SIGINT, then drains running runs.
pub(super) async fn serve(config: &Config, args: ServeArgs) -> Result<u8, Failure> {
    let mut config = config.clone();
    if let Some(addr) = &args.http {
        config.http_addr =
            Some(crate::config::socket_addr("--http", addr).map_err(Failure::usage)?);
    }
    if args.read_only_open {
        config.console.read_only_open = true;
    }
    let config = &config;
    if let Some(registry) = super::context::registry(config)? {
        return serve_cluster(config, registry).await;
    }
    let runner = runner(config).await?;
    install_signal_handler(&runner, config);
    crate::console::start(
        config,
        runner.clone(),
        None,
        runner.shutdown().stop_new.clone(),
    )
    .await
    .map_err(Failure::usage)?;
    tracing::info!(instance = %config.instance_id, jobs = runner.catalog().jobs().count(), "reckon serving");
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
    crate::console::start(
        config,
        runner.clone(),
        Some(coord.clone()),
        runner.shutdown().stop_new.clone(),
    )
    .await
    .map_err(Failure::usage)?;
    tracing::info!(
        instance = %config.instance_id,
        registry = %format!("{}/{}", registry.hosts, registry.namespace),
        session_timeout_ms = config.session_timeout.as_millis() as u64,
        jobs = runner.catalog().jobs().count(),
        "reckon serving in a cluster"
    );
    let node = Node::new(runner.clone(), Arc::new(SystemClock));
    tokio::join!(
        crate::coord::zookeeper::serve_cluster(runner, coord),
        node.run(LEADER_POLL),
    );
    Ok(EXIT_OK)
}
