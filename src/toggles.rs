//! Disable and enable a job or an instance at run time — one code path for
//! `reckon cluster disable|enable` (and `reckon disable|enable` on a single
//! node) and the console's Cluster page.
//!
//! Where the switch lives: on a single node, the `disabled` table of the
//! node's database (the scheduler reads it before each cron tick); in a
//! cluster, ZooKeeper (`/disabled/…`, read by the leader and the assigner).
//! Either way every change is appended to `toggle_journal` in the database
//! with who did it and why. Single node: switch and journal commit in one
//! transaction. Cluster: ZooKeeper first, then the journal; if the journal
//! write fails the caller is told the switch changed but was not journaled.

use std::collections::BTreeSet;

use chrono::{DateTime, Utc};

use crate::coord::zookeeper::status::{StatusError, Toggle};
use crate::coord::zookeeper::{Registry, ZkCoordinator};
use crate::db::Db;
use crate::{on_db, on_tx};

/// Where a cluster's switches are written.
#[derive(Clone, Copy)]
pub enum Place<'a> {
    /// A single node: the `disabled` table.
    Node,
    /// A serving cluster node: through its own ZooKeeper session.
    Session(&'a ZkCoordinator),
    /// A CLI command: a session of its own on the registry.
    Registry(&'a Registry),
}

/// One disable or enable.
#[derive(Debug, Clone)]
pub struct Change<'a> {
    pub what: Toggle,
    pub name: &'a str,
    pub disable: bool,
    /// `cli:USER` or `console:OPERATOR`.
    pub actor: &'a str,
    pub reason: &'a str,
}

/// Refusals and failures.
#[derive(Debug, thiserror::Error)]
pub enum ToggleError {
    #[error("a reason is required")]
    NoReason,
    #[error("job `{0}` is disabled on this node (reckon cluster enable {0} --reason …)")]
    JobDisabled(String),
    #[error("database: {0}")]
    Db(#[from] sqlx::Error),
    #[error("registry: {0}")]
    Registry(#[from] StatusError),
    #[error("{what} {name} was {done} in the registry but the journal write failed: {source}")]
    NotJournaled {
        what: &'static str,
        name: String,
        done: &'static str,
        #[source]
        source: sqlx::Error,
    },
}

fn what_str(what: Toggle) -> &'static str {
    match what {
        Toggle::Job => "job",
        Toggle::Instance => "instance",
    }
}

/// One row of the journal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JournalEntry {
    pub what: String,
    pub name: String,
    pub action: String,
    pub actor: String,
    pub reason: String,
    pub scope: String,
    pub at: DateTime<Utc>,
}

/// Applies `change` at `place` and journals it.
pub async fn apply(
    db: &Db,
    place: Place<'_>,
    change: &Change<'_>,
    now: DateTime<Utc>,
) -> Result<(), ToggleError> {
    if change.reason.trim().is_empty() {
        return Err(ToggleError::NoReason);
    }
    let what = what_str(change.what);
    match place {
        Place::Node => {
            let mut tx = db.begin().await?;
            if change.disable {
                on_tx!(&mut tx, conn => {
                    sqlx::query(
                        "INSERT INTO disabled (what, name, disabled_by, reason, disabled_at) VALUES ($1, $2, $3, $4, $5) \
                         ON CONFLICT (what, name) DO UPDATE SET disabled_by = excluded.disabled_by, \
                         reason = excluded.reason, disabled_at = excluded.disabled_at",
                    )
                    .bind(what)
                    .bind(change.name)
                    .bind(change.actor)
                    .bind(change.reason)
                    .bind(now)
                    .execute(&mut **conn)
                    .await?
                .rows_affected()
                });
            } else {
                on_tx!(&mut tx, conn => {
                    sqlx::query("DELETE FROM disabled WHERE what = $1 AND name = $2")
                        .bind(what)
                        .bind(change.name)
                        .execute(&mut **conn)
                        .await?
                .rows_affected()
                });
            }
            journal_in(&mut tx, change, "node", now).await?;
            tx.commit().await?;
            Ok(())
        }
        Place::Session(coord) => {
            coord
                .set_disabled(change.what, change.name, change.disable)
                .await?;
            journal_cluster(db, change, now).await
        }
        Place::Registry(registry) => {
            crate::coord::zookeeper::status::set_disabled(
                registry,
                change.what,
                change.name,
                change.disable,
            )
            .await?;
            journal_cluster(db, change, now).await
        }
    }
}

async fn journal_cluster(
    db: &Db,
    change: &Change<'_>,
    now: DateTime<Utc>,
) -> Result<(), ToggleError> {
    let written = async {
        let mut tx = db.begin().await?;
        journal_in(&mut tx, change, "cluster", now).await?;
        tx.commit().await
    };
    written.await.map_err(|source| ToggleError::NotJournaled {
        what: what_str(change.what),
        name: change.name.to_string(),
        done: if change.disable {
            "disabled"
        } else {
            "enabled"
        },
        source,
    })
}

async fn journal_in(
    tx: &mut crate::db::DbTx,
    change: &Change<'_>,
    scope: &str,
    now: DateTime<Utc>,
) -> Result<(), sqlx::Error> {
    on_tx!(tx, conn => {
        sqlx::query(
            "INSERT INTO toggle_journal (what, name, action, actor, reason, scope, at) VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(what_str(change.what))
        .bind(change.name)
        .bind(if change.disable { "disable" } else { "enable" })
        .bind(change.actor)
        .bind(change.reason.trim())
        .bind(scope)
        .bind(now)
        .execute(&mut **conn)
        .await?
                .rows_affected()
    });
    Ok(())
}

/// What is disabled on a single node.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NodeSwitches {
    pub jobs: BTreeSet<String>,
    pub instances: BTreeSet<String>,
}

/// The `disabled` table (single node).
pub async fn node_switches(db: &Db) -> Result<NodeSwitches, sqlx::Error> {
    let rows: Vec<(String, String)> = on_db!(db, pool => {
        sqlx::query_as("SELECT what, name FROM disabled ORDER BY what, name")
            .fetch_all(pool)
            .await?
    });
    let mut switches = NodeSwitches::default();
    for (what, name) in rows {
        if what == "job" {
            switches.jobs.insert(name);
        } else {
            switches.instances.insert(name);
        }
    }
    Ok(switches)
}

/// Refuses a manual run of `job` on a single node while it is disabled
/// there (a cluster's leader refuses the same for its own switches).
pub async fn refuse_disabled_here(db: &Db, job: &str) -> Result<(), ToggleError> {
    if node_switches(db).await?.jobs.contains(job) {
        return Err(ToggleError::JobDisabled(job.to_string()));
    }
    Ok(())
}

/// The newest journal entries first (at most `limit`).
pub async fn journal(db: &Db, limit: i64) -> Result<Vec<JournalEntry>, sqlx::Error> {
    type Row = (
        String,
        String,
        String,
        String,
        String,
        String,
        DateTime<Utc>,
    );
    let rows: Vec<Row> = on_db!(db, pool => {
        sqlx::query_as(
            "SELECT what, name, action, actor, reason, scope, at FROM toggle_journal ORDER BY seq DESC LIMIT $1",
        )
        .bind(limit)
        .fetch_all(pool)
        .await?
    });
    Ok(rows
        .into_iter()
        .map(
            |(what, name, action, actor, reason, scope, at)| JournalEntry {
                what,
                name,
                action,
                actor,
                reason,
                scope,
                at,
            },
        )
        .collect())
}
