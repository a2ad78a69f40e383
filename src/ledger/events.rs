//! The append-only event log of runs and shards.

use super::{Event, Ledger, LedgerError};
use crate::on_db;

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
