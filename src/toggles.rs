//! Disable and enable a job or an instance at run time — one code path for
//! `reckon cluster disable|enable` (and `reckon disable|enable` on a single
//! node) and the console's Cluster page.
//!
//! Where the switch lives: on a single node, the `disabled` table of the
//! node's database (the scheduler reads it before each cron tick); in a
//! cluster, ZooKeeper (`/disabled/…`, read by the leader and the assigner).
//! Either way every change is appended to `toggle_journal` in the database
//! with who did it and why.
//!
//! Single node: switch and journal row commit in one transaction.
//!
//! Cluster: **intent before effect**. The journal row is written first as a
//! `pending` intent (operator, reason), then the ZooKeeper switch, then the
//! row is marked `applied`. A crash or a lost connection between the writes
//! leaves a `pending` row, never an unjournaled switch. A pending row is
//! settled against what ZooKeeper shows ([`reconcile`]): `applied` when the
//! switch is as the row asks, otherwise `not_applied` — it is **not**
//! re-applied, because the operator was told the toggle failed (or saw the
//! process die) and may have decided otherwise since; they repeat it. This
//! happens at the next toggle, every minute on a serving node (from its
//! start), and before the console lists the journal. A row younger than
//! [`IN_FLIGHT`] may be another process's toggle still writing, so it is
//! left for later; meanwhile a second toggle of the same switch is refused
//! (one pending row per switch, a unique index), which keeps the order of
//! ZooKeeper's writes the order of the journal's.
//!
//! What holds after any crash, once pending rows are settled: every switch
//! ZooKeeper shows has a journal row (its latest applied row disables it),
//! and the journal's latest applied row of a switch is what ZooKeeper shows
//! (`tests/console_cluster.rs::toggle_intent_survives_a_crash_between_the_writes`).

use std::collections::BTreeSet;
use std::time::Duration;

use chrono::{DateTime, Utc};

use crate::coord::zookeeper::status::{StatusError, Switches, Toggle};
use crate::coord::zookeeper::{Registry, ZkCoordinator};
use crate::db::Db;
use crate::{on_db, on_tx};

/// A pending journal row younger than this may be a toggle still writing
/// ZooKeeper (a ZooKeeper request ends well within it); older ones are
/// settled by whoever finds them.
pub const IN_FLIGHT: Duration = Duration::from_secs(60);

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

impl Place<'_> {
    /// The cluster's switches through this place's session (`None` on a single node).
    async fn switches(self) -> Result<Option<Switches>, StatusError> {
        match self {
            Place::Node => Ok(None),
            Place::Session(coord) => coord.switches().map(Some),
            Place::Registry(registry) => Switches::connect(registry).await.map(Some),
        }
    }
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

impl Change<'_> {
    fn done(&self) -> &'static str {
        if self.disable { "disabled" } else { "enabled" }
    }
}

/// Refusals and failures.
#[derive(Debug, thiserror::Error)]
pub enum ToggleError {
    #[error("a reason is required")]
    NoReason,
    #[error("{0}")]
    JobDisabled(Disabled),
    #[error("database: {0}")]
    Db(#[from] sqlx::Error),
    #[error("registry: {0}")]
    Registry(#[from] StatusError),
    #[error(
        "another disable/enable of {what} {name} is in flight (journal entry {seq} by {actor} at {at}); try again in a minute"
    )]
    InFlight {
        what: &'static str,
        name: String,
        seq: i64,
        actor: String,
        at: DateTime<Utc>,
    },
    #[error(
        "{} {} was not {}: the registry refused ({source}); journal entry {} is marked not applied",
        .entry.what, .entry.name, .entry.done, .entry.seq
    )]
    NotApplied {
        entry: Entry,
        #[source]
        source: StatusError,
    },
    #[error(
        "whether {} {} was {} is not known: the registry did not answer ({source}); journal entry {} stays pending and is settled against ZooKeeper at the next toggle, by a serving node, or when the journal is listed",
        .entry.what, .entry.name, .entry.done, .entry.seq
    )]
    Unknown {
        entry: Entry,
        #[source]
        source: StatusError,
    },
    #[error(
        "{} {} was {} in the registry, but journal entry {} (written before) could not be marked applied ({source}); it is settled as applied later",
        .entry.what, .entry.name, .entry.done, .entry.seq
    )]
    NotMarked {
        entry: Entry,
        #[source]
        source: sqlx::Error,
    },
}

/// The journal entry of a cluster toggle that did not end cleanly.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub what: &'static str,
    pub name: String,
    /// `disabled` or `enabled`.
    pub done: &'static str,
    pub seq: i64,
}

