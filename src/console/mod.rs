//! The operations console, `/metrics`, `/healthz` and `/readyz`, served by
//! `reckon serve --http ADDR` (docs/console.md).
//!
//! Server-rendered HTML (no JavaScript build chain). Read pages: Grid (`/`),
//! Run (`/runs/{id}`), Breaks (`/breaks`), Messages (`/messages`), Cluster
//! (`/cluster`). Actions are POST forms that need a signed-in operator and
//! the session's CSRF token; each calls the same library function as the
//! command line, which journals who did it and why.
//!
//! The one entry point is [`serve`]; the node loop also hands run and
//! cluster events to [`crate::alerts::Alerts`].

mod actions;
pub mod auth;
pub mod bench;
mod html;
mod pages;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::routing::{get, post};
use serde::Deserialize;
use tokio_util::sync::CancellationToken;

use crate::metrics::Metrics;
use crate::runtime::Runner;

pub use auth::{OperatorSettings, hash_password, token_digest};

/// The `[console]` table of reckon.toml.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConsoleSettings {
    #[serde(default)]
    pub operators: Vec<OperatorSettings>,
    /// Let anyone who reaches the address read the pages (actions still need
    /// a signed-in operator). Default: sign-in needed for every page.
    #[serde(default)]
    pub read_only_open: bool,
    /// Key that signs session cookies and CSRF tokens (≥ 32 characters);
    /// default: random per process (sessions end on restart). Set it when
    /// several nodes serve the console behind one address.
    pub session_secret: Option<String>,
    /// Session lifetime (default `12h`).
    pub session_ttl: Option<String>,
    /// Business dates shown on the grid (default 14).
    pub grid_days: Option<u32>,
    /// Mark the cookie `Secure` (set when a TLS proxy fronts the console).
    #[serde(default)]
    pub cookie_secure: bool,
}

/// Refusals of the configuration.
#[derive(Debug, thiserror::Error)]
pub enum ConsoleError {
    #[error("console configuration: {0}")]
    Config(String),
    #[error("cannot listen on {addr}")]
    Bind {
        addr: SocketAddr,
        #[source]
        source: std::io::Error,
    },
    #[error("console server stopped")]
    Serve(#[source] std::io::Error),
}

impl ConsoleSettings {
    /// Checks hashes, key length and durations.
    pub fn validate(&self) -> Result<(), ConsoleError> {
        let bad = |m: String| Err(ConsoleError::Config(m));
        if let Some(secret) = &self.session_secret
            && secret.len() < 32
        {
            return bad("console.session_secret must be at least 32 characters".into());
        }
        if let Some(ttl) = &self.session_ttl {
            humantime::parse_duration(ttl)
                .map_err(|e| ConsoleError::Config(format!("console.session_ttl `{ttl}`: {e}")))?;
        }
        for op in &self.operators {
            if op.name.trim().is_empty() || op.name.len() > 64 {
                return bad("console.operators: a name of 1 to 64 characters is required".into());
            }
            match (&op.password_hash, &op.token_sha256) {
                (None, None) => {
                    return bad(format!(
                        "console operator `{}` has neither password_hash nor token_sha256",
                        op.name
                    ));
                }
                (Some(hash), _) if argon2::password_hash::PasswordHash::new(hash).is_err() => {
                    return bad(format!(
                        "console operator `{}`: password_hash is not an argon2 PHC string (`reckon console-hash` prints one)",
                        op.name
                    ));
                }
                (_, Some(t)) if t.len() != 64 || !t.chars().all(|c| c.is_ascii_hexdigit()) => {
                    return bad(format!(
                        "console operator `{}`: token_sha256 must be 64 hex digits",
                        op.name
                    ));
                }
                _ => {}
            }
        }
        Ok(())
    }

