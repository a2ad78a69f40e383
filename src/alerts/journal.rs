//! The alert journal: what was raised and what each target accepted, in the
//! database every node shares, so an event is alerted once across restarts
//! and leader changes.
//!
//! Crash semantics (at least once, never silently lost, at most a repeat):
//! an event is recorded with one `pending` delivery per target *before* any
//! request is sent; a delivery becomes `sent` only after the target accepted
//! it. A crash between the target's answer and that write leaves it
//! `pending`, and the next start sends it again — the same payload with the
//! same `event_id`, which a receiver can use to drop the repeat. A crash
//! before the record is written loses nothing either: the watcher's cursor is
//! written only after the events it read were recorded.

use chrono::{DateTime, Utc};

use super::AlertEvent;
use crate::db::Db;
use crate::{on_db, on_tx};

/// Errors reading or writing the journal.
#[derive(Debug, thiserror::Error)]
pub enum JournalError {
    #[error("alert journal: {0}")]
    Db(#[from] sqlx::Error),
    #[error("alert journal: event {event_id} is not readable: {source}")]
    Decode {
        event_id: String,
        #[source]
        source: serde_json::Error,
    },
}

/// The alert journal on one database.
#[derive(Debug, Clone)]
pub struct Journal {
    db: Db,
}

/// A delivery not yet accepted nor given up (the next start resends it).
#[derive(Debug, Clone)]
pub struct PendingDelivery {
    pub event: AlertEvent,
    pub target: String,
}

impl Journal {
    pub fn new(db: Db) -> Journal {
        Journal { db }
    }

    /// Records `event` with a pending delivery to each of `targets`; false
    /// (and nothing written) when its event id was recorded before.
    pub async fn record(&self, event: &AlertEvent, targets: &[&str]) -> Result<bool, JournalError> {
        let id = event.event_id();
        let body = serde_json::to_string(event).map_err(|source| JournalError::Decode {
            event_id: id.clone(),
            source,
        })?;
        let now = Utc::now();
        let mut tx = self.db.begin().await?;
        let fresh = on_tx!(&mut tx, conn => {
            sqlx::query(
                "INSERT INTO alert_events (event_id, kind, body, raised_at) VALUES ($1, $2, $3, $4) \
                 ON CONFLICT (event_id) DO NOTHING",
            )
            .bind(&id)
            .bind(event.kind.as_str())
            .bind(&body)
            .bind(event.at)
            .execute(&mut **conn)
            .await?
            .rows_affected()
        }) == 1;
        if !fresh {
            tx.rollback().await?;
            return Ok(false);
        }
        for target in targets {
            on_tx!(&mut tx, conn => {
                sqlx::query(
                    "INSERT INTO alert_deliveries (event_id, target, state, tries, updated_at) \
                     VALUES ($1, $2, 'pending', 0, $3)",
                )
                .bind(&id)
                .bind(*target)
                .bind(now)
                .execute(&mut **conn)
                .await?
                .rows_affected()
            });
        }
        tx.commit().await?;
        Ok(true)
    }

    /// Marks a delivery `sent` (the target accepted it) or `given_up`.
    pub async fn settle(
        &self,
        event_id: &str,
        target: &str,
        sent: bool,
        tries: u32,
        last_error: Option<&str>,
    ) -> Result<(), JournalError> {
        let state = if sent { "sent" } else { "given_up" };
        on_db!(&self.db, pool => {
            sqlx::query(
                "UPDATE alert_deliveries SET state = $1, tries = tries + $2, updated_at = $3, last_error = $4 \
                 WHERE event_id = $5 AND target = $6",
            )
            .bind(state)
            .bind(i64::from(tries))
            .bind(Utc::now())
            .bind(last_error)
            .bind(event_id)
            .bind(target)
            .execute(pool)
            .await?
                .rows_affected()
        });
        Ok(())
    }

    /// Deliveries still pending, oldest event first.
    pub async fn pending(&self) -> Result<Vec<PendingDelivery>, JournalError> {
        let rows: Vec<(String, String, String)> = on_db!(&self.db, pool => {
            sqlx::query_as(
                "SELECT e.event_id, e.body, d.target FROM alert_deliveries d \
                 JOIN alert_events e ON e.event_id = d.event_id \
                 WHERE d.state = 'pending' ORDER BY e.raised_at, e.event_id, d.target",
            )
            .fetch_all(pool)
            .await?
        });
        rows.into_iter()
            .map(|(event_id, body, target)| {
                serde_json::from_str(&body)
                    .map(|event| PendingDelivery { event, target })
                    .map_err(|source| JournalError::Decode { event_id, source })
            })
            .collect()
    }

    /// `(target, state, tries)` of one event's deliveries.
    pub async fn deliveries(
        &self,
        event_id: &str,
    ) -> Result<Vec<(String, String, i64)>, JournalError> {
        Ok(on_db!(&self.db, pool => {
            sqlx::query_as(
                "SELECT target, state, CAST(tries AS BIGINT) FROM alert_deliveries WHERE event_id = $1 ORDER BY target",
            )
            .bind(event_id)
            .fetch_all(pool)
            .await?
        }))
    }

    /// Event ids recorded, oldest first (tests, the console).
    pub async fn events(&self) -> Result<Vec<(String, DateTime<Utc>)>, JournalError> {
        Ok(on_db!(&self.db, pool => {
            sqlx::query_as("SELECT event_id, raised_at FROM alert_events ORDER BY raised_at, event_id")
                .fetch_all(pool)
                .await?
        }))
    }

    /// A watcher cursor, if one was written.
    pub async fn cursor(&self, name: &str) -> Result<Option<String>, JournalError> {
        let row: Option<(String,)> = on_db!(&self.db, pool => {
            sqlx::query_as("SELECT value FROM alert_cursors WHERE name = $1")
                .bind(name)
                .fetch_optional(pool)
                .await?
        });
        Ok(row.map(|(v,)| v))
    }

    /// Writes a watcher cursor.
    pub async fn set_cursor(&self, name: &str, value: &str) -> Result<(), JournalError> {
        on_db!(&self.db, pool => {
            sqlx::query(
                "INSERT INTO alert_cursors (name, value) VALUES ($1, $2) \
                 ON CONFLICT (name) DO UPDATE SET value = excluded.value",
            )
            .bind(name)
            .bind(value)
            .execute(pool)
            .await?
                .rows_affected()
        });
        Ok(())
    }
}