/// Why a job may not run here: who disabled it, when and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Disabled {
    pub job: String,
    /// `node` or `cluster`.
    pub scope: String,
    /// The latest journal entry that disabled it (none: disabled outside reckon).
    pub by: Option<(String, String, DateTime<Utc>)>,
}

impl std::fmt::Display for Disabled {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let place = if self.scope == "node" {
            "on this node"
        } else {
            "in this cluster"
        };
        write!(f, "job `{}` is disabled {place}", self.job)?;
        if let Some((actor, reason, at)) = &self.by {
            write!(
                f,
                " by {actor} at {} UTC: {reason}",
                at.format("%Y-%m-%d %H:%M:%S")
            )?;
        }
        write!(f, " (reckon cluster enable {} --reason …)", self.job)
    }
}

pub(crate) fn what_str(what: Toggle) -> &'static str {
    match what {
        Toggle::Job => "job",
        Toggle::Instance => "instance",
    }
}

fn toggle_of(what: &str) -> Toggle {
    if what == "job" {
        Toggle::Job
    } else {
        Toggle::Instance
    }
}

/// One row of the journal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JournalEntry {
    pub seq: i64,
    pub what: String,
    pub name: String,
    pub action: String,
    pub actor: String,
    pub reason: String,
    pub scope: String,
    pub at: DateTime<Utc>,
    /// `pending`, `applied` or `not_applied`.
    pub state: String,
    pub settled_how: Option<String>,
}

impl JournalEntry {
    /// True when this row disables its switch.
    pub fn disables(&self) -> bool {
        self.action == "disable"
    }
}

/// Applies `change` at `place` and journals it (see the module's text for
/// the order of the writes in a cluster).
pub async fn apply(
    db: &Db,
    place: Place<'_>,
    change: &Change<'_>,
    now: DateTime<Utc>,
) -> Result<(), ToggleError> {
    apply_after(db, place, change, now, std::future::ready(())).await
}

/// [`apply`], awaiting `between` after the journal's intent row and before
/// the ZooKeeper write in a cluster (tests put a fault there: ZooKeeper
/// stopped between the two writes).
pub async fn apply_after(
    db: &Db,
    place: Place<'_>,
    change: &Change<'_>,
    now: DateTime<Utc>,
    between: impl std::future::Future<Output = ()>,
) -> Result<(), ToggleError> {
    if change.reason.trim().is_empty() {
        return Err(ToggleError::NoReason);
    }
    match place.switches().await? {
        None => apply_on_node(db, change, now).await,
        Some(switches) => apply_in_cluster(db, &switches, change, now, between).await,
    }
}

async fn apply_on_node(
    db: &Db,
    change: &Change<'_>,
    now: DateTime<Utc>,
) -> Result<(), ToggleError> {
    let what = what_str(change.what);
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
            .bind(change.reason.trim())
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
    insert_row(&mut tx, change, "node", "applied", Some(now), now).await?;
    tx.commit().await?;
    Ok(())
}

async fn apply_in_cluster(
    db: &Db,
    switches: &Switches,
    change: &Change<'_>,
    now: DateTime<Utc>,
    between: impl std::future::Future<Output = ()>,
) -> Result<(), ToggleError> {
    // Rows a crashed toggle left behind first: one of them may block this switch.
    reconcile(db, switches, now).await?;
    let seq = intend(db, change, now).await?;
    between.await;
    let entry = Entry {
        what: what_str(change.what),
        name: change.name.to_string(),
        done: change.done(),
        seq,
    };
    match switches.set(change.what, change.name, change.disable).await {
        Ok(()) => mark_written(db, seq, now)
            .await
            .map_err(|source| ToggleError::NotMarked { entry, source }),
        Err(source) => {
            // Did the write land before the error? Ask ZooKeeper; on the
            // same session a read after the write sees it.
            match switches.is_disabled(change.what, change.name).await {
                Ok(shown) if shown == change.disable => {
                    settle(db, seq, true, "written (confirmed after an error)", now).await?;
                    Ok(())
                }
                Ok(_) => {
                    let how = format!("not written: {}", crate::error_chain::chain(&source));
                    settle(db, seq, false, &how, now).await?;
                    Err(ToggleError::NotApplied { entry, source })
                }
                Err(_) => Err(ToggleError::Unknown { entry, source }),
            }
        }
    }
}