    fn ttl(&self) -> Duration {
        self.session_ttl
            .as_deref()
            .and_then(|t| humantime::parse_duration(t).ok())
            .unwrap_or(Duration::from_secs(12 * 3600))
    }
}

/// Everything the console reads from and acts through.
#[derive(Clone)]
pub struct ConsoleState {
    /// The node's runner: ledger, catalog, coordinator, run execution.
    pub runner: Runner,
    pub settings: ConsoleSettings,
    pub metrics: Metrics,
    /// Cluster mode: this node's coordinator; the Cluster page, `/readyz`,
    /// `/metrics` and disable/enable go through its one ZooKeeper session.
    pub cluster: Option<Arc<crate::coord::zookeeper::ZkCoordinator>>,
    /// Run execution of runs started from the console (single node): a run
    /// requested here executes on this node, like one the scheduler fired.
    pub execute_here: bool,
}

struct App {
    state: ConsoleState,
    keys: auth::Keys,
    ttl_secs: i64,
    /// Pages readable without a sign-in: only when configured
    /// (`read_only_open = true` or `reckon serve --read-only-open`).
    read_open: bool,
}

type Shared = Arc<App>;

/// The router for a console listening on `addr`.
pub fn router(state: ConsoleState, addr: SocketAddr) -> Result<Router, ConsoleError> {
    state.settings.validate()?;
    let keys = auth::Keys::new(state.settings.session_secret.as_deref());
    let ttl_secs = state.settings.ttl().as_secs() as i64;
    let read_open = state.settings.read_only_open;
    if read_open && !addr.ip().is_loopback() {
        tracing::warn!(%addr, "console pages are readable by anyone who reaches this address (read_only_open)");
    }
    let app = Arc::new(App {
        state,
        keys,
        ttl_secs,
        read_open,
    });
    Ok(Router::new()
        .route("/", get(pages::grid))
        .route("/runs", get(pages::runs))
        .route("/runs/{id}", get(pages::run))
        .route("/runs/{id}/reports/{n}", get(pages::report))
        .route("/breaks", get(pages::breaks))
        .route("/breaks/{id}", get(pages::break_page))
        .route("/messages", get(pages::messages))
        .route("/messages/{id}", get(pages::message))
        .route("/cluster", get(pages::cluster))
        .route("/login", get(pages::login).post(actions::login))
        .route("/logout", post(actions::logout))
        .route("/actions/run", post(actions::run))
        .route("/actions/rerun", post(actions::rerun))
        .route("/breaks/{id}/resolve", post(actions::resolve_break))
        .route("/messages/{id}/retry", post(actions::message_action))
        .route("/messages/{id}/resolve", post(actions::message_action))
        .route("/cluster/toggle", post(actions::toggle))
        .route("/metrics", get(pages::metrics))
        .route("/healthz", get(pages::healthz))
        .route("/readyz", get(pages::readyz))
        .route("/static/console.css", get(html::stylesheet))
        .fallback(pages::not_found)
        .with_state(app))
}

/// Serves the console on `addr` until `shutdown`; returns the bound address
/// through `bound` (useful with port 0) as soon as it listens.
pub async fn serve(
    state: ConsoleState,
    addr: SocketAddr,
    shutdown: CancellationToken,
    bound: Option<tokio::sync::oneshot::Sender<SocketAddr>>,
) -> Result<(), ConsoleError> {
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|source| ConsoleError::Bind { addr, source })?;
    let local = listener
        .local_addr()
        .map_err(|source| ConsoleError::Bind { addr, source })?;
    let router = router(state, local)?;
    if !local.ip().is_loopback() {
        tracing::warn!(%local, "console listens beyond this machine: put it behind TLS");
    }
    tracing::info!(%local, "console and /metrics listening");
    if let Some(bound) = bound {
        let _ = bound.send(local);
    }
    axum::serve(listener, router)
        .with_graceful_shutdown(async move { shutdown.cancelled().await })
        .await
        .map_err(ConsoleError::Serve)
}

