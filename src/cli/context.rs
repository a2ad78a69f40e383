//! Building the library's pieces from the configuration.

use std::sync::Arc;

use super::{EXIT_OK, Failure};
use crate::catalog::Catalog;
use crate::config::Config;
use crate::coord::Embedded;
use crate::db::Db;
use crate::ledger::Ledger;
use crate::runtime::{Paths, Runner};
use crate::schedule::SystemClock;

/// Opens and migrates the configured store.
pub(super) async fn open_db(config: &Config) -> Result<Db, Failure> {
    Db::connect_and_migrate_with(
        &config.database_url,
        crate::db::DbTimeouts::bounded_by(config.session_timeout),
    )
    .await
    .map_err(|e| match e {
        crate::db::DbError::UnsupportedUrl(_) => Failure::usage(e),
        other => Failure::run(other),
    })
}

/// The ledger on the configured store.
pub(super) async fn ledger(config: &Config) -> Result<Ledger, Failure> {
    Ok(Ledger::new(open_db(config).await?, Arc::new(SystemClock)))
}

/// Loads the catalog with the built-in job kinds; a bad file is a usage error.
pub(super) fn catalog(config: &Config) -> Result<Catalog, Failure> {
    Catalog::load_dir(&config.jobs_dir, &crate::jobs::builtin()).map_err(Failure::usage)
}

/// The configured cluster registry, if any; a malformed one is a usage error.
pub(super) fn registry(
    config: &Config,
) -> Result<Option<crate::coord::zookeeper::Registry>, Failure> {
    config
        .registry
        .as_deref()
        .map(|url| url.parse().map_err(Failure::usage))
        .transpose()
}

/// A runner for this node on the embedded coordinator.
pub(super) async fn runner(config: &Config) -> Result<Runner, Failure> {
    runner_with(config, Arc::new(Embedded::new(config.instance_id.clone()))).await
}

/// A runner for this node under `coord`.
pub(super) async fn runner_with(
    config: &Config,
    coord: Arc<dyn crate::coord::Coordinator>,
) -> Result<Runner, Failure> {
    let catalog = catalog(config)?;
    let ledger = ledger(config).await?;
    let paths = Paths {
        reports_dir: config.reports_dir.clone(),
        data_dir: config.data_dir.clone(),
        excel_bom: config.excel_bom,
        reports_xlsx: config.reports_xlsx,
    };
    Ok(Runner::new(
        ledger,
        Arc::new(catalog),
        Arc::new(crate::jobs::builtin()),
        coord,
        paths,
        config.runner.clone(),
    ))
}

/// `reckon migrate`.
pub(super) async fn migrate(config: &Config) -> Result<u8, Failure> {
    let db = open_db(config).await?;
    db.close().await;
    println!(
        "database {} is up to date",
        crate::db::redact(&config.database_url)
    );
    Ok(EXIT_OK)
}

/// Who asked: `$USER@host`, recorded with manual runs.
pub(super) fn requested_by() -> String {
    let user = std::env::var("USER")
        .or_else(|_| std::env::var("LOGNAME"))
        .unwrap_or_else(|_| "unknown".into());
    let host = std::fs::read_to_string("/etc/hostname")
        .map(|h| h.trim().to_string())
        .unwrap_or_default();
    if host.is_empty() {
        user
    } else {
        format!("{user}@{host}")
    }
}
