//! The append-only event log of runs and shards.

use chrono::{DateTime, Utc};

use super::{Event, Ledger, LedgerError, RunId};
use crate::db::DbTx;
use crate::{on_db, on_tx};

/// Appends an event inside a transaction (it commits with the change it tells of).
pub(super) async fn append_event_in(
    tx: &mut DbTx,
    run_id: &str,
    item: Option<u32>,
    kind: &str,
    message: &str,
    at: DateTime<Utc>,
) -> Result<(), LedgerError> {
    on_tx!(tx, conn => {
        sqlx::query("INSERT INTO run_events (run_id, item, at, kind, message) VALUES ($1, $2, $3, $4, $5)")
            .bind(run_id)
            .bind(item.map(i64::from))
            .bind(at)
            .bind(kind)
            .bind(message)
            .execute(&mut **conn)
            .await?
            .rows_affected()
    });
    Ok(())
}

/// Event kind a recon shard appends with how long it waited for its statement
/// (`waited_ms=N`), read by the `statement_wait_seconds` metric.
pub const STATEMENT_WAIT_EVENT: &str = "statement_wait";

impl Ledger {
    /// Appends an event; events are never updated or deleted.
    pub async fn append_event(
        &self,
        run_id: &RunId,
        item: Option<u32>,
        kind: &str,
        message: &str,
    ) -> Result<(), LedgerError> {
        let now = self.clock.now();
        on_db!(&self.db, pool => {
            sqlx::query("INSERT INTO run_events (run_id, item, at, kind, message) VALUES ($1, $2, $3, $4, $5)")
                .bind(run_id)
                .bind(item.map(i64::from))
                .bind(now)
                .bind(kind)
                .bind(message)
                .execute(pool)
                .await?
                .rows_affected()
        });
        Ok(())
    }

    /// Appends an event inside the caller's transaction: it commits with the
    /// change it tells of, or not at all.
    pub async fn append_event_in(
        &self,
        tx: &mut DbTx,
        run_id: &RunId,
        item: Option<u32>,
        kind: &str,
        message: &str,
    ) -> Result<(), LedgerError> {
        append_event_in(tx, run_id, item, kind, message, self.clock.now()).await
    }

    /// Statement waits in seconds by job (from [`STATEMENT_WAIT_EVENT`] events).
    pub async fn statement_waits(&self) -> Result<Vec<(String, f64)>, LedgerError> {
        let rows: Vec<(String, String)> = on_db!(&self.db, pool => {
            sqlx::query_as(
                "SELECT r.job, e.message FROM run_events e JOIN runs r ON r.run_id = e.run_id WHERE e.kind = $1",
            )
            .bind(STATEMENT_WAIT_EVENT)
            .fetch_all(pool)
            .await?
        });
        Ok(rows
            .into_iter()
            .filter_map(|(job, message)| {
                let ms: i64 = message.strip_prefix("waited_ms=")?.parse().ok()?;
                Some((job, ms as f64 / 1000.0))
            })
            .collect())
    }

    /// A run's events in the order they happened.
    pub async fn events(&self, run_id: &RunId) -> Result<Vec<Event>, LedgerError> {
        let events = on_db!(&self.db, pool => {
            sqlx::query_as("SELECT id, run_id, item, at, kind, message FROM run_events WHERE run_id = $1 ORDER BY id")
                .bind(run_id)
                .fetch_all(pool)
                .await?
        });
        Ok(events)
    }
}
