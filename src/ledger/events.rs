//! The append-only event log of runs and shards.

use chrono::{DateTime, Utc};

use super::{Event, Ledger, LedgerError};
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

impl Ledger {
    /// Appends an event; events are never updated or deleted.
    pub async fn append_event(
        &self,
        run_id: &str,
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

    /// A run's events in the order they happened.
    pub async fn events(&self, run_id: &str) -> Result<Vec<Event>, LedgerError> {
        let events = on_db!(&self.db, pool => {
            sqlx::query_as("SELECT id, run_id, item, at, kind, message FROM run_events WHERE run_id = $1 ORDER BY id")
                .bind(run_id)
                .fetch_all(pool)
                .await?
        });
        Ok(events)
    }
}