/// Step 1 of a cluster toggle: the journal row as a `pending` intent, before
/// ZooKeeper is touched. Refused while another toggle of the same switch is
/// pending. Public so tests can stop between the steps as a crash would.
pub async fn intend(db: &Db, change: &Change<'_>, now: DateTime<Utc>) -> Result<i64, ToggleError> {
    if change.reason.trim().is_empty() {
        return Err(ToggleError::NoReason);
    }
    let inserted = async {
        let mut tx = db.begin().await?;
        let seq = insert_row(&mut tx, change, "cluster", "pending", None, now).await?;
        tx.commit().await?;
        Ok::<i64, sqlx::Error>(seq)
    }
    .await;
    match inserted {
        Ok(seq) => Ok(seq),
        Err(err) if crate::db::is_unique_violation(&err) => {
            let blocking = pending(db)
                .await?
                .into_iter()
                .find(|e| e.what == what_str(change.what) && e.name == change.name);
            match blocking {
                Some(e) => Err(ToggleError::InFlight {
                    what: what_str(change.what),
                    name: change.name.to_string(),
                    seq: e.seq,
                    actor: e.actor,
                    at: e.at,
                }),
                None => Err(err.into()),
            }
        }
        Err(err) => Err(err.into()),
    }
}

/// Step 3 of a cluster toggle: the process that wrote the switch marks its
/// row applied (whatever a reconciliation may have concluded meanwhile: it
/// knows it wrote).
pub async fn mark_written(db: &Db, seq: i64, now: DateTime<Utc>) -> Result<(), sqlx::Error> {
    on_db!(db, pool => {
        sqlx::query(
            "UPDATE toggle_journal SET state = 'applied', settled_at = $1, settled_how = 'written' WHERE seq = $2",
        )
        .bind(now)
        .bind(seq)
        .execute(pool)
        .await?
        .rows_affected()
    });
    Ok(())
}

/// Settles a pending row (only a pending one: a row settled meanwhile keeps
/// its state); true when this call settled it.
async fn settle(
    db: &Db,
    seq: i64,
    applied: bool,
    how: &str,
    now: DateTime<Utc>,
) -> Result<bool, sqlx::Error> {
    let state = if applied { "applied" } else { "not_applied" };
    let n = on_db!(db, pool => {
        sqlx::query(
            "UPDATE toggle_journal SET state = $1, settled_at = $2, settled_how = $3 WHERE seq = $4 AND state = 'pending'",
        )
        .bind(state)
        .bind(now)
        .bind(how)
        .bind(seq)
        .execute(pool)
        .await?
        .rows_affected()
    });
    Ok(n == 1)
}

/// What [`reconcile`] concluded about one pending row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settled {
    pub seq: i64,
    pub applied: bool,
}

/// Settles every pending cluster row older than [`IN_FLIGHT`] (at `now`)
/// against what ZooKeeper shows: `applied` when the switch is as the row
/// asks, `not_applied` otherwise (not re-applied: see the module's text).
pub async fn reconcile(
    db: &Db,
    switches: &Switches,
    now: DateTime<Utc>,
) -> Result<Vec<Settled>, ToggleError> {
    let cutoff = now - chrono::Duration::from_std(IN_FLIGHT).unwrap_or(chrono::Duration::MAX);
    let mut settled = Vec::new();
    for entry in pending(db).await? {
        if entry.scope != "cluster" || entry.at > cutoff {
            continue;
        }
        let shown = switches
            .is_disabled(toggle_of(&entry.what), &entry.name)
            .await?;
        let applied = shown == entry.disables();
        let how = format!(
            "reconciled at {}: ZooKeeper {} {} {}",
            now.format("%Y-%m-%d %H:%M:%S UTC"),
            if applied { "shows" } else { "does not show" },
            entry.what,
            if entry.disables() {
                "disabled"
            } else {
                "enabled"
            }
        );
        if settle(db, entry.seq, applied, &how, now).await? {
            tracing::warn!(seq = entry.seq, what = %entry.what, name = %entry.name, action = %entry.action,
                actor = %entry.actor, applied, "settled a disable/enable left pending");
            settled.push(Settled {
                seq: entry.seq,
                applied,
            });
        }
    }
    Ok(settled)
}

/// A serving cluster node settles pending rows at start and every minute
/// (until `stop`), through its own session; a node without a session now
/// tries again at the next minute.
pub async fn reconcile_periodically(
    db: Db,
    coord: std::sync::Arc<ZkCoordinator>,
    stop: tokio_util::sync::CancellationToken,
) {
    loop {
        // At start: as soon as the session is there (a few seconds at most).
        for _ in 0..50 {
            if coord.connected() || stop.is_cancelled() {
                break;
            }
            tokio::select! {
                _ = stop.cancelled() => return,
                _ = tokio::time::sleep(Duration::from_millis(200)) => {}
            }
        }
        match coord.switches() {
            Ok(switches) => {
                if let Err(err) = reconcile(&db, &switches, Utc::now()).await {
                    tracing::warn!(error = %crate::error_chain::chain(&err), "cannot settle pending disable/enable entries");
                }
            }
            Err(_) => tracing::debug!("no ZooKeeper session: pending disable/enable entries wait"),
        }
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = tokio::time::sleep(IN_FLIGHT) => {}
        }
    }
}