/// Errors gathering the metrics snapshot.
#[derive(Debug, thiserror::Error)]
pub enum GatherError {
    #[error(transparent)]
    Ledger(#[from] crate::ledger::LedgerError),
    #[error(transparent)]
    Breaks(#[from] crate::jobs::recon::breaks::BreakError),
    #[error(transparent)]
    Messages(#[from] crate::jobs::compensation::CompensationError),
}

/// Reads what `/metrics` shows from the database and the coordinator.
pub async fn gather(state: &ConsoleState) -> Result<crate::metrics::Snapshot, GatherError> {
    let ledger = state.runner.ledger();
    let db = ledger.db();
    let coord = state.runner.coordinator();
    let leader = coord.is_leader().await;
    let members = match &state.cluster {
        Some(cluster) => cluster
            .status(&[])
            .await
            .map(|s| s.instances.len() as i64)
            .unwrap_or(0),
        None => 1,
    };
    Ok(crate::metrics::Snapshot {
        ledger: ledger.stats().await?,
        open_breaks: crate::jobs::recon::breaks::unresolved_by_date(db).await?,
        messages: crate::jobs::compensation::store::count_by_state(db)
            .await?
            .into_iter()
            .collect(),
        members,
        leader,
        instance: coord.instance_id().to_string(),
        statement_waits: ledger.statement_waits().await?,
        today: chrono::Local::now().date_naive(),
    })
}

/// What [`start`] started: the alert sink the node loop may raise into, and
/// the console server's task (ends after `shutdown`).
pub struct Services {
    pub alerts: crate::alerts::Alerts,
    pub metrics: Metrics,
    /// The address the console listens on, when it serves.
    pub addr: Option<SocketAddr>,
    pub server: Option<tokio::task::JoinHandle<Result<(), ConsoleError>>>,
}

/// The node's observability services, started once by `reckon serve`:
/// the alert sink (journaled in the node's database) and its watcher
/// (leader-only run, SLA, membership and leadership alerts), and — when
/// `config.http_addr` is set — the console with `/metrics`, `/healthz`,
/// `/readyz`; in cluster mode also the settling of disable/enable journal
/// rows left pending ([`crate::toggles::reconcile_periodically`]).
/// `cluster` is the node's ZooKeeper coordinator in cluster mode:
/// everything here reads through its session. A bad `[console]`/`[alerts]`
/// table or an address that cannot be bound is an error before anything runs.
pub async fn start(
    config: &crate::config::Config,
    runner: Runner,
    cluster: Option<Arc<crate::coord::zookeeper::ZkCoordinator>>,
    shutdown: CancellationToken,
) -> Result<Services, ConsoleError> {
    config.console.validate()?;
    let metrics = Metrics::default();
    let journal = crate::alerts::Journal::new(runner.ledger().db().clone());
    let alerts =
        crate::alerts::Alerts::start(&config.alerts, metrics.clone(), Some(journal.clone()))
            .map_err(ConsoleError::Config)?;
    let watcher = crate::alerts::Watcher::new(
        runner.clone(),
        alerts.clone(),
        cluster.clone(),
        Some(journal),
        Duration::from_secs(5),
    );
    tokio::spawn(watcher.run(shutdown.clone()));
    if let Some(coord) = &cluster {
        // Disable/enable rows a crash left pending: settled from the start.
        tokio::spawn(crate::toggles::reconcile_periodically(
            runner.ledger().db().clone(),
            coord.clone(),
            shutdown.clone(),
        ));
    }
    let (addr, server) = match config.http_addr {
        None => (None, None),
        Some(addr) => {
            let state = ConsoleState {
                execute_here: cluster.is_none(),
                runner,
                settings: config.console.clone(),
                metrics: metrics.clone(),
                cluster,
            };
            let (tx, rx) = tokio::sync::oneshot::channel();
            let server = tokio::spawn(serve(state, addr, shutdown, Some(tx)));
            match rx.await {
                Ok(bound) => (Some(bound), Some(server)),
                // The server ended before it listened: report why.
                Err(_) => {
                    return Err(match server.await {
                        Ok(Err(e)) => e,
                        _ => ConsoleError::Config("console did not start".into()),
                    });
                }
            }
        }
    };
    Ok(Services {
        alerts,
        metrics,
        addr,
        server,
    })
}