async fn insert_row(
    tx: &mut crate::db::DbTx,
    change: &Change<'_>,
    scope: &str,
    state: &str,
    settled_at: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
) -> Result<i64, sqlx::Error> {
    let how = settled_at.map(|_| "written");
    let seq: i64 = on_tx!(tx, conn => {
        sqlx::query_scalar(
            "INSERT INTO toggle_journal (what, name, action, actor, reason, scope, at, state, settled_at, settled_how) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) RETURNING seq",
        )
        .bind(what_str(change.what))
        .bind(change.name)
        .bind(if change.disable { "disable" } else { "enable" })
        .bind(change.actor)
        .bind(change.reason.trim())
        .bind(scope)
        .bind(now)
        .bind(state)
        .bind(settled_at)
        .bind(how)
        .fetch_one(&mut **conn)
        .await?
    });
    Ok(seq)
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

/// Refuses a manual run — or a rerun — of `job` on a single node while it
/// is disabled there, naming who disabled it, when and why (a cluster's
/// leader refuses the same for its own switches: [`cluster_refusal`]).
pub async fn refuse_disabled_here(db: &Db, job: &str) -> Result<(), ToggleError> {
    let row: Option<(String, String, DateTime<Utc>)> = on_db!(db, pool => {
        sqlx::query_as(
            "SELECT disabled_by, reason, disabled_at FROM disabled WHERE what = 'job' AND name = $1",
        )
        .bind(job)
        .fetch_optional(pool)
        .await?
    });
    match row {
        None => Ok(()),
        Some(by) => Err(ToggleError::JobDisabled(Disabled {
            job: job.to_string(),
            scope: "node".into(),
            by: Some(by),
        })),
    }
}

/// The refusal of a run of `job` that ZooKeeper shows disabled, naming who
/// disabled it, when and why from the journal's latest row that disables it.
pub async fn cluster_refusal(db: &Db, job: &str) -> Disabled {
    let by: Option<(String, String, DateTime<Utc>)> = async {
        on_db!(db, pool => {
            sqlx::query_as(
                "SELECT actor, reason, at FROM toggle_journal WHERE what = 'job' AND name = $1 \
                 AND scope = 'cluster' AND action = 'disable' AND state <> 'not_applied' ORDER BY seq DESC LIMIT 1",
            )
            .bind(job)
            .fetch_optional(pool)
            .await
        })
    }
    .await
    .ok()
    .flatten();
    Disabled {
        job: job.to_string(),
        scope: "cluster".into(),
        by,
    }
}

type Row = (
    i64,
    String,
    String,
    String,
    String,
    String,
    String,
    DateTime<Utc>,
    String,
    Option<String>,
);

macro_rules! journal_select {
    ($rest:literal) => {
        concat!(
            "SELECT seq, what, name, action, actor, reason, scope, at, state, settled_how FROM toggle_journal ",
            $rest
        )
    };
}

fn entry(row: Row) -> JournalEntry {
    let (seq, what, name, action, actor, reason, scope, at, state, settled_how) = row;
    JournalEntry {
        seq,
        what,
        name,
        action,
        actor,
        reason,
        scope,
        at,
        state,
        settled_how,
    }
}

/// The pending rows, oldest first.
pub async fn pending(db: &Db) -> Result<Vec<JournalEntry>, sqlx::Error> {
    let rows: Vec<Row> = on_db!(db, pool => {
        sqlx::query_as(journal_select!("WHERE state = 'pending' ORDER BY seq"))
        .fetch_all(pool)
        .await?
    });
    Ok(rows.into_iter().map(entry).collect())
}

/// The newest journal entries first (at most `limit`).
pub async fn journal(db: &Db, limit: i64) -> Result<Vec<JournalEntry>, sqlx::Error> {
    let rows: Vec<Row> = on_db!(db, pool => {
        sqlx::query_as(journal_select!("ORDER BY seq DESC LIMIT $1"))
        .bind(limit)
        .fetch_all(pool)
        .await?
    });
    Ok(rows.into_iter().map(entry).collect())
}
